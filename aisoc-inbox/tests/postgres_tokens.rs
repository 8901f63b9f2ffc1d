//! The PostgreSQL token store on the real server: the shared contract, fingerprints only,
//! row-level security, and rotation through `invalidate`.

mod support;

use std::sync::Arc;

use aisoc_inbox::conformance;
use aisoc_inbox::postgres::{PgTokenStore, tenant_transaction};
use aisoc_inbox::token::{TokenResolver, TokenStore, fingerprint, mint};
use aisoc_notify_core::secret::ExposeSecret;
use sqlx::Row;
use support::TestDb;

#[tokio::test]
async fn the_token_store_contract_holds_on_postgres() {
    let db = TestDb::new().await;
    let store = PgTokenStore::new(db.pool.clone())
        .await
        .unwrap()
        .with_data_keys(support::data_keys());
    conformance::token_lifecycle(&store).await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_memory_store_passes_the_same_contract() {
    conformance::token_lifecycle(&aisoc_inbox::token::MemoryTokenStore::new()).await;
}

#[tokio::test]
async fn only_the_fingerprint_is_stored() {
    let db = TestDb::new().await;
    let store = PgTokenStore::new(db.pool.clone()).await.unwrap();
    let minted = mint(&store, "acme", "generic-json", None).await.unwrap();
    let token = minted.token.expose_secret();
    let rows = sqlx::query("SELECT t::text AS row_text, fingerprint FROM tenant_inbox_tokens t")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let row_text: String = rows[0].get("row_text");
    let random_part = token.trim_start_matches("aisoc_inbox_");
    assert!(
        !row_text.contains(random_part),
        "the token is nowhere in the table: {row_text}"
    );
    assert_eq!(rows[0].get::<String, _>("fingerprint"), fingerprint(token));
    db.drop_db().await;
}

#[tokio::test]
async fn row_level_security_hides_other_tenants() {
    let db = TestDb::new().await;
    let store = PgTokenStore::new(db.pool.clone()).await.unwrap();
    let acme = mint(&store, "acme", "generic-json", None).await.unwrap();
    let globex = mint(&store, "globex", "generic-json", None).await.unwrap();

    let mut tx = tenant_transaction(&db.pool, "acme").await.unwrap();
    let visible: Vec<String> = sqlx::query("SELECT id FROM tenant_inbox_tokens")
        .fetch_all(&mut *tx)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("id"))
        .collect();
    assert_eq!(
        visible,
        vec![acme.record.id.clone()],
        "only acme's token is visible"
    );
    let explicit = sqlx::query("SELECT id FROM tenant_inbox_tokens WHERE tenant_id = 'globex'")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert!(
        explicit.is_empty(),
        "asking for another tenant's rows returns nothing"
    );
    let updated = sqlx::query("UPDATE tenant_inbox_tokens SET revoked_at = now() WHERE id = $1")
        .bind(&globex.record.id)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(
        updated.rows_affected(),
        0,
        "another tenant's token cannot be revoked"
    );
    let insert = sqlx::query(
        "INSERT INTO tenant_inbox_tokens (id, tenant_id, template_id, fingerprint, created_at)
         VALUES ('tok_evil', 'globex', 'generic-json', repeat('a', 64), now())",
    )
    .execute(&mut *tx)
    .await;
    assert!(
        insert
            .unwrap_err()
            .to_string()
            .contains("row-level security"),
        "cannot write into another tenant"
    );
    tx.rollback().await.unwrap();

    assert!(
        store
            .find_by_fingerprint(&globex.record.fingerprint)
            .await
            .unwrap()
            .is_some(),
        "globex's token still works"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn rotation_takes_effect_on_the_next_request_through_invalidate() {
    let db = TestDb::new().await;
    let store: Arc<dyn TokenStore> = Arc::new(
        PgTokenStore::new(db.pool.clone())
            .await
            .unwrap()
            .with_data_keys(support::data_keys()),
    );
    let resolver = TokenResolver::new(store.clone());
    let old = mint(store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap();
    let old_token = old.token.expose_secret().to_owned();
    assert!(resolver.resolve(&old_token).await.unwrap().is_some());
    assert_eq!(resolver.cache_size().await, 1);

    // Another node revokes it in the database: this node's cache still has it...
    store
        .revoke("acme", &old.record.id, chrono::Utc::now())
        .await
        .unwrap();
    assert!(
        resolver.resolve(&old_token).await.unwrap().is_some(),
        "cached for up to 60 s"
    );
    // ...until the rotation flow calls invalidate.
    resolver.invalidate(&old_token).await;
    assert!(resolver.resolve(&old_token).await.unwrap().is_none());

    // rotate() does both: a working new token, the old one gone at once.
    let current = mint(
        store.as_ref(),
        "acme",
        "generic-json",
        Some("secret-secret-secret".into()),
    )
    .await
    .unwrap();
    let current_token = current.token.expose_secret().to_owned();
    assert!(resolver.resolve(&current_token).await.unwrap().is_some());
    let rotated = resolver.rotate("acme", &current.record.id).await.unwrap();
    assert!(resolver.resolve(&current_token).await.unwrap().is_none());
    let new_record = resolver
        .resolve(rotated.token.expose_secret())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new_record.template_id, "generic-json");
    assert!(
        new_record.signing_secret.is_some(),
        "the signing secret carries over"
    );
    db.drop_db().await;
}
