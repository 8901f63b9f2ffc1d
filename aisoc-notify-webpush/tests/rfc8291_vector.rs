//! RFC 8291 Appendix A, reproduced byte for byte, and the size and key checks around it.

use aisoc_notify_webpush::ece::{EncryptError, MAX_PLAINTEXT, ReceiverKeys, encrypt, encrypt_with};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn b64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

// RFC 8291 Appendix A (base64url, no padding).
const PLAINTEXT: &str = "V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24";
const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
const UA_PUBLIC: &str =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
const AUTH_SECRET: &str = "BTBZMqHH6r4Tts7J_aSIgg";
const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

#[test]
fn the_appendix_a_body_is_reproduced_byte_for_byte() {
    let receiver = ReceiverKeys::new(&b64(UA_PUBLIC), &b64(AUTH_SECRET)).unwrap();
    let salt: [u8; 16] = b64(SALT).try_into().unwrap();
    let body = encrypt_with(&b64(PLAINTEXT), &receiver, &b64(AS_PRIVATE), &salt).unwrap();
    assert_eq!(URL_SAFE_NO_PAD.encode(&body), BODY);
    // 86 header + 41 plaintext + 1 delimiter + 16 tag (the RFC's "145" is a known slip).
    assert_eq!(body.len(), 144);
}

#[test]
fn every_message_gets_a_fresh_salt_and_sender_key() {
    let receiver = ReceiverKeys::new(&b64(UA_PUBLIC), &b64(AUTH_SECRET)).unwrap();
    let a = encrypt(b"hello", &receiver).unwrap();
    let b = encrypt(b"hello", &receiver).unwrap();
    assert_ne!(a[..16], b[..16], "salt");
    assert_ne!(a[21..86], b[21..86], "sender key");
    assert_eq!(
        &a[16..21],
        &[0, 0, 16, 0, 65],
        "record size 4096 and a 65-byte key id"
    );
}

#[test]
fn plaintexts_over_3993_bytes_are_refused_before_any_work() {
    let receiver = ReceiverKeys::new(&b64(UA_PUBLIC), &b64(AUTH_SECRET)).unwrap();
    assert_eq!(MAX_PLAINTEXT, 3993);
    let fits = encrypt(&vec![b'x'; 3993], &receiver).unwrap();
    assert_eq!(fits.len(), 4096, "exactly one full record");
    assert_eq!(
        encrypt(&vec![b'x'; 3994], &receiver).unwrap_err(),
        EncryptError::PayloadTooLarge {
            size: 3994,
            max: 3993
        }
    );
}

#[test]
fn receiver_keys_must_be_on_the_curve_and_auth_16_bytes() {
    let mut off_curve = b64(UA_PUBLIC);
    off_curve[64] ^= 0x01;
    assert_eq!(
        ReceiverKeys::new(&off_curve, &b64(AUTH_SECRET)).unwrap_err(),
        EncryptError::InvalidReceiverKey
    );
    let mut compressed = b64(UA_PUBLIC);
    compressed[0] = 0x02;
    assert_eq!(
        ReceiverKeys::new(&compressed, &b64(AUTH_SECRET)).unwrap_err(),
        EncryptError::InvalidReceiverKey
    );
    assert_eq!(
        ReceiverKeys::new(&b64(UA_PUBLIC)[..64], &b64(AUTH_SECRET)).unwrap_err(),
        EncryptError::InvalidReceiverKey
    );
    assert_eq!(
        ReceiverKeys::new(&b64(UA_PUBLIC), &[0u8; 15]).unwrap_err(),
        EncryptError::InvalidAuthSecret
    );
}
