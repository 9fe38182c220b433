//! A mergeable quantile sketch: a histogram over fixed logarithmic buckets.
//!
//! A value's bucket depends on the value alone ([`bucket`]), so two sketches merge
//! by adding their counts bucket by bucket, and a store can keep one as plain
//! counters (a DynamoDB `ADD` per bucket, an SQLite upsert) that many writers
//! update at once. With [`PER_DOUBLING`] buckets per doubling, a quantile read back
//! ([`quantile`]) is within ±4.4 % of the true nearest-rank value.

use std::collections::BTreeMap;

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
    fn an_empty_sketch_has_no_quantile() {
        assert_eq!(quantile(&BTreeMap::new(), 0.5), None);
        assert_eq!(quantile(&BTreeMap::from([(3, -2)]), 0.5), None);
    }

    proptest! {
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
