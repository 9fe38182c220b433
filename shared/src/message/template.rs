//! One template: the [`Placeholder`]s it may use, its parsing when loaded (an
//! unknown placeholder or an unclosed `{` is refused then, never at send time),
//! and its filling from a notification. What the template *says* lives in
//! `texts` and the environment; this is the machinery.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::domain::Notification;
use crate::domain::{Audience, Rule, Severity};
use crate::domain::{Status, TrackingEvent};
use crate::time::local_minutes;

use super::fit::{tail4, trace_text};
use super::labels::{carrier_display, rule_label, severity_label, status_label};
use super::Language;

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
pub(super) struct Template(Vec<Piece>);

/// Why a template was refused: the offending token and the reason.
pub(super) struct TemplateFault {
    pub(super) token: String,
    pub(super) reason: String,
}

impl Template {
    pub(super) fn parse(src: &str, audience: Audience) -> Result<Template, TemplateFault> {
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
    pub(super) fn builtin(src: &'static str, audience: Audience) -> Template {
        Template::parse(src, audience).unwrap_or_else(|_| Template(vec![Piece::Text(src.into())]))
    }
}

/// What a template is filled with.
pub(super) struct Ctx<'a> {
    pub(super) lang: Language,
    pub(super) rule: Rule,
    pub(super) severity: Severity,
    pub(super) since: DateTime<Utc>,
    pub(super) at: DateTime<Utc>,
    pub(super) tracking_number: &'a str,
    pub(super) carrier_code: &'a str,
    pub(super) order_id: Option<&'a str>,
    pub(super) status: Option<Status>,
    pub(super) last_event: Option<&'a TrackingEvent>,
    pub(super) shop: Option<&'a str>,
}

impl<'a> Ctx<'a> {
    pub(super) fn of(n: &'a Notification, lang: Language) -> Self {
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

    pub(super) fn fill(&self, t: &Template) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AlertKind;
    use crate::message::fixtures::{env, note, stalled, with_ops};
    use crate::message::Templates;

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
}
