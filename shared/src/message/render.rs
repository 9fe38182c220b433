//! The message templates of every rule ([`Templates`]) and the messages made
//! from them: the multi-line ops text, the one-line ops SMS, the ASCII email
//! subject and the customer SMS, plus the built-in Chinese shortcuts
//! [`describe_zh`] and [`render_zh`]. Where the templates come from is `env`'s job.

use std::fmt::Write;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use crate::domain::Notification;
use crate::domain::{AlertKind, Audience};
use crate::domain::{Rule, Severity};
use crate::normalise::carriers::name_zh;
use crate::normalise::keywords::mask_phones;
use crate::time::local_minutes;

use super::fit::{
    one_line, sms_cut, sms_fits, trace_text, truncate_bytes, truncate_chars, SUBJECT_LIMIT,
};
use super::labels::{headline, name_en, rule_label, severity_label, status_label};
use super::link::ConsoleUrl;
use super::template::{Ctx, Template};
use super::texts::{builtin_customer, builtin_ops};
use super::{rule_index, Language};

/// The message templates of every rule, in one language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Templates {
    language: Language,
    /// Where each parcel's page is (`CONSOLE_URL`); `None`: no links.
    console: Option<ConsoleUrl>,
    /// Indexed by [`Rule::ALL`] position.
    pub(super) ops: Vec<Template>,
    pub(super) customer: Vec<Template>,
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

impl Templates {
    /// The built-in templates of a language.
    pub fn builtin(language: Language) -> Self {
        Self {
            language,
            console: None,
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

    pub fn language(&self) -> Language {
        self.language
    }

    /// The same templates, linking each parcel to its page at `console`.
    pub fn with_console(mut self, console: Option<ConsoleUrl>) -> Self {
        self.console = console;
        self
    }

    /// The link to the parcel of `n` in the console, when `CONSOLE_URL` is set
    /// (ops messages only: a customer is never sent the team's console).
    pub fn parcel_link(&self, n: &Notification) -> Option<String> {
        if n.audience() == Audience::Customer {
            return None;
        }
        self.console.as_ref().map(|c| c.parcel(&n.record.shipment))
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
        let (taken, also, and, open) = match lang {
            Language::Zh => ("已认领：", "同时存在：", "、", "查看与处理："),
            Language::En => ("Taken by ", "Also holding: ", ", ", "Open in the console: "),
        };
        if let Some(owner) = &n.owner {
            let _ = write!(out, "\n  {taken}{}", one_line(owner));
        }
        if !n.silenced.is_empty() {
            let labels: Vec<&str> = n
                .silenced
                .iter()
                .map(|x| rule_label(x.rule, lang))
                .collect();
            let _ = write!(out, "\n  {also}{}", labels.join(and));
        }
        if let Some(link) = self.parcel_link(n) {
            let _ = write!(out, "\n  {open}{link}");
        }
        out
    }

    /// A one-line ops SMS: headline, rule, carrier, tracking number (and order
    /// when it fits), then what happened — or when it recovered, for a resolved
    /// alert. At most [`SMS_MAX_CHARS`](super::SMS_MAX_CHARS) characters
    /// ([`SMS_MAX_ASCII`](super::SMS_MAX_ASCII) bytes when all ASCII); a long
    /// custom sentence is cut with `…`.
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
    use crate::domain::ShipmentId;
    use crate::message::fit::{SMS_MAX_ASCII, SMS_MAX_CHARS};
    use crate::message::fixtures::{env, note, stalled, t, with_ops, KINDS, PHONE};
    use crate::rules::hours;

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
}
