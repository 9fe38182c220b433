//! Carrier reply normalisation: Kdniao and Kuaidi100 replies (instant queries and
//! pushes) into a [`CarrierReply`] in the domain model.
//!
//! What the normaliser promises, for any input whatsoever:
//! - it never panics (no indexing or unwrapping on outside data; a property test
//!   feeds it arbitrary strings and JSON);
//! - bad input is a typed [`NormaliseError`] whose one-line message names the field
//!   path and the bad value (`Traces[2].AcceptTime: cannot parse time "2024-13-01":
//!   no such date`);
//! - the real-world quirks of carriers.md section 7 are tolerated: codes as strings
//!   or numbers, booleans as strings, null or missing optional fields, times in many
//!   spellings ([`crate::time::parse_carrier_time`]), traces in any order;
//! - "the carrier knows nothing yet" (Kdniao `State 0`/暂无轨迹, Kuaidi100 `201` or
//!   `returnCode 500`) is an empty reply with status Pending, not an error; other
//!   provider failures are [`NormaliseError::CarrierFailure`];
//! - nothing the carrier said is lost: top-level codes go to `raw_state`, per-event
//!   codes to `TrackingEvent::code`; what could not be mapped becomes a warning;
//! - success flags that lie (section 7: replies re-serialised by an SDK or an app's
//!   model class) are judged, not believed: [`Verdict`] weighs the status code,
//!   the traces, the error code and the error message against `Success`/`success`
//!   or `result`, and every field is read in either spelling (`ShipperCode` or
//!   `shipperCode`, see [`field`]).
//!
//! **Classification of one event.** The per-event code (Kdniao `Action`, Kuaidi100
//! `statusCode`) is looked up in the carrier's table and the text is classified by
//! [`keywords::classify_text`]. A specific code wins; the text wins when the code is
//! missing, unknown, a judgement code without a status of its own, or generic
//! in-transit (carriers' codes lag their texts); a generic problem code (Kdniao
//! `4`, Kuaidi100 `2`) yields to a text that names the problem (派送失败 is a failed
//! delivery, not just "a problem"). An unknown code with an unmatched
//! text falls back on its code family (never a terminal status). An event neither
//! gives a status for takes the reply's top-level status if it is the newest event,
//! InTransit otherwise, with an `unclassified trace` warning. Only InTransit events
//! carry a hub: from the text (arrival/processing at a hub) or Kdniao `Action 204`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::domain::{Status, Timeline, TrackingEvent};
use crate::ports::CarrierReply;
use crate::time::parse_carrier_time;

pub mod carriers;
pub mod kdniao;
pub mod keywords;
pub mod kuaidi100;

/// Which aggregator's reply format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Kdniao,
    Kuaidi100,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Kdniao => "kdniao",
            Format::Kuaidi100 => "kuaidi100",
        }
    }

    /// `kdniao` or `kuaidi100`, case-insensitive.
    pub fn parse(s: &str) -> Option<Format> {
        let s = s.trim();
        [Format::Kdniao, Format::Kuaidi100]
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a reply could not be normalised. The message is one line and names the
/// field path and the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error(
        "unknown reply format: expected a Kdniao object (Traces, LogisticCode, ShipperCode, \
         EBusinessID, Success, or a push with PushTime/Data) or a Kuaidi100 object (nu, com, \
         ischeck, data, returnCode, result, or a push with lastResult)"
    )]
    UnknownFormat,
    #[error("{field}: missing required field")]
    MissingField { field: String },
    #[error("{field}: bad value {value:?}: {reason}")]
    BadValue {
        field: String,
        value: String,
        reason: String,
    },
    #[error("{field}: cannot parse time {value:?}: {}", time_reason(.value))]
    BadTime { field: String, value: String },
    #[error("{provider} reports a failure{}: {reason}", code_suffix(.code))]
    CarrierFailure {
        provider: &'static str,
        code: Option<String>,
        reason: String,
    },
    #[error("the push holds {0} parcels; expected exactly one")]
    MultipleParcels(usize),
}

fn time_reason(value: &str) -> &'static str {
    parse_carrier_time(value)
        .err()
        .map(|e| e.reason)
        .unwrap_or("unexpected type")
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_ref()
        .map(|c| format!(" (code {c})"))
        .unwrap_or_default()
}

/// Kdniao keys (PascalCase) that identify its replies and pushes.
const KDNIAO_KEYS: &[&str] = &[
    "Traces",
    "LogisticCode",
    "ShipperCode",
    "EBusinessID",
    "Success",
    "PushTime",
    "Data",
];
/// Kuaidi100 keys that identify its replies and pushes.
const KUAIDI100_KEYS: &[&str] = &[
    "nu",
    "com",
    "ischeck",
    "data",
    "returnCode",
    "result",
    "lastResult",
];

/// Which format a JSON value is in, from its keys; `None` if neither (or not an
/// object). An object with keys of both counts as the one with more of its keys
/// (Kdniao on a tie).
pub fn detect_format(v: &Value) -> Option<Format> {
    let obj = v.as_object()?;
    let count = |keys: &[&str]| keys.iter().filter(|k| obj.contains_key(**k)).count();
    // A Kdniao key counts in its camelCase spelling too (a reply that went through
    // a model class, section 7), except `Data`, whose other spelling is
    // Kuaidi100's `data`.
    let kd = KDNIAO_KEYS
        .iter()
        .filter(|k| {
            obj.contains_key(**k) || (**k != "Data" && obj.contains_key(&other_spelling(k)))
        })
        .count();
    let k100 = count(KUAIDI100_KEYS);
    match (kd, k100) {
        (0, 0) => None,
        (kd, k100) if kd >= k100 => Some(Format::Kdniao),
        _ => Some(Format::Kuaidi100),
    }
}

/// Parses a reply body (a query reply or a push holding one parcel), detecting the
/// format when `format` is `None`.
pub fn parse_reply(body: &str, format: Option<Format>) -> Result<CarrierReply, NormaliseError> {
    let body = body.trim_start_matches('\u{feff}');
    let v: Value =
        serde_json::from_str(body).map_err(|e| NormaliseError::NotJson(e.to_string()))?;
    parse_value(&v, format)
}

/// Like [`parse_reply`], on already-parsed JSON.
pub fn parse_value(v: &Value, format: Option<Format>) -> Result<CarrierReply, NormaliseError> {
    let format = match format {
        Some(f) => f,
        None => detect_format(v).ok_or(NormaliseError::UnknownFormat)?,
    };
    let obj = as_object(v, "$")?;
    match format {
        Format::Kdniao => {
            let is_push = obj.contains_key("Data")
                && (obj.contains_key("PushTime")
                    || !(obj.contains_key("Traces") || obj.contains_key("LogisticCode")));
            if is_push {
                let mut replies = kdniao::parse_push(v)?;
                match replies.pop() {
                    Some(one) if replies.is_empty() => Ok(one),
                    Some(_) => Err(NormaliseError::MultipleParcels(replies.len() + 1)),
                    None => Err(NormaliseError::MultipleParcels(0)),
                }
            } else {
                kdniao::parse_query(obj, "")
            }
        }
        Format::Kuaidi100 => {
            if obj.contains_key("lastResult") {
                kuaidi100::parse_push(v)
            } else {
                kuaidi100::parse_query(obj, "")
            }
        }
    }
}

/// The `RequestData` JSON of a Kdniao push: `{EBusinessID, PushTime, Count, Data:
/// [query-shaped replies]}`, one reply per parcel. `Count` is ignored (it may
/// disagree with `Data`). Any bad element fails the whole push, with the element's
/// path in the error (`Data[1].Traces[0].AcceptTime`).
pub fn parse_kdniao_push(v: &Value) -> Result<Vec<CarrierReply>, NormaliseError> {
    kdniao::parse_push(v)
}

/// The `param` JSON of a Kuaidi100 push: `{status, billstatus, message, lastResult:
/// {query-shaped}}`. A push with status `abort` (Kuaidi100 stopped monitoring) adds a
/// warning carrying its message.
pub fn parse_kuaidi100_push(v: &Value) -> Result<CarrierReply, NormaliseError> {
    kuaidi100::parse_push(v)
}

/// What a reply says about itself, judged from all its fields (carriers.md §7):
/// the clients use it to tell a failure from an answer before normalising, the
/// normaliser to decide whether there is a timeline to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The carrier answered: read its state code and traces (there may be none).
    Answer,
    /// The carrier knows nothing yet about the parcel (an empty reply, not an error).
    NotFound { reason: String },
    /// The provider reports a failure.
    Failure {
        code: Option<String>,
        reason: String,
    },
}

/// The [`Verdict`] on a Kdniao query-shaped reply (a query, a subscription or
/// recognition reply, or one element of a push's `Data`).
pub fn kdniao_verdict(v: &Value) -> Result<Verdict, NormaliseError> {
    kdniao::verdict(as_object(v, "$")?, "")
}

/// The [`Verdict`] on a Kuaidi100 query-shaped reply (a query or subscription
/// reply, or a push's `lastResult`).
pub fn kuaidi100_verdict(v: &Value) -> Result<Verdict, NormaliseError> {
    kuaidi100::verdict(as_object(v, "$")?, "")
}

// ---------------------------------------------------------------------------------
// Shared machinery for the carrier modules.

/// What a carrier code table says about one code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeMeaning {
    /// The code maps to this status.
    Status(Status),
    /// A known code without a status of its own (a provider's time judgement):
    /// the text decides.
    NoStatus,
    /// Not in the table.
    Unknown,
}

/// How a trace's code weighs against its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeStatus {
    /// No code on the trace: the text decides.
    Absent,
    /// A specific code: it wins over the text.
    Specific(Status),
    /// A generic in-transit code: the text wins when it matches.
    Generic(Status),
    /// A problem-family code (Kdniao `4` 问题件, Kuaidi100 `2` 疑难): an
    /// exception, unless the text names which problem (a failed delivery, a
    /// refusal, a return, a locker...).
    Problem,
    /// A known code without a status (judgement): the text decides.
    NoStatus,
    /// An unknown code: the text, else the code's family (never terminal).
    Unknown(Option<Status>),
}

/// One trace as read from the wire, before classification.
pub(crate) struct RawTrace {
    pub at: DateTime<Utc>,
    pub text: String,
    pub location: Option<String>,
    pub code: Option<String>,
    pub code_status: CodeStatus,
    /// A status name the carrier attached (Kuaidi100 `data[].status`), used only
    /// when neither code nor text decides.
    pub hint: Option<Status>,
    /// Kdniao `Action 204`: an arrival at a hub whatever the text says.
    pub hub_scan: bool,
}

/// Classifies the traces of one reply (see the module docs).
pub(crate) fn classify_traces(
    traces: Vec<RawTrace>,
    top: Option<Status>,
    warnings: &mut Vec<String>,
) -> Vec<TrackingEvent> {
    let newest_at = traces.iter().map(|t| t.at).max();
    traces
        .into_iter()
        .map(|t| {
            let by_text = keywords::classify_text(&t.text);
            let text_status = by_text.as_ref().map(|c| c.status);
            let decided = match t.code_status {
                CodeStatus::Specific(s) => Some(s),
                CodeStatus::Generic(s) => Some(text_status.unwrap_or(s)),
                CodeStatus::Problem => Some(match text_status {
                    Some(
                        ts @ (Status::DeliveryFailed
                        | Status::Refused
                        | Status::Returning
                        | Status::Returned
                        | Status::AwaitingCollection
                        | Status::Lost
                        | Status::CustomsClearance),
                    ) => ts,
                    _ => Status::Exception,
                }),
                CodeStatus::Absent | CodeStatus::NoStatus => text_status,
                CodeStatus::Unknown(family) => text_status.or(family),
            }
            .or(t.hint);
            let status = decided.unwrap_or_else(|| {
                add_warning(warnings, format!("unclassified trace: {}", show(&t.text)));
                if Some(t.at) == newest_at {
                    top.unwrap_or(Status::InTransit)
                } else {
                    Status::InTransit
                }
            });
            let hub = if status != Status::InTransit {
                None
            } else if let Some(h) = by_text.and_then(|c| c.hub) {
                Some(h)
            } else if t.hub_scan && !keywords::is_departure(&t.text) {
                Some(
                    keywords::hub_name(&t.text)
                        .or_else(|| t.location.clone())
                        .unwrap_or_default(),
                )
            } else {
                None
            };
            TrackingEvent {
                at: t.at,
                text: t.text,
                location: t.location,
                code: t.code,
                status,
                hub,
            }
        })
        .collect()
}

/// The reply-level status: the newest event's (in timeline order), else the
/// top-level code's.
pub(crate) fn reply_status(events: &[TrackingEvent], top: Option<Status>) -> Option<Status> {
    if events.is_empty() {
        return top;
    }
    Timeline::from_events(events.iter().cloned())
        .last()
        .map(|e| e.status)
}

/// The family status of an unknown code: never terminal.
pub(crate) fn non_terminal(s: Option<Status>) -> Option<Status> {
    s.map(|s| {
        if s.is_terminal() {
            Status::InTransit
        } else {
            s
        }
    })
}

pub(crate) fn add_warning(warnings: &mut Vec<String>, w: String) {
    if !warnings.contains(&w) {
        warnings.push(w);
    }
}

/// Outside text for a warning or error: phones masked, at most 60 characters.
pub(crate) fn show(s: &str) -> String {
    shorten(&keywords::mask_phones(s), 60)
}

fn shorten(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out.replace(['\n', '\r'], " ")
}

/// A short description of a JSON value for an error message.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => show(s),
        Value::Array(a) => format!("<array of {} items>", a.len()),
        Value::Object(o) => format!("<object with {} keys>", o.len()),
    }
}

/// A field that is present and not null.
pub(crate) fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// `key` with the case of its first letter flipped: `ShipperCode` ↔ `shipperCode`.
pub(crate) fn other_spelling(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(c) if c.is_ascii_uppercase() => c.to_ascii_lowercase().to_string() + chars.as_str(),
        Some(c) if c.is_ascii_lowercase() => c.to_ascii_uppercase().to_string() + chars.as_str(),
        _ => key.to_string(),
    }
}

/// Empty for the purpose of choosing between two spellings: `""`, `[]`, `{}`.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// A field in either spelling (section 7: a reply re-serialised by a model class
/// can carry `ShipperCode` *and* `shipperCode`, one of them its default). The
/// first spelling with a value wins, as named before the other spelling; a blank
/// value (`""`, `[]`) counts only when neither spelling has more. Null = absent.
pub(crate) fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let other = other_spelling(key);
    let found = [get(obj, key), get(obj, &other)];
    found
        .iter()
        .flatten()
        .find(|v| !is_blank(v))
        .or_else(|| found.iter().flatten().next())
        .copied()
}

/// Every present spelling of a field, with the key it was found under.
pub(crate) fn spellings<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = (&'a str, &'a Value)> {
    let (key, other) = (key.to_string(), other_spelling(key));
    obj.iter()
        .filter(move |(k, v)| (**k == key || **k == other) && !v.is_null())
        .map(|(k, v)| (k.as_str(), v))
}

/// The boolean flags of a field in all its spellings (`Success`, `success`);
/// a value that is not a boolean is bad input naming its key.
pub(crate) fn flags(
    obj: &Map<String, Value>,
    key: &str,
    prefix: &str,
) -> Result<Vec<bool>, NormaliseError> {
    let mut out = Vec::new();
    for (k, v) in spellings(obj, key) {
        if let Some(b) = bool_value(Some(v), &format!("{prefix}{k}"))? {
            out.push(b);
        }
    }
    Ok(out)
}

pub(crate) fn as_object<'a>(
    v: &'a Value,
    field: &str,
) -> Result<&'a Map<String, Value>, NormaliseError> {
    v.as_object().ok_or_else(|| NormaliseError::BadValue {
        field: field.to_string(),
        value: describe(v),
        reason: "expected a JSON object".to_string(),
    })
}

/// An optional array in either spelling (absent or null = empty).
pub(crate) fn opt_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a [Value], NormaliseError> {
    match field(obj, key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(NormaliseError::BadValue {
            field: path.to_string(),
            value: describe(other),
            reason: "expected an array".to_string(),
        }),
    }
}

/// A code given as a string or a number (`"2"`, `2`, `2.0`); empty = none.
pub(crate) fn code_value(v: Option<&Value>, field: &str) -> Result<Option<String>, NormaliseError> {
    let s = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => crate::time::ascii_fold(s).trim().to_string(),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
                    _ => n.to_string(),
                }
            }
        }
        Some(other) => {
            return Err(NormaliseError::BadValue {
                field: field.to_string(),
                value: describe(other),
                reason: "expected a code (a string or a number)".to_string(),
            })
        }
    };
    Ok(if s.is_empty() { None } else { Some(s) })
}

/// A boolean given as `true`, `"true"`, `"1"` or `1` (and the opposites).
pub(crate) fn bool_value(v: Option<&Value>, field: &str) -> Result<Option<bool>, NormaliseError> {
    let bad = |v: &Value| NormaliseError::BadValue {
        field: field.to_string(),
        value: describe(v),
        reason: "expected true or false".to_string(),
    };
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v @ Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            "" => Ok(None),
            _ => Err(bad(v)),
        },
        Some(v @ Value::Number(n)) => match n.as_i64() {
            Some(1) => Ok(Some(true)),
            Some(0) => Ok(Some(false)),
            _ => Err(bad(v)),
        },
        Some(v) => Err(bad(v)),
    }
}

/// Free text as given (strings; numbers and booleans in their JSON spelling);
/// anything else counts as absent.
pub(crate) fn text_value(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Optional short text (a location, a number): trimmed, empty = none.
pub(crate) fn opt_text(v: Option<&Value>) -> Option<String> {
    text_value(v)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Why a time field gave no time.
pub(crate) enum TimeProblem {
    Missing,
    Bad(String),
}

pub(crate) fn time_of(v: Option<&Value>) -> Result<DateTime<Utc>, TimeProblem> {
    match v {
        None | Some(Value::Null) => Err(TimeProblem::Missing),
        Some(Value::String(s)) if s.trim().is_empty() => Err(TimeProblem::Missing),
        Some(Value::String(s)) => {
            parse_carrier_time(s).map_err(|_| TimeProblem::Bad(shorten(s, 60)))
        }
        Some(other) => Err(TimeProblem::Bad(describe(other))),
    }
}

pub(crate) fn time_error(problem: TimeProblem, field: String) -> NormaliseError {
    match problem {
        TimeProblem::Missing => NormaliseError::MissingField { field },
        TimeProblem::Bad(value) => NormaliseError::BadTime { field, value },
    }
}

/// A provider failure, its reason on one line with phones masked.
pub(crate) fn failure(
    provider: &'static str,
    code: Option<String>,
    reason: &str,
) -> NormaliseError {
    NormaliseError::CarrierFailure {
        provider,
        code: code.map(|c| show(&c)),
        reason: crate::clip::clip(&keywords::mask_phones(reason).replace(['\n', '\r'], " "))
            .to_string(),
    }
}

/// `State=2;StateEx=202`: the top-level codes present, in order.
pub(crate) fn raw_state(parts: &[(&str, &Option<String>)]) -> Option<String> {
    let s = parts
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(";");
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::json;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn format_names() {
        assert_eq!(Format::Kdniao.as_str(), "kdniao");
        assert_eq!(Format::Kuaidi100.as_str(), "kuaidi100");
        assert_eq!(Format::parse("kdniao"), Some(Format::Kdniao));
        assert_eq!(Format::parse(" Kuaidi100 "), Some(Format::Kuaidi100));
        assert_eq!(Format::parse("17track"), None);
        assert_eq!(Format::Kuaidi100.to_string(), "kuaidi100");
    }

    #[test]
    fn detection() {
        for v in [
            json!({"Traces": []}),
            json!({"LogisticCode": "YT1"}),
            json!({"ShipperCode": "YTO"}),
            json!({"EBusinessID": "1"}),
            json!({"Success": false}),
            json!({"PushTime": "2024-05-01 10:00:00"}),
            json!({"Data": []}),
        ] {
            assert_eq!(detect_format(&v), Some(Format::Kdniao), "{v}");
        }
        for v in [
            json!({"nu": "YT1"}),
            json!({"com": "yuantong"}),
            json!({"ischeck": "0"}),
            json!({"data": []}),
            json!({"returnCode": "500"}),
            json!({"result": false}),
            json!({"lastResult": {}}),
        ] {
            assert_eq!(detect_format(&v), Some(Format::Kuaidi100), "{v}");
        }
        for v in [
            json!({}),
            json!({"foo": 1}),
            json!([]),
            json!("x"),
            json!(null),
        ] {
            assert_eq!(detect_format(&v), None, "{v}");
        }
        // Mixed keys: the format with more of its keys.
        assert_eq!(
            detect_format(&json!({"nu": "1", "com": "jd", "Success": true})),
            Some(Format::Kuaidi100)
        );
    }

    #[test]
    fn not_json_and_unknown_format() {
        assert!(matches!(
            parse_reply("{not json", None),
            Err(NormaliseError::NotJson(_))
        ));
        assert!(matches!(
            parse_reply("", None),
            Err(NormaliseError::NotJson(_))
        ));
        assert_eq!(
            parse_reply(r#"{"hello":"world"}"#, None),
            Err(NormaliseError::UnknownFormat)
        );
        assert_eq!(
            parse_reply("[1,2]", None),
            Err(NormaliseError::UnknownFormat)
        );
        assert_eq!(parse_reply("42", None), Err(NormaliseError::UnknownFormat));
        // With the format given, a non-object is a bad value.
        assert_eq!(
            parse_reply("[1,2]", Some(Format::Kdniao)),
            Err(NormaliseError::BadValue {
                field: "$".into(),
                value: "<array of 2 items>".into(),
                reason: "expected a JSON object".into()
            })
        );
        // A UTF-8 byte-order mark is tolerated.
        assert!(parse_reply("\u{feff}{\"Success\":true,\"State\":\"0\"}", None).is_ok());
    }

    #[test]
    fn error_messages_are_one_line_and_name_the_field() {
        let e = NormaliseError::BadTime {
            field: "Traces[2].AcceptTime".into(),
            value: "2024-13-01".into(),
        };
        assert_eq!(
            e.to_string(),
            r#"Traces[2].AcceptTime: cannot parse time "2024-13-01": no such date"#
        );
        let e = NormaliseError::BadTime {
            field: "data[0].ftime".into(),
            value: "2024-x-01".into(),
        };
        assert_eq!(
            e.to_string(),
            r#"data[0].ftime: cannot parse time "2024-x-01": bad month"#
        );
        assert_eq!(
            NormaliseError::MissingField {
                field: "Traces[3].AcceptTime".into()
            }
            .to_string(),
            "Traces[3].AcceptTime: missing required field"
        );
        assert_eq!(
            NormaliseError::BadValue {
                field: "Traces".into(),
                value: "abc".into(),
                reason: "expected an array".into()
            }
            .to_string(),
            r#"Traces: bad value "abc": expected an array"#
        );
        assert_eq!(
            failure("kuaidi100", Some("400".into()), "找不到对应公司\n").to_string(),
            "kuaidi100 reports a failure (code 400): 找不到对应公司 "
        );
        assert_eq!(
            failure("kdniao", None, "手机号13812345678不正确").to_string(),
            "kdniao reports a failure: 手机号138****5678不正确"
        );
        // A provider's failure text is clipped like any echoed value.
        let long = failure("kdniao", None, &"错".repeat(100_000)).to_string();
        assert!(long.ends_with("… (100000 chars)"), "{}", &long[..200]);
        assert!(long.chars().count() < 150);
        assert_eq!(
            NormaliseError::MultipleParcels(3).to_string(),
            "the push holds 3 parcels; expected exactly one"
        );
    }

    #[test]
    fn kdniao_push_with_one_parcel_is_a_reply() {
        let v = json!({"EBusinessID": "1000000", "PushTime": "2024-05-02 08:00:00", "Count": "5",
            "Data": [{"ShipperCode": "YTO", "LogisticCode": "YT0000000000001", "Success": true,
                      "State": "2", "Traces": [{"AcceptTime": "2024-05-01 09:12:00",
                                               "AcceptStation": "【杭州市】快件已揽收", "Action": "1"}]}]});
        let r = parse_value(&v, None).unwrap();
        assert_eq!(r.tracking_number.as_deref(), Some("YT0000000000001"));
        assert_eq!(r.status, Some(Status::PickedUp));
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.events[0].at, utc(2024, 5, 1, 1, 12, 0));
        // And via the body.
        assert_eq!(parse_reply(&v.to_string(), Some(Format::Kdniao)), Ok(r));
    }

    #[test]
    fn kdniao_push_with_several_parcels_is_an_error() {
        let one =
            json!({"ShipperCode": "YTO", "LogisticCode": "YT1", "Success": true, "State": "0"});
        let v = json!({"PushTime": "2024-05-02 08:00:00", "Count": "1", "Data": [one, one, one]});
        assert_eq!(
            parse_value(&v, None),
            Err(NormaliseError::MultipleParcels(3))
        );
        let empty = json!({"PushTime": "2024-05-02 08:00:00", "Count": "0", "Data": []});
        assert_eq!(
            parse_value(&empty, None),
            Err(NormaliseError::MultipleParcels(0))
        );
    }

    #[test]
    fn kuaidi100_push_is_a_reply() {
        let v = json!({"status": "polling", "billstatus": "change", "message": "",
            "lastResult": {"message": "ok", "state": "1", "status": "200", "ischeck": "0",
                           "com": "zhongtong", "nu": "ZT123456789",
                           "data": [{"ftime": "2024-05-01 09:12:00", "context": "已揽收"}]}});
        let r = parse_reply(&v.to_string(), None).unwrap();
        assert_eq!(r.carrier.as_ref().map(|c| c.as_str()), Some("ZTO"));
        assert_eq!(r.status, Some(Status::PickedUp));
        assert_eq!(r.raw_state.as_deref(), Some("state=1;ischeck=0"));
    }

    #[test]
    fn code_values() {
        let f = "f";
        assert_eq!(code_value(Some(&json!("2")), f), Ok(Some("2".into())));
        assert_eq!(code_value(Some(&json!(2)), f), Ok(Some("2".into())));
        assert_eq!(code_value(Some(&json!(2.0)), f), Ok(Some("2".into())));
        assert_eq!(
            code_value(Some(&json!(" ２０２ ")), f),
            Ok(Some("202".into()))
        );
        assert_eq!(code_value(Some(&json!("")), f), Ok(None));
        assert_eq!(code_value(Some(&json!(null)), f), Ok(None));
        assert_eq!(code_value(None, f), Ok(None));
        assert!(matches!(
            code_value(Some(&json!([1])), f),
            Err(NormaliseError::BadValue { .. })
        ));
        assert_eq!(bool_value(Some(&json!("TRUE")), f), Ok(Some(true)));
        assert_eq!(bool_value(Some(&json!("false")), f), Ok(Some(false)));
        assert_eq!(bool_value(Some(&json!(0)), f), Ok(Some(false)));
        assert!(bool_value(Some(&json!("maybe")), f).is_err());
    }

    #[test]
    fn warnings_are_masked_and_truncated() {
        let long = format!("电话13812345678{}", "啊".repeat(80));
        let s = show(&long);
        assert!(s.starts_with("电话138****5678啊"));
        assert_eq!(s.chars().count(), 61);
        assert!(s.ends_with('…'));
    }

    // -- never panics ------------------------------------------------------------

    const KEYS: &[&str] = &[
        "Traces",
        "LogisticCode",
        "ShipperCode",
        "EBusinessID",
        "Success",
        "Reason",
        "State",
        "StateEx",
        "Location",
        "AcceptTime",
        "AcceptStation",
        "Action",
        "Remark",
        "PushTime",
        "Count",
        "Data",
        "nu",
        "com",
        "ischeck",
        "data",
        "returnCode",
        "result",
        "message",
        "status",
        "state",
        "lastResult",
        "ftime",
        "time",
        "context",
        "location",
        "statusCode",
        "areaName",
    ];

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
            prop_oneof![
                Just("2024-05-01 09:12:00"),
                Just("2015-3-11 16:21"),
                Just("２０２４／０５／０１　０９：１２"),
                Just("2024-13-01 00:00:00"),
                Just("0"),
                Just("2"),
                Just("204"),
                Just("304"),
                Just("999"),
                Just("1002"),
                Just("true"),
                Just("false"),
                Just("500"),
                Just("201"),
                Just("快件已到达【杭州转运中心】"),
                Just("派件员 13812345678 正在派件"),
                Just("暂无轨迹信息"),
            ]
            .prop_map(|s| Value::String(s.to_string())),
        ];
        leaf.prop_recursive(5, 96, 8, |inner| {
            let key = prop_oneof![
                4 => proptest::sample::select(KEYS).prop_map(str::to_string),
                1 => ".{0,6}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((key, inner), 0..8)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn exercise(v: &Value) {
        for r in [
            parse_value(v, None),
            parse_value(v, Some(Format::Kdniao)),
            parse_value(v, Some(Format::Kuaidi100)),
            parse_kuaidi100_push(v),
            parse_reply(&v.to_string(), None),
        ] {
            match r {
                Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
                Ok(reply) => {
                    for e in &reply.events {
                        assert!(e.hub.is_none() || e.status == Status::InTransit);
                    }
                }
            }
        }
        if let Err(e) = parse_kdniao_push(v) {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn never_panics_on_strings(s in ".{0,200}") {
            let _ = parse_reply(&s, None);
            let _ = parse_reply(&s, Some(Format::Kdniao));
            let _ = parse_reply(&s, Some(Format::Kuaidi100));
            let _ = keywords::classify_text(&s);
            let _ = keywords::mask_phones(&s);
        }

        #[test]
        fn never_panics_on_json(v in arb_json()) {
            exercise(&v);
        }

        #[test]
        fn never_panics_on_reply_shaped_json(
            traces in proptest::collection::vec(
                proptest::collection::vec(
                    (proptest::sample::select(KEYS).prop_map(str::to_string), arb_json()), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
                0..5),
            top in proptest::collection::vec(
                (proptest::sample::select(KEYS).prop_map(str::to_string), arb_json()), 0..6),
        ) {
            let mut kd: Map<String, Value> = top.clone().into_iter().collect();
            kd.insert("Traces".into(), Value::Array(traces.clone()));
            exercise(&Value::Object(kd.clone()));
            let push = json!({"PushTime": "2024-05-01 00:00:00", "Data": [Value::Object(kd)]});
            exercise(&push);
            let mut k100: Map<String, Value> = top.into_iter().collect();
            k100.insert("data".into(), Value::Array(traces));
            exercise(&Value::Object(k100.clone()));
            exercise(&json!({"status": "polling", "lastResult": Value::Object(k100)}));
        }
    }
}
