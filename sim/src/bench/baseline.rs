//! The baseline a team would otherwise write: a cron job that, every `interval`,
//! queries the carrier for every registered parcel that is not finished and
//!
//! - alerts `stalled` when the parcel has at least one trace and the newest one is
//!   48 hours old or more (the classic "no update for 48 hours" check; a parcel
//!   with no trace at all has no "last update" and is never alerted);
//! - alerts the carrier-reported problems it sees as the newest status:
//!   delivery failed → `delivery_failed`, problem parcel (or lost) → `exception`,
//!   refused → `refused`, returning or returned → `returned`;
//! - stops querying a parcel once it is delivered, returned or lost.
//!
//! It remembers what it alerted (one alert per parcel, rule and episode, like a
//! flag column), and posts each run's new alerts as chat digests, exactly as
//! Sentinel does per tick. It does not check `no_pickup`, `hub_dwell`,
//! `out_for_delivery_stuck`, `locker_uncollected`, `late` or `no_trace`: its recall
//! there is 0 by construction.
//!
//! Its writes: one per parcel registered, one per query whose reply brought new
//! traces (the parcel row is updated), one per alert (the flag). Its reads: one
//! per query (the parcel row is loaded).
//!
//! It reads the same carrier replies as Sentinel through the same wire: the
//! simulator's events directly ([`Wire::Direct`], statuses from the simulator's
//! mapping, which the normaliser agrees with) or the rendered JSON through the
//! real normaliser ([`Wire::Json`]), so both sides pay the same parsing cost.

use chrono::{DateTime, Duration, Utc};

use crate::{Fleet, SimParcel};
use shared::digest::digest;
use shared::domain::Notification;
use shared::domain::Status;
use shared::domain::{AlertKind, AlertRecord};
use shared::domain::{Rule, Severity};
use shared::message::Templates;

use super::metrics::EpisodeLog;
use super::Wire;

/// The baseline's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct BaselineConfig {
    /// How often the cron runs (every run queries every unfinished parcel).
    pub interval: Duration,
    /// "No update for" this long is a stall.
    pub stall_after: Duration,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        Self {
            interval: Duration::minutes(30),
            stall_after: Duration::hours(48),
        }
    }
}

/// What a baseline run did.
#[derive(Debug, Default)]
pub struct BaselineOutcome {
    pub runs: u64,
    pub queries: u64,
    /// Queries per parcel (by fleet index).
    pub per_parcel: Vec<u32>,
    pub writes: u64,
    pub reads: u64,
    /// Alerts raised (one per parcel, rule and episode).
    pub alerts: u64,
    /// Chat messages after digesting each run's alerts.
    pub messages: u64,
    pub episodes: EpisodeLog,
}

#[derive(Clone, Default)]
struct ParcelState {
    /// Traces seen so far.
    seen: u32,
    /// (rule, since) already alerted.
    alerted: Vec<(Rule, i64)>,
}

/// What one reply says, in the baseline's terms.
struct Observation {
    traces: u32,
    /// Newest trace time and effective status, with the start of the trailing
    /// run of the same status (a return counts as one run).
    newest: Option<(i64, Status, i64)>,
}

fn observe(statuses: impl Iterator<Item = (i64, Status)>) -> Observation {
    let group = |s: Status| match s {
        Status::Returned => Status::Returning,
        Status::Lost => Status::Exception,
        s => s,
    };
    let mut traces = 0;
    let mut returning = false;
    let mut newest: Option<(i64, Status, i64)> = None;
    for (at, raw) in statuses {
        traces += 1;
        // A carrier keeps writing transit scans on the way back.
        let st = shared::domain::effective_status(raw, &mut returning);
        let run = match newest {
            Some((_, prev, run)) if group(prev) == group(st) => run,
            _ => at,
        };
        newest = Some((at, st, run));
    }
    Observation { traces, newest }
}

fn reply_statuses(p: &SimParcel, now: DateTime<Utc>, wire: Wire) -> Observation {
    match wire {
        Wire::Direct => observe(
            p.events_at(now)
                .iter()
                .map(|e| (e.at.timestamp(), e.kind.status())),
        ),
        Wire::Json => {
            let reply = shared::normalise::parse_reply(
                &p.reply_json(now),
                Some(p.format.normalise_format()),
            )
            .unwrap_or_default();
            let mut ev: Vec<(i64, Status)> = reply
                .events
                .iter()
                .map(|e| (e.at.timestamp(), e.status))
                .collect();
            ev.sort_by_key(|e| e.0);
            observe(ev.into_iter())
        }
    }
}

fn notification(p: &SimParcel, rule: Rule, since: i64, now: DateTime<Utc>) -> Notification {
    Notification {
        record: AlertRecord {
            shipment: p.id.clone(),
            rule,
            since: DateTime::from_timestamp(since, 0).unwrap_or(now),
            kind: AlertKind::Fired,
            seq: 0,
            severity: Severity::Warning,
            at: now,
            hold_until: None,
        },
        order_id: Some(p.order_id.clone()),
        status: Status::Pending,
        last_event: None,
        notify_customer: false,
        phone: None,
        owner: None,
        silenced: Vec::new(),
    }
}

/// Runs the baseline over `fleet` from `start` to `end` (inclusive), the cron
/// firing at `start`, `start + interval`, ...
pub fn run(
    fleet: &Fleet,
    config: &BaselineConfig,
    wire: Wire,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> BaselineOutcome {
    let templates = Templates::default();
    let mut out = BaselineOutcome {
        per_parcel: vec![0; fleet.len()],
        ..BaselineOutcome::default()
    };
    let mut state: Vec<ParcelState> = vec![ParcelState::default(); fleet.len()];
    let mut arrivals: Vec<u32> = (0..fleet.len() as u32).collect();
    arrivals.sort_by_key(|&i| fleet.parcels[i as usize].registered_at);
    let mut next_arrival = 0;
    let mut active: Vec<u32> = Vec::new();
    let stall = config.stall_after.num_seconds();
    let step = config.interval.max(Duration::seconds(1));
    let mut now = start;
    while now <= end {
        out.runs += 1;
        let before = active.len();
        while let Some(&i) = arrivals.get(next_arrival) {
            if fleet.parcels[i as usize].registered_at > now {
                break;
            }
            active.push(i);
            out.writes += 1; // the parcel row
            next_arrival += 1;
        }
        if active.len() > before {
            // Keep fleet order (memory order): a stable sort merges the sorted
            // prefix with the newcomers in linear time.
            active.sort();
        }
        let t = now.timestamp();
        let mut fresh: Vec<Notification> = Vec::new();
        active.retain(|&i| {
            let p = &fleet.parcels[i as usize];
            let st = &mut state[i as usize];
            out.queries += 1;
            out.reads += 1;
            out.per_parcel[i as usize] += 1;
            let obs = reply_statuses(p, now, wire);
            if obs.traces > st.seen {
                st.seen = obs.traces;
                out.writes += 1;
            }
            let Some((last, status, run)) = obs.newest else {
                return true;
            };
            let mut raise = |rule: Rule, since: i64| {
                if !st.alerted.contains(&(rule, since)) {
                    st.alerted.push((rule, since));
                    out.episodes.note(p.index, rule, since, t);
                    out.alerts += 1;
                    out.writes += 1;
                    fresh.push(notification(p, rule, since, now));
                }
            };
            match status {
                Status::DeliveryFailed => raise(Rule::DeliveryFailed, run),
                Status::Exception | Status::Lost => raise(Rule::Exception, run),
                Status::Refused => raise(Rule::Refused, run),
                Status::Returning | Status::Returned => raise(Rule::Returned, run),
                _ => {}
            }
            if status.is_terminal() {
                return false;
            }
            if t - last >= stall {
                raise(Rule::Stalled, last);
            }
            true
        });
        out.messages += digest(&fresh, &templates, 4096, 5).len() as u64;
        now += step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observation_tracks_runs_and_returns() {
        let o = observe(
            [
                (1, Status::PickedUp),
                (2, Status::Refused),
                (3, Status::Returning),
                (4, Status::InTransit),
                (5, Status::Delivered),
            ]
            .into_iter(),
        );
        assert_eq!(o.traces, 5);
        // The signature on the way back is a return, in the run begun at 3.
        assert_eq!(o.newest, Some((5, Status::Returned, 3)));
        let o = observe([(1, Status::DeliveryFailed), (2, Status::DeliveryFailed)].into_iter());
        assert_eq!(o.newest, Some((2, Status::DeliveryFailed, 1)));
        assert!(observe(std::iter::empty()).newest.is_none());
    }
}
