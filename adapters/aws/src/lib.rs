//! Parcel Sentinel's AWS adapters: the ports of `shared` implemented on AWS.
//!
//! - [`dynamo::DynamoStore`]: the [`shared::store::Store`] on one DynamoDB table;
//! - [`bus`]: TrackBatch events on the project's EventBridge bus;
//! - [`alerts`]: notifications published to the SNS topic with filterable
//!   message attributes.
//!
//! Functions read their configuration once at cold start with [`env`]: a missing or
//! bad variable stops the function before it takes any event, with one line naming
//! the variable.

pub mod alerts;
pub mod bus;
pub mod dynamo;
pub mod env;

/// The SDK configuration from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL` when set — the tests point it at the emulator).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
