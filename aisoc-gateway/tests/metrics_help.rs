//! Every metric family the gateway serves on `/metrics` has `# HELP` and `# TYPE`, and every
//! metric in the workspace is emitted under a named constant that its crate describes.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{Gateway, JsonReply};

const ADMIN: &str = "metrics-admin";

fn alert(title: &str) -> serde_json::Value {
    serde_json::json!({
        "tenant_id": "acme",
        "event_type": "p0_alert",
        "severity": "critical",
        "title": title,
    })
}

/// `# HELP` and `# TYPE` lines by family name, and the family of every sample.
#[derive(Debug, Default)]
struct Exposition {
    help: BTreeMap<String, String>,
    kind: BTreeMap<String, String>,
    samples: BTreeSet<String>,
}

impl Exposition {
    fn parse(text: &str) -> Self {
        let mut parsed = Self::default();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                parsed.help.insert(name.to_owned(), help.to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
                parsed.kind.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') {
                let end = line.find(['{', ' ']).unwrap_or(line.len());
                parsed.samples.insert(line[..end].to_owned());
            }
        }
        parsed
    }

    /// The family a sample belongs to: histograms and summaries add suffixes to theirs.
    fn family<'a>(&self, sample: &'a str) -> &'a str {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = sample.strip_suffix(suffix)
                && matches!(
                    self.kind.get(base).map(String::as_str),
                    Some("histogram" | "summary")
                )
            {
                return base;
            }
        }
        sample
    }
}

#[tokio::test]
async fn every_metric_family_on_metrics_has_help_and_type() {
    let (mut gateway, _) = Gateway::start(Some(ADMIN)).await;
    let http = reqwest::Client::new();

    // A notification delivered now, and one queued in the outbox.
    let now = http
        .post(gateway.url("/v1/notifications"))
        .bearer_auth(ADMIN)
        .json(&alert("Ransomware on web-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(now.status(), 200);
    let queued = http
        .post(gateway.url("/v1/notifications?delivery=queued"))
        .bearer_auth(ADMIN)
        .json(&alert("Beaconing from db-02"))
        .send()
        .await
        .unwrap();
    assert_eq!(queued.status(), 202);

    // An inbox event, and a request with a token that does not exist.
    let minted: serde_json::Value = http
        .post(gateway.url("/v1/admin/inbox/tokens"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"tenant_id": "acme", "template": "generic-json"}))
        .json_reply()
        .await;
    let token = minted["token"].as_str().expect("a minted token").to_owned();
    let receipt: serde_json::Value = http
        .post(gateway.url(&format!("/v1/inbox/{token}")))
        .json(&serde_json::json!({"id": "a-1", "title": "Impossible travel"}))
        .json_reply()
        .await;
    assert_eq!(receipt["accepted"], 1, "{receipt}");
    let forged = format!("aisoc_inbox_{}", "a".repeat(52));
    let refused = http
        .post(gateway.url(&format!("/v1/inbox/{forged}")))
        .json(&serde_json::json!({"id": "a-2"}))
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());

    // Both notifications reached the console channel (the queued one through the outbox).
    let mut printed = 0;
    while printed < 2 {
        let line = tokio::time::timeout(Duration::from_secs(10), gateway.stdout.next_line())
            .await
            .expect("the console channel prints both notifications")
            .unwrap()
            .expect("the gateway is running");
        if line.starts_with('{') {
            printed += 1;
        }
    }

    let text = http
        .get(gateway.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exposition = Exposition::parse(&text);

    // Enough of the workspace's metrics are there that the check below means something.
    for expected in [
        "aisoc_notify_deliveries_total",
        "aisoc_gateway_requests_in_flight",
        "aisoc_gateway_max_in_flight",
        "aisoc_ingest_inbox_requests_total",
        "aisoc_ingest_inbox_events_total",
        "aisoc_ingest_inbox_token_cache_size",
        "aisoc_outbox_memory_capacity",
        "aisoc_outbox_memory_notifications",
    ] {
        assert!(
            exposition.samples.contains(expected),
            "{expected} is not served\n{text}"
        );
    }
    let mut missing = Vec::new();
    for sample in &exposition.samples {
        let family = exposition.family(sample);
        match exposition.help.get(family) {
            Some(help) if !help.trim().is_empty() => {}
            _ => missing.push(format!("{family}: no # HELP")),
        }
        if !exposition.kind.contains_key(family) {
            missing.push(format!("{family}: no # TYPE"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}\n{text}");
    gateway.child.kill().await.unwrap();
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The names of the `pub const NAME: &str` items of a crate's `src/metrics.rs`.
fn metric_constants(metrics_rs: &str) -> BTreeSet<String> {
    metrics_rs
        .lines()
        .filter_map(|line| line.strip_prefix("pub const "))
        .filter_map(|rest| rest.split_once(": &str = \""))
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// The first argument of every `counter!`, `gauge!` and `histogram!` call (the `describe_`
/// ones included) outside comments.
fn macro_names(source: &str) -> Vec<String> {
    let mut names = Vec::new();
    for opener in ["counter!(", "gauge!(", "histogram!("] {
        for (at, _) in source.match_indices(opener) {
            let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
            if source[line_start..at].trim_start().starts_with("//") {
                continue;
            }
            let rest = &source[at + opener.len()..];
            let end = rest.find([',', ')']).unwrap_or(rest.len());
            names.push(rest[..end].trim().to_owned());
        }
    }
    names
}

#[test]
fn every_metric_is_emitted_under_a_described_constant() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let binary = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin/aisoc-gateway.rs"),
    )
    .unwrap();
    let mut problems = Vec::new();
    let mut crates_with_metrics = 0;
    for member in std::fs::read_dir(workspace).unwrap().map(Result::unwrap) {
        let root = member.path();
        if !root.join("Cargo.toml").is_file() || root == workspace {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        let constants = std::fs::read_to_string(root.join("src/metrics.rs"))
            .map(|text| metric_constants(&text))
            .unwrap_or_default();
        let mut emits = false;
        for file in files {
            let source = std::fs::read_to_string(&file).unwrap();
            for name in macro_names(&source) {
                emits = true;
                let constant = name.rsplit("::").next().unwrap_or_default();
                if !constants.contains(constant) {
                    problems.push(format!(
                        "{}: metric `{name}` is not a constant of this crate's src/metrics.rs",
                        file.display()
                    ));
                }
            }
        }
        if emits {
            crates_with_metrics += 1;
            let package = root
                .file_name()
                .unwrap()
                .to_string_lossy()
                .replace('-', "_");
            let call = format!("{package}::metrics::describe_metrics()");
            if !binary.contains(&call) {
                problems.push(format!("the gateway binary does not call {call}"));
            }
        }
    }
    assert!(
        crates_with_metrics >= 4,
        "the gateway, inbox, outbox and webpush crates emit metrics"
    );
    assert!(problems.is_empty(), "{problems:#?}");
}
