//! Idempotency through the real router, with injected faults, against the memory store (time
//! moved by a `ManualClock`) and the Redis store at 127.0.0.1:6379 (short leases, real waits).
//! The promise under test: a key is answered `duplicate` only once its event is stored.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aisoc_inbox::InboxConfig;
use aisoc_inbox::conformance::{PassTime, WallClock};
use aisoc_inbox::limits::{
    Claim, ClaimOutcome, IdempotencyKey, IdempotencyStore, LimitError, MemoryIdempotencyStore,
    RedisIdempotencyStore,
};
use aisoc_inbox::router::router;
use aisoc_inbox::sink::{EventSink, MemorySink, SinkError, SinkEvent};
use aisoc_inbox::token::{TokenRecord, mint};
use aisoc_notify_core::async_trait;
use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_core::secret::ExposeSecret;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Notify, oneshot};
use tower::ServiceExt;

const ALERT: &str = include_str!("fixtures/generic-alert.json");

#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Redis,
}

impl Backend {
    /// A fresh store and the way to let its time pass.
    async fn store(self) -> (Arc<dyn IdempotencyStore>, Arc<dyn PassTime>) {
        match self {
            Backend::Memory => {
                let clock = Arc::new(ManualClock::at_unix(1_800_000_000));
                let store = MemoryIdempotencyStore::default().with_clock(clock.clone());
                (Arc::new(store), clock)
            }
            Backend::Redis => {
                let redis = ::redis::Client::open("redis://127.0.0.1:6379")
                    .unwrap()
                    .get_connection_manager()
                    .await
                    .expect("Redis on 127.0.0.1:6379 (run ./scripts/services)");
                let prefix = format!("aisoc:test:idem:{:016x}", rand::random::<u64>());
                (
                    Arc::new(RedisIdempotencyStore::new(redis).with_prefix(prefix)),
                    Arc::new(WallClock),
                )
            }
        }
    }

    /// A lease for scenarios that wait for one to lapse: the default minute on a clock the test
    /// moves, half a second where Redis keeps the time.
    fn short_lease(self) -> Duration {
        match self {
            Backend::Memory => Duration::from_secs(60),
            Backend::Redis => Duration::from_millis(500),
        }
    }
}

fn past(lease: Duration) -> Duration {
    lease + lease / 2 + Duration::from_millis(50)
}

#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Value,
    retry_after: Option<String>,
}

async fn post(app: &axum::Router, token: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut request = Request::post(format!("/{token}")).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        retry_after,
    }
}

const KEY: &[(&str, &str)] = &[("x-aisoc-idempotency-key", "delivery-42")];

fn assert_accepted(answer: &Answer, events: u64) {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["accepted"], events, "{}", answer.body);
    assert!(answer.body.get("duplicate").is_none(), "{}", answer.body);
}

fn assert_duplicate(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.body,
        json!({"accepted": 0, "template": "generic-json", "dropped": 0, "duplicate": true})
    );
}

fn assert_in_progress(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({"error": "a request with this idempotency key is in progress; retry later"})
    );
    let seconds: u64 = answer
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&seconds), "{seconds}");
}

/// A sink that fails its first `failures` publishes, then stores.
struct FlakySink {
    failures: AtomicUsize,
    stored: MemorySink,
}

#[async_trait]
impl EventSink for FlakySink {
    async fn publish(&self, events: &[SinkEvent]) -> Result<(), SinkError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(SinkError::Unavailable("stream offline".into()));
        }
        self.stored.publish(events).await
    }
}

/// A sink whose first publish waits at a gate: `true` stores it, `false` fails it.
struct GatedSink {
    entered: Notify,
    gate: Mutex<Option<oneshot::Receiver<bool>>>,
    stored: MemorySink,
}

impl GatedSink {
    fn new() -> (Arc<Self>, oneshot::Sender<bool>) {
        let (open, gate) = oneshot::channel();
        let sink = Arc::new(Self {
            entered: Notify::new(),
            gate: Mutex::new(Some(gate)),
            stored: MemorySink::new(),
        });
        (sink, open)
    }
}

#[async_trait]
impl EventSink for GatedSink {
    async fn publish(&self, events: &[SinkEvent]) -> Result<(), SinkError> {
        let gate = self.gate.lock().await.take();
        if let Some(gate) = gate {
            self.entered.notify_one();
            if !gate.await.unwrap() {
                return Err(SinkError::Unavailable("stream offline".into()));
            }
        }
        self.stored.publish(events).await
    }
}

/// A store that tells when a claim was settled, and can fail its first promotions the way a
/// process that dies right after the sink's acknowledgement does.
struct ObservedStore {
    inner: Arc<dyn IdempotencyStore>,
    failed_promotions: AtomicUsize,
    settled: Notify,
}

impl ObservedStore {
    fn new(inner: Arc<dyn IdempotencyStore>, failed_promotions: usize) -> Arc<Self> {
        Arc::new(Self {
            inner,
            failed_promotions: AtomicUsize::new(failed_promotions),
            settled: Notify::new(),
        })
    }
}

#[async_trait]
impl IdempotencyStore for ObservedStore {
    async fn claim(
        &self,
        key: &IdempotencyKey,
        lease: Duration,
    ) -> Result<ClaimOutcome, LimitError> {
        self.inner.claim(key, lease).await
    }

    async fn complete(&self, claim: &Claim, ttl: Duration) -> Result<bool, LimitError> {
        if self
            .failed_promotions
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(LimitError::Backend("the process died here".into()));
        }
        let ours = self.inner.complete(claim, ttl).await;
        self.settled.notify_one();
        ours
    }

    async fn release(&self, claim: &Claim) -> Result<bool, LimitError> {
        let ours = self.inner.release(claim).await;
        self.settled.notify_one();
        ours
    }
}

struct Setup {
    app: axum::Router,
    token: String,
    record: TokenRecord,
    tokens: Arc<aisoc_inbox::token::MemoryTokenStore>,
}

async fn setup(
    sink: Arc<dyn EventSink>,
    store: Arc<dyn IdempotencyStore>,
    lease: Duration,
) -> Setup {
    let config = InboxConfig {
        idempotency_lease: lease,
        ..InboxConfig::default()
    };
    let (inbox, tokens) = support::inbox_with_parts(config, sink, None, store);
    let minted = mint(tokens.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap();
    Setup {
        app: router(inbox),
        token: minted.token.expose_secret().to_owned(),
        record: minted.record,
        tokens,
    }
}

async fn a_retry_after_the_sink_failed_is_stored_not_answered_duplicate(backend: Backend) {
    let (store, _) = backend.store().await;
    let sink = Arc::new(FlakySink {
        failures: AtomicUsize::new(1),
        stored: MemorySink::new(),
    });
    let s = setup(sink.clone(), store, Duration::from_secs(60)).await;
    let failed = post(&s.app, &s.token, KEY, ALERT).await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_accepted(&post(&s.app, &s.token, KEY, ALERT).await, 1);
    assert_duplicate(&post(&s.app, &s.token, KEY, ALERT).await);
    assert_eq!(sink.stored.events().len(), 1);
}

async fn a_retry_after_the_claim_holder_crashed_is_stored_once_the_lease_lapsed(backend: Backend) {
    let (store, time) = backend.store().await;
    let lease = backend.short_lease();
    let sink = Arc::new(MemorySink::new());
    let s = setup(sink.clone(), store.clone(), lease).await;
    // What a node that died after claiming leaves behind: a claim nobody will settle.
    let key = IdempotencyKey::new("acme", &s.record.id, "delivery-42");
    let ClaimOutcome::Claimed(_crashed) = store.claim(&key, lease).await.unwrap() else {
        panic!("fresh key")
    };
    assert_in_progress(&post(&s.app, &s.token, KEY, ALERT).await);
    time.pass(past(lease)).await;
    assert_accepted(&post(&s.app, &s.token, KEY, ALERT).await, 1);
    assert_duplicate(&post(&s.app, &s.token, KEY, ALERT).await);
    assert_eq!(sink.events().len(), 1);
}

async fn a_concurrent_duplicate_is_told_to_retry_until_the_first_is_stored(backend: Backend) {
    let (store, _) = backend.store().await;
    let (sink, open) = GatedSink::new();
    let s = setup(sink.clone(), store, Duration::from_secs(60)).await;
    let first = tokio::spawn({
        let (app, token) = (s.app.clone(), s.token.clone());
        async move { post(&app, &token, KEY, ALERT).await }
    });
    sink.entered.notified().await;
    assert_in_progress(&post(&s.app, &s.token, KEY, ALERT).await);
    open.send(true).unwrap();
    assert_accepted(&first.await.unwrap(), 1);
    assert_duplicate(&post(&s.app, &s.token, KEY, ALERT).await);
    assert_eq!(sink.stored.events().len(), 1);
}

async fn a_concurrent_duplicate_is_stored_by_its_retry_when_the_first_fails(backend: Backend) {
    let (store, _) = backend.store().await;
    let (sink, open) = GatedSink::new();
    let s = setup(sink.clone(), store, Duration::from_secs(60)).await;
    let first = tokio::spawn({
        let (app, token) = (s.app.clone(), s.token.clone());
        async move { post(&app, &token, KEY, ALERT).await }
    });
    sink.entered.notified().await;
    assert_in_progress(&post(&s.app, &s.token, KEY, ALERT).await);
    open.send(false).unwrap();
    assert_eq!(first.await.unwrap().status, StatusCode::SERVICE_UNAVAILABLE);
    assert_accepted(&post(&s.app, &s.token, KEY, ALERT).await, 1);
    assert_eq!(sink.stored.events().len(), 1);
}

async fn a_caller_that_hangs_up_mid_publish_still_settles_its_claim(backend: Backend) {
    let (store, _) = backend.store().await;
    let observed = ObservedStore::new(store, 0);
    let (sink, open) = GatedSink::new();
    let s = setup(sink.clone(), observed.clone(), Duration::from_secs(60)).await;
    let first = tokio::spawn({
        let (app, token) = (s.app.clone(), s.token.clone());
        async move { post(&app, &token, KEY, ALERT).await }
    });
    sink.entered.notified().await;
    first.abort();
    assert!(
        first.await.unwrap_err().is_cancelled(),
        "the caller is gone"
    );
    open.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), observed.settled.notified())
        .await
        .expect("the claim is settled although nobody waits for the answer");
    assert_duplicate(&post(&s.app, &s.token, KEY, ALERT).await);
    assert_eq!(sink.stored.events().len(), 1);
}

async fn two_tokens_of_one_tenant_do_not_share_idempotency_keys(backend: Backend) {
    let (store, _) = backend.store().await;
    let sink = Arc::new(MemorySink::new());
    let s = setup(sink.clone(), store, Duration::from_secs(60)).await;
    let other = mint(s.tokens.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap()
        .token;
    assert_accepted(&post(&s.app, &s.token, KEY, ALERT).await, 1);
    assert_accepted(&post(&s.app, other.expose_secret(), KEY, ALERT).await, 1);
    assert_duplicate(&post(&s.app, &s.token, KEY, ALERT).await);
    assert_duplicate(&post(&s.app, other.expose_secret(), KEY, ALERT).await);
    assert_eq!(sink.events().len(), 2);
}

async fn a_standard_webhooks_id_is_the_key_when_no_aisoc_key_is_given(backend: Backend) {
    let (store, _) = backend.store().await;
    let sink = Arc::new(MemorySink::new());
    let s = setup(sink.clone(), store, Duration::from_secs(60)).await;
    let webhook_id = [("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")];
    assert_accepted(&post(&s.app, &s.token, &webhook_id, ALERT).await, 1);
    assert_duplicate(&post(&s.app, &s.token, &webhook_id, ALERT).await);
    assert_accepted(
        &post(&s.app, &s.token, &[("webhook-id", "msg_other")], ALERT).await,
        1,
    );
    let both = [
        ("x-aisoc-idempotency-key", "explicit"),
        ("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"),
    ];
    assert_accepted(&post(&s.app, &s.token, &both, ALERT).await, 1);
    assert_duplicate(
        &post(
            &s.app,
            &s.token,
            &[("x-aisoc-idempotency-key", "explicit")],
            ALERT,
        )
        .await,
    );
    assert_eq!(
        sink.events().len(),
        3,
        "the explicit key wins over webhook-id"
    );
}

async fn a_republish_after_a_crash_between_the_ack_and_the_promotion_is_stored_once_by_jetstream(
    backend: Backend,
) {
    use aisoc_inbox::sink::{NatsSink, NatsSinkConfig};
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("NATS on 127.0.0.1:4222 (run ./scripts/services)");
    let id = rand::random::<u32>();
    let config = NatsSinkConfig {
        stream: format!("AISOC_TEST_{id:08x}"),
        subject_prefix: format!("aisoc.test{id:08x}"),
        duplicate_window: Duration::from_secs(3600),
        ack_timeout: Duration::from_secs(2),
        ..NatsSinkConfig::default()
    };
    let sink = Arc::new(NatsSink::new(client.clone(), config.clone()).await.unwrap());
    let (store, time) = backend.store().await;
    let lease = backend.short_lease();
    let s = setup(sink, ObservedStore::new(store, 1), lease).await;
    let body = "{\"title\":\"one\"}\n{\"title\":\"two\"}\n";

    // The sink acknowledged, then the promotion never happened: the sender was told 200 and
    // the key stays in progress until its lease lapses.
    assert_accepted(&post(&s.app, &s.token, KEY, body).await, 2);
    assert_in_progress(&post(&s.app, &s.token, KEY, body).await);
    time.pass(past(lease)).await;
    assert_accepted(&post(&s.app, &s.token, KEY, body).await, 2);
    assert_duplicate(&post(&s.app, &s.token, KEY, body).await);

    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(&config.stream).await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        2,
        "the republished message ids were dropped by the stream's duplicate window"
    );
    jetstream.delete_stream(&config.stream).await.unwrap();
}

/// A sink whose first publish never answers.
struct StalledOnceSink {
    calls: AtomicUsize,
    stored: MemorySink,
}

#[async_trait]
impl EventSink for StalledOnceSink {
    async fn publish(&self, events: &[SinkEvent]) -> Result<(), SinkError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            std::future::pending::<()>().await;
        }
        self.stored.publish(events).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_sink_that_never_answers_is_given_up_at_the_lease_and_the_retry_is_stored() {
    let (store, _) = Backend::Memory.store().await;
    let sink = Arc::new(StalledOnceSink {
        calls: AtomicUsize::new(0),
        stored: MemorySink::new(),
    });
    let s = setup(sink.clone(), store, Duration::from_secs(60)).await;
    let started = tokio::time::Instant::now();
    let stalled = post(&s.app, &s.token, KEY, ALERT).await;
    assert_eq!(stalled.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        stalled.body["error"],
        "inbox temporarily unavailable: the event sink did not acknowledge within 60s"
    );
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(60),
        "bounded by the lease"
    );
    assert_accepted(&post(&s.app, &s.token, KEY, ALERT).await, 1);
    assert_duplicate(&post(&s.app, &s.token, KEY, ALERT).await);
    assert_eq!(sink.stored.events().len(), 1);
}

#[tokio::test]
async fn hec_clients_are_told_server_busy_with_retry_after_while_a_key_is_in_progress() {
    let (sink, open) = GatedSink::new();
    let (inbox, tokens) = support::inbox_with(InboxConfig::default(), sink.clone(), None);
    let token = mint(tokens.as_ref(), "acme", "splunk-hec", None)
        .await
        .unwrap()
        .token
        .expose_secret()
        .to_owned();
    let app = aisoc_inbox::router::hec_router(inbox);
    let request = || {
        Request::post("/services/collector/event")
            .header("authorization", format!("Splunk {token}"))
            .header("x-aisoc-idempotency-key", "batch-7")
            .body(Body::from(r#"{"event":"one"}"#))
            .unwrap()
    };
    let first = tokio::spawn(app.clone().oneshot(request()));
    sink.entered.notified().await;
    let busy = app.clone().oneshot(request()).await.unwrap();
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(busy.headers().contains_key("retry-after"));
    let reply: Value = serde_json::from_slice(
        &axum::body::to_bytes(busy.into_body(), 1 << 16)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(reply, json!({"text": "Server is busy", "code": 9}));
    open.send(true).unwrap();
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(sink.stored.events().len(), 1);
}

#[test]
fn a_blank_or_overlong_key_is_no_key_and_webhook_id_stands_in_for_a_missing_one() {
    let headers = |pairs: &[(&'static str, String)]| {
        let mut map = axum::http::HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    };
    let key = |pairs: &[(&'static str, String)]| {
        IdempotencyKey::from_headers(&headers(pairs), "acme", "token-1")
    };
    assert_eq!(key(&[]), None);
    assert_eq!(key(&[("x-aisoc-idempotency-key", "  ".into())]), None);
    assert_eq!(
        key(&[("x-aisoc-idempotency-key", "k".repeat(257))]),
        None,
        "longer than 256 bytes"
    );
    assert_eq!(
        key(&[("x-aisoc-idempotency-key", " k1 ".into())]),
        Some(IdempotencyKey::new("acme", "token-1", "k1"))
    );
    assert_eq!(
        key(&[("webhook-id", "msg_1".into())]),
        Some(IdempotencyKey::new("acme", "token-1", "msg_1"))
    );
    assert_eq!(
        key(&[
            ("x-aisoc-idempotency-key", "k1".into()),
            ("webhook-id", "msg_1".into())
        ]),
        Some(IdempotencyKey::new("acme", "token-1", "k1"))
    );
}

#[test]
fn keys_are_digests_that_no_choice_of_separators_makes_collide() {
    let key = IdempotencyKey::new("acme", "token-1", "k");
    assert_eq!(key.as_str().len(), 64);
    assert!(key.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(key.msg_id(3), format!("{}-3", key.as_str()));
    let variants = [
        IdempotencyKey::new("acme", "token-1", "k"),
        IdempotencyKey::new("acme", "token-2", "k"),
        IdempotencyKey::new("acme:token-1", "", "k"),
        IdempotencyKey::new("acme", "token-1:k", ""),
        IdempotencyKey::new("acme", "", "token-1:k"),
        IdempotencyKey::new("other", "token-1", "k"),
    ];
    let distinct: std::collections::HashSet<&str> =
        variants.iter().map(IdempotencyKey::as_str).collect();
    assert_eq!(distinct.len(), variants.len());
}

macro_rules! against {
    ($backend:ident: $($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $scenario() {
                super::$scenario(super::Backend::$backend).await;
            }
        )*
    };
}

macro_rules! scenarios {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            against!(Memory: $($scenario),*);
        }
        mod redis {
            against!(Redis: $($scenario),*);
        }
    };
}

scenarios!(
    a_retry_after_the_sink_failed_is_stored_not_answered_duplicate,
    a_retry_after_the_claim_holder_crashed_is_stored_once_the_lease_lapsed,
    a_concurrent_duplicate_is_told_to_retry_until_the_first_is_stored,
    a_concurrent_duplicate_is_stored_by_its_retry_when_the_first_fails,
    a_caller_that_hangs_up_mid_publish_still_settles_its_claim,
    two_tokens_of_one_tenant_do_not_share_idempotency_keys,
    a_standard_webhooks_id_is_the_key_when_no_aisoc_key_is_given,
    a_republish_after_a_crash_between_the_ack_and_the_promotion_is_stored_once_by_jetstream,
);

/// Acknowledges and drops: the measurement is the pipeline and the store, not a buffer.
struct DiscardSink;

#[async_trait]
impl EventSink for DiscardSink {
    async fn publish(&self, _: &[SinkEvent]) -> Result<(), SinkError> {
        Ok(())
    }
}

/// What a key costs per request: claim and promotion (two Lua round trips on Redis).
/// `cargo test --release -p aisoc-inbox --all-features --test idempotency -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run on demand"]
async fn measure_the_cost_of_a_key_per_request() {
    const REQUESTS: usize = 2_000;
    for backend in [Backend::Memory, Backend::Redis] {
        let (store, _) = backend.store().await;
        let (inbox, tokens) = support::inbox_with_parts(
            InboxConfig {
                rate_limit_per_minute: u32::MAX,
                ..InboxConfig::default()
            },
            Arc::new(DiscardSink),
            None,
            store,
        );
        let token = mint(tokens.as_ref(), "acme", "generic-json", None)
            .await
            .unwrap()
            .token;
        let record = inbox.authenticate(token.expose_secret()).await.unwrap();
        let body = bytes::Bytes::from_static(ALERT.as_bytes());
        for keyed in [false, true] {
            // On a worker thread, as an HTTP handler runs.
            let (inbox, record, body) = (inbox.clone(), record.clone(), body.clone());
            let elapsed = tokio::spawn(async move {
                let started = std::time::Instant::now();
                for i in 0..REQUESTS {
                    let mut headers = axum::http::HeaderMap::new();
                    if keyed {
                        headers.insert(
                            "x-aisoc-idempotency-key",
                            format!("k-{i}-{}", rand::random::<u64>()).parse().unwrap(),
                        );
                    }
                    let receipt = inbox
                        .accept(
                            &record,
                            aisoc_inbox::InboxRoute::Webhook,
                            &headers,
                            body.clone(),
                        )
                        .await
                        .unwrap();
                    assert_eq!(receipt.accepted, 1);
                }
                started.elapsed()
            })
            .await
            .unwrap();
            let per_request = elapsed / REQUESTS as u32;
            eprintln!(
                "{backend:?} store, {}: {per_request:?} per request ({REQUESTS} sequential)",
                if keyed { "with a key" } else { "without a key" }
            );
        }
    }
}
