use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use http::HeaderValue;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

/// A clock that counts how often it is read.
#[derive(Debug)]
struct CountingClock {
    now: DateTime<Utc>,
    reads: AtomicUsize,
}

impl Clock for CountingClock {
    fn now(&self) -> DateTime<Utc> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.now
    }
}

fn loopback_client(max_attempts: u32) -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        retry: RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
        destinations: DestinationPolicy::guarded().allow("127.0.0.1").unwrap(),
        ..DeliveryConfig::default()
    })
    .unwrap()
}

#[test]
fn requests_without_a_body_or_with_one_in_memory_are_replayable_and_streams_are_not() {
    let request = |body: Option<reqwest::Body>| {
        let url = url::Url::parse("https://example.com/hook").unwrap();
        let mut request = reqwest::Request::new(http::Method::POST, url);
        *request.body_mut() = body;
        request
    };
    let stream = reqwest::Body::from(reqwest::Response::from(http::Response::new("payload")));
    assert!(is_replayable(&request(None)));
    assert!(is_replayable(&request(Some("payload".into()))));
    assert!(!is_replayable(&request(Some(stream))));
}

#[test]
fn the_clock_is_read_only_when_a_retry_after_is_there_to_resolve() {
    let clock = CountingClock {
        now: Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0).unwrap(),
        reads: AtomicUsize::new(0),
    };
    assert_eq!(retry_after_in(&HeaderMap::new(), &clock), None);
    assert_eq!(clock.reads.load(Ordering::SeqCst), 0);

    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::RETRY_AFTER,
        HeaderValue::from_static("Wed, 21 Oct 2015 07:28:30 GMT"),
    );
    assert_eq!(
        retry_after_in(&headers, &clock),
        Some(Duration::from_secs(30))
    );
    headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("7"));
    assert_eq!(
        retry_after_in(&headers, &clock),
        Some(Duration::from_secs(7))
    );
}

#[tokio::test]
async fn a_streamed_body_is_sent_once_and_one_in_memory_is_retried_with_its_headers_intact() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("location", "/messages/1")
                .set_body_string("created"),
        )
        .mount(&server)
        .await;
    let client = loopback_client(4);

    let streamed = client
        .http()
        .post(server.uri())
        .body(reqwest::Body::from(reqwest::Response::from(
            http::Response::new("payload"),
        )))
        .build()
        .unwrap();
    let once = client.send(streamed).await.unwrap();
    assert_eq!((once.status.as_u16(), once.attempts), (503, 1));

    let in_memory = client
        .http()
        .post(server.uri())
        .header("idempotency-key", "k1")
        .body("payload")
        .build()
        .unwrap();
    let retried = client.send(in_memory).await.unwrap();
    assert_eq!((retried.status.as_u16(), retried.attempts), (201, 2));
    assert_eq!(retried.headers["location"], "/messages/1");
    assert_eq!(retried.text(), "created");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 3);
    for request in &received[1..] {
        assert_eq!(request.headers["idempotency-key"], "k1");
        assert_eq!(request.body, b"payload");
    }
}
