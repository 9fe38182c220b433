//! Names for people: of rules, severities, statuses and carriers, and the
//! headline that says what kind of alert a message is — fixed wording per
//! language that no template can change.

use crate::domain::AlertKind;
use crate::domain::Status;
use crate::domain::{Rule, Severity};
use crate::normalise::carriers::name_zh;

use super::Language;

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
            Rule::PredictedLate => "Likely late",
            Rule::SlowLane => "Slower than its lane",
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

pub(super) fn name_en(code: &str) -> Option<&'static str> {
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
