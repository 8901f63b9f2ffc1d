//! Fuzzing what Slack (or anyone pretending to be Slack) sends: the signature headers, the
//! form-encoded slash command, and the `payload=` JSON of button presses.
//!
//! Inputs are arbitrary bytes and structure-aware changes to real requests (Slack's documented
//! slash command, a `block_actions` payload): fields replaced by arbitrary JSON, duplicated,
//! truncated, deeply nested or huge, percent-encoding bent (`%FF`, `%`, `+`, repeated keys).
//! Each goes through the same public functions the routes call, on to the reply the route
//! would send, and the properties hold when nothing panics, refusals are typed, and every
//! reply stays inside Slack's Block Kit limits whatever the input.
//!
//! The case count keeps this file to a couple of seconds in debug builds. Proptest reads
//! `PROPTEST_CASES` on top of the configured count, so a longer run is:
//! `PROPTEST_CASES=100000 cargo test -p aisoc-notify-slack --test fuzz --release`

use std::sync::{Arc, LazyLock};

use aisoc_notify_core::async_trait;
use aisoc_notify_core::clock::ManualClock;
use aisoc_notify_core::decision::{
    DecisionError, DecisionHandler, DecisionRecorded, DecisionRequest,
};
use aisoc_notify_slack::blocks::{SlackMessage, limits};
use aisoc_notify_slack::commands::{
    AisocCommand, CommandError, SlashCommandRequest, ephemeral, help_text, is_valid_host,
};
use aisoc_notify_slack::interactions::{
    InteractionError, InteractionPayload, handle_block_actions, parse_interaction,
};
use aisoc_notify_slack::signature::{SlackSignatureError, SlackSignatureVerifier};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

/// Cases per property; `PROPTEST_CASES` overrides it.
const CASES: u32 = 192;

/// Slack's documented signing example.
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TIMESTAMP: &str = "1531420618";
const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
const COMMAND_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

fn verifier() -> SlackSignatureVerifier {
    SlackSignatureVerifier::new(SECRET).with_clock(Arc::new(ManualClock::at_unix(1_531_420_618)))
}

/// A `block_actions` payload as Slack sends it for an Approve press.
static BLOCK_ACTIONS: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "type": "block_actions",
        "user": {"id": "U2CERLKJA", "username": "roadrunner", "name": "roadrunner", "team_id": "T1DC2JH3J"},
        "api_app_id": "A0KRD7HC3",
        "trigger_id": "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        "team": {"id": "T1DC2JH3J", "domain": "testteamnow"},
        "channel": {"id": "G8PSS9T3V", "name": "foobar"},
        "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "G8PSS9T3V"},
        "message": {"type": "message", "text": "Approval needed", "ts": "1548261231.000200"},
        "response_url": "https://hooks.slack.com/actions/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN",
        "actions": [{
            "action_id": "approve_action",
            "block_id": "approval",
            "value": "apr-123",
            "type": "button",
            "action_ts": "1548426417.840180"
        }]
    })
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
            _ => Err(DecisionError::NotFound),
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// Every text in a reply is within Block Kit's per-element limit, and the reply as a whole
/// is small whatever the request was.
fn assert_within_block_kit_limits(message: &SlackMessage) -> Result<(), TestCaseError> {
    let value = serde_json::to_value(message).unwrap();
    fn texts<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => map.iter().for_each(|(key, value)| match value {
                Value::String(text) if key == "text" => out.push(text),
                other => texts(other, out),
            }),
            Value::Array(items) => items.iter().for_each(|item| texts(item, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    texts(&value, &mut found);
    for text in found {
        prop_assert!(
            text.chars().count() <= limits::SECTION_TEXT.max(limits::MESSAGE_TEXT),
            "a reply text of {} characters",
            text.chars().count()
        );
    }
    prop_assert!(message.block_count() <= limits::BLOCKS_PER_MESSAGE);
    prop_assert!(serde_json::to_vec(message).unwrap().len() <= 64 * 1024);
    Ok(())
}

/// Arbitrary JSON: scalars of every kind (huge and unicode strings, extreme numbers), nested.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[<>&@!a-z ]{0,12}".prop_map(Value::String),
        (1usize..20_000).prop_map(|n| Value::String("<!channel>&".repeat(n))),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,10}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A JSON pointer into the base payload, to replace or remove.
fn payload_path() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec![
        "/type",
        "/user",
        "/user/id",
        "/user/username",
        "/user/name",
        "/actions",
        "/actions/0",
        "/actions/0/action_id",
        "/actions/0/value",
        "/actions/0/type",
        "/response_url",
        "/channel",
        "/channel/id",
        "/container",
        "/message",
        "/trigger_id",
    ])
}

fn set_pointer(root: &mut Value, pointer: &str, value: Option<Value>) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let Some(parent) = root.pointer_mut(parent) else {
        return;
    };
    match (parent, value) {
        (Value::Object(map), Some(value)) => {
            map.insert(key.to_owned(), value);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), value) => {
            if let Ok(index) = key.parse::<usize>()
                && index < items.len()
            {
                match value {
                    Some(value) => items[index] = value,
                    None => drop(items.remove(index)),
                }
            }
        }
        _ => {}
    }
}

/// A real payload with fields replaced or removed, then maybe cut short.
fn mutated_payload() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec((payload_path(), proptest::option::of(json_value())), 0..4),
        proptest::option::weighted(0.2, any::<Index>()),
    )
        .prop_map(|(changes, cut)| {
            let mut payload = BLOCK_ACTIONS.clone();
            for (pointer, value) in changes {
                set_pointer(&mut payload, pointer, value);
            }
            let mut text = payload.to_string();
            if let Some(cut) = cut {
                let mut at = cut.index(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.truncate(at);
            }
            text
        })
}

/// Percent-encoding as Slack does it, and as it should not be done.
fn form_encode(value: &str, abuse: u8) -> String {
    let proper: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    match abuse % 6 {
        0 => proper,
        1 => value.to_owned(),                // not encoded at all
        2 => format!("{proper}%"),            // a dangling escape
        3 => format!("%FF%FE{proper}%C3%28"), // encoded bytes that are not UTF-8
        4 => proper.replace("%20", "+").replace("%2B", "+"), // '+' both ways
        _ => value.bytes().map(|b| format!("%{b:02X}")).collect(), // everything escaped
    }
}

/// A form around `payload`: other fields, repeated keys and empty pairs included.
fn interaction_form() -> impl Strategy<Value = Vec<u8>> {
    (
        mutated_payload(),
        any::<u8>(),
        proptest::collection::vec("[a-z=&%+]{0,12}", 0..4),
        any::<bool>(),
    )
        .prop_map(|(payload, abuse, noise, payload_first)| {
            let mut parts = noise;
            let field = format!("payload={}", form_encode(&payload, abuse));
            if payload_first {
                parts.insert(0, field);
            } else {
                parts.push(field);
            }
            parts.join("&").into_bytes()
        })
}

fn command_text() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("list".to_owned()),
        Just("investigate".to_owned()),
        Just("EXPLAIN".to_owned()),
        Just("isolate".to_owned()),
        Just("block".to_owned()),
        Just("help".to_owned()),
        Just("::ffff:10.0.0.1".to_owned()),
        Just("web-01.corp.example.".to_owned()),
        "[a-z0-9.:#_-]{0,70}",
        "[<>&@!*`]{1,8}",
        any::<String>(),
        (1usize..40_000).prop_map(|n| "<!here>".repeat(n)),
    ];
    (
        proptest::collection::vec(word, 0..4),
        "[ \t\u{a0}\u{3000}]{1,2}",
    )
        .prop_map(|(words, separator)| words.join(&separator))
}

fn command_form() -> impl Strategy<Value = Vec<u8>> {
    (
        command_text(),
        any::<u8>(),
        proptest::collection::vec(edit_form(), 0..3),
    )
        .prop_map(|(text, abuse, edits)| {
            let mut form =
                COMMAND_BODY.replace("&text=&", &format!("&text={}&", form_encode(&text, abuse)));
            for edit in edits {
                form = edit.apply(form);
            }
            form.into_bytes()
        })
}

/// A change to a form's fields.
#[derive(Debug, Clone)]
enum FormEdit {
    /// Every `key=` pair removed.
    Drop(String),
    /// One more `key=value` pair at the end (a repeated key, or a new one).
    Append(String),
    /// Empty pairs and an empty key around the form.
    EmptyPairs,
}

impl FormEdit {
    fn apply(&self, form: String) -> String {
        match self {
            FormEdit::Drop(key) => form
                .split('&')
                .filter(|pair| !pair.starts_with(&format!("{key}=")))
                .collect::<Vec<_>>()
                .join("&"),
            FormEdit::Append(pair) => format!("{form}&{pair}"),
            FormEdit::EmptyPairs => format!("&&={form}&="),
        }
    }
}

fn edit_form() -> impl Strategy<Value = FormEdit> {
    prop_oneof![
        "(user_id|command|text|response_url)".prop_map(FormEdit::Drop),
        "(user_id|command|text)=[a-z%]{0,6}".prop_map(FormEdit::Append),
        Just(FormEdit::EmptyPairs),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn signature_headers_never_verify_by_chance(
        timestamp in proptest::option::of("[ +-]?[0-9]{0,21} ?|.{0,12}"),
        signature in proptest::option::of("(v0=)?[0-9a-f]{0,70}|.{0,80}"),
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let result = verifier().verify_parts(timestamp.as_deref(), signature.as_deref(), &body);
        prop_assert!(
            matches!(
                result,
                Err(SlackSignatureError::MissingHeader(_)
                    | SlackSignatureError::InvalidTimestamp
                    | SlackSignatureError::StaleTimestamp
                    | SlackSignatureError::BadSignature)
            ),
            "{result:?}"
        );
    }

    #[test]
    fn only_slacks_exact_request_verifies(
        timestamp_pad in "[ \t]{0,2}",
        signature in proptest::option::of("v0=[0-9a-f]{64}|V0=A2114D57B48EAC39B9AD189DD8316235A7B4A8D21A10BD27519666489C69B503"),
        cut in proptest::option::of(any::<Index>()),
        extra in proptest::option::of("&[a-z]{1,4}=[a-z]{0,4}"),
    ) {
        let mut body = COMMAND_BODY.to_owned();
        if let Some(cut) = cut {
            body.truncate(cut.index(body.len()));
        }
        if let Some(extra) = &extra {
            body.push_str(extra);
        }
        let timestamp = format!("{timestamp_pad}{TIMESTAMP}{timestamp_pad}");
        let signature = signature.unwrap_or_else(|| SIGNATURE.to_owned());
        let result = verifier().verify_parts(Some(&timestamp), Some(&signature), body.as_bytes());
        let genuine = body == COMMAND_BODY && signature == SIGNATURE;
        prop_assert_eq!(result.is_ok(), genuine, "{:?}", result);
    }

    #[test]
    fn interaction_bodies_of_arbitrary_bytes_are_typed_errors(body in proptest::collection::vec(any::<u8>(), 0..1024)) {
        match parse_interaction(&body) {
            Ok(_) | Err(InteractionError::MissingPayload | InteractionError::InvalidPayload(_)) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn bent_block_actions_payloads_parse_or_fail_typed_and_replies_stay_in_limits(
        form in interaction_form(),
        outcome in any::<u8>(),
    ) {
        let parsed = parse_interaction(&form);
        if let Ok(InteractionPayload::BlockActions(actions)) = parsed {
            let decisions: Arc<dyn DecisionHandler> = Arc::new(Echo(outcome));
            if let Some(reply) = runtime().block_on(handle_block_actions(&actions, &decisions)) {
                assert_within_block_kit_limits(&reply)?;
                // The reply never carries live mentions or links from the payload.
                let text = serde_json::to_string(&reply).unwrap();
                prop_assert!(!text.contains("<!channel>"));
            }
        }
    }

    #[test]
    fn bent_slash_commands_parse_or_fail_typed_and_answers_stay_in_limits(form in command_form()) {
        let Ok(request) = SlashCommandRequest::from_form(&form) else {
            return Ok(());
        };
        match AisocCommand::parse(&request.text) {
            Ok(AisocCommand::Gated { target, .. }) => {
                prop_assert!(is_valid_host(&target), "gated target {target:?}");
            }
            Ok(command) => {
                // The route acknowledges with the command echoed back.
                let ack = ephemeral(&format!("Working on `/aisoc {command}`"));
                assert_within_block_kit_limits(&ack)?;
            }
            Err(CommandError::Usage(usage)) => {
                let reply = ephemeral(&format!("{usage}\n\n{}", help_text()));
                assert_within_block_kit_limits(&reply)?;
                prop_assert!(!reply.text.contains("<!here>"), "an unescaped mention in a usage reply");
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}

#[test]
fn deeply_nested_and_huge_payloads_are_refused_without_exhausting_the_stack() {
    let nested = format!("payload={}", "%5B".repeat(100_000));
    assert!(matches!(
        parse_interaction(nested.as_bytes()),
        Err(InteractionError::InvalidPayload(_))
    ));
    let mut payload = BLOCK_ACTIONS.clone();
    payload["actions"][0]["value"] = json!("x".repeat(1 << 20));
    payload["user"]["username"] = json!("<!channel>".repeat(100_000));
    let form = format!("payload={}", form_encode(&payload.to_string(), 0));
    let Ok(InteractionPayload::BlockActions(actions)) = parse_interaction(form.as_bytes()) else {
        panic!("a large but valid payload parses");
    };
    let decisions: Arc<dyn DecisionHandler> = Arc::new(Echo(0));
    let reply = runtime()
        .block_on(handle_block_actions(&actions, &decisions))
        .unwrap();
    assert_within_block_kit_limits(&reply).unwrap();
}
