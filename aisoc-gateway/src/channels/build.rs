//! From a stored channel to its notifier: one `match` on the channel type, each arm reading the
//! adapter crate's own configuration type and calling its `into_notifier`, so the rules for a
//! channel live beside its notifier and this module only wires.
//!
//! | type | configuration | needs |
//! |---|---|---|
//! | `slack` | [`SlackChannelConfig`] | the delivery client |
//! | `teams` | [`TeamsChannelConfig`] | the delivery client; in bot mode (`service_url` + `conversation_id`) the bot's Bot Connector client ([`ChannelContext::with_teams_bot`]) |
//! | `mattermost` | [`MattermostChannelConfig`] | the delivery client |
//! | `webhook` | [`WebhookChannelConfig`] | the delivery client |
//! | `email` | [`EmailChannelConfig`] | nothing (SMTP, not HTTP) |
//! | `webpush` | [`WebPushChannelConfig`] | the [`PushManager`] |
//! | `inapp` | [`InAppChannelConfig`] | the [`InAppStore`] |
//!
//! A configuration that does not deserialise is refused as `invalid <Type> configuration:
//! <key>: <what>`; one that does but is unusable with the adapter's own message (which names
//! the key to fix).
//!
//! Before a channel is saved, [`check_destinations`] judges every destination it names (`url`,
//! `webhook_url`, `api_base`, a Teams bot channel's `service_url`, and an e-mail channel's SMTP
//! `host`) with the outbound guard, so a
//! private, loopback or link-local destination is refused unless `AISOC_OUTBOUND_ALLOW` lists
//! it. HTTP deliveries are checked again when they connect. lettre resolves an SMTP host
//! itself, so an e-mail channel checks its host again before each message ([`GuardedSmtp`]):
//! a name that has come to resolve to a forbidden address since the channel was saved is
//! refused then (non-retryable), though a resolver that changes its answer between that check
//! and lettre's own lookup is not caught.

use std::sync::Arc;

use aisoc_notify_core::Notifier;
use aisoc_notify_core::delivery::DeliveryClient;
use aisoc_notify_email::config::EmailChannelConfig;
use aisoc_notify_inapp::InAppStore;
use aisoc_notify_inapp::config::InAppChannelConfig;
use aisoc_notify_slack::config::SlackChannelConfig;
use aisoc_notify_slack::mattermost::MattermostChannelConfig;
use aisoc_notify_teams::bot_framework::connector::BotConnectorClient;
use aisoc_notify_teams::config::TeamsChannelConfig;
use aisoc_notify_webhook::config::WebhookChannelConfig;
use aisoc_notify_webpush::config::WebPushChannelConfig;
use aisoc_notify_webpush::manager::PushManager;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{CHANNEL_TYPES, ChannelError};
use crate::channel_store::StoredChannel;

/// What channels are built with: the delivery client for HTTP channels, and the services the
/// channels that are not HTTP deliver through.
#[derive(Clone)]
pub struct ChannelContext {
    delivery: DeliveryClient,
    push: Option<PushManager>,
    inapp: Option<Arc<dyn InAppStore>>,
    teams_bot: Option<BotConnectorClient>,
}

impl std::fmt::Debug for ChannelContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelContext")
            .field("push", &self.push.is_some())
            .field("inapp", &self.inapp.is_some())
            .field("teams_bot", &self.teams_bot.is_some())
            .finish_non_exhaustive()
    }
}

impl ChannelContext {
    /// HTTP and e-mail channels only: `webpush` and `inapp` channels are refused until
    /// [`with_push`](Self::with_push) and [`with_inapp`](Self::with_inapp) provide their
    /// services.
    pub fn new(delivery: DeliveryClient) -> Self {
        Self {
            delivery,
            push: None,
            inapp: None,
            teams_bot: None,
        }
    }

    /// Bot-mode Teams channels post through `client` (the bot's app credentials); without it
    /// they are refused, naming `TEAMS_APP_PASSWORD`.
    pub fn with_teams_bot(mut self, client: BotConnectorClient) -> Self {
        self.teams_bot = Some(client);
        self
    }

    /// The Teams bot's Bot Connector client, when the gateway has app credentials.
    pub fn teams_bot(&self) -> Option<&BotConnectorClient> {
        self.teams_bot.as_ref()
    }

    /// Web Push channels push through `manager`.
    pub fn with_push(mut self, manager: PushManager) -> Self {
        self.push = Some(manager);
        self
    }

    /// In-app channels file into `store`.
    pub fn with_inapp(mut self, store: Arc<dyn InAppStore>) -> Self {
        self.inapp = Some(store);
        self
    }

    /// The delivery client (and so the outbound guard) HTTP channels use.
    pub fn delivery(&self) -> &DeliveryClient {
        &self.delivery
    }
}

impl From<DeliveryClient> for ChannelContext {
    fn from(delivery: DeliveryClient) -> Self {
        Self::new(delivery)
    }
}

/// Reads a configuration as `T`; the error names the key (`port: invalid value: …`).
fn parse<T: DeserializeOwned>(label: &str, config: &Map<String, Value>) -> Result<T, ChannelError> {
    serde_path_to_error::deserialize(Value::Object(config.clone())).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ChannelError::Invalid(if path == "." {
            format!("invalid {label} configuration: {inner}")
        } else {
            format!("invalid {label} configuration: {path}: {inner}")
        })
    })
}

fn invalid(error: impl std::fmt::Display) -> ChannelError {
    ChannelError::Invalid(error.to_string())
}

/// Builds the notifier `channel` describes, or says what is wrong with it.
pub(super) fn build(
    context: &ChannelContext,
    channel: &StoredChannel,
) -> Result<Arc<dyn Notifier>, ChannelError> {
    if channel.name.trim().is_empty() {
        return Err(ChannelError::Invalid("name must not be empty".into()));
    }
    let config = &channel.config;
    let delivery = context.delivery.clone();
    match channel.channel_type.as_str() {
        "slack" => parse::<SlackChannelConfig>("Slack", config)?
            .into_notifier(delivery)
            .map_err(invalid),
        "teams" => {
            let teams = parse::<TeamsChannelConfig>("Teams", config)?;
            // Without the bot's credentials a bot-mode channel is refused naming
            // TEAMS_APP_PASSWORD (after what is wrong with the channel itself, if anything).
            match &context.teams_bot {
                Some(bot) => teams.into_bot_notifier(delivery, bot).map_err(invalid),
                None => teams.into_notifier(delivery).map_err(invalid),
            }
        }
        "mattermost" => parse::<MattermostChannelConfig>("Mattermost", config)?
            .into_notifier(delivery)
            .map_err(invalid),
        "webhook" => {
            let webhook = parse::<WebhookChannelConfig>("webhook", config)?
                .into_notifier(delivery)
                .map_err(|e| match e {
                    aisoc_notify_core::NotifyError::Config(config) => invalid(config),
                    other => invalid(other),
                })?;
            Ok(Arc::new(webhook))
        }
        "email" => {
            let email = parse::<EmailChannelConfig>("email", config)?;
            let relay = smtp_destination(email.host());
            let inner = email.into_notifier().map_err(invalid)?;
            Ok(match relay {
                Some(relay) => Arc::new(GuardedSmtp {
                    inner,
                    relay,
                    delivery,
                }),
                None => Arc::new(inner),
            })
        }
        "webpush" => {
            let manager = context.push.clone().ok_or_else(|| {
                invalid("webpush channels are not available: this gateway has no Web Push manager")
            })?;
            let push = parse::<WebPushChannelConfig>("Web Push", config)?
                .into_notifier(manager)
                .map_err(invalid)?;
            Ok(Arc::new(push))
        }
        "inapp" => {
            let store = context.inapp.clone().ok_or_else(|| {
                invalid("inapp channels are not available: this gateway has no in-app store")
            })?;
            let inapp = parse::<InAppChannelConfig>("in-app", config)?
                .into_notifier(store)
                .map_err(invalid)?;
            Ok(Arc::new(inapp))
        }
        _ => Err(ChannelError::Invalid(format!(
            "channel_type must be one of {}",
            CHANNEL_TYPES
                .iter()
                .map(|t| format!("'{t}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The configuration keys that hold an HTTP destination, in any channel type.
const URL_KEYS: [&str; 4] = ["url", "webhook_url", "api_base", "service_url"];

fn string_field<'a>(config: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Every destination `channel` names, as URLs the outbound guard can judge: its HTTP URLs, and
/// an e-mail channel's SMTP host (as `smtp://host`, whose host is all the guard reads).
/// Unparseable values are left to the configuration's own validation.
fn destinations(channel: &StoredChannel) -> Vec<url::Url> {
    let config = &channel.config;
    let mut urls: Vec<url::Url> = URL_KEYS
        .iter()
        .filter_map(|key| string_field(config, key))
        .filter_map(|raw| url::Url::parse(raw).ok())
        .collect();
    if channel.channel_type == "email"
        && let Some(host) = string_field(config, "host")
    {
        urls.extend(smtp_destination(host));
    }
    urls
}

/// An SMTP host as a URL the outbound guard can judge (only its host is read). A special
/// scheme, so an address literal is read as an address, not as a name.
fn smtp_destination(host: &str) -> Option<url::Url> {
    let host = match host.parse::<std::net::Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => host.to_owned(),
    };
    url::Url::parse(&format!("http://{host}/")).ok()
}

/// An e-mail notifier that judges its SMTP host with the outbound guard before each message,
/// as HTTP deliveries are judged when they connect.
#[derive(Debug)]
struct GuardedSmtp {
    inner: aisoc_notify_email::EmailNotifier,
    relay: url::Url,
    delivery: DeliveryClient,
}

#[aisoc_notify_core::async_trait]
impl Notifier for GuardedSmtp {
    fn channel_type(&self) -> &str {
        self.inner.channel_type()
    }

    async fn notify(
        &self,
        notification: &aisoc_notify_core::Notification,
    ) -> Result<aisoc_notify_core::Delivered, aisoc_notify_core::NotifyError> {
        let config = self.delivery.config();
        if let Err(forbidden) = config
            .destinations
            .check_url_resolved(&self.relay, config.lookup.as_ref())
            .await
        {
            return Err(aisoc_notify_core::NotifyError::refused(
                "email",
                aisoc_notify_core::RetryClass::NonRetryable,
                "forbidden_destination",
                forbidden.to_string(),
            ));
        }
        self.inner.notify(notification).await
    }
}

/// Refuses a channel one of whose destinations the outbound guard forbids (resolving host
/// names), naming the host and the rule, never a URL's path.
pub(super) async fn check_destinations(
    context: &ChannelContext,
    channel: &StoredChannel,
) -> Result<(), ChannelError> {
    let config = context.delivery.config();
    for url in destinations(channel) {
        config
            .destinations
            .check_url_resolved(&url, config.lookup.as_ref())
            .await
            .map_err(ChannelError::Forbidden)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use aisoc_notify_core::delivery::DeliveryConfig;
    use aisoc_notify_core::destination::{DestinationPolicy, StaticLookup};
    use aisoc_notify_core::notification::{EventType, Notification, Severity};
    use aisoc_notify_core::{NotifyError, RetryClass};
    use serde_json::json;

    use super::*;

    fn email_channel(host: &str) -> StoredChannel {
        let Value::Object(config) = json!({
            "host": host,
            "port": 2525,
            "from": "soc-bot@example.com",
            "to": ["soc@example.com"],
        }) else {
            unreachable!("a JSON object")
        };
        StoredChannel {
            id: "ch_email".into(),
            channel_type: "email".into(),
            name: "mail".into(),
            config,
            event_types: Vec::new(),
            enabled: true,
        }
    }

    /// A context whose resolver says `relay.test` is the address given.
    fn resolving_to(address: &str) -> ChannelContext {
        let lookup = StaticLookup::new().with("relay.test", [address.parse::<IpAddr>().unwrap()]);
        ChannelContext::new(
            DeliveryClient::new(DeliveryConfig {
                destinations: DestinationPolicy::guarded(),
                lookup: Arc::new(lookup),
                ..DeliveryConfig::default()
            })
            .unwrap(),
        )
    }

    #[tokio::test]
    async fn an_smtp_host_is_judged_when_saved_and_again_before_each_message() {
        let context = resolving_to("10.20.30.40");
        let channel = email_channel("relay.test");
        let refused = check_destinations(&context, &channel).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "destination relay.test is a private address (RFC 1918), which outbound requests may not \
             reach; list it in AISOC_OUTBOUND_ALLOW to allow it"
        );

        // Stored while the name was public (or by another replica): each message checks again,
        // and nothing is sent to the address it now resolves to.
        let notifier = build(&context, &channel).unwrap();
        let alert = Notification::new("acme", EventType::P0Alert, Severity::High, "P0");
        let failure = notifier.notify(&alert).await.unwrap_err();
        assert_eq!(failure.retry_class(), RetryClass::NonRetryable);
        assert!(
            matches!(failure, NotifyError::Rejected { .. }),
            "{failure:?}"
        );
        assert!(
            failure
                .to_string()
                .contains("relay.test is a private address"),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn a_public_smtp_host_passes_the_check() {
        let context = resolving_to("93.184.215.14");
        assert!(
            check_destinations(&context, &email_channel("relay.test"))
                .await
                .is_ok()
        );
    }
}
