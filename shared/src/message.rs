//! Alert messages as people read them: the multi-line ops text, a one-line ops SMS,
//! an ASCII email subject, and a polite SMS to the recipient — in Chinese (the
//! default) or English, with per-rule templates an operator can replace.
//!
//! ## Templates
//!
//! Each rule has an *ops template* — the sentence saying what happened, e.g.
//! `自 {since} 起已 {hours} 小时没有新的物流轨迹` — and a *customer template*, the body
//! of the SMS to the recipient. The messages frame the ops sentence with a headline
//! that says what kind of alert it is (【预警】, 【升级为严重】, 【仍未解决】,
//! 【已恢复】 / `[Warning]`, `[Escalated to critical]`...), the rule, the carrier,
//! the tracking number and the order.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `ALERT_LANGUAGE` | `zh` or `en` (also `zh-CN`, `zh-Hans`, `en-US`, `en-GB`) | `zh` |
//! | `ALERT_TEMPLATES_FILE` | JSON object `{"stalled": "...", ...}` of ops templates | none |
//! | `ALERT_TEMPLATE_<RULE>` | the ops template of one rule (wins over the file) | built in |
//! | `CUSTOMER_TEMPLATE_<RULE>` | the customer template of one rule | built in |
//!
//! `<RULE>` is the rule name in upper case: `ALERT_TEMPLATE_STALLED`,
//! `CUSTOMER_TEMPLATE_DELIVERY_FAILED`... An empty variable counts as unset.
//!
//! Placeholders (see [`Placeholder`]): `{tracking_number}`, `{tail}` (last four
//! characters of the tracking number), `{carrier}` (display name), `{carrier_code}`,
//! `{order_id}`, `{since}` and `{at}` (China time, `YYYY-MM-DD HH:MM`), `{hours}`
//! (whole hours from `since` to `at`), `{status}`, `{last_trace}` (time and text of
//! the newest trace, phone numbers masked), `{rule}`, `{severity}`, and, in customer
//! templates only, `{shop}`. `{{` and `}}` are literal braces. A template is checked
//! when it is loaded: an unknown placeholder or an unclosed `{` is a
//! [`ConfigError`] naming the variable (or the file and its key), never a failure
//! at send time.
//!
//! Phone numbers in carrier text and in the shop name are masked everywhere; the
//! recipient's phone is not part of a [`Notification`] at all.

use std::fmt::Write;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use crate::config::ConfigError;
use crate::domain::Notification;
use crate::domain::{AlertKind, Audience};
use crate::domain::{Rule, Severity};
use crate::domain::{Status, TrackingEvent};
use crate::normalise::carriers::name_zh;
use crate::normalise::keywords::mask_phones;
use crate::time::local_minutes;

/// The message language variable.
pub const LANGUAGE_VAR: &str = "ALERT_LANGUAGE";
/// The ops template file variable.
pub const TEMPLATES_FILE_VAR: &str = "ALERT_TEMPLATES_FILE";

/// `ALERT_TEMPLATE_<RULE>`, in [`Rule::ALL`] order.
pub const ALERT_TEMPLATE_VARS: [&str; 11] = [
    "ALERT_TEMPLATE_NO_PICKUP",
    "ALERT_TEMPLATE_STALLED",
    "ALERT_TEMPLATE_HUB_DWELL",
    "ALERT_TEMPLATE_OUT_FOR_DELIVERY_STUCK",
    "ALERT_TEMPLATE_DELIVERY_FAILED",
    "ALERT_TEMPLATE_EXCEPTION",
    "ALERT_TEMPLATE_REFUSED",
    "ALERT_TEMPLATE_RETURNED",
    "ALERT_TEMPLATE_LOCKER_UNCOLLECTED",
    "ALERT_TEMPLATE_LATE",
    "ALERT_TEMPLATE_NO_TRACE",
];

/// `CUSTOMER_TEMPLATE_<RULE>`, in [`Rule::ALL`] order.
pub const CUSTOMER_TEMPLATE_VARS: [&str; 11] = [
    "CUSTOMER_TEMPLATE_NO_PICKUP",
    "CUSTOMER_TEMPLATE_STALLED",
    "CUSTOMER_TEMPLATE_HUB_DWELL",
    "CUSTOMER_TEMPLATE_OUT_FOR_DELIVERY_STUCK",
    "CUSTOMER_TEMPLATE_DELIVERY_FAILED",
    "CUSTOMER_TEMPLATE_EXCEPTION",
    "CUSTOMER_TEMPLATE_REFUSED",
    "CUSTOMER_TEMPLATE_RETURNED",
    "CUSTOMER_TEMPLATE_LOCKER_UNCOLLECTED",
    "CUSTOMER_TEMPLATE_LATE",
    "CUSTOMER_TEMPLATE_NO_TRACE",
];

/// An ops SMS holding any non-ASCII character is kept to this many characters
/// (one UCS-2 SMS).
pub const SMS_MAX_CHARS: usize = 70;
/// An all-ASCII ops SMS is kept to this many bytes.
pub const SMS_MAX_ASCII: usize = 140;
/// Email subjects are ASCII and shorter than this (SNS allows fewer than 100).
pub const SUBJECT_LIMIT: usize = 100;

/// A template file larger than this is refused (it is a handful of sentences).
const MAX_TEMPLATES_FILE: u64 = 1 << 20;

fn rule_index(rule: Rule) -> usize {
    rule as usize
}

/// The language of messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Language {
    #[default]
    Zh,
    En,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::En => "en",
        }
    }

    /// `zh`, `zh-CN`, `zh-Hans`, `en`, `en-US`, `en-GB` (case-insensitive, `_` or `-`).
    pub fn parse(raw: &str) -> Option<Language> {
        let s = raw.trim().to_ascii_lowercase().replace('_', "-");
        match s.as_str() {
            "zh" | "zh-cn" | "zh-hans" | "zh-hans-cn" => Some(Language::Zh),
            "en" | "en-us" | "en-gb" => Some(Language::En),
            _ => None,
        }
    }

    /// Reads `ALERT_LANGUAGE` through `get` (unset or empty: Chinese).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Language, ConfigError> {
        match get(LANGUAGE_VAR).filter(|v| !v.trim().is_empty()) {
            None => Ok(Language::Zh),
            Some(v) => Language::parse(&v).ok_or_else(|| ConfigError {
                var: LANGUAGE_VAR,
                token: v.trim().to_string(),
                reason: "expected zh or en".into(),
            }),
        }
    }

    /// Reads `ALERT_LANGUAGE` from the process environment.
    pub fn from_env() -> Result<Language, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

/// The rule's name for people.
pub fn rule_label(rule: Rule, lang: Language) -> &'static str {
    match lang {
        Language::Zh => rule.label_zh(),
        Language::En => match rule {
            Rule::NoPickup => "Not picked up",
            Rule::Stalled => "Stalled",
            Rule::HubDwell => "Held at hub",
            Rule::OutForDeliveryStuck => "Out for delivery too long",
            Rule::DeliveryFailed => "Delivery failed",
            Rule::Exception => "Problem parcel",
            Rule::Refused => "Refused",
            Rule::Returned => "Returned",
            Rule::LockerUncollected => "Uncollected in locker/station",
            Rule::Late => "Late",
            Rule::NoTrace => "No tracking info",
        },
    }
}

/// The severity for people.
pub fn severity_label(severity: Severity, lang: Language) -> &'static str {
    match lang {
        Language::Zh => severity.label_zh(),
        Language::En => severity.as_str(),
    }
}

/// The normalised status for people.
pub fn status_label(status: Status, lang: Language) -> &'static str {
    match lang {
        Language::Zh => status.label_zh(),
        Language::En => match status {
            Status::Pending => "awaiting pickup",
            Status::PickedUp => "picked up",
            Status::InTransit => "in transit",
            Status::ArrivedAtDestinationCity => "arrived in destination city",
            Status::OutForDelivery => "out for delivery",
            Status::AwaitingCollection => "awaiting collection (locker/station)",
            Status::Delivered => "delivered",
            Status::DeliveryFailed => "delivery failed",
            Status::Exception => "problem parcel",
            Status::Refused => "refused",
            Status::Returning => "returning",
            Status::Returned => "returned",
            Status::Redirected => "redirected",
            Status::CustomsClearance => "in customs clearance",
            Status::Lost => "lost/expired",
        },
    }
}

fn name_en(code: &str) -> Option<&'static str> {
    const NAMES: &[(&str, &str)] = &[
        ("SF", "SF Express"),
        ("ZTO", "ZTO Express"),
        ("YTO", "YTO Express"),
        ("STO", "STO Express"),
        ("YD", "Yunda Express"),
        ("JD", "JD Logistics"),
        ("EMS", "EMS"),
        ("JTSD", "J&T Express"),
        ("DBL", "Deppon Express"),
        ("HTKY", "Best Express"),
        ("YZPY", "China Post Parcel"),
        ("ZJS", "ZJS Express"),
        ("UC", "UC Express"),
        ("HHTT", "TTK Express"),
        ("GTO", "GTO Express"),
        ("FAST", "Fast Express"),
        ("YZBK", "China Post Standard Express"),
    ];
    let code = code.trim();
    NAMES
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, n)| *n)
}

/// The carrier's display name (`中通快递` / `ZTO Express`), or its code when the
/// carrier is not in the table.
pub fn carrier_display(code: &str, lang: Language) -> String {
    let name = match lang {
        Language::Zh => name_zh(code),
        Language::En => name_en(code),
    };
    name.unwrap_or(code).to_string()
}

/// What kind of alert this is, as the first words of a message.
pub fn headline(kind: AlertKind, severity: Severity, lang: Language) -> &'static str {
    match lang {
        Language::Zh => match (kind, severity) {
            (AlertKind::Fired, Severity::Critical) => "【严重预警】",
            (AlertKind::Fired, Severity::Warning) => "【预警】",
            (AlertKind::Escalated, _) => "【升级为严重】",
            (AlertKind::Repeated, _) => "【仍未解决】",
            (AlertKind::Resolved, _) => "【已恢复】",
            (AlertKind::Notice, _) => "【客户通知】",
        },
        Language::En => match (kind, severity) {
            (AlertKind::Fired, Severity::Critical) => "[CRITICAL]",
            (AlertKind::Fired, Severity::Warning) => "[Warning]",
            (AlertKind::Escalated, _) => "[Escalated to critical]",
            (AlertKind::Repeated, _) => "[Still unresolved]",
            (AlertKind::Resolved, _) => "[Resolved]",
            (AlertKind::Notice, _) => "[Customer notice]",
        },
    }
}

/// The built-in ops sentence of a rule.
fn builtin_ops(rule: Rule, lang: Language) -> &'static str {
    match lang {
        Language::Zh => match rule {
            Rule::NoPickup => "自 {since} 发货后 {hours} 小时仍未揽收",
            Rule::Stalled => "自 {since} 起已 {hours} 小时没有新的物流轨迹",
            Rule::HubDwell => "自 {since} 到达中转中心后已滞留 {hours} 小时",
            Rule::OutForDeliveryStuck => "自 {since} 开始派件，{hours} 小时仍未签收",
            Rule::DeliveryFailed => "{since} 派送失败，尚未重新派送",
            Rule::Exception => "{since} 承运商报告问题件",
            Rule::Refused => "{since} 收件人拒收",
            Rule::Returned => "自 {since} 起快件退回寄件人",
            Rule::LockerUncollected => "自 {since} 放入快递柜/驿站，{hours} 小时未取件",
            Rule::Late => "承诺送达时间 {since} 已过 {hours} 小时，仍未签收",
            Rule::NoTrace => "自 {since} 登记后 {hours} 小时承运商仍无任何物流信息（单号可能有误）",
        },
        Language::En => match rule {
            Rule::NoPickup => "Shipped at {since}, not picked up after {hours} h",
            Rule::Stalled => "No new trace for {hours} h since {since}",
            Rule::HubDwell => "Held at a transit hub for {hours} h since {since}",
            Rule::OutForDeliveryStuck => {
                "Out for delivery since {since}, not delivered after {hours} h"
            }
            Rule::DeliveryFailed => "Delivery failed at {since}, not yet re-attempted",
            Rule::Exception => "The carrier reported a problem parcel at {since}",
            Rule::Refused => "Refused by the recipient at {since}",
            Rule::Returned => "Being returned to the sender since {since}",
            Rule::LockerUncollected => {
                "In a locker/pickup station since {since}, not collected for {hours} h"
            }
            Rule::Late => "Promised delivery time {since} passed {hours} h ago, not delivered",
            Rule::NoTrace => {
                "Registered at {since}, the carrier has no trace after {hours} h (wrong number?)"
            }
        },
    }
}

/// The built-in customer SMS body of a rule (the shop signature is put in front).
fn builtin_customer(rule: Rule, lang: Language) -> &'static str {
    match lang {
        Language::Zh => match rule {
            Rule::NoPickup => {
                "您好，您的{carrier}包裹（尾号{tail}）尚未揽收，我们已催促快递尽快揽收发出，敬请谅解。"
            }
            Rule::Stalled | Rule::HubDwell => {
                "您好，您的{carrier}包裹（尾号{tail}）运输有所延误，我们已联系快递公司加急处理，敬请谅解。"
            }
            Rule::OutForDeliveryStuck => {
                "您好，您的{carrier}包裹（尾号{tail}）派送有所延误，我们已联系快递员尽快送达，请保持电话畅通。"
            }
            Rule::DeliveryFailed => {
                "您好，快递员未能成功派送您的{carrier}包裹（尾号{tail}），将再次派送或与您联系，请保持电话畅通。"
            }
            Rule::Exception => {
                "您好，您的{carrier}包裹（尾号{tail}）运输中出现异常，我们正在与快递公司处理，有进展将及时通知您。"
            }
            Rule::Refused => {
                "您好，您的{carrier}包裹（尾号{tail}）显示已拒收，如非本人操作或需重新发货，请联系我们。"
            }
            Rule::Returned => {
                "您好，您的{carrier}包裹（尾号{tail}）正在退回，如需重新发货或有疑问，请联系我们。"
            }
            Rule::LockerUncollected => {
                "您好，您的{carrier}包裹（尾号{tail}）已在快递柜/驿站等候多时，请尽快取件，以免超时退回。"
            }
            Rule::Late => {
                "您好，您的{carrier}包裹（尾号{tail}）未能按时送达，我们已联系快递公司加急处理，敬请谅解。"
            }
            Rule::NoTrace => {
                "您好，您的{carrier}包裹（尾号{tail}）暂未查到物流信息，我们正在与快递公司核实，请耐心等待。"
            }
        },
        Language::En => match rule {
            Rule::NoPickup => {
                "Your {carrier} parcel (no. ending {tail}) has not been picked up yet. We have asked the courier to collect it soon."
            }
            Rule::Stalled | Rule::HubDwell => {
                "Your {carrier} parcel (no. ending {tail}) is delayed. We have asked the carrier to hurry it. Sorry for the wait."
            }
            Rule::OutForDeliveryStuck => {
                "Your {carrier} parcel (no. ending {tail}) is out for delivery but running late. We have asked the courier to hurry."
            }
            Rule::DeliveryFailed => {
                "The courier could not deliver your {carrier} parcel (no. ending {tail}). They will try again or contact you."
            }
            Rule::Exception => {
                "There is a problem with your {carrier} parcel (no. ending {tail}). We are sorting it out with the carrier."
            }
            Rule::Refused => {
                "Your {carrier} parcel (no. ending {tail}) was refused. If this was not you, or you want it resent, contact us."
            }
            Rule::Returned => {
                "Your {carrier} parcel (no. ending {tail}) is being returned. Contact us if you would like it sent again."
            }
            Rule::LockerUncollected => {
                "Your {carrier} parcel (no. ending {tail}) is waiting in a locker/pickup station. Please collect it soon."
            }
            Rule::Late => {
                "Your {carrier} parcel (no. ending {tail}) is later than promised. We have asked the carrier to hurry it."
            }
            Rule::NoTrace => {
                "We cannot see tracking for your {carrier} parcel (no. ending {tail}) yet and are checking with the carrier."
            }
        },
    }
}

/// A value a template can insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// `{tracking_number}`: the full tracking number.
    TrackingNumber,
    /// `{tail}`: its last four characters.
    Tail,
    /// `{carrier}`: the carrier's display name in the message language.
    Carrier,
    /// `{carrier_code}`: `ZTO`.
    CarrierCode,
    /// `{order_id}`: the order, or 无 / `none`.
    OrderId,
    /// `{since}`: when the condition began, China time `YYYY-MM-DD HH:MM`.
    Since,
    /// `{at}`: when the alert was decided, China time.
    At,
    /// `{hours}`: whole hours from `since` to `at`.
    Hours,
    /// `{status}`: the parcel's normalised status.
    Status,
    /// `{last_trace}`: time and text of the newest trace, phones masked.
    LastTrace,
    /// `{rule}`: the rule's name for people.
    Rule,
    /// `{severity}`: 警告/严重, warning/critical.
    Severity,
    /// `{shop}`: the shop name (customer templates only).
    Shop,
}

impl Placeholder {
    pub const ALL: [Placeholder; 13] = [
        Placeholder::TrackingNumber,
        Placeholder::Tail,
        Placeholder::Carrier,
        Placeholder::CarrierCode,
        Placeholder::OrderId,
        Placeholder::Since,
        Placeholder::At,
        Placeholder::Hours,
        Placeholder::Status,
        Placeholder::LastTrace,
        Placeholder::Rule,
        Placeholder::Severity,
        Placeholder::Shop,
    ];

    /// The name between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::TrackingNumber => "tracking_number",
            Placeholder::Tail => "tail",
            Placeholder::Carrier => "carrier",
            Placeholder::CarrierCode => "carrier_code",
            Placeholder::OrderId => "order_id",
            Placeholder::Since => "since",
            Placeholder::At => "at",
            Placeholder::Hours => "hours",
            Placeholder::Status => "status",
            Placeholder::LastTrace => "last_trace",
            Placeholder::Rule => "rule",
            Placeholder::Severity => "severity",
            Placeholder::Shop => "shop",
        }
    }

    fn parse(name: &str) -> Option<Placeholder> {
        Placeholder::ALL
            .into_iter()
            .find(|p| p.name() == name.trim())
    }
}

fn known_placeholders(audience: Audience) -> String {
    Placeholder::ALL
        .iter()
        .filter(|p| audience == Audience::Customer || **p != Placeholder::Shop)
        .map(|p| format!("{{{}}}", p.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Slot(Placeholder),
}

/// A checked template: text and placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Template(Vec<Piece>);

/// Why a template was refused: the offending token and the reason.
struct TemplateFault {
    token: String,
    reason: String,
}

impl Template {
    fn parse(src: &str, audience: Audience) -> Result<Template, TemplateFault> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = src;
        while let Some(i) = rest.find(['{', '}']) {
            text.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("{{") {
                text.push('{');
                rest = after;
            } else if let Some(after) = tail.strip_prefix("}}") {
                text.push('}');
                rest = after;
            } else if let Some(after) = tail.strip_prefix('}') {
                // A lone closing brace is plain text.
                text.push('}');
                rest = after;
            } else {
                let body = &tail[1..];
                let Some(end) = body.find('}') else {
                    return Err(TemplateFault {
                        token: tail.chars().take(30).collect(),
                        reason: "unclosed '{' (write {{ for a literal brace)".into(),
                    });
                };
                let name = &body[..end];
                let slot = Placeholder::parse(name)
                    .filter(|p| audience == Audience::Customer || *p != Placeholder::Shop)
                    .ok_or_else(|| TemplateFault {
                        token: format!("{{{name}}}"),
                        reason: format!(
                            "unknown placeholder; known placeholders: {}",
                            known_placeholders(audience)
                        ),
                    })?;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Slot(slot));
                rest = &body[end + 1..];
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template(pieces))
    }

    /// A built-in template (they all parse; a test checks it). Never panics.
    fn builtin(src: &'static str, audience: Audience) -> Template {
        Template::parse(src, audience).unwrap_or_else(|_| Template(vec![Piece::Text(src.into())]))
    }
}

/// What a template is filled with.
struct Ctx<'a> {
    lang: Language,
    rule: Rule,
    severity: Severity,
    since: DateTime<Utc>,
    at: DateTime<Utc>,
    tracking_number: &'a str,
    carrier_code: &'a str,
    order_id: Option<&'a str>,
    status: Option<Status>,
    last_event: Option<&'a TrackingEvent>,
    shop: Option<&'a str>,
}

impl<'a> Ctx<'a> {
    fn of(n: &'a Notification, lang: Language) -> Self {
        let r = &n.record;
        Ctx {
            lang,
            rule: r.rule,
            severity: r.severity,
            since: r.since,
            at: r.at,
            tracking_number: r.shipment.tracking_number.as_str(),
            carrier_code: r.shipment.carrier.as_str(),
            order_id: n.order_id.as_deref(),
            status: Some(n.status),
            last_event: n.last_event.as_ref(),
            shop: None,
        }
    }

    fn none(&self) -> &'static str {
        match self.lang {
            Language::Zh => "无",
            Language::En => "none",
        }
    }

    fn put(&self, p: Placeholder, out: &mut String) {
        match p {
            Placeholder::TrackingNumber => out.push_str(self.tracking_number),
            Placeholder::Tail => out.push_str(&tail4(self.tracking_number)),
            Placeholder::Carrier => out.push_str(&carrier_display(self.carrier_code, self.lang)),
            Placeholder::CarrierCode => out.push_str(self.carrier_code),
            Placeholder::OrderId => out.push_str(self.order_id.unwrap_or(self.none())),
            Placeholder::Since => out.push_str(&local_minutes(self.since)),
            Placeholder::At => out.push_str(&local_minutes(self.at)),
            Placeholder::Hours => {
                let _ = write!(out, "{}", hours_between(self.since, self.at));
            }
            Placeholder::Status => match self.status {
                Some(s) => out.push_str(status_label(s, self.lang)),
                None => out.push_str(self.none()),
            },
            Placeholder::LastTrace => match self.last_event {
                Some(e) => {
                    let _ = write!(out, "{} {}", local_minutes(e.at), trace_text(&e.text));
                }
                None => out.push_str(self.none()),
            },
            Placeholder::Rule => out.push_str(rule_label(self.rule, self.lang)),
            Placeholder::Severity => out.push_str(severity_label(self.severity, self.lang)),
            Placeholder::Shop => out.push_str(self.shop.unwrap_or(match self.lang {
                Language::Zh => "本店",
                Language::En => "our shop",
            })),
        }
    }

    fn fill(&self, t: &Template) -> String {
        let mut out = String::new();
        for piece in &t.0 {
            match piece {
                Piece::Text(s) => out.push_str(s),
                Piece::Slot(p) => self.put(*p, &mut out),
            }
        }
        out
    }
}

/// Whole hours from `since` to `at`, for messages.
fn hours_between(since: DateTime<Utc>, at: DateTime<Utc>) -> i64 {
    (at - since).num_minutes().max(0) / 60
}

/// The last four characters of a tracking number (all of it when shorter).
fn tail4(tracking_number: &str) -> String {
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
fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn sms_fits(s: &str) -> bool {
    if s.is_ascii() {
        s.len() <= SMS_MAX_ASCII
    } else {
        s.chars().count() <= SMS_MAX_CHARS
    }
}

fn sms_cut(s: &str) -> String {
    if s.is_ascii() {
        truncate_bytes(s, SMS_MAX_ASCII, "...")
    } else {
        truncate_chars(s, SMS_MAX_CHARS)
    }
}

/// The message templates of every rule, in one language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Templates {
    language: Language,
    /// Indexed by [`Rule::ALL`] position.
    ops: Vec<Template>,
    customer: Vec<Template>,
}

impl Default for Templates {
    /// The built-in Chinese templates.
    fn default() -> Self {
        Self::builtin(Language::Zh)
    }
}

/// The built-in Chinese templates, shared by [`render_zh`] and [`describe_zh`].
fn default_zh() -> &'static Templates {
    static ZH: OnceLock<Templates> = OnceLock::new();
    ZH.get_or_init(Templates::default)
}

fn template_error(var: &'static str, fault: TemplateFault, which: &str) -> ConfigError {
    ConfigError {
        var,
        token: fault.token,
        reason: format!("in template {which}: {}", fault.reason),
    }
}

impl Templates {
    /// The built-in templates of a language.
    pub fn builtin(language: Language) -> Self {
        Self {
            language,
            ops: Rule::ALL
                .iter()
                .map(|r| Template::builtin(builtin_ops(*r, language), Audience::Ops))
                .collect(),
            customer: Rule::ALL
                .iter()
                .map(|r| Template::builtin(builtin_customer(*r, language), Audience::Customer))
                .collect(),
        }
    }

    /// Reads the process environment (and the template file it names).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads `ALERT_LANGUAGE`, `ALERT_TEMPLATES_FILE`, `ALERT_TEMPLATE_<RULE>` and
    /// `CUSTOMER_TEMPLATE_<RULE>` through `get`; the file is read from disk. Every
    /// template is checked here, so rendering never fails.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let language = Language::from_lookup(get)?;
        let mut t = Self::builtin(language);
        if let Some(path) = get(TEMPLATES_FILE_VAR) {
            let path = path.trim();
            let text = read_templates_file(path)?;
            for (rule, template) in parse_templates_file(path, &text)? {
                t.ops[rule_index(rule)] = template;
            }
        }
        for rule in Rule::ALL {
            let var = ALERT_TEMPLATE_VARS[rule_index(rule)];
            if let Some(v) = get(var) {
                t.ops[rule_index(rule)] =
                    Template::parse(&v, Audience::Ops).map_err(|f| template_error(var, f, var))?;
            }
            let var = CUSTOMER_TEMPLATE_VARS[rule_index(rule)];
            if let Some(v) = get(var) {
                t.customer[rule_index(rule)] = Template::parse(&v, Audience::Customer)
                    .map_err(|f| template_error(var, f, var))?;
            }
        }
        Ok(t)
    }

    pub fn language(&self) -> Language {
        self.language
    }

    /// The rule's ops sentence for this alert (`自 2024-11-05 14:20 起已 97 小时没有新的物流轨迹`).
    pub fn describe(&self, n: &Notification) -> String {
        Ctx::of(n, self.language).fill(&self.ops[rule_index(n.record.rule)])
    }

    /// The multi-line ops message: headline, rule, carrier, tracking number and
    /// order; what happened, with rule, severity and status; when it recovered
    /// (resolved alerts); the newest trace; whether the recipient was told.
    pub fn render(&self, n: &Notification) -> String {
        let code = n.record.shipment.carrier.as_str();
        let name = match self.language {
            Language::Zh => name_zh(code),
            Language::En => name_en(code),
        };
        self.render_with(n, name)
    }

    fn render_with(&self, n: &Notification, carrier_name: Option<&str>) -> String {
        let r = &n.record;
        let lang = self.language;
        let code = r.shipment.carrier.as_str();
        let mut out = String::new();
        let head = headline(r.kind, r.severity, lang);
        let label = rule_label(r.rule, lang);
        let desc = self.describe(n);
        let sev = severity_label(r.severity, lang);
        let status = status_label(n.status, lang);
        match lang {
            Language::Zh => {
                let carrier = match carrier_name {
                    Some(name) => format!("{name}（{code}）"),
                    None => code.to_string(),
                };
                let _ = write!(
                    out,
                    "{head}{label} · {carrier} 运单号 {}",
                    r.shipment.tracking_number
                );
                if let Some(order) = &n.order_id {
                    let _ = write!(out, " · 订单 {order}");
                }
                let _ = write!(
                    out,
                    "\n  {desc}（规则 {}，{sev}），当前状态：{status}",
                    r.rule
                );
                if r.kind == AlertKind::Resolved {
                    let _ = write!(out, "\n  已于 {} 恢复正常", local_minutes(r.at));
                }
                match &n.last_event {
                    Some(e) => {
                        let _ = write!(
                            out,
                            "\n  最新轨迹：{} {}",
                            local_minutes(e.at),
                            trace_text(&e.text)
                        );
                    }
                    None => out.push_str("\n  最新轨迹：无"),
                }
                if n.notify_customer {
                    out.push_str("\n  已同时通知收件人");
                }
            }
            Language::En => {
                let carrier = match carrier_name {
                    Some(name) => format!("{name} ({code})"),
                    None => code.to_string(),
                };
                let _ = write!(
                    out,
                    "{head} {label} · {carrier} tracking {}",
                    r.shipment.tracking_number
                );
                if let Some(order) = &n.order_id {
                    let _ = write!(out, " · order {order}");
                }
                let _ = write!(out, "\n  {desc} (rule {}, {sev}), status: {status}", r.rule);
                if r.kind == AlertKind::Resolved {
                    let _ = write!(out, "\n  Back to normal at {}", local_minutes(r.at));
                }
                match &n.last_event {
                    Some(e) => {
                        let _ = write!(
                            out,
                            "\n  Last trace: {} {}",
                            local_minutes(e.at),
                            trace_text(&e.text)
                        );
                    }
                    None => out.push_str("\n  Last trace: none"),
                }
                if n.notify_customer {
                    out.push_str("\n  The recipient was notified too");
                }
            }
        }
        out
    }

    /// A one-line ops SMS: headline, rule, carrier, tracking number (and order
    /// when it fits), then what happened — or when it recovered, for a resolved
    /// alert. At most [`SMS_MAX_CHARS`] characters ([`SMS_MAX_ASCII`] bytes when
    /// all ASCII); a long custom sentence is cut with `…`.
    pub fn sms(&self, n: &Notification) -> String {
        let r = &n.record;
        let lang = self.language;
        let code = r.shipment.carrier.as_str();
        let (carrier, order_word, sep) = match lang {
            Language::Zh => (name_zh(code).unwrap_or(code), "订单", "："),
            Language::En => (code, "order ", ": "),
        };
        let head = format!(
            "{}{}{} {carrier} {}",
            headline(r.kind, r.severity, lang),
            if lang == Language::En { " " } else { "" },
            rule_label(r.rule, lang),
            r.shipment.tracking_number
        );
        let what = if r.kind == AlertKind::Resolved {
            match lang {
                Language::Zh => format!("已于 {} 恢复正常", local_minutes(r.at)),
                Language::En => format!("back to normal at {}", local_minutes(r.at)),
            }
        } else {
            one_line(&self.describe(n))
        };
        if let Some(order) = &n.order_id {
            let s = format!("{head} {order_word}{}{sep}{what}", one_line(order));
            if sms_fits(&s) {
                return s;
            }
        }
        sms_cut(&format!("{head}{sep}{what}"))
    }

    /// An email subject: ASCII only, one line, shorter than [`SUBJECT_LIMIT`],
    /// e.g. `[Parcel Sentinel] CRITICAL stalled ZTO 75312345678901 (escalated)`.
    /// The same in both languages (SNS refuses non-ASCII subjects).
    pub fn subject(&self, n: &Notification) -> String {
        let r = &n.record;
        let level = match r.kind {
            AlertKind::Resolved => "RESOLVED",
            _ => match r.severity {
                Severity::Critical => "CRITICAL",
                Severity::Warning => "WARNING",
            },
        };
        let suffix = match r.kind {
            AlertKind::Fired | AlertKind::Resolved => "",
            AlertKind::Escalated => " (escalated)",
            AlertKind::Repeated => " (repeated)",
            AlertKind::Notice => " (customer notice)",
        };
        let body = format!(
            "{level} {} {} {}{suffix}",
            r.rule.as_str(),
            r.shipment.carrier,
            r.shipment.tracking_number
        );
        let mut s = format!("[Parcel Sentinel] {body}");
        if s.len() >= SUBJECT_LIMIT {
            s = format!("[PS] {body}");
        }
        // Codes and tracking numbers are ASCII already; be safe anyway.
        let s: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        truncate_bytes(&s, SUBJECT_LIMIT - 1, "...")
    }

    /// A polite SMS to the recipient, from the rule's customer template, signed
    /// with the shop name (`【优品旗舰店】…` / `[Shop] …`) when given. It names the
    /// parcel by the last four characters of its tracking number; it never
    /// contains a phone number (the recipient's is not in a notification; those in
    /// carrier text and the shop name are masked). Meant for fired alerts.
    pub fn customer_notice(&self, n: &Notification, shop_name: Option<&str>) -> String {
        let shop = shop_name
            .map(|s| {
                let s: String = mask_phones(&one_line(s))
                    .chars()
                    .filter(|c| !matches!(c, '【' | '】' | '[' | ']'))
                    .collect();
                truncate_chars(s.trim(), 20)
            })
            .filter(|s| !s.is_empty());
        let mut ctx = Ctx::of(n, self.language);
        ctx.shop = shop.as_deref();
        let body = one_line(&ctx.fill(&self.customer[rule_index(n.record.rule)]));
        match (&shop, self.language) {
            (Some(s), Language::Zh) => format!("【{s}】{body}"),
            (Some(s), Language::En) => format!("[{s}] {body}"),
            (None, _) => body,
        }
    }
}

fn read_templates_file(path: &str) -> Result<String, ConfigError> {
    let bad = |reason: String| ConfigError {
        var: TEMPLATES_FILE_VAR,
        token: path.to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    if meta.len() > MAX_TEMPLATES_FILE {
        return Err(bad(format!(
            "larger than {MAX_TEMPLATES_FILE} bytes; expected a small JSON object"
        )));
    }
    std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))
}

/// `{"stalled": "...", ...}` → checked ops templates. Keys are rule names.
fn parse_templates_file(path: &str, text: &str) -> Result<Vec<(Rule, Template)>, ConfigError> {
    let bad = |token: String, reason: String| ConfigError {
        var: TEMPLATES_FILE_VAR,
        token,
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(path.to_string(), format!("not JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(bad(
            path.to_string(),
            "expected a JSON object of rule name to template, e.g. {\"stalled\": \"...\"}".into(),
        ));
    };
    let mut out = Vec::new();
    for (key, v) in map {
        let Some(rule) = Rule::parse(&key) else {
            let names: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
            return Err(bad(
                key,
                format!("unknown rule in {path}; known rules: {}", names.join(", ")),
            ));
        };
        let Some(src) = v.as_str() else {
            return Err(bad(
                key,
                format!("in {path}: the template must be a string"),
            ));
        };
        if src.trim().is_empty() {
            return Err(bad(key, format!("in {path}: the template is empty")));
        }
        let template = Template::parse(src, Audience::Ops)
            .map_err(|f| template_error(TEMPLATES_FILE_VAR, f, &format!("{key:?} of {path}")))?;
        out.push((rule, template));
    }
    Ok(out)
}

/// What happened, in one Chinese sentence (the built-in Chinese template).
pub fn describe_zh(rule: Rule, since: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let ctx = Ctx {
        lang: Language::Zh,
        rule,
        severity: Severity::Warning,
        since,
        at,
        tracking_number: "",
        carrier_code: "",
        order_id: None,
        status: None,
        last_event: None,
        shop: None,
    };
    ctx.fill(&default_zh().ops[rule_index(rule)])
}

/// Renders a notification as a multi-line Chinese ops message with the built-in
/// templates, showing the carrier as `carrier_name（CODE）` (or the code alone).
pub fn render_zh(n: &Notification, carrier_name: Option<&str>) -> String {
    default_zh().render_with(n, carrier_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AlertRecord;
    use crate::domain::{ShipmentId, TrackingEvent};
    use crate::rules::hours;
    use std::collections::HashMap;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const PHONE: &str = "13812345678";

    fn note(rule: Rule, kind: AlertKind, severity: Severity) -> Notification {
        let since = t("2024-11-05T14:20:00+08:00");
        Notification {
            record: AlertRecord {
                shipment: ShipmentId::parse("ZTO", "75312345678901").unwrap(),
                rule,
                since,
                kind,
                seq: 1,
                severity,
                at: since + hours(97.5),
                hold_until: None,
            },
            order_id: Some("DD1001".into()),
            status: Status::InTransit,
            last_event: Some(TrackingEvent {
                at: since,
                text: format!("【杭州市】派件员 李四（电话{PHONE}）正在为您派件"),
                location: None,
                code: None,
                status: Status::OutForDelivery,
                hub: None,
            }),
            notify_customer: false,
            phone: None,
        }
    }

    fn stalled() -> Notification {
        note(Rule::Stalled, AlertKind::Escalated, Severity::Critical)
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    fn with_ops(rule_var: &str, template: &str) -> Templates {
        Templates::from_lookup(env(&[(rule_var, template)])).unwrap()
    }

    const KINDS: [AlertKind; 5] = [
        AlertKind::Fired,
        AlertKind::Escalated,
        AlertKind::Repeated,
        AlertKind::Resolved,
        AlertKind::Notice,
    ];

    #[test]
    fn stalled_message_reads_like_an_ops_message() {
        let msg = render_zh(&stalled(), Some("中通快递"));
        assert!(
            msg.starts_with(
                "【升级为严重】物流停滞 · 中通快递（ZTO） 运单号 75312345678901 · 订单 DD1001"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("自 2024-11-05 14:20 起已 97 小时没有新的物流轨迹"),
            "{msg}"
        );
        assert!(msg.contains("规则 stalled，严重"), "{msg}");
        assert!(msg.contains("最新轨迹：2024-11-05 14:20"), "{msg}");
        assert!(msg.contains("138****5678"), "{msg}");
        assert!(!msg.contains(PHONE), "phone must be masked: {msg}");
    }

    #[test]
    fn default_templates_render_like_render_zh() {
        let n = stalled();
        assert_eq!(
            Templates::default().render(&n),
            render_zh(&n, Some("中通快递"))
        );
        assert_eq!(Templates::default().language(), Language::Zh);
    }

    #[test]
    fn describe_zh_keeps_its_wording() {
        let since = t("2024-11-05T14:20:00+08:00");
        assert_eq!(
            describe_zh(Rule::Stalled, since, since + hours(49.9)),
            "自 2024-11-05 14:20 起已 49 小时没有新的物流轨迹"
        );
        assert_eq!(
            describe_zh(Rule::NoTrace, since, since + hours(24.0)),
            "自 2024-11-05 14:20 登记后 24 小时承运商仍无任何物流信息（单号可能有误）"
        );
        assert_eq!(
            describe_zh(Rule::Refused, since, since),
            "2024-11-05 14:20 收件人拒收"
        );
    }

    #[test]
    fn builtin_templates_all_parse_and_are_distinct_per_language() {
        for lang in [Language::Zh, Language::En] {
            for rule in Rule::ALL {
                for (src, aud) in [
                    (builtin_ops(rule, lang), Audience::Ops),
                    (builtin_customer(rule, lang), Audience::Customer),
                ] {
                    assert!(Template::parse(src, aud).is_ok(), "{lang:?} {rule}: {src}");
                }
            }
        }
        assert_ne!(Templates::builtin(Language::En), Templates::default());
    }

    #[test]
    fn template_variable_names_follow_the_rule_names() {
        for rule in Rule::ALL {
            let upper = rule.as_str().to_ascii_uppercase();
            assert_eq!(
                ALERT_TEMPLATE_VARS[rule_index(rule)],
                format!("ALERT_TEMPLATE_{upper}")
            );
            assert_eq!(
                CUSTOMER_TEMPLATE_VARS[rule_index(rule)],
                format!("CUSTOMER_TEMPLATE_{upper}")
            );
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        let n = stalled();
        let cases = [
            ("{tracking_number}", "75312345678901"),
            ("{tail}", "8901"),
            ("{carrier}", "中通快递"),
            ("{carrier_code}", "ZTO"),
            ("{order_id}", "DD1001"),
            ("{since}", "2024-11-05 14:20"),
            // 97.5 h after since.
            ("{at}", "2024-11-09 15:50"),
            ("{hours}", "97"),
            ("{status}", "运输中"),
            (
                "{last_trace}",
                "2024-11-05 14:20 【杭州市】派件员 李四（电话138****5678）正在为您派件",
            ),
            ("{rule}", "物流停滞"),
            ("{severity}", "严重"),
        ];
        for (template, want) in cases {
            let t = with_ops("ALERT_TEMPLATE_STALLED", &format!("<{template}>"));
            assert_eq!(t.describe(&n), format!("<{want}>"), "{template}");
        }
        // Placeholders in English, and with nothing to show.
        let mut bare = n.clone();
        bare.order_id = None;
        bare.last_event = None;
        let en = Templates::from_lookup(env(&[
            ("ALERT_LANGUAGE", "en"),
            (
                "ALERT_TEMPLATE_STALLED",
                "{carrier}|{status}|{rule}|{severity}|{order_id}|{last_trace}",
            ),
        ]))
        .unwrap();
        assert_eq!(
            en.describe(&bare),
            "ZTO Express|in transit|Stalled|critical|none|none"
        );
        let zh = with_ops("ALERT_TEMPLATE_STALLED", "{order_id}|{last_trace}");
        assert_eq!(zh.describe(&bare), "无|无");
        // Braces.
        let t = with_ops("ALERT_TEMPLATE_STALLED", "{{x}} } {hours}h");
        assert_eq!(t.describe(&n), "{x} } 97h");
    }

    #[test]
    fn shop_placeholder_only_in_customer_templates() {
        let n = note(Rule::Late, AlertKind::Fired, Severity::Warning);
        let t = Templates::from_lookup(env(&[(
            "CUSTOMER_TEMPLATE_LATE",
            "{shop}提醒：包裹{tracking_number}晚了",
        )]))
        .unwrap();
        assert_eq!(
            t.customer_notice(&n, Some("优品店")),
            "【优品店】优品店提醒：包裹75312345678901晚了"
        );
        assert_eq!(
            t.customer_notice(&n, None),
            "本店提醒：包裹75312345678901晚了"
        );
        let e = Templates::from_lookup(env(&[("ALERT_TEMPLATE_LATE", "{shop}")])).unwrap_err();
        assert_eq!(e.var, "ALERT_TEMPLATE_LATE");
        assert_eq!(e.token, "{shop}");
    }

    #[test]
    fn unknown_placeholder_is_a_load_error_naming_the_template() {
        let e = Templates::from_lookup(env(&[("ALERT_TEMPLATE_STALLED", "停滞 {hourz} 小时")]))
            .unwrap_err();
        assert_eq!(e.var, "ALERT_TEMPLATE_STALLED");
        assert_eq!(e.token, "{hourz}");
        let msg = e.to_string();
        assert!(msg.contains("ALERT_TEMPLATE_STALLED"), "{msg}");
        assert!(msg.contains("unknown placeholder"), "{msg}");
        assert!(msg.contains("{hours}"), "lists the known ones: {msg}");

        let e =
            Templates::from_lookup(env(&[("CUSTOMER_TEMPLATE_REFUSED", "{phone}")])).unwrap_err();
        assert_eq!(e.var, "CUSTOMER_TEMPLATE_REFUSED");
        assert_eq!(e.token, "{phone}");

        let e = Templates::from_lookup(env(&[("ALERT_TEMPLATE_LATE", "迟到 {hours")])).unwrap_err();
        assert_eq!(e.var, "ALERT_TEMPLATE_LATE");
        assert!(e.reason.contains("unclosed"), "{e}");
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let t = Templates::from_lookup(env(&[
            ("ALERT_LANGUAGE", " "),
            ("ALERT_TEMPLATE_STALLED", ""),
            ("ALERT_TEMPLATES_FILE", ""),
        ]))
        .unwrap();
        assert_eq!(t, Templates::default());
    }

    #[test]
    fn language_is_parsed_and_a_bad_one_is_an_error() {
        for (v, want) in [
            ("zh", Language::Zh),
            ("zh-CN", Language::Zh),
            ("zh_Hans", Language::Zh),
            ("EN", Language::En),
            ("en-US", Language::En),
        ] {
            assert_eq!(
                Language::from_lookup(env(&[("ALERT_LANGUAGE", v)])),
                Ok(want)
            );
        }
        assert_eq!(Language::from_lookup(env(&[])), Ok(Language::Zh));
        let e = Templates::from_lookup(env(&[("ALERT_LANGUAGE", "fr")])).unwrap_err();
        assert_eq!(e.var, "ALERT_LANGUAGE");
        assert_eq!(e.token, "fr");
        assert!(e
            .to_string()
            .starts_with("ALERT_LANGUAGE: bad value \"fr\""));
    }

    fn file(contents: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), contents).unwrap();
        f
    }

    #[test]
    fn template_file_sets_templates_and_the_variable_wins() {
        let f =
            file(r#"{"stalled": "文件：停滞 {hours} 小时", "late": "文件：迟到 {hours} 小时"}"#);
        let path = f.path().to_str().unwrap().to_string();
        let t = Templates::from_lookup(env(&[
            ("ALERT_TEMPLATES_FILE", &path),
            ("ALERT_TEMPLATE_LATE", "变量：迟到 {hours} 小时"),
        ]))
        .unwrap();
        assert_eq!(t.describe(&stalled()), "文件：停滞 97 小时");
        let late = note(Rule::Late, AlertKind::Fired, Severity::Warning);
        assert_eq!(t.describe(&late), "变量：迟到 97 小时");
        // Rules the file does not name keep the built-in wording.
        let failed = note(Rule::DeliveryFailed, AlertKind::Fired, Severity::Warning);
        assert_eq!(
            t.describe(&failed),
            "2024-11-05 14:20 派送失败，尚未重新派送"
        );
    }

    #[test]
    fn template_file_errors_name_the_file_and_key() {
        let f = file(r#"{"stalled": "ok {hours}", "stalld": "typo"}"#);
        let path = f.path().to_str().unwrap().to_string();
        let e = Templates::from_lookup(env(&[("ALERT_TEMPLATES_FILE", &path)])).unwrap_err();
        assert_eq!(e.var, "ALERT_TEMPLATES_FILE");
        assert_eq!(e.token, "stalld");
        assert!(e.reason.contains("unknown rule"), "{e}");

        let f = file(r#"{"late": "迟到 {delay}"}"#);
        let path = f.path().to_str().unwrap().to_string();
        let e = Templates::from_lookup(env(&[("ALERT_TEMPLATES_FILE", &path)])).unwrap_err();
        assert_eq!(e.var, "ALERT_TEMPLATES_FILE");
        assert_eq!(e.token, "{delay}");
        assert!(e.reason.contains("\"late\""), "names the template: {e}");

        for bad in ["[1, 2]", "not json", r#"{"late": 3}"#, r#"{"late": " "}"#] {
            let f = file(bad);
            let path = f.path().to_str().unwrap().to_string();
            let e = Templates::from_lookup(env(&[("ALERT_TEMPLATES_FILE", &path)])).unwrap_err();
            assert_eq!(e.var, "ALERT_TEMPLATES_FILE", "{bad}");
        }
        let e = Templates::from_lookup(env(&[("ALERT_TEMPLATES_FILE", "/no/such/file.json")]))
            .unwrap_err();
        assert_eq!(e.var, "ALERT_TEMPLATES_FILE");
        assert_eq!(e.token, "/no/such/file.json");
    }

    #[test]
    fn kinds_are_worded_as_such_in_both_languages() {
        let zh = Templates::default();
        let en = Templates::builtin(Language::En);
        let cases = [
            (
                AlertKind::Fired,
                Severity::Warning,
                "【预警】",
                "[Warning] ",
            ),
            (
                AlertKind::Fired,
                Severity::Critical,
                "【严重预警】",
                "[CRITICAL] ",
            ),
            (
                AlertKind::Escalated,
                Severity::Critical,
                "【升级为严重】",
                "[Escalated to critical] ",
            ),
            (
                AlertKind::Repeated,
                Severity::Warning,
                "【仍未解决】",
                "[Still unresolved] ",
            ),
            (
                AlertKind::Resolved,
                Severity::Warning,
                "【已恢复】",
                "[Resolved] ",
            ),
        ];
        for (kind, sev, zh_head, en_head) in cases {
            let n = note(Rule::Stalled, kind, sev);
            let (z, e) = (zh.render(&n), en.render(&n));
            assert!(z.starts_with(&format!("{zh_head}物流停滞 · ")), "{z}");
            assert!(e.starts_with(&format!("{en_head}Stalled · ")), "{e}");
            assert!(zh.sms(&n).starts_with(zh_head), "{}", zh.sms(&n));
            assert!(en.sms(&n).starts_with(en_head), "{}", en.sms(&n));
        }
        let n = note(Rule::Stalled, AlertKind::Resolved, Severity::Critical);
        assert!(zh.render(&n).contains("\n  已于 2024-11-09 15:50 恢复正常"));
        assert!(en
            .render(&n)
            .contains("\n  Back to normal at 2024-11-09 15:50"));
        assert!(zh.sms(&n).contains("已于 2024-11-09 15:50 恢复正常"));
        assert!(en.sms(&n).contains("back to normal at 2024-11-09 15:50"));
    }

    #[test]
    fn english_render_reads_like_an_ops_message() {
        let mut n = stalled();
        n.notify_customer = true;
        let msg = Templates::builtin(Language::En).render(&n);
        assert_eq!(
            msg,
            "[Escalated to critical] Stalled · ZTO Express (ZTO) tracking 75312345678901 · order DD1001\n  \
             No new trace for 97 h since 2024-11-05 14:20 (rule stalled, critical), status: in transit\n  \
             Last trace: 2024-11-05 14:20 【杭州市】派件员 李四（电话138****5678）正在为您派件\n  \
             The recipient was notified too"
        );
    }

    #[test]
    fn sms_is_one_short_line() {
        for lang in [Language::Zh, Language::En] {
            let t = Templates::builtin(lang);
            for rule in Rule::ALL {
                for kind in KINDS {
                    let n = note(rule, kind, Severity::Critical);
                    let s = t.sms(&n);
                    assert!(!s.contains('\n'), "{s}");
                    assert!(sms_fits(&s), "{lang:?} {rule} {kind:?}: {s}");
                    assert!(s.contains("75312345678901"), "{s}");
                    assert!(!s.contains(PHONE), "{s}");
                }
            }
        }
        let s = Templates::default().sms(&stalled());
        assert_eq!(
            s,
            // The order is left out when it would not fit.
            "【升级为严重】物流停滞 中通快递 75312345678901：自 2024-11-05 14:20 起已 97 小时没有新的物流轨迹"
        );
        let refused = note(Rule::Refused, AlertKind::Fired, Severity::Warning);
        assert_eq!(
            Templates::default().sms(&refused),
            "【预警】拒收 中通快递 75312345678901 订单DD1001：2024-11-05 14:20 收件人拒收"
        );
        assert_eq!(
            Templates::builtin(Language::En).sms(&refused),
            "[Warning] Refused ZTO 75312345678901 order DD1001: Refused by the recipient at 2024-11-05 14:20"
        );
        // A long custom sentence with line breaks is cut to one SMS.
        let t = with_ops("ALERT_TEMPLATE_STALLED", &"很长的说明\n".repeat(30));
        let s = t.sms(&stalled());
        assert!(!s.contains('\n'), "{s}");
        assert_eq!(s.chars().count(), SMS_MAX_CHARS, "{s}");
        assert!(s.ends_with('…'), "{s}");
        let t = Templates::from_lookup(env(&[
            ("ALERT_LANGUAGE", "en"),
            ("ALERT_TEMPLATE_STALLED", &"long text ".repeat(30)),
        ]))
        .unwrap();
        let s = t.sms(&stalled());
        assert_eq!(s.len(), SMS_MAX_ASCII, "{s}");
        assert!(s.ends_with("..."), "{s}");
    }

    #[test]
    fn subject_is_short_ascii_for_every_rule_and_kind() {
        let long = ShipmentId::parse("ABCDEFGHIJKLMNOP", &"9".repeat(40)).unwrap();
        for lang in [Language::Zh, Language::En] {
            let t = Templates::builtin(lang);
            for rule in Rule::ALL {
                for kind in KINDS {
                    for sev in [Severity::Warning, Severity::Critical] {
                        let mut n = note(rule, kind, sev);
                        for id in [n.record.shipment.clone(), long.clone()] {
                            n.record.shipment = id;
                            let s = t.subject(&n);
                            assert!(s.is_ascii(), "{s}");
                            assert!(s.len() < SUBJECT_LIMIT, "{} {s}", s.len());
                            assert!(!s.contains(['\n', '\r']), "{s}");
                            assert!(s.contains(rule.as_str()), "{s}");
                            assert!(s.contains(n.record.shipment.tracking_number.as_str()));
                        }
                    }
                }
            }
        }
        let t = Templates::default();
        assert_eq!(
            t.subject(&stalled()),
            "[Parcel Sentinel] CRITICAL stalled ZTO 75312345678901 (escalated)"
        );
        let n = note(Rule::Late, AlertKind::Resolved, Severity::Warning);
        assert_eq!(
            t.subject(&n),
            "[Parcel Sentinel] RESOLVED late ZTO 75312345678901"
        );
        let n = note(Rule::Late, AlertKind::Repeated, Severity::Warning);
        assert_eq!(
            t.subject(&n),
            "[Parcel Sentinel] WARNING late ZTO 75312345678901 (repeated)"
        );
    }

    #[test]
    fn customer_notices_are_polite_short_and_name_the_tail() {
        let shop = "优品旗舰店";
        for rule in Rule::ALL {
            let n = note(rule, AlertKind::Fired, Severity::Warning);
            let zh = Templates::default().customer_notice(&n, Some(shop));
            assert!(zh.starts_with("【优品旗舰店】您好，"), "{zh}");
            assert!(zh.contains("尾号8901"), "{zh}");
            assert!(zh.contains("中通快递"), "{zh}");
            assert!(
                zh.chars().count() <= SMS_MAX_CHARS,
                "{} {zh}",
                zh.chars().count()
            );
            assert!(!zh.contains("75312345678901"), "{zh}");
            let en = Templates::builtin(Language::En).customer_notice(&n, Some("Shop"));
            assert!(en.starts_with("[Shop] "), "{en}");
            assert!(en.contains("ending 8901"), "{en}");
            assert!(en.len() <= 160, "{} {en}", en.len());
        }
        let t = Templates::default();
        let n = note(Rule::Stalled, AlertKind::Fired, Severity::Warning);
        assert!(t
            .customer_notice(&n, None)
            .contains("已联系快递公司加急处理"));
        let n = note(Rule::DeliveryFailed, AlertKind::Fired, Severity::Warning);
        assert!(t.customer_notice(&n, None).contains("将再次派送或与您联系"));
        let n = note(Rule::LockerUncollected, AlertKind::Fired, Severity::Warning);
        assert!(t.customer_notice(&n, None).contains("请尽快取件"));
        let n = note(Rule::Refused, AlertKind::Fired, Severity::Warning);
        assert!(t.customer_notice(&n, None).contains("拒收"));
        let n = note(Rule::Returned, AlertKind::Fired, Severity::Warning);
        assert!(t.customer_notice(&n, None).contains("退回"));
        let n = note(Rule::Exception, AlertKind::Fired, Severity::Warning);
        assert!(t.customer_notice(&n, None).contains("异常"));
    }

    #[test]
    fn customer_notice_never_shows_a_full_phone_number() {
        let t = Templates::from_lookup(env(&[(
            "CUSTOMER_TEMPLATE_DELIVERY_FAILED",
            "{shop}：{last_trace}（{status}，{carrier}）",
        )]))
        .unwrap();
        let mut n = note(Rule::DeliveryFailed, AlertKind::Fired, Severity::Warning);
        // Even when the notification carries the recipient's phone (for the SMS
        // sender), the text does not show it.
        n.phone = Some(crate::domain::Phone::parse(PHONE).unwrap());
        let s = t.customer_notice(&n, Some(&format!("小店 客服{PHONE}\n[官方]")));
        assert!(!s.contains(PHONE), "{s}");
        assert!(s.contains("138****5678"), "{s}");
        assert!(!s.contains('\n'), "{s}");
        assert!(s.starts_with("【小店 客服138****5678 官方】"), "{s}");
        // Full-width digits too.
        if let Some(e) = n.last_event.as_mut() {
            e.text = "电话１３８１２３４５６７８".into();
        }
        let s = t.customer_notice(&n, None);
        assert!(s.contains("１３８****５６７８"), "{s}");
        // A blank shop name is no signature.
        let s = Templates::default().customer_notice(&n, Some("  "));
        assert!(s.starts_with("您好，"), "{s}");
    }

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
