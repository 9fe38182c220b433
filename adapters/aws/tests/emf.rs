//! The exact Embedded Metric Format lines the functions write (`sentinel_aws::metrics`
//! over `shared::metrics`): the namespace, one document of totals with an empty
//! dimension set (what the alarms read), one per label set with its dimensions as
//! members, each metric with its unit, counters as the count since the last flush.
//!
//! Its own test binary with one test: the recorder is the process's global one.

use serde_json::{json, Value};

use sentinel_aws::metrics::{Metrics, MetricsError};
use shared::domain::{Rule, Severity};
use shared::metrics as m;

const AT: u64 = 1_714_521_600_000;

fn lines(metrics: &Metrics) -> Vec<Value> {
    let mut out = Vec::new();
    metrics.flush_to(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "{text}");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// One EMF document: `metrics` (name, unit, value) with `dimensions` (name, value).
fn doc(dimensions: &[(&str, &str)], metrics: &[(&str, &str, Value)]) -> Value {
    let mut root = json!({
        "_aws": {
            "Timestamp": AT,
            "CloudWatchMetrics": [{
                "Namespace": "SentinelTest",
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics
                    .iter()
                    .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        },
    });
    for (k, v) in dimensions {
        root[*k] = json!(v);
    }
    for (name, _, value) in metrics {
        root[*name] = value.clone();
    }
    root
}

#[test]
fn each_metric_is_one_total_and_one_line_per_label_set() {
    let metrics = Metrics::install_at("SentinelTest", AT).unwrap();
    // Nothing counted yet: nothing written.
    assert_eq!(lines(&metrics), Vec::<Value>::new());

    m::parcel_checked();
    m::parcel_checked();
    m::carrier_query("kdniao", "ZTO", true);
    m::carrier_query("kdniao", "ZTO", false);
    m::carrier_query("kuaidi100", "SF", true);
    m::alert(Rule::Stalled, Severity::Critical);
    m::alert(Rule::NoTrace, Severity::Warning);
    m::notification(m::CHANNEL_SNS, true);
    m::notification(m::CHANNEL_SMS, false);
    m::notification("dingtalk", true);
    m::outbox_oldest_age(1800.0);

    let got = lines(&metrics);
    let count = |n: u64| ("Count", json!(n));
    let c = |name, n| {
        let (unit, value) = count(n);
        (name, unit, value)
    };
    let expected = vec![
        // The totals: no dimension at all.
        doc(
            &[],
            &[
                c("Alerts", 2),
                c("CarrierErrors", 1),
                c("CarrierQueries", 3),
                c("NotificationsFailed", 1),
                c("NotificationsSent", 2),
                ("OutboxOldestAgeSeconds", "Seconds", json!(1800.0)),
                c("ParcelsChecked", 2),
            ],
        ),
        doc(&[("Channel", "dingtalk")], &[c("NotificationsSent", 1)]),
        doc(&[("Channel", "sms")], &[c("NotificationsFailed", 1)]),
        doc(&[("Channel", "sns")], &[c("NotificationsSent", 1)]),
        doc(
            &[("Provider", "kdniao"), ("Carrier", "ZTO")],
            &[c("CarrierErrors", 1), c("CarrierQueries", 2)],
        ),
        doc(
            &[("Provider", "kuaidi100"), ("Carrier", "SF")],
            &[c("CarrierQueries", 1)],
        ),
        doc(
            &[("Rule", "no_trace"), ("Severity", "warning")],
            &[c("Alerts", 1)],
        ),
        doc(
            &[("Rule", "stalled"), ("Severity", "critical")],
            &[c("Alerts", 1)],
        ),
    ];
    assert_eq!(
        got,
        expected,
        "{}",
        serde_json::to_string_pretty(&got).unwrap()
    );

    // The shape CloudWatch needs, said once more without the helper: the totals'
    // dimension set is empty, every dimension named is a member, every metric
    // named has a value and a unit of the contract.
    for line in &got {
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "SentinelTest");
        assert_eq!(line["_aws"]["Timestamp"], AT);
        let dimensions = directive["Dimensions"].as_array().unwrap();
        assert_eq!(dimensions.len(), 1);
        for d in dimensions[0].as_array().unwrap() {
            let d = d.as_str().unwrap();
            assert!(m::LABELS.contains(&d), "{d}");
            assert!(line[d].is_string(), "{line}");
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(m::NAMES.contains(&name), "{name}");
            assert!(line[name].is_number(), "{line}");
            let unit = if name == m::OUTBOX_OLDEST_AGE_SECONDS {
                "Seconds"
            } else {
                "Count"
            };
            assert_eq!(metric["Unit"], unit, "{name}");
        }
    }
    assert_eq!(
        got[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([[]])
    );

    // Counters are counts since the last flush (a quiet one is left out); the
    // gauge is its last value, written on every flush.
    m::carrier_query("kdniao", "ZTO", true);
    m::outbox_oldest_age(0.0);
    assert_eq!(
        lines(&metrics),
        vec![
            doc(
                &[],
                &[
                    c("CarrierQueries", 1),
                    ("OutboxOldestAgeSeconds", "Seconds", json!(0.0)),
                ],
            ),
            doc(
                &[("Provider", "kdniao"), ("Carrier", "ZTO")],
                &[c("CarrierQueries", 1)],
            ),
        ]
    );

    // One recorder a process: a second install is an error, not a panic.
    assert!(matches!(
        Metrics::install("Other"),
        Err(MetricsError::Install(_))
    ));
}
