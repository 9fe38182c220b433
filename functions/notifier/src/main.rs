//! `notifier`: alerts from the SNS topic (audience `ops`) → the chat robot.
//!
//! This is the function and its wiring with the first channel, DingTalk (signed
//! requests, `@` of on-call mobiles). Configuration, read once at cold start:
//! `DINGTALK_WEBHOOK` (without it messages are only logged), `DINGTALK_SECRET`
//! (signed mode), `DINGTALK_AT_MOBILES` (comma list). A failed delivery fails the
//! invocation, so Lambda retries it and, in the end, puts the alert in the
//! dead-letter queue intact.

mod handler;

use lambda_runtime::{service_fn, LambdaEvent};
use sentinel_aws::env::or_fail;
use shared::channels::dingtalk::DingTalk;
use shared::providers::Secret;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let dingtalk = match var("DINGTALK_WEBHOOK") {
        Some(url) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                sentinel_aws::env::fail_init("DINGTALK_WEBHOOK: expected an http(s) URL");
            }
            let mobiles = var("DINGTALK_AT_MOBILES")
                .map(|m| {
                    m.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            Some(or_fail(DingTalk::new(
                Secret::new(url.trim()),
                var("DINGTALK_SECRET").map(|s| Secret::new(s.trim())),
                mobiles,
            )))
        }
        None => None,
    };
    let deps = handler::Deps { dingtalk };
    lambda_runtime::run(service_fn(
        |e: LambdaEvent<aws_lambda_events::sns::SnsEvent>| handler::handle(&deps, e),
    ))
    .await
}
