//! An independent implementation of the receiving side (RustCrypto's p256, hkdf and aes-gcm,
//! following RFC 8291 section 3.4 and RFC 8188 section 2.2 directly) decrypts what this crate
//! sends, and verifies its VAPID JWT.

use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_webpush::ece::{ReceiverKeys, encrypt};
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::vapid::VapidSigner;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2_010::Sha256;

/// Decrypts an `aes128gcm` body as a browser would.
fn browser_decrypt(body: &[u8], ua_secret: &p256::SecretKey, auth: &[u8; 16]) -> Vec<u8> {
    let salt = &body[..16];
    let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap());
    assert_eq!(record_size, 4096);
    let id_len = body[20] as usize;
    assert_eq!(id_len, 65);
    let as_public_bytes = &body[21..21 + id_len];
    let ciphertext = &body[21 + id_len..];

    let as_public = p256::PublicKey::from_sec1_bytes(as_public_bytes).unwrap();
    let ecdh = p256::ecdh::diffie_hellman(ua_secret.to_nonzero_scalar(), as_public.as_affine());
    let ua_public = ua_secret.public_key().to_encoded_point(false);

    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(ua_public.as_bytes());
    key_info.extend_from_slice(as_public_bytes);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), ecdh.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .unwrap();

    let hk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    hk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .unwrap();
    let mut nonce = [0u8; 12];
    hk.expand(b"Content-Encoding: nonce\0", &mut nonce).unwrap();

    let mut padded = Aes128Gcm::new_from_slice(&cek)
        .unwrap()
        .decrypt(&Nonce::from(nonce), ciphertext)
        .unwrap();
    // Strip padding: trailing zeros, then the delimiter, which must be 0x02 for the last record.
    while padded.last() == Some(&0) {
        padded.pop();
    }
    assert_eq!(padded.pop(), Some(0x02));
    padded
}

#[test]
fn a_browser_side_implementation_decrypts_our_messages() {
    let ua_secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let ua_public = ua_secret.public_key().to_encoded_point(false);
    let auth = [9u8; 16];
    let receiver = ReceiverKeys::new(ua_public.as_bytes(), &auth).unwrap();
    for message in [&b"{\"title\":\"P0\"}"[..], &[], &vec![0xABu8; 3993]] {
        let body = encrypt(message, &receiver).unwrap();
        assert_eq!(browser_decrypt(&body, &ua_secret, &auth), message);
    }
}

#[test]
fn the_vapid_jwt_verifies_with_the_public_key_and_has_the_right_claims() {
    let keys = VapidKeyPair::generate();
    let public = keys.public_key_bytes().to_vec();
    let clock = Arc::new(ManualClock::at_unix(1_790_000_000));
    let signer = VapidSigner::new(keys, "mailto:soc@example.com")
        .unwrap()
        .with_clock(clock);
    let header = signer
        .authorization("https://updates.push.services.mozilla.com:8443/wpush/v2/abc")
        .unwrap();

    let rest = header.strip_prefix("vapid t=").unwrap();
    let (jwt, k) = rest.split_once(", k=").unwrap();
    assert_eq!(URL_SAFE_NO_PAD.decode(k).unwrap(), public);
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let jwt_header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(
        jwt_header,
        serde_json::json!({"typ": "JWT", "alg": "ES256"})
    );
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(
        claims["aud"], "https://updates.push.services.mozilla.com:8443",
        "origin with its non-default port"
    );
    assert_eq!(claims["sub"], "mailto:soc@example.com");
    assert_eq!(claims["exp"], 1_790_000_000 + 12 * 3600);

    let verifying_key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&public).unwrap();
    let signature =
        p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    verifying_key
        .verify(signed.as_bytes(), &signature)
        .expect("ES256 signature verifies");
    assert!(verifying_key.verify(b"tampered", &signature).is_err());
}

#[test]
fn default_ports_are_left_out_of_the_audience_and_jwts_are_cached_per_audience() {
    assert_eq!(
        VapidSigner::audience("https://fcm.googleapis.com:443/fcm/send/x").unwrap(),
        "https://fcm.googleapis.com"
    );
    assert_eq!(
        VapidSigner::audience("http://127.0.0.1:9000/push").unwrap(),
        "http://127.0.0.1:9000"
    );
    let signer =
        VapidSigner::new(VapidKeyPair::generate(), "https://soc.example.com/contact").unwrap();
    let a = signer
        .jwt_for("https://fcm.googleapis.com/fcm/send/one")
        .unwrap();
    let b = signer
        .jwt_for("https://fcm.googleapis.com/fcm/send/two")
        .unwrap();
    let c = signer
        .jwt_for("https://updates.push.services.mozilla.com/wpush/v2/x")
        .unwrap();
    assert!(Arc::ptr_eq(&a, &b), "same audience, same cached JWT");
    assert_ne!(a, c);
}

#[test]
fn lifetimes_and_subjects_are_validated() {
    use std::time::Duration;
    let signer = VapidSigner::new(VapidKeyPair::generate(), "mailto:soc@example.com").unwrap();
    assert!(signer.with_ttl(Duration::from_secs(24 * 3600 + 1)).is_err());
    for subject in [
        "soc@example.com",
        "mailto:",
        "mailto:@x",
        "http://example.com",
        "ftp://x",
    ] {
        assert!(
            VapidSigner::new(VapidKeyPair::generate(), subject).is_err(),
            "{subject}"
        );
    }
    assert!(VapidKeyPair::from_base64("not base64!!").is_err());
    assert!(VapidKeyPair::from_base64("AAAA").is_err());
}
