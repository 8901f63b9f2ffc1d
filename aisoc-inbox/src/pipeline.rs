//! The request pipeline, independent of any HTTP framework: each check in the order the SPEC
//! sets, each failure a typed [`IngestError`] with its HTTP status.
//!
//! 1. token (401 `invalid token`) — [`Inbox::authenticate`]
//! 2. body size (413) — the caller reads at most [`InboxConfig::max_body_bytes`]
//! 3. tenant rate (429 with `Retry-After`)
//! 4. template still allowed (400 `unknown template`)
//! 5. signature when the token has a secret (401 `invalid signature`)
//! 6. idempotency key (`X-AiSOC-Idempotency-Key`, else `webhook-id`, scoped to the token): a key
//!    whose events are stored is answered 200 `duplicate`; one still in flight 409 with
//!    `Retry-After`; see [`limits`](crate::limits) for why no window loses an event
//! 7. body decoding and parsing (400 when nothing is parseable)
//! 8. mapping to OCSF (the ingest's own metadata stamped last, whatever the template), then
//!    publishing; 2xx only after the sink acknowledged (else 503).

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::inbox_template::IngestContext;
use aisoc_notify_core::secret::ExposeSecret;
use aisoc_notify_core::signature::WebhookVerifier;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Serialize;

use crate::body::{self, BodyError};
use crate::email;
pub use crate::limits::IDEMPOTENCY_HEADER;
use crate::limits::{
    ClaimOutcome, IDEMPOTENCY_LEASE, IDEMPOTENCY_TTL, IdempotencyKey, IdempotencyStore, LimitError,
    RateLimiter,
};
use crate::sink::{EventSink, SinkError, SinkEvent};
use crate::template::TemplateRegistry;
use crate::token::{TokenRecord, TokenResolver};

/// The default body limit: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Limits and windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxConfig {
    /// The largest body read (and the largest decompressed body).
    pub max_body_bytes: usize,
    /// Requests per minute per tenant.
    pub rate_limit_per_minute: u32,
    /// How long an idempotency key is remembered once its events are stored.
    pub idempotency_ttl: Duration,
    /// How long a request holds its key while publishing; it also bounds the publish, and a
    /// crashed holder's claim lapses after it.
    pub idempotency_lease: Duration,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            rate_limit_per_minute: crate::limits::DEFAULT_PER_MINUTE,
            idempotency_ttl: IDEMPOTENCY_TTL,
            idempotency_lease: IDEMPOTENCY_LEASE,
        }
    }
}

impl InboxConfig {
    /// Reads `AISOC_INBOX_MAX_BODY_BYTES`, `AISOC_INBOX_RATE_LIMIT_PER_MIN` and
    /// `AISOC_INBOX_IDEMPOTENCY_LEASE_SECONDS` (how long an in-flight key is held before a
    /// crashed holder's claim lapses) through `lookup`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, aisoc_notify_core::ConfigError> {
        use aisoc_notify_core::ConfigError;
        let mut config = Self::default();
        if let Some(raw) = lookup("AISOC_INBOX_MAX_BODY_BYTES") {
            config.max_body_bytes = raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    ConfigError::new(
                        "AISOC_INBOX_MAX_BODY_BYTES",
                        "must be a positive number of bytes",
                    )
                })?;
        }
        if let Some(raw) = lookup("AISOC_INBOX_RATE_LIMIT_PER_MIN") {
            config.rate_limit_per_minute = raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    ConfigError::new(
                        "AISOC_INBOX_RATE_LIMIT_PER_MIN",
                        "must be a positive number",
                    )
                })?;
        }
        if let Some(raw) = lookup("AISOC_INBOX_IDEMPOTENCY_LEASE_SECONDS") {
            config.idempotency_lease = raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=3600).contains(n))
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    ConfigError::new(
                        "AISOC_INBOX_IDEMPOTENCY_LEASE_SECONDS",
                        "must be a number of seconds from 1 to 3600",
                    )
                })?;
        }
        Ok(config)
    }
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

/// Why a request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Unknown or revoked token.
    #[error("invalid token")]
    InvalidToken,
    /// The body is over the limit.
    #[error("body too large (limit {max} bytes)")]
    BodyTooLarge {
        /// The limit.
        max: usize,
    },
    /// The tenant is over its rate.
    #[error("too many requests")]
    RateLimited {
        /// When to try again.
        retry_after: Duration,
    },
    /// The token's template is no longer accepted.
    #[error("unknown template")]
    UnknownTemplate,
    /// The token requires a signature and it is missing or wrong.
    #[error("invalid signature")]
    InvalidSignature,
    /// The body could not be read.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A Splunk HEC body problem, with Splunk's own reply.
    #[error("{}", .0.text)]
    Hec(crate::hec::HecReply),
    /// Every event failed to map.
    #[error("no event in the body fits template '{template}': {reason}")]
    Unmappable {
        /// The template.
        template: String,
        /// The first mapping failure.
        reason: String,
    },
    /// Another request with the same idempotency key is in flight; its outcome decides.
    #[error("a request with this idempotency key is in progress; retry later")]
    InProgress {
        /// When to try again.
        retry_after: Duration,
    },
    /// The sink (or a store) cannot take events now; nothing was accepted.
    #[error("inbox temporarily unavailable: {0}")]
    Unavailable(String),
    /// The event store is full; nothing was accepted until an operator frees space.
    #[error("inbox storage is full: {0}")]
    StorageFull(String),
}

impl IngestError {
    /// The HTTP status that tells the caller what to fix.
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::InvalidToken | IngestError::InvalidSignature => StatusCode::UNAUTHORIZED,
            IngestError::BodyTooLarge { .. }
            | IngestError::Body(BodyError::TooLargeDecompressed { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Body(BodyError::UnsupportedEncoding(_)) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IngestError::UnknownTemplate
            | IngestError::Body(_)
            | IngestError::Unmappable { .. } => StatusCode::BAD_REQUEST,
            IngestError::InProgress { .. } => StatusCode::CONFLICT,
            IngestError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            IngestError::Hec(reply) => reply.status,
        }
    }

    /// The wait to announce in `Retry-After`, for the answers a sender should retry later.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            IngestError::RateLimited { retry_after } | IngestError::InProgress { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// The metric outcome label.
    pub fn outcome(&self) -> &'static str {
        match self {
            IngestError::InvalidToken => "invalid_token",
            IngestError::BodyTooLarge { .. } => "too_large",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::UnknownTemplate => "unknown_template",
            IngestError::InvalidSignature => "invalid_signature",
            IngestError::Body(BodyError::TooLargeDecompressed { .. }) => "too_large",
            IngestError::Body(_) | IngestError::Unmappable { .. } | IngestError::Hec(_) => {
                "malformed"
            }
            IngestError::InProgress { .. } => "in_progress",
            IngestError::Unavailable(_) => "unavailable",
            IngestError::StorageFull(_) => "storage_full",
        }
    }
}

/// The longest `Retry-After` for a key in progress: a live holder settles within a second or
/// two, and a crashed one's lease may have up to a minute left.
const IN_PROGRESS_RETRY_AFTER: Duration = Duration::from_secs(2);

/// What the caller is told on success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// One request's parts, after the checks that precede parsing.
struct Incoming<'a> {
    record: &'a TokenRecord,
    route: InboxRoute,
    headers: &'a HeaderMap,
    raw_body: Bytes,
    hec_envelope: Option<serde_json::Map<String, serde_json::Value>>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The inbox engine: tokens, limits, templates and a sink.
#[derive(Clone)]
pub struct Inbox {
    resolver: TokenResolver,
    templates: Arc<TemplateRegistry>,
    limiter: Arc<dyn RateLimiter>,
    idempotency: Arc<dyn IdempotencyStore>,
    sink: Arc<dyn EventSink>,
    config: InboxConfig,
    sns_confirmations: Option<Arc<dyn crate::envelope::SnsSubscriptionHandler>>,
    sns_verifier: Option<crate::sns::SnsVerifier>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("templates", &self.templates)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn new_event_uid() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    data_encoding::HEXLOWER.encode(&bytes)
}

impl Inbox {
    /// An inbox over its parts.
    pub fn new(
        resolver: TokenResolver,
        templates: Arc<TemplateRegistry>,
        limiter: Arc<dyn RateLimiter>,
        idempotency: Arc<dyn IdempotencyStore>,
        sink: Arc<dyn EventSink>,
        config: InboxConfig,
    ) -> Self {
        Self {
            resolver,
            templates,
            limiter,
            idempotency,
            sink,
            config,
            sns_confirmations: None,
            sns_verifier: None,
        }
    }

    /// Verifies SNS message signatures before unwrapping (recommended for `aws-sns` tokens).
    pub fn with_sns_verifier(mut self, verifier: crate::sns::SnsVerifier) -> Self {
        self.sns_verifier = Some(verifier);
        self
    }

    /// Hands SNS subscription confirmation requests to the host.
    pub fn with_sns_confirmations(
        mut self,
        handler: Arc<dyn crate::envelope::SnsSubscriptionHandler>,
    ) -> Self {
        self.sns_confirmations = Some(handler);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &InboxConfig {
        &self.config
    }

    /// The token resolver (for `invalidate` after rotation).
    pub fn resolver(&self) -> &TokenResolver {
        &self.resolver
    }

    /// The templates.
    pub fn templates(&self) -> &TemplateRegistry {
        &self.templates
    }

    /// Step 1: the token's record, or `InvalidToken`.
    pub async fn authenticate(&self, token: &str) -> Result<TokenRecord, IngestError> {
        match self.resolver.resolve(token).await {
            Ok(Some(record)) => Ok(record),
            Ok(None) => Err(IngestError::InvalidToken),
            Err(error) => Err(IngestError::Unavailable(error.to_string())),
        }
    }

    /// Steps 3-8 for a body already read within the limit.
    pub async fn accept(
        &self,
        record: &TokenRecord,
        route: InboxRoute,
        headers: &HeaderMap,
        raw_body: Bytes,
    ) -> Result<IngestReceipt, IngestError> {
        self.accept_with_envelope(record, route, headers, raw_body, None)
            .await
    }

    /// Like [`accept`](Self::accept); `hec_envelope` carries the `/raw` endpoint's query
    /// parameters (`host`, `source`, `sourcetype`, `index`) into every event.
    pub async fn accept_with_envelope(
        &self,
        record: &TokenRecord,
        route: InboxRoute,
        headers: &HeaderMap,
        raw_body: Bytes,
        hec_envelope: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<IngestReceipt, IngestError> {
        let result = self
            .accept_inner(record, route, headers, raw_body, hec_envelope)
            .await;
        let outcome = match &result {
            Ok(receipt) if receipt.duplicate => "duplicate",
            Ok(_) => "ok",
            Err(error) => error.outcome(),
        };
        metrics::counter!(
            "aisoc_ingest_inbox_requests_total",
            "route" => route.label(),
            "template" => record.template_id.clone(),
            "outcome" => outcome,
        )
        .increment(1);
        if let Ok(receipt) = &result {
            metrics::counter!("aisoc_ingest_inbox_events_total", "template" => record.template_id.clone())
                .increment(receipt.accepted as u64);
        }
        result
    }

    async fn accept_inner(
        &self,
        record: &TokenRecord,
        route: InboxRoute,
        headers: &HeaderMap,
        raw_body: Bytes,
        hec_envelope: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<IngestReceipt, IngestError> {
        if raw_body.len() > self.config.max_body_bytes {
            return Err(IngestError::BodyTooLarge {
                max: self.config.max_body_bytes,
            });
        }
        self.limiter
            .check(&record.tenant_id)
            .await
            .map_err(|e| match e {
                LimitError::Exceeded(retry_after) => IngestError::RateLimited { retry_after },
                LimitError::Backend(reason) => IngestError::Unavailable(reason),
            })?;
        let template = self
            .templates
            .get(&record.template_id)
            .ok_or(IngestError::UnknownTemplate)?;
        if let Some(secret) = &record.signing_secret {
            WebhookVerifier::new(secret.expose_secret())
                .verify(headers, &raw_body)
                .map_err(|_| IngestError::InvalidSignature)?;
        }
        let Some(key) = IdempotencyKey::from_headers(headers, &record.tenant_id, &record.id) else {
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
            .idempotency
            .claim(&key, self.config.idempotency_lease)
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
                .idempotency
                .complete(&claim, self.config.idempotency_ttl)
                .await
                .map(|ours| {
                    if !ours {
                        tracing::warn!("an idempotency claim outlived its lease; the sink's message ids kept the events once");
                    }
                }),
            Err(_) => self.idempotency.release(&claim).await.map(drop),
        };
        if let Err(error) = settled {
            // The answer stays true either way: a stored event stays stored (a retry after the
            // lease republishes the same message ids), a failed one was not accepted.
            tracing::warn!(%error, "could not settle an idempotency claim; it lapses with its lease");
        }
        published
    }

    async fn map_and_publish(
        &self,
        incoming: Incoming<'_>,
        template: &dyn aisoc_notify_core::InboxTemplate,
        key: Option<&IdempotencyKey>,
    ) -> Result<IngestReceipt, IngestError> {
        let Incoming {
            record,
            route,
            headers,
            raw_body,
            hec_envelope,
        } = incoming;
        let header = |name: http::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let decoded = body::decode(
            header(http::header::CONTENT_ENCODING),
            raw_body,
            self.config.max_body_bytes,
        )?;
        let parsed = match route {
            InboxRoute::Webhook | InboxRoute::Email => {
                body::parse(header(http::header::CONTENT_TYPE), &decoded)?
            }
            InboxRoute::Cef => {
                let (events, dropped) = crate::cef::parse_batch(&decoded);
                if events.is_empty() {
                    return Err(IngestError::Body(BodyError::NoEvents));
                }
                body::ParsedBody { events, dropped }
            }
            InboxRoute::Hec => body::ParsedBody {
                events: crate::hec::parse_events(&decoded).map_err(IngestError::Hec)?,
                dropped: 0,
            },
            InboxRoute::HecRaw => body::ParsedBody {
                events: crate::hec::parse_raw(&decoded, &hec_envelope.unwrap_or_default())
                    .map_err(IngestError::Hec)?,
                dropped: 0,
            },
        };
        let received_at = chrono::Utc::now();
        let mut dropped = parsed.dropped;
        let mut ignored = 0;
        let mut first_failure = None;
        let mut events = Vec::with_capacity(parsed.events.len());
        for (index, payload) in parsed.events.into_iter().enumerate() {
            let payload = match route {
                InboxRoute::Email => email::normalize(&payload),
                _ => payload,
            };
            if template.envelope() == Some("aws-sns")
                && let Some(verifier) = &self.sns_verifier
            {
                let verified = match payload.as_object() {
                    Some(message) => verifier.verify(message).await,
                    None => Err(crate::sns::SnsSignatureError::MissingField("Type")),
                };
                if let Err(error) = verified {
                    dropped += 1;
                    first_failure.get_or_insert(error.to_string());
                    continue;
                }
            }
            let payload = match crate::envelope::unwrap(template.envelope(), payload, headers) {
                Ok(crate::envelope::Unwrapped::Event(payload)) => payload,
                Ok(crate::envelope::Unwrapped::SnsConfirmation {
                    kind,
                    topic_arn,
                    subscribe_url,
                }) => {
                    ignored += 1;
                    match &self.sns_confirmations {
                        Some(handler) if kind == "SubscriptionConfirmation" => {
                            handler
                                .confirmation_requested(
                                    &record.tenant_id,
                                    &topic_arn,
                                    &subscribe_url,
                                )
                                .await;
                        }
                        _ => {
                            tracing::info!(%topic_arn, %kind, "SNS confirmation request not handled by the host")
                        }
                    }
                    continue;
                }
                Err(error) => {
                    dropped += 1;
                    first_failure.get_or_insert(error.to_string());
                    continue;
                }
            };
            let event_uid = new_event_uid();
            let context = IngestContext {
                tenant_id: record.tenant_id.clone(),
                received_at,
                event_uid: event_uid.clone(),
            };
            match template.map_owned(payload, &context) {
                Ok(mut event) => {
                    // Code templates too: the tenant and schema version are the inbox's word.
                    crate::template::stamp_ingest_fields(&mut event, &context);
                    let payload = serde_json::to_vec(&event)
                        .map_err(|e| IngestError::Unavailable(e.to_string()))?;
                    events.push(SinkEvent {
                        tenant_id: record.tenant_id.clone(),
                        template_id: record.template_id.clone(),
                        msg_id: key.map_or(event_uid, |key| key.msg_id(index)),
                        payload: payload.into(),
                    });
                }
                Err(aisoc_notify_core::inbox_template::MappingError::Ignored { .. }) => {
                    ignored += 1
                }
                Err(error) => {
                    dropped += 1;
                    first_failure.get_or_insert(error.to_string());
                }
            }
        }
        if events.is_empty() && ignored > 0 && dropped == 0 {
            return Ok(IngestReceipt {
                accepted: 0,
                template: record.template_id.clone(),
                dropped,
                ignored,
                duplicate: false,
            });
        }
        if events.is_empty() {
            return Err(IngestError::Unmappable {
                template: record.template_id.clone(),
                reason: first_failure.unwrap_or_default(),
            });
        }
        let lease = self.config.idempotency_lease;
        tokio::time::timeout(lease, self.sink.publish(&events))
            .await
            .map_err(|_| {
                IngestError::Unavailable(format!(
                    "the event sink did not acknowledge within {lease:?}"
                ))
            })?
            .map_err(|e| match e {
                SinkError::Full(reason) => IngestError::StorageFull(reason),
                other => IngestError::Unavailable(other.to_string()),
            })?;
        Ok(IngestReceipt {
            accepted: events.len(),
            template: record.template_id.clone(),
            dropped,
            ignored,
            duplicate: false,
        })
    }
}
