//! The approval answer links: `GET` and `POST /v1/approvals/answer/{token}`, what the Approve
//! and Deny buttons of Teams webhook cards and e-mailed cards open.
//!
//! - `GET` (and `HEAD`) checks the token and shows what was asked, the choice the link stands
//!   for and one button; it decides nothing, so mail scanners, Safe Links and link previews
//!   that fetch the link cannot decide for anyone. A request that is already decided or past
//!   its deadline shows that instead.
//! - `POST` (the page's button: a form posting back to the same URL) decides through
//!   [`ApprovalService`], the path Slack, Teams and the REST API share, so the decision is
//!   recorded once, audited, resumes a waiting playbook and updates the other cards. A link of
//!   a decided request answers 409 saying what was decided: the request's state is what makes
//!   each link single-use.
//!
//! The token is the callback token of [`aisoc_notify_core::token`]: signed with the
//! callback-token key, for flow `approval`, bound to one request, tenant and choice, and
//! expiring with the request. A forged or altered token answers 403, an expired one 410.
//! Pages load nothing from elsewhere, escape every piece of text, are never cached and never
//! leak the token in a `Referer`.

use std::sync::Arc;

use aisoc_notify_approvals::model::{ApprovalRequest, ApprovalStatus};
use aisoc_notify_approvals::routes::{answer_page, escape_html};
use aisoc_notify_approvals::service::ApprovalService;
use aisoc_notify_core::decision::{
    Decision, DecisionError, DecisionRequest, DecisionSource, Reviewer,
};
use aisoc_notify_core::token::{
    CallbackClaims, CallbackTokenSigner, HmacCallbackTokenSigner, TokenError,
};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use chrono::Utc;

use super::{AnswerLinks, TOKEN_FLOW, outcome_of};

/// What the answer routes share.
#[derive(Clone)]
struct AnswerState {
    verifier: Arc<HmacCallbackTokenSigner>,
    approvals: ApprovalService,
}

/// `GET` and `POST /v1/approvals/answer/{token}` (no admin token: the signed token is the
/// credential).
pub fn router(links: &AnswerLinks, approvals: ApprovalService) -> Result<Router, TokenError> {
    let state = AnswerState {
        verifier: Arc::new(links.verifier()?),
        approvals,
    };
    Ok(Router::new()
        .route("/v1/approvals/answer/{token}", get(confirm).post(decide))
        .with_state(state))
}

/// Why a link cannot be used, as the page the person sees.
enum LinkError {
    Invalid,
    Expired,
    Unavailable,
}

/// An answer page in the approvals crate's frame (and headers), under this flow's kicker.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    answer_page(
        status,
        title,
        &format!("<p class=\"kicker\">Approval request</p>{body}"),
    )
}

fn message(status: StatusCode, heading: &str, text: &str) -> Response {
    page(
        status,
        heading,
        &format!(
            "<h1>{}</h1><p>{}</p>",
            escape_html(heading),
            escape_html(text)
        ),
    )
}

fn link_error(error: LinkError) -> Response {
    match error {
        LinkError::Invalid => message(
            StatusCode::FORBIDDEN,
            "Link not valid",
            "This link is not valid. Use the buttons of the message you were sent.",
        ),
        LinkError::Expired => message(
            StatusCode::GONE,
            "Link expired",
            "This request no longer takes decisions.",
        ),
        LinkError::Unavailable => message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "The decision could not be read or recorded right now. Please try again in a minute.",
        ),
    }
}

/// The outcome of a request that no longer takes decisions, as a sentence.
fn decided_page(status: StatusCode, approval: &ApprovalRequest) -> Response {
    let outcome = outcome_of(approval, Utc::now())
        .map(|outcome| outcome.summary())
        .unwrap_or_else(|| "Still waiting for a decision".to_owned());
    message(
        status,
        "Already decided",
        &format!("{}: {outcome}. Nothing more to do.", approval.summary),
    )
}

impl AnswerState {
    fn claims(&self, token: &str) -> Result<(CallbackClaims, Decision), LinkError> {
        let claims = self.verifier.verify(token).map_err(|e| match e {
            TokenError::Expired { .. } => LinkError::Expired,
            _ => LinkError::Invalid,
        })?;
        let decision = match claims.choice.as_str() {
            "approve" => Decision::Approve,
            "deny" => Decision::Deny,
            _ => return Err(LinkError::Invalid),
        };
        if claims.action != TOKEN_FLOW || claims.prompt_id.as_deref() != Some(&claims.case_id) {
            return Err(LinkError::Invalid);
        }
        Ok((claims, decision))
    }

    async fn approval(&self, claims: &CallbackClaims) -> Result<ApprovalRequest, LinkError> {
        self.approvals
            .store()
            .get(&claims.tenant_id, &claims.case_id)
            .await
            .map_err(|_| LinkError::Unavailable)?
            .ok_or(LinkError::Invalid)
    }
}

fn words(decision: Decision) -> (&'static str, &'static str) {
    match decision {
        Decision::Approve => ("Approve", "#067647"),
        Decision::Deny => ("Deny", "#b42318"),
    }
}

#[utoipa::path(
    get, path = "/v1/approvals/answer/{token}", tag = "approvals", operation_id = "confirm_answer_link",
    summary = "The confirmation page an approval card's link opens (decides nothing)",
    params(("token" = String, Path, description = "The signed, expiring answer token from the card")),
    responses(
        (status = 200, description = "The page: what is asked and one button, or the outcome when already decided", content_type = "text/html", body = String),
        (status = 403, description = "The token is not valid, or its approval no longer exists", content_type = "text/html", body = String),
        (status = 410, description = "The link has expired", content_type = "text/html", body = String),
        (status = 503, description = "The approval store is unavailable", content_type = "text/html", body = String),
    ),
)]
async fn confirm(State(state): State<AnswerState>, Path(token): Path<String>) -> Response {
    let result = async {
        let (claims, decision) = state.claims(&token)?;
        Ok::<_, LinkError>((state.approval(&claims).await?, decision))
    }
    .await;
    let (approval, decision) = match result {
        Ok(found) => found,
        Err(error) => return link_error(error),
    };
    if approval.status != ApprovalStatus::Pending || approval.expires_at <= Utc::now() {
        return decided_page(StatusCode::OK, &approval);
    }
    let (label, colour) = words(decision);
    page(
        StatusCode::OK,
        "Confirm your decision",
        &format!(
            "<h1>{title}</h1><p>{summary}</p>\
             <p>Requested action: <strong>{action}</strong>{risk}</p>\
             <form method=\"post\" style=\"--c:{colour}\"><button type=\"submit\">{label}</button></form>\
             <p class=\"note\">Nothing is decided until you press the button.</p>",
            title = escape_html(&approval.summary),
            summary = escape_html(approval.notes.as_deref().unwrap_or("")),
            action = escape_html(&approval.requested_action),
            risk = approval
                .risk_score
                .map(|risk| format!(" · risk {risk}/100"))
                .unwrap_or_default(),
        ),
    )
}

#[utoipa::path(
    post, path = "/v1/approvals/answer/{token}", tag = "approvals", operation_id = "decide_by_answer_link",
    summary = "The confirmation page's button: records the decision the link stands for",
    params(("token" = String, Path, description = "The signed, expiring answer token from the card")),
    responses(
        (status = 200, description = "Recorded; the request's cards are being updated", content_type = "text/html", body = String),
        (status = 403, description = "The token is not valid, or its approval no longer exists", content_type = "text/html", body = String),
        (status = 409, description = "Already decided", content_type = "text/html", body = String),
        (status = 410, description = "The link or the request has expired", content_type = "text/html", body = String),
        (status = 503, description = "The approval store is unavailable", content_type = "text/html", body = String),
    ),
)]
async fn decide(State(state): State<AnswerState>, Path(token): Path<String>) -> Response {
    let (claims, decision) = match state.claims(&token) {
        Ok(found) => found,
        Err(error) => return link_error(error),
    };
    // Teams webhook cards mint their links for `teams:<channel name>`, e-mailed ones for
    // `email:<recipients>`: whoever opened the link is one of them, which is all it says.
    let (source, name) = match claims.user_ref.split_once(':') {
        Some(("teams", channel)) => (
            DecisionSource::Teams,
            format!("Teams channel '{channel}' (card link)"),
        ),
        Some(("email", recipients)) => (DecisionSource::Api, format!("{recipients} (e-mail link)")),
        _ => return link_error(LinkError::Invalid),
    };
    let request = DecisionRequest {
        approval_id: claims.case_id.clone(),
        decision,
        reviewer: Reviewer {
            id: claims.user_ref.clone(),
            name,
        },
        source,
    };
    match state
        .approvals
        .decide_for_tenant(&claims.tenant_id, request)
        .await
    {
        Ok(recorded) => message(
            StatusCode::OK,
            "Decision recorded",
            &format!(
                "{} by {}. The request's other messages are being updated.",
                match recorded.decision {
                    Decision::Approve => "Approved",
                    Decision::Deny => "Denied",
                },
                recorded.reviewer_name
            ),
        ),
        Err(DecisionError::AlreadyReviewed(_)) => match state.approval(&claims).await {
            Ok(approval) => decided_page(StatusCode::CONFLICT, &approval),
            Err(error) => link_error(error),
        },
        Err(DecisionError::Expired) => link_error(LinkError::Expired),
        Err(DecisionError::NotFound) => link_error(LinkError::Invalid),
        Err(error) => {
            tracing::warn!(%error, "an approval link decision could not be recorded");
            link_error(LinkError::Unavailable)
        }
    }
}
