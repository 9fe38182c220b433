//! Small values from outside: carrier and user times (`shared::time`), carrier
//! codes, tracking numbers, phones, statuses and rule names (`shared::domain`).
//!
//! Valid values in every documented spelling parse to the value generated;
//! anything else is a typed error, one line, its echo clipped; a refused phone
//! is never echoed in full.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use proptest::prelude::*;

use shared::domain::{CarrierCode, Phone, Rule, ShipmentId, Status, TrackingNumber};
use shared::time::{ascii_fold, parse_carrier_time, parse_user_time, rfc3339};

use crate::support::{bounded, fuzz, hostile_text};

/// A clipped echo is at most 80 characters, each escaped in at most 10.
const MAX_ECHO_ERROR: usize = 80 * 10 + 120;

fn local_time() -> impl Strategy<Value = NaiveDateTime> {
    // The parser takes years 1900 to 2200.
    (0i64..300 * 366, 0i64..86_400).prop_map(|(d, s)| {
        NaiveDate::from_ymd_opt(1900, 1, 1)
            .unwrap_or_default()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            + Duration::days(d)
            + Duration::seconds(s)
    })
}

/// A local time spelled in one of the documented ways, with the instant it means.
fn spelled_time() -> impl Strategy<Value = (String, DateTime<Utc>)> {
    (local_time(), 0u8..9, -14 * 60i32..=14 * 60, any::<bool>()).prop_map(
        |(t, style, offset_min, pad)| {
            let china = (t - Duration::hours(8)).and_utc();
            let (s, at) = match style {
                0 => (t.format("%Y-%m-%d %H:%M:%S").to_string(), china),
                1 => (t.format("%Y/%m/%d %H:%M:%S").to_string(), china),
                2 => (t.format("%Y-%-m-%-d %-H:%M:%S").to_string(), china),
                3 => (
                    t.format("%Y-%m-%d %H:%M").to_string(),
                    china - Duration::seconds(i64::from(chrono::Timelike::second(&t))),
                ),
                4 => (t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(), china),
                5 => (
                    t.format("%Y-%m-%d").to_string(),
                    (t.date().and_hms_opt(0, 0, 0).unwrap_or_default() - Duration::hours(8))
                        .and_utc(),
                ),
                6 => (
                    t.format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                        .chars()
                        .map(|c| match c {
                            '0'..='9' => {
                                char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap_or(c)
                            }
                            ':' => '：',
                            '-' => '－',
                            ' ' => '\u{3000}',
                            _ => c,
                        })
                        .collect(),
                    china,
                ),
                _ => {
                    // RFC 3339 with any offset.
                    let sign = if offset_min < 0 { '-' } else { '+' };
                    let abs = offset_min.unsigned_abs();
                    (
                        format!(
                            "{}{sign}{:02}:{:02}",
                            t.format("%Y-%m-%dT%H:%M:%S"),
                            abs / 60,
                            abs % 60
                        ),
                        (t - Duration::minutes(i64::from(offset_min))).and_utc(),
                    )
                }
            };
            let s = if pad { format!(" \t{s}\u{3000}") } else { s };
            (s, at)
        },
    )
}

#[test]
fn times_in_every_spelling_parse_to_their_instant() {
    fuzz("time_roundtrip", 512, spelled_time(), |(s, at)| {
        prop_assert_eq!(parse_carrier_time(&s), Ok(at), "{:?}", s);
        prop_assert_eq!(parse_user_time(&s), Ok(at));
        // What we print reads back as the same instant.
        prop_assert_eq!(parse_user_time(&rfc3339(at)), Ok(at));
        Ok(())
    });
}

#[test]
fn any_time_text_is_a_time_or_a_bounded_error() {
    let texts = prop_oneof![
        hostile_text(),
        "[0-9０-９/：:. T-]{0,30}",
        spelled_time().prop_map(|(s, _)| s),
    ];
    let mutated = (texts, any::<proptest::sample::Index>(), ".{0,3}").prop_map(|(s, i, ins)| {
        let n = i.index(s.chars().count() + 1);
        let at = s.char_indices().nth(n).map_or(s.len(), |(b, _)| b);
        format!("{}{ins}{}", &s[..at], &s[at..])
    });
    fuzz("time_text", 1024, mutated, |s| {
        match parse_carrier_time(&s) {
            // What we print of it reads back as the same instant.
            Ok(t) => prop_assert_eq!(parse_user_time(&rfc3339(t)), Ok(t), "{:?}", s),
            Err(e) => bounded("time error", &e.to_string(), MAX_ECHO_ERROR)?,
        }
        Ok(())
    });
}

/// A valid tracking number, and how a user may type it.
fn typed_number() -> impl Strategy<Value = (String, String)> {
    ("[A-Za-z0-9-]{0,20}[0-9][A-Za-z0-9-]{4,19}", 0u8..4).prop_map(|(n, style)| {
        let canonical = n.to_ascii_uppercase();
        let typed = match style {
            0 => n,
            1 => format!("  {n}\t"),
            2 => n
                .chars()
                .map(|c| match c {
                    '0'..='9' => char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap_or(c),
                    'A'..='Z' => char::from_u32(0xFF21 + (c as u32 - 'A' as u32)).unwrap_or(c),
                    'a'..='z' => char::from_u32(0xFF41 + (c as u32 - 'a' as u32)).unwrap_or(c),
                    '-' => '－',
                    _ => c,
                })
                .collect(),
            _ => format!("\u{3000}{}", n.to_ascii_lowercase()),
        };
        (typed, canonical)
    })
}

#[test]
fn identities_round_trip() {
    let strategy = (typed_number(), "[A-Za-z0-9]{1,16}", any::<bool>());
    fuzz(
        "identity_roundtrip",
        512,
        strategy,
        |((typed, canonical), code, pad)| {
            let n =
                TrackingNumber::parse(&typed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(n.as_str(), canonical.as_str());
            prop_assert_eq!(TrackingNumber::parse(n.as_str()), Ok(n.clone()));
            let typed_code = if pad {
                format!(" {code} ")
            } else {
                code.clone()
            };
            let c =
                CarrierCode::parse(&typed_code).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(c.as_str(), code.to_ascii_uppercase());
            let id = ShipmentId::parse(&typed_code, &typed)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(id.to_string(), format!("{}:{}", c, n));
            // Serde goes through the same parser.
            let json =
                serde_json::to_string(&id).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back: ShipmentId =
                serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, id);
            Ok(())
        },
    );
}

#[test]
fn any_identity_text_is_valid_or_a_bounded_error() {
    fuzz(
        "identity_text",
        1024,
        (hostile_text(), hostile_text()),
        |(a, b)| {
            for r in [
                CarrierCode::parse(&a).map(|c| c.to_string()),
                TrackingNumber::parse(&b).map(|n| n.to_string()),
                ShipmentId::parse(&a, &b).map(|i| i.to_string()),
                Status::parse(&a).map(|s| s.as_str().to_string()),
            ] {
                match r {
                    // A valid value is canonical: ASCII, no spaces, at most 40 + 16 + 1.
                    Ok(v) => prop_assert!(
                        v.len() <= 57 && v.bytes().all(|b| b.is_ascii_graphic()),
                        "{:?}",
                        v
                    ),
                    Err(e) => bounded("domain error", &e.to_string(), MAX_ECHO_ERROR)?,
                }
            }
            if let Some(rule) = Rule::parse(&a) {
                prop_assert!(rule.as_str().eq_ignore_ascii_case(a.trim()));
            }
            Ok(())
        },
    );
}

#[test]
fn statuses_and_rules_parse_by_name_in_any_case() {
    let strategy = (
        proptest::sample::select(Status::ALL.to_vec()),
        proptest::sample::select(Rule::ALL.to_vec()),
        any::<bool>(),
    );
    fuzz(
        "status_rule_names",
        64,
        strategy,
        |(status, rule, upper)| {
            let case = |s: &str| {
                if upper {
                    s.to_ascii_uppercase()
                } else {
                    s.to_ascii_lowercase()
                }
            };
            prop_assert_eq!(
                Status::parse(&format!(" {} ", case(status.as_str()))),
                Ok(status)
            );
            prop_assert_eq!(Rule::parse(&case(rule.as_str())), Some(rule));
            Ok(())
        },
    );
}

/// A phone as typed: digits with spaces, dashes, `+`, brackets, full-width.
fn typed_phone() -> impl Strategy<Value = (String, String)> {
    (
        "[0-9]{7,20}",
        proptest::collection::vec(0usize..25, 0..4),
        any::<bool>(),
    )
        .prop_map(|(digits, cuts, wide)| {
            let mut typed = String::new();
            for (i, c) in digits.chars().enumerate() {
                if cuts.contains(&i) && i > 0 {
                    typed.push_str([" ", "-", ")", "("][i % 4]);
                }
                typed.push(if wide {
                    char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap_or(c)
                } else {
                    c
                });
            }
            (format!("+{typed}"), digits)
        })
}

#[test]
fn phones_parse_to_their_digits_and_are_never_echoed_whole() {
    let strategy = prop_oneof![
        typed_phone().prop_map(|(t, d)| (t, Some(d))),
        (hostile_text(), "[0-9]{8,20}")
            .prop_map(|(junk, digits)| (format!("{junk}{digits}{junk}x"), None)),
    ];
    fuzz("phones", 512, strategy, |(typed, digits)| {
        match (Phone::parse(&typed), digits) {
            (Ok(p), Some(d)) => {
                prop_assert_eq!(p.expose(), d.as_str());
                prop_assert_eq!(p.last4(), &d[d.len() - 4..]);
                let shown = format!("{p:?} {}", p.masked());
                prop_assert!(!shown.contains(&d), "{}", shown);
            }
            (Ok(p), None) => prop_assert!(p.expose().bytes().all(|b| b.is_ascii_digit())),
            (Err(e), Some(d)) => prop_assert!(false, "{:?} ({}) refused: {}", typed, d, e),
            (Err(e), None) => {
                let shown = e.to_string();
                bounded("phone error", &shown, MAX_ECHO_ERROR)?;
                // No run of 8 or more digits of the input survives in the echo.
                let folded = ascii_fold(&typed);
                let digits: Vec<&str> = folded
                    .split(|c: char| !c.is_ascii_digit())
                    .filter(|r| r.len() >= 8)
                    .collect();
                for run in digits {
                    prop_assert!(!shown.contains(run), "{:?} echoes {}", shown, run);
                }
            }
        }
        Ok(())
    });
}
