//! Keeping the estimated delivery honest (issue 17 §2: "the p90 must cover about
//! 90 % of deliveries").
//!
//! A lane's remaining-time sketch learns only from parcels already delivered, so
//! it under-counts the slow ones still on their way (a stuck parcel teaches its
//! lane only once it arrives), and parcels that are about to stall look healthy
//! until they do. Its p90 then covers fewer than 90 % of deliveries. The fix is
//! the classic recalibration of a predictive distribution by its probability
//! integral transform (PIT): when a parcel is delivered, the tracker asks, at
//! instants spread over its way, what chance its lane gave then of delivery by
//! the instant it actually came ([`pits`]). For a calibrated estimate those chances are uniform;
//! their distribution, learned per carrier (`u|{percent}` counters of the
//! carrier's lane level, [`Calibration`]), says which level of the lane's
//! distribution really covers 90 % ([`Calibration::level`]) — the ETA's p90 is
//! read there. Only the last two weeks' deliveries count ([`WEEKS`]): the
//! estimates they judged improve as the lanes learn, and a cold start's
//! misses would otherwise widen a warm lane's estimates for a month. Until
//! enough parcels have been delivered, the levels are the nominal ones.

use chrono::Duration;

use crate::domain::{Shipment, Timeline};
use crate::lanes::{Journey, LaneView};

/// Weeks of deliveries a carrier's calibration is read from (this one and the
/// one before).
pub const WEEKS: usize = 2;

/// PIT buckets: hundredths.
pub const BUCKETS: usize = 100;

/// Below this many learned PITs a carrier's calibration is not trusted: the
/// nominal levels are used.
pub const MIN_PITS: i64 = 100;

/// PITs per delivered parcel, at instants evenly spread over its way: each
/// delivery weighs the same, and within it every moment its estimate could be
/// read weighs the same (as "the p90 covers 90 % of deliveries" is meant).
pub const PER_PARCEL: u32 = 12;

/// Calibrated levels stay within these bounds whatever was learned.
const LEVEL_BOUNDS: (f64, f64) = (0.02, 0.995);

/// How a delivered parcel's estimates fared: at [`PER_PARCEL`] instants evenly
/// spread between its start and its delivery, the chance `view` gives of
/// delivery by the time it came, from what the timeline said then; in
/// hundredths (0..=99). Empty for a parcel not delivered.
pub fn pits(view: &LaneView, shipment: &Shipment) -> Vec<u8> {
    let Some(delivered) = Journey::of(shipment).delivered_at else {
        return Vec::new();
    };
    let start = shipment.started_at();
    if delivered <= start {
        return Vec::new();
    }
    let way = (delivered - start).num_seconds();
    let mut out = Vec::with_capacity(PER_PARCEL as usize);
    // The timeline as it stood, grown instant by instant (its events are in
    // time order).
    let events = shipment.timeline.events();
    let mut before = shipment.clone();
    before.timeline = Timeline::new();
    let mut known = 0;
    for i in 0..PER_PARCEL {
        let offset = way * i64::from(2 * i + 1) / i64::from(2 * PER_PARCEL);
        let at = start + Duration::seconds(offset);
        let upto = events.partition_point(|e| e.at <= at);
        if upto > known {
            before.timeline.merge(events[known..upto].to_vec());
            known = upto;
        }
        if let Some(p) = view.raw_p_delivered_by(&before, delivered, at) {
            out.push(bucket(p));
        }
    }
    out
}

/// A raw chance read through a recalibration table ([`Calibration::table`]),
/// interpolated within its hundredth.
pub fn recalibrate(table: &[f64; BUCKETS + 1], p: f64) -> f64 {
    let x = p.clamp(0.0, 1.0) * BUCKETS as f64;
    let k = (x as usize).min(BUCKETS - 1);
    let within = x - k as f64;
    table[k] + (table[k + 1] - table[k]) * within
}

/// The hundredth a chance falls in.
pub fn bucket(p: f64) -> u8 {
    ((p.clamp(0.0, 1.0) * BUCKETS as f64) as usize).min(BUCKETS - 1) as u8
}

/// What a carrier's deliveries say of its estimates: how many PITs fell in each
/// hundredth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calibration {
    pub counts: [i64; BUCKETS],
}

impl Default for Calibration {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
        }
    }
}

impl Calibration {
    /// Counter names (`u|{percent}`) as the lane scope keeps them.
    pub fn counter(bucket: u8) -> String {
        format!("u|{bucket}")
    }

    /// The non-zero counts as named counters.
    pub fn counters(&self) -> Vec<(String, i64)> {
        (0..BUCKETS as u8)
            .zip(self.counts)
            .filter(|(_, n)| *n != 0)
            .map(|(b, n)| (Self::counter(b), n))
            .collect()
    }

    /// Adds a counter read back; false for a bucket out of range.
    pub fn add_count(&mut self, bucket: u32, n: i64) -> bool {
        match self.counts.get_mut(bucket as usize) {
            Some(c) => {
                *c = c.saturating_add(n);
                true
            }
            None => false,
        }
    }

    pub fn total(&self) -> i64 {
        self.counts.iter().sum()
    }

    /// The recalibration map: `table[k]` is the share of PITs below `k / 100`
    /// (so a raw chance `p` means `G(p)`, read by [`recalibrate`]). `None` below
    /// [`MIN_PITS`].
    pub fn table(&self) -> Option<Box<[f64; BUCKETS + 1]>> {
        let n = self.total();
        if n < MIN_PITS {
            return None;
        }
        let mut table = Box::new([0.0; BUCKETS + 1]);
        let mut below = 0i64;
        for (b, c) in self.counts.iter().enumerate() {
            below += c;
            table[b + 1] = below as f64 / n as f64;
        }
        Some(table)
    }

    /// The level of a lane's distribution that covers a share `q` of
    /// deliveries, as learned: the `q`-quantile of the PITs (interpolated within
    /// a hundredth). `None` below [`MIN_PITS`].
    pub fn level(&self, q: f64) -> Option<f64> {
        let n = self.total();
        if n < MIN_PITS {
            return None;
        }
        let want = q.clamp(0.0, 1.0) * n as f64;
        let mut below = 0.0;
        for (b, &c) in self.counts.iter().enumerate() {
            let c = c as f64;
            if c > 0.0 && below + c >= want {
                let within = ((want - below) / c).clamp(0.0, 1.0);
                let level = (b as f64 + within) / BUCKETS as f64;
                return Some(level.clamp(LEVEL_BOUNDS.0, LEVEL_BOUNDS.1));
            }
            below += c;
        }
        Some(LEVEL_BOUNDS.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(by_bucket: impl Fn(usize) -> i64) -> Calibration {
        let mut c = Calibration::default();
        for b in 0..BUCKETS {
            assert!(c.add_count(b as u32, by_bucket(b)));
        }
        c
    }

    #[test]
    fn uniform_pits_keep_the_nominal_levels() {
        let c = spread(|_| 10);
        for q in [0.1, 0.5, 0.9] {
            assert!((c.level(q).unwrap() - q).abs() < 1e-9, "{q}");
        }
    }

    #[test]
    fn deliveries_later_than_estimated_raise_the_level() {
        // Half the PITs uniform, half in the top twentieth: deliveries come later
        // than the lane's p90 far more often than one time in ten.
        let c = spread(|b| if b >= 95 { 10 + 100 } else { 10 });
        let p90 = c.level(0.9).unwrap();
        assert!(p90 > 0.97 && p90 < 0.995, "{p90}");
        // The p50 moves up too, less.
        let p50 = c.level(0.5).unwrap();
        assert!(p50 > 0.5 && p50 < p90, "{p50}");
    }

    #[test]
    fn too_few_pits_say_nothing_and_levels_stay_in_bounds() {
        let mut c = Calibration::default();
        c.add_count(99, MIN_PITS - 1);
        assert_eq!(c.level(0.9), None);
        c.add_count(99, 1);
        assert_eq!(c.level(0.9), Some(LEVEL_BOUNDS.1));
        assert!(!c.add_count(100, 1));
        let low = spread(|b| i64::from(b == 0) * 500);
        assert_eq!(low.level(0.5), Some(LEVEL_BOUNDS.0));
    }

    #[test]
    fn the_recalibration_map_is_the_pits_distribution() {
        let uniform = spread(|_| 10).table().unwrap();
        for p in [0.0, 0.25, 0.9, 1.0] {
            assert!((recalibrate(&uniform, p) - p).abs() < 1e-9, "{p}");
        }
        // Half the deliveries came after the lane's p95: a raw 90 % chance is
        // a real one of about 45 %.
        let late = spread(|b| if b >= 95 { 10 + 100 } else { 10 })
            .table()
            .unwrap();
        let g = recalibrate(&late, 0.9);
        assert!((g - 900.0 / 1500.0).abs() < 1e-9, "{g}");
        assert_eq!(recalibrate(&late, 1.0), 1.0);
        assert_eq!(Calibration::default().table(), None);
    }

    #[test]
    fn a_delivered_parcel_is_judged_at_instants_spread_over_its_way() {
        use crate::domain::{ShipmentId, Status, TrackingEvent};
        use chrono::{TimeZone, Utc};
        let t = |h: i64| Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::hours(h);
        let scan = |h: i64, status: Status, text: &str| TrackingEvent::new(t(h), status, text);
        let mut s = Shipment::new(ShipmentId::parse("ZTO", "75312345678901").unwrap(), t(0));
        s.shipped_at = Some(t(0));
        s.timeline.merge(vec![
            scan(2, Status::PickedUp, "【杭州市】浙江杭州余杭公司 已揽收"),
            scan(10, Status::InTransit, "快件离开【杭州转运中心】"),
            scan(40, Status::OutForDelivery, "【上海市】快递员正在派件"),
        ]);
        let view = LaneView::prior_only(&s);
        assert!(pits(&view, &s).is_empty(), "not delivered");
        s.timeline
            .merge(vec![scan(44, Status::Delivered, "已签收，签收人：本人")]);
        let judged = pits(&view, &s);
        assert_eq!(judged.len(), PER_PARCEL as usize);
        assert!(judged.iter().all(|p| usize::from(*p) < BUCKETS));
        // The last instant (42 h, out for delivery since 40 h) gives a good
        // chance of delivery by 44 h; the first (shipped, not picked up) a
        // smaller one.
        assert!(judged[11] > judged[0], "{judged:?}");
    }

    #[test]
    fn buckets_are_hundredths() {
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(0.899), 89);
        assert_eq!(bucket(1.0), 99);
        assert_eq!(bucket(f64::NAN), 0);
        assert_eq!(Calibration::counter(7), "u|7");
    }
}
