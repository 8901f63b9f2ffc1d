//! The contract every approval card store keeps, run against the file and the PostgreSQL store.

use aisoc_notify_core::prompt::PromptReceipt;
use chrono::{DateTime, TimeZone as _, Utc};

use super::{ApprovalCard, ApprovalCardStore, CardState};

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_790_000_000 + seconds, 0).unwrap()
}

fn card(tenant: &str, approval: &str, channel: &str, state: CardState) -> ApprovalCard {
    ApprovalCard {
        tenant_id: tenant.into(),
        approval_id: approval.into(),
        channel_id: channel.into(),
        channel_type: "slack".into(),
        receipt: Some(PromptReceipt::message(
            "slack",
            "C0APPROVALS",
            "1700000000.000100",
        )),
        state,
        reason: None,
        updated_at: at(0),
    }
}

/// Cards are kept per (tenant, approval, channel), replaced by a save of the same key, listed
/// per request within its tenant only, and the `posted` scan pages through every tenant's
/// cards with live buttons.
pub(crate) async fn cards_are_kept_per_request_and_channel(store: &dyn ApprovalCardStore) {
    let first = card("acme", "apr_1", "ch_a", CardState::Posted);
    store.save(&first).await.unwrap();
    store
        .save(&card("acme", "apr_1", "ch_b", CardState::Failed))
        .await
        .unwrap();
    store
        .save(&card("acme", "apr_2", "ch_a", CardState::Posted))
        .await
        .unwrap();
    store
        .save(&card("globex", "apr_1", "ch_a", CardState::Posted))
        .await
        .unwrap();

    let listed = store.list("acme", "apr_1").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], first, "a card reads back as saved");
    assert_eq!(listed[1].state, CardState::Failed);
    assert!(
        store.list("initech", "apr_1").await.unwrap().is_empty(),
        "another tenant sees nothing"
    );

    let mut updated = first.clone();
    updated.state = CardState::Updated;
    updated.receipt = Some(PromptReceipt::message(
        "slack",
        "C0APPROVALS",
        "1700000000.000200",
    ));
    updated.reason = None;
    updated.updated_at = at(60);
    store.save(&updated).await.unwrap();
    let listed = store.list("acme", "apr_1").await.unwrap();
    assert_eq!(listed.len(), 2, "a save of the same key replaces");
    assert_eq!(listed[0], updated);

    let posted = store.posted(None, 10).await.unwrap();
    let keys: Vec<(&str, &str, &str)> = posted
        .iter()
        .map(|c| {
            (
                c.tenant_id.as_str(),
                c.approval_id.as_str(),
                c.channel_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [("acme", "apr_2", "ch_a"), ("globex", "apr_1", "ch_a")]
    );
    let first_page = store.posted(None, 1).await.unwrap();
    assert_eq!(first_page.len(), 1);
    let cursor = (
        first_page[0].tenant_id.clone(),
        first_page[0].approval_id.clone(),
        first_page[0].channel_id.clone(),
    );
    let second_page = store.posted(Some(&cursor), 10).await.unwrap();
    assert_eq!(second_page.len(), 1);
    assert_eq!(second_page[0].tenant_id, "globex");
    assert!(
        store
            .posted(Some(&("globex".into(), "apr_1".into(), "ch_a".into())), 10)
            .await
            .unwrap()
            .is_empty()
    );
}
