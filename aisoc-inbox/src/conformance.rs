//! Contracts for the inbox's store traits (feature `test-util`), run against every backend.

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_core::secret::ExposeSecret;

use crate::limits::{Claim, ClaimOutcome, IdempotencyKey, IdempotencyStore};
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

/// Moves a store's time forward: a [`ManualClock`] for the memory store, a real (bounded)
/// wait for a server that keeps its own time, such as Redis ([`WallClock`]).
#[aisoc_notify_core::async_trait]
pub trait PassTime: Send + Sync {
    /// Lets `by` pass.
    async fn pass(&self, by: Duration);
}

#[aisoc_notify_core::async_trait]
impl PassTime for ManualClock {
    async fn pass(&self, by: Duration) {
        self.advance(by);
    }
}

/// Real time, for stores whose server keeps the time; use short leases with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

#[aisoc_notify_core::async_trait]
impl PassTime for WallClock {
    async fn pass(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }
}

/// Beyond a lease or TTL: far enough past it that no store's rounding keeps the key.
fn past(duration: Duration) -> Duration {
    duration + duration / 2 + Duration::from_millis(50)
}

fn fresh_key() -> IdempotencyKey {
    IdempotencyKey::new(&unique("tenant"), &unique("token"), &unique("key"))
}

fn claimed(outcome: ClaimOutcome) -> Claim {
    match outcome {
        ClaimOutcome::Claimed(claim) => claim,
        other => panic!("expected the key to be claimed, got {other:?}"),
    }
}

/// Every idempotency contract below, with claims of `lease` (short with [`WallClock`]).
pub async fn idempotency_contract(
    store: Arc<dyn IdempotencyStore>,
    time: &dyn PassTime,
    lease: Duration,
) {
    idempotency_claims(store.as_ref(), lease).await;
    idempotency_release(store.as_ref(), lease).await;
    idempotency_crashed_claims_lapse(store.as_ref(), time, lease).await;
    idempotency_done_keys_expire(store.as_ref(), time, lease).await;
    idempotency_keys_are_scoped(store.as_ref(), lease).await;
    idempotency_one_of_concurrent_claims_wins(store, lease).await;
}

/// A free key is claimed; while held it is in progress; once completed it is done.
pub async fn idempotency_claims(store: &dyn IdempotencyStore, lease: Duration) {
    let key = fresh_key();
    let claim = claimed(store.claim(&key, lease).await.unwrap());
    assert_eq!(claim.key(), &key);
    match store.claim(&key, lease).await.unwrap() {
        ClaimOutcome::InProgress { held_for } => assert!(
            held_for > Duration::ZERO && held_for <= lease,
            "the rest of the lease, got {held_for:?}"
        ),
        other => panic!("a held key is in progress, not {other:?}"),
    }
    assert!(
        store.complete(&claim, 4 * lease).await.unwrap(),
        "the holder completes its own claim"
    );
    for _ in 0..2 {
        assert_eq!(store.claim(&key, lease).await.unwrap(), ClaimOutcome::Done);
    }
}

/// A released key is claimed again, and only the holder's claim can release it.
pub async fn idempotency_release(store: &dyn IdempotencyStore, lease: Duration) {
    let key = fresh_key();
    let first = claimed(store.claim(&key, lease).await.unwrap());
    assert!(store.release(&first).await.unwrap());
    let second = claimed(store.claim(&key, lease).await.unwrap());
    assert_ne!(
        first.nonce(),
        second.nonce(),
        "every claim has its own nonce"
    );
    assert!(
        !store.release(&first).await.unwrap(),
        "a released claim cannot release its successor"
    );
    assert!(matches!(
        store.claim(&key, lease).await.unwrap(),
        ClaimOutcome::InProgress { .. }
    ));
    assert!(store.release(&second).await.unwrap());
    claimed(store.claim(&key, lease).await.unwrap());
}

/// A claim nobody settles (its holder crashed) lapses with its lease; the stale holder can no
/// longer release the key, but its late completion still marks it done (its events are stored).
pub async fn idempotency_crashed_claims_lapse(
    store: &dyn IdempotencyStore,
    time: &dyn PassTime,
    lease: Duration,
) {
    let key = fresh_key();
    let crashed = claimed(store.claim(&key, lease).await.unwrap());
    time.pass(past(lease)).await;
    let retry = claimed(store.claim(&key, lease).await.unwrap());
    assert!(!store.release(&crashed).await.unwrap());
    assert!(
        matches!(
            store.claim(&key, lease).await.unwrap(),
            ClaimOutcome::InProgress { .. }
        ),
        "the stale holder's release left the retry's claim alone"
    );
    assert!(
        !store.complete(&crashed, 4 * lease).await.unwrap(),
        "the stale holder is told its claim had lapsed"
    );
    assert_eq!(store.claim(&key, lease).await.unwrap(), ClaimOutcome::Done);
    assert!(
        !store.release(&retry).await.unwrap(),
        "a failed retry cannot undo a stored event"
    );
    assert_eq!(store.claim(&key, lease).await.unwrap(), ClaimOutcome::Done);
}

/// A done key is remembered for its TTL, then forgotten.
pub async fn idempotency_done_keys_expire(
    store: &dyn IdempotencyStore,
    time: &dyn PassTime,
    lease: Duration,
) {
    let key = fresh_key();
    let ttl = 2 * lease;
    let claim = claimed(store.claim(&key, lease).await.unwrap());
    assert!(store.complete(&claim, ttl).await.unwrap());
    time.pass(lease).await;
    assert_eq!(
        store.claim(&key, lease).await.unwrap(),
        ClaimOutcome::Done,
        "done outlives the lease"
    );
    time.pass(past(ttl) - lease).await;
    claimed(store.claim(&key, lease).await.unwrap());
}

/// Keys of two tokens of one tenant, and keys whose parts only differ in where a separator
/// falls, are different keys.
pub async fn idempotency_keys_are_scoped(store: &dyn IdempotencyStore, lease: Duration) {
    let tenant = unique("tenant");
    let key = unique("delivery");
    let token_a = IdempotencyKey::new(&tenant, "token-a", &key);
    let token_b = IdempotencyKey::new(&tenant, "token-b", &key);
    let claim = claimed(store.claim(&token_a, lease).await.unwrap());
    assert!(store.complete(&claim, 4 * lease).await.unwrap());
    claimed(store.claim(&token_b, lease).await.unwrap());

    let joined_left = IdempotencyKey::new(&format!("{tenant}:x"), "y", &key);
    let joined_right = IdempotencyKey::new(&tenant, "x:y", &key);
    assert_ne!(joined_left, joined_right);
    claimed(store.claim(&joined_left, lease).await.unwrap());
    claimed(store.claim(&joined_right, lease).await.unwrap());
}

/// Of many concurrent claims on one key, exactly one wins.
pub async fn idempotency_one_of_concurrent_claims_wins(
    store: Arc<dyn IdempotencyStore>,
    lease: Duration,
) {
    let key = fresh_key();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (store, key) = (store.clone(), key.clone());
        tasks.spawn(async move { store.claim(&key, lease).await.unwrap() });
    }
    let mut winners = 0;
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            ClaimOutcome::Claimed(_) => winners += 1,
            ClaimOutcome::InProgress { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(winners, 1);
}
