//! Fitting text where it must go: carrier text on one line with phones masked,
//! and cutting to a length limit — one SMS ([`SMS_MAX_CHARS`] characters, or
//! [`SMS_MAX_ASCII`] bytes when all ASCII), an email subject
//! ([`SUBJECT_LIMIT`]), the tail of a tracking number. Pure string helpers,
//! shared by the messages and by the digests.

use crate::normalise::keywords::mask_phones;

/// An ops SMS holding any non-ASCII character is kept to this many characters
/// (one UCS-2 SMS).
pub const SMS_MAX_CHARS: usize = 70;
/// An all-ASCII ops SMS is kept to this many bytes.
pub const SMS_MAX_ASCII: usize = 140;
/// Email subjects are ASCII and shorter than this (SNS allows fewer than 100).
pub const SUBJECT_LIMIT: usize = 100;

/// The last four characters of a tracking number (all of it when shorter).
pub(super) fn tail4(tracking_number: &str) -> String {
    let chars: Vec<char> = tracking_number.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// Carrier text as shown: phones masked, on one line.
pub(crate) fn trace_text(text: &str) -> String {
    one_line(&mask_phones(text))
}

/// Collapses every run of whitespace (line breaks included) into one space.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` bytes of `s`, cut on a character boundary and ending with
/// `ellipsis` when cut (just cut when not even the ellipsis fits).
pub(crate) fn truncate_bytes(s: &str, max: usize, ellipsis: &str) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let (room, mark) = if max >= ellipsis.len() {
        (max - ellipsis.len(), ellipsis)
    } else {
        (max, "")
    };
    let mut end = room;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{mark}", &s[..end])
}

/// At most `max` characters of `s`, ending with `…` when cut.
pub(super) fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub(super) fn sms_fits(s: &str) -> bool {
    if s.is_ascii() {
        s.len() <= SMS_MAX_ASCII
    } else {
        s.chars().count() <= SMS_MAX_CHARS
    }
}

pub(super) fn sms_cut(s: &str) -> String {
    if s.is_ascii() {
        truncate_bytes(s, SMS_MAX_ASCII, "...")
    } else {
        truncate_chars(s, SMS_MAX_CHARS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_bytes("abc", 3, "…"), "abc");
        assert_eq!(truncate_bytes("中文字符", 7, "…"), "中…");
        assert_eq!(truncate_bytes("中文字符", 2, "…"), "");
        assert_eq!(truncate_bytes("abcdef", 2, "…"), "ab");
        assert_eq!(truncate_chars("中文字符", 3), "中文…");
        assert_eq!(one_line(" a\n b\t\tc \r\n"), "a b c");
        assert_eq!(tail4("ABC"), "ABC");
    }
}
