//! The reference aisoc-notify gateway: every crate wired together on embedded defaults.
//!
//! The binary `aisoc-gateway` runs this on `127.0.0.1:8080`. With no configuration it needs no
//! services: deliveries go to a console channel that prints one JSON line per notification,
//! which is the quickest way to see the routing and delivery machinery work.
//!
//! Routes:
//!
//! | route | what |
//! |---|---|
//! | `GET /healthz` | liveness |
//! | `GET /openapi.json` | this table as an OpenAPI 3.1 document ([`openapi`]), no authentication |
//! | `GET /metrics` | Prometheus metrics |
//! | `POST /v1/notifications[?delivery=queued]` | route one notification now, or queue it in the outbox (admin) |
//! | `GET /v1/outbox/dead-letters`, `POST /v1/outbox/dead-letters/{id}/replay` | the outbox's dead letters: list, replay (admin) |
//! | `GET /v1/admin/follow-ups`, `POST /v1/admin/follow-ups/{id}/{kind}/replay` | decisions' follow-ups (playbook resumes, timeline entries): list by state, replay a dead one (admin) |
//! | `POST /v1/inbox/{token}`, `/v1/inbox/email/{token}`, `/v1/inbox/cef`, `/v1/inbox/hec` | inbound capture |
//! | `/services/collector…` | the Splunk HEC paths |
//! | `POST /v1/admin/inbox/tokens`, `…/{id}/rotate`, `DELETE …/{id}` | inbox tokens (admin) |
//! | `GET/POST /v1/approvals`, `GET /v1/approvals/{id}`, `POST /v1/approvals/{id}/decision` | approvals (admin) |
//! | `GET/POST /v1/approvals/answer/{token}` | an approval card's Approve / Deny link: a confirmation page, then the decision ([`approval_cards::answer`]) |
//! | `GET /v1/audit` | the audit trail (admin) |
//! | `POST /v1/actions` | run a playbook action (`chatops.verify`, `notify_slack`, `notify_teams`, `webhook`, `create_ticket`) (admin) |
//! | `GET /v1/settings/itsm`, `PUT/DELETE /v1/settings/itsm/{system}` | a tenant's ticketing credentials for `create_ticket` (admin) |
//! | `GET/PUT /api/v1/oncall`, `GET /api/v1/oncall/users` | on-call status; offline and snoozed users get no pushes |
//! | `GET /v1/chatops/verify/{token}` | the verification answer page |
//! | `GET/POST /v1/settings/notifications`, `PUT/DELETE …/{id}`, `POST …/{id}/test` | notification channels (admin) |
//! | `GET/POST /v1/settings/rules`, `PUT/DELETE …/{id}` | routing rules: conditions -> channels; once one exists, channels receive only what a rule sends them (admin) |
//! | `GET /v1/connectors`, `PUT/DELETE /v1/connectors/{id}`, `POST …/{id}/heartbeat` | connector freshness: `connector_health` when one goes stale or recovers (admin) |
//! | `GET /api/v1/push/public-key`, `POST /api/v1/push/{subscribe,unsubscribe,test}` | Web Push |
//! | `POST /v1/admin/user-tokens` | a short-lived token for one tenant's user, for a browser page to call the push, in-app and on-call routes (admin) |
//! | `GET /api/v1/inapp/notifications`, `GET …/unread-count`, `POST …/{id}/read`, `POST …/read-all` | the caller's in-app notifications |
//! | `POST /v1/slack/interactions`, `POST /v1/slack/commands` | Slack, when `SLACK_SIGNING_SECRET` is set; `/aisoc` answered by [`chatops`] |
//! | `POST /v1/teams/interactions` | Teams, when `TEAMS_OUTGOING_WEBHOOK_SECRET` is set |

pub mod actions;
pub mod app;
pub mod approval_cards;
pub mod auth;
pub mod backends;
pub mod channel_store;
pub mod channels;
pub mod chatops;
pub mod config;
pub mod connectors;
pub mod console;
pub mod dead_letters;
pub mod events_file;
pub mod follow_ups;
pub mod itsm_store;
pub(crate) mod json_file;
pub mod metrics;
pub mod oncall_store;
pub mod openapi;
pub mod push;
pub mod recent_events;
pub mod replica;
pub mod rules;
pub mod user_tokens;
