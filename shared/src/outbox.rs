//! The outbox: every claimed notification is in the alert log, pending until an
//! [`AlertSink`] has taken it. [`deliver`] hands a tracker's fresh claims to the
//! sink at once; [`deliver_pending`] finds what is still pending (a publish that
//! failed, a process that died between claim and publish, a customer notice held
//! through quiet hours) and delivers it on a later run. Customer notices go out by
//! SMS through [`send_notice`].

use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::domain::{AlertRecord, Notification, Phone, Shipment};
use crate::message::Templates;
use crate::ports::{AlertLog, AlertSink, Lease, ShipmentReader, SmsSender, StoreError};

/// What a notification of `record` says about `shipment` now, under `settings`
/// (whether the recipient is told).
pub fn notification(record: AlertRecord, shipment: &Shipment, settings: &Settings) -> Notification {
    let customer_rule = settings.rules.notifies_customer(record.rule);
    Notification::new(record, shipment, customer_rule)
}

/// What a delivery did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: usize,
    /// Left in the outbox for a later run.
    pub failed: usize,
    /// The first failure, for the log.
    pub first_error: Option<String>,
    /// When the oldest notification left in the outbox became deliverable
    /// ([`AlertRecord::deliver_at`]). Handed back free from now, it queues behind
    /// records that have waited less (the outbox's order is when a record is
    /// free), so [`oldest_pending_age`] alone would not see it first.
    pub oldest_failed: Option<DateTime<Utc>>,
}

impl DeliveryReport {
    /// Counts `record` as left in the outbox.
    fn left(&mut self, record: &AlertRecord) {
        self.failed += 1;
        let at = record.deliver_at();
        self.oldest_failed = Some(self.oldest_failed.map_or(at, |o| o.min(at)));
    }
}

/// Hands `notifications` (records this caller holds under `lease`) to `sink` and
/// marks each one it took delivered. One the sink refused is handed back: its
/// lease is cut to `now`, so the next pass may try it again at once.
pub async fn deliver<L: AlertLog, K: AlertSink>(
    log: &L,
    sink: &K,
    notifications: &[Notification],
    lease: &Lease,
    now: DateTime<Utc>,
) -> Result<DeliveryReport, StoreError> {
    let mut d = DeliveryReport::default();
    if notifications.is_empty() {
        return Ok(d);
    }
    let results = sink.publish(notifications).await;
    // A mark that fails leaves its record to be sent once more by a later pass;
    // the other marks are still made, so one failure repeats one notification.
    let mut mark_error = None;
    for (i, n) in notifications.iter().enumerate() {
        // A sink that answers short has not taken the rest.
        match results.get(i) {
            Some(Ok(())) => {
                if let Err(e) = log.mark_delivered(&n.record).await {
                    tracing::warn!(shipment = %n.record.shipment, rule = n.record.rule.as_str(),
                        error = %e, "delivered, but not marked: it will be sent again");
                    mark_error.get_or_insert(e);
                }
                d.delivered += 1;
            }
            Some(Err(e)) => {
                tracing::warn!(shipment = %n.record.shipment, rule = n.record.rule.as_str(),
                    kind = n.record.kind.as_str(), error = %e, "notification left in the outbox");
                d.left(&n.record);
                d.first_error.get_or_insert_with(|| e.clone());
                release(log, &n.record, lease, now).await;
            }
            None => {
                d.left(&n.record);
                d.first_error
                    .get_or_insert_with(|| "the sink did not answer".to_string());
                release(log, &n.record, lease, now).await;
            }
        }
    }
    match mark_error {
        Some(e) => Err(e),
        None => Ok(d),
    }
}

/// Hands a record held under `lease` back to the outbox, free from `now` (a
/// conditional update that succeeds only while the lease is still this one). If
/// it fails, the record is free when the lease runs out: nothing is lost.
async fn release<L: AlertLog>(log: &L, record: &AlertRecord, lease: &Lease, now: DateTime<Utc>) {
    let back = Lease {
        owner: lease.owner.clone(),
        until: now,
    };
    if let Err(e) = log.take_lease(record, lease.until, &back).await {
        tracing::warn!(shipment = %record.shipment, error = %e,
            "could not hand a refused notification back; it is retried when its lease ends");
    }
}

/// Delivers what the outbox holds that is free at `due_by` (publishes that
/// failed, claims whose process died before publishing, customer notices held
/// through quiet hours), up to `limit` records. Each record is leased to `lease`
/// before it is handed to the sink, by a conditional update: of two deliverers
/// racing (two `sentinel run` processes, two scheduler ticks), one takes each
/// record, and a record a tracker has just claimed is under that tracker's lease.
/// A deliverer that dies after its send and before its mark is the one way left to
/// deliver a record twice, once per such crash.
pub async fn deliver_pending<S: ShipmentReader + AlertLog, K: AlertSink>(
    store: &S,
    sink: &K,
    settings: &Settings,
    due_by: DateTime<Utc>,
    lease: &Lease,
    limit: usize,
) -> Result<DeliveryReport, StoreError> {
    let records = store.pending_alerts(due_by, limit).await?;
    let mut notifications = Vec::with_capacity(records.len());
    for record in records {
        if !store.take_lease(&record, due_by, lease).await? {
            // Another deliverer took it since the query.
            continue;
        }
        match store.get_shipment(&record.shipment).await? {
            Some(shipment) => notifications.push(notification(record, &shipment, settings)),
            None => {
                // The parcel is gone (expired): nothing left to say.
                tracing::warn!(shipment = %record.shipment, rule = record.rule.as_str(),
                    "pending notification of a parcel no longer stored: dropped from the outbox");
                store.mark_delivered(&record).await?;
            }
        }
    }
    deliver(store, sink, &notifications, lease, due_by).await
}

/// How long the first notification free at `now` in the outbox has waited since
/// it became deliverable ([`AlertRecord::deliver_at`]); zero when nothing is
/// pending. Only records free at `now` count: one under a delivery lease is being
/// delivered, and a notice held through quiet hours is not late. The outbox is in
/// the order records became free, so this is the oldest but for records handed
/// back by a delivery that just failed (a delivery reports the oldest of those:
/// [`DeliveryReport::oldest_failed`]). The scheduler reports the older of the two
/// every tick ([`crate::metrics::outbox_oldest_age`]).
pub async fn oldest_pending_age<L: AlertLog>(
    log: &L,
    now: DateTime<Utc>,
) -> Result<chrono::Duration, StoreError> {
    let oldest = log.pending_alerts(now, 1).await?;
    Ok(oldest
        .first()
        .map_or(chrono::Duration::zero(), |r| now - r.deliver_at())
        .max(chrono::Duration::zero()))
}

/// Texts a customer notice to its recipient. A notice without a phone, or with a
/// number that takes no SMS (a landline), is logged and counts as done: there is
/// nothing to retry.
pub async fn send_notice<S: SmsSender>(
    sms: &S,
    templates: &Templates,
    shop_name: Option<&str>,
    n: &Notification,
) -> Result<(), String> {
    let Some(phone) = n.phone.as_ref() else {
        tracing::warn!(shipment = %n.record.shipment, "customer notice without a phone: nothing to send");
        return Ok(());
    };
    let Some(to) = phone.e164() else {
        tracing::warn!(shipment = %n.record.shipment, phone = %phone,
            "customer notice: the phone cannot take an SMS; not sent");
        return Ok(());
    };
    let text = templates.customer_notice(n, shop_name);
    sms.send_sms(&to, &text)
        .await
        .map_err(|e| mask_number(&e, phone))
}

/// An error text with every spelling of the number masked.
fn mask_number(text: &str, phone: &Phone) -> String {
    let masked = phone.masked();
    let mut out = text.to_string();
    if let Some(e164) = phone.e164() {
        out = out.replace(&e164, &masked);
    }
    out.replace(phone.expose(), &masked)
}
