//! The fleet's counters: what one stored shipment adds to the health summary
//! ([`Tally::of`]), so that every store keeps the fleet's totals current with each
//! write (the difference between the shipment's tally before and after, applied
//! in the same atomic step as the write) and the summary reads a handful of
//! counters instead of every parcel ([`crate::report::HealthSummary::from_tally`]).
//!
//! A tally is a map from counter name to count. Names are of two scopes:
//!
//! | counter | scope | counts |
//! |---|---|---|
//! | `parcels` | fleet | stored parcels |
//! | `status\|{carrier}\|{status}` | fleet | parcels by carrier and status |
//! | `errors` | fleet | parcels whose last query failed |
//! | `alerting` | fleet | parcels with an active alert |
//! | `active\|{rule}`, `severity\|{severity}`, `state\|{state}` | fleet | active alert episodes (problems) by rule, severity and *stored* workflow state |
//! | `delivered\|{carrier}`, `promised\|{carrier}`, `on_time\|{carrier}` | fleet | delivered parcels; those with a promise; those delivered by it |
//! | `transit\|{carrier}\|{bucket}` | fleet | delivered parcels' transit minutes, a [`crate::sketch`] histogram |
//! | `day\|{date}\|registered`, `…\|delivered`, `…\|alerts` | day (China date) | parcels registered, delivered, alert episodes fired that day |
//! | `day\|{date}\|snooze\|{until ms}` | day of the snooze's end | snoozed problems by the instant their snooze ends |
//! | `lane\|{week}\|{lane}\|r:{stage}\|{bucket}`, `…\|g:{stage}\|{bucket}`, `…\|l:{stage}\|{bucket}`, `…\|d:{stage}\|{bucket}`, `…\|x:{stage}\|{bucket}` | lane and ISO week of delivery (China time) | what delivered parcels teach their lanes ([`crate::lanes::Lesson`]): minutes from entering each stage to delivery (`d`: the stay in it, `x`: from leaving it to delivery), and between scans (`l`: those begun by a departure scan, legs), as sketches; read by lane, never by the summary |
//!
//! A snooze ends by the clock, with no write: the summary counts a problem stored
//! as snoozed as `open` once its `snooze` counter's instant has passed, so the
//! counts are exact at any `now` without a scan.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{Shipment, Workflow};
use crate::time::china;

/// Counter name → count. Serialised as a JSON object (how the SQLite and
/// DynamoDB stores keep each shipment's own tally beside it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tally(BTreeMap<String, i64>);

/// The prefix of day-scoped counter names.
pub const DAY: &str = "day|";
/// The prefix of lane-scoped counter names.
pub const LANE: &str = "lane|";

/// Where a counter lives: with the fleet's totals, or with one China day's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// `name` is the counter.
    Fleet(&'a str),
    /// The counter `name` of day `date` (`YYYY-MM-DD`).
    Day { date: &'a str, name: &'a str },
    /// The counter `name` (`{metric}|{bucket}`) of lane `lane` (a
    /// [`crate::lanes::LaneKey::key`]) in ISO week `week` (`2026-W49`).
    Lane {
        week: &'a str,
        lane: &'a str,
        name: &'a str,
    },
}

impl<'a> Scope<'a> {
    /// The scope of a counter name.
    pub fn of(key: &'a str) -> Self {
        if let Some(rest) = key.strip_prefix(LANE) {
            if let Some((week, rest)) = rest.split_once('|') {
                if let Some((lane, name)) = rest.split_once('|') {
                    return Scope::Lane { week, lane, name };
                }
            }
        }
        key.strip_prefix(DAY)
            .and_then(|rest| rest.split_once('|'))
            .map_or(Scope::Fleet(key), |(date, name)| Scope::Day { date, name })
    }
}

/// The full counter name of `name` of lane `lane` in week `week`.
pub fn lane_key(week: &str, lane: &str, name: &str) -> String {
    format!("{LANE}{week}|{lane}|{name}")
}

/// The full counter name of `name` in day `date`.
pub fn day_key(date: &str, name: &str) -> String {
    format!("{DAY}{date}|{name}")
}

fn china_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&china()).date_naive()
}

/// A problem's workflow state as stored (a snooze counts as `snoozed` here; see
/// the module's note on how its end is counted).
pub fn stored_state(w: &Workflow) -> &'static str {
    match w {
        Workflow::Open => "open",
        Workflow::Acknowledged { .. } => "acknowledged",
        Workflow::Snoozed { .. } => "snoozed",
        Workflow::Closed { .. } => "closed",
    }
}

impl Tally {
    /// What one stored shipment adds to the fleet's counters.
    pub fn of(s: &Shipment) -> Self {
        let mut t = Tally::default();
        let carrier = s.id.carrier.as_str();
        t.bump("parcels");
        t.bump(format!("status|{carrier}|{}", s.status.as_str()));
        if s.consecutive_errors > 0 {
            t.bump("errors");
        }
        t.bump_day(s.registered_at, "registered");
        let mut alerting = false;
        for a in s.alerts.values() {
            t.bump_day(a.fired_at, "alerts");
            if !a.is_active() {
                continue;
            }
            alerting = true;
            t.bump(format!("active|{}", a.rule.as_str()));
            t.bump(format!("severity|{}", a.severity.as_str()));
            t.bump(format!("state|{}", stored_state(&a.workflow)));
            if let Workflow::Snoozed { until, .. } = &a.workflow {
                t.bump_day(*until, &format!("snooze|{}", until.timestamp_millis()));
            }
        }
        if alerting {
            t.bump("alerting");
        }
        if let Some(delivered) = crate::report::delivered_at(s) {
            t.bump_day(delivered, "delivered");
            t.bump(format!("delivered|{carrier}"));
            if let Some(promised) = s.promised_at {
                t.bump(format!("promised|{carrier}"));
                if delivered <= promised {
                    t.bump(format!("on_time|{carrier}"));
                }
            }
            let minutes = (delivered - s.started_at()).num_minutes().max(0);
            let bucket = crate::sketch::bucket(minutes as f64);
            t.bump(format!("transit|{carrier}|{bucket}"));
        }
        if let Some(lesson) = crate::lanes::Lesson::of(s) {
            let week = crate::lanes::week_of(lesson.delivered_at);
            for level in &lesson.lanes {
                let lane = level.key();
                for (name, n) in lesson.counters_for(level) {
                    t.add_count(&lane_key(&week, &lane, &name), n);
                }
            }
        }
        t
    }

    /// The sum of many shipments' tallies.
    pub fn sum<'a>(shipments: impl IntoIterator<Item = &'a Shipment>) -> Self {
        let mut total = Tally::default();
        for s in shipments {
            total.add(&Tally::of(s));
        }
        total
    }

    fn bump(&mut self, key: impl Into<String>) {
        *self.0.entry(key.into()).or_default() += 1;
    }

    fn bump_day(&mut self, t: DateTime<Utc>, name: &str) {
        self.bump(day_key(&china_date(t).to_string(), name));
    }

    /// Adds `other`'s counts (dropping counters that reach zero).
    pub fn add(&mut self, other: &Tally) {
        for (k, n) in &other.0 {
            self.add_count(k, *n);
        }
    }

    /// Adds `n` to one counter (dropping it if it reaches zero).
    pub fn add_count(&mut self, key: &str, n: i64) {
        let v = self.0.entry(key.to_string()).or_default();
        *v = v.saturating_add(n);
        if *v == 0 {
            self.0.remove(key);
        }
    }

    /// What turns `before` into `self`: the counts to add to the fleet's totals
    /// when a shipment whose tally was `before` is stored with tally `self`.
    pub fn minus(&self, before: &Tally) -> Tally {
        let mut d = self.clone();
        for (k, n) in &before.0 {
            d.add_count(k, -n);
        }
        d
    }

    /// The counter's count (0 when absent).
    pub fn get(&self, key: &str) -> i64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The counters, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(k, n)| (k.as_str(), *n))
    }

    /// Only the fleet counters and those of the days `from..=to` (what the
    /// summary reads: never the lanes').
    pub fn within(mut self, from: NaiveDate, to: NaiveDate) -> Self {
        self.0.retain(|k, _| match Scope::of(k) {
            Scope::Fleet(_) => true,
            Scope::Day { date, .. } => date
                .parse::<NaiveDate>()
                .is_ok_and(|d| (from..=to).contains(&d)),
            Scope::Lane { .. } => false,
        });
        self
    }

    /// Only the counters of `lanes` in `weeks`, read by key range (the tally may
    /// hold every lane's counters).
    pub fn lanes(&self, lanes: &[String], weeks: &[String]) -> Self {
        let mut out = Tally::default();
        for week in weeks {
            for lane in lanes {
                let prefix = lane_key(week, lane, "");
                for (k, n) in self.0.range(prefix.clone()..) {
                    if !k.starts_with(&prefix) {
                        break;
                    }
                    // A lane name that is a prefix of another's ("k:SF" / "k:SF2")
                    // is told apart by the '|' that ends the prefix.
                    out.0.insert(k.clone(), *n);
                }
            }
        }
        out
    }

    /// As stored beside a shipment (a JSON object).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// A stored tally; what cannot be read counts as nothing (the shipment was
    /// never counted).
    pub fn from_json(raw: Option<&str>) -> Self {
        raw.and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or_default()
    }

    /// Problems stored as snoozed whose snooze is still running at `now`.
    pub fn snoozed_at(&self, now: DateTime<Utc>) -> i64 {
        let now = now.timestamp_millis();
        self.iter()
            .filter_map(|(k, n)| match Scope::of(k) {
                Scope::Day { name, .. } => name
                    .strip_prefix("snooze|")
                    .and_then(|ms| ms.parse::<i64>().ok())
                    .filter(|until| *until > now)
                    .map(|_| n),
                Scope::Fleet(_) | Scope::Lane { .. } => None,
            })
            .sum()
    }
}

/// The China days a summary at `now` reads: the last
/// [`crate::report::DAYS`] days, and the days a snooze taken now may end on.
pub fn days_read(now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    let today = china_date(now);
    let back = crate::report::DAYS as u64 - 1;
    let ahead = (crate::problems::MAX_SNOOZE_HOURS as u64).div_ceil(24) + 1;
    (
        today - chrono::Days::new(back),
        today + chrono::Days::new(ahead),
    )
}

/// The problem key of a shipment: when its oldest active problem began, if it has
/// one. The problem queue reads parcels in this order (oldest first, then by
/// identity); stores index it.
pub fn problem_since(s: &Shipment) -> Option<DateTime<Utc>> {
    s.alerts
        .values()
        .filter(|a| a.is_active())
        .map(|a| a.since)
        .min()
}

/// The opaque cursor of the problem index: the last parcel's problem key and
/// identity.
pub fn encode_problem_cursor(since: DateTime<Utc>, id: &crate::domain::ShipmentId) -> String {
    format!(
        "{:015}.{}",
        since.timestamp_millis().max(0),
        crate::store::encode_cursor(id)
    )
}

/// Decodes [`encode_problem_cursor`]'s cursor.
pub fn decode_problem_cursor(
    cursor: &str,
) -> Result<(DateTime<Utc>, crate::domain::ShipmentId), crate::ports::StoreError> {
    let bad = || crate::ports::StoreError::BadCursor(crate::clip::clip(cursor).to_string());
    let (ms, id) = cursor.split_once('.').ok_or_else(bad)?;
    if ms.len() != 15 || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let since = ms
        .parse::<i64>()
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .ok_or_else(bad)?;
    Ok((since, crate::store::decode_cursor(id)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AlertState, Rule, Severity, ShipmentId, Status};

    fn t(h: i64) -> DateTime<Utc> {
        // 2024-05-01 00:00 UTC = 08:00 China time.
        Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(h)
    }

    fn problem(rule: Rule, since: DateTime<Utc>, workflow: Workflow) -> AlertState {
        let mut a = AlertState::fired(rule, Severity::Warning, since, since);
        a.workflow = workflow;
        a
    }

    #[test]
    fn a_shipment_counts_itself_its_day_and_its_problems() {
        let mut s = Shipment::new(ShipmentId::parse("ZTO", "75312345678901").unwrap(), t(0));
        s.status = Status::InTransit;
        let until = t(30);
        s.alerts.insert(
            Rule::Stalled,
            problem(
                Rule::Stalled,
                t(20),
                Workflow::Snoozed {
                    by: "ops".into(),
                    at: t(21),
                    until,
                },
            ),
        );
        let tally = Tally::of(&s);
        assert_eq!(tally.get("parcels"), 1);
        assert_eq!(tally.get("status|ZTO|InTransit"), 1);
        assert_eq!(tally.get("day|2024-05-01|registered"), 1);
        assert_eq!(
            tally.get("day|2024-05-02|alerts"),
            1,
            "20 h = the 2nd, 04:00"
        );
        assert_eq!(tally.get("state|snoozed"), 1);
        assert_eq!(tally.get("alerting"), 1);
        let snooze = format!("day|2024-05-02|snooze|{}", until.timestamp_millis());
        assert_eq!(tally.get(&snooze), 1);
        assert_eq!(tally.snoozed_at(t(29)), 1);
        assert_eq!(tally.snoozed_at(until), 0, "over at its end");
        assert_eq!(problem_since(&s), Some(t(20)));
    }

    #[test]
    fn the_difference_of_two_tallies_turns_one_into_the_other() {
        let mut s = Shipment::new(ShipmentId::parse("SF", "SF1234567890").unwrap(), t(0));
        let before = Tally::of(&s);
        s.status = Status::Delivered;
        s.consecutive_errors = 2;
        let after = Tally::of(&s);
        let d = after.minus(&before);
        assert_eq!(d.get("status|SF|Pending"), -1);
        assert_eq!(d.get("status|SF|Delivered"), 1);
        assert_eq!(d.get("errors"), 1);
        assert_eq!(d.get("parcels"), 0, "unchanged counters are left out");
        let mut total = before.clone();
        total.add(&d);
        assert_eq!(total, after);
        assert!(after.minus(&after).is_empty());
    }

    #[test]
    fn names_have_a_scope_and_tallies_keep_a_window_of_days() {
        assert_eq!(Scope::of("parcels"), Scope::Fleet("parcels"));
        assert_eq!(
            Scope::of("day|2024-05-01|snooze|17"),
            Scope::Day {
                date: "2024-05-01",
                name: "snooze|17"
            }
        );
        let mut tally = Tally::default();
        tally.add_count("parcels", 3);
        tally.add_count("day|2024-05-01|registered", 2);
        tally.add_count("day|2024-05-09|registered", 1);
        let from = NaiveDate::from_ymd_opt(2024, 5, 2).unwrap();
        let to = NaiveDate::from_ymd_opt(2024, 5, 9).unwrap();
        let kept = tally.clone().within(from, to);
        assert_eq!(kept.get("parcels"), 3);
        assert_eq!(kept.get("day|2024-05-01|registered"), 0);
        assert_eq!(kept.get("day|2024-05-09|registered"), 1);
        assert_eq!(Tally::from_json(Some(&tally.to_json())), tally);
        assert_eq!(Tally::from_json(Some("not json")), Tally::default());
    }

    #[test]
    fn problem_cursors_round_trip_and_refuse_anything_else() {
        let id = ShipmentId::parse("ZTO", "75312345678901").unwrap();
        let c = encode_problem_cursor(t(5), &id);
        assert_eq!(decode_problem_cursor(&c).unwrap(), (t(5), id));
        for bad in ["", "x", "12.34", "000000000000001.zz", &c[1..]] {
            assert!(decode_problem_cursor(bad).is_err(), "{bad}");
        }
    }
}
