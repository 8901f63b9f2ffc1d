//! Issue #15's hostile inputs against the inbox routes, each refused or bounded as the SPEC
//! says: bounded work per request, limits outsiders cannot spend, a signature policy per token.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aisoc_inbox::InboxConfig;
use aisoc_inbox::router::{hec_router, router};
use aisoc_inbox::token::{
    MemoryTokenStore, TokenRecord, TokenResolver, TokenStore, TokenStoreError, fingerprint, mint,
    mint_with_schemes,
};
use aisoc_notify_core::async_trait;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::signature::{SignatureScheme, WebhookSigner};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use tower::ServiceExt;

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn from(ip: &str, mut request: Request<Body>) -> Request<Body> {
    let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(addr));
    request
}

fn post(token: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(format!("/{token}"))
        .header("content-type", "application/x-ndjson")
        .body(body.into())
        .unwrap()
}

async fn text(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn signed(token: &str, body: &[u8], signers: &[WebhookSigner], id: &str) -> Request<Body> {
    let mut request = Request::post(format!("/{token}")).header("content-type", "application/json");
    for signer in signers {
        for (name, value) in signer.headers(body, id, Utc::now().timestamp()) {
            request = request.header(name, value);
        }
    }
    request.body(Body::from(body.to_vec())).unwrap()
}

#[tokio::test]
async fn more_events_than_the_cap_is_413_naming_the_cap_before_anything_is_published() {
    let parts = support::memory_inbox(InboxConfig {
        max_events_per_request: 3,
        ..InboxConfig::default()
    });
    let token = mint(parts.store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap();
    let app = router(parts.inbox);
    let token = token.token.expose_secret();
    let response = app
        .clone()
        .oneshot(post(token, "{}\n".repeat(4)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(text(response).await.contains("more than 3 events"));
    let array = Request::post(format!("/{token}"))
        .body(Body::from("[{},{},{},{}]"))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(array).await.unwrap().status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert!(parts.sink.events().is_empty());
    let response = app.oneshot(post(token, "{}\n".repeat(3))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(parts.sink.events().len(), 3);
}

#[tokio::test]
async fn hec_raw_query_parameters_are_length_checked_and_set_on_every_event() {
    let parts = support::memory_inbox(InboxConfig::default());
    let token = mint(parts.store.as_ref(), "acme", "splunk-hec", None)
        .await
        .unwrap();
    let app = hec_router(parts.inbox);
    let raw = |query: String| {
        Request::post(format!("/services/collector/raw?{query}"))
            .header(
                "authorization",
                format!("Splunk {}", token.token.expose_secret()),
            )
            .body(Body::from("line one\nline two\n"))
            .unwrap()
    };
    let response = app
        .clone()
        .oneshot(raw(format!("host={}", "h".repeat(60_000))))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text(response)
            .await
            .contains("'host' is longer than 255 bytes")
    );
    let response = app.clone().oneshot(raw("time=1e300".into())).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(response).await.contains("'time'"));
    assert!(parts.sink.events().is_empty());

    let response = app
        .oneshot(raw("host=web-1&sourcetype=linux_secure".into()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let events = parts.sink.events();
    assert_eq!(events.len(), 2);
    for event in events {
        assert!(String::from_utf8_lossy(&event.payload).contains("web-1"));
    }
}

#[tokio::test]
async fn a_token_is_limited_in_events_and_bytes_per_second_not_only_requests() {
    let parts = support::memory_inbox(InboxConfig {
        max_events_per_request: 10,
        events_per_second: 10,
        ..InboxConfig::default()
    });
    let busy = mint(parts.store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap();
    let other = mint(parts.store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap();
    let app = router(parts.inbox);
    let busy = busy.token.expose_secret();
    assert_eq!(
        app.clone()
            .oneshot(post(busy, "{}\n".repeat(10)))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let response = app.clone().oneshot(post(busy, "{}\n")).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        app.oneshot(post(other.token.expose_secret(), "{}\n"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "another token of the tenant has its own budget"
    );

    let parts = support::memory_inbox(InboxConfig {
        max_body_bytes: 100,
        bytes_per_second: 100,
        ..InboxConfig::default()
    });
    let token = mint(parts.store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap();
    let app = router(parts.inbox);
    let token = token.token.expose_secret();
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(89));
    assert_eq!(body.len(), 99);
    assert_eq!(
        app.clone()
            .oneshot(post(token, body.clone()))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.oneshot(post(token, body)).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn unsigned_junk_spends_the_senders_failure_budget_never_the_tenants_quota() {
    let parts = support::memory_inbox(InboxConfig {
        rate_limit_per_minute: 3,
        auth_failures_per_minute: 5,
        ..InboxConfig::default()
    });
    let secret = "0123456789abcdef0123";
    let token = mint(
        parts.store.as_ref(),
        "acme",
        "generic-json",
        Some(secret.into()),
    )
    .await
    .unwrap();
    let token = token.token.expose_secret().to_owned();
    let app = router(parts.inbox);
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let response = app
            .clone()
            .oneshot(from("198.51.100.9", post(&token, "{}")))
            .await
            .unwrap();
        statuses.push(response.status());
    }
    assert_eq!(statuses[..5], [StatusCode::UNAUTHORIZED; 5]);
    assert!(
        statuses[5..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );

    let signer = WebhookSigner::new(SignatureScheme::Aisoc, secret).unwrap();
    for n in 0..3 {
        let body = format!("{{\"n\":{n}}}");
        let request = from(
            "203.0.113.5",
            signed(&token, body.as_bytes(), std::slice::from_ref(&signer), "m"),
        );
        assert_eq!(
            app.clone().oneshot(request).await.unwrap().status(),
            StatusCode::OK,
            "the tenant's 3 requests a minute are all the real sender's"
        );
    }
    assert_eq!(parts.sink.events().len(), 3);
}

/// A store that counts lookups, to see the negative cache work.
#[derive(Default)]
struct CountingStore {
    inner: MemoryTokenStore,
    lookups: AtomicUsize,
}

#[async_trait]
impl TokenStore for CountingStore {
    async fn insert(&self, record: &TokenRecord) -> Result<(), TokenStoreError> {
        self.inner.insert(record).await
    }

    async fn find_by_fingerprint(
        &self,
        fingerprint: &str,
    ) -> Result<Option<TokenRecord>, TokenStoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.find_by_fingerprint(fingerprint).await
    }

    async fn revoke(
        &self,
        tenant_id: &str,
        token_id: &str,
        at: DateTime<Utc>,
    ) -> Result<TokenRecord, TokenStoreError> {
        self.inner.revoke(tenant_id, token_id, at).await
    }

    async fn list(&self, tenant_id: &str) -> Result<Vec<TokenRecord>, TokenStoreError> {
        self.inner.list(tenant_id).await
    }
}

#[tokio::test]
async fn unknown_tokens_are_cached_negatively_and_limited_per_client_address() {
    let store = Arc::new(CountingStore::default());
    let store_dyn: Arc<dyn TokenStore> = store.clone();
    let (template_inbox, _) = support::inbox_with(
        InboxConfig {
            auth_failures_per_minute: 4,
            ..InboxConfig::default()
        },
        Arc::new(aisoc_inbox::sink::MemorySink::new()),
        None,
    );
    let inbox = aisoc_inbox::Inbox::new(
        TokenResolver::new(store_dyn),
        Arc::new(aisoc_inbox::template::TemplateRegistry::bundled().unwrap()),
        Arc::new(aisoc_inbox::limits::MemoryRateLimiter::per_minute(
            std::num::NonZeroU32::MAX,
        )),
        Arc::new(aisoc_inbox::limits::MemoryIdempotencyStore::default()),
        Arc::new(aisoc_inbox::sink::MemorySink::new()),
        template_inbox.config().clone(),
    );
    let app = router(inbox);
    let unknown = aisoc_inbox::token::generate_token();
    for _ in 0..3 {
        let request = from("198.51.100.1", post(unknown.expose_secret(), "{}"));
        assert_eq!(
            app.clone().oneshot(request).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(store.lookups.load(Ordering::SeqCst), 1, "one round trip");
    // A fresh unknown token each time still costs the client's budget.
    let fresh = aisoc_inbox::token::generate_token();
    let request = from("198.51.100.1", post(fresh.expose_secret(), "{}"));
    assert_eq!(
        app.clone().oneshot(request).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let request = from(
        "198.51.100.1",
        post(aisoc_inbox::token::generate_token().expose_secret(), "{}"),
    );
    assert_eq!(
        app.clone().oneshot(request).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        store.lookups.load(Ordering::SeqCst),
        2,
        "the refused one cost no lookup"
    );
    let request = from("192.0.2.1", post(fresh.expose_secret(), "{}"));
    assert_eq!(
        app.oneshot(request).await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "another address has its own budget"
    );
}

#[tokio::test]
async fn a_standard_webhooks_token_refuses_the_same_request_stripped_to_a_hex_signature() {
    let parts = support::memory_inbox(InboxConfig::default());
    let minted = mint(
        parts.store.as_ref(),
        "acme",
        "generic-json",
        Some(WHSEC.into()),
    )
    .await
    .unwrap();
    assert_eq!(
        minted.record.signature_schemes,
        Some(vec![SignatureScheme::StandardWebhooks]),
        "a whsec_ secret defaults to Standard Webhooks alone"
    );
    let token = minted.token.expose_secret();
    let app = router(parts.inbox);
    let both = [
        WebhookSigner::new(SignatureScheme::StandardWebhooks, WHSEC).unwrap(),
        WebhookSigner::new(SignatureScheme::Aisoc, WHSEC).unwrap(),
    ];
    let body = br#"{"title":"first touch"}"#;
    let original = signed(token, body, &both, "msg_1");
    assert_eq!(
        app.clone().oneshot(original).await.unwrap().status(),
        StatusCode::OK
    );

    // The replay: webhook-* headers dropped, the hex signature kept.
    let stripped = signed(token, body, &both[1..], "msg_1");
    assert_eq!(
        app.clone().oneshot(stripped).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // The replay inside the window with a fresh idempotency header is still the same message.
    let mut replay = signed(token, body, &both[..1], "msg_1");
    replay
        .headers_mut()
        .insert("x-aisoc-idempotency-key", "fresh".parse().unwrap());
    let response = app.oneshot(replay).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(text(response).await.contains("\"duplicate\":true"));
    assert_eq!(parts.sink.events().len(), 1);
}

#[tokio::test]
async fn schemes_are_chosen_at_mint_and_checked() {
    let store = MemoryTokenStore::new();
    let hex = mint(
        &store,
        "acme",
        "generic-json",
        Some("0123456789abcdef0123".into()),
    )
    .await
    .unwrap();
    assert_eq!(
        hex.record.signature_schemes.as_deref(),
        Some(&aisoc_inbox::token::HEX_SCHEMES[..])
    );
    async fn invalid(
        store: &MemoryTokenStore,
        schemes: Option<Vec<SignatureScheme>>,
        secret: Option<&str>,
    ) -> TokenStoreError {
        mint_with_schemes(
            store,
            "acme",
            "generic-json",
            secret.map(Into::into),
            schemes,
        )
        .await
        .unwrap_err()
    }
    assert!(matches!(
        invalid(&store, Some(vec![SignatureScheme::GitHub]), None).await,
        TokenStoreError::Invalid(m) if m.contains("needs a signing_secret")
    ));
    assert!(matches!(
        invalid(&store, Some(vec![]), Some(WHSEC)).await,
        TokenStoreError::Invalid(m) if m.contains("at least one")
    ));
    assert!(matches!(
        invalid(
            &store,
            Some(vec![SignatureScheme::StandardWebhooks]),
            Some("not base64 at all!!")
        )
        .await,
        TokenStoreError::Invalid(m) if m.contains("Standard Webhooks secret")
    ));
}

#[tokio::test]
async fn a_token_minted_before_policies_still_accepts_every_scheme() {
    let parts = support::memory_inbox(InboxConfig::default());
    let token = aisoc_inbox::token::generate_token();
    let record = TokenRecord {
        id: "tok_legacy".into(),
        tenant_id: "acme".into(),
        template_id: "generic-json".into(),
        fingerprint: fingerprint(token.expose_secret()),
        signing_secret: Some(SecretString::from(WHSEC.to_owned())),
        signature_schemes: None,
        created_at: Utc::now(),
        revoked_at: None,
    };
    parts.store.insert(&record).await.unwrap();
    let app = router(parts.inbox);
    for scheme in [SignatureScheme::GitHub, SignatureScheme::StandardWebhooks] {
        let signer = WebhookSigner::new(scheme, WHSEC).unwrap();
        let request = signed(
            token.expose_secret(),
            b"{}",
            &[signer],
            &format!("{scheme:?}"),
        );
        assert_eq!(
            app.clone().oneshot(request).await.unwrap().status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn requests_that_do_not_fit_the_inflight_budget_are_503_with_retry_after() {
    let parts = support::memory_inbox(InboxConfig {
        inflight_bytes: 1_000,
        ..InboxConfig::default()
    });
    let token = mint(parts.store.as_ref(), "acme", "generic-json", None)
        .await
        .unwrap();
    let app = router(parts.inbox.clone());
    let held = parts.inbox.inflight().try_reserve(900).unwrap();
    let response = app
        .clone()
        .oneshot(post(token.token.expose_secret(), "{}\n".repeat(100)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    drop(held);
    assert_eq!(parts.inbox.inflight().reserved(), 0);
}
