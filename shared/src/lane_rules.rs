//! The rules decided from what a parcel's lane has learned ([`crate::lanes`])
//! rather than from fixed hours (issue 17; docs/prediction-plan.md):
//!
//! - `predicted_late`: the probability of delivery by `promised_at`, given the
//!   parcel's stage, the time it has spent there and its lane's statistics, has
//!   fallen below `PREDICTED_LATE_PROBABILITY` (per carrier). `since` is the instant
//!   it fell below: between two scans the probability only falls as time passes
//!   (a parcel that has waited longer has less time left, and a silence beyond
//!   the lane's usual gap only moves the estimate out), so that instant is unique
//!   and found by bisection between the last scan and now. While the parcel holds
//!   an active `predicted_late` alert its `since` is kept (the lifecycle keys an
//!   episode by it); the alert resolves when a scan lifts the probability above the
//!   threshold + [`HYSTERESIS`], or the parcel is delivered. A new episode starts
//!   only before the promise: afterwards `late` says it. The chance is judged
//!   only from `PREDICTED_LATE_HORIZON_HOURS` (36 h) before the promise on: a
//!   guess days ahead knows little of the parcel's own pace and holds for the
//!   fast half of a lane's parcels as much as for the late ones (a horizon of
//!   36 h against none: precision 61.7% → 68.7% for 56.0% → 53.8% of late
//!   parcels flagged a day ahead, seed 42), and 36 h still leaves a day to act.
//!   Its `RULE_OVERRIDES`
//!   threshold is how long the probability must stay low first (default 0).
//!   A parcel whose way to the recipient ended without a delivery (refused, or
//!   on its way back to the sender) has no chance left at all, whatever its lane
//!   says: the rule holds from the scan that diverted it ([`diverted`]; a new
//!   episode only before the promise, one already held keeps its `since`), with
//!   no lane statistics needed, until the parcel is back with the sender (or
//!   lost): like `late`, which it foretells, it says nothing of a parcel whose
//!   way has ended.
//! - `slow_lane`: no scan for longer than the lane's `SLOW_LANE_QUANTILE` quantile
//!   of the gaps between scans in the parcel's stage, with a guard of
//!   [`GUARD_BUCKETS`] sketch buckets above it (and at least the rule's
//!   threshold, 16 h by default, a floor against nights: a parcel picked up in
//!   the evening reaches its first hub the next morning), `since` the last
//!   scan, like `stalled`. The quantile is read from the most specific lane level that
//!   has seen [`BEYOND_QUANTILE`] gaps beyond it (else the rule stays quiet: the
//!   published figures say nothing about a lane's unusual silences). It holds only
//!   where it comes before `stalled` (the limit is below `STALLED_HOURS`): earlier
//!   on fast lanes, quiet on slow ones. Not before pickup (`no_pickup`), in a
//!   locker (`locker_uncollected`), nor after a reported problem (its event
//!   rule), nor in the stage where the parcel had one (back on its way, it waits
//!   out of its lane's rhythm: `stalled` watches it).
//!
//! Both are pure functions of (shipment, configuration, lane view, now).

use chrono::{DateTime, Duration, Utc};

use crate::domain::{Rule, Severity, Shipment, Status};
use crate::lanes::{Journey, LaneView, Outlook, Stage};
use crate::rules::{Finding, RuleConfig};

/// How far above its threshold the probability must climb back before a
/// `predicted_late` alert resolves.
pub const HYSTERESIS: f64 = 0.1;

/// How many gaps beyond its quantile a lane must have seen before `slow_lane`
/// reads it: a high quantile of fewer samples is their maximum, which a healthy
/// parcel exceeds about once in as many gaps. Three, with [`GUARD_BUCKETS`] above
/// the quantile: ten left most same-city and same-province lane levels (whose
/// stalls are the ones worth finding early) without enough gaps to be read at all.
pub const BEYOND_QUANTILE: f64 = 3.0;

/// `slow_lane` waits this many of the sketch's buckets (each 2^(1/8), about 9%)
/// beyond the lane's quantile: one for the sketch's resolution (the quantile is
/// known to within its bucket), one for estimating a tail from a few gaps beyond
/// it. Without it, at the 0.99 quantile the healthy long legs of a cross-country
/// line haul tripped it (all rules' precision 98.5%, seed 42).
pub const GUARD_BUCKETS: f64 = 2.0;

/// The gaps a lane level needs for the quantile `q` ([`BEYOND_QUANTILE`] of them
/// beyond it).
pub fn samples_for(q: f64) -> i64 {
    (BEYOND_QUANTILE / (1.0 - q).max(1e-6)).ceil() as i64
}

/// How finely the instant a probability crosses its threshold is found.
const CROSSING_PRECISION: Duration = Duration::minutes(5);

/// A lane rule's condition: when it began and when its finding is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaneCondition {
    pub rule: Rule,
    pub since: DateTime<Utc>,
    pub due: DateTime<Utc>,
}

/// The lane rules' conditions for `shipment` at `now` (enabled rules only).
pub fn conditions(
    shipment: &Shipment,
    config: &RuleConfig,
    view: &LaneView,
    now: DateTime<Utc>,
) -> Vec<LaneCondition> {
    match view.outlook(shipment) {
        Some(outlook) => conditions_of(shipment, config, view, &outlook, now),
        None => Vec::new(),
    }
}

/// [`conditions`] with the parcel's outlook already read.
fn conditions_of(
    shipment: &Shipment,
    config: &RuleConfig,
    view: &LaneView,
    outlook: &Outlook,
    now: DateTime<Utc>,
) -> Vec<LaneCondition> {
    let mut out = Vec::new();
    if config.is_enabled(Rule::PredictedLate) {
        out.extend(predicted_late(shipment, config, outlook, now));
    }
    if config.is_enabled(Rule::SlowLane) {
        out.extend(slow_lane(shipment, config, view, outlook));
    }
    out
}

/// The lane rules' findings at `now`.
pub fn findings(
    shipment: &Shipment,
    config: &RuleConfig,
    view: &LaneView,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    due_findings(conditions(shipment, config, view, now), now)
}

/// The conditions of `conditions` that are due at `now`, as findings.
pub fn due_findings(
    conditions: impl IntoIterator<Item = LaneCondition>,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    conditions
        .into_iter()
        .filter(|c| c.due <= now)
        .map(|c| Finding {
            rule: c.rule,
            severity: Severity::Warning,
            since: c.since,
        })
        .collect()
}

/// The next instant after `now` at which a lane rule's finding would appear if no
/// scan came: a due time not yet reached, or when the probability of delivery by
/// the promise will fall below its threshold.
pub fn next_deadline(
    shipment: &Shipment,
    config: &RuleConfig,
    view: &LaneView,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let outlook = view.outlook(shipment)?;
    let mut next = conditions_of(shipment, config, view, &outlook, now)
        .into_iter()
        .map(|c| c.due)
        .filter(|d| *d > now)
        .min();
    let held = shipment
        .alerts
        .get(&Rule::PredictedLate)
        .is_some_and(|a| a.resolved_at.is_none());
    if config.is_enabled(Rule::PredictedLate) && !held {
        if let Some(promised) = shipment.promised_at {
            let threshold = config.predicted_late_probability.get(&shipment.id.carrier);
            let low = |t| is_low(&outlook, promised, t, threshold);
            let from = now.max(judged_from(config, promised));
            if from < promised && (from > now || !low(now)) {
                let wait = config.threshold(Rule::PredictedLate, Some(&shipment.id.carrier));
                let at = if low(from) {
                    from
                } else {
                    crossing(from, promised, low)
                } + wait;
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
    }
    next
}

/// Whether the probability of delivery by `promised`, as seen at `t`, is below
/// `threshold` (an estimate that cannot be made is not low).
fn is_low(outlook: &Outlook, promised: DateTime<Utc>, t: DateTime<Utc>, threshold: f64) -> bool {
    outlook
        .p_delivered_by(promised, t)
        .is_some_and(|p| p < threshold)
}

/// The first instant of the grid `lo + k · CROSSING_PRECISION` (k ≥ 1, the
/// last point capped at `hi`) at which `low` holds, given that it is false at
/// `lo`, true at `hi`, and once true stays true. On a grid fixed by `lo`, the
/// answer does not depend on `hi` (once `hi` is past it): a condition's `since`
/// found at one check is found again at the next.
fn crossing(
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    low: impl Fn(DateTime<Utc>) -> bool,
) -> DateTime<Utc> {
    let step = CROSSING_PRECISION.num_seconds();
    let point = |k: i64| (lo + Duration::seconds(k * step)).min(hi);
    // Invariant: not low at point(a), low at point(b).
    let (mut a, mut b) = (0, ((hi - lo).num_seconds() + step - 1) / step);
    while b - a > 1 {
        let mid = a + (b - a) / 2;
        if low(point(mid)) {
            b = mid;
        } else {
            a = mid;
        }
    }
    point(b)
}

/// When `predicted_late` starts judging a parcel's chance: its horizon before
/// the promise, or registration when it has none.
fn judged_from(config: &RuleConfig, promised: DateTime<Utc>) -> DateTime<Utc> {
    config
        .predicted_late_horizon
        .map_or(DateTime::<Utc>::MIN_UTC, |h| promised - h)
}

fn predicted_late(
    shipment: &Shipment,
    config: &RuleConfig,
    outlook: &Outlook,
    now: DateTime<Utc>,
) -> Option<LaneCondition> {
    let promised = shipment.promised_at?;
    let carrier = &shipment.id.carrier;
    let threshold = config.predicted_late_probability.get(carrier);
    let wait = config.threshold(Rule::PredictedLate, Some(carrier));
    let condition = |since: DateTime<Utc>| LaneCondition {
        rule: Rule::PredictedLate,
        since,
        due: since + wait,
    };
    let held = shipment
        .alerts
        .get(&Rule::PredictedLate)
        .filter(|a| a.resolved_at.is_none());
    if let Some(a) = held {
        // Kept until the parcel catches up (or is delivered: no outlook then).
        return is_low(outlook, promised, now, threshold + HYSTERESIS).then(|| condition(a.since));
    }
    let low = |t| is_low(outlook, promised, t, threshold);
    let opens = judged_from(config, promised);
    if now >= promised || now < opens || !low(now) {
        return None;
    }
    let from = outlook.last_scan.max(opens).min(now);
    let since = if low(from) {
        from
    } else {
        crossing(from, now, low)
    };
    Some(condition(since))
}

/// `predicted_late` for a parcel that will not be delivered by its promise
/// because its way to the recipient has ended (see the module doc): `since` the
/// scan that diverted it, or the held alert's. `None` while the parcel is on its
/// way (the lane's chance decides), once its way has ended (delivered, back with
/// the sender, lost), or without a promise.
pub fn diverted(
    shipment: &Shipment,
    config: &RuleConfig,
    now: DateTime<Utc>,
) -> Option<LaneCondition> {
    let promised = shipment.promised_at?;
    if !config.is_enabled(Rule::PredictedLate)
        || shipment.timeline.current_status().is_terminal()
        || !shipment.timeline.events().iter().any(|e| {
            matches!(
                e.status,
                Status::Refused | Status::Returning | Status::Returned | Status::Lost
            )
        })
    {
        return None;
    }
    let at = Journey::of(shipment).diverted_at?;
    let held = shipment
        .alerts
        .get(&Rule::PredictedLate)
        .filter(|a| a.resolved_at.is_none());
    let since = match held {
        Some(a) => a.since,
        None if at < promised && now < promised => at,
        None => return None,
    };
    let wait = config.threshold(Rule::PredictedLate, Some(&shipment.id.carrier));
    Some(LaneCondition {
        rule: Rule::PredictedLate,
        since,
        due: since + wait,
    })
}

fn slow_lane(
    shipment: &Shipment,
    config: &RuleConfig,
    view: &LaneView,
    outlook: &Outlook,
) -> Option<LaneCondition> {
    if shipment.timeline.is_empty() || matches!(outlook.stage, Stage::Registered | Stage::AtLocker)
    {
        return None;
    }
    // A problem the carrier reported has its own rule, which says more; and a
    // parcel back on its way after one in this stage (re-sorted, waiting for
    // the next departure out of the lane's rhythm) is left to `stalled` until
    // it moves on: its silence says nothing about its lane.
    let problem = |status: Status| matches!(status, Status::DeliveryFailed | Status::Exception);
    if problem(shipment.timeline.current_status())
        || shipment
            .timeline
            .events()
            .iter()
            .any(|e| e.at >= outlook.entered && problem(e.status))
    {
        return None;
    }
    let carrier = Some(&shipment.id.carrier);
    let q = config.slow_lane_quantile.get(&shipment.id.carrier);
    let (gaps, _) = view.learned_gaps(outlook.stage.gaps_of(), samples_for(q))?;
    let guard = (GUARD_BUCKETS / crate::sketch::PER_DOUBLING).exp2();
    let usual = gaps.inverse(q)? * guard;
    let limit = Duration::seconds((usual * 60.0).round() as i64)
        .max(config.threshold(Rule::SlowLane, carrier));
    if config.is_enabled(Rule::Stalled) && limit >= config.threshold(Rule::Stalled, carrier) {
        return None;
    }
    Some(LaneCondition {
        rule: Rule::SlowLane,
        since: outlook.last_scan,
        due: outlook.last_scan + limit,
    })
}

#[cfg(test)]
#[path = "lane_rules_tests.rs"]
mod tests;
