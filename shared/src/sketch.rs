//! A mergeable quantile sketch: a histogram over fixed logarithmic buckets.
//!
//! A value's bucket depends on the value alone ([`bucket`]), so two sketches merge
//! by adding their counts bucket by bucket, and a store can keep one as plain
//! counters (a DynamoDB `ADD` per bucket, an SQLite upsert) that many writers
//! update at once. With [`PER_DOUBLING`] buckets per doubling, a quantile read back
//! ([`quantile`]) is within ±4.4 % of the true nearest-rank value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Buckets per doubling of the value: bucket `b` holds `[2^(b/8), 2^((b+1)/8))`.
pub const PER_DOUBLING: f64 = 8.0;

/// The highest bucket (values from about 2^64 up land here).
pub const MAX_BUCKET: u32 = 64 * PER_DOUBLING as u32;

/// The bucket of a value. Values below 1 (and not-a-number) share bucket 0 with
/// the values in `[1, 2^(1/8))`.
pub fn bucket(value: f64) -> u32 {
    if value.is_nan() || value < 1.0 {
        return 0;
    }
    // A finite non-negative value below MAX_BUCKET: the cast is exact.
    (value.log2() * PER_DOUBLING)
        .floor()
        .clamp(0.0, f64::from(MAX_BUCKET)) as u32
}

/// The value a bucket stands for: the geometric middle of its range.
pub fn representative(bucket: u32) -> f64 {
    ((f64::from(bucket) + 0.5) / PER_DOUBLING).exp2()
}

/// The nearest-rank `q` quantile (`0 < q <= 1`) of the values counted in
/// `counts` (bucket → how many), as its bucket's [`representative`]; `None` when
/// nothing is counted. Negative counts (a counter that drifted) count as none.
pub fn quantile(counts: &BTreeMap<u32, i64>, q: f64) -> Option<f64> {
    let total: i64 = counts.values().map(|n| (*n).max(0)).sum();
    if total <= 0 {
        return None;
    }
    // Nearest rank: the smallest value with at least ceil(q * n) values at or below it.
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as i64).max(1);
    let mut seen = 0;
    for (b, n) in counts {
        seen += (*n).max(0);
        if seen >= rank {
            return Some(representative(*b));
        }
    }
    counts.keys().next_back().map(|b| representative(*b))
}

/// A sketch as a value: bucket → count, with the reads that estimation needs.
/// Reads interpolate within a bucket (values spread evenly on the log scale), so
/// they move smoothly as the value asked about moves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sketch(BTreeMap<u32, i64>);

impl Sketch {
    pub fn from_counts(counts: BTreeMap<u32, i64>) -> Self {
        Self(counts)
    }

    pub fn counts(&self) -> &BTreeMap<u32, i64> {
        &self.0
    }

    /// Counts one value.
    pub fn add(&mut self, value: f64) {
        self.add_count(bucket(value), 1);
    }

    pub fn add_count(&mut self, bucket: u32, n: i64) {
        *self.0.entry(bucket).or_insert(0) += n;
    }

    /// Adds every count of `other` (the sketch of the union of both samples).
    pub fn merge(&mut self, other: &Sketch) {
        for (b, n) in &other.0 {
            self.add_count(*b, *n);
        }
    }

    /// The counts of `self` less those of `other`, a sketch of a subset of the
    /// same values (the rest of the sample); buckets left at or below zero go.
    pub fn without(&self, other: &Sketch) -> Sketch {
        let mut out = self.0.clone();
        for (b, n) in &other.0 {
            if let Some(m) = out.get_mut(b) {
                *m -= *n;
            }
        }
        out.retain(|_, n| *n > 0);
        Sketch(out)
    }

    /// How many values are counted (negative counts count as none).
    pub fn total(&self) -> i64 {
        self.0.values().map(|n| (*n).max(0)).sum()
    }

    /// The nearest-rank quantile ([`quantile`]).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        quantile(&self.0, q)
    }

    /// The fraction of the values at or below `value`; `None` when empty.
    pub fn cdf(&self, value: f64) -> Option<f64> {
        let total = self.total();
        if total <= 0 {
            return None;
        }
        let at = position(value);
        let mut below = 0.0;
        for (b, n) in &self.0 {
            let n = (*n).max(0) as f64;
            let b = f64::from(*b);
            if at >= b + 1.0 {
                below += n;
            } else if at > b {
                below += n * (at - b);
            }
        }
        Some((below / total as f64).clamp(0.0, 1.0))
    }

    /// The value below which a fraction `p` of the values lies, interpolated;
    /// `None` when empty.
    pub fn inverse(&self, p: f64) -> Option<f64> {
        let total = self.total();
        if total <= 0 {
            return None;
        }
        let target = p.clamp(0.0, 1.0) * total as f64;
        let mut seen = 0.0;
        let mut last = None;
        for (b, n) in &self.0 {
            let n = (*n).max(0) as f64;
            if n == 0.0 {
                continue;
            }
            if seen + n >= target {
                let frac = ((target - seen) / n).clamp(0.0, 1.0);
                return Some(value_at(f64::from(*b) + frac));
            }
            seen += n;
            last = Some(*b);
        }
        last.map(|b| value_at(f64::from(b) + 1.0))
    }

    /// The `q` quantile of the values that are at least `floor` (the time left
    /// of a wait that has already lasted `floor`): `None` when empty, and
    /// `floor` itself when no counted value is that large.
    pub fn quantile_given_at_least(&self, q: f64, floor: f64) -> Option<f64> {
        let below = self.cdf(floor)?;
        if below >= 1.0 {
            return Some(floor);
        }
        let v = self.inverse(below + q.clamp(0.0, 1.0) * (1.0 - below))?;
        Some(v.max(floor))
    }

    /// The probability that a value is at most `value`, knowing it is at least
    /// `floor`; `None` when empty, 0 when no counted value is as large as `floor`
    /// (nothing known says it ends soon).
    pub fn prob_at_most_given_at_least(&self, value: f64, floor: f64) -> Option<f64> {
        let below = self.cdf(floor)?;
        if value <= floor {
            return Some(0.0);
        }
        if below >= 1.0 {
            return Some(0.0);
        }
        let upto = self.cdf(value)?;
        Some(((upto - below) / (1.0 - below)).clamp(0.0, 1.0))
    }
}

/// A sketch prepared for many reads of its distribution function: its buckets
/// with the counts below each, so that [`Cumulative::cdf`] (the same answer as
/// [`Sketch::cdf`]) is a binary search rather than a pass over the buckets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cumulative {
    buckets: Vec<u32>,
    counts: Vec<f64>,
    /// Counted in the buckets before each.
    below: Vec<f64>,
    total: f64,
}

impl Cumulative {
    /// `None` when nothing is counted.
    pub fn of(sketch: &Sketch) -> Option<Cumulative> {
        let mut out = Cumulative::default();
        for (b, n) in sketch.counts() {
            let n = (*n).max(0) as f64;
            if n > 0.0 {
                out.buckets.push(*b);
                out.counts.push(n);
                out.below.push(out.total);
                out.total += n;
            }
        }
        (out.total > 0.0).then_some(out)
    }

    /// The fraction of the values at or below `value`.
    pub fn cdf(&self, value: f64) -> f64 {
        let at = position(value);
        // Buckets wholly at or below `at`; the next may hold it.
        let i = self.buckets.partition_point(|b| f64::from(*b) + 1.0 <= at);
        let mut below = self.below.get(i).copied().unwrap_or(self.total);
        if let (Some(b), Some(n)) = (self.buckets.get(i), self.counts.get(i)) {
            let b = f64::from(*b);
            if at > b {
                below += n * (at - b);
            }
        }
        (below / self.total).clamp(0.0, 1.0)
    }

    /// The value below which a fraction `p` of the values lies, as
    /// [`Sketch::inverse`] reads it.
    pub fn inverse(&self, p: f64) -> f64 {
        let target = p.clamp(0.0, 1.0) * self.total;
        let i = self
            .below
            .iter()
            .zip(&self.counts)
            .position(|(below, n)| below + n >= target)
            .unwrap_or(self.buckets.len() - 1);
        let frac = ((target - self.below[i]) / self.counts[i]).clamp(0.0, 1.0);
        value_at(f64::from(self.buckets[i]) + frac)
    }
}

impl Sketch {
    /// The values counted at or above `floor`, each bucket as one point (its
    /// middle on the log scale, of the part at or above `floor`) with its
    /// weight (the count, in part for the bucket `floor` falls in).
    pub fn points_at_least(&self, floor: f64) -> impl Iterator<Item = (f64, f64)> + '_ {
        let at = position(floor);
        self.0.iter().filter_map(move |(b, n)| {
            let (lo, n) = (f64::from(*b), (*n).max(0) as f64);
            let hi = lo + 1.0;
            if n <= 0.0 || hi <= at {
                return None;
            }
            let from = lo.max(at);
            Some((value_at((from + hi) / 2.0), n * (hi - from)))
        })
    }
}

/// A value's continuous position on the bucket scale (bucket `b` spans
/// `[b, b + 1)`); values below 1 sit at the start.
fn position(value: f64) -> f64 {
    if value.is_nan() || value <= 1.0 {
        return 0.0;
    }
    (value.log2() * PER_DOUBLING).min(f64::from(MAX_BUCKET) + 1.0)
}

/// The value at a position of the bucket scale.
fn value_at(position: f64) -> f64 {
    (position / PER_DOUBLING).exp2()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_are_monotonic_and_small_values_share_the_first() {
        assert_eq!(bucket(0.0), 0);
        assert_eq!(bucket(-5.0), 0);
        assert_eq!(bucket(f64::NAN), 0);
        assert_eq!(bucket(1.0), 0);
        assert_eq!(bucket(2.0), 8);
        assert_eq!(bucket(1800.0), 86);
        assert_eq!(bucket(f64::INFINITY), MAX_BUCKET);
        let mut last = 0;
        for v in 1..100_000 {
            let b = bucket(f64::from(v));
            assert!(b >= last);
            last = b;
        }
    }

    #[test]
    fn a_sketch_without_a_subsample_is_the_rest() {
        let all = sketch_of([2.0, 2.0, 2.0, 40.0, 40.0, 900.0]);
        let legs = sketch_of([40.0, 40.0, 900.0]);
        let rest = all.without(&legs);
        assert_eq!(rest, sketch_of([2.0, 2.0, 2.0]));
        assert_eq!(rest.total(), 3);
        // More taken than counted: the bucket goes, nothing negative is left.
        assert_eq!(legs.without(&all), Sketch::default());
        assert_eq!(all.without(&Sketch::default()), all);
    }

    #[test]
    fn the_cumulative_reads_the_same_cdf_as_the_sketch() {
        let s = sketch_of([0.5, 2.0, 2.0, 7.0, 40.0, 40.0, 41.0, 900.0, 1e6]);
        let c = Cumulative::of(&s).unwrap();
        for v in [
            -3.0, 0.0, 1.0, 1.5, 2.0, 2.1, 6.0, 7.0, 7.3, 40.5, 100.0, 900.0, 1e5, 1e7,
        ] {
            assert!((c.cdf(v) - s.cdf(v).unwrap()).abs() < 1e-12, "cdf({v})");
        }
        for p in [0.0, 0.1, 0.5, 0.77, 0.9, 1.0] {
            assert_eq!(c.inverse(p), s.inverse(p).unwrap(), "inverse({p})");
        }
        assert_eq!(Cumulative::of(&Sketch::default()), None);
    }

    #[test]
    fn the_points_at_least_a_floor_weigh_what_lies_above_it() {
        let s = sketch_of([2.0, 2.0, 40.0, 40.0, 40.0, 900.0]);
        let all: f64 = s.points_at_least(0.0).map(|(_, w)| w).sum();
        assert_eq!(all, 6.0);
        // 40's bucket is [38.05, 41.5): a floor at its middle keeps half of it.
        let mid = representative(bucket(40.0));
        let above: Vec<(f64, f64)> = s.points_at_least(mid).collect();
        assert_eq!(above.len(), 2);
        assert!((above[0].1 - 1.5).abs() < 1e-9, "{above:?}");
        assert!(above[0].0 > mid && above[0].0 < 41.5);
        assert_eq!(above[1], (representative(bucket(900.0)), 1.0));
        assert_eq!(s.points_at_least(1e4).count(), 0);
    }

    #[test]
    fn an_empty_sketch_has_no_quantile() {
        assert_eq!(quantile(&BTreeMap::new(), 0.5), None);
        assert_eq!(quantile(&BTreeMap::from([(3, -2)]), 0.5), None);
    }

    fn sketch_of(values: impl IntoIterator<Item = f64>) -> Sketch {
        let mut s = Sketch::default();
        for v in values {
            s.add(v);
        }
        s
    }

    #[test]
    fn the_cdf_and_its_inverse_read_a_sample_back() {
        let s = sketch_of((1..=1000).map(f64::from));
        assert_eq!(s.total(), 1000);
        for (v, p) in [(100.0, 0.1), (500.0, 0.5), (900.0, 0.9)] {
            let got = s.cdf(v).unwrap();
            assert!((got - p).abs() < 0.03, "cdf({v}) = {got}");
            let back = s.inverse(p).unwrap();
            assert!((back / v - 1.0).abs() < 0.06, "inverse({p}) = {back}");
        }
        assert_eq!(s.cdf(0.5), Some(0.0));
        assert_eq!(s.cdf(1e9), Some(1.0));
        assert_eq!(Sketch::default().cdf(3.0), None);
        assert_eq!(Sketch::default().inverse(0.5), None);
    }

    #[test]
    fn what_is_left_of_a_wait_given_how_long_it_has_lasted() {
        // Waits of 10..=100 h, evenly: having waited 50 h, half of what is left
        // ends by about 75 h.
        let s = sketch_of((10..=100).map(f64::from));
        let median = s.quantile_given_at_least(0.5, 50.0).unwrap();
        assert!((70.0..80.0).contains(&median), "{median}");
        assert!(s.quantile_given_at_least(0.9, 50.0).unwrap() > median);
        // Past every value counted: nothing says when it ends.
        assert_eq!(s.quantile_given_at_least(0.5, 500.0), Some(500.0));
        assert_eq!(s.prob_at_most_given_at_least(600.0, 500.0), Some(0.0));
        // P(done by 75 h | 50 h already) is about one half; by 100 h, about all.
        let p = s.prob_at_most_given_at_least(75.0, 50.0).unwrap();
        assert!((0.4..0.6).contains(&p), "{p}");
        assert!(s.prob_at_most_given_at_least(101.0, 50.0).unwrap() > 0.97);
        assert_eq!(s.prob_at_most_given_at_least(40.0, 50.0), Some(0.0));
    }

    #[test]
    fn sketches_merge_by_adding_counts() {
        let mut a = sketch_of([1.0, 10.0, 100.0]);
        let b = sketch_of([10.0, 1000.0]);
        a.merge(&b);
        assert_eq!(a, sketch_of([1.0, 10.0, 10.0, 100.0, 1000.0]));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(serde_json::from_str::<Sketch>(&json).unwrap(), a);
    }

    proptest! {
        /// The cdf never decreases and stays in [0, 1], and the inverse is its
        /// inverse: the cdf of the value found for `p` is `p`.
        #[test]
        fn the_cdf_is_monotonic_and_inverts(
            values in proptest::collection::vec(1u32..200_000, 1..200),
            probes in proptest::collection::vec(0f64..300_000.0, 1..20),
            p in 0.001f64..0.999,
        ) {
            let s = sketch_of(values.iter().map(|v| f64::from(*v)));
            let mut probes = probes;
            probes.sort_by(f64::total_cmp);
            let mut last = 0.0;
            for v in probes {
                let c = s.cdf(v).unwrap();
                prop_assert!((0.0..=1.0).contains(&c));
                prop_assert!(c >= last - 1e-12);
                last = c;
            }
            let back = s.inverse(p).unwrap();
            prop_assert!((s.cdf(back).unwrap() - p).abs() < 1e-6, "{p} -> {back}");
        }

        /// The cumulative form reads every value as the sketch does.
        #[test]
        fn the_cumulative_agrees_with_the_sketch(
            values in proptest::collection::vec(0u32..200_000, 1..200),
            probes in proptest::collection::vec(-10f64..300_000.0, 1..40),
        ) {
            let s = sketch_of(values.iter().map(|v| f64::from(*v)));
            let c = Cumulative::of(&s).unwrap();
            for v in probes {
                prop_assert!((c.cdf(v) - s.cdf(v).unwrap()).abs() < 1e-9, "{v}");
            }
        }

        /// The quantile read back is within the bucket width of the exact
        /// nearest-rank value.
        #[test]
        fn quantiles_are_within_the_bucket_error(
            mut values in proptest::collection::vec(1u32..200_000, 1..300),
            q in 0.01f64..=1.0,
        ) {
            let mut counts = BTreeMap::new();
            for v in &values {
                *counts.entry(bucket(f64::from(*v))).or_insert(0i64) += 1;
            }
            values.sort_unstable();
            let rank = ((q * values.len() as f64).ceil() as usize).max(1);
            let exact = f64::from(values[rank - 1]);
            let got = quantile(&counts, q).unwrap();
            let error = (got / exact - 1.0).abs();
            prop_assert!(error <= 2f64.powf(1.0 / 16.0) - 1.0 + 1e-9, "{got} vs {exact}");
        }
    }
}
