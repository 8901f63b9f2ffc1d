//! Inbox token isolation hardening (issue #15): row-level security is FORCEd on the token table,
//! and the token resolver (SECURITY DEFINER) has a fixed search_path with pg_temp last and is not
//! executable by PUBLIC, while tokens still resolve.

mod support;

use aisoc_inbox::postgres::PgTokenStore;
use aisoc_inbox::token::{TokenStore, fingerprint, mint};
use aisoc_notify_core::secret::ExposeSecret;
use sqlx::Row;
use support::TestDb;

#[tokio::test]
async fn the_token_table_forces_row_level_security_and_the_resolver_is_narrow() {
    let db = TestDb::new().await;
    let store = PgTokenStore::new(db.pool.clone()).await.unwrap();

    let table = sqlx::query(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'tenant_inbox_tokens'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(table.get::<bool, _>("relrowsecurity"));
    assert!(
        table.get::<bool, _>("relforcerowsecurity"),
        "FORCE ROW LEVEL SECURITY"
    );

    let resolver = sqlx::query(
        "SELECT prosecdef, array_to_string(proconfig, ';') AS config,
                has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute,
                pg_get_userbyid(proowner) AS owner
         FROM pg_proc p WHERE proname = 'aisoc_resolve_inbox_token'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(resolver.get::<bool, _>("prosecdef"));
    assert_eq!(
        resolver.get::<Option<String>, _>("config").as_deref(),
        Some("search_path=pg_catalog, public, pg_temp")
    );
    assert!(
        !resolver.get::<bool, _>("public_execute"),
        "PUBLIC may not execute the resolver"
    );
    assert_eq!(resolver.get::<String, _>("owner"), "aisoc_inbox_resolver");

    // Tokens still resolve through it, with the table's owner held to the tenant policy.
    let minted = mint(&store, "acme", "generic-json", None).await.unwrap();
    let found = store
        .find_by_fingerprint(&fingerprint(minted.token.expose_secret()))
        .await
        .unwrap()
        .expect("the token resolves");
    assert_eq!(found.tenant_id, "acme");
    db.drop_db().await;
}
