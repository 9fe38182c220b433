//! The functions' metrics: the contract the CloudWatch dashboard and alarms read
//! (`docs/deploy.md`, "Metrics and alarms"), as names and one small function per
//! thing that happens.
//!
//! # Why a facade
//!
//! The core says *what* happened (a parcel was checked, a provider failed, an alert
//! was raised) through the [`metrics`] facade crate, and never *where* it goes: the
//! Lambda functions install a recorder that writes CloudWatch Embedded Metric Format
//! lines (`sentinel_aws::metrics`), tests install a [`Capture`], and everything else
//! (the CLI, the demo, the benchmarks) installs nothing, so each call here is a
//! no-op. No I/O crate enters the core: `metrics` is a facade of traits and
//! atomics.
//!
//! # The contract
//!
//! Each counter is written twice: once without labels (the total, which the alarms
//! read) and once with the labels of its row below, so that the dashboard can break
//! it down (CloudWatch `SEARCH`) while an alarm on the total sees every provider,
//! carrier, rule or channel, including ones nobody knew of when the alarm was made.
//!
//! | metric | unit | labels | written by |
//! |---|---|---|---|
//! | [`PARCELS_CHECKED`] | Count | — | [`crate::tracker`]: each parcel a check processed |
//! | [`CARRIER_QUERIES`] | Count | [`PROVIDER`], [`CARRIER`] | [`crate::tracker`]: each query of a provider |
//! | [`CARRIER_ERRORS`] | Count | [`PROVIDER`], [`CARRIER`] | the same, when it gave no usable reply |
//! | [`ALERTS`] | Count | [`RULE`], [`SEVERITY`] | [`crate::tracker`]: each ops alert it claimed (fired, escalated, repeated; not resolutions, not customer notices) |
//! | [`NOTIFICATIONS_SENT`] | Count | [`CHANNEL`] | each channel adapter, per message it handed over |
//! | [`NOTIFICATIONS_FAILED`] | Count | [`CHANNEL`] | the same, per message that failed |
//! | [`OUTBOX_OLDEST_AGE_SECONDS`] | Seconds | — | the scheduler, every tick: the oldest pending notification's age, 0 when none |
//! | [`QUERIES_DEFERRED`] | Count | [`PROVIDER`] | [`crate::tracker`]: each check whose query the daily budget refused ([`crate::budget`]) |
//! | [`QUERY_BUDGET_SHORT`] | Count | [`PROVIDER`] | [`crate::tracker`]: once a day, when the budget has been short for over an hour |
//!
//! A label's *value* is what the code already calls the thing: the provider's
//! [`CarrierQuery::name`](crate::ports::CarrierQuery::name) (`kdniao`, `kuaidi100`,
//! `sim`), the carrier code (`ZTO`), the rule's and the severity's `as_str`, the
//! channel's name ([`CHANNEL_SNS`], [`CHANNEL_SMS`], and the chat robots'
//! `dingtalk`, `wecom`, `feishu`, `slack`). None of them is personal: no tracking
//! number, no phone number, nothing a customer typed.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ::metrics::{counter, describe_counter, describe_gauge, gauge, Unit};

use crate::domain::{Rule, Severity};

/// The namespace when `METRICS_NAMESPACE` is not set (the template's default).
pub const DEFAULT_NAMESPACE: &str = "ParcelSentinel";
/// The variable naming the CloudWatch namespace.
pub const NAMESPACE_VARIABLE: &str = "METRICS_NAMESPACE";

/// Parcels a tracker processed (found and due, or pushed), whatever the outcome.
pub const PARCELS_CHECKED: &str = "ParcelsChecked";
/// Queries of a tracking provider.
pub const CARRIER_QUERIES: &str = "CarrierQueries";
/// Queries of a tracking provider that gave no usable reply ("knows nothing yet"
/// is a reply, not an error).
pub const CARRIER_ERRORS: &str = "CarrierErrors";
/// Ops alerts claimed: fired, escalated or repeated (not resolutions, not customer
/// notices).
pub const ALERTS: &str = "Alerts";
/// Messages a channel took.
pub const NOTIFICATIONS_SENT: &str = "NotificationsSent";
/// Messages a channel refused, or that failed on the way.
pub const NOTIFICATIONS_FAILED: &str = "NotificationsFailed";
/// The age of the oldest notification still pending in the outbox, in seconds.
pub const OUTBOX_OLDEST_AGE_SECONDS: &str = "OutboxOldestAgeSeconds";

/// Checks whose query the daily query budget refused (deferred).
pub const QUERIES_DEFERRED: &str = "QueriesDeferred";
/// The daily query budget has been short for more than an hour (once a day per
/// provider).
pub const QUERY_BUDGET_SHORT: &str = "QueryBudgetShort";

/// Every metric of the contract (`infra/template_test.py` checks that the dashboard
/// and the alarms read only these).
pub const NAMES: [&str; 9] = [
    PARCELS_CHECKED,
    CARRIER_QUERIES,
    CARRIER_ERRORS,
    ALERTS,
    NOTIFICATIONS_SENT,
    NOTIFICATIONS_FAILED,
    OUTBOX_OLDEST_AGE_SECONDS,
    QUERIES_DEFERRED,
    QUERY_BUDGET_SHORT,
];

/// The tracking provider (`kdniao`, `kuaidi100`, `sim`).
pub const PROVIDER: &str = "Provider";
/// The carrier code (`ZTO`, `SF`...).
pub const CARRIER: &str = "Carrier";
/// The rule (`stalled`, `no_trace`...).
pub const RULE: &str = "Rule";
/// The severity (`warning`, `critical`).
pub const SEVERITY: &str = "Severity";
/// The notification channel (`sns`, `sms`, `dingtalk`, `wecom`, `feishu`, `slack`).
pub const CHANNEL: &str = "Channel";

/// Every label (dimension) of the contract.
pub const LABELS: [&str; 5] = [PROVIDER, CARRIER, RULE, SEVERITY, CHANNEL];

/// The channel of ops alerts published to the SNS topic.
pub const CHANNEL_SNS: &str = "sns";
/// The channel of customer notices sent by SMS.
pub const CHANNEL_SMS: &str = "sms";

/// Tells the installed recorder each metric's unit (Count, or Seconds for the
/// outbox age). Call it once, right after installing a recorder: units are the
/// recorder's, so a recorder installed later has none.
pub fn describe() {
    for name in [
        PARCELS_CHECKED,
        CARRIER_QUERIES,
        CARRIER_ERRORS,
        ALERTS,
        NOTIFICATIONS_SENT,
        NOTIFICATIONS_FAILED,
        QUERIES_DEFERRED,
        QUERY_BUDGET_SHORT,
    ] {
        describe_counter!(name, Unit::Count, "");
    }
    describe_gauge!(
        OUTBOX_OLDEST_AGE_SECONDS,
        Unit::Seconds,
        "the age of the oldest pending notification"
    );
}

/// One parcel processed by a check.
pub fn parcel_checked() {
    counter!(PARCELS_CHECKED).increment(1);
}

/// One query of `provider` about a parcel of `carrier`; `ok` is false when it gave
/// no usable reply (then it is an error too).
pub fn carrier_query(provider: &str, carrier: &str, ok: bool) {
    counter!(CARRIER_QUERIES).increment(1);
    counter!(CARRIER_QUERIES, PROVIDER => provider.to_owned(), CARRIER => carrier.to_owned())
        .increment(1);
    if !ok {
        counter!(CARRIER_ERRORS).increment(1);
        counter!(CARRIER_ERRORS, PROVIDER => provider.to_owned(), CARRIER => carrier.to_owned())
            .increment(1);
    }
}

/// One ops alert claimed.
pub fn alert(rule: Rule, severity: Severity) {
    counter!(ALERTS).increment(1);
    counter!(ALERTS, RULE => rule.as_str(), SEVERITY => severity.as_str()).increment(1);
}

/// One check of a parcel deferred: `provider`'s daily budget refused its query.
pub fn query_deferred(provider: &str) {
    counter!(QUERIES_DEFERRED).increment(1);
    counter!(QUERIES_DEFERRED, PROVIDER => provider.to_owned()).increment(1);
}

/// `provider`'s daily budget has been short for over an hour (the day's warning).
pub fn query_budget_short(provider: &str) {
    counter!(QUERY_BUDGET_SHORT).increment(1);
    counter!(QUERY_BUDGET_SHORT, PROVIDER => provider.to_owned()).increment(1);
}

/// One message handed to `channel`: taken (`ok`) or failed.
pub fn notification(channel: &str, ok: bool) {
    let name = if ok {
        NOTIFICATIONS_SENT
    } else {
        NOTIFICATIONS_FAILED
    };
    counter!(name).increment(1);
    counter!(name, CHANNEL => channel.to_owned()).increment(1);
}

/// The age of the oldest pending notification, in seconds (0 when none; a
/// negative or undefined age is written as 0).
pub fn outbox_oldest_age(seconds: f64) {
    let seconds = if seconds > 0.0 { seconds } else { 0.0 };
    gauge!(OUTBOX_OLDEST_AGE_SECONDS).set(seconds);
}

/// A recorder that keeps every value in memory, for tests: install it on the
/// current thread with [`metrics::with_local_recorder`] or
/// [`metrics::set_default_local_recorder`] (a current-thread runtime keeps async
/// code on that thread), then read what was written. The functions write EMF
/// instead (`sentinel_aws::metrics`).
///
/// A series is named `Name` (the total) or `Name{Label=value,...}`, labels in the
/// order they were given.
#[derive(Debug, Default)]
pub struct Capture {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    units: Mutex<BTreeMap<String, Unit>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn series(key: &::metrics::Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    if labels.is_empty() {
        key.name().to_string()
    } else {
        format!("{}{{{}}}", key.name(), labels.join(","))
    }
}

impl Capture {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every counter series written so far, with its value.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        locked(&self.counters)
            .iter()
            .map(|(k, v)| (k.clone(), v.load(std::sync::atomic::Ordering::Relaxed)))
            .collect()
    }

    /// Every gauge series set so far, with its last value.
    pub fn gauges(&self) -> BTreeMap<String, f64> {
        locked(&self.gauges)
            .iter()
            .map(|(k, v)| {
                let bits = v.load(std::sync::atomic::Ordering::Relaxed);
                (k.clone(), f64::from_bits(bits))
            })
            .collect()
    }

    /// The unit a metric was described with ([`describe`]).
    pub fn unit(&self, name: &str) -> Option<Unit> {
        locked(&self.units).get(name).copied()
    }

    fn describe(&self, key: ::metrics::KeyName, unit: Option<Unit>) {
        let mut units = locked(&self.units);
        match unit {
            Some(u) => units.insert(key.as_str().to_string(), u),
            None => units.remove(key.as_str()),
        };
    }
}

impl ::metrics::Recorder for Capture {
    fn describe_counter(
        &self,
        key: ::metrics::KeyName,
        unit: Option<Unit>,
        _: ::metrics::SharedString,
    ) {
        self.describe(key, unit);
    }

    fn describe_gauge(
        &self,
        key: ::metrics::KeyName,
        unit: Option<Unit>,
        _: ::metrics::SharedString,
    ) {
        self.describe(key, unit);
    }

    fn describe_histogram(
        &self,
        key: ::metrics::KeyName,
        unit: Option<Unit>,
        _: ::metrics::SharedString,
    ) {
        self.describe(key, unit);
    }

    fn register_counter(
        &self,
        key: &::metrics::Key,
        _: &::metrics::Metadata<'_>,
    ) -> ::metrics::Counter {
        let value = locked(&self.counters)
            .entry(series(key))
            .or_default()
            .clone();
        ::metrics::Counter::from_arc(value)
    }

    fn register_gauge(
        &self,
        key: &::metrics::Key,
        _: &::metrics::Metadata<'_>,
    ) -> ::metrics::Gauge {
        let value = locked(&self.gauges).entry(series(key)).or_default().clone();
        ::metrics::Gauge::from_arc(value)
    }

    fn register_histogram(
        &self,
        _: &::metrics::Key,
        _: &::metrics::Metadata<'_>,
    ) -> ::metrics::Histogram {
        ::metrics::Histogram::noop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_counter_writes_its_total_and_its_labelled_series() {
        let capture = Capture::new();
        ::metrics::with_local_recorder(&capture, || {
            describe();
            parcel_checked();
            carrier_query("kdniao", "ZTO", true);
            carrier_query("kdniao", "ZTO", false);
            carrier_query("sim", "SF", false);
            alert(Rule::Stalled, Severity::Critical);
            notification(CHANNEL_SNS, true);
            notification("dingtalk", false);
            outbox_oldest_age(-3.0);
            outbox_oldest_age(f64::NAN);
        });
        let expected: BTreeMap<String, u64> = [
            ("ParcelsChecked", 1),
            ("CarrierQueries", 3),
            ("CarrierQueries{Provider=kdniao,Carrier=ZTO}", 2),
            ("CarrierQueries{Provider=sim,Carrier=SF}", 1),
            ("CarrierErrors", 2),
            ("CarrierErrors{Provider=kdniao,Carrier=ZTO}", 1),
            ("CarrierErrors{Provider=sim,Carrier=SF}", 1),
            ("Alerts", 1),
            ("Alerts{Rule=stalled,Severity=critical}", 1),
            ("NotificationsSent", 1),
            ("NotificationsSent{Channel=sns}", 1),
            ("NotificationsFailed", 1),
            ("NotificationsFailed{Channel=dingtalk}", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(capture.counters(), expected);
        assert_eq!(
            capture.gauges(),
            BTreeMap::from([("OutboxOldestAgeSeconds".to_string(), 0.0)])
        );
        for name in NAMES {
            let unit = if name == OUTBOX_OLDEST_AGE_SECONDS {
                Unit::Seconds
            } else {
                Unit::Count
            };
            assert_eq!(capture.unit(name), Some(unit), "{name}");
        }
    }

    #[test]
    fn without_a_recorder_nothing_happens() {
        parcel_checked();
        carrier_query("sim", "ZTO", false);
        alert(Rule::NoTrace, Severity::Warning);
        notification(CHANNEL_SMS, true);
        outbox_oldest_age(12.0);
    }
}
