//! `aisoc-notify`: the operator's command line for the everyday jobs.
//!
//! Every subcommand is a thin shell over a library call, so what works here works the same when
//! embedded. Exit codes a script can rely on:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done (for `webhook verify`: the signature is valid) |
//! | 1 | the operation ran and failed: the peer refused, the signature is invalid |
//! | 2 | the command line or an input is wrong (bad flag, unreadable file, malformed key) |
//!
//! Secrets (webhook URLs, signing secrets, the admin token, the VAPID private key) never come
//! out in `Debug`: the parsed arguments hold them as [`SecretString`]. A flag's value is visible
//! to every local user in `ps`, so each also comes from its environment variable or from a file
//! (`--…-file PATH`, or the variable with `_FILE` appended); giving both a value and a file is
//! an error.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command line's output is its interface"
)]

use aisoc_gateway::config::{read_secret_file, secret_value};
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::destination::DestinationPolicy;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aisoc_notify_core::notification::{EventType, Notification, Severity};
use aisoc_notify_core::notifier::Notifier;
use aisoc_notify_core::signature::{SignatureScheme, WebhookSigner, WebhookVerifier};
use aisoc_notify_slack::blocks::SlackMessage;
use aisoc_notify_slack::mattermost::MattermostWebhookNotifier;
use aisoc_notify_slack::webhook::SlackWebhookNotifier;
use aisoc_notify_teams::webhook::{TeamsWebhookNotifier, WebhookFormat};
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::send::{PushOptions, Urgency, WebPushSender};
use aisoc_notify_webpush::subscription::{PushSubscription, SubscriptionRecord};
use aisoc_notify_webpush::vapid::VapidSigner;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "aisoc-notify",
    version,
    about = "Send, sign and verify notifications; manage a gateway's inbox tokens, dead letters and decision follow-ups"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// VAPID keys for Web Push.
    #[command(subcommand)]
    Vapid(VapidCommand),
    /// Send an encrypted Web Push message.
    #[command(subcommand)]
    Webpush(WebpushCommand),
    /// Post to a Slack incoming webhook.
    #[command(subcommand)]
    Slack(TextCommand),
    /// Post to a Microsoft Teams webhook (Workflows or legacy connector).
    #[command(subcommand)]
    Teams(TeamsCommand),
    /// Post to a Mattermost incoming webhook.
    #[command(subcommand)]
    Mattermost(TextCommand),
    /// Sign or verify a webhook body read from stdin.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Mint, rotate or revoke inbox tokens through a gateway's admin API.
    #[command(subcommand)]
    Inbox(InboxCommand),
    /// The outbox's dead letters, through a gateway's admin API.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Playbook resumes and timeline entries of recorded decisions, through a gateway's admin
    /// API.
    #[command(subcommand)]
    FollowUps(FollowUpCommand),
}

#[derive(Debug, Subcommand)]
enum VapidCommand {
    /// Generate a P-256 key pair; prints `VAPID_PUBLIC_KEY=…` and `VAPID_PRIVATE_KEY=…`.
    Generate {
        /// Print `{"public_key": …, "private_key": …}` instead.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum WebpushCommand {
    /// Encrypt PAYLOAD (RFC 8291) for one subscription and send it with a VAPID signature.
    Send(WebpushSend),
}

#[derive(Debug, Args)]
struct WebpushSend {
    /// The browser's `PushSubscription` JSON (`JSON.stringify(subscription)`).
    #[arg(long)]
    subscription: PathBuf,
    /// The raw VAPID private key, base64url, as `vapid generate` prints it. Prefer the
    /// variable or --vapid-private-key-file: flags show in `ps`.
    #[arg(
        long,
        env = "VAPID_PRIVATE_KEY",
        hide_env_values = true,
        value_parser = secret_value,
        allow_hyphen_values = true,
        required_unless_present = "vapid_private_key_file"
    )]
    vapid_private_key: Option<SecretString>,
    /// File holding the VAPID private key.
    #[arg(
        long,
        env = "VAPID_PRIVATE_KEY_FILE",
        conflicts_with = "vapid_private_key"
    )]
    vapid_private_key_file: Option<PathBuf>,
    /// The VAPID subject: a `mailto:` or `https:` URI the push service can contact.
    #[arg(long, env = "VAPID_SUBJECT")]
    vapid_subject: String,
    /// Seconds the push service keeps an undelivered message.
    #[arg(long, default_value_t = 86_400)]
    ttl: u64,
    /// very-low, low, normal or high.
    #[arg(long, value_enum, default_value_t = UrgencyArg::Normal)]
    urgency: UrgencyArg,
    /// Collapse key (at most 32 URL-safe base64 characters).
    #[arg(long, allow_hyphen_values = true)]
    topic: Option<String>,
    /// The message (usually JSON the service worker understands).
    payload: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum UrgencyArg {
    VeryLow,
    Low,
    Normal,
    High,
}

impl From<UrgencyArg> for Urgency {
    fn from(value: UrgencyArg) -> Self {
        match value {
            UrgencyArg::VeryLow => Urgency::VeryLow,
            UrgencyArg::Low => Urgency::Low,
            UrgencyArg::Normal => Urgency::Normal,
            UrgencyArg::High => Urgency::High,
        }
    }
}

/// A webhook URL: its path is the credential.
#[derive(Debug, Args)]
struct WebhookUrl {
    /// The incoming-webhook URL (its path is a credential). Prefer the variable or
    /// --webhook-url-file: flags show in `ps`.
    #[arg(
        long,
        env = "AISOC_WEBHOOK_URL",
        hide_env_values = true,
        value_parser = secret_value,
        allow_hyphen_values = true,
        required_unless_present = "webhook_url_file"
    )]
    webhook_url: Option<SecretString>,
    /// File holding the webhook URL.
    #[arg(long, env = "AISOC_WEBHOOK_URL_FILE", conflicts_with = "webhook_url")]
    webhook_url_file: Option<PathBuf>,
}

impl WebhookUrl {
    fn resolve(self) -> Result<SecretString, Failure> {
        required_secret(self.webhook_url, self.webhook_url_file, "--webhook-url")
    }
}

#[derive(Debug, Subcommand)]
enum TextCommand {
    /// Send TEXT.
    Send {
        #[command(flatten)]
        webhook_url: WebhookUrl,
        /// The message, sent as written (Slack mrkdwn / Mattermost Markdown).
        text: String,
    },
}

#[derive(Debug, Subcommand)]
enum TeamsCommand {
    /// Send a card titled TITLE with TEXT as its body.
    Send {
        /// The Workflows or connector webhook URL.
        #[command(flatten)]
        webhook_url: WebhookUrl,
        /// The payload shape; guessed from the URL when absent.
        #[arg(long, value_enum)]
        format: Option<TeamsFormatArg>,
        /// The card title.
        #[arg(long)]
        title: String,
        /// info, low, medium, high or critical (sets the colour).
        #[arg(long, default_value = "info")]
        severity: String,
        /// The card body.
        text: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TeamsFormatArg {
    Workflows,
    Connector,
}

/// A webhook signing secret.
#[derive(Debug, Args)]
struct WebhookSecret {
    /// The shared secret (`whsec_…` base64 for `standard`). Prefer the variable or
    /// --secret-file: flags show in `ps`.
    #[arg(
        long,
        env = "AISOC_WEBHOOK_SECRET",
        hide_env_values = true,
        value_parser = secret_value,
        allow_hyphen_values = true,
        required_unless_present = "secret_file"
    )]
    secret: Option<SecretString>,
    /// File holding the shared secret.
    #[arg(long, env = "AISOC_WEBHOOK_SECRET_FILE", conflicts_with = "secret")]
    secret_file: Option<PathBuf>,
}

impl WebhookSecret {
    fn resolve(self) -> Result<SecretString, Failure> {
        required_secret(self.secret, self.secret_file, "--secret")
    }
}

#[derive(Debug, Subcommand)]
enum WebhookCommand {
    /// Print the signature headers for the body on stdin, one `Name: value` per line.
    Sign {
        #[command(flatten)]
        secret: WebhookSecret,
        /// aisoc, standard or github.
        #[arg(long, value_enum, default_value_t = SchemeArg::Aisoc)]
        scheme: SchemeArg,
        /// Standard Webhooks message id (random when absent).
        #[arg(long, allow_hyphen_values = true)]
        id: Option<String>,
        /// Standard Webhooks timestamp, Unix seconds (now when absent).
        #[arg(long)]
        timestamp: Option<i64>,
    },
    /// Verify the body on stdin against the given headers; exit 0 valid, 1 invalid.
    Verify {
        #[command(flatten)]
        secret: WebhookSecret,
        /// The scheme to accept.
        #[arg(long, value_enum)]
        scheme: SchemeArg,
        /// A received header, `Name: value`; repeat for each.
        #[arg(long = "header", required = true)]
        headers: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SchemeArg {
    Aisoc,
    Standard,
    Github,
}

impl From<SchemeArg> for SignatureScheme {
    fn from(value: SchemeArg) -> Self {
        match value {
            SchemeArg::Aisoc => SignatureScheme::Aisoc,
            SchemeArg::Standard => SignatureScheme::StandardWebhooks,
            SchemeArg::Github => SignatureScheme::GitHub,
        }
    }
}

#[derive(Debug, Args)]
struct GatewayConnection {
    /// The gateway's base URL.
    #[arg(
        long,
        env = "AISOC_GATEWAY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    gateway: String,
    /// The gateway's admin bearer token. Prefer the variable or --admin-token-file: flags
    /// show in `ps`.
    #[arg(
        long,
        env = "AISOC_ADMIN_TOKEN",
        hide_env_values = true,
        value_parser = secret_value,
        allow_hyphen_values = true,
        required_unless_present = "admin_token_file"
    )]
    admin_token: Option<SecretString>,
    /// File holding the admin token.
    #[arg(long, env = "AISOC_ADMIN_TOKEN_FILE", conflicts_with = "admin_token")]
    admin_token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum InboxCommand {
    /// Mint a token; prints the gateway's JSON answer (`token`, `id`, …).
    Mint {
        #[command(flatten)]
        connection: GatewayConnection,
        /// The tenant the token belongs to.
        #[arg(long)]
        tenant: String,
        /// The mapping template (for example `generic-json`, `splunk-hec`).
        #[arg(long)]
        template: String,
        /// Require senders to sign bodies with this secret. Prefer the variable or
        /// --signing-secret-file: flags show in `ps`.
        #[arg(
            long,
            env = "AISOC_INBOX_SIGNING_SECRET",
            hide_env_values = true,
            value_parser = secret_value
        )]
        signing_secret: Option<SecretString>,
        /// File holding the signing secret.
        #[arg(
            long,
            env = "AISOC_INBOX_SIGNING_SECRET_FILE",
            conflicts_with = "signing_secret"
        )]
        signing_secret_file: Option<PathBuf>,
    },
    /// Replace token ID with a new one; the old one stops working at once.
    Rotate {
        #[command(flatten)]
        connection: GatewayConnection,
        /// The tenant the token belongs to.
        #[arg(long)]
        tenant: String,
        /// The token id `mint` printed.
        id: String,
    },
    /// Revoke token ID.
    Revoke {
        #[command(flatten)]
        connection: GatewayConnection,
        /// The tenant the token belongs to.
        #[arg(long)]
        tenant: String,
        /// The token id `mint` printed.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum OutboxCommand {
    /// List or replay notifications the outbox gave up on.
    #[command(subcommand)]
    DeadLetters(DeadLetterCommand),
}

#[derive(Debug, Subcommand)]
enum DeadLetterCommand {
    /// Print dead letters as JSON, oldest first (`id`, `class`, `last_error`, `channels`, …).
    List {
        #[command(flatten)]
        connection: GatewayConnection,
        /// Start after this id (the last id of the previous page).
        #[arg(long)]
        after: Option<String>,
        /// At most this many (the gateway's default: 100).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Queue dead letter ID again for the channels it names; it leaves the list.
    Replay {
        #[command(flatten)]
        connection: GatewayConnection,
        /// The id `list` printed.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum FollowUpCommand {
    /// Print follow-ups as JSON, most recently changed first (`flow`, `id`, `kind`, `state`,
    /// `last_error`, …).
    List {
        #[command(flatten)]
        connection: GatewayConnection,
        /// pending, done or dead.
        #[arg(long, default_value = "dead")]
        state: String,
        /// At most this many (the gateway's default: 100).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Put dead follow-up ID of KIND back in line, due now with a fresh retry budget.
    Replay {
        #[command(flatten)]
        connection: GatewayConnection,
        /// The id `list` printed (a prompt or approval id).
        id: String,
        /// resume or timeline, as `list` printed it.
        kind: String,
    },
}

/// The secret given as a value (flag or variable) or in `file`; clap keeps both from being
/// given. `flag` names the value's flag in errors.
fn optional_secret(
    value: Option<SecretString>,
    file: Option<PathBuf>,
    flag: &str,
) -> Result<Option<SecretString>, Failure> {
    match file {
        Some(path) => read_secret_file(&format!("{flag}-file"), &path)
            .map(Some)
            .map_err(Failure::input),
        None => Ok(value),
    }
}

/// Like [`optional_secret`], for a secret the command cannot do without.
fn required_secret(
    value: Option<SecretString>,
    file: Option<PathBuf>,
    flag: &str,
) -> Result<SecretString, Failure> {
    optional_secret(value, file, flag)?
        .ok_or_else(|| Failure::input(format!("{flag} (or {flag}-file) is required")))
}

/// A failure, with the exit code it maps to.
enum Failure {
    /// The input or command line is wrong (exit 2).
    Input(String),
    /// The operation ran and failed (exit 1).
    Failed(String),
}

impl Failure {
    fn input(message: impl std::fmt::Display) -> Self {
        Self::Input(message.to_string())
    }

    fn failed(message: impl std::fmt::Display) -> Self {
        Self::Failed(message.to_string())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Failed(message)) => {
            eprintln!("aisoc-notify: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Input(message)) => {
            eprintln!("aisoc-notify: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Vapid(VapidCommand::Generate { json }) => vapid_generate(json),
        Command::Webpush(WebpushCommand::Send(args)) => webpush_send(args).await,
        Command::Slack(TextCommand::Send { webhook_url, text }) => {
            let notifier = SlackWebhookNotifier::builder()
                .webhook_url(webhook_url.resolve()?.expose_secret())
                .delivery(operator_delivery()?)
                .build()
                .map_err(Failure::input)?;
            let delivered = notifier
                .send_message(&SlackMessage::builder(&text).build())
                .await
                .map_err(Failure::failed)?;
            report_delivered("slack", delivered.attempts)
        }
        Command::Mattermost(TextCommand::Send { webhook_url, text }) => {
            let notifier = MattermostWebhookNotifier::new(webhook_url.resolve()?.expose_secret())
                .map_err(Failure::input)?
                .with_delivery(operator_delivery()?);
            let notification = Notification::new("cli", EventType::P0Alert, Severity::Info, text);
            let delivered = notifier
                .notify(&notification)
                .await
                .map_err(Failure::failed)?;
            report_delivered("mattermost", delivered.attempts)
        }
        Command::Teams(TeamsCommand::Send {
            webhook_url,
            format,
            title,
            severity,
            text,
        }) => {
            let severity: Severity = severity.parse().map_err(Failure::input)?;
            let mut builder = TeamsWebhookNotifier::builder()
                .webhook_url(webhook_url.resolve()?.expose_secret())
                .delivery(operator_delivery()?);
            if let Some(format) = format {
                builder = builder.format(match format {
                    TeamsFormatArg::Workflows => WebhookFormat::Workflows,
                    TeamsFormatArg::Connector => WebhookFormat::Connector,
                });
            }
            let notifier = builder.build().map_err(Failure::input)?;
            let notification =
                Notification::new("cli", EventType::P0Alert, severity, title).with_body(text);
            let delivered = notifier
                .notify(&notification)
                .await
                .map_err(Failure::failed)?;
            report_delivered("teams", delivered.attempts)
        }
        Command::Webhook(WebhookCommand::Sign {
            secret,
            scheme,
            id,
            timestamp,
        }) => webhook_sign(&secret.resolve()?, scheme.into(), id, timestamp),
        Command::Webhook(WebhookCommand::Verify {
            secret,
            scheme,
            headers,
        }) => webhook_verify(&secret.resolve()?, scheme.into(), &headers),
        Command::Inbox(command) => inbox(command).await,
        Command::Outbox(OutboxCommand::DeadLetters(command)) => dead_letters(command).await,
        Command::FollowUps(command) => follow_ups(command).await,
    }
}

/// The delivery client for URLs the operator typed on the command line: the outbound guard,
/// which protects the gateway from URLs that come from configuration and end users, is off
/// here, so an operator can test a webhook on their own network.
fn operator_delivery() -> Result<DeliveryClient, Failure> {
    DeliveryClient::new(DeliveryConfig {
        destinations: DestinationPolicy::unrestricted(),
        ..DeliveryConfig::default()
    })
    .map_err(Failure::failed)
}

fn report_delivered(service: &str, attempts: u32) -> Result<(), Failure> {
    println!("delivered to {service} ({attempts} attempt(s))");
    Ok(())
}

fn vapid_generate(json: bool) -> Result<(), Failure> {
    let keys = VapidKeyPair::generate();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "public_key": keys.public_key_base64(),
                "private_key": keys.private_key_base64(),
            })
        );
    } else {
        println!("VAPID_PUBLIC_KEY={}", keys.public_key_base64());
        println!("VAPID_PRIVATE_KEY={}", keys.private_key_base64());
    }
    Ok(())
}

async fn webpush_send(args: WebpushSend) -> Result<(), Failure> {
    let raw = std::fs::read_to_string(&args.subscription).map_err(|e| {
        Failure::input(format!(
            "cannot read --subscription {}: {e}",
            args.subscription.display()
        ))
    })?;
    let subscription: PushSubscription = serde_json::from_str(&raw).map_err(|e| {
        Failure::input(format!(
            "--subscription is not a PushSubscription JSON: {e}"
        ))
    })?;
    let record = SubscriptionRecord::new(&subscription, "cli", "cli", &[], chrono::Utc::now())
        .map_err(|e| Failure::input(format!("--subscription: {e}")))?;
    let private_key = required_secret(
        args.vapid_private_key,
        args.vapid_private_key_file,
        "--vapid-private-key",
    )?;
    let keys = VapidKeyPair::from_base64(private_key.expose_secret().trim())
        .map_err(|e| Failure::input(format!("--vapid-private-key: {e}")))?;
    let signer = VapidSigner::new(keys, args.vapid_subject)
        .map_err(|e| Failure::input(format!("--vapid-subject: {e}")))?;
    if let Some(topic) = &args.topic
        && !aisoc_notify_webpush::send::valid_topic_header(topic)
    {
        return Err(Failure::input(
            "--topic must be at most 32 characters of the URL-safe base64 alphabet",
        ));
    }
    let options = PushOptions {
        ttl: Duration::from_secs(args.ttl),
        urgency: args.urgency.into(),
        topic: args.topic,
    };
    let sender = WebPushSender::new(signer)
        .map_err(Failure::failed)?
        .with_delivery(operator_delivery()?);
    let receipt = sender
        .send(&record, args.payload.as_bytes(), &options)
        .await
        .map_err(Failure::failed)?;
    match receipt.location {
        Some(location) => println!("delivered: {} {location}", receipt.status),
        None => println!("delivered: {}", receipt.status),
    }
    Ok(())
}

fn read_stdin() -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .map_err(|e| Failure::input(format!("cannot read the body from stdin: {e}")))?;
    Ok(body)
}

fn webhook_sign(
    secret: &SecretString,
    scheme: SignatureScheme,
    id: Option<String>,
    timestamp: Option<i64>,
) -> Result<(), Failure> {
    let signer = WebhookSigner::new(scheme, secret.expose_secret()).map_err(Failure::input)?;
    let body = read_stdin()?;
    let id = id.unwrap_or_else(|| {
        let mut bytes = [0u8; 12];
        rand::fill(&mut bytes);
        format!("msg_{}", data_encoding::HEXLOWER.encode(&bytes))
    });
    let timestamp = timestamp.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let mut out = std::io::stdout().lock();
    for (name, value) in signer.headers(&body, &id, timestamp) {
        writeln!(out, "{name}: {value}").map_err(Failure::failed)?;
    }
    Ok(())
}

fn webhook_verify(
    secret: &SecretString,
    scheme: SignatureScheme,
    headers: &[String],
) -> Result<(), Failure> {
    let mut map = HeaderMap::new();
    for header in headers {
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| Failure::input(format!("--header '{header}' is not 'Name: value'")))?;
        let name = HeaderName::try_from(name.trim())
            .map_err(|_| Failure::input(format!("--header '{header}' has an invalid name")))?;
        let value = HeaderValue::try_from(value.trim())
            .map_err(|_| Failure::input(format!("--header '{header}' has an invalid value")))?;
        map.append(name, value);
    }
    let body = read_stdin()?;
    let verifier = WebhookVerifier::new(secret.expose_secret()).with_schemes(&[scheme]);
    match verifier.verify(&map, &body) {
        Ok(_) => {
            println!("valid");
            Ok(())
        }
        Err(error) => Err(Failure::failed(format!("invalid: {error}"))),
    }
}

/// The path of the inbox token routes.
const TOKENS: &[&str] = &["v1", "admin", "inbox", "tokens"];
/// The path of the dead-letter routes.
const DEAD_LETTERS: &[&str] = &["v1", "outbox", "dead-letters"];
/// The path of the follow-up routes.
const FOLLOW_UPS: &[&str] = &["v1", "admin", "follow-ups"];

fn admin_http() -> Result<reqwest::Client, Failure> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(Failure::failed)
}

async fn inbox(command: InboxCommand) -> Result<(), Failure> {
    let http = admin_http()?;
    let (connection, request) = match command {
        InboxCommand::Mint {
            connection,
            tenant,
            template,
            signing_secret,
            signing_secret_file,
        } => {
            let url = endpoint(&connection, TOKENS, &[], &[])?;
            let signing_secret =
                optional_secret(signing_secret, signing_secret_file, "--signing-secret")?;
            let body = serde_json::json!({
                "tenant_id": tenant,
                "template": template,
                "signing_secret": signing_secret.as_ref().map(ExposeSecret::expose_secret),
            });
            let request = http.post(url).json(&body);
            (connection, request)
        }
        InboxCommand::Rotate {
            connection,
            tenant,
            id,
        } => {
            let url = endpoint(
                &connection,
                TOKENS,
                &[&id, "rotate"],
                &[("tenant_id", &tenant)],
            )?;
            (connection, http.post(url))
        }
        InboxCommand::Revoke {
            connection,
            tenant,
            id,
        } => {
            let url = endpoint(&connection, TOKENS, &[&id], &[("tenant_id", &tenant)])?;
            (connection, http.delete(url))
        }
    };
    admin_call(&connection, request).await
}

async fn dead_letters(command: DeadLetterCommand) -> Result<(), Failure> {
    let http = admin_http()?;
    let (connection, request) = match command {
        DeadLetterCommand::List {
            connection,
            after,
            limit,
        } => {
            let limit = limit.map(|n| n.to_string());
            let query: Vec<(&str, &str)> =
                [("after", after.as_deref()), ("limit", limit.as_deref())]
                    .into_iter()
                    .filter_map(|(name, value)| Some((name, value?)))
                    .collect();
            let url = endpoint(&connection, DEAD_LETTERS, &[], &query)?;
            (connection, http.get(url))
        }
        DeadLetterCommand::Replay { connection, id } => {
            let url = endpoint(&connection, DEAD_LETTERS, &[&id, "replay"], &[])?;
            (connection, http.post(url))
        }
    };
    admin_call(&connection, request).await
}

async fn follow_ups(command: FollowUpCommand) -> Result<(), Failure> {
    let http = admin_http()?;
    let (connection, request) = match command {
        FollowUpCommand::List {
            connection,
            state,
            limit,
        } => {
            let limit = limit.map(|n| n.to_string());
            let mut query = vec![("state", state.as_str())];
            query.extend(limit.as_deref().map(|limit| ("limit", limit)));
            let url = endpoint(&connection, FOLLOW_UPS, &[], &query)?;
            (connection, http.get(url))
        }
        FollowUpCommand::Replay {
            connection,
            id,
            kind,
        } => {
            let url = endpoint(&connection, FOLLOW_UPS, &[&id, &kind, "replay"], &[])?;
            (connection, http.post(url))
        }
    };
    admin_call(&connection, request).await
}

/// Sends an admin request and prints the gateway's JSON answer; a refusal is exit 1.
async fn admin_call(
    connection: &GatewayConnection,
    request: reqwest::RequestBuilder,
) -> Result<(), Failure> {
    let admin_token = required_secret(
        connection.admin_token.clone(),
        connection.admin_token_file.clone(),
        "--admin-token",
    )?;
    let response = request
        .bearer_auth(admin_token.expose_secret())
        .send()
        .await
        .map_err(|e| Failure::failed(format!("cannot reach the gateway: {}", e.without_url())))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(Failure::failed(format!(
            "gateway answered {status}: {text}"
        )));
    }
    if text.is_empty() {
        println!("{}", serde_json::json!({"status": status.as_u16()}));
    } else {
        println!("{text}");
    }
    Ok(())
}

/// `<gateway>/<base…>[/<segments>…][?query]`, each segment percent-encoded.
fn endpoint(
    connection: &GatewayConnection,
    base: &[&str],
    segments: &[&str],
    query: &[(&str, &str)],
) -> Result<url::Url, Failure> {
    let mut url = url::Url::parse(&connection.gateway)
        .map_err(|e| Failure::input(format!("--gateway is not a URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|()| Failure::input("--gateway is not a base URL"))?
        .pop_if_empty()
        .extend(base)
        .extend(segments);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}
