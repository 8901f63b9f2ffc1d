//! A stand-in Bot Connector for tests (feature `test-util`): RSA signing keys generated on the
//! spot, an OpenID metadata document and key set served by a local wiremock server, and RS256
//! tokens minted as the Bot Connector mints them.
//!
//! ```no_run
//! use aisoc_notify_teams::bot_framework::testing::{TestBotIssuer, TestSigningKey, bot_claims};
//!
//! # async fn run() {
//! let key = TestSigningKey::generate("key-1").endorsed_for(["msteams"]);
//! let issuer = TestBotIssuer::start(&[&key]).await;
//! let claims = bot_claims("my-app-id", "https://smba.trafficmanager.net/emea/", 1_800_000_000);
//! let authorization = format!("Bearer {}", key.sign(&claims));
//! # let _ = (issuer.metadata_url(), authorization);
//! # }
//! ```

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::BOT_FRAMEWORK_ISSUER;

/// The metadata document's path on the test server.
pub const METADATA_PATH: &str = "/v1/.well-known/openidconfiguration";
/// The key set's path on the test server.
pub const KEYS_PATH: &str = "/v1/.well-known/keys";

/// An RSA signing key with its `kid` (and, optionally, the channels it is endorsed for).
pub struct TestSigningKey {
    kid: String,
    pair: KeyPair,
    endorsements: Option<Vec<String>>,
}

impl std::fmt::Debug for TestSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSigningKey")
            .field("kid", &self.kid)
            .field("endorsements", &self.endorsements)
            .finish_non_exhaustive()
    }
}

impl TestSigningKey {
    /// A fresh 2048-bit key named `kid`.
    ///
    /// # Panics
    /// When the crypto library cannot generate a key.
    pub fn generate(kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            pair: KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"),
            endorsements: None,
        }
    }

    /// The key, published with `endorsements`.
    pub fn endorsed_for<'a>(mut self, channels: impl IntoIterator<Item = &'a str>) -> Self {
        self.endorsements = Some(channels.into_iter().map(str::to_owned).collect());
        self
    }

    /// The key's `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK, as the Bot Framework's key set lists it.
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        let mut jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        });
        if let Some(endorsements) = &self.endorsements {
            jwk["endorsements"] = json!(endorsements);
        }
        jwk
    }

    /// `claims` as an RS256 JWT naming this key.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }

    /// `claims` under any `header`, signed RS256 with this key whatever the header says (for
    /// tokens that lie about their algorithm or key).
    ///
    /// # Panics
    /// When signing fails.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = unsigned(header, claims);
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// `base64url(header).base64url(claims)`, the part a JWT signature covers.
pub fn unsigned(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The claims of a Bot Connector token for `app_id` and `service_url`, valid from a minute
/// before `now` (Unix seconds) to an hour after.
pub fn bot_claims(app_id: &str, service_url: &str, now: i64) -> Value {
    json!({
        "iss": BOT_FRAMEWORK_ISSUER,
        "aud": app_id,
        "serviceurl": service_url,
        "nbf": now - 60,
        "exp": now + 3600,
    })
}

/// The OpenID metadata document and key set on a local server.
#[derive(Debug)]
pub struct TestBotIssuer {
    server: MockServer,
}

impl TestBotIssuer {
    /// A server publishing `keys`.
    pub async fn start(keys: &[&TestSigningKey]) -> Self {
        let issuer = Self {
            server: MockServer::start().await,
        };
        issuer.publish(keys).await;
        issuer
    }

    /// Replaces the published key set with `keys` (a key rotation); the hit counts restart.
    pub async fn publish(&self, keys: &[&TestSigningKey]) {
        self.server.reset().await;
        let uri = self.server.uri();
        Mock::given(method("GET"))
            .and(path(METADATA_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": BOT_FRAMEWORK_ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": format!("{uri}{KEYS_PATH}"),
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            })))
            .mount(&self.server)
            .await;
        let keys: Vec<Value> = keys.iter().map(|key| key.jwk()).collect();
        Mock::given(method("GET"))
            .and(path(KEYS_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": keys })))
            .mount(&self.server)
            .await;
    }

    /// The metadata document's URL (`TEAMS_BOT_OPENID_METADATA_URL`).
    pub fn metadata_url(&self) -> String {
        format!("{}{METADATA_PATH}", self.server.uri())
    }

    /// How many times the key set was fetched since the last [`publish`](Self::publish).
    pub async fn key_set_fetches(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == KEYS_PATH)
            .count()
    }

    /// How many times the metadata document was fetched since the last
    /// [`publish`](Self::publish).
    pub async fn metadata_fetches(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == METADATA_PATH)
            .count()
    }
}
