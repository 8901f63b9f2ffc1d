//! The in-app list behind a console's bell icon: an [`InAppNotifier`] files each notification
//! for every recipient into a [`MemoryInAppStore`]; then one user lists their unread
//! notifications (newest first), marks one read, and marks the rest read.
//!
//! Everything runs in process. For a shared, durable list use `PgInAppStore` (feature
//! `postgres`); it keeps the same contract.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example in_app
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use std::sync::Arc;

use aisoc_notify_core::{EventType, Notification, Notifier, Severity};
use aisoc_notify_inapp::{FixedRecipients, InAppNotifier, InAppStore, ListQuery, MemoryInAppStore};

const UNREAD: ListQuery = ListQuery {
    unread_only: true,
    limit: 50,
    before_id: None,
};

async fn show_unread(
    store: &MemoryInAppStore,
    user: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let unread = store.list("acme", user, UNREAD).await?;
    println!("{user}: {} unread", store.unread_count("acme", user).await?);
    for entry in &unread {
        let n = &entry.notification;
        println!(
            "  #{} [{}] {} ({})",
            entry.id, n.severity, n.title, n.event_type
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(MemoryInAppStore::new());
    // Who gets it in-app; a host would resolve the tenant's on-call users instead.
    let recipients = FixedRecipients(vec!["alice".into(), "bob".into()]);
    let inapp = InAppNotifier::new(store.clone(), Arc::new(recipients));

    for (event, severity, title) in [
        (
            EventType::P0Alert,
            Severity::Critical,
            "Ransomware on web-01",
        ),
        (
            EventType::AgentApproval,
            Severity::Medium,
            "Agent wants to isolate web-01",
        ),
        (
            EventType::P0Alert,
            Severity::High,
            "Impossible travel for svc-backup",
        ),
    ] {
        let delivered = inapp
            .notify(&Notification::new("acme", event, severity, title))
            .await?;
        println!(
            "filed '{title}' for {}",
            delivered.receipt.as_deref().unwrap_or("?")
        );
    }
    println!();
    show_unread(&store, "alice").await?;

    // Alice opens the newest one.
    let newest = store.list("acme", "alice", UNREAD).await?[0].id;
    println!(
        "\nalice reads #{newest}: {}",
        store.mark_read("acme", "alice", newest).await?
    );
    println!(
        "reading it again changes nothing: {}",
        store.mark_read("acme", "alice", newest).await?
    );
    println!(
        "bob cannot mark alice's entry: {}\n",
        store.mark_read("acme", "bob", newest).await?
    );
    show_unread(&store, "alice").await?;

    let cleared = store.mark_all_read("acme", "alice").await?;
    println!("\nalice marks all read: {cleared} changed");
    show_unread(&store, "alice").await?;
    println!("(bob's list is his own)");
    show_unread(&store, "bob").await?;
    Ok(())
}
