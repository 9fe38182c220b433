//! What the SNS adapters count (`shared::metrics`), on the emulator: an ops alert
//! published to the topic is the `sns` channel's, sent or failed; a customer notice
//! texted by `SnsSms` is the `sms` channel's; `NoSms`, which declines by design (the
//! notice waits in the outbox for the scheduler), counts nothing.

mod common;

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};

use sentinel_aws::sns::{AlertTopic, MessageSettings, NoSms};
use shared::domain::{AlertKind, AlertRecord, Notification, Phone, Rule, Severity};
use shared::domain::{ShipmentId, Status};
use shared::metrics::Capture;

fn notification(kind: AlertKind) -> Notification {
    let at = Utc.with_ymd_and_hms(2024, 11, 5, 6, 20, 0).unwrap();
    let customer = kind == AlertKind::Notice;
    Notification {
        record: AlertRecord {
            shipment: ShipmentId::parse("ZTO", "75312345678901").unwrap(),
            rule: Rule::Stalled,
            since: at,
            kind,
            seq: 0,
            severity: Severity::Warning,
            at,
            hold_until: None,
        },
        order_id: Some("DD1".into()),
        status: Status::InTransit,
        last_event: None,
        notify_customer: customer,
        phone: customer.then(|| Phone::parse("13812345678").unwrap()),
        owner: None,
        silenced: Vec::new(),
    }
}

#[tokio::test]
async fn each_message_counts_for_its_channel() {
    let capture = Capture::new();
    let _local = metrics::set_default_local_recorder(&capture);
    let sns = aws_sdk_sns::Client::new(&common::emulator().await);
    let topic = sns
        .create_topic()
        .name(common::unique("metrics"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let messages = MessageSettings::default();
    let good = AlertTopic::new(sns.clone(), &topic, messages.clone());
    let gone = AlertTopic::new(sns.clone(), format!("{topic}-deleted"), messages.clone());
    let no_sms = AlertTopic::with_sms(sns.clone(), &topic, messages, NoSms);

    let ops = notification(AlertKind::Fired);
    let notice = notification(AlertKind::Notice);
    assert_eq!(good.publish(&ops).await, Ok(()));
    assert!(gone.publish(&ops).await.is_err());
    assert_eq!(good.publish(&notice).await, Ok(()));
    assert!(no_sms.publish(&notice).await.is_err());

    let expected: BTreeMap<String, u64> = [
        ("NotificationsSent", 2),
        ("NotificationsSent{Channel=sns}", 1),
        ("NotificationsSent{Channel=sms}", 1),
        ("NotificationsFailed", 1),
        ("NotificationsFailed{Channel=sns}", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(capture.counters(), expected);
}
