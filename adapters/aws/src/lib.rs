//! Parcel Sentinel's AWS adapters: the ports of `shared` implemented on AWS.
//!
//! - [`dynamo::DynamoStore`]: the [`shared::ports::Store`] on one DynamoDB table;
//! - [`bus::Bus`]: the [`shared::ports::TrackBus`] on the project's EventBridge bus;
//! - [`sns`]: notifications published to the SNS topic with filterable
//!   message attributes;
//! - [`secrets`]: secret variables read at cold start from SSM Parameter Store
//!   (`X_PARAMETER` names the parameter that holds `X`);
//! - [`metrics`](mod@metrics): the recorder of `shared::metrics`, writing CloudWatch
//!   Embedded Metric Format lines to stdout after each invocation.
//!
//! Functions read their configuration once at cold start with [`env`](mod@env): a missing or
//! bad variable stops the function before it takes any event, with one line naming
//! the variable.

pub mod bus;
pub mod dynamo;
pub mod env;
pub mod metrics;
pub mod secrets;
pub mod sns;

/// The SDK configuration from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL` when set — the tests point it at the emulator).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
