//! Alert notifications to the SNS topic.
//!
//! The message is the rendered Chinese ops text (what an SMS, an email or a chat
//! robot shows); the message attributes let each subscription take its share with a
//! filter policy: `severity` (warning | critical), `rule`, `carrier`, `audience`
//! (ops | customer), plus `kind` (fired, escalated, repeated, resolved) and
//! `shipment` for the notifier. The email subject stays within SNS's 100 characters.

use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

use shared::message::render_zh;
use shared::normalise::carriers::name_zh;
use shared::pipeline::{AlertSink, Notification};

/// SNS's limit on an email subject.
pub const MAX_SUBJECT: usize = 100;

#[derive(Clone, Debug)]
pub struct AlertTopic {
    client: Client,
    topic_arn: String,
}

fn attr(v: &str) -> Result<MessageAttributeValue, String> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .map_err(|e| e.to_string())
}

/// The subject line: the first line of the message, cut to SNS's limit on a
/// character boundary.
pub fn subject(text: &str) -> String {
    let first = text.lines().next().unwrap_or("Parcel Sentinel").trim();
    let mut out = String::new();
    for c in first.chars() {
        if out.len() + c.len_utf8() > MAX_SUBJECT {
            break;
        }
        out.push(c);
    }
    out
}

impl AlertTopic {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }

    /// Publishes one notification to the ops audience.
    pub async fn publish(&self, n: &Notification) -> Result<(), String> {
        let r = &n.record;
        let carrier = r.shipment.carrier.as_str();
        let text = render_zh(n, name_zh(carrier));
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(&text)
            .subject(subject(&text))
            .message_attributes("severity", attr(r.severity.as_str())?)
            .message_attributes("rule", attr(r.rule.as_str())?)
            .message_attributes("carrier", attr(carrier)?)
            .message_attributes("audience", attr("ops")?)
            .message_attributes("kind", attr(r.kind.as_str())?)
            .message_attributes("shipment", attr(&r.shipment.to_string())?)
            .send()
            .await
            .map_err(|e| format!("SNS Publish: {}", DisplayErrorContext(e)))?;
        Ok(())
    }
}

impl AlertSink for AlertTopic {
    /// Publishes each notification; the first failure is returned after trying
    /// them all.
    async fn publish(&self, notifications: &[Notification]) -> Result<(), String> {
        let mut first_error = None;
        for n in notifications {
            if let Err(e) = AlertTopic::publish(self, n).await {
                tracing::error!(shipment = %n.record.shipment, rule = n.record.rule.as_str(),
                    kind = n.record.kind.as_str(), error = %e, "alert not published");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_fit_sns() {
        let long = "【预警】".repeat(40);
        let s = subject(&format!("{long}\nsecond line"));
        assert!(s.len() <= MAX_SUBJECT);
        assert!(s.starts_with("【预警】"));
        assert_eq!(subject("short\nmore"), "short");
    }
}
