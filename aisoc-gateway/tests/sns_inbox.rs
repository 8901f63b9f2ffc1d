//! `aws-sns` inbox tokens on the real binary verify SNS signatures before anything else: an
//! unsigned notification is refused (it used to be accepted), and a subscription request that
//! is not signed makes the gateway fetch nothing, its `SubscribeURL` included.
//!
//! The confirmation itself (certificate fetched, signature verified, `SubscribeURL` fetched
//! once) is tested in `aisoc-inbox/tests/sns_subscriptions.rs` against a local stand-in for SNS:
//! the binary only fetches from `https://sns.<region>.amazonaws.com`, which a test cannot serve
//! without a DNS and TLS override the gateway deliberately does not offer.

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate};

mod support;
use support::{Gateway, JsonReply};

const ADMIN: &str = "sns-admin";

#[tokio::test]
async fn unsigned_sns_messages_are_refused_and_nothing_is_fetched_for_them() {
    let trap = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&trap)
        .await;
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], &[]).await;
    let http = reqwest::Client::new();
    let minted: Value = http
        .post(gateway.url("/v1/admin/inbox/tokens"))
        .bearer_auth(ADMIN)
        .json(&json!({"tenant_id": "acme", "template": "aws-sns"}))
        .json_reply()
        .await;
    let token = minted["token"].as_str().unwrap().to_owned();
    let post = |message: Value| {
        http.post(gateway.url(&format!("/v1/inbox/{token}")))
            .header("content-type", "text/plain; charset=UTF-8")
            .body(message.to_string())
            .send()
    };

    let unsigned = json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:security-alerts",
        "Message": "{\"AlarmName\":\"HighFailedLogins\"}",
        "Timestamp": "2026-05-08T09:00:01.123Z"
    });
    let refused = post(unsigned).await.unwrap();
    assert_eq!(refused.status(), 400);
    let error = refused.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("SigningCertURL"), "{error}");

    let subscribe = format!(
        "{}/?Action=ConfirmSubscription&Token=secret-token",
        trap.uri()
    );
    for (signature, version) in [(None, "1"), (Some("AAAA"), "3")] {
        let mut request = json!({
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "secret-token",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:security-alerts",
            "Message": "You have chosen to subscribe to the topic.",
            "SubscribeURL": subscribe,
            "Timestamp": "2026-05-08T09:00:01.123Z",
            "SignatureVersion": version,
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem"
        });
        if let Some(signature) = signature {
            request["Signature"] = json!(signature);
        }
        let refused = post(request).await.unwrap();
        assert_eq!(refused.status(), 400);
        let body = refused.text().await.unwrap();
        assert!(!body.contains("secret-token"), "{body}");
    }
    assert!(
        trap.received_requests().await.unwrap().is_empty(),
        "nothing was fetched for an unsigned request"
    );
}
