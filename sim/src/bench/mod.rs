//! The fleet benchmark: the simulator's fleet run through (a) Parcel Sentinel's
//! scheduler → tracker → rules → alerts loop on the in-memory store and (b) the
//! fixed-interval polling baseline ([`baseline`]), on the same fleet and the same
//! virtual clock, with every figure counted by the run ([`metrics`]), and a cost
//! model from AWS's published prices ([`cost`]).
//!
//! How Sentinel runs here is how `sentinel demo` runs (same [`register_at`],
//! [`run_due`], [`deliver`] and [`deliver_pending`], 5-minute ticks of a
//! [`ManualClock`]), with three differences, all for scale: the store is the
//! [`MemoryStore`] behind a [`CountingStore`]; the simulated carrier answers
//! without JSON by default ([`Wire::Direct`], see [`crate::direct`]); and
//! notifications go to a sink that counts them, grouped per tick by
//! [`shared::digest::digest`] (4096 bytes, 5 parcels per group: a WeCom markdown
//! message) — "notifications sent" is the number of those digest messages.
//!
//! In push mode the simulated provider pushes the visible history of a parcel at
//! the first tick at or after each of its new traces (the simulation's
//! resolution), through [`Tracker::ingest`]; each parcel is subscribed once at
//! registration, which is what the provider bills (counted as one carrier query).

pub mod baseline;
pub mod console;
pub mod cost;
pub mod lane_scores;
pub mod metrics;
pub mod prediction;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::{DirectSimCarrier, Fleet, FleetConfig, SimCarrier, SimKind};
use shared::budget::china_day;
use shared::clock::ManualClock;
use shared::config::Settings;
use shared::digest::digest;
use shared::domain::AlertKind;
use shared::domain::Notification;
use shared::domain::Rule;
use shared::domain::{Shipment, Status};
use shared::message::Templates;
use shared::outbox::{deliver, deliver_pending};
use shared::ports::Clock;
use shared::ports::{AlertSink, Lease};
use shared::ports::{CarrierError, CarrierQuery, CarrierReply, CarrierSubscribe};
use shared::ports::{ListFilter, ShipmentQuery};
use shared::registration::register_at;
use shared::schedule::{PollPolicy, TrackingMode};
use shared::store::memory::MemoryStore;
use shared::tracker::{run_due, Tracker, TrackerError, DEFAULT_LEASE};

use metrics::{CountingCarrier, CountingStore, EpisodeLog, Scores, StoreCounts};

/// The scheduler's tick (the EventBridge schedule's default).
pub const TICK: Duration = Duration::minutes(5);
/// Expectations due in the last hours of a run are not judged for recall (a
/// poll may not have come round yet); alerts for them still count as true.
pub const JUDGE_GRACE: Duration = Duration::hours(12);

/// How the simulated carrier's replies reach the pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wire {
    /// Built from the simulator's events (no JSON): fast, for large fleets.
    #[default]
    Direct,
    /// Rendered as real Kdniao/Kuaidi100 JSON and parsed by the real normaliser.
    Json,
}

impl Wire {
    pub fn as_str(self) -> &'static str {
        match self {
            Wire::Direct => "direct",
            Wire::Json => "json",
        }
    }
}

/// One benchmark run.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchConfig {
    pub parcels: usize,
    pub days: u32,
    pub seed: u64,
    pub mode: TrackingMode,
    pub wire: Wire,
    pub baseline: baseline::BaselineConfig,
    pub policy: PollPolicy,
    /// Parcels are registered over this many days from the start; `None`:
    /// [`BenchConfig::default_register_days`].
    pub register_days: Option<u32>,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            parcels: 100_000,
            days: 14,
            seed: 42,
            mode: TrackingMode::Poll,
            wire: Wire::Direct,
            baseline: baseline::BaselineConfig::default(),
            policy: PollPolicy::default(),
            register_days: None,
        }
    }
}

impl BenchConfig {
    /// Registrations spread over the first `min(days, 3)` days (the demo's), or,
    /// in a run of more than two weeks, over all but its last week: parcels keep
    /// arriving while the lanes learn, and most finish within the run.
    pub fn default_register_days(days: u32) -> u32 {
        if days > 14 {
            days - 7
        } else {
            days.clamp(1, 3)
        }
    }

    pub fn register_days(&self) -> u32 {
        self.register_days
            .unwrap_or_else(|| Self::default_register_days(self.days))
            .max(1)
    }

    /// The fleet of this run: the demo's, registered over [`Self::register_days`].
    pub fn fleet(&self) -> Fleet {
        let start = FleetConfig::default().start;
        crate::generate(&FleetConfig {
            parcels: self.parcels,
            seed: self.seed,
            start,
            register_window: Duration::days(i64::from(self.register_days())),
            ..FleetConfig::default()
        })
    }
}

/// What one side (Sentinel or the baseline) did, counted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Side {
    /// Billed carrier interactions: queries, plus subscriptions in push mode.
    pub queries: u64,
    /// Of those, the ones for parcels delivered by the end of the run.
    pub queries_on_delivered: u64,
    /// Carrier queries by the parcel's status when queried ([`Status::ALL`] order).
    pub queries_by_status: [u64; Status::ALL.len()],
    /// Pushes taken in (push mode).
    pub pushes: u64,
    /// Parcels checked (tracker checks, or baseline queries).
    pub checks: u64,
    /// Store writes (see [`StoreCounts::writes`] for Sentinel, the baseline's in
    /// [`baseline`]).
    pub writes: u64,
    /// Store reads of a parcel (Sentinel: `get_shipment`; baseline: one per query)
    /// and of the alert log.
    pub reads: u64,
    pub store: Option<StoreCounts>,
    /// Notifications claimed (Sentinel: every alert transition — fired,
    /// escalated, repeated, resolved; baseline: every alert).
    pub raw_alerts: u64,
    /// Chat messages after digesting each tick's (or cron run's) notifications.
    pub messages: u64,
    /// Scheduler ticks or cron runs.
    pub runs: u64,
    pub scores: Scores,
    pub cpu_s: f64,
    pub wall_s: f64,
    pub peak_rss_mb: Option<f64>,
    /// Mean size of a stored shipment as JSON (Sentinel), bytes.
    pub item_bytes: Option<f64>,
    /// How the estimated deliveries did (Sentinel; see [`prediction`]).
    pub prediction: prediction::Prediction,
    /// How the lane rules did (Sentinel; see [`lane_scores`]).
    pub lane_rules: lane_scores::LaneScores,
    /// Checks whose query the daily query budget refused (Sentinel).
    pub deferred: u64,
    /// Carrier queries per China day, as the carrier counted them (Sentinel).
    pub queries_by_day: BTreeMap<NaiveDate, u64>,
}

/// The result of a benchmark run.
#[derive(Clone, Debug)]
pub struct BenchReport {
    pub config: BenchConfig,
    /// The fleet that ran.
    pub fleet: Arc<Fleet>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub judge_until: DateTime<Utc>,
    /// Parcels delivered by the end of the run.
    pub delivered: u64,
    /// Tracking events the carrier reported by the end of the run.
    pub events: u64,
    pub sentinel: Side,
    pub baseline: Side,
    /// Seconds to generate the fleet and its ground truth.
    pub setup_s: f64,
    pub peak_reset_worked: bool,
}

impl BenchReport {
    pub fn per_parcel(&self, n: u64) -> f64 {
        n as f64 / self.config.parcels.max(1) as f64
    }

    pub fn per_delivered(&self, n: u64) -> f64 {
        n as f64 / self.delivered.max(1) as f64
    }

    /// The shipment id of parcel `index` of the fleet.
    pub fn parcel_id(&self, index: u32) -> String {
        self.fleet.parcels[index as usize].id.to_string()
    }

    /// The injected anomaly of parcel `index`, or `none`, and its traces as
    /// `kind@hours` after registration.
    pub fn parcel_anomaly(&self, index: u32) -> String {
        let p = &self.fleet.parcels[index as usize];
        let traces: Vec<String> = p
            .events
            .iter()
            .map(|e| {
                let h = (e.at - p.registered_at).num_minutes() as f64 / 60.0;
                format!("{:?}@{h:.1}h", e.kind)
            })
            .collect();
        format!(
            "{}; traces {}",
            p.anomaly.map_or("none", |a| a.as_str()),
            traces.join(" ")
        )
    }
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bad benchmark configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Pipeline(#[from] TrackerError),
    #[error(transparent)]
    Store(#[from] shared::ports::StoreError),
}

/// The simulated carrier on either wire.
pub enum WireCarrier<C: Clock> {
    Direct(DirectSimCarrier<C>),
    Json(SimCarrier<C>),
}

impl<C: Clock> WireCarrier<C> {
    pub fn new(wire: Wire, fleet: Arc<Fleet>, clock: C) -> Self {
        match wire {
            Wire::Direct => Self::Direct(DirectSimCarrier::new(fleet, clock)),
            Wire::Json => Self::Json(SimCarrier::new(fleet, clock)),
        }
    }
}

impl<C: Clock> CarrierQuery for WireCarrier<C> {
    fn name(&self) -> &str {
        match self {
            Self::Direct(c) => c.name(),
            Self::Json(c) => c.name(),
        }
    }

    fn query(
        &self,
        shipment: &Shipment,
    ) -> impl std::future::Future<Output = Result<CarrierReply, CarrierError>> + Send {
        std::future::ready(match self {
            Self::Direct(c) => Ok(c.answer(shipment)),
            Self::Json(c) => c.answer(shipment),
        })
    }
}

/// A pushed reply for parcel `p` at `now` on `wire` (carrier and number set).
fn pushed(p: &crate::SimParcel, now: DateTime<Utc>, wire: Wire) -> CarrierReply {
    match wire {
        Wire::Direct => p.reply_direct(now),
        Wire::Json => {
            let mut r = shared::normalise::parse_reply(
                &p.reply_json(now),
                Some(p.format.normalise_format()),
            )
            .unwrap_or_default();
            r.carrier = Some(p.id.carrier.clone());
            r.tracking_number = Some(p.id.tracking_number.as_str().to_string());
            r
        }
    }
}

/// Takes every notification (the chat robots and SNS of a deployment); what is
/// sent is counted from the digests in [`run_sentinel`].
struct CountingSink;

impl AlertSink for CountingSink {
    async fn publish(&self, notifications: &[Notification]) -> Vec<Result<(), String>> {
        vec![Ok(()); notifications.len()]
    }
}

/// Outbox records delivered per tick at most (as the demo).
const OUTBOX_PER_TICK: usize = 1000;
/// Due parcels fetched per store query (as the demo).
const DUE_BATCH: usize = 256;

/// Whether parcel `p` is delivered by `end`.
fn delivered_by(p: &crate::SimParcel, end: DateTime<Utc>) -> bool {
    p.events_at(end)
        .last()
        .is_some_and(|e| e.kind == SimKind::Delivered)
}

/// Runs Sentinel over `fleet` from `start` to `end` (inclusive), ticking every
/// [`TICK`]. Returns the counts (not yet scored) and the alert episodes.
pub async fn run_sentinel(
    fleet: &Arc<Fleet>,
    config: &BenchConfig,
    settings: &Settings,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(Side, EpisodeLog), BenchError> {
    let clock = Arc::new(ManualClock::new(start));
    let carrier = CountingCarrier::new(
        WireCarrier::new(config.wire, fleet.clone(), clock.clone()),
        fleet.clone(),
    );
    let store = CountingStore::new(MemoryStore::new());
    let mut tracker = Tracker::new(&store, &carrier, settings).with(config.mode, 1);
    tracker.policy = config.policy.clone();
    let templates = Templates::default();
    let push = config.mode == TrackingMode::Push;

    let mut arrivals: Vec<u32> = (0..fleet.len() as u32).collect();
    arrivals.sort_by_key(|&i| fleet.parcels[i as usize].registered_at);
    let mut next_arrival = 0;
    // Push mode: every trace up to the end, in time order.
    let mut traces: Vec<(i64, u32)> = Vec::new();
    if push {
        for p in &fleet.parcels {
            traces.extend(p.events_at(end).iter().map(|e| (e.at.timestamp(), p.index)));
        }
        traces.sort_unstable();
    }
    let mut next_trace = 0;

    let mut side = Side::default();
    let mut episodes = EpisodeLog::default();
    let mut estimates = prediction::Prediction::default();
    let mut now = start;
    while now <= end {
        clock.set(now);
        while let Some(&i) = arrivals.get(next_arrival) {
            let p = &fleet.parcels[i as usize];
            if p.registered_at > now {
                break;
            }
            let shipment = p.shipment();
            register_at(
                &store,
                &shipment,
                &settings.rules,
                config.mode,
                &config.policy,
                now,
            )
            .await?;
            if push {
                // A failed subscription would be retried; the simulator never fails.
                let _ = carrier.subscribe(&shipment).await;
            }
            next_arrival += 1;
        }
        let mut fresh: Vec<Notification> = Vec::new();
        if push {
            let t = now.timestamp();
            let from = next_trace;
            while traces.get(next_trace).is_some_and(|&(at, _)| at <= t) {
                next_trace += 1;
            }
            let mut touched: Vec<u32> = traces[from..next_trace].iter().map(|x| x.1).collect();
            touched.sort_unstable();
            touched.dedup();
            for i in touched {
                let reply = pushed(&fleet.parcels[i as usize], now, config.wire);
                let o = tracker.ingest(&reply, now).await?;
                side.pushes += 1;
                side.checks += u64::from(o.processed);
                fresh.extend(o.notifications);
            }
        }
        let asked_before = carrier.queries();
        let stats = run_due(&tracker, now, DUE_BATCH, |n| fresh.extend(n)).await?;
        side.checks += stats.checked as u64;
        side.deferred += stats.deferred as u64;
        *side.queries_by_day.entry(china_day(now)).or_default() += carrier.queries() - asked_before;
        let delivery = deliver(&store, &CountingSink, &fresh, &tracker.lease_at(now), now).await?;
        let lease = Lease::new("bench", now, DEFAULT_LEASE);
        let later = deliver_pending(
            &store,
            &CountingSink,
            settings,
            now,
            &lease,
            OUTBOX_PER_TICK,
        )
        .await?;
        let t = now.timestamp();
        for n in &fresh {
            let Some(p) = fleet.get(&n.record.shipment) else {
                continue;
            };
            if matches!(n.record.kind, AlertKind::Fired | AlertKind::Escalated) {
                episodes.note(p.index, n.record.rule, n.record.since.timestamp(), t);
            }
            // Problems kept quiet by inhibition are told within this message.
            for s in &n.silenced {
                episodes.note(p.index, s.rule, s.since.timestamp(), t);
            }
        }
        side.raw_alerts += (delivery.delivered + delivery.failed) as u64;
        // Ops notifications go out as digests; customer notices one SMS each.
        let (ops, customer): (Vec<Notification>, Vec<Notification>) = fresh
            .into_iter()
            .partition(|n| n.record.kind != AlertKind::Notice);
        side.messages += digest(&ops, &templates, 4096, 5).len() as u64;
        side.messages += customer.len() as u64 + later.delivered as u64;
        side.runs += 1;
        if prediction::Prediction::due(start, now) {
            // The bench's own work: kept out of Sentinel's CPU and wall time.
            let (cpu0, wall0) = (metrics::cpu_seconds(), Instant::now());
            estimates.judge(fleet, store.inner(), now).await;
            estimates.cpu_s += cpu_since(cpu0);
            estimates.wall_s += wall0.elapsed().as_secs_f64();
        }
        now += TICK;
    }
    side.prediction = estimates;

    side.queries = carrier.queries() + carrier.subscriptions();
    side.queries_by_status = carrier.queries_by_status();
    side.queries_on_delivered = fleet
        .parcels
        .iter()
        .filter(|p| delivered_by(p, end))
        .map(|p| u64::from(carrier.billed_for(p.index as usize)))
        .sum();
    let counts = store.counts();
    side.writes = counts.writes();
    side.reads = counts.shipment_gets + counts.alert_reads;
    side.store = Some(counts);
    side.item_bytes = mean_item_bytes(store.inner()).await?;
    Ok((side, episodes))
}

/// Mean JSON size of the first 2,000 stored shipments (a DynamoDB item is about
/// that size), bytes.
async fn mean_item_bytes(store: &MemoryStore) -> Result<Option<f64>, BenchError> {
    let page = store
        .list_shipments(&ListFilter::default(), None, 2000)
        .await?;
    if page.items.is_empty() {
        return Ok(None);
    }
    let total: usize = page
        .items
        .iter()
        .map(|s| serde_json::to_vec(s).map(|v| v.len()).unwrap_or(0))
        .sum();
    Ok(Some(total as f64 / page.items.len() as f64))
}

/// Generates the fleet of `config` and runs both sides over it.
pub async fn run(config: &BenchConfig, settings: &Settings) -> Result<BenchReport, BenchError> {
    if config.parcels == 0 || config.days == 0 {
        return Err(BenchError::Config(
            "parcels and days must be at least 1".into(),
        ));
    }
    let t0 = Instant::now();
    let fleet = Arc::new(config.fleet());
    let start = FleetConfig::default().start;
    run_on(fleet, config, settings, start, t0).await
}

/// Runs both sides over a given fleet from `start` for `config.days` days: the
/// baseline first, then Sentinel (each with its own CPU time, wall time and
/// peak-RSS mark), and scores both against the simulator's ground truth.
/// `t0` is when setup began (fleet generation), for [`BenchReport::setup_s`].
pub async fn run_on(
    fleet: Arc<Fleet>,
    config: &BenchConfig,
    settings: &Settings,
    start: DateTime<Utc>,
    t0: Instant,
) -> Result<BenchReport, BenchError> {
    let end = start + Duration::days(i64::from(config.days));
    let judge_until = end - JUDGE_GRACE;
    let truth = metrics::fleet_truth(&fleet, &settings.rules, end);
    let delivered = fleet
        .parcels
        .iter()
        .filter(|p| delivered_by(p, end))
        .count() as u64;
    let events: u64 = fleet
        .parcels
        .iter()
        .map(|p| p.events_at(end).len() as u64)
        .sum();
    let setup_s = t0.elapsed().as_secs_f64();

    // The baseline.
    let peak_reset_worked = metrics::reset_peak_rss();
    let (cpu0, wall0) = (metrics::cpu_seconds(), Instant::now());
    let b = baseline::run(&fleet, &config.baseline, config.wire, start, end);
    let mut base = Side {
        wall_s: wall0.elapsed().as_secs_f64(),
        cpu_s: cpu_since(cpu0),
        peak_rss_mb: metrics::peak_rss_mb(),
        queries: b.queries,
        queries_on_delivered: fleet
            .parcels
            .iter()
            .filter(|p| delivered_by(p, end))
            .map(|p| u64::from(b.per_parcel[p.index as usize]))
            .sum(),
        checks: b.queries,
        writes: b.writes,
        reads: b.reads,
        raw_alerts: b.alerts,
        messages: b.messages,
        runs: b.runs,
        ..Side::default()
    };
    base.scores = metrics::score(&truth, &b.episodes, judge_until.timestamp());
    drop(b);

    // Sentinel.
    metrics::reset_peak_rss();
    let (cpu0, wall0) = (metrics::cpu_seconds(), Instant::now());
    let (mut sentinel, episodes) = run_sentinel(&fleet, config, settings, start, end).await?;
    sentinel.wall_s = (wall0.elapsed().as_secs_f64() - sentinel.prediction.wall_s).max(0.0);
    sentinel.cpu_s = (cpu_since(cpu0) - sentinel.prediction.cpu_s).max(0.0);
    sentinel.peak_rss_mb = metrics::peak_rss_mb();
    sentinel.scores = metrics::score(&truth, &episodes, judge_until.timestamp());
    sentinel.lane_rules = lane_scores::score(
        &fleet,
        &truth,
        &episodes,
        start,
        prediction::WARM_UP,
        judge_until,
    );

    Ok(BenchReport {
        config: config.clone(),
        fleet,
        start,
        end,
        judge_until,
        delivered,
        events,
        sentinel,
        baseline: base,
        setup_s,
        peak_reset_worked,
    })
}

fn cpu_since(before: Option<f64>) -> f64 {
    match (before, metrics::cpu_seconds()) {
        (Some(a), Some(b)) => (b - a).max(0.0),
        _ => 0.0,
    }
}

/// The rules in report order: time-based first, then event-based.
pub const RULE_ORDER: [Rule; 11] = [
    Rule::NoPickup,
    Rule::NoTrace,
    Rule::Stalled,
    Rule::HubDwell,
    Rule::OutForDeliveryStuck,
    Rule::LockerUncollected,
    Rule::Late,
    Rule::DeliveryFailed,
    Rule::Exception,
    Rule::Refused,
    Rule::Returned,
];
