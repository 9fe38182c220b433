//! Fuzz harnesses for `sentinel import`'s reading of a CSV file
//! ([`CsvParcels`] over [`RecordCap`]), in process: the binary is not spawned.
//!
//! - [`RecordCap`] read in chunks of any size hands over exactly what a model of
//!   the record bound says: everything, or the bytes before the first record
//!   over the limit and then an error naming the line it began on.
//! - A generated file (columns in any order and case, a byte-order mark, extra
//!   columns, quoting, CRLF, blank lines, newlines inside quoted values) gives
//!   exactly its parcels, each with the line its record began on.
//! - Any file at all, and any mutation of a good one, gives rows in line order
//!   with bounded messages, and stops (once, last) only on an overlong record.
//!
//! Like the other fuzz harnesses: a modest number of cases in the test command,
//! `PROPTEST_CASES` in a long run, the cases run printed (`--nocapture`).

use std::cell::Cell;
use std::io::Read;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::bounded::{RecordCap, RecordTooLong, MAX_FIELD_BYTES, MAX_RECORD_BYTES};
use crate::parcels::{CsvParcels, Row};

/// A row's message: a clipped column name or value (80 characters, escaped in
/// at most 10 each) and fixed text, or a csv error.
const MAX_MESSAGE: usize = 80 * 10 + 400;

/// `PROPTEST_CASES` cases if set, else `default`; prints the cases run.
fn fuzz<S>(
    name: &str,
    default: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = Cell::new(0u64);
    let result = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        test(v)
    });
    println!("fuzz {name}: {} cases", ran.get());
    if let Err(e) = result {
        let shown: String = e.to_string().chars().take(6_000).collect();
        panic!("fuzz {name}: {shown}");
    }
}

// ------------------------------------------------------------------ RecordCap

/// The model: records end at `\n` or `\r` outside quotes (quotes toggle on
/// every `"`); the first record longer than `limit` bytes ends the reading
/// after its first `limit` bytes, naming the line it began on.
fn model(input: &[u8], limit: usize) -> (usize, Option<u64>) {
    let mut in_quotes = false;
    let mut start = 0;
    for (i, &b) in input.iter().enumerate() {
        if b == b'"' {
            in_quotes = !in_quotes;
        }
        if !in_quotes && (b == b'\n' || b == b'\r') {
            start = i + 1;
        } else if i + 1 - start > limit {
            let line = 1 + input[..start].iter().filter(|&&b| b == b'\n').count() as u64;
            return (start + limit, Some(line));
        }
    }
    (input.len(), None)
}

/// Reads everything through a [`RecordCap`] in chunks of the given sizes.
fn read_chunked(input: &[u8], limit: usize, chunks: &[usize]) -> (Vec<u8>, Option<u64>) {
    let mut r = RecordCap::new(input, limit);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64];
    for i in 0.. {
        let n = chunks
            .get(i % chunks.len().max(1))
            .copied()
            .unwrap_or(7)
            .max(1);
        buf.resize(n, 0);
        match r.read(&mut buf) {
            Ok(0) => return (out, None),
            Ok(k) => out.extend_from_slice(&buf[..k]),
            Err(e) => {
                let line = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<RecordTooLong>())
                    .map(|t| t.line);
                // Once failed, it stays failed.
                let again = r.read(&mut buf).is_err();
                return (out, line.filter(|_| again));
            }
        }
    }
    (out, None)
}

#[test]
fn record_cap_hands_over_what_the_model_says_in_any_chunks() {
    let input = proptest::collection::vec(
        prop_oneof![
            6 => proptest::sample::select(b"ab,1 ".to_vec()),
            1 => Just(b'"'),
            1 => Just(b'\n'),
            1 => Just(b'\r'),
            1 => any::<u8>(),
        ],
        0..400,
    );
    let strategy = (
        input,
        1usize..40,
        proptest::collection::vec(1usize..50, 1..5),
    );
    fuzz(
        "record_cap_model",
        512,
        strategy,
        |(input, limit, chunks)| {
            let (handed, line) = model(&input, limit);
            let (out, got_line) = read_chunked(&input, limit, &chunks);
            prop_assert_eq!(&out[..], &input[..handed]);
            prop_assert_eq!(got_line, line);
            Ok(())
        },
    );
}

// ------------------------------------------------------------------ CSV files

/// One parcel as a row of the file, and what it must become.
#[derive(Clone, Debug)]
struct Parcel {
    carrier: String,
    number: String,
    order_id: Option<String>,
    shipped_at: Option<(String, i64)>,
    phone: Option<String>,
}

fn parcel() -> impl Strategy<Value = Parcel> {
    let codes: Vec<&'static str> = shared::normalise::carriers::codes().collect();
    (
        proptest::sample::select(codes),
        any::<bool>(),
        "[A-Z]{0,3}[0-9]{6,20}",
        proptest::option::of(prop_oneof![
            "[A-Za-z0-9-]{1,20}",
            // Values that need quoting: commas, quotes, a newline.
            "[a-z]{1,4}[,\"\n][a-z]{1,4}",
            "订单[0-9]{1,6}",
        ]),
        proptest::option::of(0i64..100_000),
        proptest::option::of("1[3-9][0-9]{9}"),
    )
        .prop_map(
            |(carrier, lower, number, order_id, shipped, phone)| Parcel {
                carrier: if lower {
                    carrier.to_ascii_lowercase()
                } else {
                    carrier.to_string()
                },
                number,
                order_id,
                shipped_at: shipped.map(|m| {
                    let t = chrono::NaiveDate::from_ymd_opt(2024, 1, 1)
                        .unwrap_or_default()
                        .and_hms_opt(0, 0, 0)
                        .unwrap_or_default()
                        + chrono::Duration::minutes(m);
                    (
                        t.format("%Y-%m-%d %H:%M").to_string(),
                        (t - chrono::Duration::hours(8)).and_utc().timestamp(),
                    )
                }),
                phone,
            },
        )
}

/// A field as written: quoted when it must be (or at random), else maybe padded.
fn field(value: &str, quote: bool, pad: bool) -> String {
    if quote || value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else if pad {
        format!("  {value} ")
    } else {
        value.to_string()
    }
}

const OPTIONAL: [&str; 4] = ["order_id", "shipped_at", "promised_at", "phone"];

/// A whole file: header, rows, and for each row the line its record begins on.
#[derive(Clone, Debug)]
struct File {
    text: String,
    parcels: Vec<(u64, Parcel)>,
}

fn file() -> impl Strategy<Value = File> {
    (
        proptest::sample::subsequence(OPTIONAL.to_vec(), 0..=4),
        proptest::collection::vec("note|x_[a-z]{1,4}", 0..2),
        any::<Index>(),
        (any::<bool>(), any::<bool>(), any::<bool>()),
        proptest::collection::vec((parcel(), any::<bool>(), any::<bool>(), 0usize..3), 0..12),
    )
        .prop_map(|(optional, extra, shuffle, (bom, crlf, upper), rows)| {
            let mut columns: Vec<String> = ["carrier", "tracking_number"]
                .iter()
                .map(|c| c.to_string())
                .chain(optional.iter().map(|c| c.to_string()))
                .chain(extra)
                .collect();
            // Any column order.
            let k = shuffle.index(columns.len());
            columns.rotate_left(k);
            let nl = if crlf { "\r\n" } else { "\n" };
            let header: Vec<String> = columns
                .iter()
                .map(|c| {
                    if upper {
                        c.to_ascii_uppercase()
                    } else {
                        c.clone()
                    }
                })
                .collect();
            let mut text = format!(
                "{}{}{nl}",
                if bom { "\u{feff}" } else { "" },
                header.join(",")
            );
            let mut parcels = Vec::new();
            for (p, quote, pad, blanks) in rows {
                for _ in 0..blanks {
                    text.push_str(nl);
                }
                let line = 1 + text.matches('\n').count() as u64;
                let cells: Vec<String> = columns
                    .iter()
                    .map(|c| {
                        let v = match c.as_str() {
                            "carrier" => p.carrier.clone(),
                            "tracking_number" => p.number.clone(),
                            "order_id" => p.order_id.clone().unwrap_or_default(),
                            "shipped_at" => p.shipped_at.clone().map(|s| s.0).unwrap_or_default(),
                            "phone" => p.phone.clone().unwrap_or_default(),
                            _ => String::new(),
                        };
                        field(&v, quote, pad)
                    })
                    .collect();
                text.push_str(&cells.join(","));
                text.push_str(nl);
                // What a missing column cannot give.
                let mut want = p.clone();
                if !columns.iter().any(|c| c == "order_id") {
                    want.order_id = None;
                }
                if !columns.iter().any(|c| c == "shipped_at") {
                    want.shipped_at = None;
                }
                if !columns.iter().any(|c| c == "phone") {
                    want.phone = None;
                }
                parcels.push((line, want));
            }
            File { text, parcels }
        })
}

fn rows(input: &[u8]) -> Result<Vec<Row>, String> {
    CsvParcels::new(input).map(Iterator::collect)
}

#[test]
fn a_generated_file_gives_exactly_its_parcels_and_lines() {
    fuzz("import_roundtrip", 192, file(), |f| {
        let rows = rows(f.text.as_bytes()).map_err(TestCaseError::fail)?;
        prop_assert_eq!(rows.len(), f.parcels.len(), "{:?}", rows);
        for (row, (line, p)) in rows.iter().zip(&f.parcels) {
            let Row::Parcel {
                line: got,
                shipment: s,
            } = row
            else {
                return Err(TestCaseError::fail(format!("{row:?} for {p:?}")));
            };
            prop_assert_eq!(got, line);
            prop_assert_eq!(s.id.carrier.as_str(), p.carrier.to_ascii_uppercase());
            prop_assert_eq!(s.id.tracking_number.as_str(), p.number.as_str());
            prop_assert_eq!(s.order_id.as_deref(), p.order_id.as_deref());
            prop_assert_eq!(
                s.shipped_at.map(|t| t.timestamp()),
                p.shipped_at.as_ref().map(|s| s.1)
            );
            prop_assert_eq!(s.phone.as_ref().map(|x| x.expose()), p.phone.as_deref());
        }
        Ok(())
    });
}

/// What any rows must be: in line order, bounded messages, a stop only last.
fn check_rows(input: &[u8], rows: &[Row]) -> Result<(), TestCaseError> {
    let lines = 1 + input.iter().filter(|&&b| b == b'\n').count() as u64;
    let mut last = 0;
    for (i, row) in rows.iter().enumerate() {
        match row {
            Row::Parcel { line, .. } | Row::Rejected { line, .. } => {
                prop_assert!(
                    *line >= last && *line <= lines,
                    "line {} of {}",
                    line,
                    lines
                );
                last = *line;
            }
            Row::Stop(why) => {
                prop_assert_eq!(i + 1, rows.len(), "a stop is last");
                bounded(why)?;
            }
        }
        if let Row::Rejected { why, .. } = row {
            bounded(why)?;
        }
    }
    Ok(())
}

fn bounded(why: &str) -> Result<(), TestCaseError> {
    let n = why.chars().count();
    prop_assert!(
        n <= MAX_MESSAGE,
        "{} characters: {:?}",
        n,
        why.chars().take(300).collect::<String>()
    );
    Ok(())
}

#[derive(Clone, Debug)]
enum Edit {
    Bytes(Index, Vec<u8>),
    Delete(Index, usize),
    Truncate(Index),
    /// A field far over the field limit.
    LongField(Index, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (
            any::<Index>(),
            proptest::collection::vec(
                prop_oneof![
                    Just(b'"'),
                    Just(b','),
                    Just(b'\n'),
                    Just(b'\r'),
                    Just(0u8),
                    Just(0xFFu8),
                    Just(0xE4u8),
                    any::<u8>()
                ],
                1..4
            )
        )
            .prop_map(|(i, b)| Edit::Bytes(i, b)),
        (any::<Index>(), 1usize..20).prop_map(|(i, n)| Edit::Delete(i, n)),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), MAX_FIELD_BYTES + 1..4 * MAX_FIELD_BYTES)
            .prop_map(|(i, n)| Edit::LongField(i, n)),
    ]
}

fn apply(mut b: Vec<u8>, e: &Edit) -> Vec<u8> {
    let at = |i: &Index, len: usize| i.index(len + 1);
    match e {
        Edit::Bytes(i, bytes) => {
            let k = at(i, b.len());
            b.splice(k..k, bytes.iter().copied());
        }
        Edit::Delete(i, n) => {
            let k = at(i, b.len());
            let end = (k + n).min(b.len());
            b.drain(k..end);
        }
        Edit::Truncate(i) => {
            let k = at(i, b.len());
            b.truncate(k);
        }
        Edit::LongField(i, n) => {
            let k = at(i, b.len());
            b.splice(k..k, std::iter::repeat_n(b'7', *n));
        }
    }
    b
}

#[test]
fn any_file_or_mutation_gives_ordered_rows_and_bounded_messages() {
    let strategy = prop_oneof![
        3 => (file(), proptest::collection::vec(edit(), 1..5))
            .prop_map(|(f, edits)| edits.iter().fold(f.text.into_bytes(), apply)),
        1 => proptest::collection::vec(any::<u8>(), 0..600),
        1 => ".{0,300}".prop_map(String::into_bytes),
    ];
    fuzz("import_mutations", 384, strategy, |input| {
        match rows(&input) {
            Ok(rows) => check_rows(&input, &rows)?,
            Err(why) => bounded(&why)?,
        }
        Ok(())
    });
}

#[test]
fn an_overlong_record_stops_the_import_at_its_line() {
    let tail = prop_oneof![
        // No newline at all (`/dev/zero`).
        Just(vec![b'0'; MAX_RECORD_BYTES + 1]),
        // A quote never closed: newlines do not end the record.
        Just({
            let mut v = b"ZTO,\"".to_vec();
            v.extend(b"line\n".repeat(MAX_RECORD_BYTES / 5 + 1));
            v
        }),
    ];
    let strategy = (file(), tail, 0usize..3);
    fuzz("import_overlong", 48, strategy, |(f, tail, after)| {
        let mut input = f.text.clone().into_bytes();
        let line = 1 + input.iter().filter(|&&b| b == b'\n').count() as u64;
        input.extend(&tail);
        // Good rows after it are never read.
        for _ in 0..after {
            input.extend(b"\nZTO,75312345678901");
        }
        let rows = rows(&input).map_err(TestCaseError::fail)?;
        check_rows(&input, &rows)?;
        prop_assert_eq!(rows.len(), f.parcels.len() + 1, "{:?}", rows.last());
        for (row, (l, _)) in rows.iter().zip(&f.parcels) {
            prop_assert!(
                matches!(row, Row::Parcel { line, .. } if line == l),
                "{:?}",
                row
            );
        }
        let Some(Row::Stop(why)) = rows.last() else {
            return Err(TestCaseError::fail(format!("no stop: {:?}", rows.last())));
        };
        prop_assert!(
            why.starts_with(&format!(
                "line {line}: longer than {MAX_RECORD_BYTES} bytes"
            )),
            "{}",
            why
        );
        Ok(())
    });
}
