//! How fast a parcel's journey runs besides its lane class and carrier: each
//! lane's own speed, and the calendar (weekends, the 双11 and 618 backlogs).
//!
//! A lane's speed is a pure function of the seed, the carrier and the two cities,
//! so every parcel of a lane shares it and lanes of one class differ: what a
//! system watching the fleet can learn lane by lane. The class's spread (fleet-facts
//! P1) is split between lanes ([`LANE_SIGMA`]) and parcels, so the class as a whole
//! keeps its published median and spread.

use chrono::{Datelike, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::clock::{dt, CST};

/// The spread (σ of the log) of lane speeds within a lane class.
pub(super) const LANE_SIGMA: f64 = 0.2;

/// Lane `(carrier, origin, dest)`'s speed factor on the class median: lognormal
/// with σ [`LANE_SIGMA`], clamped to ±2.5 σ.
pub(super) fn lane_factor(seed: u64, carrier: usize, origin: usize, dest: usize) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6c61_6e65_7370_6565);
    rng.set_stream(((carrier as u64) << 16) | ((origin as u64 & 0xff) << 8) | (dest as u64 & 0xff));
    let z: f64 = rng.sample(StandardNormal);
    (LANE_SIGMA * z.clamp(-2.5, 2.5)).exp()
}

/// The parcel's own σ on a lane of class σ `class_sigma`: what the lanes leave.
pub(super) fn parcel_sigma(class_sigma: f64) -> f64 {
    (class_sigma * class_sigma - LANE_SIGMA * LANE_SIGMA)
        .max(0.01)
        .sqrt()
}

/// `(median factor, σ factor)` for a parcel shipped at `t` (seconds, UTC).
///
/// - Shopping festivals (fleet-facts P1: median × 1.2–1.4 and σ × 1.2 for 7–10
///   days): shipped on 11 November or 18 June, × 1.4, easing by 0.04 a day to
///   × 1.0 ten days later, σ × 1.2 meanwhile.
/// - Weekends: shipped on a Saturday or Sunday, × 1.1 (fewer line-haul
///   departures; an assumption, low confidence).
pub(super) fn calendar(t: i64) -> (f64, f64) {
    let day = dt(t + CST).date_naive();
    let mut factor = 1.0;
    let mut sigma = 1.0;
    for (month, dom) in [(11, 11), (6, 18)] {
        let Some(festival) = NaiveDate::from_ymd_opt(day.year(), month, dom) else {
            continue;
        };
        let after = (day - festival).num_days();
        if (0..10).contains(&after) {
            factor *= 1.4 - 0.04 * after as f64;
            sigma = 1.2;
        }
    }
    if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        factor *= 1.1;
    }
    (factor, sigma)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str, hour: u32) -> i64 {
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
        d.and_hms_opt(hour, 0, 0).unwrap().and_utc().timestamp() - CST
    }

    #[test]
    fn lanes_have_their_own_speed_shared_by_their_parcels() {
        assert_eq!(lane_factor(42, 1, 2, 3), lane_factor(42, 1, 2, 3));
        let speeds: Vec<f64> = (0..200).map(|d| lane_factor(42, 0, 1, d)).collect();
        let spread = speeds.iter().cloned().fold(f64::MIN, f64::max)
            / speeds.iter().cloned().fold(f64::MAX, f64::min);
        assert!(spread > 1.5, "lanes of a class differ: {spread}");
        let mean_log = speeds.iter().map(|s| s.ln()).sum::<f64>() / speeds.len() as f64;
        assert!(mean_log.abs() < 0.06, "{mean_log}");
        assert_ne!(lane_factor(42, 0, 1, 2), lane_factor(7, 0, 1, 2));
        assert_ne!(lane_factor(42, 0, 1, 2), lane_factor(42, 1, 1, 2));
    }

    #[test]
    fn the_class_keeps_its_spread() {
        let s = parcel_sigma(0.35);
        assert!((s * s + LANE_SIGMA * LANE_SIGMA - 0.35 * 0.35).abs() < 1e-9);
    }

    #[test]
    fn festivals_and_weekends_slow_the_network() {
        // 2024-11-06 is a Wednesday.
        assert_eq!(calendar(at("2024-11-06", 12)), (1.0, 1.0));
        assert_eq!(calendar(at("2024-11-11", 0)), (1.4, 1.2));
        assert_eq!(calendar(at("2024-11-10", 23)).1, 1.0);
        let (f, s) = calendar(at("2024-11-15", 12)); // a Friday, 4 days after
        assert!((f - 1.24).abs() < 1e-9 && s == 1.2, "{f}");
        assert_eq!(calendar(at("2024-11-21", 12)), (1.0, 1.0));
        assert_eq!(calendar(at("2024-11-09", 12)), (1.1, 1.0)); // a Saturday
        assert_eq!(calendar(at("2025-06-18", 9)), (1.4, 1.2));
    }
}
