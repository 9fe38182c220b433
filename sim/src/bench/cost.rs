//! The cost model: from the per-parcel counts a benchmark run measured and AWS's
//! published on-demand prices, the monthly cost of tracking N parcels a day.
//!
//! Prices are USD, us-east-1 (us-west-2 is identical for these services), without
//! free tiers, as compiled in `/work/shared/protocols/fleet-facts.md` §D on
//! 2026-11-25 from AWS's pricing pages and Price List. SMS is excluded (priced per
//! country; +86 not published, and not available in the China regions).
//!
//! How the deployment spends them (the SAM template's shape):
//! - the scheduler runs every tick (one Lambda request and 16 due-index queries,
//!   one read unit each); the baseline's cron runs every interval (one request);
//! - checks travel in TrackBatch events of [`CostInputs::batch`] parcels (one
//!   EventBridge event and one tracker invocation each); a push or a registration
//!   is one API invocation;
//! - Lambda duration: the CPU time per check measured by the run plus the carrier's
//!   round trip per query ([`CostInputs::query_wait_s`], not overlapped: an upper
//!   bound), at [`CostInputs::memory_gb`] on arm64;
//! - DynamoDB: a shipment put costs ⌈item size / 1 KB⌉ write units (item size
//!   measured as the stored JSON), a shipment read ⌈item / 4 KB⌉ read units
//!   (strongly consistent), an alert record or outbox update one write unit, an
//!   alert-log read one read unit. The baseline's row is a few fields (one unit);
//! - SNS: one publish per notification claimed (the notifier digests downstream);
//! - carriers: a configurable price per billed query or subscription.

use serde::Serialize;

use super::{BenchReport, Side};

/// Lambda requests: $0.20 per million (aws.amazon.com/lambda/pricing, read 2026;
/// AWS Price List us-west-2, 2026-08-09).
pub const LAMBDA_PER_REQUEST_USD: f64 = 0.20 / 1e6;
/// Lambda duration, arm64: $0.0000133334 per GB-second, first tier (same sources).
pub const LAMBDA_ARM64_PER_GB_S_USD: f64 = 0.000_013_333_4;
/// DynamoDB on-demand: $0.625 per million write request units (after the 50% cut
/// of 2024-11-01; AWS on-demand pricing page, Price List us-west-2 2026-08-09).
pub const DYNAMODB_PER_WRU_USD: f64 = 0.625 / 1e6;
/// DynamoDB on-demand: $0.125 per million read request units (same sources).
pub const DYNAMODB_PER_RRU_USD: f64 = 0.125 / 1e6;
/// Items per lane and week in the DynamoDB store (`LANE_SHARDS` in
/// adapters/aws/src/dynamo/counters.rs), read consistently: at least one RRU
/// each (a lower bound: a busy lane's week item may exceed 4 KB).
pub const LANE_SHARDS: f64 = 4.0;
/// EventBridge custom events: $1.00 per million (aws.amazon.com/eventbridge/pricing,
/// 2026; Price List 2026-08-09).
pub const EVENTBRIDGE_PER_EVENT_USD: f64 = 1.00 / 1e6;
/// SNS standard topic publishes: $0.50 per million requests (AWS pricing notes,
/// lastUpdated 2026-01; Price List eu-central-1 2026-09-11).
pub const SNS_PER_PUBLISH_USD: f64 = 0.50 / 1e6;
/// Default price per carrier query: about ¥0.05 per Kuaidi100 enterprise real-time
/// query (one user's note, 2026-10, low confidence; fleet-facts §C) at ¥7.1 per
/// USD. Configurable: providers and contracts differ by an order of magnitude.
pub const DEFAULT_QUERY_PRICE_USD: f64 = 0.007;
/// Days in a billing month.
pub const DAYS_PER_MONTH: f64 = 30.0;

/// What the model assumes beyond the measured counts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostInputs {
    pub query_price_usd: f64,
    /// Carrier round trip billed as Lambda duration per query, seconds.
    pub query_wait_s: f64,
    /// Parcels per TrackBatch (the template's TrackBatchSize default).
    pub batch: f64,
    /// Lambda memory (the template's default), GB.
    pub memory_gb: f64,
}

impl Default for CostInputs {
    fn default() -> Self {
        Self {
            query_price_usd: DEFAULT_QUERY_PRICE_USD,
            query_wait_s: 0.2,
            batch: 25.0,
            memory_gb: 0.25,
        }
    }
}

/// A month's bill, by service, USD.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MonthlyCost {
    pub parcels_per_day: u64,
    pub carrier_queries: f64,
    pub lambda: f64,
    pub dynamodb: f64,
    pub eventbridge: f64,
    pub sns: f64,
    pub total: f64,
}

/// Per-parcel usage derived from a run's counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Usage {
    pub queries: f64,
    pub lambda_requests: f64,
    pub lambda_gb_s: f64,
    pub wru: f64,
    pub rru: f64,
    pub events: f64,
    pub publishes: f64,
    /// Per month regardless of volume (scheduler or cron runs).
    pub fixed_requests_per_month: f64,
    pub fixed_rru_per_month: f64,
}

/// Usage per parcel of one side of a run.
pub fn usage(report: &BenchReport, side: &Side, sentinel: bool, inputs: &CostInputs) -> Usage {
    let n = report.config.parcels.max(1) as f64;
    let per = |x: u64| x as f64 / n;
    let checks = per(side.checks);
    // Checks that came from the schedule travel in TrackBatch events; pushes and
    // registrations are API calls.
    let scheduled = per(side.checks.saturating_sub(side.pushes));
    let cpu_per_check = if side.checks > 0 {
        side.cpu_s / side.checks as f64
    } else {
        0.0
    };
    let invocations = scheduled / inputs.batch + per(side.pushes) + 1.0;
    let seconds = checks * cpu_per_check + per(side.queries) * inputs.query_wait_s;
    let days = f64::from(report.config.days.max(1));
    let runs_per_month = side.runs as f64 / days * DAYS_PER_MONTH;
    if sentinel {
        let c = side.store.unwrap_or_default();
        let item_kb = side.item_bytes.unwrap_or(1024.0) / 1024.0;
        let put_units = item_kb.ceil().max(1.0);
        let get_units = (item_kb / 4.0).ceil().max(1.0);
        Usage {
            queries: per(side.queries),
            lambda_requests: invocations,
            lambda_gb_s: seconds * inputs.memory_gb,
            // A transaction bills each of its items twice: the shipment and its
            // alert records once more for every check that claimed something.
            wru: per(c.shipment_puts + c.transact_commits) * put_units
                + per(c.alert_insert_attempts + c.transact_records)
                + per(c.marks_delivered + c.leases_taken + c.budget_writes),
            // The lane rules' reads: a consistent BatchGetItem of every shard's
            // item of each lane-week asked for.
            rru: per(c.shipment_gets) * get_units
                + per(c.alert_reads)
                + per(c.lane_weeks_read) * LANE_SHARDS,
            events: scheduled / inputs.batch,
            publishes: per(side.raw_alerts),
            fixed_requests_per_month: runs_per_month,
            fixed_rru_per_month: runs_per_month * 16.0,
        }
    } else {
        Usage {
            queries: per(side.queries),
            lambda_requests: checks / inputs.batch + 1.0,
            lambda_gb_s: seconds * inputs.memory_gb,
            wru: per(side.writes),
            rru: per(side.reads),
            events: checks / inputs.batch,
            publishes: per(side.raw_alerts),
            fixed_requests_per_month: runs_per_month,
            fixed_rru_per_month: 0.0,
        }
    }
}

/// The monthly bill for `parcels_per_day` parcels a day at `u` per parcel.
pub fn monthly(u: &Usage, parcels_per_day: u64, inputs: &CostInputs) -> MonthlyCost {
    let n = parcels_per_day as f64 * DAYS_PER_MONTH;
    let carrier_queries = n * u.queries * inputs.query_price_usd;
    let lambda = (n * u.lambda_requests + u.fixed_requests_per_month) * LAMBDA_PER_REQUEST_USD
        + n * u.lambda_gb_s * LAMBDA_ARM64_PER_GB_S_USD;
    let dynamodb = n * u.wru * DYNAMODB_PER_WRU_USD
        + (n * u.rru + u.fixed_rru_per_month) * DYNAMODB_PER_RRU_USD;
    let eventbridge = n * u.events * EVENTBRIDGE_PER_EVENT_USD;
    let sns = n * u.publishes * SNS_PER_PUBLISH_USD;
    MonthlyCost {
        parcels_per_day,
        carrier_queries,
        lambda,
        dynamodb,
        eventbridge,
        sns,
        total: carrier_queries + lambda + dynamodb + eventbridge + sns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monthly_cost_adds_up_from_the_prices() {
        let u = Usage {
            queries: 10.0,
            lambda_requests: 2.0,
            lambda_gb_s: 0.5,
            wru: 12.0,
            rru: 10.0,
            events: 0.4,
            publishes: 0.2,
            fixed_requests_per_month: 8640.0,
            fixed_rru_per_month: 0.0,
        };
        let inputs = CostInputs {
            query_price_usd: 0.01,
            ..CostInputs::default()
        };
        // 1,000 parcels a day = 30,000 a month.
        let m = monthly(&u, 1000, &inputs);
        assert!((m.carrier_queries - 3000.0).abs() < 1e-9);
        let lambda = (60_000.0 + 8640.0) * 0.2e-6 + 15_000.0 * 0.000_013_333_4;
        assert!((m.lambda - lambda).abs() < 1e-9);
        assert!((m.dynamodb - (360_000.0 * 0.625e-6 + 300_000.0 * 0.125e-6)).abs() < 1e-9);
        assert!((m.eventbridge - 12_000.0 * 1e-6).abs() < 1e-12);
        assert!((m.sns - 6_000.0 * 0.5e-6).abs() < 1e-12);
        let sum = m.carrier_queries + m.lambda + m.dynamodb + m.eventbridge + m.sns;
        assert!((m.total - sum).abs() < 1e-9);
    }
}
