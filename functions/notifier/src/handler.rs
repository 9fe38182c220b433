//! A batch of alerts → digests → the chat robots.
//!
//! The alerts arrive from the topic through the notifier's queue (an SQS batch:
//! raw SNS delivery, so each body is the notification's JSON; an SNS envelope is
//! accepted too), or straight from an SNS subscription. Each body is a
//! [`Notification`] as the tracker published it (the `sqs`/`lambda` message of the
//! topic). Alerts that could not be sent are reported as batch item failures: the
//! queue offers them again later, and after repeated failures moves them to the
//! dead-letter queue, intact. A body that is not a notification is a failure too,
//! so it ends in the dead-letter queue rather than vanishing.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};

use sentinel_chat::ChatSink;
use shared::domain::Notification;
use shared::ports::AlertSink;

/// Reads one message body: the notification itself, or an SNS envelope around it.
pub fn parse_body(body: &str) -> Result<Notification, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let inner = match v.get("Type").and_then(Value::as_str) {
        Some("Notification") => {
            let msg = v
                .get("Message")
                .and_then(Value::as_str)
                .ok_or("an SNS envelope without a Message")?;
            serde_json::from_str(msg)
                .map_err(|e| format!("SNS Message is not a notification: {e}"))?
        }
        _ => v,
    };
    serde_json::from_value(inner).map_err(|e| format!("not a notification: {e}"))
}

/// One invocation. SQS batches answer with their failed items; an SNS event fails
/// as a whole when any alert was not delivered (Lambda retries it, then the
/// on-failure destination keeps it).
pub async fn handle<K: AlertSink>(
    sink: &K,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let records = event
        .payload
        .get("Records")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let sqs = records
        .first()
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:sqs");
    // (message id, parsed body) for each record.
    let mut ids: Vec<String> = Vec::with_capacity(records.len());
    let mut parsed: Vec<Result<Notification, String>> = Vec::with_capacity(records.len());
    for r in &records {
        let (id, body) = if sqs {
            (
                r.get("messageId").and_then(Value::as_str),
                r.get("body").and_then(Value::as_str),
            )
        } else {
            let sns = r.get("Sns");
            (
                sns.and_then(|s| s.get("MessageId")).and_then(Value::as_str),
                sns.and_then(|s| s.get("Message")).and_then(Value::as_str),
            )
        };
        ids.push(id.unwrap_or_default().to_string());
        parsed.push(
            body.ok_or_else(|| "a record without a body".to_string())
                .and_then(parse_body),
        );
    }
    let good: Vec<Notification> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let mut sent = sink.publish(&good).await.into_iter();
    let mut failures = Vec::new();
    for (id, p) in ids.iter().zip(&parsed) {
        let outcome = match p {
            Ok(_) => sent.next().unwrap_or(Err("not attempted".to_string())),
            Err(e) => Err(e.clone()),
        };
        if let Err(why) = outcome {
            tracing::warn!(message_id = %id, error = %why, "alert not delivered; left for a retry");
            failures.push(id.clone());
        }
    }
    tracing::info!(
        records = records.len(),
        undelivered = failures.len(),
        "batch"
    );
    if sqs {
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures
            .into_iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        return Ok(serde_json::to_value(response)?);
    }
    if !failures.is_empty() {
        return Err(format!(
            "{} of {} alerts not delivered",
            failures.len(),
            records.len()
        )
        .into());
    }
    Ok(json!({"records": records.len(), "delivered": records.len()}))
}

/// The chat robots; with none configured, each alert is logged and counts as
/// delivered.
pub struct Logged(pub ChatSink);

impl AlertSink for Logged {
    async fn publish(&self, notifications: &[Notification]) -> Vec<Result<(), String>> {
        if self.0.is_empty() {
            for n in notifications {
                tracing::info!(shipment = %n.record.shipment, rule = n.record.rule.as_str(),
                    kind = n.record.kind.as_str(), "alert (no chat channel configured)");
            }
            return vec![Ok(()); notifications.len()];
        }
        self.0.publish(notifications).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_raw_or_enveloped() {
        let n = r#"{"record":{"shipment":{"carrier":"ZTO","tracking_number":"75312345678901"},"rule":"stalled","since":"2024-11-05T06:20:00Z","kind":"fired","seq":0,"severity":"warning","at":"2024-11-07T06:20:00Z"},"order_id":null,"status":"InTransit","last_event":null,"notify_customer":false}"#;
        let raw = parse_body(n).unwrap();
        assert_eq!(raw.record.shipment.to_string(), "ZTO:75312345678901");
        let env = json!({"Type": "Notification", "Message": n}).to_string();
        assert_eq!(parse_body(&env).unwrap(), raw);
        assert!(parse_body("hello").is_err());
        assert!(parse_body(r#"{"Type":"Notification"}"#).is_err());
        assert!(parse_body(r#"{"record":1}"#).is_err());
    }
}
