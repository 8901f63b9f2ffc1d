//! Pulling messages for a worker's free slots over one subscription, and confirming
//! acknowledgements over the connection's shared reply subscription.
//!
//! `PullConsumer::fetch` subscribes to a fresh inbox, sends one pull request, waits for the
//! batch to end and unsubscribes. A busy worker frees one or two slots at a time, so that was
//! three protocol operations, a subscription the server adds and removes, and a round trip
//! with nothing asked for, per one or two messages. [`Puller`] keeps one inbox subscription
//! for the life of the worker and asks for the free slots not yet asked for without waiting for
//! earlier requests to end, so messages keep coming while deliveries run. The rule the worker
//! keeps is unchanged: it never asks for more messages than it has free slots, so a message it
//! receives never waits for a slot while its `ack_wait` runs.
//!
//! The server answers every pull request that ends before it is filled (it expired, or was
//! refused) with a status naming how many of its messages it will no longer send
//! (`Nats-Pending-Messages`), and the count of outstanding messages is lowered by that. A
//! status without the count (which the server version in use never sends for a request it
//! accepted) leaves the count unknown: nothing more is asked until every request sent so far has
//! certainly expired, then the count starts over from zero.
//!
//! [`confirm_ack`] sends `+ACK` as a request on the client's shared reply subscription and
//! waits for the server's answer, the same confirmation `Message::double_ack` gives without
//! the subscription it adds and removes for every message.

use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::consumer::pull::BatchConfig;
use async_nats::jetstream::message::AckKind;
use async_nats::jetstream::{self};
use async_nats::{StatusCode, Subject, Subscriber};
use futures::StreamExt;
use tokio::time::Instant;

use super::unavailable;
use crate::OutboxError;

/// How long the server keeps a pull request waiting for messages.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// Beyond a request's expiry, how long its closing status may take to arrive before the
/// request is taken as gone (a reconnect drops the server's pending requests silently).
const PULL_GRACE: Duration = Duration::from_secs(5);

/// How long the server may take to confirm an acknowledgement (the JetStream default).
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// One worker's pull requests and the subscription their messages arrive on.
pub(super) struct Puller {
    consumer: PullConsumer,
    context: jetstream::Context,
    inbox: Subject,
    subscription: Subscriber,
    /// Messages asked for that have neither arrived nor been given up by the server.
    asked: usize,
    /// A request ended without saying how many of its messages it gave up.
    unsure: bool,
    /// The last request sent or message received: every request sent is expired once this is
    /// [`PULL_EXPIRES`] + [`PULL_GRACE`] old.
    last_activity: Instant,
}

impl Puller {
    /// Subscribes to a fresh inbox for `consumer`'s messages.
    pub(super) async fn new(
        consumer: PullConsumer,
        context: jetstream::Context,
    ) -> Result<Self, OutboxError> {
        let client = context.client();
        let inbox = Subject::from(client.new_inbox());
        let subscription = client.subscribe(inbox.clone()).await.map_err(unavailable)?;
        Ok(Self {
            consumer,
            context,
            inbox,
            subscription,
            asked: 0,
            unsure: false,
            last_activity: Instant::now(),
        })
    }

    /// Messages asked for and not yet received (while known; [`usize::MAX`] holds asking
    /// back until the count is known again).
    pub(super) fn asked(&self) -> usize {
        if self.unsure { usize::MAX } else { self.asked }
    }

    /// Asks the server for `count` more messages, waiting at most [`PULL_EXPIRES`] for them.
    pub(super) async fn ask(&mut self, count: usize) -> Result<(), OutboxError> {
        let request = BatchConfig {
            batch: count,
            expires: Some(PULL_EXPIRES),
            ..Default::default()
        };
        self.consumer
            .request_batch(request, self.inbox.clone())
            .await
            .map_err(unavailable)?;
        self.asked += count;
        self.last_activity = Instant::now();
        Ok(())
    }

    /// Waits for the next message (asked for, so a slot waits for it) or status (`None`: only
    /// bookkeeping, such as a request that ended; look at the free slots again). Cancel-safe:
    /// nothing is lost when the future is dropped before it is ready.
    pub(super) async fn next(&mut self) -> Result<Option<jetstream::Message>, OutboxError> {
        let received = if self.asked > 0 || self.unsure {
            let deadline = self.last_activity + PULL_EXPIRES + PULL_GRACE;
            match tokio::time::timeout_at(deadline, self.subscription.next()).await {
                Ok(received) => received,
                Err(_) => {
                    // Every request sent has expired at the server by now; its status was lost.
                    tracing::debug!(asked = self.asked, "outbox pull requests lapsed");
                    self.asked = 0;
                    self.unsure = false;
                    return Ok(None);
                }
            }
        } else {
            self.subscription.next().await
        };
        let Some(message) = received else {
            return Err(unavailable("the outbox's pull subscription closed"));
        };
        match message.status {
            None | Some(StatusCode::OK) => {
                self.asked = self.asked.saturating_sub(1);
                self.last_activity = Instant::now();
                Ok(Some(jetstream::Message {
                    message,
                    context: self.context.clone(),
                }))
            }
            Some(StatusCode::IDLE_HEARTBEAT) => Ok(None),
            Some(status) => {
                let description = message.description.as_deref().unwrap_or_default();
                if description == "Consumer Deleted" || description == "Consumer is push based" {
                    return Err(unavailable(format!(
                        "the outbox consumer can no longer be pulled from: {status} {description}"
                    )));
                }
                let given_up = message
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get("Nats-Pending-Messages"))
                    .and_then(|count| count.as_str().parse::<usize>().ok());
                match given_up {
                    Some(count) => self.asked = self.asked.saturating_sub(count),
                    None => {
                        tracing::debug!(%status, description, "outbox pull request ended without a count");
                        self.unsure = true;
                    }
                }
                Ok(None)
            }
        }
    }
}

/// Acknowledges `message` and waits until the server confirms it, as
/// [`double_ack`](jetstream::Message::double_ack) does, over the client's shared reply
/// subscription.
pub(super) async fn confirm_ack(message: &jetstream::Message) -> Result<(), OutboxError> {
    let Some(reply) = message.reply.clone() else {
        return Err(unavailable("not a JetStream message: no reply subject"));
    };
    let request = async_nats::Request::new()
        .payload(AckKind::Ack.into())
        .timeout(Some(ACK_TIMEOUT));
    message
        .context
        .client()
        .send_request(reply, request)
        .await
        .map_err(unavailable)?;
    Ok(())
}
