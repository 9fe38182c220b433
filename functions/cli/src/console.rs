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
use shared::outbox::{deliver, deliver_pending, notification, DeliveryReport};
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

/// Delivers whatever the outbox holds that is free (failed earlier, claimed by a
/// process that died, or held through quiet hours), then one tick's notifications.
/// `now` is the time of the delivery (not the tick's start); `fresh` were claimed
/// under `lease` (the tracker's, [`Tracker::lease_at`]); what the sink refuses is
/// handed back, and tried again next tick.
///
/// The tracker's lease runs from the start of the tick, and a tick may outlast it
/// (many parcels, a slow provider): another deliverer (a second `sentinel run` on
/// the store) may then have taken, and delivered, some of the fresh claims. So each
/// is leased anew, from `now`, just before it is handed over; one that cannot be
/// is someone else's to deliver, and is left to them.
///
/// The terminal takes notifications one at a time: each is printed and marked
/// delivered before the next is printed, so a process killed while it prints
/// prints again, later, at most the one alert it was printing. Robots take a
/// tick's alerts together, as digests (a crash between a digest and its marks
/// sends that digest again).
///
/// [`Tracker::lease_at`]: shared::tracker::Tracker::lease_at
pub async fn deliver_tick<S: ShipmentReader + AlertLog>(
    store: &S,
    sink: &Console,
    settings: &Settings,
    now: DateTime<Utc>,
    fresh: &[Notification],
    lease: &Lease,
) -> Result<DeliveryReport, shared::ports::StoreError> {
    let step = if sink.chat.is_some() { usize::MAX } else { 1 };
    let ours = Lease::new(lease.owner.clone(), now, DEFAULT_LEASE);
    // The outbox first (the oldest), then this tick's claims: what the sink
    // refuses now is handed back free, and left for the next tick rather than
    // offered again at once to a sink that has just refused it.
    let mut d = if step == 1 {
        deliver_pending_one_by_one(store, sink, settings, now, &ours, OUTBOX_PER_TICK).await?
    } else {
        deliver_pending(store, sink, settings, now, &ours, OUTBOX_PER_TICK).await?
    };
    for chunk in fresh.chunks(step) {
        let mut held = Vec::with_capacity(chunk.len());
        for n in chunk {
            if store.take_lease(&n.record, lease.until, &ours).await? {
                held.push(n.clone());
            }
        }
        add(&mut d, deliver(store, sink, &held, &ours, now).await?);
    }
    Ok(d)
}

fn add(d: &mut DeliveryReport, more: DeliveryReport) {
    d.delivered += more.delivered;
    d.failed += more.failed;
    if d.first_error.is_none() {
        d.first_error = more.first_error;
    }
    d.oldest_failed = match (d.oldest_failed, more.oldest_failed) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
}

/// [`deliver_pending`] for a sink taken one notification at a time: each record
/// is leased, handed over and marked before the next is leased.
async fn deliver_pending_one_by_one<S: ShipmentReader + AlertLog>(
    store: &S,
    sink: &Console,
    settings: &Settings,
    due_by: DateTime<Utc>,
    lease: &Lease,
    limit: usize,
) -> Result<DeliveryReport, shared::ports::StoreError> {
    let mut d = DeliveryReport::default();
    for record in store.pending_alerts(due_by, limit).await? {
        if !store.take_lease(&record, due_by, lease).await? {
            // Another deliverer took it since the query.
            continue;
        }
        match store.get_shipment(&record.shipment).await? {
            Some(shipment) => {
                let n = notification(record, &shipment, settings);
                add(
                    &mut d,
                    deliver(store, sink, std::slice::from_ref(&n), lease, due_by).await?,
                );
            }
            None => {
                // The parcel is gone (expired): nothing left to say.
                tracing::warn!(shipment = %record.shipment, rule = record.rule.as_str(),
                    "pending notification of a parcel no longer stored: dropped from the outbox");
                store.mark_delivered(&record).await?;
            }
        }
    }
    Ok(d)
}

/// This process, as the holder of delivery leases (two `sentinel run` processes on
/// one database never deliver one record both).
pub fn lease_owner() -> String {
    format!("sentinel pid {}", std::process::id())
}

/// Pending notifications delivered per tick at most.
const OUTBOX_PER_TICK: usize = 1000;
