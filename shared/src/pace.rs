//! A parcel's pace so far as a predictor of its time left (issue 17,
//! `docs/prediction-plan.md`).
//!
//! A lane's sketches say how long parcels took from entering a stage to
//! delivery, whoever they were. A parcel that took twice the usual time to reach
//! the line haul may well take longer than usual from there too (a slow carrier
//! network day, a slow depot), or not at all (trunk lines leave on a timetable):
//! the lanes learn which. For every stage entered after pickup, a delivered
//! parcel adds to its lane's [`Moments`]: the sums of ln(elapsed), ln(left) and
//! their squares and product, where *elapsed* is the minutes from pickup to
//! entering the stage and *left* the minutes from entering it to delivery — six
//! counters per stage (`m:{stage}|{k}`), mergeable like the sketches. From them
//! a least-squares line in log space ([`Fit`]): how much of a parcel's lead or
//! lag so far carries into what is left (`slope`), and how much of the spread of
//! what is left that explains (`r²`). [`Fit::apply`] moves the lane's sketch of
//! the time left by the parcel's own pace and narrows it by what the pace
//! explains; a lane whose stages are independent learns a slope and an `r²`
//! near zero, and its estimates stay as they were.

use crate::sketch::{bucket, representative, Sketch};

/// Sums are kept in thousandths (counters are integers).
const SCALE: f64 = 1000.0;

/// Below this many parcels a lane level's line is not trusted.
pub const MIN_PARCELS: i64 = 30;

/// At most this share of the spread of the time left is taken as explained:
/// a line learned from a few dozen parcels never makes an estimate certain.
const MAX_R2: f64 = 0.9;

/// The moments of (ln elapsed, ln left) over a lane level's delivered parcels
/// for one stage, in thousandths: n, Σe, Σr, Σe², Σer, Σr².
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moments {
    pub sums: [i64; 6],
}

impl Moments {
    /// Counter names: `m:{stage}|{k}`, k = 0..6 as in [`Moments::sums`].
    pub const COUNTERS: usize = 6;

    /// Adds one parcel: `elapsed` minutes from pickup to entering the stage,
    /// `left` minutes from entering it to delivery (each at least a minute).
    pub fn add(&mut self, elapsed: f64, left: f64) {
        let (e, r) = (elapsed.max(1.0).ln(), left.max(1.0).ln());
        let scaled = |v: f64| (v * SCALE).round() as i64;
        let add = [
            1,
            scaled(e),
            scaled(r),
            scaled(e * e),
            scaled(e * r),
            scaled(r * r),
        ];
        for (sum, v) in self.sums.iter_mut().zip(add) {
            *sum = sum.saturating_add(v);
        }
    }

    /// Adds a counter read back; false for an index out of range.
    pub fn add_count(&mut self, k: u32, n: i64) -> bool {
        match self.sums.get_mut(k as usize) {
            Some(sum) => {
                *sum = sum.saturating_add(n);
                true
            }
            None => false,
        }
    }

    /// The line, once [`MIN_PARCELS`] have been learned and both spreads are
    /// real; `None` before.
    pub fn fit(&self) -> Option<Fit> {
        let n = self.sums[0];
        if n < MIN_PARCELS {
            return None;
        }
        let n = n as f64;
        let mean = |k: usize| self.sums[k] as f64 / SCALE / n;
        let (me, mr) = (mean(1), mean(2));
        let var_e = mean(3) - me * me;
        let cov = mean(4) - me * mr;
        let var_r = mean(5) - mr * mr;
        if var_e <= 1e-6 || var_r <= 1e-6 {
            return None;
        }
        Some(Fit {
            mean_e: me,
            sd_e: var_e.sqrt(),
            mean_r: mr,
            slope: cov / var_e,
            r2: (cov * cov / (var_e * var_r)).clamp(0.0, MAX_R2),
        })
    }
}

/// A lane level's line from pace so far to time left, in log space.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    pub mean_e: f64,
    pub sd_e: f64,
    pub mean_r: f64,
    pub slope: f64,
    pub r2: f64,
}

impl Fit {
    /// The sketch of the time left for a parcel that took `elapsed` minutes
    /// from pickup to entering the stage: each learned value moved by the
    /// parcel's pace (`slope` × its distance from the mean, which is bounded to
    /// two standard deviations: a pace never seen says little) and drawn
    /// toward the new centre by √(1 − r²).
    pub fn apply(&self, left: &Sketch, elapsed: f64) -> Sketch {
        self.moved(left, elapsed, self.mean_r)
    }

    /// The same for a part of the time left (the rest of a stage, or the time
    /// from leaving it to delivery): moved by the same factor, and narrowed by
    /// the same share toward its own centre.
    pub fn apply_to_part(&self, part: &Sketch, elapsed: f64) -> Sketch {
        let (mut sum, mut n) = (0.0, 0.0);
        for (&b, &c) in part.counts() {
            let c = c.max(0) as f64;
            sum += c * representative(b).ln();
            n += c;
        }
        if n <= 0.0 {
            return part.clone();
        }
        self.moved(part, elapsed, sum / n)
    }

    fn moved(&self, sketch: &Sketch, elapsed: f64, centre: f64) -> Sketch {
        let e = elapsed
            .max(1.0)
            .ln()
            .clamp(self.mean_e - 2.0 * self.sd_e, self.mean_e + 2.0 * self.sd_e);
        let shift = self.slope * (e - self.mean_e);
        let narrow = (1.0 - self.r2).sqrt();
        let mut out = Sketch::default();
        for (&b, &n) in sketch.counts() {
            let v = representative(b).ln();
            let moved = centre + shift + narrow * (v - centre);
            out.add_count(bucket(moved.exp()), n);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 60 parcels: elapsed 2-20 h; left `left(elapsed, i)`; and their sketch.
    fn learned(left: impl Fn(f64, usize) -> f64) -> (Moments, Sketch) {
        let (mut m, mut s) = (Moments::default(), Sketch::default());
        for i in 0..60 {
            let elapsed = 120.0 + 18.0 * (i % 61) as f64;
            let l = left(elapsed, i);
            m.add(elapsed, l);
            s.add(l);
        }
        (m, s)
    }

    fn median_h(s: &Sketch) -> f64 {
        s.quantile(0.5).unwrap() / 60.0
    }

    #[test]
    fn a_lane_where_pace_carries_on_moves_a_fast_parcels_estimate_earlier() {
        // Time left three times the time taken so far, ±10%.
        let (m, s) = learned(|e, i| 3.0 * e * if i % 2 == 0 { 0.9 } else { 1.1 });
        let fit = m.fit().unwrap();
        assert!((fit.slope - 1.0).abs() < 0.05, "{fit:?}");
        assert!(fit.r2 > 0.85, "{fit:?}");
        // A parcel 3 h to get here: about 9 h left; one 18 h: about 54 h.
        let (fast, slow) = (fit.apply(&s, 180.0), fit.apply(&s, 1080.0));
        assert!(
            (7.5..11.0).contains(&median_h(&fast)),
            "{}",
            median_h(&fast)
        );
        assert!(
            (45.0..64.0).contains(&median_h(&slow)),
            "{}",
            median_h(&slow)
        );
        assert_eq!(fast.total(), s.total());
        // A pace far beyond anything learned (500 h) is read two standard
        // deviations out, not 25 times the slowest learned.
        let edge = fit.apply(&s, 30_000.0);
        assert!(median_h(&edge) < 120.0, "{}", median_h(&edge));
        // A part of the time left (here a third of it) moves by the same
        // factor about its own centre.
        let mut third = Sketch::default();
        for (&b, &n) in s.counts() {
            third.add_count(bucket(representative(b) / 3.0), n);
        }
        for elapsed in [180.0, 1080.0] {
            let (whole, part) = (fit.apply(&s, elapsed), fit.apply_to_part(&third, elapsed));
            let ratio = median_h(&whole) / median_h(&part);
            assert!((ratio / 3.0 - 1.0).abs() < 0.1, "{elapsed}: {ratio}");
        }
        assert_eq!(
            fit.apply_to_part(&Sketch::default(), 180.0),
            Sketch::default()
        );
    }

    #[test]
    fn a_lane_where_stages_are_independent_keeps_its_estimate() {
        // Time left 30-40 h whatever the time so far.
        let (m, s) = learned(|_, i| 60.0 * (30.0 + (i * 7 % 11) as f64));
        let fit = m.fit().unwrap();
        assert!(fit.slope.abs() < 0.1 && fit.r2 < 0.05, "{fit:?}");
        for elapsed in [180.0, 1080.0] {
            let moved = fit.apply(&s, elapsed);
            assert!((median_h(&moved) / median_h(&s) - 1.0).abs() < 0.1);
        }
    }

    #[test]
    fn too_few_parcels_or_no_spread_teach_no_line() {
        let mut m = Moments::default();
        for _ in 0..MIN_PARCELS - 1 {
            m.add(300.0, 900.0 + 60.0 * m.sums[0] as f64);
        }
        assert_eq!(m.fit(), None);
        // Enough, but all took the same time to get here.
        for _ in 0..10 {
            m.add(300.0, 1200.0);
        }
        assert_eq!(m.fit(), None);
        // Counters read back add up; an index out of range is refused.
        let mut read = Moments::default();
        for (k, n) in m.sums.iter().enumerate() {
            assert!(read.add_count(k as u32, *n));
        }
        assert_eq!(read, m);
        assert!(!read.add_count(6, 1));
    }
}
