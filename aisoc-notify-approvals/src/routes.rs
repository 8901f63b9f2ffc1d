//! The verification answer route (feature `axum`): `/chatops/verify/{token}`; and the
//! approvals REST routes with the audit trail ([`approvals_router`], see `rest`).
//!
//! - `GET` (and `HEAD`) shows a confirmation page — what was asked, the choice the link
//!   stands for, one button — and records nothing. Mail scanners, Teams Safe Links and Slack
//!   unfurls fetch links before the person does; a fetch must not answer for them.
//! - `POST` (the page's button: a plain form posting back to the same URL, the token in the
//!   path, no body needed) records the answer and answers with a page saying so; a second
//!   `POST` gets a clear "already answered" page (409).
//!
//! The pages work without JavaScript, read well on a phone (viewport meta, one column, a
//! full-width button of at least 52 px), load nothing from elsewhere (inline styles only, and a
//! `Content-Security-Policy` that allows nothing else), escape every piece of text, are never
//! cached and never leak the token in a `Referer`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::verify::{AnswerPreview, VerifyCallback, VerifyCallbackError};

mod rest;

/// The OpenAPI description of [`approvals_router`] (feature `openapi`).
#[cfg(feature = "openapi")]
pub use rest::openapi as approvals_openapi;
pub use rest::{ApprovalCreated, ApprovalRoutes, approvals_router};

/// `GET` and `POST /chatops/verify/{token}`, for the host to nest (for example under `/v1`).
pub fn router(callback: VerifyCallback) -> Router {
    Router::new()
        .route("/chatops/verify/{token}", get(confirm).post(record))
        .with_state(Arc::new(callback))
}

/// `text` with every character that could open markup escaped, for HTML text and attributes.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// How a choice reads on the page: the answer in the person's words, its button, its colour.
struct ChoiceWords {
    answer: &'static str,
    button: &'static str,
    colour: &'static str,
}

fn words(choice: &str) -> ChoiceWords {
    match choice {
        "acknowledge" => ChoiceWords {
            answer: "Yes, this was me",
            button: "Confirm: this was me",
            colour: "#067647",
        },
        "deny" => ChoiceWords {
            answer: "No, this wasn't me",
            button: "Confirm: this wasn't me",
            colour: "#b42318",
        },
        _ => ChoiceWords {
            answer: "I'm not sure — ask my security team",
            button: "Send to my security team",
            colour: "#1d4ed8",
        },
    }
}

const STYLE: &str = "*{box-sizing:border-box}\
body{margin:0;font:18px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a1a1a;background:#f4f5f7}\
main{max-width:34rem;margin:0 auto;padding:2rem 1.25rem}\
.card{background:#fff;border-radius:.75rem;padding:1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}\
.kicker{margin:0;font-size:.85rem;font-weight:600;letter-spacing:.04em;text-transform:uppercase;color:#555}\
h1{margin:.25rem 0 1rem;font-size:1.5rem;line-height:1.25;overflow-wrap:anywhere}\
.message{margin:0 0 1.25rem;white-space:pre-wrap;overflow-wrap:anywhere}\
.choice{margin:0 0 1.25rem;padding:.75rem 1rem;border-left:.3rem solid var(--c);background:#f7f7f8}\
.choice span{display:block;font-size:.85rem;color:#555}\
button{display:block;width:100%;min-height:3.25rem;padding:.75rem 1rem;border:0;border-radius:.5rem;\
background:var(--c);color:#fff;font:inherit;font-weight:600;cursor:pointer}\
button:focus-visible{outline:3px solid #111;outline-offset:2px}\
.note{margin:1rem 0 0;font-size:.9rem;color:#555}\
p{overflow-wrap:anywhere}\
.card>:last-child{margin-bottom:0}";

/// A decision page: `body` (trusted HTML; escape what it quotes with [`escape_html`]) in a
/// card, with the headers every answer page needs — no caching, no referrer, no framing, a
/// content security policy that allows only this page's own form and style, and `noindex`.
/// Shared by every flow whose links a person opens (the verify flow here, a host's approval
/// links).
pub fn answer_page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><meta name=\"robots\" content=\"noindex\">\
         <title>{title}</title><style>{STYLE}</style></head>\
         <body><main><div class=\"card\">{body}</div></main></body></html>",
        title = escape_html(title),
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::HeaderName::from_static("x-robots-tag"), "noindex"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// A page with a heading and one paragraph.
fn message_page(status: StatusCode, heading: &str, message: &str) -> Response {
    answer_page(
        status,
        heading,
        &format!(
            "<p class=\"kicker\">Security check</p><h1>{}</h1><p class=\"message\">{}</p>",
            escape_html(heading),
            escape_html(message)
        ),
    )
}

fn already_answered(status: StatusCode, recorded: &str) -> Response {
    message_page(
        status,
        "Already answered",
        &format!(
            "This question was already answered: “{}”. Nothing more to do; your security team \
             has the answer.",
            words(recorded).answer
        ),
    )
}

fn error_page(error: &VerifyCallbackError) -> Response {
    match error {
        VerifyCallbackError::AlreadyAnswered { choice } => {
            already_answered(StatusCode::CONFLICT, choice)
        }
        VerifyCallbackError::AnsweredOtherwise { recorded } => {
            already_answered(StatusCode::CONFLICT, recorded)
        }
        VerifyCallbackError::InvalidLink => {
            message_page(StatusCode::FORBIDDEN, "Link not valid", &error.to_string())
        }
        VerifyCallbackError::Expired => {
            message_page(StatusCode::GONE, "Link expired", &error.to_string())
        }
        VerifyCallbackError::Unavailable(_) => message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Answer not recorded",
            "Your answer could not be recorded right now. Please try again in a minute.",
        ),
    }
}

fn confirmation_page(preview: &AnswerPreview) -> Response {
    let words = words(&preview.choice);
    answer_page(
        StatusCode::OK,
        "Confirm your answer",
        &format!(
            "<p class=\"kicker\">Security check</p><h1>{title}</h1>\
             <p class=\"message\">{message}</p>\
             <p class=\"choice\" style=\"--c:{colour}\"><span>Your answer</span><strong>{answer}</strong></p>\
             <form method=\"post\" style=\"--c:{colour}\"><button type=\"submit\">{button}</button></form>\
             <p class=\"note\">Nothing is recorded until you press the button. If this is not \
             your answer, close this page and use the right button in your message.</p>",
            title = escape_html(&preview.title),
            message = escape_html(&preview.message),
            colour = words.colour,
            answer = escape_html(words.answer),
            button = escape_html(words.button),
        ),
    )
}

#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/chatops/verify/{token}", tag = "approvals",
    summary = "The verification answer page: shows the question and one button, records nothing",
    params(("token" = String, Path, description = "The signed answer token from the prompt's button link; it authenticates the request")),
    responses(
        (status = 200, description = "The confirmation page (or the answer already recorded)", content_type = "text/html", body = String),
        (status = 403, description = "The link is not valid", content_type = "text/html", body = String),
        (status = 409, description = "Already answered", content_type = "text/html", body = String),
        (status = 410, description = "The link expired", content_type = "text/html", body = String),
        (status = 503, description = "The verification store is unavailable", content_type = "text/html", body = String),
    ),
))]
async fn confirm(
    State(callback): State<Arc<VerifyCallback>>,
    Path(token): Path<String>,
) -> Response {
    match callback.preview(&token).await {
        Ok(preview) => match &preview.answered {
            Some(recorded) => already_answered(StatusCode::OK, recorded),
            None => confirmation_page(&preview),
        },
        Err(error) => error_page(&error),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/chatops/verify/{token}", tag = "approvals",
    summary = "Record the answer the link stands for (the page's button posts here, no body)",
    params(("token" = String, Path, description = "The signed answer token from the prompt's button link; it authenticates the request")),
    responses(
        (status = 200, description = "Answer recorded", content_type = "text/html", body = String),
        (status = 403, description = "The link is not valid", content_type = "text/html", body = String),
        (status = 409, description = "Already answered", content_type = "text/html", body = String),
        (status = 410, description = "The link expired", content_type = "text/html", body = String),
        (status = 503, description = "The verification store is unavailable", content_type = "text/html", body = String),
    ),
))]
async fn record(
    State(callback): State<Arc<VerifyCallback>>,
    Path(token): Path<String>,
) -> Response {
    match callback.answer(&token).await {
        Ok(answered) => {
            let message = match answered.choice.as_str() {
                "acknowledge" => {
                    "Thanks — you confirmed this was you. No further action is needed."
                }
                "deny" => {
                    "Thanks — you said this was not you. Your security team has been told and will follow up."
                }
                _ => "Thanks — this has been escalated to your security team.",
            };
            message_page(StatusCode::OK, "Answer recorded", message)
        }
        Err(error) => {
            if let VerifyCallbackError::Unavailable(reason) = &error {
                tracing::warn!(%reason, "a verification answer could not be recorded");
            }
            error_page(&error)
        }
    }
}

/// The OpenAPI description of [`router`] (feature `openapi`), paths relative to its nest point.
#[cfg(feature = "openapi")]
#[derive(utoipa::OpenApi)]
#[openapi(paths(confirm, record))]
pub struct VerifyApi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_character_that_could_open_markup_is_escaped() {
        assert_eq!(
            escape_html(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }
}
