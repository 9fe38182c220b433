//! The serverless pipeline end to end, on the AWS emulator, with the real function
//! binaries (native builds of the same crates `sam build` packages) driven through
//! the local Lambda Runtime API:
//!
//! api (HTTP API v2 event, and a `ShipmentRegistered` event) → DynamoDB →
//! scheduler → TrackBatch events on the bus (read back through a rule targeting a
//! queue) → two racing trackers, and a duplicate delivery, against the fake Kdniao
//! → DynamoDB items → alerts on SNS (read back through filtered SQS subscriptions)
//! exactly once, with their attributes.
//!
//! `./infra/test.sh` builds the binaries and starts the emulator first.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use chrono::Utc;
use serde_json::{json, Value};

use sentinel_aws::dynamo::DynamoStore;
use sentinel_e2e::runtime_api::{Bootstrap, FunctionConfig, Invocation, RuntimeApi};
use sentinel_e2e::{emulator, function_binary as binary, unique};
use sentinel_fakes::{
    demo_parcels, demo_scenario, FakeKdniao, KdniaoConfig, DEMO_KDNIAO_APP_KEY,
    DEMO_KDNIAO_EBUSINESS_ID,
};
use shared::domain::Notification;
use shared::domain::{ShipmentId, Status};
use shared::ports::{AlertLog, ShipmentReader};

const WAIT: Duration = Duration::from_secs(60);

struct Queue {
    url: String,
    arn: String,
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Queue {
    let url = sqs
        .create_queue()
        .queue_name(unique(name))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .unwrap();
    Queue { url, arn }
}

/// Everything in the queue now (until a receive comes back empty).
async fn drain(sqs: &aws_sdk_sqs::Client, q: &Queue) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(&q.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let msgs = got.messages();
        if msgs.is_empty() {
            return out;
        }
        for m in msgs {
            out.push(serde_json::from_str(m.body().unwrap_or("null")).unwrap());
            sqs.delete_message()
                .queue_url(&q.url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .unwrap();
        }
    }
}

fn http_event(method: &str, path: &str, body: &Value) -> Value {
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "local.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "local",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "e2e"},
            "requestId": unique("req"),
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "25/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "isBase64Encoded": false,
        "body": body.to_string()
    })
}

fn ok(i: Result<Invocation, sentinel_e2e::runtime_api::HarnessError>, what: &str) -> Value {
    match i {
        Ok(inv) => match inv.response() {
            Some(v) => v.clone(),
            None => panic!("{what}: function error {inv:?}"),
        },
        Err(e) => panic!("{what}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serverless_pipeline_end_to_end() {
    let sdk = emulator().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);

    // Resources, as the template declares them.
    let table = unique("parcels");
    DynamoStore::create_table(&dynamo, &table).await.unwrap();
    let bus = unique("bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let batches = queue(&sqs, "trackbatch").await;
    let rule = unique("track");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["parcel-sentinel"],"detail-type":["TrackBatch"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&batches.arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let topic = sns
        .create_topic()
        .name(unique("alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let ops = queue(&sqs, "ops").await;
    let critical = queue(&sqs, "critical").await;
    for (q, policy) in [
        (&ops, r#"{"audience":["ops"]}"#),
        (&critical, r#"{"audience":["ops"],"severity":["critical"]}"#),
    ] {
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(&q.arn)
            .attributes("FilterPolicy", policy)
            .send()
            .await
            .unwrap();
    }

    let fake = FakeKdniao::start(KdniaoConfig {
        ebusiness_id: DEMO_KDNIAO_EBUSINESS_ID.into(),
        app_key: DEMO_KDNIAO_APP_KEY.into(),
        scenario: demo_scenario(Utc::now()),
    });
    let env = |extra: &[(&str, String)]| {
        let mut v: Vec<(String, String)> = vec![
            ("TABLE_NAME".into(), table.clone()),
            ("EVENT_BUS_NAME".into(), bus.clone()),
            ("TOPIC_ARN".into(), topic.clone()),
            ("TRACK_BATCH_SIZE".into(), "3".into()),
            ("STALLED_CRITICAL_HOURS".into(), "60".into()),
            (
                "KDNIAO_EBUSINESS_ID".into(),
                DEMO_KDNIAO_EBUSINESS_ID.into(),
            ),
            ("KDNIAO_API_KEY".into(), DEMO_KDNIAO_APP_KEY.into()),
            ("KDNIAO_API_URL".into(), fake.query_url()),
            ("KDNIAO_SUBSCRIBE_URL".into(), fake.subscribe_url()),
            ("KDNIAO_REQUEST_TYPE".into(), "8001".into()),
            ("RUST_LOG".into(), "warn".into()),
        ];
        v.extend(extra.iter().map(|(k, val)| (k.to_string(), val.clone())));
        v
    };

    // --- api: seven parcels through POST /shipments, one through an event.
    let demo = demo_parcels(Utc::now());
    let item = |d: &sentinel_fakes::DemoParcel| {
        json!({"carrier": d.parcel.carrier, "tracking_number": d.parcel.number,
               "order_id": d.order_id, "shipped_at": d.shipped_at,
               "promised_at": d.promised_at, "phone": d.phone})
    };
    let api_rt = RuntimeApi::start_with(FunctionConfig::named("api"));
    let mut api = Bootstrap::spawn(&binary("sentinel-api"), &api_rt, &env(&[]));
    let body: Vec<Value> = demo[..7].iter().map(item).collect();
    let resp = ok(
        api.invoke(http_event("POST", "/shipments", &json!(body)), WAIT),
        "POST /shipments",
    );
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let results: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(results["results"].as_array().unwrap().len(), 7);
    assert!(results["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "registered"));
    let registered = json!({
        "version": "0", "id": unique("evt"), "detail-type": "ShipmentRegistered",
        "source": "shop.orders", "account": "000000000000", "time": "2026-11-25T00:00:00Z",
        "region": "us-east-1", "resources": [], "detail": item(&demo[7])
    });
    ok(api.invoke(registered, WAIT), "ShipmentRegistered");

    // --- scheduler: eight due parcels → three TrackBatch events of at most 3.
    let sched_rt = RuntimeApi::start_with(FunctionConfig::named("scheduler"));
    let mut scheduler = Bootstrap::spawn(&binary("sentinel-scheduler"), &sched_rt, &env(&[]));
    let tick = ok(scheduler.invoke(json!({}), WAIT), "scheduler tick");
    assert_eq!(
        tick,
        json!({"due": 8, "events": 3, "outbox_delivered": 0, "outbox_failed": 0})
    );
    let track_events = drain(&sqs, &batches).await;
    assert_eq!(track_events.len(), 3, "{track_events:?}");
    let mut batched: BTreeSet<String> = BTreeSet::new();
    for e in &track_events {
        assert_eq!(e["source"], "parcel-sentinel");
        assert_eq!(e["detail-type"], "TrackBatch");
        let ids = e["detail"]["shipments"].as_array().unwrap();
        assert!(ids.len() <= 3);
        batched.extend(
            ids.iter()
                .map(|i| i["tracking_number"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(batched.len(), 8);

    // --- two trackers race on every batch, then one gets a duplicate delivery.
    let rt_a = RuntimeApi::start_with(FunctionConfig::named("tracker"));
    let rt_b = RuntimeApi::start_with(FunctionConfig::named("tracker"));
    let mut tracker_a = Bootstrap::spawn(&binary("sentinel-tracker"), &rt_a, &env(&[]));
    // Tracker B's topic does not exist: what it claims cannot be published and
    // stays in the outbox, for the scheduler's next tick.
    let mut tracker_b = Bootstrap::spawn(
        &binary("sentinel-tracker"),
        &rt_b,
        &env(&[("TOPIC_ARN", format!("{topic}-gone"))]),
    );
    tracker_a.wait_ready(WAIT).unwrap();
    tracker_b.wait_ready(WAIT).unwrap();
    let mut stranded = 0u64;
    for e in &track_events {
        let (a, b) = tokio::join!(
            rt_a.invoke_async(e.clone(), WAIT),
            rt_b.invoke_async(e.clone(), WAIT)
        );
        ok(a, "tracker A");
        let b = ok(b, "tracker B");
        assert_eq!(
            b["undelivered"], b["alerts"],
            "tracker B cannot publish: {b}"
        );
        stranded += b["undelivered"].as_u64().unwrap();
    }
    let queries = || {
        fake.requests()
            .iter()
            .filter(|r| r.request_type.as_deref() == Some("8001"))
            .count()
    };
    // Racing trackers may both query a parcel (only one write wins), never more.
    let raced = queries();
    assert!(
        (8..=16).contains(&raced),
        "{raced} queries for 8 parcels and 2 trackers"
    );
    let again = ok(
        rt_a.invoke_async(track_events[0].clone(), WAIT).await,
        "duplicate",
    );
    assert_eq!(
        again["alerts"], 0,
        "a duplicate delivery notifies nothing: {again}"
    );
    assert_eq!(again["checked"], 0, "nothing is due any more: {again}");
    assert_eq!(queries(), raced, "a duplicate delivery queries nothing");

    // --- the items in DynamoDB.
    let store = DynamoStore::new(dynamo.clone(), &table);
    let mut expected_status = BTreeMap::new();
    expected_status.insert("773880000000003", Status::InTransit);
    expected_status.insert("4388000000004", Status::DeliveryFailed);
    expected_status.insert("JT8800000000005", Status::Refused);
    expected_status.insert("73880000000002", Status::Delivered);
    let mut records = 0usize;
    for d in &demo {
        let id = ShipmentId::parse(&d.parcel.carrier, &d.parcel.number).unwrap();
        let s = store.get_shipment(&id).await.unwrap().expect("stored");
        assert!(s.version >= 2, "{id}: registered and tracked");
        assert!(s.last_checked_at.is_some(), "{id}: checked");
        assert_eq!(s.timeline.len(), d.parcel.events.len(), "{id}: timeline");
        if let Some(st) = expected_status.get(d.parcel.number.as_str()) {
            assert_eq!(s.status, *st, "{id}");
        }
        if s.status == Status::Delivered {
            assert!(
                s.next_check_at.is_none(),
                "{id}: finished parcels leave the due index"
            );
        }
        records += store.alerts_for(&id).await.unwrap().len();
    }

    // --- the outbox: the next tick delivers what tracker B could not publish.
    let first = drain(&sqs, &ops).await;
    drop(scheduler);
    let mut scheduler = Bootstrap::spawn(
        &binary("sentinel-scheduler"),
        &sched_rt,
        &env(&[("OUTBOX_GRACE_SECONDS", "0".into())]),
    );
    let tick = ok(scheduler.invoke(json!({}), WAIT), "scheduler tick 2");
    assert_eq!(tick["outbox_delivered"], stranded, "{tick}");
    assert_eq!(tick["outbox_failed"], 0, "{tick}");
    assert_eq!(first.len() as u64 + stranded, records as u64);
    let tick = ok(scheduler.invoke(json!({}), WAIT), "scheduler tick 3");
    assert_eq!(tick["outbox_delivered"], 0, "delivered once: {tick}");

    // --- alerts on SNS: each exactly once, with attributes.
    let mut delivered = first;
    delivered.extend(drain(&sqs, &ops).await);
    assert_eq!(
        delivered.len(),
        records,
        "one message per alert record: {delivered:#?}"
    );
    let mut seen = BTreeSet::new();
    for m in &delivered {
        let attrs = &m["MessageAttributes"];
        let get = |k: &str| attrs[k]["Value"].as_str().unwrap_or_default().to_string();
        assert_eq!(get("audience"), "ops");
        assert!(["warning", "critical"].contains(&get("severity").as_str()));
        assert!(!get("carrier").is_empty());
        let key = (get("shipment"), get("rule"), get("kind"));
        assert!(seen.insert(key.clone()), "notified twice: {key:?}");
        // A queue takes the topic's `sqs` message: the notification itself.
        let n: Notification = serde_json::from_str(m["Message"].as_str().unwrap()).unwrap();
        assert_eq!(n.record.shipment.to_string(), get("shipment"));
        assert_eq!(n.record.rule.as_str(), get("rule"));
        let subject = m["Subject"].as_str().unwrap_or_default();
        assert!(subject.is_ascii() && subject.len() < 100, "{subject}");
    }
    let rules: BTreeSet<(String, String)> = seen
        .iter()
        .map(|(s, r, _)| (s.clone(), r.clone()))
        .collect();
    for (shipment, rule) in [
        ("STO:773880000000003", "stalled"),
        ("YD:4388000000004", "delivery_failed"),
        ("JTSD:JT8800000000005", "refused"),
        ("EMS:1188000000006", "hub_dwell"),
    ] {
        assert!(
            rules.contains(&(shipment.to_string(), rule.to_string())),
            "{shipment} {rule} missing: {rules:?}"
        );
    }
    // The critical subscription got exactly the critical one: stalled for 72 h
    // with STALLED_CRITICAL_HOURS=60.
    let crit = drain(&sqs, &critical).await;
    assert_eq!(crit.len(), 1, "{crit:#?}");
    assert_eq!(crit[0]["MessageAttributes"]["rule"]["Value"], "stalled");
    assert_eq!(
        crit[0]["MessageAttributes"]["severity"]["Value"],
        "critical"
    );

    // --- GET /shipments/{carrier}/{number} through the api sees the tracked state.
    let resp = ok(
        api.invoke(
            http_event("GET", "/shipments/YD/4388000000004", &json!(null)),
            WAIT,
        ),
        "GET shipment",
    );
    assert_eq!(resp["statusCode"], 200, "{resp}");
    let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], "DeliveryFailed");
    assert!(!body["alerts"].as_array().unwrap().is_empty());

    // --- TTL removes a parcel's item: the table's stream hands the scheduler the
    // removal (old image), and the parcel leaves the fleet's counters, once.
    use aws_sdk_dynamodb::types::AttributeValue::S;
    use shared::ports::ShipmentQuery;
    let (from, to) = shared::tally::days_read(Utc::now());
    let before = store.tally(from, to).await.unwrap().get("parcels");
    assert_eq!(before, 8);
    let pk = sentinel_aws::dynamo::shipment_pk(&ShipmentId::parse("YD", "4388000000004").unwrap());
    let old = dynamo
        .get_item()
        .table_name(&table)
        .key("pk", S(pk.clone()))
        .key("sk", S("SHIP".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let tally = old["tally"].as_s().unwrap().clone();
    dynamo
        .delete_item()
        .table_name(&table)
        .key("pk", S(pk.clone()))
        .key("sk", S("SHIP".into()))
        .send()
        .await
        .unwrap();
    let removal = json!({"Records": [{
        "eventID": unique("record"), "eventName": "REMOVE", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": Utc::now().timestamp(),
            "Keys": {"pk": {"S": pk}, "sk": {"S": "SHIP"}},
            "OldImage": {"pk": {"S": pk}, "sk": {"S": "SHIP"}, "tally": {"S": tally}},
            "SequenceNumber": "100000000000000000001", "SizeBytes": 400,
            "StreamViewType": "OLD_IMAGE"
        },
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        "eventSourceARN": format!("arn:aws:dynamodb:us-east-1:000000000000:table/{table}/stream/2026-12-01T00:00:00.000")
    }]});
    for attempt in ["removal", "removal delivered again"] {
        let answer = ok(scheduler.invoke(removal.clone(), WAIT), attempt);
        assert_eq!(answer, json!({"batchItemFailures": []}), "{attempt}");
        assert_eq!(
            store.tally(from, to).await.unwrap().get("parcels"),
            7,
            "{attempt}"
        );
    }
}

#[test]
fn bad_configuration_stops_the_binary_at_init() {
    for (bin, env, var, token) in [
        (
            "sentinel-tracker",
            vec![
                ("TABLE_NAME", "t"),
                ("TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:x"),
                ("STALLED_HOURS", "abc"),
            ],
            "STALLED_HOURS",
            "abc",
        ),
        (
            "sentinel-tracker",
            vec![("TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:x")],
            "TABLE_NAME",
            "",
        ),
        (
            "sentinel-scheduler",
            vec![("TABLE_NAME", "t")],
            "EVENT_BUS_NAME",
            "",
        ),
        (
            "sentinel-api",
            vec![
                ("TABLE_NAME", "t"),
                ("TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:x"),
                ("KDNIAO_QPS", "fast"),
            ],
            "KDNIAO_QPS",
            "fast",
        ),
    ] {
        let rt = RuntimeApi::start();
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.push(("TABLE_NAME_UNUSED".into(), String::new()));
        if var == "TABLE_NAME" {
            env.push(("TABLE_NAME".into(), String::new()));
        }
        env.extend([
            ("KDNIAO_EBUSINESS_ID".to_string(), "1".to_string()),
            ("KDNIAO_API_KEY".to_string(), "k".to_string()),
        ]);
        let mut b = Bootstrap::spawn(&binary(bin), &rt, &env);
        let status = b
            .wait_for_exit(Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{bin} kept running with {var} bad"));
        assert!(!status.success(), "{bin}: exit status {status}");
        assert_eq!(
            rt.next_requests(),
            0,
            "{bin} asked for an event before failing"
        );
        let err = b.stderr();
        let line = err
            .lines()
            .find(|l| l.contains(var))
            .unwrap_or_else(|| panic!("{bin}: stderr does not name {var}: {err}"));
        assert!(line.contains(token), "{bin}: {line}");
    }
}

/// An SNS publish that fails (here: the topic is gone; in production a throttle
/// or an outage) loses nothing: the tracker's claim stays in the outbox, handed
/// back at once, and the next outbox pass, through a working topic, publishes it
/// exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sns_publish_stays_in_the_outbox_and_is_sent_once_later() {
    use sentinel_aws::sns::{AlertTopic, MessageSettings};
    use shared::config::Settings;
    use shared::domain::{AlertKind, AlertRecord, Rule, Severity, Shipment};
    use shared::outbox::{deliver, deliver_pending, notification};
    use shared::ports::{Lease, ShipmentWriter};
    use shared::store::memory::MemoryStore;

    let sdk = emulator().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let topic = sns
        .create_topic()
        .name(unique("outbox"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let q = queue(&sqs, "outbox").await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&q.arn)
        .send()
        .await
        .unwrap();
    let gone = format!("{topic}-gone");

    let now = Utc::now();
    let store = MemoryStore::new();
    let parcel = ShipmentId::parse("ZTO", "75412345678901").unwrap();
    store
        .put_shipment(&Shipment::new(
            parcel.clone(),
            now - chrono::Duration::days(3),
        ))
        .await
        .unwrap();
    let record = AlertRecord {
        shipment: parcel.clone(),
        rule: Rule::Stalled,
        since: now - chrono::Duration::days(2),
        kind: AlertKind::Fired,
        seq: 0,
        severity: Severity::Warning,
        at: now,
        hold_until: None,
    };
    let settings = Settings::default();
    let tracker = Lease::new("tracker", now, chrono::Duration::minutes(5));
    let shipment = store.get_shipment(&parcel).await.unwrap().unwrap();
    let committed = store
        .commit_check(&shipment, std::slice::from_ref(&record), &tracker)
        .await
        .unwrap();
    assert_eq!(committed.inserted, vec![true]);
    let n = notification(record.clone(), &shipment, &settings);

    // The tracker publishes to a topic that is not there: refused, handed back.
    let broken = AlertTopic::new(sns.clone(), &gone, MessageSettings::default());
    let d = deliver(&store, &broken, std::slice::from_ref(&n), &tracker, now)
        .await
        .unwrap();
    assert_eq!((d.delivered, d.failed), (0, 1), "{d:?}");
    let e = d.first_error.unwrap_or_default();
    assert!(e.contains("SNS Publish"), "{e}");
    assert_eq!(
        store.pending_alerts(now, 10).await.unwrap(),
        vec![record.clone()],
        "the refused alert is pending and free again at once"
    );

    // The next outbox pass (the scheduler's) publishes it through the topic, once;
    // a pass after that finds nothing to send.
    let working = AlertTopic::new(sns.clone(), &topic, MessageSettings::default());
    for pass in 0..2 {
        let at = now + chrono::Duration::seconds(pass);
        let lease = Lease::new("outbox", at, chrono::Duration::minutes(5));
        let d = deliver_pending(&store, &working, &settings, at, &lease, 10)
            .await
            .unwrap();
        assert_eq!(
            (d.delivered, d.failed),
            (1 - pass as usize, 0),
            "pass {pass}: {d:?}"
        );
    }
    assert!(store
        .pending_alerts(now + chrono::Duration::hours(1), 10)
        .await
        .unwrap()
        .is_empty());
    let got = drain(&sqs, &q).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let message = got[0]["Message"].as_str().unwrap_or_default();
    assert!(message.contains("75412345678901"), "{message}");
}
