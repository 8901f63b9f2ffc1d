//! Local HTTP peers the gateway delivers to, counting what they answered 2xx. A request whose
//! client went away before the answer (a gateway killed mid-request) is not counted: hyper drops
//! the handler when the connection closes, so only answers actually produced count.
//!
//! Two kinds of refusal: occasional 503/429 that the delivery layer's own in-process retries
//! absorb, and "stubborn" keys refused more times in a row than those retries allow, so the
//! notification goes back to the outbox as a queued retry that any replica may take.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::HarnessError;

/// What a peer saw: successful answers per idempotency key, and failures it injected.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    delivered: HashMap<String, usize>,
    injected_failures: HashMap<String, usize>,
    /// Stubborn keys and the refusals each still has coming.
    stubborn: HashMap<String, usize>,
}

impl Tally {
    pub(crate) fn distinct(&self) -> usize {
        self.delivered.len()
    }

    pub(crate) fn duplicates(&self) -> usize {
        self.delivered.values().map(|n| n.saturating_sub(1)).sum()
    }

    pub(crate) fn injected(&self) -> usize {
        self.injected_failures.values().sum()
    }

    /// Keys refused past the delivery layer's retries, and how many of them got through since.
    pub(crate) fn stubborn(&self) -> (usize, usize) {
        let delivered = self
            .stubborn
            .keys()
            .filter(|key| self.delivered.contains_key(*key))
            .count();
        (self.stubborn.len(), delivered)
    }
}

/// A peer on a free loopback port.
pub(crate) struct Peer {
    pub(crate) address: SocketAddr,
    pub(crate) tally: Arc<Mutex<Tally>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// How the peer behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Behaviour {
    /// Share of requests answered 503 or 429 (with `Retry-After: 1`).
    pub(crate) failure_rate: f64,
    /// At most this many injected failures per key, so every key gets through eventually.
    pub(crate) max_failures_per_key: usize,
    /// Share of keys answered 503 (no `Retry-After`) on their first `stubborn_refusals`
    /// requests.
    pub(crate) stubborn_rate: f64,
    /// How many times in a row a stubborn key is refused: set it above the delivery client's
    /// in-process attempts so the outbox's own retry has to deliver it.
    pub(crate) stubborn_refusals: usize,
    /// Time taken to answer.
    pub(crate) latency: Duration,
}

impl Peer {
    /// Serves `POST /hook`, keyed by the `Idempotency-Key` header (`webhook-id` as fallback).
    pub(crate) async fn start(behaviour: Behaviour) -> Result<Self, HarnessError> {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let state = (Arc::clone(&tally), behaviour);
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap| {
                let (tally, behaviour) = state.clone();
                async move { answer(&tally, behaviour, &headers).await }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            address,
            tally,
            server,
        })
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

fn key_of(headers: &HeaderMap) -> Option<String> {
    ["idempotency-key", "webhook-id"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn answer(tally: &Mutex<Tally>, behaviour: Behaviour, headers: &HeaderMap) -> Response {
    let Some(key) = key_of(headers) else {
        return (StatusCode::BAD_REQUEST, "no idempotency key").into_response();
    };
    tokio::time::sleep(behaviour.latency).await;
    let mut tally = tally.lock().unwrap_or_else(|p| p.into_inner());
    let first_sight =
        !tally.delivered.contains_key(&key) && !tally.injected_failures.contains_key(&key);
    if first_sight
        && !tally.stubborn.contains_key(&key)
        && rand::random_bool(behaviour.stubborn_rate)
    {
        tally
            .stubborn
            .insert(key.clone(), behaviour.stubborn_refusals);
    }
    if let Some(left) = tally.stubborn.get_mut(&key).filter(|left| **left > 0) {
        *left -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "still down").into_response();
    }
    let failed_so_far = tally.injected_failures.get(&key).copied().unwrap_or(0);
    if failed_so_far < behaviour.max_failures_per_key && rand::random_bool(behaviour.failure_rate) {
        *tally.injected_failures.entry(key).or_default() += 1;
        let status = if rand::random_bool(0.5) {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        return (status, [("retry-after", "1")], "try again").into_response();
    }
    *tally.delivered.entry(key).or_default() += 1;
    StatusCode::NO_CONTENT.into_response()
}
