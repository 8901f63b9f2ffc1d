//! Criterion benchmarks for aisoc-notify live in `benches/`; run them with
//! `cargo bench -p aisoc-notify-benches`. This library holds what several benches share.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aisoc_inbox::limits::{MemoryIdempotencyStore, MemoryRateLimiter};
use aisoc_inbox::sink::{EventSink, SinkError, SinkEvent};
use aisoc_inbox::template::TemplateRegistry;
use aisoc_inbox::token::{MemoryTokenStore, TokenResolver, mint};
use aisoc_inbox::{Inbox, InboxConfig};
use aisoc_notify_core::secret::SecretString;

/// Acknowledges and drops, so a bench measures the pipeline, not a growing buffer.
struct DiscardSink;

#[async_trait::async_trait]
impl EventSink for DiscardSink {
    async fn publish(&self, events: &[SinkEvent]) -> Result<(), SinkError> {
        std::hint::black_box(events.len());
        Ok(())
    }
}

/// The inbox the pipeline benches run: bundled templates, parts in memory, a sink that
/// discards, and the per-token budgets lifted (they would refuse a bench's repeats); with a
/// token of tenant `acme` for `template`, signed with `secret` when one is given.
pub async fn bench_inbox(template: &str, secret: Option<&str>) -> (Inbox, SecretString) {
    let store = Arc::new(MemoryTokenStore::new());
    let token = mint(store.as_ref(), "acme", template, secret.map(str::to_owned))
        .await
        .expect("a token minted in memory")
        .token;
    let inbox = Inbox::new(
        TokenResolver::new(store),
        Arc::new(TemplateRegistry::bundled().expect("the bundled templates load")),
        Arc::new(MemoryRateLimiter::per_minute(NonZeroU32::MAX)),
        Arc::new(MemoryIdempotencyStore::default()),
        Arc::new(DiscardSink),
        InboxConfig {
            events_per_second: u32::MAX,
            bytes_per_second: u64::MAX,
            ..InboxConfig::default()
        },
    );
    (inbox, token)
}

/// A positive count from the environment variable `name`, else `default` (the harness-less
/// benches' settings, such as `AISOC_BENCH_OUTBOX_N`).
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}

/// Two routines timed side by side in alternating rounds: the median and the fastest round
/// of each (on a shared machine the fastest rounds are the least disturbed).
#[derive(Debug, Clone, Copy)]
pub struct SideBySide {
    /// The median time of one call of the measured routine.
    pub ours: Duration,
    /// The median time of one call of the floor it is compared with.
    pub floor: Duration,
    /// The measured routine's fastest round, per call.
    pub ours_best: Duration,
    /// The floor's fastest round, per call.
    pub floor_best: Duration,
}

fn ratio(ours: Duration, floor: Duration) -> f64 {
    ours.as_secs_f64() / floor.as_secs_f64().max(f64::MIN_POSITIVE)
}

impl SideBySide {
    /// How many times the floor's median time ours takes.
    pub fn ratio(&self) -> f64 {
        ratio(self.ours, self.floor)
    }

    /// How many times the floor's fastest round ours takes in its fastest round.
    pub fn best_ratio(&self) -> f64 {
        ratio(self.ours_best, self.floor_best)
    }

    /// One line for the bench output: both times and the ratios.
    pub fn report(&self, name: &str) -> String {
        format!(
            "{name}: ours {:.1} µs, floor {:.1} µs, ratio {:.2}x (medians of {ROUNDS} alternating rounds); fastest rounds {:.1} / {:.1} µs, ratio {:.2}x",
            self.ours.as_secs_f64() * 1e6,
            self.floor.as_secs_f64() * 1e6,
            self.ratio(),
            self.ours_best.as_secs_f64() * 1e6,
            self.floor_best.as_secs_f64() * 1e6,
            self.best_ratio()
        )
    }
}

/// Rounds of [`side_by_side`].
pub const ROUNDS: usize = 31;

/// Times `ours` and `floor` in alternating rounds (each round calls one of them `calls`
/// times), so a busy machine slows both alike, and returns the median per call. Criterion's
/// own figures for the same functions are in the same run; this gives the ratio in one line.
pub fn side_by_side<A, B, RA, RB>(calls: usize, mut ours: A, mut floor: B) -> SideBySide
where
    A: FnMut() -> RA,
    B: FnMut() -> RB,
{
    let calls = calls.max(1);
    let round = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..calls {
            f();
        }
        start.elapsed() / u32::try_from(calls).unwrap_or(u32::MAX)
    };
    // Warm both up once.
    round(&mut || drop(std::hint::black_box(ours())));
    round(&mut || drop(std::hint::black_box(floor())));
    let mut a = Vec::with_capacity(ROUNDS);
    let mut b = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        a.push(round(&mut || drop(std::hint::black_box(ours()))));
        b.push(round(&mut || drop(std::hint::black_box(floor()))));
    }
    a.sort_unstable();
    b.sort_unstable();
    SideBySide {
        ours: a[ROUNDS / 2],
        floor: b[ROUNDS / 2],
        ours_best: a[0],
        floor_best: b[0],
    }
}
