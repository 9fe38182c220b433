//! Durations on the command line: one grammar for every flag that takes one
//! (`sentinel run --every`, `sentinel bench --baseline-interval` and the duration
//! of `--poll-interval STATUS=DURATION`), and one way of printing a measured
//! duration (detection latencies in `sentinel demo` and `sentinel bench`).
//!
//! # Grammar
//!
//! Surrounding whitespace is ignored; then one or more ASCII digits, followed
//! directly (no space, no sign, no fraction) by an optional unit:
//!
//! | unit        | meaning | range                                        |
//! |-------------|---------|----------------------------------------------|
//! | none or `s` | seconds | 1 to 18446744073709551615 (the `u64` range)  |
//! | `m`         | minutes | ≥ 1; the total saturates at `u64::MAX` s     |
//! | `h`         | hours   | ≥ 1; the total saturates at `u64::MAX` s     |
//! | `d`         | days    | 1 to 365                                     |
//!
//! This is the union of what `run --every` (bare seconds, `s`, `m`, `h`, no upper
//! bound) and `bench --baseline-interval` (`s`, `m`, `h`, `d`, 1 s to 365 d)
//! accepted, with the same meaning: whatever either took still works, and what
//! both refused (zero, signs, spaces, other units, `366d` and longer) is still
//! refused. `bench` keeps its own range on top ([`parse_up_to_a_year`]), so a
//! bare `30` is new there but `9000h` is still refused.

use std::time::Duration;

/// The longest day count the grammar takes.
const MAX_DAYS: u64 = 365;

/// Parses a duration (see the module doc for the grammar).
pub fn parse(raw: &str) -> Result<Duration, String> {
    let t = raw.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().map_err(|_| {
        format!("{raw:?} is not a duration (e.g. 90s, 30m, 1h or 2d; a bare number is seconds)")
    })?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" if n <= MAX_DAYS => n * 86_400,
        "d" => return Err(format!("{raw:?}: at most {MAX_DAYS}d")),
        _ => return Err(format!("{raw:?}: the unit must be s, m, h or d")),
    };
    if secs == 0 {
        return Err(format!("{raw:?} must be positive"));
    }
    Ok(Duration::from_secs(secs))
}

/// [`parse`], limited to 1 s to 365 d, as a `chrono` duration (the benchmark's
/// intervals).
pub fn parse_up_to_a_year(raw: &str) -> Result<chrono::Duration, String> {
    let d = parse(raw)?;
    if d > Duration::from_secs(MAX_DAYS * 86_400) {
        return Err(format!("{raw:?} must be between 1s and {MAX_DAYS}d"));
    }
    chrono::Duration::from_std(d).map_err(|e| format!("{raw:?}: {e}"))
}

/// A measured duration in seconds, for tables: `-` for none, `45s` under a
/// minute, `4m46s` under an hour, `5.3h` from an hour on.
pub fn fmt_secs(s: Option<i64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        Some(s) => format!("{:.1}h", s as f64 / 3600.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Result<Duration, String> {
        Ok(Duration::from_secs(n))
    }

    /// What `bench --baseline-interval` accepted and refused (the old
    /// `bench::parse_interval` test), through both entry points.
    #[test]
    fn bench_forms_parse_and_bad_ones_are_refused() {
        for (raw, want) in [("30m", 1800), ("1h", 3600), ("90s", 90), ("2d", 172_800)] {
            assert_eq!(parse(raw), secs(want), "{raw:?}");
            assert_eq!(
                parse_up_to_a_year(raw),
                Ok(chrono::Duration::seconds(want as i64)),
                "{raw:?}"
            );
        }
        for bad in [
            "abc",
            "",
            "m",
            "0m",
            "-5m",
            "5 m",
            "5x",
            "99999999999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
            assert!(parse_up_to_a_year(bad).is_err(), "{bad:?}");
        }
    }

    /// What `run --every` accepted and refused (the old `live::parse_interval`
    /// test).
    #[test]
    fn live_forms_parse_and_bad_ones_are_refused() {
        assert_eq!(parse("5m"), secs(300));
        assert_eq!(parse("30s"), secs(30));
        assert_eq!(parse("2h"), secs(7200));
        assert_eq!(parse("45"), secs(45));
        assert!(parse("0m").is_err());
        assert!(parse("m").is_err());
    }

    /// Where the two old parsers disagreed, what either accepted is accepted.
    #[test]
    fn what_either_parser_accepted_is_accepted() {
        // A bare number is seconds (run took it, bench refused it).
        assert_eq!(parse("30"), secs(30));
        assert_eq!(parse_up_to_a_year("30"), Ok(chrono::Duration::seconds(30)));
        // Days (bench took them, run refused them).
        assert_eq!(parse("5d"), secs(5 * 86_400));
        assert_eq!(parse("365d"), secs(365 * 86_400));
        // Longer than a year in hours, minutes or seconds (run took them).
        assert_eq!(parse("8761h"), secs(8761 * 3600));
        assert_eq!(parse("18446744073709551615"), secs(u64::MAX));
        assert_eq!(parse("18446744073709551615h"), secs(u64::MAX));
    }

    #[test]
    fn whitespace_around_is_ignored_and_leading_zeros_are_digits() {
        assert_eq!(parse(" 5m\n"), secs(300));
        assert_eq!(parse("\t2d "), secs(172_800));
        assert_eq!(parse("007m"), secs(420));
    }

    /// What both refused stays refused.
    #[test]
    fn what_both_refused_is_refused() {
        for bad in [
            "0",
            "0s",
            "00h",
            "0d",
            "+5m",
            "5M",
            "5 m",
            "1h30m",
            "1.5h",
            "5ms",
            "366d",
            "400d",
            "18446744073709551616",
            "d",
            " ",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bench_keeps_its_range() {
        assert_eq!(parse_up_to_a_year("365d"), Ok(chrono::Duration::days(365)));
        assert_eq!(parse_up_to_a_year("8760h"), Ok(chrono::Duration::days(365)));
        for bad in ["8761h", "31536001s", "18446744073709551615h", "366d"] {
            assert!(parse_up_to_a_year(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn measured_durations_print_in_seconds_minutes_or_hours() {
        assert_eq!(fmt_secs(None), "-");
        assert_eq!(fmt_secs(Some(0)), "0s");
        assert_eq!(fmt_secs(Some(59)), "59s");
        assert_eq!(fmt_secs(Some(60)), "1m00s");
        assert_eq!(fmt_secs(Some(286)), "4m46s");
        assert_eq!(fmt_secs(Some(300)), "5m00s");
        assert_eq!(fmt_secs(Some(3599)), "59m59s");
        assert_eq!(fmt_secs(Some(3600)), "1.0h");
        assert_eq!(fmt_secs(Some(7200)), "2.0h");
        assert_eq!(fmt_secs(Some(19_080)), "5.3h");
    }
}
