//! Which carrier a tracking number belongs to, from its shape alone.
//!
//! Chinese carriers' numbers are mostly recognisable: a letter prefix (`SF`,
//! `YT`, `JT`, `JD`, `DPK`), the UPU format for EMS (`EA123456789CN`), or a
//! digit prefix and length (ZTO `7x…` 12/14 digits, STO `77…` 13/15 digits,
//! Yunda `43`/`46`/`31`… 13 digits). Digits-only shapes overlap between carriers,
//! and an overlap is reported as [`Detection::Ambiguous`] with every candidate:
//! tracking the wrong carrier looks exactly like a lost parcel, so we never guess.
//! The rules are published conventions of the carriers (waybill number formats),
//! not a guarantee; Kdniao's recognition (2002) settles what they cannot.

use shared::domain::CarrierCode;
use shared::time::ascii_fold;

/// The outcome of detection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detection {
    Unique(CarrierCode),
    /// Several carriers use this shape; the candidates, most likely first.
    Ambiguous(Vec<CarrierCode>),
    Unknown,
}

/// What follows the prefix.
#[derive(Clone, Copy)]
enum Tail {
    Digits,
    Alnum,
}

/// A shape: carrier, prefix, total length range, and what follows the prefix.
struct Shape {
    carrier: &'static str,
    prefix: &'static str,
    len: (usize, usize),
    tail: Tail,
}

const fn shape(
    carrier: &'static str,
    prefix: &'static str,
    min: usize,
    max: usize,
    tail: Tail,
) -> Shape {
    Shape {
        carrier,
        prefix,
        len: (min, max),
        tail,
    }
}

use Tail::{Alnum, Digits};

/// Ordered by likelihood where shapes overlap (market share: ZTO, YD, YTO, STO...).
static SHAPES: &[Shape] = &[
    // Letter prefixes: unambiguous.
    shape("SF", "SF", 13, 16, Digits),
    shape("YTO", "YT", 12, 20, Digits),
    shape("JTSD", "JT", 13, 17, Digits),
    shape("JD", "JD", 12, 20, Alnum),
    shape("DBL", "DPK", 12, 18, Digits),
    shape("HTKY", "BXA", 13, 13, Digits),
    // ZTO: 12 digits starting 7/5/6/2, 14 digits starting 73, 75, 76, 78, 79.
    shape("ZTO", "73", 12, 12, Digits),
    shape("ZTO", "75", 12, 12, Digits),
    shape("ZTO", "76", 12, 12, Digits),
    shape("ZTO", "78", 12, 12, Digits),
    shape("ZTO", "79", 12, 12, Digits),
    shape("ZTO", "5", 12, 12, Digits),
    shape("ZTO", "6", 12, 12, Digits),
    shape("ZTO", "2", 12, 12, Digits),
    shape("ZTO", "73", 14, 14, Digits),
    shape("ZTO", "75", 14, 14, Digits),
    shape("ZTO", "76", 14, 14, Digits),
    shape("ZTO", "78", 14, 14, Digits),
    shape("ZTO", "79", 14, 14, Digits),
    // Yunda: 13 digits starting 43, 46, 31, 33; 15 digits starting 43, 46, 31.
    shape("YD", "43", 13, 13, Digits),
    shape("YD", "46", 13, 13, Digits),
    shape("YD", "31", 13, 13, Digits),
    shape("YD", "33", 13, 13, Digits),
    shape("YD", "43", 15, 15, Digits),
    shape("YD", "46", 15, 15, Digits),
    shape("YD", "31", 15, 15, Digits),
    // STO: 13 or 15 digits starting 77; 12 digits starting 88 or x68.
    shape("STO", "77", 13, 13, Digits),
    shape("STO", "77", 15, 15, Digits),
    shape("STO", "88", 12, 12, Digits),
    shape("STO", "268", 12, 12, Digits),
    shape("STO", "368", 12, 12, Digits),
    shape("STO", "468", 12, 12, Digits),
    shape("STO", "568", 12, 12, Digits),
    shape("STO", "668", 12, 12, Digits),
    shape("STO", "768", 12, 12, Digits),
    shape("STO", "868", 12, 12, Digits),
    shape("STO", "968", 12, 12, Digits),
    // EMS domestic: 13 digits starting 1 (10, 11, 13, 50, 51 families) or 98.
    shape("EMS", "1", 13, 13, Digits),
    shape("EMS", "50", 13, 13, Digits),
    shape("EMS", "51", 13, 13, Digits),
    shape("EMS", "98", 13, 13, Digits),
    // China Post parcels: 13 digits starting 9.
    shape("YZPY", "9", 13, 13, Digits),
    // Best Express: 14 digits starting 50/51; 13 digits starting 55/56/57.
    shape("HTKY", "50", 14, 14, Digits),
    shape("HTKY", "51", 14, 14, Digits),
    shape("HTKY", "55", 13, 13, Digits),
    shape("HTKY", "56", 13, 13, Digits),
    shape("HTKY", "57", 13, 13, Digits),
];

fn matches(s: &Shape, n: &str) -> bool {
    let Some(rest) = n.strip_prefix(s.prefix) else {
        return false;
    };
    (s.len.0..=s.len.1).contains(&n.len())
        && !rest.is_empty()
        && match s.tail {
            Digits => rest.bytes().all(|b| b.is_ascii_digit()),
            Alnum => {
                rest.bytes().all(|b| b.is_ascii_alphanumeric())
                    && rest.bytes().any(|b| b.is_ascii_digit())
            }
        }
}

/// UPU S10 (`EA123456789CN`): EMS when it starts with `E`, China Post parcels
/// when it is another Chinese item (`R`, `C`, `L`, `U`, `V` series).
fn upu(n: &str) -> Option<&'static str> {
    let b = n.as_bytes();
    if b.len() != 13
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..11].iter().all(u8::is_ascii_digit)
        || !b[11..].iter().all(u8::is_ascii_uppercase)
    {
        return None;
    }
    match b[0] {
        b'E' => Some("EMS"),
        b'R' | b'C' | b'L' | b'U' | b'V' if &b[11..] == b"CN" => Some("YZPY"),
        _ => None,
    }
}

/// Local detection, from the number's shape only.
pub fn local(number: &str) -> Detection {
    let n: String = ascii_fold(number.trim())
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .collect::<String>()
        .to_ascii_uppercase();
    let code = |c: &str| CarrierCode::parse(c).ok();
    if let Some(c) = upu(&n) {
        return code(c).map_or(Detection::Unknown, Detection::Unique);
    }
    // Candidates with the more specific (longer) prefix first.
    let mut hits: Vec<&Shape> = SHAPES.iter().filter(|s| matches(s, &n)).collect();
    hits.sort_by_key(|s| std::cmp::Reverse(s.prefix.len()));
    let mut found: Vec<CarrierCode> = Vec::new();
    for s in hits {
        if let Some(c) = code(s.carrier) {
            if !found.contains(&c) {
                found.push(c);
            }
        }
    }
    match found.len() {
        0 => Detection::Unknown,
        1 => Detection::Unique(found.remove(0)),
        _ => Detection::Ambiguous(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique(n: &str) -> String {
        match local(n) {
            Detection::Unique(c) => c.as_str().to_string(),
            other => panic!("{n}: {other:?}"),
        }
    }

    #[test]
    fn every_listed_carrier_is_detected() {
        for (n, c) in [
            ("SF1234567890123", "SF"),
            ("sf1234567890123", "SF"),
            ("SF123456789012", "SF"),
            ("JDVA12345678901", "JD"),
            ("JDX000123456789", "JD"),
            ("YT1234567890123", "YTO"),
            ("YT0000000000001", "YTO"),
            ("73100012345678", "ZTO"),
            ("75312345678901", "ZTO"),
            ("731234567890", "ZTO"),
            ("773012345678901", "STO"),
            ("7730123456789", "STO"),
            ("881234567890", "STO"),
            ("4312345678901", "YD"),
            ("4612345678901", "YD"),
            ("3112345678901", "YD"),
            ("1100012345678", "EMS"),
            ("EA123456789CN", "EMS"),
            ("ea123456789cn", "EMS"),
            ("RR123456789CN", "YZPY"),
            ("9712345678901", "YZPY"),
            ("JT0001234567890", "JTSD"),
            ("JT5012345678901", "JTSD"),
            ("DPK123456789012", "DBL"),
            ("BXA1234567890", "HTKY"),
            ("50123456789012", "HTKY"),
            // Full-width and separators are folded.
            ("ＳＦ１２３４５６７８９０１２３", "SF"),
            ("YT 1234-5678-90123", "YTO"),
        ] {
            assert_eq!(unique(n), c, "{n}");
        }
    }

    #[test]
    fn overlaps_are_reported_not_guessed() {
        // 13 digits starting 98: EMS economy or a China Post parcel.
        assert_eq!(
            local("9812345678901"),
            Detection::Ambiguous(vec![
                CarrierCode::parse("EMS").unwrap(),
                CarrierCode::parse("YZPY").unwrap()
            ])
        );
        // 12 digits starting 568: STO's x68 series, or ZTO's 5 series. The more
        // specific shape comes first.
        match local("568123456789") {
            Detection::Ambiguous(c) => {
                let c: Vec<&str> = c.iter().map(|c| c.as_str()).collect();
                assert_eq!(c, vec!["STO", "ZTO"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_shapes() {
        for n in [
            "",
            "12345",
            "ABCDEFGHIJK",
            "SF",
            "0000000000000000000000000",
            "XX123456789CN",
        ] {
            assert_eq!(local(n), Detection::Unknown, "{n:?}");
        }
    }

    #[test]
    fn simulated_fleet_numbers_are_detected_or_reported() {
        // The simulator draws numbers in each carrier's real shape: detection must
        // find the carrier, or list it among the candidates.
        let fleet = sentinel_sim::generate(&sentinel_sim::FleetConfig {
            parcels: 500,
            ..sentinel_sim::FleetConfig::default()
        });
        for p in &fleet.parcels {
            let id = &p.shipment().id;
            match local(id.tracking_number.as_str()) {
                Detection::Unique(c) => assert_eq!(c, id.carrier, "{id}"),
                Detection::Ambiguous(c) => assert!(c.contains(&id.carrier), "{id}: {c:?}"),
                Detection::Unknown => panic!("{id}: unknown"),
            }
        }
    }
}
