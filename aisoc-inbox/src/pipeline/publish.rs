//! Steps 7 and 8: the body parsed and mapped one event at a time, then published.

use aisoc_notify_core::inbox_template::{IngestContext, MappingError};

use super::events::{Events, MappedEvents, Payload, push_event_uid};
use super::{
    BUSY, Inbox, InboxRoute, Incoming, IngestError, IngestReceipt, limited, mapped_limit,
    working_set,
};
use crate::body::{self, BodyError};
use crate::email;
use crate::limits::IdempotencyKey;
use crate::sink::SinkError;
use crate::template::WriteError;

impl Inbox {
    pub(super) async fn map_and_publish(
        &self,
        incoming: Incoming<'_>,
        template: &dyn aisoc_notify_core::InboxTemplate,
        key: Option<&IdempotencyKey>,
    ) -> Result<IngestReceipt, IngestError> {
        let Incoming {
            record,
            route,
            headers,
            raw_body,
            hec_envelope,
        } = incoming;
        let header = |name: http::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let max = self.parts.config.max_body_bytes;
        let decoded = body::decode(header(http::header::CONTENT_ENCODING), raw_body, max)?;
        let max_events = self.parts.config.max_events_per_request;
        let content_type = header(http::header::CONTENT_TYPE);
        let counted = match route {
            InboxRoute::Webhook | InboxRoute::Email => {
                body::count_items(content_type, &decoded, max_events)
            }
            InboxRoute::Cef | InboxRoute::HecRaw => body::count_lines(&decoded, max_events),
            InboxRoute::Hec => crate::hec::count_events(&decoded, max_events),
        };
        body::check_event_count(counted, max_events)?;
        let at_once = match route {
            InboxRoute::Webhook | InboxRoute::Email => body::parsed_at_once(content_type, &decoded),
            InboxRoute::HecRaw => body::longest_line(&decoded),
            InboxRoute::Cef | InboxRoute::Hec => decoded.len(),
        };
        let base = working_set(decoded.len(), at_once);
        let mut working = self.parts.budgets.inflight.try_reserve(base).ok_or(BUSY)?;
        // A copy only when the body is not UTF-8 (within the reservation: 3 bytes for each
        // replaced byte, against the 16 per byte reserved for a CEF body).
        let cef_text = match route {
            InboxRoute::Cef => crate::cef::body_text(&decoded),
            _ => std::borrow::Cow::Borrowed(""),
        };
        let mut source = match route {
            InboxRoute::Webhook | InboxRoute::Email => {
                Events::body(body::stream(content_type, &decoded))
            }
            // Parsed a line at a time; a body without a CEF line is refused below (no events).
            InboxRoute::Cef => Events::cef(&cef_text),
            InboxRoute::Hec => Events::parsed(
                crate::hec::parse_events(&decoded).map_err(IngestError::Hec)?,
                0,
            ),
            // Lines alone: the envelope is set on each event just before it is mapped.
            InboxRoute::HecRaw => {
                if counted == 0 {
                    return Err(IngestError::Hec(crate::hec::HecReply::NO_DATA));
                }
                Events::raw_lines(&decoded)
            }
        };
        let yaml = self.parts.templates.get_yaml(&record.template_id);
        // CEF lines for a YAML template (without an envelope, which would need the value) are
        // written without building their JSON payload.
        let cef_yaml = yaml.filter(|_| route == InboxRoute::Cef && template.envelope().is_none());
        let mapped_max = mapped_limit(decoded.len());
        let mut mapped = MappedEvents::new(counted);
        let mut context = IngestContext {
            tenant_id: record.tenant_id.clone(),
            received_at: chrono::Utc::now(),
            event_uid: String::with_capacity(32),
        };
        let mut parsed = 0usize;
        let mut dropped = 0;
        let mut ignored = 0;
        let mut first_failure = None;
        let mut too_large = false;
        // SNS subscription requests, handed to the host once the request is within budget.
        let mut confirmations = Vec::new();
        let mut json = Vec::new();
        for (index, payload) in source.by_ref() {
            parsed += 1;
            if too_large {
                // Counted only: the events budget is charged for every parsed event.
                continue;
            }
            let written = match (payload, cef_yaml) {
                (Payload::Cef(event), Some(yaml)) => {
                    context.event_uid.clear();
                    push_event_uid(&mut context.event_uid);
                    json.clear();
                    yaml.write_cef_json(&event, &context, &mut json)
                }
                (payload, _) => {
                    let payload = payload.into_json();
                    let payload = match (route, &hec_envelope) {
                        (InboxRoute::Email, _) => email::normalize(&payload),
                        (InboxRoute::HecRaw, Some(envelope)) => {
                            let mut payload = payload;
                            envelope.apply(&mut payload);
                            payload
                        }
                        _ => payload,
                    };
                    if template.envelope() == Some("aws-sns")
                        && let Some(verifier) = &self.parts.sns_verifier
                    {
                        let verified = match payload.as_object() {
                            Some(message) => verifier.verify(message).await,
                            None => Err(crate::sns::SnsSignatureError::MissingField("Type")),
                        };
                        if let Err(error) = verified {
                            dropped += 1;
                            first_failure.get_or_insert(error.to_string());
                            continue;
                        }
                    }
                    let payload =
                        match crate::envelope::unwrap(template.envelope(), payload, headers) {
                            Ok(crate::envelope::Unwrapped::Event(payload)) => payload,
                            Ok(crate::envelope::Unwrapped::SnsConfirmation {
                                kind,
                                topic_arn,
                                subscribe_url,
                            }) => {
                                ignored += 1;
                                confirmations.push((kind, topic_arn, subscribe_url));
                                continue;
                            }
                            Err(error) => {
                                dropped += 1;
                                first_failure.get_or_insert(error.to_string());
                                continue;
                            }
                        };
                    context.event_uid.clear();
                    push_event_uid(&mut context.event_uid);
                    json.clear();
                    match yaml {
                        Some(yaml) => yaml.write_json(payload, &context, &mut json),
                        None => template
                            .map_owned(payload, &context)
                            .map_err(WriteError::from)
                            .and_then(|mut event| {
                                // Code templates too: the tenant and schema version are the
                                // inbox's word.
                                crate::template::stamp_ingest_fields(&mut event, &context);
                                serde_json::to_writer(&mut json, &event).map_err(WriteError::from)
                            }),
                    }
                }
            };
            match written {
                Ok(()) => {
                    if mapped.bytes.saturating_add(json.len()) > mapped_max {
                        too_large = true;
                        continue;
                    }
                    let msg_id =
                        key.map_or_else(|| context.event_uid.clone(), |key| key.msg_id(index));
                    mapped.push(record, msg_id, key.is_some(), &json);
                    let needed = base.saturating_add(mapped.held());
                    // Grown ahead (doubling), so most events do not touch the budget.
                    if needed > working.bytes()
                        && !working
                            .try_grow_to(base.saturating_add(mapped.held().saturating_mul(2)))
                        && !working.try_grow_to(needed)
                    {
                        return Err(BUSY);
                    }
                }
                Err(WriteError::Mapping(MappingError::Ignored { .. })) => ignored += 1,
                Err(WriteError::Mapping(error)) => {
                    dropped += 1;
                    first_failure.get_or_insert(error.to_string());
                }
                Err(error) => return Err(IngestError::Unavailable(error.to_string())),
            }
        }
        drop(json);
        if parsed == 0 {
            return Err(IngestError::Body(BodyError::NoEvents));
        }
        dropped += source.dropped();
        let event_count = u64::try_from(parsed).unwrap_or(u64::MAX);
        self.parts
            .budgets
            .events
            .spend(&record.id, event_count)
            .await
            .map_err(limited)?;
        if too_large {
            return Err(IngestError::MappedTooLarge { max: mapped_max });
        }
        for (kind, topic_arn, subscribe_url) in confirmations {
            match &self.parts.sns_confirmations {
                Some(handler) if kind == "SubscriptionConfirmation" => {
                    handler
                        .confirmation_requested(&record.tenant_id, &topic_arn, &subscribe_url)
                        .await;
                }
                _ => {
                    tracing::info!(%topic_arn, %kind, "SNS confirmation request not handled by the host")
                }
            }
        }
        let events = mapped.events;
        if events.is_empty() && ignored > 0 && dropped == 0 {
            return Ok(IngestReceipt {
                accepted: 0,
                template: record.template_id.clone(),
                dropped,
                ignored,
                duplicate: false,
            });
        }
        if events.is_empty() {
            return Err(IngestError::Unmappable {
                template: record.template_id.clone(),
                reason: first_failure.unwrap_or_default(),
            });
        }
        let lease = self.parts.config.idempotency_lease;
        tokio::time::timeout(lease, self.parts.sink.publish(&events))
            .await
            .map_err(|_| {
                IngestError::Unavailable(format!(
                    "the event sink did not acknowledge within {lease:?}"
                ))
            })?
            .map_err(|e| match e {
                SinkError::Full(reason) => IngestError::StorageFull(reason),
                other => IngestError::Unavailable(other.to_string()),
            })?;
        Ok(IngestReceipt {
            accepted: events.len(),
            template: record.template_id.clone(),
            dropped,
            ignored,
            duplicate: false,
        })
    }
}
