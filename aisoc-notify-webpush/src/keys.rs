//! VAPID key pairs (RFC 8292), in the raw URL-safe base64 form `web-push generate-vapid-keys`
//! prints: the public key is the 65-byte uncompressed P-256 point, the private key the 32-byte
//! scalar.

use aws_lc_rs::agreement;
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not URL-safe base64.
    #[error("{0} is not URL-safe base64")]
    NotBase64(&'static str),
    /// The bytes are not a P-256 key of the expected form.
    #[error("{0} is not a valid P-256 key")]
    InvalidKey(&'static str),
}

/// Decodes URL-safe base64 with or without padding (browsers and tools differ).
pub(crate) fn decode_b64url(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text.trim_ascii().trim_end_matches('='))
        .ok()
}

/// A VAPID signing key pair.
pub struct VapidKeyPair {
    signing: EcdsaKeyPair,
    public: Vec<u8>,
}

impl std::fmt::Debug for VapidKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKeyPair")
            .field("public_key", &self.public_key_base64())
            .finish_non_exhaustive()
    }
}

impl VapidKeyPair {
    /// A fresh key pair.
    ///
    /// ```
    /// use aisoc_notify_webpush::keys::VapidKeyPair;
    /// let keys = VapidKeyPair::generate();
    /// assert_eq!(keys.public_key_bytes().len(), 65);
    /// let again = VapidKeyPair::from_base64(&keys.private_key_base64()).unwrap();
    /// assert_eq!(again.public_key_base64(), keys.public_key_base64());
    /// ```
    pub fn generate() -> Self {
        let signing =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key generation");
        let public = signing.public_key().as_ref().to_vec();
        Self { signing, public }
    }

    /// The key pair for a private key in raw URL-safe base64 (the public key is derived).
    pub fn from_base64(private_key: &str) -> Result<Self, KeyError> {
        let scalar = decode_b64url(private_key).ok_or(KeyError::NotBase64("VAPID private key"))?;
        Self::from_private_scalar(&scalar)
    }

    /// The key pair for a 32-byte private scalar.
    pub fn from_private_scalar(scalar: &[u8]) -> Result<Self, KeyError> {
        if scalar.len() != 32 {
            return Err(KeyError::InvalidKey("VAPID private key"));
        }
        let private = agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, scalar)
            .map_err(|_| KeyError::InvalidKey("VAPID private key"))?;
        let public = private
            .compute_public_key()
            .map_err(|_| KeyError::InvalidKey("VAPID private key"))?;
        let signing = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            scalar,
            public.as_ref(),
        )
        .map_err(|_| KeyError::InvalidKey("VAPID private key"))?;
        Ok(Self {
            signing,
            public: public.as_ref().to_vec(),
        })
    }

    /// The public key: 65 bytes, uncompressed.
    pub fn public_key_bytes(&self) -> &[u8] {
        &self.public
    }

    /// The public key in URL-safe base64, for `applicationServerKey` and the `k=` parameter.
    pub fn public_key_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.public)
    }

    /// The private key in URL-safe base64; keep it secret.
    pub fn private_key_base64(&self) -> String {
        let scalar = self
            .signing
            .private_key()
            .as_be_bytes()
            .expect("P-256 scalar");
        URL_SAFE_NO_PAD.encode(scalar.as_ref())
    }

    pub(crate) fn signing_key(&self) -> &EcdsaKeyPair {
        &self.signing
    }
}
