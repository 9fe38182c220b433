//! How well Sentinel's estimated delivery does on the fleet: after a warm-up in
//! which the lanes learn, every [`EVERY`] of virtual time, the ETA of every parcel
//! the store holds in flight (as the api and `sentinel list` would show it, from
//! the stored timeline and what the store's lanes have learned by then) is judged
//! against the simulator's truth: the instant the recipient has the parcel
//! ([`crate::SimParcel::delivered_at`], which may lie beyond the run's end).
//! Parcels that never reach their recipient (lost, returned, refused, never
//! picked up) are not judged: an estimated delivery has nothing to be right about.

use chrono::{DateTime, Duration, Utc};

use shared::lanes::LaneViews;
use shared::ports::ShipmentReader;
use shared::sketch::Sketch;
use shared::store::memory::MemoryStore;

use crate::Fleet;

/// Estimates are judged from this long after the run starts.
pub const WARM_UP: Duration = Duration::days(7);
/// How often every parcel in flight is judged.
pub const EVERY: Duration = Duration::hours(6);

/// One delivered parcel's estimates, judged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Judged {
    /// Estimates judged, and how many of them the delivery came by the p90 / p50 of.
    estimates: u32,
    p90: u32,
    p50: u32,
    /// The anomaly the simulator injected into it, if any.
    anomaly: Option<&'static str>,
    /// The store knows it delivered or diverted: nothing more to judge.
    done: bool,
}

impl Judged {
    fn share(&self, covered: u32) -> f64 {
        f64::from(covered) / f64::from(self.estimates)
    }
}

/// Judged estimates, counted.
///
/// Coverage is given per delivery (the headline: each delivered parcel weighs
/// one, whatever the number of estimates it was judged at, as "the p90 covers
/// 90 % of deliveries" reads) and per estimate (a parcel weighs by the instants
/// it was in flight at, so slow and stuck parcels, judged more often, weigh more).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prediction {
    /// Estimates judged (a parcel counts once per instant it is judged at).
    pub judged: u64,
    /// Of those, estimated from a learned lane (not the published figures).
    pub from_lanes: u64,
    /// Estimates whose p90 / p50 the delivery came by.
    pub p90_covered: u64,
    pub p50_covered: u64,
    /// |p50 − delivery|, minutes, per estimate.
    pub p50_abs_error_min: Sketch,
    pub p50_abs_error_sum_min: f64,
    /// Instants judged at.
    pub instants: u64,
    /// CPU and wall seconds spent judging (not counted as Sentinel's).
    pub cpu_s: f64,
    pub wall_s: f64,
    /// By fleet index.
    parcels: Vec<Judged>,
}

impl Prediction {
    /// Whether `now` (a tick of a run from `start`) is an instant to judge at.
    pub fn due(start: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let since = now - start;
        since >= WARM_UP && since.num_seconds() % EVERY.num_seconds() == 0
    }

    /// Judges the estimate of every parcel of `fleet` registered by `now` that
    /// `store` holds in flight and that is delivered some day.
    pub async fn judge(&mut self, fleet: &Fleet, store: &MemoryStore, now: DateTime<Utc>) {
        self.instants += 1;
        if self.parcels.len() < fleet.len() {
            self.parcels.resize(fleet.len(), Judged::default());
        }
        let mut views = LaneViews::new(now);
        for p in &fleet.parcels {
            if p.registered_at > now {
                continue;
            }
            let Some(truth) = p.delivered_at() else {
                continue;
            };
            let Some(parcel) = self.parcels.get_mut(p.index as usize) else {
                continue;
            };
            if parcel.done {
                continue;
            }
            let Ok(Some(stored)) = store.get_shipment(&p.id).await else {
                continue;
            };
            let Some(eta) = views.get(store, &stored).await.eta(&stored, now) else {
                // Delivered or diverted, as the store knows it: for good.
                parcel.done = true;
                continue;
            };
            let (p90, p50) = (truth <= eta.p90, truth <= eta.p50);
            parcel.estimates += 1;
            parcel.p90 += u32::from(p90);
            parcel.p50 += u32::from(p50);
            parcel.anomaly = p.anomaly.map(|a| a.as_str());
            self.judged += 1;
            self.from_lanes += u64::from(eta.source.lane.is_some());
            self.p90_covered += u64::from(p90);
            self.p50_covered += u64::from(p50);
            let error = (truth - eta.p50).num_seconds().abs() as f64 / 60.0;
            self.p50_abs_error_min.add(error);
            self.p50_abs_error_sum_min += error;
        }
    }

    fn per_estimate(&self, n: u64) -> Option<f64> {
        (self.judged > 0).then(|| n as f64 / self.judged as f64)
    }

    /// The mean over delivered parcels (those `keep` keeps) of the share of
    /// their estimates `covered` counts.
    fn per_delivery(
        &self,
        keep: impl Fn(&Judged) -> bool,
        covered: impl Fn(&Judged) -> u32,
    ) -> Option<f64> {
        let judged: Vec<&Judged> = self
            .parcels
            .iter()
            .filter(|j| j.estimates > 0 && keep(j))
            .collect();
        (!judged.is_empty())
            .then(|| judged.iter().map(|j| j.share(covered(j))).sum::<f64>() / judged.len() as f64)
    }

    /// Per injected anomaly (`"none"`: parcels without one): how many delivered
    /// parcels were judged, and the p90's coverage over them.
    pub fn p90_coverage_by_anomaly(&self) -> Vec<(&'static str, usize, f64)> {
        let mut by: std::collections::BTreeMap<&'static str, (usize, f64)> = Default::default();
        for j in self.parcels.iter().filter(|j| j.estimates > 0) {
            let e = by.entry(j.anomaly.unwrap_or("none")).or_default();
            e.0 += 1;
            e.1 += j.share(j.p90);
        }
        by.into_iter()
            .map(|(k, (n, sum))| (k, n, sum / n as f64))
            .collect()
    }

    /// Delivered parcels judged at least once.
    pub fn deliveries(&self) -> usize {
        self.parcels.iter().filter(|j| j.estimates > 0).count()
    }

    /// The share of deliveries at or before the p90 (about 0.9 when
    /// calibrated), each delivered parcel weighing one.
    pub fn p90_coverage(&self) -> Option<f64> {
        self.per_delivery(|_| true, |j| j.p90)
    }

    /// The same, over the parcels the simulator injected no anomaly into.
    pub fn p90_coverage_healthy(&self) -> Option<f64> {
        self.per_delivery(|j| j.anomaly.is_none(), |j| j.p90)
    }

    pub fn p50_coverage(&self) -> Option<f64> {
        self.per_delivery(|_| true, |j| j.p50)
    }

    /// The share of estimates the delivery came by the p90 of.
    pub fn p90_coverage_per_estimate(&self) -> Option<f64> {
        self.per_estimate(self.p90_covered)
    }

    pub fn p50_coverage_per_estimate(&self) -> Option<f64> {
        self.per_estimate(self.p50_covered)
    }

    /// The share of estimates from a learned lane.
    pub fn from_lanes_share(&self) -> Option<f64> {
        self.per_estimate(self.from_lanes)
    }

    /// The median of |p50 − delivery| over estimates, hours.
    pub fn p50_abs_error_h(&self) -> Option<f64> {
        self.p50_abs_error_min.quantile(0.5).map(|m| m / 60.0)
    }

    /// The mean of |p50 − delivery| over estimates, hours.
    pub fn p50_mean_abs_error_h(&self) -> Option<f64> {
        (self.judged > 0).then(|| self.p50_abs_error_sum_min / self.judged as f64 / 60.0)
    }
}
