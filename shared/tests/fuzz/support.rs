//! The runner every harness of this file shares, and the strategies for hostile
//! text.
//!
//! [`fuzz`] runs a property through proptest's `TestRunner` rather than the
//! `proptest!` macro so that it can count the cases it ran and print them
//! (`fuzz <name>: <n> cases`, visible with `--nocapture`): a long local run
//! reports its executions per harness. The case count is the harness's own modest
//! default, or `PROPTEST_CASES` when set, so the test command stays fast and a
//! long run is `PROPTEST_CASES=20000 cargo test --release ... --test fuzz`.
//! Failures are not persisted to files: a failing case is printed (shrunk) and
//! kept as a regular test beside the fixed code.

use std::cell::Cell;
use std::fmt::Debug;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// `PROPTEST_CASES` if set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Runs `test` on `cases(default_cases)` values of `strategy`, prints how many
/// cases ran, and panics with the shrunk failing input if one fails.
pub fn fuzz<S>(
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let config = Config {
        cases: cases(default_cases),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let ran = Cell::new(0u64);
    let result = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        test(v)
    });
    println!("fuzz {name}: {} cases", ran.get());
    if let Err(e) = result {
        // The shrunk input can be huge (that is the point of some inputs).
        let shown = e.to_string();
        let cut: String = shown.chars().take(6_000).collect();
        let more = shown.chars().count().saturating_sub(6_000);
        panic!("fuzz {name}: {cut}… ({more} more characters)");
    }
}

/// An echoed message is one line of at most `max` characters, whatever the input.
pub fn bounded(what: &str, s: &str, max: usize) -> Result<(), TestCaseError> {
    prop_assert!(
        !s.contains('\n') && !s.contains('\r'),
        "{what} spans lines: {:?}",
        s.chars().take(300).collect::<String>()
    );
    let n = s.chars().count();
    prop_assert!(
        n <= max,
        "{what} is {n} characters (at most {max}): {:?}",
        s.chars().take(300).collect::<String>()
    );
    Ok(())
}

/// Characters that break naive text handling: controls, BOM, zero-width and
/// bidi marks, combining accents, full-width digits and punctuation, the
/// ideographic space, astral-plane characters, CJK.
pub const ODD: &[&str] = &[
    "\u{0}",
    "\u{7}",
    "\t",
    "\n",
    "\r\n",
    "\u{feff}",
    "\u{200b}",
    "\u{200d}",
    "\u{202e}",
    "e\u{301}",
    "\u{ff10}\u{ff19}",
    "\u{ff1a}",
    "\u{ff0d}",
    "\u{ff0f}",
    "\u{3000}",
    "\u{1d7d8}",
    "\u{10ffff}",
    "😀",
    "Ⅻ",
    "١٢٣",
    "快件",
    "\"",
    "\\",
    "'",
    ",",
    "%",
    "&",
    "=",
    "+",
];

/// Short text mixing ordinary and odd characters.
pub fn odd_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => "[a-zA-Z0-9 .:/-]{0,6}",
            2 => proptest::sample::select(ODD).prop_map(str::to_string),
            1 => ".{0,4}",
        ],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

/// A string far longer than any echo may be: 2 000 to 100 000 characters.
pub fn huge_text() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(&["A", "9", "啊", "😀", "\n", "x\u{301}"][..]),
        2_000usize..100_000,
    )
        .prop_map(|(c, n)| c.repeat(n))
}

/// Any of: ordinary, odd, or huge text.
pub fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => odd_text(),
        3 => ".{0,40}",
        1 => huge_text(),
    ]
}

/// Bytes as a client may send them: arbitrary, or text with odd characters.
pub fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        hostile_text().prop_map(String::into_bytes),
    ]
}
