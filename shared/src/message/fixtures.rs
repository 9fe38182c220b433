//! Test fixtures shared by the message tests: one parcel's notification (a
//! stalled ZTO parcel whose last trace holds a phone number) in any rule, kind
//! and severity, and an environment made of pairs. Compiled for tests only.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::{AlertKind, AlertRecord, Notification, Rule, Severity};
use crate::domain::{ShipmentId, Status, TrackingEvent};
use crate::rules::hours;

use super::Templates;

pub(super) fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(super) const PHONE: &str = "13812345678";

pub(super) fn note(rule: Rule, kind: AlertKind, severity: Severity) -> Notification {
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
        owner: None,
        silenced: Vec::new(),
    }
}

pub(super) fn stalled() -> Notification {
    note(Rule::Stalled, AlertKind::Escalated, Severity::Critical)
}

pub(super) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

pub(super) fn with_ops(rule_var: &str, template: &str) -> Templates {
    Templates::from_lookup(env(&[(rule_var, template)])).unwrap()
}

pub(super) const KINDS: [AlertKind; 5] = [
    AlertKind::Fired,
    AlertKind::Escalated,
    AlertKind::Repeated,
    AlertKind::Resolved,
    AlertKind::Notice,
];
