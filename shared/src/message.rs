//! Alert messages as an ops person reads them: Chinese, one glance, with carrier,
//! tracking number, order, rule, since when, and the last trace. Phone numbers in
//! carrier text are masked.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::pipeline::Notification;
use crate::rules::{Rule, Severity};
use crate::store::AlertKind;
use crate::time::local_minutes;

/// Whole hours from `since` to `at`, for messages.
fn hours_between(since: DateTime<Utc>, at: DateTime<Utc>) -> i64 {
    (at - since).num_minutes().max(0) / 60
}

/// What happened, in one Chinese sentence.
pub fn describe_zh(rule: Rule, since: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let s = local_minutes(since);
    let h = hours_between(since, at);
    match rule {
        Rule::NoPickup => format!("自 {s} 发货后 {h} 小时仍未揽收"),
        Rule::Stalled => format!("自 {s} 起已 {h} 小时没有新的物流轨迹"),
        Rule::HubDwell => format!("自 {s} 到达中转中心后已滞留 {h} 小时"),
        Rule::OutForDeliveryStuck => format!("自 {s} 开始派件，{h} 小时仍未签收"),
        Rule::DeliveryFailed => format!("{s} 派送失败，尚未重新派送"),
        Rule::Exception => format!("{s} 承运商报告问题件"),
        Rule::Refused => format!("{s} 收件人拒收"),
        Rule::Returned => format!("自 {s} 起快件退回寄件人"),
        Rule::LockerUncollected => format!("自 {s} 放入快递柜/驿站，{h} 小时未取件"),
        Rule::Late => format!("承诺送达时间 {s} 已过 {h} 小时，仍未签收"),
        Rule::NoTrace => format!("自 {s} 登记后 {h} 小时承运商仍无任何物流信息（单号可能有误）"),
    }
}

fn headline(kind: AlertKind, severity: Severity) -> &'static str {
    match (kind, severity) {
        (AlertKind::Fired, Severity::Critical) => "【严重预警】",
        (AlertKind::Fired, Severity::Warning) => "【预警】",
        (AlertKind::Escalated, _) => "【升级为严重】",
        (AlertKind::Repeated, _) => "【仍未解决】",
        (AlertKind::Resolved, _) => "【已恢复】",
    }
}

/// Renders a notification as a multi-line Chinese ops message.
pub fn render_zh(n: &Notification, carrier_name: Option<&str>) -> String {
    let r = &n.record;
    let mut out = String::new();
    let carrier = match carrier_name {
        Some(name) => format!("{name}（{}）", r.shipment.carrier),
        None => r.shipment.carrier.to_string(),
    };
    let _ = write!(
        out,
        "{}{} · {} 运单号 {}",
        headline(r.kind, r.severity),
        r.rule.label_zh(),
        carrier,
        r.shipment.tracking_number
    );
    if let Some(order) = &n.order_id {
        let _ = write!(out, " · 订单 {order}");
    }
    let _ = write!(
        out,
        "\n  {}（规则 {}，{}），当前状态：{}",
        describe_zh(r.rule, r.since, r.at),
        r.rule,
        r.severity.label_zh(),
        n.status.label_zh()
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
                crate::normalise::keywords::mask_phones(&e.text)
            );
        }
        None => out.push_str("\n  最新轨迹：无"),
    }
    if n.notify_customer {
        out.push_str("\n  已同时通知收件人");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ShipmentId, Status, TrackingEvent};
    use crate::rules::hours;
    use crate::store::AlertRecord;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn stalled_message_reads_like_an_ops_message() {
        let since = t("2024-11-05T14:20:00+08:00");
        let n = Notification {
            record: AlertRecord {
                shipment: ShipmentId::parse("ZTO", "75312345678901").unwrap(),
                rule: Rule::Stalled,
                since,
                kind: AlertKind::Escalated,
                seq: 1,
                severity: Severity::Critical,
                at: since + hours(97.5),
            },
            order_id: Some("DD1001".into()),
            status: Status::InTransit,
            last_event: Some(TrackingEvent {
                at: since,
                text: "【杭州市】派件员 李四（电话13812345678）正在为您派件".into(),
                location: None,
                code: None,
                status: Status::OutForDelivery,
                hub: None,
            }),
            notify_customer: false,
        };
        let msg = render_zh(&n, Some("中通快递"));
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
        assert!(!msg.contains("13812345678"), "phone must be masked: {msg}");
    }
}
