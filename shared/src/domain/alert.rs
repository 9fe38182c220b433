//! The alert vocabulary, in one place: which [`Rule`] found a problem and how bad it
//! is ([`Severity`]), the lifecycle state kept on the shipment per rule
//! ([`AlertState`]), each notification-worthy transition as recorded in the alert
//! log ([`AlertRecord`], [`AlertKind`], [`Audience`]), and what a message about one
//! needs to say ([`Notification`]).
//!
//! Deciding is elsewhere: the rule engine ([`crate::rules`]) produces findings, the
//! lifecycle ([`crate::lifecycle`]) turns them into transitions, the tracker claims
//! them in the alert log and the outbox delivers them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::{Phone, Shipment, ShipmentId, Status, TrackingEvent};

/// Every rule Parcel Sentinel knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    NoPickup,
    Stalled,
    HubDwell,
    OutForDeliveryStuck,
    DeliveryFailed,
    Exception,
    Refused,
    Returned,
    LockerUncollected,
    Late,
    NoTrace,
    /// The lane's statistics say the parcel will probably miss its promise.
    PredictedLate,
    /// Silent for longer than its lane usually is in its stage (before `stalled`).
    SlowLane,
}

impl Rule {
    /// How many rules there are.
    pub const COUNT: usize = 13;

    pub const ALL: [Rule; Rule::COUNT] = [
        Rule::NoPickup,
        Rule::Stalled,
        Rule::HubDwell,
        Rule::OutForDeliveryStuck,
        Rule::DeliveryFailed,
        Rule::Exception,
        Rule::Refused,
        Rule::Returned,
        Rule::LockerUncollected,
        Rule::Late,
        Rule::NoTrace,
        Rule::PredictedLate,
        Rule::SlowLane,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::NoPickup => "no_pickup",
            Rule::Stalled => "stalled",
            Rule::HubDwell => "hub_dwell",
            Rule::OutForDeliveryStuck => "out_for_delivery_stuck",
            Rule::DeliveryFailed => "delivery_failed",
            Rule::Exception => "exception",
            Rule::Refused => "refused",
            Rule::Returned => "returned",
            Rule::LockerUncollected => "locker_uncollected",
            Rule::Late => "late",
            Rule::NoTrace => "no_trace",
            Rule::PredictedLate => "predicted_late",
            Rule::SlowLane => "slow_lane",
        }
    }

    pub fn parse(s: &str) -> Option<Rule> {
        let s = s.trim();
        Rule::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Rules about something the carrier reported, as opposed to time passing.
    pub fn is_event_rule(self) -> bool {
        matches!(
            self,
            Rule::DeliveryFailed | Rule::Exception | Rule::Refused | Rule::Returned
        )
    }

    /// Rules decided from what the parcel's lane has learned ([`crate::lane_rules`])
    /// rather than from fixed hours.
    pub fn is_lane_rule(self) -> bool {
        matches!(self, Rule::PredictedLate | Rule::SlowLane)
    }

    /// Chinese name for messages.
    pub fn label_zh(self) -> &'static str {
        match self {
            Rule::NoPickup => "未揽收",
            Rule::Stalled => "物流停滞",
            Rule::HubDwell => "中转滞留",
            Rule::OutForDeliveryStuck => "派件超时",
            Rule::DeliveryFailed => "派送失败",
            Rule::Exception => "问题件",
            Rule::Refused => "拒收",
            Rule::Returned => "退回",
            Rule::LockerUncollected => "快递柜/驿站超时未取",
            Rule::Late => "超过承诺时效",
            Rule::NoTrace => "无物流信息",
            Rule::PredictedLate => "预计超时",
            Rule::SlowLane => "慢于本线路常态",
        }
    }

    /// The default threshold in hours.
    pub fn default_hours(self) -> f64 {
        match self {
            Rule::NoPickup => 24.0,
            Rule::Stalled => 48.0,
            Rule::HubDwell => 24.0,
            Rule::OutForDeliveryStuck => 12.0,
            Rule::LockerUncollected => 48.0,
            Rule::NoTrace => 24.0,
            // How long the silence lasts at least before `slow_lane`, whatever the
            // lane says (a floor against nights and lunch breaks).
            Rule::SlowLane => 16.0,
            Rule::DeliveryFailed
            | Rule::Exception
            | Rule::Refused
            | Rule::Returned
            | Rule::Late
            | Rule::PredictedLate => 0.0,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// `warning` or `critical` (any case).
    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Warning, Severity::Critical]
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Severity::Warning => "警告",
            Severity::Critical => "严重",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lifecycle state of the alert for one rule on one shipment
/// (see [`crate::lifecycle`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertState {
    pub rule: Rule,
    pub severity: Severity,
    /// When the condition began.
    pub since: DateTime<Utc>,
    pub fired_at: DateTime<Utc>,
    pub last_notified_at: DateTime<Utc>,
    /// Notifications sent in this episode (fire, escalation, repeats).
    pub notifications: u32,
    /// Set when the condition cleared; a resolved alert fires again as a new episode
    /// if the condition comes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// What people did about this episode (the problem): open until someone
    /// acknowledges, snoozes or closes it. Absent from the stored form while open.
    #[serde(default, skip_serializing_if = "Workflow::is_open")]
    pub workflow: Workflow,
    /// Every action people took on this episode, oldest first (the newest
    /// [`HISTORY_KEPT`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<ProblemEvent>,
}

/// How many actions of one episode are kept.
pub const HISTORY_KEPT: usize = 50;

/// One action on a problem: who did what, when, with which note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemEvent {
    pub at: DateTime<Utc>,
    pub by: String,
    /// `ack`, `snooze`, `close` or `note`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl AlertState {
    /// A new episode of `rule`, its condition true since `since`, fired (and
    /// told once) at `at`, open.
    pub fn fired(rule: Rule, severity: Severity, since: DateTime<Utc>, at: DateTime<Utc>) -> Self {
        Self {
            rule,
            severity,
            since,
            fired_at: at,
            last_notified_at: at,
            notifications: 1,
            resolved_at: None,
            workflow: Workflow::Open,
            history: Vec::new(),
        }
    }

    pub fn is_active(&self) -> bool {
        self.resolved_at.is_none()
    }
}

/// The problem workflow of one alert episode (issue 16; see
/// [`crate::lifecycle::reconcile`] for what each state silences).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Workflow {
    /// Nobody has taken it: repeats every repeat interval.
    #[default]
    Open,
    /// Someone has it: no repeats; an escalation still notifies.
    Acknowledged { by: String, at: DateTime<Utc> },
    /// No repeats before `until`; then open again.
    Snoozed {
        by: String,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    /// Closed by hand (handled outside, e.g. re-shipped): the episode is over for
    /// the team; nothing more is notified until the condition clears and returns.
    Closed { by: String, at: DateTime<Utc> },
}

impl Workflow {
    pub fn is_open(&self) -> bool {
        matches!(self, Workflow::Open)
    }

    /// Whether repeats of the episode are silenced at `now`.
    pub fn silences_repeats(&self, now: DateTime<Utc>) -> bool {
        match self {
            Workflow::Open => false,
            Workflow::Snoozed { until, .. } => now < *until,
            Workflow::Acknowledged { .. } | Workflow::Closed { .. } => true,
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(self, Workflow::Closed { .. })
    }
}

/// What happened to an alert, as recorded in the alert log and notified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Fired,
    Escalated,
    Repeated,
    Resolved,
    /// A notice to the parcel's recipient (audience `customer`), at most one per
    /// parcel and rule.
    Notice,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Fired => "fired",
            AlertKind::Escalated => "escalated",
            AlertKind::Repeated => "repeated",
            AlertKind::Resolved => "resolved",
            AlertKind::Notice => "notice",
        }
    }
}

/// One notification-worthy alert transition. The key (shipment, rule, since, kind,
/// seq) is unique: inserting the same record twice is a no-op, which is how a retry
/// or a racing tracker is kept from notifying twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub shipment: ShipmentId,
    pub rule: Rule,
    /// When the condition began (identifies the episode).
    pub since: DateTime<Utc>,
    pub kind: AlertKind,
    /// Notification number within the episode (0 for the first).
    pub seq: u32,
    pub severity: Severity,
    /// When the transition was decided.
    pub at: DateTime<Utc>,
    /// Not to be delivered before this time (a customer notice held through quiet
    /// hours); `None` means at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_until: Option<DateTime<Utc>>,
}

impl AlertRecord {
    /// When the record becomes deliverable.
    pub fn deliver_at(&self) -> DateTime<Utc> {
        self.hold_until.map_or(self.at, |h| h.max(self.at))
    }

    /// Who it is for.
    pub fn audience(&self) -> Audience {
        if self.kind == AlertKind::Notice {
            Audience::Customer
        } else {
            Audience::Ops
        }
    }
}

/// Who a notification is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Ops,
    Customer,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Ops => "ops",
            Audience::Customer => "customer",
        }
    }
}

/// An alert transition someone owns (claimed in the alert log), with what a
/// message needs to say about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub record: AlertRecord,
    pub order_id: Option<String>,
    pub status: Status,
    pub last_event: Option<TrackingEvent>,
    /// The rule is in `CUSTOMER_NOTICE_RULES` and the shipment has a phone number
    /// (the recipient gets a notice too).
    pub notify_customer: bool,
    /// The recipient's phone, on customer notices only (never serialised: it goes
    /// to the SMS sender and nowhere else).
    #[serde(skip)]
    pub phone: Option<Phone>,
    /// Who has taken this problem (acknowledged or snoozed it), for "已认领：…".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The parcel's problems kept quiet by inhibition (`ALERT_INHIBIT`) and never
    /// told on their own: this message tells them with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub silenced: Vec<Silenced>,
}

/// A problem told within another one's notification (see [`Notification::silenced`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silenced {
    pub rule: Rule,
    pub severity: Severity,
    pub since: DateTime<Utc>,
}

impl Notification {
    /// What a notification of `record` says about `shipment` now;
    /// `customer_rule` is whether the rule's problems are told to the recipient
    /// (`RuleConfig::notifies_customer`).
    pub fn new(record: AlertRecord, shipment: &Shipment, customer_rule: bool) -> Self {
        let customer = record.audience() == Audience::Customer;
        let episode = shipment
            .alerts
            .get(&record.rule)
            .filter(|a| a.since == record.since);
        let owner = episode.and_then(|a| match &a.workflow {
            Workflow::Acknowledged { by, .. } | Workflow::Snoozed { by, .. } => Some(by.clone()),
            Workflow::Open | Workflow::Closed { .. } => None,
        });
        let silenced = if customer || record.kind == AlertKind::Resolved {
            Vec::new()
        } else {
            shipment
                .alerts
                .values()
                .filter(|a| {
                    a.rule != record.rule
                        && a.is_active()
                        && a.notifications == 0
                        && !a.workflow.is_closed()
                })
                .map(|a| Silenced {
                    rule: a.rule,
                    severity: a.severity,
                    since: a.since,
                })
                .collect()
        };
        Self {
            notify_customer: customer_rule
                && shipment.phone.is_some()
                && matches!(record.kind, AlertKind::Fired | AlertKind::Notice),
            phone: if customer {
                shipment.phone.clone()
            } else {
                None
            },
            order_id: shipment.order_id.clone(),
            status: shipment.status,
            last_event: shipment.timeline.last().cloned(),
            owner,
            silenced,
            record,
        }
    }

    pub fn audience(&self) -> Audience {
        self.record.audience()
    }

    /// The silenced problems this notification tells, as the records of their
    /// first telling (for scoring detection: the team heard of them here).
    pub fn silenced_records(&self) -> impl Iterator<Item = AlertRecord> + '_ {
        self.silenced.iter().map(|s| AlertRecord {
            shipment: self.record.shipment.clone(),
            rule: s.rule,
            since: s.since,
            kind: AlertKind::Fired,
            seq: 0,
            severity: s.severity,
            at: self.record.at,
            hold_until: None,
        })
    }
}
