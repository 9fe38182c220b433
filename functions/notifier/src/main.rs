//! `notifier`: ops alerts from the SNS topic (through the notifier queue, in
//! batches) → digests → the chat robots: DingTalk, WeCom, Feishu/Lark, Slack, any
//! number at once, each at its documented rate.
//!
//! Configuration, read once at cold start (a bad value stops the function before it
//! takes any event, naming the variable): `DINGTALK_WEBHOOK`, `DINGTALK_SECRET`,
//! `DINGTALK_AT_MOBILES`, `DINGTALK_KEYWORD`, `WECOM_WEBHOOK`, `WECOM_AT_MOBILES`,
//! `FEISHU_WEBHOOK`, `FEISHU_SECRET`, `SLACK_WEBHOOK` (`sentinel_chat`; with none,
//! alerts are only logged; each secret among them may instead be an SSM
//! parameter named by `<VARIABLE>_PARAMETER`, read once here with
//! `sentinel_aws::secrets`, the parameter winning over a plain value),
//! `ALERT_LANGUAGE` and the template variables
//! (`shared::message`), `SEND_BUDGET_SECONDS` (default 40: how long one batch may
//! wait for pacing before deferring the rest), `METRICS_NAMESPACE` (default
//! `ParcelSentinel`; the messages sent and failed per robot are written as
//! Embedded Metric Format lines after each batch, `sentinel_aws::metrics`).

mod handler;

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use sentinel_aws::env::{number, or_fail};
use sentinel_aws::metrics::Metrics;
use sentinel_aws::secrets::Secrets;
use sentinel_chat::channels_from_lookup;
use sentinel_chat::ChatSink;
use shared::clock::SystemClock;
use shared::message::Templates;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = or_fail(Metrics::from_env());
    let secrets = or_fail(Secrets::from_env(&sentinel_chat::SECRET_VARIABLES).await);
    let channels = or_fail(channels_from_lookup(secrets.lookup()));
    let templates = or_fail(Templates::from_env());
    let budget = or_fail(number("SEND_BUDGET_SECONDS", 40, 1, 840));
    let delivery = ChatSink::new(channels, templates, Arc::new(SystemClock))
        .with_budget(std::time::Duration::from_secs(budget));
    if delivery.is_empty() {
        tracing::warn!("no chat channel configured: alerts are logged only");
    }
    let sink = handler::Logged(delivery);
    lambda_runtime::run(service_fn(|e: LambdaEvent<SqsEvent>| {
        metrics.after(handler::handle(&sink, e))
    }))
    .await
}
