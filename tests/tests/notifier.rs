//! The notifier binary, driven through the local Lambda Runtime API with SNS
//! events, delivering to a fake DingTalk robot on 127.0.0.1 that checks the
//! signature the way DingTalk does (HMAC-SHA256 of `timestamp + "\n" + secret`,
//! recomputed here over the received timestamp).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use sentinel_e2e::runtime_api::{Bootstrap, FunctionConfig, RuntimeApi};

const SECRET: &str = "SECtest0123456789";

#[derive(Clone, Default)]
struct Robot {
    received: Arc<Mutex<Vec<Value>>>,
}

fn expected_sign(timestamp: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}\n{SECRET}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn send(
    State(robot): State<Robot>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if q.get("access_token").map(String::as_str) != Some("TOKEN") {
        return Json(json!({"errcode": 300001, "errmsg": "token is not exist"}));
    }
    let ts = q.get("timestamp").cloned().unwrap_or_default();
    let fresh = ts
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp_millis() - t).abs() < 3_600_000);
    if !fresh || q.get("sign") != Some(&expected_sign(&ts)) {
        return Json(json!({"errcode": 310000, "errmsg": "sign not match"}));
    }
    robot.received.lock().unwrap().push(body);
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

fn sns_event(messages: &[(&str, &str)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(subject, text)| {
            json!({
                "EventSource": "aws:sns", "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:000000000000:alerts:sub",
                "Sns": {
                    "Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:000000000000:alerts",
                    "Subject": subject, "Message": text, "Timestamp": "2026-11-25T00:00:00.000Z",
                    "SignatureVersion": "1", "Signature": "x", "SigningCertUrl": "https://example.com/c.pem",
                    "UnsubscribeUrl": "https://example.com/u",
                    "MessageAttributes": {"severity": {"Type": "String", "Value": "warning"},
                                          "audience": {"Type": "String", "Value": "ops"}}
                }
            })
        })
        .collect();
    json!({"Records": records})
}

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

#[tokio::test(flavor = "multi_thread")]
async fn notifier_delivers_signed_messages_to_dingtalk() {
    let robot = Robot::default();
    let app = Router::new()
        .route("/robot/send", post(send))
        .with_state(robot.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let webhook = format!("http://{addr}/robot/send?access_token=TOKEN");

    let env = |secret: &str| {
        vec![
            ("DINGTALK_WEBHOOK".to_string(), webhook.clone()),
            ("DINGTALK_SECRET".to_string(), secret.to_string()),
            ("DINGTALK_AT_MOBILES".to_string(), "13800001234".to_string()),
        ]
    };
    let rt = RuntimeApi::start_with(FunctionConfig::named("notifier"));
    let mut b = Bootstrap::spawn(&binary(), &rt, &env(SECRET));
    let out = b
        .invoke(
            sns_event(&[
                ("【预警】物流停滞 · 申通快递（STO）", "【预警】物流停滞 · 申通快递（STO） 运单号 773880000000003\n  自 … 起已 72 小时没有新的物流轨迹"),
                ("【预警】拒收 · 极兔速递（JTSD）", "【预警】拒收 · 极兔速递（JTSD） 运单号 JT8800000000005"),
            ]),
            Duration::from_secs(30),
        )
        .unwrap();
    assert_eq!(
        out.response(),
        Some(&json!({"records": 2, "sent": 2})),
        "{out:?}"
    );
    let got = robot.received.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["msgtype"], "markdown");
    assert_eq!(
        got[0]["markdown"]["title"],
        "【预警】物流停滞 · 申通快递（STO）"
    );
    assert!(got[0]["markdown"]["text"]
        .as_str()
        .unwrap()
        .contains("773880000000003"));
    assert!(got[0]["markdown"]["text"]
        .as_str()
        .unwrap()
        .contains("@13800001234"));
    assert_eq!(got[0]["at"]["atMobiles"], json!(["13800001234"]));

    // A wrong secret: DingTalk refuses; the invocation fails (Lambda retries it, then
    // the alert lands in the dead-letter queue intact), and the token never shows.
    let rt = RuntimeApi::start_with(FunctionConfig::named("notifier"));
    let mut b = Bootstrap::spawn(&binary(), &rt, &env("SECwrong"));
    let out = b
        .invoke(sns_event(&[("t", "x")]), Duration::from_secs(30))
        .unwrap();
    assert!(out.is_function_error(), "{out:?}");
    let shown = format!("{out:?}");
    assert!(shown.contains("310000"), "{shown}");
    assert!(!shown.contains("TOKEN"), "{shown}");
    assert_eq!(robot.received.lock().unwrap().len(), 2);
}
