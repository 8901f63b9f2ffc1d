//! The JetStream sink on the real NATS server at 127.0.0.1:4222.

mod support;

use std::sync::Arc;
use std::time::Duration;

use aisoc_inbox::InboxConfig;
use aisoc_inbox::router::router;
use aisoc_inbox::sink::{NatsFraming, NatsSink, NatsSinkConfig, message_events};
use aisoc_inbox::token::mint;
use aisoc_notify_core::secret::ExposeSecret;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

fn config() -> NatsSinkConfig {
    let id = rand::random::<u32>();
    NatsSinkConfig {
        stream: format!("AISOC_TEST_{id:08x}"),
        subject_prefix: format!("aisoc.test{id:08x}"),
        duplicate_window: Duration::from_secs(3600),
        ack_timeout: Duration::from_secs(2),
        ..NatsSinkConfig::default()
    }
}

/// A client of the NATS server on 127.0.0.1:4222, a stream of the test's own and a sink on it.
async fn connected() -> (async_nats::Client, NatsSinkConfig, NatsSink) {
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("NATS on 127.0.0.1:4222 (run ./scripts/services)");
    let config = config();
    let sink = NatsSink::new(client.clone(), config.clone()).await.unwrap();
    (client, config, sink)
}

/// Posts NDJSON, with an idempotency key when `key` is given.
async fn post(
    app: &axum::Router,
    token: &str,
    key: Option<&str>,
    body: &str,
) -> (StatusCode, Value) {
    let mut request =
        Request::post(format!("/{token}")).header("content-type", "application/x-ndjson");
    if let Some(key) = key {
        request = request.header("x-aisoc-idempotency-key", key);
    }
    let request = request.body(Body::from(body.to_owned())).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn every_accepted_event_is_in_the_stream_exactly_once() {
    let (client, config, sink) = connected().await;
    let sink = Arc::new(sink);
    let body = "{\"title\":\"one\"}\n{\"title\":\"two\"}\nbad line\n{\"title\":\"three\"}\n";

    // Two gateway nodes with their own idempotency memory: only the stream can dedupe the
    // second delivery.
    let (node_a, store) = support::inbox_with(InboxConfig::default(), sink.clone(), None);
    let token = mint(store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap()
        .token;
    let (node_b, store_b) = support::inbox_with(InboxConfig::default(), sink.clone(), None);
    store_b
        .insert(&store.list("acme").await.unwrap()[0])
        .await
        .unwrap();
    use aisoc_inbox::token::TokenStore;

    let (status, receipt) = post(
        &router(node_a.clone()),
        token.expose_secret(),
        Some("delivery-1"),
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(receipt["accepted"], 3);
    assert_eq!(receipt["dropped"], 1);
    let (status, receipt) = post(
        &router(node_a),
        token.expose_secret(),
        Some("delivery-1"),
        body,
    )
    .await;
    assert_eq!(
        (status, receipt["duplicate"].as_bool()),
        (StatusCode::OK, Some(true)),
        "deduped by this node"
    );
    let (status, receipt) = post(
        &router(node_b),
        token.expose_secret(),
        Some("delivery-1"),
        body,
    )
    .await;
    assert_eq!(
        (status, receipt["accepted"].as_u64()),
        (StatusCode::OK, Some(3)),
        "the other node publishes..."
    );

    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(&config.stream).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(
        info.state.messages, 3,
        "...and the stream keeps each event once"
    );
    let mut titles = Vec::new();
    for sequence in 1..=3 {
        let message = stream.get_raw_message(sequence).await.unwrap();
        assert!(
            message.subject.as_str().ends_with(".acme.generic-json"),
            "{}",
            message.subject
        );
        let event: Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(event["class_uid"], 2004);
        titles.push(event["finding_info"]["title"].as_str().unwrap().to_owned());
    }
    assert_eq!(titles, ["one", "two", "three"], "in order");
    jetstream.delete_stream(&config.stream).await.unwrap();
}

#[tokio::test]
async fn when_nats_is_down_the_route_answers_503_and_accepts_nothing() {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect("127.0.0.1:1")
        .await
        .unwrap();
    let sink = Arc::new(NatsSink::detached(
        client,
        NatsSinkConfig {
            ack_timeout: Duration::from_millis(500),
            ..config()
        },
    ));
    let (inbox, store) = support::inbox_with(InboxConfig::default(), sink, None);
    let token = mint(store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap()
        .token;
    let (status, body) = post(
        &router(inbox),
        token.expose_secret(),
        Some("k"),
        "{\"title\":\"x\"}\n",
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.get("accepted").is_none(), "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("inbox temporarily unavailable")
    );
}

#[tokio::test]
async fn a_publish_retried_with_the_same_msg_id_is_stored_once_by_the_duplicate_window() {
    use aisoc_inbox::limits::IdempotencyKey;
    use aisoc_inbox::sink::{EventSink, SinkEvent};
    let (client, config, sink) = connected().await;
    let key = IdempotencyKey::new("acme", "token-1", "delivery-42");
    let batch: Vec<SinkEvent> = (0..2)
        .map(|index| SinkEvent {
            tenant_id: "acme".into(),
            template_id: "generic-json".into(),
            msg_id: key.msg_id(index),
            dedupe: true,
            payload: format!("{{\"n\":{index}}}").into(),
        })
        .collect();
    // The first attempt was acknowledged but its sender never learned it (a crash before
    // the idempotency key was promoted); the retry carries the same ids.
    sink.publish(&batch).await.unwrap();
    sink.publish(&batch).await.unwrap();
    let other_token = SinkEvent {
        msg_id: IdempotencyKey::new("acme", "token-2", "delivery-42").msg_id(0),
        ..batch[0].clone()
    };
    sink.publish(std::slice::from_ref(&other_token))
        .await
        .unwrap();

    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(&config.stream).await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        3,
        "two events once each, and the other token's event"
    );
    let first = stream.get_raw_message(1).await.unwrap();
    assert_eq!(
        first
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned()),
        Some(key.msg_id(0))
    );
    jetstream.delete_stream(&config.stream).await.unwrap();
}

#[tokio::test]
async fn each_event_of_a_mixed_batch_goes_to_its_own_tenant_and_template_subject() {
    use aisoc_inbox::sink::{EventSink, SinkEvent};
    let (client, config, sink) = connected().await;
    // Runs of one subject, and changes of tenant only, of template only, and back.
    let routes = [
        ("acme", "generic-json"),
        ("acme", "generic-json"),
        ("globex", "generic-json"),
        ("globex", "cef"),
        ("acme", "generic-json"),
    ];
    let batch: Vec<SinkEvent> = routes
        .iter()
        .enumerate()
        .map(|(n, (tenant, template))| SinkEvent {
            tenant_id: (*tenant).into(),
            template_id: (*template).into(),
            msg_id: format!("mixed-{n}"),
            dedupe: true,
            payload: format!("{{\"n\":{n}}}").into(),
        })
        .collect();
    sink.publish(&batch).await.unwrap();

    let jetstream = async_nats::jetstream::new(client);
    let stream = jetstream.get_stream(&config.stream).await.unwrap();
    for (n, event) in batch.iter().enumerate() {
        let stored = stream.get_raw_message(n as u64 + 1).await.unwrap();
        assert_eq!(stored.subject.as_str(), sink.subject(event), "event {n}");
        assert_eq!(
            stored
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.as_str().to_owned()),
            Some(event.msg_id.clone())
        );
    }
    jetstream.delete_stream(&config.stream).await.unwrap();
}

#[tokio::test]
async fn only_the_events_of_a_keyed_request_ask_the_stream_to_deduplicate() {
    let (client, config, sink) = connected().await;
    let (inbox, store) = support::inbox_with(InboxConfig::default(), Arc::new(sink), None);
    let token = mint(store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap()
        .token;
    let app = router(inbox);
    let (status, _) = post(
        &app,
        token.expose_secret(),
        None,
        "{\"title\":\"a\"}\n{\"title\":\"b\"}\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, receipt) = post(
        &app,
        token.expose_secret(),
        Some("delivery-7"),
        "{\"title\":\"c\"}\n",
    )
    .await;
    assert_eq!(
        (status, receipt["accepted"].as_u64()),
        (StatusCode::OK, Some(1))
    );

    let jetstream = async_nats::jetstream::new(client);
    let stream = jetstream.get_stream(&config.stream).await.unwrap();
    let msg_id = |message: &async_nats::jetstream::message::StreamMessage| {
        message
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
    };
    for sequence in [1, 2] {
        let message = stream.get_raw_message(sequence).await.unwrap();
        assert_eq!(
            msg_id(&message),
            None,
            "a random id protects nothing: not sent"
        );
    }
    let keyed = msg_id(&stream.get_raw_message(3).await.unwrap()).expect("a keyed event's id");
    let (digest, index) = keyed.split_once('-').unwrap();
    assert_eq!(
        (digest.len(), index),
        (64, "0"),
        "derived from the key: {keyed}"
    );
    jetstream.delete_stream(&config.stream).await.unwrap();
}

/// A sink framing a message per request, on a stream of the test's own.
async fn per_request() -> (async_nats::Client, NatsSinkConfig, NatsSink) {
    let client = async_nats::connect("127.0.0.1:4222")
        .await
        .expect("NATS on 127.0.0.1:4222 (run ./scripts/services)");
    let config = NatsSinkConfig {
        framing: NatsFraming::PerRequest,
        ..config()
    };
    let sink = NatsSink::new(client.clone(), config.clone()).await.unwrap();
    (client, config, sink)
}

/// The events of stored message `sequence`, through `message_events`.
async fn stored_events(
    stream: &async_nats::jetstream::stream::Stream,
    sequence: u64,
) -> (async_nats::jetstream::message::StreamMessage, Vec<Value>) {
    let message = stream.get_raw_message(sequence).await.unwrap();
    let count = message
        .headers
        .get(aisoc_inbox::sink::EVENTS_HEADER)
        .map(|v| v.as_str().to_owned());
    let events = message_events(count.as_deref(), &message.payload)
        .unwrap()
        .into_iter()
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    (message, events)
}

#[tokio::test]
async fn per_request_framing_stores_a_request_as_one_message_and_a_retry_once() {
    let (client, config, sink) = per_request().await;
    let sink = Arc::new(sink);
    let (node_a, store) = support::inbox_with(InboxConfig::default(), sink.clone(), None);
    let token = mint(store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap()
        .token;
    // A second node with its own idempotency memory: only the stream can drop the retry.
    let (node_b, store_b) = support::inbox_with(InboxConfig::default(), sink, None);
    use aisoc_inbox::token::TokenStore;
    store_b
        .insert(&store.list("acme").await.unwrap()[0])
        .await
        .unwrap();
    let keyed = "{\"title\":\"one\"}\n{\"title\":\"two\"}\nbad line\n{\"title\":\"three\"}\n";
    for node in [&node_a, &node_b] {
        let (status, receipt) = post(
            &router(node.clone()),
            token.expose_secret(),
            Some("delivery-1"),
            keyed,
        )
        .await;
        assert_eq!(
            (status, receipt["accepted"].as_u64()),
            (StatusCode::OK, Some(3))
        );
    }
    let (status, _) = post(
        &router(node_a),
        token.expose_secret(),
        None,
        "{\"title\":\"four\"}\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(&config.stream).await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        2,
        "the keyed request once (its retry on the other node dropped), the unkeyed one"
    );
    let (first, events) = stored_events(&stream, 1).await;
    assert!(first.subject.as_str().ends_with(".acme.generic-json"));
    assert_eq!(
        first
            .headers
            .get("Aisoc-Events")
            .map(|v| v.as_str().to_owned()),
        Some("3".to_owned())
    );
    let msg_id = first
        .headers
        .get("Nats-Msg-Id")
        .unwrap()
        .as_str()
        .to_owned();
    assert!(
        msg_id.ends_with("-0+3"),
        "the first event's id and the count: {msg_id}"
    );
    let titles: Vec<_> = events
        .iter()
        .map(|e| e["finding_info"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["one", "two", "three"], "in order");
    assert!(events.iter().all(|e| e["class_uid"] == 2004));
    let (second, events) = stored_events(&stream, 2).await;
    assert_eq!(
        second.headers.get("Nats-Msg-Id"),
        None,
        "a random id: not sent"
    );
    assert_eq!(
        second
            .headers
            .get("Aisoc-Events")
            .map(|v| v.as_str().to_owned()),
        Some("1".to_owned())
    );
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["finding_info"]["title"], "four");
    jetstream.delete_stream(&config.stream).await.unwrap();
}

#[tokio::test]
async fn per_request_framing_splits_a_request_to_fit_the_servers_max_payload() {
    use aisoc_inbox::sink::{EventSink, SinkEvent};
    let (client, config, sink) = per_request().await;
    let max_payload = client.server_info().max_payload;
    // Events of a third of the server's limit each: two fit in a message, the third not.
    let filler = "x".repeat(max_payload / 3);
    let batch: Vec<SinkEvent> = (0..5)
        .map(|n| SinkEvent {
            tenant_id: "acme".into(),
            template_id: "generic-json".into(),
            msg_id: format!("big-{n}"),
            dedupe: true,
            payload: format!("{{\"n\":{n},\"x\":\"{filler}\"}}").into(),
        })
        .collect();
    sink.publish(&batch).await.unwrap();
    sink.publish(&batch).await.unwrap();

    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(&config.stream).await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        3,
        "5 events in messages of 2, 2 and 1; the repeat dropped"
    );
    let mut seen = Vec::new();
    for sequence in 1..=3 {
        let (message, events) = stored_events(&stream, sequence).await;
        assert!(message.payload.len() <= max_payload);
        seen.extend(events.iter().map(|e| e["n"].as_u64().unwrap()));
    }
    assert_eq!(seen, [0, 1, 2, 3, 4], "every event once, in order");
    let last = stream.get_raw_message(3).await.unwrap();
    assert_eq!(
        last.headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned()),
        Some("big-4".to_owned()),
        "a message of one event keeps the event's own id"
    );
    jetstream.delete_stream(&config.stream).await.unwrap();
}

/// `count` events of one tenant and template, without idempotency keys.
fn unkeyed_events(prefix: &str, count: usize) -> Vec<aisoc_inbox::sink::SinkEvent> {
    (0..count)
        .map(|n| aisoc_inbox::sink::SinkEvent {
            tenant_id: "acme".into(),
            template_id: "generic-json".into(),
            msg_id: format!("{prefix}-{n}"),
            dedupe: false,
            payload: format!("{{\"n\":{n}}}").into(),
        })
        .collect()
}

#[tokio::test]
async fn more_events_than_the_clients_unacknowledged_publishes_go_through_without_waiting_forever()
{
    use aisoc_inbox::sink::EventSink;
    let (client, config, sink) = connected().await;
    let sink = Arc::new(sink);
    // async-nats lets a JetStream context have 5,000 publishes unacknowledged and makes the
    // next one wait for a slot. A request of the inbox's default cap (10,000 events), and
    // requests that together pass 5,000, must still be stored, not stall until a timeout.
    let alone = unkeyed_events("alone", 10_000);
    tokio::time::timeout(Duration::from_secs(30), sink.publish(&alone))
        .await
        .expect("a 10,000-event request is stored within 30 s")
        .unwrap();
    let together = futures::future::join_all((0..16).map(|request| {
        let sink = Arc::clone(&sink);
        async move {
            let events = unkeyed_events(&format!("together-{request}"), 1_000);
            sink.publish(&events).await
        }
    }));
    for published in tokio::time::timeout(Duration::from_secs(30), together)
        .await
        .expect("16 concurrent requests of 1,000 events are stored within 30 s")
    {
        published.unwrap();
    }

    let jetstream = async_nats::jetstream::new(client);
    let mut stream = jetstream.get_stream(&config.stream).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 26_000);
    jetstream.delete_stream(&config.stream).await.unwrap();
}
