//! The verification callback route (feature `axum`): `GET /chatops/verify/{token}` answers
//! with a small page saying what happened.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::verify::{VerifyCallback, VerifyCallbackError};

/// `GET /chatops/verify/{token}`, for the host to nest (for example under `/v1`).
pub fn router(callback: VerifyCallback) -> Router {
    Router::new()
        .route("/chatops/verify/{token}", get(verify))
        .with_state(Arc::new(callback))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem\">\
         <h1>{title}</h1><p>{message}</p></body></html>",
        title = escape_html(title),
        message = escape_html(message)
    );
    let mut response = (status, Html(body)).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

async fn verify(
    State(callback): State<Arc<VerifyCallback>>,
    Path(token): Path<String>,
) -> Response {
    match callback.handle(&token).await {
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
            page(StatusCode::OK, "Answer recorded", message)
        }
        Err(error) => {
            let status = match &error {
                VerifyCallbackError::InvalidLink => StatusCode::FORBIDDEN,
                VerifyCallbackError::Expired => StatusCode::GONE,
                VerifyCallbackError::AlreadyAnswered { .. }
                | VerifyCallbackError::AnsweredOtherwise { .. } => StatusCode::CONFLICT,
                VerifyCallbackError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            page(status, "Answer not recorded", &error.to_string())
        }
    }
}
