//! Fuzzing what Teams (or anyone posting to the interaction route) sends: the outgoing-webhook
//! `Authorization: HMAC <base64>` header and the activity JSON of a card button press.
//!
//! Inputs are arbitrary bytes and structure-aware changes to real activities (an
//! `Action.Submit` message activity, an `adaptiveCard/action` invoke, the bare submitted data):
//! fields replaced by arbitrary JSON, removed, deeply nested or huge, bodies cut short. Each
//! goes through the functions the route calls, on to the card it answers with, and the
//! properties hold when nothing panics, refusals are typed, only Teams' own MAC verifies, and
//! the answer's size is bounded by the input's.
//!
//! The case count keeps this file to a couple of seconds in debug builds. Proptest reads
//! `PROPTEST_CASES` on top of the configured count, so a longer run is:
//! `PROPTEST_CASES=100000 cargo test -p aisoc-notify-teams --test fuzz --release`

use std::sync::{Arc, LazyLock};

use aisoc_notify_core::async_trait;
use aisoc_notify_core::decision::{
    DecisionError, DecisionHandler, DecisionRecorded, DecisionRequest,
};
use aisoc_notify_core::signature::hmac_sha256;
use aisoc_notify_teams::hmac::{TeamsHmacError, TeamsHmacVerifier};
use aisoc_notify_teams::interactions::{InteractionError, handle_interaction, parse_interaction};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

/// Cases per property; `PROPTEST_CASES` overrides it.
const CASES: u32 = 192;
const SECURITY_TOKEN: &str = "c2VjcmV0LXRva2VuLWZyb20tdGVhbXM=";

/// The three request shapes the route accepts, as Teams sends them.
static ACTIVITIES: LazyLock<[Value; 3]> = LazyLock::new(|| {
    let data = json!({"action": "approve", "approval_id": "apr-123"});
    let from = json!({"id": "29:1abc", "name": "Alice Example", "aadObjectId": "6b5d-aad"});
    [
        json!({
            "type": "message",
            "id": "1485983408511",
            "timestamp": "2024-05-08T10:00:00.000Z",
            "channelId": "msteams",
            "from": from,
            "conversation": {"id": "19:abc@thread.skype"},
            "value": data,
        }),
        json!({
            "type": "invoke",
            "name": "adaptiveCard/action",
            "from": from,
            "value": {"action": {"type": "Action.Execute", "verb": "approve", "data": data}},
        }),
        data,
    ]
});

/// Records whatever it is asked, echoing the request back; outcome picked by the test.
struct Echo(u8);

#[async_trait]
impl DecisionHandler for Echo {
    async fn decide(&self, request: DecisionRequest) -> Result<DecisionRecorded, DecisionError> {
        match self.0 % 3 {
            0 => Ok(DecisionRecorded {
                approval_id: request.approval_id,
                decision: request.decision,
                reviewer_name: request.reviewer.name,
            }),
            1 => Err(DecisionError::Unavailable(request.approval_id)),
            _ => Err(DecisionError::AlreadyReviewed(request.decision)),
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn verifier() -> TeamsHmacVerifier {
    TeamsHmacVerifier::new(SECURITY_TOKEN).unwrap()
}

fn genuine_mac(body: &[u8]) -> String {
    let key = STANDARD.decode(SECURITY_TOKEN).unwrap();
    STANDARD.encode(hmac_sha256(&key, body))
}

/// Arbitrary JSON: scalars of every kind (huge and unicode strings, extreme numbers), nested.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "(approve|deny|APPROVE|Deny| |)".prop_map(Value::String),
        (1usize..20_000).prop_map(|n| Value::String("**[x](javascript:y)**".repeat(n))),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-zA-Z_]{1,10}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn activity_path() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec![
        "/type",
        "/name",
        "/from",
        "/from/id",
        "/from/name",
        "/from/aadObjectId",
        "/value",
        "/value/action",
        "/value/approval_id",
        "/value/action/verb",
        "/value/action/data",
        "/value/action/data/action",
        "/value/action/data/approval_id",
        "/action",
        "/approval_id",
    ])
}

fn set_pointer(root: &mut Value, pointer: &str, value: Option<Value>) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    if let Some(Value::Object(map)) = root.pointer_mut(parent) {
        match value {
            Some(value) => drop(map.insert(key.to_owned(), value)),
            None => drop(map.remove(key)),
        }
    }
}

/// A real activity of one of the three shapes with fields replaced or removed, maybe cut.
fn mutated_activity() -> impl Strategy<Value = Vec<u8>> {
    (
        0usize..3,
        proptest::collection::vec((activity_path(), proptest::option::of(json_value())), 0..4),
        proptest::option::weighted(0.2, any::<Index>()),
    )
        .prop_map(|(shape, changes, cut)| {
            let mut activity = ACTIVITIES[shape].clone();
            for (pointer, value) in changes {
                set_pointer(&mut activity, pointer, value);
            }
            let mut body = activity.to_string().into_bytes();
            if let Some(cut) = cut {
                body.truncate(cut.index(body.len() + 1));
            }
            body
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_authorization_headers_never_verify(
        authorization in "(HMAC|hmac|Bearer)? ?[A-Za-z0-9+/=]{0,60}|.{0,80}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let result = verifier().verify_authorization(&authorization, &body);
        prop_assert!(
            matches!(result, Err(TeamsHmacError::Malformed | TeamsHmacError::BadSignature)),
            "{result:?}"
        );
    }

    #[test]
    fn only_the_mac_of_the_exact_body_verifies(
        body in mutated_activity(),
        scheme in "(HMAC|hmac|HmAc)",
        padding in "[ \t]{0,2}",
    ) {
        let original = ACTIVITIES[0].to_string();
        let authorization = format!("{padding}{scheme} {}{padding}", genuine_mac(original.as_bytes()));
        let result = verifier().verify_authorization(&authorization, &body);
        if body == original.as_bytes() {
            prop_assert_eq!(result, Ok(()));
        } else {
            prop_assert_eq!(result, Err(TeamsHmacError::BadSignature));
        }
    }

    #[test]
    fn arbitrary_bodies_are_typed_errors(body in proptest::collection::vec(any::<u8>(), 0..1024)) {
        match parse_interaction(&body) {
            Ok(_)
            | Err(InteractionError::NotJson(_)
                | InteractionError::UnknownAction
                | InteractionError::MissingApprovalId) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn bent_activities_parse_or_fail_typed_and_answers_stay_bounded(
        body in mutated_activity(),
        outcome in any::<u8>(),
    ) {
        let Ok(interaction) = parse_interaction(&body) else {
            return Ok(());
        };
        prop_assert!(!interaction.approval_id.trim().is_empty());
        prop_assert!(!interaction.reviewer.name.trim().is_empty());
        let decisions: Arc<dyn DecisionHandler> = Arc::new(Echo(outcome));
        let answer = runtime().block_on(handle_interaction(interaction, &decisions));
        let size = serde_json::to_vec(&answer).unwrap().len();
        // The card repeats at most the approval id and the reviewer's name, escaped.
        prop_assert!(size <= 8 * 1024 + 4 * body.len(), "{size} bytes for {} in", body.len());
    }
}

#[test]
fn deeply_nested_and_huge_activities_are_refused_or_answered_without_exhausting_the_stack() {
    let nested = "[".repeat(100_000);
    assert!(matches!(
        parse_interaction(nested.as_bytes()),
        Err(InteractionError::NotJson(_))
    ));
    let mut activity = ACTIVITIES[1].clone();
    activity["from"]["name"] = json!("**[x](javascript:y)**".repeat(10_000));
    activity["value"]["action"]["data"]["approval_id"] = json!("a".repeat(200_000));
    let body = activity.to_string();
    let interaction = parse_interaction(body.as_bytes()).unwrap();
    let decisions: Arc<dyn DecisionHandler> = Arc::new(Echo(0));
    let answer = runtime().block_on(handle_interaction(interaction, &decisions));
    assert!(serde_json::to_vec(&answer).unwrap().len() <= 4 * body.len());
}
