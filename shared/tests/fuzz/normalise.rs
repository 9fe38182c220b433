//! Kdniao and Kuaidi100 replies and push bodies (`shared::normalise`).
//!
//! - Replies are generated from random traces per carriers.md (§1.6–1.8, §2.1,
//!   §2.3, §7: codes as strings or numbers, times in every documented spelling,
//!   traces in any order, optional fields null, empty or absent, lying success
//!   flags) and must parse into exactly what was generated: identity, every
//!   event's time, text, location and code, the status of a specific code, the
//!   reply status of the newest event, the raw state.
//! - Mutations of those replies (keys removed, values of another type, strings
//!   truncated, huge or odd, keys respelled or duplicated, the text cut or
//!   spliced) never panic, give one-line bounded errors and warnings, and never
//!   give an identity the document does not hold; with the identity fields
//!   untouched the identity is exactly the generated one. The body and the value
//!   paths agree, and so do the verdict and the parse.
//! - Arbitrary bytes never panic and give bounded errors.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Map, Value};

use shared::domain::{CarrierCode, ShipmentId, Status};
use shared::normalise::{self, carriers, Format, NormaliseError, Verdict};
use shared::ports::CarrierReply;

use crate::support::{bounded, fuzz, hostile_bytes, hostile_text, huge_text, odd_text};

/// Longest error message: the longest fixed text (the unknown-format message),
/// a field path and a value shown in at most 60 characters, quoted with escapes
/// (a control or invisible character takes up to 10).
const MAX_ERROR: usize = 60 * 10 + 600;
/// Longest warning: a fixed prefix and a value shown the same way.
const MAX_WARNING: usize = 60 * 10 + 200;

// ------------------------------------------------------------------ times

/// The spellings of carriers.md §7 (and the RFC 3339 a re-serialised reply has).
#[derive(Clone, Copy, Debug)]
enum TimeStyle {
    Padded,
    Unpadded,
    Slashes,
    TSeparator,
    NoSeconds,
    FullWidth,
    Fraction,
    Rfc3339,
}

fn time_style() -> impl Strategy<Value = TimeStyle> {
    use TimeStyle::*;
    proptest::sample::select(vec![
        Padded, Padded, Unpadded, Slashes, TSeparator, NoSeconds, FullWidth, Fraction, Rfc3339,
    ])
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap_or(c),
            '-' => '\u{ff0d}',
            ':' => '\u{ff1a}',
            '/' => '\u{ff0f}',
            ' ' => '\u{3000}',
            _ => c,
        })
        .collect()
}

/// `t` (China local time) as a carrier spells it.
fn spell(t: NaiveDateTime, style: TimeStyle) -> String {
    match style {
        TimeStyle::Padded => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        TimeStyle::Unpadded => format!(
            "{}-{}-{} {}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        TimeStyle::Slashes => t.format("%Y/%m/%d %H:%M:%S").to_string(),
        TimeStyle::TSeparator => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        TimeStyle::NoSeconds => t.format("%Y-%m-%d %H:%M").to_string(),
        TimeStyle::FullWidth => full_width(&t.format("%Y-%m-%d %H:%M:%S").to_string()),
        TimeStyle::Fraction => t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        TimeStyle::Rfc3339 => t.format("%Y-%m-%dT%H:%M:%S+08:00").to_string(),
    }
}

/// The instant a spelled local time stands for.
fn instant(t: NaiveDateTime, style: TimeStyle) -> DateTime<Utc> {
    let t = match style {
        TimeStyle::NoSeconds => t.with_second(0).unwrap_or(t),
        _ => t,
    };
    (t - Duration::hours(8)).and_utc()
}

fn base_time() -> impl Strategy<Value = NaiveDateTime> {
    (0i64..15 * 365).prop_map(|days| {
        NaiveDate::from_ymd_opt(2015, 1, 1)
            .unwrap_or_default()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            + Duration::days(days)
    })
}

// ------------------------------------------------------------------ codes

/// One code of a carrier's table: the status it maps to (`None`: a judgement
/// or unknown code) and whether it is specific (it wins over the text).
#[derive(Debug)]
struct Code {
    code: &'static str,
    status: Option<Status>,
    specific: bool,
}

const fn c(code: &'static str, status: Option<Status>, specific: bool) -> Code {
    Code {
        code,
        status,
        specific,
    }
}

use Status::*;

/// Kdniao `Action`/`StateEx` (carriers.md §1.7, HIGH rows), plus an unknown code.
static KD_ACTIONS: &[Code] = &[
    c("0", Some(Pending), true),
    c("1", Some(PickedUp), true),
    c("10", Some(Pending), true),
    c("2", Some(InTransit), false),
    c("201", Some(ArrivedAtDestinationCity), true),
    c("202", Some(OutForDelivery), true),
    c("204", Some(InTransit), true),
    c("206", Some(InTransit), false),
    c("211", Some(AwaitingCollection), true),
    c("3", Some(Delivered), true),
    c("301", Some(Delivered), true),
    c("302", Some(Delivered), true),
    c("304", Some(Delivered), true),
    c("311", Some(Delivered), true),
    c("4", Some(Exception), false),
    c("401", None, false),
    c("402", None, false),
    c("403", None, false),
    c("404", Some(Refused), true),
    c("405", Some(DeliveryFailed), true),
    c("406", Some(Returned), true),
    c("407", Some(Returning), true),
    c("412", Some(AwaitingCollection), true),
    c("999", None, false),
];

/// Kdniao's coarse `State`.
static KD_STATES: &[Code] = &[
    c("0", Some(Pending), true),
    c("1", Some(PickedUp), true),
    c("2", Some(InTransit), true),
    c("3", Some(Delivered), true),
    c("4", Some(Exception), true),
    c("5", Some(Redirected), true),
    c("6", Some(CustomsClearance), true),
];

/// Kuaidi100 `state`/`statusCode` (carriers.md §2.3: the HIGH rows, 304 and
/// 1002), a judgement code and an unknown one.
static K100_CODES: &[Code] = &[
    c("0", Some(InTransit), false),
    c("1", Some(PickedUp), true),
    c("2", Some(Exception), false),
    c("3", Some(Delivered), true),
    c("4", Some(Returned), true),
    c("5", Some(OutForDelivery), true),
    c("6", Some(Returning), true),
    c("7", Some(Redirected), true),
    c("8", Some(CustomsClearance), true),
    c("14", Some(Refused), true),
    c("304", Some(Delivered), true),
    c("1002", Some(InTransit), false),
    c("201", None, false),
    c("999", None, false),
];

fn code_of(table: &'static [Code]) -> impl Strategy<Value = &'static Code> {
    (0..table.len()).prop_map(move |i| &table[i])
}

/// A code as the wire has it: a string, or a JSON number.
fn code_value(code: &Code, as_number: bool) -> Value {
    match code.code.parse::<u64>() {
        Ok(n) if as_number => json!(n),
        _ => json!(code.code),
    }
}

// ------------------------------------------------------------------ texts

const TEXTS: &[&str] = &[
    "【杭州市】快件已揽收",
    "【杭州市】快件派送中",
    "快件已到达【杭州转运中心】",
    "快件已从【杭州转运中心】发出",
    "已签收，签收人：本人",
    "派送失败，电话无人接听，快件滞留网点",
    "收件人拒收",
    "快件已放入丰巢快递柜",
    "派件员 13812345678 正在派件",
    "暂无轨迹信息",
    "",
];

fn trace_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => proptest::sample::select(TEXTS).prop_map(str::to_string),
        1 => odd_text(),
    ]
}

/// An optional text field: absent, null, empty, blank, or a value (maybe padded).
#[derive(Clone, Debug)]
enum Opt {
    Absent,
    Null,
    Text(String),
}

fn opt_text() -> impl Strategy<Value = Opt> {
    prop_oneof![
        Just(Opt::Absent),
        Just(Opt::Null),
        Just(Opt::Text(String::new())),
        Just(Opt::Text("  ".into())),
        "[ ]{0,2}[a-z杭州市北京分拨中心]{1,8}[ ]{0,2}".prop_map(Opt::Text),
        odd_text().prop_map(Opt::Text),
    ]
}

fn put_opt(obj: &mut Map<String, Value>, key: &str, v: &Opt) {
    match v {
        Opt::Absent => {}
        Opt::Null => {
            obj.insert(key.into(), Value::Null);
        }
        Opt::Text(s) => {
            obj.insert(key.into(), json!(s));
        }
    }
}

/// What the normaliser makes of an optional text: trimmed, empty = none.
fn expect_opt(v: &Opt) -> Option<String> {
    match v {
        Opt::Text(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

// ------------------------------------------------------------------ identity

/// A carrier and a tracking number, and how the reply spells them.
#[derive(Clone, Debug)]
struct Identity {
    carrier: &'static str,
    /// 0 the code, 1 lower-case, 2 the Chinese name, 3 the Kuaidi100 `com`.
    spelling: u8,
    number: String,
    padded: bool,
    as_number: bool,
}

fn identity() -> impl Strategy<Value = Identity> {
    let codes: Vec<&'static str> = carriers::codes().collect();
    (
        proptest::sample::select(codes),
        0u8..4,
        prop_oneof!["[A-Z0-9]{5,24}", "[1-9][0-9]{9,16}", "[A-Za-z0-9-]{5,30}"],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(carrier, spelling, number, padded, as_number)| Identity {
            carrier,
            spelling,
            number,
            padded,
            as_number,
        })
}

impl Identity {
    /// The carrier as a Kdniao `ShipperCode`.
    fn shipper_code(&self) -> String {
        match self.spelling {
            1 => self.carrier.to_ascii_lowercase(),
            2 => carriers::name_zh(self.carrier)
                .unwrap_or(self.carrier)
                .to_string(),
            3 => carriers::to_kuaidi100(self.carrier)
                .unwrap_or(self.carrier)
                .to_string(),
            _ => self.carrier.to_string(),
        }
    }

    /// The carrier as a Kuaidi100 `com`.
    fn com(&self) -> String {
        let com = carriers::to_kuaidi100(self.carrier).unwrap_or(self.carrier);
        if self.spelling == 1 {
            com.to_ascii_uppercase()
        } else {
            com.to_string()
        }
    }

    fn number_value(&self) -> Value {
        let digits = self.number.bytes().all(|b| b.is_ascii_digit())
            && !self.number.starts_with('0')
            && self.number.len() <= 18;
        match self.number.parse::<u64>() {
            Ok(n) if self.as_number && digits => json!(n),
            _ if self.padded => json!(format!(" {}\u{3000}", self.number)),
            _ => json!(self.number),
        }
    }

    fn check(&self, r: &CarrierReply) -> Result<(), TestCaseError> {
        prop_assert_eq!(r.tracking_number.as_deref(), Some(self.number.as_str()));
        prop_assert_eq!(
            r.carrier.as_ref().map(CarrierCode::as_str),
            Some(self.carrier)
        );
        // The reply is about the parcel it was generated for, and no other.
        if let Ok(id) = ShipmentId::parse(self.carrier, &self.number) {
            prop_assert_eq!(r.wrong_parcel(&id), None);
            let other = ShipmentId::parse(self.carrier, &format!("{}9", self.number));
            if let Ok(other) = other {
                prop_assert!(r.wrong_parcel(&other).is_some());
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ traces

#[derive(Clone, Debug)]
struct Trace {
    /// Minutes after the reply's base time; distinct within a reply.
    minute: i64,
    second: u32,
    style: TimeStyle,
    text: String,
    location: Opt,
    code: Option<&'static Code>,
    code_as_number: bool,
    /// Kuaidi100: 0 `ftime` = `time`, 1 `ftime` only, 2 `time` only (`ftime`
    /// absent, null or empty), 3 `ftime` and a different `time`.
    k100_time: u8,
    area: Opt,
}

impl Trace {
    fn local(&self, base: NaiveDateTime) -> NaiveDateTime {
        base + Duration::minutes(self.minute) + Duration::seconds(i64::from(self.second))
    }
}

fn traces(table: &'static [Code]) -> impl Strategy<Value = Vec<Trace>> {
    proptest::collection::btree_set(0i64..200_000, 0..7)
        .prop_flat_map(move |minutes| {
            let n = minutes.len();
            (
                Just(minutes.into_iter().collect::<Vec<_>>()),
                proptest::collection::vec(
                    (
                        0u32..60,
                        time_style(),
                        trace_text(),
                        opt_text(),
                        proptest::option::weighted(0.8, code_of(table)),
                        any::<bool>(),
                        0u8..4,
                        opt_text(),
                    ),
                    n,
                ),
            )
        })
        .prop_map(|(minutes, rest)| {
            minutes
                .into_iter()
                .zip(rest)
                .map(
                    |(
                        minute,
                        (second, style, text, location, code, code_as_number, k100_time, area),
                    )| {
                        Trace {
                            minute,
                            second,
                            style,
                            text,
                            location,
                            code,
                            code_as_number,
                            k100_time,
                            area,
                        }
                    },
                )
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
}

/// Checks the events of a reply against the traces it was made of (in order).
fn check_events(
    base: NaiveDateTime,
    traces: &[Trace],
    r: &CarrierReply,
    k100: bool,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(r.events.len(), traces.len());
    for (t, e) in traces.iter().zip(&r.events) {
        prop_assert_eq!(e.at, instant(t.local(base), t.style), "{:?}", t);
        prop_assert_eq!(&e.text, &t.text);
        let location = if k100 {
            expect_opt(&t.location).or_else(|| expect_opt(&t.area))
        } else {
            expect_opt(&t.location)
        };
        prop_assert_eq!(&e.location, &location);
        prop_assert_eq!(e.code.as_deref(), t.code.map(|c| c.code));
        if let Some(code) = t.code.filter(|c| c.specific) {
            prop_assert_eq!(Some(e.status), code.status, "code {}", code.code);
        }
        prop_assert!(e.hub.is_none() || e.status == Status::InTransit);
    }
    // The reply status is the newest event's (times are distinct), else the top.
    if let Some((t, e)) = traces.iter().zip(&r.events).max_by_key(|(t, _)| t.minute) {
        prop_assert_eq!(r.status, Some(e.status));
        if let Some(code) = t.code.filter(|c| c.specific) {
            prop_assert_eq!(r.status, code.status);
        }
    }
    Ok(())
}

fn check_bounded(r: &Result<CarrierReply, NormaliseError>) -> Result<(), TestCaseError> {
    match r {
        Err(e) => bounded("error", &e.to_string(), MAX_ERROR),
        Ok(reply) => {
            for w in &reply.warnings {
                bounded("warning", w, MAX_WARNING)?;
            }
            // The identity check against a parcel echoes the reply's identity.
            if let Ok(id) = ShipmentId::parse("ZTO", "75312345678901") {
                if let Some(e) = reply.wrong_parcel(&id) {
                    bounded("wrong parcel", &e.to_string(), MAX_ERROR)?;
                }
            }
            for e in &reply.events {
                prop_assert!(e.hub.is_none() || e.status == Status::InTransit);
            }
            Ok(())
        }
    }
}

// ------------------------------------------------------------------ Kdniao

#[derive(Clone, Debug)]
struct KdReply {
    id: Identity,
    base: NaiveDateTime,
    state: &'static Code,
    state_ex: Option<&'static Code>,
    codes_as_numbers: bool,
    /// 0 `true`, 1 `"true"`, 2 `1`, 3 absent, 4 `false` beside `success: true`
    /// (§7), 5 `" TRUE "`.
    success: u8,
    reason: Opt,
    traces: Vec<Trace>,
    extra: Vec<(String, String)>,
}

fn kd_reply() -> impl Strategy<Value = KdReply> {
    (
        identity(),
        base_time(),
        code_of(KD_STATES),
        proptest::option::of(code_of(KD_ACTIONS)),
        any::<bool>(),
        0u8..6,
        prop_oneof![
            Just(Opt::Absent),
            Just(Opt::Null),
            Just(Opt::Text(String::new()))
        ],
        traces(KD_ACTIONS),
        proptest::collection::vec(("X[a-z]{1,6}", odd_text()), 0..3),
    )
        .prop_map(
            |(id, base, state, state_ex, codes_as_numbers, success, reason, traces, extra)| {
                KdReply {
                    id,
                    base,
                    state,
                    state_ex,
                    codes_as_numbers,
                    success,
                    reason,
                    traces,
                    extra,
                }
            },
        )
}

impl KdReply {
    fn render(&self) -> Value {
        let mut o = Map::new();
        o.insert("EBusinessID".into(), json!("1000000"));
        o.insert("OrderCode".into(), json!(""));
        o.insert("ShipperCode".into(), json!(self.id.shipper_code()));
        o.insert("LogisticCode".into(), self.id.number_value());
        match self.success {
            0 => o.insert("Success".into(), json!(true)),
            1 => o.insert("Success".into(), json!("true")),
            2 => o.insert("Success".into(), json!(1)),
            3 => None,
            4 => {
                o.insert("success".into(), json!(true));
                o.insert("Success".into(), json!(false))
            }
            _ => o.insert("Success".into(), json!(" TRUE ")),
        };
        put_opt(&mut o, "Reason", &self.reason);
        o.insert(
            "State".into(),
            code_value(self.state, self.codes_as_numbers),
        );
        if let Some(x) = self.state_ex {
            o.insert("StateEx".into(), code_value(x, self.codes_as_numbers));
        }
        let traces: Vec<Value> = self
            .traces
            .iter()
            .map(|t| {
                let mut tr = Map::new();
                tr.insert(
                    "AcceptTime".into(),
                    json!(spell(t.local(self.base), t.style)),
                );
                tr.insert("AcceptStation".into(), json!(t.text));
                put_opt(&mut tr, "Location", &t.location);
                if let Some(code) = t.code {
                    tr.insert("Action".into(), code_value(code, t.code_as_number));
                }
                put_opt(&mut tr, "Remark", &t.area);
                Value::Object(tr)
            })
            .collect();
        o.insert("Traces".into(), Value::Array(traces));
        for (k, v) in &self.extra {
            o.insert(k.clone(), json!(v));
        }
        Value::Object(o)
    }

    fn raw_state(&self) -> String {
        match self.state_ex {
            Some(x) => format!("State={};StateEx={}", self.state.code, x.code),
            None => format!("State={}", self.state.code),
        }
    }

    fn check(&self, r: &CarrierReply) -> Result<(), TestCaseError> {
        self.id.check(r)?;
        prop_assert_eq!(r.raw_state.clone(), Some(self.raw_state()));
        check_events(self.base, &self.traces, r, false)?;
        if self.traces.is_empty() {
            let top = self.state_ex.and_then(|x| x.status).or(self.state.status);
            prop_assert_eq!(r.status, top);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ Kuaidi100

#[derive(Clone, Debug)]
struct K100Reply {
    id: Identity,
    base: NaiveDateTime,
    state: &'static Code,
    codes_as_numbers: bool,
    ischeck: bool,
    /// §7: `result: false` and `returnCode: null` beside status 200 and "ok".
    lying: bool,
    traces: Vec<Trace>,
}

fn k100_reply() -> impl Strategy<Value = K100Reply> {
    (
        identity(),
        base_time(),
        code_of(K100_CODES),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        traces(K100_CODES),
    )
        .prop_map(
            |(id, base, state, codes_as_numbers, ischeck, lying, traces)| K100Reply {
                id,
                base,
                state,
                codes_as_numbers,
                ischeck,
                lying,
                traces,
            },
        )
}

impl K100Reply {
    fn render(&self) -> Value {
        let mut o = Map::new();
        o.insert("message".into(), json!("ok"));
        o.insert("nu".into(), self.id.number_value());
        o.insert(
            "ischeck".into(),
            json!(if self.ischeck { "1" } else { "0" }),
        );
        o.insert("com".into(), json!(self.id.com()));
        o.insert("status".into(), json!("200"));
        o.insert("condition".into(), json!("F00"));
        o.insert(
            "state".into(),
            code_value(self.state, self.codes_as_numbers),
        );
        if self.lying {
            o.insert("result".into(), json!(false));
            o.insert("returnCode".into(), Value::Null);
        }
        let data: Vec<Value> = self
            .traces
            .iter()
            .map(|t| {
                let at = spell(t.local(self.base), t.style);
                let other = spell(
                    t.local(self.base) + Duration::minutes(37),
                    TimeStyle::Padded,
                );
                let mut d = Map::new();
                match t.k100_time {
                    0 => {
                        d.insert("time".into(), json!(at));
                        d.insert("ftime".into(), json!(at));
                    }
                    1 => {
                        d.insert("ftime".into(), json!(at));
                    }
                    2 => {
                        d.insert("time".into(), json!(at));
                        match t.second % 3 {
                            0 => d.insert("ftime".into(), Value::Null),
                            1 => d.insert("ftime".into(), json!("")),
                            _ => None,
                        };
                    }
                    _ => {
                        d.insert("time".into(), json!(other));
                        d.insert("ftime".into(), json!(at));
                    }
                }
                d.insert("context".into(), json!(t.text));
                put_opt(&mut d, "location", &t.location);
                put_opt(&mut d, "areaName", &t.area);
                d.insert("areaCode".into(), Value::Null);
                if let Some(code) = t.code {
                    d.insert("statusCode".into(), code_value(code, t.code_as_number));
                }
                Value::Object(d)
            })
            .collect();
        o.insert("data".into(), Value::Array(data));
        Value::Object(o)
    }

    fn check(&self, r: &CarrierReply) -> Result<(), TestCaseError> {
        self.id.check(r)?;
        let ischeck = if self.ischeck { "1" } else { "0" };
        prop_assert_eq!(
            r.raw_state.clone(),
            Some(format!("state={};ischeck={ischeck}", self.state.code))
        );
        check_events(self.base, &self.traces, r, true)?;
        if self.traces.is_empty() {
            prop_assert_eq!(r.status, self.state.status);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ documents

/// One generated document of any of the four kinds.
#[derive(Clone, Debug)]
enum Doc {
    KdQuery(KdReply),
    KdPush(Vec<KdReply>, String, TimeStyle),
    K100Query(K100Reply),
    K100Push(K100Reply, &'static str, String),
}

fn kd_push() -> impl Strategy<Value = Doc> {
    (
        proptest::collection::vec(kd_reply(), 1..4),
        prop_oneof![Just("1".to_string()), "[0-9]{1,3}"],
        time_style(),
    )
        .prop_map(|(r, count, style)| Doc::KdPush(r, count, style))
}

fn k100_push() -> impl Strategy<Value = Doc> {
    (
        k100_reply(),
        proptest::sample::select(&["polling", "shutdown", "abort", "updateall"][..]),
        prop_oneof![Just("3天查询无记录".to_string()), odd_text()],
    )
        .prop_map(|(r, status, message)| Doc::K100Push(r, status, message))
}

fn doc() -> impl Strategy<Value = Doc> {
    prop_oneof![
        kd_reply().prop_map(Doc::KdQuery),
        kd_push(),
        k100_reply().prop_map(Doc::K100Query),
        k100_push(),
    ]
}

impl Doc {
    fn render(&self) -> Value {
        match self {
            Doc::KdQuery(r) => r.render(),
            Doc::KdPush(rs, count, style) => json!({
                "EBusinessID": "1000000",
                "PushTime": spell(rs[0].base, *style),
                "Count": count,
                "Data": rs.iter().map(KdReply::render).collect::<Vec<_>>(),
            }),
            Doc::K100Query(r) => r.render(),
            Doc::K100Push(r, status, message) => json!({
                "status": status,
                "billstatus": "change",
                "message": message,
                "lastResult": r.render(),
            }),
        }
    }

    fn format(&self) -> Format {
        match self {
            Doc::KdQuery(_) | Doc::KdPush(..) => Format::Kdniao,
            _ => Format::Kuaidi100,
        }
    }
}

// ------------------------------------------------------------------ round trips

#[test]
fn kdniao_replies_parse_into_what_was_generated() {
    fuzz("kdniao_reply_roundtrip", 256, kd_reply(), |g| {
        let v = g.render();
        let r = normalise::parse_value(&v, Some(Format::Kdniao))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{v}")))?;
        g.check(&r)?;
        // Detected as Kdniao, and the body path agrees with the value path.
        prop_assert_eq!(normalise::detect_format(&v), Some(Format::Kdniao));
        prop_assert_eq!(normalise::parse_reply(&v.to_string(), None), Ok(r.clone()));
        prop_assert_eq!(normalise::kdniao_verdict(&v), Ok(Verdict::Answer));
        check_bounded(&Ok(r))
    });
}

#[test]
fn kuaidi100_replies_parse_into_what_was_generated() {
    fuzz("kuaidi100_reply_roundtrip", 256, k100_reply(), |g| {
        let v = g.render();
        let r = normalise::parse_value(&v, Some(Format::Kuaidi100))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{v}")))?;
        g.check(&r)?;
        prop_assert_eq!(normalise::detect_format(&v), Some(Format::Kuaidi100));
        prop_assert_eq!(normalise::parse_reply(&v.to_string(), None), Ok(r.clone()));
        prop_assert_eq!(normalise::kuaidi100_verdict(&v), Ok(Verdict::Answer));
        check_bounded(&Ok(r))
    });
}

#[test]
fn pushes_parse_into_what_was_generated() {
    fuzz(
        "push_roundtrip",
        128,
        prop_oneof![kd_push(), k100_push()],
        |d| {
            let v = d.render();
            match &d {
                Doc::KdPush(rs, ..) => {
                    let replies = normalise::parse_kdniao_push(&v)
                        .map_err(|e| TestCaseError::fail(format!("{e}\n{v}")))?;
                    // One reply per parcel, in order, each its own (Count ignored).
                    prop_assert_eq!(replies.len(), rs.len());
                    for (g, r) in rs.iter().zip(&replies) {
                        g.check(r)?;
                    }
                    let single = normalise::parse_reply(&v.to_string(), None);
                    if rs.len() == 1 {
                        prop_assert_eq!(single, Ok(replies[0].clone()));
                    } else {
                        prop_assert_eq!(single, Err(NormaliseError::MultipleParcels(rs.len())));
                    }
                }
                Doc::K100Push(g, status, message) => {
                    let r = normalise::parse_kuaidi100_push(&v)
                        .map_err(|e| TestCaseError::fail(format!("{e}\n{v}")))?;
                    g.check(&r)?;
                    let abort = r
                        .warnings
                        .iter()
                        .any(|w| w.starts_with("kuaidi100 push status \"abort\""));
                    prop_assert_eq!(abort, *status == "abort", "{:?} {:?}", message, r.warnings);
                    prop_assert_eq!(normalise::parse_reply(&v.to_string(), None), Ok(r.clone()));
                    check_bounded(&Ok(r))?;
                }
                _ => {}
            }
            Ok(())
        },
    );
}

// ------------------------------------------------------------------ mutations

/// A path to a node of a JSON document.
#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Key(String),
    Idx(usize),
}

fn paths(v: &Value, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                prefix.push(Seg::Key(k.clone()));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(Seg::Idx(i));
                out.push(prefix.clone());
                paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, seg| match (seg, v) {
        (Seg::Key(k), Value::Object(o)) => o.get_mut(k),
        (Seg::Idx(i), Value::Array(a)) => a.get_mut(*i),
        _ => None,
    })
}

/// The first letter's case flipped: `ShipperCode` ↔ `shipperCode`.
fn respelled(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(c) if c.is_ascii_uppercase() => c.to_ascii_lowercase().to_string() + chars.as_str(),
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => key.to_string(),
    }
}

#[derive(Clone, Debug)]
enum Mutation {
    /// The node leaves its object or array.
    Remove(Index),
    /// The node becomes a value of another type (or another value).
    Replace(Index, Value),
    /// A string node keeps only a prefix.
    Truncate(Index, Index),
    /// Odd text is spliced into a string node.
    Splice(Index, Index, String),
    /// A key is respelled (first letter's case flipped).
    Respell(Index),
    /// The key's other spelling is added beside it, with another value.
    OtherSpelling(Index, Value),
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        hostile_text().prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
        Just(json!("")),
        Just(json!("0")),
        Just(json!("false")),
        Just(json!(false)),
        Just(json!("2024-13-45 99:99:99")),
        Just(json!("75312345678902")),
        Just(json!("SF")),
        Just(json!(["x", 1])),
        Just(json!({"AcceptTime": "2024-05-01 09:12:00"})),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Remove),
        (any::<Index>(), leaf()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Mutation::Truncate(i, j)),
        (
            any::<Index>(),
            any::<Index>(),
            prop_oneof![4 => odd_text(), 1 => huge_text()]
        )
            .prop_map(|(i, j, s)| Mutation::Splice(i, j, s)),
        any::<Index>().prop_map(Mutation::Respell),
        (any::<Index>(), leaf()).prop_map(|(i, v)| Mutation::OtherSpelling(i, v)),
    ]
}

fn apply(v: &mut Value, m: &Mutation) {
    let mut all = Vec::new();
    paths(v, &mut Vec::new(), &mut all);
    if all.is_empty() {
        return;
    }
    let pick = |i: &Index| all[i.index(all.len())].clone();
    match m {
        Mutation::Remove(i) => {
            let path = pick(i);
            let (last, parent) = path.split_last().expect("paths are never empty");
            match (node_mut(v, parent), last) {
                (Some(Value::Object(o)), Seg::Key(k)) => {
                    o.remove(k);
                }
                (Some(Value::Array(a)), Seg::Idx(i)) if *i < a.len() => {
                    a.remove(*i);
                }
                _ => {}
            }
        }
        Mutation::Replace(i, new) => {
            if let Some(n) = node_mut(v, &pick(i)) {
                *n = new.clone();
            }
        }
        Mutation::Truncate(i, at) => {
            if let Some(Value::String(s)) = node_mut(v, &pick(i)) {
                let n = at.index(s.chars().count() + 1);
                *s = s.chars().take(n).collect();
            }
        }
        Mutation::Splice(i, at, text) => {
            if let Some(Value::String(s)) = node_mut(v, &pick(i)) {
                let n = at.index(s.chars().count() + 1);
                let head: String = s.chars().take(n).collect();
                let tail: String = s.chars().skip(n).collect();
                *s = format!("{head}{text}{tail}");
            }
        }
        Mutation::Respell(i) | Mutation::OtherSpelling(i, _) => {
            let path = pick(i);
            let (last, parent) = path.split_last().expect("paths are never empty");
            if let (Some(Value::Object(o)), Seg::Key(k)) = (node_mut(v, parent), last) {
                let other = respelled(k);
                match m {
                    Mutation::OtherSpelling(_, new) => {
                        o.insert(other, new.clone());
                    }
                    _ => {
                        if let Some(old) = o.remove(k) {
                            o.insert(other, old);
                        }
                    }
                }
            }
        }
    }
}

/// Mutations of the text itself, after those of the value.
#[derive(Clone, Debug)]
enum TextMutation {
    None,
    /// Cut at a character.
    Truncate(Index),
    /// Odd text spliced in at a character.
    Splice(Index, String),
    /// A byte-order mark in front.
    Bom,
    /// A key repeated at the start of the top-level object (the later value wins).
    DuplicateFirst(&'static str, Value),
    /// ... or at its end (the repeated value wins).
    DuplicateLast(&'static str, Value),
}

const IDENTITY_KEYS: &[&str] = &[
    "LogisticCode",
    "ShipperCode",
    "logisticCode",
    "nu",
    "com",
    "Success",
    "State",
    "Traces",
    "Data",
    "data",
    "status",
    "lastResult",
];

fn text_mutation() -> impl Strategy<Value = TextMutation> {
    prop_oneof![
        6 => Just(TextMutation::None),
        1 => any::<Index>().prop_map(TextMutation::Truncate),
        1 => (any::<Index>(), prop_oneof![
                Just("\"".to_string()), Just("{".to_string()), Just("]".to_string()),
                Just("\\u".to_string()), Just("\\ud800".to_string()), odd_text()])
            .prop_map(|(i, s)| TextMutation::Splice(i, s)),
        1 => Just(TextMutation::Bom),
        1 => (proptest::sample::select(IDENTITY_KEYS), leaf())
            .prop_map(|(k, v)| TextMutation::DuplicateFirst(k, v)),
        1 => (proptest::sample::select(IDENTITY_KEYS), leaf())
            .prop_map(|(k, v)| TextMutation::DuplicateLast(k, v)),
    ]
}

fn apply_text(text: &str, m: &TextMutation) -> String {
    let splice_at = |i: &Index| -> usize {
        let n = i.index(text.chars().count() + 1);
        text.char_indices().nth(n).map_or(text.len(), |(b, _)| b)
    };
    match m {
        TextMutation::None => text.to_string(),
        TextMutation::Truncate(i) => text[..splice_at(i)].to_string(),
        TextMutation::Splice(i, s) => {
            let at = splice_at(i);
            format!("{}{s}{}", &text[..at], &text[at..])
        }
        TextMutation::Bom => format!("\u{feff}{text}"),
        TextMutation::DuplicateFirst(k, v) => match text.strip_prefix('{') {
            Some(rest) if rest.starts_with('}') => format!("{{{}:{v}}}", json!(k)),
            Some(rest) => format!("{{{}:{v},{rest}", json!(k)),
            None => text.to_string(),
        },
        TextMutation::DuplicateLast(k, v) => match text.strip_suffix('}') {
            Some(rest) if rest.ends_with('{') => format!("{rest}{}:{v}}}", json!(k)),
            Some(rest) => format!("{rest},{}:{v}}}", json!(k)),
            None => text.to_string(),
        },
    }
}

/// The values an identity field has in a document, as the normaliser reads text
/// (strings trimmed, numbers and booleans in their JSON spelling; empty = none).
fn field_texts(obj: &Map<String, Value>, key: &str) -> Vec<String> {
    [key.to_string(), respelled(key)]
        .iter()
        .filter_map(|k| match obj.get(k) {
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// The identity fields of an object, exactly as they are (both spellings).
fn identity_fields(obj: &Map<String, Value>, keys: [&str; 2]) -> Vec<Option<Value>> {
    keys.iter()
        .flat_map(|k| [k.to_string(), respelled(k)])
        .map(|k| obj.get(&k).cloned())
        .collect()
}

/// The carriers an identity field may name: a known name's code, or the code
/// as spelled.
fn carrier_candidates(names: &[String], k100: bool) -> Vec<CarrierCode> {
    names
        .iter()
        .flat_map(|n| {
            let known = if k100 {
                carriers::from_kuaidi100(n)
            } else {
                carriers::canonical(n)
            };
            [
                known.and_then(|c| CarrierCode::parse(c).ok()),
                CarrierCode::parse(n).ok(),
            ]
        })
        .flatten()
        .collect()
}

/// A reply parsed from `obj` names only what `obj` holds; with the identity
/// fields as generated (`original`), exactly the generated identity.
fn check_identity(
    r: &CarrierReply,
    obj: Option<&Map<String, Value>>,
    original: Option<&Map<String, Value>>,
    k100: bool,
) -> Result<(), TestCaseError> {
    let Some(obj) = obj else {
        return Ok(());
    };
    let (number_key, carrier_key) = if k100 {
        ("nu", "com")
    } else {
        ("LogisticCode", "ShipperCode")
    };
    let numbers = field_texts(obj, number_key);
    let names = field_texts(obj, carrier_key);
    if let Some(n) = &r.tracking_number {
        prop_assert!(
            numbers.contains(n),
            "number {n:?} is none of {numbers:?} in {}",
            Value::Object(obj.clone())
        );
    }
    if let Some(c) = &r.carrier {
        let candidates = carrier_candidates(&names, k100);
        prop_assert!(
            candidates.contains(c),
            "carrier {c} is none of {names:?} in {}",
            Value::Object(obj.clone())
        );
    }
    if let Some(orig) = original {
        let keys = [number_key, carrier_key];
        if identity_fields(obj, keys) == identity_fields(orig, keys) {
            let n = field_texts(orig, number_key);
            prop_assert_eq!(r.tracking_number.as_ref(), n.first());
            let c = carrier_candidates(&field_texts(orig, carrier_key), k100);
            prop_assert_eq!(r.carrier.as_ref(), c.first());
        }
    }
    Ok(())
}

/// A field in either spelling, as carriers.md §7 reads it: the first spelling
/// with a value that is not blank (`""`, `[]`, `{}`), else the first present;
/// null counts as absent.
fn either_spelling<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    let found: Vec<&Value> = [key.to_string(), respelled(key)]
        .iter()
        .filter_map(|k| obj.get(k).filter(|v| !v.is_null()))
        .collect();
    let blank = |v: &Value| match v {
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    found
        .iter()
        .find(|v| !blank(v))
        .or_else(|| found.first())
        .copied()
}

fn object_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    path.iter()
        .try_fold(v, |v, k| match k.parse::<usize>() {
            Ok(i) => v.get(i),
            Err(_) => v.get(*k),
        })?
        .as_object()
}

/// The verdict and the parse of one query-shaped object agree.
fn check_verdict(
    verdict: &Result<Verdict, NormaliseError>,
    parsed: &Result<CarrierReply, NormaliseError>,
) -> Result<(), TestCaseError> {
    match (verdict, parsed) {
        (Ok(Verdict::Failure { .. }), Ok(r)) => {
            prop_assert!(false, "a failure verdict, but parsed: {r:?}")
        }
        (Ok(Verdict::NotFound { .. }), Ok(r)) => {
            prop_assert!(r.events.is_empty() && r.status == Some(Status::Pending))
        }
        (Ok(Verdict::Answer), Err(e @ NormaliseError::CarrierFailure { .. })) => {
            prop_assert!(false, "an answer verdict, but a failure: {e}")
        }
        (Err(_), Ok(r)) => prop_assert!(false, "a bad verdict, but parsed: {r:?}"),
        _ => {}
    }
    Ok(())
}

#[test]
fn mutated_replies_and_pushes_never_panic_nor_change_identity() {
    fuzz(
        "reply_mutations",
        384,
        (
            doc(),
            proptest::collection::vec(mutation(), 1..4),
            text_mutation(),
        ),
        |(d, mutations, text_mutation)| {
            let original = d.render();
            let mut v = original.clone();
            for m in &mutations {
                apply(&mut v, m);
            }
            let text = apply_text(&v.to_string(), &text_mutation);
            // What the body path reads: the value path on the same JSON.
            let reread: Option<Value> =
                serde_json::from_str(text.trim_start_matches('\u{feff}')).ok();
            let format = d.format();
            let by_body = normalise::parse_reply(&text, Some(format));
            check_bounded(&by_body)?;
            let detected = normalise::parse_reply(&text, None);
            check_bounded(&detected)?;
            let Some(v) = reread else {
                prop_assert!(matches!(by_body, Err(NormaliseError::NotJson(_))));
                return Ok(());
            };
            let by_value = normalise::parse_value(&v, Some(format));
            prop_assert_eq!(&by_body, &by_value);
            if normalise::detect_format(&v) == Some(format) {
                prop_assert_eq!(&detected, &by_value);
            }
            let k100 = format == Format::Kuaidi100;
            match &d {
                Doc::KdQuery(_) | Doc::K100Query(_) => {
                    // A query that became push-shaped is read as a push: skip
                    // the query oracles then.
                    let pushy = if k100 {
                        v.get("lastResult").is_some()
                    } else {
                        v.get("Data").is_some()
                    };
                    if let (Ok(r), false) = (&by_value, pushy) {
                        check_identity(r, v.as_object(), original.as_object(), k100)?;
                    }
                    if !pushy {
                        let verdict = if k100 {
                            normalise::kuaidi100_verdict(&v)
                        } else {
                            normalise::kdniao_verdict(&v)
                        };
                        check_verdict(&verdict, &by_value)?;
                    }
                }
                Doc::KdPush(..) => {
                    let all = normalise::parse_kdniao_push(&v);
                    if let Err(e) = &all {
                        bounded("error", &e.to_string(), MAX_ERROR)?;
                    }
                    if let Ok(replies) = &all {
                        let data = v.as_object().and_then(|o| either_spelling(o, "Data"));
                        let data = data.and_then(Value::as_array);
                        prop_assert_eq!(Some(replies.len()), data.map(Vec::len));
                        for (i, r) in replies.iter().enumerate() {
                            check_bounded(&Ok(r.clone()))?;
                            let here = data.and_then(|d| d.get(i)).and_then(Value::as_object);
                            let at = i.to_string();
                            let orig = object_at(&original, &["Data", at.as_str()]);
                            check_identity(r, here, orig, false)?;
                        }
                    }
                }
                Doc::K100Push(..) => {
                    let r = normalise::parse_kuaidi100_push(&v);
                    check_bounded(&r)?;
                    if let Ok(r) = &r {
                        check_identity(
                            r,
                            object_at(&v, &["lastResult"]),
                            object_at(&original, &["lastResult"]),
                            true,
                        )?;
                    }
                }
            }
            Ok(())
        },
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    fuzz("reply_bytes", 512, hostile_bytes(), |bytes| {
        let text = String::from_utf8_lossy(&bytes);
        for format in [None, Some(Format::Kdniao), Some(Format::Kuaidi100)] {
            check_bounded(&normalise::parse_reply(&text, format))?;
        }
        Ok(())
    });
}
