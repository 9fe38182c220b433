//! Instants as whole seconds since the Unix epoch (`i64`) and the China-local
//! clock-time arithmetic and random instant draws built on them.

use chrono::{DateTime, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Seconds per hour.
pub(crate) const H: i64 = 3600;
pub(super) const DAY: i64 = 24 * H;
/// China Standard Time offset in seconds.
pub(super) const CST: i64 = 8 * H;

pub(crate) fn dt(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("simulated instants are in range")
}

/// Seconds since local (China) midnight.
pub(super) fn local_sod(t: i64) -> i64 {
    (t + CST).rem_euclid(DAY)
}

/// The UTC instant of the local midnight starting `t`'s local day.
pub(super) fn local_midnight(t: i64) -> i64 {
    t - local_sod(t)
}

/// Whether `t` lies in the local window `[from_h, to_h)` (hours, fractional).
pub(super) fn in_window(t: i64, from_h: f64, to_h: f64) -> bool {
    let s = local_sod(t) as f64 / H as f64;
    s >= from_h && s < to_h
}

pub(super) fn hours_secs(h: f64) -> i64 {
    (h * H as f64).round() as i64
}

pub(super) fn uhours(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> i64 {
    hours_secs(rng.random_range(lo..hi))
}

pub(super) fn usecs(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}
