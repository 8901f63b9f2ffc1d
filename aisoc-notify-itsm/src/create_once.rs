//! Opening a ticket at most once where the vendor cannot deduplicate creates (Jira,
//! ServiceNow).
//!
//! A create that timed out or got a 5xx may have happened. Sending it again could open the same
//! ticket twice, so the executor looks the ticket up by its correlation key first and creates
//! it only when the lookup says it is not there:
//!
//! 1. look up (an idempotent read, retried by the delivery client like any read);
//!    found: return it (`existing: true`);
//! 2. create with [`DeliveryClient::send_once`](aisoc_notify_core::DeliveryClient::send_once),
//!    retried only when it certainly was not processed (no connection, a 429);
//! 3. the answer leaves the effect unknown (a timeout, a broken connection, a 5xx, an
//!    unreadable 2xx): wait the policy's backoff and go back to 1. The create is sent at most
//!    [`RetryPolicy::max_attempts`] times; after the last one the lookup runs once more, and
//!    the last unknown failure is returned when it finds nothing;
//! 4. a lookup that fails returns its own error: the ticket may exist, so nothing is created.
//!
//! The lookup before the first create is one read per ticket; it makes the playbook engine's
//! own retries safe too (a step re-run after a retryable failure finds the ticket the first run
//! opened). What it cannot see, it cannot find: an account without read access to the tickets,
//! or a search index that has not caught up (Jira's search is eventually consistent, usually
//! within seconds), lets a second create through.

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryError, HttpResponse};
use aisoc_notify_core::{ActionError, RetryPolicy};
use serde_json::Value;

use crate::answers::{self, Hints};

use crate::ticket::{Created, Ticket};

/// Why a create did not return a ticket.
#[derive(Debug)]
pub(crate) enum CreateFailure {
    /// The create may have happened (a timeout, a 5xx, an unreadable success): look before
    /// sending it again.
    Unknown(ActionError),
    /// The create certainly did not happen (refused, throttled, not connected).
    NotCreated(ActionError),
}

impl CreateFailure {
    /// Classifies a failed `send_once`: a timeout, or a connection that broke once the
    /// request was on its way, leaves the outcome unknown; a refused connection, a redirect or
    /// a forbidden address means nothing was created.
    pub(crate) fn from_delivery(error: DeliveryError) -> Self {
        match error {
            DeliveryError::Timeout { .. } | DeliveryError::Request { .. } => {
                CreateFailure::Unknown(ActionError::Delivery(error))
            }
            other => CreateFailure::NotCreated(ActionError::Delivery(other)),
        }
    }

    /// Classifies an answer that is not a success, already mapped to `error`.
    pub(crate) fn from_answer(response: &HttpResponse, error: ActionError) -> Self {
        let status = response.status.as_u16();
        if status == 408 || response.status.is_server_error() {
            CreateFailure::Unknown(error)
        } else {
            CreateFailure::NotCreated(error)
        }
    }
}

/// Sends a create once and reads the vendor's JSON answer: a refusal is mapped with the
/// vendor's `details` reader and `hints`, and its [`CreateFailure`] says whether the create may
/// have happened.
pub(crate) async fn send_create(
    delivery: &DeliveryClient,
    request: reqwest::Request,
    service: &str,
    details: fn(&Value) -> Vec<String>,
    hints: Hints,
) -> Result<(HttpResponse, Value), CreateFailure> {
    let response = delivery
        .send_once(request)
        .await
        .map_err(CreateFailure::from_delivery)?;
    if !response.is_success() {
        let error = answers::refusal(
            service,
            &response,
            &details(&answers::error_body(&response)),
            hints,
        );
        return Err(CreateFailure::from_answer(&response, error));
    }
    let body: Value = response
        .json()
        .map_err(|e| CreateFailure::Unknown(e.into()))?;
    Ok((response, body))
}

/// A vendor whose tickets can be looked up by correlation key.
pub(crate) trait LookupThenCreate: Sync {
    /// The ticket already holding `ticket`'s correlation key, if any.
    async fn find(&self, ticket: &Ticket) -> Result<Option<Created>, ActionError>;

    /// Sends the create once (see [`CreateFailure`]).
    async fn create(&self, ticket: &Ticket) -> Result<Created, CreateFailure>;

    /// The delivery client's retry policy, which bounds the creates sent.
    fn retry_policy(&self) -> &RetryPolicy;
}

/// Finds or creates `ticket`, sending the create at most `max_attempts` times and only after a
/// lookup found nothing.
pub(crate) async fn find_or_create<V: LookupThenCreate>(
    vendor: &V,
    ticket: &Ticket,
) -> Result<Created, ActionError> {
    let policy = vendor.retry_policy();
    let max_creates = policy.max_attempts.max(1);
    let mut creates = 0;
    loop {
        if let Some(existing) = vendor.find(ticket).await? {
            return Ok(existing.found());
        }
        creates += 1;
        match vendor.create(ticket).await {
            Ok(created) => return Ok(created),
            Err(CreateFailure::NotCreated(error)) => return Err(error),
            Err(CreateFailure::Unknown(error)) if creates >= max_creates => {
                return match vendor.find(ticket).await? {
                    Some(existing) => Ok(existing.found()),
                    None => Err(error),
                };
            }
            Err(CreateFailure::Unknown(_)) => tokio::time::sleep(policy.backoff(creates)).await,
        }
    }
}
