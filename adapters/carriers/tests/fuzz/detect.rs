//! Tracking-number detection (`sentinel_carriers::detect::local`).
//!
//! The oracle is the table of published shapes in the module documentation,
//! written out again here: a number of a documented shape is detected as its
//! carrier, and as exactly the carriers whose shapes it fits (several: an
//! ambiguity, never a guess). Typing the same number differently (case, spaces,
//! dashes, full-width) changes nothing; any text at all is a detection.

use proptest::prelude::*;

use sentinel_carriers::detect::{local, Detection};
use shared::domain::CarrierCode;

use crate::support::{fuzz, hostile_text, ODD};

/// (carrier, prefix, lengths, letters allowed after the prefix).
type Shape = (&'static str, &'static str, &'static [usize], bool);

/// The shapes of the module documentation.
const SHAPES: &[Shape] = &[
    ("SF", "SF", &[13, 14, 15, 16], false),
    ("YTO", "YT", &[12, 13, 14, 15, 16, 17, 18, 19, 20], false),
    ("JTSD", "JT", &[13, 14, 15, 16, 17], false),
    ("JD", "JD", &[12, 13, 14, 15, 16, 17, 18, 19, 20], true),
    ("DBL", "DPK", &[12, 13, 14, 15, 16, 17, 18], false),
    ("HTKY", "BXA", &[13], false),
    ("ZTO", "73", &[12, 14], false),
    ("ZTO", "75", &[12, 14], false),
    ("ZTO", "76", &[12, 14], false),
    ("ZTO", "78", &[12, 14], false),
    ("ZTO", "79", &[12, 14], false),
    ("ZTO", "5", &[12], false),
    ("ZTO", "6", &[12], false),
    ("ZTO", "2", &[12], false),
    ("YD", "43", &[13, 15], false),
    ("YD", "46", &[13, 15], false),
    ("YD", "31", &[13, 15], false),
    ("YD", "33", &[13], false),
    ("STO", "77", &[13, 15], false),
    ("STO", "88", &[12], false),
    ("STO", "268", &[12], false),
    ("STO", "368", &[12], false),
    ("STO", "468", &[12], false),
    ("STO", "568", &[12], false),
    ("STO", "668", &[12], false),
    ("STO", "768", &[12], false),
    ("STO", "868", &[12], false),
    ("STO", "968", &[12], false),
    ("EMS", "1", &[13], false),
    ("EMS", "50", &[13], false),
    ("EMS", "51", &[13], false),
    ("EMS", "98", &[13], false),
    ("YZPY", "9", &[13], false),
    ("HTKY", "50", &[14], false),
    ("HTKY", "51", &[14], false),
    ("HTKY", "55", &[13], false),
    ("HTKY", "56", &[13], false),
    ("HTKY", "57", &[13], false),
];

/// UPU S10: two letters, nine digits, two letters; `E…` is EMS, `R/C/L/U/V…CN`
/// China Post.
fn upu(n: &str) -> Option<&'static str> {
    let b = n.as_bytes();
    let ok = b.len() == 13
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..11].iter().all(u8::is_ascii_digit)
        && b[11..].iter().all(u8::is_ascii_uppercase);
    match (ok, b.first()) {
        (true, Some(b'E')) => Some("EMS"),
        (true, Some(b'R' | b'C' | b'L' | b'U' | b'V')) if n.ends_with("CN") => Some("YZPY"),
        _ => None,
    }
}

/// The carriers whose documented shapes `n` (canonical: upper-case, no
/// separators) fits.
fn fits(n: &str) -> Vec<&'static str> {
    if let Some(c) = upu(n) {
        return vec![c];
    }
    let mut out: Vec<&'static str> = Vec::new();
    for (carrier, prefix, lens, letters) in SHAPES {
        let Some(rest) = n.strip_prefix(prefix) else {
            continue;
        };
        let tail_ok = !rest.is_empty()
            && if *letters {
                rest.bytes().all(|b| b.is_ascii_alphanumeric())
                    && rest.bytes().any(|b| b.is_ascii_digit())
            } else {
                rest.bytes().all(|b| b.is_ascii_digit())
            };
        if tail_ok && lens.contains(&n.len()) && !out.contains(carrier) {
            out.push(carrier);
        }
    }
    out
}

fn codes(d: &Detection) -> Vec<String> {
    let mut v: Vec<String> = match d {
        Detection::Unique(c) => vec![c.as_str().to_string()],
        Detection::Ambiguous(cs) => cs.iter().map(|c| c.as_str().to_string()).collect(),
        Detection::Unknown => Vec::new(),
    };
    v.sort();
    v
}

/// A number of a documented shape (or a near miss: one length off, a letter in
/// a digit tail), with the shape it was made from.
fn number() -> impl Strategy<Value = String> {
    let shaped = (
        0..SHAPES.len(),
        any::<proptest::sample::Index>(),
        "[0-9]{20}",
        "[A-Z0-9]{20}",
        0u8..6,
    )
        .prop_map(|(i, len, digits, alnum, miss)| {
            let (_, prefix, lens, letters) = SHAPES[i];
            let mut n = lens[len.index(lens.len())];
            match miss {
                0 => n += 1,
                1 => n = n.saturating_sub(1),
                _ => {}
            }
            let tail_len = n.saturating_sub(prefix.len()).min(20);
            let mut tail: String = if letters {
                alnum[..tail_len].to_string()
            } else {
                digits[..tail_len].to_string()
            };
            if miss == 2 && !tail.is_empty() {
                tail.replace_range(..1, "Q");
            }
            format!("{prefix}{tail}")
        });
    let upu = (
        "[A-Z]{2}",
        "[0-9]{9}",
        prop_oneof![Just("CN".to_string()), "[A-Z]{2}"],
    )
        .prop_map(|(a, d, b)| format!("{a}{d}{b}"));
    prop_oneof![
        6 => shaped,
        2 => upu,
        1 => "[0-9]{5,20}",
        1 => "[A-Z]{1,3}[0-9]{8,17}",
    ]
}

#[test]
fn numbers_are_detected_as_exactly_the_carriers_whose_shapes_they_fit() {
    fuzz("detect_shapes", 1024, number(), |n| {
        let d = local(&n);
        let mut want: Vec<String> = fits(&n).iter().map(|c| c.to_string()).collect();
        want.sort();
        prop_assert_eq!(codes(&d), want.clone(), "{}: {:?}", n, d);
        match &d {
            Detection::Unique(_) => prop_assert_eq!(want.len(), 1),
            Detection::Ambiguous(cs) => {
                prop_assert!(cs.len() >= 2);
                prop_assert_eq!(want.len(), cs.len());
            }
            Detection::Unknown => prop_assert!(want.is_empty()),
        }
        Ok(())
    });
}

/// The same number as a person may type or paste it.
fn retyped(n: &str, style: u8, cuts: &[usize]) -> String {
    let mut out = String::new();
    for (i, c) in n.chars().enumerate() {
        if cuts.contains(&i) && i > 0 {
            out.push(if i % 2 == 0 { ' ' } else { '-' });
        }
        out.push(match style {
            0 => c.to_ascii_lowercase(),
            1 if c.is_ascii_digit() => {
                char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap_or(c)
            }
            1 if c.is_ascii_uppercase() => {
                char::from_u32(0xFF21 + (c as u32 - 'A' as u32)).unwrap_or(c)
            }
            _ => c,
        });
    }
    if style == 2 {
        format!(" \t{out}\u{3000}")
    } else {
        out
    }
}

#[test]
fn typing_a_number_differently_does_not_change_its_detection() {
    let strategy = (
        number(),
        0u8..3,
        proptest::collection::vec(0usize..20, 0..4),
    );
    fuzz("detect_retyped", 512, strategy, |(n, style, cuts)| {
        let typed = retyped(&n, style, &cuts);
        prop_assert_eq!(local(&typed), local(&n), "{:?} vs {:?}", typed, n);
        Ok(())
    });
}

#[test]
fn any_text_is_a_detection_of_valid_carrier_codes() {
    let strategy = prop_oneof![
        hostile_text(),
        (number(), proptest::sample::select(ODD)).prop_map(|(n, odd)| format!("{n}{odd}")),
    ];
    fuzz("detect_hostile", 1024, strategy, |s| {
        let d = local(&s);
        let cs = match &d {
            Detection::Unique(c) => vec![c.clone()],
            Detection::Ambiguous(cs) => cs.clone(),
            Detection::Unknown => Vec::new(),
        };
        for c in &cs {
            prop_assert_eq!(CarrierCode::parse(c.as_str()), Ok(c.clone()));
        }
        let mut unique = cs.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(unique.len(), cs.len(), "{:?}", d);
        if let Detection::Ambiguous(cs) = &d {
            prop_assert!(cs.len() >= 2);
        }
        Ok(())
    });
}
