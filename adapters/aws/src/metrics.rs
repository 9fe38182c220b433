//! The functions' metrics as CloudWatch Embedded Metric Format (EMF) lines.
//!
//! The core counts through the `metrics` facade (`shared::metrics`, which names the
//! contract); here a function installs the recorder that turns those counts into
//! EMF documents: [`Metrics::from_env`] at cold start, then [`Metrics::after`]
//! around each invocation, which writes what the invocation counted to stdout once
//! it is done. Lambda ships stdout to CloudWatch Logs, and CloudWatch Logs turns each
//! EMF line into metric values — no `PutMetricData` call, no IAM grant, no
//! background flusher racing the freeze between invocations (the lines are written
//! before the handler's answer is returned).
//!
//! One document per label set ([`metrics_cloudwatch_embedded`] writes them): the
//! totals in one line with an empty dimension set (`"Dimensions": [[]]`, which the
//! alarms read), and one line per set of label values (`Provider` and `Carrier`,
//! `Rule` and `Severity`, `Channel`), each carrying its dimension values as members.
//! A counter is written as the count since the last flush, and left out when that
//! is 0; the outbox age is a gauge, written with its last value.

use std::fmt;
use std::future::Future;
use std::io::Write;

use metrics_cloudwatch_embedded::{Builder, Collector};
use shared::config::ConfigError;
use shared::metrics::{DEFAULT_NAMESPACE, NAMESPACE_VARIABLE};

/// Why the metrics could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(transparent)]
    Namespace(#[from] ConfigError),
    /// A recorder was installed already (the process may install one).
    #[error("could not install the metrics recorder: {0}")]
    Install(String),
}

/// The namespace `METRICS_NAMESPACE` names (`value`), or [`DEFAULT_NAMESPACE`] when
/// it is unset or empty. The template's pattern: 1 to 255 letters, digits and
/// `. _ - /`.
pub fn namespace(value: Option<&str>) -> Result<String, ConfigError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(DEFAULT_NAMESPACE.to_string());
    };
    let ok = v.len() <= 255
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
    if ok {
        Ok(v.to_string())
    } else {
        Err(ConfigError {
            var: NAMESPACE_VARIABLE,
            token: v.to_string(),
            reason: "expected 1 to 255 letters, digits and . _ - /".into(),
        })
    }
}

/// The installed EMF recorder: copy it into each invocation's future.
#[derive(Clone, Copy)]
pub struct Metrics {
    collector: &'static Collector,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("namespace", &&*self.collector.config.cloudwatch_namespace)
            .finish()
    }
}

impl Metrics {
    /// Installs the recorder for the namespace `METRICS_NAMESPACE` names (default
    /// `ParcelSentinel`). Call it once, at cold start.
    pub fn from_env() -> Result<Self, MetricsError> {
        let ns = namespace(crate::env::optional(NAMESPACE_VARIABLE).as_deref())?;
        Self::install(&ns)
    }

    /// Installs the recorder as the process's global one, writing in `namespace`,
    /// and describes the contract's units to it. A second install fails.
    pub fn install(namespace: &str) -> Result<Self, MetricsError> {
        Self::init(Builder::new().cloudwatch_namespace(namespace.to_string()))
    }

    /// [`Metrics::install`] with every line stamped `timestamp_ms` (Unix
    /// milliseconds) instead of the time of the flush: for tests.
    pub fn install_at(namespace: &str, timestamp_ms: u64) -> Result<Self, MetricsError> {
        Self::init(
            Builder::new()
                .cloudwatch_namespace(namespace.to_string())
                .with_timestamp(timestamp_ms),
        )
    }

    fn init(builder: Builder) -> Result<Self, MetricsError> {
        let collector = builder
            .init()
            .map_err(|e| MetricsError::Install(e.to_string()))?;
        shared::metrics::describe();
        Ok(Self { collector })
    }

    /// Writes what was counted since the last flush as EMF lines (one JSON
    /// document a line) to `out`.
    pub fn flush_to(&self, out: impl Write) -> std::io::Result<()> {
        self.collector.flush(out)
    }

    /// Writes what was counted since the last flush to stdout, all lines at once
    /// (so no log line of another thread lands inside one). A write that fails is
    /// logged; the invocation's answer does not depend on it.
    pub fn flush(&self) {
        let mut lines = Vec::new();
        let written = self.flush_to(&mut lines).and_then(|()| {
            let mut out = std::io::stdout().lock();
            out.write_all(&lines)?;
            out.flush()
        });
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not write the metrics");
        }
    }

    /// Runs one invocation's `work`, then [`flush`](Metrics::flush)es what it
    /// counted, whatever its outcome.
    pub async fn after<F: Future>(self, work: F) -> F::Output {
        let out = work.await;
        self.flush();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_defaults_and_is_checked_like_the_template_checks_it() {
        assert_eq!(namespace(None).unwrap(), "ParcelSentinel");
        assert_eq!(namespace(Some("  ")).unwrap(), "ParcelSentinel");
        assert_eq!(
            namespace(Some(" Shop.Ops/Sentinel-1_a ")).unwrap(),
            "Shop.Ops/Sentinel-1_a"
        );
        for bad in ["with space", "q\"uote", "a{b}", "中文", &"x".repeat(256)] {
            let e = namespace(Some(bad)).unwrap_err();
            assert_eq!(e.var, "METRICS_NAMESPACE", "{bad}");
        }
    }
}
