//! The Bot Connector REST API, as a bot calls it: posting an activity into a conversation and
//! replacing one it posted. This is what lets a card the bot posted be edited later, which an
//! incoming webhook cannot do.
//!
//! Every call carries an access token for the bot's Microsoft App ID, obtained with the
//! client-credentials grant from Microsoft Entra ID
//! (<https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication>):
//!
//! - token endpoint `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`, where the
//!   tenant is `botframework.com` for a multi-tenant bot ([`DEFAULT_TOKEN_URL`]) and the bot's
//!   own tenant for a single-tenant one; scope [`BOT_CONNECTOR_SCOPE`];
//! - the token is kept until [`TOKEN_REFRESH_MARGIN`] before its `expires_in` runs out (at
//!   most half its life for short-lived tokens), fetched by one caller while the others wait;
//! - a 401 from the Bot Connector drops the token and the call is made once more with a fresh
//!   one; a second 401 is final.
//!
//! Requests go through the core [`DeliveryClient`] (the outbound guard, timeouts, capped
//! bodies, retries). Posting a new activity is not idempotent, so it is retried only when it
//! certainly was not processed ([`DeliveryClient::send_once`]); replacing one is. Answers map
//! to [`ConnectorError`], whose [`retry_class`](ConnectorError::retry_class) the router and the
//! outbox read: 429 and 5xx retryable (throttled for the `Retry-After` when one came), 401 and
//! 403 final, 404 gone. The client secret and the access token never appear in `Debug`, logs
//! or errors, and an error carries the service's short code, never its text.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::ConfigError;
use aisoc_notify_core::clock::{Clock, SystemClock};
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryError, HttpResponse, check_destination};
use aisoc_notify_core::notifier::NotifyError;
use aisoc_notify_core::pacing::Pacer;
use aisoc_notify_core::retry::RetryClass;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::error::short_code;
use crate::webhook::MAX_PAYLOAD_BYTES;

/// The token endpoint of multi-tenant bots.
pub const DEFAULT_TOKEN_URL: &str =
    "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token";
/// The scope a Bot Connector token is requested for.
pub const BOT_CONNECTOR_SCOPE: &str = "https://api.botframework.com/.default";
/// How long before its expiry a token is replaced.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// Requests per second per conversation (Teams allows a few more per thread; staying under
/// keeps bursts of cards from being throttled).
pub const REQUESTS_PER_SECOND: u32 = 4;

const SERVICE: &str = "teams";

/// A bot's app credentials: its Microsoft App ID and client secret, the tenant of a
/// single-tenant bot, and the token endpoint (for sovereign clouds and tests).
///
/// ```
/// use aisoc_notify_teams::bot_framework::connector::BotCredentials;
///
/// let env = |name: &str| match name {
///     "TEAMS_APP_ID" => Some("3f2a9c10-5b7e-4d21-8c3a-0e9f8d7c6b5a".to_owned()),
///     "TEAMS_APP_PASSWORD" => Some("s3cret-client-secret".to_owned()),
///     "TEAMS_APP_TENANT_ID" => Some("contoso.onmicrosoft.com".to_owned()),
///     _ => None,
/// };
/// let credentials = BotCredentials::from_lookup(&env).unwrap().unwrap();
/// assert_eq!(
///     credentials.token_url(),
///     "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
/// );
/// assert!(!format!("{credentials:?}").contains("s3cret"));
/// assert!(BotCredentials::from_lookup(&|_| None).unwrap().is_none());
/// ```
#[derive(Clone)]
pub struct BotCredentials {
    app_id: String,
    password: SecretString,
    token_url: String,
    /// Hosts beyond [`BOT_SERVICE_HOSTS`] a service URL may name.
    extra_service_hosts: Vec<String>,
}

/// The hosts Bot Connector service URLs are on: Teams' public cloud, GCC, GCC High and DoD
/// (`*.` matches any subdomain), and the Bot Framework's own. The bot's access token goes to
/// the service URL with every post, so a conversation on any other host is refused: otherwise
/// whoever may configure a channel could point it at their own server and collect the token.
/// [`BotCredentials::allow_service_host`] (`TEAMS_BOT_SERVICE_HOSTS`) adds hosts.
pub const BOT_SERVICE_HOSTS: [&str; 5] = [
    "smba.trafficmanager.net",
    "*.teams.microsoft.com",
    "*.teams.microsoft.us",
    "*.botframework.com",
    "*.botframework.azure.us",
];

/// Whether `host` is one of `patterns` (exact, or `*.` for any subdomain), ignoring case.
fn host_listed<'a>(host: &str, patterns: impl IntoIterator<Item = &'a str>) -> bool {
    let host = host.to_ascii_lowercase();
    patterns.into_iter().any(|pattern| {
        let pattern = pattern.to_ascii_lowercase();
        match pattern.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
            None => host == pattern,
        }
    })
}

impl std::fmt::Debug for BotCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotCredentials")
            .field("app_id", &self.app_id)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl BotCredentials {
    /// The credentials of a multi-tenant bot.
    pub fn new(app_id: impl Into<String>, password: SecretString) -> Self {
        Self {
            app_id: app_id.into().trim().to_owned(),
            password,
            token_url: DEFAULT_TOKEN_URL.to_owned(),
            extra_service_hosts: Vec::new(),
        }
    }

    /// Also posts to service URLs on `host` (exact, or `*.domain`): a Bot Framework host not in
    /// [`BOT_SERVICE_HOSTS`], or a local test double.
    pub fn allow_service_host(mut self, host: impl Into<String>) -> Self {
        let host = host.into().trim().to_owned();
        if !host.is_empty() {
            self.extra_service_hosts.push(host);
        }
        self
    }

    /// A single-tenant bot of `tenant_id` (a tenant GUID or domain): tokens come from that
    /// tenant's endpoint.
    pub fn single_tenant(mut self, tenant_id: &str) -> Self {
        self.token_url = format!(
            "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
            tenant_id.trim()
        );
        self
    }

    /// Tokens come from `url` instead (a sovereign cloud, a test server).
    pub fn with_token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into().trim().to_owned();
        self
    }

    /// `TEAMS_APP_ID` and `TEAMS_APP_PASSWORD` (both, or `None` when neither is set),
    /// `TEAMS_APP_TENANT_ID` for a single-tenant bot, `TEAMS_BOT_TOKEN_URL` to override the
    /// endpoint and `TEAMS_BOT_SERVICE_HOSTS` (comma-separated) for service hosts beyond
    /// [`BOT_SERVICE_HOSTS`]. One of the pair without the other is an error naming the missing one.
    pub fn from_lookup(
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let read = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let (app_id, password) = match (read("TEAMS_APP_ID"), read("TEAMS_APP_PASSWORD")) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "TEAMS_APP_PASSWORD",
                    "is required with TEAMS_APP_ID for the bot to post cards (or set TEAMS_APP_PASSWORD_FILE)",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "TEAMS_APP_ID",
                    "is required with TEAMS_APP_PASSWORD",
                ));
            }
            (Some(id), Some(password)) => (id, SecretString::from(password.trim().to_owned())),
        };
        let mut credentials = Self::new(app_id, password);
        if let Some(tenant) = read("TEAMS_APP_TENANT_ID") {
            credentials = credentials.single_tenant(&tenant);
        }
        if let Some(url) = read("TEAMS_BOT_TOKEN_URL") {
            credentials = credentials.with_token_url(url);
        }
        for host in read("TEAMS_BOT_SERVICE_HOSTS")
            .iter()
            .flat_map(|v| v.split(','))
        {
            credentials = credentials.allow_service_host(host);
        }
        Ok(Some(credentials))
    }

    /// The bot's Microsoft App ID.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Where tokens are requested.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }
}

/// Why a Bot Connector call failed. The text names the service's short code and the status,
/// never a secret or the body of an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorError {
    /// A setting is unusable (a service URL, a conversation id, the credentials).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The activity could not be encoded.
    #[error("could not encode the activity: {0}")]
    Encode(String),
    /// The activity is larger than Teams accepts; refused before sending.
    #[error("activity of {size} bytes exceeds Teams' limit of {max} bytes")]
    PayloadTooLarge {
        /// The activity's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The token endpoint refused to issue a token (`invalid_client`: a wrong App ID or
    /// secret).
    #[error("the token endpoint refused the bot's credentials ({code}, HTTP {status})")]
    TokenRefused {
        /// The OAuth error code (`invalid_client`, `unauthorized_client`), or `http_<status>`.
        code: String,
        /// The HTTP status.
        status: u16,
        /// The `Retry-After`, when one came.
        retry_after: Option<Duration>,
    },
    /// The Bot Connector refused the call.
    #[error("the Bot Connector refused the request ({code}, HTTP {status})")]
    Refused {
        /// The connector's error code (`ConversationNotFound`, `BotNotInConversationRoster`),
        /// or `http_<status>`.
        code: String,
        /// The HTTP status.
        status: u16,
        /// The `Retry-After`, when one came.
        retry_after: Option<Duration>,
    },
    /// A success answer that lacks what it must carry (an activity id, an access token).
    #[error("unexpected answer from {host}: {what}")]
    InvalidAnswer {
        /// The host that answered.
        host: String,
        /// What was missing.
        what: &'static str,
    },
    /// The HTTP exchange failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
}

impl ConnectorError {
    /// Whether, and when, trying again can succeed: by HTTP status (429 and 5xx retryable,
    /// throttled for a `Retry-After`; 404 and 410 gone; 401, 403 and other 4xx final).
    pub fn retry_class(&self) -> RetryClass {
        match self {
            ConnectorError::TokenRefused {
                status,
                retry_after,
                ..
            }
            | ConnectorError::Refused {
                status,
                retry_after,
                ..
            } => RetryClass::for_status(*status, *retry_after),
            ConnectorError::Delivery(err) => err.retry_class(),
            ConnectorError::Config(_)
            | ConnectorError::Encode(_)
            | ConnectorError::PayloadTooLarge { .. }
            | ConnectorError::InvalidAnswer { .. } => RetryClass::NonRetryable,
        }
    }
}

impl From<ConnectorError> for NotifyError {
    fn from(err: ConnectorError) -> Self {
        let class = err.retry_class();
        match err {
            ConnectorError::Config(config) => NotifyError::Config(config),
            ConnectorError::Encode(reason) => NotifyError::Render(reason),
            ConnectorError::PayloadTooLarge { size, max } => {
                NotifyError::PayloadTooLarge { size, max }
            }
            ConnectorError::TokenRefused { code, status, .. } => NotifyError::refused(
                SERVICE,
                class,
                code,
                format!("the token endpoint answered HTTP {status}"),
            ),
            ConnectorError::Refused { code, status, .. } => NotifyError::refused(
                SERVICE,
                class,
                code,
                format!("the Bot Connector answered HTTP {status}"),
            ),
            invalid @ ConnectorError::InvalidAnswer { .. } => {
                NotifyError::refused(SERVICE, class, "invalid_answer", invalid.to_string())
            }
            ConnectorError::Delivery(err) => NotifyError::Delivery(err),
        }
    }
}

/// An access token and when to stop using it (Unix seconds).
struct CachedToken {
    value: SecretString,
    refresh_at: i64,
    /// Which fetch this is, so a 401 drops only the token it was answered for.
    generation: u64,
}

/// When a token that lives `expires_in` seconds from `now` should be replaced: the margin
/// before its expiry, or half its life when that is shorter; saturating.
fn refresh_at(now: i64, expires_in: u64) -> i64 {
    let margin = TOKEN_REFRESH_MARGIN.as_secs().min(expires_in / 2);
    let usable = i64::try_from(expires_in.saturating_sub(margin)).unwrap_or(i64::MAX);
    now.saturating_add(usable)
}

/// `expires_in` as a number of seconds (Entra ID sends a number; older endpoints a string).
fn expires_in(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

struct Inner {
    credentials: BotCredentials,
    token_url: url::Url,
    delivery: DeliveryClient,
    clock: Arc<dyn Clock>,
    pacer: Pacer,
    /// The cached token, and how many tokens were fetched so far.
    token: tokio::sync::Mutex<(Option<CachedToken>, u64)>,
}

/// A Bot Connector client for one bot: posts and replaces activities, with the bot's access
/// token fetched and cached. Cheap to clone (the token cache is shared).
///
/// ```no_run
/// use aisoc_notify_core::delivery::DeliveryClient;
/// use aisoc_notify_core::secret::SecretString;
/// use aisoc_notify_teams::bot_framework::connector::{BotConnectorClient, BotCredentials};
/// use serde_json::json;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let credentials = BotCredentials::new("3f2a9c10-5b7e-4d21-8c3a-0e9f8d7c6b5a", SecretString::from("…".to_owned()));
/// let client = BotConnectorClient::new(credentials, DeliveryClient::shared_default()?)?;
/// let service_url = "https://smba.trafficmanager.net/emea/";
/// let conversation = "19:abc@thread.tacv2";
/// let id = client.post_activity(service_url, conversation, &json!({"type": "message", "text": "Hello"})).await?;
/// client.update_activity(service_url, conversation, &id, &json!({"type": "message", "text": "Bye"})).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BotConnectorClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BotConnectorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotConnectorClient")
            .field("credentials", &self.inner.credentials)
            .finish_non_exhaustive()
    }
}

/// The activities URL of a conversation: `{serviceUrl}/v3/conversations/{id}/activities`, the
/// id encoded as one path segment; refused unless the service URL is https (or loopback).
pub fn activities_url(service_url: &str, conversation_id: &str) -> Result<url::Url, ConfigError> {
    let conversation_id = conversation_id.trim();
    if conversation_id.is_empty() {
        return Err(ConfigError::new("conversation_id", "must not be empty"));
    }
    if conversation_id.len() > 1024 || conversation_id.chars().any(char::is_control) {
        return Err(ConfigError::new(
            "conversation_id",
            "is not a Teams conversation id (like 19:…@thread.tacv2)",
        ));
    }
    let mut url =
        check_destination(service_url.trim()).map_err(|e| ConfigError::new("service_url", e))?;
    if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
        return Err(ConfigError::new(
            "service_url",
            "must be a base URL without a query (like https://smba.trafficmanager.net/emea/)",
        ));
    }
    url.path_segments_mut()
        .map_err(|()| ConfigError::new("service_url", "must be a base URL"))?
        .pop_if_empty()
        .extend(["v3", "conversations", conversation_id, "activities"]);
    Ok(url)
}

impl BotConnectorClient {
    /// A client for the bot `credentials` describe, calling out through `delivery`. Checks the
    /// credentials and the token endpoint (https, or plain http to loopback).
    pub fn new(credentials: BotCredentials, delivery: DeliveryClient) -> Result<Self, ConfigError> {
        if credentials.app_id.is_empty() {
            return Err(ConfigError::new("TEAMS_APP_ID", "must not be empty"));
        }
        if credentials.password.expose_secret().trim().is_empty() {
            return Err(ConfigError::new("TEAMS_APP_PASSWORD", "must not be empty"));
        }
        let token_url = check_destination(&credentials.token_url)
            .map_err(|e| ConfigError::new("TEAMS_BOT_TOKEN_URL", e))?;
        Ok(Self::assemble(
            credentials,
            token_url,
            delivery,
            Arc::new(SystemClock),
        ))
    }

    fn assemble(
        credentials: BotCredentials,
        token_url: url::Url,
        delivery: DeliveryClient,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                credentials,
                token_url,
                delivery,
                clock,
                pacer: Pacer::per_second(
                    NonZeroU32::new(REQUESTS_PER_SECOND).unwrap_or(NonZeroU32::MIN),
                ),
                token: tokio::sync::Mutex::new((None, 0)),
            }),
        }
    }

    /// The same bot, reading token lifetimes against `clock`, with a token cache of its own.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self::assemble(
            self.inner.credentials.clone(),
            self.inner.token_url.clone(),
            self.inner.delivery.clone(),
            clock,
        )
    }

    /// The bot's Microsoft App ID.
    pub fn app_id(&self) -> &str {
        &self.inner.credentials.app_id
    }

    /// [`activities_url`], refused unless the service URL's host is a Bot Connector host
    /// ([`BOT_SERVICE_HOSTS`] or one the credentials allow): this client's token goes there.
    pub fn activities_url(
        &self,
        service_url: &str,
        conversation_id: &str,
    ) -> Result<url::Url, ConfigError> {
        let url = activities_url(service_url, conversation_id)?;
        let host = url.host_str().unwrap_or_default();
        let extra = &self.inner.credentials.extra_service_hosts;
        if host_listed(
            host,
            BOT_SERVICE_HOSTS
                .into_iter()
                .chain(extra.iter().map(String::as_str)),
        ) {
            return Ok(url);
        }
        Err(ConfigError::new(
            "service_url",
            format!(
                "{host} is not a Bot Connector host ({}); the bot's token is only sent to those, \
                 or to hosts listed in TEAMS_BOT_SERVICE_HOSTS",
                BOT_SERVICE_HOSTS.join(", ")
            ),
        ))
    }

    /// Posts `activity` into conversation `conversation_id` at `service_url` and returns the
    /// new activity's id.
    pub async fn post_activity(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity: &Value,
    ) -> Result<String, ConnectorError> {
        let url = self.activities_url(service_url, conversation_id)?;
        let response = self
            .call(http::Method::POST, url, conversation_id, activity)
            .await?;
        let answer: Value = response.json().unwrap_or(Value::Null);
        answer["id"]
            .as_str()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ConnectorError::InvalidAnswer {
                host: response.host().to_owned(),
                what: "the posted activity's id is missing",
            })
    }

    /// Replaces activity `activity_id` of conversation `conversation_id` with `activity`.
    pub async fn update_activity(
        &self,
        service_url: &str,
        conversation_id: &str,
        activity_id: &str,
        activity: &Value,
    ) -> Result<(), ConnectorError> {
        let activity_id = activity_id.trim();
        if activity_id.is_empty() || activity_id.chars().any(char::is_control) {
            return Err(ConfigError::new("activity_id", "must not be empty").into());
        }
        let mut url = self.activities_url(service_url, conversation_id)?;
        url.path_segments_mut()
            .map_err(|()| ConfigError::new("service_url", "must be a base URL"))?
            .push(activity_id);
        let mut activity = activity.clone();
        if let Value::Object(fields) = &mut activity {
            fields.insert("id".into(), Value::String(activity_id.to_owned()));
        }
        self.call(http::Method::PUT, url, conversation_id, &activity)
            .await
            .map(drop)
    }

    /// Sends `activity`, with the cached token and, after a 401, once more with a fresh one.
    async fn call(
        &self,
        method: http::Method,
        url: url::Url,
        conversation_id: &str,
        activity: &Value,
    ) -> Result<HttpResponse, ConnectorError> {
        let body =
            serde_json::to_vec(activity).map_err(|e| ConnectorError::Encode(e.to_string()))?;
        if body.len() > MAX_PAYLOAD_BYTES {
            return Err(ConnectorError::PayloadTooLarge {
                size: body.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        let pace_key = format!("{}|{}", url.host_str().unwrap_or_default(), conversation_id);
        let mut refreshed = false;
        loop {
            let (token, generation) = self.token().await?;
            self.inner.pacer.until_ready(&pace_key).await;
            let request = self
                .inner
                .delivery
                .http()
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose_secret())
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .build()
                .map_err(|e| ConnectorError::Encode(e.without_url().to_string()))?;
            let response = if method == http::Method::POST {
                self.inner.delivery.send_once(request).await?
            } else {
                self.inner.delivery.send(request).await?
            };
            if response.is_success() {
                return Ok(response);
            }
            if response.status.as_u16() == 401 && !refreshed {
                // The token may have been revoked or rotated early: drop it and try once more.
                tracing::info!(host = %response.host(), "Bot Connector answered 401; fetching a new token");
                self.forget(generation).await;
                refreshed = true;
                continue;
            }
            return Err(ConnectorError::Refused {
                code: error_code(&response, &["error", "code"]),
                status: response.status.as_u16(),
                retry_after: response.retry_after,
            });
        }
    }

    /// Drops the cached token when it is still fetch `generation` (another caller may have
    /// replaced it already).
    async fn forget(&self, generation: u64) {
        let mut slot = self.inner.token.lock().await;
        if slot.0.as_ref().is_some_and(|c| c.generation == generation) {
            slot.0 = None;
        }
    }

    /// The cached token while it is fresh, else a new one (one fetch at a time), with its
    /// generation.
    async fn token(&self) -> Result<(SecretString, u64), ConnectorError> {
        let mut slot = self.inner.token.lock().await;
        let now = self.inner.clock.unix_seconds();
        if let Some(token) = slot.0.as_ref().filter(|t| now < t.refresh_at) {
            return Ok((token.value.clone(), token.generation));
        }
        let generation = slot.1.wrapping_add(1);
        let fresh = self.fetch_token(now, generation).await?;
        let value = fresh.value.clone();
        *slot = (Some(fresh), generation);
        Ok((value, generation))
    }

    async fn fetch_token(&self, now: i64, generation: u64) -> Result<CachedToken, ConnectorError> {
        let credentials = &self.inner.credentials;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &credentials.app_id)
            .append_pair("client_secret", credentials.password.expose_secret())
            .append_pair("scope", BOT_CONNECTOR_SCOPE)
            .finish();
        let request = self
            .inner
            .delivery
            .http()
            .post(self.inner.token_url.clone())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form)
            .build()
            .map_err(|e| ConnectorError::Encode(e.without_url().to_string()))?;
        let response = self.inner.delivery.send(request).await?;
        if !response.is_success() {
            return Err(ConnectorError::TokenRefused {
                code: error_code(&response, &["error"]),
                status: response.status.as_u16(),
                retry_after: response.retry_after,
            });
        }
        let answer: Value = response.json().unwrap_or(Value::Null);
        let invalid = |what| ConnectorError::InvalidAnswer {
            host: response.host().to_owned(),
            what,
        };
        let value = answer["access_token"]
            .as_str()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| invalid("the token answer has no access_token"))?;
        let lifetime = expires_in(&answer["expires_in"])
            .ok_or_else(|| invalid("the token answer has no expires_in"))?;
        Ok(CachedToken {
            value: SecretString::from(value.to_owned()),
            refresh_at: refresh_at(now, lifetime),
            generation,
        })
    }
}

/// The short code at `path` in a JSON error answer, else `http_<status>`.
fn error_code(response: &HttpResponse, path: &[&str]) -> String {
    let body: Value = response.json().unwrap_or(Value::Null);
    path.iter()
        .fold(&body, |value, key| &value[*key])
        .as_str()
        .and_then(short_code)
        .unwrap_or_else(|| format!("http_{}", response.status.as_u16()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_replaced_before_it_expires_and_huge_lifetimes_saturate() {
        assert_eq!(refresh_at(1_000, 3_599), 1_000 + 3_599 - 300);
        assert_eq!(refresh_at(1_000, 60), 1_030);
        assert_eq!(refresh_at(1_000, 0), 1_000);
        assert_eq!(refresh_at(i64::MAX - 5, 3_599), i64::MAX);
        assert_eq!(refresh_at(0, u64::MAX), i64::MAX);
        assert_eq!(expires_in(&Value::from(3599)), Some(3599));
        assert_eq!(expires_in(&Value::from("3599")), Some(3599));
        assert_eq!(expires_in(&Value::from(-1)), None);
    }

    #[test]
    fn the_activities_url_encodes_the_conversation_as_one_segment() {
        let url = activities_url(
            "https://smba.trafficmanager.net/emea/",
            "19:abc@thread.tacv2;messageid=17",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "https://smba.trafficmanager.net/emea/v3/conversations/19:abc@thread.tacv2;messageid=17/activities"
        );
        let sneaky = activities_url("https://smba.trafficmanager.net/emea", "a/../../x?y").unwrap();
        assert_eq!(sneaky.path_segments().unwrap().count(), 5, "{sneaky}");
        assert!(!sneaky.as_str().contains("?y"), "{sneaky}");
        for (service_url, conversation, field) in [
            ("http://smba.example/", "19:a", "service_url"),
            ("https://smba.example/?x=1", "19:a", "service_url"),
            ("https://smba.example/", " ", "conversation_id"),
            ("https://smba.example/", "19:a\u{7}b", "conversation_id"),
        ] {
            let err = activities_url(service_url, conversation).unwrap_err();
            assert_eq!(err.field(), field, "{service_url} {conversation:?}");
        }
    }

    #[test]
    fn the_token_goes_only_to_bot_connector_hosts_or_those_allowed() {
        for host in [
            "smba.trafficmanager.net",
            "SMBA.trafficmanager.net",
            "smba.infra.gcc.teams.microsoft.com",
            "smba.infra.dod.teams.microsoft.us",
            "webchat.botframework.com",
        ] {
            assert!(host_listed(host, BOT_SERVICE_HOSTS), "{host}");
        }
        for host in [
            "evil.trafficmanager.net",
            "teams.microsoft.com.evil.example",
            "eviltaams.microsoft.com",
            "xbotframework.com",
            "botframework.com",
            "127.0.0.1",
        ] {
            assert!(!host_listed(host, BOT_SERVICE_HOSTS), "{host}");
        }
        let password = || SecretString::from("pw".to_owned());
        let client = |credentials| {
            BotConnectorClient::new(credentials, DeliveryClient::shared_default().unwrap()).unwrap()
        };
        let strict = client(BotCredentials::new("app", password()));
        let refused = strict
            .activities_url("https://attacker.example/", "19:a")
            .unwrap_err();
        assert_eq!(refused.field(), "service_url");
        assert!(
            refused.to_string().contains("TEAMS_BOT_SERVICE_HOSTS"),
            "{refused}"
        );
        assert!(
            strict
                .activities_url("https://smba.trafficmanager.net/emea/", "19:a")
                .is_ok()
        );
        let widened = client(
            BotCredentials::new("app", password()).allow_service_host("*.bots.corp.example"),
        );
        assert!(
            widened
                .activities_url("https://teams.bots.corp.example/", "19:a")
                .is_ok()
        );
        assert!(
            widened
                .activities_url("https://bots.corp.example/", "19:a")
                .is_err()
        );
    }

    #[test]
    fn credentials_need_both_halves_and_name_the_missing_one() {
        let only_id = |name: &str| (name == "TEAMS_APP_ID").then(|| "app".to_owned());
        assert_eq!(
            BotCredentials::from_lookup(&only_id).unwrap_err().field(),
            "TEAMS_APP_PASSWORD"
        );
        let only_password = |name: &str| (name == "TEAMS_APP_PASSWORD").then(|| "pw".to_owned());
        assert_eq!(
            BotCredentials::from_lookup(&only_password)
                .unwrap_err()
                .field(),
            "TEAMS_APP_ID"
        );
        let defaults = BotCredentials::new("app", SecretString::from("pw".to_owned()));
        assert_eq!(defaults.token_url(), DEFAULT_TOKEN_URL);
    }
}
