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
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use http::{HeaderMap, StatusCode};

use crate::clock::{Clock, SystemClock};

/// How often and how patiently to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included; at least 1.
    pub max_attempts: u32,
    /// The wait before the first retry, before jitter.
    pub initial_backoff: Duration,
    /// The longest computed wait between attempts.
    pub max_backoff: Duration,
    /// The longest `Retry-After` the layer sleeps through; longer requests end the loop and
    /// are reported in the error.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that makes exactly one attempt.
    pub fn no_retries() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait before retry number `retry` (1 for the first retry): exponential growth capped
    /// at `max_backoff`, then "equal jitter" (a uniform pick in the upper half), so that many
    /// clients failing together do not retry in lockstep.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        let half = base / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::random_range(0..=jitter_nanos))
    }
}

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
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 256 * 1024,
            retry: RetryPolicy::default(),
            user_agent: concat!("aisoc-notify/", env!("CARGO_PKG_VERSION")).to_owned(),
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
    #[error("{host} answered HTTP {status} after {attempts} attempt(s): {body}")]
    Status {
        /// The destination host.
        host: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body, for diagnosis.
        body: String,
        /// The destination's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// Attempts made.
        attempts: u32,
    },
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
    /// Whether trying again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Connect { .. } | DeliveryError::Timeout { .. } => true,
            DeliveryError::Status { status, .. } => is_retryable_status(*status),
            DeliveryError::Client(_)
            | DeliveryError::Request { .. }
            | DeliveryError::InvalidResponse { .. } => false,
        }
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
            DeliveryError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Whether a status is worth retrying: 408, 429 and every 5xx.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date, relative to `now`. A date in the
/// past means "now" (zero); anything unparseable is ignored.
///
/// ```
/// use aisoc_notify_core::delivery::parse_retry_after;
/// use chrono::{TimeZone, Utc};
/// use std::time::Duration;
///
/// let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap();
/// assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(
///     parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
///     Some(Duration::from_secs(30))
/// );
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
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

    /// `Ok(self)` for 2xx; otherwise a [`DeliveryError::Status`] with the start of the body.
    pub fn error_for_status(self) -> Result<Self, DeliveryError> {
        if self.is_success() {
            return Ok(self);
        }
        Err(DeliveryError::Status {
            status: self.status.as_u16(),
            body: snippet(&self.text(), 512),
            retry_after: self.retry_after,
            attempts: self.attempts,
            host: self.host,
        })
    }

    fn invalid(&self, reason: &str) -> DeliveryError {
        DeliveryError::InvalidResponse {
            host: self.host.clone(),
            reason: reason.to_owned(),
        }
    }
}

/// The first `max_chars` characters of `text`, cut on a character boundary.
fn snippet(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The shared HTTP client with timeouts, capped reads and retries. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeliveryClient {
    http: reqwest::Client,
    config: Arc<DeliveryConfig>,
    clock: Arc<dyn Clock>,
}

impl DeliveryClient {
    /// Builds the pooled client.
    pub fn new(config: DeliveryConfig) -> Result<Self, DeliveryError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(config.user_agent.clone())
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| DeliveryError::Client(e.without_url().to_string()))?;
        Ok(Self {
            http,
            config: Arc::new(config),
            clock: Arc::new(SystemClock),
        })
    }

    /// Replaces the clock used to resolve `Retry-After` dates.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The underlying client, for building requests.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The configuration in force.
    pub fn config(&self) -> &DeliveryConfig {
        &self.config
    }

    /// Sends `request`, retrying what is retryable, and returns the final response whatever its
    /// status; call [`HttpResponse::error_for_status`] or map the status yourself.
    ///
    /// A request whose body cannot be replayed (a stream) gets exactly one attempt.
    pub async fn send(&self, request: reqwest::Request) -> Result<HttpResponse, DeliveryError> {
        let host = request
            .url()
            .host_str()
            .unwrap_or("unknown-host")
            .to_owned();
        let policy = &self.config.retry;
        let max_attempts = if request.try_clone().is_some() {
            policy.max_attempts.max(1)
        } else {
            1
        };
        let mut next = Some(request);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= max_attempts;
            let Some(current) = next.take() else {
                return Err(DeliveryError::Request {
                    host,
                    reason: "request could not be replayed for a retry".to_owned(),
                });
            };
            if !last {
                next = current.try_clone();
            }
            match self.http.execute(current).await {
                Err(err) => {
                    let failure = classify_transport_error(err, &host, attempt);
                    if last || !failure.is_retryable() {
                        return Err(failure);
                    }
                    let wait = policy.backoff(attempt);
                    tracing::debug!(%host, attempt, ?wait, error = %failure, "retrying after transport error");
                    tokio::time::sleep(wait).await;
                }
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(http::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, self.clock.now()));
                    let retry_allowed =
                        retry_after.is_none_or(|wait| wait <= policy.max_retry_after);
                    if !last && is_retryable_status(status.as_u16()) && retry_allowed {
                        let wait = retry_after.unwrap_or_else(|| policy.backoff(attempt));
                        tracing::debug!(%host, attempt, status = status.as_u16(), ?wait, "retrying after status");
                        drop(response);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    let headers = response.headers().clone();
                    let (body, truncated) = read_capped(response, self.config.max_response_bytes)
                        .await
                        .map_err(|err| classify_transport_error(err, &host, attempt))?;
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

fn classify_transport_error(err: reqwest::Error, host: &str, attempts: u32) -> DeliveryError {
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
        let room = max - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body.freeze(), true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body.freeze(), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_its_jitter_band_and_caps() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1_000),
            ..RetryPolicy::default()
        };
        for _ in 0..200 {
            let first = policy.backoff(1);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first));
            let third = policy.backoff(3);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third));
            let capped = policy.backoff(30);
            assert!((Duration::from_millis(500)..=Duration::from_millis(1_000)).contains(&capped));
        }
    }

    #[test]
    fn retryable_statuses_are_408_429_and_5xx_only() {
        for status in [408, 429, 500, 502, 503, 504, 599] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [200, 301, 400, 401, 403, 404, 410, 413, 422] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }

    #[test]
    fn retry_after_in_the_past_means_now() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn snippets_cut_on_character_boundaries() {
        assert_eq!(snippet("héllo", 2), "hé…");
        assert_eq!(snippet("ok", 10), "ok");
    }
}
