//! `scheduler`: on each EventBridge Scheduler tick, the parcels whose check is due
//! become TrackBatch events on the project's bus (the tracker's fan-out).
//!
//! Configuration (read once at cold start; a bad value stops the function before
//! it takes any event): `TABLE_NAME`, `EVENT_BUS_NAME` (required),
//! `TRACK_BATCH_SIZE` (parcels per event, default 25), `MAX_DUE_PER_TICK` (default
//! 5000; the rest are taken by the next tick).

mod handler;

use lambda_runtime::{service_fn, LambdaEvent};
use sentinel_aws::bus::Bus;
use sentinel_aws::dynamo::DynamoStore;
use sentinel_aws::env::{number, or_fail, required};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = or_fail(required("TABLE_NAME"));
    let bus_name = or_fail(required("EVENT_BUS_NAME"));
    let config = handler::Config {
        batch_size: or_fail(number("TRACK_BATCH_SIZE", 25, 1, 500)) as usize,
        max_due: or_fail(number("MAX_DUE_PER_TICK", 5000, 1, 1_000_000)) as usize,
    };
    let sdk = sentinel_aws::sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let bus = Bus::new(aws_sdk_eventbridge::Client::new(&sdk), bus_name);
    let deps = handler::Deps { store, bus, config };
    lambda_runtime::run(service_fn(|e: LambdaEvent<serde_json::Value>| {
        handler::handle(&deps, e)
    }))
    .await
}
