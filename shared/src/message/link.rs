//! Links from a message to the parcel's page in the console (`CONSOLE_URL`): one
//! tap from the alert to the timeline and the acknowledge button.

use crate::config::ConfigError;
use crate::domain::ShipmentId;

/// The variable: the console page's public address, e.g.
/// `https://abc123.execute-api.cn-north-1.amazonaws.com.cn/`. Empty: no links.
pub const CONSOLE_URL_VAR: &str = "CONSOLE_URL";

/// Longest address accepted.
const MAX_LEN: usize = 512;

/// A checked console address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleUrl(String);

impl ConsoleUrl {
    /// An `http://` or `https://` address of printable ASCII with no spaces, quotes,
    /// angle brackets, backslashes or fragment (it goes into markdown and chat).
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let t = raw.trim();
        let bad = |reason: &str| ConfigError {
            var: CONSOLE_URL_VAR,
            token: t.to_string(),
            reason: reason.to_string(),
        };
        let rest = t
            .strip_prefix("https://")
            .or_else(|| t.strip_prefix("http://"))
            .ok_or_else(|| bad("expected an http:// or https:// address"))?;
        let host = rest.split(['/', '?']).next().unwrap_or("");
        if host.is_empty() {
            return Err(bad("the address has no host"));
        }
        if t.len() > MAX_LEN {
            return Err(bad("longer than 512 characters"));
        }
        if let Some(c) = t.chars().find(|c| {
            !c.is_ascii_graphic()
                || matches!(
                    c,
                    '"' | '\''
                        | '<'
                        | '>'
                        | '\\'
                        | '`'
                        | '#'
                        | '('
                        | ')'
                        | '['
                        | ']'
                        | '{'
                        | '}'
                        | '|'
                        | '^'
                )
        }) {
            return Err(bad(&format!("{c:?} is not allowed in the address")));
        }
        Ok(Self(t.to_string()))
    }

    /// The page of one parcel: `?parcel=NUMBER&carrier=CODE` on the address (the
    /// page opens that parcel's lookup).
    pub fn parcel(&self, id: &ShipmentId) -> String {
        let sep = if self.0.contains('?') { '&' } else { '?' };
        format!(
            "{}{sep}parcel={}&carrier={}",
            self.0,
            encode(id.tracking_number.as_str()),
            encode(id.carrier.as_str())
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Percent-encodes everything but the URL's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parcel_links_carry_the_number_and_carrier() {
        let id = ShipmentId::parse("SF", "SF1234567890123").unwrap();
        let u = ConsoleUrl::parse(" https://ops.example.cn/ ").unwrap();
        assert_eq!(
            u.parcel(&id),
            "https://ops.example.cn/?parcel=SF1234567890123&carrier=SF"
        );
        let q = ConsoleUrl::parse("https://ops.example.cn/console?lang=en").unwrap();
        assert_eq!(
            q.parcel(&id),
            "https://ops.example.cn/console?lang=en&parcel=SF1234567890123&carrier=SF"
        );
        assert_eq!(encode("A B/é"), "A%20B%2F%C3%A9");
    }

    #[test]
    fn refuses_what_would_break_a_message() {
        for raw in [
            "ops.example.cn",
            "ftp://x/",
            "https://",
            "https://x/a b",
            "https://x/)](javascript:alert(1)",
            "https://x/<b>",
            "https://x/#frag",
            "javascript:alert(1)",
        ] {
            let e = ConsoleUrl::parse(raw).unwrap_err();
            assert_eq!(e.var, CONSOLE_URL_VAR, "{raw}");
        }
        assert!(ConsoleUrl::parse(&format!("https://x/{}", "a".repeat(600))).is_err());
    }
}
