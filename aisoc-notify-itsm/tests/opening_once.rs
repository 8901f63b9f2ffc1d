//! Retries never open a ticket twice: ServiceNow and Jira look the ticket up by its correlation
//! key before creating it again; PagerDuty and Opsgenie send the same `dedup_key` / `alias`
//! with every attempt so the vendor folds repeats together.
//!
//! "The server created the record but the answer was lost" is a create mock that counts the
//! request and answers slower than the client's request timeout.

mod support;

use std::time::Duration;

use aisoc_notify_core::{ActionExecutor, ActionRequest, RetryClass};
use serde_json::{Value, json};
use support::{bodies, count, delivery, jira, opsgenie, pagerduty, servicenow, step};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TIMEOUT: Duration = Duration::from_secs(1);

/// An answer that arrives after the client gave up: the record exists, the client does not
/// know it.
fn lost(answer: ResponseTemplate) -> ResponseTemplate {
    answer.set_delay(TIMEOUT * 4)
}

fn incident(correlation_id: &str) -> Value {
    json!({"number": "INC0010001", "sys_id": "9d385017c611228701d22104cc95c371", "correlation_id": correlation_id})
}

fn created_incident() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({"result": incident("case-42")}))
}

/// The incident lookup answers "none" `misses` times, then `then`.
async fn servicenow_lookups(server: &MockServer, misses: u64, then: ResponseTemplate) {
    let lookup = || {
        Mock::given(method("GET"))
            .and(path("/snow/api/now/table/incident"))
            .and(query_param("sysparm_query", "correlation_id=case-42"))
    };
    if misses > 0 {
        lookup()
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": []})))
            .up_to_n_times(misses)
            .with_priority(1)
            .mount(server)
            .await;
    }
    lookup().respond_with(then).mount(server).await;
}

fn jira_issue() -> Value {
    json!({"id": "10000", "key": "SEC-1", "fields": {"labels": ["aisoc-case-42"]}})
}

/// The issue search answers "none" `misses` times, then `then`.
async fn jira_searches(server: &MockServer, misses: u64, then: ResponseTemplate) {
    let search = || {
        Mock::given(method("GET"))
            .and(path("/jira/rest/api/3/search/jql"))
            .and(query_param("jql", "labels = \"aisoc-case-42\""))
    };
    if misses > 0 {
        search()
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"issues": [], "isLast": true})),
            )
            .up_to_n_times(misses)
            .with_priority(1)
            .mount(server)
            .await;
    }
    search().respond_with(then).mount(server).await;
}

fn created_issue() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(
        json!({"id": "10000", "key": "SEC-1", "self": "https://acme.atlassian.net/rest/api/3/issue/10000"}),
    )
}

#[tokio::test]
async fn a_servicenow_timeout_after_the_incident_was_created_leaves_exactly_one_incident() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(lost(created_incident()))
        .mount(&server)
        .await;
    let found = ResponseTemplate::new(200).set_body_json(json!({"result": [incident("case-42")]}));
    servicenow_lookups(&server, 1, found).await;

    let executor = servicenow(&server, delivery(3, TIMEOUT));
    let output = executor.execute(&step("servicenow")).await.unwrap();

    assert_eq!(count(&server, "POST").await, 1, "exactly one create");
    assert_eq!(
        count(&server, "GET").await,
        2,
        "before the create, after it"
    );
    assert_eq!(output.data["key"], "INC0010001");
    assert_eq!(output.data["existing"], true);
}

#[tokio::test]
async fn a_servicenow_create_that_left_no_incident_is_sent_again_with_the_same_correlation_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(created_incident())
        .mount(&server)
        .await;
    servicenow_lookups(&server, 2, ResponseTemplate::new(500)).await;

    let executor = servicenow(&server, delivery(3, TIMEOUT));
    let output = executor.execute(&step("servicenow")).await.unwrap();

    let creates = bodies(&server, "POST").await;
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0]["correlation_id"], "case-42");
    assert_eq!(creates[1]["correlation_id"], "case-42");
    assert_eq!(output.data["key"], "INC0010001");
    assert_eq!(output.data["existing"], false);
}

#[tokio::test]
async fn a_servicenow_lookup_that_fails_after_a_timeout_creates_nothing_more_and_is_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(lost(created_incident()))
        .mount(&server)
        .await;
    servicenow_lookups(&server, 1, ResponseTemplate::new(502)).await;

    let executor = servicenow(&server, delivery(2, TIMEOUT));
    let error = executor.execute(&step("servicenow")).await.unwrap_err();

    assert_eq!(error.retry_class(), RetryClass::Retryable, "{error}");
    assert_eq!(count(&server, "POST").await, 1);
}

#[tokio::test]
async fn a_servicenow_step_run_again_finds_the_incident_the_first_run_opened() {
    let server = MockServer::start().await;
    let found = ResponseTemplate::new(200).set_body_json(json!({"result": [incident("case-42")]}));
    servicenow_lookups(&server, 0, found).await;

    let executor = servicenow(&server, delivery(2, TIMEOUT));
    let output = executor.execute(&step("servicenow")).await.unwrap();

    assert_eq!(count(&server, "POST").await, 0, "no second incident");
    assert_eq!(output.data["key"], "INC0010001");
    assert_eq!(output.data["existing"], true);
}

#[tokio::test]
async fn a_servicenow_record_with_another_correlation_id_is_not_taken_for_ours() {
    let server = MockServer::start().await;
    // An instance that ignored the query answers with the first incident it has.
    let unrelated =
        ResponseTemplate::new(200).set_body_json(json!({"result": [incident("other-tool-7")]}));
    servicenow_lookups(&server, 0, unrelated).await;
    Mock::given(method("POST"))
        .respond_with(created_incident())
        .expect(1)
        .mount(&server)
        .await;

    let executor = servicenow(&server, delivery(2, TIMEOUT));
    let output = executor.execute(&step("servicenow")).await.unwrap();
    assert_eq!(output.data["existing"], false);
}

#[tokio::test]
async fn servicenow_creates_stop_at_the_policy_s_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    servicenow_lookups(
        &server,
        0,
        ResponseTemplate::new(200).set_body_json(json!({"result": []})),
    )
    .await;

    let executor = servicenow(&server, delivery(3, TIMEOUT));
    let error = executor.execute(&step("servicenow")).await.unwrap_err();

    assert_eq!(error.retry_class(), RetryClass::Retryable);
    assert_eq!(count(&server, "POST").await, 3, "max_attempts creates");
    assert_eq!(
        count(&server, "GET").await,
        4,
        "a lookup before each and after the last"
    );
}

#[tokio::test]
async fn a_jira_timeout_after_the_issue_was_created_leaves_exactly_one_issue() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/jira/rest/api/3/issue"))
        .respond_with(lost(created_issue()))
        .mount(&server)
        .await;
    let found =
        ResponseTemplate::new(200).set_body_json(json!({"issues": [jira_issue()], "isLast": true}));
    jira_searches(&server, 1, found).await;

    let executor = jira(&server, delivery(3, TIMEOUT));
    let output = executor.execute(&step("jira")).await.unwrap();

    assert_eq!(count(&server, "POST").await, 1, "exactly one create");
    assert_eq!(output.data["key"], "SEC-1");
    assert_eq!(output.data["existing"], true);
    assert_eq!(
        output.data["url"],
        format!("{}/jira/browse/SEC-1", server.uri())
    );
}

#[tokio::test]
async fn a_jira_create_that_left_no_issue_is_sent_again_with_the_same_label() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(lost(created_issue()))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(created_issue())
        .mount(&server)
        .await;
    jira_searches(&server, 2, ResponseTemplate::new(500)).await;

    let executor = jira(&server, delivery(3, TIMEOUT));
    let output = executor.execute(&step("jira")).await.unwrap();

    let creates = bodies(&server, "POST").await;
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0]["fields"]["labels"], json!(["aisoc-case-42"]));
    assert_eq!(creates[1]["fields"]["labels"], json!(["aisoc-case-42"]));
    assert_eq!(output.data["key"], "SEC-1");
    assert_eq!(output.data["existing"], false);
}

#[tokio::test]
async fn a_jira_search_that_fails_after_a_timeout_creates_nothing_more() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(lost(created_issue()))
        .mount(&server)
        .await;
    jira_searches(
        &server,
        1,
        ResponseTemplate::new(429).insert_header("Retry-After", "600"),
    )
    .await;

    let executor = jira(&server, delivery(2, TIMEOUT));
    let error = executor.execute(&step("jira")).await.unwrap_err();

    assert_eq!(
        error.retry_class(),
        RetryClass::Throttled(Duration::from_secs(600))
    );
    assert_eq!(count(&server, "POST").await, 1);
}

#[tokio::test]
async fn a_jira_search_answer_that_is_not_a_search_result_is_an_error_not_a_miss() {
    let server = MockServer::start().await;
    jira_searches(
        &server,
        0,
        ResponseTemplate::new(200).set_body_string("<html>Sign in to continue</html>"),
    )
    .await;

    let executor = jira(&server, delivery(2, TIMEOUT));
    let error = executor.execute(&step("jira")).await.unwrap_err();

    assert_eq!(error.retry_class(), RetryClass::NonRetryable);
    assert!(!error.to_string().contains("Sign in"), "{error}");
    assert_eq!(count(&server, "POST").await, 0);
}

/// A step without `dedup_key`: the key is derived from tenant, case, run and summary.
fn derived_step(system: &str) -> ActionRequest {
    let mut request = step(system).with_case("case-9").with_run("run-3");
    request.parameters.remove("dedup_key");
    request
}

#[tokio::test]
async fn a_retried_pagerduty_trigger_carries_the_same_dedup_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(lost(ResponseTemplate::new(202)))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(json!({"status": "success", "message": "Event processed"})),
        )
        .mount(&server)
        .await;

    let executor = pagerduty(&server, delivery(3, TIMEOUT));
    let output = executor.execute(&derived_step("pagerduty")).await.unwrap();

    let triggers = bodies(&server, "POST").await;
    assert_eq!(triggers.len(), 3, "a 500, a timeout, then accepted");
    let key = triggers[0]["dedup_key"].as_str().unwrap();
    assert_eq!(key.len(), 32, "derived: {key}");
    assert!(triggers.iter().all(|t| t["dedup_key"] == key));
    assert_eq!(output.data["key"], key);

    let again = executor.execute(&derived_step("pagerduty")).await.unwrap();
    assert_eq!(again.data["key"], key, "the same step derives the same key");
}

#[tokio::test]
async fn a_retried_opsgenie_create_carries_the_same_alias() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(lost(ResponseTemplate::new(202)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(
            json!({"result": "Request will be processed", "took": 0.1, "requestId": "r-1"}),
        ))
        .mount(&server)
        .await;

    let executor = opsgenie(&server, delivery(2, TIMEOUT));
    let output = executor.execute(&derived_step("opsgenie")).await.unwrap();

    let alerts = bodies(&server, "POST").await;
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["alias"], alerts[1]["alias"]);
    assert_eq!(output.data["key"], alerts[0]["alias"]);
    assert_eq!(output.data["request_id"], "r-1");
}

#[tokio::test]
async fn a_step_key_too_long_for_an_alias_is_hashed_not_cut() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(
            json!({"result": "Request will be processed", "took": 0.1, "requestId": "r-1"}),
        ))
        .mount(&server)
        .await;
    let executor = opsgenie(&server, delivery(1, TIMEOUT));
    let long = |tail: &str| step("opsgenie").with_parameter("dedup_key", "k".repeat(600) + tail);
    executor.execute(&long("a")).await.unwrap();
    executor.execute(&long("b")).await.unwrap();
    let alerts = bodies(&server, "POST").await;
    assert_eq!(alerts[0]["alias"].as_str().unwrap().len(), 32);
    assert_ne!(alerts[0]["alias"], alerts[1]["alias"], "no shared prefix");
}
