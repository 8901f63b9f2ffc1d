//! Every delivery carries an idempotency key: a notification's `dedupe_key` as
//! `Idempotency-Key` and as the Standard Webhooks `webhook-id` (signed), the same on every
//! retry; a random one when there is no key.

use std::time::Duration;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, RetryPolicy};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::signature::WebhookVerifier;
use aisoc_notify_core::{EventType, Notification, Notifier, Severity};
use aisoc_notify_webhook::WebhookNotifier;
use http::HeaderMap;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn receiver() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    server
}

fn webhook(server: &MockServer) -> WebhookNotifier {
    WebhookNotifier::builder()
        .url(format!("{}/hook", server.uri()))
        .standard_webhooks_secret(WHSEC)
        .delivery(
            DeliveryClient::new(DeliveryConfig {
                retry: RetryPolicy::no_retries(),
                destinations: DestinationPolicy::guarded().allow("127.0.0.1/32").unwrap(),
                ..DeliveryConfig::default()
            })
            .unwrap(),
        )
        .build()
        .unwrap()
}

fn headers(request: &wiremock::Request) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in request.headers.iter() {
        headers.append(name.clone(), value.clone());
    }
    headers
}

fn alert(key: Option<&str>) -> Notification {
    let mut n = Notification::new("acme", EventType::P0Alert, Severity::High, "Disk full");
    n.dedupe_key = key.map(str::to_owned);
    n
}

#[tokio::test]
async fn a_keyed_notification_is_sent_under_its_key_every_time_and_the_signature_covers_it() {
    let server = receiver().await;
    let webhook = webhook(&server);
    let first = webhook.notify(&alert(Some("ntf_0123abcd"))).await.unwrap();
    let again = webhook.notify(&alert(Some("ntf_0123abcd"))).await.unwrap();
    assert_eq!(first.receipt.as_deref(), Some("ntf_0123abcd"));
    assert_eq!(again.receipt, first.receipt);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        let headers = headers(request);
        assert_eq!(headers["idempotency-key"], "ntf_0123abcd");
        assert_eq!(headers["webhook-id"], "ntf_0123abcd");
        WebhookVerifier::new(WHSEC)
            .with_tolerance(Duration::from_secs(300))
            .verify(&headers, &request.body)
            .expect("the signed id is the key");
    }
}

#[tokio::test]
async fn a_key_with_characters_a_header_cannot_carry_is_encoded_the_same_way_every_time() {
    let server = receiver().await;
    let webhook = webhook(&server);
    webhook.notify(&alert(Some("alert 42/é\tx"))).await.unwrap();
    webhook.notify(&alert(Some("alert 42/é\tx"))).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let keys: Vec<_> = requests
        .iter()
        .map(|r| headers(r)["idempotency-key"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["alert%2042%2F%C3%A9%09x", "alert%2042%2F%C3%A9%09x"]);
}

#[tokio::test]
async fn without_a_key_each_delivery_gets_a_fresh_id_in_both_headers() {
    let server = receiver().await;
    let webhook = webhook(&server);
    webhook.notify(&alert(None)).await.unwrap();
    webhook.notify(&alert(None)).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let ids: Vec<(String, String)> = requests
        .iter()
        .map(|r| {
            let h = headers(r);
            (
                h["idempotency-key"].to_str().unwrap().to_owned(),
                h["webhook-id"].to_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(ids[0].0, ids[0].1);
    assert_eq!(ids[1].0, ids[1].1);
    assert_ne!(ids[0].0, ids[1].0);
    assert!(ids[0].0.starts_with("msg_"));
}
