//! The shared HTTP delivery layer against a local mock server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, DeliveryError, RetryPolicy};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::retry::RetryClass;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The guard refuses loopback by default; these tests talk to a mock on 127.0.0.1.
fn loopback() -> DestinationPolicy {
    DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap()
}

fn client(max_attempts: u32) -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        retry: RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
        },
        destinations: loopback(),
        ..DeliveryConfig::default()
    })
    .unwrap()
}

fn post(client: &DeliveryClient, url: &str) -> reqwest::Request {
    client
        .http()
        .post(url)
        .json(&serde_json::json!({"text": "hello"}))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_500_is_retried_and_the_200_that_follows_is_returned() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500).set_body_string("oops"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(body_json(serde_json::json!({"text": "hello"})))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;

    let client = client(4);
    let response = client
        .send(post(&client, &format!("{}/hook", server.uri())))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.attempts, 2);
    assert_eq!(response.text(), "ok");
}

#[tokio::test]
async fn a_429_with_retry_after_waits_that_long_before_retrying() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "2"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;

    let client = client(3);
    let started = Instant::now();
    let response = client.send(post(&client, &server.uri())).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(response.status, 200);
    assert_eq!(response.attempts, 2);
    // The computed backoff is at most 50 ms here, so only Retry-After explains two seconds.
    assert!(
        waited >= Duration::from_secs(2),
        "retried after only {waited:?}"
    );
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("Retry-After", "Wed, 21 Oct 2026 07:28:01 GMT"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;

    // The clock says the date is one second away.
    let now = chrono::DateTime::parse_from_rfc3339("2026-10-21T07:28:00Z")
        .unwrap()
        .to_utc();
    let client = client(3).with_clock(Arc::new(ManualClock::new(now)));
    let started = Instant::now();
    let response = client.send(post(&client, &server.uri())).await.unwrap();
    assert_eq!(response.status, 204);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_is_reported_not_slept_through() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&server)
        .await;

    let client = client(4);
    let started = Instant::now();
    let err = client
        .send(post(&client, &server.uri()))
        .await
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        err.retry_class(),
        RetryClass::Throttled(Duration::from_secs(3600))
    );
    assert_eq!(err.status(), Some(429));
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string("invalid_payload: <echo>"))
        .expect(1)
        .mount(&server)
        .await;

    let client = client(4);
    let response = client.send(post(&client, &server.uri())).await.unwrap();
    assert_eq!(response.attempts, 1);
    let err = response.error_for_status().unwrap_err();
    assert_eq!(err.retry_class(), RetryClass::NonRetryable);
    assert!(
        matches!(err, DeliveryError::Status { status: 400, .. }),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("<echo>"),
        "the peer's body is not echoed: {shown}"
    );
}

#[tokio::test]
async fn attempts_are_capped_for_a_destination_that_keeps_failing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;

    let client = client(3);
    let response = client.send(post(&client, &server.uri())).await.unwrap();
    assert_eq!(response.attempts, 3);
    assert_eq!(response.status, 503);
    let err = response.error_for_status().unwrap_err();
    assert!(err.is_retryable(), "the caller may still try again later");
    // MockServer verifies `expect(3)` when dropped.
}

#[tokio::test]
async fn connection_failures_are_retried_then_reported_without_the_url() {
    // Bind and drop a listener to get a port with nothing behind it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = client(2);
    let url = format!("http://127.0.0.1:{port}/services/T000/B000/SECRETTOKEN");
    let err = client.send(post(&client, &url)).await.unwrap_err();
    assert!(
        matches!(err, DeliveryError::Connect { attempts: 2, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("SECRETTOKEN"), "{shown}");
}

#[tokio::test]
async fn slow_responses_time_out_and_are_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let client = DeliveryClient::new(DeliveryConfig {
        request_timeout: Duration::from_millis(200),
        retry: RetryPolicy::no_retries(),
        destinations: loopback(),
        ..DeliveryConfig::default()
    })
    .unwrap();
    let err = client.send(post(&client, &server.uri())).await.unwrap_err();
    assert!(
        matches!(err, DeliveryError::Timeout { attempts: 1, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn response_bodies_are_read_only_up_to_the_cap() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(1_000_000)))
        .mount(&server)
        .await;
    let client = DeliveryClient::new(DeliveryConfig {
        max_response_bytes: 1024,
        destinations: loopback(),
        ..DeliveryConfig::default()
    })
    .unwrap();
    let response = client.send(post(&client, &server.uri())).await.unwrap();
    assert_eq!(response.body.len(), 1024);
    assert!(response.truncated);
    assert!(matches!(
        response.json::<serde_json::Value>(),
        Err(DeliveryError::InvalidResponse { .. })
    ));
}
