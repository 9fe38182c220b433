//! Outside values echoed in error messages, clipped to a readable length.
//!
//! An error names the bad value so the reader can find it, but a value can be
//! anything: a 100,000-character argument, an environment variable holding a
//! file, a CSV field without end. [`clip`] keeps the first [`CLIP_CHARS`]
//! characters and says how long the whole was, so every error stays one short
//! line. Every error type that echoes outside input formats it through here
//! (`{:?}` quotes and escapes it as before).

use std::fmt;

/// At most this many characters of a value are echoed.
pub const CLIP_CHARS: usize = 80;

/// A value as an error message echoes it; see [`clip`].
#[derive(Clone, Copy)]
pub struct Clipped<'a>(&'a str);

/// `value` for an error message: as is when at most [`CLIP_CHARS`] characters,
/// else its first [`CLIP_CHARS`] characters, an ellipsis and the full length:
/// `"AAAA…" (100000 chars)` with `{:?}`, `AAAA… (100000 chars)` with `{}`.
pub fn clip(value: &str) -> Clipped<'_> {
    Clipped(value)
}

impl Clipped<'_> {
    /// The kept prefix, and the full length in characters when it was cut.
    fn parts(&self) -> (&str, Option<usize>) {
        match self.0.char_indices().nth(CLIP_CHARS) {
            None => (self.0, None),
            Some((end, _)) => (&self.0[..end], Some(self.0.chars().count())),
        }
    }
}

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parts() {
            (s, None) => f.write_str(s),
            (s, Some(n)) => write!(f, "{s}… ({n} chars)"),
        }
    }
}

impl fmt::Debug for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.parts() {
            (s, None) => write!(f, "{s:?}"),
            (s, Some(n)) => write!(f, "\"{}…\" ({n} chars)", s.escape_debug()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_echoed_whole() {
        assert_eq!(format!("{:?}", clip("ZTO x")), "\"ZTO x\"");
        assert_eq!(format!("{}", clip("ZTO x")), "ZTO x");
        let exact = "é".repeat(CLIP_CHARS);
        assert_eq!(format!("{}", clip(&exact)), exact);
    }

    #[test]
    fn long_values_are_cut_with_their_length() {
        let long = format!("{}\n", "啊".repeat(100_000));
        let shown = format!("{:?}", clip(&long));
        assert_eq!(
            shown,
            format!("\"{}…\" (100001 chars)", "啊".repeat(CLIP_CHARS))
        );
        let shown = format!("{}", clip(&long));
        assert!(shown.ends_with("… (100001 chars)"), "{shown}");
        assert_eq!(
            shown.chars().count(),
            CLIP_CHARS + "… (100001 chars)".chars().count()
        );
        // Control characters stay escaped in the quoted form (one line).
        let nl = "\n".repeat(200);
        assert!(!format!("{:?}", clip(&nl)).contains('\n'));
    }
}
