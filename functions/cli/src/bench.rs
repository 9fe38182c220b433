//! `sentinel bench`: the fleet benchmark. Runs the simulator's fleet through Parcel
//! Sentinel (scheduler → tracker → rules → alerts on the in-memory store) and
//! through the fixed-interval polling baseline, on the same fleet and virtual
//! clock, and prints what each did, side by side, with the ratios; `--json` writes
//! the figures as one object, `--cost` adds the monthly cost model. Every figure
//! comes from the run (see `sentinel_sim::bench`).

use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::Duration;
use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};

use sentinel_sim::bench::cost;

use sentinel_sim::bench;
use sentinel_sim::bench::cost::CostInputs;
use sentinel_sim::bench::metrics::Detection;
use sentinel_sim::bench::{BenchConfig, BenchReport, Side, Wire, RULE_ORDER, TICK};
use shared::config::Settings;
use shared::domain::Rule;
use shared::domain::Status;
use shared::schedule::TrackingMode;

use crate::Failure;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Poll,
    Push,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum WireArg {
    /// Replies built from the simulator's events (fast; for large fleets).
    Direct,
    /// Replies rendered as Kdniao/Kuaidi100 JSON and parsed by the real normaliser.
    Json,
}

/// Fleet benchmark: Parcel Sentinel against fixed-interval polling on one
/// simulated fleet (queries, writes, detection, latency, CPU, memory; --cost).
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Simulated parcels.
    #[arg(long, default_value_t = 100_000)]
    pub parcels: usize,
    /// Simulated days.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Simulator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How tracking data arrives: Sentinel polls the carrier, or the carrier pushes.
    #[arg(long, value_enum, default_value_t = ModeArg::Poll)]
    pub mode: ModeArg,
    /// The baseline cron's interval: a number and a unit (s, m, h or d), e.g. 30m.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_interval)]
    pub baseline_interval: Duration,
    /// Write the figures as one JSON object to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also print the monthly cost model for 10k, 100k and 1M parcels a day.
    #[arg(long)]
    pub cost: bool,
    /// Price of one carrier query (or push subscription) in USD, for --cost.
    #[arg(long, value_name = "USD", default_value_t = cost::DEFAULT_QUERY_PRICE_USD)]
    pub query_price_usd: f64,
    /// Carrier round trip billed as Lambda time per query, milliseconds, for --cost.
    #[arg(long, value_name = "MS", default_value_t = 200.0)]
    pub query_wait_ms: f64,
    /// How the simulated carrier's replies reach both sides.
    #[arg(long, value_enum, default_value_t = WireArg::Direct)]
    pub wire: WireArg,
    /// Override Sentinel's poll interval for one status, e.g. InTransit=8h
    /// (repeatable; for studying the poll policy).
    #[arg(long, value_name = "STATUS=DURATION", value_parser = parse_status_interval)]
    pub poll_interval: Vec<(Status, Duration)>,
    /// Stretch the poll interval of a parcel quiet for q hours to q / N hours
    /// (0: never stretch; for studying the poll policy).
    #[arg(long, value_name = "N")]
    pub quiet_divisor: Option<i32>,
}

/// `InTransit=8h`: a status name and a duration.
pub fn parse_status_interval(raw: &str) -> Result<(Status, Duration), String> {
    let (status, d) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?} is not STATUS=DURATION (e.g. InTransit=8h)"))?;
    let status = Status::parse(status).map_err(|e| e.to_string())?;
    Ok((status, parse_interval(d)?))
}

/// `30m`, `1h`, `90s`, `2d`: a positive whole number and a unit.
pub fn parse_interval(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{raw:?} has no unit (use s, m, h or d, e.g. 30m)"))?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration (e.g. 30m, 1h, 90s)"))?;
    let d = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => None,
    }
    .ok_or_else(|| format!("{raw:?} is not a duration (e.g. 30m, 1h, 90s)"))?;
    if d <= Duration::zero() || d > Duration::days(365) {
        return Err(format!("{raw:?} must be between 1s and 365d"));
    }
    Ok(d)
}

pub async fn run(a: BenchArgs) -> Result<u8, Failure> {
    if a.parcels == 0 {
        return Err(Failure::input("--parcels must be at least 1"));
    }
    if a.parcels > 50_000_000 {
        return Err(Failure::input("--parcels must be at most 50,000,000"));
    }
    if a.days == 0 || a.days > 366 {
        return Err(Failure::input("--days must be between 1 and 366"));
    }
    if !(a.query_price_usd.is_finite() && a.query_price_usd >= 0.0) {
        return Err(Failure::input("--query-price-usd must be a number >= 0"));
    }
    if !(a.query_wait_ms.is_finite() && a.query_wait_ms >= 0.0) {
        return Err(Failure::input("--query-wait-ms must be a number >= 0"));
    }
    let settings = Settings::from_env()?;
    let mut config = BenchConfig {
        parcels: a.parcels,
        days: a.days,
        seed: a.seed,
        mode: match a.mode {
            ModeArg::Poll => TrackingMode::Poll,
            ModeArg::Push => TrackingMode::Push,
        },
        wire: match a.wire {
            WireArg::Direct => Wire::Direct,
            WireArg::Json => Wire::Json,
        },
        baseline: bench::baseline::BaselineConfig {
            interval: a.baseline_interval,
            ..Default::default()
        },
        ..BenchConfig::default()
    };
    config.policy = settings.poll.clone();
    if let Some(n) = a.quiet_divisor {
        config.policy.quiet_divisor = n;
    }
    for &(status, interval) in &a.poll_interval {
        config.policy.set_interval(status, interval);
    }
    eprintln!(
        "sentinel bench: {} parcels, {} days, seed {}, {} mode — running the baseline, then Sentinel…",
        config.parcels,
        config.days,
        config.seed,
        mode_str(config.mode)
    );
    let report = bench::run(&config, &settings)
        .await
        .map_err(|e| Failure::runtime(e.to_string()))?;
    let inputs = CostInputs {
        query_price_usd: a.query_price_usd,
        query_wait_s: a.query_wait_ms / 1000.0,
        ..CostInputs::default()
    };
    print!("{}", table(&report));
    if a.cost {
        print!("{}", cost_table(&report, &inputs));
    }
    if let Some(path) = &a.json {
        let mut v = to_json(&report);
        if a.cost {
            v["cost"] = cost_json(&report, &inputs);
        }
        let text = serde_json::to_string_pretty(&v)
            .map_err(|e| Failure::runtime(format!("cannot encode the JSON: {e}")))?;
        std::fs::write(path, text + "\n")
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(0)
}

fn mode_str(m: TrackingMode) -> &'static str {
    match m {
        TrackingMode::Poll => "poll",
        TrackingMode::Push => "push",
    }
}

fn fmt_interval(d: Duration) -> String {
    let s = d.num_seconds();
    if s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn fmt_secs(s: Option<i64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        Some(s) => format!("{:.1}h", s as f64 / 3600.0),
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:.2}%", v * 100.0))
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.3}", a / b)
    } else {
        "-".into()
    }
}

/// The figures of one side, in the JSON contract's units.
struct Figures {
    queries_per_parcel: f64,
    queries_per_delivered: f64,
    writes_per_parcel: f64,
    notifications_per_parcel: f64,
    raw_alerts_per_parcel: f64,
    recall: Option<f64>,
    precision: Option<f64>,
    p50: Option<i64>,
    p95: Option<i64>,
    max: Option<i64>,
    parcels_per_s: f64,
    peak_rss_mb: Option<f64>,
}

fn figures(r: &BenchReport, s: &Side) -> Figures {
    let delivered_parcels = r.delivered.max(1) as f64;
    let o = &s.scores.overall;
    Figures {
        queries_per_parcel: r.per_parcel(s.queries),
        queries_per_delivered: s.queries_on_delivered as f64 / delivered_parcels,
        writes_per_parcel: r.per_parcel(s.writes),
        notifications_per_parcel: r.per_parcel(s.messages),
        raw_alerts_per_parcel: r.per_parcel(s.raw_alerts),
        recall: o.recall(),
        precision: o.precision(),
        p50: o.latency(0.5),
        p95: o.latency(0.95),
        max: o.latency_max(),
        parcels_per_s: if s.wall_s > 0.0 {
            r.config.parcels as f64 / s.wall_s
        } else {
            0.0
        },
        peak_rss_mb: s.peak_rss_mb,
    }
}

fn is_time_rule(rule: Rule) -> bool {
    !rule.is_event_rule()
}

/// The printed report: the side-by-side table, per-rule detection and targets.
pub fn table(r: &BenchReport) -> String {
    let mut out = String::new();
    let c = &r.config;
    let (s, b) = (figures(r, &r.sentinel), figures(r, &r.baseline));
    let _ = writeln!(
        out,
        "\nFleet benchmark: {} parcels over {} days (seed {}), {} mode, {} wire; Sentinel ticks every {}, the baseline polls every {}.",
        c.parcels,
        c.days,
        c.seed,
        mode_str(c.mode),
        c.wire.as_str(),
        fmt_interval(TICK),
        fmt_interval(c.baseline.interval)
    );
    let events_pp = r.per_parcel(r.events);
    let _ = writeln!(
        out,
        "Carrier traces by the end: {} ({:.2} per parcel); parcels delivered: {} ({:.1}%); fleet and ground truth built in {:.1} s.\n",
        r.events,
        events_pp,
        r.delivered,
        100.0 * r.per_parcel(r.delivered),
        r.setup_s
    );
    let _ = writeln!(
        out,
        "  {:<40} {:>14} {:>14} {:>10}",
        "", "Sentinel", "Baseline", "S/B"
    );
    let mut row = |name: &str, a: String, b: String, rt: String| {
        let _ = writeln!(out, "  {name:<40} {a:>14} {b:>14} {rt:>10}");
    };
    let num = |x: f64| format!("{x:.2}");
    row(
        "carrier queries / parcel",
        num(s.queries_per_parcel),
        num(b.queries_per_parcel),
        ratio(s.queries_per_parcel, b.queries_per_parcel),
    );
    row(
        "carrier queries / delivered parcel",
        num(s.queries_per_delivered),
        num(b.queries_per_delivered),
        ratio(s.queries_per_delivered, b.queries_per_delivered),
    );
    row(
        "store writes / parcel",
        num(s.writes_per_parcel),
        num(b.writes_per_parcel),
        ratio(s.writes_per_parcel, b.writes_per_parcel),
    );
    row(
        "notifications sent / parcel (digests)",
        format!("{:.4}", s.notifications_per_parcel),
        format!("{:.4}", b.notifications_per_parcel),
        ratio(s.notifications_per_parcel, b.notifications_per_parcel),
    );
    row(
        "raw alerts / parcel",
        format!("{:.4}", s.raw_alerts_per_parcel),
        format!("{:.4}", b.raw_alerts_per_parcel),
        ratio(s.raw_alerts_per_parcel, b.raw_alerts_per_parcel),
    );
    if c.mode == TrackingMode::Push {
        row(
            "pushes taken in / parcel",
            num(r.per_parcel(r.sentinel.pushes)),
            "-".into(),
            "-".into(),
        );
    }
    let (so, bo) = (&r.sentinel.scores.overall, &r.baseline.scores.overall);
    row(
        "recall, all rules",
        pct(s.recall),
        pct(b.recall),
        ratio(s.recall.unwrap_or(0.0), b.recall.unwrap_or(0.0)),
    );
    row(
        "precision, all rules",
        pct(s.precision),
        pct(b.precision),
        ratio(s.precision.unwrap_or(0.0), b.precision.unwrap_or(0.0)),
    );
    row(
        "expected / caught / alert episodes",
        format!("{}/{}/{}", so.expected, so.caught, so.alerts),
        format!("{}/{}/{}", bo.expected, bo.caught, bo.alerts),
        "-".into(),
    );
    let lat = |x: Option<i64>| x.map_or(0.0, |v| v as f64);
    row(
        "detection latency p50",
        fmt_secs(s.p50),
        fmt_secs(b.p50),
        ratio(lat(s.p50), lat(b.p50)),
    );
    row(
        "detection latency p95",
        fmt_secs(s.p95),
        fmt_secs(b.p95),
        ratio(lat(s.p95), lat(b.p95)),
    );
    row(
        "detection latency max",
        fmt_secs(s.max),
        fmt_secs(b.max),
        ratio(lat(s.max), lat(b.max)),
    );
    row(
        "CPU time (s)",
        format!("{:.2}", r.sentinel.cpu_s),
        format!("{:.2}", r.baseline.cpu_s),
        ratio(r.sentinel.cpu_s, r.baseline.cpu_s),
    );
    row(
        "wall time (s)",
        format!("{:.2}", r.sentinel.wall_s),
        format!("{:.2}", r.baseline.wall_s),
        ratio(r.sentinel.wall_s, r.baseline.wall_s),
    );
    let mb = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.0}"));
    row(
        "peak RSS (MB)",
        mb(s.peak_rss_mb),
        mb(b.peak_rss_mb),
        ratio(s.peak_rss_mb.unwrap_or(0.0), b.peak_rss_mb.unwrap_or(0.0)),
    );
    row(
        "parcels processed / s",
        format!("{:.0}", s.parcels_per_s),
        format!("{:.0}", b.parcels_per_s),
        ratio(s.parcels_per_s, b.parcels_per_s),
    );

    let _ = writeln!(
        out,
        "\nDetection per rule (expectations due by {}; latency = first alert − when the rule's condition became true)",
        shared::time::local_minutes(r.judge_until)
    );
    let _ = writeln!(
        out,
        "  {:<24} {:>8} | {:>8} {:>9} {:>6} {:>8} {:>8} {:>8} | {:>8} {:>9} {:>8} {:>8}",
        "rule",
        "expected",
        "recall",
        "precision",
        "false",
        "p50",
        "p95",
        "max",
        "B recall",
        "B precis.",
        "B p50",
        "B p95"
    );
    for rule in RULE_ORDER {
        let d = &r.sentinel.scores.per_rule[&rule];
        let bd = &r.baseline.scores.per_rule[&rule];
        if d.expected == 0 && d.alerts == 0 && bd.alerts == 0 {
            continue;
        }
        let _ = writeln!(
            out,
            "  {:<24} {:>8} | {:>8} {:>9} {:>6} {:>8} {:>8} {:>8} | {:>8} {:>9} {:>8} {:>8}",
            rule.as_str(),
            d.expected,
            pct(d.recall()),
            pct(d.precision()),
            d.false_alerts(),
            fmt_secs(d.latency(0.5)),
            fmt_secs(d.latency(0.95)),
            fmt_secs(d.latency_max()),
            pct(bd.recall()),
            pct(bd.precision()),
            fmt_secs(bd.latency(0.5)),
            fmt_secs(bd.latency(0.95)),
        );
    }
    let mut shown = 0;
    for rule in RULE_ORDER {
        for &i in &r.sentinel.scores.per_rule[&rule].missed {
            if shown == 10 {
                break;
            }
            shown += 1;
            let _ = writeln!(
                out,
                "  missed by Sentinel: {} {} (injected anomaly: {})",
                r.parcel_id(i),
                rule.as_str(),
                r.parcel_anomaly(i)
            );
        }
    }
    out.push_str(&targets(r, &s, events_pp));
    let st = r.sentinel.store.unwrap_or_default();
    let _ = writeln!(
        out,
        "\nSentinel's writes: {} shipment puts + {} alert records inserted + {} outbox records marked delivered; {} shipment reads; {} checks ({} from pushes); mean stored item {:.0} bytes.",
        st.shipment_puts,
        st.alert_inserts,
        st.marks_delivered,
        st.shipment_gets,
        r.sentinel.checks,
        r.sentinel.pushes,
        r.sentinel.item_bytes.unwrap_or(0.0)
    );
    let by_status: Vec<String> = Status::ALL
        .iter()
        .zip(r.sentinel.queries_by_status)
        .filter(|(_, n)| *n > 0)
        .map(|(st, n)| format!("{st:?} {:.2}", r.per_parcel(n)))
        .collect();
    if !by_status.is_empty() {
        let _ = writeln!(
            out,
            "Sentinel's carrier queries per parcel by the parcel's status when queried: {}.",
            by_status.join(", ")
        );
    }
    if !r.peak_reset_worked {
        let _ = writeln!(
            out,
            "(The peak-RSS mark could not be reset between the runs: both peaks are the process's.)"
        );
    }
    out
}

fn met(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "NOT MET"
    }
}

fn targets(r: &BenchReport, s: &Figures, events_pp: f64) -> String {
    let mut out = String::new();
    let b = figures(r, &r.baseline);
    let _ = writeln!(out, "\nTargets");
    match r.config.mode {
        TrackingMode::Poll => {
            let limit = b.queries_per_delivered / 10.0;
            let _ = writeln!(
                out,
                "  queries per delivered parcel ≤ 1/10 of the baseline's ({:.2}): {:.2} — {}",
                limit,
                s.queries_per_delivered,
                met(s.queries_per_delivered <= limit)
            );
        }
        TrackingMode::Push => {
            let _ = writeln!(
                out,
                "  queries per delivered parcel ≤ 1.2 (push): {:.2} — {}",
                s.queries_per_delivered,
                met(s.queries_per_delivered <= 1.2)
            );
        }
    }
    let mut recall_ok = true;
    let mut precision_ok = true;
    let mut time_ok = true;
    let mut event_ok = true;
    let event_limit = match r.config.mode {
        TrackingMode::Poll => 2 * 3600,
        TrackingMode::Push => 5 * 60,
    };
    let mut worst_time: Option<(Rule, i64)> = None;
    let mut worst_event: Option<(Rule, i64)> = None;
    for rule in RULE_ORDER {
        let d: &Detection = &r.sentinel.scores.per_rule[&rule];
        if d.expected > 0 && d.recall() != Some(1.0) {
            recall_ok = false;
        }
        if d.precision().is_some_and(|p| p < 0.995) {
            precision_ok = false;
        }
        let Some(p95) = d.latency(0.95) else { continue };
        let (limit, ok, worst) = if is_time_rule(rule) {
            (TICK.num_seconds(), &mut time_ok, &mut worst_time)
        } else {
            (event_limit, &mut event_ok, &mut worst_event)
        };
        if p95 > limit {
            *ok = false;
        }
        if worst.is_none_or(|(_, w)| p95 > w) {
            *worst = Some((rule, p95));
        }
    }
    let _ = writeln!(
        out,
        "  recall 100% for every rule: {} — {}",
        pct(r.sentinel.scores.overall.recall()),
        met(recall_ok)
    );
    let _ = writeln!(
        out,
        "  precision ≥ 99.5% for every rule: {} overall — {}",
        pct(r.sentinel.scores.overall.precision()),
        met(precision_ok)
    );
    let worst = |w: Option<(Rule, i64)>| {
        w.map_or("-".into(), |(rule, s)| {
            format!("worst p95 {} ({})", fmt_secs(Some(s)), rule.as_str())
        })
    };
    let _ = writeln!(
        out,
        "  time-based rules p95 ≤ {}: {} — {}",
        fmt_interval(TICK),
        worst(worst_time),
        met(time_ok)
    );
    let _ = writeln!(
        out,
        "  event-based rules p95 ≤ {}: {} — {}",
        fmt_secs(Some(event_limit)),
        worst(worst_event),
        met(event_ok)
    );
    let _ = writeln!(
        out,
        "  store writes per parcel ≤ traces per parcel + 3 ({:.2}): {:.2} — {}",
        events_pp + 3.0,
        s.writes_per_parcel,
        met(s.writes_per_parcel <= events_pp + 3.0)
    );
    let _ = writeln!(
        out,
        "  whole pipeline ≥ 50,000 parcels/s: {:.0} — {}",
        s.parcels_per_s,
        met(s.parcels_per_s >= 50_000.0)
    );
    out
}

fn opt_f(x: Option<f64>) -> Value {
    x.map_or(Value::Null, |v| json!(v))
}

fn opt_i(x: Option<i64>) -> Value {
    x.map_or(Value::Null, |v| json!(v))
}

fn side_json(r: &BenchReport, side: &Side) -> Value {
    let f = figures(r, side);
    json!({
        "queries_per_parcel": f.queries_per_parcel,
        "queries_per_delivered": f.queries_per_delivered,
        "writes_per_parcel": f.writes_per_parcel,
        "notifications_per_parcel": f.notifications_per_parcel,
        "recall": opt_f(f.recall),
        "precision": opt_f(f.precision),
        "latency_p50_s": opt_i(f.p50),
        "latency_p95_s": opt_i(f.p95),
        "latency_max_s": opt_i(f.max),
        "parcels_per_s": f.parcels_per_s,
        "peak_rss_mb": opt_f(f.peak_rss_mb),
    })
}

/// The machine-readable report (the public contract of issue 6, plus `extra`).
pub fn to_json(r: &BenchReport) -> Value {
    let mut per_rule = Map::new();
    for rule in RULE_ORDER {
        let d = &r.sentinel.scores.per_rule[&rule];
        let bd = &r.baseline.scores.per_rule[&rule];
        per_rule.insert(
            rule.as_str().to_string(),
            json!({
                "recall": opt_f(d.recall()),
                "precision": opt_f(d.precision()),
                "latency_p50_s": opt_i(d.latency(0.5)),
                "latency_p95_s": opt_i(d.latency(0.95)),
                "baseline_latency_p95_s": opt_i(bd.latency(0.95)),
            }),
        );
    }
    let extra = |s: &Side| {
        json!({
            "queries": s.queries,
            "checks": s.checks,
            "pushes": s.pushes,
            "writes": s.writes,
            "reads": s.reads,
            "raw_alerts": s.raw_alerts,
            "notifications": s.messages,
            "cpu_s": s.cpu_s,
            "wall_s": s.wall_s,
        })
    };
    json!({
        "parcels": r.config.parcels,
        "days": r.config.days,
        "seed": r.config.seed,
        "mode": mode_str(r.config.mode),
        "sentinel": side_json(r, &r.sentinel),
        "baseline": side_json(r, &r.baseline),
        "per_rule": per_rule,
        "extra": {
            "wire": r.config.wire.as_str(),
            "baseline_interval_s": r.config.baseline.interval.num_seconds(),
            "tick_s": TICK.num_seconds(),
            "delivered": r.delivered,
            "traces": r.events,
            "sentinel": extra(&r.sentinel),
            "baseline": extra(&r.baseline),
        },
    })
}

const VOLUMES: [u64; 3] = [10_000, 100_000, 1_000_000];

fn cost_table(r: &BenchReport, inputs: &CostInputs) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nMonthly cost (USD, 30 days, AWS us-east-1 on-demand without free tiers, SMS excluded; carrier query ${} each; Lambda arm64 {} MB, {} ms carrier wait per query, TrackBatch of {})",
        inputs.query_price_usd,
        (inputs.memory_gb * 1024.0).round(),
        (inputs.query_wait_s * 1000.0).round(),
        inputs.batch
    );
    for (name, side, sentinel) in [
        ("Sentinel", &r.sentinel, true),
        ("Baseline", &r.baseline, false),
    ] {
        let u = cost::usage(r, side, sentinel, inputs);
        let _ = writeln!(
            out,
            "  {name}: per parcel {:.2} queries, {:.3} Lambda requests, {:.4} GB-s, {:.2} WRU, {:.2} RRU, {:.3} events, {:.4} SNS publishes",
            u.queries, u.lambda_requests, u.lambda_gb_s, u.wru, u.rru, u.events, u.publishes
        );
        let _ = writeln!(
            out,
            "    {:>12} {:>14} {:>10} {:>10} {:>11} {:>8} {:>14}",
            "parcels/day", "carrier", "Lambda", "DynamoDB", "EventBridge", "SNS", "total"
        );
        for v in VOLUMES {
            let m = cost::monthly(&u, v, inputs);
            let _ = writeln!(
                out,
                "    {:>12} {:>14.0} {:>10.2} {:>10.2} {:>11.2} {:>8.2} {:>14.0}",
                v, m.carrier_queries, m.lambda, m.dynamodb, m.eventbridge, m.sns, m.total
            );
        }
    }
    out
}

fn cost_json(r: &BenchReport, inputs: &CostInputs) -> Value {
    let side = |s: &Side, sentinel: bool| {
        let u = cost::usage(r, s, sentinel, inputs);
        let months: Vec<_> = VOLUMES
            .iter()
            .map(|&v| cost::monthly(&u, v, inputs))
            .collect();
        json!({ "usage_per_parcel": u, "monthly": months })
    };
    json!({
        "inputs": inputs,
        "sentinel": side(&r.sentinel, true),
        "baseline": side(&r.baseline, false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_interval("30m"), Ok(Duration::minutes(30)));
        assert_eq!(parse_interval("1h"), Ok(Duration::hours(1)));
        assert_eq!(parse_interval("90s"), Ok(Duration::seconds(90)));
        assert_eq!(parse_interval("2d"), Ok(Duration::days(2)));
        for bad in [
            "abc",
            "",
            "30",
            "m",
            "0m",
            "-5m",
            "5 m",
            "5x",
            "99999999999999999999d",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad:?}");
        }
    }
}
