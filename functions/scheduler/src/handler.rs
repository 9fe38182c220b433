//! One tick: due parcels → TrackBatch events.

use chrono::Utc;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use sentinel_aws::bus::Bus;
use shared::store::DueIndex;

pub struct Config {
    pub batch_size: usize,
    pub max_due: usize,
}

pub struct Deps<S> {
    pub store: S,
    pub bus: Bus,
    pub config: Config,
}

/// The tick's payload is not used (EventBridge Scheduler sends its input or an
/// empty object); the time is the function's clock.
pub async fn handle<S: DueIndex>(
    deps: &Deps<S>,
    _event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let now = Utc::now();
    let due = deps.store.due_shipments(now, deps.config.max_due).await?;
    let events = deps.bus.publish(&due, deps.config.batch_size).await?;
    tracing::info!(due = due.len(), events, "tick");
    Ok(json!({"due": due.len(), "events": events}))
}
