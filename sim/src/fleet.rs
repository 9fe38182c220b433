//! Fleet generation: healthy lifecycles on realistic lanes, then at most one injected
//! anomaly per parcel. Internally every instant is whole seconds since the Unix
//! epoch (`i64`), so what the carrier reply prints (seconds) is exactly what the
//! ground truth reasons about.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use shared::domain::{CarrierCode, Phone, Shipment, ShipmentId, Status, TrackingNumber};

use super::geo::{LaneClass, CARRIERS, CITIES, COURIERS, STATION_SHOPS};

/// Seconds per hour.
pub(crate) const H: i64 = 3600;
const DAY: i64 = 24 * H;
/// China Standard Time offset in seconds.
const CST: i64 = 8 * H;

/// "No hub or station" in [`SimEvent::site`] / [`SimEvent::next_site`].
pub const NO_SITE: u8 = u8::MAX;

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

/// What is wrong with a parcel, when something is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Anomaly {
    NoPickup,
    WrongNumber,
    HubStuck,
    Stall,
    Lost,
    OutForDeliveryStuck,
    DeliveryFailed,
    Exception,
    Refused,
    Returned,
    LockerUncollected,
    Late,
}

impl Anomaly {
    pub const ALL: [Anomaly; 12] = [
        Anomaly::NoPickup,
        Anomaly::WrongNumber,
        Anomaly::HubStuck,
        Anomaly::Stall,
        Anomaly::Lost,
        Anomaly::OutForDeliveryStuck,
        Anomaly::DeliveryFailed,
        Anomaly::Exception,
        Anomaly::Refused,
        Anomaly::Returned,
        Anomaly::LockerUncollected,
        Anomaly::Late,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Anomaly::NoPickup => "no_pickup",
            Anomaly::WrongNumber => "wrong_number",
            Anomaly::HubStuck => "hub_stuck",
            Anomaly::Stall => "stall",
            Anomaly::Lost => "lost",
            Anomaly::OutForDeliveryStuck => "out_for_delivery_stuck",
            Anomaly::DeliveryFailed => "delivery_failed",
            Anomaly::Exception => "exception",
            Anomaly::Refused => "refused",
            Anomaly::Returned => "returned",
            Anomaly::LockerUncollected => "locker_uncollected",
            Anomaly::Late => "late",
        }
    }

    /// Relative frequency among anomalous parcels (orders of magnitude from
    /// fleet-facts point 5, flattened so every kind shows up in a small demo).
    fn weight(self) -> f64 {
        match self {
            Anomaly::NoPickup => 0.08,
            Anomaly::WrongNumber => 0.05,
            Anomaly::HubStuck => 0.10,
            Anomaly::Stall => 0.12,
            Anomaly::Lost => 0.04,
            Anomaly::OutForDeliveryStuck => 0.08,
            Anomaly::DeliveryFailed => 0.14,
            Anomaly::Exception => 0.08,
            Anomaly::Refused => 0.08,
            Anomaly::Returned => 0.05,
            Anomaly::LockerUncollected => 0.10,
            Anomaly::Late => 0.08,
        }
    }
}

impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a simulated trace says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SimKind {
    Created,
    PickedUp,
    HubArrive,
    HubDepart,
    StationArrive,
    OutForDelivery,
    Locker,
    LockerOverdue,
    Delivered,
    Failed,
    Redeliver,
    Exception,
    ExceptionResolved,
    Refused,
    ReturnStart,
    ReturnTransit,
    ReturnSigned,
}

impl SimKind {
    /// The normalised status this trace means (the oracle's mapping).
    pub fn status(self) -> Status {
        match self {
            SimKind::Created => Status::Pending,
            SimKind::PickedUp => Status::PickedUp,
            SimKind::HubArrive | SimKind::HubDepart | SimKind::ExceptionResolved => {
                Status::InTransit
            }
            SimKind::StationArrive => Status::ArrivedAtDestinationCity,
            SimKind::OutForDelivery | SimKind::Redeliver => Status::OutForDelivery,
            SimKind::Locker | SimKind::LockerOverdue => Status::AwaitingCollection,
            SimKind::Delivered => Status::Delivered,
            SimKind::Failed => Status::DeliveryFailed,
            SimKind::Exception => Status::Exception,
            SimKind::Refused => Status::Refused,
            SimKind::ReturnStart | SimKind::ReturnTransit => Status::Returning,
            SimKind::ReturnSigned => Status::Returned,
        }
    }

    fn is_hub(self) -> bool {
        matches!(self, SimKind::HubArrive | SimKind::HubDepart)
    }
}

/// One simulated trace. Places are indices into [`super::geo::CITIES`] and that
/// city's `hubs` / `stations`; the text is only rendered in a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimEvent {
    pub at: DateTime<Utc>,
    pub kind: SimKind,
    /// Index into `CITIES`.
    pub city: u8,
    /// Hub slot (hub kinds, `ReturnTransit`, hub exceptions) or station slot (the
    /// rest) in that city; [`NO_SITE`] when none.
    pub site: u8,
    /// `HubDepart` only: where the parcel goes next, a hub (city, slot) or the
    /// destination city with `next_site == NO_SITE`.
    pub next_city: u8,
    pub next_site: u8,
    /// Text variant: locker (`< 100` 丰巢 cabinet number - 1, `>= 100` 驿站 shop
    /// index + 100), delivered (1 = collected with a code), failed reason (0/1),
    /// exception (0 address, 1 damaged, 2 mis-sorted).
    pub variant: u8,
}

impl SimEvent {
    fn new(at: i64, kind: SimKind, city: u8, site: u8) -> Self {
        Self {
            at: dt(at),
            kind,
            city,
            site,
            next_city: NO_SITE,
            next_site: NO_SITE,
            variant: 0,
        }
    }

    fn with_variant(mut self, v: u8) -> Self {
        self.variant = v;
        self
    }

    fn secs(&self) -> i64 {
        self.at.timestamp()
    }

    fn same_place(&self, other: &SimEvent) -> bool {
        self.city == other.city && self.site == other.site
    }
}

/// Which carrier reply format the parcel is rendered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyFormat {
    /// Kdniao instant query 8001: per-trace `Action`, top-level `StateEx`.
    Kdniao8001,
    /// Kdniao instant query 1002: texts only.
    Kdniao1002,
    /// Kuaidi100 real-time query with `resultv2=4` status codes.
    Kuaidi100,
}

impl ReplyFormat {
    pub fn normalise_format(self) -> shared::normalise::Format {
        match self {
            ReplyFormat::Kdniao8001 | ReplyFormat::Kdniao1002 => shared::normalise::Format::Kdniao,
            ReplyFormat::Kuaidi100 => shared::normalise::Format::Kuaidi100,
        }
    }
}

/// One simulated parcel: identity, promises, and its complete (future included)
/// carrier-side history.
#[derive(Clone, Debug, PartialEq)]
pub struct SimParcel {
    /// Position in the fleet (the parcel depends only on the seed and this).
    pub index: u32,
    pub id: ShipmentId,
    pub order_id: String,
    pub registered_at: DateTime<Utc>,
    pub shipped_at: DateTime<Utc>,
    pub promised_at: Option<DateTime<Utc>>,
    pub phone: Option<Phone>,
    pub anomaly: Option<Anomaly>,
    /// Every trace the carrier will ever report, ascending by time.
    pub events: Vec<SimEvent>,
    pub format: ReplyFormat,
    /// Index into [`super::geo::CARRIERS`].
    pub carrier: u8,
    /// Indices into `CITIES`.
    pub origin: u8,
    pub dest: u8,
    pub lane: LaneClass,
    /// Index into `COURIERS`, and the courier's phone shown masked: `13{prefix}****{tail}`.
    pub courier: u8,
    pub courier_prefix: u8,
    pub courier_tail: u16,
}

impl SimParcel {
    /// The shipment as the order system would register it.
    pub fn shipment(&self) -> Shipment {
        let mut s = Shipment::new(self.id.clone(), self.registered_at);
        s.order_id = Some(self.order_id.clone());
        s.shipped_at = Some(self.shipped_at);
        s.promised_at = self.promised_at;
        s.phone = self.phone.clone();
        s.tags = vec!["demo".to_string()];
        s
    }

    /// Events the carrier has reported by `now`.
    pub fn events_at(&self, now: DateTime<Utc>) -> &[SimEvent] {
        let n = self.events.partition_point(|e| e.at <= now);
        &self.events[..n]
    }

    /// The delivery moment (first locker/station drop or signature), if any.
    pub fn delivered_or_dropped_at(&self) -> Option<DateTime<Utc>> {
        self.events
            .iter()
            .find(|e| matches!(e.kind, SimKind::Locker | SimKind::Delivered))
            .map(|e| e.at)
    }

    /// Pickup scan time, if any.
    pub fn picked_up_at(&self) -> Option<DateTime<Utc>> {
        self.events
            .iter()
            .find(|e| e.kind == SimKind::PickedUp)
            .map(|e| e.at)
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

pub(crate) fn dt(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("simulated instants are in range")
}

/// Seconds since local (China) midnight.
fn local_sod(t: i64) -> i64 {
    (t + CST).rem_euclid(DAY)
}

/// The UTC instant of the local midnight starting `t`'s local day.
fn local_midnight(t: i64) -> i64 {
    t - local_sod(t)
}

/// Whether `t` lies in the local window `[from_h, to_h)` (hours, fractional).
fn in_window(t: i64, from_h: f64, to_h: f64) -> bool {
    let s = local_sod(t) as f64 / H as f64;
    s >= from_h && s < to_h
}

fn hours_secs(h: f64) -> i64 {
    (h * H as f64).round() as i64
}

fn uhours(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> i64 {
    hours_secs(rng.random_range(lo..hi))
}

fn usecs(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

fn pick_weighted<T>(rng: &mut ChaCha8Rng, items: &[T], weight: impl Fn(&T) -> f64) -> usize {
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

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 9-digit block that is a bijection of the parcel index (for i < 10^9), so
/// tracking numbers are unique per fleet without any shared state.
fn unique_block(seed: u64, i: u32) -> String {
    const M: u64 = 1_000_000_000;
    const MULT: u64 = 387_420_489; // 3^18, coprime with 10
    let v = ((i as u64 % M) * MULT + splitmix(seed) % M) % M;
    format!("{v:09}")
}

fn push_digits(out: &mut String, rng: &mut ChaCha8Rng, n: usize) {
    for _ in 0..n {
        out.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
}

/// A tracking number in the carrier's real shape: a prefix, random filler digits,
/// then the unique block (EMS international-style numbers end with `CN`).
fn tracking_number(rng: &mut ChaCha8Rng, code: &str, seed: u64, i: u32) -> String {
    let pick = rng.random_bool(0.5);
    let mut s = String::with_capacity(16);
    let (prefix, filler): (&str, usize) = match code {
        "SF" => ("SF", 4),
        "ZTO" if pick => ("75", 3),
        "ZTO" => ("73", 1),
        "YTO" => ("YT", 4),
        "YD" if pick => ("43", 2),
        "YD" => ("31", 2),
        "JTSD" => ("JT", 4),
        "STO" if pick => ("77", 2),
        "STO" => ("88", 1),
        "JD" => {
            s.push_str("JDV");
            s.push(char::from(b'A' + rng.random_range(0..3u8)));
            ("", 2)
        }
        "EMS" => match rng.random_range(0..3u8) {
            0 => ("11", 2),
            1 => ("98", 2),
            _ => {
                s.push('E');
                s.push(char::from(b'A' + rng.random_range(0..26u8)));
                s.push_str(&unique_block(seed, i));
                s.push_str("CN");
                return s;
            }
        },
        other => (other, 0),
    };
    s.push_str(prefix);
    push_digits(&mut s, rng, filler);
    s.push_str(&unique_block(seed, i));
    s
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

    let mut plan = Planner {
        rng: &mut rng,
        origin: origin as u8,
        dest: dest as u8,
        lane,
        speed: info.speed,
        shipped,
    };
    let mut events = plan.healthy();
    let planned_final = events.last().map(|e| e.secs()).unwrap_or(shipped);
    let mut promised = if plan.rng.random_bool(0.4) {
        None
    } else {
        let p = planned_final + 12 * H + plan.rng.random_range(0..48 * H);
        Some((p + H - 1).div_euclid(H) * H) // round up to the hour
    };
    if let Some(a) = anomaly {
        plan.inject(a, &mut events);
        if a == Anomaly::Late {
            let last = events.last().map(|e| e.secs()).unwrap_or(shipped);
            let mut p = (last - uhours(plan.rng, 6.0, 30.0)).max(shipped + 12 * H);
            if p > last - H {
                p = last - H;
            }
            promised = Some(p);
        }
    }
    debug_assert!(events.windows(2).all(|w| w[0].at <= w[1].at));

    SimParcel {
        index: i,
        id,
        order_id,
        registered_at: dt(registered),
        shipped_at: dt(shipped),
        promised_at: promised.map(dt),
        phone,
        anomaly,
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

/// Picks the lane class by weight, then a destination of that class from `origin`
/// (falling back to a farther class when the origin has no such destination, e.g.
/// same-province from 上海).
fn pick_destination(rng: &mut ChaCha8Rng, origin: usize) -> (usize, LaneClass) {
    let wanted = LaneClass::ALL[pick_weighted(rng, &LaneClass::ALL, |l| l.weight())];
    let order: &[LaneClass] = match wanted {
        LaneClass::SameCity => &[LaneClass::SameCity],
        LaneClass::SameProvince => &[
            LaneClass::SameProvince,
            LaneClass::Regional,
            LaneClass::CrossCountry,
        ],
        LaneClass::Regional => &[LaneClass::Regional, LaneClass::CrossCountry],
        LaneClass::CrossCountry => &[LaneClass::CrossCountry],
        LaneClass::Remote => &[LaneClass::Remote],
    };
    let table = destination_table();
    for &class in order {
        let candidates = &table[origin][class as usize];
        if !candidates.is_empty() {
            let k = pick_weighted(rng, candidates, |&d| CITIES[d as usize].dest_weight as f64);
            return (candidates[k] as usize, class);
        }
    }
    (origin, LaneClass::SameCity)
}

/// For each origin and lane class, the possible destinations (computed once).
fn destination_table() -> &'static [[Vec<u8>; 5]] {
    static TABLE: OnceLock<Vec<[Vec<u8>; 5]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..CITIES.len())
            .map(|o| {
                LaneClass::ALL.map(|class| {
                    (0..CITIES.len())
                        .filter(|&d| LaneClass::of(o, d) == class && CITIES[d].dest_weight > 0)
                        .map(|d| d as u8)
                        .collect()
                })
            })
            .collect()
    })
}

struct Planner<'a> {
    rng: &'a mut ChaCha8Rng,
    origin: u8,
    dest: u8,
    lane: LaneClass,
    speed: f64,
    shipped: i64,
}

impl Planner<'_> {
    fn hub_slot(&mut self, city: u8) -> u8 {
        self.rng.random_range(0..CITIES[city as usize].hubs.len()) as u8
    }

    fn station_slot(&mut self, city: u8) -> u8 {
        self.rng
            .random_range(0..CITIES[city as usize].stations.len()) as u8
    }

    /// A transit city other than those given.
    fn transit_city(&mut self, avoid: &[u8]) -> u8 {
        static TRANSIT: OnceLock<Vec<u8>> = OnceLock::new();
        let all = TRANSIT.get_or_init(|| {
            (0..CITIES.len() as u8)
                .filter(|c| CITIES[*c as usize].transit)
                .collect()
        });
        // Rejection keeps this allocation-free; `avoid` never covers every hub city.
        loop {
            let c = all[self.rng.random_range(0..all.len())];
            if !avoid.contains(&c) {
                return c;
            }
        }
    }

    fn locker_variant(&mut self) -> u8 {
        if self.rng.random_bool(0.5) {
            self.rng.random_range(0..40u8)
        } else {
            100 + self.rng.random_range(0..STATION_SHOPS.len() as u8)
        }
    }

    /// A uniform instant in `[lo, hi]` whose local time is in `[from_h, to_h)`
    /// (rejection sampling; `fallback` if none is found).
    fn in_hours(&mut self, lo: i64, hi: i64, from_h: f64, to_h: f64, fallback: i64) -> i64 {
        for _ in 0..64 {
            let t = usecs(self.rng, lo, hi);
            if in_window(t, from_h, to_h) {
                return t;
            }
        }
        fallback
    }

    /// The first instant at or after `t` in the local window `[from_h, to_h)`, plus
    /// a uniform offset of up to `spread_h` hours inside the window.
    fn next_window(&mut self, t: i64, from_h: f64, to_h: f64, spread_h: f64) -> i64 {
        if in_window(t, from_h, to_h) {
            return t;
        }
        let mut start = local_midnight(t) + hours_secs(from_h);
        if start < t {
            start += DAY;
        }
        start + uhours(self.rng, 0.0, spread_h.min(to_h - from_h))
    }

    /// A complete healthy lifecycle (see the module doc of `sim` for the model).
    fn healthy(&mut self) -> Vec<SimEvent> {
        let (o, d) = (self.origin, self.dest);
        let mut ev: Vec<SimEvent> = Vec::with_capacity(24);

        // Pickup 0.5-12 h after shipping, nudged out of the night when possible.
        let mut pickup = self.shipped + uhours(self.rng, 0.5, 12.0);
        if !in_window(pickup, 7.0, 22.0) {
            let morning = self.next_window(pickup, 7.0, 22.0, 2.0);
            if morning <= self.shipped + 12 * H - 60 {
                pickup = morning;
            }
        }
        if self.rng.random_bool(0.3) {
            let created = self.shipped + uhours(self.rng, 0.05, 0.45);
            ev.push(SimEvent::new(created, SimKind::Created, o, NO_SITE));
        }
        let pickup_station = self.station_slot(o);
        ev.push(SimEvent::new(pickup, SimKind::PickedUp, o, pickup_station));

        // Route: origin hub, transit hubs, destination hub.
        let (lo, hi) = self.lane.hub_range();
        let n = self.rng.random_range(lo..=hi);
        let mut route: Vec<(u8, u8)> = vec![(o, self.hub_slot(o))];
        let mut avoid = vec![o, d];
        for _ in 0..n.saturating_sub(2) {
            let c = self.transit_city(&avoid);
            avoid.push(c);
            route.push((c, self.hub_slot(c)));
        }
        if n >= 2 {
            route.push((d, self.hub_slot(d)));
        }

        // Total collection-to-delivery time and the stage split (points 1 and 2).
        let (median, sigma) = self.lane.median_sigma();
        let total_h = LogNormal::new((median * self.speed).ln(), sigma)
            .expect("valid lognormal")
            .sample(self.rng);
        let fo = 0.15 * self.rng.random_range(0.7..1.3);
        let fl = 0.61 * self.rng.random_range(0.7..1.3);
        let fd = 0.18 * self.rng.random_range(0.7..1.3);
        let fdel = 0.05 * self.rng.random_range(0.7..1.3);
        let fsum = fo + fl + fd + fdel;
        let del_h = (total_h * fdel / fsum).clamp(0.5, 8.0);

        // 派件 starts 07:30-10:00 local, on the day nearest the target.
        let ofd_target = pickup + hours_secs(total_h - del_h);
        let day0 = local_midnight(ofd_target);
        let k = ((ofd_target - day0 - hours_secs(8.75)) as f64 / DAY as f64).round() as i64;
        let mut ofd = day0 + k * DAY + hours_secs(7.5) + usecs(self.rng, 0, hours_secs(2.5) - 60);
        let min_span = 4 * H + 2 * H * n as i64;
        while ofd < pickup + min_span {
            ofd += DAY;
        }
        let span = (ofd - pickup) as f64;
        let three = fo + fl + fd;
        let s_o = ((span * fo / three) as i64).min(20 * H);
        let s_d = ((span * fd / three) as i64).min(30 * H);
        let s_l = ofd - pickup - s_o - s_d;

        // Origin hub.
        let dep0 = pickup + s_o;
        let mut arr0 = pickup + (s_o as f64 * self.rng.random_range(0.3..0.7)) as i64;
        if dep0 - arr0 > 10 * H {
            arr0 = dep0 - uhours(self.rng, 6.0, 10.0);
        }
        arr0 = arr0.max(pickup + 60);
        ev.push(SimEvent::new(
            arr0,
            SimKind::HubArrive,
            route[0].0,
            route[0].1,
        ));
        ev.push(SimEvent::new(
            dep0,
            SimKind::HubDepart,
            route[0].0,
            route[0].1,
        ));

        let station_slot = self.station_slot(d);
        let station_at = if n >= 2 {
            let arr_last = dep0 + s_l;
            let m = n - 2;
            let seg = s_l / (m as i64 + 1);
            for (j, &(c, s)) in route[1..=m].iter().enumerate() {
                let centre = dep0 + seg * (j as i64 + 1) + usecs(self.rng, -seg / 8, seg / 8);
                let dwell = uhours(self.rng, 0.5, 4.0).min(seg / 2);
                let arr = centre - dwell / 2;
                ev.push(SimEvent::new(arr, SimKind::HubArrive, c, s));
                ev.push(SimEvent::new(arr + dwell, SimKind::HubDepart, c, s));
            }
            let dproc = ofd - arr_last;
            let (dep_last, st) = if dproc < 4 * H {
                (arr_last + dproc * 3 / 10, arr_last + dproc * 7 / 10)
            } else {
                let dep = arr_last + uhours(self.rng, 1.0, 6.0).min(dproc * 2 / 5);
                let st = ofd - uhours(self.rng, 0.3, 3.0).min((ofd - dep) / 2);
                (dep, st)
            };
            let (c, s) = route[n - 1];
            ev.push(SimEvent::new(arr_last, SimKind::HubArrive, c, s));
            ev.push(SimEvent::new(dep_last, SimKind::HubDepart, c, s));
            st
        } else {
            dep0 + s_l
        };
        ev.push(SimEvent::new(
            station_at,
            SimKind::StationArrive,
            d,
            station_slot,
        ));
        ev.push(SimEvent::new(ofd, SimKind::OutForDelivery, d, station_slot));

        // Final mile: half to a locker or 驿站 (point 4).
        let drop = ofd + hours_secs(del_h);
        if self.rng.random_bool(0.5) {
            let v = self.locker_variant();
            ev.push(SimEvent::new(drop, SimKind::Locker, d, station_slot).with_variant(v));
            let wait = LogNormal::new(4f64.ln(), 1.0).expect("valid lognormal");
            let mut collected = drop + H;
            for _ in 0..32 {
                let w = wait.sample(self.rng).clamp(0.25, 36.0);
                let t = drop + hours_secs(w);
                if in_window(t, 8.0, 20.0) {
                    collected = t;
                    break;
                }
            }
            ev.push(SimEvent::new(collected, SimKind::Delivered, d, station_slot).with_variant(1));
        } else {
            ev.push(SimEvent::new(drop, SimKind::Delivered, d, station_slot));
        }

        split_long_line_hauls(self, &mut ev);
        link_departures(&mut ev, d);
        self.add_duplicates(&mut ev);
        ev
    }

    /// Duplicate hub scans with p = 0.1, 5 s to 5 min after the original (point 3).
    fn add_duplicates(&mut self, ev: &mut Vec<SimEvent>) {
        let mut k = 0;
        while k < ev.len() {
            let e = ev[k];
            if e.kind.is_hub() && self.rng.random_bool(0.1) {
                let t = e.secs() + usecs(self.rng, 5, 300);
                if ev.get(k + 1).is_none_or(|n| t < n.secs()) {
                    let mut dup = e;
                    dup.at = dt(t);
                    ev.insert(k + 1, dup);
                    k += 1; // a duplicate is not duplicated again
                }
            }
            k += 1;
        }
    }

    /// Indices just past each run of same-place hub arrivals (the departure index).
    fn arrival_runs(ev: &[SimEvent]) -> Vec<(usize, usize)> {
        let mut runs = Vec::new();
        let mut k = 0;
        while k < ev.len() {
            if ev[k].kind == SimKind::HubArrive {
                let mut j = k + 1;
                while j < ev.len() && ev[j].kind == SimKind::HubArrive && ev[j].same_place(&ev[k]) {
                    j += 1;
                }
                runs.push((k, j));
                k = j;
            } else {
                k += 1;
            }
        }
        runs
    }

    /// Indices just past each run of hub departures.
    fn departure_ends(ev: &[SimEvent]) -> Vec<usize> {
        (0..ev.len())
            .filter(|&k| {
                ev[k].kind == SimKind::HubDepart
                    && ev.get(k + 1).is_none_or(|n| n.kind != SimKind::HubDepart)
            })
            .map(|k| k + 1)
            .collect()
    }

    fn index_of(ev: &[SimEvent], kind: SimKind) -> usize {
        ev.iter()
            .position(|e| e.kind == kind)
            .expect("healthy lifecycles have every stage")
    }

    /// The hubs of the forward route, in reverse, for the way back.
    fn return_route(ev: &[SimEvent]) -> Vec<(u8, u8)> {
        let mut hubs: Vec<(u8, u8)> = Vec::new();
        for e in ev.iter().filter(|e| e.kind == SimKind::HubArrive) {
            if hubs.last() != Some(&(e.city, e.site)) {
                hubs.push((e.city, e.site));
            }
        }
        hubs.reverse();
        hubs
    }

    /// Appends the way back to the sender after `ReturnStart` at `t`. Gaps are
    /// 6-22 h (below both the stall and the hub-dwell thresholds).
    fn push_return(&mut self, ev: &mut Vec<SimEvent>, mut t: i64, hubs: &[(u8, u8)]) {
        for &(c, s) in hubs {
            t += uhours(self.rng, 6.0, 22.0);
            ev.push(SimEvent::new(t, SimKind::ReturnTransit, c, s));
        }
        let fallback = self.next_window(t + 6 * H, 8.0, 10.0, 2.0);
        let signed = self.in_hours(t + 6 * H, t + 22 * H, 8.0, 20.0, fallback);
        let st = self.station_slot(self.origin);
        ev.push(SimEvent::new(
            signed,
            SimKind::ReturnSigned,
            self.origin,
            st,
        ));
    }

    fn inject(&mut self, anomaly: Anomaly, ev: &mut Vec<SimEvent>) {
        let (o, d) = (self.origin, self.dest);
        match anomaly {
            Anomaly::NoPickup => {
                let t = self.shipped + uhours(self.rng, 0.2, 2.0);
                *ev = vec![SimEvent::new(t, SimKind::Created, o, NO_SITE)];
            }
            Anomaly::WrongNumber => ev.clear(),
            Anomaly::HubStuck => {
                let runs = Self::arrival_runs(ev);
                let (k, j) = runs[self.rng.random_range(0..runs.len())];
                let cur = ev[j].secs() - ev[k].secs();
                let days: Vec<i64> = (1..=3)
                    .filter(|n| (30 * H..=80 * H).contains(&(cur + n * DAY)))
                    .collect();
                let n = days[self.rng.random_range(0..days.len())];
                shift_from(ev, j, n * DAY);
            }
            Anomaly::Stall => {
                let ends = Self::departure_ends(ev);
                let j = ends[self.rng.random_range(0..ends.len())];
                let gap = ev[j].secs() - ev[j - 1].secs();
                let days: Vec<i64> = (1..=5)
                    .filter(|n| (52 * H..=110 * H).contains(&(gap + n * DAY)))
                    .collect();
                let n = days[self.rng.random_range(0..days.len())];
                shift_from(ev, j, n * DAY);
            }
            Anomaly::Lost => {
                let ends = Self::departure_ends(ev);
                let j = ends[self.rng.random_range(0..ends.len())];
                ev.truncate(j);
            }
            Anomaly::OutForDeliveryStuck => {
                let k = Self::index_of(ev, SimKind::OutForDelivery);
                ev.truncate(k + 1);
                let ofd = ev[k].secs();
                let next_day = local_midnight(ofd) + DAY;
                let lo = (ofd + 14 * H).max(next_day + 8 * H);
                let hi = (ofd + 30 * H).min(next_day + 20 * H - 60);
                let t = usecs(self.rng, lo, hi);
                let s = ev[k].site;
                ev.push(SimEvent::new(t, SimKind::Delivered, d, s));
            }
            Anomaly::DeliveryFailed => {
                let k = Self::index_of(ev, SimKind::OutForDelivery);
                ev.truncate(k + 1);
                let (ofd, s) = (ev[k].secs(), ev[k].site);
                let failed = ofd + uhours(self.rng, 1.0, 6.0);
                let reason = self.rng.random_range(0..2u8);
                ev.push(SimEvent::new(failed, SimKind::Failed, d, s).with_variant(reason));
                let next_day = local_midnight(failed) + DAY;
                let lo = (failed + 14 * H).max(next_day + hours_secs(7.5));
                let hi = (failed + 26 * H).min(next_day + 10 * H - 60);
                let redeliver = usecs(self.rng, lo, hi);
                ev.push(SimEvent::new(redeliver, SimKind::Redeliver, d, s));
                let delivered = redeliver + uhours(self.rng, 1.0, 5.0);
                ev.push(SimEvent::new(delivered, SimKind::Delivered, d, s));
            }
            Anomaly::Exception => {
                let at_station = self.rng.random_bool(0.6);
                let (k, variant) = if at_station {
                    (Self::index_of(ev, SimKind::StationArrive), 0u8)
                } else {
                    let runs = Self::arrival_runs(ev);
                    let (_, j) = runs[self.rng.random_range(0..runs.len())];
                    (j - 1, 1 + self.rng.random_range(0..2u8))
                };
                let anchor = ev[k];
                let e_at = anchor.secs() + uhours(self.rng, 0.2, 1.0);
                let r_at = e_at + uhours(self.rng, 12.0, 48.0);
                let margin = if at_station { 30 * 60 } else { 12 * 60 };
                let mut days = 0;
                while ev[k + 1].secs() + days * DAY < r_at + margin {
                    days += 1;
                }
                shift_from(ev, k + 1, days * DAY);
                let exc = SimEvent::new(e_at, SimKind::Exception, anchor.city, anchor.site)
                    .with_variant(variant);
                let res = SimEvent::new(r_at, SimKind::ExceptionResolved, anchor.city, anchor.site);
                ev.splice(k + 1..k + 1, [exc, res]);
            }
            Anomaly::Refused => {
                let hubs = Self::return_route(ev);
                let k = Self::index_of(ev, SimKind::OutForDelivery);
                ev.truncate(k + 1);
                let (ofd, s) = (ev[k].secs(), ev[k].site);
                let refused = ofd + uhours(self.rng, 1.0, 5.0);
                ev.push(SimEvent::new(refused, SimKind::Refused, d, s));
                let start = refused + uhours(self.rng, 2.0, 12.0);
                ev.push(SimEvent::new(start, SimKind::ReturnStart, d, s));
                self.push_return(ev, start, &hubs);
            }
            Anomaly::Returned => {
                let hubs = Self::return_route(ev);
                let k = Self::index_of(ev, SimKind::StationArrive);
                ev.truncate(k + 1);
                let (st, s) = (ev[k].secs(), ev[k].site);
                let exc = st + uhours(self.rng, 0.2, 2.0);
                ev.push(SimEvent::new(exc, SimKind::Exception, d, s));
                let start = exc + uhours(self.rng, 12.0, 30.0);
                ev.push(SimEvent::new(start, SimKind::ReturnStart, d, s));
                self.push_return(ev, start, &hubs);
            }
            Anomaly::LockerUncollected => {
                let k = Self::index_of(ev, SimKind::OutForDelivery);
                let drop_idx = k + 1;
                if ev[drop_idx].kind != SimKind::Locker {
                    let v = self.locker_variant();
                    ev[drop_idx].kind = SimKind::Locker;
                    ev[drop_idx].variant = v;
                }
                ev.truncate(drop_idx + 1);
                let (drop, s) = (ev[drop_idx].secs(), ev[drop_idx].site);
                if self.rng.random_bool(0.5) {
                    let t = drop + uhours(self.rng, 18.0, 24.0);
                    ev.push(SimEvent::new(t, SimKind::LockerOverdue, d, s));
                }
                let fallback = self.next_window(drop + 50 * H, 8.0, 20.0, 2.0);
                let t = self.in_hours(drop + 50 * H, drop + 110 * H, 8.0, 20.0, fallback);
                ev.push(SimEvent::new(t, SimKind::Delivered, d, s).with_variant(1));
            }
            Anomaly::Late => {}
        }
    }
}

fn shift_from(ev: &mut [SimEvent], from: usize, by: i64) {
    for e in &mut ev[from..] {
        e.at += Duration::seconds(by);
    }
}

/// Inserts an extra transit hub (arrive + depart) into any line-haul gap of 36 h or
/// more, so a healthy parcel never goes 40 h without a trace.
fn split_long_line_hauls(plan: &mut Planner<'_>, ev: &mut Vec<SimEvent>) {
    let mut k = 0;
    while k + 1 < ev.len() {
        let (a, b) = (ev[k], ev[k + 1]);
        let gap = b.secs() - a.secs();
        if a.kind == SimKind::HubDepart && gap >= 36 * H {
            // Short lanes re-scan at a hub of the origin or destination city;
            // long lanes pass another national transit hub.
            let c = match plan.lane {
                LaneClass::SameCity | LaneClass::SameProvince | LaneClass::Regional => {
                    if a.city != plan.dest {
                        plan.dest
                    } else {
                        plan.origin
                    }
                }
                LaneClass::CrossCountry | LaneClass::Remote => {
                    plan.transit_city(&[a.city, b.city, plan.origin, plan.dest])
                }
            };
            let s = plan.hub_slot(c);
            let arr = a.secs() + (gap as f64 * plan.rng.random_range(0.4..0.5)) as i64;
            let dep = arr + uhours(plan.rng, 1.0, 4.0);
            ev.splice(
                k + 1..k + 1,
                [
                    SimEvent::new(arr, SimKind::HubArrive, c, s),
                    SimEvent::new(dep, SimKind::HubDepart, c, s),
                ],
            );
            // Re-examine the departure we just inserted, and this one again.
            continue;
        }
        k += 1;
    }
}

/// Fills `next_city`/`next_site` of every departure: the next hub, or the
/// destination city.
fn link_departures(ev: &mut [SimEvent], dest: u8) {
    let mut next = (dest, NO_SITE);
    for e in ev.iter_mut().rev() {
        match e.kind {
            SimKind::HubArrive => next = (e.city, e.site),
            SimKind::HubDepart => {
                e.next_city = next.0;
                e.next_site = next.1;
            }
            _ => next = (dest, NO_SITE),
        }
    }
}
