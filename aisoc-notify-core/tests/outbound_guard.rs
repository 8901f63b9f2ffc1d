//! The outbound guard through the real delivery client: forbidden addresses are refused before
//! any connection, names are judged by what they resolve to, and redirects are not followed to
//! where the guard would not go.

use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig, DeliveryError, RetryPolicy};
use aisoc_notify_core::destination::{DestinationPolicy, ForbiddenRange, StaticLookup};
use aisoc_notify_core::retry::RetryClass;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(destinations: DestinationPolicy, lookup: StaticLookup) -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(10),
            ..RetryPolicy::default()
        },
        destinations,
        lookup: Arc::new(lookup),
        ..DeliveryConfig::default()
    })
    .unwrap()
}

fn guarded() -> DeliveryClient {
    client(DestinationPolicy::guarded(), StaticLookup::new())
}

async fn refusal(client: &DeliveryClient, url: &str) -> (DeliveryError, ForbiddenRange) {
    let request = client.http().post(url).body("{}").build().unwrap();
    let err = client.send(request).await.unwrap_err();
    let DeliveryError::Forbidden(ref refused) = err else {
        panic!("{url}: expected a refusal, got {err:?}");
    };
    let rule = refused.rule;
    assert_eq!(err.retry_class(), RetryClass::NonRetryable, "{url}");
    (err, rule)
}

/// A mock server on a loopback address that only counts what reaches it.
async fn counting_server(address: &str) -> MockServer {
    let server = MockServer::builder()
        .listener(TcpListener::bind(address).unwrap())
        .start()
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    server
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

#[tokio::test]
async fn every_forbidden_ipv4_literal_is_refused_before_connecting() {
    let client = guarded();
    let cases = [
        ("https://127.0.0.1/", ForbiddenRange::Loopback),
        ("https://10.1.2.3/", ForbiddenRange::Private),
        ("https://172.20.0.1/", ForbiddenRange::Private),
        ("https://192.168.0.10/", ForbiddenRange::Private),
        ("https://100.100.100.200/", ForbiddenRange::Cgnat),
        (
            "https://169.254.169.254/latest/meta-data/",
            ForbiddenRange::LinkLocal,
        ),
        ("https://0.0.0.0/", ForbiddenRange::Unspecified),
        ("https://224.0.0.251/", ForbiddenRange::Multicast),
        ("https://255.255.255.255/", ForbiddenRange::Broadcast),
        ("https://192.0.2.1/", ForbiddenRange::Documentation),
        ("https://198.18.0.1/", ForbiddenRange::Benchmarking),
        ("https://240.0.0.1/", ForbiddenRange::Reserved),
    ];
    for (url, expected) in cases {
        let (err, rule) = refusal(&client, url).await;
        assert_eq!(rule, expected, "{url}");
        assert!(!err.to_string().contains("meta-data"), "{err}");
    }
}

#[tokio::test]
async fn every_forbidden_ipv6_literal_and_mapped_form_is_refused() {
    let client = guarded();
    let cases = [
        ("https://[::1]/", ForbiddenRange::Loopback),
        ("https://[::]/", ForbiddenRange::Unspecified),
        ("https://[fe80::1]/", ForbiddenRange::LinkLocal),
        ("https://[fd00:ec2::254]/", ForbiddenRange::UniqueLocal),
        ("https://[ff02::1]/", ForbiddenRange::Multicast),
        ("https://[2001:db8::1]/", ForbiddenRange::Documentation),
        ("https://[::ffff:127.0.0.1]/", ForbiddenRange::Loopback),
        (
            "https://[::ffff:169.254.169.254]/",
            ForbiddenRange::LinkLocal,
        ),
        ("https://[::ffff:10.0.0.1]/", ForbiddenRange::Private),
        ("https://[::10.0.0.1]/", ForbiddenRange::Private),
        ("https://[64:ff9b::a9fe:a9fe]/", ForbiddenRange::LinkLocal),
        ("https://[2002:c0a8:0001::1]/", ForbiddenRange::Private),
    ];
    for (url, expected) in cases {
        let (_, rule) = refusal(&client, url).await;
        assert_eq!(rule, expected, "{url}");
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_a_private_address_is_refused_at_connect_time() {
    let lookup = StaticLookup::new()
        .with(
            "jira.internal.example",
            ["10.0.0.7".parse::<IpAddr>().unwrap()],
        )
        .with(
            "metadata.example",
            ["169.254.169.254".parse::<IpAddr>().unwrap()],
        );
    let client = client(DestinationPolicy::guarded(), lookup);
    let (err, rule) = refusal(&client, "https://jira.internal.example/rest/api/3/issue").await;
    assert_eq!(rule, ForbiddenRange::Private);
    assert!(err.to_string().contains("jira.internal.example"), "{err}");
    assert!(!err.to_string().contains("rest/api"), "{err}");
    let (_, rule) = refusal(&client, "https://metadata.example/").await;
    assert_eq!(rule, ForbiddenRange::LinkLocal);
}

#[tokio::test]
async fn localhost_by_name_is_refused_and_the_server_behind_it_never_hears_of_it() {
    let server = counting_server("127.0.0.1:0").await;
    let port = server.address().port();
    // The system resolver: `localhost` is loopback on every machine.
    let client = DeliveryClient::new(DeliveryConfig::default()).unwrap();
    let request = client
        .http()
        .post(format!("http://localhost:{port}/hook"))
        .body("{}")
        .build()
        .unwrap();
    let err = client.send(request).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Forbidden(r) if r.rule == ForbiddenRange::Loopback),
        "{err:?}"
    );
    assert_eq!(requests(&server).await, 0);
}

#[tokio::test]
async fn an_allowed_cidr_or_host_name_opens_exactly_that_destination() {
    let server = counting_server("127.0.0.1:0").await;
    let port = server.address().port();
    let lookup = StaticLookup::new()
        .with("mattermost.lan", ["127.0.0.1".parse::<IpAddr>().unwrap()])
        .with("other.lan", ["127.0.0.1".parse::<IpAddr>().unwrap()]);
    let by_name = client(
        DestinationPolicy::parse_allow_list("mattermost.lan").unwrap(),
        lookup.clone(),
    );
    let ok = by_name
        .send(
            by_name
                .http()
                .post(format!("http://mattermost.lan:{port}/hooks/x"))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    let (_, rule) = refusal(&by_name, &format!("http://other.lan:{port}/hooks/x")).await;
    assert_eq!(rule, ForbiddenRange::Loopback);

    let by_cidr = client(
        DestinationPolicy::parse_allow_list("127.0.0.1/32").unwrap(),
        StaticLookup::new(),
    );
    let ok = by_cidr
        .send(
            by_cidr
                .http()
                .post(format!("{}/hooks/x", server.uri()))
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_redirect_is_a_typed_failure_and_its_target_is_never_requested() {
    let target = counting_server("127.0.0.2:0").await;
    let redirector = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("Location", format!("{}/latest/meta-data", target.uri())),
        )
        .mount(&redirector)
        .await;
    let client = client(
        DestinationPolicy::parse_allow_list("127.0.0.1/32").unwrap(),
        StaticLookup::new(),
    );
    let request = client
        .http()
        .post(format!("{}/hook", redirector.uri()))
        .body("{}")
        .build()
        .unwrap();
    let err = client.send(request).await.unwrap_err();
    assert!(
        matches!(err, DeliveryError::Redirected { status: 307, .. }),
        "{err:?}"
    );
    assert_eq!(err.retry_class(), RetryClass::NonRetryable);
    assert!(err.to_string().contains("307"), "{err}");
    assert_eq!(requests(&redirector).await, 1, "a redirect is not retried");
    assert_eq!(requests(&target).await, 0);
}

#[tokio::test]
async fn a_followed_redirect_to_a_forbidden_address_is_refused_and_never_requested() {
    let target = counting_server("127.0.0.2:0").await;
    let redirector = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/latest/meta-data", target.uri())),
        )
        .mount(&redirector)
        .await;
    // The operator allowed 127.0.0.1 and redirects, not 127.0.0.2.
    let client = client(
        DestinationPolicy::parse_allow_list("127.0.0.1/32")
            .unwrap()
            .follow_redirects(3),
        StaticLookup::new(),
    );
    let request = client
        .http()
        .get(format!("{}/hook", redirector.uri()))
        .build()
        .unwrap();
    let err = client.send(request).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Forbidden(r) if r.rule == ForbiddenRange::Loopback),
        "{err:?}"
    );
    assert_eq!(requests(&target).await, 0);
}

#[tokio::test]
async fn a_followed_redirect_to_a_name_that_resolves_privately_is_refused() {
    let target = counting_server("127.0.0.2:0").await;
    let port = target.address().port();
    let redirector = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("http://rebind.example:{port}/x")),
        )
        .mount(&redirector)
        .await;
    let lookup =
        StaticLookup::new().with("rebind.example", ["127.0.0.2".parse::<IpAddr>().unwrap()]);
    let client = client(
        DestinationPolicy::parse_allow_list("127.0.0.1/32")
            .unwrap()
            .follow_redirects(3),
        lookup,
    );
    let request = client
        .http()
        .get(format!("{}/hook", redirector.uri()))
        .build()
        .unwrap();
    let err = client.send(request).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Forbidden(_)), "{err:?}");
    assert_eq!(requests(&target).await, 0);
}

#[tokio::test]
async fn the_unrestricted_policy_is_what_the_cli_uses_and_reaches_loopback() {
    let server = counting_server("127.0.0.1:0").await;
    let client = client(DestinationPolicy::unrestricted(), StaticLookup::new());
    let response = client
        .send(client.http().post(server.uri()).build().unwrap())
        .await
        .unwrap();
    assert_eq!(response.status, 200);
}
