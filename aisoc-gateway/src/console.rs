//! The console channel: the gateway's embedded-default delivery, one JSON line per notification
//! on standard output.

use std::io::Write;

use aisoc_notify_core::{Delivered, Notification, Notifier, NotifyError, async_trait};

/// Writes each notification as a JSON line to standard output.
#[derive(Debug, Default)]
pub struct ConsoleNotifier;

#[async_trait]
impl Notifier for ConsoleNotifier {
    fn channel_type(&self) -> &str {
        "console"
    }

    async fn notify(&self, notification: &Notification) -> Result<Delivered, NotifyError> {
        let line = serde_json::json!({
            "delivery": "console",
            "tenant_id": notification.tenant_id,
            "event_type": notification.event_type,
            "severity": notification.severity,
            "emoji": notification.severity.emoji(),
            "title": notification.title,
            "body": notification.body,
            "facts": notification.facts,
            "links": notification.links,
            "created_at": notification.created_at,
        });
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .map_err(|e| NotifyError::Internal(format!("could not write to stdout: {e}")))?;
        Ok(Delivered::default())
    }
}
