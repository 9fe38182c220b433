//! Each SNS record → one chat message (digests come with the alert-delivery work).

use chrono::Utc;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use shared::channels::dingtalk::DingTalk;

pub struct Deps {
    pub dingtalk: Option<DingTalk>,
}

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<aws_lambda_events::sns::SnsEvent>,
) -> Result<Value, lambda_runtime::Error> {
    let mut sent = 0usize;
    for record in &event.payload.records {
        let sns = &record.sns;
        let title = sns
            .subject
            .clone()
            .unwrap_or_else(|| "Parcel Sentinel".to_string());
        match &deps.dingtalk {
            Some(d) => {
                d.send(&title, &sns.message, Utc::now().timestamp_millis())
                    .await?;
                sent += 1;
            }
            None => tracing::info!(%title, "no chat channel configured; alert logged only"),
        }
    }
    Ok(json!({"records": event.payload.records.len(), "sent": sent}))
}
