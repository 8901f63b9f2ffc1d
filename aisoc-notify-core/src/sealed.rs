//! Secrets sealed at rest: AES-256-GCM under a data key from `AISOC_DATA_KEY`.
//!
//! Stores that keep secrets (channel configurations hold webhook URLs with tokens, bot tokens,
//! signing secrets) write them sealed, so a database dump, a backup or a copied data directory
//! does not hand them out. Sealing is authenticated: a value that was altered, sealed under
//! another key, or moved onto another record (see *context* below) is refused, never opened
//! into something else.
//!
//! ## `AISOC_DATA_KEY`
//!
//! Comma-separated `<key id>:<base64 of 32 random bytes>`, the current key first:
//!
//! ```text
//! AISOC_DATA_KEY=k2:q1dXpw3UpT5VOmu+cf/v6ih07Aems3njxI+JWgLcM94=,k1:yfWPiYE+n46HLnH0KqZOF1fJJU3MYrct3AELtAQ+oRw=
//! ```
//!
//! A key id is 1 to 32 letters, digits, `_` or `-`. Generate a key with
//! `head -c 32 /dev/urandom | base64`. To rotate, put a new key in front: new values are sealed
//! under it, values sealed under the older keys stay readable, and [`DataKeys::needs_reseal`]
//! tells a store which values to seal again; once none is left the old key can be dropped.
//!
//! ## The sealed text
//!
//! `sealed:v1:<key id>:<nonce>:<ciphertext and tag>`, nonce and ciphertext in unpadded
//! base64url. It says which key opens it, so values under several keys live side by side.
//! Each seal draws a fresh random 96-bit nonce; NIST SP 800-38D bounds random nonces at 2^32
//! seals per key, far beyond how often configuration is written.
//!
//! ## Context
//!
//! Every seal and open names what the value protects (`channel:ch_…`); it is authenticated as
//! associated data together with the header, so a ciphertext copied from one record onto
//! another, or given another key id, does not open.
//!
//! ```
//! use aisoc_notify_core::sealed::DataKeys;
//!
//! let keys = DataKeys::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
//! let sealed = keys.seal(br#"{"url":"https://hooks.example/T0/secret"}"#, "channel:ch_1").unwrap();
//! assert!(sealed.starts_with("sealed:v1:k1:"));
//! assert!(!sealed.contains("secret"));
//! assert_eq!(keys.open(&sealed, "channel:ch_1").unwrap(), br#"{"url":"https://hooks.example/T0/secret"}"#);
//! assert!(keys.open(&sealed, "channel:ch_2").is_err());
//! ```

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::{
    STANDARD_PAD_INDIFFERENT, URL_SAFE_NO_PAD, URL_SAFE_PAD_INDIFFERENT,
};

use crate::config::ConfigError;

/// The environment variable the data keys are read from.
pub const DATA_KEY_VARIABLE: &str = "AISOC_DATA_KEY";

/// What every sealed value starts with, before its key id.
const PREFIX: &str = "sealed:v1:";

/// The length of a data key in bytes (AES-256).
const KEY_LEN: usize = 32;

/// The longest key id.
const MAX_KEY_ID_LEN: usize = 32;

/// Why a value could not be sealed or opened. Never carries the value or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The text is not a sealed value this version understands.
    #[error("not a sealed value: {0}")]
    Malformed(&'static str),
    /// It was sealed under a key the configured keys do not include.
    #[error("sealed under data key '{key_id}', which {DATA_KEY_VARIABLE} does not hold")]
    UnknownKey {
        /// The key id the value names.
        key_id: String,
    },
    /// Authentication failed: altered, sealed under another key with the same id, or sealed
    /// for another context.
    #[error("sealed value refused: altered, under another key, or sealed for something else")]
    Refused,
    /// The plaintext is too large to seal.
    #[error("value too large to seal")]
    TooLarge,
    /// The system's random generator failed, so no nonce could be drawn.
    #[error("no random nonce could be drawn")]
    NoRandomness,
}

struct DataKey {
    id: String,
    key: LessSafeKey,
}

/// The data keys: the first seals, every one opens.
pub struct DataKeys {
    keys: Vec<DataKey>,
}

impl std::fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKeys")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn config_error(reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::new(DATA_KEY_VARIABLE, reason)
}

fn valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl DataKeys {
    /// Parses `k2:<base64>,k1:<base64>` (the current key first). Errors name the variable and
    /// the key id, never key material.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let mut keys: Vec<DataKey> = Vec::new();
        for (position, entry) in value.split(',').map(str::trim).enumerate() {
            let Some((id, encoded)) = entry.split_once(':') else {
                return Err(config_error(format!(
                    "entry {} is not <key id>:<base64 of 32 bytes> (for example \
                     k1:$(head -c 32 /dev/urandom | base64)), current key first",
                    position + 1
                )));
            };
            let id = id.trim();
            if !valid_key_id(id) {
                return Err(config_error(format!(
                    "entry {}: a key id is 1 to {MAX_KEY_ID_LEN} letters, digits, '_' or '-'",
                    position + 1
                )));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(config_error(format!("key id '{id}' appears twice")));
            }
            let encoded = encoded.trim();
            let bytes = STANDARD_PAD_INDIFFERENT
                .decode(encoded)
                .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(encoded))
                .map_err(|_| config_error(format!("key '{id}' is not base64")))?;
            if bytes.len() != KEY_LEN {
                return Err(config_error(format!(
                    "key '{id}' is {} bytes; a data key is {KEY_LEN} random bytes, base64 \
                     (head -c 32 /dev/urandom | base64)",
                    bytes.len()
                )));
            }
            let key = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| config_error(format!("key '{id}' was refused by AES-256-GCM")))?;
            keys.push(DataKey {
                id: id.to_owned(),
                key: LessSafeKey::new(key),
            });
        }
        Ok(Self { keys })
    }

    /// The keys in [`DATA_KEY_VARIABLE`] as `lookup` reads it; `None` when it is unset or
    /// blank.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        match lookup(DATA_KEY_VARIABLE) {
            Some(value) if !value.trim().is_empty() => Self::parse(&value).map(Some),
            _ => Ok(None),
        }
    }

    /// The id of the key new values are sealed under.
    pub fn current_key_id(&self) -> &str {
        &self.current().id
    }

    /// Every key id, the current one first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    fn current(&self) -> &DataKey {
        // `parse` splits a string, which always yields at least one entry, and refuses an
        // entry that is not a key, so there is always a first key.
        &self.keys[0]
    }

    /// Seals `plaintext` for `context` (what it protects, e.g. `channel:ch_…`) under the
    /// current key, with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::NoRandomness)?;
        let key = self.current();
        let sealed = seal_with_nonce(&key.key, nonce, &aad(&key.id, context), plaintext)?;
        Ok(format!(
            "{PREFIX}{}:{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(sealed)
        ))
    }

    /// Opens a value [`seal`](Self::seal) made for the same `context`, under any configured
    /// key.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SealError> {
        let parts = Parts::parse(sealed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == parts.key_id)
            .ok_or_else(|| SealError::UnknownKey {
                key_id: parts.key_id.to_owned(),
            })?;
        let nonce: [u8; NONCE_LEN] = URL_SAFE_NO_PAD
            .decode(parts.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(SealError::Malformed(
                "the nonce is not 12 bytes of base64url",
            ))?;
        let mut in_out = URL_SAFE_NO_PAD
            .decode(parts.ciphertext)
            .map_err(|_| SealError::Malformed("the ciphertext is not base64url"))?;
        let plaintext = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(parts.key_id, context)),
                &mut in_out,
            )
            .map_err(|_| SealError::Refused)?;
        let len = plaintext.len();
        in_out.truncate(len);
        Ok(in_out)
    }

    /// Whether `sealed` should be sealed again: it is under an older key (or not sealed at
    /// all), so it stays readable only while that key is configured.
    pub fn needs_reseal(&self, sealed: &str) -> bool {
        Parts::parse(sealed).map_or(true, |parts| parts.key_id != self.current_key_id())
    }
}

/// Whether `text` looks like a sealed value (it may still fail to open).
pub fn is_sealed(text: &str) -> bool {
    text.starts_with(PREFIX)
}

/// The id of the key that opens `sealed`, to say which key is missing.
pub fn key_id_of(sealed: &str) -> Result<&str, SealError> {
    Parts::parse(sealed).map(|parts| parts.key_id)
}

/// The associated data: the header and the context, so neither can be swapped.
fn aad(key_id: &str, context: &str) -> Vec<u8> {
    format!("{PREFIX}{key_id}:{context}").into_bytes()
}

/// AES-256-GCM with a given nonce: ciphertext followed by the 16-byte tag.
fn seal_with_nonce(
    key: &LessSafeKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let mut in_out = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut in_out,
    )
    .map_err(|_| SealError::TooLarge)?;
    Ok(in_out)
}

/// A sealed value taken apart (nothing decoded yet).
struct Parts<'a> {
    key_id: &'a str,
    nonce: &'a str,
    ciphertext: &'a str,
}

impl<'a> Parts<'a> {
    fn parse(sealed: &'a str) -> Result<Self, SealError> {
        let rest = sealed
            .strip_prefix(PREFIX)
            .ok_or(SealError::Malformed("it does not start with sealed:v1:"))?;
        let mut fields = rest.split(':');
        match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(key_id), Some(nonce), Some(ciphertext), None) if valid_key_id(key_id) => {
                Ok(Self {
                    key_id,
                    nonce,
                    ciphertext,
                })
            }
            _ => Err(SealError::Malformed(
                "expected sealed:v1:<key id>:<nonce>:<ciphertext>",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    // 32 bytes of 0xff.
    const K2: &str = "k2://////////////////////////////////////////8=";

    fn keys(value: &str) -> DataKeys {
        DataKeys::parse(value).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_with_the_same_context_and_hides_the_plaintext() {
        let keys = keys(K1);
        let secret = b"https://hooks.slack.com/services/T0/B0/marker-token";
        let sealed = keys.seal(secret, "channel:ch_a").unwrap();
        assert!(sealed.starts_with("sealed:v1:k1:"), "{sealed}");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("marker-token"));
        assert_eq!(keys.open(&sealed, "channel:ch_a").unwrap(), secret);
        // A fresh nonce each time: the same plaintext never seals to the same text.
        assert_ne!(keys.seal(secret, "channel:ch_a").unwrap(), sealed);
        assert!(!keys.needs_reseal(&sealed));
    }

    #[test]
    fn another_context_an_altered_value_or_another_key_is_refused() {
        let keys = keys(K1);
        let sealed = keys.seal(b"bot-token", "channel:ch_a").unwrap();
        assert_eq!(keys.open(&sealed, "channel:ch_b"), Err(SealError::Refused));

        let (head, ciphertext) = sealed.rsplit_once(':').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(ciphertext).unwrap();
        bytes[0] ^= 1;
        let altered = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(keys.open(&altered, "channel:ch_a"), Err(SealError::Refused));

        // Same key id, other key bytes (a misconfigured replica).
        let impostor = DataKeys::parse("k1://////////////////////////////////////////8=").unwrap();
        assert_eq!(
            impostor.open(&sealed, "channel:ch_a"),
            Err(SealError::Refused)
        );

        // Relabelled to another configured key id: the header is authenticated too.
        let both = DataKeys::parse(&format!("{K1},{}", K2.replace("k2", "k9"))).unwrap();
        let relabelled = sealed.replacen("sealed:v1:k1:", "sealed:v1:k9:", 1);
        assert_eq!(
            both.open(&relabelled, "channel:ch_a"),
            Err(SealError::Refused)
        );

        assert!(matches!(
            keys.open("plain text", "channel:ch_a"),
            Err(SealError::Malformed(_))
        ));
        assert!(matches!(
            keys.open("sealed:v1:k1:abc", "channel:ch_a"),
            Err(SealError::Malformed(_))
        ));
    }

    #[test]
    fn after_rotation_old_values_open_new_ones_use_the_current_key_and_old_ones_need_resealing() {
        let old = keys(K1);
        let sealed_under_k1 = old.seal(b"signing-secret", "channel:ch_a").unwrap();

        let rotated = keys(&format!("{K2},{K1}"));
        assert_eq!(rotated.current_key_id(), "k2");
        assert_eq!(rotated.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
        assert_eq!(
            rotated.open(&sealed_under_k1, "channel:ch_a").unwrap(),
            b"signing-secret"
        );
        assert!(rotated.needs_reseal(&sealed_under_k1));
        assert!(rotated.needs_reseal("not sealed at all"));
        assert_eq!(key_id_of(&sealed_under_k1), Ok("k1"));

        let resealed = rotated.seal(b"signing-secret", "channel:ch_a").unwrap();
        assert!(resealed.starts_with("sealed:v1:k2:"));
        assert!(!rotated.needs_reseal(&resealed));

        // Once k1 is dropped, what is still under it says which key is missing.
        let only_k2 = keys(K2);
        assert_eq!(
            only_k2.open(&sealed_under_k1, "channel:ch_a"),
            Err(SealError::UnknownKey {
                key_id: "k1".into()
            })
        );
        assert!(
            SealError::UnknownKey {
                key_id: "k1".into()
            }
            .to_string()
            .contains("AISOC_DATA_KEY")
        );
    }

    #[test]
    fn the_primitive_matches_the_gcm_specification_test_case_16() {
        // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", appendix B, test
        // case 16 (AES-256, 96-bit IV, with associated data), as NIST's GCM page publishes it.
        let key = hex::decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
            .unwrap();
        let iv: [u8; 12] = hex::decode("cafebabefacedbaddecaf888")
            .unwrap()
            .try_into()
            .unwrap();
        let plaintext = hex::decode(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        )
        .unwrap();
        let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
        let expected = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                        8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
                        76fc6ece0f4e1768cddf8853bb2d551b";
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).unwrap());
        let sealed = seal_with_nonce(&key, iv, &aad, &plaintext).unwrap();
        assert_eq!(hex::encode(sealed), expected);
    }

    #[test]
    fn a_bad_setting_names_the_variable_and_the_key_id_never_the_key() {
        let cases = [
            ("", "entry 1"),
            ("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "entry 1"),
            ("k 1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "key id"),
            ("k1:not base64!", "key 'k1' is not base64"),
            ("k1:c2hvcnQ=", "key 'k1' is 5 bytes"),
            (&format!("{K1},{K1}"), "'k1' appears twice"),
        ];
        for (value, expected) in cases {
            let error = DataKeys::parse(value).unwrap_err();
            assert_eq!(error.field(), "AISOC_DATA_KEY", "{value}");
            assert!(error.to_string().contains(expected), "{value}: {error}");
            assert!(!error.to_string().contains("AAECAwQF"), "{error}");
        }
        assert!(DataKeys::from_lookup(|_| None).unwrap().is_none());
        assert!(
            DataKeys::from_lookup(|_| Some("  ".into()))
                .unwrap()
                .is_none()
        );
        assert!(
            DataKeys::from_lookup(|_| Some(K1.into()))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn debug_shows_key_ids_only() {
        let shown = format!("{:?}", keys(&format!("{K2},{K1}")));
        assert_eq!(shown, r#"DataKeys { key_ids: ["k2", "k1"], .. }"#);
    }
}
