//! Fleet generation: healthy lifecycles on realistic lanes, then at most one injected
//! anomaly per parcel. Internally every instant is whole seconds since the Unix
//! epoch (`i64`), so what the carrier reply prints (seconds) is exactly what the
//! ground truth reasons about.
//!
//! This module draws each parcel's identity, lane and anomaly and assembles the
//! [`Fleet`]; the work is split into `parcel` (the data of a simulated parcel and
//! its events), `lifecycle` (the healthy lifecycle: lane, hubs, timing, final
//! mile), `anomaly` (how an anomaly is drawn and injected), `tracking`
//! (tracking-number shapes) and `clock` (whole-second instants on the China-local
//! clock).

mod anomaly;
mod clock;
mod lifecycle;
mod pace;
mod parcel;
mod tracking;

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use shared::domain::{CarrierCode, Phone, ShipmentId, TrackingNumber};

use super::geo::{CARRIERS, CITIES, COURIERS};
pub(crate) use clock::dt;
use clock::CST;
#[cfg(test)]
pub(crate) use clock::H;
use lifecycle::{pick_destination, Planner};
pub use parcel::{Anomaly, ReplyFormat, SimEvent, SimKind, SimParcel, NO_SITE};
use tracking::{push_digits, tracking_number};

/// How a fleet is generated.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetConfig {
    pub parcels: usize,
    pub seed: u64,
    /// Parcels are registered uniformly in `[start, start + register_window)`.
    pub start: DateTime<Utc>,
    pub register_window: Duration,
    /// Share of parcels with an injected anomaly.
    pub anomaly_share: f64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            parcels: 1000,
            seed: 42,
            start: DateTime::parse_from_rfc3339("2024-11-04T00:00:00+08:00")
                .expect("valid constant")
                .with_timezone(&Utc),
            register_window: Duration::days(3),
            anomaly_share: 0.15,
        }
    }
}

/// A generated fleet, indexed by shipment id.
#[derive(Clone, Debug, Default)]
pub struct Fleet {
    pub parcels: Vec<SimParcel>,
    index: HashMap<ShipmentId, u32>,
}

impl Fleet {
    /// Wraps parcels (e.g. hand-built ones) and indexes them by id.
    pub fn new(parcels: Vec<SimParcel>) -> Self {
        let index = parcels
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i as u32))
            .collect();
        Self { parcels, index }
    }

    pub fn get(&self, id: &ShipmentId) -> Option<&SimParcel> {
        self.index.get(id).map(|&i| &self.parcels[i as usize])
    }

    pub fn len(&self) -> usize {
        self.parcels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parcels.is_empty()
    }
}

/// Generates a fleet. The same config gives the same fleet, and parcel `i` depends
/// only on `(seed, i)`, not on the fleet size.
pub fn generate(config: &FleetConfig) -> Fleet {
    let parcels = (0..config.parcels)
        .map(|i| generate_parcel(config, i as u32))
        .collect();
    Fleet::new(parcels)
}

pub(super) fn pick_weighted<T>(
    rng: &mut ChaCha8Rng,
    items: &[T],
    weight: impl Fn(&T) -> f64,
) -> usize {
    let total: f64 = items.iter().map(&weight).sum();
    let mut x = rng.random::<f64>() * total;
    for (i, it) in items.iter().enumerate() {
        let w = weight(it);
        if x < w {
            return i;
        }
        x -= w;
    }
    items.len() - 1
}

fn generate_parcel(config: &FleetConfig, i: u32) -> SimParcel {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(i as u64);

    let start = config.start.timestamp();
    let window = config.register_window.num_seconds().max(1);
    let registered = start + rng.random_range(0..window);
    let shipped = registered;

    let carrier = pick_weighted(&mut rng, CARRIERS, |c| c.share);
    let info = &CARRIERS[carrier];
    let format = match rng.random_range(0..10u8) {
        0..=3 => ReplyFormat::Kdniao8001,
        4..=5 => ReplyFormat::Kdniao1002,
        _ => ReplyFormat::Kuaidi100,
    };
    let origin = pick_weighted(&mut rng, CITIES, |c| c.origin_weight as f64);
    let (dest, lane) = pick_destination(&mut rng, origin);
    let anomaly = if rng.random_bool(config.anomaly_share.clamp(0.0, 1.0)) {
        Some(Anomaly::ALL[pick_weighted(&mut rng, &Anomaly::ALL, |a| a.weight())])
    } else {
        None
    };

    let number = tracking_number(&mut rng, info.code, config.seed, i);
    let id = ShipmentId::new(
        CarrierCode::parse(info.code).expect("static carrier codes are valid"),
        TrackingNumber::parse(&number).expect("generated tracking numbers are valid"),
    );
    let phone = rng.random_bool(0.7).then(|| {
        let second = [3u8, 5, 8][rng.random_range(0..3)];
        let mut raw = format!("1{second}");
        push_digits(&mut raw, &mut rng, 9);
        Phone::parse(&raw).expect("valid phone")
    });
    let local_day = dt(registered + CST).date_naive();
    let order_id = format!(
        "SO{:04}{:02}{:02}{:07}",
        local_day.year(),
        local_day.month(),
        local_day.day(),
        i
    );
    let courier = rng.random_range(0..COURIERS.len()) as u8;
    let courier_prefix = rng.random_range(0..10u8);
    let courier_tail = rng.random_range(0..10_000u16);

    let (busy, wide) = pace::calendar(shipped);
    let mut plan = Planner {
        rng: &mut rng,
        origin: origin as u8,
        dest: dest as u8,
        lane,
        speed: info.speed * pace::lane_factor(config.seed, carrier, origin, dest) * busy,
        sigma_scale: wide,
        shipped,
    };
    let mut events = plan.healthy();
    let healthy = events.clone();
    let planned_final = events.last().map(|e| e.secs()).unwrap_or(shipped);
    let mut promised = if plan.rng.random_bool(0.4) {
        None
    } else {
        Some(plan.promise_after(planned_final))
    };
    if let Some(a) = anomaly {
        plan.inject(a, &mut events);
        match a {
            Anomaly::Late => promised = Some(plan.late_promise(&events)),
            Anomaly::Slow => {
                let p = promised.unwrap_or_else(|| plan.promise_after(planned_final));
                plan.slow_down(&mut events, p - planned_final);
                promised = Some(p);
            }
            _ => {}
        }
    }
    debug_assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
    let told_apart_at = anomaly.and_then(|a| match a {
        Anomaly::Late => Some(registered),
        _ => first_difference(&healthy, &events),
    });

    SimParcel {
        index: i,
        id,
        order_id,
        registered_at: dt(registered),
        shipped_at: dt(shipped),
        promised_at: promised.map(dt),
        phone,
        anomaly,
        told_apart_at: told_apart_at.map(dt),
        events,
        format,
        carrier: carrier as u8,
        origin: origin as u8,
        dest: dest as u8,
        lane,
        courier,
        courier_prefix,
        courier_tail,
    }
}

/// The first instant at which `actual` differs from `healthy` as an observer sees
/// it: the earlier of the two traces where they first differ (one that came
/// instead, or one that should have come), or the next trace of the longer one
/// where the other ends; `None` when they are the same.
fn first_difference(healthy: &[SimEvent], actual: &[SimEvent]) -> Option<i64> {
    let k = healthy
        .iter()
        .zip(actual)
        .position(|(h, a)| h != a)
        .unwrap_or(healthy.len().min(actual.len()));
    match (healthy.get(k), actual.get(k)) {
        (Some(h), Some(a)) => Some(h.secs().min(a.secs())),
        (h, a) => h.or(a).map(SimEvent::secs),
    }
}
