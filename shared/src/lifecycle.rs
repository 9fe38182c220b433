//! The alert lifecycle, borrowed from Prometheus Alertmanager.
//!
//! An alert is keyed by (shipment, rule). It *fires* once when a finding appears,
//! may *escalate* (warning → critical), is *resolved* when the condition clears, and
//! is re-notified only after the repeat interval. A condition that comes back with
//! a new `since` is a new episode and fires again.
//!
//! [`reconcile`] is a pure function of (alert state, findings, now): every
//! transition it returns carries a key (shipment, rule, since, kind, seq) that the
//! alert log stores insert-if-absent, so duplicate events, retries and racing
//! trackers never notify twice for the same state.

use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

use crate::domain::AlertKind;
use crate::domain::AlertState;
use crate::domain::{Rule, Severity};
use crate::inhibit::Inhibitions;
use crate::rules::{Finding, PastEvent};

/// One change of an alert that is worth a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub rule: Rule,
    pub kind: AlertKind,
    pub severity: Severity,
    pub since: DateTime<Utc>,
    /// Notification number within the episode (0 = the first firing).
    pub seq: u32,
    /// A problem told after a later trace had already superseded it
    /// ([`tell_past`]): worth telling the team, too late to tell the customer.
    pub already_over: bool,
}

/// Updates `alerts` for `findings` at `now` and returns the transitions to notify,
/// in rule order, with no inhibition ([`reconcile_with`]).
pub fn reconcile(
    alerts: &mut BTreeMap<Rule, AlertState>,
    findings: &[Finding],
    now: DateTime<Utc>,
    repeat: Duration,
) -> Vec<Transition> {
    reconcile_with(alerts, findings, now, repeat, &Inhibitions::none())
}

/// [`reconcile`] under `inhibit`: a finding silenced by another finding of the
/// parcel is kept as an alert (a problem) without a notification. An episode
/// nobody was told of (`notifications == 0`) fires when its silencer clears while
/// it still holds, and resolves silently; one already told before the silencer
/// came stays quiet (no repeat, no escalation) while silenced.
pub fn reconcile_with(
    alerts: &mut BTreeMap<Rule, AlertState>,
    findings: &[Finding],
    now: DateTime<Utc>,
    repeat: Duration,
    inhibit: &Inhibitions,
) -> Vec<Transition> {
    let mut out = Vec::new();
    for f in findings {
        let notify = |kind, seq| Transition {
            rule: f.rule,
            kind,
            severity: f.severity,
            since: f.since,
            seq,
            already_over: false,
        };
        let silenced = inhibit.silences(f.rule, |r| findings.iter().any(|g| g.rule == r));
        match alerts.get_mut(&f.rule) {
            Some(a) if a.is_active() && a.since == f.since => {
                if a.workflow.is_closed() || silenced {
                    // Closed by hand: silent until the condition clears.
                    // Silenced: kept, told later if it outlasts its silencer.
                } else if a.notifications == 0 {
                    // Its silencer cleared: the team hears of it now.
                    out.push(notify(AlertKind::Fired, 0));
                    a.severity = f.severity;
                    a.last_notified_at = now;
                    a.notifications = 1;
                } else if f.severity > a.severity {
                    out.push(notify(AlertKind::Escalated, a.notifications));
                    a.severity = f.severity;
                    a.last_notified_at = now;
                    a.notifications += 1;
                } else if !a.workflow.silences_repeats(now) && now - a.last_notified_at >= repeat {
                    out.push(notify(AlertKind::Repeated, a.notifications));
                    a.last_notified_at = now;
                    a.notifications += 1;
                }
            }
            _ => {
                if !silenced {
                    out.push(notify(AlertKind::Fired, 0));
                }
                let mut a = AlertState::fired(f.rule, f.severity, f.since, now);
                a.notifications = u32::from(!silenced);
                alerts.insert(f.rule, a);
            }
        }
    }
    for a in alerts.values_mut() {
        if a.is_active() && !findings.iter().any(|f| f.rule == a.rule) {
            let t = resolve(a, now);
            // A problem closed by hand was already over for the team; one never
            // told (silenced throughout) is news to nobody.
            if !a.workflow.is_closed() && a.notifications > 0 {
                out.push(t);
            }
        }
    }
    out.sort_by_key(|t| t.rule);
    out
}

/// Tells the problems the carrier reported that were superseded before anyone saw
/// them as the newest status ([`PastEvent`]): each one not told yet (no alert of
/// its rule with the same or a later `since`) fires and resolves at once, so the
/// message says what happened and that it is over. An older alert of the same
/// rule still active is resolved first. Call before [`reconcile`].
pub fn tell_past(
    alerts: &mut BTreeMap<Rule, AlertState>,
    past: &[PastEvent],
    now: DateTime<Utc>,
) -> Vec<Transition> {
    let mut out = Vec::new();
    for p in past {
        match alerts.get_mut(&p.rule) {
            Some(a) if a.since >= p.since => continue,
            Some(a) if a.is_active() => out.push(resolve(a, now)),
            _ => {}
        }
        let mut a = AlertState::fired(p.rule, Severity::Warning, p.since, now);
        out.push(Transition {
            rule: p.rule,
            kind: AlertKind::Fired,
            severity: a.severity,
            since: p.since,
            seq: 0,
            already_over: true,
        });
        out.push(Transition {
            already_over: true,
            ..resolve(&mut a, now)
        });
        alerts.insert(p.rule, a);
    }
    out
}

/// Resolves alert `a` at `now`: the transition to notify.
fn resolve(a: &mut AlertState, now: DateTime<Utc>) -> Transition {
    a.resolved_at = Some(now);
    Transition {
        rule: a.rule,
        kind: AlertKind::Resolved,
        severity: a.severity,
        since: a.since,
        seq: a.notifications,
        already_over: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Workflow;
    use crate::rules::hours;

    fn t(h: f64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + hours(h)
    }

    fn stalled(sev: Severity, since: f64) -> Finding {
        Finding {
            rule: Rule::Stalled,
            severity: sev,
            since: t(since),
        }
    }

    fn kinds(ts: &[Transition]) -> Vec<(Rule, AlertKind, Severity, u32)> {
        ts.iter()
            .map(|t| (t.rule, t.kind, t.severity, t.seq))
            .collect()
    }

    #[test]
    fn fires_once_then_stays_quiet_until_the_repeat_interval() {
        let mut a = BTreeMap::new();
        let repeat = hours(24.0);
        let f = [stalled(Severity::Warning, 0.0)];
        let first = reconcile(&mut a, &f, t(48.0), repeat);
        assert_eq!(
            kinds(&first),
            [(Rule::Stalled, AlertKind::Fired, Severity::Warning, 0)]
        );
        // Same finding again (a duplicate event, a retry): nothing.
        assert!(reconcile(&mut a, &f, t(48.0), repeat).is_empty());
        assert!(reconcile(&mut a, &f, t(71.9), repeat).is_empty());
        // After the repeat interval: one reminder, then quiet again.
        let again = reconcile(&mut a, &f, t(72.0), repeat);
        assert_eq!(
            kinds(&again),
            [(Rule::Stalled, AlertKind::Repeated, Severity::Warning, 1)]
        );
        assert!(reconcile(&mut a, &f, t(80.0), repeat).is_empty());
    }

    fn set(a: &mut BTreeMap<Rule, AlertState>, w: Workflow) {
        a.get_mut(&Rule::Stalled).unwrap().workflow = w;
    }

    #[test]
    fn an_acknowledged_problem_stops_repeating_but_still_escalates() {
        let mut a = BTreeMap::new();
        let repeat = hours(24.0);
        let warning = [stalled(Severity::Warning, 0.0)];
        reconcile(&mut a, &warning, t(48.0), repeat);
        let by = "张三".to_string();
        set(
            &mut a,
            Workflow::Acknowledged {
                by: by.clone(),
                at: t(50.0),
            },
        );
        assert!(reconcile(&mut a, &warning, t(72.0), repeat).is_empty());
        assert!(reconcile(&mut a, &warning, t(200.0), repeat).is_empty());
        let up = reconcile(
            &mut a,
            &[stalled(Severity::Critical, 0.0)],
            t(201.0),
            repeat,
        );
        assert_eq!(
            kinds(&up),
            [(Rule::Stalled, AlertKind::Escalated, Severity::Critical, 1)]
        );
        assert_eq!(
            a[&Rule::Stalled].workflow,
            Workflow::Acknowledged { by, at: t(50.0) }
        );
        // Resolution is still told.
        let gone = reconcile(&mut a, &[], t(202.0), repeat);
        assert_eq!(
            kinds(&gone),
            [(Rule::Stalled, AlertKind::Resolved, Severity::Critical, 2)]
        );
    }

    #[test]
    fn a_snoozed_problem_repeats_again_once_the_snooze_ends() {
        let mut a = BTreeMap::new();
        let repeat = hours(24.0);
        let f = [stalled(Severity::Warning, 0.0)];
        reconcile(&mut a, &f, t(48.0), repeat);
        set(
            &mut a,
            Workflow::Snoozed {
                by: "ops".into(),
                at: t(49.0),
                until: t(100.0),
            },
        );
        assert!(reconcile(&mut a, &f, t(72.0), repeat).is_empty());
        assert!(reconcile(&mut a, &f, t(99.9), repeat).is_empty());
        let again = reconcile(&mut a, &f, t(100.0), repeat);
        assert_eq!(
            kinds(&again),
            [(Rule::Stalled, AlertKind::Repeated, Severity::Warning, 1)]
        );
    }

    #[test]
    fn a_problem_closed_by_hand_is_silent_until_it_returns_as_a_new_episode() {
        let mut a = BTreeMap::new();
        let repeat = hours(24.0);
        reconcile(&mut a, &[stalled(Severity::Warning, 0.0)], t(48.0), repeat);
        set(
            &mut a,
            Workflow::Closed {
                by: "ops".into(),
                at: t(49.0),
            },
        );
        assert!(reconcile(&mut a, &[stalled(Severity::Warning, 0.0)], t(100.0), repeat).is_empty());
        assert!(reconcile(
            &mut a,
            &[stalled(Severity::Critical, 0.0)],
            t(101.0),
            repeat
        )
        .is_empty());
        // The condition clears: resolved, silently (it was over for the team).
        assert!(reconcile(&mut a, &[], t(102.0), repeat).is_empty());
        assert_eq!(a[&Rule::Stalled].resolved_at, Some(t(102.0)));
        // It comes back: a new episode, open, told.
        let back = reconcile(
            &mut a,
            &[stalled(Severity::Warning, 102.5)],
            t(150.0),
            repeat,
        );
        assert_eq!(
            kinds(&back),
            [(Rule::Stalled, AlertKind::Fired, Severity::Warning, 0)]
        );
        assert!(a[&Rule::Stalled].workflow.is_open());
    }

    #[test]
    fn the_stored_form_of_an_open_problem_is_unchanged() {
        let mut a = BTreeMap::new();
        reconcile(
            &mut a,
            &[stalled(Severity::Warning, 0.0)],
            t(48.0),
            hours(24.0),
        );
        let open = serde_json::to_value(&a[&Rule::Stalled]).unwrap();
        assert!(open.get("workflow").is_none(), "{open}");
        set(
            &mut a,
            Workflow::Snoozed {
                by: "ops".into(),
                at: t(49.0),
                until: t(60.0),
            },
        );
        let snoozed = serde_json::to_value(&a[&Rule::Stalled]).unwrap();
        assert_eq!(snoozed["workflow"]["state"], "snoozed", "{snoozed}");
        let back: AlertState = serde_json::from_value(snoozed).unwrap();
        assert_eq!(back, a[&Rule::Stalled]);
    }

    #[test]
    fn escalates_once() {
        let mut a = BTreeMap::new();
        let repeat = hours(100.0);
        reconcile(&mut a, &[stalled(Severity::Warning, 0.0)], t(48.0), repeat);
        let up = reconcile(&mut a, &[stalled(Severity::Critical, 0.0)], t(96.0), repeat);
        assert_eq!(
            kinds(&up),
            [(Rule::Stalled, AlertKind::Escalated, Severity::Critical, 1)]
        );
        assert!(reconcile(&mut a, &[stalled(Severity::Critical, 0.0)], t(97.0), repeat).is_empty());
        assert_eq!(a[&Rule::Stalled].severity, Severity::Critical);
        assert_eq!(a[&Rule::Stalled].fired_at, t(48.0));
    }

    #[test]
    fn resolves_when_the_condition_clears_and_refires_as_a_new_episode() {
        let mut a = BTreeMap::new();
        let repeat = hours(24.0);
        reconcile(&mut a, &[stalled(Severity::Warning, 0.0)], t(48.0), repeat);
        let gone = reconcile(&mut a, &[], t(50.0), repeat);
        assert_eq!(
            kinds(&gone),
            [(Rule::Stalled, AlertKind::Resolved, Severity::Warning, 1)]
        );
        assert_eq!(a[&Rule::Stalled].resolved_at, Some(t(50.0)));
        assert!(
            reconcile(&mut a, &[], t(60.0), repeat).is_empty(),
            "resolved once"
        );
        // The parcel stalls again later: a new episode with a new since.
        let back = reconcile(&mut a, &[stalled(Severity::Warning, 50.0)], t(98.0), repeat);
        assert_eq!(
            kinds(&back),
            [(Rule::Stalled, AlertKind::Fired, Severity::Warning, 0)]
        );
        assert_eq!(back[0].since, t(50.0));
        assert!(a[&Rule::Stalled].is_active());
    }

    #[test]
    fn a_new_since_on_an_active_alert_is_a_new_episode() {
        let mut a = BTreeMap::new();
        let repeat = hours(24.0);
        reconcile(
            &mut a,
            &[stalled(Severity::Critical, 0.0)],
            t(100.0),
            repeat,
        );
        // A very late poll: a new trace at 10 h arrived, and it is itself 90 h old.
        let next = reconcile(
            &mut a,
            &[stalled(Severity::Warning, 10.0)],
            t(100.5),
            repeat,
        );
        assert_eq!(
            kinds(&next),
            [(Rule::Stalled, AlertKind::Fired, Severity::Warning, 0)]
        );
    }

    #[test]
    fn several_rules_are_independent_and_ordered() {
        let mut a = BTreeMap::new();
        let repeat = hours(24.0);
        let both = [
            Finding {
                rule: Rule::HubDwell,
                severity: Severity::Warning,
                since: t(0.0),
            },
            stalled(Severity::Warning, 0.0),
        ];
        let fired = reconcile(&mut a, &both, t(48.0), repeat);
        assert_eq!(
            kinds(&fired),
            [
                (Rule::Stalled, AlertKind::Fired, Severity::Warning, 0),
                (Rule::HubDwell, AlertKind::Fired, Severity::Warning, 0),
            ]
        );
        let one_left = reconcile(&mut a, &both[1..], t(49.0), repeat);
        assert_eq!(
            kinds(&one_left),
            [(Rule::HubDwell, AlertKind::Resolved, Severity::Warning, 1)]
        );
    }

    fn finding(rule: Rule, since: f64) -> Finding {
        Finding {
            rule,
            severity: Severity::Warning,
            since: t(since),
        }
    }

    #[test]
    fn a_silenced_finding_is_kept_and_told_only_if_it_outlasts_its_silencer() {
        let (mut a, repeat, inhibit) = (BTreeMap::new(), hours(24.0), Inhibitions::default());
        let both = [finding(Rule::NoPickup, 0.0), finding(Rule::NoTrace, 0.0)];
        // One message for the parcel, both problems kept.
        let fired = reconcile_with(&mut a, &both, t(24.0), repeat, &inhibit);
        assert_eq!(
            kinds(&fired),
            [(Rule::NoTrace, AlertKind::Fired, Severity::Warning, 0)]
        );
        assert!(a[&Rule::NoPickup].is_active());
        assert_eq!(a[&Rule::NoPickup].notifications, 0);
        // No repeat of the silenced one either.
        let again = reconcile_with(&mut a, &both, t(48.0), repeat, &inhibit);
        assert_eq!(
            kinds(&again),
            [(Rule::NoTrace, AlertKind::Repeated, Severity::Warning, 1)]
        );
        // A first scan that is not a pickup: no_trace clears, no_pickup holds and
        // is told now, as a first notice.
        let after = reconcile_with(&mut a, &both[..1], t(50.0), repeat, &inhibit);
        assert_eq!(
            kinds(&after),
            [
                (Rule::NoPickup, AlertKind::Fired, Severity::Warning, 0),
                (Rule::NoTrace, AlertKind::Resolved, Severity::Warning, 2),
            ]
        );
        let quiet = reconcile_with(&mut a, &both[..1], t(51.0), repeat, &inhibit);
        assert!(quiet.is_empty(), "{quiet:?}");
    }

    #[test]
    fn a_silenced_finding_that_clears_with_its_silencer_is_never_told() {
        let (mut a, repeat, inhibit) = (BTreeMap::new(), hours(24.0), Inhibitions::default());
        let both = [finding(Rule::NoPickup, 0.0), finding(Rule::NoTrace, 0.0)];
        reconcile_with(&mut a, &both, t(24.0), repeat, &inhibit);
        // Picked up: both clear; the team hears one resolution.
        let cleared = reconcile_with(&mut a, &[], t(30.0), repeat, &inhibit);
        assert_eq!(
            kinds(&cleared),
            [(Rule::NoTrace, AlertKind::Resolved, Severity::Warning, 1)]
        );
        assert!(!a[&Rule::NoPickup].is_active());
        // Without inhibition both are told (the findings are what DESIGN says).
        let mut b = BTreeMap::new();
        assert_eq!(reconcile(&mut b, &both, t(24.0), repeat).len(), 2);
    }

    #[test]
    fn an_alert_already_told_stays_quiet_while_silenced() {
        let (mut a, repeat, inhibit) = (BTreeMap::new(), hours(24.0), Inhibitions::default());
        let pickup = [finding(Rule::NoPickup, 0.0)];
        let fired = reconcile_with(&mut a, &pickup, t(24.0), repeat, &inhibit);
        assert_eq!(fired.len(), 1);
        let both = [finding(Rule::NoPickup, 0.0), finding(Rule::NoTrace, 0.0)];
        let later = reconcile_with(&mut a, &both, t(60.0), repeat, &inhibit);
        assert_eq!(
            kinds(&later),
            [(Rule::NoTrace, AlertKind::Fired, Severity::Warning, 0)]
        );
        // Its own resolution is still told: it had been told.
        let cleared = reconcile_with(&mut a, &[], t(61.0), repeat, &inhibit);
        assert_eq!(cleared.len(), 2, "{cleared:?}");
    }

    fn refused(since: f64, until: f64) -> PastEvent {
        PastEvent {
            rule: Rule::Refused,
            since: t(since),
            until: t(until),
        }
    }

    #[test]
    fn a_past_event_fires_and_resolves_once() {
        let mut a = BTreeMap::new();
        let told = tell_past(&mut a, &[refused(5.0, 8.0)], t(9.0));
        assert_eq!(
            kinds(&told),
            [
                (Rule::Refused, AlertKind::Fired, Severity::Warning, 0),
                (Rule::Refused, AlertKind::Resolved, Severity::Warning, 1),
            ]
        );
        assert!(told.iter().all(|x| x.since == t(5.0) && x.already_over));
        assert!(!a[&Rule::Refused].is_active());
        // The next check sees the same past event: already told.
        assert!(tell_past(&mut a, &[refused(5.0, 8.0)], t(10.0)).is_empty());
        // reconcile has nothing left to resolve either.
        assert!(reconcile(&mut a, &[], t(10.0), hours(24.0)).is_empty());
    }

    #[test]
    fn a_past_event_already_alerted_while_current_is_only_resolved_by_reconcile() {
        let mut a = BTreeMap::new();
        let repeat = hours(24.0);
        let current = Finding {
            rule: Rule::Refused,
            severity: Severity::Warning,
            since: t(5.0),
        };
        reconcile(&mut a, &[current], t(6.0), repeat);
        // Superseded at 8: the past event is the alert already told.
        assert!(tell_past(&mut a, &[refused(5.0, 8.0)], t(9.0)).is_empty());
        assert_eq!(
            kinds(&reconcile(&mut a, &[], t(9.0), repeat)),
            [(Rule::Refused, AlertKind::Resolved, Severity::Warning, 1)]
        );
    }

    #[test]
    fn a_newer_past_event_resolves_the_older_active_alert_first() {
        let mut a = BTreeMap::new();
        let old = Finding {
            rule: Rule::Refused,
            severity: Severity::Warning,
            since: t(1.0),
        };
        reconcile(&mut a, &[old], t(2.0), hours(24.0));
        let told = tell_past(&mut a, &[refused(5.0, 8.0)], t(9.0));
        assert_eq!(
            told.iter().map(|x| (x.kind, x.since)).collect::<Vec<_>>(),
            [
                (AlertKind::Resolved, t(1.0)),
                (AlertKind::Fired, t(5.0)),
                (AlertKind::Resolved, t(5.0)),
            ]
        );
        // An older past event than what is known is never told.
        assert!(tell_past(&mut a, &[refused(3.0, 4.0)], t(10.0)).is_empty());
    }

    #[test]
    fn deterministic_for_the_same_input() {
        let run = || {
            let mut a = BTreeMap::new();
            let mut all = Vec::new();
            for (h, f) in [
                (48.0, vec![stalled(Severity::Warning, 0.0)]),
                (96.0, vec![stalled(Severity::Critical, 0.0)]),
                (121.0, vec![stalled(Severity::Critical, 0.0)]),
                (130.0, vec![]),
            ] {
                all.extend(reconcile(&mut a, &f, t(h), hours(24.0)));
            }
            (all, a)
        };
        assert_eq!(run(), run());
        let (all, _) = run();
        assert_eq!(
            all.iter().map(|t| t.kind).collect::<Vec<_>>(),
            [
                AlertKind::Fired,
                AlertKind::Escalated,
                AlertKind::Repeated,
                AlertKind::Resolved
            ]
        );
    }
}
