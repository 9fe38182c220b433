//! One tick: due parcels → TrackBatch events; then the outbox → the alert sink.
//! Generic over its ports, so it runs on DynamoDB, EventBridge and SNS in the
//! function and on in-memory adapters in the tests.

use chrono::{Duration, Utc};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use shared::config::Settings;
use shared::outbox::deliver_pending;
use shared::ports::{AlertLog, AlertSink, DueIndex, Lease, ShipmentReader, TrackBus};
use shared::tracker::DEFAULT_LEASE;

pub struct Config {
    pub batch_size: usize,
    pub max_due: usize,
    /// Pending notifications delivered per tick at most.
    pub max_outbox: usize,
    /// A pending notification younger than this is left to a later tick (a
    /// tracker's fresh claims are also under its delivery lease, so two
    /// deliverers never take one record at once).
    pub outbox_grace: Duration,
}

pub struct Deps<S, B, K> {
    pub store: S,
    pub bus: B,
    pub sink: K,
    pub settings: Settings,
    pub config: Config,
}

/// The tick's payload is not used (EventBridge Scheduler sends its input or an
/// empty object); the time is the function's clock.
pub async fn handle<S, B, K>(
    deps: &Deps<S, B, K>,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error>
where
    S: DueIndex + ShipmentReader + AlertLog,
    B: TrackBus,
    K: AlertSink,
{
    let now = Utc::now();
    let due = deps.store.due_shipments(now, deps.config.max_due).await?;
    let events = deps.bus.publish(&due, deps.config.batch_size).await?;
    // Notifications whose publish failed, and customer notices held through quiet
    // hours.
    let outbox = deliver_pending(
        &deps.store,
        &deps.sink,
        &deps.settings,
        now - deps.config.outbox_grace,
        &Lease::new(
            format!("scheduler {}", event.context.request_id),
            now,
            DEFAULT_LEASE,
        ),
        deps.config.max_outbox,
    )
    .await?;
    tracing::info!(
        due = due.len(),
        events,
        outbox_delivered = outbox.delivered,
        outbox_failed = outbox.failed,
        "tick"
    );
    Ok(json!({
        "due": due.len(),
        "events": events,
        "outbox_delivered": outbox.delivered,
        "outbox_failed": outbox.failed,
    }))
}
