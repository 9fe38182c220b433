//! A batch of alerts → digests → the chat robots.
//!
//! The alerts arrive from the topic through the notifier's queue, as a typed SQS
//! batch (raw SNS delivery, so each body is the notification's JSON; a body that
//! is an SNS envelope is accepted too). Each body is a
//! [`Notification`] as the tracker published it (the `sqs`/`lambda` message of the
//! topic). Alerts that could not be sent are reported as batch item failures: the
//! queue offers them again later, and after repeated failures moves them to the
//! dead-letter queue, intact. A body that is not a notification is a failure too,
//! so it ends in the dead-letter queue rather than vanishing.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

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

/// One SQS batch from the notifier queue. Answers with the batch items that were
/// not delivered (the queue offers them again; after repeated failures they go to
/// the dead-letter queue, intact).
pub async fn handle<K: AlertSink>(
    sink: &K,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let records = event.payload.records;
    // (message id, parsed body) for each record.
    let ids: Vec<String> = records
        .iter()
        .map(|r| r.message_id.clone().unwrap_or_default())
        .collect();
    let parsed: Vec<Result<Notification, String>> = records
        .iter()
        .map(|r| {
            r.body
                .as_deref()
                .ok_or_else(|| "a record without a body".to_string())
                .and_then(parse_body)
        })
        .collect();
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
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    Ok(response)
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
    use lambda_runtime::Context;
    use serde_json::json;
    use std::sync::Mutex;

    const FIRED: &str = r#"{"record":{"shipment":{"carrier":"ZTO","tracking_number":"75312345678901"},"rule":"stalled","since":"2024-11-05T06:20:00Z","kind":"fired","seq":0,"severity":"warning","at":"2024-11-07T06:20:00Z"},"order_id":"DD1","status":"InTransit","last_event":null,"notify_customer":false}"#;

    /// Takes every alert except those of one order.
    struct Picky(Mutex<Vec<Notification>>);

    impl AlertSink for Picky {
        async fn publish(&self, n: &[Notification]) -> Vec<Result<(), String>> {
            self.0.lock().unwrap().extend_from_slice(n);
            n.iter()
                .map(|n| match n.order_id.as_deref() {
                    Some("DD-refused") => Err("robot said no".to_string()),
                    _ => Ok(()),
                })
                .collect()
        }
    }

    #[tokio::test]
    async fn an_sqs_batch_answers_with_the_items_not_delivered() {
        let refused = FIRED.replace("\"DD1\"", "\"DD-refused\"");
        let envelope = json!({"Type": "Notification", "Message": FIRED}).to_string();
        let record = |id: &str, body: &str| {
            json!({"messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
                   "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:notifier",
                   "awsRegion": "us-east-1"})
        };
        let event: SqsEvent = serde_json::from_value(json!({"Records": [
            record("m-raw", FIRED),
            record("m-bad", "not json"),
            record("m-refused", &refused),
            record("m-envelope", &envelope),
        ]}))
        .unwrap();
        let sink = Picky(Mutex::new(Vec::new()));
        let response = handle(&sink, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap();
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["m-bad", "m-refused"]);
        // The unparseable body never reached the sink; the other three did.
        assert_eq!(sink.0.lock().unwrap().len(), 3);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "m-bad"}, {"itemIdentifier": "m-refused"}]})
        );
    }

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
