//! Inbox signing secrets at rest in PostgreSQL: sealed under `AISOC_DATA_KEY`, bound to their
//! token, opened only in the process; refused without a key; legacy plaintext and secrets under
//! a rotated-out key sealed again on first read.

mod support;

use std::sync::Arc;

use aisoc_inbox::postgres::PgTokenStore;
use aisoc_inbox::token::{TokenRecord, TokenStore, TokenStoreError, fingerprint, mint};
use aisoc_notify_core::sealed::{DataKeys, SealError};
use aisoc_notify_core::secret::ExposeSecret;
use sqlx::{PgPool, Row};
use support::TestDb;

const MARKER: &str = "MARKER-inbox-signing-secret-7f3a";
/// Another key, 32 bytes of 0xff, for rotation.
const K2: &str = "k2://////////////////////////////////////////8=";

async fn keyed_store(pool: &PgPool, keys: &str) -> PgTokenStore {
    PgTokenStore::new(pool.clone())
        .await
        .unwrap()
        .with_data_keys(Arc::new(DataKeys::parse(keys).unwrap()))
}

async fn stored_secret(pool: &PgPool, token_id: &str) -> Option<String> {
    sqlx::query("SELECT signing_secret FROM tenant_inbox_tokens WHERE id = $1")
        .bind(token_id)
        .fetch_one(pool)
        .await
        .unwrap()
        .get("signing_secret")
}

fn secret_of(record: &TokenRecord) -> Option<String> {
    record
        .signing_secret
        .as_ref()
        .map(|s| s.expose_secret().to_owned())
}

/// Writes a row the way a version before sealing did: the secret in clear (the trigger that
/// now refuses that is switched off for the insert).
async fn insert_legacy_plaintext(pool: &PgPool, id: &str, token: &str, secret: &str) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "ALTER TABLE tenant_inbox_tokens DISABLE TRIGGER tenant_inbox_tokens_sealed_secret",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO tenant_inbox_tokens (id, tenant_id, template_id, fingerprint, signing_secret, created_at)
         VALUES ($1, 'acme', 'generic-json', $2, $3, now())",
    )
    .bind(id)
    .bind(fingerprint(token))
    .bind(secret)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("ALTER TABLE tenant_inbox_tokens ENABLE TRIGGER tenant_inbox_tokens_sealed_secret")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_signing_secret_is_stored_sealed_and_the_resolver_function_returns_only_ciphertext() {
    let db = TestDb::new().await;
    let store = keyed_store(&db.pool, support::DATA_KEY).await;
    let minted = mint(&store, "acme", "generic-json", Some(MARKER.into()))
        .await
        .unwrap();

    let table = sqlx::query("SELECT t::text AS row_text FROM tenant_inbox_tokens t")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .get::<String, _>("row_text");
    assert!(
        !table.contains(MARKER),
        "the secret is not in the table: {table}"
    );
    let stored = stored_secret(&db.pool, &minted.record.id).await.unwrap();
    assert!(stored.starts_with("sealed:v1:k1:"), "{stored}");

    let resolved: Option<String> =
        sqlx::query("SELECT signing_secret FROM aisoc_resolve_inbox_token($1)")
            .bind(&minted.record.fingerprint)
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .get("signing_secret");
    assert_eq!(resolved.as_deref(), Some(stored.as_str()));

    let found = store
        .find_by_fingerprint(&minted.record.fingerprint)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        secret_of(&found).as_deref(),
        Some(MARKER),
        "opened in the process"
    );
    assert_eq!(
        secret_of(&store.list("acme").await.unwrap()[0]).as_deref(),
        Some(MARKER)
    );
    db.drop_db().await;
}

#[tokio::test]
async fn without_a_key_a_secret_is_refused_naming_the_setting_and_unsigned_tokens_still_work() {
    let db = TestDb::new().await;
    let store = PgTokenStore::new(db.pool.clone()).await.unwrap();
    let refused = mint(&store, "acme", "generic-json", Some(MARKER.into()))
        .await
        .unwrap_err();
    assert_eq!(refused, TokenStoreError::KeyRequired);
    let message = refused.to_string();
    assert!(message.contains("AISOC_DATA_KEY"), "{message}");
    assert!(!message.contains(MARKER), "{message}");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM tenant_inbox_tokens")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing half-written");

    let unsigned = mint(&store, "acme", "generic-json", None).await.unwrap();
    assert!(
        store
            .find_by_fingerprint(&unsigned.record.fingerprint)
            .await
            .unwrap()
            .is_some()
    );
    db.drop_db().await;
}

#[tokio::test]
async fn the_table_refuses_a_secret_written_in_clear() {
    let db = TestDb::new().await;
    PgTokenStore::new(db.pool.clone()).await.unwrap();
    let refused = sqlx::query(
        "INSERT INTO tenant_inbox_tokens (id, tenant_id, template_id, fingerprint, signing_secret, created_at)
         VALUES ('tok_old', 'acme', 'generic-json', repeat('b', 64), $1, now())",
    )
    .bind(MARKER)
    .execute(&db.pool)
    .await
    .unwrap_err()
    .to_string();
    assert!(refused.contains("must be sealed"), "{refused}");
    assert!(!refused.contains(MARKER), "{refused}");
    db.drop_db().await;
}

#[tokio::test]
async fn a_legacy_plaintext_secret_keeps_working_and_is_sealed_on_first_read() {
    let db = TestDb::new().await;
    let token = "aisoc_inbox_legacyplaintexttoken";
    let keyless = PgTokenStore::new(db.pool.clone()).await.unwrap();
    insert_legacy_plaintext(&db.pool, "tok_legacy", token, MARKER).await;

    // Without a key it still verifies, as it did before this version.
    let found = keyless
        .find_by_fingerprint(&fingerprint(token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(secret_of(&found).as_deref(), Some(MARKER));
    assert_eq!(
        stored_secret(&db.pool, "tok_legacy").await.as_deref(),
        Some(MARKER),
        "nothing to seal with"
    );

    let keyed = keyed_store(&db.pool, support::DATA_KEY).await;
    let found = keyed
        .find_by_fingerprint(&fingerprint(token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(secret_of(&found).as_deref(), Some(MARKER));
    let stored = stored_secret(&db.pool, "tok_legacy").await.unwrap();
    assert!(
        stored.starts_with("sealed:v1:k1:"),
        "sealed on first read: {stored}"
    );
    assert_eq!(
        secret_of(
            &keyed
                .find_by_fingerprint(&fingerprint(token))
                .await
                .unwrap()
                .unwrap()
        )
        .as_deref(),
        Some(MARKER)
    );
    db.drop_db().await;
}

#[tokio::test]
async fn after_a_key_rotation_old_secrets_open_and_are_sealed_again_under_the_new_key() {
    let db = TestDb::new().await;
    let old = keyed_store(&db.pool, support::DATA_KEY).await;
    let listed = mint(&old, "acme", "generic-json", Some(MARKER.into()))
        .await
        .unwrap();

    let rotated = keyed_store(&db.pool, &format!("{K2},{}", support::DATA_KEY)).await;
    let records = rotated.list("acme").await.unwrap();
    assert_eq!(secret_of(&records[0]).as_deref(), Some(MARKER));
    let stored = stored_secret(&db.pool, &listed.record.id).await.unwrap();
    assert!(stored.starts_with("sealed:v1:k2:"), "{stored}");

    // Once resealed, the old key can go.
    let only_k2 = keyed_store(&db.pool, K2).await;
    let found = only_k2
        .find_by_fingerprint(&listed.record.fingerprint)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(secret_of(&found).as_deref(), Some(MARKER));
    db.drop_db().await;
}

#[tokio::test]
async fn a_secret_under_a_missing_key_names_the_key_and_the_token_can_still_be_revoked() {
    let db = TestDb::new().await;
    let old = keyed_store(&db.pool, K2).await;
    let minted = mint(&old, "acme", "generic-json", Some(MARKER.into()))
        .await
        .unwrap();

    let other = keyed_store(&db.pool, support::DATA_KEY).await;
    let failure = other
        .find_by_fingerprint(&minted.record.fingerprint)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &failure,
            TokenStoreError::Sealed { id, source: SealError::UnknownKey { key_id } }
                if id == &minted.record.id && key_id == "k2"
        ),
        "{failure:?}"
    );
    assert!(failure.to_string().contains("AISOC_DATA_KEY"), "{failure}");

    let revoked = other
        .revoke("acme", &minted.record.id, chrono::Utc::now())
        .await
        .unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(revoked.signing_secret.is_none());
    db.drop_db().await;
}

#[tokio::test]
async fn a_sealed_secret_copied_onto_another_token_does_not_open() {
    let db = TestDb::new().await;
    let store = keyed_store(&db.pool, support::DATA_KEY).await;
    let signed = mint(&store, "acme", "generic-json", Some(MARKER.into()))
        .await
        .unwrap();
    let victim = mint(
        &store,
        "acme",
        "generic-json",
        Some("another-secret-of-16".into()),
    )
    .await
    .unwrap();
    sqlx::query("UPDATE tenant_inbox_tokens SET signing_secret = $1 WHERE id = $2")
        .bind(stored_secret(&db.pool, &signed.record.id).await)
        .bind(&victim.record.id)
        .execute(&db.pool)
        .await
        .unwrap();
    let refused = store
        .find_by_fingerprint(&victim.record.fingerprint)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            TokenStoreError::Sealed {
                source: SealError::Refused,
                ..
            }
        ),
        "{refused:?}"
    );
    let store: Arc<dyn TokenStore> = Arc::new(store);
    assert!(
        store.list("acme").await.is_err(),
        "listing does not open it either"
    );
    db.drop_db().await;
}
