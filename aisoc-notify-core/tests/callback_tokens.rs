//! Callback tokens: every way a token can be wrong gets its own error.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_core::token::{
    CallbackClaims, CallbackGrant, CallbackTokenSigner, HmacCallbackTokenSigner, TokenError,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

const KEY_2026_01: &[u8] = b"0123456789abcdef0123456789abcdef-old";
const KEY_2026_06: &[u8] = b"fedcba9876543210fedcba9876543210-new";
const NOW: i64 = 1_790_000_000;

/// Changes one claim of a genuine token.
type Tamper = Box<dyn Fn(&mut CallbackClaims)>;

fn grant() -> CallbackGrant {
    CallbackGrant {
        action: "chatops.verify".into(),
        case_id: "case-42".into(),
        tenant_id: "acme".into(),
        user_ref: "alice@example.com".into(),
        choice: "acknowledge".into(),
        prompt_id: Some("prompt-1".into()),
    }
}

fn signer(clock: &Arc<ManualClock>) -> HmacCallbackTokenSigner {
    HmacCallbackTokenSigner::new("2026-01", KEY_2026_01.to_vec())
        .unwrap()
        .with_clock(clock.clone())
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

#[test]
fn a_minted_token_verifies_and_carries_every_claim() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let signer = signer(&clock);
    let minted = signer.mint(&grant()).unwrap();
    assert!(minted.token.starts_with("v1.2026-01."));
    assert!(
        minted
            .token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    );

    let claims = signer.verify(&minted.token).unwrap();
    assert_eq!(claims, minted.claims);
    assert_eq!(claims.action, "chatops.verify");
    assert_eq!(claims.case_id, "case-42");
    assert_eq!(claims.tenant_id, "acme");
    assert_eq!(claims.user_ref, "alice@example.com");
    assert_eq!(claims.choice, "acknowledge");
    assert_eq!(claims.issued_at, NOW);
    assert_eq!(claims.expires_at, NOW + 1800, "default lifetime is 1800 s");

    let other = signer.mint(&grant()).unwrap();
    assert_ne!(
        other.claims.token_id, claims.token_id,
        "every token has a unique id"
    );
}

#[test]
fn tokens_expire_at_their_deadline() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let signer = signer(&clock).with_ttl(Duration::from_secs(60));
    let minted = signer.mint(&grant()).unwrap();

    clock.advance(Duration::from_secs(59));
    assert!(signer.verify(&minted.token).is_ok());
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        signer.verify(&minted.token),
        Err(TokenError::Expired {
            expires_at: NOW + 60
        })
    );
}

#[test]
fn changing_any_claim_breaks_the_signature() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let signer = signer(&clock);
    let minted = signer.mint(&grant()).unwrap();
    let original = parts(&minted.token);

    let tampered_claims: Vec<(&str, Tamper)> = vec![
        ("action", Box::new(|c| c.action = "approval".into())),
        ("case_id", Box::new(|c| c.case_id = "case-43".into())),
        ("tenant_id", Box::new(|c| c.tenant_id = "evil".into())),
        (
            "user_ref",
            Box::new(|c| c.user_ref = "mallory@example.com".into()),
        ),
        ("choice", Box::new(|c| c.choice = "deny".into())),
        (
            "prompt_id",
            Box::new(|c| c.prompt_id = Some("prompt-2".into())),
        ),
        ("token_id", Box::new(|c| c.token_id = "reused".into())),
        ("issued_at", Box::new(|c| c.issued_at += 1)),
        ("expires_at", Box::new(|c| c.expires_at += 86_400)),
    ];
    for (field, tamper) in tampered_claims {
        let mut claims = minted.claims.clone();
        tamper(&mut claims);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
        let forged = format!(
            "{}.{}.{}.{}",
            original[0], original[1], payload, original[3]
        );
        assert_eq!(
            signer.verify(&forged),
            Err(TokenError::InvalidSignature),
            "{field}"
        );
    }

    // A flipped bit in the tag.
    let mut tag = URL_SAFE_NO_PAD.decode(&original[3]).unwrap();
    tag[0] ^= 1;
    let forged = format!(
        "{}.{}.{}.{}",
        original[0],
        original[1],
        original[2],
        URL_SAFE_NO_PAD.encode(tag)
    );
    assert_eq!(signer.verify(&forged), Err(TokenError::InvalidSignature));
}

#[test]
fn a_token_from_another_signer_with_the_same_key_id_is_rejected() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let impostor = HmacCallbackTokenSigner::new(
        "2026-01",
        b"a different secret of 32 bytes or more".to_vec(),
    )
    .unwrap()
    .with_clock(clock.clone());
    let forged = impostor.mint(&grant()).unwrap();
    assert_eq!(
        signer(&clock).verify(&forged.token),
        Err(TokenError::InvalidSignature)
    );
}

#[test]
fn rotation_keeps_old_tokens_until_the_key_is_retired() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let old_token = signer(&clock).mint(&grant()).unwrap().token;

    let rotated = HmacCallbackTokenSigner::new("2026-06", KEY_2026_06.to_vec())
        .unwrap()
        .with_verification_key("2026-01", KEY_2026_01.to_vec())
        .unwrap()
        .with_clock(clock.clone());
    assert!(
        rotated.verify(&old_token).is_ok(),
        "old tokens verify during rotation"
    );
    let new_token = rotated.mint(&grant()).unwrap().token;
    assert!(
        new_token.starts_with("v1.2026-06."),
        "new tokens use the new key"
    );

    let retired = HmacCallbackTokenSigner::new("2026-06", KEY_2026_06.to_vec())
        .unwrap()
        .with_clock(clock.clone());
    assert_eq!(
        retired.verify(&old_token),
        Err(TokenError::UnknownKey {
            key_id: "2026-01".into()
        })
    );
    assert!(retired.verify(&new_token).is_ok());

    // Relabelling an old token with the current key id does not help.
    let relabelled = old_token.replacen("2026-01", "2026-06", 1);
    assert_eq!(
        retired.verify(&relabelled),
        Err(TokenError::InvalidSignature)
    );
}

#[test]
fn truncated_and_malformed_tokens_are_malformed() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let signer = signer(&clock);
    let token = signer.mint(&grant()).unwrap().token;

    // Cut the token at every length: never accepted, never a panic, and once the tag is cut
    // the error says malformed.
    let tag_start = token.rfind('.').unwrap() + 1;
    for cut in 0..token.len() {
        let result = signer.verify(&token[..cut]);
        assert!(result.is_err(), "accepted a token cut at {cut}");
        if cut >= tag_start {
            assert!(
                matches!(result, Err(TokenError::Malformed(_))),
                "cut at {cut}: {result:?}"
            );
        }
    }

    for (token, expected) in [
        ("", "expected four dot-separated parts"),
        ("v1.2026-01.abc", "expected four dot-separated parts"),
        ("v1.2026-01.a.b.c", "expected four dot-separated parts"),
        ("v2.2026-01.abc.def", "unsupported token version"),
        ("v1.bad key.abc.def", "invalid key id"),
        ("v1.2026-01.abc.!!!", "signature is not base64url"),
        ("v1.2026-01.abc.AAAA", "signature has the wrong length"),
    ] {
        assert_eq!(
            signer.verify(token),
            Err(TokenError::Malformed(expected)),
            "{token:?}"
        );
    }
    let oversized = format!("v1.2026-01.{}.AAAA", "a".repeat(5000));
    assert_eq!(
        signer.verify(&oversized),
        Err(TokenError::Malformed("token is too long"))
    );
}

#[test]
fn weak_keys_and_bad_claims_are_refused_up_front() {
    assert_eq!(
        HmacCallbackTokenSigner::new("k1", b"short".to_vec()).unwrap_err(),
        TokenError::InvalidKey("secret must be at least 32 bytes")
    );
    assert!(matches!(
        HmacCallbackTokenSigner::new("has.dot", KEY_2026_01.to_vec()),
        Err(TokenError::InvalidKey(_))
    ));
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let mut empty_choice = grant();
    empty_choice.choice = " ".into();
    assert_eq!(
        signer(&clock).mint(&empty_choice).unwrap_err(),
        TokenError::InvalidClaim {
            field: "choice",
            reason: "must not be empty"
        }
    );
}

#[test]
fn the_signer_is_usable_as_a_trait_object_and_hides_its_keys() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let dynamic: Arc<dyn CallbackTokenSigner> = Arc::new(signer(&clock));
    let minted = dynamic.mint(&grant()).unwrap();
    assert!(dynamic.verify(&minted.token).is_ok());

    let shown = format!("{:?}", signer(&clock));
    assert!(shown.contains("2026-01"));
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
}
