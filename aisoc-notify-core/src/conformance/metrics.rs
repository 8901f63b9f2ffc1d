//! The check every crate's `metrics` module runs on itself: each metric name it declares is
//! listed and described, so `/metrics` never shows a family without `# HELP`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ::metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

/// Keeps every description it is given, by name.
#[derive(Default)]
struct Descriptions(Arc<Mutex<BTreeMap<String, String>>>);

impl Descriptions {
    fn keep(&self, name: KeyName, text: SharedString) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.as_str().to_owned(), text.into_owned());
    }
}

impl Recorder for Descriptions {
    fn describe_counter(&self, name: KeyName, _: Option<Unit>, text: SharedString) {
        self.keep(name, text);
    }
    fn describe_gauge(&self, name: KeyName, _: Option<Unit>, text: SharedString) {
        self.keep(name, text);
    }
    fn describe_histogram(&self, name: KeyName, _: Option<Unit>, text: SharedString) {
        self.keep(name, text);
    }
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// Panics unless every `pub const NAME: &str = "…";` in `source` (a crate's `metrics.rs`, as
/// `include_str!` gives it) is in `all`, and `describe` gives each name in `all` a non-empty
/// description.
///
/// ```
/// # #[cfg(feature = "test-util")] {
/// const SOURCE: &str = "pub const SENT: &str = \"demo_sent_total\";";
/// aisoc_notify_core::conformance::metrics::assert_every_metric_described(
///     SOURCE,
///     &["demo_sent_total"],
///     || metrics::describe_counter!("demo_sent_total", "Messages sent"),
/// );
/// # }
/// ```
pub fn assert_every_metric_described(source: &str, all: &[&str], describe: impl FnOnce()) {
    let recorder = Descriptions::default();
    let described = Arc::clone(&recorder.0);
    ::metrics::with_local_recorder(&recorder, describe);
    let described = described.lock().unwrap_or_else(|p| p.into_inner()).clone();

    let mut declared: Vec<String> = source
        .lines()
        .filter_map(|line| line.strip_prefix("pub const "))
        .filter_map(|rest| rest.split_once(": &str = \""))
        .map(|(_, value)| value.trim_end_matches("\";").to_owned())
        .collect();
    declared.sort();
    let mut listed: Vec<String> = all.iter().map(|n| (*n).to_owned()).collect();
    listed.sort();
    assert_eq!(declared, listed, "every metric constant belongs in ALL");
    let described_names: Vec<String> = described.keys().cloned().collect();
    assert_eq!(listed, described_names, "every metric in ALL is described");
    for (name, text) in &described {
        assert!(!text.trim().is_empty(), "{name} has an empty description");
    }
}
