//! What the host gives the `chatops.verify` executor besides the follow-up hooks: a chat
//! transport per tenant.

use std::sync::Arc;

use aisoc_notify_core::async_trait;
use aisoc_notify_core::prompt::PromptTransport;

use crate::follow_up::HookError;

/// Finds a tenant's chat transport at run time (from the host's vault), so one deployment can
/// serve many Slack workspaces and Teams tenants.
#[async_trait]
pub trait CredentialProvider: Send + Sync {
    /// The transport built from the tenant's chat credentials, or `None` when it has none.
    async fn prompt_transport(
        &self,
        tenant_id: &str,
    ) -> Result<Option<Arc<dyn PromptTransport>>, HookError>;
}
