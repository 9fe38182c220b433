//! The healthy lifecycle of a parcel: the lane and its destination, the route of
//! hubs, the timing of every stage and the final mile (see the crate doc for the
//! model).

use std::sync::OnceLock;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use super::clock::{dt, hours_secs, in_window, local_midnight, uhours, usecs, DAY, H};
use super::parcel::{SimEvent, SimKind, NO_SITE};
use super::pick_weighted;
use crate::geo::{lane_class, LaneClass, LaneShape, CITIES, STATION_SHOPS};

/// Picks the lane class by weight, then a destination of that class from `origin`
/// (falling back to a farther class when the origin has no such destination, e.g.
/// same-province from 上海).
pub(super) fn pick_destination(rng: &mut ChaCha8Rng, origin: usize) -> (usize, LaneClass) {
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
                        .filter(|&d| lane_class(o, d) == class && CITIES[d].dest_weight > 0)
                        .map(|d| d as u8)
                        .collect()
                })
            })
            .collect()
    })
}

/// Draws one parcel's lifecycle from its random stream.
pub(super) struct Planner<'a> {
    pub(super) rng: &'a mut ChaCha8Rng,
    pub(super) origin: u8,
    pub(super) dest: u8,
    pub(super) lane: LaneClass,
    /// The median's factor: carrier, lane and calendar ([`super::pace`]).
    pub(super) speed: f64,
    /// The parcel σ's factor (a festival backlog widens it).
    pub(super) sigma_scale: f64,
    pub(super) shipped: i64,
}

impl Planner<'_> {
    fn hub_slot(&mut self, city: u8) -> u8 {
        self.rng.random_range(0..CITIES[city as usize].hubs.len()) as u8
    }

    pub(super) fn station_slot(&mut self, city: u8) -> u8 {
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

    pub(super) fn locker_variant(&mut self) -> u8 {
        if self.rng.random_bool(0.5) {
            self.rng.random_range(0..40u8)
        } else {
            100 + self.rng.random_range(0..STATION_SHOPS.len() as u8)
        }
    }

    /// A uniform instant in `[lo, hi]` whose local time is in `[from_h, to_h)`
    /// (rejection sampling; `fallback` if none is found).
    pub(super) fn in_hours(
        &mut self,
        lo: i64,
        hi: i64,
        from_h: f64,
        to_h: f64,
        fallback: i64,
    ) -> i64 {
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
    pub(super) fn next_window(&mut self, t: i64, from_h: f64, to_h: f64, spread_h: f64) -> i64 {
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
    pub(super) fn healthy(&mut self) -> Vec<SimEvent> {
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
        let sigma = super::pace::parcel_sigma(sigma) * self.sigma_scale;
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
}

/// Inserts an extra transit hub (arrive + depart) into any line-haul gap of 36 h or
/// more, so a healthy parcel never goes 40 h without a trace.
pub(super) fn split_long_line_hauls(plan: &mut Planner<'_>, ev: &mut Vec<SimEvent>) {
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
pub(super) fn link_departures(ev: &mut [SimEvent], dest: u8) {
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
