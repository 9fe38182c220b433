//! Reading the hub name out of a (folded) trace text: the bracketed name that
//! contains a hub keyword, else the words leading up to the keyword. Separate
//! from the classification because it is string scanning, not keyword order.

use super::has_any;
use super::tables::{HUB, NAME_STOPS};

fn is_delimiter(c: char) -> bool {
    c.is_whitespace()
        || c.is_ascii_punctuation()
        || "，。、：；！？（）【】「」《》“”‘’·…".contains(c)
}

/// The hub name in an (already folded) text: the bracketed name 【…】 that contains
/// a hub keyword, else the run of characters that ends with the keyword, read
/// backwards to a delimiter or an arrival word (到达, 在...).
pub(super) fn extract_hub(t: &str) -> Option<String> {
    // 1. A bracketed name containing a hub keyword.
    let mut rest = t;
    while let Some(open) = rest.find(['【', '[']) {
        let after = rest.get(open..).unwrap_or("");
        let after = after
            .char_indices()
            .nth(1)
            .and_then(|(i, _)| after.get(i..))
            .unwrap_or("");
        let Some(close) = after.find(['】', ']']) else {
            break;
        };
        let inner = after.get(..close).unwrap_or("").trim();
        if has_any(inner, HUB) {
            return Some(inner.to_string());
        }
        rest = after.get(close..).unwrap_or("");
        // Skip the closing bracket itself.
        rest = rest
            .char_indices()
            .nth(1)
            .and_then(|(i, _)| rest.get(i..))
            .unwrap_or("");
    }
    // 2. The earliest hub keyword (the longest one at that position).
    let (start, end) = HUB
        .iter()
        .filter_map(|k| t.find(k).map(|s| (s, s + k.len())))
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))?;
    let before = t.get(..start).unwrap_or("");
    let mut name_start = start;
    for (i, c) in before.char_indices().rev() {
        if is_delimiter(c) {
            break;
        }
        let upto = t.get(..i + c.len_utf8()).unwrap_or("");
        if NAME_STOPS.iter().any(|w| upto.ends_with(w)) {
            break;
        }
        name_start = i;
    }
    t.get(name_start..end).map(|s| s.trim().to_string())
}
