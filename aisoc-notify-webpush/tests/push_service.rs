//! Sending to a mock push service: every status, eviction from both stores, Retry-After, and a
//! 10,000-device fan-out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::notification::Target;
use aisoc_notify_core::retry::RetryClass;
use aisoc_notify_webpush::conformance::browser_subscription;
use aisoc_notify_webpush::ece::EncryptError;
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::manager::{MemoryOnCallStatus, OnCallStatus, PushManager, PushMessage};
use aisoc_notify_webpush::redis_store::RedisSubscriptionStore;
use aisoc_notify_webpush::send::{PushError, PushOptions, Urgency, WebPushSender};
use aisoc_notify_webpush::store::{KeyLayout, MemorySubscriptionStore, SubscriptionStore};
use aisoc_notify_webpush::subscription::SubscriptionRecord;
use aisoc_notify_webpush::vapid::VapidSigner;
use wiremock::matchers::{header, header_exists, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn sender(max_attempts: u32) -> WebPushSender {
    let delivery = DeliveryClient::new(DeliveryConfig {
        retry: RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(5),
        },
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap();
    let vapid = VapidSigner::new(VapidKeyPair::generate(), "mailto:soc@example.com").unwrap();
    WebPushSender::new(vapid).unwrap().with_delivery(delivery)
}

fn record(server: &MockServer, path: &str, tenant: &str, user: &str) -> SubscriptionRecord {
    let endpoint = format!("{}{path}", server.uri());
    SubscriptionRecord::new(
        &browser_subscription(&endpoint),
        tenant,
        user,
        &[],
        chrono::Utc::now(),
    )
    .unwrap()
}

fn message() -> PushMessage {
    PushMessage {
        title: "P0".into(),
        body: "Ransomware on web-01".into(),
        url: None,
        tag: None,
        topic: None,
        severity: None,
    }
}

#[tokio::test]
async fn a_201_is_delivered_with_every_required_header() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/push/dev1"))
        .and(header("content-encoding", "aes128gcm"))
        .and(header("ttl", "60"))
        .and(header("urgency", "high"))
        .and(header("topic", "case-42"))
        .and(header_exists("authorization"))
        .respond_with(
            ResponseTemplate::new(201).insert_header("Location", "https://push.example/m/1"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sender = sender(1);
    let sub = record(&server, "/push/dev1", "acme", "alice");
    let options = PushOptions {
        ttl: Duration::from_secs(60),
        urgency: Urgency::High,
        topic: Some("case-42".into()),
    };
    let receipt = sender
        .send(&sub, b"{\"title\":\"x\"}", &options)
        .await
        .unwrap();
    assert_eq!(receipt.status, 201);
    assert_eq!(
        receipt.location.as_deref(),
        Some("https://push.example/m/1")
    );

    let request = &server.received_requests().await.unwrap()[0];
    let authorization = request.headers["authorization"].to_str().unwrap();
    assert!(authorization.starts_with("vapid t=ey"), "{authorization}");
    assert!(authorization.ends_with(&format!(
        ", k={}",
        sender.vapid().keys().public_key_base64()
    )));
    assert_eq!(request.body.len(), 86 + 13 + 1 + 16, "one aes128gcm record");
}

#[tokio::test]
async fn every_status_maps_to_its_outcome_and_class() {
    let server = MockServer::start().await;
    for (path, status, body) in [
        ("/gone404", 404, "not found"),
        ("/gone410", 410, "expired"),
        ("/big", 413, "too large"),
        ("/bad", 400, "{\"reason\":\"BadJwtToken\"}"),
        (
            "/unauthorized",
            401,
            r#"{"code":401,"errno":109,"error":"Unauthorized","message":"Request did not validate"}"#,
        ),
        (
            "/forbidden",
            403,
            r#"{"error":{"code":403,"message":"invalid VAPID key","status":"PERMISSION_DENIED"}}"#,
        ),
        ("/teapot", 418, "<html>whatever the endpoint says</html>"),
        ("/broken", 500, "stack trace"),
        ("/busy", 503, "maintenance"),
    ] {
        Mock::given(method("POST"))
            .and(wiremock::matchers::path(path))
            .respond_with(ResponseTemplate::new(status).set_body_string(body))
            .mount(&server)
            .await;
    }
    let sender = sender(1);
    let send = |path: &'static str| {
        let sub = record(&server, path, "acme", "alice");
        let sender = sender.clone();
        async move {
            sender
                .send(&sub, b"x", &PushOptions::default())
                .await
                .unwrap_err()
        }
    };
    let gone = send("/gone404").await;
    assert!(matches!(gone, PushError::Gone { status: 404 }), "{gone:?}");
    assert_eq!(gone.retry_class(), RetryClass::Gone);
    assert!(gone.is_gone());
    let gone = send("/gone410").await;
    assert!(matches!(gone, PushError::Gone { status: 410 }), "{gone:?}");
    assert_eq!(gone.retry_class(), RetryClass::Gone);
    let big = send("/big").await;
    assert!(matches!(big, PushError::PayloadTooLarge));
    assert_eq!(big.retry_class(), RetryClass::NonRetryable);
    for (path, status, code, display) in [
        (
            "/bad",
            400,
            Some("BadJwtToken"),
            "push service refused the message (HTTP 400, BadJwtToken)",
        ),
        (
            "/unauthorized",
            401,
            Some("errno 109"),
            "push service refused the message (HTTP 401, errno 109)",
        ),
        (
            "/forbidden",
            403,
            Some("PERMISSION_DENIED"),
            "push service refused the message (HTTP 403, PERMISSION_DENIED)",
        ),
        (
            "/teapot",
            418,
            None,
            "push service refused the message (HTTP 418)",
        ),
    ] {
        let err = send(path).await;
        match &err {
            PushError::Rejected { status: s, code: c } => {
                assert_eq!(*s, status);
                assert_eq!(c.as_deref(), code);
            }
            other => panic!("{path}: {other:?}"),
        }
        assert_eq!(err.retry_class(), RetryClass::NonRetryable, "{path}");
        assert_eq!(err.to_string(), display, "only the status and a short code");
    }
    for path in ["/broken", "/busy"] {
        let err = send(path).await;
        assert_eq!(err.retry_class(), RetryClass::Retryable, "{path}: {err}");
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("stack trace") && !shown.contains("maintenance"),
            "{shown}"
        );
    }
    let bad_topic = PushOptions {
        topic: Some("not a valid topic!".into()),
        ..PushOptions::default()
    };
    let sub = record(&server, "/never", "acme", "alice");
    assert!(matches!(
        sender.send(&sub, b"x", &bad_topic).await,
        Err(PushError::InvalidTopic)
    ));
    let too_big = vec![0u8; 4000];
    let refused = sender
        .send(&sub, &too_big, &PushOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            PushError::Encrypt(EncryptError::PayloadTooLarge { size: 4000, .. })
        ),
        "{refused:?}"
    );
    assert_eq!(refused.retry_class(), RetryClass::NonRetryable);
    let requests = server.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| r.url.path() != "/never"),
        "nothing is sent for a refused topic or an oversized payload"
    );
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let delivery = DeliveryClient::new(DeliveryConfig {
        request_timeout: Duration::from_millis(200),
        retry: RetryPolicy::no_retries(),
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap();
    let sender = sender(1).with_delivery(delivery);
    let slow = sender
        .send(
            &record(&server, "/slow", "acme", "alice"),
            b"x",
            &PushOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(slow.retry_class(), RetryClass::Retryable, "{slow}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = SubscriptionRecord::new(
        &browser_subscription(&format!("http://127.0.0.1:{port}/push/x")),
        "acme",
        "alice",
        &[],
        chrono::Utc::now(),
    )
    .unwrap();
    let refused = sender
        .send(&nobody, b"x", &PushOptions::default())
        .await
        .unwrap_err();
    assert_eq!(refused.retry_class(), RetryClass::Retryable, "{refused}");
}

#[tokio::test]
async fn an_endpoint_in_a_forbidden_range_is_never_contacted() {
    let metadata = SubscriptionRecord::new(
        &browser_subscription("https://169.254.169.254/push/secret-path"),
        "acme",
        "alice",
        &[],
        chrono::Utc::now(),
    )
    .unwrap();
    let err = sender(1)
        .send(&metadata, b"x", &PushOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.retry_class(), RetryClass::NonRetryable);
    assert!(err.to_string().contains("link-local"), "{err}");
    assert!(!format!("{err} {err:?}").contains("secret-path"), "{err:?}");
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after_then_reported_when_it_persists() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/limited"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .mount(&server)
        .await;
    let sender = sender(3);
    let started = Instant::now();
    let receipt = sender
        .send(
            &record(&server, "/slow", "acme", "alice"),
            b"x",
            &PushOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(receipt.attempts, 2);
    assert!(started.elapsed() >= Duration::from_secs(1));
    let err = sender
        .send(
            &record(&server, "/limited", "acme", "alice"),
            b"x",
            &PushOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            PushError::RateLimited {
                retry_after: Some(_)
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.retry_class(),
        RetryClass::Throttled(Duration::from_secs(120))
    );
    assert_eq!(
        err.to_string(),
        "push service is rate limiting (HTTP 429); retry after 120s"
    );
}

async fn eviction_against(store: Arc<dyn SubscriptionStore>) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("^/ok/"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/g404/"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("^/g410/"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&server)
        .await;
    let tenant = format!(
        "tenant-{}",
        aisoc_notify_webpush::subscription::subscription_id(&server.uri())
    );
    let ok = record(&server, "/ok/1", &tenant, "alice");
    let gone_a = record(&server, "/g404/1", &tenant, "alice");
    let gone_b = record(&server, "/g410/1", &tenant, "bob");
    for r in [&ok, &gone_a, &gone_b] {
        store.upsert(r).await.unwrap();
    }
    let manager = PushManager::new(
        store.clone(),
        sender(1),
        Arc::new(MemoryOnCallStatus::new()),
    );
    let target = Target::Tenant {
        tenant_id: tenant.clone(),
    };
    let report = manager
        .send_to_target(&target, &message(), &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(report.outcomes.len(), 3);
    assert_eq!(report.delivered(), 1);
    assert_eq!(report.evicted(), 2);
    assert_eq!(store.get(&gone_a.id).await.unwrap(), None);
    assert_eq!(store.get(&gone_b.id).await.unwrap(), None);
    let left = store.for_target(&target).await.unwrap();
    assert_eq!(
        left.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![ok.id.clone()]
    );
}

#[tokio::test]
async fn gone_subscriptions_are_evicted_from_the_memory_store() {
    eviction_against(Arc::new(MemorySubscriptionStore::new())).await;
}

#[tokio::test]
async fn gone_subscriptions_are_evicted_from_the_redis_store() {
    let store = RedisSubscriptionStore::connect("redis://127.0.0.1:6379")
        .await
        .expect("Redis on 127.0.0.1:6379");
    eviction_against(Arc::new(
        store.with_layout(KeyLayout::with_prefix("aisoc:test:push")),
    ))
    .await;
}

#[tokio::test]
async fn offline_and_snoozed_users_are_skipped() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let store = Arc::new(MemorySubscriptionStore::new());
    for (user, device) in [
        ("alice", "/a"),
        ("bob", "/b"),
        ("carol", "/c"),
        ("dave", "/d"),
    ] {
        store
            .upsert(&record(&server, device, "acme", user))
            .await
            .unwrap();
    }
    let oncall = Arc::new(MemoryOnCallStatus::new());
    oncall.set("acme", "bob", OnCallStatus::Offline);
    oncall.set("acme", "carol", OnCallStatus::Snoozed);
    oncall.set("acme", "dave", OnCallStatus::Busy);
    let manager = PushManager::new(store, sender(1), oncall);
    let report = manager
        .send_to_target(
            &Target::Tenant {
                tenant_id: "acme".into(),
            },
            &message(),
            &PushOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(report.skipped_users, ["bob", "carol"]);
    let mut users: Vec<&str> = report.outcomes.iter().map(|o| o.user_id.as_str()).collect();
    users.sort();
    assert_eq!(users, ["alice", "dave"]);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        2,
        "skipped devices are not contacted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_devices_get_ten_thousand_outcomes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    let store = Arc::new(MemorySubscriptionStore::new());
    let now = chrono::Utc::now();
    // One receiver key pair for all devices keeps set-up cheap; each message still gets its own
    // salt and sender key.
    let template = browser_subscription("https://unused.example/x");
    for i in 0..10_000 {
        let mut subscription = template.clone();
        subscription.endpoint = format!("{}/d/{i}", server.uri());
        let record = SubscriptionRecord::new(
            &subscription,
            "acme",
            &format!("user-{}", i % 500),
            &[],
            now,
        )
        .unwrap();
        store.upsert(&record).await.unwrap();
    }
    let manager = PushManager::new(store, sender(1), Arc::new(MemoryOnCallStatus::new()))
        .with_concurrency(128);
    let started = Instant::now();
    let report = manager
        .send_to_target(
            &Target::Topic {
                tenant_id: "acme".into(),
                topic: "p0_alert".into(),
            },
            &message(),
            &PushOptions::default(),
        )
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(report.outcomes.len(), 10_000);
    assert_eq!(report.delivered(), 10_000);
    eprintln!("fan-out of 10,000 pushes to a local mock push service took {elapsed:?}");
}

/// Over TLS to a push service that speaks HTTP/2, as the real ones do: every push goes on one
/// connection, whole and decryptable headers included, and a gone device is evicted as over
/// HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_to_an_http2_push_service_shares_one_connection() {
    use aisoc_notify_core::tls_peer::{Answer, Protocols, TlsPeer};

    let peer = TlsPeer::start(Protocols::Http2, |request| {
        if request.path == "/push/gone" {
            Answer::status(410)
        } else {
            Answer::status(201).header(
                "location",
                format!("https://push.example/m{}", request.path),
            )
        }
    })
    .await;
    let delivery = DeliveryClient::new(DeliveryConfig {
        trusted_roots: vec![peer.ca_der().to_vec()],
        destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap();
    let vapid = VapidSigner::new(VapidKeyPair::generate(), "mailto:soc@example.com").unwrap();
    let sender = WebPushSender::with_client(vapid, delivery);
    let store = Arc::new(MemorySubscriptionStore::new());
    let paths = (0..199)
        .map(|i| format!("/push/{i}"))
        .chain(["/push/gone".to_owned()]);
    for (i, path) in paths.enumerate() {
        let endpoint = peer.url(&path).to_string();
        let record = SubscriptionRecord::new(
            &browser_subscription(&endpoint),
            "acme",
            &format!("user-{}", i % 20),
            &["p0_alert".to_owned()],
            chrono::Utc::now(),
        )
        .unwrap();
        store.upsert(&record).await.unwrap();
    }
    let manager = PushManager::new(store.clone(), sender, Arc::new(MemoryOnCallStatus::new()));
    let target = Target::Topic {
        tenant_id: "acme".into(),
        topic: "p0_alert".into(),
    };
    let report = manager
        .send_to_target(&target, &message(), &PushOptions::default())
        .await
        .unwrap();
    assert_eq!((report.delivered(), report.evicted()), (199, 1));
    let requests = peer.requests();
    assert_eq!(requests.len(), 200, "each device once");
    assert_eq!(peer.connections(), 1);
    for request in &requests {
        assert_eq!(request.version, http::Version::HTTP_2);
        assert_eq!(request.headers["content-encoding"], "aes128gcm");
        assert!(
            request.headers["authorization"]
                .to_str()
                .unwrap()
                .starts_with("vapid t=")
        );
        assert_eq!(
            request.headers["content-length"],
            request.body.len().to_string().as_str()
        );
    }
    assert!(store.for_target(&target).await.unwrap().len() == 199);
}
