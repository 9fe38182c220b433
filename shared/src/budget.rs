//! The daily query budget (issue 17 §5): a provider's queries a day, never
//! exceeded, spent where they matter when they must be rationed.
//!
//! Tracking providers sell queries by the day or by the unit (Kdniao's basic plan
//! allows about 500 a day; Kuaidi100 bills each successful query). With
//! `DAILY_QUERY_BUDGET` set, every carrier query of the tracker first takes one
//! from the provider's count of the China day ([`QueryBudget`](crate::ports::QueryBudget), an atomic
//! conditional increment in the store, so trackers running at once never take more
//! than the budget between them). A check whose query is refused is **deferred**:
//! nothing is decided without news (a time-based rule firing then would claim a
//! silence nobody checked: on the benchmark fleet a quarter of such alerts were
//! false), and the parcel is looked at again at its next scheduled check, or, when
//! even the urgent share is spent, when the next day's budget opens.
//!
//! Rationing, when demand exceeds the budget:
//! - an **urgent** check ([`priority`]: a rule that holds or comes due within the hour, an open
//!   problem, a parcel out for delivery or with a reported failed attempt or
//!   problem, a promise due within a day) may take the day's budget to its end;
//! - a **routine** check is paced ([`cap`]): it may take only the share of the
//!   budget that the part of the day gone by earns (plus two hours' share of
//!   slack), less a reserve for urgent checks ([`URGENT_RESERVE`], released to
//!   routine checks over the day's last four hours), so the routine queries
//!   spread over the day and the urgent ones find some at any hour.
//!
//! What was deferred is counted per provider and day (the `sentinel run`
//! summary, the tracker function's log, the `QueriesDeferred` metric), and once
//! the budget has been short for more than an hour the first tracker to see it
//! claims the day's warning ([`SHORT_WARNING_AFTER`]): a log line, the
//! `QueryBudgetShort` metric and, on AWS, an alarm.
//!
//! A budgeted query is one question to the provider. The provider clients retry a
//! transient failure (no answer: a timeout, a 5xx) within it; providers bill the
//! answers, not the failures (`fleet-facts.md`).

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::config::ConfigError;
use crate::domain::{Shipment, Status};
use crate::rules::{self, RuleConfig};

/// The variable (and SAM parameter `DailyQueryBudget`).
pub const VAR: &str = "DAILY_QUERY_BUDGET";

/// The largest budget accepted (Kdniao's error 405 hints at 30,000 a day; a
/// large account buys more).
pub const MAX_BUDGET: u32 = 100_000_000;

/// The part of the day's budget routine checks leave to urgent ones at the day's
/// start (it shrinks to nothing by the day's end).
pub const URGENT_RESERVE: f64 = 0.2;

/// How far ahead of the day's pace routine checks may run, as a share of the day.
pub const PACE_SLACK: f64 = 2.0 / 24.0;

/// What urgent checks have not used of the reserve is released to routine ones
/// over the day's last four hours (this share of the day).
pub const RESERVE_RELEASE: f64 = 4.0 / 24.0;

/// After this long short, the day's warning is raised.
pub const SHORT_WARNING_AFTER: Duration = Duration::hours(1);

/// `DAILY_QUERY_BUDGET`: queries per China day, per provider.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DailyBudget {
    /// One number: the budget of whichever provider answers queries.
    any: Option<u32>,
    /// `provider=N` pairs.
    providers: Vec<(String, u32)>,
}

impl DailyBudget {
    /// No budget: queries are not counted.
    pub const NONE: DailyBudget = DailyBudget {
        any: None,
        providers: Vec::new(),
    };

    /// One budget for whichever provider is in use.
    pub fn of(limit: u32) -> Self {
        Self {
            any: Some(limit),
            providers: Vec::new(),
        }
    }

    /// `500` (the provider in use), `kdniao=500,kuaidi100=2000`, or both
    /// (`1000,kdniao=500`: Kdniao 500, any other provider 1000).
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let bad = |token: &str, reason: &str| ConfigError {
            var: VAR,
            token: token.to_string(),
            reason: reason.to_string(),
        };
        let number = |token: &str, t: &str| -> Result<u32, ConfigError> {
            let t = t.trim();
            let digits = !t.is_empty() && t.len() <= 10 && t.bytes().all(|b| b.is_ascii_digit());
            match t.parse::<u64>() {
                Ok(n) if digits && n >= 1 && n <= u64::from(MAX_BUDGET) => Ok(n as u32),
                _ => Err(bad(
                    token,
                    &format!("expected a number of queries per day from 1 to {MAX_BUDGET}, e.g. 500 or kdniao=500,kuaidi100=2000 (leave it empty for no budget)"),
                )),
            }
        };
        let mut out = Self::default();
        for token in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match token.split_once('=') {
                None => out.any = Some(number(token, token)?),
                Some((name, n)) => {
                    let name = name.trim().to_ascii_lowercase();
                    if !PROVIDERS.contains(&name.as_str()) {
                        return Err(bad(
                            token,
                            &format!("unknown provider; known: {}", PROVIDERS.join(", ")),
                        ));
                    }
                    let n = number(token, n)?;
                    out.providers.retain(|(p, _)| *p != name);
                    out.providers.push((name, n));
                }
            }
        }
        Ok(out)
    }

    /// The budget of `provider` (as [`crate::ports::CarrierQuery::name`] names
    /// it), if it has one.
    pub fn limit(&self, provider: &str) -> Option<u32> {
        self.providers
            .iter()
            .find(|(p, _)| p == provider)
            .map(|(_, n)| *n)
            .or(self.any)
    }

    pub fn is_set(&self) -> bool {
        self.any.is_some() || !self.providers.is_empty()
    }
}

/// The providers a budget may name (`CARRIER_PROVIDER`'s values).
pub const PROVIDERS: [&str; 3] = ["kdniao", "kuaidi100", "sim"];

/// How much a check's query matters when queries are rationed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Paced over the day, behind the urgent ones.
    Routine,
    /// May take the day's budget to its end.
    Urgent,
}

/// How much a query about `shipment` at `now` matters: urgent when a rule is
/// about to decide (one holds on what is known, or its deadline is within the
/// hour: a look now avoids a false alarm or confirms it), a problem is open (its resolution is what people wait for),
/// the parcel is in its last mile or reported a failed attempt or a problem, or
/// its promise falls within a day.
pub fn priority(shipment: &Shipment, rules: &RuleConfig, now: DateTime<Utc>) -> Priority {
    let soon = now + Duration::hours(1);
    // A rule that holds already (its deadline passed while the parcel waited)
    // or will within the hour: the query decides whether it is told.
    let deadline_near = !rules::evaluate(shipment, rules, now).is_empty()
        || rules::next_deadline(shipment, rules, now).is_some_and(|d| d <= soon);
    let open_problem = shipment.active_rules().next().is_some();
    let last_mile = matches!(
        shipment.timeline.current_status(),
        Status::OutForDelivery | Status::DeliveryFailed | Status::Exception | Status::Refused
    );
    let promise_near = shipment
        .promised_at
        .is_some_and(|p| p <= now + Duration::hours(24));
    if deadline_near || open_problem || last_mile || promise_near {
        Priority::Urgent
    } else {
        Priority::Routine
    }
}

/// The China calendar day of `now`: the day a provider's daily count belongs to.
pub fn china_day(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&crate::time::china()).date_naive()
}

/// Midnight in China starting `day`.
fn day_start(day: NaiveDate) -> Option<DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(crate::time::china()).single())
        .map(|t| t.with_timezone(&Utc))
}

/// When the China day after `now`'s begins (a new day's budget).
pub fn next_day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    china_day(now)
        .succ_opt()
        .and_then(day_start)
        .unwrap_or(now + Duration::days(1))
}

/// The share of the China day gone by at `now`, from 0 to 1.
fn day_gone(now: DateTime<Utc>) -> f64 {
    let start = day_start(china_day(now)).unwrap_or(now);
    ((now - start).num_seconds() as f64 / 86_400.0).clamp(0.0, 1.0)
}

/// How many of the day's `limit` queries may have been taken when a check of
/// `priority` takes one at `now`: all of them for an urgent check; for a routine
/// one, the day's pace (the share gone by, plus [`PACE_SLACK`]) of the budget
/// less the reserve kept for urgent checks ([`URGENT_RESERVE`]), which is
/// released over the day's last four hours ([`RESERVE_RELEASE`]): urgent checks
/// come at any hour, and what they leave is not wasted.
pub fn cap(limit: u32, priority: Priority, now: DateTime<Utc>) -> u32 {
    match priority {
        Priority::Urgent => limit,
        Priority::Routine => {
            let f = day_gone(now);
            let paced = (1.0 - URGENT_RESERVE) * (f + PACE_SLACK).min(1.0);
            let released =
                URGENT_RESERVE * ((f - (1.0 - RESERVE_RELEASE)) / RESERVE_RELEASE).clamp(0.0, 1.0);
            ((f64::from(limit) * (paced + released)).floor() as u32).min(limit)
        }
    }
}

/// A provider's count for one China day ([`QueryBudget`](crate::ports::QueryBudget)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BudgetDay {
    /// Queries taken.
    pub used: u32,
    /// Checks whose query was refused.
    pub deferred: u32,
    /// The first refusal of the day.
    pub short_since: Option<DateTime<Utc>>,
    /// The day's warning has been claimed.
    pub warned: bool,
}

impl BudgetDay {
    /// The budget has been short for more than [`SHORT_WARNING_AFTER`] and
    /// nobody has warned yet.
    pub fn warning_due(&self, now: DateTime<Utc>) -> bool {
        !self.warned
            && self
                .short_since
                .is_some_and(|s| now - s >= SHORT_WARNING_AFTER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn china(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        crate::time::parse_carrier_time(&format!("2026-11-{day:02} {h:02}:{m:02}:00")).unwrap()
    }

    #[test]
    fn parses_one_number_or_per_provider_values() {
        let b = DailyBudget::parse("500").unwrap();
        assert_eq!(b.limit("kdniao"), Some(500));
        assert_eq!(b.limit("sim"), Some(500));
        let b = DailyBudget::parse("kdniao=500, Kuaidi100=2000").unwrap();
        assert_eq!(b.limit("kdniao"), Some(500));
        assert_eq!(b.limit("kuaidi100"), Some(2000));
        assert_eq!(b.limit("sim"), None);
        let b = DailyBudget::parse("1000,kdniao=500").unwrap();
        assert_eq!(
            (b.limit("kdniao"), b.limit("kuaidi100")),
            (Some(500), Some(1000))
        );
        assert!(!DailyBudget::parse(" , ").unwrap().is_set());
        assert_eq!(DailyBudget::NONE.limit("kdniao"), None);
    }

    #[test]
    fn bad_budgets_are_refused_naming_the_token() {
        for raw in [
            "0",
            "-5",
            "5.5",
            "many",
            "kdnaio=500",
            "kdniao=",
            "=500",
            "99999999999",
        ] {
            let e = DailyBudget::parse(raw).unwrap_err();
            assert_eq!(e.var, VAR, "{raw}");
            assert!(!e.reason.is_empty());
        }
        let e = DailyBudget::parse("kdniao=500,kdnaio=5").unwrap_err();
        assert_eq!(e.token, "kdnaio=5");
        assert!(e.reason.contains("kuaidi100"), "{}", e.reason);
    }

    #[test]
    fn the_day_is_the_china_day() {
        // 23:30 UTC on the 3rd is 07:30 on the 4th in China.
        let t = DateTime::parse_from_rfc3339("2026-11-03T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(china_day(t), NaiveDate::from_ymd_opt(2026, 11, 4).unwrap());
        assert_eq!(china_day(china(4, 0, 0)), china_day(china(4, 23, 59)));
    }

    #[test]
    fn routine_checks_follow_the_days_pace_and_leave_a_reserve() {
        // Midnight: two hours' share of the 80% that is not reserved.
        assert_eq!(cap(2400, Priority::Routine, china(4, 0, 0)), 160);
        // Noon: (0.5 + 2/24) x 0.8 = 0.4667.
        assert_eq!(cap(2400, Priority::Routine, china(4, 12, 0)), 1120);
        // From 20:00 what urgent checks left of the reserve is released: none
        // of it yet at 20:00 ((20 + 2) / 24 x 0.8), half by 22:00, when the pace
        // has reached the day's end (0.8 + 0.1).
        assert_eq!(cap(2400, Priority::Routine, china(4, 20, 0)), 1760);
        assert_eq!(cap(2400, Priority::Routine, china(4, 22, 0)), 2160);
        assert_eq!(cap(2400, Priority::Routine, china(4, 23, 59)), 2398);
        for h in 0..24 {
            let t = china(4, h, 30);
            assert_eq!(cap(2400, Priority::Urgent, t), 2400);
            assert!(cap(2400, Priority::Routine, t) < 2400);
            assert!(
                cap(2400, Priority::Routine, t)
                    <= cap(2400, Priority::Routine, t + Duration::hours(1))
                    || h == 23
            );
        }
        // A budget of one: routine checks wait for the day's pace.
        assert_eq!(cap(1, Priority::Routine, china(4, 1, 0)), 0);
        assert_eq!(cap(1, Priority::Urgent, china(4, 1, 0)), 1);
    }

    #[test]
    fn the_next_day_starts_at_china_midnight() {
        assert_eq!(next_day_start(china(4, 9, 30)), china(5, 0, 0));
        assert_eq!(next_day_start(china(4, 0, 0)), china(5, 0, 0));
        assert_eq!(next_day_start(china(4, 23, 59)), china(5, 0, 0));
    }

    #[test]
    fn the_warning_is_due_after_an_hour_short_once() {
        let t = china(4, 10, 0);
        let mut d = BudgetDay {
            used: 500,
            deferred: 3,
            short_since: Some(t),
            warned: false,
        };
        assert!(!d.warning_due(t + Duration::minutes(59)));
        assert!(d.warning_due(t + Duration::minutes(60)));
        d.warned = true;
        assert!(!d.warning_due(t + Duration::hours(5)));
        assert!(!BudgetDay::default().warning_due(t));
    }
}
