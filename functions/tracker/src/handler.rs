//! One TrackBatch: check each parcel, publish what this invocation claimed.
//! Generic over its ports, so it runs on DynamoDB, a real provider and SNS in the
//! function and on in-memory adapters in the tests.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::Utc;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use std::sync::Arc;

use shared::config::Settings;
use shared::domain::Notification;
use shared::lanes::LaneCache;
use shared::outbox::deliver;
use shared::ports::{AlertSink, CarrierQuery, TrackBatch};
use shared::schedule::TrackingMode;
use shared::tracker::{check_batch, Tracker, TrackerStore};

/// The event the tracker takes: a TrackBatch from the scheduler's bus.
pub type Event = EventBridgeEvent<TrackBatch>;

pub struct Deps<S, C, K> {
    pub store: S,
    pub provider: C,
    pub sink: K,
    pub settings: Settings,
    pub mode: TrackingMode,
    pub concurrency: usize,
    /// What the lanes learned, kept across the container's warm invocations.
    pub lanes: Arc<LaneCache>,
}

pub async fn handle<S: TrackerStore, C: CarrierQuery, K: AlertSink>(
    deps: &Deps<S, C, K>,
    event: LambdaEvent<Event>,
) -> Result<Value, lambda_runtime::Error> {
    let ids = event.payload.detail.shipments;
    let tracker = Tracker::new(&deps.store, &deps.provider, &deps.settings)
        .with(deps.mode, deps.concurrency)
        .sharing_lanes(deps.lanes.clone())
        .owned_by(format!("tracker {}", event.context.request_id));
    let now = Utc::now();
    let mut claimed: Vec<Notification> = Vec::new();
    let stats = check_batch(&tracker, &ids, now, &mut |n| claimed.extend(n)).await;
    // Each claimed notification is published by this invocation only; one that
    // fails stays in the outbox, and the scheduler's next tick delivers it. A
    // parcel whose check failed is counted in `failed` and stays due: the next
    // tick checks it again (failing the whole invocation would only make
    // EventBridge retry the parcels that succeeded).
    let delivery = deliver(
        &deps.store,
        &deps.sink,
        &claimed,
        &tracker.lease_at(now),
        now,
    )
    .await?;
    tracing::info!(
        parcels = ids.len(),
        checked = stats.checked,
        queries = stats.queries,
        deferred = stats.deferred,
        query_errors = stats.query_errors,
        alerts = claimed.len(),
        undelivered = delivery.failed,
        failed = stats.failed,
        "batch"
    );
    Ok(json!({
        "parcels": ids.len(),
        "checked": stats.checked,
        "queries": stats.queries,
        "deferred": stats.deferred,
        "query_errors": stats.query_errors,
        "alerts": claimed.len(),
        "undelivered": delivery.failed,
        "failed": stats.failed,
    }))
}
