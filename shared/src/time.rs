//! Carrier time handling.
//!
//! Chinese carriers and both aggregators report times as naive local strings in
//! China Standard Time (UTC+8, no daylight saving since 1991), in many spellings:
//! `2024-05-01 09:12:00`, unpadded `2015-3-11 16:21:06`, slashes, missing seconds,
//! full-width digits. Everything is converted to UTC at the edge; output is RFC 3339
//! in China time so an ops reader sees the same clock the carrier printed.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Utc};

/// China Standard Time, UTC+8.
pub fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Why a time string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse time {:?}: {reason}", crate::clip::clip(.value))]
pub struct TimeError {
    pub value: String,
    pub reason: &'static str,
}

/// Replaces full-width digits, letters and punctuation (U+FF10..U+FF19, `：`, `－`, `／`, ideographic
/// space) with their ASCII forms.
pub fn ascii_fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF10}'..='\u{FF19}' => char::from(b'0' + (c as u32 - 0xFF10) as u8),
            '\u{FF21}'..='\u{FF3A}' => char::from(b'A' + (c as u32 - 0xFF21) as u8),
            '\u{FF41}'..='\u{FF5A}' => char::from(b'a' + (c as u32 - 0xFF41) as u8),
            '\u{FF1A}' => ':',
            '\u{FF0D}' => '-',
            '\u{FF0F}' => '/',
            '\u{FF0E}' => '.',
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect()
}

/// Parses a carrier time. A string with an explicit offset (RFC 3339) keeps it; a
/// naive string is China local time.
pub fn parse_carrier_time(raw: &str) -> Result<DateTime<Utc>, TimeError> {
    let err = |reason| TimeError {
        value: raw.to_string(),
        reason,
    };
    let folded = ascii_fold(raw.trim());
    if folded.is_empty() {
        return Err(err("empty"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(&folded) {
        return Ok(t.with_timezone(&Utc));
    }
    let (date_part, time_part) = match folded.split_once([' ', 'T']) {
        Some((d, t)) => (d.trim(), Some(t.trim())),
        None => (folded.as_str(), None),
    };
    let mut d = date_part.split(['-', '/', '.']);
    let num = |it: &mut dyn Iterator<Item = &str>, what| -> Result<u32, TimeError> {
        it.next()
            .filter(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse().ok())
            .ok_or(err(what))
    };
    let year = num(&mut d, "bad year")?;
    let month = num(&mut d, "bad month")?;
    let day = num(&mut d, "bad day")?;
    if d.next().is_some() || !(1900..=2200).contains(&year) {
        return Err(err("bad date"));
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or(err("no such date"))?;
    let time = match time_part {
        None => NaiveTime::MIN,
        Some(t) => {
            // Drop fractional seconds; accept HH:mm or HH:mm:ss.
            let t = t.split('.').next().unwrap_or(t);
            let mut parts = t.split(':');
            let h = num(&mut parts, "bad hour")?;
            let m = num(&mut parts, "bad minute")?;
            let s = match parts.next() {
                None => 0,
                Some(p) => num(&mut std::iter::once(p), "bad second")?,
            };
            if parts.next().is_some() {
                return Err(err("bad time"));
            }
            NaiveTime::from_hms_opt(h, m, s).ok_or(err("no such time"))?
        }
    };
    let local = NaiveDateTime::new(date, time);
    Ok(local
        .and_local_timezone(china())
        .single()
        .ok_or(err("ambiguous local time"))?
        .with_timezone(&Utc))
}

/// Parses a user-given instant: RFC 3339, or a naive time taken as China local time.
pub fn parse_user_time(raw: &str) -> Result<DateTime<Utc>, TimeError> {
    parse_carrier_time(raw)
}

/// RFC 3339 in China time, e.g. `2024-05-01T09:12:00+08:00`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.with_timezone(&china())
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// Serde `serialize_with` for a time shown to people: [`rfc3339`] (China time).
pub fn serialize_rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*t))
}

/// [`serialize_rfc3339`] for an optional time (`null` when absent).
pub fn serialize_rfc3339_opt<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// `2024-05-01 09:12` in China time, for human-facing messages.
pub fn local_minutes(t: DateTime<Utc>) -> String {
    t.with_timezone(&china())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// `2024-05-01 09:12:00` in China time: the carriers' own format.
pub fn local_carrier_format(t: DateTime<Utc>) -> String {
    t.with_timezone(&china())
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn naive_carrier_time_is_china_local() {
        assert_eq!(
            parse_carrier_time("2024-05-01 09:12:00").unwrap(),
            utc("2024-05-01T01:12:00Z")
        );
    }

    #[test]
    fn tolerant_spellings() {
        let want = utc("2015-03-11T08:21:06Z");
        for s in [
            "2015-3-11 16:21:06",
            "2015/03/11 16:21:06",
            "２０１５－０３－１１　１６：２１：０６",
            " 2015-03-11T16:21:06 ",
            "2015-03-11 16:21:06.000",
            "2015-03-11T16:21:06+08:00",
            "2015-03-11T08:21:06Z",
        ] {
            assert_eq!(parse_carrier_time(s).unwrap(), want, "{s}");
        }
        assert_eq!(
            parse_carrier_time("2016/12/21 14:23").unwrap(),
            utc("2016-12-21T06:23:00Z")
        );
        assert_eq!(
            parse_carrier_time("2016-12-21").unwrap(),
            utc("2016-12-20T16:00:00Z")
        );
    }

    #[test]
    fn bad_times_are_errors() {
        for s in [
            "",
            "yesterday",
            "2024-13-01 00:00:00",
            "2024-02-30 10:00:00",
            "2024-05-01 25:00:00",
            "2024-05-01 10:00:00:00",
            "2024-05",
            "99999-01-01",
        ] {
            assert!(parse_carrier_time(s).is_err(), "{s}");
        }
    }

    #[test]
    fn output_is_china_time_with_offset() {
        let t = utc("2024-05-01T01:12:00Z");
        assert_eq!(rfc3339(t), "2024-05-01T09:12:00+08:00");
        assert_eq!(local_minutes(t), "2024-05-01 09:12");
        assert_eq!(local_carrier_format(t), "2024-05-01 09:12:00");
    }
}
