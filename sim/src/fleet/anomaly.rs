//! Anomaly injection: how often each kind is drawn, and how it rewrites a healthy
//! lifecycle (see the crate doc for the model).

use chrono::Duration;
use rand::Rng;

use super::clock::{hours_secs, local_midnight, uhours, usecs, DAY, H};
use super::lifecycle::Planner;
use super::parcel::{Anomaly, SimEvent, SimKind, NO_SITE};

impl Anomaly {
    /// Relative frequency among anomalous parcels (orders of magnitude from
    /// fleet-facts point 5, flattened so every kind shows up in a small demo).
    pub(super) fn weight(self) -> f64 {
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
            Anomaly::Slow => 0.08,
        }
    }
}

impl Planner<'_> {
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

    pub(super) fn inject(&mut self, anomaly: Anomaly, ev: &mut Vec<SimEvent>) {
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
            // The promise is set, and Slow applied, from the plan (`generate`).
            Anomaly::Late | Anomaly::Slow => {}
        }
    }

    /// The promise of a `Late` parcel: 6-30 h before its final event, at least 12 h
    /// after shipping; 1 h before the final event when both are impossible.
    pub(super) fn late_promise(&mut self, events: &[SimEvent]) -> i64 {
        let shipped = self.shipped;
        let last = events.last().map(|e| e.secs()).unwrap_or(shipped);
        let mut p = (last - uhours(self.rng, 6.0, 30.0)).max(shipped + 12 * H);
        if p > last - H {
            p = last - H;
        }
        p
    }
}

impl Planner<'_> {
    /// A promise 12-60 h after the planned final event, rounded up to the hour.
    pub(super) fn promise_after(&mut self, planned_final: i64) -> i64 {
        let p = planned_final + 12 * H + self.rng.random_range(0..48 * H);
        (p + H - 1).div_euclid(H) * H
    }

    /// `Slow`: the line haul (the legs from a hub departure to the next scan,
    /// between pickup and the destination station) takes whole days longer, enough
    /// to miss a promise `slack` seconds after the planned final event by up to a
    /// day; the legs grow in proportion, long ones get a transit re-scan as in a
    /// healthy lifecycle, and every later scan moves by the same whole days.
    pub(super) fn slow_down(&mut self, ev: &mut Vec<SimEvent>, slack: i64) {
        let days = slack.max(0).div_euclid(DAY) + 1 + i64::from(self.rng.random_bool(0.5));
        let added = days * DAY;
        let station = Self::index_of(ev, SimKind::StationArrive);
        let legs: i64 = (0..station)
            .filter(|&k| ev[k].kind == SimKind::HubDepart)
            .map(|k| ev[k + 1].secs() - ev[k].secs())
            .sum();
        let original: Vec<i64> = ev.iter().map(SimEvent::secs).collect();
        let mut shift = 0i64;
        for k in 1..ev.len() {
            if k >= station {
                shift = added;
            } else if ev[k - 1].kind == SimKind::HubDepart && legs > 0 {
                let own = original[k] - original[k - 1];
                shift += (i128::from(added) * i128::from(own) / i128::from(legs)) as i64;
            }
            ev[k].at += Duration::seconds(shift);
        }
        super::lifecycle::split_long_line_hauls(self, ev);
        super::lifecycle::link_departures(ev, self.dest);
    }
}

fn shift_from(ev: &mut [SimEvent], from: usize, by: i64) {
    for e in &mut ev[from..] {
        e.at += Duration::seconds(by);
    }
}
