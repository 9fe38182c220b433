//! Adaptive checking: when to look at a parcel next.
//!
//! Carrier queries are what the system costs (carriers bill per query), so a parcel
//! is not polled on a fixed interval. `next_check_at` is the earliest of
//! (a) the next moment a rule could fire or escalate ([`rules::next_deadline`]),
//! (b) a status-dependent poll interval — soon after pickup and while out for
//! delivery, rarely in long-haul transit — in poll mode only, and
//! (c) never, once the parcel is terminal.
//! Push-mode parcels get no poll interval: the carrier tells us when something
//! happens, and time-based rules are still evaluated at their deadlines.

use chrono::{DateTime, Duration, Utc};

use crate::domain::{Shipment, Status};
use crate::lanes::LaneView;
use crate::rules;
use crate::rules::RuleConfig;

/// How tracking data arrives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TrackingMode {
    /// We query the carrier.
    #[default]
    Poll,
    /// The carrier pushes updates to us (subscription).
    Push,
}

/// Poll intervals per status.
#[derive(Clone, Debug, PartialEq)]
pub struct PollPolicy {
    intervals: [Duration; Status::ALL.len()],
    /// Never check sooner than this after now (no hot loops).
    pub min_gap: Duration,
    /// Backoff after a failed carrier query: base × 2^(errors-1), capped.
    pub error_backoff_base: Duration,
    pub error_backoff_cap: Duration,
    /// A quiet parcel is looked at less often: the interval is at least the time
    /// since its last trace (or since it shipped, before any) over this divisor
    /// (0 or less: never stretched)...
    pub quiet_divisor: i32,
    /// ...but never stretched beyond this.
    pub quiet_cap: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        let mut p = Self {
            intervals: [Duration::hours(6); Status::ALL.len()],
            min_gap: Duration::minutes(1),
            error_backoff_base: Duration::minutes(10),
            error_backoff_cap: Duration::hours(6),
            quiet_divisor: 4,
            quiet_cap: Duration::hours(24),
        };
        for (status, interval) in [
            // Waiting for the first scan (0.5-12 h after shipping): no event rule
            // can fire before it, and no_pickup has its own deadline.
            (Status::Pending, Duration::hours(6)),
            (Status::PickedUp, Duration::hours(4)),
            // Long-haul: events are hours apart; rule deadlines cover stalls.
            (Status::InTransit, Duration::hours(6)),
            (Status::CustomsClearance, Duration::hours(12)),
            (Status::Redirected, Duration::hours(6)),
            (Status::ArrivedAtDestinationCity, Duration::hours(2)),
            // The last mile is where failures and refusals happen: look often.
            (Status::OutForDelivery, Duration::minutes(90)),
            (Status::DeliveryFailed, Duration::hours(2)),
            (Status::Exception, Duration::hours(3)),
            // In a locker: only the collection is news; locker_uncollected has
            // its own deadline.
            (Status::AwaitingCollection, Duration::hours(24)),
            (Status::Refused, Duration::hours(4)),
            (Status::Returning, Duration::hours(12)),
        ] {
            p.set_interval(status, interval);
        }
        p
    }
}

impl PollPolicy {
    pub fn interval(&self, status: Status) -> Duration {
        self.intervals[status as usize]
    }

    pub fn set_interval(&mut self, status: Status, d: Duration) {
        self.intervals[status as usize] = d;
    }

    /// The poll interval of a parcel in `status` whose last trace (or shipping,
    /// before any trace) was `quiet_for` ago: the status's interval, stretched to
    /// `quiet_for / quiet_divisor` (at most `quiet_cap`) for a parcel that has been
    /// quiet for long — a wrong number or a parcel that stopped moving is still
    /// looked at, but not every few hours for two weeks.
    /// A parcel whose newest trace reports a problem (failed delivery, problem
    /// parcel, refusal) keeps its status's interval however long it has been
    /// quiet: what comes next (a redelivery, a return) is what people wait for.
    pub fn interval_after(&self, status: Status, quiet_for: Duration) -> Duration {
        let base = self.interval(status);
        if self.quiet_divisor <= 0
            || matches!(
                status,
                Status::DeliveryFailed | Status::Exception | Status::Refused
            )
        {
            return base;
        }
        base.max((quiet_for / self.quiet_divisor).min(self.quiet_cap))
    }

    /// When to retry after `consecutive_errors` failed queries in a row.
    pub fn backoff(&self, consecutive_errors: u32) -> Duration {
        let exp = consecutive_errors.saturating_sub(1).min(16);
        (self.error_backoff_base * 2i32.pow(exp)).min(self.error_backoff_cap)
    }
}

/// The next time to look at `shipment`, or `None` once it is terminal.
pub fn next_check_at(
    shipment: &Shipment,
    config: &RuleConfig,
    mode: TrackingMode,
    policy: &PollPolicy,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    next_check_at_with(shipment, config, None, mode, policy, now)
}

/// [`next_check_at`], with the lane rules' deadlines when the parcel's lane view
/// is given.
pub fn next_check_at_with(
    shipment: &Shipment,
    config: &RuleConfig,
    lanes: Option<&LaneView>,
    mode: TrackingMode,
    policy: &PollPolicy,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let status = shipment.timeline.current_status();
    if status.is_terminal() {
        return None;
    }
    let deadline = rules::next_deadline_with(shipment, config, lanes, now);
    let poll = match mode {
        TrackingMode::Poll if shipment.consecutive_errors > 0 => {
            Some(now + policy.backoff(shipment.consecutive_errors))
        }
        TrackingMode::Poll => {
            let quiet_since = shipment
                .timeline
                .last()
                .map_or(shipment.started_at(), |e| e.at);
            Some(now + policy.interval_after(status, now - quiet_since))
        }
        TrackingMode::Push => None,
    };
    let next = match (deadline, poll) {
        (Some(d), Some(p)) => d.min(p),
        (d, p) => d.or(p)?,
    };
    Some(next.max(now + policy.min_gap))
}

/// When to look at a parcel first, once registered at `now`. In poll mode, one
/// `Pending` interval after it shipped (a parcel registered as it ships has no
/// trace to find yet), or at once when it shipped earlier than that or no shipping
/// time is known (the first query finds what the carrier already knows). In push
/// mode the subscription brings every trace, so the first look is for the rules
/// alone: at once if one already holds (a parcel registered late), else at the
/// first rule deadline, or never if no time-based rule can fire.
pub fn first_check_at(
    shipment: &Shipment,
    config: &RuleConfig,
    mode: TrackingMode,
    policy: &PollPolicy,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match mode {
        TrackingMode::Poll => {
            let first = shipment
                .shipped_at
                .map(|at| at + policy.interval(Status::Pending));
            Some(first.filter(|&t| t > now).unwrap_or(now))
        }
        TrackingMode::Push if !rules::evaluate(shipment, config, now).is_empty() => Some(now),
        TrackingMode::Push => rules::next_deadline(shipment, config, now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Rule;
    use crate::domain::{ShipmentId, Timeline, TrackingEvent};
    use crate::rules::hours;

    fn t(h: f64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + hours(h)
    }

    fn ev(h: f64, status: Status) -> TrackingEvent {
        TrackingEvent {
            at: t(h),
            text: format!("event at {h}"),
            location: None,
            code: None,
            status,
            hub: None,
        }
    }

    fn shipment(events: Vec<TrackingEvent>) -> Shipment {
        let mut s = Shipment::new(ShipmentId::parse("ZTO", "75312345678").unwrap(), t(0.0));
        s.timeline = Timeline::from_events(events);
        s
    }

    #[test]
    fn terminal_parcels_are_never_checked_again() {
        let s = shipment(vec![ev(1.0, Status::PickedUp), ev(30.0, Status::Delivered)]);
        let p = PollPolicy::default();
        let c = RuleConfig::default();
        assert_eq!(next_check_at(&s, &c, TrackingMode::Poll, &p, t(31.0)), None);
        assert_eq!(next_check_at(&s, &c, TrackingMode::Push, &p, t(31.0)), None);
    }

    #[test]
    fn poll_interval_depends_on_status() {
        let p = PollPolicy::default();
        let c = RuleConfig::default();
        let transit = shipment(vec![ev(1.0, Status::PickedUp), ev(2.0, Status::InTransit)]);
        assert_eq!(
            next_check_at(&transit, &c, TrackingMode::Poll, &p, t(3.0)),
            Some(t(9.0))
        );
        let ofd = shipment(vec![
            ev(1.0, Status::PickedUp),
            ev(2.0, Status::OutForDelivery),
        ]);
        assert_eq!(
            next_check_at(&ofd, &c, TrackingMode::Poll, &p, t(3.0)),
            Some(t(4.5))
        );
    }

    #[test]
    fn a_rule_deadline_comes_before_the_poll_interval() {
        let p = PollPolicy::default();
        let c = RuleConfig::default();
        // In transit since hour 2; stalled fires at 50. At 47, the deadline (50)
        // is sooner than the 6-hour poll (53).
        let s = shipment(vec![ev(1.0, Status::PickedUp), ev(2.0, Status::InTransit)]);
        assert_eq!(
            next_check_at(&s, &c, TrackingMode::Poll, &p, t(47.0)),
            Some(t(50.0))
        );
        // After the warning, the critical escalation (98) is the next deadline.
        assert_eq!(
            next_check_at(&s, &c, TrackingMode::Push, &p, t(51.0)),
            Some(t(98.0))
        );
    }

    #[test]
    fn push_mode_only_wakes_for_deadlines() {
        let p = PollPolicy::default();
        let mut c = RuleConfig::default();
        let s = shipment(vec![ev(1.0, Status::PickedUp), ev(2.0, Status::InTransit)]);
        assert_eq!(
            next_check_at(&s, &c, TrackingMode::Push, &p, t(3.0)),
            Some(t(50.0))
        );
        // A new parcel: no_pickup and no_trace deadlines at 24 h.
        let fresh = shipment(vec![]);
        assert_eq!(
            next_check_at(&fresh, &c, TrackingMode::Push, &p, t(0.0)),
            Some(t(24.0))
        );
        // With every time rule disabled and nothing pending, push mode sleeps.
        for r in Rule::ALL {
            c.set_enabled(r, false);
        }
        assert_eq!(next_check_at(&s, &c, TrackingMode::Push, &p, t(3.0)), None);
    }

    #[test]
    fn push_mode_first_looks_at_the_first_deadline() {
        let (c, p) = (RuleConfig::default(), PollPolicy::default());
        let fresh = shipment(vec![]);
        // no_pickup and no_trace are due 24 h after registration.
        assert_eq!(
            first_check_at(&fresh, &c, TrackingMode::Push, &p, t(0.0)),
            Some(t(24.0))
        );
        // Registered 30 h after it was made: no_trace already holds.
        assert_eq!(
            first_check_at(&fresh, &c, TrackingMode::Push, &p, t(30.0)),
            Some(t(30.0))
        );
        let mut quiet = c.clone();
        for r in Rule::ALL {
            quiet.set_enabled(r, false);
        }
        assert_eq!(
            first_check_at(&fresh, &quiet, TrackingMode::Push, &p, t(0.0)),
            None
        );
    }

    #[test]
    fn poll_mode_first_queries_one_pending_interval_after_shipping() {
        let (c, p) = (RuleConfig::default(), PollPolicy::default());
        let pending = p.interval(Status::Pending);
        let mut s = shipment(vec![]);
        // No shipping time known: at once.
        assert_eq!(
            first_check_at(&s, &c, TrackingMode::Poll, &p, t(0.0)),
            Some(t(0.0))
        );
        // Registered as it ships: one Pending interval later.
        s.shipped_at = Some(t(0.0));
        assert_eq!(
            first_check_at(&s, &c, TrackingMode::Poll, &p, t(0.0)),
            Some(t(0.0) + pending)
        );
        // Shipped long before it was registered: at once.
        assert_eq!(
            first_check_at(&s, &c, TrackingMode::Poll, &p, t(0.0) + pending),
            Some(t(0.0) + pending)
        );
    }

    #[test]
    fn quiet_parcels_are_polled_less_often_up_to_a_cap() {
        let p = PollPolicy::default();
        let c = RuleConfig::default();
        // In transit since hour 2: at hour 10 the 6-hour interval holds (8 h / 4 = 2 h).
        let s = shipment(vec![ev(1.0, Status::PickedUp), ev(2.0, Status::InTransit)]);
        assert_eq!(
            next_check_at(&s, &c, TrackingMode::Poll, &p, t(10.0)),
            Some(t(16.0))
        );
        // At hour 34 (32 h quiet), 8 h; the stalled deadline (50) is later.
        assert_eq!(
            next_check_at(&s, &c, TrackingMode::Poll, &p, t(34.0)),
            Some(t(42.0))
        );
        // Quiet for 10 days: once a day, never less often.
        assert_eq!(
            p.interval_after(Status::InTransit, Duration::days(10)),
            Duration::hours(24)
        );
        // A reported problem keeps its interval; a divisor of 0 never stretches.
        assert_eq!(
            p.interval_after(Status::Exception, Duration::days(10)),
            p.interval(Status::Exception)
        );
        let never = PollPolicy {
            quiet_divisor: 0,
            ..p.clone()
        };
        assert_eq!(
            never.interval_after(Status::InTransit, Duration::days(10)),
            Duration::hours(6)
        );
        // A wrong number, before any trace: quiet since it shipped (registration).
        let none = shipment(vec![]);
        assert_eq!(
            next_check_at(&none, &c, TrackingMode::Poll, &p, t(60.0)),
            Some(t(75.0))
        );
    }

    #[test]
    fn errors_back_off_exponentially_up_to_a_cap() {
        let p = PollPolicy::default();
        assert_eq!(p.backoff(1), Duration::minutes(10));
        assert_eq!(p.backoff(2), Duration::minutes(20));
        assert_eq!(p.backoff(4), Duration::minutes(80));
        assert_eq!(p.backoff(30), Duration::hours(6));
        let c = RuleConfig::default();
        let mut s = shipment(vec![ev(1.0, Status::PickedUp)]);
        s.consecutive_errors = 2;
        assert_eq!(
            next_check_at(&s, &c, TrackingMode::Poll, &p, t(2.0)),
            Some(t(2.0) + Duration::minutes(20))
        );
    }

    #[test]
    fn never_sooner_than_the_minimum_gap() {
        let p = PollPolicy::default();
        let c = RuleConfig::default();
        let s = shipment(vec![ev(1.0, Status::PickedUp)]);
        // The stalled deadline is 49.0; one second before it the min gap wins.
        let now = t(49.0) - Duration::seconds(1);
        assert_eq!(
            next_check_at(&s, &c, TrackingMode::Poll, &p, now),
            Some(now + Duration::minutes(1))
        );
    }
}
