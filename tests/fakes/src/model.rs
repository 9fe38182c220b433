//! What the fakes serve and how they can misbehave: scripted parcels ([`Scenario`],
//! [`Parcel`], [`Event`]), scripted faults ([`Behaviour`], [`Target`]) and what they
//! record ([`Logged`], [`Subscription`]).
//!
//! One scenario feeds both fakes, so an event carries the code of *each* aggregator
//! (`kdniao_action`, `kuaidi100_code`). When a test gives only one of them, the other
//! is derived from a small fallback table ([`kdniao_action_of`], [`kuaidi100_code_of`])
//! so a parcel written for one fake still looks sensible on the other.
//!
//! The carrier table ([`CARRIERS`]) is written here from the protocol notes, on
//! purpose not shared with the product: the fakes are the yardstick the product's
//! clients are measured against.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Carriers the fakes know: (Kdniao `ShipperCode`, Kuaidi100 `com`, Chinese name).
/// A `ShipperCode` or `com` outside this table is refused the way the real service
/// refuses an unknown carrier.
pub const CARRIERS: &[(&str, &str, &str)] = &[
    ("SF", "shunfeng", "顺丰速运"),
    ("ZTO", "zhongtong", "中通快递"),
    ("YTO", "yuantong", "圆通速递"),
    ("STO", "shentong", "申通快递"),
    ("YD", "yunda", "韵达快递"),
    ("JD", "jd", "京东物流"),
    ("EMS", "ems", "EMS"),
    ("JTSD", "jtexpress", "极兔速递"),
    ("DBL", "debangwuliu", "德邦快递"),
    ("HTKY", "huitongkuaidi", "百世快递"),
    ("YZPY", "youzhengguonei", "邮政快递包裹"),
    ("YZBK", "youzhengbk", "邮政标准快递"),
    ("ZJS", "zhaijisong", "宅急送"),
    ("UC", "youshuwuliu", "优速快递"),
    ("HHTT", "tiantian", "天天快递"),
    ("GTO", "guotongkuaidi", "国通快递"),
    ("FAST", "kuaijiesudi", "快捷快递"),
];

/// Chinese name of a Kdniao `ShipperCode` (case-insensitive), `None` when unknown.
pub fn shipper_name(shipper_code: &str) -> Option<&'static str> {
    CARRIERS
        .iter()
        .find(|(code, _, _)| code.eq_ignore_ascii_case(shipper_code.trim()))
        .map(|(_, _, name)| *name)
}

/// Kuaidi100 `com` of a Kdniao `ShipperCode` (case-insensitive).
pub fn kuaidi100_com(shipper_code: &str) -> Option<&'static str> {
    CARRIERS
        .iter()
        .find(|(code, _, _)| code.eq_ignore_ascii_case(shipper_code.trim()))
        .map(|(_, com, _)| *com)
}

/// Kdniao `ShipperCode` of a Kuaidi100 `com`. Kuaidi100 codes are lower case on
/// the wire; the fake, like the real service, does not accept other spellings.
pub fn shipper_of_com(com: &str) -> Option<&'static str> {
    CARRIERS
        .iter()
        .find(|(_, c, _)| *c == com)
        .map(|(code, _, _)| *code)
}

/// One scripted parcel: what both aggregators know about one tracking number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parcel {
    /// Kdniao `ShipperCode`, e.g. `"YTO"`, `"SF"`, `"ZTO"`, `"JD"`, `"JTSD"`. The
    /// Kuaidi100 fake maps its `com` to this code (see [`CARRIERS`]).
    pub carrier: String,
    /// The tracking number (Kdniao `LogisticCode`, Kuaidi100 `num`).
    pub number: String,
    /// When set, SF (and on Kdniao 8001, ZTO) queries must prove the phone: Kdniao
    /// `CustomerName` equal to it, Kuaidi100 `phone` ending with it.
    pub phone_last4: Option<String>,
    /// The timeline, oldest first.
    pub events: Vec<Event>,
}

impl Parcel {
    /// A parcel without events (the carrier knows nothing yet).
    pub fn new(carrier: &str, number: &str) -> Self {
        Parcel {
            carrier: carrier.to_string(),
            number: number.to_string(),
            phone_last4: None,
            events: Vec::new(),
        }
    }

    /// Requires the phone's last four digits (SF, privacy waybills).
    pub fn phone_last4(mut self, last4: &str) -> Self {
        self.phone_last4 = Some(last4.to_string());
        self
    }

    /// Appends an event (keep them oldest first).
    pub fn event(mut self, event: Event) -> Self {
        self.events.push(event);
        self
    }
}

/// One trace of a timeline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// `yyyy-MM-dd HH:mm:ss`, China local time, sent as is (Kdniao `AcceptTime`,
    /// Kuaidi100 `time`/`ftime`).
    pub time: String,
    /// Kdniao `AcceptStation`, Kuaidi100 `context`.
    pub text: String,
    /// City or hub; `None` is sent as `null` (Kdniao) or `""` (Kuaidi100 `location`).
    pub location: Option<String>,
    /// Kdniao fine code (`Action`/`StateEx`): `"1"`, `"2"`, `"201"`, `"202"`, `"3"`,
    /// `"404"`, `"405"`... `None`: derived from `kuaidi100_code`.
    pub kdniao_action: Option<String>,
    /// Kuaidi100 resultv2=4 `statusCode`: `"1"`, `"0"`, `"1002"`, `"5"`, `"3"`,
    /// `"304"`, `"14"`... `None`: derived from `kdniao_action`.
    pub kuaidi100_code: Option<String>,
}

impl Event {
    /// An event at `time` (`yyyy-MM-dd HH:mm:ss`, China local) with trace text.
    pub fn new(time: &str, text: &str) -> Self {
        Event {
            time: time.to_string(),
            text: text.to_string(),
            ..Event::default()
        }
    }

    /// Sets the location (city or hub).
    pub fn at(mut self, location: &str) -> Self {
        self.location = Some(location.to_string());
        self
    }

    /// Sets the Kdniao action code.
    pub fn kdniao(mut self, action: &str) -> Self {
        self.kdniao_action = Some(action.to_string());
        self
    }

    /// Sets the Kuaidi100 status code.
    pub fn kuaidi100(mut self, code: &str) -> Self {
        self.kuaidi100_code = Some(code.to_string());
        self
    }

    /// Sets both codes.
    pub fn codes(self, kdniao_action: &str, kuaidi100_code: &str) -> Self {
        self.kdniao(kdniao_action).kuaidi100(kuaidi100_code)
    }
}

/// The Kdniao action of an event: its own, else derived from its Kuaidi100 code,
/// else `"2"` (in transit).
pub fn kdniao_action_of(event: &Event) -> String {
    if let Some(a) = &event.kdniao_action {
        return a.clone();
    }
    let derived = match event.kuaidi100_code.as_deref() {
        Some("1" | "103") => "1",
        Some("101" | "102") => "10",
        Some("1001") => "201",
        Some("5") => "202",
        Some("501") => "211",
        Some("3") => "3",
        Some("301") => "301",
        Some("302") => "302",
        Some("303") => "304",
        Some("304") => "311",
        Some("2" | "208") => "4",
        Some("201") => "402",
        Some("202") => "403",
        Some("14" | "203") => "404",
        Some("204") => "405",
        Some("205") => "412",
        Some("206") => "416",
        Some("207") => "423",
        Some("209") => "414",
        Some("210" | "401") => "415",
        Some("4") => "406",
        Some("6") => "407",
        Some("7") => "5",
        Some("8" | "10" | "11" | "12") => "6",
        Some("13") => "604",
        _ => "2",
    };
    derived.to_string()
}

/// The Kuaidi100 code of an event: its own, else derived from its Kdniao action,
/// else `"0"` (在途).
pub fn kuaidi100_code_of(event: &Event) -> String {
    if let Some(c) = &event.kuaidi100_code {
        return c.clone();
    }
    let derived = match event.kdniao_action.as_deref() {
        Some("1" | "10") => "1",
        Some("201") => "1001",
        Some("204") => "1002",
        Some("202") => "5",
        Some("211") => "501",
        Some("3" | "301" | "302" | "304") => "3",
        Some("311") => "304",
        Some("404") => "14",
        Some("406") => "4",
        Some("407") => "6",
        Some(a) if a.starts_with('4') => "2",
        Some("5") => "7",
        Some(a) if a.starts_with('6') => "8",
        _ => "0",
    };
    derived.to_string()
}

/// Kdniao coarse `State` for a fine action code: its leading digit (`"10"` → `"1"`,
/// `"201"` → `"2"`, `"405"` → `"4"`); `"2"` for anything not starting with a digit.
pub fn kdniao_state_of(action: &str) -> String {
    match action.chars().next() {
        Some(c) if c.is_ascii_digit() => c.to_string(),
        _ => "2".to_string(),
    }
}

/// Kuaidi100 base state for a (possibly resultv2=4) code: codes of one or two
/// digits are base states already, `10xx` belongs to `0` (在途), other three-digit
/// codes to their leading digit (`304` → `3`, `501` → `5`).
pub fn kuaidi100_family(code: &str) -> String {
    match code.len() {
        0..=2 => code.to_string(),
        4 if code.starts_with("10") => "0".to_string(),
        _ => code.chars().take(1).collect(),
    }
}

/// Chinese name of a Kuaidi100 base state (the per-trace `status` when resultv2≥1).
pub fn kuaidi100_state_name(family: &str) -> &'static str {
    match family {
        "1" => "揽收",
        "2" => "疑难",
        "3" => "签收",
        "4" => "退签",
        "5" => "派件",
        "6" => "退回",
        "7" => "转投",
        "8" => "清关",
        "10" => "待清关",
        "11" => "清关中",
        "12" => "已清关",
        "13" => "清关异常",
        "14" => "拒签",
        _ => "在途",
    }
}

/// The scripted world: one [`Parcel`] per tracking number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scenario {
    parcels: BTreeMap<String, Parcel>,
}

impl Scenario {
    /// An empty scenario: every number is unknown (no traces).
    pub fn new() -> Self {
        Scenario::default()
    }

    /// Adds (or replaces) a parcel, builder style.
    pub fn with(mut self, parcel: Parcel) -> Self {
        self.insert(parcel);
        self
    }

    /// Adds or replaces the parcel with this number; returns the old one.
    pub fn insert(&mut self, parcel: Parcel) -> Option<Parcel> {
        self.parcels.insert(parcel.number.clone(), parcel)
    }

    /// Removes a parcel.
    pub fn remove(&mut self, number: &str) -> Option<Parcel> {
        self.parcels.remove(number)
    }

    /// The parcel with this number, whatever its carrier.
    pub fn get(&self, number: &str) -> Option<&Parcel> {
        self.parcels.get(number)
    }

    /// All parcels, by number.
    pub fn parcels(&self) -> impl Iterator<Item = &Parcel> {
        self.parcels.values()
    }

    /// Number of parcels.
    pub fn len(&self) -> usize {
        self.parcels.len()
    }

    /// No parcels at all.
    pub fn is_empty(&self) -> bool {
        self.parcels.is_empty()
    }
}

impl FromIterator<Parcel> for Scenario {
    fn from_iter<I: IntoIterator<Item = Parcel>>(iter: I) -> Self {
        let mut s = Scenario::new();
        for p in iter {
            s.insert(p);
        }
        s
    }
}

/// How a fake answers a request (after the request passed verification).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer from the scenario.
    Normal,
    /// A business error with a code and message of the test's choosing: Kdniao
    /// `{"Success":false,"Code":code,"Reason":message,...}`, Kuaidi100
    /// `{"result":false,"returnCode":code,"message":message}`; both HTTP 200.
    Error {
        /// Kdniao `Code` / Kuaidi100 `returnCode`, e.g. `"601"`.
        code: String,
        /// Kdniao `Reason` / Kuaidi100 `message`, e.g. `"key已过期"`.
        message: String,
    },
    /// The fake's rate-limit reply (see each fake's module docs).
    RateLimited,
    /// That HTTP status with an nginx-style HTML body (an invalid status becomes 500).
    HttpStatus(u16),
    /// Answer normally, but only after this extra delay.
    Slow(Duration),
    /// This body, sent as is with HTTP 200 and a JSON content type (e.g. truncated JSON).
    Garbage(String),
    /// Answer as if the carrier knew nothing about the number.
    NoTraces,
}

impl Behaviour {
    /// Shorthand for [`Behaviour::Error`].
    pub fn error(code: &str, message: &str) -> Self {
        Behaviour::Error {
            code: code.to_string(),
            message: message.to_string(),
        }
    }
}

/// Which requests a scripted [`Behaviour`] applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Every request.
    Any,
    /// Requests about this tracking number (query, subscription or detection).
    Number(String),
}

impl From<&str> for Target {
    fn from(number: &str) -> Self {
        Target::Number(number.to_string())
    }
}

impl From<String> for Target {
    fn from(number: String) -> Self {
        Target::Number(number)
    }
}

impl From<&String> for Target {
    fn from(number: &String) -> Self {
        Target::Number(number.clone())
    }
}

impl Target {
    pub(crate) fn matches(&self, number: &str) -> bool {
        match self {
            Target::Any => true,
            Target::Number(n) => n == number,
        }
    }
}

/// One request as the fake received it, and what it answered.
#[derive(Clone, Debug)]
pub struct Logged {
    /// When the request arrived (body read).
    pub at: Instant,
    /// HTTP method.
    pub method: String,
    /// Request path, e.g. `/Ebusiness/EbusinessOrderHandle.aspx`, `/poll/query.do`.
    pub path: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body decoded as a form (in order; decoded whatever the content type).
    pub form: Vec<(String, String)>,
    /// Kdniao `RequestType` as sent; `None` on Kuaidi100 and when absent.
    pub request_type: Option<String>,
    /// The tracking number found in the request data, if any.
    pub number: Option<String>,
    /// Whether the request's signature was valid for the configured credentials
    /// (`false` when missing); `None` for requests that carry none (Kuaidi100 `/poll`).
    pub signature_valid: Option<bool>,
    /// HTTP status of the reply.
    pub status: u16,
    /// Reply body.
    pub reply: String,
}

impl Logged {
    /// The first form field with this name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An accepted subscription (Kdniao 1008/8008, Kuaidi100 `/poll`).
#[derive(Clone, Debug)]
pub struct Subscription {
    /// When it was accepted.
    pub at: Instant,
    /// Kdniao `RequestType` (`"1008"` / `"8008"`); `None` on Kuaidi100.
    pub request_type: Option<String>,
    /// Carrier as sent: Kdniao `ShipperCode` or Kuaidi100 `company`.
    pub carrier: String,
    /// Tracking number.
    pub number: String,
    /// Kdniao `CustomerName` or Kuaidi100 `parameters.phone`, if sent.
    pub phone: Option<String>,
    /// Kuaidi100 `parameters.callbackurl` (Kdniao pushes go to a console-configured URL).
    pub callback_url: Option<String>,
    /// Kuaidi100 `parameters.salt`.
    pub salt: Option<String>,
    /// Kuaidi100 `parameters.resultv2`.
    pub resultv2: Option<String>,
    /// The whole request JSON (Kdniao `RequestData`, Kuaidi100 `param`).
    pub request: Value,
}
