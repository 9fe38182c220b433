//! The very binaries `sam build` packages (arm64 `bootstrap`s under
//! `.aws-sam/build/`) start under qemu-user on this x86_64 machine and answer one
//! event each through the local Lambda Runtime API, against the AWS emulator.
//!
//! `./infra/test.sh` runs `sam build` and installs qemu first; run alone, this test
//! fails with instructions (it never skips).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use sentinel_aws::dynamo::DynamoStore;
use sentinel_e2e::runtime_api::{Bootstrap, FunctionConfig, RuntimeApi, QEMU_AARCH64};

fn built(function: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join(".aws-sam/build").join(function).join("bootstrap");
    assert!(
        path.exists(),
        "{} is missing: run `sam build` first (./infra/test.sh does)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn each_arm64_bootstrap_answers_an_event_under_qemu() {
    assert!(
        std::process::Command::new(QEMU_AARCH64[0])
            .arg("--version")
            .output()
            .is_ok(),
        "{} is missing: apt-get install qemu-user-static libc6-arm64-cross (./infra/test.sh does)",
        QEMU_AARCH64[0]
    );
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1"),
        "run through ./infra/test.sh (the emulator)"
    );
    let sdk = sentinel_aws::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("arm64-{}", std::process::id());
    DynamoStore::create_table(&dynamo, &table).await.unwrap();
    let bus = format!("arm64-bus-{}", std::process::id());
    aws_sdk_eventbridge::Client::new(&sdk)
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .unwrap();

    let env: Vec<(String, String)> = [
        ("TABLE_NAME", table.as_str()),
        ("EVENT_BUS_NAME", bus.as_str()),
        ("TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:unused"),
        ("CARRIER_PROVIDER", "kdniao"),
        ("KDNIAO_EBUSINESS_ID", "1"),
        ("KDNIAO_API_KEY", "k"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let summary = json!({
        "version": "2.0", "routeKey": "GET /summary", "rawPath": "/summary", "rawQueryString": "",
        "headers": {}, "isBase64Encoded": false,
        "requestContext": {"accountId": "000000000000", "apiId": "local", "domainName": "local",
            "domainPrefix": "local", "http": {"method": "GET", "path": "/summary",
            "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "qemu"},
            "requestId": "r", "routeKey": "GET /summary", "stage": "$default",
            "time": "25/Nov/2026:00:00:00 +0000", "timeEpoch": 0}
    });
    let track = json!({"version": "0", "id": "e", "detail-type": "TrackBatch", "source": "parcel-sentinel",
        "account": "000000000000", "time": "2026-11-25T00:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {"shipments": []}});
    // One alert from the notifier queue; no robot configured: logged, delivered.
    let alert = r#"{"record":{"shipment":{"carrier":"ZTO","tracking_number":"75312345678901"},"rule":"stalled","since":"2026-11-20T06:00:00Z","kind":"fired","seq":0,"severity":"warning","at":"2026-11-22T06:00:00Z"},"order_id":null,"status":"InTransit","last_event":null,"notify_customer":false}"#;
    let sqs = json!({"Records": [{"messageId": "m1", "receiptHandle": "r", "body": alert,
        "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:notifier", "awsRegion": "us-east-1"}]});
    for (function, event, expect) in [
        (
            "SchedulerFunction",
            json!({}),
            json!({"due": 0, "events": 0, "outbox_delivered": 0, "outbox_failed": 0}),
        ),
        (
            "TrackerFunction",
            track,
            json!({"parcels": 0, "checked": 0, "queries": 0, "deferred": 0, "query_errors": 0, "alerts": 0, "undelivered": 0, "failed": 0}),
        ),
        ("NotifierFunction", sqs, json!({"batchItemFailures": []})),
        ("ApiFunction", summary, json!(null)),
    ] {
        let rt = RuntimeApi::start_with(FunctionConfig::named(function));
        let mut b = Bootstrap::spawn_with_prefix(QEMU_AARCH64, &built(function), &rt, &env);
        let got = b
            .invoke(event, Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("{function} under qemu: {e}"));
        let v = got
            .response()
            .cloned()
            .unwrap_or_else(|| panic!("{function}: {got:?}"));
        if expect.is_null() {
            assert_eq!(v["statusCode"], 200, "{function}: {v}");
        } else {
            assert_eq!(v, expect, "{function}");
        }
    }
}
