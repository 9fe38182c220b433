//! Ops alerts to the chat robots: what arrives together becomes digests (one set
//! per channel, each message within that service's size limit), sent at each
//! robot's documented rate, with a result for every alert.
//!
//! An alert is delivered when the digest message that carries it was accepted by
//! every configured channel. Otherwise its result names the channel and why, and
//! the caller keeps it for a later run (the CLI's outbox; the notifier's queue,
//! which retries it and, after repeated failures, moves it to the dead-letter
//! queue intact). A retried alert goes to every channel again, so a channel that
//! had accepted it may show it twice: duplicates over losses.
//!
//! Customer notices are not chat messages: they are left untouched here (`Ok`),
//! for an SMS sender (`shared::outbox::send_notice`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use crate::{ChatChannel, ChatMessage, Dispatcher, Outcome};

use shared::digest::{digest_with, Markup};
use shared::domain::{Audience, Notification};
use shared::message::Templates;
use shared::ports::{AlertSink, Clock};

/// Parcels listed by name in each digest group (the rest are counted).
pub const TOP_PARCELS: usize = 5;

/// How long one [`AlertSink::publish`] may wait for pacing and retries before
/// deferring the rest (the notifier's timeout is 60 s; sends in flight may take
/// up to the HTTP timeout after it).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(40);

/// The configured robots, each with its pacer (keep one for the life of the
/// process: the pacer remembers the previous batch).
pub struct ChatSink {
    dispatchers: Vec<Dispatcher>,
    templates: Templates,
    clock: Arc<dyn Clock>,
    budget: Duration,
}

impl std::fmt::Debug for ChatSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self
            .dispatchers
            .iter()
            .map(|d| d.channel().name())
            .collect();
        f.debug_struct("ChatSink")
            .field("channels", &names)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl ChatSink {
    pub fn new(channels: Vec<ChatChannel>, templates: Templates, clock: Arc<dyn Clock>) -> Self {
        Self {
            dispatchers: channels.into_iter().map(Dispatcher::new).collect(),
            templates,
            clock,
            budget: DEFAULT_BUDGET,
        }
    }

    /// The time one publish may spend waiting.
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.dispatchers.is_empty()
    }

    pub fn channel_names(&self) -> Vec<&'static str> {
        self.dispatchers
            .iter()
            .map(|d| d.channel().name())
            .collect()
    }

    /// The digests of `notifications` for a channel that takes `max_text_bytes`
    /// and reads `markup`.
    pub fn messages(
        &self,
        notifications: &[Notification],
        max_text_bytes: usize,
        markup: Markup,
    ) -> Vec<(ChatMessage, Vec<usize>)> {
        digest_with(
            notifications,
            &self.templates,
            max_text_bytes,
            TOP_PARCELS,
            markup,
        )
        .into_iter()
        .map(|d| (ChatMessage::new(d.title, d.text), d.alerts))
        .collect()
    }

    /// Sends the ops notifications to every channel (channels in parallel, each
    /// at its own pace) until `deadline`; one result per notification, in order.
    pub async fn send(
        &self,
        notifications: &[Notification],
        deadline: tokio::time::Instant,
    ) -> Vec<Result<(), String>> {
        let mut results: Vec<Result<(), String>> = vec![Ok(()); notifications.len()];
        // Indices (into `notifications`) of the ops ones, which are digested.
        let ops: Vec<usize> = (0..notifications.len())
            .filter(|&i| notifications[i].audience() == Audience::Ops)
            .collect();
        if ops.is_empty() {
            return results;
        }
        let batch: Vec<Notification> = ops.iter().map(|&i| notifications[i].clone()).collect();
        let clock = self.clock.as_ref();
        let sends = self.dispatchers.iter().map(|d| {
            let planned = self.messages(&batch, d.channel().max_text_bytes(), d.channel().markup());
            async move {
                let messages: Vec<ChatMessage> = planned.iter().map(|(m, _)| m.clone()).collect();
                let outcomes = d.send_all(&messages, clock, deadline).await;
                (d.channel().name(), planned, outcomes)
            }
        });
        for (name, planned, outcomes) in join_all(sends).await {
            for ((_, alerts), outcome) in planned.iter().zip(&outcomes) {
                let why = match outcome {
                    Outcome::Sent => continue,
                    Outcome::Deferred(Some(e)) => format!("{name}: deferred ({e})"),
                    Outcome::Deferred(None) => format!("{name}: deferred (out of time)"),
                    Outcome::Failed(e) => format!("{name}: failed ({e})"),
                };
                for &a in alerts {
                    if let Some(&i) = ops.get(a) {
                        if results[i].is_ok() {
                            results[i] = Err(why.clone());
                        }
                    }
                }
            }
            // A dispatcher answers every message; anything unanswered is not sent.
            for (_, alerts) in planned.iter().skip(outcomes.len()) {
                for &a in alerts {
                    if let Some(&i) = ops.get(a) {
                        results[i] = Err(format!("{name}: not attempted"));
                    }
                }
            }
        }
        results
    }
}

impl AlertSink for ChatSink {
    async fn publish(&self, notifications: &[Notification]) -> Vec<Result<(), String>> {
        let deadline = tokio::time::Instant::now() + self.budget;
        self.send(notifications, deadline).await
    }
}
