//! The universal inbox embedded in an axum app, all in memory: mint a tenant token, mount
//! `aisoc_inbox::router::router` under `/v1/inbox` on 127.0.0.1 (a free port), POST an NDJSON
//! batch with reqwest, and print the receipt and the OCSF Detection Findings the sink received.
//! A replay with the same idempotency key is acknowledged without publishing again.
//!
//! In production the memory parts are swapped for PostgreSQL tokens, Redis limits and a NATS
//! JetStream sink (crate features `postgres`, `redis`, `nats`).
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example inbox_embedded
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use std::num::NonZeroU32;
use std::sync::Arc;

use aisoc_inbox::limits::{MemoryIdempotencyStore, MemoryRateLimiter};
use aisoc_inbox::pipeline::IDEMPOTENCY_HEADER;
use aisoc_inbox::sink::MemorySink;
use aisoc_inbox::template::TemplateRegistry;
use aisoc_inbox::token::{MemoryTokenStore, TokenResolver, mint};
use aisoc_inbox::{Inbox, InboxConfig};
use aisoc_notify_core::secret::ExposeSecret;

const BATCH: &str = r#"{"id":"alrt-1","title":"Impossible travel for alice","severity":"high","timestamp":"2026-05-08T09:00:00Z","user":{"email":"alice@example.com"}}
{"id":"alrt-2","title":"Malware quarantined on web-01","severity":"medium","host":"web-01"}
this line is not JSON and is counted as dropped
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tokens = Arc::new(MemoryTokenStore::new());
    let sink = Arc::new(MemorySink::new());
    let config = InboxConfig::default();
    let inbox = Inbox::new(
        TokenResolver::new(tokens.clone()),
        Arc::new(TemplateRegistry::bundled()?),
        Arc::new(MemoryRateLimiter::per_minute(
            NonZeroU32::new(config.rate_limit_per_minute).ok_or("rate limit must not be 0")?,
        )),
        Arc::new(MemoryIdempotencyStore::default()),
        sink.clone(),
        config,
    );

    // The token is shown once; only its fingerprint is stored.
    let minted = mint(tokens.as_ref(), "acme", "generic-json", None).await?;
    println!(
        "minted {} (template {})",
        minted.record.id, minted.record.template_id
    );

    let app = axum::Router::new().nest("/v1/inbox", aisoc_inbox::router::router(inbox));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!(
        "http://{}/v1/inbox/{}",
        listener.local_addr()?,
        minted.token.expose_secret()
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    for attempt in ["first", "replay"] {
        let response = client
            .post(&url)
            .header("content-type", "application/x-ndjson")
            .header(IDEMPOTENCY_HEADER, "batch-2026-05-08-0900")
            .body(BATCH)
            .send()
            .await?;
        let status = response.status();
        println!("{attempt}: HTTP {status} {}", response.text().await?);
    }

    let events = sink.events();
    println!("\n{} OCSF event(s) published:", events.len());
    for event in &events {
        let ocsf: serde_json::Value = serde_json::from_slice(&event.payload)?;
        println!(
            "--- tenant={} template={} msg_id={}",
            event.tenant_id, event.template_id, event.msg_id
        );
        println!("{}", serde_json::to_string_pretty(&ocsf)?);
    }

    server.abort();
    Ok(())
}
