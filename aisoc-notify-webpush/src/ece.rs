//! Message encryption for Web Push: RFC 8291 key derivation with RFC 8188 `aes128gcm`.
//!
//! One record, no padding beyond the `0x02` last-record delimiter, the sender's public key as
//! the key id. Every message gets a fresh 16-byte salt and a fresh P-256 key pair; the
//! receiver's key is parsed (and so checked to be on the curve) before anything else happens.
//! A plaintext over 3993 bytes cannot fit the single 4096-byte record and is refused.
//!
//! The crypto runs on `aws-lc-rs`: it is among the fastest P-256 and AES-GCM implementations
//! available to Rust, carries no OpenSSL, and can import a fixed ephemeral key, which is what
//! reproducing the RFC 8291 Appendix A vector byte for byte needs.

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, ParsedPublicKey, UnparsedPublicKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};

/// The record size written in the header.
pub const RECORD_SIZE: u32 = 4096;
/// Header bytes: salt (16) + record size (4) + key id length (1) + key id (65).
pub const HEADER_LEN: usize = 86;
/// The largest plaintext one record holds: 4096 - 86 - 16 (tag) - 1 (delimiter).
pub const MAX_PLAINTEXT: usize = RECORD_SIZE as usize - HEADER_LEN - TAG_LEN - 1;
const TAG_LEN: usize = 16;

/// Why a message could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The plaintext does not fit one record.
    #[error("push payload of {size} bytes exceeds the {max}-byte limit")]
    PayloadTooLarge {
        /// The plaintext size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The subscription's `p256dh` is not a P-256 public key.
    #[error("the subscription's p256dh key is not a valid P-256 public key")]
    InvalidReceiverKey,
    /// The subscription's `auth` secret is not 16 bytes.
    #[error("the subscription's auth secret must be 16 bytes")]
    InvalidAuthSecret,
    /// The crypto library failed.
    #[error("encryption failed")]
    Crypto,
}

/// A receiver's keys, parsed and checked once, reusable for many messages.
#[derive(Debug, Clone)]
pub struct ReceiverKeys {
    public: ParsedPublicKey,
    public_bytes: [u8; 65],
    auth: [u8; 16],
}

impl ReceiverKeys {
    /// Checks and holds a subscription's `p256dh` (65 bytes, uncompressed, on P-256) and `auth`.
    pub fn new(p256dh: &[u8], auth: &[u8]) -> Result<Self, EncryptError> {
        let public_bytes: [u8; 65] = p256dh
            .try_into()
            .map_err(|_| EncryptError::InvalidReceiverKey)?;
        if public_bytes[0] != 0x04 {
            return Err(EncryptError::InvalidReceiverKey);
        }
        let public =
            ParsedPublicKey::try_from(UnparsedPublicKey::new(&ECDH_P256, &public_bytes[..]))
                .map_err(|_| EncryptError::InvalidReceiverKey)?;
        let auth: [u8; 16] = auth
            .try_into()
            .map_err(|_| EncryptError::InvalidAuthSecret)?;
        Ok(Self {
            public,
            public_bytes,
            auth,
        })
    }
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand<const N: usize>(
    prk: &aws_lc_rs::hkdf::Prk,
    info: &[&[u8]],
) -> Result<[u8; N], EncryptError> {
    let mut out = [0u8; N];
    prk.expand(info, Len(N))
        .and_then(|okm| okm.fill(&mut out))
        .map_err(|_| EncryptError::Crypto)?;
    Ok(out)
}

/// Encrypts `plaintext` for a receiver with a fresh salt and sender key.
pub fn encrypt(plaintext: &[u8], receiver: &ReceiverKeys) -> Result<Vec<u8>, EncryptError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EncryptError::PayloadTooLarge {
            size: plaintext.len(),
            max: MAX_PLAINTEXT,
        });
    }
    let sender = agreement::PrivateKey::generate(&ECDH_P256).map_err(|_| EncryptError::Crypto)?;
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| EncryptError::Crypto)?;
    seal(plaintext, receiver, &sender, &salt)
}

/// Encrypts with a given sender key and salt. Both must be fresh for every message; this
/// exists so that published test vectors can be reproduced.
pub fn encrypt_with(
    plaintext: &[u8],
    receiver: &ReceiverKeys,
    sender_private_scalar: &[u8],
    salt: &[u8; 16],
) -> Result<Vec<u8>, EncryptError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EncryptError::PayloadTooLarge {
            size: plaintext.len(),
            max: MAX_PLAINTEXT,
        });
    }
    let sender = agreement::PrivateKey::from_private_key(&ECDH_P256, sender_private_scalar)
        .map_err(|_| EncryptError::Crypto)?;
    seal(plaintext, receiver, &sender, salt)
}

fn seal(
    plaintext: &[u8],
    receiver: &ReceiverKeys,
    sender: &agreement::PrivateKey,
    salt: &[u8; 16],
) -> Result<Vec<u8>, EncryptError> {
    let sender_public = sender
        .compute_public_key()
        .map_err(|_| EncryptError::Crypto)?;
    let sender_public = sender_public.as_ref();

    // RFC 8291 section 3.4: combine the ECDH secret with the auth secret...
    let ikm: [u8; 32] = agreement::agree(
        sender,
        receiver.public.clone(),
        EncryptError::Crypto,
        |ecdh| {
            let prk_key = Salt::new(HKDF_SHA256, &receiver.auth).extract(ecdh);
            expand::<32>(
                &prk_key,
                &[b"WebPush: info\0", &receiver.public_bytes, sender_public],
            )
        },
    )?;
    // ...then RFC 8188 section 2.2: the content key and nonce from the salt.
    let prk = Salt::new(HKDF_SHA256, salt).extract(&ikm);
    let cek: [u8; 16] = expand(&prk, &[b"Content-Encoding: aes128gcm\0"])?;
    let nonce: [u8; 12] = expand(&prk, &[b"Content-Encoding: nonce\0"])?;

    let mut body = Vec::with_capacity(HEADER_LEN + plaintext.len() + 1 + TAG_LEN);
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(sender_public);
    body.extend_from_slice(plaintext);
    body.push(0x02); // last-record delimiter, no padding

    let key =
        LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| EncryptError::Crypto)?);
    let (_, record) = body.split_at_mut(HEADER_LEN);
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), record)
        .map_err(|_| EncryptError::Crypto)?;
    body.extend_from_slice(tag.as_ref());
    Ok(body)
}
