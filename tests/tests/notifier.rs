//! The notifier binary, driven through the local Lambda Runtime API with SQS
//! batches (the topic's messages through the notifier queue), delivering digests to
//! fake chat robots on 127.0.0.1 that check signatures and rate limits the way the
//! services do (`sentinel_fakes::chat`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use sentinel_e2e::runtime_api::{Bootstrap, FunctionConfig, RuntimeApi};
use sentinel_fakes::chat::{DingTalkConfig, FakeDingTalk, FakeSlack, SlackConfig};
use shared::domain::Notification;
use shared::domain::{AlertKind, AlertRecord};
use shared::domain::{Rule, Severity};
use shared::domain::{ShipmentId, Status, TrackingEvent};

const SECRET: &str = "SECtest0123456789";
const WAIT: Duration = Duration::from_secs(90);

fn binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("sentinel-notifier");
    assert!(
        path.exists(),
        "{} missing: cargo build --workspace --bins",
        path.display()
    );
    path
}

/// `n` alerts on distinct parcels, over every rule, both severities and a few
/// carriers and kinds.
fn burst(n: usize) -> Vec<Notification> {
    let carriers = ["ZTO", "YTO", "STO", "SF", "JD", "EMS"];
    let at = Utc.with_ymd_and_hms(2026, 11, 20, 6, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            let rule = Rule::ALL[i % Rule::ALL.len()];
            let kind = match i % 10 {
                0 => AlertKind::Resolved,
                1 => AlertKind::Escalated,
                2 => AlertKind::Repeated,
                _ => AlertKind::Fired,
            };
            Notification {
                record: AlertRecord {
                    shipment: ShipmentId::parse(carriers[i % carriers.len()], &format!("9{i:011}"))
                        .unwrap(),
                    rule,
                    since: at - chrono::Duration::hours(50),
                    kind,
                    seq: 0,
                    severity: if i % 7 == 0 {
                        Severity::Critical
                    } else {
                        Severity::Warning
                    },
                    at,
                    hold_until: None,
                },
                order_id: Some(format!("DD{i}")),
                status: Status::InTransit,
                last_event: Some(TrackingEvent {
                    at: at - chrono::Duration::hours(50),
                    text: "【杭州转运中心】快件已到达，联系电话 13812345678".into(),
                    location: None,
                    code: None,
                    status: Status::InTransit,
                    hub: None,
                }),
                notify_customer: false,
                phone: None,
                owner: None,
                silenced: Vec::new(),
            }
        })
        .collect()
}

fn sqs_event(bodies: &[String]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            json!({
                "messageId": format!("msg-{i}"), "receiptHandle": "r", "body": body,
                "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:notifier",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({"Records": records})
}

fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a batch response: {response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

/// Which parcels the texts list by number, and how many they count in "and N
/// more" lines.
fn accounted(texts: &[String], parcels: &[String]) -> (BTreeMap<String, usize>, usize) {
    let mut listed: BTreeMap<String, usize> = BTreeMap::new();
    let mut more = 0usize;
    for text in texts {
        for line in text.lines() {
            // DingTalk's @-mentions end the last line.
            let line = line.split(" @").next().unwrap_or_default();
            if let Some(n) = line
                .trim()
                .strip_prefix("…及另外 ")
                .and_then(|r| r.strip_suffix(" 件"))
            {
                more += n.parse::<usize>().unwrap();
            }
            for p in parcels {
                if line.contains(p.as_str()) {
                    *listed.entry(p.clone()).or_default() += 1;
                }
            }
        }
    }
    (listed, more)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_a_thousand_alerts_becomes_a_handful_of_digests() {
    let dingtalk = FakeDingTalk::start(DingTalkConfig {
        secret: Some(SECRET.into()),
        ..DingTalkConfig::default()
    });
    let slack = FakeSlack::start(SlackConfig::default());
    let alerts = burst(1000);
    let bodies: Vec<String> = alerts
        .iter()
        .map(|n| serde_json::to_string(n).unwrap())
        .collect();
    let env = vec![
        ("DINGTALK_WEBHOOK".to_string(), dingtalk.webhook()),
        ("DINGTALK_SECRET".to_string(), SECRET.to_string()),
        ("DINGTALK_AT_MOBILES".to_string(), "13800001234".to_string()),
        ("SLACK_WEBHOOK".to_string(), slack.webhook()),
    ];
    let rt = RuntimeApi::start_with(FunctionConfig::named("notifier"));
    let mut b = Bootstrap::spawn(&binary(), &rt, &env);
    let out = b.invoke(sqs_event(&bodies), WAIT).unwrap();
    let response = out.response().unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(
        failures(response),
        Vec::<String>::new(),
        "every alert delivered"
    );

    let parcels: Vec<String> = alerts
        .iter()
        .map(|n| n.record.shipment.tracking_number.to_string())
        .collect();
    let ding: Vec<String> = dingtalk
        .received()
        .iter()
        .map(|m| m["markdown"]["text"].as_str().unwrap().to_string())
        .collect();
    assert!(
        (2..=12).contains(&ding.len()),
        "a handful of DingTalk messages, within its 20 a minute: {}",
        ding.len()
    );
    let (listed, more) = accounted(&ding, &parcels);
    assert!(
        listed.values().all(|&c| c == 1),
        "no parcel listed twice: {listed:?}"
    );
    assert_eq!(
        listed.len() + more,
        1000,
        "every alert in exactly one message"
    );
    assert!(
        ding.iter().all(|t| !t.contains("13812345678")),
        "phones in traces are masked"
    );
    assert!(
        ding[0].contains("@13800001234"),
        "the on-call mobile is @-ed"
    );

    let slack_texts: Vec<String> = slack
        .received()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    assert!(
        (1..=12).contains(&slack_texts.len()),
        "{}",
        slack_texts.len()
    );
    let (listed, more) = accounted(&slack_texts, &parcels);
    assert!(listed.values().all(|&c| c == 1));
    assert_eq!(listed.len() + more, 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn what_cannot_be_sent_is_reported_for_a_retry() {
    let dingtalk = FakeDingTalk::start(DingTalkConfig {
        secret: Some(SECRET.into()),
        ..DingTalkConfig::default()
    });
    let alerts = burst(3);
    let mut bodies: Vec<String> = alerts
        .iter()
        .map(|n| serde_json::to_string(n).unwrap())
        .collect();
    // One enveloped the way SNS does without raw delivery, one that is garbage.
    bodies[2] = json!({"Type": "Notification", "Message": bodies[2]}).to_string();
    bodies.push("not a notification".to_string());

    // A wrong secret: the robot refuses every message.
    let env = vec![
        ("DINGTALK_WEBHOOK".to_string(), dingtalk.webhook()),
        ("DINGTALK_SECRET".to_string(), "SECwrong".to_string()),
    ];
    let rt = RuntimeApi::start_with(FunctionConfig::named("notifier"));
    let mut b = Bootstrap::spawn(&binary(), &rt, &env);
    let out = b.invoke(sqs_event(&bodies), WAIT).unwrap();
    let response = out.response().unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(
        failures(response),
        vec!["msg-0", "msg-1", "msg-2", "msg-3"],
        "refused alerts and the unreadable body go back to the queue (then its DLQ)"
    );
    assert!(dingtalk.received().is_empty());
    let logs = format!("{out:?}");
    assert!(!logs.contains(&dingtalk.config().access_token), "{logs}");

    // The right secret: the three alerts go out; the garbage is still refused.
    let env = vec![
        ("DINGTALK_WEBHOOK".to_string(), dingtalk.webhook()),
        ("DINGTALK_SECRET".to_string(), SECRET.to_string()),
    ];
    drop(b);
    let mut b = Bootstrap::spawn(&binary(), &rt, &env);
    let out = b.invoke(sqs_event(&bodies), WAIT).unwrap();
    let response = out.response().unwrap_or_else(|| panic!("{out:?}"));
    assert_eq!(failures(response), vec!["msg-3"]);
    assert_eq!(dingtalk.received().len(), 1, "three alerts, one digest");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_channel_configuration_stops_the_notifier_at_init() {
    let rt = RuntimeApi::start_with(FunctionConfig::named("notifier"));
    let env = vec![(
        "SLACK_WEBHOOK".to_string(),
        "hooks.slack.com/services/T/B/secret".to_string(),
    )];
    let mut b = Bootstrap::spawn(&binary(), &rt, &env);
    let exit = b.wait_for_exit(WAIT).expect("exits");
    assert!(!exit.success());
    let err = b.stderr();
    assert!(err.contains("SLACK_WEBHOOK"), "{err}");
    assert!(!err.contains("secret"), "the URL is not shown: {err}");
    assert_eq!(rt.next_requests(), 0, "no event taken");
}
