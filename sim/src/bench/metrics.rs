//! What the fleet benchmark counts, and how: a counting [`Store`](shared::ports::Store) decorator, a
//! counting [`CarrierQuery`] wrapper, the detection score per rule against the
//! simulator's ground truth, and the process's CPU time and peak memory.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::Fleet;
use shared::budget::BudgetDay;
use shared::domain::AlertRecord;
use shared::domain::{Rule, Severity};
use shared::domain::{Shipment, ShipmentId, Status};
use shared::ports::{
    AlertLog, Committed, DueIndex, LaneQuery, Lease, ListFilter, Page, QueryBudget, ShipmentQuery,
    ShipmentReader, ShipmentWriter, StoreError, Unreadable,
};
use shared::ports::{CarrierError, CarrierQuery, CarrierReply, CarrierSubscribe};
pub use shared::report::percentile;
use shared::rules::RuleConfig;

// ------------------------------------------------------------------ the store

/// Store operations counted by [`CountingStore`].
#[derive(Debug, Default)]
struct StoreCounters {
    puts: AtomicU64,
    alert_inserts: AtomicU64,
    alert_insert_attempts: AtomicU64,
    marks_delivered: AtomicU64,
    leases_taken: AtomicU64,
    transact_commits: AtomicU64,
    transact_records: AtomicU64,
    gets: AtomicU64,
    due_queries: AtomicU64,
    alert_reads: AtomicU64,
    console_reads: AtomicU64,
    lane_reads: AtomicU64,
    lane_weeks_read: AtomicU64,
    budget_writes: AtomicU64,
}

/// A snapshot of [`CountingStore`]'s counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreCounts {
    /// Successful `put_shipment` and `commit_check` calls (registration included;
    /// a version conflict writes nothing and is not counted).
    pub shipment_puts: u64,
    /// Alert records inserted (`insert_alert_if_absent`, `commit_check`).
    pub alert_inserts: u64,
    /// Alert record inserts tried, inserted or not (a conditional write that
    /// fails its condition is still billed by DynamoDB).
    pub alert_insert_attempts: u64,
    /// `mark_delivered` calls (the outbox update after a publish).
    pub marks_delivered: u64,
    /// `take_lease` calls (a conditional update each, taken or not).
    pub leases_taken: u64,
    /// `commit_check` calls that carried alert records (one transaction each on
    /// DynamoDB, which bills every item of a transaction twice).
    pub transact_commits: u64,
    /// The alert records those transactions carried.
    pub transact_records: u64,
    /// `get_shipment` calls.
    pub shipment_gets: u64,
    /// `due_shipments` calls.
    pub due_queries: u64,
    /// `pending_alerts`, `alerts_for` and `alerts_between` calls.
    pub alert_reads: u64,
    /// The console's reads: `tally`, `problem_shipments` and `unreadable` calls.
    pub console_reads: u64,
    /// `lane_counts` calls (a lane's learned statistics).
    pub lane_reads: u64,
    /// The lane-weeks those calls asked for (lanes × weeks: on DynamoDB each is
    /// one item per shard, billed whether it exists or not).
    pub lane_weeks_read: u64,
    /// The daily query budget's conditional updates (a query taken or refused,
    /// a deferral counted, the warning claimed: one small item each).
    pub budget_writes: u64,
}

impl StoreCounts {
    /// Store writes as the benchmark reports them: shipment puts + alert records
    /// inserted + outbox records marked delivered.
    pub fn writes(&self) -> u64 {
        self.shipment_puts + self.alert_inserts + self.marks_delivered
    }
}

/// Wraps any store and counts what goes through it, by delegation.
#[derive(Debug, Default)]
pub struct CountingStore<S> {
    inner: S,
    c: StoreCounters,
}

impl<S> CountingStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            c: StoreCounters::default(),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn counts(&self) -> StoreCounts {
        StoreCounts {
            shipment_puts: self.c.puts.load(Relaxed),
            alert_inserts: self.c.alert_inserts.load(Relaxed),
            alert_insert_attempts: self.c.alert_insert_attempts.load(Relaxed),
            marks_delivered: self.c.marks_delivered.load(Relaxed),
            leases_taken: self.c.leases_taken.load(Relaxed),
            transact_commits: self.c.transact_commits.load(Relaxed),
            transact_records: self.c.transact_records.load(Relaxed),
            shipment_gets: self.c.gets.load(Relaxed),
            due_queries: self.c.due_queries.load(Relaxed),
            alert_reads: self.c.alert_reads.load(Relaxed),
            console_reads: self.c.console_reads.load(Relaxed),
            lane_reads: self.c.lane_reads.load(Relaxed),
            lane_weeks_read: self.c.lane_weeks_read.load(Relaxed),
            budget_writes: self.c.budget_writes.load(Relaxed),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

impl<S: ShipmentReader> ShipmentReader for CountingStore<S> {
    async fn get_shipment(&self, id: &ShipmentId) -> Result<Option<Shipment>, StoreError> {
        bump(&self.c.gets);
        self.inner.get_shipment(id).await
    }
}

impl<S: ShipmentWriter> ShipmentWriter for CountingStore<S> {
    async fn put_shipment(&self, shipment: &Shipment) -> Result<u64, StoreError> {
        let v = self.inner.put_shipment(shipment).await?;
        bump(&self.c.puts);
        Ok(v)
    }
}

impl<S: DueIndex> DueIndex for CountingStore<S> {
    async fn due_shipments(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ShipmentId>, StoreError> {
        bump(&self.c.due_queries);
        self.inner.due_shipments(now, limit).await
    }
}

impl<S: AlertLog> AlertLog for CountingStore<S> {
    async fn insert_alert_if_absent(&self, record: &AlertRecord) -> Result<bool, StoreError> {
        bump(&self.c.alert_insert_attempts);
        let inserted = self.inner.insert_alert_if_absent(record).await?;
        if inserted {
            bump(&self.c.alert_inserts);
        }
        Ok(inserted)
    }

    async fn commit_check(
        &self,
        shipment: &Shipment,
        records: &[AlertRecord],
        lease: &Lease,
    ) -> Result<Committed, StoreError> {
        let c = self.inner.commit_check(shipment, records, lease).await?;
        bump(&self.c.puts);
        if !records.is_empty() {
            bump(&self.c.transact_commits);
            let n = records.len() as u64;
            self.c.transact_records.fetch_add(n, Relaxed);
            self.c.alert_insert_attempts.fetch_add(n, Relaxed);
            let inserted = c.inserted.iter().filter(|i| **i).count() as u64;
            self.c.alert_inserts.fetch_add(inserted, Relaxed);
        }
        Ok(c)
    }

    async fn take_lease(
        &self,
        record: &AlertRecord,
        due_by: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<bool, StoreError> {
        bump(&self.c.leases_taken);
        self.inner.take_lease(record, due_by, lease).await
    }

    async fn mark_delivered(&self, record: &AlertRecord) -> Result<(), StoreError> {
        bump(&self.c.marks_delivered);
        self.inner.mark_delivered(record).await
    }

    async fn pending_alerts(
        &self,
        due_by: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        bump(&self.c.alert_reads);
        self.inner.pending_alerts(due_by, limit).await
    }

    async fn alerts_for(&self, id: &ShipmentId) -> Result<Vec<AlertRecord>, StoreError> {
        bump(&self.c.alert_reads);
        self.inner.alerts_for(id).await
    }

    async fn alerts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        bump(&self.c.alert_reads);
        self.inner.alerts_between(from, to).await
    }
}

impl<S: LaneQuery> LaneQuery for CountingStore<S> {
    fn lane_counts(
        &self,
        lanes: &[String],
        weeks: &[String],
    ) -> impl Future<Output = Result<shared::tally::Tally, StoreError>> + Send {
        bump(&self.c.lane_reads);
        self.c
            .lane_weeks_read
            .fetch_add((lanes.len() * weeks.len()) as u64, Relaxed);
        self.inner.lane_counts(lanes, weeks)
    }
}

impl<S: QueryBudget> QueryBudget for CountingStore<S> {
    fn take_query(
        &self,
        provider: &str,
        day: NaiveDate,
        cap: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        bump(&self.c.budget_writes);
        self.inner.take_query(provider, day, cap)
    }

    fn defer_query(
        &self,
        provider: &str,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<BudgetDay, StoreError>> + Send {
        bump(&self.c.budget_writes);
        self.inner.defer_query(provider, day, now)
    }

    fn claim_budget_warning(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        bump(&self.c.budget_writes);
        self.inner.claim_budget_warning(provider, day)
    }

    fn budget_day(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> impl Future<Output = Result<BudgetDay, StoreError>> + Send {
        self.inner.budget_day(provider, day)
    }
}

impl<S: ShipmentQuery> ShipmentQuery for CountingStore<S> {
    fn list_shipments(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<Shipment>, StoreError>> + Send {
        self.inner.list_shipments(filter, cursor, limit)
    }

    fn unreadable(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Unreadable>, StoreError>> + Send {
        bump(&self.c.console_reads);
        self.inner.unreadable(limit)
    }

    fn tally(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> impl Future<Output = Result<shared::tally::Tally, StoreError>> + Send {
        bump(&self.c.console_reads);
        self.inner.tally(from, to)
    }

    fn problem_shipments(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<Shipment>, StoreError>> + Send {
        bump(&self.c.console_reads);
        self.inner.problem_shipments(cursor, limit)
    }
}

// ---------------------------------------------------------------- the carrier

/// Wraps a carrier and counts queries and subscriptions, in total and per parcel
/// of a simulated fleet (by the parcel's index).
pub struct CountingCarrier<C> {
    inner: C,
    fleet: Arc<Fleet>,
    per_parcel: Vec<AtomicU32>,
    /// Queries by the parcel's status when queried.
    by_status: [AtomicU64; Status::ALL.len()],
    queries: AtomicU64,
    subscriptions: AtomicU64,
}

impl<C> CountingCarrier<C> {
    pub fn new(inner: C, fleet: Arc<Fleet>) -> Self {
        let per_parcel = (0..fleet.len()).map(|_| AtomicU32::new(0)).collect();
        Self {
            inner,
            fleet,
            per_parcel,
            by_status: Default::default(),
            queries: AtomicU64::new(0),
            subscriptions: AtomicU64::new(0),
        }
    }

    fn note(&self, id: &ShipmentId) {
        if let Some(p) = self.fleet.get(id) {
            self.per_parcel[p.index as usize].fetch_add(1, Relaxed);
        }
    }

    pub fn queries(&self) -> u64 {
        self.queries.load(Relaxed)
    }

    pub fn subscriptions(&self) -> u64 {
        self.subscriptions.load(Relaxed)
    }

    /// Queries by the parcel's status when queried, in [`Status::ALL`] order.
    pub fn queries_by_status(&self) -> [u64; Status::ALL.len()] {
        std::array::from_fn(|i| self.by_status[i].load(Relaxed))
    }

    /// Queries plus subscriptions for parcel `index`.
    pub fn billed_for(&self, index: usize) -> u32 {
        self.per_parcel[index].load(Relaxed)
    }
}

impl<C: CarrierQuery> CarrierQuery for CountingCarrier<C> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn query(
        &self,
        shipment: &Shipment,
    ) -> impl Future<Output = Result<CarrierReply, CarrierError>> + Send {
        bump(&self.queries);
        bump(&self.by_status[shipment.status as usize]);
        self.note(&shipment.id);
        self.inner.query(shipment)
    }
}

/// The simulated provider pushes every parcel without being asked: a subscription
/// is only counted (it is what a real provider bills).
impl<C: Send + Sync> CarrierSubscribe for CountingCarrier<C> {
    fn subscribe(
        &self,
        shipment: &Shipment,
    ) -> impl Future<Output = Result<(), CarrierError>> + Send {
        bump(&self.subscriptions);
        self.note(&shipment.id);
        std::future::ready(Ok(()))
    }
}

// -------------------------------------------------------------- the detection

/// One expectation of ground truth at warning severity (the rule fires), for
/// parcel `parcel` (its index in the fleet). Instants are Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truth {
    pub parcel: u32,
    pub rule: Rule,
    /// When the condition began (identifies the episode, as the alert's `since`).
    pub since: i64,
    /// When the rule's condition became true (threshold passed): the onset from
    /// which detection latency is measured.
    pub due: i64,
    /// False for a condition too short to be observable; an alert for it is
    /// legitimate but not required.
    pub required: bool,
}

/// The ground truth of a whole fleet up to `horizon`, warning severity only (the
/// escalation of `stalled` to critical is not a separate detection).
pub fn fleet_truth(fleet: &Fleet, config: &RuleConfig, horizon: DateTime<Utc>) -> Vec<Truth> {
    fleet
        .parcels
        .iter()
        .flat_map(|p| {
            p.expected(config, horizon)
                .into_iter()
                .filter(|e| e.severity == Severity::Warning)
                .map(|e| Truth {
                    parcel: p.index,
                    rule: e.rule,
                    since: e.since.timestamp(),
                    due: e.due_at.timestamp(),
                    required: e.required,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// One alert episode: the first time a rule fired for a parcel with a given
/// `since` (escalations, repeats and resolutions are not new episodes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Episode {
    pub parcel: u32,
    pub rule: Rule,
    pub since: i64,
    pub at: i64,
}

/// Collects first alerts per (parcel, rule, since).
#[derive(Debug, Default)]
pub struct EpisodeLog {
    first: HashMap<(u32, Rule, i64), i64>,
}

impl EpisodeLog {
    /// Notes an alert; keeps the earliest time of each episode.
    pub fn note(&mut self, parcel: u32, rule: Rule, since: i64, at: i64) {
        self.first
            .entry((parcel, rule, since))
            .and_modify(|t| *t = (*t).min(at))
            .or_insert(at);
    }

    pub fn len(&self) -> usize {
        self.first.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    pub fn episodes(&self) -> impl Iterator<Item = Episode> + '_ {
        self.first
            .iter()
            .map(|(&(parcel, rule, since), &at)| Episode {
                parcel,
                rule,
                since,
                at,
            })
    }
}

/// The detection figures of one rule (or of all rules together).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Detection {
    /// Required expectations due by the judging instant.
    pub expected: u64,
    /// Of those, how many got an alert for the same episode at or after `due`.
    pub caught: u64,
    /// Alert episodes raised.
    pub alerts: u64,
    /// Alert episodes that ground truth expects (any expectation of the same
    /// parcel, rule and `since`, alerted at or after its `due`).
    pub true_alerts: u64,
    /// Latency of each caught expectation (alert − due), seconds, ascending.
    pub latencies: Vec<i64>,
    /// The parcels (fleet indices) of the expectations missed.
    pub missed: Vec<u32>,
}

impl Detection {
    /// `caught / expected`; `None` when nothing was expected.
    pub fn recall(&self) -> Option<f64> {
        (self.expected > 0).then(|| self.caught as f64 / self.expected as f64)
    }

    /// `true_alerts / alerts`; `None` when nothing was alerted.
    pub fn precision(&self) -> Option<f64> {
        (self.alerts > 0).then(|| self.true_alerts as f64 / self.alerts as f64)
    }

    pub fn false_alerts(&self) -> u64 {
        self.alerts - self.true_alerts
    }

    /// Nearest-rank percentile of the latencies (`p` in 0..=1), seconds.
    pub fn latency(&self, p: f64) -> Option<i64> {
        percentile(&self.latencies, p)
    }

    pub fn latency_max(&self) -> Option<i64> {
        self.latencies.last().copied()
    }

    fn add(&mut self, other: &Detection) {
        self.expected += other.expected;
        self.caught += other.caught;
        self.alerts += other.alerts;
        self.true_alerts += other.true_alerts;
        self.latencies.extend_from_slice(&other.latencies);
        self.missed.extend_from_slice(&other.missed);
    }
}

/// Detection per rule, and over all rules.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scores {
    pub per_rule: BTreeMap<Rule, Detection>,
    pub overall: Detection,
}

/// Scores alert episodes against ground truth. An expectation is *caught* when
/// an alert of the same rule for the same parcel and episode (`since`) was raised
/// at or after its `due`; its latency is that alert's time minus `due`. Only
/// required expectations due by `judge_until` count towards recall; every
/// expectation makes a matching alert a true one (precision). An alert raised
/// before `due` is early: a false alert, and the expectation is missed.
pub fn score(truth: &[Truth], episodes: &EpisodeLog, judge_until: i64) -> Scores {
    // The lane rules are scored apart ([`super::lane_scores`]).
    let mut per_rule: BTreeMap<Rule, Detection> = Rule::ALL
        .iter()
        .filter(|r| !r.is_lane_rule())
        .map(|r| (*r, Detection::default()))
        .collect();
    let mut due_of: HashMap<(u32, Rule, i64), i64> = HashMap::with_capacity(truth.len());
    for t in truth {
        due_of
            .entry((t.parcel, t.rule, t.since))
            .and_modify(|d| *d = (*d).min(t.due))
            .or_insert(t.due);
        if !t.required || t.due > judge_until {
            continue;
        }
        let row = per_rule.entry(t.rule).or_default();
        row.expected += 1;
        match episodes.first.get(&(t.parcel, t.rule, t.since)) {
            Some(&at) if at >= t.due => {
                row.caught += 1;
                row.latencies.push(at - t.due);
            }
            _ => row.missed.push(t.parcel),
        }
    }
    for e in episodes.episodes().filter(|e| !e.rule.is_lane_rule()) {
        let row = per_rule.entry(e.rule).or_default();
        row.alerts += 1;
        if due_of
            .get(&(e.parcel, e.rule, e.since))
            .is_some_and(|&due| e.at >= due)
        {
            row.true_alerts += 1;
        }
    }
    let mut overall = Detection::default();
    for row in per_rule.values_mut() {
        row.latencies.sort_unstable();
        overall.add(row);
    }
    overall.latencies.sort_unstable();
    Scores { per_rule, overall }
}

// ------------------------------------------------------------ the process

/// CPU time (user + system) of this process so far, in seconds, from
/// `/proc/self/stat` (Linux; clock ticks of 1/100 s, the USER_HZ of every
/// mainstream Linux build). `None` elsewhere.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Peak resident memory of this process (VmHWM), in MiB. `None` off Linux.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets the peak-RSS mark to the current RSS (Linux `clear_refs` value 5), so
/// the next [`peak_rss_mb`] is the peak of what runs from now on. Returns whether
/// it worked.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(parcel: u32, rule: Rule, since: i64, due: i64, required: bool) -> Truth {
        Truth {
            parcel,
            rule,
            since,
            due,
            required,
        }
    }

    #[test]
    fn scoring_matches_episodes_and_counts_early_and_false_alerts() {
        let t = [
            truth(0, Rule::Stalled, 0, 100, true),
            truth(1, Rule::Stalled, 10, 110, true),
            truth(2, Rule::Refused, 50, 50, true),
            // Optional: an alert is fine, a miss is not counted.
            truth(3, Rule::HubDwell, 5, 30, false),
            // Due after judging: not counted, alert legitimate.
            truth(4, Rule::Late, 900, 900, true),
        ];
        let mut log = EpisodeLog::default();
        log.note(0, Rule::Stalled, 0, 130);
        log.note(0, Rule::Stalled, 0, 400); // repeat of the same episode
        log.note(1, Rule::Stalled, 10, 90); // early
        log.note(3, Rule::HubDwell, 5, 31);
        log.note(4, Rule::Late, 900, 905);
        log.note(5, Rule::Exception, 1, 2); // not expected at all
        let s = score(&t, &log, 500);
        let stalled = &s.per_rule[&Rule::Stalled];
        assert_eq!((stalled.expected, stalled.caught), (2, 1));
        assert_eq!((stalled.alerts, stalled.true_alerts), (2, 1));
        assert_eq!(stalled.latencies, vec![30]);
        let refused = &s.per_rule[&Rule::Refused];
        assert_eq!(
            (refused.expected, refused.caught, refused.alerts),
            (1, 0, 0)
        );
        assert_eq!(refused.recall(), Some(0.0));
        assert_eq!(refused.precision(), None);
        assert_eq!(s.per_rule[&Rule::HubDwell].expected, 0);
        assert_eq!(s.per_rule[&Rule::HubDwell].precision(), Some(1.0));
        assert_eq!(s.per_rule[&Rule::Late].expected, 0);
        assert_eq!(s.per_rule[&Rule::Exception].false_alerts(), 1);
        assert_eq!((s.overall.expected, s.overall.caught), (3, 1));
        assert_eq!((s.overall.alerts, s.overall.true_alerts), (5, 3));
    }
}
