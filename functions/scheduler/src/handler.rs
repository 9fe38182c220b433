//! One tick: due parcels → TrackBatch events; then the outbox → the alert sink;
//! then the age of the oldest notification still pending, as the
//! `OutboxOldestAgeSeconds` metric. The function is also the consumer of the
//! table's stream: a batch of its records ([`Invocation::Removals`]) takes the
//! removed parcels out of the fleet's counters
//! (`sentinel_aws::dynamo::DynamoStore::forget_stream`).
//! Generic over its ports, so it runs on DynamoDB, EventBridge and SNS in the
//! function and on in-memory adapters in the tests.

use aws_lambda_events::dynamodb;
use chrono::{DateTime, Duration, Utc};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{json, Value};

use sentinel_aws::dynamo::DynamoStore;
use shared::config::Settings;
use shared::metrics;
use shared::outbox::{deliver_pending, oldest_pending_age, DeliveryReport};
use shared::ports::{AlertLog, AlertSink, DueIndex, Lease, ShipmentReader, StoreError, TrackBus};
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

pub struct Deps<S, B, K, U = ()> {
    pub store: S,
    pub bus: B,
    pub sink: K,
    pub settings: Settings,
    pub config: Config,
    /// The store's own catching up, after each tick's work.
    pub upkeep: U,
}

/// What a store has to catch up on, a bounded part per tick. On DynamoDB:
/// counting the shipments stored before the fleet's counters were kept
/// (`DynamoStore::count_uncounted`); the other stores count from their first
/// write (SQLite counts what it holds when it migrates), so `()` has nothing to do.
pub trait Upkeep {
    /// What was done, for the tick's answer (`null`: nothing to say).
    fn upkeep(&self) -> impl std::future::Future<Output = Result<Value, StoreError>> + Send;
}

impl Upkeep for () {
    async fn upkeep(&self) -> Result<Value, StoreError> {
        Ok(Value::Null)
    }
}

/// A tick gives the catching up this long at most (the function's timeout is 60 s).
const UPKEEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(15);
/// Items a Scan page of the catching up evaluates.
const UPKEEP_PAGE: i32 = 500;

impl Upkeep for DynamoStore {
    async fn upkeep(&self) -> Result<Value, StoreError> {
        let caught = self.count_uncounted(UPKEEP_BUDGET, UPKEEP_PAGE).await?;
        if caught.done && caught.counted == 0 && caught.skipped == 0 {
            return Ok(Value::Null);
        }
        Ok(json!({"counted": caught.counted, "skipped": caught.skipped, "done": caught.done}))
    }
}

/// What the function is invoked with: its schedule's tick (whatever the
/// payload, unless it is a batch of records), or a batch of the table's stream.
#[derive(Debug)]
pub enum Invocation {
    Tick,
    Removals(dynamodb::Event),
}

impl Invocation {
    /// A payload with `Records` is a stream batch, and must be one of DynamoDB's:
    /// another source wired to this function by mistake is an error, not a tick.
    pub fn of(payload: &Value) -> Result<Self, lambda_runtime::Error> {
        let Some(records) = payload.get("Records") else {
            return Ok(Self::Tick);
        };
        let from_dynamodb = records.as_array().is_some_and(|rs| {
            rs.iter()
                .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:dynamodb"))
        });
        if !from_dynamodb {
            return Err("a batch of records that are not DynamoDB stream records".into());
        }
        let event = dynamodb::Event::deserialize(payload)
            .map_err(|e| format!("a DynamoDB stream batch that does not parse: {e}"))?;
        Ok(Self::Removals(event))
    }
}

/// The tick's payload is not used (EventBridge Scheduler sends its input or an
/// empty object); the time is the function's clock.
pub async fn handle<S, B, K, U>(
    deps: &Deps<S, B, K, U>,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error>
where
    S: DueIndex + ShipmentReader + AlertLog,
    B: TrackBus,
    K: AlertSink,
    U: Upkeep,
{
    let now = Utc::now();
    let mut ticked = tick(deps, &event, now).await;
    if let Ok((out, _)) = &mut ticked {
        // The catching up never fails the tick: it goes on at the next one.
        match deps.upkeep.upkeep().await {
            Ok(Value::Null) => {}
            Ok(done) => {
                tracing::info!(upkeep = %done, "catching up");
                out["upkeep"] = done;
            }
            Err(e) => tracing::warn!(error = %e, "catching up failed; the next tick goes on"),
        }
    }
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
async fn tick<S, B, K, U>(
    deps: &Deps<S, B, K, U>,
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
