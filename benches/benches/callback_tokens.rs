//! Callback token mint and verify, side by side with an HS256 JWT from `jsonwebtoken` carrying
//! the same claims (the usual alternative for signed, expiring links).
//!
//! Run: `cargo bench -p aisoc-notify-benches --bench callback_tokens`

use std::hint::black_box;

use aisoc_notify_core::token::{CallbackGrant, CallbackTokenSigner, HmacCallbackTokenSigner};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

#[derive(Serialize, Deserialize)]
struct JwtClaims {
    act: String,
    case: String,
    ten: String,
    usr: String,
    ch: String,
    jti: String,
    iat: i64,
    exp: i64,
}

fn grant() -> CallbackGrant {
    CallbackGrant {
        action: "chatops.verify".into(),
        case_id: "case-0042".into(),
        tenant_id: "acme".into(),
        user_ref: "alice@example.com".into(),
        choice: "acknowledge".into(),
        prompt_id: Some("prompt-1".into()),
    }
}

fn mint(c: &mut Criterion) {
    let signer = HmacCallbackTokenSigner::new("k1", SECRET.to_vec()).unwrap();
    let key = EncodingKey::from_secret(SECRET);
    let header = Header::new(Algorithm::HS256);
    let claims = signer.mint(&grant()).unwrap().claims;
    let mut group = c.benchmark_group("callback_token_mint");
    group.bench_function("aisoc-notify-core", |b| {
        b.iter(|| signer.mint(black_box(&grant())).unwrap())
    });
    group.bench_function("jsonwebtoken-hs256", |b| {
        b.iter(|| {
            let jwt = JwtClaims {
                act: claims.action.clone(),
                case: claims.case_id.clone(),
                ten: claims.tenant_id.clone(),
                usr: claims.user_ref.clone(),
                ch: claims.choice.clone(),
                jti: claims.token_id.clone(),
                iat: claims.issued_at,
                exp: claims.expires_at,
            };
            jsonwebtoken::encode(black_box(&header), black_box(&jwt), &key).unwrap()
        })
    });
    group.finish();
}

fn verify(c: &mut Criterion) {
    let signer = HmacCallbackTokenSigner::new("k1", SECRET.to_vec()).unwrap();
    let minted = signer.mint(&grant()).unwrap();
    let claims = &minted.claims;
    let jwt = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &JwtClaims {
            act: claims.action.clone(),
            case: claims.case_id.clone(),
            ten: claims.tenant_id.clone(),
            usr: claims.user_ref.clone(),
            ch: claims.choice.clone(),
            jti: claims.token_id.clone(),
            iat: claims.issued_at,
            exp: claims.expires_at,
        },
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let key = DecodingKey::from_secret(SECRET);
    let validation = Validation::new(Algorithm::HS256);
    let mut group = c.benchmark_group("callback_token_verify");
    group.bench_function("aisoc-notify-core", |b| {
        b.iter(|| signer.verify(black_box(&minted.token)).unwrap())
    });
    group.bench_function("jsonwebtoken-hs256", |b| {
        b.iter(|| jsonwebtoken::decode::<JwtClaims>(black_box(&jwt), &key, &validation).unwrap())
    });
    group.finish();
}

criterion_group!(benches, mint, verify);
criterion_main!(benches);
