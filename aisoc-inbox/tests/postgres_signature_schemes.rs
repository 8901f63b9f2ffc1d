//! A token's signature schemes survive PostgreSQL: stored with the token, resolved through the
//! resolver function, kept on rotation, and `NULL` (every scheme) for tokens minted before.

mod support;

use std::sync::Arc;

use aisoc_inbox::postgres::PgTokenStore;
use aisoc_inbox::token::{
    TokenRecord, TokenResolver, TokenStore, fingerprint, generate_token, mint_with_schemes,
};
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::signature::SignatureScheme;

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::test]
async fn schemes_are_stored_resolved_and_kept_on_rotation() {
    let db = support::TestDb::new().await;
    let store: Arc<dyn TokenStore> = Arc::new(
        PgTokenStore::new(db.pool.clone())
            .await
            .unwrap()
            .with_data_keys(support::data_keys()),
    );
    let schemes = vec![SignatureScheme::StandardWebhooks, SignatureScheme::GitHub];
    let minted = mint_with_schemes(
        store.as_ref(),
        "acme",
        "generic-json",
        Some(WHSEC.into()),
        Some(vec![
            SignatureScheme::GitHub,
            SignatureScheme::StandardWebhooks,
        ]),
    )
    .await
    .unwrap();
    let resolver = TokenResolver::new(store.clone());
    let resolved = resolver
        .resolve(minted.token.expose_secret())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        resolved.signature_schemes,
        Some(schemes.clone()),
        "in ALL's order"
    );

    let rotated = resolver.rotate("acme", &minted.record.id).await.unwrap();
    let resolved = resolver
        .resolve(rotated.token.expose_secret())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.signature_schemes, Some(schemes));

    let legacy_token = generate_token();
    let legacy = TokenRecord {
        id: "tok_legacy".into(),
        tenant_id: "acme".into(),
        template_id: "generic-json".into(),
        fingerprint: fingerprint(legacy_token.expose_secret()),
        signing_secret: Some(SecretString::from(WHSEC.to_owned())),
        signature_schemes: None,
        created_at: chrono::Utc::now(),
        revoked_at: None,
    };
    store.insert(&legacy).await.unwrap();
    let found = store
        .find_by_fingerprint(&legacy.fingerprint)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.signature_schemes, None);
    db.drop_db().await;
}
