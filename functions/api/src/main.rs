//! `sentinel-api`: the api Lambda function's wiring (the contract and the logic
//! are in the library, `sentinel_api`).
//!
//! Configuration is read and checked once, at cold start: a missing or bad
//! variable prints one line naming it and its value, and the process exits before
//! it takes any event.
//!
//! | variable | meaning |
//! |---|---|
//! | `TABLE_NAME` | the DynamoDB table (required) |
//! | `TOPIC_ARN` | the alerts topic: ops alerts raised by carrier pushes are published there; customer notices are left in the outbox for the scheduler (required) |
//! | rule variables | see `shared::config` (findings in `GET /shipments/{carrier}/{number}`, pushes) |
//! | provider variables | see `sentinel_carriers` (`TRACKING_MODE=push` subscribes new parcels; callback credentials) |
//! | `CONSOLE_AUTH_DOMAIN`, `CONSOLE_CLIENT_ID` | where people sign in to the console page (`GET /console-config.json`); the JSON under `/api/` takes who acts and whether they may from the token's claims (`ops` acts, `viewer` reads) |
//! | `CONSOLE_URL` | the console page's address: alerts published to the topic link each parcel to it |
//! | `METRICS_NAMESPACE` | the CloudWatch namespace of the metrics (default `ParcelSentinel`), written as Embedded Metric Format lines after each request (`sentinel_aws::metrics`) |
//! | `KDNIAO_API_KEY_PARAMETER`, `KUAIDI100_KEY_PARAMETER`, `KUAIDI100_SALT_PARAMETER` | SSM parameters holding those secrets, read once here (`sentinel_aws::secrets`; the parameter wins over a plain value) |

use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

use sentinel_api::{handle, CallbackKeys, Deps};
use sentinel_aws::dynamo::DynamoStore;
use sentinel_aws::metrics::Metrics;
use sentinel_aws::secrets::Secrets;
use sentinel_aws::sns::{AlertTopic, NoSms};
use sentinel_carriers::{Provider, ProviderSettings};
use shared::clock::SystemClock;
use shared::config::Settings;

async fn deps() -> Result<Deps<DynamoStore, Provider, AlertTopic<NoSms>>, String> {
    let config = |e: shared::config::ConfigError| format!("sentinel-api: configuration: {e}");
    let table = sentinel_aws::env::required("TABLE_NAME").map_err(config)?;
    let topic = sentinel_aws::env::required("TOPIC_ARN").map_err(config)?;
    let settings = Settings::from_env().map_err(config)?;
    let sdk = sentinel_aws::sdk_config().await;
    let secrets = Secrets::from_env(&sentinel_carriers::SECRET_VARIABLES)
        .await
        .map_err(|e| format!("sentinel-api: configuration: {e}"))?;
    let providers = ProviderSettings::from_lookup(secrets.lookup()).map_err(config)?;
    let subscriber = Provider::subscriber(&providers)
        .map_err(|e| format!("sentinel-api: configuration: CARRIER_PROVIDER: {e}"))?;
    let messages = sentinel_aws::sns::MessageSettings::from_env().map_err(config)?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    Ok(Deps {
        store,
        subscriber,
        // The api sends no SMS (customer notices a push raises are left to the
        // scheduler), so its role needs no direct-SMS permission.
        publisher: AlertTopic::with_sms(aws_sdk_sns::Client::new(&sdk), topic, messages, NoSms),
        settings,
        mode: providers.mode,
        callbacks: CallbackKeys::from_settings(&providers),
        sign_in: sentinel_console::SignIn::from_lookup(|k| std::env::var(k).ok())
            .map_err(config)?,
        clock: Arc::new(SystemClock),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = match Metrics::from_env() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("sentinel-api: configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    let deps = match deps().await {
        Ok(d) => d,
        Err(line) => {
            eprintln!("{line}");
            return ExitCode::FAILURE;
        }
    };
    let deps = &deps;
    let run = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        metrics.after(handle(deps, event.payload)).await
    }));
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sentinel-api: {e}");
            ExitCode::FAILURE
        }
    }
}
