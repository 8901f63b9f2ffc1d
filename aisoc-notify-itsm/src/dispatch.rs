//! The `create_ticket` action: routes a step to the ticketing system it names.

use std::sync::{Arc, Weak};

use aisoc_notify_core::{
    ActionError, ActionExecutor, ActionOutput, ActionRequest, ExecutorRegistry, async_trait,
};

/// The capability every executor here registers under.
pub const CAPABILITY: &str = "create_ticket";

/// `create_ticket`: dispatches on the `system` parameter to the live executor registered as
/// `(system, "create_ticket")`; a system nobody registered fails as
/// [`ActionError::Unsupported`], listing the configured ones.
#[derive(Debug)]
pub struct CreateTicket {
    registry: Weak<ExecutorRegistry>,
}

impl CreateTicket {
    /// Registers the dispatcher as the `create_ticket` action of `registry`.
    pub fn register(registry: &Arc<ExecutorRegistry>) {
        registry.register(
            CAPABILITY,
            Arc::new(CreateTicket {
                registry: Arc::downgrade(registry),
            }),
        );
    }
}

#[async_trait]
impl ActionExecutor for CreateTicket {
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
        let Some(registry) = self.registry.upgrade() else {
            return Err(ActionError::Unsupported(
                "the executor registry holding the ticketing systems is gone".to_owned(),
            ));
        };
        let system = request
            .require_parameter("system")?
            .trim()
            .to_ascii_lowercase();
        if registry.resolve_live(&system, CAPABILITY).is_none() {
            let known: Vec<String> = registry
                .live_executors()
                .into_iter()
                .filter(|(_, capability)| capability == CAPABILITY)
                .map(|(vendor, _)| vendor)
                .collect();
            return Err(ActionError::Unsupported(format!(
                "unknown ticketing system '{}' (configured: {})",
                system.chars().take(40).collect::<String>(),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
        registry.run_live(&system, CAPABILITY, request).await
    }
}
