//! The browsers' side: each device's key pair and auth secret, its subscription, and what it
//! does with a push (decrypt it, check the VAPID JWT), to check the mock's samples.

use aisoc_notify_webpush::subscription::{PushSubscription, SubscriptionKeys};
use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, UnparsedPublicKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Prk, Salt};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::mock::{MockPushService, vapid_parameters};
use crate::{BenchError, HEADER_LEN, SUBJECT};

/// A browser's side of a subscription: its key pair and auth secret.
pub(crate) struct Device {
    private: agreement::PrivateKey,
    pub(crate) public: Vec<u8>,
    pub(crate) auth: [u8; 16],
}

pub(crate) fn devices(n: usize) -> Result<Vec<Device>, BenchError> {
    (0..n)
        .map(|_| {
            let private = agreement::PrivateKey::generate(&ECDH_P256)?;
            let public = private.compute_public_key()?.as_ref().to_vec();
            let mut auth = [0u8; 16];
            aws_lc_rs::rand::fill(&mut auth)?;
            Ok(Device {
                private,
                public,
                auth,
            })
        })
        .collect()
}

pub(crate) fn subscription(origin: &str, index: usize, device: &Device) -> PushSubscription {
    PushSubscription {
        endpoint: format!("{origin}/push/{index}"),
        expiration_time: None,
        keys: SubscriptionKeys {
            p256dh: URL_SAFE_NO_PAD.encode(&device.public),
            auth: URL_SAFE_NO_PAD.encode(device.auth),
        },
    }
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

pub(crate) fn expand<const N: usize>(prk: &Prk, info: &[&[u8]]) -> Result<[u8; N], BenchError> {
    let mut out = [0u8; N];
    prk.expand(info, Len(N))
        .and_then(|okm| okm.fill(&mut out))
        .map_err(|_| "HKDF expand failed")?;
    Ok(out)
}

/// Decrypts an `aes128gcm` body as the device would (RFC 8291 section 3.4, RFC 8188).
pub(crate) fn decrypt(body: &[u8], device: &Device) -> Result<Vec<u8>, BenchError> {
    let (salt, rest) = body.split_at(16);
    let sender_public = &rest[5..5 + 65];
    let ikm: [u8; 32] = agreement::agree(
        &device.private,
        UnparsedPublicKey::new(&ECDH_P256, sender_public),
        BenchError::from("ECDH failed"),
        |ecdh| {
            let prk = Salt::new(HKDF_SHA256, &device.auth).extract(ecdh);
            expand(&prk, &[b"WebPush: info\0", &device.public, sender_public])
        },
    )?;
    let prk = Salt::new(HKDF_SHA256, salt).extract(&ikm);
    let cek: [u8; 16] = expand(&prk, &[b"Content-Encoding: aes128gcm\0"])?;
    let nonce: [u8; 12] = expand(&prk, &[b"Content-Encoding: nonce\0"])?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek)?);
    let mut record = body[HEADER_LEN..].to_vec();
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut record,
        )
        .map_err(|_| "the record does not decrypt")?;
    let mut plain = plain.to_vec();
    while plain.last() == Some(&0) {
        plain.pop();
    }
    if plain.pop() != Some(0x02) {
        return Err("no last-record delimiter".into());
    }
    Ok(plain)
}

/// Verifies a VAPID `Authorization`: the key is ours, the ES256 signature holds, `aud` is the
/// mock's origin and `exp` is ahead.
pub(crate) fn verify_vapid(
    authorization: &str,
    public_key: &str,
    audience: &str,
) -> Result<(), BenchError> {
    let (token, key) = vapid_parameters(authorization).ok_or("no VAPID parameters")?;
    if key != public_key {
        return Err("the VAPID k= is not our public key".into());
    }
    let (signed, signature) = token.rsplit_once('.').ok_or("the JWT has no signature")?;
    let public = URL_SAFE_NO_PAD.decode(key)?;
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
        public,
    )
    .verify(signed.as_bytes(), &URL_SAFE_NO_PAD.decode(signature)?)
    .map_err(|_| "the VAPID JWT's signature does not verify")?;
    let (_, claims) = signed.split_once('.').ok_or("the JWT has no claims")?;
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims)?)?;
    let now = chrono::Utc::now().timestamp();
    if claims["aud"] != audience
        || claims["exp"].as_i64().is_none_or(|exp| exp <= now)
        || claims["sub"] != SUBJECT
    {
        return Err(format!("unexpected VAPID claims {claims}").into());
    }
    Ok(())
}

/// Decrypts and verifies the round's samples; their count.
pub(crate) fn check_samples(
    mock: &MockPushService,
    devices: &[Device],
    payload: &[u8],
    public_key: &str,
    audience: &str,
) -> Result<usize, BenchError> {
    let samples = std::mem::take(&mut *mock.samples.lock().unwrap_or_else(|e| e.into_inner()));
    if samples.is_empty() {
        return Err("no request was sampled".into());
    }
    for sample in &samples {
        if decrypt(&sample.body, &devices[sample.index])? != payload {
            return Err(format!("device {} decrypted another payload", sample.index).into());
        }
        verify_vapid(&sample.authorization, public_key, audience)?;
    }
    Ok(samples.len())
}
