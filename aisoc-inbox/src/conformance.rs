//! Contracts for the inbox's store traits (feature `test-util`), run against every backend.

use std::time::Duration;

use aisoc_notify_core::secret::ExposeSecret;

use crate::limits::IdempotencyStore;
use crate::token::{TokenStore, TokenStoreError, fingerprint, mint};

fn unique(prefix: &str) -> String {
    let mut bytes = [0u8; 6];
    rand::fill(&mut bytes);
    format!(
        "{prefix}-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Mint, resolve by fingerprint, list per tenant, revoke.
pub async fn token_lifecycle(store: &dyn TokenStore) {
    let tenant = unique("tenant");
    let minted = mint(
        store,
        &tenant,
        "generic-json",
        Some("a-signing-secret-of-16+".into()),
    )
    .await
    .unwrap();
    let token = minted.token.expose_secret().to_owned();
    assert!(token.starts_with("aisoc_inbox_"));
    assert_eq!(
        token.len(),
        "aisoc_inbox_".len() + 52,
        "32 bytes in base32 without padding"
    );

    let found = store
        .find_by_fingerprint(&fingerprint(&token))
        .await
        .unwrap()
        .expect("resolves");
    assert_eq!(found.tenant_id, tenant);
    assert_eq!(found.template_id, "generic-json");
    assert_eq!(
        found
            .signing_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .as_deref(),
        Some("a-signing-secret-of-16+")
    );
    assert_eq!(
        store
            .find_by_fingerprint(&fingerprint("aisoc_inbox_other"))
            .await
            .unwrap()
            .map(|r| r.id),
        None
    );

    let second = mint(store, &tenant, "email-forwarded", None).await.unwrap();
    let other_tenant = unique("tenant");
    mint(store, &other_tenant, "generic-json", None)
        .await
        .unwrap();
    let listed: Vec<String> = store
        .list(&tenant)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&minted.record.id) && listed.contains(&second.record.id));

    assert_eq!(
        store
            .revoke(&other_tenant, &minted.record.id, chrono::Utc::now())
            .await
            .unwrap_err(),
        TokenStoreError::NotFound,
        "another tenant cannot revoke it"
    );
    let revoked = store
        .revoke(&tenant, &minted.record.id, chrono::Utc::now())
        .await
        .unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(
        store
            .find_by_fingerprint(&fingerprint(&token))
            .await
            .unwrap()
            .is_none(),
        "revoked tokens do not resolve"
    );
    let again = store
        .revoke(&tenant, &minted.record.id, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        again.revoked_at, revoked.revoked_at,
        "revoking twice keeps the first time"
    );
}

/// A key is fresh once, a repeat is not, a released key is fresh again.
pub async fn idempotency_claims(store: &dyn IdempotencyStore) {
    let key = unique("idem");
    let ttl = Duration::from_secs(60);
    assert!(store.claim(&key, ttl).await.unwrap());
    assert!(!store.claim(&key, ttl).await.unwrap());
    store.release(&key).await.unwrap();
    assert!(
        store.claim(&key, ttl).await.unwrap(),
        "released keys can be claimed again"
    );
}
