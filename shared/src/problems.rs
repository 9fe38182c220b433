//! The problem workflow (issue 16, first slice): people acknowledge, snooze, close
//! and annotate alert episodes ("problems"). The state is kept on the shipment,
//! in each [`AlertState`]'s [`Workflow`] and history, so an action is one
//! conditional write of the shipment: of two people acting at once one wins, and
//! the other is answered with what the winner did ([`ProblemError::Taken`]). A
//! conflict with a tracker's write (not a person's) is retried on the fresh
//! shipment. What each state silences is decided by
//! [`crate::lifecycle::reconcile`].

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::time::{serialize_rfc3339 as rfc3339, serialize_rfc3339_opt as rfc3339_opt};

use crate::clip::clip;
use crate::config::QuietHours;
use crate::domain::{
    AlertKind, AlertRecord, AlertState, CarrierCode, ProblemEvent, Rule, Severity, Shipment,
    ShipmentId, Status, TrackingNumber, Workflow, HISTORY_KEPT,
};
use crate::ports::{AlertLog, Lease, ShipmentQuery, ShipmentReader, ShipmentWriter, StoreError};

/// Longest name of who acts, in characters.
pub const MAX_BY: usize = 64;
/// Longest note, in characters.
pub const MAX_NOTE: usize = 500;
/// Longest snooze.
pub const MAX_SNOOZE_HOURS: i64 = 24 * 30;
/// Conflicts with other writers retried before giving up.
const RETRIES: usize = 5;

/// What to do to a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Take it: no more repeats (an escalation still notifies).
    Ack,
    /// No repeats for this long.
    Snooze(Duration),
    /// Handled outside: the episode is over for the team (a note is required).
    Close,
    /// Only a note in the history.
    Note,
    /// Tell the recipient by hand ([`notify`]).
    Notify,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ack => "ack",
            Action::Snooze(_) => "snooze",
            Action::Close => "close",
            Action::Note => "note",
            Action::Notify => "notify",
        }
    }
}

/// Which problems of a parcel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Rule(Rule),
    /// Every open problem of the parcel (one action takes them all).
    All,
}

/// Why an action was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ProblemError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}: no such parcel")]
    NoParcel(ShipmentId),
    /// [`locate`] found no parcel of that number.
    #[error("{0}: no such parcel under any known carrier")]
    NoNumber(TrackingNumber),
    /// [`locate`] found that number under several carriers.
    #[error("{number} is known under {}; say which carrier", .carriers.join(", "))]
    Ambiguous {
        number: TrackingNumber,
        carriers: Vec<String>,
    },
    #[error("{id}: no open problem{}", match .rule { Some(r) => format!(" for {r}"), None => String::new() })]
    NoProblem { id: ShipmentId, rule: Option<Rule> },
    /// Someone else got there first: acknowledged or closed by `by` at `at`.
    #[error("{id} {rule}: already {state} by {by} at {}", crate::time::local_minutes(*.at))]
    Taken {
        id: ShipmentId,
        rule: Rule,
        state: &'static str,
        by: String,
        at: DateTime<Utc>,
    },
    /// The recipient was already told of this rule (one notice per parcel and rule).
    #[error("{id} {rule}: the recipient was already told at {}", crate::time::local_minutes(*.at))]
    AlreadyTold {
        id: ShipmentId,
        rule: Rule,
        at: DateTime<Utc>,
    },
    /// The parcel has no recipient's phone number.
    #[error("{0}: no phone number for the recipient; nobody can be told")]
    NoPhone(ShipmentId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One person's action on a problem, checked ([`Request::new`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub target: Target,
    pub action: Action,
    /// Who acts, trimmed.
    pub by: String,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

impl Request {
    /// Checks who acts and the note (see [`MAX_BY`], [`MAX_NOTE`]; closing and
    /// noting need a note; a snooze lasts a minute to [`MAX_SNOOZE_HOURS`]).
    pub fn new(
        target: Target,
        action: Action,
        by: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Self, ProblemError> {
        let (by, note) = validate(action, by, note)?;
        Ok(Self {
            target,
            action,
            by,
            note,
            at,
        })
    }
}

/// Carries out `req` on parcel `id`: one version-checked write of the shipment.
/// Returns the rules acted on.
pub async fn act<S: ShipmentReader + ShipmentWriter>(
    store: &S,
    id: &ShipmentId,
    req: &Request,
) -> Result<Vec<Rule>, ProblemError> {
    for _ in 0..=RETRIES {
        let Some(mut shipment) = store.get_shipment(id).await? else {
            return Err(ProblemError::NoParcel(id.clone()));
        };
        let rules = apply(id, &mut shipment.alerts, req)?;
        match store.put_shipment(&shipment).await {
            Ok(_) => return Ok(rules),
            // Someone wrote in between: read again, and judge again (a person's
            // action now shows as taken; a tracker's write is simply retried).
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProblemError::Store(StoreError::Backend(format!(
        "{id}: the parcel kept changing; try again"
    ))))
}

/// Tells the recipient of a problem by hand ([`Action::Notify`] on one rule): the
/// rule's customer notice, held through `quiet` hours like every notice, at most
/// one per parcel and rule (an earlier notice, sent by the tracker or by hand,
/// refuses it: [`ProblemError::AlreadyTold`]). The notice is claimed in the outbox
/// with the history entry, in one write, free at once: the next outbox pass sends
/// it (the scheduler's tick on AWS, the only function allowed to send SMS;
/// `sentinel run` on one machine). Returns the claimed record.
pub async fn notify<S: ShipmentReader + AlertLog>(
    store: &S,
    quiet: &QuietHours,
    id: &ShipmentId,
    req: &Request,
) -> Result<AlertRecord, ProblemError> {
    let Target::Rule(rule) = req.target else {
        return Err(ProblemError::Invalid(
            "notify: name one rule (the notice is that rule's)".into(),
        ));
    };
    if req.action != Action::Notify {
        return Err(ProblemError::Invalid(format!(
            "{}: not a notice",
            req.action.as_str()
        )));
    }
    for _ in 0..=RETRIES {
        let Some(mut shipment) = store.get_shipment(id).await? else {
            return Err(ProblemError::NoParcel(id.clone()));
        };
        if shipment.phone.is_none() {
            return Err(ProblemError::NoPhone(id.clone()));
        }
        let earlier = store.alerts_for(id).await?;
        if let Some(n) = earlier
            .iter()
            .find(|r| r.kind == AlertKind::Notice && r.rule == rule)
        {
            return Err(ProblemError::AlreadyTold {
                id: id.clone(),
                rule,
                at: n.at,
            });
        }
        apply(id, &mut shipment.alerts, req)?;
        let a = &shipment.alerts[&rule];
        let record = AlertRecord {
            shipment: id.clone(),
            rule,
            since: a.since,
            kind: AlertKind::Notice,
            seq: 0,
            severity: a.severity,
            at: req.at,
            hold_until: quiet.release(req.at),
        };
        let free_now = Lease::new(format!("notify:{}", req.by), req.at, Duration::zero());
        match store
            .commit_check(&shipment, std::slice::from_ref(&record), &free_now)
            .await
        {
            Ok(c) if c.inserted.first() == Some(&true) => return Ok(record),
            // The tracker told the recipient in between.
            Ok(_) => {
                return Err(ProblemError::AlreadyTold {
                    id: id.clone(),
                    rule,
                    at: req.at,
                })
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProblemError::Store(StoreError::Backend(format!(
        "{id}: the parcel kept changing; try again"
    ))))
}

fn validate(
    action: Action,
    by: &str,
    note: Option<&str>,
) -> Result<(String, Option<String>), ProblemError> {
    let by = by.trim();
    if by.is_empty() {
        return Err(ProblemError::Invalid("who acts (by) is required".into()));
    }
    if by.chars().count() > MAX_BY || by.chars().any(char::is_control) {
        return Err(ProblemError::Invalid(format!(
            "by: at most {MAX_BY} characters, no control characters: {:?}",
            clip(by)
        )));
    }
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if let Some(n) = note {
        if n.chars().count() > MAX_NOTE {
            return Err(ProblemError::Invalid(format!(
                "note: at most {MAX_NOTE} characters: {:?}",
                clip(n)
            )));
        }
    }
    match action {
        Action::Close | Action::Note if note.is_none() => Err(ProblemError::Invalid(format!(
            "{}: a note is required",
            action.as_str()
        ))),
        Action::Snooze(d) if d <= Duration::zero() || d > Duration::hours(MAX_SNOOZE_HOURS) => {
            Err(ProblemError::Invalid(format!(
                "snooze: between a minute and {MAX_SNOOZE_HOURS} hours"
            )))
        }
        _ => Ok((by.to_string(), note.map(str::to_string))),
    }
}

/// The pure part of [`act`]: changes the alert states, or says why not.
pub fn apply(
    id: &ShipmentId,
    alerts: &mut std::collections::BTreeMap<Rule, AlertState>,
    req: &Request,
) -> Result<Vec<Rule>, ProblemError> {
    let (target, action, now) = (req.target, req.action, req.at);
    let candidates: Vec<Rule> = match target {
        Target::Rule(r) => match alerts.get(&r) {
            Some(a) if a.is_active() => vec![r],
            _ => {
                return Err(ProblemError::NoProblem {
                    id: id.clone(),
                    rule: Some(r),
                })
            }
        },
        // Every open problem; those closed by hand are over.
        Target::All => alerts
            .values()
            .filter(|a| a.is_active() && !a.workflow.is_closed())
            .map(|a| a.rule)
            .collect(),
    };
    let Some(&first) = candidates.first() else {
        return Err(ProblemError::NoProblem {
            id: id.clone(),
            rule: None,
        });
    };
    let mut rules = Vec::with_capacity(candidates.len());
    for r in &candidates {
        match taken(id, &alerts[r], action) {
            // With `all`, what someone already has is left to them.
            Some(_) if target == Target::All => {}
            Some(e) => return Err(e),
            None => rules.push(*r),
        }
    }
    if rules.is_empty() {
        // `all`, and every one was already taken: say by whom.
        return Err(
            taken(id, &alerts[&first], action).unwrap_or(ProblemError::NoProblem {
                id: id.clone(),
                rule: None,
            }),
        );
    }
    for r in &rules {
        let Some(a) = alerts.get_mut(r) else { continue };
        let by = req.by.clone();
        match action {
            Action::Ack => {
                a.workflow = Workflow::Acknowledged {
                    by: by.clone(),
                    at: now,
                }
            }
            Action::Snooze(d) => {
                a.workflow = Workflow::Snoozed {
                    by: by.clone(),
                    at: now,
                    until: now + d,
                }
            }
            Action::Close => {
                a.workflow = Workflow::Closed {
                    by: by.clone(),
                    at: now,
                }
            }
            Action::Note | Action::Notify => {}
        }
        a.history.push(ProblemEvent {
            at: now,
            by,
            action: action.as_str().to_string(),
            note: req.note.clone(),
        });
        if a.history.len() > HISTORY_KEPT {
            let extra = a.history.len() - HISTORY_KEPT;
            a.history.drain(..extra);
        }
    }
    Ok(rules)
}

/// Whether `action` on `a` comes too late: acknowledging what someone has
/// acknowledged, or acting on what someone has closed.
fn taken(id: &ShipmentId, a: &AlertState, action: Action) -> Option<ProblemError> {
    let (state, by, at) = match (&a.workflow, action) {
        (
            Workflow::Closed { by, at },
            Action::Ack | Action::Snooze(_) | Action::Close | Action::Notify,
        ) => ("closed", by, at),
        (Workflow::Acknowledged { by, at }, Action::Ack) => ("acknowledged", by, at),
        _ => return None,
    };
    Some(ProblemError::Taken {
        id: id.clone(),
        rule: a.rule,
        state,
        by: by.clone(),
        at: *at,
    })
}

/// A problem's state as people see it at `now`: `open`, `acknowledged`,
/// `snoozed` (until its end; then `open` again) or `closed`.
pub fn state_at(w: &Workflow, now: DateTime<Utc>) -> &'static str {
    match w {
        Workflow::Open => "open",
        Workflow::Acknowledged { .. } => "acknowledged",
        Workflow::Snoozed { until, .. } if now < *until => "snoozed",
        Workflow::Snoozed { .. } => "open",
        Workflow::Closed { .. } => "closed",
    }
}

/// The states [`queue`] can show.
pub const STATES: [&str; 5] = ["open", "acknowledged", "snoozed", "closed", "all"];

/// Which problems [`queue`] shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// One of [`STATES`] but `all`; `None` = every state.
    pub state: Option<&'static str>,
    pub rule: Option<Rule>,
    pub carrier: Option<CarrierCode>,
    pub severity: Option<Severity>,
    /// Who took it (acknowledged, snoozed or closed it), compared without case.
    pub owner: Option<String>,
}

impl QueueFilter {
    /// `state` as given by a person (`open`, ..., `all`).
    pub fn with_state(mut self, state: &str) -> Result<Self, ProblemError> {
        let s = state.trim().to_ascii_lowercase();
        self.state = match STATES.iter().find(|k| **k == s) {
            Some(&"all") => None,
            Some(k) => Some(*k),
            None => {
                return Err(ProblemError::Invalid(format!(
                    "state: one of {}, not {:?}",
                    STATES.join(", "),
                    clip(state)
                )))
            }
        };
        Ok(self)
    }

    /// `severity` as given by a person (`warning` or `critical`).
    pub fn with_severity(mut self, severity: &str) -> Result<Self, ProblemError> {
        self.severity = Some(Severity::parse(severity).ok_or_else(|| {
            ProblemError::Invalid(format!(
                "severity: warning or critical, not {:?}",
                clip(severity)
            ))
        })?);
        Ok(self)
    }

    /// `owner` as given by a person (at most [`MAX_BY`] characters are compared).
    pub fn with_owner(mut self, owner: &str) -> Self {
        self.owner = Some(owner.trim().chars().take(MAX_BY).collect());
        self
    }
}

/// One problem of a parcel, as shown to people (CLI `problems --json`, the
/// console API). Times are RFC 3339 in China time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProblemView {
    pub rule: Rule,
    pub severity: Severity,
    #[serde(serialize_with = "rfc3339")]
    pub since: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub fired_at: DateTime<Utc>,
    pub notifications: u32,
    pub state: &'static str,
    /// Who acknowledged, snoozed or closed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339_opt"
    )]
    pub at: Option<DateTime<Utc>>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339_opt"
    )]
    pub until: Option<DateTime<Utc>>,
    pub history: Vec<EventView>,
}

/// One entry of a problem's history, as shown to people.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventView {
    #[serde(serialize_with = "rfc3339")]
    pub at: DateTime<Utc>,
    pub by: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ProblemView {
    pub fn new(a: &AlertState, now: DateTime<Utc>) -> Self {
        let (by, at, until) = match &a.workflow {
            Workflow::Open => (None, None, None),
            Workflow::Acknowledged { by, at } | Workflow::Closed { by, at } => {
                (Some(by.clone()), Some(*at), None)
            }
            Workflow::Snoozed { by, at, until } => (Some(by.clone()), Some(*at), Some(*until)),
        };
        Self {
            rule: a.rule,
            severity: a.severity,
            since: a.since,
            fired_at: a.fired_at,
            notifications: a.notifications,
            state: state_at(&a.workflow, now),
            by,
            at,
            until,
            history: a
                .history
                .iter()
                .map(|e| EventView {
                    at: e.at,
                    by: e.by.clone(),
                    action: e.action.clone(),
                    note: e.note.clone(),
                })
                .collect(),
        }
    }
}

/// Every active problem of a parcel (closed ones included), by rule.
pub fn views(s: &Shipment, now: DateTime<Utc>) -> Vec<ProblemView> {
    s.alerts
        .values()
        .filter(|a| a.is_active())
        .map(|a| ProblemView::new(a, now))
        .collect()
}

/// One item of work: a parcel with its problems (one parcel's concurrent
/// problems are taken together).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueItem {
    pub carrier: String,
    pub tracking_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub status: Status,
    pub problems: Vec<ProblemView>,
}

impl QueueItem {
    /// When its oldest problem began.
    pub fn since(&self) -> Option<DateTime<Utc>> {
        self.problems.iter().map(|p| p.since).min()
    }
}

/// The parcel's problems that pass `filter` (the active episodes; `closed`
/// ones only when asked for), oldest first; `None` when none do.
pub fn queue_item(s: &Shipment, filter: &QueueFilter, now: DateTime<Utc>) -> Option<QueueItem> {
    let mut problems: Vec<ProblemView> = s
        .alerts
        .values()
        .filter(|a| a.is_active())
        .filter(|a| filter.rule.is_none_or(|r| r == a.rule))
        .filter(|a| filter.severity.is_none_or(|v| v == a.severity))
        .map(|a| ProblemView::new(a, now))
        .filter(|p| filter.state.is_none_or(|st| st == p.state))
        .filter(|p| {
            filter.owner.as_deref().is_none_or(|o| {
                p.by.as_deref()
                    .is_some_and(|by| by.trim().eq_ignore_ascii_case(o.trim()))
            })
        })
        .collect();
    if problems.is_empty() {
        return None;
    }
    problems.sort_by_key(|p| (p.since, p.rule));
    Some(QueueItem {
        carrier: s.id.carrier.as_str().to_string(),
        tracking_number: s.id.tracking_number.as_str().to_string(),
        order_id: s.order_id.clone(),
        status: s.status,
        problems,
    })
}

/// The problem queue: every parcel with a problem passing `filter`, the one
/// whose oldest such problem began first at the head; at most `limit` parcels.
///
/// It reads the store's problem index ([`ShipmentQuery::problem_shipments`]) in
/// its order and stops as soon as nothing unread can come before what it shows: a
/// parcel's shown problems never began before its index key, so once `limit`
/// parcels are found and the index has passed the last one's start, the page is
/// final. The unfiltered queue reads one index page.
pub async fn queue<S: ShipmentQuery>(
    store: &S,
    filter: &QueueFilter,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<QueueItem>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut items: Vec<QueueItem> = Vec::new();
    let mut cursor: Option<String> = None;
    let order = |a: &QueueItem, b: &QueueItem| {
        (a.since(), &a.carrier, &a.tracking_number).cmp(&(
            b.since(),
            &b.carrier,
            &b.tracking_number,
        ))
    };
    let page_size = limit.clamp(100, 500);
    loop {
        let page = store
            .problem_shipments(cursor.as_deref(), page_size)
            .await?;
        items.extend(
            page.items
                .iter()
                .filter(|s| filter.carrier.as_ref().is_none_or(|c| &s.id.carrier == c))
                .filter_map(|s| queue_item(s, filter, now)),
        );
        items.sort_by(order);
        items.truncate(limit);
        let read_past = page.items.last().and_then(crate::tally::problem_since);
        let full = items.len() >= limit
            && items
                .last()
                .and_then(QueueItem::since)
                .zip(read_past)
                .is_some_and(|(last, read)| read >= last);
        match page.next {
            Some(next) if !full => cursor = Some(next),
            _ => return Ok(items),
        }
    }
}

/// The parcel a person means by `number` (and `carrier`, if given), as
/// `sentinel track` does: the stored parcel of that number when it is known under
/// one carrier; otherwise an error naming the candidates.
pub async fn locate<S: ShipmentReader>(
    store: &S,
    number: &str,
    carrier: Option<&str>,
) -> Result<Shipment, ProblemError> {
    let invalid = |e: crate::domain::DomainError| ProblemError::Invalid(e.to_string());
    let number = TrackingNumber::parse(number).map_err(invalid)?;
    let codes: Vec<CarrierCode> = match carrier {
        Some(c) => vec![CarrierCode::parse(c).map_err(invalid)?],
        None => crate::normalise::carriers::codes()
            .filter_map(|c| CarrierCode::parse(c).ok())
            .collect(),
    };
    let mut found = Vec::new();
    for c in &codes {
        let id = ShipmentId::new(c.clone(), number.clone());
        if let Some(s) = store.get_shipment(&id).await? {
            found.push(s);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(match carrier {
            Some(_) => match codes.into_iter().next() {
                Some(c) => ProblemError::NoParcel(ShipmentId::new(c, number)),
                None => ProblemError::NoNumber(number),
            },
            None => ProblemError::NoNumber(number),
        }),
        _ => Err(ProblemError::Ambiguous {
            number,
            carriers: found
                .iter()
                .map(|s| s.id.carrier.as_str().to_string())
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Severity;
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 11, 11, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn id() -> ShipmentId {
        ShipmentId::parse("ZTO", "75312345678901").unwrap()
    }

    fn active(rule: Rule) -> AlertState {
        AlertState::fired(rule, Severity::Warning, t(0), t(1))
    }

    fn alerts(rules: &[Rule]) -> BTreeMap<Rule, AlertState> {
        rules.iter().map(|r| (*r, active(*r))).collect()
    }

    fn run(
        a: &mut BTreeMap<Rule, AlertState>,
        target: Target,
        action: Action,
        by: &str,
    ) -> Result<Vec<Rule>, ProblemError> {
        apply(
            &id(),
            a,
            &Request::new(target, action, by, Some("n"), t(5)).unwrap(),
        )
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let bad = |action, by: &str, note: Option<&str>| match validate(action, by, note) {
            Err(ProblemError::Invalid(m)) => m,
            other => panic!("{action:?} {by:?} {note:?} must be refused, got {other:?}"),
        };
        assert!(bad(Action::Ack, "  ", None).contains("by"));
        assert!(bad(Action::Ack, &"x".repeat(MAX_BY + 1), None).contains("at most"));
        assert!(bad(Action::Ack, "a\nb", None).contains("control"));
        assert!(bad(Action::Close, "ops", None).contains("note is required"));
        assert!(bad(Action::Note, "ops", Some("   ")).contains("note is required"));
        assert!(bad(Action::Ack, "ops", Some(&"长".repeat(MAX_NOTE + 1))).contains("note"));
        assert!(bad(Action::Snooze(Duration::zero()), "ops", None).contains("snooze"));
        assert!(bad(
            Action::Snooze(Duration::hours(MAX_SNOOZE_HOURS + 1)),
            "ops",
            None
        )
        .contains("snooze"));
        assert_eq!(
            validate(Action::Close, " 张三 ", Some(" 已重发 ")).unwrap(),
            ("张三".to_string(), Some("已重发".to_string()))
        );
    }

    #[test]
    fn each_action_sets_its_state_and_is_kept_in_the_history() {
        let mut a = alerts(&[Rule::Stalled]);
        let s = Target::Rule(Rule::Stalled);
        run(&mut a, s, Action::Note, "ops").unwrap();
        assert!(
            a[&Rule::Stalled].workflow.is_open(),
            "a note changes no state"
        );
        run(&mut a, s, Action::Snooze(Duration::hours(4)), "ops").unwrap();
        assert_eq!(
            a[&Rule::Stalled].workflow,
            Workflow::Snoozed {
                by: "ops".into(),
                at: t(5),
                until: t(9)
            }
        );
        run(&mut a, s, Action::Ack, "ops").unwrap();
        run(&mut a, s, Action::Close, "ops").unwrap();
        assert!(a[&Rule::Stalled].workflow.is_closed());
        let actions: Vec<_> = a[&Rule::Stalled]
            .history
            .iter()
            .map(|e| e.action.as_str())
            .collect();
        assert_eq!(actions, ["note", "snooze", "ack", "close"]);
    }

    #[test]
    fn late_actions_are_told_who_was_first() {
        let mut a = alerts(&[Rule::Stalled]);
        let s = Target::Rule(Rule::Stalled);
        run(&mut a, s, Action::Ack, "alice").unwrap();
        match run(&mut a, s, Action::Ack, "bob") {
            Err(ProblemError::Taken { state, by, at, .. }) => {
                assert_eq!((state, by.as_str(), at), ("acknowledged", "alice", t(5)))
            }
            other => panic!("{other:?}"),
        }
        // Someone who has it may still snooze, note or close it.
        run(&mut a, s, Action::Snooze(Duration::hours(1)), "bob").unwrap();
        run(&mut a, s, Action::Close, "bob").unwrap();
        for late in [
            Action::Ack,
            Action::Close,
            Action::Snooze(Duration::hours(1)),
        ] {
            assert!(
                matches!(
                    run(&mut a, s, late, "carol"),
                    Err(ProblemError::Taken {
                        state: "closed",
                        ..
                    })
                ),
                "{late:?} on a closed problem"
            );
        }
        // A note on a closed problem is still kept.
        run(&mut a, s, Action::Note, "carol").unwrap();
        assert_eq!(a[&Rule::Stalled].history.len(), 4);
    }

    #[test]
    fn all_takes_every_open_problem_and_leaves_what_others_have() {
        let mut a = alerts(&[Rule::NoPickup, Rule::NoTrace, Rule::Stalled]);
        a.get_mut(&Rule::Stalled).unwrap().resolved_at = Some(t(2));
        run(&mut a, Target::Rule(Rule::NoTrace), Action::Ack, "alice").unwrap();
        let took = run(&mut a, Target::All, Action::Ack, "bob").unwrap();
        assert_eq!(took, [Rule::NoPickup], "resolved and taken ones are left");
        match run(&mut a, Target::All, Action::Ack, "carol") {
            Err(ProblemError::Taken { by, .. }) => assert_eq!(by, "bob"),
            other => panic!("{other:?}"),
        }
        let closed = run(&mut a, Target::All, Action::Close, "bob").unwrap();
        assert_eq!(closed, [Rule::NoPickup, Rule::NoTrace]);
        assert!(matches!(
            run(&mut a, Target::All, Action::Ack, "bob"),
            Err(ProblemError::NoProblem { rule: None, .. })
        ));
        assert!(matches!(
            run(&mut a, Target::Rule(Rule::Stalled), Action::Ack, "bob"),
            Err(ProblemError::NoProblem {
                rule: Some(Rule::Stalled),
                ..
            })
        ));
    }

    #[test]
    fn the_history_keeps_the_newest() {
        let mut a = alerts(&[Rule::Stalled]);
        for _ in 0..HISTORY_KEPT + 7 {
            run(&mut a, Target::Rule(Rule::Stalled), Action::Note, "ops").unwrap();
        }
        assert_eq!(a[&Rule::Stalled].history.len(), HISTORY_KEPT);
    }

    #[tokio::test]
    async fn locate_takes_the_one_stored_carrier_or_names_the_candidates() {
        use crate::ports::ShipmentWriter;
        let store = crate::store::memory::MemoryStore::new();
        let put = |carrier: &str| {
            Shipment::new(ShipmentId::parse(carrier, "75312345678901").unwrap(), t(0))
        };
        assert!(matches!(
            locate(&store, "75312345678901", None).await,
            Err(ProblemError::NoNumber(n)) if n.as_str() == "75312345678901"
        ));
        assert!(matches!(
            locate(&store, "75312345678901", Some("SF")).await,
            Err(ProblemError::NoParcel(id)) if id.carrier.as_str() == "SF"
        ));
        store.put_shipment(&put("ZTO")).await.unwrap();
        let found = locate(&store, " 75312345678901 ", None).await.unwrap();
        assert_eq!(found.id.carrier.as_str(), "ZTO");
        store.put_shipment(&put("YD")).await.unwrap();
        match locate(&store, "75312345678901", None).await {
            Err(e @ ProblemError::Ambiguous { .. }) => {
                let m = e.to_string();
                assert!(m.contains("ZTO") && m.contains("YD"), "{m}");
                let ProblemError::Ambiguous { mut carriers, .. } = e else {
                    unreachable!()
                };
                carriers.sort();
                assert_eq!(carriers, ["YD", "ZTO"]);
            }
            other => panic!("{other:?}"),
        }
        let found = locate(&store, "75312345678901", Some("yd")).await.unwrap();
        assert_eq!(found.id.carrier.as_str(), "YD");
        assert!(locate(&store, "7", None).await.is_err(), "a bad number");
    }
}
