//! Alert notifications through SNS.
//!
//! Ops notifications go to the topic as one message per alert with a message per
//! protocol (`MessageStructure=json`): the full text for email (and the default),
//! a short line for SMS, and the notification itself as JSON for the `notifier`
//! function (`sqs`: its queue; `lambda`: a direct subscription), which digests
//! them and sends them to the chat robots. The message
//! attributes let each subscription take its share with a filter policy:
//! `severity` (warning | critical), `rule`, `carrier`, `audience` (ops), plus
//! `kind` (fired, escalated, repeated, resolved) and `shipment`. The email subject
//! is ASCII and under 100 characters, as SNS requires.
//!
//! Customer notices are SMS sent straight to the recipient's phone through an
//! [`SmsSender`] — [`SnsSms`] by default (Publish with `PhoneNumber`,
//! transactional, with `SMS_SENDER_ID` when configured): they never go through the
//! topic, so no ops subscription ever sees a customer's number.
//!
//! Each message counts in the metrics as the `sns` channel's (a topic publish) or
//! the `sms` channel's (an SMS [`SnsSms`] sent), sent or failed. [`NoSms`] sends
//! nothing and counts nothing: a notice it declines waits in the outbox by design.

use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use serde_json::json;

use shared::outbox::send_notice;

use shared::domain::Audience;
use shared::domain::Notification;
use shared::message::Templates;
use shared::metrics;
use shared::ports::AlertSink;
use shared::ports::SmsSender;

/// SNS's limit on an email subject.
pub const MAX_SUBJECT: usize = 100;

/// How messages are worded and signed; read once at cold start.
#[derive(Clone, Debug, Default)]
pub struct MessageSettings {
    pub templates: Templates,
    /// `SMS_SENDER_ID`: the alphanumeric sender of customer SMS, where honoured.
    pub sender_id: Option<String>,
    /// `SHOP_NAME`: signs customer notices.
    pub shop_name: Option<String>,
}

impl MessageSettings {
    /// `ALERT_LANGUAGE`, the template variables, `SMS_SENDER_ID`, `SHOP_NAME`.
    pub fn from_env() -> Result<Self, shared::config::ConfigError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let sender_id = var("SMS_SENDER_ID").map(|v| v.trim().to_string());
        if let Some(id) = &sender_id {
            // AWS: 1-11 alphanumeric characters, at least one letter.
            let ok = id.len() <= 11
                && id.bytes().all(|b| b.is_ascii_alphanumeric())
                && id.bytes().any(|b| b.is_ascii_alphabetic());
            if !ok {
                return Err(shared::config::ConfigError {
                    var: "SMS_SENDER_ID",
                    token: id.clone(),
                    reason: "expected 1-11 letters or digits, at least one letter".into(),
                });
            }
        }
        Ok(Self {
            templates: Templates::from_env()?,
            sender_id,
            shop_name: var("SHOP_NAME").map(|v| v.trim().to_string()),
        })
    }
}

/// SMS through SNS (`Publish` with `PhoneNumber`, transactional).
#[derive(Clone, Debug)]
pub struct SnsSms {
    client: Client,
    sender_id: Option<String>,
}

impl SnsSms {
    pub fn new(client: Client, sender_id: Option<String>) -> Self {
        Self { client, sender_id }
    }
}

impl SmsSender for SnsSms {
    /// Counted as the `sms` channel's ([`shared::metrics::notification`]).
    async fn send_sms(&self, to: &str, text: &str) -> Result<(), String> {
        let sent = self.send(to, text).await;
        metrics::notification(metrics::CHANNEL_SMS, sent.is_ok());
        sent
    }
}

impl SnsSms {
    async fn send(&self, to: &str, text: &str) -> Result<(), String> {
        let mut req = self
            .client
            .publish()
            .phone_number(to)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", attr("Transactional")?);
        if let Some(id) = &self.sender_id {
            req = req.message_attributes("AWS.SNS.SMS.SenderID", attr(id)?);
        }
        req.send()
            .await
            .map_err(|e| format!("SNS SMS: {}", DisplayErrorContext(e)))?;
        Ok(())
    }
}

/// An SMS sender that sends nothing: for a function that may not text phone
/// numbers (the api, whose role has no direct-SMS permission). A customer notice
/// handed to it fails and stays in the outbox, for the scheduler to send.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSms;

impl SmsSender for NoSms {
    async fn send_sms(&self, _to: &str, _text: &str) -> Result<(), String> {
        Err("this function sends no SMS: the notice stays in the outbox for the scheduler".into())
    }
}

/// Ops alerts to the topic; customer notices through the SMS sender `S`.
#[derive(Clone, Debug)]
pub struct AlertTopic<S = SnsSms> {
    client: Client,
    topic_arn: String,
    messages: MessageSettings,
    sms: S,
}

fn attr(v: &str) -> Result<MessageAttributeValue, String> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .map_err(|e| e.to_string())
}

/// The per-protocol message of an ops notification.
pub fn ops_message(templates: &Templates, n: &Notification) -> Result<String, String> {
    let text = templates.render(n);
    let payload = serde_json::to_string(n).map_err(|e| e.to_string())?;
    Ok(json!({
        "default": text,
        "email": text,
        "sms": templates.sms(n),
        "sqs": payload,
        "lambda": payload,
    })
    .to_string())
}

impl AlertTopic<SnsSms> {
    /// Customer notices by SNS SMS (with `SMS_SENDER_ID`).
    pub fn new(client: Client, topic_arn: impl Into<String>, messages: MessageSettings) -> Self {
        let sms = SnsSms::new(client.clone(), messages.sender_id.clone());
        Self::with_sms(client, topic_arn, messages, sms)
    }
}

impl<S: SmsSender> AlertTopic<S> {
    /// Customer notices through another SMS provider.
    pub fn with_sms(
        client: Client,
        topic_arn: impl Into<String>,
        messages: MessageSettings,
        sms: S,
    ) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
            messages,
            sms,
        }
    }

    /// Publishes one notification: ops ones to the topic, customer notices by SMS.
    pub async fn publish(&self, n: &Notification) -> Result<(), String> {
        match n.audience() {
            Audience::Ops => self.publish_ops(n).await,
            Audience::Customer => self.send_notice(n).await,
        }
    }

    /// Counted as the `sns` channel's ([`shared::metrics::notification`]).
    async fn publish_ops(&self, n: &Notification) -> Result<(), String> {
        let published = self.publish_to_topic(n).await;
        metrics::notification(metrics::CHANNEL_SNS, published.is_ok());
        published
    }

    async fn publish_to_topic(&self, n: &Notification) -> Result<(), String> {
        let r = &n.record;
        let t = &self.messages.templates;
        let mut req = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .message_structure("json")
            .message(ops_message(t, n)?)
            .subject(t.subject(n))
            .message_attributes("severity", attr(r.severity.as_str())?)
            .message_attributes("rule", attr(r.rule.as_str())?)
            .message_attributes("carrier", attr(r.shipment.carrier.as_str())?)
            .message_attributes("audience", attr(Audience::Ops.as_str())?)
            .message_attributes("kind", attr(r.kind.as_str())?)
            .message_attributes("shipment", attr(&r.shipment.to_string())?)
            // For the topic's SMS subscriptions (critical alerts to ops phones).
            .message_attributes("AWS.SNS.SMS.SMSType", attr("Transactional")?);
        if let Some(id) = &self.messages.sender_id {
            req = req.message_attributes("AWS.SNS.SMS.SenderID", attr(id)?);
        }
        req.send()
            .await
            .map_err(|e| format!("SNS Publish: {}", DisplayErrorContext(e)))?;
        Ok(())
    }

    async fn send_notice(&self, n: &Notification) -> Result<(), String> {
        let m = &self.messages;
        send_notice(&self.sms, &m.templates, m.shop_name.as_deref(), n).await
    }
}

impl<S: SmsSender> AlertSink for AlertTopic<S> {
    /// Publishes each notification, one result each.
    async fn publish(&self, notifications: &[Notification]) -> Vec<Result<(), String>> {
        let mut out = Vec::with_capacity(notifications.len());
        for n in notifications {
            out.push(AlertTopic::publish(self, n).await);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use shared::domain::{AlertKind, AlertRecord};
    use shared::domain::{Rule, Severity};
    use shared::domain::{ShipmentId, Status};

    #[test]
    fn the_lambda_message_is_the_notification() {
        let at = Utc.with_ymd_and_hms(2024, 11, 5, 6, 20, 0).unwrap();
        let n = Notification {
            record: AlertRecord {
                shipment: ShipmentId::parse("ZTO", "75312345678901").unwrap(),
                rule: Rule::Stalled,
                since: at,
                kind: AlertKind::Fired,
                seq: 0,
                severity: Severity::Critical,
                at,
                hold_until: None,
            },
            order_id: Some("DD1".into()),
            status: Status::InTransit,
            last_event: None,
            notify_customer: false,
            phone: None,
            owner: None,
            silenced: Vec::new(),
        };
        let t = Templates::default();
        let m: serde_json::Value = serde_json::from_str(&ops_message(&t, &n).unwrap()).unwrap();
        for key in ["default", "email", "sms", "sqs", "lambda"] {
            assert!(m[key].is_string(), "{key} in {m}");
        }
        let back: Notification = serde_json::from_str(m["lambda"].as_str().unwrap()).unwrap();
        assert_eq!(back, n);
        let subject = t.subject(&n);
        assert!(
            subject.is_ascii() && subject.len() < MAX_SUBJECT,
            "{subject}"
        );
    }
}
