//! The channel registry on its store, through the library: a change that cannot be stored
//! leaves the registry as it was and answers 503; a registry that has not re-read the store yet
//! finds a channel another replica created before it calls the id unknown (for the outbox's
//! retries, for an update, for a test message); and unchanged channels keep their notifier
//! across a reload.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aisoc_gateway::channel_store::{
    ChannelSnapshot, ChannelStore, ChannelStoreError, FileChannelStore, StoredChannel, StoredRule,
};
use aisoc_gateway::channels::{
    self, ChannelError, ChannelRegistry, ChannelRequest, CurrentChannels,
};
use aisoc_notify_core::async_trait;
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::routing::Channel;
use aisoc_notify_core::sealed::DataKeys;
use aisoc_notify_core::secret::SecretString;
use aisoc_notify_outbox::RouterSource;
use axum::body::Body;
use axum::http::Request;
use serde_json::json;
use tower::ServiceExt as _;

const ADMIN: &str = "registry-admin";

/// A file store whose writes can be made to fail, as a database going away would.
struct Breakable {
    inner: FileChannelStore,
    broken: AtomicBool,
}

impl Breakable {
    fn check(&self) -> Result<(), ChannelStoreError> {
        if self.broken.load(Ordering::SeqCst) {
            Err(ChannelStoreError::Unavailable("connection refused".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl ChannelStore for Breakable {
    async fn list(&self) -> Result<ChannelSnapshot, ChannelStoreError> {
        self.inner.list().await
    }
    async fn revision(&self) -> Result<u64, ChannelStoreError> {
        self.inner.revision().await
    }
    async fn insert(&self, channel: &StoredChannel) -> Result<(), ChannelStoreError> {
        self.check()?;
        self.inner.insert(channel).await
    }
    async fn update(&self, channel: &StoredChannel) -> Result<bool, ChannelStoreError> {
        self.check()?;
        self.inner.update(channel).await
    }
    async fn delete(&self, id: &str) -> Result<bool, ChannelStoreError> {
        self.check()?;
        self.inner.delete(id).await
    }
    async fn insert_rule(&self, rule: &StoredRule) -> Result<(), ChannelStoreError> {
        self.check()?;
        self.inner.insert_rule(rule).await
    }
    async fn update_rule(&self, rule: &StoredRule) -> Result<bool, ChannelStoreError> {
        self.check()?;
        self.inner.update_rule(rule).await
    }
    async fn delete_rule(&self, id: &str) -> Result<bool, ChannelStoreError> {
        self.check()?;
        self.inner.delete_rule(id).await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

fn scratch() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "channel-registry-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ))
}

fn keys() -> Option<Arc<DataKeys>> {
    Some(Arc::new(
        DataKeys::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap(),
    ))
}

fn delivery() -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap()
}

async fn registry(store: Arc<dyn ChannelStore>) -> Arc<ChannelRegistry> {
    let console = Arc::new(aisoc_notify_core::conformance::stub::RecordingNotifier::new("console"));
    Arc::new(
        ChannelRegistry::load(Channel::new("console", console), delivery(), store)
            .await
            .unwrap(),
    )
}

fn webhook(name: &str) -> ChannelRequest {
    serde_json::from_value(json!({
        "channel_type": "webhook",
        "name": name,
        "config": {"url": "http://127.0.0.1:9/hook"},
    }))
    .unwrap()
}

#[tokio::test]
async fn a_change_the_store_refuses_leaves_the_registry_as_it_was_and_answers_503() {
    let dir = scratch();
    let store = Arc::new(Breakable {
        inner: FileChannelStore::open(&dir, keys()).await.unwrap(),
        broken: AtomicBool::new(false),
    });
    let registry = registry(store.clone()).await;
    let kept = registry.create(&webhook("kept")).await.unwrap();

    store.broken.store(true, Ordering::SeqCst);
    assert!(matches!(
        registry.create(&webhook("lost")).await,
        Err(ChannelError::Store(ChannelStoreError::Unavailable(_)))
    ));
    assert!(matches!(
        registry.update(&kept.id, &webhook("renamed")).await,
        Err(ChannelError::Store(_))
    ));
    assert!(matches!(
        registry.delete(&kept.id).await,
        Err(ChannelError::Store(_))
    ));
    let names: Vec<String> = registry.list().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["kept"], "memory unchanged");

    let app = channels::router(
        registry.clone(),
        Arc::new(SecretString::from(ADMIN.to_owned())),
    );
    let answer = app
        .oneshot(
            Request::post("/v1/settings/notifications")
                .header("authorization", format!("Bearer {ADMIN}"))
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"channel_type": "webhook", "name": "x", "config": {"url": "http://127.0.0.1:9/x"}})
                        .to_string(),
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    let body = axum::body::to_bytes(answer.into_body(), 1 << 16)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&body).contains("channel store is unavailable"));

    // A restart sees what was stored, and only that.
    store.broken.store(false, Ordering::SeqCst);
    let restarted = registry_on(&dir).await;
    let listed = restarted.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, kept.id);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn registry_on(dir: &std::path::Path) -> Arc<ChannelRegistry> {
    registry(Arc::new(FileChannelStore::open(dir, keys()).await.unwrap())).await
}

#[tokio::test]
async fn a_registry_behind_the_store_finds_a_channel_another_replica_created_before_giving_up() {
    let dir = scratch();
    let a = registry_on(&dir).await;
    let b = registry_on(&dir).await;
    let created = a.create(&webhook("made on a")).await.unwrap();
    assert!(b.list().is_empty(), "b has not re-read the store");

    // The outbox's worker: a retry naming the channel re-reads before dead-lettering it.
    let source = CurrentChannels(b.clone());
    assert!(
        !source
            .current()
            .channels()
            .iter()
            .any(|c| c.id == created.id)
    );
    let refreshed = source.refreshed().await.unwrap();
    assert!(refreshed.channels().iter().any(|c| c.id == created.id));

    // An update or a test of an id made elsewhere re-reads too.
    let c = registry_on(&dir).await;
    let other = a.create(&webhook("also made on a")).await.unwrap();
    let renamed = c.update(&other.id, &webhook("renamed on c")).await.unwrap();
    assert_eq!(renamed.id, other.id);
    assert!(a.refresh().await.unwrap());
    assert!(a.list().iter().any(|v| v.name == "renamed on c"));
    assert!(matches!(
        c.update("ch_nowhere", &webhook("x")).await,
        Err(ChannelError::NotFound)
    ));

    // Removed elsewhere: gone here once re-read, and deleting it again is 404.
    a.delete(&created.id).await.unwrap();
    assert!(b.refresh().await.unwrap());
    assert!(!b.list().iter().any(|v| v.id == created.id));
    assert!(matches!(
        b.delete(&created.id).await,
        Err(ChannelError::NotFound)
    ));
    assert!(!b.refresh().await.unwrap(), "nothing new to read");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_unchanged_channel_keeps_its_notifier_across_a_reload() {
    let dir = scratch();
    let a = registry_on(&dir).await;
    let b = registry_on(&dir).await;
    let first = a.create(&webhook("steady")).await.unwrap();
    assert!(b.refresh().await.unwrap());
    let before = b.router().unwrap();
    a.create(&webhook("newcomer")).await.unwrap();
    assert!(b.refresh().await.unwrap());
    let after = b.router().unwrap();
    let notifier = |router: &aisoc_notify_core::routing::NotificationRouter| {
        router
            .channels()
            .iter()
            .find(|c| c.id == first.id)
            .map(|c| Arc::clone(c.notifier()))
            .unwrap()
    };
    assert!(
        Arc::ptr_eq(&notifier(&before), &notifier(&after)),
        "the same notifier (and its pacing) after a reload"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
