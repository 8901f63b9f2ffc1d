//! Short-lived signed user tokens: how a browser page reaches its own push, in-app and on-call
//! routes without holding the admin token.
//!
//! The per-user routes (`/api/v1/push/*`, `/api/v1/inapp/*`, `/api/v1/oncall`) need to know who
//! is calling. A server-side caller can use the admin token and name the user in headers, but a
//! page in a browser must not see the admin token. So an admin — or the host's own login, once
//! it has authenticated the person — mints a token for one tenant and one user, valid for a
//! short while ([`DEFAULT_TTL`], at most [`MAX_TTL`]), with `POST /v1/admin/user-tokens`:
//!
//! ```text
//! POST /v1/admin/user-tokens   {"tenant_id": "acme", "user_id": "alice", "ttl_seconds": 900}
//! 201 {"token": "v1.u1.…", "tenant_id": "acme", "user_id": "alice", "expires_at": "…"}
//! ```
//!
//! The page sends `Authorization: Bearer <token>`; the tenant and user come from the token, and
//! `X-AiSOC-Tenant` / `X-AiSOC-User`, when also sent, must name the same ones (403 otherwise),
//! so a token for alice never acts for bob.
//!
//! # Why these tokens look like this
//!
//! They are core's HMAC callback tokens ([`HmacCallbackTokenSigner`]: versioned, key id,
//! base64url claims, HMAC-SHA256 tag checked in constant time before any claim is read,
//! expiry) with the flow [`USER_TOKEN_ACTION`], so nothing new is hand-rolled. The key is derived
//! from the admin token (HMAC-SHA256 of the admin token over a fixed label), which gives:
//! - no new setting: every replica already shares the admin token (a replica set refuses to
//!   start without it), so a token minted by one replica is accepted by every other;
//! - a key distinct from the admin token and from the callback-token key, so no other token
//!   the gateway mints is accepted here (and the flow name is checked too);
//! - rotating the admin token revokes every user token at once.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::tenant::validate_tenant_id;
use aisoc_notify_core::token::{
    CallbackClaims, CallbackGrant, CallbackTokenSigner, HmacCallbackTokenSigner, TokenError,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router, middleware};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::{ApiJson, error, require_admin};

/// The flow name user tokens carry; a token of any other flow is refused.
pub const USER_TOKEN_ACTION: &str = "gateway.user";
/// How long a token lives when the request does not say.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// The longest a token may live.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// The shortest a token may live.
pub const MIN_TTL: Duration = Duration::from_secs(60);
/// The longest user id a token may name.
pub const MAX_USER_ID_CHARS: usize = 128;

/// The label the signing key is derived under (never change it: tokens in use would fail).
const KEY_LABEL: &[u8] = b"aisoc-gateway user tokens v1";
/// The key id tokens carry.
const KEY_ID: &str = "u1";

/// Mints and checks user tokens (see the [module docs](self)).
#[derive(Clone)]
pub struct UserTokens {
    key: Arc<[u8; 32]>,
    /// Checks presented tokens: built once, not per request.
    verifier: Arc<HmacCallbackTokenSigner>,
}

impl std::fmt::Debug for UserTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserTokens").finish_non_exhaustive()
    }
}

/// Who a valid token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUser {
    /// The tenant.
    pub tenant_id: String,
    /// The user.
    pub user_id: String,
}

/// Why a token was not minted.
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// A field is not acceptable; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// Signing failed.
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl UserTokens {
    /// Tokens keyed from `admin_token` (see the [module docs](self)).
    pub fn from_admin_token(admin_token: &SecretString) -> Self {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac =
            <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(admin_token.expose_secret().as_bytes())
                .expect("HMAC takes any key size");
        mac.update(KEY_LABEL);
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        let verifier = HmacCallbackTokenSigner::new(KEY_ID, key.to_vec())
            .expect("a 32-byte key and a fixed key id are valid");
        Self {
            key: Arc::new(key),
            verifier: Arc::new(verifier),
        }
    }

    fn signer(&self, ttl: Duration) -> Result<HmacCallbackTokenSigner, TokenError> {
        Ok(HmacCallbackTokenSigner::new(KEY_ID, self.key.to_vec())?.with_ttl(ttl))
    }

    /// A token for `user_id` of `tenant_id`, valid for `ttl` (between [`MIN_TTL`] and
    /// [`MAX_TTL`]), and when it expires.
    pub fn mint(
        &self,
        tenant_id: &str,
        user_id: &str,
        ttl: Duration,
    ) -> Result<(String, DateTime<Utc>), MintError> {
        validate_tenant_id(tenant_id)
            .map_err(|invalid| MintError::Invalid(format!("tenant_id: {invalid}")))?;
        let length = user_id.chars().count();
        if user_id.trim() != user_id || !(1..=MAX_USER_ID_CHARS).contains(&length) {
            return Err(MintError::Invalid(format!(
                "user_id: must be 1-{MAX_USER_ID_CHARS} characters without surrounding spaces"
            )));
        }
        if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
            return Err(MintError::Invalid(format!(
                "ttl_seconds: must be between {} and {}",
                MIN_TTL.as_secs(),
                MAX_TTL.as_secs()
            )));
        }
        let minted = self.signer(ttl)?.mint(&CallbackGrant {
            action: USER_TOKEN_ACTION.to_owned(),
            case_id: "-".to_owned(),
            tenant_id: tenant_id.to_owned(),
            user_ref: user_id.to_owned(),
            choice: "session".to_owned(),
            prompt_id: None,
        })?;
        let expires_at = DateTime::from_timestamp(minted.claims.expires_at, 0)
            .ok_or(TokenError::Malformed("expiry out of range"))?;
        Ok((minted.token, expires_at))
    }

    /// The user a token names, when it is one of ours, untampered and unexpired.
    pub fn verify(&self, token: &str) -> Result<TokenUser, TokenError> {
        let claims: CallbackClaims = self.verifier.verify(token)?;
        if claims.action != USER_TOKEN_ACTION {
            return Err(TokenError::Malformed("not a user token"));
        }
        Ok(TokenUser {
            tenant_id: claims.tenant_id,
            user_id: claims.user_ref,
        })
    }
}

/// `POST /v1/admin/user-tokens` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MintRequest {
    tenant_id: String,
    user_id: String,
    #[serde(default)]
    ttl_seconds: Option<u64>,
}

/// `POST /v1/admin/user-tokens` answer.
#[derive(Serialize)]
struct Minted {
    token: String,
    tenant_id: String,
    user_id: String,
    expires_at: DateTime<Utc>,
}

/// `POST /v1/admin/user-tokens` (admin): mints a user token.
pub fn router(admin_token: Arc<SecretString>) -> Router {
    let tokens = UserTokens::from_admin_token(&admin_token);
    Router::new()
        .route(
            "/v1/admin/user-tokens",
            post(mint).route_layer(middleware::from_fn_with_state(admin_token, require_admin)),
        )
        .with_state(tokens)
}

#[utoipa::path(
    post, path = "/v1/admin/user-tokens", tag = "user-tokens",
    summary = "Mint a short-lived token naming one tenant's user, for a browser page",
    security(("admin_bearer" = [])),
    request_body = crate::openapi::UserTokenRequest,
    responses(
        (status = 201, description = "Minted", body = crate::openapi::UserToken),
        (status = 401, description = "Missing or wrong admin bearer token", body = crate::openapi::ApiError),
        (status = 422, description = "A field to fix, named in the error", body = crate::openapi::ApiError),
    ),
)]
async fn mint(
    State(tokens): State<UserTokens>,
    ApiJson(request): ApiJson<MintRequest>,
) -> Response {
    let ttl = request.ttl_seconds.map_or(DEFAULT_TTL, Duration::from_secs);
    match tokens.mint(&request.tenant_id, &request.user_id, ttl) {
        Ok((token, expires_at)) => (
            StatusCode::CREATED,
            Json(Minted {
                token,
                tenant_id: request.tenant_id,
                user_id: request.user_id,
                expires_at,
            }),
        )
            .into_response(),
        Err(MintError::Invalid(message)) => error(StatusCode::UNPROCESSABLE_ENTITY, message),
        Err(MintError::Token(failure)) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, failure.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(admin: &str) -> UserTokens {
        UserTokens::from_admin_token(&SecretString::from(admin.to_owned()))
    }

    #[test]
    fn a_token_names_its_tenant_and_user_and_only_its_key_accepts_it() {
        let (token, expires_at) = tokens("admin-a")
            .mint("acme", "alice", Duration::from_secs(600))
            .unwrap();
        let user = tokens("admin-a").verify(&token).unwrap();
        assert_eq!(
            user,
            TokenUser {
                tenant_id: "acme".into(),
                user_id: "alice".into()
            }
        );
        let left = expires_at - Utc::now();
        assert!(
            left.num_seconds() > 590 && left.num_seconds() <= 600,
            "{left}"
        );
        assert_eq!(
            tokens("admin-b").verify(&token),
            Err(TokenError::InvalidSignature),
            "a rotated admin token revokes user tokens"
        );
    }

    #[test]
    fn a_tampered_or_foreign_token_is_refused() {
        let issuer = tokens("admin-a");
        let (token, _) = issuer.mint("acme", "alice", MIN_TTL).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        // Swap the claims for bob's, keeping alice's tag.
        let (bob, _) = issuer.mint("acme", "bob", MIN_TTL).unwrap();
        parts[2] = bob.split('.').nth(2).unwrap().to_owned();
        assert_eq!(
            issuer.verify(&parts.join(".")),
            Err(TokenError::InvalidSignature)
        );
        // A callback token signed with the same key but another flow is not a user token.
        let other = HmacCallbackTokenSigner::new(KEY_ID, issuer.key.to_vec())
            .unwrap()
            .mint(&CallbackGrant {
                action: "approval".into(),
                case_id: "a1".into(),
                tenant_id: "acme".into(),
                user_ref: "alice".into(),
                choice: "approve".into(),
                prompt_id: None,
            })
            .unwrap();
        assert!(issuer.verify(&other.token).is_err());
    }

    #[test]
    fn minting_checks_every_field() {
        let issuer = tokens("admin-a");
        let invalid = |tenant: &str, user: &str, ttl: u64| match issuer.mint(
            tenant,
            user,
            Duration::from_secs(ttl),
        ) {
            Err(MintError::Invalid(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert!(invalid("", "alice", 600).starts_with("tenant_id: "));
        assert!(invalid("acme", " alice", 600).starts_with("user_id: "));
        assert!(invalid("acme", &"a".repeat(129), 600).starts_with("user_id: "));
        assert!(invalid("acme", "alice", 59).starts_with("ttl_seconds: "));
        assert!(invalid("acme", "alice", 86_401).starts_with("ttl_seconds: "));
        assert!(invalid("acme", "alice", u64::MAX).starts_with("ttl_seconds: "));
    }
}
