//! `tracker`: a TrackBatch event → carrier queries → store → rules → alerts
//! published to the SNS topic.
//!
//! Idempotent under duplicate delivery and racing instances: a parcel that is no
//! longer due is skipped, shipment writes are conditional on their version, and
//! each notification is claimed in the alert log (insert-if-absent) before it is
//! published, so it is published by exactly one invocation.
//!
//! Configuration (read once at cold start; a bad value stops the function before
//! it takes any event): `TABLE_NAME`, `TOPIC_ARN` (required), `RETENTION_DAYS`
//! (default 90), the rule settings (`shared::config`) and the provider settings
//! (`sentinel_carriers`: `CARRIER_PROVIDER`, `KDNIAO_*`, `KUAIDI100_*`,
//! `TRACKING_MODE`, QPS, timeout, retries, concurrency). The provider's secrets
//! may instead be named SSM parameters (`KDNIAO_API_KEY_PARAMETER`,
//! `KUAIDI100_KEY_PARAMETER`, `KUAIDI100_SALT_PARAMETER`), read once here
//! (`sentinel_aws::secrets`; the parameter wins over a plain value), and
//! `METRICS_NAMESPACE` (default `ParcelSentinel`; the metrics are written as
//! Embedded Metric Format lines after each batch, `sentinel_aws::metrics`).

use lambda_runtime::{service_fn, LambdaEvent};
use sentinel_aws::dynamo::DynamoStore;
use sentinel_aws::env::{number, or_fail, required};
use sentinel_aws::metrics::Metrics;
use sentinel_aws::secrets::Secrets;
use sentinel_aws::sns::{AlertTopic, MessageSettings};
use sentinel_carriers::{Provider, ProviderSettings};
use sentinel_tracker::handler::{self, Event};
use shared::config::Settings;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = or_fail(Metrics::from_env());
    let table = or_fail(required("TABLE_NAME"));
    let topic = or_fail(required("TOPIC_ARN"));
    let retention = or_fail(number("RETENTION_DAYS", 90, 1, 3650));
    let settings = or_fail(Settings::from_env());
    let sdk = sentinel_aws::sdk_config().await;
    let secrets = or_fail(Secrets::from_env(&sentinel_carriers::SECRET_VARIABLES).await);
    let providers = or_fail(ProviderSettings::from_lookup(secrets.lookup()));
    let provider = or_fail(Provider::from_settings(&providers));
    let messages = or_fail(MessageSettings::from_env());
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)
        .with_retention(chrono::Duration::days(retention as i64));
    let deps = handler::Deps {
        store,
        provider,
        sink: AlertTopic::new(aws_sdk_sns::Client::new(&sdk), topic, messages),
        settings,
        mode: providers.mode,
        concurrency: providers.concurrency,
        lanes: Default::default(),
    };
    lambda_runtime::run(service_fn(|e: LambdaEvent<Event>| {
        metrics.after(handler::handle(&deps, e))
    }))
    .await
}
