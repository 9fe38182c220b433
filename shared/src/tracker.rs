//! The tracker: one check of one parcel, the way the `tracker` Lambda function and
//! `sentinel demo`/`run` both do it.
//!
//! 1. load the shipment (with its version); skip it if it is not due (a duplicate
//!    delivery or a racing tracker already handled it);
//! 2. in poll mode, query the carrier (when the daily query budget allows:
//!    [`crate::budget`]; otherwise the check is deferred: nothing is decided, and
//!    the parcel is looked at again later); merge the reply into the timeline. A failed
//!    query is a typed error: the parcel keeps its last good state, the error is
//!    counted, and it is checked again after a backoff — never dropped;
//! 3. evaluate the rules at `now`, reconcile the alert state, choose the next check;
//! 4. commit, as one atomic step, the shipment (with a version check; on conflict:
//!    reload and redo) and the alert records of its transitions (insert-if-absent,
//!    leased to this tracker for delivery), and return the ones this call owns,
//!    for notification.
//!
//! Each check counts what it did ([`crate::metrics`]): the parcel processed, the
//! provider queried (and whether it failed), each ops alert its commit claimed
//! (fired, escalated or repeated; a resolution or a customer notice is not an
//! alert). A check that loses the version race and is redone queries again, so
//! each query counts; the parcel and its alerts count once, when committed.
//!
//! One step, so that a crash cannot leave the shipment's alert state written
//! without the claims that notify it (a re-check would then see nothing new and
//! the episode would never be told). The stored state is the truth: a tracker
//! that loses the version race recomputes from the winner's state (which already
//! holds the alert) and so produces nothing to claim. What it claimed is leased
//! to it, so an outbox pass running meanwhile does not deliver it a second time.

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};

use crate::budget;
use crate::config::Settings;
use crate::domain::{AlertKind, AlertRecord, Audience, Notification, Shipment, ShipmentId};
use crate::lanes::{LaneCache, LaneView};
use crate::lifecycle;
use crate::lifecycle::Transition;
use crate::metrics;
use crate::outbox::notification;
use crate::ports::{
    AlertLog, CarrierError, CarrierQuery, CarrierReply, DueIndex, LaneQuery, Lease, QueryBudget,
    ShipmentReader, ShipmentWriter, StoreError,
};
use crate::rules;
use crate::schedule;
use crate::schedule::{PollPolicy, TrackingMode};

/// The store capabilities one check uses.
pub trait TrackerStore:
    ShipmentReader + ShipmentWriter + AlertLog + LaneQuery + QueryBudget
{
}
impl<T: ShipmentReader + ShipmentWriter + AlertLog + LaneQuery + QueryBudget> TrackerStore for T {}

/// What one check did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckOutcome {
    /// False when the parcel was not due (already handled) or not found.
    pub processed: bool,
    pub queried: bool,
    /// The daily query budget refused the query: nothing was decided, the
    /// parcel was rescheduled ([`crate::budget`]).
    pub deferred: bool,
    pub query_error: Option<CarrierError>,
    /// The timeline gained or changed events.
    pub timeline_changed: bool,
    pub written: bool,
    pub notifications: Vec<Notification>,
}

/// Why a check could not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("gave up on {0} after repeated version conflicts")]
    Contended(String),
}

/// The tracker service, generic over its adapters. `C` is the carrier it queries
/// in poll mode; a tracker that only takes in pushes ([`Tracker::for_pushes`]) has
/// none (`()`), and cannot [`check`](Tracker::check).
pub struct Tracker<'a, S, C = ()> {
    pub store: &'a S,
    pub carrier: &'a C,
    pub settings: &'a Settings,
    pub mode: TrackingMode,
    pub policy: PollPolicy,
    /// Parcels checked at once by [`run_due`] (1 = one after another).
    pub concurrency: usize,
    /// Who this tracker is, as the holder of the delivery leases on what it claims
    /// (a process or invocation id; for the logs and the store).
    pub owner: String,
    /// How long the notifications a check claims are its own to deliver before
    /// an outbox pass may take them ([`DEFAULT_LEASE`]).
    pub lease: chrono::Duration,
    /// What the parcels' lanes have learned, read for the lane rules
    /// ([`crate::lane_rules`]) and the estimates' calibration, and kept an hour;
    /// shared by the trackers of one process ([`Tracker::sharing_lanes`]).
    pub lanes: std::sync::Arc<LaneCache>,
}

/// How long a tracker keeps the notifications it claimed to itself: longer than
/// a check and its publish take (a Lambda invocation is at most 15 minutes, and
/// the tracker's timeout is far below that), short enough that a claim whose
/// tracker died is delivered by the next outbox pass after it.
pub const DEFAULT_LEASE: chrono::Duration = chrono::Duration::minutes(5);

const MAX_ATTEMPTS: usize = 4;

/// Where a check's news comes from.
enum Source<'r, Q> {
    /// The schedule: query the carrier (poll mode) if the parcel is due.
    Due(&'r Q),
    /// A verified push from the provider.
    Pushed(&'r CarrierReply),
}

/// The carrier of a push: never queried (it has no values, so
/// `Source::<NoQuery>::Due` cannot be built).
enum NoQuery {}

impl CarrierQuery for NoQuery {
    fn name(&self) -> &str {
        match *self {}
    }

    async fn query(&self, _: &Shipment) -> Result<CarrierReply, CarrierError> {
        match *self {}
    }
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

impl<'a, S: TrackerStore> Tracker<'a, S> {
    /// A tracker that takes in what a provider pushes ([`Tracker::ingest`]) and
    /// queries no carrier.
    pub fn for_pushes(store: &'a S, settings: &'a Settings) -> Self {
        Tracker::new(store, &(), settings).with(TrackingMode::Push, 1)
    }
}

impl<'a, S: TrackerStore, C: CarrierQuery> Tracker<'a, S, C> {
    /// Checks one parcel at `now`: skipped when it is not due, queried in poll
    /// mode, re-evaluated in any case (time-based rules fire on schedule in push
    /// mode too).
    pub async fn check(
        &self,
        id: &ShipmentId,
        now: DateTime<Utc>,
    ) -> Result<CheckOutcome, TrackerError> {
        self.update(id, now, Source::Due(self.carrier)).await
    }
}

impl<'a, S: TrackerStore, C> Tracker<'a, S, C> {
    pub fn new(store: &'a S, carrier: &'a C, settings: &'a Settings) -> Self {
        Self {
            store,
            carrier,
            settings,
            mode: TrackingMode::Poll,
            policy: settings.poll.clone(),
            concurrency: 1,
            owner: "tracker".to_string(),
            lease: DEFAULT_LEASE,
            lanes: Default::default(),
        }
    }

    /// Names this tracker as the holder of the leases on what it claims.
    pub fn owned_by(mut self, owner: impl Into<String>) -> Self {
        self.owner = owner.into();
        self
    }

    /// Keeps what the lanes learned in `lanes`, which outlives this tracker (a
    /// Lambda container's warm invocations share one, so a lane level is read
    /// once an hour per container rather than once per invocation).
    pub fn sharing_lanes(mut self, lanes: std::sync::Arc<LaneCache>) -> Self {
        self.lanes = lanes;
        self
    }

    /// The tracking mode and the number of parcels checked at once (from the
    /// provider settings).
    pub fn with(mut self, mode: TrackingMode, concurrency: usize) -> Self {
        self.mode = mode;
        self.concurrency = concurrency.max(1);
        self
    }

    /// Takes in a reply the provider pushed: merges it into the parcel it names
    /// (whether due or not) and re-evaluates. A parcel we do not track is not
    /// processed (`processed == false`).
    pub async fn ingest(
        &self,
        reply: &CarrierReply,
        now: DateTime<Utc>,
    ) -> Result<CheckOutcome, TrackerError> {
        let id = match (&reply.carrier, &reply.tracking_number) {
            (Some(c), Some(n)) => ShipmentId::parse(c.as_str(), n).ok(),
            _ => None,
        };
        match id {
            Some(id) => {
                self.update::<NoQuery>(&id, now, Source::Pushed(reply))
                    .await
            }
            None => Ok(CheckOutcome::default()),
        }
    }

    async fn update<Q: CarrierQuery>(
        &self,
        id: &ShipmentId,
        now: DateTime<Utc>,
        source: Source<'_, Q>,
    ) -> Result<CheckOutcome, TrackerError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut shipment) = self.store.get_shipment(id).await? else {
                return Ok(CheckOutcome::default());
            };
            let mut outcome = CheckOutcome {
                processed: true,
                ..CheckOutcome::default()
            };
            // The priority of a query the daily budget refused.
            let mut refused = None;
            match source {
                Source::Due(carrier) => {
                    if shipment.next_check_at.is_none_or(|due| due > now) {
                        return Ok(CheckOutcome::default());
                    }
                    if self.mode == TrackingMode::Poll {
                        refused = self.take_query(&shipment, carrier.name(), now).await?;
                        // Refused: look again later.
                        outcome.deferred = refused.is_some();
                    }
                    if self.mode == TrackingMode::Poll && refused.is_none() {
                        outcome.queried = true;
                        let reply = match carrier.query(&shipment).await {
                            // "Knows nothing yet" is an answer.
                            Err(CarrierError::NoTraces(_)) => Ok(CarrierReply::default()),
                            // An answer about another parcel is not one about this.
                            Ok(r) => r.wrong_parcel(&shipment.id).map_or(Ok(r), Err),
                            other => other,
                        };
                        metrics::carrier_query(
                            carrier.name(),
                            shipment.id.carrier.as_str(),
                            reply.is_ok(),
                        );
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
                Source::Pushed(reply) => {
                    absorb(&mut shipment, &mut outcome, reply.clone());
                    // Nothing the timeline lacked (a replay, or a re-push of what
                    // we have): nothing to write. Time-based rules are the
                    // scheduled checks' job.
                    if !outcome.timeline_changed {
                        metrics::parcel_checked();
                        return Ok(outcome);
                    }
                }
            }
            if outcome.timeline_changed {
                self.learn_how_estimates_fared(&mut shipment, now).await;
            }
            let transitions = if let Some(priority) = refused {
                // Nothing is decided without news: a rule that would fire now
                // claims a silence nobody has checked.
                shipment.next_check_at = self.deferred_until(&shipment, priority, now);
                Vec::new()
            } else {
                let lanes = self.lane_view(&shipment, now).await?;
                self.apply(&mut shipment, lanes.as_ref(), now)
            };
            let claims = self.claims(&shipment, &transitions, now).await?;
            let records: Vec<AlertRecord> = claims.iter().map(|c| c.record.clone()).collect();
            let lease = self.lease_at(now);
            let committed = match self.store.commit_check(&shipment, &records, &lease).await {
                Ok(c) => c,
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            shipment.version = committed.version;
            outcome.written = true;
            metrics::parcel_checked();
            for (c, _) in claims.iter().zip(&committed.inserted).filter(|(_, i)| **i) {
                let r = &c.record;
                if r.audience() == Audience::Ops && r.kind != AlertKind::Resolved {
                    metrics::alert(r.rule, r.severity);
                }
            }
            outcome.notifications = claims
                .into_iter()
                .zip(committed.inserted)
                .filter(|(c, inserted)| *inserted && c.record.hold_until.is_none())
                .map(|(c, _)| {
                    let mut n = notification(c.record, &shipment, self.settings);
                    n.notify_customer &= c.tell_customer;
                    n
                })
                .collect();
            return Ok(outcome);
        }
        Err(TrackerError::Contended(id.to_string()))
    }

    /// The delivery lease of what a check at `now` claims: hand it to
    /// [`crate::outbox::deliver`] with the check's notifications.
    pub fn lease_at(&self, now: DateTime<Utc>) -> Lease {
        Lease::new(self.owner.clone(), now, self.lease)
    }

    /// Takes one query from `provider`'s daily budget for `shipment`, as its
    /// priority allows ([`crate::budget`]): `None` when taken (or there is no
    /// budget), the check's priority when refused. A refusal is counted, and the day's warning raised by the first tracker to
    /// see the budget short for over an hour. A failed store fails the check: a
    /// query that could not be counted is not made.
    async fn take_query(
        &self,
        shipment: &Shipment,
        provider: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<budget::Priority>, StoreError> {
        let Some(limit) = self.settings.budget.limit(provider) else {
            return Ok(None);
        };
        let day = budget::china_day(now);
        let priority = budget::priority(shipment, &self.settings.rules, now);
        if self
            .store
            .take_query(provider, day, budget::cap(limit, priority, now))
            .await?
        {
            return Ok(None);
        }
        let count = self.store.defer_query(provider, day, now).await?;
        metrics::query_deferred(provider);
        if count.warning_due(now) && self.store.claim_budget_warning(provider, day).await? {
            metrics::query_budget_short(provider);
            tracing::warn!(
                provider,
                limit,
                used = count.used,
                deferred = count.deferred,
                short_since = %count.short_since.map(crate::time::rfc3339).unwrap_or_default(),
                "the daily query budget has been short for over an hour: checks are being deferred"
            );
        }
        Ok(Some(priority))
    }

    /// When to look again at a parcel whose query the budget refused: a routine
    /// one at its next scheduled check; an urgent one (the whole day's budget is
    /// spent) when the next China day's budget opens.
    fn deferred_until(
        &self,
        shipment: &Shipment,
        priority: budget::Priority,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match priority {
            budget::Priority::Urgent => Some(budget::next_day_start(now)),
            budget::Priority::Routine => schedule::next_check_at(
                shipment,
                &self.settings.rules,
                self.mode,
                &self.policy,
                now,
            ),
        }
    }

    /// Once `shipment` is delivered, asks its lane how its estimates fared
    /// ([`crate::calibration::pits`]), for its carrier's lane to learn with the
    /// delivery. Advisory: a failed lane read is logged, and the delivery teaches
    /// the lane's sketches all the same.
    async fn learn_how_estimates_fared(&self, shipment: &mut Shipment, now: DateTime<Utc>) {
        if !shipment.eta_pit.is_empty()
            || shipment.timeline.current_status() != crate::domain::Status::Delivered
        {
            return;
        }
        match self.lanes.get(self.store, shipment, now).await {
            Ok(view) => shipment.eta_pit = crate::calibration::pits(&view, shipment),
            Err(e) => {
                tracing::warn!(shipment = %shipment.id, error = %e, "lane statistics unreadable; this delivery does not calibrate the estimates");
            }
        }
    }

    /// The lane view the lane rules need for `shipment` (none when both are
    /// disabled, or once the parcel's way has ended). A failed read fails the
    /// check, which is retried: deciding without it would resolve a lane rule's
    /// alert that still holds.
    async fn lane_view(
        &self,
        shipment: &Shipment,
        now: DateTime<Utc>,
    ) -> Result<Option<LaneView>, StoreError> {
        use crate::domain::Rule;
        let rules = &self.settings.rules;
        // A lane rule can hold only for a parcel with a promise or with scans.
        let wanted = rules.is_enabled(Rule::PredictedLate) && shipment.promised_at.is_some()
            || rules.is_enabled(Rule::SlowLane) && !shipment.timeline.is_empty();
        if !wanted || shipment.timeline.current_status().is_terminal() {
            return Ok(None);
        }
        self.lanes.get(self.store, shipment, now).await.map(Some)
    }

    /// Evaluates the rules (the lane rules with `lanes`), tells problems already
    /// superseded, reconciles alerts and schedules the next check.
    pub fn apply(
        &self,
        shipment: &mut Shipment,
        lanes: Option<&LaneView>,
        now: DateTime<Utc>,
    ) -> Vec<Transition> {
        let rules = &self.settings.rules;
        shipment.status = shipment.timeline.current_status();
        let findings = rules::evaluate_with(shipment, rules, lanes, now);
        let past = rules::past_events(shipment, rules);
        let mut transitions = lifecycle::tell_past(&mut shipment.alerts, &past, now);
        transitions.extend(lifecycle::reconcile_with(
            &mut shipment.alerts,
            &findings,
            now,
            self.settings.alert_repeat,
            &self.settings.inhibit,
        ));
        shipment.next_check_at =
            schedule::next_check_at_with(shipment, rules, lanes, self.mode, &self.policy, now);
        transitions
    }

    /// The alert records a check's transitions claim: one per transition, and a
    /// customer notice for a fired alert of a rule that tells the customer (at
    /// most one per parcel and rule, held until the end of quiet hours when `now`
    /// falls in them; a held notice is delivered from the outbox, not at once).
    async fn claims(
        &self,
        shipment: &Shipment,
        transitions: &[Transition],
        now: DateTime<Utc>,
    ) -> Result<Vec<Claim>, StoreError> {
        let mut out = Vec::new();
        let mut earlier: Option<Vec<AlertRecord>> = None;
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
            // A problem already superseded is news for the team only: the customer
            // would be told of a failure that is already behind them.
            let tell_customer = !t.already_over;
            let notice = tell_customer
                && t.kind == AlertKind::Fired
                && shipment.phone.is_some()
                && self.settings.rules.notifies_customer(t.rule);
            out.push(Claim {
                record,
                tell_customer,
            });
            if !notice {
                continue;
            }
            let earlier = match &mut earlier {
                Some(e) => e,
                None => earlier.insert(self.store.alerts_for(&shipment.id).await?),
            };
            if earlier
                .iter()
                .any(|r| r.kind == AlertKind::Notice && r.rule == t.rule)
            {
                continue;
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
            earlier.push(record.clone());
            out.push(Claim {
                record,
                tell_customer: true,
            });
        }
        Ok(out)
    }
}

/// One alert record a check claims, and whether its notification may tell the
/// customer.
struct Claim {
    record: AlertRecord,
    tell_customer: bool,
}

/// Totals of one scheduler tick.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickStats {
    pub checked: usize,
    pub queries: usize,
    /// Checks whose query the daily budget refused ([`crate::budget`]).
    pub deferred: usize,
    pub query_errors: usize,
    pub writes: usize,
    /// Parcels whose check could not complete (the store failed, or the version
    /// race was lost too often). Each is logged and left as it was, due, so a
    /// later tick checks it again; the batch's other parcels are not held back.
    pub failed: usize,
    /// The first of those failures, for the caller's report.
    pub first_failure: Option<TrackerError>,
}

impl TickStats {
    fn add(&mut self, other: TickStats) {
        self.checked += other.checked;
        self.queries += other.queries;
        self.deferred += other.deferred;
        self.query_errors += other.query_errors;
        self.writes += other.writes;
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

/// Checks the given parcels (`tracker.concurrency` at once) and hands each
/// check's notifications to `sink`; what the `tracker` function does with one
/// TrackBatch. A parcel whose check fails does not stop the others: every check
/// runs to its end, so what the others claimed always reaches `sink` (a claim
/// dropped here would never be offered again by its tracker). The failures are
/// counted in the totals.
pub async fn check_batch<S: TrackerStore, C: CarrierQuery>(
    tracker: &Tracker<'_, S, C>,
    ids: &[ShipmentId],
    now: DateTime<Utc>,
    sink: &mut impl FnMut(Vec<Notification>),
) -> TickStats {
    let mut stats = TickStats::default();
    let mut checks = stream::iter(ids.iter())
        .map(|id| async move { (id, tracker.check(id, now).await) })
        .buffer_unordered(tracker.concurrency.max(1));
    while let Some((id, o)) = checks.next().await {
        let o = match o {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(shipment = %id, error = %e,
                    "check failed; the parcel stays due and is checked again later");
                stats.failed += 1;
                stats.first_failure.get_or_insert(e);
                continue;
            }
        };
        stats.checked += usize::from(o.processed);
        stats.queries += usize::from(o.queried);
        stats.deferred += usize::from(o.deferred);
        stats.query_errors += usize::from(o.query_error.is_some());
        stats.writes += usize::from(o.written);
        if !o.notifications.is_empty() {
            sink(o.notifications);
        }
    }
    stats
}

/// One scheduler tick on one machine: checks every due parcel, `batch` at a time
/// (`tracker.concurrency` of them at once), and hands each check's notifications
/// to `sink`. Only the due query itself fails the tick; a parcel's failed check
/// is counted ([`TickStats::failed`]) and the tick goes on. A parcel that failed
/// stays due, so it would head every later due query: the tick asks for that
/// many more and passes over them, so no number of failing parcels keeps the
/// others from their check.
pub async fn run_due<S: TrackerStore + DueIndex, C: CarrierQuery>(
    tracker: &Tracker<'_, S, C>,
    now: DateTime<Utc>,
    batch: usize,
    mut sink: impl FnMut(Vec<Notification>),
) -> Result<TickStats, TrackerError> {
    let mut stats = TickStats::default();
    let mut tried: std::collections::HashSet<ShipmentId> = std::collections::HashSet::new();
    loop {
        let want = batch.max(1).saturating_add(tried.len());
        let due = tracker.store.due_shipments(now, want).await?;
        let fresh: Vec<ShipmentId> = due.into_iter().filter(|id| !tried.contains(id)).collect();
        if fresh.is_empty() {
            return Ok(stats);
        }
        let s = check_batch(tracker, &fresh, now, &mut sink).await;
        let progressed = s.checked + s.failed;
        stats.add(s);
        // What stays due after its check (failed, or rescheduled at once) is
        // passed over from now on in this tick.
        tried.extend(fresh);
        if progressed == 0 {
            // Everything due was skipped (handled by someone else meanwhile).
            return Ok(stats);
        }
    }
}
