//! The Teams bot's `refresh`: the card an approval shows now, read from the approval store, so
//! a Teams client that opens a bot card sees the buttons only while the request is pending.
//!
//! The invoke names the approval id alone (as the buttons do), so the request is found as the
//! decision path finds it: its tenant with [`ApprovalStore::tenant_of`], then the request
//! within that tenant. An unknown id, or a store that cannot answer, leaves the card as it is.

use aisoc_notify_core::async_trait;
use aisoc_notify_teams::bot_framework::ApprovalCardSource;
use aisoc_notify_teams::bot_framework::conversation::{bot_approval_card, outcome_card};
use chrono::Utc;
use serde_json::Value;

#[cfg(doc)]
use aisoc_notify_approvals::store::ApprovalStore;

use super::{ApprovalCards, outcome_of};

#[async_trait]
impl ApprovalCardSource for ApprovalCards {
    async fn current_card(&self, approval_id: &str) -> Option<Value> {
        let approvals = &self.inner.approvals;
        let read = async {
            let Some(tenant_id) = approvals.tenant_of(approval_id).await? else {
                return Ok(None);
            };
            approvals.get(&tenant_id, approval_id).await
        };
        let approval = match read.await {
            Ok(Some(approval)) => approval,
            Ok(None) => return None,
            Err(error) => {
                tracing::warn!(%error, "Teams refresh: cannot read the approval request");
                return None;
            }
        };
        match outcome_of(&approval, Utc::now()) {
            None => match bot_approval_card(&approval.ask()) {
                Ok(card) => Some(card),
                Err(error) => {
                    tracing::warn!(approval_id = %approval.id, %error, "Teams refresh: cannot render the card");
                    None
                }
            },
            Some(outcome) => serde_json::to_value(outcome_card(&outcome, Some(&approval.id))).ok(),
        }
    }
}
