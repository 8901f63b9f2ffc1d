//! The request pipeline, independent of any HTTP framework: each check in the order the SPEC
//! sets, each failure a typed [`IngestError`] with its HTTP status.
//!
//! 1. token (401 `invalid token`) — [`Inbox::authenticate_from`]. Unknown tokens are cached
//!    negatively, and failures are charged to the client's own budget (429 once spent), never
//!    to the tenant's: see [`crate::limits::UnauthenticatedGuard`]
//! 2. body size (413) — the caller reads at most [`InboxConfig::max_body_bytes`], after
//!    reserving it from the in-flight memory budget ([`Inbox::reserve_body`], else 503)
//! 3. template still allowed (400 `unknown template`)
//! 4. signature when the token has a secret (401 `invalid signature`), in the schemes the token
//!    accepts only; a failure is charged to the client's budget for that token
//! 5. only now, for an authenticated request: the tenant's request rate and the token's bytes
//!    per second (429 with `Retry-After`)
//! 6. idempotency key (`X-AiSOC-Idempotency-Key`, else `webhook-id`, scoped to the token; for a
//!    request verified by Standard Webhooks always its signed `webhook-id`, so a replay inside
//!    the timestamp window is a duplicate): a key whose events are stored is answered 200
//!    `duplicate`; one still in flight 409 with `Retry-After`; see [`limits`](crate::limits)
//! 7. body decoding, the event cap counted before parsing (413 naming the cap), the working
//!    memory reserved (503), parsing (400 when nothing is parseable)
//! 8. mapping to OCSF (the ingest's own metadata stamped last, whatever the template), at most
//!    [`mapped_limit`] bytes of mapped events per request (413); the token's events per second
//!    for the parsed events (429, before that 413 and before an SNS subscription request
//!    reaches the host); then publishing; 2xx only after the sink acknowledged (else 503).
//!    NDJSON is parsed a line at a time as it is mapped, so the events are counted, and
//!    charged, once mapping is through; a refused request publishes nothing.
//!
//! # Bounded work per request
//!
//! What one accepted request may hold is bounded by its own size: the raw body, the decoded
//! body (at most the body limit), the values parsed at once (one NDJSON or HEC `/raw` line at
//! a time; all of a CEF, HEC `/event` or single-document body), and the mapped events as
//! compact JSON in shared chunks, at most [`mapped_limit`]`(decoded)` bytes —
//! [`MAPPED_BYTES_PER_BODY_BYTE`] times the decoded body, or [`MAPPED_BYTES_FLOOR`] for small
//! bodies. The in-flight reservation covers the first two before parsing and grows with the
//! mapped events as they are made (503 when the budget has no room). `tests/peak_memory.rs`
//! measures the peak allocation of hostile and ordinary requests against their bodies.

mod config;
pub(crate) use config::number_in;
mod error;
mod events;
mod publish;

use std::net::IpAddr;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::secret::ExposeSecret;
use aisoc_notify_core::signature::{SignatureScheme, WebhookVerifier};
use bytes::Bytes;
use http::HeaderMap;
use serde::Serialize;

use crate::hec::HecEnvelope;
pub use crate::limits::IDEMPOTENCY_HEADER;
use crate::limits::{
    ClaimOutcome, IdempotencyKey, IdempotencyStore, InflightBudget, InflightReservation,
    LimitError, MemoryBudget, Rate, RateLimiter, UnauthenticatedGuard, UsageBudget,
};
use crate::sink::EventSink;
use crate::template::TemplateRegistry;
use crate::token::{TokenRecord, TokenResolver};
pub use config::{
    DEFAULT_AUTH_FAILURES_PER_MINUTE, DEFAULT_BYTES_PER_SECOND, DEFAULT_EVENTS_PER_SECOND,
    DEFAULT_INFLIGHT_BYTES, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_EVENTS_PER_REQUEST, InboxConfig,
};
pub use error::IngestError;

/// Mapped output a request may produce per byte of its decoded body.
pub const MAPPED_BYTES_PER_BODY_BYTE: usize = 8;
/// Mapped output any request may produce, however small its body: 2 MiB.
pub const MAPPED_BYTES_FLOOR: usize = 2 * 1024 * 1024;
/// What parsing may hold per byte parsed at once (serde_json values of small objects, CEF
/// and HEC events); measured 6-13x for small objects, and 30x for HEC `/raw`'s short lines,
/// which are parsed one at a time.
const PARSED_BYTES_PER_BODY_BYTE: usize = 16;

/// The most bytes of mapped events a request with a `decoded`-byte body may produce.
pub fn mapped_limit(decoded: usize) -> usize {
    decoded
        .saturating_mul(MAPPED_BYTES_PER_BODY_BYTE)
        .max(MAPPED_BYTES_FLOOR)
}

/// The working memory reserved for a request with a `decoded`-byte body before it is parsed,
/// `at_once` of which is parsed at once (its longest line for NDJSON and HEC `/raw`, else all
/// of it): the decoded copy and the parsed values. The mapped events are added to the
/// reservation as they are made, at what they hold.
fn working_set(decoded: usize, at_once: usize) -> usize {
    decoded.saturating_add(at_once.saturating_mul(PARSED_BYTES_PER_BODY_BYTE))
}

/// Which inbox route a request came in on; it decides pre-processing and the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxRoute {
    /// `POST /v1/inbox/{token}`.
    Webhook,
    /// `POST /v1/inbox/email/{token}`: relay shapes are normalised first.
    Email,
    /// `POST /v1/inbox/cef`: newline-delimited CEF.
    Cef,
    /// Splunk HEC `/event`: concatenated JSON event objects.
    Hec,
    /// Splunk HEC `/raw`: one event per line.
    HecRaw,
}

impl InboxRoute {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            InboxRoute::Webhook => "webhook",
            InboxRoute::Email => "email",
            InboxRoute::Cef => "cef",
            InboxRoute::Hec => "hec",
            InboxRoute::HecRaw => "hec_raw",
        }
    }
}

/// The longest `Retry-After` for a key in progress: a live holder settles within a second or
/// two, and a crashed one's lease may have up to a minute left.
const IN_PROGRESS_RETRY_AFTER: Duration = Duration::from_secs(2);

/// What the caller is told on success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestReceipt {
    /// Events published.
    pub accepted: usize,
    /// The template used.
    pub template: String,
    /// Lines or events that were not usable.
    pub dropped: usize,
    /// Known non-events (a vendor's connectivity test, an SNS confirmation) acknowledged and
    /// not published.
    #[serde(skip_serializing_if = "is_zero")]
    pub ignored: usize,
    /// The idempotency key was seen before; nothing was published again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// One request as the router hands it over: the body already read within the limit.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    /// The route it came in on.
    pub route: InboxRoute,
    /// Its headers (signature, idempotency key, content type and encoding).
    pub headers: &'a HeaderMap,
    /// The body as read.
    pub body: Bytes,
    /// The HEC `/raw` envelope from the query string, validated, shared by every line.
    pub hec_envelope: Option<Arc<HecEnvelope>>,
    /// The client's address, which failed authentications are charged to.
    pub client: Option<IpAddr>,
}

impl<'a> Submission<'a> {
    /// A submission on `route` with no envelope and no known client address.
    pub fn new(route: InboxRoute, headers: &'a HeaderMap, body: Bytes) -> Self {
        Self {
            route,
            headers,
            body,
            hec_envelope: None,
            client: None,
        }
    }
}

/// One request's parts, after the checks that precede parsing.
struct Incoming<'a> {
    record: &'a TokenRecord,
    route: InboxRoute,
    headers: &'a HeaderMap,
    raw_body: Bytes,
    hec_envelope: Option<Arc<HecEnvelope>>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The per-token budgets in units of work, and the budget of failed authentications.
#[derive(Clone)]
struct Budgets {
    events: Arc<dyn UsageBudget>,
    bytes: Arc<dyn UsageBudget>,
    unauthenticated: UnauthenticatedGuard,
    inflight: InflightBudget,
}

impl Budgets {
    /// In-memory budgets sized by `config`.
    fn in_memory(config: &InboxConfig) -> Self {
        let rates = token_rates(config);
        Self {
            events: Arc::new(MemoryBudget::new(rates.events)),
            bytes: Arc::new(MemoryBudget::new(rates.bytes)),
            unauthenticated: UnauthenticatedGuard::new(Arc::new(MemoryBudget::new(
                rates.auth_failures,
            ))),
            inflight: InflightBudget::new(config.inflight_bytes),
        }
    }
}

/// The rates an [`InboxConfig`] sets, for building shared (Redis) budgets that match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRates {
    /// Events per second per token, in bursts of the per-request cap.
    pub events: Rate,
    /// Body bytes per second per token, in bursts of the body limit.
    pub bytes: Rate,
    /// Failed authentications per minute per client (and token).
    pub auth_failures: Rate,
}

/// The rates `config` sets; each burst admits at least the largest request it allows.
pub fn token_rates(config: &InboxConfig) -> TokenRates {
    let positive = |n: u64| NonZeroU64::new(n).unwrap_or(NonZeroU64::MIN);
    let events = u64::from(config.events_per_second);
    let max_events = u64::try_from(config.max_events_per_request).unwrap_or(u64::MAX);
    let max_body = u64::try_from(config.max_body_bytes).unwrap_or(u64::MAX);
    TokenRates {
        events: Rate::per_second(positive(events)).with_burst(positive(events.max(max_events))),
        bytes: Rate::per_second(positive(config.bytes_per_second))
            .with_burst(positive(config.bytes_per_second.max(max_body))),
        auth_failures: Rate::per_minute(positive(u64::from(config.auth_failures_per_minute))),
    }
}

/// The inbox engine: tokens, limits, templates and a sink.
///
/// Cheap to clone (one shared pointer): axum clones its state for every request.
#[derive(Clone)]
pub struct Inbox {
    parts: Arc<Parts>,
}

/// What an [`Inbox`] shares between its clones; the `with_` builders change it before the
/// first clone.
#[derive(Clone)]
struct Parts {
    resolver: TokenResolver,
    templates: Arc<TemplateRegistry>,
    limiter: Arc<dyn RateLimiter>,
    idempotency: Arc<dyn IdempotencyStore>,
    sink: Arc<dyn EventSink>,
    config: InboxConfig,
    budgets: Budgets,
    sns_confirmations: Option<Arc<dyn crate::envelope::SnsSubscriptionHandler>>,
    sns_verifier: Option<crate::sns::SnsVerifier>,
    counters: Arc<crate::metrics::RequestCounters>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("templates", &self.parts.templates)
            .field("config", &self.parts.config)
            .finish_non_exhaustive()
    }
}

fn limited(error: LimitError) -> IngestError {
    match error {
        LimitError::Exceeded(retry_after) => IngestError::RateLimited { retry_after },
        LimitError::Backend(reason) => IngestError::Unavailable(reason),
    }
}

const BUSY: IngestError = IngestError::Busy {
    retry_after: Duration::from_secs(1),
};

impl Inbox {
    /// An inbox over its parts; the per-token budgets, the failed-authentication budget and
    /// the in-flight memory budget are in memory, sized by `config` (share the first two
    /// between replicas with [`with_token_budgets`](Self::with_token_budgets) and
    /// [`with_auth_failure_budget`](Self::with_auth_failure_budget)).
    pub fn new(
        resolver: TokenResolver,
        templates: Arc<TemplateRegistry>,
        limiter: Arc<dyn RateLimiter>,
        idempotency: Arc<dyn IdempotencyStore>,
        sink: Arc<dyn EventSink>,
        config: InboxConfig,
    ) -> Self {
        let parts = Parts {
            resolver,
            templates,
            limiter,
            idempotency,
            sink,
            budgets: Budgets::in_memory(&config),
            config,
            sns_confirmations: None,
            sns_verifier: None,
            counters: Arc::default(),
        };
        Self {
            parts: Arc::new(parts),
        }
    }

    /// Charges events and body bytes per token to these budgets (rates: [`token_rates`]).
    pub fn with_token_budgets(
        mut self,
        events: Arc<dyn UsageBudget>,
        bytes: Arc<dyn UsageBudget>,
    ) -> Self {
        let budgets = &mut Arc::make_mut(&mut self.parts).budgets;
        budgets.events = events;
        budgets.bytes = bytes;
        self
    }

    /// Charges failed authentications to this budget.
    pub fn with_auth_failure_budget(mut self, failures: Arc<dyn UsageBudget>) -> Self {
        Arc::make_mut(&mut self.parts).budgets.unauthenticated =
            UnauthenticatedGuard::new(failures);
        self
    }

    /// Replaces the failed-authentication guard (for a shorter negative cache in tests).
    pub fn with_unauthenticated_guard(mut self, guard: UnauthenticatedGuard) -> Self {
        Arc::make_mut(&mut self.parts).budgets.unauthenticated = guard;
        self
    }

    /// Verifies SNS message signatures before unwrapping (recommended for `aws-sns` tokens).
    pub fn with_sns_verifier(mut self, verifier: crate::sns::SnsVerifier) -> Self {
        Arc::make_mut(&mut self.parts).sns_verifier = Some(verifier);
        self
    }

    /// Hands SNS subscription confirmation requests to the host.
    pub fn with_sns_confirmations(
        mut self,
        handler: Arc<dyn crate::envelope::SnsSubscriptionHandler>,
    ) -> Self {
        Arc::make_mut(&mut self.parts).sns_confirmations = Some(handler);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &InboxConfig {
        &self.parts.config
    }

    /// The token resolver (for `invalidate` after rotation).
    pub fn resolver(&self) -> &TokenResolver {
        &self.parts.resolver
    }

    /// The templates.
    pub fn templates(&self) -> &TemplateRegistry {
        &self.parts.templates
    }

    /// The memory budget of the requests in flight.
    pub fn inflight(&self) -> &InflightBudget {
        &self.parts.budgets.inflight
    }

    /// Step 1 without a client address (failures are charged to one shared "unknown address").
    pub async fn authenticate(&self, token: &str) -> Result<TokenRecord, IngestError> {
        self.authenticate_from(token, None).await
    }

    /// Step 1: the token's record, or `InvalidToken`; `RateLimited` when `client` has spent
    /// its failure budget (for unknown tokens, or for this token's signature).
    pub async fn authenticate_from(
        &self,
        token: &str,
        client: Option<IpAddr>,
    ) -> Result<TokenRecord, IngestError> {
        let guard = &self.parts.budgets.unauthenticated;
        guard.may_try_token(client).await.map_err(limited)?;
        let fingerprint = crate::token::fingerprint(token);
        if guard.known_unknown(&fingerprint) {
            guard.unknown_token(&fingerprint, client).await;
            return Err(IngestError::InvalidToken);
        }
        let record = match self
            .parts
            .resolver
            .resolve_fingerprinted(token, &fingerprint)
            .await
        {
            Ok(Some(record)) => record,
            Ok(None) => {
                guard.unknown_token(&fingerprint, client).await;
                return Err(IngestError::InvalidToken);
            }
            Err(error) => return Err(IngestError::Unavailable(error.to_string())),
        };
        if record.signing_secret.is_some() {
            guard
                .may_try_signature(&record.id, client)
                .await
                .map_err(limited)?;
        }
        Ok(record)
    }

    /// Reserves memory for a body of `declared` bytes (the body limit when undeclared) before
    /// it is read; shrink the reservation to the body read. `Busy` when it does not fit.
    pub fn reserve_body(&self, declared: Option<u64>) -> Result<InflightReservation, IngestError> {
        let max = self.parts.config.max_body_bytes;
        let bytes = declared.map_or(max, |n| usize::try_from(n).unwrap_or(max).min(max));
        self.parts.budgets.inflight.try_reserve(bytes).ok_or(BUSY)
    }

    /// Steps 3-8 for a body already read within the limit.
    pub async fn accept(
        &self,
        record: &TokenRecord,
        route: InboxRoute,
        headers: &HeaderMap,
        raw_body: Bytes,
    ) -> Result<IngestReceipt, IngestError> {
        self.submit(record, Submission::new(route, headers, raw_body))
            .await
    }

    /// Steps 3-8 for a submission.
    pub async fn submit(
        &self,
        record: &TokenRecord,
        submission: Submission<'_>,
    ) -> Result<IngestReceipt, IngestError> {
        let route = submission.route;
        let result = self.accept_inner(record, submission).await;
        let outcome = match &result {
            Ok(receipt) if receipt.duplicate => "duplicate",
            Ok(_) => "ok",
            Err(error) => error.outcome(),
        };
        let accepted = result.as_ref().map_or(0, |receipt| receipt.accepted as u64);
        self.parts
            .counters
            .record(route.label(), &record.template_id, outcome, accepted);
        result
    }

    /// Step 4: the scheme that verified the request, `None` for an unsigned token.
    async fn verify_signature(
        &self,
        record: &TokenRecord,
        headers: &HeaderMap,
        body: &[u8],
        client: Option<IpAddr>,
    ) -> Result<Option<SignatureScheme>, IngestError> {
        let Some(secret) = &record.signing_secret else {
            return Ok(None);
        };
        let schemes = record
            .signature_schemes
            .as_deref()
            .unwrap_or(&SignatureScheme::ALL);
        match WebhookVerifier::new(secret.expose_secret())
            .with_schemes(schemes)
            .verify(headers, body)
        {
            Ok(scheme) => Ok(Some(scheme)),
            Err(_) => {
                self.parts
                    .budgets
                    .unauthenticated
                    .bad_signature(&record.id, client)
                    .await;
                Err(IngestError::InvalidSignature)
            }
        }
    }

    async fn accept_inner(
        &self,
        record: &TokenRecord,
        submission: Submission<'_>,
    ) -> Result<IngestReceipt, IngestError> {
        let Submission {
            route,
            headers,
            body: raw_body,
            hec_envelope,
            client,
        } = submission;
        if raw_body.len() > self.parts.config.max_body_bytes {
            return Err(IngestError::BodyTooLarge {
                max: self.parts.config.max_body_bytes,
            });
        }
        let template = self
            .parts
            .templates
            .get(&record.template_id)
            .ok_or(IngestError::UnknownTemplate)?;
        let scheme = self
            .verify_signature(record, headers, &raw_body, client)
            .await?;
        // Authenticated: only now may the request spend the tenant's and the token's budgets.
        self.parts
            .limiter
            .check(&record.tenant_id)
            .await
            .map_err(limited)?;
        let body_bytes = u64::try_from(raw_body.len()).unwrap_or(u64::MAX);
        self.parts
            .budgets
            .bytes
            .spend(&record.id, body_bytes)
            .await
            .map_err(limited)?;
        let key = if scheme == Some(SignatureScheme::StandardWebhooks) {
            // The signed id, not a header an attacker may add to a replay.
            IdempotencyKey::from_webhook_id(headers, &record.tenant_id, &record.id)
        } else {
            IdempotencyKey::from_headers(headers, &record.tenant_id, &record.id)
        };
        let Some(key) = key else {
            let incoming = Incoming {
                record,
                route,
                headers,
                raw_body,
                hec_envelope,
            };
            return self
                .map_and_publish(incoming, template.as_ref(), None)
                .await;
        };
        // Once the key is claimed the request must settle it (promote or release) even if the
        // caller hangs up and this future is dropped: the rest runs in a task of its own.
        let (inbox, template) = (self.clone(), Arc::clone(template));
        let (record, headers) = (record.clone(), headers.clone());
        tokio::spawn(async move {
            let incoming = Incoming {
                record: &record,
                route,
                headers: &headers,
                raw_body,
                hec_envelope,
            };
            inbox.accept_keyed(incoming, template.as_ref(), key).await
        })
        .await
        .unwrap_or_else(|error| {
            tracing::error!(%error, "an ingest task failed; its idempotency claim lapses with its lease");
            Err(IngestError::Unavailable("ingest task failed".into()))
        })
    }

    /// Steps 6-8 for a request with an idempotency key: claim, publish, then promote the claim
    /// to done (only now is the key answered `duplicate`) or release it for the sender's retry.
    async fn accept_keyed(
        &self,
        incoming: Incoming<'_>,
        template: &dyn aisoc_notify_core::InboxTemplate,
        key: IdempotencyKey,
    ) -> Result<IngestReceipt, IngestError> {
        let unavailable = |error: LimitError| IngestError::Unavailable(error.to_string());
        let claim = match self
            .parts
            .idempotency
            .claim(&key, self.parts.config.idempotency_lease)
            .await
            .map_err(unavailable)?
        {
            ClaimOutcome::Claimed(claim) => claim,
            ClaimOutcome::InProgress { held_for } => {
                return Err(IngestError::InProgress {
                    retry_after: held_for.clamp(Duration::from_secs(1), IN_PROGRESS_RETRY_AFTER),
                });
            }
            ClaimOutcome::Done => {
                return Ok(IngestReceipt {
                    accepted: 0,
                    template: incoming.record.template_id.clone(),
                    dropped: 0,
                    ignored: 0,
                    duplicate: true,
                });
            }
        };
        let published = self.map_and_publish(incoming, template, Some(&key)).await;
        let settled = match &published {
            Ok(_) => self
                .parts.idempotency
                .complete(&claim, self.parts.config.idempotency_ttl)
                .await
                .map(|ours| {
                    if !ours {
                        tracing::warn!("an idempotency claim outlived its lease; the sink's message ids kept the events once");
                    }
                }),
            Err(_) => self.parts.idempotency.release(&claim).await.map(drop),
        };
        if let Err(error) = settled {
            // The answer stays true either way: a stored event stays stored (a retry after the
            // lease republishes the same message ids), a failed one was not accepted.
            tracing::warn!(%error, "could not settle an idempotency claim; it lapses with its lease");
        }
        published
    }
}
