//! The README's first tour, run as written against the real binary: every `curl` command of
//! the "A first tour" block, in order, with `$T` as the admin token, the gateway's own address
//! for `http://127.0.0.1:8080`, and each `<placeholder>` filled from an earlier answer (`<token>`
//! from the inbox token minted, `<user token>` from the user token, `<id>` from the latest
//! answer with an `id`). A command the README shows must not be refused (no 4xx) and must not
//! fail inside the gateway; the only failure allowed is a delivery to a real service the test
//! machine cannot reach (Slack, PagerDuty), which the gateway reports as a 502 with the delivery
//! failure's retry class: the answer a reader without those services gets too (and
//! `chatops.verify`, which the tour shows answering 502 with the setting that turns it on).
//!
//! Needs `curl` (`scripts/services` installs it), because the point is to run the commands a
//! reader copies.

mod support;

use serde_json::Value;
use support::Gateway;

const ADMIN: &str = "readme-tour-admin";

/// The shell commands of the tour block, continuation lines joined, comments left out.
fn tour_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let tour = &readme[readme.find("## A first tour").expect("the tour section")..];
    let block = tour
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("the tour's sh block")
        .0;
    block
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn every_tour_command_in_the_readme_works_as_written() {
    let commands = tour_commands();
    assert!(
        commands.len() >= 20,
        "the tour lost its commands: {commands:?}"
    );
    let (gateway, _) = Gateway::start_with(Some(ADMIN), &[], &[]).await;
    let mut filled: Vec<(&str, String)> = Vec::new();
    for command in &commands {
        assert!(
            command.starts_with("curl -s "),
            "not a curl command: {command}"
        );
        let mut run = command.replace("http://127.0.0.1:8080", &gateway.base);
        for (placeholder, value) in &filled {
            run = run.replace(placeholder, value);
        }
        assert!(
            !run.contains("<token>") && !run.contains("<id>") && !run.contains("<user token>"),
            "no earlier answer fills the placeholder in: {command}"
        );
        let run = run.replacen("curl -s ", "curl -s -w '\\n%{http_code}' ", 1);
        let output = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(&run)
            .env("T", ADMIN)
            .output()
            .await
            .expect("bash and curl run");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
        let status: u16 = status.trim().parse().unwrap_or_else(|_| {
            panic!(
                "{command}: no HTTP status ({})",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        let answer: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let unreachable_service = status == 502
            && (answer.get("retry_class").is_some() || answer.get("error_class").is_some());
        assert!(
            status < 400 || unreachable_service,
            "{command}\n  answered {status}: {body}"
        );
        if let Some(token) = answer.get("token").and_then(Value::as_str) {
            let placeholder = if answer.get("user_id").is_some() {
                "<user token>"
            } else {
                "<token>"
            };
            filled.retain(|(p, _)| *p != placeholder);
            filled.push((placeholder, token.to_owned()));
        }
        if let Some(id) = answer.get("id").and_then(Value::as_str) {
            filled.retain(|(p, _)| *p != "<id>");
            filled.push(("<id>", id.to_owned()));
        }
    }
}
