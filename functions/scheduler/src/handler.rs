//! One tick: due parcels → TrackBatch events; then the outbox → the alert sink;
//! then the age of the oldest notification still pending, as the
//! `OutboxOldestAgeSeconds` metric.
//! Generic over its ports, so it runs on DynamoDB, EventBridge and SNS in the
//! function and on in-memory adapters in the tests.

use chrono::{DateTime, Duration, Utc};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use shared::config::Settings;
use shared::metrics;
use shared::outbox::{deliver_pending, oldest_pending_age, DeliveryReport};
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
    let ticked = tick(deps, &event, now).await;
    // The outbox's age is reported whatever became of the tick (a bus that refused
    // the batches does not stop the outbox from ageing), so the age alarm sees
    // every tick of a running scheduler.
    let refused = ticked.as_ref().ok().and_then(|(_, d)| d.oldest_failed);
    match oldest_pending_age(&deps.store, now).await {
        Ok(age) => {
            let age = refused.map_or(age, |at| age.max(now - at));
            metrics::outbox_oldest_age(age.num_seconds() as f64);
        }
        Err(e) => tracing::warn!(error = %e, "could not read the age of the outbox"),
    }
    ticked.map(|(out, _)| out)
}

/// The tick's work: its answer, and what its outbox delivery did.
async fn tick<S, B, K>(
    deps: &Deps<S, B, K>,
    event: &LambdaEvent<Value>,
    now: DateTime<Utc>,
) -> Result<(Value, DeliveryReport), lambda_runtime::Error>
where
    S: DueIndex + ShipmentReader + AlertLog,
    B: TrackBus,
    K: AlertSink,
{
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
    let out = json!({
        "due": due.len(),
        "events": events,
        "outbox_delivered": outbox.delivered,
        "outbox_failed": outbox.failed,
    });
    Ok((out, outbox))
}
