//! `DeliveryClient::send_bytes` against a real TLS peer: one HTTP/2 connection per origin,
//! shared by concurrent requests and replaced when the peer closes it; HTTP/1.1 through reqwest
//! for an origin that does not offer `h2`; the same guard, retries, timeouts and body cap as
//! `send`.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, DeliveryError, RetryPolicy};
use aisoc_notify_core::destination::{DestinationPolicy, StaticLookup};
use aisoc_notify_core::tls_peer::{Answer, Protocols, TlsPeer};
use http::{HeaderMap, HeaderValue, Method, Version};

fn client_for(peer: &TlsPeer, tune: impl FnOnce(&mut DeliveryConfig)) -> DeliveryClient {
    let mut config = DeliveryConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        },
        trusted_roots: vec![peer.ca_der().to_vec()],
        destinations: DestinationPolicy::guarded().allow("127.0.0.1").unwrap(),
        ..DeliveryConfig::default()
    };
    tune(&mut config);
    DeliveryClient::new(config).unwrap()
}

fn push_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("ttl", HeaderValue::from_static("60"));
    headers.insert(
        http::header::CONTENT_ENCODING,
        HeaderValue::from_static("aes128gcm"),
    );
    headers
}

async fn post(
    client: &DeliveryClient,
    url: url::Url,
    body: &'static str,
) -> Result<aisoc_notify_core::delivery::HttpResponse, DeliveryError> {
    client
        .send_bytes(Method::POST, url, push_headers(), body.into())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_to_an_h2_origin_share_one_connection_and_arrive_whole() {
    let peer = TlsPeer::start(Protocols::Http2, |request| {
        Answer::status(201).header("location", format!("/m{}", request.path))
    })
    .await;
    let client = client_for(&peer, |_| {});
    let sends = (0..40).map(|i| {
        let (client, url) = (client.clone(), peer.url(&format!("/push/{i}")));
        tokio::spawn(async move { post(&client, url, "encrypted body").await })
    });
    for (i, send) in sends.enumerate() {
        let response = send.await.unwrap().unwrap();
        assert_eq!(response.status, 201);
        assert_eq!(response.attempts, 1);
        assert_eq!(
            response.headers["location"],
            format!("/m/push/{i}").as_str()
        );
    }
    let requests = peer.requests();
    assert_eq!(requests.len(), 40);
    assert_eq!(peer.connections(), 1, "one connection for the origin");
    for request in &requests {
        assert_eq!(request.version, Version::HTTP_2);
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.body, "encrypted body");
        assert_eq!(request.headers["ttl"], "60");
        assert_eq!(request.headers["content-encoding"], "aes128gcm");
        assert_eq!(request.headers["content-length"], "14");
        // reqwest adds `accept: */*`; the direct path sends what it was given.
        assert!(
            !request.headers.contains_key("accept"),
            "went through reqwest"
        );
        assert!(
            request.headers["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("aisoc-notify/")
        );
    }
}

#[tokio::test]
async fn an_origin_that_does_not_offer_h2_is_reached_over_http1() {
    let peer = TlsPeer::start(Protocols::Http1, |_| Answer::status(201)).await;
    let client = client_for(&peer, |_| {});
    for i in 0..3 {
        let response = post(&client, peer.url(&format!("/push/{i}")), "body")
            .await
            .unwrap();
        assert_eq!((response.status.as_u16(), response.attempts), (201, 1));
    }
    // Only the first request's TLS handshake asked for `h2`; reqwest's one connection did
    // the rest.
    assert_eq!(peer.connections(), 2);
    let requests = peer.requests();
    assert_eq!(requests.len(), 3, "nothing sent twice while finding out");
    assert!(requests.iter().all(|r| r.version == Version::HTTP_11));
    assert!(requests.iter().all(|r| r.body == "body"));
}

#[tokio::test]
async fn retryable_answers_are_retried_and_final_ones_returned_as_over_reqwest() {
    let answered = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&answered);
    let peer = TlsPeer::start(Protocols::Http2, move |request| {
        match (request.path.as_str(), count.fetch_add(1, Ordering::SeqCst)) {
            ("/flaky", 0) => Answer::status(503),
            ("/flaky", _) => Answer::status(201),
            ("/gone", _) => Answer::status(410).body(r#"{"errno":106}"#),
            ("/slow-down", _) => Answer::status(429).header("retry-after", "3600"),
            _ => Answer::status(302).header("location", "https://example.com/"),
        }
    })
    .await;
    let client = client_for(&peer, |_| {});

    let flaky = post(&client, peer.url("/flaky"), "x").await.unwrap();
    assert_eq!((flaky.status.as_u16(), flaky.attempts), (201, 2));

    let gone = post(&client, peer.url("/gone"), "x").await.unwrap();
    assert_eq!((gone.status.as_u16(), gone.attempts), (410, 1));
    assert_eq!(gone.body, r#"{"errno":106}"#);

    // A wait longer than the policy sleeps through comes back at once, carrying the wait.
    let throttled = post(&client, peer.url("/slow-down"), "x").await.unwrap();
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.retry_after, Some(Duration::from_secs(3600)));
    assert_eq!(throttled.attempts, 1);

    let redirected = post(&client, peer.url("/moved"), "x").await.unwrap_err();
    assert!(
        matches!(redirected, DeliveryError::Redirected { status: 302, .. }),
        "{redirected:?}"
    );
    assert_eq!(peer.connections(), 1);
}

#[tokio::test]
async fn a_connection_the_peer_closes_is_replaced_without_costing_an_attempt() {
    let peer = TlsPeer::start(Protocols::Http2, |_| Answer::status(201).then_close()).await;
    let client = client_for(&peer, |_| {});
    for i in 0..4 {
        let response = post(&client, peer.url(&format!("/push/{i}")), "x")
            .await
            .unwrap();
        assert_eq!((response.status.as_u16(), response.attempts), (201, 1));
    }
    assert_eq!(peer.requests().len(), 4, "each request sent once");
    assert_eq!(peer.connections(), 4, "a new connection after each close");
}

#[tokio::test]
async fn a_peer_that_does_not_answer_in_time_is_a_timeout() {
    let peer = TlsPeer::start(Protocols::Http2, |_| {
        Answer::status(201).after(Duration::from_secs(30))
    })
    .await;
    let client = client_for(&peer, |config| {
        config.request_timeout = Duration::from_millis(300);
        config.retry.max_attempts = 2;
    });
    let started = std::time::Instant::now();
    let error = post(&client, peer.url("/push/1"), "x").await.unwrap_err();
    assert!(
        matches!(error, DeliveryError::Timeout { attempts: 2, .. }),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(peer.requests().len(), 2);
    assert_eq!(
        peer.connections(),
        2,
        "a connection whose answer never came is not used again"
    );
}

#[tokio::test]
async fn an_answer_longer_than_the_cap_is_cut_and_marked() {
    let peer = TlsPeer::start(Protocols::Http2, |_| {
        Answer::status(200).body(vec![b'a'; 100_000])
    })
    .await;
    let client = client_for(&peer, |config| config.max_response_bytes = 1_000);
    let response = post(&client, peer.url("/big"), "x").await.unwrap();
    assert!(response.truncated);
    assert_eq!(response.body.len(), 1_000);
}

#[tokio::test]
async fn forbidden_destinations_are_refused_before_anything_is_dialled() {
    let peer = TlsPeer::start(Protocols::Http2, |_| Answer::status(201)).await;
    // A name resolving to loopback, which the default policy forbids.
    let lookup = StaticLookup::new().with("push.example", ["127.0.0.1".parse::<IpAddr>().unwrap()]);
    let client = client_for(&peer, |config| {
        config.destinations = DestinationPolicy::guarded();
        config.lookup = Arc::new(lookup);
    });
    let port = peer.url("/").port().unwrap();
    for url in [
        format!("https://push.example:{port}/push/1"),
        format!("https://127.0.0.1:{port}/push/1"),
        "https://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let error = post(&client, url.parse().unwrap(), "x").await.unwrap_err();
        assert!(
            matches!(error, DeliveryError::Forbidden(_)),
            "{url}: {error:?}"
        );
    }
    assert_eq!(peer.connections(), 0);
}

#[tokio::test]
async fn a_certificate_no_root_vouches_for_is_refused() {
    let peer = TlsPeer::start(Protocols::Http2, |_| Answer::status(201)).await;
    let client = client_for(&peer, |config| config.trusted_roots.clear());
    let error = post(&client, peer.url("/push/1"), "x").await.unwrap_err();
    assert!(matches!(error, DeliveryError::Connect { .. }), "{error:?}");
    assert!(peer.requests().is_empty());
}
