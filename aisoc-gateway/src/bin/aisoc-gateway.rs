//! `aisoc-gateway`: the reference gateway. See the crate docs of `aisoc_gateway` and README.md.

/// jemalloc rather than the platform's malloc: a request allocates and frees many small
/// pieces on the worker threads (its JSON values, the mapped events, hyper's buffers). With
/// jemalloc the gateway took 20-30% less CPU a single event and about 12% less a 100-line
/// batch on the development VM, and a 10 MiB request still grows the peak RSS by about 3x its
/// body (`benches/README.md`, "HTTP load"). Not mimalloc: it took that growth past 5x.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::io::Write;
use std::sync::Arc;

use std::num::NonZeroU32;

use aisoc_gateway::actions::{self, AuditTimeline, EnvCredentials, WebhookResumer};
use aisoc_gateway::app::{AppState, DEFAULT_MAX_IN_FLIGHT, app, shed_load};
use aisoc_gateway::approval_cards::{self, AnswerLinks, ApprovalCards};
use aisoc_gateway::auth::require_admin;
use aisoc_gateway::backends::Backends;
use aisoc_gateway::channels::{self, ChannelContext, ChannelRegistry, CurrentChannels};
use aisoc_gateway::chatops::{CardPostingCreator, GatewayChatOps, SlackTenants};
use aisoc_gateway::config::{
    AdminToken, DEFAULT_DATA_DIR, DEFAULT_VAPID_SUBJECT, FileConfig, GatewayArgs,
    secrets_from_files,
};
use aisoc_gateway::connectors::{self, Connectors};
use aisoc_gateway::console::ConsoleNotifier;
use aisoc_gateway::dead_letters;
use aisoc_gateway::events_file::{FileSink, TeeSink};
use aisoc_gateway::follow_ups::{self, FollowUpSource};
use aisoc_gateway::push;
use aisoc_gateway::recent_events::{self, IndexingSink, RecentEventIndex};
use aisoc_gateway::replica;
use aisoc_gateway::{itsm_store, oncall_store};
use aisoc_inbox::file_store::{FileStore, FileStoreConfig};
use aisoc_inbox::sink::EventSink;
use aisoc_inbox::template::TemplateRegistry;
use aisoc_inbox::token::TokenResolver;
use aisoc_inbox::{Inbox, InboxConfig};
use aisoc_notify_approvals::routes::ApprovalRoutes;
use aisoc_notify_approvals::service::ApprovalService;
use aisoc_notify_approvals::store::{ApprovalStore, AuditLog};
use aisoc_notify_approvals::verify::VerificationStore;
use aisoc_notify_approvals::verify::{
    self, ChatopsVerifyConfig, ChatopsVerifyExecutor, VerifyCallback,
};
use aisoc_notify_core::action::ExecutorRegistry;
use aisoc_notify_core::delivery::{DeliveryClient, DeliveryConfig};
use aisoc_notify_core::routing::Channel;
use aisoc_notify_core::sealed::DataKeys;
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_slack::routes::SlackRoutes;
use aisoc_notify_slack::signature::SlackSignatureVerifier;
use aisoc_notify_teams::hmac::TeamsHmacVerifier;
use aisoc_notify_teams::routes::{TeamsAuth, TeamsRoutes};
use aisoc_notify_webpush::keys::VapidKeyPair;
use aisoc_notify_webpush::manager::{OnCallStatusProvider, PushManager};
use aisoc_notify_webpush::send::WebPushSender;
use aisoc_notify_webpush::vapid::VapidSigner;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use metrics_exporter_prometheus::PrometheusBuilder;
use std::net::SocketAddr;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // Configuration and start-up errors, in words an operator can act on.
            let _ = writeln!(std::io::stderr(), "aisoc-gateway: {error}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = GatewayArgs::parse();
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    args.merge_file(&file)?;
    // Environment first, then secrets' `_FILE`s, then the file: every setting read below goes
    // through this.
    let secret_files = secrets_from_files(&|name| std::env::var(name).ok())?;
    let lookup = move |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| secret_files.get(name).cloned())
            .or_else(|| file.get(name))
    };
    let admin = AdminToken::from_config(args.admin_token.take());
    // Replicas (and restarts) on one database must share their keys: none may be generated.
    replica::require_shared_keys(lookup("DATABASE_URL").is_some(), |name| match name {
        "AISOC_ADMIN_TOKEN" => !admin.generated,
        "VAPID_PRIVATE_KEY" => args
            .vapid_private_key
            .as_ref()
            .is_some_and(|key| !key.expose_secret().trim().is_empty()),
        other => lookup(other).is_some(),
    })?;
    let metrics = PrometheusBuilder::new().install_recorder()?;
    // Every metric gets its `# HELP` line, whether or not its component is running yet.
    aisoc_gateway::metrics::describe_metrics();
    aisoc_inbox::metrics::describe_metrics();
    aisoc_notify_outbox::metrics::describe_metrics();
    aisoc_notify_webpush::metrics::describe_metrics();
    // One pooled client for every outbound request, behind the outbound guard.
    let outbound = DeliveryClient::new(DeliveryConfig {
        destinations: args.destination_policy()?,
        ..DeliveryConfig::default()
    })?;
    let admin_token = Arc::new(SecretString::from(admin.expose().to_owned()));
    let backends = Backends::connect(&lookup).await?;
    // Every stored channel is loaded before the outbox worker takes its first notification,
    // then kept in step with the other replicas.
    let data_keys = DataKeys::from_lookup(&lookup)?.map(Arc::new);
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    // The gateway's own tenant tables (ITSM credentials, on-call statuses): PostgreSQL with
    // DATABASE_URL, else files in the data directory.
    let own_tables = backends.postgres_pool();
    let itsm = itsm_store::open_store(own_tables.clone(), &data_dir, data_keys.clone())
        .await
        .map_err(|e| format!("cannot open the ITSM credential store: {e}"))?;
    tracing::info!(store = %itsm.describe(), "ITSM credentials");
    let oncall = oncall_store::open_store(own_tables, &data_dir)
        .await
        .map_err(|e| format!("cannot open the on-call status store: {e}"))?;
    // What the inbox accepted, newest per tenant, for Slack's `/aisoc` commands.
    let recent_events = recent_events::open_index(backends.postgres_pool())
        .await
        .map_err(|e| format!("cannot open the recent-events index: {e}"))?;
    let (inbox, events_stored) = build_inbox(
        &args,
        &backends,
        data_keys.clone(),
        recent_events.clone(),
        &lookup,
    )
    .await?;
    // aws-sns tokens: signatures verified, subscriptions confirmed (fetched from AWS SNS only).
    let inbox = aisoc_inbox::sns::SnsSubscriptions::new(outbound.clone()).attach(inbox);
    let storage = match events_stored {
        Some(events) => format!("{}; inbox events: {events}", backends.describe()),
        None => backends.describe(),
    };
    let (push_manager, vapid_generated) = build_push(&args, &backends, &outbound, oncall.clone())?;
    let vapid_public_key = push_manager.sender().vapid().keys().public_key_base64();
    // Web Push and in-app channels deliver through the push manager and the in-app store.
    let inapp_store = backends.inapp_store().await?;
    let mut channel_context = ChannelContext::new(outbound.clone())
        .with_push(push_manager.clone())
        .with_inapp(inapp_store.clone());
    // With the bot's app credentials, Teams channels can name a conversation the bot posts
    // into (and approval cards there are edited once decided).
    if lookup("TEAMS_APP_PASSWORD").is_some() {
        use aisoc_notify_teams::bot_framework::connector::{BotConnectorClient, BotCredentials};
        if let Some(credentials) = BotCredentials::from_lookup(&lookup)? {
            tracing::info!(token_url = %credentials.token_url(), "Teams bot-mode channels enabled");
            channel_context = channel_context
                .with_teams_bot(BotConnectorClient::new(credentials, outbound.clone())?);
        }
    }
    let channels = Arc::new(
        ChannelRegistry::load(
            Channel::new("console", Arc::new(ConsoleNotifier)).with_name("Console delivery log"),
            channel_context,
            backends.channel_store(&data_dir, data_keys.clone()).await?,
        )
        .await
        .map_err(|e| format!("cannot load the notification channels: {e}"))?,
    );
    tracing::info!(store = %channels.describe_store(), loaded = channels.list().len(), "notification channels");
    channels.spawn_refresh(channels::refresh_interval(&lookup)?);
    let listener =
        tokio::net::TcpListener::bind(args.listen.unwrap_or(([127, 0, 0, 1], 8080).into())).await?;
    let address = listener.local_addr()?;
    let (approval_store, audit) = backends.approvals().await?;
    let chatops_audit = audit.clone();
    let flows = build_chatops_verify(
        address,
        audit.clone(),
        backends.verification_store().await?,
        approval_store.clone(),
        &lookup,
        &outbound,
    )?;
    let generated_resume_secret = flows.generated_resume_secret.clone();
    actions::register_playbook_actions(&flows.actions, &outbound, itsm.clone())?;
    // Approval cards: posted on create, updated on every decision, reconciled after a crash.
    let cards = ApprovalCards::new(
        approval_cards::open_store(backends.postgres_pool(), &data_dir)
            .await
            .map_err(|e| format!("cannot open the approval card store: {e}"))?,
        channels.clone(),
        approval_store.clone(),
        outbound.clone(),
        flows.answer_links.clone(),
    );
    cards.spawn_reconciler(approval_cards::reconcile_interval(&lookup)?);
    let approvals = cards.observe(
        ApprovalService::new(approval_store)
            .with_follow_ups(flows.approval_follow_ups.dispatcher.clone()),
    );

    let outbox = backends
        .outbox(CurrentChannels(channels.clone()), &lookup)
        .await?;
    let connector_health = Connectors::start(&backends, &data_dir, outbox.clone(), &lookup).await?;
    let connector_store = connector_health.store();
    let mut gateway = app(AppState {
        channels: channels.clone(),
        outbox: outbox.clone(),
        admin_token: admin_token.clone(),
        metrics,
    })
    .merge(dead_letters::router(outbox, admin_token.clone()))
    // The crates' admin routers know no admin token: the bearer check is layered on here.
    .nest(
        "/v1",
        aisoc_notify_approvals::routes::approvals_router(
            ApprovalRoutes::new(approvals.clone(), audit).on_created(Arc::new(cards.clone())),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            admin_token.clone(),
            require_admin,
        )),
    )
    .nest(
        "/v1/admin/inbox",
        aisoc_inbox::router::token_admin_router(inbox.clone()).route_layer(
            axum::middleware::from_fn_with_state(admin_token.clone(), require_admin),
        ),
    )
    .merge(approval_cards::answer::router(
        cards.links(),
        approvals.clone(),
    )?)
    .merge(actions::router(flows.actions, admin_token.clone()))
    .merge(itsm_store::router(
        itsm,
        outbound.clone(),
        admin_token.clone(),
    ))
    .nest(
        "/api/v1/oncall",
        oncall_store::router(oncall, admin_token.clone()),
    )
    .merge(follow_ups::router(
        vec![flows.verify_follow_ups, flows.approval_follow_ups],
        admin_token.clone(),
    ))
    .nest(
        "/v1",
        aisoc_notify_approvals::routes::router(flows.verify_callback),
    )
    .merge(aisoc_gateway::rules::router(
        channels.clone(),
        admin_token.clone(),
    ))
    .merge(channels::router(channels, admin_token.clone()))
    .merge(connectors::router(connector_health, admin_token.clone()))
    .nest(
        "/api/v1/push",
        push::router(push_manager, admin_token.clone()),
    )
    .nest(
        "/api/v1/inapp",
        push::inapp_router(inapp_store, admin_token.clone()),
    )
    .merge(aisoc_gateway::user_tokens::router(admin_token.clone()))
    .nest("/v1/inbox", aisoc_inbox::router::router(inbox.clone()))
    .merge(aisoc_inbox::router::hec_router(inbox))
    .merge(aisoc_gateway::openapi::router());
    if let Some(secret) = args
        .slack_signing_secret
        .filter(|s| !s.expose_secret().is_empty())
    {
        let chatops = GatewayChatOps::new(
            SlackTenants::from_lookup(&lookup)?,
            recent_events,
            approvals.clone(),
            chatops_audit,
        )
        .with_connectors(connector_store)
        .with_approval_creator(Arc::new(CardPostingCreator::new(
            approvals.clone(),
            cards.clone(),
        )));
        let routes = SlackRoutes::new(
            SlackSignatureVerifier::new(secret.expose_secret()),
            Arc::new(approvals.clone()),
        )?
        .with_backend(Arc::new(chatops))
        .with_responder(outbound.clone());
        gateway = gateway.nest("/v1/slack", aisoc_notify_slack::routes::router(routes));
        tracing::info!("Slack interactions enabled at /v1/slack");
    }
    // A Teams bot: its messaging endpoint takes the cards' Action.Execute buttons.
    if let Some(app_id) = lookup("TEAMS_APP_ID") {
        use aisoc_notify_teams::bot_framework::{self, BotFrameworkAuth, BotRoutes};
        let mut auth = BotFrameworkAuth::builder(app_id).delivery(outbound.clone());
        if let Some(url) = lookup("TEAMS_BOT_OPENID_METADATA_URL") {
            auth = auth.metadata_url(url);
        }
        let routes = BotRoutes::new(auth.build()?, Arc::new(approvals.clone()))
            .with_cards(Arc::new(cards.clone()));
        gateway = gateway.nest("/v1/teams", bot_framework::router(routes));
        tracing::info!("Teams bot messaging endpoint enabled at /v1/teams/messages");
    }
    if let Some(secret) = args
        .teams_outgoing_webhook_secret
        .filter(|s| !s.expose_secret().is_empty())
    {
        let auth = TeamsAuth::OutgoingWebhookHmac(TeamsHmacVerifier::new(secret.expose_secret())?);
        let routes = TeamsRoutes::new(auth, Arc::new(approvals));
        gateway = gateway.nest("/v1/teams", aisoc_notify_teams::routes::router(routes));
        tracing::info!("Teams interactions enabled at /v1/teams");
    }

    print_banner(
        &address.to_string(),
        &admin,
        &storage,
        vapid_generated.then_some(vapid_public_key.as_str()),
        generated_resume_secret.as_ref(),
    )?;
    // Last, so it covers every route: excess requests are shed, not queued.
    let gateway = shed_load(gateway, args.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT));
    // The client's address is what failed inbox authentications are charged to.
    let gateway = gateway.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, gateway)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("aisoc-gateway stopped");
    Ok(())
}

/// What [`build_chatops_verify`] wires: the actions, the answer page, and the follow-up workers
/// of both decision flows.
struct DecisionFlows {
    actions: Arc<ExecutorRegistry>,
    verify_callback: VerifyCallback,
    verify_follow_ups: FollowUpSource,
    approval_follow_ups: FollowUpSource,
    /// The playbook-resume key, when none was configured and one was generated.
    generated_resume_secret: Option<SecretString>,
    /// Approval cards' answer links, under the same public URL and key as the verify flow's.
    answer_links: AnswerLinks,
}

/// `chatops.verify` and its answer page, and the delivery of both flows' playbook resumes.
/// Without configuration the button links point at this gateway's own address and are signed
/// with a key generated at start-up; the feature flag `AISOC_FEATURE_CHATOPS_VERIFY` still
/// decides whether prompts are sent.
fn build_chatops_verify(
    address: SocketAddr,
    audit: Arc<dyn AuditLog>,
    store: Arc<dyn VerificationStore>,
    approval_store: Arc<dyn ApprovalStore>,
    lookup: &dyn Fn(&str) -> Option<String>,
    outbound: &DeliveryClient,
) -> Result<DecisionFlows, Box<dyn std::error::Error>> {
    let mut generated = [0u8; 32];
    rand::fill(&mut generated);
    let generated = URL_SAFE_NO_PAD.encode(generated);
    let config = ChatopsVerifyConfig::from_lookup(|name| {
        lookup(name).or_else(|| match name {
            "AISOC_ACTIONS_PUBLIC_URL" => Some(format!("http://{address}")),
            "AISOC_CHATOPS_HMAC_SECRET" => Some(generated.clone()),
            _ => None,
        })
    })?;
    let timeline = Arc::new(AuditTimeline(audit));
    let credentials = Arc::new(EnvCredentials::from_lookup(lookup, outbound)?);
    let executor = ChatopsVerifyExecutor::new(
        config.clone(),
        credentials.clone(),
        timeline.clone(),
        store.clone(),
    )?;
    let registry = ExecutorRegistry::new();
    registry.register(verify::ACTION_TYPE, Arc::new(executor));
    // Answers' timeline entries and playbook resumes go out from the answer outbox in the
    // verification store, approval decisions' resumes from the approval store's; one worker
    // each delivers them, and on start what a previous process left.
    let lease = follow_ups::lease_from_lookup(lookup)?;
    // Resumes are signed with their own key, never the callback tokens' one.
    let configured_resume_secret = lookup(actions::RESUME_SECRET_VAR)
        .filter(|s| !s.trim().is_empty())
        .map(SecretString::from);
    let generated_resume_secret = configured_resume_secret
        .is_none()
        .then(actions::generate_resume_secret);
    let resume_secret = configured_resume_secret
        .or_else(|| generated_resume_secret.clone())
        .expect("one of the two is set");
    let mut resumer = WebhookResumer::new(
        lookup("AISOC_PLAYBOOK_RESUME_URL").as_deref(),
        &resume_secret,
        outbound.clone(),
    )?;
    if let Some(legacy) = lookup(actions::RESUME_LEGACY_SECRET_VAR) {
        resumer = resumer.with_legacy_signature(&SecretString::from(legacy))?;
    }
    let resumer = Arc::new(resumer);
    let verify_follow_ups =
        FollowUpSource::spawn(store.clone(), timeline.clone(), resumer.clone(), lease);
    let approval_follow_ups = FollowUpSource::spawn(approval_store, timeline, resumer, lease);
    let callback = VerifyCallback::new(
        Arc::new(config.signer()?),
        store,
        verify_follow_ups.dispatcher.clone(),
    )
    .with_prompt_updates(credentials);
    Ok(DecisionFlows {
        actions: Arc::new(registry),
        verify_callback: callback,
        verify_follow_ups,
        approval_follow_ups,
        generated_resume_secret,
        answer_links: AnswerLinks::from_verify_config(&config),
    })
}

/// Web Push with the configured VAPID key, or a generated one; subscriptions in memory; the
/// fan-out skips users `oncall` says are offline or snoozed.
fn build_push(
    args: &GatewayArgs,
    backends: &Backends,
    outbound: &DeliveryClient,
    oncall: Arc<dyn OnCallStatusProvider>,
) -> Result<(PushManager, bool), Box<dyn std::error::Error>> {
    let (keys, generated) = match args
        .vapid_private_key
        .as_ref()
        .map(|key| key.expose_secret().trim())
    {
        Some(private) if !private.is_empty() => (
            VapidKeyPair::from_base64(private).map_err(|e| format!("VAPID_PRIVATE_KEY: {e}"))?,
            false,
        ),
        _ => (VapidKeyPair::generate(), true),
    };
    if let Some(public) = args.vapid_public_key.as_deref().map(str::trim)
        && !public.is_empty()
        && public != keys.public_key_base64()
    {
        return Err("VAPID_PUBLIC_KEY does not belong to VAPID_PRIVATE_KEY".into());
    }
    let signer = VapidSigner::new(
        keys,
        args.vapid_subject
            .clone()
            .unwrap_or_else(|| DEFAULT_VAPID_SUBJECT.to_owned()),
    )
    .map_err(|e| format!("VAPID_SUBJECT: {e}"))?;
    let manager = PushManager::new(
        backends.subscriptions(),
        WebPushSender::with_client(signer, outbound.clone()),
        oncall,
    );
    Ok((manager, generated))
}

/// The inbox on embedded defaults: in-memory tokens, limits and idempotency; accepted events to
/// NATS JetStream when configured, else to the durable file store in the data directory, with
/// `--events-out` as an extra JSON-lines copy, and indexed in `recent_events` for ChatOps. Also
/// returns where events go, for the banner's
/// storage line, unless `backends.describe()` already says it (NATS).
async fn build_inbox(
    args: &GatewayArgs,
    backends: &Backends,
    data_keys: Option<Arc<DataKeys>>,
    recent_events: Arc<dyn RecentEventIndex>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(Inbox, Option<String>), Box<dyn std::error::Error>> {
    let config = InboxConfig::from_lookup(lookup)?;
    let per_minute =
        NonZeroU32::new(config.rate_limit_per_minute).ok_or("rate limit must be positive")?;
    let (store, mut stored): (Arc<dyn EventSink>, Option<String>) =
        match backends.nats_sink(lookup).await? {
            Some(sink) => (sink, None),
            None => {
                let data_dir = args
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
                let dir = std::path::absolute(data_dir.join("inbox-events"))?;
                let store_config = FileStoreConfig::from_lookup(&dir, lookup)?;
                let cap = match store_config.max_bytes {
                    bytes if bytes >= 1 << 20 => format!("{} MiB", bytes >> 20),
                    bytes => format!("{bytes} bytes"),
                };
                let store = FileStore::open(store_config).await.map_err(|e| {
                    format!("cannot open the event store in {}: {e}", dir.display())
                })?;
                let shown = format!("file store in {} ({cap} cap)", dir.display());
                (Arc::new(store), Some(shown))
            }
        };
    let sink: Arc<dyn EventSink> = match &args.events_out {
        Some(path) => {
            let copy = FileSink::open(path.clone())
                .await
                .map_err(|e| format!("cannot open --events-out {}: {e}", path.display()))?;
            let copied = format!("copied to {}", path.display());
            stored = Some(match stored {
                Some(store) => format!("{store}, {copied}"),
                None => copied,
            });
            Arc::new(TeeSink::new(store, copy))
        }
        None => store,
    };
    // Indexed once the store of record took the events; best effort (see `recent_events`).
    let sink: Arc<dyn EventSink> = Arc::new(IndexingSink::new(sink, recent_events));
    let inbox = Inbox::new(
        TokenResolver::new(backends.token_store(data_keys).await?),
        Arc::new(TemplateRegistry::bundled()?),
        backends.rate_limiter(per_minute),
        backends.idempotency(config.idempotency_ttl, lookup)?,
        sink,
        config,
    );
    let inbox = backends.inbox_budgets(inbox);
    Ok((inbox, stored))
}

fn print_banner(
    address: &str,
    admin: &AdminToken,
    backends: &str,
    generated_vapid_public_key: Option<&str>,
    generated_resume_secret: Option<&SecretString>,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "aisoc-gateway listening on http://{address}")?;
    if admin.generated {
        writeln!(
            out,
            "admin token (generated; set AISOC_ADMIN_TOKEN to choose one): {}",
            admin.expose()
        )?;
    } else {
        writeln!(out, "admin token: from configuration")?;
    }
    writeln!(out, "storage: {backends}")?;
    if let Some(public_key) = generated_vapid_public_key {
        writeln!(
            out,
            "VAPID public key (generated; set VAPID_PRIVATE_KEY to keep one): {public_key}"
        )?;
    }
    if let Some(secret) = generated_resume_secret {
        writeln!(
            out,
            "playbook resume secret (generated; set AISOC_PLAYBOOK_RESUME_SECRET to keep one): {}",
            secret.expose_secret()
        )?;
    }
    writeln!(out, "try:")?;
    writeln!(out, "  curl -s http://{address}/healthz")?;
    writeln!(
        out,
        "  curl -s -H 'Authorization: Bearer <admin token>' -H 'Content-Type: application/json' \\\n    \
         -d '{{\"tenant_id\":\"acme\",\"event_type\":\"p0_alert\",\"severity\":\"critical\",\"title\":\"Ransomware on web-01\"}}' \\\n    \
         http://{address}/v1/notifications"
    )?;
    writeln!(
        out,
        "  curl -s -H 'Authorization: Bearer <admin token>' -H 'Content-Type: application/json' \\\n    \
         -d '{{\"tenant_id\":\"acme\",\"template\":\"generic-json\"}}' http://{address}/v1/admin/inbox/tokens"
    )?;
    writeln!(
        out,
        "  curl -s -d '{{\"title\":\"Impossible travel\",\"severity\":\"high\"}}' http://{address}/v1/inbox/<inbox token>"
    )?;
    writeln!(out, "  curl -s http://{address}/metrics")?;
    out.flush()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
