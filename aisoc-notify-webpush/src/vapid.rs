//! VAPID (RFC 8292): the signed JWT that identifies us to push services.
//!
//! The JWT's `aud` is the origin of the push endpoint (scheme, host and any non-default port),
//! `exp` at most 24 hours ahead (12 hours by default) and `sub` a `mailto:` or `https:` contact.
//! Signing an ES256 JWT is the expensive part of a naive sender, so JWTs are cached per
//! audience, with the `Authorization` header that carries them (a fan-out to thousands of
//! devices on one push service builds it once; the header is marked sensitive), and re-signed
//! when a third of their lifetime is left.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::clock::{Clock, SystemClock};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::HeaderValue;
use moka::sync::Cache;

use crate::keys::VapidKeyPair;

/// The default JWT lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(12 * 3600);
/// The longest lifetime push services accept.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// Why VAPID is misconfigured or a JWT could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VapidError {
    /// The subject is not a `mailto:` or `https:` URI.
    #[error("VAPID subject must be a mailto: or https: URI (got '{0}')")]
    InvalidSubject(String),
    /// The lifetime is zero or over 24 hours.
    #[error("VAPID JWT lifetime must be between 1 second and 24 hours")]
    InvalidTtl,
    /// The endpoint has no usable origin.
    #[error("push endpoint has no origin")]
    InvalidEndpoint,
    /// Signing failed.
    #[error("could not sign the VAPID JWT")]
    Signing,
}

/// A signed JWT and the `Authorization` header that carries it, for one audience.
#[derive(Clone)]
struct Signed {
    jwt: Arc<str>,
    header: HeaderValue,
}

/// Signs and caches VAPID JWTs.
pub struct VapidSigner {
    keys: Arc<VapidKeyPair>,
    subject: String,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    cache: Cache<String, Signed>,
}

impl std::fmt::Debug for VapidSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidSigner")
            .field("subject", &self.subject)
            .field("public_key", &self.keys.public_key_base64())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn check_subject(subject: &str) -> Result<(), VapidError> {
    let invalid = || VapidError::InvalidSubject(subject.to_owned());
    if let Some(address) = subject.strip_prefix("mailto:") {
        let (user, domain) = address.split_once('@').ok_or_else(invalid)?;
        if user.is_empty() || domain.is_empty() || address.contains(char::is_whitespace) {
            return Err(invalid());
        }
        return Ok(());
    }
    let url = url::Url::parse(subject).map_err(|_| invalid())?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(invalid());
    }
    Ok(())
}

impl VapidSigner {
    /// A signer for `keys` with contact `subject`, issuing 12-hour JWTs.
    ///
    /// ```
    /// use aisoc_notify_webpush::keys::VapidKeyPair;
    /// use aisoc_notify_webpush::vapid::VapidSigner;
    ///
    /// let signer = VapidSigner::new(VapidKeyPair::generate(), "mailto:soc@example.com").unwrap();
    /// assert!(VapidSigner::new(VapidKeyPair::generate(), "http://example.com").is_err());
    /// let header = signer.authorization("https://fcm.googleapis.com/fcm/send/abc").unwrap();
    /// assert!(header.starts_with("vapid t="));
    /// ```
    pub fn new(keys: VapidKeyPair, subject: impl Into<String>) -> Result<Self, VapidError> {
        let subject = subject.into();
        check_subject(&subject)?;
        Ok(Self {
            keys: Arc::new(keys),
            subject,
            ttl: DEFAULT_TTL,
            clock: Arc::new(SystemClock),
            cache: Self::cache_for(DEFAULT_TTL),
        })
    }

    fn cache_for(ttl: Duration) -> Cache<String, Signed> {
        // Re-sign when a third of the lifetime is left, so a JWT is never close to expiry in
        // flight or against a push service with a skewed clock.
        Cache::builder()
            .max_capacity(10_000)
            .time_to_live(ttl * 2 / 3)
            .build()
    }

    /// Sets the JWT lifetime (at most 24 hours).
    pub fn with_ttl(mut self, ttl: Duration) -> Result<Self, VapidError> {
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err(VapidError::InvalidTtl);
        }
        self.ttl = ttl;
        self.cache = Self::cache_for(ttl);
        Ok(self)
    }

    /// Replaces the clock used for `exp` (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self.cache.invalidate_all();
        self
    }

    /// The key pair.
    pub fn keys(&self) -> &VapidKeyPair {
        &self.keys
    }

    /// The audience for an endpoint: its origin, keeping a non-default port.
    pub fn audience(endpoint: &str) -> Result<String, VapidError> {
        Self::audience_of(&endpoint_url(endpoint)?).map(Cow::into_owned)
    }

    /// The origin's ASCII serialization. For an `http(s)` URL without credentials that is the
    /// URL up to its path, as `url` keeps it (host lowercased and in punycode, default port
    /// left out): borrowed from the URL rather than formatted anew for every message.
    fn audience_of(url: &url::Url) -> Result<Cow<'_, str>, VapidError> {
        let plain = matches!(url.scheme(), "https" | "http")
            && url.has_host()
            && url.username().is_empty()
            && url.password().is_none();
        if plain {
            return Ok(Cow::Borrowed(&url[..url::Position::BeforePath]));
        }
        match url.origin() {
            origin @ url::Origin::Tuple(..) => Ok(Cow::Owned(origin.ascii_serialization())),
            url::Origin::Opaque(_) => Err(VapidError::InvalidEndpoint),
        }
    }

    /// A freshly signed JWT for `audience` (not cached).
    pub fn sign_jwt(&self, audience: &str) -> Result<String, VapidError> {
        let exp = self.clock.unix_seconds()
            + i64::try_from(self.ttl.as_secs()).map_err(|_| VapidError::InvalidTtl)?;
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({"aud": audience, "exp": exp, "sub": self.subject});
        let claims =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).map_err(|_| VapidError::Signing)?);
        let signing_input = format!("{header}.{claims}");
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let signature = self
            .keys
            .signing_key()
            .sign(&rng, signing_input.as_bytes())
            .map_err(|_| VapidError::Signing)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// The JWT for an endpoint's audience, from the cache when still fresh.
    pub fn jwt_for(&self, endpoint: &str) -> Result<Arc<str>, VapidError> {
        let url = endpoint_url(endpoint)?;
        Ok(self.signed_for(Self::audience_of(&url)?)?.jwt)
    }

    /// The `Authorization` header value: `vapid t=<jwt>, k=<public key>`.
    pub fn authorization(&self, endpoint: &str) -> Result<String, VapidError> {
        self.authorization_header(&endpoint_url(endpoint)?)?
            .to_str()
            .map(str::to_owned)
            .map_err(|_| VapidError::Signing)
    }

    /// The `Authorization` header for a parsed endpoint, from the cache when still fresh: what
    /// the sender puts on each request, built once per audience rather than once per message.
    pub fn authorization_header(&self, endpoint: &url::Url) -> Result<HeaderValue, VapidError> {
        Ok(self.signed_for(Self::audience_of(endpoint)?)?.header)
    }

    fn signed_for(&self, audience: Cow<'_, str>) -> Result<Signed, VapidError> {
        if let Some(signed) = self.cache.get(audience.as_ref()) {
            return Ok(signed);
        }
        let jwt: Arc<str> = Arc::from(self.sign_jwt(&audience)?);
        // The JWT is a credential for the audience until it expires: marked sensitive, so HTTP/2
        // sends it as a never-indexed literal and `Debug` does not show it. That costs nothing:
        // h2 (like nghttp2) never puts an `Authorization` value in the HPACK table anyway, so it
        // is a literal on every request either way.
        let mut header = HeaderValue::try_from(format!(
            "vapid t={jwt}, k={}",
            self.keys.public_key_base64()
        ))
        .map_err(|_| VapidError::Signing)?;
        header.set_sensitive(true);
        let signed = Signed { jwt, header };
        self.cache.insert(audience.into_owned(), signed.clone());
        Ok(signed)
    }
}

fn endpoint_url(endpoint: &str) -> Result<url::Url, VapidError> {
    url::Url::parse(endpoint).map_err(|_| VapidError::InvalidEndpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audience_borrowed_from_the_url_is_the_origins_serialization() {
        for endpoint in [
            "https://fcm.googleapis.com/fcm/send/abc",
            "https://FCM.GoogleAPIs.com:443/fcm/send/abc",
            "https://push.example:8443/p?x=1",
            "https://[2001:db8::1]:8443/p",
            "https://bücher.example/p",
            "http://127.0.0.1:8080/push/1",
            "https://user:secret@push.example/p",
        ] {
            let url = url::Url::parse(endpoint).unwrap();
            let borrowed = VapidSigner::audience_of(&url).unwrap();
            assert_eq!(borrowed, url.origin().ascii_serialization(), "{endpoint}");
        }
        let opaque = url::Url::parse("data:text/plain,hi").unwrap();
        assert!(VapidSigner::audience_of(&opaque).is_err());
    }

    #[test]
    fn the_cached_header_is_the_authorization_for_the_endpoints_audience() {
        let signer = VapidSigner::new(VapidKeyPair::generate(), "mailto:soc@example.com").unwrap();
        let one = url::Url::parse("https://fcm.googleapis.com/fcm/send/one").unwrap();
        let header = signer.authorization_header(&one).unwrap();
        assert!(header.is_sensitive(), "the JWT is a credential");
        assert!(!format!("{header:?}").contains("vapid t="));
        assert_eq!(
            header.to_str().unwrap(),
            signer
                .authorization("https://fcm.googleapis.com/fcm/send/two")
                .unwrap()
        );
        let jwt = signer.jwt_for(one.as_str()).unwrap();
        assert_eq!(
            header.to_str().unwrap(),
            format!("vapid t={jwt}, k={}", signer.keys().public_key_base64())
        );
        let other =
            url::Url::parse("https://updates.push.services.mozilla.com/wpush/v2/x").unwrap();
        assert_ne!(signer.authorization_header(&other).unwrap(), header);
    }
}
