//! `aisoc-gateway`: the reference gateway. See the crate docs of `aisoc_notify_gateway` and README.md.

use std::io::Write;
use std::sync::Arc;

use aisoc_notify_core::routing::{Channel, NotificationRouter};
use aisoc_notify_core::secret::SecretString;
use aisoc_notify_gateway::app::{AppState, app};
use aisoc_notify_gateway::config::{AdminToken, GatewayArgs};
use aisoc_notify_gateway::console::ConsoleNotifier;
use clap::Parser;
use metrics_exporter_prometheus::PrometheusBuilder;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = GatewayArgs::parse();
    let admin = AdminToken::from_config(args.admin_token);
    let metrics = PrometheusBuilder::new().install_recorder()?;
    let router = NotificationRouter::builder()
        .channel(
            Channel::new("console", Arc::new(ConsoleNotifier)).with_name("Console delivery log"),
        )
        .build()?;

    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let address = listener.local_addr()?;
    print_banner(&address.to_string(), &admin)?;

    let state = AppState {
        router: Arc::new(router),
        admin_token: Arc::new(SecretString::from(admin.expose().to_owned())),
        metrics,
    };
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("aisoc-gateway stopped");
    Ok(())
}

fn print_banner(address: &str, admin: &AdminToken) -> std::io::Result<()> {
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
    writeln!(out, "try:")?;
    writeln!(out, "  curl -s http://{address}/healthz")?;
    writeln!(
        out,
        "  curl -s -H 'Authorization: Bearer <admin token>' -H 'Content-Type: application/json' \\\n    \
         -d '{{\"tenant_id\":\"acme\",\"event_type\":\"p0_alert\",\"severity\":\"critical\",\"title\":\"Ransomware on web-01\"}}' \\\n    \
         http://{address}/v1/notifications"
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
