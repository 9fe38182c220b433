//! Lane statistics: what delivered parcels teach about the time a lane takes,
//! and what that says about a parcel still in flight (issue 17,
//! `docs/prediction-plan.md`).
//!
//! A parcel's **route** is where it leaves from and where it goes: the
//! registration's `origin` / `destination`, else the first and last cities its
//! traces name. Its **lanes** are that route at three levels of detail, most
//! specific first: (carrier, origin city, destination city), (carrier, origin
//! province, destination province), (carrier); below them, the **prior** from the
//! published figures (`../shared/protocols/fleet-facts.md`: transit time by lane
//! class, split over the stages by the SPB shares).
//!
//! Its **journey** is the effective timeline read as stages: registered → picked
//! up → line haul (→ its last leg, from a departure for a hub of the destination
//! city) → at the destination city → out for delivery (→ in a locker or station)
//! → delivered. A delivered parcel's **lesson** is, for each stage it
//! entered, the time from entering it to delivery and its two parts (the stay
//! in the stage, and the time from leaving it to delivery), and the gaps between its
//! consecutive scans by stage (and apart, those begun by a departure scan: legs
//! between hubs, whose usual length is not a wait's): sketches ([`crate::sketch::Sketch`], minutes)
//! that add up across parcels, and how its pace so far related to the time left
//! ([`crate::pace::Moments`]). All of it is a pure function of the shipment.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use chrono::Datelike;

use crate::calibration::Calibration;
use crate::domain::{CarrierCode, Shipment, Status};
use crate::pace::Moments;
use crate::places::LaneClass;
use crate::sketch::Sketch;
use crate::tally::{Scope, Tally};
use crate::time::china;

mod journey;
mod outlook;

pub use journey::{Journey, Route};
pub use outlook::{Eta, LaneCache, LaneView, LaneViews, Outlook, Source};

/// Below this many samples a lane level is not trusted: the next, broader one
/// answers (and, below them all, the prior).
pub const MIN_SAMPLES: i64 = 30;

/// Where a parcel is on its way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Registered, not picked up yet.
    Registered,
    /// Picked up, still in the origin city's network.
    PickedUp,
    /// On the line haul between hubs.
    LineHaul,
    /// On the line haul's last leg: departed for a hub of the destination city
    /// (the departure scan names it).
    LastLeg,
    /// Arrived at the destination city.
    AtDestination,
    OutForDelivery,
    /// A delivery attempt failed: waiting for the next one (usually the next
    /// day; Kdniao 419 redelivery).
    Redelivery,
    /// In a parcel locker or station (驿站), waiting for the recipient.
    AtLocker,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::Registered,
        Stage::PickedUp,
        Stage::LineHaul,
        Stage::LastLeg,
        Stage::AtDestination,
        Stage::OutForDelivery,
        Stage::Redelivery,
        Stage::AtLocker,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Registered => "registered",
            Stage::PickedUp => "picked_up",
            Stage::LineHaul => "line_haul",
            Stage::LastLeg => "last_leg",
            Stage::AtDestination => "at_destination",
            Stage::OutForDelivery => "out_for_delivery",
            Stage::Redelivery => "redelivery",
            Stage::AtLocker => "at_locker",
        }
    }

    /// The stage whose gaps between scans this one's are counted with: the last
    /// leg's are the line haul's (one leg, too few to learn apart).
    pub fn gaps_of(self) -> Stage {
        match self {
            Stage::LastLeg => Stage::LineHaul,
            other => other,
        }
    }

    /// Whether the stage is one wait for the scan that ends it (out for
    /// delivery, in a locker, waiting for the next attempt): its silence is its
    /// stay, which the lane's stays measure, not a pause in a way that goes on.
    pub fn is_one_wait(self) -> bool {
        matches!(
            self,
            Stage::OutForDelivery | Stage::AtLocker | Stage::Redelivery
        )
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The stage a status puts a parcel in; `None` for statuses that leave the
    /// stage as it was (an exception, customs) or end the journey.
    fn of(status: Status) -> Option<Stage> {
        match status {
            Status::Pending => Some(Stage::Registered),
            Status::PickedUp => Some(Stage::PickedUp),
            Status::InTransit | Status::Redirected => Some(Stage::LineHaul),
            Status::ArrivedAtDestinationCity => Some(Stage::AtDestination),
            Status::OutForDelivery => Some(Stage::OutForDelivery),
            Status::DeliveryFailed => Some(Stage::Redelivery),
            Status::AwaitingCollection => Some(Stage::AtLocker),
            Status::CustomsClearance
            | Status::Exception
            | Status::Delivered
            | Status::Refused
            | Status::Returning
            | Status::Returned
            | Status::Lost => None,
        }
    }
}

/// A lane at one level of detail; its [`LaneKey::key`] names its counters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LaneKey {
    Cities {
        carrier: CarrierCode,
        from: String,
        to: String,
    },
    Provinces {
        carrier: CarrierCode,
        from: String,
        to: String,
    },
    /// All of a carrier's lanes of one class (between the province and the
    /// carrier levels: a carrier's same-city and remote parcels differ
    /// five-fold, so the carrier level alone suits neither).
    Class {
        carrier: CarrierCode,
        class: LaneClass,
    },
    Carrier(CarrierCode),
}

impl LaneKey {
    /// The levels a parcel's lane is known at, most specific first.
    pub fn levels(carrier: &CarrierCode, route: &Route) -> Vec<LaneKey> {
        let mut out = Vec::with_capacity(3);
        let (o, d) = (route.origin.as_ref(), route.destination.as_ref());
        if let (Some(from), Some(to)) = (
            o.and_then(|p| p.city.clone()),
            d.and_then(|p| p.city.clone()),
        ) {
            out.push(LaneKey::Cities {
                carrier: carrier.clone(),
                from,
                to,
            });
        }
        if let (Some(from), Some(to)) = (
            o.and_then(|p| p.province.clone()),
            d.and_then(|p| p.province.clone()),
        ) {
            out.push(LaneKey::Provinces {
                carrier: carrier.clone(),
                from,
                to,
            });
        }
        if let Some(class) = route.class() {
            out.push(LaneKey::Class {
                carrier: carrier.clone(),
                class,
            });
        }
        out.push(LaneKey::Carrier(carrier.clone()));
        out
    }

    /// The lane's name in counter keys (`c:ZTO:杭州:乌鲁木齐`, `p:ZTO:浙江:新疆`,
    /// `l:ZTO:remote`, `k:ZTO`); places never hold `|` or `:` (they are Han
    /// characters).
    pub fn key(&self) -> String {
        match self {
            LaneKey::Cities { carrier, from, to } => format!("c:{carrier}:{from}:{to}"),
            LaneKey::Provinces { carrier, from, to } => format!("p:{carrier}:{from}:{to}"),
            LaneKey::Class { carrier, class } => format!("l:{carrier}:{}", class.as_str()),
            LaneKey::Carrier(c) => format!("k:{c}"),
        }
    }

    /// How people read it: `ZTO 杭州→乌鲁木齐`.
    pub fn label(&self) -> String {
        match self {
            LaneKey::Cities { carrier, from, to } | LaneKey::Provinces { carrier, from, to } => {
                format!("{carrier} {from}→{to}")
            }
            LaneKey::Class { carrier, class } => format!("{carrier} {}", class.zh()),
            LaneKey::Carrier(c) => c.to_string(),
        }
    }
}

/// What one lane level knows: per stage, the time from entering it to delivery
/// and the gaps between scans within it (minutes); at the carrier level, also how
/// its estimates fared ([`Calibration`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaneStats {
    pub remaining: BTreeMap<Stage, Sketch>,
    pub gaps: BTreeMap<Stage, Sketch>,
    /// Of `gaps`, those that began at a departure scan (legs between hubs).
    pub legs: BTreeMap<Stage, Sketch>,
    /// Per stage, how long parcels stayed in it (to the next stage's entry or
    /// delivery), and the time from leaving it to delivery: the two parts of
    /// `remaining`, read apart for a parcel still in the stage ([`Outlook`] reads them as its `Split`).
    pub stay: BTreeMap<Stage, Sketch>,
    pub after: BTreeMap<Stage, Sketch>,
    /// Per stage entered after pickup, how pace so far relates to the time left.
    pub pace: BTreeMap<Stage, Moments>,
    pub calibration: Calibration,
}

impl LaneStats {
    /// As counters (`r:{stage}|{bucket}`, `g:{stage}|{bucket}`, the legs'
    /// `l:{stage}|{bucket}`, the stays' `d:{stage}|{bucket}` and the times
    /// after them `x:{stage}|{bucket}`, the pace's
    /// moments `m:{stage}|{k}` and the calibration's `u|{percent}`), the names
    /// the lane scope of [`crate::tally`] keeps them under.
    pub fn counters(&self) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        for (metric, sketches) in [
            ("r", &self.remaining),
            ("g", &self.gaps),
            ("l", &self.legs),
            ("d", &self.stay),
            ("x", &self.after),
        ] {
            for (stage, sketch) in sketches {
                for (bucket, n) in sketch.counts() {
                    out.push((format!("{metric}:{}|{bucket}", stage.as_str()), *n));
                }
            }
        }
        for (stage, moments) in &self.pace {
            for (k, n) in moments.sums.iter().enumerate() {
                if *n != 0 {
                    out.push((format!("m:{}|{k}", stage.as_str()), *n));
                }
            }
        }
        out.extend(self.calibration.counters());
        out
    }

    /// One lane's statistics from counters read from a store (every week given
    /// merged); names that do not parse are passed over.
    pub fn from_tally(tally: &Tally, lane: &str) -> LaneStats {
        LaneStats::by_lane(tally, "")
            .remove(lane)
            .unwrap_or_default()
    }

    /// Every lane's statistics in counters read from a store, in one pass.
    /// The calibration counts only from weeks `calibrated_since` and later (ISO
    /// week names sort in time order): the estimates they judged change as the
    /// lanes learn, so only recent deliveries say how today's estimates fare.
    pub fn by_lane(
        tally: &Tally,
        calibrated_since: &str,
    ) -> std::collections::HashMap<String, LaneStats> {
        let mut out: std::collections::HashMap<String, LaneStats> = Default::default();
        for (key, n) in tally.iter() {
            let Scope::Lane { week, lane, name } = Scope::of(key) else {
                continue;
            };
            let Some((metric, bucket)) = name.split_once('|') else {
                continue;
            };
            let Ok(bucket) = bucket.parse::<u32>() else {
                continue;
            };
            if !out.contains_key(lane) {
                out.insert(lane.to_string(), LaneStats::default());
            }
            let Some(stats) = out.get_mut(lane) else {
                continue;
            };
            if metric == "u" {
                if week >= calibrated_since {
                    stats.calibration.add_count(bucket, n);
                }
                continue;
            }
            let Some((kind, stage)) = metric.split_once(':') else {
                continue;
            };
            let Some(stage) = Stage::parse(stage) else {
                continue;
            };
            if kind == "m" {
                stats.pace.entry(stage).or_default().add_count(bucket, n);
                continue;
            }
            let into = match kind {
                "r" => &mut stats.remaining,
                "g" => &mut stats.gaps,
                "l" => &mut stats.legs,
                "d" => &mut stats.stay,
                "x" => &mut stats.after,
                _ => continue,
            };
            into.entry(stage).or_default().add_count(bucket, n);
        }
        out
    }
}

/// The ISO week (China time) a delivery counts in: `2026-W49`.
pub fn week_of(t: DateTime<Utc>) -> String {
    let week = t.with_timezone(&china()).date_naive().iso_week();
    format!("{}-W{:02}", week.year(), week.week())
}

/// Weeks of deliveries a lane's statistics are read from: this one and the
/// four before, so a slow week shows within days and old behaviour leaves
/// after a month.
pub const WEEKS_READ: i64 = 5;

/// The weeks read at `now`, newest first.
pub fn window(now: DateTime<Utc>) -> Vec<String> {
    (0..WEEKS_READ)
        .map(|i| week_of(now - Duration::weeks(i)))
        .collect()
}

/// What a delivered parcel adds to each level of its lane; nothing for a parcel
/// not delivered (or delivered without a start: never).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lesson {
    pub lanes: Vec<LaneKey>,
    pub delivered_at: DateTime<Utc>,
    /// The sketches, which every level learns.
    pub stats: LaneStats,
    /// How the estimates fared for it (the shipment's `eta_pit`), which the
    /// carrier level alone learns: calibration is the carrier's, and the finer
    /// levels' items stay small.
    pub calibration: Calibration,
}

fn minutes(d: Duration) -> f64 {
    d.num_seconds() as f64 / 60.0
}

impl Lesson {
    pub fn of(shipment: &Shipment) -> Option<Lesson> {
        // Every stored write asks (the tally): most parcels are not delivered, and
        // only a delivered scan makes a delivery.
        if !shipment
            .timeline
            .events()
            .iter()
            .any(|e| e.status == Status::Delivered)
        {
            return None;
        }
        let journey = Journey::of(shipment);
        let delivered = journey.delivered_at?;
        let mut stats = LaneStats::default();
        for (stage, entered) in &journey.entries {
            if delivered >= *entered {
                stats
                    .remaining
                    .entry(*stage)
                    .or_default()
                    .add(minutes(delivered - *entered));
            }
        }
        for (k, (stage, entered)) in journey.entries.iter().enumerate() {
            let left = journey.entries.get(k + 1).map_or(delivered, |(_, at)| *at);
            if left >= *entered && delivered >= left {
                stats
                    .stay
                    .entry(*stage)
                    .or_default()
                    .add(minutes(left - *entered));
                stats
                    .after
                    .entry(*stage)
                    .or_default()
                    .add(minutes(delivered - left));
            }
        }
        for ((stage, gap), leg) in journey.gaps.iter().zip(&journey.gap_legs) {
            stats.gaps.entry(*stage).or_default().add(minutes(*gap));
            if *leg {
                stats.legs.entry(*stage).or_default().add(minutes(*gap));
            }
        }
        if let Some(picked_up) = journey.picked_up_at() {
            for (stage, entered) in &journey.entries {
                if *entered > picked_up && delivered > *entered {
                    stats
                        .pace
                        .entry(*stage)
                        .or_default()
                        .add(minutes(*entered - picked_up), minutes(delivered - *entered));
                }
            }
        }
        let mut calibration = Calibration::default();
        for pit in &shipment.eta_pit {
            calibration.add_count(u32::from(*pit), 1);
        }
        Some(Lesson {
            lanes: LaneKey::levels(&shipment.id.carrier, &Route::of(shipment)),
            delivered_at: delivered,
            stats,
            calibration,
        })
    }

    /// The counters this lesson adds to `lane`, one of its levels.
    pub fn counters_for(&self, lane: &LaneKey) -> Vec<(String, i64)> {
        let mut out = self.stats.counters();
        if matches!(lane, LaneKey::Carrier(_)) {
            out.extend(self.calibration.counters());
        }
        out
    }
}

/// The published figures, for a lane nothing has been learned about: the
/// lognormal transit time of its class (pickup to delivery; a carrier-wide mix
/// when the class is unknown), the SPB stage shares, and a pickup delay.
#[derive(Clone, Debug, PartialEq)]
pub struct Prior {
    pub class: Option<LaneClass>,
    median_h: f64,
    sigma: f64,
}

/// Share of the pickup-to-delivery time left on entering each stage (SPB 2024
/// Q2: origin 15 %, line haul 61 %, destination 18 %, delivery 5 %).
fn share_left(stage: Stage) -> f64 {
    match stage {
        Stage::Registered | Stage::PickedUp => 1.0,
        Stage::LineHaul => 0.85,
        // The last leg is all of the line haul on routes of one or two hubs (same
        // city to regional lanes), a half to a third of it on cross-country and
        // remote ones (fleet-facts point 3: 2-3 and 3-4 hubs): about three
        // quarters of the line haul's 0.61, with the 0.23 after it.
        Stage::LastLeg => 0.7,
        Stage::AtDestination => 0.23,
        Stage::OutForDelivery | Stage::Redelivery => 0.05,
        Stage::AtLocker => 0.0,
    }
}

/// Points of a prior's sketch (its quantiles at (i + ½) / n).
const PRIOR_POINTS: usize = 200;

impl Prior {
    pub fn of(carrier: &CarrierCode, route: &Route) -> Prior {
        let class = route.class();
        // The cross-city mix's median and spread when the class is unknown.
        let (median, sigma) = class.map_or((48.0, 0.45), LaneClass::median_sigma);
        // Faster and slower networks (fleet-facts: SF and JD about 0.75, EMS 1.2).
        let speed = match carrier.as_str() {
            "SF" | "JD" => 0.75,
            "EMS" => 1.2,
            _ => 1.0,
        };
        Prior {
            class,
            median_h: median * speed,
            sigma,
        }
    }

    /// The time from entering `stage` to delivery, as a sketch of the prior.
    pub fn remaining(&self, stage: Stage) -> Sketch {
        // Pickup comes 0.5–12 h after shipping; a locker waits about 4 h (σ 1).
        let (median_h, sigma, extra_h) = match stage {
            Stage::Registered => (self.median_h, self.sigma, 5.0),
            Stage::AtLocker => (4.0, 1.0, 0.0),
            // The next attempt, usually the next day (an assumption: the
            // published figures say how often, 2-3 %, not how long).
            Stage::Redelivery => (20.0, 0.5, 0.0),
            s => (self.median_h * share_left(s), self.sigma, 0.0),
        };
        lognormal_sketch(median_h, sigma, extra_h)
    }

    /// The gaps between scans within `stage`: a stage's own length is a loose
    /// bound on them (a prior only until the lane has its own gaps).
    pub fn gaps(&self, stage: Stage) -> Sketch {
        let (median_h, sigma) = match stage {
            Stage::Registered => (5.0, 0.8),
            Stage::PickedUp => (self.median_h * 0.15 / 2.0, 0.6),
            Stage::LineHaul | Stage::LastLeg => (self.median_h * 0.61 / 3.0, 0.6),
            Stage::AtDestination => (self.median_h * 0.18 / 2.0, 0.6),
            Stage::OutForDelivery => (self.median_h * 0.05, 0.6),
            Stage::Redelivery => (12.0, 0.8),
            Stage::AtLocker => (4.0, 1.0),
        };
        lognormal_sketch(median_h, sigma, 0.0)
    }
}

/// A sketch of `extra_h` + a lognormal (median, σ) in hours, in minutes.
fn lognormal_sketch(median_h: f64, sigma: f64, extra_h: f64) -> Sketch {
    let mut s = Sketch::default();
    for i in 0..PRIOR_POINTS {
        let p = (i as f64 + 0.5) / PRIOR_POINTS as f64;
        let hours = extra_h + median_h.max(0.1) * (sigma * normal_quantile(p)).exp();
        s.add(hours * 60.0);
    }
    s
}

/// The standard normal quantile (Acklam's rational approximation, |error| <
/// 1.2e-9), enough for a prior.
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Fixtures the tests of the lanes' modules share.
#[cfg(test)]
mod test_support {
    use super::*;
    use crate::domain::{ShipmentId, TrackingEvent};
    use chrono::TimeZone;

    pub(super) fn t(h: f64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::minutes((h * 60.0) as i64)
    }

    pub(super) fn scan(h: f64, status: Status, text: &str) -> TrackingEvent {
        TrackingEvent {
            at: t(h),
            text: text.to_string(),
            location: None,
            code: None,
            status,
            hub: None,
        }
    }

    /// Hangzhou to Urumqi, delivered after 80 h.
    pub(super) fn delivered() -> Shipment {
        let mut s = Shipment::new(ShipmentId::parse("ZTO", "75312345678901").unwrap(), t(0.0));
        s.shipped_at = Some(t(0.0));
        for e in [
            scan(3.0, Status::PickedUp, "【杭州市】浙江杭州余杭公司 已揽收"),
            scan(
                8.0,
                Status::InTransit,
                "快件离开【杭州转运中心】已发往【兰州转运中心】",
            ),
            scan(50.0, Status::InTransit, "快件已到达【乌鲁木齐转运中心】"),
            scan(
                66.0,
                Status::ArrivedAtDestinationCity,
                "快件已到达【乌鲁木齐市】天山区营业部",
            ),
            scan(76.0, Status::OutForDelivery, "【乌鲁木齐市】快递员正在派件"),
            scan(80.0, Status::Delivered, "已签收，签收人：本人"),
        ] {
            s.timeline.merge(vec![e]);
        }
        s.status = Status::Delivered;
        s
    }

    /// [`delivered`] as it stood after its first `n` scans, in `status`.
    pub(super) fn scanned(n: usize, status: Status) -> Shipment {
        let mut s = delivered();
        let all = s.timeline.events().to_vec();
        s.timeline = crate::domain::Timeline::new();
        s.timeline.merge(all[..n].to_vec());
        s.status = status;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[test]
    fn a_delivered_parcel_teaches_each_stage_its_time_to_delivery() {
        let lesson = Lesson::of(&delivered()).unwrap();
        assert_eq!(lesson.lanes.len(), 4);
        // One sample each, read back within the sketch's bucket (±4.4 %).
        let left = |stage| lesson.stats.remaining[&stage].inverse(0.5).unwrap() / 60.0;
        for (stage, hours) in [
            (Stage::Registered, 80.0),
            (Stage::LineHaul, 72.0),
            (Stage::OutForDelivery, 4.0),
        ] {
            assert!(
                (left(stage) / hours - 1.0).abs() < 0.045,
                "{stage:?}: {}",
                left(stage)
            );
        }
        assert_eq!(lesson.stats.gaps[&Stage::LineHaul].total(), 2);
        let legs = &lesson.stats.legs[&Stage::LineHaul];
        assert_eq!(legs.total(), 1);
        assert!((legs.inverse(0.5).unwrap() / 60.0 / 42.0 - 1.0).abs() < 0.045);
        assert_eq!(
            lesson.stats.legs.len(),
            1,
            "legs only where a departure began one"
        );
        // Each stage's time to delivery, split at the next stage's entry: the
        // line haul stayed 58 h (8 → 66 h) and then 14 h went to delivery; out
        // for delivery is left at delivery (nothing after it).
        let part = |sketches: &BTreeMap<Stage, Sketch>, stage| {
            sketches[&stage].inverse(0.5).unwrap() / 60.0
        };
        for (stage, stay, after) in [
            (Stage::Registered, 3.0, 77.0),
            (Stage::PickedUp, 5.0, 72.0),
            (Stage::LineHaul, 58.0, 14.0),
            (Stage::AtDestination, 10.0, 4.0),
        ] {
            assert!(
                (part(&lesson.stats.stay, stage) / stay - 1.0).abs() < 0.045,
                "{stage:?}"
            );
            assert!(
                (part(&lesson.stats.after, stage) / after - 1.0).abs() < 0.045,
                "{stage:?}"
            );
        }
        assert!((part(&lesson.stats.stay, Stage::OutForDelivery) / 4.0 - 1.0).abs() < 0.045);
        assert!(
            lesson.stats.after[&Stage::OutForDelivery]
                .quantile(1.0)
                .unwrap()
                < 1.1
        );
        assert_eq!(lesson.stats.stay.len(), 5);
        let mut in_flight = delivered();
        in_flight.timeline = crate::domain::Timeline::new();
        assert_eq!(Lesson::of(&in_flight), None);
    }

    #[test]
    fn a_lesson_goes_into_the_counters_of_its_lanes_and_comes_back() {
        let mut s = delivered();
        s.eta_pit = vec![12, 95, 95];
        let tally = Tally::of(&s);
        let week = week_of(t(80.0));
        assert_eq!(week, "2026-W45");
        let lanes: Vec<String> = LaneKey::levels(&s.id.carrier, &Route::of(&s))
            .iter()
            .map(LaneKey::key)
            .collect();
        let read = tally.lanes(&lanes, &window(t(100.0)));
        let lesson = Lesson::of(&s).unwrap();
        for lane in &lanes {
            let mut expected = lesson.stats.clone();
            // How the estimates fared goes to the carrier level only.
            if lane.starts_with("k:") {
                expected.calibration.add_count(12, 1);
                expected.calibration.add_count(95, 2);
            }
            assert_eq!(LaneStats::from_tally(&read, lane), expected, "{lane}");
        }
        // Calibration from weeks before the ones asked for is left out.
        let since_later = LaneStats::by_lane(&read, "2026-W46");
        assert_eq!(since_later["k:ZTO"].calibration.total(), 0);
        assert_eq!(since_later["k:ZTO"].remaining, lesson.stats.remaining);
        // Another week's or another lane's counters are not read.
        assert!(tally.lanes(&lanes, &["2026-W30".into()]).is_empty());
        assert!(tally
            .clone()
            .lanes(&["k:SF".into()], &window(t(100.0)))
            .is_empty());
        // The summary never sees them.
        let (from, to) = crate::tally::days_read(t(100.0));
        assert!(tally
            .within(from, to)
            .iter()
            .all(|(k, _)| !k.starts_with("lane|")));
    }

    #[test]
    fn the_window_is_five_weeks_newest_first() {
        assert_eq!(
            window(t(80.0)),
            ["2026-W45", "2026-W44", "2026-W43", "2026-W42", "2026-W41"]
        );
    }

    #[test]
    fn the_normal_quantile_is_right_where_it_matters() {
        for (p, z) in [
            (0.5, 0.0),
            (0.9, 1.281_551_6),
            (0.975, 1.959_964),
            (0.01, -2.326_347_9),
        ] {
            assert!((normal_quantile(p) - z).abs() < 1e-6, "{p}");
        }
    }
}
