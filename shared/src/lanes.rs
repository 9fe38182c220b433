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
use crate::places::{LaneClass, Place};
use crate::ports::{LaneQuery, StoreError};
use crate::sketch::{Cumulative, Sketch};
use crate::tally::{Scope, Tally};
use crate::time::china;

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

/// A parcel's way so far, read from its effective timeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Journey {
    /// Each stage entered, in order, and when (from its first entry).
    pub entries: Vec<(Stage, DateTime<Utc>)>,
    /// The gaps between consecutive scans on the way (registration to the
    /// first scan included), by the stage the parcel was in during the gap.
    pub gaps: Vec<(Stage, Duration)>,
    /// When each of `gaps` ended (the scan that ended it).
    pub gap_ends: Vec<DateTime<Utc>>,
    /// Whether each of `gaps` began at a departure scan (a leg between hubs,
    /// rather than a wait at one).
    pub gap_legs: Vec<bool>,
    /// Whether the newest scan is a departure: the silence since is a leg.
    pub on_a_leg: bool,
    /// The stage it is in, and when it entered it.
    pub current: Option<(Stage, DateTime<Utc>)>,
    /// The newest scan (or the start, before any).
    pub last_scan: DateTime<Utc>,
    /// When the carrier scanned it delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When a return, a refusal or a loss ended the way to the recipient (the
    /// scan that said so).
    pub diverted_at: Option<DateTime<Utc>>,
}

impl Journey {
    /// When the parcel was picked up (entered [`Stage::PickedUp`]), if it was
    /// scanned so.
    pub fn picked_up_at(&self) -> Option<DateTime<Utc>> {
        self.entries
            .iter()
            .find(|(stage, _)| *stage == Stage::PickedUp)
            .map(|(_, at)| *at)
    }

    pub fn of(shipment: &Shipment) -> Journey {
        let start = shipment.started_at();
        let mut j = Journey {
            entries: vec![(Stage::Registered, start)],
            current: Some((Stage::Registered, start)),
            last_scan: start,
            ..Journey::default()
        };
        let mut stage = Stage::Registered;
        // Where it goes, read (a pass over the timeline) only once a departure
        // names its next stop.
        let bound_for = std::cell::OnceCell::new();
        let toward_destination = |text: &str| {
            let Some(next) = crate::normalise::keywords::next_stop(text) else {
                return false;
            };
            let city: &Option<String> = bound_for.get_or_init(|| {
                Route::of(shipment)
                    .destination
                    .and_then(|p| p.city)
                    .map(|c| c.trim_end_matches('市').to_string())
                    .filter(|c| !c.is_empty())
            });
            city.as_deref().is_some_and(|city| next.starts_with(city))
        };
        for (e, status) in shipment.timeline.effective_statuses() {
            if j.delivered_at.is_some() || j.diverted_at.is_some() {
                break;
            }
            if e.at > j.last_scan {
                j.gaps.push((stage.gaps_of(), e.at - j.last_scan));
                j.gap_ends.push(e.at);
                j.gap_legs.push(j.on_a_leg);
            }
            if e.at >= j.last_scan {
                j.on_a_leg = crate::normalise::keywords::is_departure(&e.text);
            }
            j.last_scan = j.last_scan.max(e.at);
            match status {
                Status::Delivered => {
                    j.delivered_at = Some(e.at);
                    j.current = None;
                }
                Status::Refused | Status::Returning | Status::Returned | Status::Lost => {
                    j.diverted_at = Some(e.at);
                    j.current = None;
                }
                _ => {
                    let next = if status == Status::InTransit && toward_destination(&e.text) {
                        Some(Stage::LastLeg)
                    } else {
                        Stage::of(status)
                    };
                    if let Some(next) = next.filter(|s| *s != stage) {
                        // Stages only move forward: the next attempt after a
                        // failed one stays in redelivery, a scan that goes back (a
                        // re-sort at a hub) leaves the stage as it was.
                        if next > stage {
                            stage = next;
                            if !j.entries.iter().any(|(s, _)| *s == next) {
                                j.entries.push((next, e.at));
                            }
                            j.current = Some((next, e.at));
                        }
                    }
                }
            }
        }
        j
    }
}

/// Where a parcel leaves from and goes to, as far as known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    pub origin: Option<Place>,
    pub destination: Option<Place>,
}

impl Route {
    /// The registration's places, else those the traces name: the first place
    /// of the way for the origin; for the destination, the place of a scan at
    /// the destination city or later.
    pub fn of(shipment: &Shipment) -> Route {
        let place = |e: &crate::domain::TrackingEvent| {
            e.location
                .as_deref()
                .and_then(Place::parse)
                .or_else(|| Place::in_trace(&e.text))
        };
        let events = shipment.timeline.effective_statuses();
        let mut origin = shipment.origin.clone();
        let mut destination = shipment.destination.clone();
        for (e, status) in events {
            if origin.is_none() && matches!(status, Status::PickedUp | Status::Pending) {
                origin = place(e);
            }
            if shipment.destination.is_none()
                && matches!(
                    status,
                    Status::ArrivedAtDestinationCity
                        | Status::OutForDelivery
                        | Status::AwaitingCollection
                        | Status::Delivered
                )
            {
                if let Some(p) = place(e) {
                    destination = Some(p);
                }
            }
        }
        Route {
            origin,
            destination,
        }
    }

    pub fn class(&self) -> Option<LaneClass> {
        LaneClass::of(self.origin.as_ref()?, self.destination.as_ref()?)
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
    /// `remaining`, read apart for a parcel still in the stage ([`Split`]).
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

/// Where an estimate comes from: a lane level (its label and how many parcels it
/// learned from), or the prior.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Source {
    pub lane: Option<String>,
    pub samples: i64,
}

/// What is known for one parcel's lane: the learned levels (most specific
/// first) and the prior.
#[derive(Clone, Debug)]
pub struct LaneView {
    pub levels: Vec<(LaneKey, std::sync::Arc<LaneStats>)>,
    pub prior: Prior,
}

/// Estimated delivery: the times by which the parcel is delivered with
/// probability one half and nine tenths.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Eta {
    pub p50: DateTime<Utc>,
    pub p90: DateTime<Utc>,
    pub stage: Stage,
    #[serde(flatten)]
    pub source: Source,
}

impl Eta {
    /// As the api, the console and `sentinel track --json` give it: times in
    /// China time with their offset; `lane` is null and `samples` 0 when the
    /// estimate comes from the published figures.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "p50": crate::time::rfc3339(self.p50),
            "p90": crate::time::rfc3339(self.p90),
            "stage": self.stage.as_str(),
            "lane": self.source.lane,
            "samples": self.source.samples,
        })
    }
}

impl LaneView {
    /// What `store` has learned about `shipment`'s lane, or, when the store
    /// cannot say, what the published figures say (the estimate is advisory: a
    /// failed read is logged, not passed on).
    pub async fn load_or_prior<S: LaneQuery>(
        store: &S,
        shipment: &Shipment,
        now: DateTime<Utc>,
    ) -> LaneView {
        match LaneView::load(store, shipment, now).await {
            Ok(view) => view,
            Err(e) => {
                tracing::warn!(error = %e, "lane statistics unreadable; the ETA uses the published figures");
                LaneView::prior_only(shipment)
            }
        }
    }

    /// What `store` has learned about `shipment`'s lane, at every level, over the
    /// weeks read at `now`: one read (an empty [`LaneCache`] reads every level).
    pub async fn load<S: LaneQuery>(
        store: &S,
        shipment: &Shipment,
        now: DateTime<Utc>,
    ) -> Result<LaneView, StoreError> {
        LaneCache::default().get(store, shipment, now).await
    }

    /// A view that knows only the prior (nothing learned yet, or no store to ask).
    pub fn prior_only(shipment: &Shipment) -> LaneView {
        LaneView {
            levels: Vec::new(),
            prior: Prior::of(&shipment.id.carrier, &Route::of(shipment)),
        }
    }

    /// The most specific sketch of `pick` with enough samples, else the prior's.
    /// The carrier level, which mixes every class of lane, stands in only for a
    /// parcel whose class is unknown: for one whose class is known, the prior of
    /// that class does better.
    fn best(
        &self,
        pick: impl Fn(&LaneStats) -> Option<&Sketch>,
        prior: impl FnOnce() -> Sketch,
    ) -> (Sketch, Source) {
        self.learned(pick, MIN_SAMPLES).unwrap_or_else(|| {
            (
                prior(),
                Source {
                    lane: None,
                    samples: 0,
                },
            )
        })
    }

    /// The most specific learned sketch of `pick` with at least `min` samples.
    fn learned(
        &self,
        pick: impl Fn(&LaneStats) -> Option<&Sketch>,
        min: i64,
    ) -> Option<(Sketch, Source)> {
        self.learned_at(pick, min)
            .map(|(_, sketch, source)| (sketch.clone(), source))
    }

    /// The learned levels, most specific first, that may answer: the carrier
    /// level only when the lane class is unknown.
    fn trusted_levels(&self) -> impl Iterator<Item = &(LaneKey, std::sync::Arc<LaneStats>)> {
        let class_known = self
            .levels
            .iter()
            .any(|(k, _)| matches!(k, LaneKey::Class { .. }));
        self.levels
            .iter()
            .filter(move |(key, _)| !(class_known && matches!(key, LaneKey::Carrier(_))))
    }

    /// The gaps within `stage` of one kind, from the most specific level with at
    /// least `min` of them: legs (begun at a departure scan) when `leg`, else
    /// waits (the rest); `None` when no level has that many.
    pub fn learned_gaps_of(&self, stage: Stage, leg: bool, min: i64) -> Option<(Sketch, Source)> {
        self.trusted_levels().find_map(|(key, stats)| {
            let all = stats.gaps.get(&stage)?;
            let legs = stats.legs.get(&stage);
            let sketch = if leg {
                legs?.clone()
            } else {
                match legs {
                    Some(legs) => all.without(legs),
                    None => all.clone(),
                }
            };
            let samples = sketch.total();
            (samples >= min).then(|| {
                (
                    sketch,
                    Source {
                        lane: Some(key.label()),
                        samples,
                    },
                )
            })
        })
    }

    /// [`Self::learned`], with the level's statistics it came from.
    fn learned_at<'a>(
        &'a self,
        pick: impl Fn(&'a LaneStats) -> Option<&'a Sketch>,
        min: i64,
    ) -> Option<(&'a LaneStats, &'a Sketch, Source)> {
        self.trusted_levels().find_map(|(key, stats)| {
            let s = pick(stats).filter(|s| s.total() >= min)?;
            Some((
                &**stats,
                s,
                Source {
                    lane: Some(key.label()),
                    samples: s.total(),
                },
            ))
        })
    }

    /// The time from entering `stage` to delivery for a parcel that took
    /// `elapsed` minutes from pickup to entering it: the learned sketch moved by
    /// that pace as far as the same level's parcels say pace carries on
    /// ([`crate::pace`]); the plain sketch when the pace is unknown or not yet
    /// learned.
    pub fn remaining_after(&self, stage: Stage, elapsed: Option<f64>) -> (Sketch, Source) {
        let Some((stats, sketch, source)) =
            self.learned_at(|s| s.remaining.get(&stage), MIN_SAMPLES)
        else {
            return self.remaining(stage);
        };
        let fit = stats.pace.get(&stage).and_then(Moments::fit);
        match (elapsed, fit) {
            (Some(elapsed), Some(fit)) => (fit.apply(sketch, elapsed), source),
            _ => (sketch.clone(), source),
        }
    }

    /// The stay in `stage` and the time from leaving it to delivery, from the
    /// most specific level that has learned [`MIN_SAMPLES`] stays, moved by the
    /// parcel's pace as [`Self::remaining_after`] moves the time left; `None`
    /// before any level has (the time left from entering the stage stands in).
    fn split_after(&self, stage: Stage, elapsed: Option<f64>) -> Option<Split> {
        let (stats, stay, _) = self.learned_at(|s| s.stay.get(&stage), MIN_SAMPLES)?;
        let after = stats.after.get(&stage)?;
        let fit = stats.pace.get(&stage).and_then(Moments::fit);
        let (stay, after) = match (elapsed, fit) {
            (Some(e), Some(fit)) => (fit.apply_to_part(stay, e), fit.apply_to_part(after, e)),
            _ => (stay.clone(), after.clone()),
        };
        Some(Split {
            after: Cumulative::of(&after)?,
            stay,
        })
    }

    /// The gaps between scans within `stage` as learned, from the most specific
    /// level with at least `min` of them; `None` when no level has that many (the
    /// published figures say nothing about a lane's unusual silences).
    pub fn learned_gaps(&self, stage: Stage, min: i64) -> Option<(Sketch, Source)> {
        self.learned(|s| s.gaps.get(&stage), min)
    }

    /// The levels of the lane's distribution that cover half and nine tenths of
    /// deliveries, as the carrier's deliveries taught ([`Calibration`]); the
    /// nominal 0.5 and 0.9 until they have.
    pub fn calibrated_levels(&self) -> (f64, f64) {
        let learned = self.carrier_calibration();
        let level = |q: f64| learned.and_then(|c| c.level(q)).unwrap_or(q);
        (level(0.5), level(0.9))
    }

    fn carrier_calibration(&self) -> Option<&Calibration> {
        self.levels
            .iter()
            .find(|(key, _)| matches!(key, LaneKey::Carrier(_)))
            .map(|(_, stats)| &stats.calibration)
    }

    /// The time from entering `stage` to delivery.
    pub fn remaining(&self, stage: Stage) -> (Sketch, Source) {
        self.best(|s| s.remaining.get(&stage), || self.prior.remaining(stage))
    }

    /// The gaps between scans within `stage`.
    pub fn gaps(&self, stage: Stage) -> (Sketch, Source) {
        self.best(|s| s.gaps.get(&stage), || self.prior.gaps(stage))
    }

    /// Where a parcel in flight stands on its lane's clock, read once from its
    /// timeline and evaluated cheaply at any instant ([`Outlook::p_delivered_by`]);
    /// `None` once it is delivered or diverted.
    pub fn outlook(&self, shipment: &Shipment) -> Option<Outlook> {
        let journey = Journey::of(shipment);
        let (stage, entered) = journey.current?;
        let pace = journey
            .picked_up_at()
            .filter(|at| entered > *at)
            .map(|at| minutes(entered - at));
        let (remaining, source) = self.remaining_after(stage, pace);
        let split = self.split_after(stage, pace);
        let (gaps, _) = self.gaps(stage.gaps_of());
        // Legs and waits are told apart where a level has learned enough of each
        // kind; else every gap of the stage stands in.
        let of_kind = |leg: bool| {
            self.learned_gaps_of(stage.gaps_of(), leg, MIN_SAMPLES)
                .map_or_else(|| gaps.clone(), |(s, _)| s)
        };
        // [waits, legs], each read once.
        let kinds = [false, true].map(of_kind);
        let usuals = kinds
            .each_ref()
            .map(|s| s.quantile(PAUSE_QUANTILE).unwrap_or(f64::INFINITY));
        let leg = journey.on_a_leg;
        // A stage that is one wait has no pauses: its stay is what is learned.
        let usuals = if stage.is_one_wait() {
            [f64::INFINITY; 2]
        } else {
            usuals
        };
        let usual = usuals[usize::from(leg)];
        let tail = self
            .learned_gaps_of(stage.gaps_of(), leg, TAIL_SAMPLES)
            .or_else(|| self.learned_gaps(stage.gaps_of(), TAIL_SAMPLES))
            .map_or_else(|| kinds[usize::from(leg)].clone(), |(s, _)| s);
        let paused_before: f64 = journey
            .gaps
            .iter()
            .zip(&journey.gap_ends)
            .zip(&journey.gap_legs)
            .filter(|((_, end), _)| **end > entered)
            .map(|(((_, gap), _), leg)| (minutes(*gap) - usuals[usize::from(*leg)]).max(0.0))
            .sum();
        Some(Outlook {
            stage,
            entered,
            last_scan: journey.last_scan,
            usual,
            paused_before,
            remaining,
            split,
            gaps: tail,
            source,
            calibration: self.carrier_calibration().and_then(Calibration::table),
        })
    }

    /// The ETA of a parcel in flight at `now`; `None` once it is delivered or
    /// diverted.
    pub fn eta(&self, shipment: &Shipment, now: DateTime<Utc>) -> Option<Eta> {
        let o = self.outlook(shipment)?;
        let (p50, p90) = self.calibrated_levels();
        let at = |q: f64| Some(o.raw_quantile(q, now)?.max(now + Duration::minutes(1)));
        Some(Eta {
            p50: at(p50)?,
            p90: at(p90)?,
            stage: o.stage,
            source: o.source,
        })
    }

    /// The probability that a parcel in flight is delivered by `by`, as seen at
    /// `now`; `None` once it is delivered or diverted.
    pub fn p_delivered_by(
        &self,
        shipment: &Shipment,
        by: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<f64> {
        self.outlook(shipment)?.p_delivered_by(by, now)
    }

    /// [`Self::p_delivered_by`] as the lane's sketches say it, before the
    /// carrier's recalibration (what [`crate::calibration::pits`] judges).
    pub fn raw_p_delivered_by(
        &self,
        shipment: &Shipment,
        by: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<f64> {
        self.outlook(shipment)?.raw_p_delivered_by(by, now)
    }
}

/// A parcel in flight on its lane's clock (see [`LaneView::outlook`]).
///
/// A silence longer than the lane's usual gap between scans in that stage (its
/// p95; of its legs after a departure scan, of its waits after any other, where
/// the lane has learned them apart) is a pause: the parcel's way stopped for the excess, and resumes where it
/// was. Pauses so far (past gaps of the stage, and the silence since the last
/// scan) shift the estimate by their length and do not count as progress through
/// the stage, so a stuck parcel's estimate moves out while it stays stuck, and
/// keeps the delay once it moves again. How much longer the current pause goes on
/// is read from the lane's gaps that lasted as long (see
/// [`Outlook::raw_p_delivered_by`]).
#[derive(Clone, Debug)]
pub struct Outlook {
    pub stage: Stage,
    pub entered: DateTime<Utc>,
    pub last_scan: DateTime<Utc>,
    /// The lane's usual longest gap in this stage, minutes.
    usual: f64,
    /// Minutes paused in this stage before the last scan.
    paused_before: f64,
    remaining: Sketch,
    /// The stage's time read in two parts, once learned: a parcel still in the
    /// stage has the rest of its stay and then all the way after it to go.
    split: Option<Split>,
    /// The lane's gaps between scans in this stage, from the most specific level
    /// that has seen [`TAIL_SAMPLES`] of them (else the level `usual` comes
    /// from): how long a silence that has already lasted this long goes on.
    gaps: Sketch,
    pub source: Source,
    /// The carrier's recalibration of chances ([`Calibration::table`]).
    calibration: Option<Box<[f64; crate::calibration::BUCKETS + 1]>>,
}

/// A stage's time to delivery in two parts: the stay in the stage and the time
/// from leaving it to delivery (taken as independent). Read from the time left
/// from entering the stage alone, a parcel that has stayed longer than most
/// parcels' whole way from there looks nearly delivered; read in two parts, it
/// still has the way after the stage before it.
#[derive(Clone, Debug)]
struct Split {
    stay: Sketch,
    after: Cumulative,
}

impl Split {
    /// The probability that the stay and the way after it end within `left`
    /// minutes of the stage's entry, knowing the stay has lasted `spent`: over
    /// the stays at least that long, the chance of the way after fitting in
    /// what is left; 0 once it has stayed longer than any parcel learned
    /// (nothing known says it ends soon), as the time left read whole says.
    fn prob(&self, left: f64, spent: f64) -> f64 {
        let (mut sum, mut weight) = (0.0, 0.0);
        for (stay, w) in self.stay.points_at_least(spent) {
            sum += w * self.after.cdf(left - stay.max(spent));
            weight += w;
        }
        if weight > 0.0 {
            sum / weight
        } else {
            0.0
        }
    }
}

/// Where an [`Outlook`] stands at one instant.
struct Progress {
    /// The stage's entry, moved later by the pauses so far.
    start: DateTime<Utc>,
    /// Minutes of progress through the stage.
    spent: f64,
}

impl Outlook {
    fn at(&self, now: DateTime<Utc>) -> Progress {
        let silence = (now - self.last_scan.max(self.entered)).max(Duration::zero());
        let paused = self.paused_before + (minutes(silence) - self.usual).max(0.0);
        let spent = (minutes((now - self.entered).max(Duration::zero())) - paused).max(0.0);
        Progress {
            start: self.entered + minutes_duration(paused),
            spent,
        }
    }

    /// The probability that the parcel is delivered by `by`, as seen at `now`
    /// with no scan after the ones it has (0 once `by` has passed), recalibrated
    /// by what the carrier's deliveries taught.
    pub fn p_delivered_by(&self, by: DateTime<Utc>, now: DateTime<Utc>) -> Option<f64> {
        let raw = self.raw_p_delivered_by(by, now)?;
        Some(match &self.calibration {
            Some(table) => crate::calibration::recalibrate(table, raw),
            None => raw,
        })
    }

    /// The same, as the lane's sketches alone say it.
    ///
    /// A silence beyond the usual gap does not end now: it lasts as long as the
    /// lane's silences that went on that long lasted (the gaps' distribution given
    /// at least the silence so far, read at [`SILENCE_POINTS`] quantiles), and the
    /// parcel's way resumes after it. A pause a little past the usual gap is
    /// mostly a long healthy leg; one far past it is mostly a stall, whose end is
    /// far off.
    pub fn raw_p_delivered_by(&self, by: DateTime<Utc>, now: DateTime<Utc>) -> Option<f64> {
        if by <= now {
            return Some(0.0);
        }
        let p = self.at(now);
        let left = minutes(by - p.start);
        let within = |left: f64| match &self.split {
            Some(split) => Some(split.prob(left, p.spent)),
            None => self.remaining.prob_at_most_given_at_least(left, p.spent),
        };
        match self.silence_left(now) {
            None => within(left),
            Some(more) => {
                let mut sum = 0.0;
                for m in &more {
                    sum += within(left - m)?;
                }
                Some(sum / more.len() as f64)
            }
        }
    }

    /// The instant by which the parcel is delivered with raw probability `q` (the
    /// inverse of [`Self::raw_p_delivered_by`]), as seen at `now`.
    pub fn raw_quantile(&self, q: f64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let p = self.at(now);
        if let Some(split) = &self.split {
            if split.stay.points_at_least(p.spent).next().is_none() {
                // Longer in the stage than any parcel learned: no chance is
                // given (see [`Split::prob`]); the estimate says the least it
                // can, that the stay ends now and the way after it is to go.
                return Some(now + minutes_duration(split.after.inverse(q)));
            }
            return self.searched_quantile(q, now);
        }
        let within = |extra: f64| {
            self.remaining
                .quantile_given_at_least(q, p.spent)
                .map(|m| m + extra)
        };
        let Some(more) = self.silence_left(now) else {
            return Some(p.start + minutes_duration(within(0.0)?));
        };
        // The mixture's quantile lies between its parts' quantiles: bisect there
        // to the minute.
        let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
        for m in &more {
            let at = within(*m)?;
            lo = lo.min(at);
            hi = hi.max(at);
        }
        while hi - lo > 1.0 {
            let mid = (lo + hi) / 2.0;
            let by = p.start + minutes_duration(mid);
            if self.raw_p_delivered_by(by, now)? >= q {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(p.start + minutes_duration(hi))
    }

    /// [`Self::raw_quantile`] found by search: the first minute after `now`
    /// (doubling out, then halving in) by which the chance reaches `q`.
    fn searched_quantile(&self, q: f64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let reached = |m: f64| -> Option<bool> {
            Some(self.raw_p_delivered_by(now + minutes_duration(m), now)? >= q)
        };
        let (mut lo, mut hi) = (0.0, 60.0);
        while !reached(hi)? {
            lo = hi;
            hi *= 2.0;
            if hi > SEARCH_LIMIT_MIN {
                return Some(now + minutes_duration(SEARCH_LIMIT_MIN));
            }
        }
        while hi - lo > 1.0 {
            let mid = (lo + hi) / 2.0;
            if reached(mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(now + minutes_duration(hi))
    }

    /// How much longer a silence beyond the usual gap goes on, at
    /// [`SILENCE_POINTS`] quantiles; `None` while the silence is usual.
    fn silence_left(&self, now: DateTime<Utc>) -> Option<Vec<f64>> {
        let silence = minutes((now - self.last_scan.max(self.entered)).max(Duration::zero()));
        if silence <= self.usual {
            return None;
        }
        (0..SILENCE_POINTS)
            .map(|k| {
                let q = (k as f64 + 0.5) / SILENCE_POINTS as f64;
                let gap = self.gaps.quantile_given_at_least(q, silence)?;
                Some((gap - silence).max(0.0))
            })
            .collect()
    }
}

/// The gaps a lane level needs before a silence's length is read from it: 20
/// beyond the usual (p95) gap.
const TAIL_SAMPLES: i64 = 400;

/// How far out an estimate is searched for: a year, in minutes.
const SEARCH_LIMIT_MIN: f64 = 525_600.0;

/// How many points of a silence's remaining length the chance of delivery
/// averages over.
const SILENCE_POINTS: usize = 8;

/// A lane's usual gap between scans: longer silences are pauses.
const PAUSE_QUANTILE: f64 = 0.95;

fn minutes_duration(m: f64) -> Duration {
    Duration::seconds((m * 60.0).round() as i64)
}

/// Lane views for reading many parcels at one instant: parcels of one lane share
/// what it has learned, so each lane is read once.
pub struct LaneViews {
    now: DateTime<Utc>,
    /// By the lane's levels (which name its class when it is known).
    views: std::collections::HashMap<Vec<LaneKey>, LaneView>,
}

impl LaneViews {
    pub fn new(now: DateTime<Utc>) -> LaneViews {
        LaneViews {
            now,
            views: Default::default(),
        }
    }

    /// `shipment`'s lane view at this instant ([`LaneView::load_or_prior`]).
    pub async fn get<S: LaneQuery>(&mut self, store: &S, shipment: &Shipment) -> &LaneView {
        let key = LaneKey::levels(&shipment.id.carrier, &Route::of(shipment));
        if !self.views.contains_key(&key) {
            let view = LaneView::load_or_prior(store, shipment, self.now).await;
            self.views.insert(key.clone(), view);
        }
        &self.views[&key]
    }
}

/// What the lanes learned, kept for a while by a process that checks many
/// parcels (a tracker): a lane's statistics change slowly, so each lane level
/// is read at most once per [`LaneCache::TTL`]. Levels are kept one by one: the
/// province, class and carrier levels are shared by many parcels, so a check
/// reads only the levels it lacks (on DynamoDB one BatchGetItem). Expiry is by
/// the `now` of the asking check, so virtual time works.
#[derive(Default)]
pub struct LaneCache {
    levels: std::sync::Mutex<Kept>,
}

/// Lane levels' statistics, with when each was read.
type Kept = std::collections::HashMap<LaneKey, (DateTime<Utc>, std::sync::Arc<LaneStats>)>;

impl LaneCache {
    /// How long a lane level's statistics are kept: they are counted by the
    /// week, so an hour's delay changes nothing a rule would see.
    pub const TTL: Duration = Duration::hours(1);
    /// Past this many levels, expired ones are dropped when new ones are kept.
    const KEPT: usize = 16_384;

    /// `shipment`'s lane view at `now`: each level as read within the last
    /// [`LaneCache::TTL`], the others read now (one read).
    pub async fn get<S: LaneQuery>(
        &self,
        store: &S,
        shipment: &Shipment,
        now: DateTime<Utc>,
    ) -> Result<LaneView, StoreError> {
        let route = Route::of(shipment);
        let keys = LaneKey::levels(&shipment.id.carrier, &route);
        let fresh = |at: DateTime<Utc>| at <= now && now - at < Self::TTL;
        let mut have: Vec<Option<std::sync::Arc<LaneStats>>> = {
            let kept = self.lock();
            keys.iter()
                .map(|k| {
                    kept.get(k)
                        .filter(|(at, _)| fresh(*at))
                        .map(|(_, s)| s.clone())
                })
                .collect()
        };
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| have[i].is_none()).collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|&i| keys[i].key()).collect();
            let weeks = window(now);
            let counts = store.lane_counts(&names, &weeks).await?;
            let since = weeks
                .get(crate::calibration::WEEKS - 1)
                .map_or("", String::as_str);
            let mut parsed = LaneStats::by_lane(&counts, since);
            let mut kept = self.lock();
            if kept.len() >= Self::KEPT {
                kept.retain(|_, (at, _)| fresh(*at));
            }
            for (&i, name) in missing.iter().zip(&names) {
                let stats = std::sync::Arc::new(parsed.remove(name).unwrap_or_default());
                kept.insert(keys[i].clone(), (now, stats.clone()));
                have[i] = Some(stats);
            }
        }
        Ok(LaneView {
            levels: keys
                .into_iter()
                .zip(have)
                .map(|(k, s)| (k, s.unwrap_or_default()))
                .collect(),
            prior: Prior::of(&shipment.id.carrier, &route),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        // A panic elsewhere while holding the lock leaves only a cache behind.
        self.levels.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ShipmentId, TrackingEvent};
    use chrono::TimeZone;

    fn t(h: f64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::minutes((h * 60.0) as i64)
    }

    fn scan(h: f64, status: Status, text: &str) -> TrackingEvent {
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
    fn delivered() -> Shipment {
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
    fn scanned(n: usize, status: Status) -> Shipment {
        let mut s = delivered();
        let all = s.timeline.events().to_vec();
        s.timeline = crate::domain::Timeline::new();
        s.timeline.merge(all[..n].to_vec());
        s.status = status;
        s
    }

    #[test]
    fn a_journey_reads_stages_gaps_and_delivery_from_the_timeline() {
        let j = Journey::of(&delivered());
        assert_eq!(
            j.entries,
            vec![
                (Stage::Registered, t(0.0)),
                (Stage::PickedUp, t(3.0)),
                (Stage::LineHaul, t(8.0)),
                (Stage::AtDestination, t(66.0)),
                (Stage::OutForDelivery, t(76.0)),
            ]
        );
        let gaps: Vec<(Stage, i64)> = j.gaps.iter().map(|(s, d)| (*s, d.num_hours())).collect();
        assert_eq!(
            gaps,
            vec![
                (Stage::Registered, 3),
                (Stage::PickedUp, 5),
                (Stage::LineHaul, 42),
                (Stage::LineHaul, 16),
                (Stage::AtDestination, 10),
                (Stage::OutForDelivery, 4),
            ]
        );
        // Only the gap after the hub's departure scan was a leg.
        assert_eq!(j.gap_legs, vec![false, false, true, false, false, false]);
        assert_eq!(j.delivered_at, Some(t(80.0)));
        assert_eq!(j.current, None);
        assert!(Journey::of(&scanned(2, Status::InTransit)).on_a_leg);
        assert!(!Journey::of(&scanned(3, Status::InTransit)).on_a_leg);
    }

    #[test]
    fn the_last_leg_begins_at_a_departure_for_the_destination_city() {
        let bound = |next: &str, destination: Option<&str>| {
            let mut s = scanned(1, Status::PickedUp);
            s.timeline.merge(vec![scan(
                8.0,
                Status::InTransit,
                &format!("快件离开【杭州转运中心】已发往【{next}】"),
            )]);
            s.status = Status::InTransit;
            s.destination = destination.and_then(Place::parse);
            Journey::of(&s).current.map(|(stage, _)| stage)
        };
        // Bound for Urumqi: a departure for one of its hubs, or for the city
        // itself, is the last leg; for another city's hub, the line haul.
        assert_eq!(
            bound("乌鲁木齐转运中心", Some("新疆乌鲁木齐市")),
            Some(Stage::LastLeg)
        );
        assert_eq!(bound("乌鲁木齐市", Some("乌鲁木齐")), Some(Stage::LastLeg));
        assert_eq!(
            bound("兰州转运中心", Some("乌鲁木齐")),
            Some(Stage::LineHaul)
        );
        // Where it goes is unknown: the line haul.
        assert_eq!(bound("乌鲁木齐转运中心", None), Some(Stage::LineHaul));
        // A delivered parcel's last leg, read from its traces: the stage comes
        // between the line haul and the destination city, its gaps counted with
        // the line haul's, and it teaches its own time to delivery.
        let mut s = delivered();
        let events: Vec<TrackingEvent> = s.timeline.events().to_vec();
        s.timeline = crate::domain::Timeline::new();
        for mut e in events {
            if e.at == t(50.0) {
                e.text = "快件离开【兰州转运中心】已发往【乌鲁木齐转运中心】".into();
            }
            s.timeline.merge(vec![e]);
        }
        let j = Journey::of(&s);
        let stages: Vec<Stage> = j.entries.iter().map(|(stage, _)| *stage).collect();
        // Every stage up to out for delivery, in order.
        assert_eq!(stages, Stage::ALL[..6]);
        assert!(j.gaps.iter().all(|(stage, _)| *stage != Stage::LastLeg));
        let lesson = Lesson::of(&s).unwrap();
        let left = lesson.stats.remaining[&Stage::LastLeg]
            .inverse(0.5)
            .unwrap()
            / 60.0;
        assert!((left / 30.0 - 1.0).abs() < 0.045, "{left}");
        assert_eq!(lesson.stats.gaps[&Stage::LineHaul].total(), 2);
    }

    #[test]
    fn a_failed_attempt_waits_for_the_next_one() {
        let mut s = scanned(5, Status::OutForDelivery);
        s.timeline.merge(vec![
            scan(
                78.0,
                Status::DeliveryFailed,
                "【乌鲁木齐市】派送失败，电话无人接听",
            ),
            scan(96.0, Status::OutForDelivery, "【乌鲁木齐市】快递员正在派件"),
        ]);
        let j = Journey::of(&s);
        // The second attempt stays in redelivery, counted from the failure.
        assert_eq!(j.current, Some((Stage::Redelivery, t(78.0))));
        // Seen just after the failure: the next day, not within the hour.
        let mut s = scanned(5, Status::DeliveryFailed);
        s.timeline
            .merge(vec![scan(78.0, Status::DeliveryFailed, "派送失败")]);
        let eta = LaneView::prior_only(&s).eta(&s, t(79.0)).unwrap();
        assert_eq!(eta.stage, Stage::Redelivery);
        assert!(eta.p50 > t(90.0) && eta.p50 < t(110.0), "{eta:?}");
        // A delivery after it teaches the redelivery stage its time.
        s.timeline
            .merge(vec![scan(99.0, Status::Delivered, "已签收")]);
        let lesson = Lesson::of(&s).unwrap();
        let left = lesson.stats.remaining[&Stage::Redelivery]
            .inverse(0.5)
            .unwrap()
            / 60.0;
        assert!((left / 21.0 - 1.0).abs() < 0.045, "{left}");
        assert_eq!(Stage::parse("redelivery"), Some(Stage::Redelivery));
    }

    #[test]
    fn the_route_comes_from_the_registration_else_the_traces() {
        let s = delivered();
        let r = Route::of(&s);
        assert_eq!(r.origin, Place::parse("杭州"));
        assert_eq!(r.destination, Place::parse("乌鲁木齐"));
        assert_eq!(r.class(), Some(LaneClass::Remote));
        let keys: Vec<String> = LaneKey::levels(&s.id.carrier, &r)
            .iter()
            .map(LaneKey::key)
            .collect();
        assert_eq!(
            keys,
            [
                "c:ZTO:杭州:乌鲁木齐",
                "p:ZTO:浙江:新疆",
                "l:ZTO:remote",
                "k:ZTO"
            ]
        );
        let mut given = s.clone();
        given.origin = Place::parse("宁波");
        given.destination = Place::parse("成都");
        let r = Route::of(&given);
        assert_eq!(r.origin, Place::parse("宁波"));
        assert_eq!(r.destination, Place::parse("成都"));
        // Nothing known: the carrier level only.
        let bare = Shipment::new(s.id.clone(), t(0.0));
        assert_eq!(
            LaneKey::levels(&bare.id.carrier, &Route::of(&bare)),
            vec![LaneKey::Carrier(s.id.carrier.clone())]
        );
    }

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
    fn the_eta_of_a_parcel_in_flight_narrows_as_it_goes() {
        // Seen at 60 h: on the line haul since 8 h.
        let mut s = scanned(3, Status::InTransit);
        // The traces do not name the destination yet: no lane class.
        assert_eq!(LaneView::prior_only(&s).prior.class, None);
        s.destination = Place::parse("乌鲁木齐");
        let view = LaneView::prior_only(&s);
        assert_eq!(view.prior.class, Some(LaneClass::Remote));
        let eta = view.eta(&s, t(60.0)).unwrap();
        assert_eq!(eta.stage, Stage::LineHaul);
        assert!(eta.p50 > t(60.0) && eta.p90 > eta.p50, "{eta:?}");
        assert_eq!(eta.source.lane, None);
        let p = view.p_delivered_by(&s, eta.p50, t(60.0)).unwrap();
        assert!((p - 0.5).abs() < 0.02, "{p}");
        // Learned: 40 parcels on this city lane took 72 h from the line haul on.
        let mut stats = LaneStats::default();
        for _ in 0..40 {
            stats
                .remaining
                .entry(Stage::LineHaul)
                .or_default()
                .add(72.0 * 60.0);
        }
        let key = LaneKey::levels(&s.id.carrier, &Route::of(&s)).remove(0);
        let learned = LaneView {
            levels: vec![(key, std::sync::Arc::new(stats))],
            prior: view.prior.clone(),
        };
        let eta = learned.eta(&s, t(60.0)).unwrap();
        assert_eq!(eta.source.lane.as_deref(), Some("ZTO 杭州→乌鲁木齐"));
        assert_eq!(eta.source.samples, 40);
        let hours = (eta.p50 - t(8.0)).num_minutes() as f64 / 60.0;
        assert!((69.0..76.0).contains(&hours), "{hours}");
        // Delivered: no ETA.
        assert_eq!(learned.eta(&delivered(), t(90.0)), None);
    }

    /// `n` parcels that took `hours` from the line haul on, with scans every
    /// `gap_h` hours in it.
    fn learned(n: usize, hours: f64, gap_h: f64) -> LaneStats {
        let mut stats = LaneStats::default();
        for _ in 0..n {
            stats
                .remaining
                .entry(Stage::LineHaul)
                .or_default()
                .add(hours * 60.0);
            stats
                .gaps
                .entry(Stage::LineHaul)
                .or_default()
                .add(gap_h * 60.0);
        }
        stats
    }

    /// On the line haul since 8 h (its last scan), bound for Urumqi.
    fn on_the_line_haul() -> Shipment {
        let mut s = scanned(2, Status::InTransit);
        s.destination = Place::parse("乌鲁木齐");
        s
    }

    #[test]
    fn a_silence_beyond_the_lanes_usual_gap_moves_the_estimate_out() {
        let s = on_the_line_haul();
        let keys = LaneKey::levels(&s.id.carrier, &Route::of(&s));
        // 72 h from the line haul on, scans every 20 h.
        let view = LaneView {
            levels: vec![(
                keys[0].clone(),
                std::sync::Arc::new(learned(40, 72.0, 20.0)),
            )],
            prior: LaneView::prior_only(&s).prior,
        };
        let hours = |at: DateTime<Utc>| (at - t(0.0)).num_minutes() as f64 / 60.0;
        let at_20 = view.eta(&s, t(20.0)).unwrap();
        assert!((77.0..84.0).contains(&hours(at_20.p50)), "{at_20:?}");
        // Silent until 60 h: 52 h since the last scan, about 32 h beyond the
        // usual gap: a pause, which the estimate is shifted by.
        let at_60 = view.eta(&s, t(60.0)).unwrap();
        let moved = hours(at_60.p50) - hours(at_20.p50);
        assert!((29.0..35.0).contains(&moved), "{moved}");
        let p = view.p_delivered_by(&s, at_20.p90, t(60.0)).unwrap();
        assert!(p < 0.05, "{p}");
        // A lane where long gaps are usual sees no pause yet.
        let slow = LaneView {
            levels: vec![(
                keys[0].clone(),
                std::sync::Arc::new(learned(40, 140.0, 80.0)),
            )],
            prior: view.prior.clone(),
        };
        let eta = slow.eta(&s, t(60.0)).unwrap();
        assert!((140.0..156.0).contains(&hours(eta.p50)), "{eta:?}");
        // Asked about a time already past: no chance.
        assert_eq!(view.p_delivered_by(&s, t(50.0), t(60.0)), Some(0.0));
    }

    /// A lane level that learned, for `stage`, `n` parcels staying `stay_h`
    /// (± a sixth, spread evenly) and then taking `after_h` to delivery.
    fn split_lane(stage: Stage, n: usize, stay_h: f64, after_h: f64) -> LaneStats {
        let mut stats = LaneStats::default();
        for i in 0..n {
            let stay = stay_h * (1.0 + (i as f64 / n as f64 - 0.5) / 3.0) * 60.0;
            let after = after_h * 60.0;
            stats.stay.entry(stage).or_default().add(stay);
            stats.after.entry(stage).or_default().add(after);
            stats.remaining.entry(stage).or_default().add(stay + after);
            stats
                .gaps
                .entry(stage)
                .or_default()
                .add(stay.min(12.0 * 60.0));
        }
        stats
    }

    #[test]
    fn a_parcel_that_stays_long_in_its_stage_still_has_the_way_after_it_to_go() {
        // On the line haul since 8 h, scanned every few hours; its lane stays
        // 40 h (33-47 h) on the line haul, then takes 30 h to delivery.
        let early = on_the_line_haul();
        let scanned_until = |until: f64| {
            let mut s = early.clone();
            for h in [20.0, 30.0, 40.0, 50.0, 58.0]
                .into_iter()
                .filter(|h| *h <= until)
            {
                s.timeline.merge(vec![scan(
                    h,
                    Status::InTransit,
                    "快件已到达【兰州转运中心】",
                )]);
            }
            s
        };
        let s = scanned_until(60.0);
        let keys = LaneKey::levels(&s.id.carrier, &Route::of(&s));
        let view = |stats: LaneStats| LaneView {
            levels: vec![(keys[0].clone(), std::sync::Arc::new(stats))],
            prior: LaneView::prior_only(&s).prior,
        };
        let split = view(split_lane(Stage::LineHaul, 60, 40.0, 30.0));
        let mut whole = split_lane(Stage::LineHaul, 60, 40.0, 30.0);
        whole.stay.clear();
        whole.after.clear();
        let whole = view(whole);
        let hours = |at: DateTime<Utc>| (at - t(0.0)).num_minutes() as f64 / 60.0;
        // Early in the stay both readings agree: about 8 + 40 + 30 h.
        let (a, b) = (
            split.eta(&early, t(10.0)).unwrap(),
            whole.eta(&early, t(10.0)).unwrap(),
        );
        assert!((74.0..82.0).contains(&hours(a.p50)), "{a:?}");
        assert!((hours(a.p50) - hours(b.p50)).abs() < 3.0, "{a:?} {b:?}");
        // At 60 h it has stayed 52 h, longer than any parcel of its lane: read
        // whole, it is as good as delivered (the time left from entering the
        // stage was at most 77 h); read in two parts, nothing known says its
        // stay ends soon (no chance of 84 h), and the estimate is the least it
        // can be: the stay ending now, then the 30 h after it.
        let (a, b) = (
            split.eta(&s, t(60.0)).unwrap(),
            whole.eta(&s, t(60.0)).unwrap(),
        );
        assert!(hours(b.p50) < 80.0, "{b:?}");
        assert!((88.0..92.0).contains(&hours(a.p50)), "{a:?}");
        let p = |v: &LaneView| v.p_delivered_by(&s, t(84.0), t(60.0)).unwrap();
        assert!(
            p(&split) < 0.05 && p(&whole) > 0.5,
            "{} {}",
            p(&split),
            p(&whole)
        );
        // At 48 h (40 h stayed), the stays that lasted that long (40-47 h) are
        // read: about 8 + 43.5 + 30 h.
        let at_48 = split.eta(&scanned_until(48.0), t(48.0)).unwrap();
        assert!((79.5..83.5).contains(&hours(at_48.p50)), "{at_48:?}");
    }

    #[test]
    fn a_wait_in_a_locker_is_its_stay_not_a_pause() {
        // In a locker since 80 h; its lane's parcels were collected after 2-10
        // h, all within 6 h of silence but a few.
        let mut s = delivered();
        let mut events = s.timeline.events().to_vec();
        events.pop();
        events.push(scan(
            80.0,
            Status::AwaitingCollection,
            "已放入快递柜，请凭取件码取件",
        ));
        s.timeline = crate::domain::Timeline::new();
        s.timeline.merge(events);
        s.status = Status::AwaitingCollection;
        let keys = LaneKey::levels(&s.id.carrier, &Route::of(&s));
        let mut stats = LaneStats::default();
        for i in 0..60 {
            let wait = (2.0 + 8.0 * f64::from(i) / 59.0) * 60.0;
            stats.stay.entry(Stage::AtLocker).or_default().add(wait);
            stats.after.entry(Stage::AtLocker).or_default().add(0.0);
            stats
                .remaining
                .entry(Stage::AtLocker)
                .or_default()
                .add(wait);
            stats.gaps.entry(Stage::AtLocker).or_default().add(wait);
        }
        let view = LaneView {
            levels: vec![(keys[0].clone(), std::sync::Arc::new(stats))],
            prior: LaneView::prior_only(&s).prior,
        };
        // 9.5 h in: beyond the usual silence (p95), but the stay itself: the
        // wait ends within the lane's last half hour, not after a pause.
        let eta = view.eta(&s, t(89.5)).unwrap();
        assert_eq!(eta.stage, Stage::AtLocker);
        assert!(eta.p90 <= t(90.5), "{eta:?}");
        assert!(view.p_delivered_by(&s, t(92.0), t(89.5)).unwrap() > 0.95);
    }

    #[test]
    fn a_silence_lasts_as_long_as_the_lanes_silences_that_went_on_that_long() {
        let s = on_the_line_haul();
        let keys = LaneKey::levels(&s.id.carrier, &Route::of(&s));
        // Two lanes, 72 h from the line haul on, scans mostly every 4 h; the
        // silences beyond that were stalls of 60 h on one, legs of 9 h on the other.
        let lane = |long_h: f64| {
            let mut stats = learned(95, 72.0, 4.0);
            let gaps = stats.gaps.get_mut(&Stage::LineHaul).unwrap();
            for _ in 0..5 {
                gaps.add(long_h * 60.0);
            }
            LaneView {
                levels: vec![(keys[0].clone(), std::sync::Arc::new(stats))],
                prior: LaneView::prior_only(&s).prior,
            }
        };
        let (stalls, legs) = (lane(60.0), lane(9.0));
        let hours = |at: DateTime<Utc>| (at - t(0.0)).num_minutes() as f64 / 60.0;
        // Seen 2 h after the last scan (8 h): a usual silence, the same outlook.
        let (a, b) = (
            stalls.eta(&s, t(10.0)).unwrap(),
            legs.eta(&s, t(10.0)).unwrap(),
        );
        assert_eq!(a, b);
        // Silent 8 h: on the lane whose long silences were legs it ends within
        // about an hour; on the lane whose long silences were stalls it goes on
        // for about 52 h more, and the estimate says so now.
        let now = t(16.0);
        let (a, b) = (stalls.eta(&s, now).unwrap(), legs.eta(&s, now).unwrap());
        let later = hours(a.p50) - hours(b.p50);
        assert!((45.0..56.0).contains(&later), "{a:?} {b:?}");
        assert!(stalls.p_delivered_by(&s, b.p90, now).unwrap() < 0.05);
        assert!(legs.p_delivered_by(&s, b.p90, now).unwrap() > 0.85);
        // The ETA is the chance's inverse.
        for (view, eta) in [(&stalls, &a), (&legs, &b)] {
            let p = view.p_delivered_by(&s, eta.p50, now).unwrap();
            assert!((p - 0.5).abs() < 0.03, "{p}");
        }
        // A silence's length is read from a level that has seen enough long
        // silences: the city lane's five stalls give way to its class's 400
        // gaps, whose long ones were legs.
        let mut class = learned(475, 72.0, 4.0);
        let gaps = class.gaps.get_mut(&Stage::LineHaul).unwrap();
        for _ in 0..25 {
            gaps.add(9.0 * 60.0);
        }
        let mut read = stalls.clone();
        read.levels
            .push((keys[2].clone(), std::sync::Arc::new(class)));
        let c = read.eta(&s, now).unwrap();
        assert_eq!(c.source, a.source, "the time left still from the city lane");
        assert!((hours(c.p50) - hours(b.p50)).abs() < 1.0, "{c:?} {b:?}");
        // The chance only falls while the silence goes on.
        let by = t(140.0);
        let chances: Vec<f64> = (10..80)
            .map(|h| stalls.p_delivered_by(&s, by, t(f64::from(h))).unwrap())
            .collect();
        assert!(
            chances.windows(2).all(|w| w[1] <= w[0] + 1e-9),
            "{chances:?}"
        );
    }

    #[test]
    fn a_silence_after_a_departure_is_read_against_the_lanes_legs() {
        // On the line haul since 8 h, silent since: `leg` left a hub at 8 h,
        // `wait` arrived at one then.
        let leg = on_the_line_haul();
        let mut wait = scanned(1, Status::PickedUp);
        wait.timeline.merge(vec![scan(
            8.0,
            Status::InTransit,
            "快件已到达【杭州转运中心】",
        )]);
        wait.status = Status::InTransit;
        wait.destination = leg.destination.clone();
        let keys = LaneKey::levels(&leg.id.carrier, &Route::of(&leg));
        // 72 h from the line haul on; its gaps: 150 waits at hubs of 2 h, 50 legs
        // of 20 h (p95 of them all: 20 h).
        let lane = |with_legs: bool| {
            let mut stats = learned(150, 72.0, 2.0);
            for _ in 0..50 {
                stats
                    .gaps
                    .get_mut(&Stage::LineHaul)
                    .unwrap()
                    .add(20.0 * 60.0);
                if with_legs {
                    stats
                        .legs
                        .entry(Stage::LineHaul)
                        .or_default()
                        .add(20.0 * 60.0);
                }
            }
            LaneView {
                levels: vec![(keys[0].clone(), std::sync::Arc::new(stats))],
                prior: LaneView::prior_only(&leg).prior,
            }
        };
        let hours = |at: DateTime<Utc>| (at - t(0.0)).num_minutes() as f64 / 60.0;
        let moved = |view: &LaneView, s: &Shipment| {
            hours(view.eta(s, t(18.0)).unwrap().p50) - hours(view.eta(s, t(9.0)).unwrap().p50)
        };
        // Silent 10 h: usual for a leg, a pause of about 8 h at a hub.
        let learned_kinds = lane(true);
        assert!(
            moved(&learned_kinds, &leg).abs() < 0.5,
            "{}",
            moved(&learned_kinds, &leg)
        );
        let paused = moved(&learned_kinds, &wait);
        assert!((6.5..9.5).contains(&paused), "{paused}");
        assert!(
            learned_kinds
                .p_delivered_by(&wait, t(84.0), t(18.0))
                .unwrap()
                < learned_kinds
                    .p_delivered_by(&leg, t(84.0), t(18.0))
                    .unwrap()
        );
        // A lane that never learned its legs apart reads both against all its
        // gaps: no pause yet for either.
        let mixed = lane(false);
        assert!(moved(&mixed, &leg).abs() < 0.5);
        assert!(moved(&mixed, &wait).abs() < 0.5);
    }

    #[test]
    fn a_parcel_that_came_fast_so_far_is_expected_sooner_where_pace_carries_on() {
        // 60 parcels like `delivered`, each at its own pace (× 0.6 to 1.6 on
        // every time after pickup).
        let mut stats = LaneStats::default();
        for i in 0..60 {
            let f = 0.6 + f64::from(i) / 59.0;
            let mut s = delivered();
            let events: Vec<TrackingEvent> = s
                .timeline
                .events()
                .iter()
                .map(|e| {
                    let h = (e.at - t(0.0)).num_minutes() as f64 / 60.0;
                    let mut e = e.clone();
                    e.at = t(3.0 + (h - 3.0).max(0.0) * f);
                    e
                })
                .collect();
            s.timeline = crate::domain::Timeline::new();
            s.timeline.merge(events);
            let lesson = Lesson::of(&s).unwrap();
            for (stage, sketch) in lesson.stats.remaining {
                stats.remaining.entry(stage).or_default().merge(&sketch);
            }
            for (stage, m) in lesson.stats.pace {
                let into = stats.pace.entry(stage).or_default();
                for (k, n) in m.sums.iter().enumerate() {
                    into.add_count(k as u32, *n);
                }
            }
        }
        assert_eq!(stats.pace[&Stage::LineHaul].sums[0], 60);
        let key = LaneKey::levels(&delivered().id.carrier, &Route::of(&delivered())).remove(0);
        let view = |stats: LaneStats| LaneView {
            levels: vec![(key.clone(), std::sync::Arc::new(stats))],
            prior: LaneView::prior_only(&delivered()).prior,
        };
        // Two parcels on the line haul since 1 h: one left the origin hub 2 h
        // after pickup, the other 9 h after (the lane's usual: 5 h).
        let on_line_haul = |left_hub: f64| {
            let mut s = scanned(2, Status::InTransit);
            let events = vec![
                scan(3.0, Status::PickedUp, "【杭州市】浙江杭州余杭公司 已揽收"),
                scan(
                    3.0 + left_hub,
                    Status::InTransit,
                    "快件离开【杭州转运中心】",
                ),
            ];
            s.timeline = crate::domain::Timeline::new();
            s.timeline.merge(events);
            s
        };
        let (fast, slow) = (on_line_haul(2.0), on_line_haul(9.0));
        let left = |view: &LaneView, s: &Shipment| {
            let entered = s.timeline.events()[1].at;
            let eta = view.eta(s, entered + Duration::hours(1)).unwrap();
            (eta.p50 - entered).num_minutes() as f64 / 60.0
        };
        let paced = view(stats.clone());
        let (f, w) = (left(&paced, &fast), left(&paced, &slow));
        // Usual: 72 h from the line haul on, × 0.6 to 1.6.
        assert!(f < 55.0 && w > 95.0, "{f} {w}");
        // Without what pace teaches, the two are alike.
        let mut plain = stats;
        plain.pace.clear();
        let plain = view(plain);
        assert!((left(&plain, &fast) - left(&plain, &slow)).abs() < 1.0);
    }

    #[test]
    fn the_carrier_level_stands_in_only_when_the_lane_class_is_unknown() {
        let s = on_the_line_haul();
        let keys = LaneKey::levels(&s.id.carrier, &Route::of(&s));
        assert!(matches!(keys[2], LaneKey::Class { .. }), "{keys:?}");
        assert_eq!(keys[2].label(), "ZTO 偏远地区");
        let carrier = (
            keys[3].clone(),
            std::sync::Arc::new(learned(500, 30.0, 10.0)),
        );
        let prior = LaneView::prior_only(&s).prior;
        // The class is known (remote) but nothing is learned for it: the
        // carrier-wide mix of mostly short lanes is passed over for the prior.
        let with_class = LaneView {
            levels: vec![(keys[2].clone(), Default::default()), carrier.clone()],
            prior: prior.clone(),
        };
        let (_, source) = with_class.remaining(Stage::LineHaul);
        assert_eq!(source.lane, None);
        // Learned for the class: used.
        let with_class = LaneView {
            levels: vec![
                (
                    keys[2].clone(),
                    std::sync::Arc::new(learned(30, 70.0, 12.0)),
                ),
                carrier.clone(),
            ],
            prior,
        };
        let (_, source) = with_class.remaining(Stage::LineHaul);
        assert_eq!(source.lane.as_deref(), Some("ZTO 偏远地区"));
        assert_eq!(source.samples, 30);
        // No class (no destination known): the carrier level is the best there is.
        let mut unknown = s.clone();
        unknown.destination = None;
        unknown.timeline = crate::domain::Timeline::new();
        let (_, source) = LaneView {
            levels: vec![carrier],
            prior: LaneView::prior_only(&unknown).prior,
        }
        .remaining(Stage::LineHaul);
        assert_eq!(source.lane.as_deref(), Some("ZTO"));
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
