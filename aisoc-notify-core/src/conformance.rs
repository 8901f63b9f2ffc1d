//! The contract every HTTP adapter passes (feature `test-util`).
//!
//! In the spirit of `object_store`'s `integration.rs`: the behaviour is written once, here, and
//! every notifier and executor — the workspace's and a host's own — runs it against a local mock
//! server. Given a factory from an [`Endpoint`] (the mock's URL and a [`DeliveryClient`] with the
//! outbound guard on, allowing only `127.0.0.1`) to the adapter, [`HttpContract`] drives the mock
//! through every answer a real peer gives on a bad day and asserts, for each:
//!
//! - the failure's [`RetryClass`];
//! - how many requests reached the peer (never a retry after a 4xx; every attempt after a 5xx);
//! - that `Retry-After` was honoured, as seconds (slept through) and as an HTTP date beyond the
//!   policy's patience (reported as `Throttled`, not slept);
//! - that a redirect is not followed, and its target never requested;
//! - that neither the endpoint's path, any configured secret, nor the peer's body text appear in
//!   the error's `Display` or `Debug`.
//!
//! | scenario | expected class | requests |
//! |---|---|---|
//! | 2xx (the adapter's own success answer) | delivered | 1 (2 with a lookup before the create) |
//! | 400, 401, 403, 413 | `NonRetryable` | 1 |
//! | 404, 410 | `Gone` | 1 |
//! | 429 `Retry-After: 1` | `Throttled(1s)` | 2, at least 1 s apart |
//! | 429 `Retry-After: <HTTP date in 120 s>` | `Throttled(~120s)` | 1 |
//! | 500, 503 | `Retryable` | every attempt (2) |
//! | 302 to another address | `NonRetryable` | 1, the target never |
//! | connection refused | `Retryable` | 0 |
//! | slower than the timeout | `Retryable` | every attempt (2) |
//!
//! Adapters whose creates cannot be deduplicated by the target (Jira, ServiceNow) look the
//! record up instead of sending the create again; [`HttpContract::ambiguous_requests`] tells the
//! suite how many requests that makes. Those that also look it up before the first create (so
//! that a step run again does not open a second ticket) declare it with
//! [`HttpContract::lookup_before_create`]: in the 2xx scenario their `GET` lookup is answered
//! with the peer's "nothing found", and the suite expects the lookup and the create. In every
//! other scenario the lookup gets the scenario's answer like any request.
//!
//! ```
//! use std::sync::Arc;
//! use aisoc_notify_core::conformance::HttpContract;
//! use aisoc_notify_core::delivery::DeliveryClient;
//! use aisoc_notify_core::{async_trait, Delivered, Notification, Notifier, NotifyError};
//!
//! /// Posts the title as JSON; failures keep the delivery layer's classification.
//! struct JsonHook {
//!     url: url::Url,
//!     delivery: DeliveryClient,
//! }
//!
//! #[async_trait]
//! impl Notifier for JsonHook {
//!     fn channel_type(&self) -> &str {
//!         "json-hook"
//!     }
//!
//!     async fn notify(&self, n: &Notification) -> Result<Delivered, NotifyError> {
//!         let request = self
//!             .delivery
//!             .http()
//!             .post(self.url.clone())
//!             .json(&serde_json::json!({"title": n.title}))
//!             .build()
//!             .map_err(|e| NotifyError::Render(e.without_url().to_string()))?;
//!         self.delivery.send(request).await?.error_for_status()?;
//!         Ok(Delivered::default())
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! HttpContract::new("json-hook")
//!     .check_notifier(|endpoint| {
//!         let hook = JsonHook { url: endpoint.url.clone(), delivery: endpoint.delivery.clone() };
//!         Ok(Arc::new(hook) as Arc<dyn Notifier>)
//!     })
//!     .await;
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::join_all;
use wiremock::matchers::{any, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::action::{ActionExecutor, ActionRequest};
use crate::delivery::{DeliveryClient, DeliveryConfig};
use crate::destination::DestinationPolicy;
use crate::notification::{EventType, Notification, Severity};
use crate::notifier::Notifier;
use crate::retry::{RetryClass, RetryPolicy};

/// A marker the mock puts in every error body; it must never reach an error message.
pub const PEER_BODY_MARKER: &str = "PEER-BODY-MARKER-7f3a";

const PATH_SECRET: &str = "path-secret-c0ffee42";
const MAX_ATTEMPTS: u32 = 2;
/// Long enough that a mock server starved of CPU (a loaded two-core CI runner, several contract
/// runs at once) still answers inside it: at 500 ms, answers of an ordinary 2xx scenario timed
/// out and were retried, and the request counts flaked.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the adapter under test sends, and the client it sends with.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// A URL on the mock whose path carries a secret (as Slack and Teams webhook URLs do).
    pub url: url::Url,
    /// The mock's root (`http://127.0.0.1:<port>/`), for adapters configured with a base URL.
    pub base: url::Url,
    /// A delivery client with the guard on (only `127.0.0.1` allowed), two attempts, short
    /// backoff, a 2 s request timeout and 2 s of `Retry-After` patience.
    pub delivery: DeliveryClient,
}

impl Endpoint {
    /// The secret part of [`url`](Self::url): its last path segment, the marker a leak test
    /// looks for in logs and `Debug` output.
    pub fn path_secret(&self) -> String {
        self.url
            .path_segments()
            .and_then(Iterator::last)
            .unwrap_or_default()
            .to_owned()
    }
}

/// Every line this process logs through `tracing` (and the `log` bridge), from any crate and
/// any thread, at TRACE: for secret-leak tests, which assert that no marker secret appears in
/// it. The first call installs one global subscriber writing into the returned buffer, so call
/// it before driving the code under test; a test binary that installs its own subscriber first
/// makes this panic, loudly, rather than capture nothing.
///
/// ```
/// use aisoc_notify_core::conformance::captured_logs;
///
/// let logs = captured_logs();
/// tracing::info!(secret_free = true, "a line the capture must hold");
/// let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
/// assert!(text.contains("a line the capture must hold"));
/// ```
pub fn captured_logs() -> Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LineSink(Arc::clone(&sink)))
            .try_init()
            .expect("captured_logs installs the only subscriber of this test binary");
        logs
    })
    .clone()
}

/// What a secret-leak test collects while driving an adapter through [`HttpContract`]: each
/// endpoint's [secret path segment](Endpoint::path_secret) and the `Debug` texts of what the
/// factories built (builders, configs, notifiers, executors).
/// [`LeakWatch::assert_nothing_leaked`] then checks them, and every line of [`captured_logs`],
/// for those markers and any fixed ones (tokens, signing secrets) the test configured.
#[derive(Debug, Default)]
pub struct LeakWatch {
    markers: std::sync::Mutex<Vec<String>>,
    debugs: std::sync::Mutex<Vec<String>>,
}

impl LeakWatch {
    /// Records `endpoint`'s secret path segment and the `Debug` text of what was built for it.
    pub fn record(&self, endpoint: &Endpoint, debug: String) {
        lock(&self.markers).push(endpoint.path_secret());
        lock(&self.debugs).push(debug);
    }

    /// Records texts that must not show a marker either (a verifier's `Debug`, an error's
    /// `Display`), outside the contract's endpoints.
    pub fn record_texts(&self, texts: impl IntoIterator<Item = String>) {
        lock(&self.debugs).extend(texts);
    }

    /// Panics naming the first marker (recorded, or in `fixed`) found in a recorded `Debug`
    /// text or a captured log line. Asserts first that the capture saw the delivery layer's
    /// retries (which every contract run causes), so an empty capture cannot pass.
    pub fn assert_nothing_leaked(&self, fixed: &[&str]) {
        let logs = String::from_utf8_lossy(&lock(&captured_logs())).into_owned();
        assert!(
            logs.contains("retrying after status"),
            "the TRACE capture saw the delivery layer"
        );
        let markers = lock(&self.markers);
        let debugs = lock(&self.debugs);
        for marker in markers
            .iter()
            .map(String::as_str)
            .chain(fixed.iter().copied())
        {
            for debug in debugs.iter() {
                assert!(!debug.contains(marker), "Debug shows '{marker}': {debug}");
            }
            if let Some(line) = logs.lines().find(|line| line.contains(marker)) {
                panic!("a log line shows '{marker}': {line}");
            }
        }
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The writer [`captured_logs`] appends through.
struct LineSink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LineSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A failure as the suite sees it: its class and how it prints.
#[derive(Clone)]
pub struct Failure {
    class: RetryClass,
    display: String,
    debug: String,
}

impl Failure {
    /// Captures an error's class, `Display` and `Debug`.
    pub fn of<E: fmt::Display + fmt::Debug>(error: &E, class: RetryClass) -> Self {
        Self {
            class,
            display: error.to_string(),
            debug: format!("{error:?}"),
        }
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.display, self.class)
    }
}

/// One call of the operation under test.
pub type Attempt = Pin<Box<dyn Future<Output = Result<(), Failure>> + Send>>;

/// The operation under test, callable once per scenario.
pub type Subject = Box<dyn FnOnce() -> Attempt + Send>;

/// An error a factory may return when the adapter cannot be built for an endpoint.
pub type FactoryError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Delivered,
    Class(RetryClass),
    ThrottledAbout(Duration),
}

#[derive(Debug, Clone, Copy)]
enum Answer {
    Success,
    Status(u16),
    RetryAfterSeconds,
    RetryAfterDate,
    Redirect,
    Slow,
    Refused,
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    name: &'static str,
    answer: Answer,
    expect: Expect,
    requests: Requests,
}

#[derive(Debug, Clone, Copy)]
enum Requests {
    /// The create, after the lookup when the adapter looks the record up first.
    Delivery,
    Exactly(usize),
    /// Every attempt, or what the adapter declared for answers that leave a create's effect
    /// unknown.
    Ambiguous,
}

fn scenarios() -> Vec<Scenario> {
    use Answer::*;
    use Expect::*;
    use Requests::*;
    let class = Expect::Class;
    vec![
        Scenario {
            name: "2xx",
            answer: Success,
            expect: Delivered,
            requests: Delivery,
        },
        Scenario {
            name: "400",
            answer: Status(400),
            expect: class(RetryClass::NonRetryable),
            requests: Exactly(1),
        },
        Scenario {
            name: "401",
            answer: Status(401),
            expect: class(RetryClass::NonRetryable),
            requests: Exactly(1),
        },
        Scenario {
            name: "403",
            answer: Status(403),
            expect: class(RetryClass::NonRetryable),
            requests: Exactly(1),
        },
        Scenario {
            name: "404",
            answer: Status(404),
            expect: class(RetryClass::Gone),
            requests: Exactly(1),
        },
        Scenario {
            name: "410",
            answer: Status(410),
            expect: class(RetryClass::Gone),
            requests: Exactly(1),
        },
        Scenario {
            name: "413",
            answer: Status(413),
            expect: class(RetryClass::NonRetryable),
            requests: Exactly(1),
        },
        Scenario {
            name: "429 Retry-After seconds",
            answer: RetryAfterSeconds,
            expect: class(RetryClass::Throttled(Duration::from_secs(1))),
            requests: Exactly(MAX_ATTEMPTS as usize),
        },
        Scenario {
            name: "429 Retry-After HTTP date",
            answer: RetryAfterDate,
            expect: ThrottledAbout(Duration::from_secs(120)),
            requests: Exactly(1),
        },
        Scenario {
            name: "500",
            answer: Status(500),
            expect: class(RetryClass::Retryable),
            requests: Ambiguous,
        },
        Scenario {
            name: "503",
            answer: Status(503),
            expect: class(RetryClass::Retryable),
            requests: Ambiguous,
        },
        Scenario {
            name: "302",
            answer: Redirect,
            expect: class(RetryClass::NonRetryable),
            requests: Exactly(1),
        },
        Scenario {
            name: "connection refused",
            answer: Refused,
            expect: class(RetryClass::Retryable),
            requests: Exactly(0),
        },
        Scenario {
            name: "slower than the timeout",
            answer: Slow,
            expect: class(RetryClass::Retryable),
            requests: Ambiguous,
        },
    ]
}

/// The HTTP contract, configured for one adapter.
#[derive(Debug, Clone)]
pub struct HttpContract {
    name: String,
    success: ResponseTemplate,
    secrets: Vec<String>,
    ambiguous_requests: usize,
    lookup_not_found: Option<ResponseTemplate>,
}

impl HttpContract {
    /// The contract for the adapter called `name` (used in assertion messages). Its success
    /// answer defaults to `200 ok`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            success: ResponseTemplate::new(200).set_body_string("ok"),
            secrets: Vec::new(),
            ambiguous_requests: MAX_ATTEMPTS as usize,
            lookup_not_found: None,
        }
    }

    /// The peer's success answer (Slack's `{"ok":true,…}`, a push service's 201, Jira's
    /// created issue…).
    pub fn success(mut self, answer: ResponseTemplate) -> Self {
        self.success = answer;
        self
    }

    /// A secret the factory configures (a signing key, a token); it must never print.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// Requests the adapter makes when every answer is a 5xx or a timeout (the create's
    /// effect is unknown). Defaults to every attempt (2); a create that looks the record up
    /// before sending again makes the create and one lookup, also 2.
    pub fn ambiguous_requests(mut self, requests: usize) -> Self {
        self.ambiguous_requests = requests;
        self
    }

    /// The adapter looks the record up with a `GET` before creating it; `not_found` is the
    /// peer's answer when there is none (Jira's `{"issues":[]}`, ServiceNow's
    /// `{"result":[]}`). The 2xx scenario answers `GET`s with it and expects 2 requests.
    pub fn lookup_before_create(mut self, not_found: ResponseTemplate) -> Self {
        self.lookup_not_found = Some(not_found);
        self
    }

    /// Runs the contract for a notifier made by `make` for each scenario.
    pub async fn check_notifier<F>(&self, make: F)
    where
        F: Fn(&Endpoint) -> Result<Arc<dyn Notifier>, FactoryError>,
    {
        let notification = Notification::new(
            "acme",
            EventType::P0Alert,
            Severity::Critical,
            "Ransomware on web-01",
        )
        .with_body("Contract check");
        self.check(|endpoint| {
            let notifier = make(endpoint)?;
            let notification = notification.clone();
            let subject: Subject = Box::new(move || {
                Box::pin(async move {
                    notifier
                        .notify(&notification)
                        .await
                        .map(drop)
                        .map_err(|error| Failure::of(&error, error.retry_class()))
                })
            });
            Ok(subject)
        })
        .await;
    }

    /// Runs the contract for an executor made by `make`, running `request`.
    pub async fn check_executor<F>(&self, request: ActionRequest, make: F)
    where
        F: Fn(&Endpoint) -> Result<Arc<dyn ActionExecutor>, FactoryError>,
    {
        self.check_executor_with(|endpoint| Ok((make(endpoint)?, request.clone())))
            .await;
    }

    /// Runs the contract for an executor whose destination is a parameter of the request (a
    /// `webhook_url`): `make` builds both for each scenario's endpoint.
    pub async fn check_executor_with<F>(&self, make: F)
    where
        F: Fn(&Endpoint) -> Result<(Arc<dyn ActionExecutor>, ActionRequest), FactoryError>,
    {
        self.check(|endpoint| {
            let (executor, request) = make(endpoint)?;
            let subject: Subject = Box::new(move || {
                Box::pin(async move {
                    executor
                        .execute(&request)
                        .await
                        .map(drop)
                        .map_err(|error| Failure::of(&error, error.retry_class()))
                })
            });
            Ok(subject)
        })
        .await;
    }

    /// Runs the contract for any operation: `make` builds it for one scenario's endpoint.
    /// Every scenario is set up first (mock servers, the adapter), then all run concurrently
    /// against their own mock server, so one scenario's set-up never stalls another's request
    /// past its timeout; the first broken promise panics with the adapter's name and the
    /// scenario.
    pub async fn check<F>(&self, make: F)
    where
        F: Fn(&Endpoint) -> Result<Subject, FactoryError>,
    {
        let delivery = contract_delivery();
        let mut staged = Vec::new();
        for scenario in scenarios() {
            let stage = self
                .prepare(scenario, &make, &delivery)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            staged.push(stage);
        }
        let runs = staged.into_iter().map(|stage| async move {
            let started = Instant::now();
            let outcome = (stage.subject)().await;
            (
                stage.label,
                stage.scenario,
                stage.server,
                stage.elsewhere,
                outcome,
                started.elapsed(),
            )
        });
        for (label, scenario, server, elsewhere, outcome, elapsed) in join_all(runs).await {
            self.verify(&label, scenario, &server, &elsewhere, outcome, elapsed)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        self.check_forbidden_destination(&make, &delivery).await;
    }

    async fn prepare<F>(
        &self,
        scenario: Scenario,
        make: &F,
        delivery: &DeliveryClient,
    ) -> Result<Stage, String>
    where
        F: Fn(&Endpoint) -> Result<Subject, FactoryError>,
    {
        let label = format!("{} / {}", self.name, scenario.name);
        let server = MockServer::start().await;
        let elsewhere = redirect_target().await;
        let base = match scenario.answer {
            // The port was bound, then released: nothing listens there.
            Answer::Refused => refused_base(),
            _ => server.uri().parse::<url::Url>().expect("mock URI"),
        };
        if let (Answer::Success, Some(not_found)) = (scenario.answer, &self.lookup_not_found) {
            Mock::given(method("GET"))
                .respond_with(not_found.clone())
                .with_priority(1)
                .mount(&server)
                .await;
        }
        Mock::given(any())
            .respond_with(self.answer(scenario.answer, &elsewhere.uri()))
            .mount(&server)
            .await;
        let endpoint = endpoint(&base, delivery);
        let subject = make(&endpoint).map_err(|e| format!("{label}: factory failed: {e}"))?;
        Ok(Stage {
            label,
            scenario,
            server,
            elsewhere,
            subject,
        })
    }

    async fn verify(
        &self,
        label: &str,
        scenario: Scenario,
        server: &MockServer,
        elsewhere: &MockServer,
        outcome: Result<(), Failure>,
        elapsed: Duration,
    ) -> Result<(), String> {
        let requests = match scenario.answer {
            Answer::Refused => 0,
            _ => server.received_requests().await.unwrap_or_default().len(),
        };
        let expected_requests = match scenario.requests {
            Requests::Delivery => 1 + usize::from(self.lookup_not_found.is_some()),
            Requests::Exactly(n) => n,
            Requests::Ambiguous => self.ambiguous_requests,
        };
        if requests != expected_requests {
            return Err(format!(
                "{label}: {requests} request(s) reached the peer, expected {expected_requests} (outcome {outcome:?})"
            ));
        }
        let redirected = elsewhere
            .received_requests()
            .await
            .unwrap_or_default()
            .len();
        if redirected != 0 {
            return Err(format!("{label}: the redirect target was requested"));
        }
        match (scenario.expect, outcome) {
            (Expect::Delivered, Ok(())) => Ok(()),
            (Expect::Delivered, Err(failure)) => {
                Err(format!("{label}: expected delivery, got {failure:?}"))
            }
            (_, Ok(())) => Err(format!("{label}: expected a failure, got success")),
            (Expect::Class(class), Err(failure)) => {
                if failure.class != class {
                    return Err(format!(
                        "{label}: expected {class:?}, got {:?} ({})",
                        failure.class, failure.display
                    ));
                }
                if let RetryClass::Throttled(wait) = class
                    && elapsed < wait
                {
                    return Err(format!(
                        "{label}: retried after {elapsed:?}, before the {wait:?} asked for"
                    ));
                }
                self.check_printing(label, &failure)
            }
            (Expect::ThrottledAbout(about), Err(failure)) => {
                let RetryClass::Throttled(wait) = failure.class else {
                    return Err(format!(
                        "{label}: expected Throttled(~{about:?}), got {:?}",
                        failure.class
                    ));
                };
                let floor = about.saturating_sub(Duration::from_secs(5));
                if wait < floor || wait > about {
                    return Err(format!(
                        "{label}: expected Throttled(~{about:?}), got {wait:?}"
                    ));
                }
                if elapsed >= Duration::from_secs(5) {
                    return Err(format!(
                        "{label}: slept {elapsed:?} through a long Retry-After"
                    ));
                }
                self.check_printing(label, &failure)
            }
        }
    }

    /// A destination the guard forbids (the metadata address) is refused before any request:
    /// by the factory (a builder that validates) or as a `NonRetryable` failure.
    async fn check_forbidden_destination<F>(&self, make: &F, delivery: &DeliveryClient)
    where
        F: Fn(&Endpoint) -> Result<Subject, FactoryError>,
    {
        let label = format!("{} / forbidden destination", self.name);
        let base: url::Url = "https://169.254.169.254/".parse().expect("static URL");
        let endpoint = endpoint(&base, delivery);
        let Ok(subject) = make(&endpoint) else {
            return;
        };
        match subject().await {
            Ok(()) => panic!("{label}: delivered to the metadata address"),
            Err(failure) => {
                assert_eq!(
                    failure.class,
                    RetryClass::NonRetryable,
                    "{label}: {failure:?}"
                );
                self.check_printing(&label, &failure)
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }

    fn check_printing(&self, label: &str, failure: &Failure) -> Result<(), String> {
        let forbidden = self
            .secrets
            .iter()
            .map(String::as_str)
            .chain([PATH_SECRET, PEER_BODY_MARKER]);
        for secret in forbidden {
            for (form, text) in [("Display", &failure.display), ("Debug", &failure.debug)] {
                if text.contains(secret) {
                    return Err(format!(
                        "{label}: the error's {form} shows '{secret}': {text}"
                    ));
                }
            }
        }
        Ok(())
    }

    fn answer(&self, answer: Answer, elsewhere: &str) -> ResponseTemplate {
        let body = format!("<html><body>{PEER_BODY_MARKER}</body></html>");
        match answer {
            Answer::Success => self.success.clone(),
            Answer::Status(status) => ResponseTemplate::new(status).set_body_string(body),
            Answer::RetryAfterSeconds => ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_string(body),
            Answer::RetryAfterDate => {
                let at = std::time::SystemTime::from(Utc::now() + Duration::from_secs(120));
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", httpdate::fmt_http_date(at).as_str())
                    .set_body_string(body)
            }
            Answer::Redirect => ResponseTemplate::new(302)
                .insert_header("Location", format!("{elsewhere}/metadata").as_str()),
            Answer::Slow => self.success.clone().set_delay(REQUEST_TIMEOUT * 3),
            Answer::Refused => self.success.clone(),
        }
    }
}

/// The delivery client every scenario uses: guard on, loopback 127.0.0.1 only.
pub fn contract_delivery() -> DeliveryClient {
    DeliveryClient::new(DeliveryConfig {
        connect_timeout: Duration::from_secs(1),
        request_timeout: REQUEST_TIMEOUT,
        retry: RetryPolicy {
            max_attempts: MAX_ATTEMPTS,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            max_retry_after: Duration::from_secs(2),
        },
        destinations: DestinationPolicy::guarded()
            .allow("127.0.0.1/32")
            .expect("a valid CIDR"),
        ..DeliveryConfig::default()
    })
    .expect("the contract's delivery client builds")
}

fn endpoint(base: &url::Url, delivery: &DeliveryClient) -> Endpoint {
    let url = base
        .join(&format!("hooks/T0/{PATH_SECRET}"))
        .expect("a joinable base");
    Endpoint {
        url,
        base: base.clone(),
        delivery: delivery.clone(),
    }
}

/// A second mock on another loopback address (127.0.0.2), which the contract's guard does not
/// allow: a redirect there must never be requested.
async fn redirect_target() -> MockServer {
    let listener = TcpListener::bind("127.0.0.2:0").expect("127.0.0.2 is on loopback");
    let server = MockServer::builder().listener(listener).start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    server
}

/// A base URL where nothing listens: the port was bound, then released.
fn refused_base() -> url::Url {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a free port")
        .port();
    format!("http://127.0.0.1:{port}/")
        .parse()
        .expect("a valid URL")
}

/// One scenario, set up and ready to run.
struct Stage {
    label: String,
    scenario: Scenario,
    server: MockServer,
    elsewhere: MockServer,
    subject: Subject,
}

pub mod metrics;

/// Stub and recording implementations of the core traits, for host code's tests.
pub mod stub {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use async_trait::async_trait;

    use crate::action::{ActionError, ActionExecutor, ActionOutput, ActionRequest};
    use crate::notification::Notification;
    use crate::notifier::{Delivered, Notifier, NotifyError};

    /// A [`Notifier`] that records every notification and answers from a script (delivered
    /// once the script runs out), in the spirit of lettre's `StubTransport`.
    ///
    /// ```
    /// use aisoc_notify_core::conformance::stub::RecordingNotifier;
    /// use aisoc_notify_core::{EventType, Notification, Notifier, NotifyError, Severity};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let notifier = RecordingNotifier::new("stub").then_fail(NotifyError::Gone {
    ///     service: "stub",
    ///     code: "410".into(),
    /// });
    /// let n = Notification::new("acme", EventType::P0Alert, Severity::High, "Disk full");
    /// assert!(notifier.notify(&n).await.is_err());
    /// assert!(notifier.notify(&n).await.is_ok());
    /// assert_eq!(notifier.sent().len(), 2);
    /// # });
    /// ```
    #[derive(Debug)]
    pub struct RecordingNotifier {
        channel_type: String,
        script: Mutex<VecDeque<Result<Delivered, NotifyError>>>,
        sent: Mutex<Vec<Notification>>,
    }

    impl RecordingNotifier {
        /// A notifier of `channel_type` that delivers everything.
        pub fn new(channel_type: impl Into<String>) -> Self {
            Self {
                channel_type: channel_type.into(),
                script: Mutex::new(VecDeque::new()),
                sent: Mutex::new(Vec::new()),
            }
        }

        /// Queues a failure for the next call not yet scripted.
        pub fn then_fail(self, error: NotifyError) -> Self {
            lock(&self.script).push_back(Err(error));
            self
        }

        /// Queues a delivery with a receipt.
        pub fn then_deliver(self, delivered: Delivered) -> Self {
            lock(&self.script).push_back(Ok(delivered));
            self
        }

        /// Every notification received, in order.
        pub fn sent(&self) -> Vec<Notification> {
            lock(&self.sent).clone()
        }
    }

    #[async_trait]
    impl Notifier for RecordingNotifier {
        fn channel_type(&self) -> &str {
            &self.channel_type
        }

        async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
            lock(&self.sent).push(notification.clone());
            lock(&self.script)
                .pop_front()
                .unwrap_or_else(|| Ok(Delivered::default()))
        }
    }

    type ExecutorAnswer =
        Box<dyn Fn(&ActionRequest) -> Result<ActionOutput, ActionError> + Send + Sync>;

    /// An [`ActionExecutor`] that records every request and answers with a function of it.
    ///
    /// ```
    /// use aisoc_notify_core::conformance::stub::RecordingExecutor;
    /// use aisoc_notify_core::{ActionExecutor, ActionOutput, ActionRequest};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let executor = RecordingExecutor::answering(|request| {
    ///     Ok(ActionOutput::default().with("key", format!("SEC-{}", request.tenant_id.len())))
    /// });
    /// let output = executor.execute(&ActionRequest::new("create_ticket", "acme")).await.unwrap();
    /// assert_eq!(output.data["key"], "SEC-4");
    /// assert_eq!(executor.requests().len(), 1);
    /// # });
    /// ```
    pub struct RecordingExecutor {
        answer: ExecutorAnswer,
        requests: Mutex<Vec<ActionRequest>>,
    }

    impl std::fmt::Debug for RecordingExecutor {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("RecordingExecutor")
                .field("requests", &lock(&self.requests).len())
                .finish_non_exhaustive()
        }
    }

    impl RecordingExecutor {
        /// An executor that succeeds with no output.
        pub fn succeeding() -> Self {
            Self::answering(|_| Ok(ActionOutput::default()))
        }

        /// An executor that answers each request with `answer`.
        pub fn answering(
            answer: impl Fn(&ActionRequest) -> Result<ActionOutput, ActionError> + Send + Sync + 'static,
        ) -> Self {
            Self {
                answer: Box::new(answer),
                requests: Mutex::new(Vec::new()),
            }
        }

        /// Every request received, in order.
        pub fn requests(&self) -> Vec<ActionRequest> {
            lock(&self.requests).clone()
        }
    }

    #[async_trait]
    impl ActionExecutor for RecordingExecutor {
        async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
            lock(&self.requests).push(request.clone());
            (self.answer)(request)
        }
    }

    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
