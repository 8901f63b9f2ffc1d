//! A custom ticketing integration written against the core traits only: `create_ticket` for
//! [Zammad](https://docs.zammad.org/en/latest/api/ticket/index.html), a REST helpdesk the
//! workspace does not ship.
//!
//! The executor is ~80 lines: render the step's parameters, `POST /api/v1/tickets` through the
//! shared [`DeliveryClient`] (timeouts, capped reads, the outbound guard), and map Zammad's
//! answer into [`ActionOutput`] or a typed [`ActionError`] whose retry class a playbook can
//! branch on. It registers itself as the live executor for `("zammad", "create_ticket")`, so the
//! stock `create_ticket` dispatcher routes `system: zammad` to it without touching the library.
//!
//! Zammad cannot deduplicate a create, so the request goes through
//! [`DeliveryClient::send_once`]: retried only when it certainly was not processed (no
//! connection, or a 429), never after a timeout or a 5xx that may have opened the ticket.
//!
//! Its tests (run by `cargo test -p aisoc-notify-examples --example custom_ticketing`) show the
//! three ways to test a plugin: the core HTTP contract against a mock Zammad, `mockall` for
//! host code that calls executors, and the core's recording stub.
//!
//! ```sh
//! cargo run -p aisoc-notify-examples --example custom_ticketing
//! ```

#![allow(clippy::print_stdout, reason = "an example shows its output")]

use std::sync::Arc;
use std::time::Duration;

use aisoc_notify_core::delivery::{DeliveryClient, HttpResponse, check_destination};
use aisoc_notify_core::secret::{ExposeSecret, SecretString};
use aisoc_notify_core::{
    ActionError, ActionExecutor, ActionOutput, ActionRequest, ConfigError, ExecutorRegistry,
    RetryClass, async_trait,
};
use aisoc_notify_itsm::CreateTicket;
use serde_json::{Value, json};

/// Where and as whom to open Zammad tickets.
pub struct ZammadConfig {
    /// `https://helpdesk.example.com/`.
    pub base_url: url::Url,
    /// A Zammad API token (Profile → Token Access), sent as `Token token=…`.
    pub token: SecretString,
    /// The group new tickets land in (`Users`, `SOC`…).
    pub group: String,
    /// The customer new tickets are opened for (an e-mail Zammad knows).
    pub customer: String,
}

/// `create_ticket` for Zammad.
pub struct ZammadExecutor {
    config: ZammadConfig,
    delivery: DeliveryClient,
}

impl ZammadExecutor {
    /// Checks the configuration now, so a typo stops start-up instead of the first playbook.
    pub fn new(config: ZammadConfig, delivery: DeliveryClient) -> Result<Self, ConfigError> {
        check_destination(config.base_url.as_str())
            .map_err(|reason| ConfigError::new("base_url", reason))?;
        if config.group.trim().is_empty() {
            return Err(ConfigError::new("group", "must name a Zammad group"));
        }
        Ok(Self { config, delivery })
    }

    /// Registers this executor for `("zammad", "create_ticket")`.
    pub fn register(self, registry: &ExecutorRegistry) {
        registry.register_live("zammad", "create_ticket", Arc::new(self));
    }
}

#[async_trait]
impl ActionExecutor for ZammadExecutor {
    async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError> {
        let title = request.require_parameter("summary")?;
        let body = request.render_parameter("description")?.unwrap_or_default();
        let url = self
            .config
            .base_url
            .join("api/v1/tickets")
            .map_err(|e| ConfigError::new("base_url", e))?;
        let ticket = json!({
            "title": title,
            "group": self.config.group,
            "customer": self.config.customer,
            "article": {"subject": title, "body": body, "type": "note", "internal": false},
        });
        let http = self
            .delivery
            .http()
            .post(url)
            .header(
                "Authorization",
                format!("Token token={}", self.config.token.expose_secret()),
            )
            .json(&ticket)
            .build()
            .map_err(|e| ConfigError::new("base_url", e.without_url()))?;
        let response = self.delivery.send_once(http).await?;
        if !response.is_success() {
            return Err(ActionError::from_status(
                "zammad",
                response.status.as_u16(),
                response.retry_after,
                zammad_reason(&response),
            ));
        }
        let created: Value = response.json()?;
        let number = created["number"]
            .as_str()
            .ok_or_else(|| ActionError::Unavailable {
                service: "zammad".into(),
                code: "no_number".into(),
                message: "Zammad answered without a ticket number".into(),
            })?;
        let link = created["id"].as_u64().and_then(|id| {
            self.config
                .base_url
                .join(&format!("#ticket/zoom/{id}"))
                .ok()
        });
        Ok(ActionOutput::default()
            .with("system", "zammad")
            .with("key", number)
            .with("url", link.map(String::from)))
    }
}

/// Zammad's own short explanation (`{"error": "…"}`), or the status alone: a body that is not
/// Zammad's JSON is never repeated.
fn zammad_reason(response: &HttpResponse) -> String {
    response
        .json::<Value>()
        .ok()
        .and_then(|body| {
            body["error"]
                .as_str()
                .map(|e| e.chars().take(200).collect())
        })
        .unwrap_or_else(|| format!("HTTP {}", response.status.as_u16()))
}

/// What a playbook engine does with a ticket step: the key, or when to try again. Host code
/// like this is what `mockall` tests (see the tests below).
pub async fn open_ticket(
    registry: &ExecutorRegistry,
    step: &ActionRequest,
) -> Result<String, Option<Duration>> {
    match registry.run(step).await {
        Ok(output) => Ok(output.data["key"].as_str().unwrap_or_default().to_owned()),
        Err(error) => match error.retry_class() {
            RetryClass::Throttled(wait) => Err(Some(wait)),
            RetryClass::Retryable => Err(Some(Duration::from_secs(30))),
            _ => Err(None),
        },
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    // A stand-in for https://helpdesk.example.com.
    let zammad = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/tickets"))
        .and(header("authorization", "Token token=zammad-api-token"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 7, "number": "31007"})))
        .mount(&zammad)
        .await;

    // The guard refuses loopback by default; this demo allows only the mock's address.
    let delivery = DeliveryClient::new(aisoc_notify_core::DeliveryConfig {
        destinations: aisoc_notify_core::DestinationPolicy::guarded().allow("127.0.0.1/32")?,
        ..Default::default()
    })?;
    let registry = Arc::new(ExecutorRegistry::new());
    ZammadExecutor::new(
        ZammadConfig {
            base_url: format!("{}/", zammad.uri()).parse()?,
            token: "zammad-api-token".to_owned().into(),
            group: "SOC".into(),
            customer: "soc@example.com".into(),
        },
        delivery,
    )?
    .register(&registry);
    CreateTicket::register(&registry);

    let step = ActionRequest::new("create_ticket", "acme")
        .with_parameter("system", "zammad")
        .with_parameter("summary", "Ransomware on {{ context.host }}")
        .with_parameter("description", "Isolated at {{ context.time }}.")
        .with_context(json!({"host": "web-01", "time": "09:00 UTC"}));
    let result = registry.execute(&step).await;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aisoc_notify_core::conformance::HttpContract;
    use aisoc_notify_core::conformance::stub::RecordingExecutor;
    use mockall::predicate::function;
    use wiremock::ResponseTemplate;

    fn config(base_url: &url::Url) -> ZammadConfig {
        ZammadConfig {
            base_url: base_url.clone(),
            token: "zammad-secret-token".to_owned().into(),
            group: "SOC".into(),
            customer: "soc@example.com".into(),
        }
    }

    fn step() -> ActionRequest {
        ActionRequest::new("create_ticket", "acme")
            .with_parameter("system", "zammad")
            .with_parameter("summary", "Ransomware on web-01")
    }

    #[tokio::test]
    async fn the_zammad_executor_passes_the_http_contract() {
        HttpContract::new("zammad")
            .success(ResponseTemplate::new(201).set_body_json(json!({"id": 7, "number": "31007"})))
            .secret("zammad-secret-token")
            // A create Zammad cannot dedupe is sent once after a 5xx or a timeout.
            .ambiguous_requests(1)
            .check_executor(step(), |endpoint| {
                let executor =
                    ZammadExecutor::new(config(&endpoint.base), endpoint.delivery.clone())?;
                Ok(Arc::new(executor) as Arc<dyn ActionExecutor>)
            })
            .await;
    }

    #[test]
    fn a_blank_group_is_refused_when_configured() {
        let mut bad = config(&"https://helpdesk.example.com/".parse().unwrap());
        bad.group = " ".into();
        let error = ZammadExecutor::new(bad, aisoc_notify_core::conformance::contract_delivery())
            .err()
            .unwrap();
        assert_eq!(error.field(), "group");
    }

    mockall::mock! {
        Ticketing {}
        #[async_trait]
        impl ActionExecutor for Ticketing {
            async fn execute(&self, request: &ActionRequest) -> Result<ActionOutput, ActionError>;
        }
    }

    #[tokio::test]
    async fn a_throttled_ticketing_system_tells_the_playbook_when_to_try_again() {
        let mut zammad = MockTicketing::new();
        zammad
            .expect_execute()
            .with(function(|r: &ActionRequest| {
                r.parameter_str("summary") == Some("Ransomware on web-01")
            }))
            .times(1)
            .returning(|_| {
                Err(ActionError::RateLimited {
                    service: "zammad".into(),
                    retry_after: Some(Duration::from_secs(42)),
                })
            });
        let registry = Arc::new(ExecutorRegistry::new());
        registry.register_live("zammad", "create_ticket", Arc::new(zammad));
        CreateTicket::register(&registry);

        assert_eq!(
            open_ticket(&registry, &step()).await,
            Err(Some(Duration::from_secs(42)))
        );
    }

    #[tokio::test]
    async fn the_dispatcher_routes_system_zammad_to_the_registered_plugin() {
        let recording = Arc::new(RecordingExecutor::answering(|_| {
            Ok(ActionOutput::default().with("key", "31007"))
        }));
        let registry = Arc::new(ExecutorRegistry::new());
        registry.register_live("zammad", "create_ticket", recording.clone());
        CreateTicket::register(&registry);

        assert_eq!(open_ticket(&registry, &step()).await, Ok("31007".into()));
        assert_eq!(recording.requests().len(), 1);
        let unknown = step().with_parameter("system", "remedy");
        assert_eq!(open_ticket(&registry, &unknown).await, Err(None));
    }
}
