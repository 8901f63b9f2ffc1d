//! The HTTP delivery layer every adapter sends through.
//!
//! One pooled `reqwest` client (rustls, HTTP/2 where the peer offers it) with connect and total
//! timeouts, response bodies read up to a cap, and a retry loop that retries only what can
//! succeed later: connect errors, timeouts, 5xx, 408 and 429. Waits grow exponentially with
//! jitter; a `Retry-After` header (seconds or HTTP date) replaces the computed wait. A wait
//! longer than [`RetryPolicy::max_retry_after`] is not slept through: the error carries it so a
//! durable outbox can reschedule instead of holding a worker.
//!
//! Nothing here formats a URL: errors and logs name the host only, because Slack, Teams and
//! Mattermost put credentials in webhook paths.
//!
//! What one send costs besides the exchange itself: one copy of the request per attempt that
//! may be followed by another (reqwest consumes what it sends, so the copy is what a retry
//! sends), none for the last attempt or a streamed body; the IP-literal check, a few
//! comparisons and not worth caching (names are judged by the resolver once per new
//! connection, pooled connections are reused); the clock only when a `Retry-After` needs
//! resolving. reqwest's own redirect and retry layers run on every request whatever the policy
//! (they copy the headers and re-parse the URL); they are reqwest's, not switchable from here.
//! [`DeliveryClient::send_bytes`] skips them for a body in memory to an `https` origin that
//! offers HTTP/2: its request goes over a connection of the client's own ([`http2`]), through
//! the same guard, timeouts and retry loop; that is how a Web Push fan-out sends.
//!
//! ```no_run
//! use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = DeliveryClient::new(DeliveryConfig::default())?;
//! let request = client
//!     .http()
//!     .post("https://hooks.example.com/T0/B0/secret")
//!     .json(&serde_json::json!({"text": "hello"}))
//!     .build()?;
//! let response = client.send(request).await?.error_for_status()?;
//! println!("delivered after {} attempt(s)", response.attempts);
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use http2::{Exchange, Http2Origins};

use crate::clock::{Clock, SystemClock};
use crate::destination::{
    DestinationPolicy, ForbiddenDestination, GuardedResolver, HostLookup, SystemLookup,
    find_refusal,
};
pub use crate::retry::{RetryClass, RetryPolicy, parse_retry_after};

/// Settings for a [`DeliveryClient`].
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Time allowed to establish a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time allowed for one whole attempt, response body included.
    pub request_timeout: Duration,
    /// The most response-body bytes kept; the rest is discarded and the response marked
    /// truncated.
    pub max_response_bytes: usize,
    /// When and how to retry.
    pub retry: RetryPolicy,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Which addresses may be reached and whether redirects are followed; the default refuses
    /// private, loopback, link-local and the other ranges in
    /// [`destination`](crate::destination), and follows no redirect.
    pub destinations: DestinationPolicy,
    /// How host names are resolved (the system resolver unless a host or a test supplies one).
    pub lookup: Arc<dyn HostLookup>,
    /// Certificates (DER) trusted besides the system's roots: a private CA's, for destinations
    /// inside an organisation.
    pub trusted_roots: Vec<Vec<u8>>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 256 * 1024,
            retry: RetryPolicy::default(),
            user_agent: concat!("aisoc-notify/", env!("CARGO_PKG_VERSION")).to_owned(),
            destinations: DestinationPolicy::default(),
            lookup: Arc::new(SystemLookup),
            trusted_roots: Vec::new(),
        }
    }
}

/// Why an HTTP delivery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The HTTP client could not be built (a TLS set-up problem, usually).
    #[error("could not build the HTTP client: {0}")]
    Client(String),
    /// No connection could be made.
    #[error("could not connect to {host} after {attempts} attempt(s)")]
    Connect {
        /// The destination host.
        host: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The request or the response body did not complete in time.
    #[error("request to {host} timed out after {attempts} attempt(s)")]
    Timeout {
        /// The destination host.
        host: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The destination answered with a status that is not a success.
    #[error("{host} answered HTTP {status} after {attempts} attempt(s)")]
    Status {
        /// The destination host.
        host: String,
        /// The HTTP status.
        status: u16,
        /// The destination's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// Attempts made.
        attempts: u32,
    },
    /// The destination answered with a redirect, which deliveries do not follow (or a redirect
    /// the policy refused to follow).
    #[error("{host} answered HTTP {status} (a redirect, which is not followed)")]
    Redirected {
        /// The destination host.
        host: String,
        /// The 3xx status.
        status: u16,
    },
    /// The destination (or every address its name resolves to) is in a forbidden range.
    #[error(transparent)]
    Forbidden(#[from] ForbiddenDestination),
    /// The request failed for another reason (it could not be sent, the body stream broke).
    #[error("request to {host} failed: {reason}")]
    Request {
        /// The destination host.
        host: String,
        /// What went wrong (never the URL).
        reason: String,
    },
    /// The response could not be understood.
    #[error("unexpected response from {host}: {reason}")]
    InvalidResponse {
        /// The destination host.
        host: String,
        /// What was wrong with it.
        reason: String,
    },
}

impl DeliveryError {
    /// Whether, and when, trying again can succeed.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            DeliveryError::Connect { .. } | DeliveryError::Timeout { .. } => RetryClass::Retryable,
            DeliveryError::Status {
                status,
                retry_after,
                ..
            } => RetryClass::for_status(*status, *retry_after),
            DeliveryError::Client(_)
            | DeliveryError::Redirected { .. }
            | DeliveryError::Forbidden(_)
            | DeliveryError::Request { .. }
            | DeliveryError::InvalidResponse { .. } => RetryClass::NonRetryable,
        }
    }

    /// Whether trying again later can succeed; shorthand for
    /// `self.retry_class().is_retryable()`.
    pub fn is_retryable(&self) -> bool {
        self.retry_class().is_retryable()
    }

    /// The destination's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DeliveryError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when the destination answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            DeliveryError::Status { status, .. } | DeliveryError::Redirected { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// Whether a status is worth retrying: 408, 425, 429 and every 5xx.
pub fn is_retryable_status(status: u16) -> bool {
    RetryClass::for_status(status, None).is_retryable()
}

/// Why a destination URL is refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    /// The URL does not parse.
    #[error("destination is not a valid URL")]
    Invalid,
    /// The URL is plain HTTP to a non-loopback host (or another scheme).
    #[error("destination must use https (plain http is allowed only to loopback addresses)")]
    Insecure,
}

/// Checks a destination URL (a webhook, a response URL) before anything is sent to it: https
/// anywhere, plain http only to `localhost` or a loopback address (local development and tests).
/// Credentials in webhook URLs must not cross a network in clear text.
///
/// ```
/// use aisoc_notify_core::delivery::{check_destination, DestinationError};
///
/// assert!(check_destination("https://hooks.slack.com/services/T0/B0/x").is_ok());
/// assert!(check_destination("http://127.0.0.1:8080/hook").is_ok());
/// assert_eq!(check_destination("http://hooks.example.com/x"), Err(DestinationError::Insecure));
/// assert_eq!(check_destination("not a url"), Err(DestinationError::Invalid));
/// ```
pub fn check_destination(url: &str) -> Result<url::Url, DestinationError> {
    let parsed = url::Url::parse(url).map_err(|_| DestinationError::Invalid)?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(DestinationError::Invalid),
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(DestinationError::Insecure),
    }
}

/// A response after retries, with its body read up to the configured cap.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The final status.
    pub status: StatusCode,
    /// The final headers.
    pub headers: HeaderMap,
    /// The body, at most `max_response_bytes` long.
    pub body: Bytes,
    /// Whether the body was longer than the cap and cut.
    pub truncated: bool,
    /// Attempts made, the final one included.
    pub attempts: u32,
    /// The parsed `Retry-After`, when present.
    pub retry_after: Option<Duration>,
    host: String,
}

impl HttpResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The destination host (safe to log).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The body as text, invalid UTF-8 replaced.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, DeliveryError> {
        if self.truncated {
            return Err(self.invalid("response body exceeded the size cap"));
        }
        serde_json::from_slice(&self.body).map_err(|e| self.invalid(&format!("invalid JSON: {e}")))
    }

    /// `Ok(self)` for 2xx; otherwise a [`DeliveryError::Status`] (the body is not carried: a
    /// peer's answer is not echoed to whoever reads the error).
    pub fn error_for_status(self) -> Result<Self, DeliveryError> {
        if self.is_success() {
            return Ok(self);
        }
        Err(self.status_error())
    }

    /// The [`DeliveryError::Status`] for this response, whatever its status.
    pub fn status_error(&self) -> DeliveryError {
        DeliveryError::Status {
            status: self.status.as_u16(),
            retry_after: self.retry_after,
            attempts: self.attempts,
            host: self.host.clone(),
        }
    }

    /// The retry class of this response's status and `Retry-After`.
    pub fn retry_class(&self) -> RetryClass {
        RetryClass::for_status(self.status.as_u16(), self.retry_after)
    }

    fn invalid(&self, reason: &str) -> DeliveryError {
        DeliveryError::InvalidResponse {
            host: self.host.clone(),
            reason: reason.to_owned(),
        }
    }
}

/// Whether a request may be sent again after an answer that leaves its effect unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// Sending twice is harmless (a webhook post, a lookup, a create with a dedupe key):
    /// retry everything retryable.
    Idempotent,
    /// Sending twice could do the work twice (a create without a dedupe key): retry only when
    /// the request certainly was not processed (no connection, or an explicit 429).
    OnlyUnprocessed,
}

/// The shared HTTP client with timeouts, capped reads, retries and the outbound guard. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct DeliveryClient {
    http: reqwest::Client,
    http2: Arc<Http2Origins>,
    /// The configured `User-Agent` as a header, for [`send_bytes`](Self::send_bytes).
    user_agent: Option<http::HeaderValue>,
    config: Arc<DeliveryConfig>,
    clock: Arc<dyn Clock>,
}

impl DeliveryClient {
    /// Builds the pooled client. Names resolve through the guard, proxies from the environment
    /// are ignored (a proxy would resolve names where the guard cannot see), and redirects are
    /// followed only as the [`DestinationPolicy`] allows.
    pub fn new(config: DeliveryConfig) -> Result<Self, DeliveryError> {
        let policy = Arc::new(config.destinations.clone());
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent.clone())
            .pool_idle_timeout(Duration::from_secs(90))
            .no_proxy()
            .redirect(redirect_policy(Arc::clone(&policy)));
        for der in &config.trusted_roots {
            let root = reqwest::Certificate::from_der(der)
                .map_err(|e| DeliveryError::Client(e.without_url().to_string()))?;
            builder = builder.add_root_certificate(root);
        }
        if !policy.is_unrestricted() {
            builder = builder.dns_resolver(Arc::new(GuardedResolver::new(
                Arc::clone(&policy),
                Arc::clone(&config.lookup),
            )));
        }
        let http = builder
            .build()
            .map_err(|e| DeliveryError::Client(e.without_url().to_string()))?;
        Ok(Self {
            http,
            http2: Arc::default(),
            user_agent: http::HeaderValue::from_str(&config.user_agent).ok(),
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
        })
    }

    /// The process-wide client with the default configuration (the guard on, no redirects),
    /// built on first use and shared, connection pool included: what adapters send through when
    /// the host gives them no client. Building a client loads the TLS roots, so adapters share
    /// this one instead of building their own.
    pub fn shared_default() -> Result<Self, DeliveryError> {
        static SHARED: OnceLock<DeliveryClient> = OnceLock::new();
        if let Some(client) = SHARED.get() {
            return Ok(client.clone());
        }
        let client = Self::new(DeliveryConfig::default())?;
        Ok(SHARED.get_or_init(|| client).clone())
    }

    /// Replaces the clock used to resolve `Retry-After` dates.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The underlying client, for building requests. Send them with [`send`](Self::send):
    /// executing them on this client directly skips the IP-literal check and the retries.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The configuration in force.
    pub fn config(&self) -> &DeliveryConfig {
        &self.config
    }

    /// Sends `request`, retrying what is retryable, and returns the final response for any
    /// status but a redirect; call [`HttpResponse::error_for_status`] or map the status
    /// yourself. A 3xx that was not followed is [`DeliveryError::Redirected`]; a destination
    /// in a forbidden range is [`DeliveryError::Forbidden`], refused before connecting.
    ///
    /// A request whose body cannot be replayed (a stream) gets exactly one attempt.
    pub async fn send(&self, request: reqwest::Request) -> Result<HttpResponse, DeliveryError> {
        self.send_with(request, Replay::Idempotent).await
    }

    /// Like [`send`](Self::send) for a request that must not be processed twice (creating a
    /// ticket where the target cannot dedupe): retried only when it certainly was not
    /// processed (the connection failed, or the peer answered 429). A timeout or a 5xx comes
    /// back at once, so the caller can look for the record before creating it again.
    pub async fn send_once(
        &self,
        request: reqwest::Request,
    ) -> Result<HttpResponse, DeliveryError> {
        self.send_with(request, Replay::OnlyUnprocessed).await
    }

    /// Sends a request whose body is in memory, as [`send`](Self::send) does (same guard,
    /// timeouts, retries and answer), over a direct HTTP/2 connection when the destination is
    /// `https` and offers `h2`; otherwise through reqwest. For senders of many small requests
    /// to the same few origins (a Web Push fan-out), where reqwest's per-request layers cost
    /// as much as the exchange: see the [`http2`] module.
    pub async fn send_bytes(
        &self,
        method: http::Method,
        url: url::Url,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<HttpResponse, DeliveryError> {
        self.config.destinations.check_url(&url)?;
        let host = url.host_str().unwrap_or("unknown-host").to_owned();
        let uri = http::Uri::try_from(url.as_str()).map_err(|_| DeliveryError::Request {
            host: host.clone(),
            reason: "the URL is not a valid request target".to_owned(),
        })?;
        let build = || {
            let mut request = http::Request::new(());
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri.clone();
            *request.headers_mut() = headers.clone();
            let headers = request.headers_mut();
            if let Some(agent) = &self.user_agent
                && !headers.contains_key(http::header::USER_AGENT)
            {
                headers.insert(http::header::USER_AGENT, agent.clone());
            }
            headers.insert(http::header::CONTENT_LENGTH, body.len().into());
            request
        };
        let (method, url, headers, body, build) = (&method, &url, &headers, &body, &build);
        let attempt = |_| async move {
            match self
                .http2
                .exchange(&self.config, url, build, body.clone())
                .await
            {
                Ok(Exchange::Answered(response)) => Ok(Answer::Http2(response)),
                Ok(Exchange::NotHttp2) => {
                    let mut request = reqwest::Request::new(method.clone(), url.clone());
                    *request.headers_mut() = headers.clone();
                    *request.body_mut() = Some(body.clone().into());
                    self.http
                        .execute(request)
                        .await
                        .map(Answer::Reqwest)
                        .map_err(Failed::Reqwest)
                }
                Err(failure) => Err(Failed::Http2(failure)),
            }
        };
        let max_attempts = self.config.retry.max_attempts.max(1);
        self.retrying(host, max_attempts, Replay::Idempotent, attempt)
            .await
    }

    async fn send_with(
        &self,
        request: reqwest::Request,
        replay: Replay,
    ) -> Result<HttpResponse, DeliveryError> {
        self.config.destinations.check_url(request.url())?;
        let host = request
            .url()
            .host_str()
            .unwrap_or("unknown-host")
            .to_owned();
        let max_attempts = if is_replayable(&request) {
            self.config.retry.max_attempts.max(1)
        } else {
            1
        };
        // Every attempt but the last sends a copy and keeps the request for the next one; the
        // last sends the request itself. reqwest consumes what it sends, so a copy made before
        // an attempt is the only way to have something to retry after it.
        let mut kept = Some(request);
        let attempt = |last| {
            let current = if last {
                kept.take()
            } else {
                kept.as_ref().and_then(reqwest::Request::try_clone)
            };
            async move {
                let current = current.ok_or(Failed::NotReplayable)?;
                self.http
                    .execute(current)
                    .await
                    .map(Answer::Reqwest)
                    .map_err(Failed::Reqwest)
            }
        };
        self.retrying(host, max_attempts, replay, attempt).await
    }

    /// The retry loop both paths share: `attempt_once(last)` makes one exchange (`last` when no
    /// other will follow); what it answers is retried, waited for or returned as the policy and
    /// `replay` say.
    async fn retrying<F, Fut>(
        &self,
        host: String,
        max_attempts: u32,
        replay: Replay,
        mut attempt_once: F,
    ) -> Result<HttpResponse, DeliveryError>
    where
        F: FnMut(bool) -> Fut,
        Fut: Future<Output = Result<Answer, Failed>>,
    {
        let policy = &self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= max_attempts;
            match attempt_once(last).await {
                Err(failed) => {
                    let failure = failed.into_error(&host, attempt);
                    let unprocessed = matches!(failure, DeliveryError::Connect { .. });
                    let may_retry = match replay {
                        Replay::Idempotent => failure.is_retryable(),
                        Replay::OnlyUnprocessed => unprocessed,
                    };
                    if last || !may_retry {
                        return Err(failure);
                    }
                    let wait = policy.backoff(attempt);
                    tracing::debug!(%host, attempt, ?wait, error = %failure, "retrying after transport error");
                    tokio::time::sleep(wait).await;
                }
                Ok(mut response) => {
                    let status = response.status();
                    if status.is_redirection() {
                        return Err(DeliveryError::Redirected {
                            host,
                            status: status.as_u16(),
                        });
                    }
                    let retry_after = retry_after_in(response.headers(), self.clock.as_ref());
                    let class = if status.is_success() {
                        RetryClass::NonRetryable
                    } else {
                        RetryClass::for_status(status.as_u16(), retry_after)
                    };
                    let wait = match (class, replay) {
                        (RetryClass::Throttled(asked), _) if asked <= policy.max_retry_after => {
                            Some(asked)
                        }
                        (RetryClass::Retryable, Replay::Idempotent) => {
                            Some(policy.backoff(attempt))
                        }
                        (RetryClass::Retryable, Replay::OnlyUnprocessed)
                            if status == StatusCode::TOO_MANY_REQUESTS =>
                        {
                            Some(policy.backoff(attempt))
                        }
                        _ => None,
                    };
                    if let Some(wait) = wait.filter(|_| !last) {
                        tracing::debug!(%host, attempt, status = status.as_u16(), ?wait, "retrying after status");
                        drop(response);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    // Reading the body needs the response, not its headers: they are moved out,
                    // not copied.
                    let headers = std::mem::take(response.headers_mut());
                    let (body, truncated) = response
                        .read_capped(self.config.max_response_bytes)
                        .await
                        .map_err(|failed| failed.into_error(&host, attempt))?;
                    tracing::debug!(%host, attempt, status = status.as_u16(), "delivery finished");
                    return Ok(HttpResponse {
                        status,
                        headers,
                        body,
                        truncated,
                        attempts: attempt,
                        retry_after,
                        host,
                    });
                }
            }
        }
    }
}

/// One attempt's answer, its body not read yet.
enum Answer {
    Reqwest(reqwest::Response),
    Http2(http::Response<h2::RecvStream>),
}

impl Answer {
    fn status(&self) -> StatusCode {
        match self {
            Answer::Reqwest(response) => response.status(),
            Answer::Http2(response) => response.status(),
        }
    }

    fn headers(&self) -> &HeaderMap {
        match self {
            Answer::Reqwest(response) => response.headers(),
            Answer::Http2(response) => response.headers(),
        }
    }

    fn headers_mut(&mut self) -> &mut HeaderMap {
        match self {
            Answer::Reqwest(response) => response.headers_mut(),
            Answer::Http2(response) => response.headers_mut(),
        }
    }

    async fn read_capped(self, max: usize) -> Result<(Bytes, bool), Failed> {
        match self {
            Answer::Reqwest(response) => read_capped(response, max).await.map_err(Failed::Reqwest),
            Answer::Http2(response) => http2::read_capped(&mut response.into_body(), max)
                .await
                .map_err(|reason| Failed::Http2(http2::Failure::Broken(reason))),
        }
    }
}

/// Why an attempt failed, before the loop numbers it.
enum Failed {
    Reqwest(reqwest::Error),
    Http2(http2::Failure),
    NotReplayable,
}

impl Failed {
    fn into_error(self, host: &str, attempts: u32) -> DeliveryError {
        match self {
            Failed::Reqwest(err) => classify_transport_error(err, host, attempts),
            Failed::Http2(failure) => failure.into_error(host, attempts),
            Failed::NotReplayable => DeliveryError::Request {
                host: host.to_owned(),
                reason: "request could not be replayed for a retry".to_owned(),
            },
        }
    }
}

/// Whether `request` can be sent more than once: no body, or a body held in memory (a stream
/// is consumed by its first attempt). Judged without copying the request.
fn is_replayable(request: &reqwest::Request) -> bool {
    request.body().is_none_or(|body| body.as_bytes().is_some())
}

/// A response's `Retry-After`, parsed; the clock is read only when the header is there (most
/// answers have none, and the time is needed only to resolve an HTTP date).
fn retry_after_in(headers: &HeaderMap, clock: &dyn Clock) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, clock.now())
}

/// Follows redirects only as far as the policy allows, never from https to http, and never to
/// an IP literal in a forbidden range (names are judged by the resolver when connecting).
fn redirect_policy(policy: Arc<DestinationPolicy>) -> reqwest::redirect::Policy {
    if policy.max_redirects() == 0 {
        return reqwest::redirect::Policy::none();
    }
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > policy.max_redirects() {
            return attempt.stop();
        }
        let downgrade = attempt.url().scheme() == "http"
            && attempt.previous().iter().any(|url| url.scheme() == "https");
        if downgrade {
            return attempt.stop();
        }
        match policy.check_url(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(refusal) => attempt.error(refusal),
        }
    })
}

fn classify_transport_error(err: reqwest::Error, host: &str, attempts: u32) -> DeliveryError {
    if let Some(refusal) = find_refusal(&err) {
        return DeliveryError::Forbidden(refusal.clone());
    }
    let host = host.to_owned();
    if err.is_timeout() {
        DeliveryError::Timeout { host, attempts }
    } else if err.is_connect() {
        DeliveryError::Connect { host, attempts }
    } else {
        DeliveryError::Request {
            host,
            reason: error_chain(&err.without_url()),
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
) -> Result<(Bytes, bool), reqwest::Error> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if append_capped(&mut body, &chunk, max) {
            return Ok((body.freeze(), true));
        }
    }
    Ok((body.freeze(), false))
}

/// Appends `chunk` to `body` up to `max` bytes in all; `true` when some of it did not fit.
fn append_capped(body: &mut BytesMut, chunk: &[u8], max: usize) -> bool {
    let room = max.saturating_sub(body.len());
    if chunk.len() > room {
        body.extend_from_slice(&chunk[..room]);
        return true;
    }
    body.extend_from_slice(chunk);
    false
}

pub mod http2;

#[cfg(test)]
mod tests;
