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
use sentinel_sim::bench::prediction;
use sentinel_sim::bench::{BenchConfig, BenchReport, Side, Wire, RULE_ORDER, TICK};
use shared::budget::DailyBudget;
use shared::config::Settings;
use shared::domain::Status;
use shared::schedule::TrackingMode;

use crate::{bench_table, duration, Failure};

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
    #[arg(long, default_value_t = 100_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    pub parcels: usize,
    /// Simulated days.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub days: u32,
    /// Simulator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Parcels are registered over the first N days [default: 3 (fewer for
    /// shorter runs), or days - 7 in runs longer than 14 days].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=365))]
    pub register_days: Option<u32>,
    /// How tracking data arrives: Sentinel polls the carrier, or the carrier pushes.
    #[arg(long, value_enum, default_value_t = ModeArg::Poll)]
    pub mode: ModeArg,
    /// The baseline cron's interval: a number and a unit (s, m, h or d), e.g. 30m.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = duration::parse_up_to_a_year)]
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
    /// Sentinel's carrier queries per China day, never exceeded (as
    /// DAILY_QUERY_BUDGET=N): the run is made twice, with the budget and without,
    /// and the "budget" figures compare them.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(shared::budget::MAX_BUDGET)))]
    pub daily_budget: Option<u32>,
}

/// `InTransit=8h`: a status name and a duration.
pub fn parse_status_interval(raw: &str) -> Result<(Status, Duration), String> {
    let (status, d) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?} is not STATUS=DURATION (e.g. InTransit=8h)"))?;
    let status = Status::parse(status).map_err(|e| e.to_string())?;
    Ok((status, duration::parse_up_to_a_year(d)?))
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
        register_days: a.register_days,
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
    let mut settings = settings;
    if let Some(n) = a.daily_budget {
        settings.budget = DailyBudget::of(n);
    }
    let report = bench::run(&config, &settings)
        .await
        .map_err(|e| Failure::runtime(e.to_string()))?;
    // The same fleet without a budget, for the comparison.
    let unbudgeted = match a.daily_budget {
        Some(_) => {
            eprintln!("sentinel bench: again without the daily budget, for the comparison…");
            let free = Settings {
                budget: DailyBudget::NONE,
                ..settings.clone()
            };
            Some(
                bench::run(&config, &free)
                    .await
                    .map_err(|e| Failure::runtime(e.to_string()))?,
            )
        }
        None => None,
    };
    let inputs = CostInputs {
        query_price_usd: a.query_price_usd,
        query_wait_s: a.query_wait_ms / 1000.0,
        ..CostInputs::default()
    };
    print!("{}", bench_table::table(&report));
    let budget = a
        .daily_budget
        .zip(unbudgeted.as_ref())
        .map(|(n, free)| budget_json(n, &report, free));
    if let Some(b) = &budget {
        print!("{}", budget_table(b));
    }
    if a.cost {
        print!("{}", cost_table(&report, &inputs));
    }
    if let Some(path) = &a.json {
        let mut v = to_json(&report);
        if let Some(b) = budget {
            v["budget"] = b;
        }
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

pub(crate) fn mode_str(m: TrackingMode) -> &'static str {
    match m {
        TrackingMode::Poll => "poll",
        TrackingMode::Push => "push",
    }
}

/// The figures of one side, in the JSON contract's units.
pub(crate) struct Figures {
    pub(crate) queries_per_parcel: f64,
    pub(crate) queries_per_delivered: f64,
    pub(crate) writes_per_parcel: f64,
    pub(crate) notifications_per_parcel: f64,
    pub(crate) raw_alerts_per_parcel: f64,
    pub(crate) recall: Option<f64>,
    pub(crate) precision: Option<f64>,
    pub(crate) p50: Option<i64>,
    pub(crate) p95: Option<i64>,
    pub(crate) max: Option<i64>,
    pub(crate) parcels_per_s: f64,
    pub(crate) peak_rss_mb: Option<f64>,
}

pub(crate) fn figures(r: &BenchReport, s: &Side) -> Figures {
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

/// How the estimated deliveries did (`null` figures when nothing was judged: a
/// run no longer than the warm-up, or no parcel in flight after it). Coverage
/// is per delivered parcel; `_per_estimate` weighs each judged estimate alike.
fn prediction_json(r: &BenchReport) -> Value {
    let p = &r.sentinel.prediction;
    let l = &r.sentinel.lane_rules;
    json!({
        "p90_coverage": opt_f(p.p90_coverage()),
        "p50_coverage": opt_f(p.p50_coverage()),
        "p90_coverage_healthy": opt_f(p.p90_coverage_healthy()),
        "p90_coverage_per_estimate": opt_f(p.p90_coverage_per_estimate()),
        "p50_coverage_per_estimate": opt_f(p.p50_coverage_per_estimate()),
        "p50_abs_error_h": opt_f(p.p50_abs_error_h()),
        "p50_mean_abs_error_h": opt_f(p.p50_mean_abs_error_h()),
        "p90_coverage_by_anomaly": p
            .p90_coverage_by_anomaly()
            .into_iter()
            .map(|(anomaly, n, coverage)| (anomaly.to_string(), json!({"deliveries": n, "p90_coverage": coverage})))
            .collect::<serde_json::Map<String, Value>>(),
        "deliveries": p.deliveries(),
        "judged": p.judged,
        "from_lanes": opt_f(p.from_lanes_share()),
        "warm_up_h": prediction::WARM_UP.num_hours(),
        "every_h": prediction::EVERY.num_hours(),
        "predicted_late_recall_24h": opt_f(l.predicted_late_recall_24h()),
        "predicted_late_recall": opt_f(l.predicted_late_recall()),
        "predicted_late_knowable_24h": opt_f(l.predicted_late_knowable_24h()),
        "predicted_late_recall_24h_of_knowable": opt_f(l.predicted_late_recall_24h_of_knowable()),
        "predicted_late_precision": opt_f(l.predicted_late_precision()),
        "late_parcels": l.late,
        "predicted_late_flagged": l.flagged,
        "predicted_late_by_anomaly": l
            .predicted_late_by_anomaly
            .iter()
            .map(|(anomaly, b)| (anomaly.to_string(), json!({"late": b.late, "flagged_24h": b.late_flagged_24h, "false_flags": b.false_flags})))
            .collect::<serde_json::Map<String, Value>>(),
        "predicted_late_by_lead_h": l
            .flags_by_lead_band()
            .map(|(b, f)| (format!("{b}"), json!({"flagged": f.flagged, "late": f.late})))
            .collect::<serde_json::Map<String, Value>>(),
        "slow_lane_median_lead_h": opt_f(l.slow_lane_median_lead_h()),
        "slow_lane_fast_lanes_median_lead_h": opt_f(l.slow_lane_fast_median_lead_h()),
        "slow_lane_found": opt_f(l.slow_lane_found()),
        "slow_lane_precision": opt_f(l.slow_lane_precision()),
        "stalls": l.stalls,
        "slow_lane_alerts": l.slow_alerts,
        "overall_precision_with_slow_lane": opt_f(l.overall_precision_with_slow_lane(&r.sentinel.scores)),
    })
}

/// The `"budget"` figures of a run with a daily budget of `limit` queries
/// against the same fleet without one: queries per China day as the carrier
/// counted them (the days the run spans in full, and every day), checks
/// deferred, and detection with and without the budget.
fn budget_json(limit: u32, r: &BenchReport, free: &BenchReport) -> Value {
    let days = |s: &Side| -> Vec<u64> { s.queries_by_day.values().copied().collect() };
    let max = |s: &Side| days(s).into_iter().max().unwrap_or(0);
    let detection = |r: &BenchReport| {
        let f = figures(r, &r.sentinel);
        json!({
            "recall": opt_f(f.recall),
            "precision": opt_f(f.precision),
            "latency_p50_s": opt_i(f.p50),
            "latency_p95_s": opt_i(f.p95),
            "queries_per_delivered": f.queries_per_delivered,
            "max_queries_in_a_day": max(&r.sentinel),
        })
    };
    json!({
        "daily_budget": limit,
        "max_queries_in_a_day": max(&r.sentinel),
        "days_over_budget": days(&r.sentinel).iter().filter(|&&q| q > u64::from(limit)).count(),
        "queries_by_day": days(&r.sentinel),
        "deferred_checks": r.sentinel.deferred,
        "budgeted": detection(r),
        "unbudgeted": detection(free),
        "recall_vs_unbudgeted": match (r.sentinel.scores.overall.recall(), free.sentinel.scores.overall.recall()) {
            (Some(b), Some(f)) if f > 0.0 => json!(b / f),
            _ => Value::Null,
        },
    })
}

/// The text report's daily-budget section (from [`budget_json`]).
fn budget_table(b: &Value) -> String {
    let pct = |v: &Value| {
        v.as_f64()
            .map_or("—".into(), |x| format!("{:.1}%", x * 100.0))
    };
    let hours = |v: &Value| {
        v.as_f64()
            .map_or("—".into(), |s| format!("{:.1} h", s / 3600.0))
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nDaily query budget: {} queries per China day",
        b["daily_budget"]
    );
    let _ = writeln!(
        out,
        "  most queries in a day: {} (days over the budget: {}); checks deferred: {}",
        b["max_queries_in_a_day"], b["days_over_budget"], b["deferred_checks"]
    );
    let _ = writeln!(
        out,
        "  {:<14} {:>8} {:>10} {:>12} {:>16} {:>12}",
        "", "recall", "precision", "latency p95", "queries/delivered", "max per day"
    );
    for side in ["budgeted", "unbudgeted"] {
        let d = &b[side];
        let _ = writeln!(
            out,
            "  {:<14} {:>8} {:>10} {:>12} {:>16.2} {:>12}",
            side,
            pct(&d["recall"]),
            pct(&d["precision"]),
            hours(&d["latency_p95_s"]),
            d["queries_per_delivered"].as_f64().unwrap_or(0.0),
            d["max_queries_in_a_day"]
        );
    }
    out
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
        "register_days": r.config.register_days(),
        "mode": mode_str(r.config.mode),
        "prediction": prediction_json(r),
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
