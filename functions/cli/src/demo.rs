//! `sentinel demo`: the whole pipeline on the embedded store with a simulated
//! fleet and a virtual clock — thousands of parcels over simulated days in seconds.
//!
//! Every 5 virtual minutes the scheduler picks the due parcels, the tracker queries
//! the simulated carrier (which answers in real Kdniao / Kuaidi100 JSON, parsed by
//! the real normaliser), merges, evaluates the rules and notifies. At the end it
//! prints the health summary and the detection score against the simulator's
//! ground truth.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use sentinel_chat::ChatSink;
use sentinel_sim::{Anomaly, FleetConfig, SimCarrier};
use sentinel_sqlite::SqliteStore;
use shared::clock::ManualClock;
use shared::config::Settings;
use shared::domain::AlertKind;
use shared::domain::Notification;
use shared::domain::Rule;
use shared::domain::ShipmentId;
use shared::normalise::carriers::name_zh;
use shared::ports::{AlertLog, ListFilter, ShipmentQuery};
use shared::registration::register_at;
use shared::report::{alerts_by_rule, score, DetectionScore, Expected, HealthSummary};
use shared::time::local_minutes;
use shared::tracker::{run_due, TickStats, Tracker};

use crate::console::{deliver_tick, lease_owner, Console};
use crate::duration::fmt_secs;
use crate::Failure;

/// The scheduler's tick (EventBridge schedule in the cloud).
const TICK_MINUTES: i64 = 5;
/// Expectations due in the last hours of the run are not judged: a poll may not
/// have come round yet.
const JUDGE_GRACE_HOURS: i64 = 12;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Simulated parcels.
    #[arg(long, default_value_t = 1000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub parcels: usize,
    /// Simulated days.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub days: u32,
    /// Simulator seed (same seed, same fleet, same alerts).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The demo's own SQLite file, recreated each run (refused if it holds
    /// parcels that are not demo parcels).
    #[arg(long, value_name = "FILE", default_value = "sentinel-demo.db")]
    pub db: PathBuf,
    /// Print only the summary, not each alert.
    #[arg(long)]
    pub quiet: bool,
}

/// Removes a previous demo file, refusing one that holds other parcels.
async fn recreate(path: &Path) -> Result<SqliteStore, Failure> {
    if path.exists() {
        let store = SqliteStore::open(path).map_err(|e| {
            Failure::input(format!(
                "{} exists and is not a Parcel Sentinel database ({e}); refusing to overwrite it",
                path.display()
            ))
        })?;
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .list_shipments(&ListFilter::default(), cursor.as_deref(), 500)
                .await?;
            if let Some(s) = page.items.iter().find(|s| !s.has_tag("demo")) {
                return Err(Failure::input(format!(
                    "{} holds parcels that are not demo parcels (e.g. {}); refusing to recreate it — use another --db",
                    path.display(),
                    s.id
                )));
            }
            match page.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let p = PathBuf::from(p);
            if p.exists() {
                std::fs::remove_file(&p)
                    .map_err(|e| Failure::runtime(format!("cannot remove {}: {e}", p.display())))?;
            }
        }
    }
    SqliteStore::open(path)
        .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", path.display())))
}

pub async fn run(a: DemoArgs) -> Result<u8, Failure> {
    let settings = Settings::from_env()?;
    let store = recreate(&a.db).await?;
    let start = FleetConfig::default().start;
    let end = start + Duration::days(i64::from(a.days));
    let fleet = Arc::new(sentinel_sim::generate(&FleetConfig {
        parcels: a.parcels,
        seed: a.seed,
        start,
        register_window: Duration::days(i64::from(a.days.clamp(1, 3))),
        ..FleetConfig::default()
    }));
    let clock = Arc::new(ManualClock::new(start));
    let carrier = SimCarrier::new(fleet.clone(), clock.clone());
    let tracker = Tracker::new(&store, &carrier, &settings).owned_by(lease_owner());

    let mut arrivals: Vec<&sentinel_sim::SimParcel> = fleet.parcels.iter().collect();
    arrivals.sort_by_key(|p| p.registered_at);
    let mut next_arrival = 0;

    let ticks = (end - start).num_minutes() / TICK_MINUTES + 1;
    let bar = ProgressBar::new(ticks as u64).with_style(
        ProgressStyle::with_template("{spinner} simulating {msg} [{bar:30}] {percent}%")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut sink = Console::from_env(false)?;
    sink.quiet = a.quiet;
    sink.bar = Some(bar.clone());
    // With robots configured, the run's alerts go to them at the end, as digests
    // (ten simulated days of alerts in a few messages, within each robot's rate).
    let chat = crate::console::chat_from_env(&sink.templates)?;
    let mut all: Vec<Notification> = Vec::new();
    let mut totals = TickStats::default();
    let mut notifications = 0u64;
    let mut now = start;
    let mut told_within = Vec::new();
    while now <= end {
        clock.set(now);
        while let Some(p) = arrivals
            .get(next_arrival)
            .filter(|p| p.registered_at <= now)
        {
            let s = p.shipment();
            register_at(
                &store,
                &s,
                &settings.rules,
                tracker.mode,
                &tracker.policy,
                now,
            )
            .await?;
            next_arrival += 1;
        }
        let mut fresh = Vec::new();
        let stats = run_due(&tracker, now, 256, |batch| fresh.extend(batch)).await?;
        // Problems kept quiet by inhibition, told within these messages.
        told_within.extend(fresh.iter().flat_map(|n| n.silenced_records()));
        let lease = tracker.lease_at(now);
        let delivery = deliver_tick(&store, &sink, &settings, now, &fresh, &lease).await?;
        notifications += delivery.delivered as u64;
        if chat.is_some() {
            all.extend(fresh);
        }
        totals.checked += stats.checked;
        totals.queries += stats.queries;
        totals.query_errors += stats.query_errors;
        totals.writes += stats.writes;
        bar.set_message(local_minutes(now));
        bar.inc(1);
        now += Duration::minutes(TICK_MINUTES);
    }
    bar.finish_and_clear();

    let summary = HealthSummary::collect(&store, end).await?;
    let records = store
        .alerts_between(start, end + Duration::minutes(1))
        .await?;
    let ids: Vec<ShipmentId> = fleet.parcels.iter().map(|p| p.id.clone()).collect();
    let expected: Vec<Expected> = fleet.expected(&settings.rules, end);
    let judge_until = end - Duration::hours(JUDGE_GRACE_HOURS);
    let told: Vec<_> = records.iter().cloned().chain(told_within).collect();
    let detection = score(&ids, &expected, &told, judge_until);

    println!();
    println!(
        "Simulated {} parcels over {} days (seed {}), {} → {}: {} carrier queries ({:.1} per parcel), {} store writes, {} notifications, {} query errors.",
        a.parcels,
        a.days,
        a.seed,
        local_minutes(start),
        local_minutes(end),
        totals.queries,
        totals.queries as f64 / a.parcels.max(1) as f64,
        totals.writes,
        notifications,
        totals.query_errors,
    );
    print!("{}", summary_tables(&summary, &alerts_by_rule(&records)));
    print!(
        "{}",
        detection_tables(&detection, &fleet, &expected, judge_until)
    );
    if let Some(chat) = chat {
        send_digests(&chat, &all).await;
    }
    Ok(0)
}

/// Sends the run's alerts to the robots as digests and says what became of them.
async fn send_digests(chat: &ChatSink, all: &[Notification]) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    let results = chat.send(all, deadline).await;
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    println!();
    match failed.first() {
        None => println!(
            "Sent {} alerts to {} as digests.",
            all.len(),
            chat.channel_names().join(", ")
        ),
        Some(why) => println!(
            "{} of {} alerts not sent to the robots: {why}",
            failed.len(),
            all.len()
        ),
    }
}

/// The health summary tables (shared with `sentinel report`).
pub fn summary_tables(
    summary: &HealthSummary,
    by_rule: &BTreeMap<Rule, BTreeMap<AlertKind, u64>>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nParcels: {}   with an active alert: {}   last query failed: {}",
        summary.parcels, summary.parcels_with_alerts, summary.query_errors
    );
    if !summary.unreadable.is_empty() {
        let _ = writeln!(
            out,
            "Unreadable stored items, set aside and skipped (repair or delete them): {}",
            summary.unreadable.len()
        );
        for u in &summary.unreadable {
            let _ = writeln!(out, "  {u}");
        }
    }
    let _ = writeln!(out, "\nBy status                    parcels");
    for st in shared::domain::Status::ALL {
        if let Some(n) = summary.by_status.get(st.as_str()) {
            let _ = writeln!(out, "  {:<26} {:>7}   {}", st.as_str(), n, st.label_zh());
        }
    }
    let _ = writeln!(out, "\nBy carrier                   parcels");
    for (c, n) in &summary.by_carrier {
        let _ = writeln!(out, "  {:<26} {:>7}   {}", c, n, name_zh(c).unwrap_or(""));
    }
    let _ = writeln!(
        out,
        "\nAlerts by rule               active   fired  escal.  repeat  resolved"
    );
    for rule in Rule::ALL {
        let kinds = by_rule.get(&rule);
        let get = |k| kinds.and_then(|m| m.get(&k)).copied().unwrap_or(0);
        let active = summary
            .active_alerts
            .get(rule.as_str())
            .copied()
            .unwrap_or(0);
        if active + get(AlertKind::Fired) == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "  {:<26} {:>7} {:>7} {:>7} {:>7} {:>9}   {}",
            rule.as_str(),
            active,
            get(AlertKind::Fired),
            get(AlertKind::Escalated),
            get(AlertKind::Repeated),
            get(AlertKind::Resolved),
            rule.label_zh()
        );
    }
    if !summary.problems_by_state.is_empty() {
        let count = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "\nProblems: open {}   acknowledged {}   snoozed {}   closed {}   (warning {}, critical {})",
            count(&summary.problems_by_state, "open"),
            count(&summary.problems_by_state, "acknowledged"),
            count(&summary.problems_by_state, "snoozed"),
            count(&summary.problems_by_state, "closed"),
            count(&summary.problems_by_severity, "warning"),
            count(&summary.problems_by_severity, "critical"),
        );
    }
    if !summary.delivery.is_empty() {
        let _ = writeln!(
            out,
            "\nDelivered by carrier       delivered  on time   transit p50 h   p90 h"
        );
        let opt = |v: Option<f64>, scale: f64, unit: &str| {
            v.map_or("-".to_string(), |x| format!("{:.1}{unit}", x * scale))
        };
        for (c, d) in &summary.delivery {
            let _ = writeln!(
                out,
                "  {:<24} {:>9} {:>8}   {:>13} {:>7}",
                c,
                d.delivered,
                opt(d.on_time_rate, 100.0, "%"),
                opt(d.transit_hours_p50, 1.0, ""),
                opt(d.transit_hours_p90, 1.0, ""),
            );
        }
    }
    out
}

fn detection_tables(
    d: &DetectionScore,
    fleet: &sentinel_sim::Fleet,
    expected: &[Expected],
    judge_until: DateTime<Utc>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nDetection against ground truth (expectations due by {})",
        local_minutes(judge_until)
    );
    let _ = writeln!(
        out,
        "  {:<28} {:>8} {:>7} {:>7} {:>6} {:>6} {:>8} {:>8}",
        "rule", "expected", "caught", "missed", "false", "early", "lat p50", "lat max"
    );
    for (rule, r) in &d.rules {
        let _ = writeln!(
            out,
            "  {:<28} {:>8} {:>7} {:>7} {:>6} {:>6} {:>8} {:>8}",
            rule,
            r.expected,
            r.caught,
            r.missed,
            r.false_alerts,
            r.early,
            fmt_secs(r.latency_p50_s),
            fmt_secs(r.latency_max_s)
        );
    }
    let missed: std::collections::BTreeSet<&ShipmentId> =
        d.missed_list.iter().map(|(id, _)| id).collect();
    let judged: std::collections::BTreeSet<&ShipmentId> = expected
        .iter()
        .filter(|e| e.due_at <= judge_until)
        .map(|e| &e.shipment)
        .collect();
    let _ = writeln!(
        out,
        "\n  {:<28} {:>8} {:>7} {:>12}",
        "injected anomaly", "parcels", "due", "fully caught"
    );
    for kind in Anomaly::ALL {
        let of_kind: Vec<&ShipmentId> = fleet
            .parcels
            .iter()
            .filter(|p| p.anomaly == Some(kind))
            .map(|p| &p.id)
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        let due = of_kind.iter().filter(|id| judged.contains(*id)).count();
        let caught = of_kind
            .iter()
            .filter(|id| judged.contains(*id) && !missed.contains(*id))
            .count();
        let _ = writeln!(
            out,
            "  {:<28} {:>8} {:>7} {:>12}",
            kind.as_str(),
            of_kind.len(),
            due,
            caught
        );
    }
    for (id, rule) in d.missed_list.iter().take(20) {
        let _ = writeln!(out, "  missed: {id} {rule}");
    }
    let _ = writeln!(
        out,
        "\nScore: {} of {} expected alerts caught, {} missed, {} false or early alerts; \
         healthy parcels with any alert: {} of {}.",
        d.rules.values().map(|r| r.caught).sum::<u64>(),
        d.expected(),
        d.missed(),
        d.false_alerts(),
        d.healthy_with_alerts,
        d.healthy_parcels
    );
    let _ = writeln!(
        out,
        "(The fixed rules, against the simulator's ground truth; the lane rules predicted_late \
         and slow_lane are predictions it has no truth for: `sentinel bench` scores them.)"
    );
    out
}
