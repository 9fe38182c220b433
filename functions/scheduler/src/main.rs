//! `scheduler`: on each EventBridge Scheduler tick, the parcels whose check is due
//! become TrackBatch events on the project's bus (the tracker's fan-out); then the
//! notification outbox is delivered to the SNS topic: alerts whose publish failed
//! and customer notices held through quiet hours. It also consumes the table's
//! stream: shipment items that TTL (or a person) removed leave the fleet's
//! counters (answered with Lambda's partial batch response).
//!
//! Configuration (read once at cold start; a bad value stops the function before
//! it takes any event): `TABLE_NAME`, `EVENT_BUS_NAME`, `TOPIC_ARN` (required),
//! `TRACK_BATCH_SIZE` (parcels per event, default 25), `MAX_DUE_PER_TICK` (default
//! 5000; the rest are taken by the next tick), `MAX_OUTBOX_PER_TICK` (default 500),
//! `OUTBOX_GRACE_SECONDS` (default 300: younger pending notifications may still be
//! being published by their tracker),
//! the rule settings (`shared::config`), the message settings and
//! `METRICS_NAMESPACE` (default `ParcelSentinel`; the metrics are written as
//! Embedded Metric Format lines after each tick, `sentinel_aws::metrics`).

use lambda_runtime::{service_fn, LambdaEvent};
use sentinel_aws::bus::Bus;
use sentinel_aws::dynamo::DynamoStore;
use sentinel_aws::env::{number, or_fail, required};
use sentinel_aws::metrics::Metrics;
use sentinel_aws::sns::{AlertTopic, MessageSettings};
use sentinel_scheduler::handler::{self, Invocation};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = or_fail(Metrics::from_env());
    let table = or_fail(required("TABLE_NAME"));
    let bus_name = or_fail(required("EVENT_BUS_NAME"));
    let topic = or_fail(required("TOPIC_ARN"));
    let settings = or_fail(shared::config::Settings::from_env());
    let config = handler::Config {
        batch_size: or_fail(number("TRACK_BATCH_SIZE", 25, 1, 500)) as usize,
        max_due: or_fail(number("MAX_DUE_PER_TICK", 5000, 1, 1_000_000)) as usize,
        max_outbox: or_fail(number("MAX_OUTBOX_PER_TICK", 500, 1, 100_000)) as usize,
        outbox_grace: chrono::Duration::seconds(or_fail(number(
            "OUTBOX_GRACE_SECONDS",
            300,
            0,
            3600,
        )) as i64),
    };
    let messages = or_fail(MessageSettings::from_env());
    let sdk = sentinel_aws::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let store = DynamoStore::new(dynamo.clone(), table.clone());
    let bus = Bus::new(aws_sdk_eventbridge::Client::new(&sdk), bus_name);
    let sink = AlertTopic::new(aws_sdk_sns::Client::new(&sdk), topic, messages);
    let deps = handler::Deps {
        // (A second handle on the same table: it only keeps its own progress.)
        upkeep: DynamoStore::new(dynamo.clone(), table.clone()),
        store,
        bus,
        sink,
        settings,
        config,
    };
    lambda_runtime::run(service_fn(|e: LambdaEvent<serde_json::Value>| {
        metrics.after(async {
            match Invocation::of(&e.payload)? {
                Invocation::Tick => handler::handle(&deps, e).await,
                Invocation::Removals(batch) => Ok(serde_json::to_value(
                    deps.store.forget_stream(&batch, chrono::Utc::now()).await,
                )?),
            }
        })
    }))
    .await
}
