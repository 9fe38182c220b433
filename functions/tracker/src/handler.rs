//! One TrackBatch: check each parcel, publish what this invocation claimed.

use chrono::Utc;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use sentinel_aws::alerts::AlertTopic;
use sentinel_aws::bus::TrackBatch;
use shared::carrier::Carrier;
use shared::config::Settings;
use shared::pipeline::{check_batch, deliver, Notification, Tracker};
use shared::schedule::TrackingMode;
use shared::store::Store;

pub struct Deps<S, C> {
    pub store: S,
    pub provider: C,
    pub settings: Settings,
    pub mode: TrackingMode,
    pub concurrency: usize,
    pub topic: AlertTopic,
}

pub async fn handle<S: Store, C: Carrier>(
    deps: &Deps<S, C>,
    event: LambdaEvent<aws_lambda_events::eventbridge::EventBridgeEvent<TrackBatch>>,
) -> Result<Value, lambda_runtime::Error> {
    let ids = event.payload.detail.shipments;
    let tracker =
        Tracker::new(&deps.store, &deps.provider, &deps.settings).with(deps.mode, deps.concurrency);
    let mut claimed: Vec<Notification> = Vec::new();
    let stats = check_batch(&tracker, &ids, Utc::now(), &mut |n| claimed.extend(n)).await?;
    // Each claimed notification is published by this invocation only; one that
    // fails stays in the outbox, and the scheduler's next tick delivers it.
    let delivery = deliver(&deps.store, &deps.topic, &claimed).await?;
    tracing::info!(
        parcels = ids.len(),
        checked = stats.checked,
        queries = stats.queries,
        query_errors = stats.query_errors,
        alerts = claimed.len(),
        undelivered = delivery.failed,
        "batch"
    );
    Ok(json!({
        "parcels": ids.len(),
        "checked": stats.checked,
        "queries": stats.queries,
        "query_errors": stats.query_errors,
        "alerts": claimed.len(),
        "undelivered": delivery.failed,
    }))
}
