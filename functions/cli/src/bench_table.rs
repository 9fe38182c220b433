//! The printed report of `sentinel bench`: the header, the side-by-side table of
//! Sentinel against the baseline, detection per rule, the targets and
//! Sentinel's own figures (see [`table`]).

use std::fmt::Write as _;

use chrono::Duration;

use sentinel_sim::bench::metrics::Detection;
use sentinel_sim::bench::{BenchReport, RULE_ORDER, TICK};
use shared::domain::Rule;
use shared::domain::Status;
use shared::schedule::TrackingMode;

use crate::bench::{figures, mode_str, Figures};
use crate::duration::fmt_secs;

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

fn is_time_rule(rule: Rule) -> bool {
    !rule.is_event_rule()
}

/// The printed report: the side-by-side table, per-rule detection and targets.
pub fn table(r: &BenchReport) -> String {
    let mut out = String::new();
    let (s, b) = (figures(r, &r.sentinel), figures(r, &r.baseline));
    let events_pp = r.per_parcel(r.events);
    header(&mut out, r, events_pp);
    side_by_side(&mut out, r, &s, &b);
    detection_per_rule(&mut out, r);
    missed_by_sentinel(&mut out, r);
    out.push_str(&targets(r, &s, events_pp));
    sentinel_figures(&mut out, r);
    estimated_delivery(&mut out, r);
    lane_rules(&mut out, r);
    out
}

/// How the lane rules did (scored apart from the fixed rules).
fn lane_rules(out: &mut String, r: &BenchReport) {
    let l = &r.sentinel.lane_rules;
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
    let hours = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} h"));
    let _ = writeln!(
        out,
        "\nLane rules (after the warm-up):\n  predicted_late: {} of {} late parcels flagged at least 24 h before the promise ({} before it), precision {} ({} flagged); told apart from a healthy journey a day ahead (the most any prediction could flag then): {} of them, {} of those flagged\n  slow_lane: found {} of {} stalls before `stalled`, median lead {} (same city or province: {}), precision {} ({} alerts); all rules' precision with it {}",
        pct(l.predicted_late_recall_24h()),
        l.late,
        pct(l.predicted_late_recall()),
        pct(l.predicted_late_precision()),
        l.flagged,
        pct(l.predicted_late_knowable_24h()),
        pct(l.predicted_late_recall_24h_of_knowable()),
        pct(l.slow_lane_found()),
        l.stalls,
        hours(l.slow_lane_median_lead_h()),
        hours(l.slow_lane_fast_median_lead_h()),
        pct(l.slow_lane_precision()),
        l.slow_alerts,
        pct(l.overall_precision_with_slow_lane(&r.sentinel.scores)),
    );
    if !l.predicted_late_by_anomaly.is_empty() {
        let by: Vec<String> = l
            .predicted_late_by_anomaly
            .iter()
            .map(|(a, b)| {
                format!(
                    "{a} {}/{} ({} false)",
                    b.late_flagged_24h, b.late, b.false_flags
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  predicted_late by injected anomaly (late parcels flagged 24 h ahead / late, and on-time parcels flagged): {}",
            by.join(", ")
        );
    }
    if l.flagged > 0 {
        let by: Vec<String> = l
            .flags_by_lead_band()
            .map(|(b, f)| format!("{b} h+ {}/{}", f.late, f.flagged))
            .collect();
        let _ = writeln!(
            out,
            "  predicted_late's first flags by hours before the promise (late / flagged): {}",
            by.join(", ")
        );
    }
    if !l.slow_false_by_anomaly.is_empty() {
        let by: Vec<String> = l
            .slow_false_by_anomaly
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "  slow_lane alerts that did not become a stall, by injected anomaly: {}",
            by.join(", ")
        );
    }
}

/// How the estimated deliveries did after the warm-up.
fn estimated_delivery(out: &mut String, r: &BenchReport) {
    let p = &r.sentinel.prediction;
    let warm_up = fmt_interval(sentinel_sim::bench::prediction::WARM_UP);
    let (Some(p90), Some(p50), Some(err), Some(mean), Some(lanes)) = (
        p.p90_coverage(),
        p.p50_coverage(),
        p.p50_abs_error_h(),
        p.p50_mean_abs_error_h(),
        p.from_lanes_share(),
    ) else {
        let _ = writeln!(
            out,
            "\nEstimated delivery: nothing judged (estimates are judged after a {warm_up} warm-up; run longer)."
        );
        return;
    };
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
    let _ = writeln!(
        out,
        "\nEstimated delivery, judged every {} after a {warm_up} warm-up against the actual delivery ({} deliveries, {} estimates, {:.0}% from learned lanes):\n  p90 covers {:.1}% of deliveries (parcels without an injected anomaly {}; per estimate {}), p50 {:.1}%;\n  |p50 - delivery| median {:.1} h, mean {:.1} h",
        fmt_interval(sentinel_sim::bench::prediction::EVERY),
        p.deliveries(),
        p.judged,
        100.0 * lanes,
        100.0 * p90,
        pct(p.p90_coverage_healthy()),
        pct(p.p90_coverage_per_estimate()),
        100.0 * p50,
        err,
        mean
    );
    let by: Vec<String> = p
        .p90_coverage_by_anomaly()
        .into_iter()
        .filter(|(anomaly, _, _)| *anomaly != "none")
        .map(|(anomaly, n, coverage)| format!("{anomaly} {:.0}% ({n})", 100.0 * coverage))
        .collect();
    if !by.is_empty() {
        let _ = writeln!(
            out,
            "  p90 coverage by injected anomaly (deliveries): {}",
            by.join(", ")
        );
    }
}

/// What was run, and what the fleet did by the end.
fn header(out: &mut String, r: &BenchReport, events_pp: f64) {
    let c = &r.config;
    let _ = writeln!(
        out,
        "\nFleet benchmark: {} parcels registered over {} days, run for {} days (seed {}), {} mode, {} wire; Sentinel ticks every {}, the baseline polls every {}.",
        c.parcels,
        c.register_days(),
        c.days,
        c.seed,
        mode_str(c.mode),
        c.wire.as_str(),
        fmt_interval(TICK),
        fmt_interval(c.baseline.interval)
    );
    let _ = writeln!(
        out,
        "Carrier traces by the end: {} ({:.2} per parcel); parcels delivered: {} ({:.1}%); fleet and ground truth built in {:.1} s.\n",
        r.events,
        events_pp,
        r.delivered,
        100.0 * r.per_parcel(r.delivered),
        r.setup_s
    );
}

/// One row of the side-by-side table.
fn row(out: &mut String, name: &str, a: String, b: String, rt: String) {
    let _ = writeln!(out, "  {name:<40} {a:>14} {b:>14} {rt:>10}");
}

fn num(x: f64) -> String {
    format!("{x:.2}")
}

/// The side-by-side table: its column header, then work, detection and resources.
fn side_by_side(out: &mut String, r: &BenchReport, s: &Figures, b: &Figures) {
    let _ = writeln!(
        out,
        "  {:<40} {:>14} {:>14} {:>10}",
        "", "Sentinel", "Baseline", "S/B"
    );
    work_rows(out, r, s, b);
    detection_rows(out, r, s, b);
    resource_rows(out, r, s, b);
}

/// Carrier queries, store writes, notifications, raw alerts (and pushes).
fn work_rows(out: &mut String, r: &BenchReport, s: &Figures, b: &Figures) {
    row(
        out,
        "carrier queries / parcel",
        num(s.queries_per_parcel),
        num(b.queries_per_parcel),
        ratio(s.queries_per_parcel, b.queries_per_parcel),
    );
    row(
        out,
        "carrier queries / delivered parcel",
        num(s.queries_per_delivered),
        num(b.queries_per_delivered),
        ratio(s.queries_per_delivered, b.queries_per_delivered),
    );
    row(
        out,
        "store writes / parcel",
        num(s.writes_per_parcel),
        num(b.writes_per_parcel),
        ratio(s.writes_per_parcel, b.writes_per_parcel),
    );
    row(
        out,
        "notifications sent / parcel (digests)",
        format!("{:.4}", s.notifications_per_parcel),
        format!("{:.4}", b.notifications_per_parcel),
        ratio(s.notifications_per_parcel, b.notifications_per_parcel),
    );
    row(
        out,
        "raw alerts / parcel",
        format!("{:.4}", s.raw_alerts_per_parcel),
        format!("{:.4}", b.raw_alerts_per_parcel),
        ratio(s.raw_alerts_per_parcel, b.raw_alerts_per_parcel),
    );
    if r.config.mode == TrackingMode::Push {
        row(
            out,
            "pushes taken in / parcel",
            num(r.per_parcel(r.sentinel.pushes)),
            "-".into(),
            "-".into(),
        );
    }
}

/// Recall, precision, the expectation counts and the detection latencies.
fn detection_rows(out: &mut String, r: &BenchReport, s: &Figures, b: &Figures) {
    let (so, bo) = (&r.sentinel.scores.overall, &r.baseline.scores.overall);
    row(
        out,
        "recall, all rules",
        pct(s.recall),
        pct(b.recall),
        ratio(s.recall.unwrap_or(0.0), b.recall.unwrap_or(0.0)),
    );
    row(
        out,
        "precision, all rules",
        pct(s.precision),
        pct(b.precision),
        ratio(s.precision.unwrap_or(0.0), b.precision.unwrap_or(0.0)),
    );
    row(
        out,
        "expected / caught / alert episodes",
        format!("{}/{}/{}", so.expected, so.caught, so.alerts),
        format!("{}/{}/{}", bo.expected, bo.caught, bo.alerts),
        "-".into(),
    );
    let lat = |x: Option<i64>| x.map_or(0.0, |v| v as f64);
    for (name, sv, bv) in [
        ("detection latency p50", s.p50, b.p50),
        ("detection latency p95", s.p95, b.p95),
        ("detection latency max", s.max, b.max),
    ] {
        row(
            out,
            name,
            fmt_secs(sv),
            fmt_secs(bv),
            ratio(lat(sv), lat(bv)),
        );
    }
}

/// CPU and wall time, peak memory and throughput.
fn resource_rows(out: &mut String, r: &BenchReport, s: &Figures, b: &Figures) {
    row(
        out,
        "CPU time (s)",
        format!("{:.2}", r.sentinel.cpu_s),
        format!("{:.2}", r.baseline.cpu_s),
        ratio(r.sentinel.cpu_s, r.baseline.cpu_s),
    );
    row(
        out,
        "wall time (s)",
        format!("{:.2}", r.sentinel.wall_s),
        format!("{:.2}", r.baseline.wall_s),
        ratio(r.sentinel.wall_s, r.baseline.wall_s),
    );
    let mb = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.0}"));
    row(
        out,
        "peak RSS (MB)",
        mb(s.peak_rss_mb),
        mb(b.peak_rss_mb),
        ratio(s.peak_rss_mb.unwrap_or(0.0), b.peak_rss_mb.unwrap_or(0.0)),
    );
    row(
        out,
        "parcels processed / s",
        format!("{:.0}", s.parcels_per_s),
        format!("{:.0}", b.parcels_per_s),
        ratio(s.parcels_per_s, b.parcels_per_s),
    );
}

/// Recall, precision and latency per rule, both sides.
fn detection_per_rule(out: &mut String, r: &BenchReport) {
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
}

/// The first ten expectations Sentinel missed.
fn missed_by_sentinel(out: &mut String, r: &BenchReport) {
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
}

/// Sentinel's store traffic, its queries by status, and the peak-RSS caveat.
fn sentinel_figures(out: &mut String, r: &BenchReport) {
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
}

fn met(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "NOT MET"
    }
}

/// Whether Sentinel met the per-rule targets, and the worst p95 latency of each
/// kind of rule.
struct RuleVerdicts {
    recall_ok: bool,
    precision_ok: bool,
    time_ok: bool,
    event_ok: bool,
    worst_time: Option<(Rule, i64)>,
    worst_event: Option<(Rule, i64)>,
}

/// The p95 limit of the event-based rules, seconds.
fn event_limit(mode: TrackingMode) -> i64 {
    match mode {
        TrackingMode::Poll => 2 * 3600,
        TrackingMode::Push => 5 * 60,
    }
}

fn rule_verdicts(r: &BenchReport, event_limit: i64) -> RuleVerdicts {
    let mut v = RuleVerdicts {
        recall_ok: true,
        precision_ok: true,
        time_ok: true,
        event_ok: true,
        worst_time: None,
        worst_event: None,
    };
    for rule in RULE_ORDER {
        let d: &Detection = &r.sentinel.scores.per_rule[&rule];
        if d.expected > 0 && d.recall() != Some(1.0) {
            v.recall_ok = false;
        }
        if d.precision().is_some_and(|p| p < 0.995) {
            v.precision_ok = false;
        }
        let Some(p95) = d.latency(0.95) else { continue };
        let (limit, ok, worst) = if is_time_rule(rule) {
            (TICK.num_seconds(), &mut v.time_ok, &mut v.worst_time)
        } else {
            (event_limit, &mut v.event_ok, &mut v.worst_event)
        };
        if p95 > limit {
            *ok = false;
        }
        if worst.is_none_or(|(_, w)| p95 > w) {
            *worst = Some((rule, p95));
        }
    }
    v
}

/// The query target: a tenth of the baseline's queries when polling, 1.2 per
/// delivered parcel with pushes.
fn query_target(out: &mut String, r: &BenchReport, s: &Figures) {
    match r.config.mode {
        TrackingMode::Poll => {
            let b = figures(r, &r.baseline);
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
}

/// The targets, each MET or NOT MET.
fn targets(r: &BenchReport, s: &Figures, events_pp: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nTargets");
    query_target(&mut out, r, s);
    let event_limit = event_limit(r.config.mode);
    let v = rule_verdicts(r, event_limit);
    let _ = writeln!(
        out,
        "  recall 100% for every rule: {} — {}",
        pct(r.sentinel.scores.overall.recall()),
        met(v.recall_ok)
    );
    let _ = writeln!(
        out,
        "  precision ≥ 99.5% for every rule: {} overall — {}",
        pct(r.sentinel.scores.overall.precision()),
        met(v.precision_ok)
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
        worst(v.worst_time),
        met(v.time_ok)
    );
    let _ = writeln!(
        out,
        "  event-based rules p95 ≤ {}: {} — {}",
        fmt_secs(Some(event_limit)),
        worst(v.worst_event),
        met(v.event_ok)
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
