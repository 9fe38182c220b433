//! How the lane rules did (issue 17), scored apart from the fixed rules' table:
//! they answer other questions, and the ground truth of [`crate::truth`] (the
//! fixed rules' semantics) has no expectation of its own for them.
//!
//! - `predicted_late` is judged against the fixed `late` rule's truth: a parcel is
//!   late when the oracle expects `late` for it (not delivered by its promise).
//!   Judged are the parcels promised between the end of the warm-up + 24 h and
//!   the judging instant, so a flag 24 h ahead was possible after the lanes had
//!   learned. Recall at 24 h: late parcels whose first `predicted_late` came at
//!   least 24 h before the promise. Precision: flagged parcels that were late.
//!   The most any prediction could flag a day ahead: the late parcels the
//!   simulator's record tells apart from their healthy journey at least 24 h
//!   before the promise ([`crate::SimParcel::told_apart_at`]); the others looked
//!   healthy until less than a day before it.
//! - `slow_lane` is judged on the silences the oracle expects `stalled` for (due
//!   after the warm-up): found when a `slow_lane` episode of the same silence
//!   (same `since`) came, its lead the time from it to the `stalled` alert. A
//!   `slow_lane` alert is true when its silence (from its `since` to the next
//!   scan) turned out a problem: a fixed rule about a parcel that does not move
//!   (`stalled`, `hub_dwell`, `out_for_delivery_stuck`) came due within it, or
//!   the scan that ended it reported one (a failed attempt, a problem parcel, a
//!   refusal, a return, a loss).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use shared::domain::{Rule, Status};
use shared::places::LaneClass;

use super::metrics::{EpisodeLog, Scores, Truth};
use crate::Fleet;

/// How far ahead of its promise a late parcel must be flagged to count.
pub const LEAD_WANTED: Duration = Duration::hours(24);

/// The lane rules' figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaneScores {
    /// Late parcels judged, flagged at least 24 h ahead, flagged before the promise.
    pub late: u64,
    pub late_flagged_24h: u64,
    pub late_flagged: u64,
    /// Late parcels told apart from a healthy journey at least 24 h before the
    /// promise, and of them flagged at least 24 h ahead.
    pub late_knowable_24h: u64,
    pub knowable_flagged_24h: u64,
    /// Parcels judged that `predicted_late` flagged, and of them the late ones.
    pub flagged: u64,
    pub flagged_late: u64,
    /// Silences judged (expected `stalled`), and those `slow_lane` found first.
    pub stalls: u64,
    pub stalls_found: u64,
    /// Leads of `slow_lane` over `stalled`, hours, ascending: all, fast lanes
    /// (same city or province).
    pub leads_h: Vec<f64>,
    pub fast_leads_h: Vec<f64>,
    /// `slow_lane` alert episodes after the warm-up, and the true ones.
    pub slow_alerts: u64,
    pub slow_true: u64,
    /// The false ones by the anomaly the simulator injected (`"none"`: healthy).
    pub slow_false_by_anomaly: BTreeMap<&'static str, u64>,
    /// `predicted_late` by the anomaly the simulator injected (`"none"`: healthy):
    /// what made the late parcels late and which of them were flagged in time, and
    /// whose on-time parcels were flagged.
    pub predicted_late_by_anomaly: BTreeMap<&'static str, LateByAnomaly>,
    /// `predicted_late`'s first flags by how long before the promise they came
    /// ([`LEAD_BANDS`]): how many, and of them the late parcels.
    pub flags_by_lead: [FlagsAtLead; LEAD_BANDS.len()],
}

/// The bands of a first flag's lead over the promise, hours: at least the first
/// bound, else at least the next, down to the last band (under 6 h).
pub const LEAD_BANDS: [i64; 4] = [24, 12, 6, 0];

/// First flags in one band of leads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlagsAtLead {
    pub flagged: u64,
    pub late: u64,
}

/// `predicted_late` on the parcels of one injected anomaly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LateByAnomaly {
    /// Late parcels, and of them flagged at least 24 h before the promise.
    pub late: u64,
    pub late_flagged_24h: u64,
    /// Parcels flagged that were not late.
    pub false_flags: u64,
}

fn share(n: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| n as f64 / of as f64)
}

fn median(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v[(v.len() - 1) / 2])
}

impl LaneScores {
    pub fn predicted_late_recall_24h(&self) -> Option<f64> {
        share(self.late_flagged_24h, self.late)
    }

    /// The share of late parcels any prediction could have flagged 24 h ahead.
    pub fn predicted_late_knowable_24h(&self) -> Option<f64> {
        share(self.late_knowable_24h, self.late)
    }

    /// Recall at 24 h among the late parcels that could be flagged then.
    pub fn predicted_late_recall_24h_of_knowable(&self) -> Option<f64> {
        share(self.knowable_flagged_24h, self.late_knowable_24h)
    }

    pub fn predicted_late_recall(&self) -> Option<f64> {
        share(self.late_flagged, self.late)
    }

    pub fn predicted_late_precision(&self) -> Option<f64> {
        share(self.flagged_late, self.flagged)
    }

    /// `predicted_late`'s first flags by band of lead: each band's lower bound
    /// (hours before the promise, [`LEAD_BANDS`]) and its flags.
    pub fn flags_by_lead_band(&self) -> impl Iterator<Item = (i64, FlagsAtLead)> + '_ {
        LEAD_BANDS.into_iter().zip(self.flags_by_lead)
    }

    pub fn slow_lane_found(&self) -> Option<f64> {
        share(self.stalls_found, self.stalls)
    }

    pub fn slow_lane_median_lead_h(&self) -> Option<f64> {
        median(&self.leads_h)
    }

    pub fn slow_lane_fast_median_lead_h(&self) -> Option<f64> {
        median(&self.fast_leads_h)
    }

    pub fn slow_lane_precision(&self) -> Option<f64> {
        share(self.slow_true, self.slow_alerts)
    }

    /// The fixed rules' precision with the `slow_lane` alerts counted in.
    pub fn overall_precision_with_slow_lane(&self, fixed: &Scores) -> Option<f64> {
        share(
            fixed.overall.true_alerts + self.slow_true,
            fixed.overall.alerts + self.slow_alerts,
        )
    }
}

/// Scores the lane rules' episodes of a run from `start`, judged up to `until`.
pub fn score(
    fleet: &Fleet,
    truth: &[Truth],
    episodes: &EpisodeLog,
    start: DateTime<Utc>,
    warm_up: Duration,
    until: DateTime<Utc>,
) -> LaneScores {
    let warm = (start + warm_up).timestamp();
    let until = until.timestamp();
    let mut out = LaneScores::default();

    // predicted_late: the first flag of each parcel.
    let mut first_flag: HashMap<u32, i64> = HashMap::new();
    let mut slow: HashMap<(u32, i64), i64> = HashMap::new();
    let mut stalled: HashMap<(u32, i64), i64> = HashMap::new();
    for e in episodes.episodes() {
        match e.rule {
            Rule::PredictedLate => {
                let t = first_flag.entry(e.parcel).or_insert(e.at);
                *t = (*t).min(e.at);
            }
            Rule::SlowLane => {
                slow.insert((e.parcel, e.since), e.at);
            }
            Rule::Stalled => {
                stalled.insert((e.parcel, e.since), e.at);
            }
            _ => {}
        }
    }
    let late: HashSet<u32> = truth
        .iter()
        .filter(|t| t.rule == Rule::Late)
        .map(|t| t.parcel)
        .collect();
    let judged = |promise: i64| promise >= warm + LEAD_WANTED.num_seconds() && promise <= until;
    for p in &fleet.parcels {
        let Some(promise) = p.promised_at.map(|t| t.timestamp()) else {
            continue;
        };
        if !judged(promise) {
            continue;
        }
        let flag = first_flag.get(&p.index).copied();
        let is_late = late.contains(&p.index);
        let in_time = flag.is_some_and(|f| f <= promise - LEAD_WANTED.num_seconds());
        let anomaly = p.anomaly.map_or("none", |a| a.as_str());
        let by = out.predicted_late_by_anomaly.entry(anomaly).or_default();
        if is_late {
            out.late += 1;
            out.late_flagged_24h += u64::from(in_time);
            out.late_flagged += u64::from(flag.is_some_and(|f| f < promise));
            let knowable = p
                .told_apart_at
                .is_some_and(|t| t.timestamp() <= promise - LEAD_WANTED.num_seconds());
            out.late_knowable_24h += u64::from(knowable);
            out.knowable_flagged_24h += u64::from(knowable && in_time);
            by.late += 1;
            by.late_flagged_24h += u64::from(in_time);
        }
        if let Some(f) = flag {
            let lead_h = (promise - f) / 3600;
            let band = LEAD_BANDS
                .iter()
                .position(|&b| lead_h >= b)
                .unwrap_or(LEAD_BANDS.len() - 1);
            out.flags_by_lead[band].flagged += 1;
            out.flags_by_lead[band].late += u64::from(is_late);
            out.flagged += 1;
            out.flagged_late += u64::from(is_late);
            by.false_flags += u64::from(!is_late);
        }
    }

    // slow_lane against the stalls.
    let stuck: HashMap<u32, Vec<i64>> = truth
        .iter()
        .filter(|t| {
            matches!(
                t.rule,
                Rule::Stalled | Rule::HubDwell | Rule::OutForDeliveryStuck
            )
        })
        .fold(HashMap::new(), |mut m, t| {
            m.entry(t.parcel).or_default().push(t.due);
            m
        });
    let turned_bad = |parcel: u32, since: i64| -> bool {
        let Some(p) = fleet.parcels.get(parcel as usize) else {
            return false;
        };
        let next = p.events.iter().find(|e| e.at.timestamp() > since);
        let end = next.map_or(i64::MAX, |e| e.at.timestamp());
        let due_within = stuck
            .get(&parcel)
            .is_some_and(|d| d.iter().any(|&d| d >= since && d <= end));
        let reported = next.is_some_and(|e| {
            matches!(
                e.kind.status(),
                Status::DeliveryFailed
                    | Status::Exception
                    | Status::Refused
                    | Status::Returning
                    | Status::Returned
                    | Status::Lost
            )
        });
        due_within || reported
    };
    for t in truth.iter().filter(|t| t.rule == Rule::Stalled) {
        if !t.required || t.due < warm || t.due > until {
            continue;
        }
        out.stalls += 1;
        let Some(&found) = slow.get(&(t.parcel, t.since)) else {
            continue;
        };
        out.stalls_found += 1;
        let told = stalled.get(&(t.parcel, t.since)).copied().unwrap_or(t.due);
        let lead = (told - found) as f64 / 3600.0;
        out.leads_h.push(lead);
        let fast = fleet
            .parcels
            .get(t.parcel as usize)
            .is_some_and(|p| matches!(p.lane, LaneClass::SameCity | LaneClass::SameProvince));
        if fast {
            out.fast_leads_h.push(lead);
        }
    }
    for (&(parcel, since), &at) in &slow {
        if at < warm {
            continue;
        }
        out.slow_alerts += 1;
        let ok = turned_bad(parcel, since);
        out.slow_true += u64::from(ok);
        if !ok {
            let anomaly = fleet
                .parcels
                .get(parcel as usize)
                .and_then(|p| p.anomaly)
                .map_or("none", |a| a.as_str());
            *out.slow_false_by_anomaly.entry(anomaly).or_default() += 1;
        }
    }
    out.leads_h.sort_by(f64::total_cmp);
    out.fast_leads_h.sort_by(f64::total_cmp);
    out
}
