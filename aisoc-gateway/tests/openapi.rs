//! `GET /openapi.json` on the real binary: a valid OpenAPI 3.1 document, checked by validators
//! that share no code with the generator, that names exactly the routes the gateway serves.
//!
//! Fixtures (official schemas, vendored so the test never reaches the network):
//!
//! | file | `$id` | from |
//! |---|---|---|
//! | `fixtures/openapi-3.1-schema.json` | `https://spec.openapis.org/oas/3.1/schema/2022-10-07` | PyPI `openapi-spec-validator` 0.9.0, `resources/schemas/v3.1/schema.json` |
//! | `fixtures/openapi-3.1-dialect-base.json` | `https://spec.openapis.org/oas/3.1/dialect/base` | PyPI `openapi-schema-validator` 0.9.0, `schemas/oas3.1/metaschema.json` |
//! | `fixtures/openapi-3.1-meta-base.json` | `https://spec.openapis.org/oas/3.1/meta/base` | PyPI `openapi-schema-validator` 0.9.0, `schemas/oas3.1/vocabularies/base` |
//!
//! The 2022-10-07 document schema checks the document's structure and leaves Schema Objects
//! open (`$dynamicAnchor: meta`); [`schema_base`] is the official `schema-base/2022-10-07`
//! composition, which re-anchors `meta` on the OpenAPI dialect so every Schema Object in the
//! document is validated as well. The draft 2020-12 meta-schemas the dialect refers to are
//! built into the `jsonschema` crate; the registry is used offline, so a reference that is not
//! vendored fails the build of the validator rather than being fetched.
//!
//! When `python3 -m openapi_spec_validator` is importable it validates the document too (it
//! also resolves every `$ref` and checks operation ids); when it is not, that part is skipped
//! with a note.
//!
//! Completeness, both ways:
//! - every documented operation, requested on the binary without credentials, is routed (an
//!   unrouted path is axum's empty 404, an unrouted method 405), and an operation that names
//!   the admin bearer scheme is refused 401 without it;
//! - every `.route("…")` in the gateway's sources and in the crates' routers it mounts
//!   ([`MOUNTS`], with their nest prefixes) is documented; a source file with routes, or a
//!   router mounted by the binary, that the table does not know fails the test by name.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Value, json};
use support::Gateway;

const ADMIN: &str = "openapi-admin-token";

const SCHEMA_ID: &str = "https://spec.openapis.org/oas/3.1/schema/2022-10-07";
const DIALECT_ID: &str = "https://spec.openapis.org/oas/3.1/dialect/base";
const META_ID: &str = "https://spec.openapis.org/oas/3.1/meta/base";
const SCHEMA_BASE_ID: &str = "https://spec.openapis.org/oas/3.1/schema-base/2022-10-07";

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// A router the binary mounts: how the binary names it, where it is nested, and the function
/// (in a source file relative to this package) whose `.route(…)` calls it serves.
struct Mount {
    /// The call in `src/bin/aisoc-gateway.rs`, without `aisoc_gateway::`.
    call: &'static str,
    /// The nest prefix (empty when merged at the root).
    prefix: &'static str,
    file: &'static str,
    function: &'static str,
}

const MOUNTS: &[Mount] = &[
    Mount {
        call: "app",
        prefix: "",
        file: "src/app.rs",
        function: "app",
    },
    Mount {
        call: "dead_letters::router",
        prefix: "",
        file: "src/dead_letters.rs",
        function: "router",
    },
    Mount {
        call: "actions::router",
        prefix: "",
        file: "src/actions.rs",
        function: "router",
    },
    Mount {
        call: "itsm_store::router",
        prefix: "",
        file: "src/itsm_store/routes.rs",
        function: "router",
    },
    Mount {
        call: "follow_ups::router",
        prefix: "",
        file: "src/follow_ups.rs",
        function: "router",
    },
    Mount {
        call: "channels::router",
        prefix: "",
        file: "src/channels/http.rs",
        function: "router",
    },
    Mount {
        call: "connectors::router",
        prefix: "",
        file: "src/connectors.rs",
        function: "router",
    },
    Mount {
        call: "rules::router",
        prefix: "",
        file: "src/rules.rs",
        function: "router",
    },
    Mount {
        call: "user_tokens::router",
        prefix: "",
        file: "src/user_tokens.rs",
        function: "router",
    },
    Mount {
        call: "approval_cards::answer::router",
        prefix: "",
        file: "src/approval_cards/answer.rs",
        function: "router",
    },
    Mount {
        call: "openapi::router",
        prefix: "",
        file: "src/openapi.rs",
        function: "router",
    },
    Mount {
        call: "aisoc_inbox::router::hec_router",
        prefix: "",
        file: "../aisoc-inbox/src/router.rs",
        function: "hec_router",
    },
    Mount {
        call: "aisoc_inbox::router::router",
        prefix: "/v1/inbox",
        file: "../aisoc-inbox/src/router.rs",
        function: "router",
    },
    Mount {
        call: "aisoc_notify_approvals::routes::router",
        prefix: "/v1",
        file: "../aisoc-notify-approvals/src/routes.rs",
        function: "router",
    },
    Mount {
        call: "aisoc_notify_approvals::routes::approvals_router",
        prefix: "/v1",
        file: "../aisoc-notify-approvals/src/routes/rest.rs",
        function: "approvals_router",
    },
    Mount {
        call: "aisoc_inbox::router::token_admin_router",
        prefix: "/v1/admin/inbox",
        file: "../aisoc-inbox/src/router/tokens.rs",
        function: "token_admin_router",
    },
    Mount {
        call: "oncall_store::router",
        prefix: "/api/v1/oncall",
        file: "../aisoc-notify-webpush/src/oncall.rs",
        function: "router",
    },
    Mount {
        call: "push::router",
        prefix: "/api/v1/push",
        file: "../aisoc-notify-webpush/src/routes.rs",
        function: "router_with",
    },
    Mount {
        call: "push::inapp_router",
        prefix: "/api/v1/inapp",
        file: "../aisoc-notify-inapp/src/routes.rs",
        function: "router",
    },
    Mount {
        call: "aisoc_notify_slack::routes::router",
        prefix: "/v1/slack",
        file: "../aisoc-notify-slack/src/routes.rs",
        function: "router",
    },
    Mount {
        call: "bot_framework::router",
        prefix: "/v1/teams",
        file: "../aisoc-notify-teams/src/bot_framework/route.rs",
        function: "router",
    },
    Mount {
        call: "aisoc_notify_teams::routes::router",
        prefix: "/v1/teams",
        file: "../aisoc-notify-teams/src/routes.rs",
        function: "router",
    },
];

/// The gateway with every optional router mounted (Slack and Teams need their secrets).
async fn gateway() -> Gateway {
    let (gateway, _) = Gateway::start_with(
        Some(ADMIN),
        &[],
        &[
            ("SLACK_SIGNING_SECRET", "openapi-slack-secret"),
            // Any base64 key: the outgoing-webhook HMAC secret.
            (
                "TEAMS_OUTGOING_WEBHOOK_SECRET",
                "b3BlbmFwaS10ZWFtcy1zZWNyZXQ=",
            ),
            // The bot's messaging endpoint (its keys are fetched only for a request with a
            // token, which the probes never send).
            ("TEAMS_APP_ID", "00000000-0000-4000-8000-0000000a11ce"),
        ],
    )
    .await;
    gateway
}

async fn served_document(gateway: &Gateway) -> Value {
    let response = reqwest::get(gateway.url("/openapi.json")).await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "GET /openapi.json needs no credentials"
    );
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    response.json().await.unwrap()
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The official `schema-base/2022-10-07`: the document schema with Schema Objects validated
/// against the OpenAPI 3.1 base dialect.
fn schema_base() -> Value {
    json!({
        "$id": SCHEMA_BASE_ID,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": SCHEMA_ID,
        "properties": {"jsonSchemaDialect": {"$ref": "#/$defs/dialect"}},
        "$defs": {
            "dialect": {"const": DIALECT_ID},
            "schema": {
                "$dynamicAnchor": "meta",
                "$ref": DIALECT_ID,
                "properties": {"$schema": {"$ref": "#/$defs/dialect"}}
            }
        }
    })
}

/// The OpenAPI 3.1 validator, from the vendored schemas only.
fn openapi_validator() -> jsonschema::Validator {
    let registry = jsonschema::Registry::new()
        .add(SCHEMA_ID, fixture("openapi-3.1-schema.json"))
        .unwrap()
        .add(DIALECT_ID, fixture("openapi-3.1-dialect-base.json"))
        .unwrap()
        .add(META_ID, fixture("openapi-3.1-meta-base.json"))
        .unwrap()
        .prepare()
        .unwrap();
    jsonschema::options()
        .offline()
        .with_registry(&registry)
        .build(&schema_base())
        .expect("the vendored OpenAPI 3.1 schemas resolve offline")
}

fn schema_errors(validator: &jsonschema::Validator, document: &Value) -> Vec<String> {
    validator
        .iter_errors(document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[tokio::test]
async fn the_served_document_is_valid_openapi_3_1() {
    let gateway = gateway().await;
    let document = served_document(&gateway).await;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        document["openapi"]
    );
    assert_eq!(document["info"]["title"], "aisoc-gateway");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));

    let validator = openapi_validator();
    let errors = schema_errors(&validator, &document);
    assert!(
        errors.is_empty(),
        "not valid OpenAPI 3.1:\n{}",
        errors.join("\n")
    );

    // The validator does reject what the specification forbids: a document without `info`,
    // a response without its required description, and a Schema Object the dialect refuses
    // (which only the schema-base composition checks).
    let mut without_info = document.clone();
    without_info.as_object_mut().unwrap().remove("info");
    assert!(!validator.is_valid(&without_info));
    let mut bad_response = document.clone();
    bad_response["paths"]["/healthz"]["get"]["responses"]["200"]
        .as_object_mut()
        .unwrap()
        .remove("description");
    assert!(!validator.is_valid(&bad_response));
    let mut bad_schema = document.clone();
    bad_schema["components"]["schemas"]["ApiError"] = json!({"type": 5});
    assert!(
        !validator.is_valid(&bad_schema),
        "Schema Objects must be checked against the OpenAPI dialect"
    );
}

#[tokio::test]
async fn openapi_spec_validator_accepts_the_document_when_it_is_installed() {
    let importable = std::process::Command::new("python3")
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !importable {
        eprintln!(
            "note: python3 -m openapi_spec_validator is not importable here; skipped (the \
             jsonschema validation in the_served_document_is_valid_openapi_3_1 still ran)"
        );
        return;
    }
    let gateway = gateway().await;
    let document = served_document(&gateway).await;
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "openapi-{}-{:016x}.json",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(&path, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "openapi-spec-validator refused the document:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every `(METHOD, path)` in the document.
fn documented(document: &Value) -> BTreeMap<(String, String), Value> {
    let mut operations = BTreeMap::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in HTTP_METHODS {
            if let Some(operation) = item.get(method) {
                operations.insert((method.to_uppercase(), path.clone()), operation.clone());
            }
        }
    }
    operations
}

fn names_admin_bearer(operation: &Value) -> bool {
    operation["security"]
        .as_array()
        .is_some_and(|schemes| schemes.iter().any(|s| s.get("admin_bearer").is_some()))
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_admin_ones_need_the_token() {
    let gateway = gateway().await;
    let document = served_document(&gateway).await;
    let client = reqwest::Client::new();

    // What "not routed" looks like: axum's empty 404 and 405.
    let unrouted = client
        .get(gateway.url("/v1/no-such-route"))
        .send()
        .await
        .unwrap();
    assert_eq!(unrouted.status(), 404);
    assert!(unrouted.bytes().await.unwrap().is_empty());

    let mut failures = Vec::new();
    for ((method, path), operation) in documented(&document) {
        // Path parameters get dummy values: the route must match whatever they are.
        let concrete = path
            .split('/')
            .map(|segment| match segment.starts_with('{') {
                true => "dummy-1",
                false => segment,
            })
            .collect::<Vec<_>>()
            .join("/");
        let response = client
            .request(method.parse().unwrap(), gateway.url(&concrete))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = response.bytes().await.unwrap();
        if status == 405 || (status == 404 && body.is_empty()) {
            failures.push(format!("{method} {path}: not routed ({status})"));
            continue;
        }
        let admin = names_admin_bearer(&operation);
        if admin && status != 401 {
            failures.push(format!(
                "{method} {path}: documented as admin, answered {status} without the token"
            ));
        }
        if !admin && challenge.as_deref() == Some("Bearer") {
            failures.push(format!(
                "{method} {path}: asks for the admin bearer token but the document does not say so"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn every_operation_has_a_summary_unique_id_and_described_answers() {
    let gateway = gateway().await;
    let document = served_document(&gateway).await;
    let mut failures = Vec::new();
    let mut ids = BTreeSet::new();
    for ((method, path), operation) in documented(&document) {
        let name = format!("{method} {path}");
        if operation["summary"]
            .as_str()
            .is_none_or(|s| s.trim().is_empty())
        {
            failures.push(format!("{name}: no summary"));
        }
        match operation["operationId"].as_str() {
            Some(id) if !ids.insert(id.to_owned()) => {
                failures.push(format!("{name}: operationId {id} is not unique"))
            }
            Some(_) => {}
            None => failures.push(format!("{name}: no operationId")),
        }
        let responses = operation["responses"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if responses.is_empty() {
            failures.push(format!("{name}: no responses"));
        }
        let mut described_success = false;
        for (status, response) in &responses {
            let content = response.get("content").and_then(Value::as_object);
            // Each media type names its schema; a response without content is an explicit
            // empty body.
            for (media, body) in content.into_iter().flatten() {
                if body.get("schema").is_none() {
                    failures.push(format!("{name}: {status} {media} has no schema"));
                }
            }
            if status.starts_with('2') {
                described_success = true;
            }
        }
        if !described_success {
            failures.push(format!("{name}: no success response"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Source text without comment lines and without the unit-test module.
fn source(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The body of `fn name` in `text` (to the closing brace at the function's indentation).
fn function_body<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let start = [format!("fn {name}("), format!("fn {name}<")]
        .iter()
        .filter_map(|needle| text.find(needle.as_str()))
        .min()?;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent: String = text[line_start..]
        .chars()
        .take_while(|c| *c == ' ')
        .collect();
    let close = format!("\n{indent}}}");
    let end = text[start..].find(&close)?;
    Some(&text[start..start + end])
}

/// Each `.route("path", …)` in `body`, with the methods its handlers are routed for.
fn routes_in(body: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut routes = Vec::new();
    let pieces: Vec<&str> = body.split(".route(").skip(1).collect();
    for piece in pieces {
        let piece = piece.trim_start();
        // A path that is not a literal cannot be checked: reported, never skipped.
        let Some(rest) = piece.strip_prefix('"') else {
            let shown: String = piece.chars().take(40).collect();
            routes.push((format!("<not a string literal: {shown}>"), BTreeSet::new()));
            continue;
        };
        let Some(end) = rest.find('"') else { continue };
        let path = rest[..end].to_owned();
        let tail = &rest[end..];
        let methods = ["get", "post", "put", "delete", "patch"]
            .into_iter()
            .filter(|m| {
                tail.match_indices(&format!("{m}(")).any(|(i, _)| {
                    tail[..i]
                        .chars()
                        .last()
                        .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
                })
            })
            .map(str::to_uppercase)
            .collect();
        routes.push((path, methods));
    }
    routes
}

fn join(prefix: &str, path: &str) -> String {
    match path {
        "/" if !prefix.is_empty() => prefix.to_owned(),
        _ => format!("{prefix}{path}"),
    }
}

/// The routers the binary mounts: `(call, nest prefix)` for each `.merge(…)` and `.nest(…)`.
fn mounted_by_binary() -> Vec<(String, String)> {
    let binary = source("src/bin/aisoc-gateway.rs");
    let call_at = |text: &str| -> String {
        let text = text.trim_start();
        let end = text.find('(').unwrap_or(text.len());
        let call: String = text[..end].chars().filter(|c| !c.is_whitespace()).collect();
        call.trim_start_matches("aisoc_gateway::").to_owned()
    };
    let mut mounted = vec![("app".to_owned(), String::new())];
    for piece in binary.split(".merge(").skip(1) {
        mounted.push((call_at(piece), String::new()));
    }
    for piece in binary.split(".nest(").skip(1) {
        let piece = piece.trim_start().trim_start_matches('"');
        let end = piece.find('"').unwrap_or(0);
        let prefix = piece[..end].to_owned();
        let after = piece[end + 1..].trim_start().trim_start_matches(',');
        mounted.push((call_at(after), prefix));
    }
    mounted
}

/// Gateway source files (outside `src/bin`) with a `.route(` in their non-test code.
fn gateway_files_with_routes(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("bin") {
                gateway_files_with_routes(&path, found);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            if source(&relative).contains(".route(") {
                found.push(relative);
            }
        }
    }
}

#[tokio::test]
async fn every_route_in_the_sources_is_documented() {
    let gateway = gateway().await;
    let document = served_document(&gateway).await;
    let operations = documented(&document);
    let mut failures = Vec::new();

    // Every router the binary mounts, and every gateway file with routes, is in MOUNTS.
    for (call, prefix) in mounted_by_binary() {
        if !MOUNTS.iter().any(|m| m.call == call && m.prefix == prefix) {
            failures.push(format!(
                "src/bin/aisoc-gateway.rs mounts `{call}` at `{prefix}`, which tests/openapi.rs \
                 MOUNTS does not list: add it there and document its routes"
            ));
        }
    }
    let mut files = Vec::new();
    gateway_files_with_routes(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    for file in files {
        if !MOUNTS.iter().any(|m| m.file == file) {
            let routes: Vec<String> = routes_in(&source(&file))
                .into_iter()
                .map(|(path, methods)| format!("{methods:?} {path}"))
                .collect();
            failures.push(format!(
                "{file} has routes that tests/openapi.rs MOUNTS does not list: {}",
                routes.join(", ")
            ));
        }
    }

    // Every route of every listed router is in the document, with every method it serves.
    for mount in MOUNTS {
        let text = source(mount.file);
        let Some(body) = function_body(&text, mount.function) else {
            failures.push(format!("{}: no fn {}", mount.file, mount.function));
            continue;
        };
        let routes = routes_in(body);
        if routes.is_empty() {
            failures.push(format!(
                "{}: fn {} has no routes",
                mount.file, mount.function
            ));
        }
        for (path, methods) in routes {
            if path.starts_with('<') {
                failures.push(format!("{}: a route path {path}", mount.file));
                continue;
            }
            let full = join(mount.prefix, &path);
            if methods.is_empty() {
                failures.push(format!("{}: no method found for {full}", mount.file));
            }
            for method in methods {
                if !operations.contains_key(&(method.clone(), full.clone())) {
                    failures.push(format!(
                        "{method} {full} ({}) is not in /openapi.json",
                        mount.file
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
