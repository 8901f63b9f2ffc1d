//! The Bot Framework messaging endpoint (feature `bot-framework`): what a Teams bot needs for
//! card buttons to reach the shared decision path.
//!
//! Cards a bot posts can carry `Action.Execute` buttons ([`ButtonMode::Execute`]); pressing one
//! makes the Bot Connector POST an `adaptiveCard/action` invoke to the bot's messaging endpoint,
//! and the card is replaced by whatever card the answer carries. Outgoing webhooks (the HMAC
//! route in [`routes`](crate::routes)) only ever carry @mention text, so this is the route a
//! real tenant's buttons need.
//!
//! Every request carries `Authorization: Bearer <JWT>` issued by the Bot Connector.
//! [`BotFrameworkAuth`] checks it as Microsoft documents
//! (<https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication>):
//!
//! - RS256 only (`none`, HMAC and every other algorithm are refused before any key is used);
//! - signed by a key from the OpenID metadata document's `jwks_uri` (default
//!   [`DEFAULT_OPENID_METADATA_URL`]), fetched through the core [`DeliveryClient`] (the
//!   outbound guard, a capped body) and cached as [`keys`] describes;
//! - issuer [`BOT_FRAMEWORK_ISSUER`], audience the bot's Microsoft App ID;
//! - `exp` and `nbf` within [`CLOCK_SKEW`];
//! - when the key lists `endorsements`, the activity's `channelId` among them, and when the
//!   token has a `serviceurl` claim, the activity's `serviceUrl` equal to it
//!   ([`VerifiedBotToken::check_activity`]).
//!
//! The signature and the claims are checked before the body is parsed; the checks that bind the
//! token to the activity run right after.
//!
//! [`ButtonMode::Execute`]: crate::render::ButtonMode::Execute

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::ConfigError;
use aisoc_notify_core::clock::{Clock, SystemClock};
use aisoc_notify_core::delivery::{DeliveryClient, check_destination};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::Value;

pub mod connector;
pub mod conversation;
pub mod keys;
mod route;
#[cfg(feature = "test-util")]
pub mod testing;

#[cfg(feature = "openapi")]
pub use route::openapi::BotApi;
pub use route::{ApprovalCardSource, BotRoutes, BotVerified, router};

use keys::KeySource;

/// The issuer of Bot Connector tokens (public cloud).
pub const BOT_FRAMEWORK_ISSUER: &str = "https://api.botframework.com";
/// Where the Bot Connector publishes its OpenID metadata (public cloud).
pub const DEFAULT_OPENID_METADATA_URL: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
/// How far `exp` and `nbf` may be off from this host's clock.
pub const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Why a Bot Connector request was refused. The text never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BotAuthError {
    /// No `Authorization: Bearer` header.
    #[error("an Authorization: Bearer token from the Bot Connector is required")]
    MissingToken,
    /// The bearer value is not a JWT.
    #[error("the bearer token is not a well-formed JWT")]
    MalformedToken,
    /// The token is not signed with RS256.
    #[error("the bearer token must be signed with RS256")]
    UnsupportedAlgorithm,
    /// The token's header names no `kid`.
    #[error("the bearer token names no signing key (kid)")]
    MissingKeyId,
    /// The token's `kid` is not among the published keys, even after a refetch.
    #[error("the bearer token's signing key is not among the Bot Framework's published keys")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the bearer token's signature does not verify")]
    BadSignature,
    /// `iss` is not the Bot Framework.
    #[error("the bearer token was not issued by the Bot Framework")]
    WrongIssuer,
    /// `aud` is not this bot's Microsoft App ID.
    #[error("the bearer token is not meant for this bot's Microsoft App ID")]
    WrongAudience,
    /// `exp` is missing.
    #[error("the bearer token has no expiry (exp)")]
    MissingExpiry,
    /// `exp` has passed.
    #[error("the bearer token has expired")]
    Expired,
    /// `nbf` is still to come.
    #[error("the bearer token is not valid yet")]
    NotYetValid,
    /// The signing key is endorsed for other channels than the activity's `channelId`.
    #[error("the signing key is not endorsed for the activity's channelId")]
    ChannelNotEndorsed,
    /// The token's `serviceurl` claim differs from the activity's `serviceUrl`.
    #[error("the activity's serviceUrl does not match the bearer token's serviceurl claim")]
    ServiceUrlMismatch,
    /// The signing keys could not be fetched; nothing is wrong with the token yet.
    #[error("the Bot Framework signing keys are unavailable: {0}")]
    KeysUnavailable(String),
}

impl BotAuthError {
    /// The HTTP status to answer with: 503 when the keys are unavailable, 401 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            BotAuthError::KeysUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// `aud` is a string or a list of strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Audience::One(aud) => aud == wanted,
            Audience::Many(auds) => auds.iter().any(|aud| aud == wanted),
        }
    }
}

#[derive(Deserialize)]
struct BotClaims {
    iss: Option<String>,
    aud: Option<Audience>,
    exp: Option<Value>,
    nbf: Option<Value>,
    #[serde(rename = "serviceurl", alias = "serviceUrl")]
    service_url: Option<String>,
}

#[derive(Deserialize)]
struct JoseHeader {
    alg: Option<String>,
    kid: Option<String>,
}

/// A NumericDate as whole seconds, saturating (a float is cut, a huge value pinned).
fn numeric_date(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    })
}

/// A token whose signature and claims checked out; bind it to the activity with
/// [`check_activity`](Self::check_activity) before acting on the activity.
#[derive(Debug, Clone)]
#[must_use = "the token is not bound to the activity until check_activity passes"]
pub struct VerifiedBotToken {
    service_url: Option<String>,
    endorsements: Option<Vec<String>>,
}

impl VerifiedBotToken {
    /// Checks the activity against the token: its `channelId` among the key's endorsements
    /// (when the key has any) and its `serviceUrl` equal to the token's (when the token has one).
    pub fn check_activity(
        &self,
        channel_id: Option<&str>,
        service_url: Option<&str>,
    ) -> Result<(), BotAuthError> {
        if let Some(endorsements) = &self.endorsements {
            let endorsed = channel_id.is_some_and(|id| endorsements.iter().any(|e| e == id));
            if !endorsed {
                return Err(BotAuthError::ChannelNotEndorsed);
            }
        }
        if let Some(claimed) = &self.service_url
            && service_url != Some(claimed.as_str())
        {
            return Err(BotAuthError::ServiceUrlMismatch);
        }
        Ok(())
    }

    /// The token's `serviceurl` claim, when it has one.
    pub fn service_url(&self) -> Option<&str> {
        self.service_url.as_deref()
    }
}

/// Verifies the Bot Connector's bearer tokens for one bot. Cheap to clone (the key cache is
/// shared).
///
/// ```no_run
/// use aisoc_notify_teams::bot_framework::BotFrameworkAuth;
///
/// # async fn run(authorization: &str) -> Result<(), Box<dyn std::error::Error>> {
/// let auth = BotFrameworkAuth::builder("00000000-0000-0000-0000-000000000001").build()?;
/// let token = auth.verify(Some(authorization)).await?;
/// token.check_activity(Some("msteams"), Some("https://smba.trafficmanager.net/emea/"))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct BotFrameworkAuth {
    app_id: Arc<str>,
    issuer: Arc<str>,
    keys: Arc<KeySource>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for BotFrameworkAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotFrameworkAuth")
            .field("app_id", &self.app_id)
            .field("issuer", &self.issuer)
            .field("metadata_url", &self.keys.metadata_url().as_str())
            .finish_non_exhaustive()
    }
}

/// Builds a [`BotFrameworkAuth`].
#[derive(Debug)]
pub struct BotFrameworkAuthBuilder {
    app_id: String,
    issuer: String,
    metadata_url: String,
    delivery: Option<DeliveryClient>,
    clock: Arc<dyn Clock>,
}

impl BotFrameworkAuthBuilder {
    /// The OpenID metadata document to read the key set from (sovereign clouds, tests).
    pub fn metadata_url(mut self, url: impl Into<String>) -> Self {
        self.metadata_url = url.into();
        self
    }

    /// The issuer tokens must carry (sovereign clouds have their own).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// The client the keys are fetched with (default: the shared guarded client).
    pub fn delivery(mut self, delivery: DeliveryClient) -> Self {
        self.delivery = Some(delivery);
        self
    }

    /// The clock `exp`, `nbf` and the refresh intervals are read from.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the settings: an App ID, an https (or loopback) metadata URL.
    pub fn build(self) -> Result<BotFrameworkAuth, ConfigError> {
        let app_id = self.app_id.trim();
        if app_id.is_empty() {
            return Err(ConfigError::new(
                "TEAMS_APP_ID",
                "the bot's Microsoft App ID is required",
            ));
        }
        let metadata_url = check_destination(self.metadata_url.trim())
            .map_err(|e| ConfigError::new("TEAMS_BOT_OPENID_METADATA_URL", e.to_string()))?;
        let delivery = match self.delivery {
            Some(delivery) => delivery,
            None => DeliveryClient::shared_default()
                .map_err(|e| ConfigError::new("delivery", e.to_string()))?,
        };
        Ok(BotFrameworkAuth {
            app_id: app_id.into(),
            issuer: self.issuer.trim().into(),
            keys: Arc::new(KeySource::new(metadata_url, delivery, self.clock.clone())),
            clock: self.clock,
        })
    }
}

impl BotFrameworkAuth {
    /// A builder for the bot with Microsoft App ID `app_id`, public-cloud defaults.
    pub fn builder(app_id: impl Into<String>) -> BotFrameworkAuthBuilder {
        BotFrameworkAuthBuilder {
            app_id: app_id.into(),
            issuer: BOT_FRAMEWORK_ISSUER.to_owned(),
            metadata_url: DEFAULT_OPENID_METADATA_URL.to_owned(),
            delivery: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// The bot's Microsoft App ID.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Verifies the value of an `Authorization` header: the algorithm, the signature against
    /// the published key its `kid` names, the issuer, the audience and the validity window.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
    ) -> Result<VerifiedBotToken, BotAuthError> {
        let token = bearer(authorization)?;
        let header = jose_header(token)?;
        if header.alg.as_deref() != Some("RS256") {
            return Err(BotAuthError::UnsupportedAlgorithm);
        }
        let kid = header
            .kid
            .filter(|kid| !kid.is_empty())
            .ok_or(BotAuthError::MissingKeyId)?;
        let key = self.keys.key(&kid).await?;

        // The signature only: the claims are checked below, against the host's clock.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<BotClaims>(token, &key.key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => BotAuthError::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => {
                    BotAuthError::UnsupportedAlgorithm
                }
                _ => BotAuthError::MalformedToken,
            })?
            .claims;

        if claims.iss.as_deref() != Some(&*self.issuer) {
            return Err(BotAuthError::WrongIssuer);
        }
        if !claims.aud.is_some_and(|aud| aud.contains(&self.app_id)) {
            return Err(BotAuthError::WrongAudience);
        }
        let skew = i64::try_from(CLOCK_SKEW.as_secs()).unwrap_or(i64::MAX);
        let now = self.clock.unix_seconds();
        let exp = claims
            .exp
            .as_ref()
            .and_then(numeric_date)
            .ok_or(BotAuthError::MissingExpiry)?;
        if now > exp.saturating_add(skew) {
            return Err(BotAuthError::Expired);
        }
        if let Some(nbf) = claims.nbf.as_ref().and_then(numeric_date)
            && nbf > now.saturating_add(skew)
        {
            return Err(BotAuthError::NotYetValid);
        }
        Ok(VerifiedBotToken {
            service_url: claims.service_url,
            endorsements: key.endorsements.clone(),
        })
    }
}

/// The token of `Bearer <token>` (the scheme is case-insensitive).
fn bearer(authorization: Option<&str>) -> Result<&str, BotAuthError> {
    let value = authorization.ok_or(BotAuthError::MissingToken)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(BotAuthError::MissingToken)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(BotAuthError::MissingToken);
    }
    Ok(token)
}

/// The JOSE header, read without trusting anything in it yet.
fn jose_header(token: &str) -> Result<JoseHeader, BotAuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BotAuthError::MalformedToken);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| BotAuthError::MalformedToken)?;
    serde_json::from_slice(&bytes).map_err(|_| BotAuthError::MalformedToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_value_is_read_case_insensitively_and_nothing_else_passes() {
        assert_eq!(bearer(Some("Bearer a.b.c")), Ok("a.b.c"));
        assert_eq!(bearer(Some("bearer  a.b.c ")), Ok("a.b.c"));
        for refused in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer  "),
            Some("Basic a.b.c"),
        ] {
            assert_eq!(
                bearer(refused),
                Err(BotAuthError::MissingToken),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_token_without_three_parts_or_with_a_garbled_header_is_malformed() {
        for token in ["a.b", "a.b.c.d", "!!!.b.c", "e30.b"] {
            assert!(
                matches!(jose_header(token), Err(BotAuthError::MalformedToken)),
                "{token}"
            );
        }
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k1"}"#);
        let parsed = jose_header(&format!("{header}.e30.sig")).unwrap();
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn numeric_dates_saturate_instead_of_overflowing() {
        assert_eq!(
            numeric_date(&Value::from(1_700_000_000)),
            Some(1_700_000_000)
        );
        assert_eq!(
            numeric_date(&Value::from(1_700_000_000.9)),
            Some(1_700_000_000)
        );
        assert_eq!(numeric_date(&Value::from(u64::MAX)), Some(i64::MAX));
        assert_eq!(numeric_date(&Value::from("soon")), None);
    }

    #[test]
    fn the_token_binds_channel_and_service_url_only_when_it_says_so() {
        let open = VerifiedBotToken {
            service_url: None,
            endorsements: None,
        };
        assert_eq!(open.check_activity(None, None), Ok(()));
        let bound = VerifiedBotToken {
            service_url: Some("https://smba.trafficmanager.net/emea/".into()),
            endorsements: Some(vec!["msteams".into()]),
        };
        assert_eq!(
            bound.check_activity(
                Some("msteams"),
                Some("https://smba.trafficmanager.net/emea/")
            ),
            Ok(())
        );
        assert_eq!(
            bound.check_activity(Some("skype"), Some("https://smba.trafficmanager.net/emea/")),
            Err(BotAuthError::ChannelNotEndorsed)
        );
        assert_eq!(
            bound.check_activity(None, Some("https://smba.trafficmanager.net/emea/")),
            Err(BotAuthError::ChannelNotEndorsed)
        );
        assert_eq!(
            bound.check_activity(Some("msteams"), Some("https://evil.example/")),
            Err(BotAuthError::ServiceUrlMismatch)
        );
        assert_eq!(
            bound.check_activity(Some("msteams"), None),
            Err(BotAuthError::ServiceUrlMismatch)
        );
    }
}
