//! The CLI's alert sink ([`Console`]): where its notifications go — the
//! terminal and, when chat robots are configured (`DINGTALK_WEBHOOK`,
//! `WECOM_WEBHOOK`, `FEISHU_WEBHOOK`, `SLACK_WEBHOOK`...), the robots, in
//! digests — through the store's outbox like
//! the Lambda functions, so an alert a robot did not take is sent again next tick.
//! Customer notices are printed (the CLI sends no SMS).

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;

use sentinel_chat::ChatSink;
use shared::config::Settings;
use shared::domain::Audience;
use shared::domain::Notification;
use shared::message::Templates;
use shared::outbox::{deliver, deliver_pending, DeliveryReport};
use shared::ports::{AlertLog, AlertSink, Lease, ShipmentReader};
use shared::time::local_minutes;
use shared::tracker::DEFAULT_LEASE;

use crate::Failure;

/// Prints each notification (above the progress bar, if any) and hands the ops
/// ones to the chat robots, if any.
#[derive(Default)]
pub struct Console {
    pub templates: Templates,
    pub quiet: bool,
    pub bar: Option<ProgressBar>,
    pub chat: Option<ChatSink>,
}

impl Console {
    /// The message settings (`ALERT_LANGUAGE`, templates) and the configured robots.
    pub fn from_env(with_chat: bool) -> Result<Self, Failure> {
        let templates = Templates::from_env()?;
        let chat = if with_chat {
            chat_from_env(&templates)?
        } else {
            None
        };
        Ok(Self {
            templates,
            chat,
            ..Self::default()
        })
    }

    pub fn line(&self, n: &Notification) -> String {
        match n.audience() {
            Audience::Ops => format!(
                "[{}] {}",
                local_minutes(n.record.at),
                self.templates.render(n)
            ),
            // A notice held through quiet hours goes out when they end.
            Audience::Customer => format!(
                "[{}] 📱 {}: {}",
                local_minutes(n.record.deliver_at()),
                n.phone
                    .as_ref()
                    .map_or_else(|| "-".to_string(), |p| p.masked()),
                self.templates.customer_notice(n, None)
            ),
        }
    }
}

/// The robots configured in the environment, or `None`.
pub fn chat_from_env(templates: &Templates) -> Result<Option<ChatSink>, Failure> {
    let channels = sentinel_chat::channels_from_env()?;
    if channels.is_empty() {
        return Ok(None);
    }
    let chat = ChatSink::new(
        channels,
        templates.clone(),
        std::sync::Arc::new(shared::clock::SystemClock),
    );
    eprintln!("alerts also go to: {}", chat.channel_names().join(", "));
    Ok(Some(chat))
}

impl AlertSink for Console {
    async fn publish(&self, notifications: &[Notification]) -> Vec<Result<(), String>> {
        if !self.quiet {
            let print = || {
                notifications
                    .iter()
                    .for_each(|n| println!("{}", self.line(n)))
            };
            match &self.bar {
                Some(bar) => bar.suspend(print),
                None => print(),
            }
        }
        match &self.chat {
            Some(chat) => chat.publish(notifications).await,
            None => vec![Ok(()); notifications.len()],
        }
    }
}

/// Delivers one tick's notifications, then whatever the outbox holds that is free
/// (failed earlier, claimed by a process that died, or held through quiet hours).
/// `fresh` are held under `lease` (the tracker's, [`Tracker::lease_at`]); what the
/// sink refuses is handed back, and tried again next tick.
///
/// [`Tracker::lease_at`]: shared::tracker::Tracker::lease_at
pub async fn deliver_tick<S: ShipmentReader + AlertLog, K: AlertSink>(
    store: &S,
    sink: &K,
    settings: &Settings,
    now: DateTime<Utc>,
    fresh: &[Notification],
    lease: &Lease,
) -> Result<DeliveryReport, shared::ports::StoreError> {
    let mut d = deliver(store, sink, fresh, lease, now).await?;
    let lease = Lease::new(lease_owner(), now, DEFAULT_LEASE);
    let later = deliver_pending(store, sink, settings, now, &lease, OUTBOX_PER_TICK).await?;
    d.delivered += later.delivered;
    d.failed += later.failed;
    d.first_error = d.first_error.or(later.first_error);
    Ok(d)
}

/// This process, as the holder of delivery leases (two `sentinel run` processes on
/// one database never deliver one record both).
pub fn lease_owner() -> String {
    format!("sentinel pid {}", std::process::id())
}

/// Pending notifications delivered per tick at most.
const OUTBOX_PER_TICK: usize = 1000;
