//! The tracker: one check of one parcel, the way the `tracker` Lambda function and
//! `sentinel demo`/`run` both do it.
//!
//! 1. load the shipment (with its version); skip it if it is not due (a duplicate
//!    delivery or a racing tracker already handled it);
//! 2. in poll mode, query the carrier; merge the reply into the timeline. A failed
//!    query is a typed error: the parcel keeps its last good state, the error is
//!    counted, and it is checked again after a backoff — never dropped;
//! 3. evaluate the rules at `now`, reconcile the alert state, choose the next check;
//! 4. write the shipment with a version check (on conflict: reload and redo);
//! 5. claim each alert transition in the alert log (insert-if-absent) and return
//!    the ones this call owns, for notification.
//!
//! The write comes before the claim: the stored state is the truth, and a tracker
//! that loses the version race recomputes from the winner's state (which already
//! holds the alert) and so produces nothing to claim.

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};

use crate::alerts::{self, Transition};
use crate::carrier::{Carrier, CarrierError, CarrierReply};
use crate::config::Settings;
use crate::domain::Phone;
use crate::domain::{Shipment, ShipmentId, Status, TrackingEvent};
use crate::rules::{self, RuleConfig};
use crate::schedule::{self, PollPolicy, TrackingMode};
use crate::store::{AlertKind, AlertLog, AlertRecord, Audience, DueIndex, Store, StoreError};

/// An alert transition this tracker owns, with what a message needs to say.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    pub record: AlertRecord,
    pub order_id: Option<String>,
    pub status: Status,
    pub last_event: Option<TrackingEvent>,
    /// The rule is in `CUSTOMER_NOTICE_RULES` and the shipment has a phone number
    /// (the recipient gets a notice too).
    pub notify_customer: bool,
    /// The recipient's phone, on customer notices only (never serialised: it goes
    /// to the SMS sender and nowhere else).
    #[serde(skip)]
    pub phone: Option<Phone>,
}

impl Notification {
    /// What a notification of `record` says about `shipment` now.
    pub fn of(record: AlertRecord, shipment: &Shipment, settings: &Settings) -> Self {
        let customer = record.audience() == Audience::Customer;
        Self {
            notify_customer: settings.rules.notifies_customer(record.rule)
                && shipment.phone.is_some()
                && matches!(record.kind, AlertKind::Fired | AlertKind::Notice),
            phone: if customer {
                shipment.phone.clone()
            } else {
                None
            },
            order_id: shipment.order_id.clone(),
            status: shipment.status,
            last_event: shipment.timeline.last().cloned(),
            record,
        }
    }

    pub fn audience(&self) -> Audience {
        self.record.audience()
    }
}

/// Where claimed notifications go (the SNS topic on AWS; chat robots or the
/// terminal locally). Answers one result per notification, in order: `Ok` means
/// taken (it will not be offered again), `Err` leaves it in the outbox for a later
/// run ([`deliver_pending`]).
pub trait AlertSink: Send + Sync {
    fn publish(
        &self,
        notifications: &[Notification],
    ) -> impl std::future::Future<Output = Vec<Result<(), String>>> + Send;
}

/// What a delivery did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: usize,
    /// Left in the outbox for a later run.
    pub failed: usize,
    /// The first failure, for the log.
    pub first_error: Option<String>,
}

/// Hands `notifications` to `sink` and marks each one it took delivered.
pub async fn deliver<L: AlertLog, K: AlertSink>(
    log: &L,
    sink: &K,
    notifications: &[Notification],
) -> Result<Delivery, StoreError> {
    let mut d = Delivery::default();
    if notifications.is_empty() {
        return Ok(d);
    }
    let results = sink.publish(notifications).await;
    for (i, n) in notifications.iter().enumerate() {
        // A sink that answers short has not taken the rest.
        match results.get(i) {
            Some(Ok(())) => {
                log.mark_delivered(&n.record).await?;
                d.delivered += 1;
            }
            Some(Err(e)) => {
                tracing::warn!(shipment = %n.record.shipment, rule = n.record.rule.as_str(),
                    kind = n.record.kind.as_str(), error = %e, "notification left in the outbox");
                d.failed += 1;
                d.first_error.get_or_insert_with(|| e.clone());
            }
            None => {
                d.failed += 1;
                d.first_error
                    .get_or_insert_with(|| "the sink did not answer".to_string());
            }
        }
    }
    Ok(d)
}

/// Delivers what the outbox holds that is due by `due_by` (publishes that failed,
/// claims whose process died before publishing, customer notices held through
/// quiet hours), up to `limit` records. A caller that runs beside live trackers
/// passes a `due_by` a little in the past, so a claim still being published by
/// its tracker is not published twice.
pub async fn deliver_pending<S: Store, K: AlertSink>(
    store: &S,
    sink: &K,
    settings: &Settings,
    due_by: DateTime<Utc>,
    limit: usize,
) -> Result<Delivery, StoreError> {
    let records = store.pending_alerts(due_by, limit).await?;
    let mut notifications = Vec::with_capacity(records.len());
    for record in records {
        match store.get_shipment(&record.shipment).await? {
            Some(shipment) => notifications.push(Notification::of(record, &shipment, settings)),
            None => {
                // The parcel is gone (expired): nothing left to say.
                tracing::warn!(shipment = %record.shipment, rule = record.rule.as_str(),
                    "pending notification of a parcel no longer stored: dropped from the outbox");
                store.mark_delivered(&record).await?;
            }
        }
    }
    deliver(store, sink, &notifications).await
}

/// What one check did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckOutcome {
    /// False when the parcel was not due (already handled) or not found.
    pub processed: bool,
    pub queried: bool,
    pub query_error: Option<CarrierError>,
    /// The timeline gained or changed events.
    pub timeline_changed: bool,
    pub written: bool,
    pub notifications: Vec<Notification>,
}

/// Why a check could not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("gave up on {0} after repeated version conflicts")]
    Contended(String),
}

/// The tracker service, generic over its adapters.
pub struct Tracker<'a, S, C> {
    pub store: &'a S,
    pub carrier: &'a C,
    pub settings: &'a Settings,
    pub mode: TrackingMode,
    pub policy: PollPolicy,
    /// Parcels checked at once by [`run_due`] (1 = one after another).
    pub concurrency: usize,
}

const MAX_ATTEMPTS: usize = 4;

/// Where a check's news comes from.
#[derive(Clone, Copy)]
enum Source<'r> {
    /// The schedule: query the carrier (poll mode) if the parcel is due.
    Due,
    /// A verified push from the provider.
    Pushed(&'r CarrierReply),
}

/// Merges a good reply into the shipment.
fn absorb(shipment: &mut Shipment, outcome: &mut CheckOutcome, reply: CarrierReply) {
    outcome.timeline_changed = shipment.timeline.merge(reply.events);
    if reply.raw_state.is_some() {
        shipment.raw_state = reply.raw_state;
    }
    shipment.consecutive_errors = 0;
    shipment.last_error = None;
}

impl<'a, S: Store, C: Carrier> Tracker<'a, S, C> {
    pub fn new(store: &'a S, carrier: &'a C, settings: &'a Settings) -> Self {
        Self {
            store,
            carrier,
            settings,
            mode: TrackingMode::Poll,
            policy: settings.poll.clone(),
            concurrency: 1,
        }
    }

    /// The tracking mode and the number of parcels checked at once (from the
    /// provider settings).
    pub fn with(mut self, mode: TrackingMode, concurrency: usize) -> Self {
        self.mode = mode;
        self.concurrency = concurrency.max(1);
        self
    }

    /// Checks one parcel at `now`: skipped when it is not due, queried in poll
    /// mode, re-evaluated in any case (time-based rules fire on schedule in push
    /// mode too).
    pub async fn check(
        &self,
        id: &ShipmentId,
        now: DateTime<Utc>,
    ) -> Result<CheckOutcome, PipelineError> {
        self.update(id, now, Source::Due).await
    }

    /// Takes in a reply the provider pushed: merges it into the parcel it names
    /// (whether due or not) and re-evaluates. A parcel we do not track is not
    /// processed (`processed == false`).
    pub async fn ingest(
        &self,
        reply: &CarrierReply,
        now: DateTime<Utc>,
    ) -> Result<CheckOutcome, PipelineError> {
        let id = match (&reply.carrier, &reply.tracking_number) {
            (Some(c), Some(n)) => ShipmentId::parse(c.as_str(), n).ok(),
            _ => None,
        };
        match id {
            Some(id) => self.update(&id, now, Source::Pushed(reply)).await,
            None => Ok(CheckOutcome::default()),
        }
    }

    async fn update(
        &self,
        id: &ShipmentId,
        now: DateTime<Utc>,
        source: Source<'_>,
    ) -> Result<CheckOutcome, PipelineError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut shipment) = self.store.get_shipment(id).await? else {
                return Ok(CheckOutcome::default());
            };
            let mut outcome = CheckOutcome {
                processed: true,
                ..CheckOutcome::default()
            };
            match source {
                Source::Due => {
                    if shipment.next_check_at.is_none_or(|due| due > now) {
                        return Ok(CheckOutcome::default());
                    }
                    if self.mode == TrackingMode::Poll {
                        outcome.queried = true;
                        let reply = match self.carrier.query(&shipment).await {
                            // "Knows nothing yet" is an answer.
                            Err(CarrierError::NoTraces(_)) => Ok(CarrierReply::default()),
                            other => other,
                        };
                        match reply {
                            Ok(reply) => absorb(&mut shipment, &mut outcome, reply),
                            Err(e) => {
                                tracing::warn!(shipment = %id, error = %e, "carrier query failed");
                                shipment.consecutive_errors += 1;
                                shipment.last_error = Some(e.to_string());
                                outcome.query_error = Some(e);
                            }
                        }
                        shipment.last_checked_at = Some(now);
                    }
                }
                Source::Pushed(reply) => absorb(&mut shipment, &mut outcome, reply.clone()),
            }
            let transitions = self.apply(&mut shipment, now);
            match self.store.put_shipment(&shipment).await {
                Ok(v) => shipment.version = v,
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
            outcome.written = true;
            outcome.notifications = self.claim(&shipment, &transitions, now).await?;
            return Ok(outcome);
        }
        Err(PipelineError::Contended(id.to_string()))
    }

    /// Evaluates the rules, tells problems already superseded, reconciles alerts and
    /// schedules the next check.
    pub fn apply(&self, shipment: &mut Shipment, now: DateTime<Utc>) -> Vec<Transition> {
        let rules = &self.settings.rules;
        shipment.status = shipment.timeline.current_status();
        let findings = rules::evaluate(shipment, rules, now);
        let past = rules::past_events(shipment, rules);
        let mut transitions = alerts::tell_past(&mut shipment.alerts, &past, now);
        transitions.extend(alerts::reconcile(
            &mut shipment.alerts,
            &findings,
            now,
            self.settings.alert_repeat,
        ));
        shipment.next_check_at =
            schedule::next_check_at(shipment, rules, self.mode, &self.policy, now);
        transitions
    }

    async fn claim(
        &self,
        shipment: &Shipment,
        transitions: &[Transition],
        now: DateTime<Utc>,
    ) -> Result<Vec<Notification>, StoreError> {
        let mut out = Vec::new();
        for t in transitions {
            let record = AlertRecord {
                shipment: shipment.id.clone(),
                rule: t.rule,
                since: t.since,
                kind: t.kind,
                seq: t.seq,
                severity: t.severity,
                at: now,
                hold_until: None,
            };
            if !self.store.insert_alert_if_absent(&record).await? {
                continue;
            }
            let mut n = Notification::of(record, shipment, self.settings);
            // A problem already superseded is news for the team only: the customer
            // would be told of a failure that is already behind them.
            n.notify_customer &= !t.already_over;
            let notice = n.notify_customer && t.kind == AlertKind::Fired;
            out.push(n);
            if notice {
                out.extend(self.claim_notice(shipment, t, now).await?);
            }
        }
        Ok(out)
    }

    /// Claims the customer notice of a fired alert: at most one per parcel and
    /// rule, held until the end of quiet hours when `now` falls in them (then it is
    /// delivered from the outbox, not returned here).
    async fn claim_notice(
        &self,
        shipment: &Shipment,
        t: &Transition,
        now: DateTime<Utc>,
    ) -> Result<Option<Notification>, StoreError> {
        let earlier = self.store.alerts_for(&shipment.id).await?;
        if earlier
            .iter()
            .any(|r| r.kind == AlertKind::Notice && r.rule == t.rule)
        {
            return Ok(None);
        }
        let record = AlertRecord {
            shipment: shipment.id.clone(),
            rule: t.rule,
            since: t.since,
            kind: AlertKind::Notice,
            seq: 0,
            severity: t.severity,
            at: now,
            hold_until: self.settings.quiet_hours.release(now),
        };
        if !self.store.insert_alert_if_absent(&record).await? || record.hold_until.is_some() {
            return Ok(None);
        }
        Ok(Some(Notification::of(record, shipment, self.settings)))
    }
}

/// Registers a new shipment as given (a new [`Shipment`] is due at once). An
/// existing one is a conflict.
pub async fn register<S: Store>(store: &S, shipment: &Shipment) -> Result<u64, StoreError> {
    store_new(store, shipment, shipment.next_check_at).await
}

/// Registers a new shipment registered at `now`, first checked at
/// [`schedule::first_check_at`]: what every registration path does (the api
/// function, `sentinel add`/`import`, the demo and the bench). An existing one is a
/// conflict.
pub async fn register_at<S: Store>(
    store: &S,
    shipment: &Shipment,
    rules: &RuleConfig,
    mode: TrackingMode,
    policy: &PollPolicy,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let first = schedule::first_check_at(shipment, rules, mode, policy, now);
    store_new(store, shipment, first).await
}

async fn store_new<S: Store>(
    store: &S,
    shipment: &Shipment,
    next_check_at: Option<DateTime<Utc>>,
) -> Result<u64, StoreError> {
    let mut s = shipment.clone();
    s.version = 0;
    s.next_check_at = next_check_at;
    store.put_shipment(&s).await
}

/// Totals of one scheduler tick.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickStats {
    pub checked: usize,
    pub queries: usize,
    pub query_errors: usize,
    pub writes: usize,
}

/// Checks the given parcels (`tracker.concurrency` at once) and hands each
/// check's notifications to `sink`; what the `tracker` function does with one
/// TrackBatch. Returns the totals and whether any parcel was processed.
pub async fn check_batch<S: Store, C: Carrier>(
    tracker: &Tracker<'_, S, C>,
    ids: &[ShipmentId],
    now: DateTime<Utc>,
    sink: &mut impl FnMut(Vec<Notification>),
) -> Result<TickStats, PipelineError> {
    let mut stats = TickStats::default();
    let mut checks = stream::iter(ids.iter())
        .map(|id| tracker.check(id, now))
        .buffer_unordered(tracker.concurrency.max(1));
    while let Some(o) = checks.next().await {
        let o = o?;
        stats.checked += usize::from(o.processed);
        stats.queries += usize::from(o.queried);
        stats.query_errors += usize::from(o.query_error.is_some());
        stats.writes += usize::from(o.written);
        if !o.notifications.is_empty() {
            sink(o.notifications);
        }
    }
    Ok(stats)
}

/// One scheduler tick on one machine: checks every due parcel, `batch` at a time
/// (`tracker.concurrency` of them at once), and hands each check's notifications
/// to `sink`.
pub async fn run_due<S: Store + DueIndex, C: Carrier>(
    tracker: &Tracker<'_, S, C>,
    now: DateTime<Utc>,
    batch: usize,
    mut sink: impl FnMut(Vec<Notification>),
) -> Result<TickStats, PipelineError> {
    let mut stats = TickStats::default();
    loop {
        let due = tracker.store.due_shipments(now, batch.max(1)).await?;
        if due.is_empty() {
            return Ok(stats);
        }
        let s = check_batch(tracker, &due, now, &mut sink).await?;
        stats.checked += s.checked;
        stats.queries += s.queries;
        stats.query_errors += s.query_errors;
        stats.writes += s.writes;
        if s.checked == 0 {
            // Everything due was skipped (e.g. handled by someone else meanwhile);
            // don't spin.
            return Ok(stats);
        }
    }
}
