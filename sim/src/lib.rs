//! The simulated carrier: a deterministic, seeded generator of realistic Chinese
//! parcel lifecycles with injected anomalies and the ground truth of which rule
//! should fire and when.
//!
//! - [`generate`] builds a [`Fleet`] from a [`FleetConfig`]. Parcel `i` depends only
//!   on `(seed, i)` (a ChaCha8 stream per parcel), so a fleet of 10 is the prefix of
//!   a fleet of 100k.
//! - [`SimParcel::reply_json`] renders what the carrier has said by `now` as a real
//!   Kdniao 8001 / 1002 or Kuaidi100 (`resultv2=4`) reply; [`SimCarrier`] answers
//!   the [`shared::ports::CarrierQuery`] port by running that reply through the real
//!   normaliser ([`shared::normalise::parse_reply`]).
//! - [`SimParcel::expected`] is the independent oracle (see [`truth`]).
//!
//! # The model and where its numbers come from
//!
//! Sources are `/work/shared/protocols/fleet-facts.md` (FF) sections and its
//! "What this means for the simulator" points (P1-P5). All are assumptions.
//!
//! - **Carriers** (FF A5, low confidence for the tail): ZTO 0.20, YTO 0.16, YD 0.14,
//!   JTSD 0.14, STO 0.13, SF 0.09, JD 0.07, EMS 0.07. Tracking numbers have the
//!   carriers' real shapes and embed a 9-digit bijection of the parcel index, so they
//!   are unique per fleet (for fewer than 10^9 parcels) without shared state.
//! - **Geography**: 37 cities ([`geo::CITIES`]); origins weighted towards 浙江, 广东,
//!   江苏, 上海, 福建. The lane class is drawn first (same city 10%, then the P1
//!   cross-city mix 0.30 / 0.26 / 0.40 / 0.04 for same province / regional /
//!   cross-country / remote) and a destination of that class is drawn by weight
//!   (falling back to a farther class when the origin has none, e.g. 上海 has no
//!   other city in its province).
//! - **Total time** collection → delivery-or-locker-drop: lognormal per lane class
//!   (P1: medians 20/34/46/60/120 h, σ 0.35/0.35/0.35/0.25/0.35), median × 0.75 for SF
//!   and JD, × 1.2 for EMS. Split into stages (P2: origin 15%, line haul 61%,
//!   destination 18%, delivery 5%, each ×U(0.7, 1.3)); the delivery stage is
//!   clamped to 0.5-8 h. The out-for-delivery scan is then snapped to the 07:30-10:00
//!   window of the day *nearest* the target (so the mean is not biased upwards),
//!   and the three earlier stages share what is left, with origin processing capped
//!   at 20 h and destination processing at 30 h (the rest is line haul).
//! - **Hubs** per class (P3): 1 / 1-2 / 2 / 2-3 / 3-4; middle hubs are national
//!   transit cities. A line-haul gap of 36 h or more gets an extra hub arrive/depart
//!   pair (a "运输中" re-scan), so a healthy parcel never goes 40 h without a trace.
//!   Duplicate hub scans with p = 0.1, 5 s to 5 min later (P3, FF B1 #4).
//! - **Clock times** (P2): pickup 0.5-12 h after shipping, moved out of 22:00-07:00
//!   when that stays within 12 h; 派件 starts 07:30-10:00; signatures, locker and
//!   station drops fall in 08:00-20:00.
//! - **Final mile** (P4): 50% to a locker or 驿站, waiting lognormal(median 4 h,
//!   σ 1.0), clamped to 36 h and resampled until the collection falls in 08:00-20:00.
//! - **Promises**: 40% of parcels have none; otherwise 12-60 h after the *planned*
//!   (healthy) final event, rounded up to the hour. Anomalies keep the planned
//!   promise, so `late` can legitimately also fire for a delayed parcel.
//! - **Anomalies** (P5 orders of magnitude, flattened so every kind shows up in a
//!   small demo): see [`Anomaly`] and `fleet/anomaly.rs`. Shifts that move a parcel's later
//!   life (hub stuck, stall, exception) move it by whole days so every later scan
//!   keeps its clock-time window. Hub-stuck dwell is therefore 30-80 h using 1-3
//!   whole days; stall gaps are 52-110 h. Return legs use 6-22 h gaps (below the
//!   hub-dwell threshold, in case the normaliser treats "退回件到达【…转运中心】" as a
//!   hub scan).
//! - **Late**: promise 6-30 h before the final event, at least 12 h after shipping;
//!   if a short lifecycle makes both impossible, 1 h before the final event.

pub mod bench;
pub mod carrier;
pub mod direct;
pub mod fleet;
pub mod geo;
pub mod render;
pub mod truth;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};

use shared::rules::RuleConfig;

pub use carrier::SimCarrier;
pub use direct::DirectSimCarrier;
pub use fleet::{
    generate, Anomaly, Fleet, FleetConfig, ReplyFormat, SimEvent, SimKind, SimParcel, NO_SITE,
};
pub use geo::LaneClass;
pub use truth::Expectation;

impl SimParcel {
    /// The carrier's reply as of `now`: only events at or before `now`, in this
    /// parcel's [`ReplyFormat`]. Before the first event (and always for a wrong
    /// number) it is the carrier's "nothing known" reply.
    pub fn reply_json(&self, now: DateTime<Utc>) -> String {
        render::reply_json(self, now)
    }

    /// The findings the pipeline must produce for this parcel up to `horizon`: per
    /// (rule, severity), the first instant it is due and its `since`. Computed from
    /// the simulated events alone (see [`truth`]).
    pub fn expected(&self, config: &RuleConfig, horizon: DateTime<Utc>) -> Vec<Expectation> {
        truth::expected(self, config, horizon)
    }
}

impl Fleet {
    /// The ground truth of the whole fleet up to `horizon`, in the shape the
    /// detection score takes.
    pub fn expected(
        &self,
        config: &RuleConfig,
        horizon: DateTime<Utc>,
    ) -> Vec<shared::report::Expected> {
        self.parcels
            .iter()
            .flat_map(|p| {
                p.expected(config, horizon)
                    .into_iter()
                    .map(|e| shared::report::Expected {
                        shipment: p.id.clone(),
                        rule: e.rule,
                        severity: e.severity,
                        due_at: e.due_at,
                        required: e.required,
                    })
            })
            .collect()
    }
}
