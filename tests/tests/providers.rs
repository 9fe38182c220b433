//! The real Kdniao and Kuaidi100 clients against the fake servers of
//! `sentinel-fakes`, which check forms and signatures the way the services do.
//! Signatures are also recomputed here, independently, for fixed inputs.

use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{TimeZone, Utc};
use md5::{Digest, Md5};

use sentinel_carriers::guard::GuardConfig;
use sentinel_carriers::push::{handle_kdniao, handle_kuaidi100};
use sentinel_carriers::{
    detect_carrier, Detection, Kdniao, KdniaoConfig, KdniaoQuery, Kuaidi100, Kuaidi100Config,
    Provider,
};
use sentinel_fakes::{
    kdniao_push_form_at, kdniao_render, kuaidi100_push_form, kuaidi100_push_param, Behaviour,
    Event, FakeKdniao, FakeKuaidi100, KdniaoConfig as FakeKdniaoConfig,
    Kuaidi100Config as FakeKuaidi100Config, Parcel, Scenario, Target,
};
use sentinel_resilience::RetryPolicy;
use shared::config::Settings;
use shared::domain::{CarrierCode, Phone, Shipment, ShipmentId, Status};
use shared::ports::ShipmentReader;
use shared::ports::{CarrierError, CarrierQuery};
use shared::registration::register;
use shared::schedule::TrackingMode;
use shared::secret::Secret;
use shared::store::memory::MemoryStore;
use shared::tracker::{run_due, Tracker};

const EBID: &str = "1000000";
const APP_KEY: &str = "test-appkey-0000";
const CUSTOMER: &str = "CUSTOMER0001";
const K100_KEY: &str = "KEYKEY";

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn yto_parcel() -> Parcel {
    Parcel::new("YTO", "YT0000000000001")
        .event(Event::new("2024-05-01 09:12:00", "【杭州市】快件已揽收").codes("1", "1"))
        .event(
            Event::new("2024-05-01 21:40:00", "快件已到达【杭州转运中心】")
                .codes("2", "0")
                .at("杭州市"),
        )
        .event(
            Event::new(
                "2024-05-02 07:40:00",
                "【杭州市】快件派送中，快递员电话13812345678",
            )
            .codes("202", "5"),
        )
}

fn sf_parcel() -> Parcel {
    Parcel::new("SF", "SF1234567890123")
        .phone_last4("5678")
        .event(Event::new("2024-05-01 10:00:00", "顺丰速运 已收取快件").codes("1", "1"))
}

fn scenario() -> Scenario {
    Scenario::new().with(yto_parcel()).with(sf_parcel())
}

fn guard(qps: f64, attempts: u32) -> GuardConfig {
    GuardConfig {
        qps,
        timeout: Duration::from_millis(1500),
        retry: RetryPolicy {
            attempts,
            base: Duration::from_millis(20),
            cap: Duration::from_millis(100),
        },
        // High, so that error-class tests do not trip it; the breaker test sets
        // its own.
        breaker_threshold: 100,
        breaker_cooldown: Duration::from_secs(30),
    }
}

fn fake_kdniao() -> FakeKdniao {
    FakeKdniao::start(FakeKdniaoConfig {
        ebusiness_id: EBID.into(),
        app_key: APP_KEY.into(),
        scenario: scenario(),
    })
}

fn kdniao_for(fake: &FakeKdniao, key: &str, query: KdniaoQuery, g: GuardConfig) -> Kdniao {
    Kdniao::new(
        KdniaoConfig {
            ebusiness_id: EBID.into(),
            api_key: Secret::new(key),
            api_url: fake.query_url(),
            subscribe_url: fake.subscribe_url(),
            query,
        },
        g,
    )
    .unwrap()
}

fn fake_k100() -> FakeKuaidi100 {
    FakeKuaidi100::start(FakeKuaidi100Config {
        customer: CUSTOMER.into(),
        key: K100_KEY.into(),
        scenario: scenario(),
    })
}

fn k100_for(fake: &FakeKuaidi100, key: &str, g: GuardConfig) -> Kuaidi100 {
    Kuaidi100::new(
        Kuaidi100Config {
            customer: CUSTOMER.into(),
            key: Secret::new(key),
            api_url: fake.query_url(),
            subscribe_url: fake.subscribe_url(),
            callback_url: Some("https://shop.example.com/callbacks/kuaidi100".into()),
            salt: Some(Secret::new("SALT0001")),
        },
        g,
    )
    .unwrap()
}

fn shipment(carrier: &str, number: &str, phone: Option<&str>) -> Shipment {
    let mut s = Shipment::new(
        ShipmentId::parse(carrier, number).unwrap(),
        Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap(),
    );
    s.phone = phone.map(|p| Phone::parse(p).unwrap());
    s
}

// ---------------------------------------------------------------------------- Kdniao

#[tokio::test(flavor = "multi_thread")]
async fn kdniao_signed_query_returns_the_normalised_timeline() {
    let fake = fake_kdniao();
    let k = kdniao_for(&fake, APP_KEY, KdniaoQuery::ValueAdded, guard(50.0, 3));
    let s = shipment("YTO", "YT0000000000001", Some("13900001234"));
    let reply = k.query(&s).await.unwrap();
    assert_eq!(reply.events.len(), 3);
    assert_eq!(reply.status, Some(Status::OutForDelivery));
    assert!(reply.raw_state.as_deref().unwrap().contains("StateEx=202"));

    let log = fake.requests();
    assert_eq!(log.len(), 1);
    let r = &log[0];
    assert_eq!(r.signature_valid, Some(true));
    assert_eq!(r.request_type.as_deref(), Some("8001"));
    assert!(r
        .content_type
        .as_deref()
        .unwrap()
        .starts_with("application/x-www-form-urlencoded"));
    assert_eq!(r.field("DataType"), Some("2"));
    assert_eq!(r.field("EBusinessID"), Some(EBID));
    // The fixed input of carriers.md §1.2, signed as computed here independently.
    let data = r.field("RequestData").unwrap();
    assert_eq!(
        data,
        r#"{"OrderCode":"","ShipperCode":"YTO","LogisticCode":"YT0000000000001","CustomerName":"1234"}"#
    );
    let expected =
        base64::engine::general_purpose::STANDARD.encode(md5_hex(&format!("{data}{APP_KEY}")));
    assert_eq!(r.field("DataSign"), Some(expected.as_str()));
    assert_eq!(expected, "Y2YxMzYyY2MzMTFkZGU0YmY0MWI5Mzk4MDkxMGM0MTg=");
}

#[tokio::test(flavor = "multi_thread")]
async fn kdniao_standard_query_uses_1002() {
    let fake = fake_kdniao();
    let k = kdniao_for(&fake, APP_KEY, KdniaoQuery::Standard, guard(50.0, 3));
    let reply = k
        .query(&shipment("YTO", "YT0000000000001", None))
        .await
        .unwrap();
    assert_eq!(reply.events.len(), 3);
    // 1002 has no per-trace codes: the texts classify the events.
    assert_eq!(reply.status, Some(Status::OutForDelivery));
    assert_eq!(fake.requests()[0].request_type.as_deref(), Some("1002"));
}

#[tokio::test(flavor = "multi_thread")]
async fn kdniao_sf_needs_the_recipient_phone_tail() {
    let fake = fake_kdniao();
    let k = kdniao_for(&fake, APP_KEY, KdniaoQuery::Standard, guard(50.0, 3));
    let ok = k
        .query(&shipment("SF", "SF1234567890123", Some("13800005678")))
        .await
        .unwrap();
    assert_eq!(ok.events.len(), 1);
    assert_eq!(
        fake.requests()[0]
            .field("RequestData")
            .map(|d| d.contains(r#""CustomerName":"5678""#)),
        Some(true)
    );
    // The wrong phone: the provider refuses (a permanent error, not retried).
    let e = k
        .query(&shipment("SF", "SF1234567890123", Some("13800009999")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "other", "{e}");
    assert_eq!(fake.requests().len(), 2);
    // No phone at all: refused locally, no query spent.
    let e = k
        .query(&shipment("SF", "SF1234567890123", None))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("CustomerName"), "{e}");
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn kdniao_error_classes() {
    let fake = fake_kdniao();
    let s = shipment("YTO", "YT0000000000001", None);

    // Wrong key: the fake rejects the signature. Permanent: one request.
    let bad = kdniao_for(&fake, "wrong-key", KdniaoQuery::Standard, guard(100.0, 3));
    assert_eq!(bad.query(&s).await.unwrap_err().kind(), "bad_credentials");
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(fake.requests()[0].signature_valid, Some(false));
    fake.clear_requests();

    let k = kdniao_for(&fake, APP_KEY, KdniaoQuery::Standard, guard(100.0, 3));
    // A carrier the provider does not know.
    let e = k
        .query(&shipment("XYZ", "XY0000000000001", None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "unknown_carrier", "{e}");
    // A number it knows nothing about: an empty answer, not an error.
    let r = k
        .query(&shipment("YTO", "YT9999999999999", None))
        .await
        .unwrap();
    assert!(r.knows_nothing());
    fake.set_behaviour("YT0000000000001", Behaviour::NoTraces);
    assert!(k.query(&s).await.unwrap().knows_nothing());
    fake.clear_behaviours();
    fake.clear_requests();

    // Rate limited: transient, retried up to the attempts, then reported.
    fake.set_behaviour(Target::Any, Behaviour::RateLimited);
    assert_eq!(k.query(&s).await.unwrap_err().kind(), "rate_limited");
    assert_eq!(fake.requests().len(), 3);
    fake.clear_behaviours();
    fake.clear_requests();

    // Two 503s then normal: the retries win.
    fake.push_behaviour(Target::Any, Behaviour::HttpStatus(503));
    fake.push_behaviour(Target::Any, Behaviour::HttpStatus(502));
    assert_eq!(k.query(&s).await.unwrap().events.len(), 3);
    assert_eq!(fake.requests().len(), 3);
    fake.clear_requests();

    // Garbage (a truncated body): malformed, permanent, never a panic.
    fake.push_behaviour(
        Target::Any,
        Behaviour::Garbage(r#"{"EBusinessID":"1000000","Success":tr"#.into()),
    );
    assert_eq!(k.query(&s).await.unwrap_err().kind(), "malformed");
    assert_eq!(fake.requests().len(), 1);
    fake.push_behaviour(
        Target::Any,
        Behaviour::Garbage("<html>502 Bad Gateway</html>".into()),
    );
    assert_eq!(k.query(&s).await.unwrap_err().kind(), "malformed");
    // A business error of the test's choosing.
    fake.push_behaviour(
        Target::Any,
        Behaviour::error("105", "业务错误[没有可用套餐]"),
    );
    assert_eq!(k.query(&s).await.unwrap_err().kind(), "bad_credentials");
    fake.clear_requests();

    // Slower than the timeout: transient; with one attempt, reported.
    let impatient = kdniao_for(
        &fake,
        APP_KEY,
        KdniaoQuery::Standard,
        GuardConfig {
            timeout: Duration::from_millis(200),
            ..guard(100.0, 1)
        },
    );
    fake.push_behaviour(Target::Any, Behaviour::Slow(Duration::from_secs(2)));
    assert_eq!(impatient.query(&s).await.unwrap_err().kind(), "transient");
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_refused_is_transient() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let k = Kdniao::new(
        KdniaoConfig {
            ebusiness_id: EBID.into(),
            api_key: Secret::new(APP_KEY),
            api_url: format!("http://127.0.0.1:{port}/x"),
            subscribe_url: format!("http://127.0.0.1:{port}/x"),
            query: KdniaoQuery::Standard,
        },
        guard(100.0, 2),
    )
    .unwrap();
    let e = k
        .query(&shipment("YTO", "YT0000000000001", None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "transient", "{e}");
    assert!(!e.to_string().contains(APP_KEY));
}

#[tokio::test(flavor = "multi_thread")]
async fn circuit_breaker_stops_burning_requests_on_an_outage() {
    let fake = fake_kdniao();
    let k = kdniao_for(
        &fake,
        APP_KEY,
        KdniaoQuery::Standard,
        GuardConfig {
            breaker_threshold: 5,
            ..guard(1000.0, 1)
        },
    );
    fake.set_behaviour(Target::Any, Behaviour::HttpStatus(503));
    let s = shipment("YTO", "YT0000000000001", None);
    for _ in 0..20 {
        assert_eq!(k.query(&s).await.unwrap_err().kind(), "transient");
    }
    // Five failures open the breaker; the other fifteen never left.
    assert_eq!(fake.requests().len(), 5);
    assert!(k.guard().breaker().is_open());
}

#[tokio::test(flavor = "multi_thread")]
async fn kdniao_subscription_and_recognition() {
    let fake = fake_kdniao();
    let k = kdniao_for(&fake, APP_KEY, KdniaoQuery::Standard, guard(100.0, 3));
    k.subscribe(&shipment("YTO", "YT0000000000001", None))
        .await
        .unwrap();
    let subs = fake.subscriptions();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].request_type.as_deref(), Some("8008"));
    assert_eq!(subs[0].number, "YT0000000000001");
    assert!(fake.requests()[0].path.ends_with("/api/dist"));

    // Detection: the local rules settle letter-prefixed numbers without a query.
    fake.clear_requests();
    let d = detect_carrier("SF1234567890123", Some(&k)).await.unwrap();
    assert_eq!(d, Detection::Unique(CarrierCode::parse("SF").unwrap()));
    assert!(fake.requests().is_empty());
    // An ambiguous shape asks Kdniao (2002).
    fake.set_detection("568123456789", vec![("STO".into(), "申通快递".into())]);
    let d = detect_carrier("568123456789", Some(&k)).await.unwrap();
    assert_eq!(d, Detection::Unique(CarrierCode::parse("STO").unwrap()));
    assert_eq!(fake.requests()[0].request_type.as_deref(), Some("2002"));
    // Several candidates from Kdniao stay ambiguous.
    fake.set_detection(
        "9812345678901",
        vec![
            ("EMS".into(), "EMS".into()),
            ("YZPY".into(), "邮政快递包裹".into()),
        ],
    );
    assert!(
        matches!(detect_carrier("9812345678901", Some(&k)).await.unwrap(), Detection::Ambiguous(c) if c.len() == 2)
    );
    // Without credentials the local ambiguity is reported as is.
    assert!(matches!(
        detect_carrier("568123456789", None).await.unwrap(),
        Detection::Ambiguous(_)
    ));
    // Kdniao recognising nothing leaves the local answer.
    assert!(matches!(
        detect_carrier("568000000001", Some(&k)).await.unwrap(),
        Detection::Ambiguous(_)
    ));
}

// ------------------------------------------------------------------------- Kuaidi100

#[tokio::test(flavor = "multi_thread")]
async fn kuaidi100_signed_query_returns_the_normalised_timeline() {
    let fake = fake_k100();
    let k = k100_for(&fake, K100_KEY, guard(50.0, 3));
    let reply = k
        .query(&shipment("YTO", "YT0000000000001", Some("13900001234")))
        .await
        .unwrap();
    assert_eq!(reply.events.len(), 3);
    assert_eq!(reply.status, Some(Status::OutForDelivery));
    let r = &fake.requests()[0];
    assert_eq!(r.signature_valid, Some(true));
    let param = r.field("param").unwrap();
    assert_eq!(
        param,
        r#"{"com":"yuantong","num":"YT0000000000001","phone":"1234","resultv2":"4"}"#
    );
    let expected = md5_hex(&format!("{param}{K100_KEY}{CUSTOMER}")).to_uppercase();
    assert_eq!(r.field("sign"), Some(expected.as_str()));
    assert_eq!(expected, "9DB5F345BEB705D5B8103CD9028F0C44");
    assert_eq!(r.field("customer"), Some(CUSTOMER));
}

#[tokio::test(flavor = "multi_thread")]
async fn kuaidi100_error_classes() {
    let fake = fake_k100();
    let s = shipment("YTO", "YT0000000000001", None);
    let bad = k100_for(&fake, "WRONG", guard(100.0, 3));
    assert_eq!(bad.query(&s).await.unwrap_err().kind(), "bad_credentials");
    assert_eq!(fake.requests().len(), 1);

    let k = k100_for(&fake, K100_KEY, guard(100.0, 3));
    // SF without the right phone: 408, permanent.
    let e = k
        .query(&shipment("SF", "SF1234567890123", Some("13800009999")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "other", "{e}");
    assert_eq!(
        k.query(&shipment("SF", "SF1234567890123", Some("13800005678")))
            .await
            .unwrap()
            .events
            .len(),
        1
    );
    // Not found: empty.
    assert!(k
        .query(&shipment("YTO", "YT9999999999999", None))
        .await
        .unwrap()
        .knows_nothing());
    // Our carrier table has no Kuaidi100 code: refused locally.
    assert_eq!(
        k.query(&shipment("XYZ", "XY0000000000001", None))
            .await
            .unwrap_err()
            .kind(),
        "unknown_carrier"
    );
    fake.clear_requests();

    for (code, message, kind, requests) in [
        ("601", "key已过期", "bad_credentials", 1),
        ("503", "验证签名失败", "bad_credentials", 1),
        ("400", "找不到对应公司", "unknown_carrier", 1),
        ("502", "服务器繁忙", "transient", 3),
        ("501", "服务器错误", "transient", 3),
    ] {
        fake.set_behaviour(Target::Any, Behaviour::error(code, message));
        let e = k.query(&s).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{code}: {e}");
        assert_eq!(fake.requests().len(), requests, "{code}");
        fake.clear_behaviours();
        fake.clear_requests();
    }
    fake.set_behaviour(Target::Any, Behaviour::RateLimited);
    assert_eq!(k.query(&s).await.unwrap_err().kind(), "rate_limited");
    assert_eq!(fake.requests().len(), 3);
    fake.clear_behaviours();
    fake.push_behaviour(
        Target::Any,
        Behaviour::Garbage("{\"message\":\"ok\",\"data\":[{\"time\"".into()),
    );
    assert_eq!(k.query(&s).await.unwrap_err().kind(), "malformed");
}

#[tokio::test(flavor = "multi_thread")]
async fn kuaidi100_subscription_carries_callback_and_salt() {
    let fake = fake_k100();
    let k = k100_for(&fake, K100_KEY, guard(100.0, 3));
    k.subscribe(&shipment("ZTO", "73100012345678", Some("13800001111")))
        .await
        .unwrap();
    let subs = fake.subscriptions();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].carrier, "zhongtong");
    assert_eq!(
        subs[0].callback_url.as_deref(),
        Some("https://shop.example.com/callbacks/kuaidi100")
    );
    assert_eq!(subs[0].salt.as_deref(), Some("SALT0001"));
    assert_eq!(subs[0].phone.as_deref(), Some("1111"));
    // A wrong key is refused.
    let bad = k100_for(&fake, "WRONG", guard(100.0, 3));
    assert_eq!(
        bad.subscribe(&shipment("ZTO", "73100012345678", None))
            .await
            .unwrap_err()
            .kind(),
        "bad_credentials"
    );
}

// ----------------------------------------------------------------- rate limit, tracker

#[tokio::test(flavor = "multi_thread")]
async fn rate_limiter_holds_the_configured_qps_under_concurrency() {
    let fake = fake_kdniao();
    fake.set_latency(Duration::from_millis(50));
    let qps = 8;
    let k = kdniao_for(&fake, APP_KEY, KdniaoQuery::Standard, guard(qps as f64, 1));
    let s = shipment("YTO", "YT0000000000001", None);
    let calls = (0..24).map(|_| k.query(&s));
    let results = futures_util::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok));
    let mut at: Vec<Instant> = fake.requests().iter().map(|r| r.at).collect();
    at.sort();
    assert_eq!(at.len(), 24);
    // Requests leave 1/qps apart, so any qps+1 consecutive arrivals span at least
    // a second (less a little network jitter).
    for w in at.windows(qps + 1) {
        let span = w[qps] - w[0];
        assert!(
            span >= Duration::from_millis(970),
            "{} requests within {span:?}",
            qps + 1
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tracker_polls_registered_parcels_through_the_real_client() {
    let fake = fake_kdniao();
    let provider = Provider::Kdniao(kdniao_for(
        &fake,
        APP_KEY,
        KdniaoQuery::ValueAdded,
        guard(100.0, 3),
    ));
    let store = MemoryStore::new();
    let settings = Settings::default();
    let now = Utc.with_ymd_and_hms(2024, 5, 3, 4, 0, 0).unwrap();
    let mut s = shipment("YTO", "YT0000000000001", None);
    s.next_check_at = Some(s.registered_at);
    register(&store, &s).await.unwrap();
    let mut sf = shipment("SF", "SF1234567890123", Some("13800005678"));
    sf.next_check_at = Some(sf.registered_at);
    register(&store, &sf).await.unwrap();
    let tracker = Tracker::new(&store, &provider, &settings).with(TrackingMode::Poll, 4);
    let mut alerts = Vec::new();
    let stats = run_due(&tracker, now, 100, |n| alerts.extend(n))
        .await
        .unwrap();
    assert_eq!(stats.checked, 2);
    assert_eq!(stats.queries, 2);
    assert_eq!(stats.query_errors, 0);
    let got = store.get_shipment(&s.id).await.unwrap().unwrap();
    assert_eq!(got.timeline.len(), 3);
    assert_eq!(got.status, Status::OutForDelivery);
    // Out for delivery since 2024-05-02 07:40 local: more than 12 hours at
    // 2024-05-03 12:00 local.
    assert!(alerts
        .iter()
        .any(|n| n.record.shipment == s.id && n.record.rule.as_str() == "out_for_delivery_stuck"));
}

// ------------------------------------------------------------------------------ push

/// When the pushes below were sent (China time): the test's `now`, so they are fresh.
const PUSHED_AT: &str = "2024-05-02 08:00:00";

#[tokio::test(flavor = "multi_thread")]
async fn kdniao_push_with_good_and_bad_signatures() {
    let store = MemoryStore::new();
    let settings = Settings::default();
    let provider = sentinel_free_carrier();
    let tracker = Tracker::new(&store, &provider, &settings).with(TrackingMode::Push, 1);
    let s = shipment("YTO", "YT0000000000001", None);
    register(&store, &s).await.unwrap();
    let before = store.get_shipment(&s.id).await.unwrap().unwrap();
    let now = Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap();
    let data = [kdniao_render(&yto_parcel(), "102")];

    // Wrong key: refused, nothing changes.
    let body = kdniao_push_form_at(EBID, "not-the-key", "102", &data, PUSHED_AT);
    let (ack, outcome) = handle_kdniao(&tracker, &body, EBID, &Secret::new(APP_KEY), now).await;
    assert_eq!(ack.status, 401);
    assert!(outcome.is_err());
    let v: serde_json::Value = serde_json::from_str(&ack.body).unwrap();
    assert_eq!(v["Success"], false);
    assert_eq!(store.get_shipment(&s.id).await.unwrap().unwrap(), before);
    // Missing signature: refused too.
    let unsigned: String = form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "RequestData",
            &sentinel_fakes::kdniao_push_request_data_at(EBID, &data, PUSHED_AT),
        )
        .append_pair("RequestType", "102")
        .finish();
    let (ack, _) = handle_kdniao(&tracker, &unsigned, EBID, &Secret::new(APP_KEY), now).await;
    assert_eq!(ack.status, 400);
    assert_eq!(store.get_shipment(&s.id).await.unwrap().unwrap(), before);

    // Good signature: merged and acknowledged as Kdniao expects.
    let body = kdniao_push_form_at(EBID, APP_KEY, "102", &data, PUSHED_AT);
    let (ack, outcome) = handle_kdniao(&tracker, &body, EBID, &Secret::new(APP_KEY), now).await;
    assert_eq!(ack.status, 200);
    let v: serde_json::Value = serde_json::from_str(&ack.body).unwrap();
    assert_eq!(v["Success"], true);
    assert_eq!(v["EBusinessID"], EBID);
    assert_eq!(v["UpdateTime"], "2024-05-02 08:00:00");
    assert_eq!(outcome.unwrap().outcomes.len(), 1);
    let after = store.get_shipment(&s.id).await.unwrap().unwrap();
    assert_eq!(after.timeline.len(), 3);
    assert_eq!(after.status, Status::OutForDelivery);
    // Push mode: the next check is the next rule deadline, not a poll.
    assert!(after.next_check_at.is_some());
    // The same push again changes nothing more.
    let (ack, _) = handle_kdniao(&tracker, &body, EBID, &Secret::new(APP_KEY), now).await;
    assert_eq!(ack.status, 200);
    assert_eq!(
        store.get_shipment(&s.id).await.unwrap().unwrap().timeline,
        after.timeline
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kuaidi100_push_with_good_and_bad_signatures() {
    let store = MemoryStore::new();
    let settings = Settings::default();
    let provider = sentinel_free_carrier();
    let tracker = Tracker::new(&store, &provider, &settings).with(TrackingMode::Push, 1);
    let s = shipment("YTO", "YT0000000000001", None);
    register(&store, &s).await.unwrap();
    let before = store.get_shipment(&s.id).await.unwrap().unwrap();
    let now = Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap();
    let param = kuaidi100_push_param("polling", "", &yto_parcel());
    let salt = Secret::new("SALT0001");

    for body in [
        kuaidi100_push_form(&param, Some("OTHER")),
        kuaidi100_push_form(&param, None),
    ] {
        let (ack, outcome) = handle_kuaidi100(&tracker, &body, Some(&salt), now).await;
        assert!(ack.status == 401 || ack.status == 400, "{ack:?}");
        assert!(outcome.is_err());
        let v: serde_json::Value = serde_json::from_str(&ack.body).unwrap();
        assert_eq!(v["result"], false);
        assert_eq!(store.get_shipment(&s.id).await.unwrap().unwrap(), before);
    }
    let body = kuaidi100_push_form(&param, Some("SALT0001"));
    // The signature, recomputed here: UPPER(md5(param + salt)).
    let fields: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let p = &fields.iter().find(|(k, _)| k == "param").unwrap().1;
    let sign = &fields.iter().find(|(k, _)| k == "sign").unwrap().1;
    assert_eq!(*sign, md5_hex(&format!("{p}SALT0001")).to_uppercase());
    let (ack, outcome) = handle_kuaidi100(&tracker, &body, Some(&salt), now).await;
    assert_eq!(ack.status, 200);
    let v: serde_json::Value = serde_json::from_str(&ack.body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"result": true, "returnCode": "200", "message": "成功"})
    );
    assert_eq!(outcome.unwrap().outcomes.len(), 1);
    assert_eq!(
        store
            .get_shipment(&s.id)
            .await
            .unwrap()
            .unwrap()
            .timeline
            .len(),
        3
    );
    // Without a configured salt nothing is accepted.
    let (ack, _) = handle_kuaidi100(&tracker, &body, None, now).await;
    assert_eq!(ack.status, 503);
}

/// Push mode never queries; a carrier that fails the test if it is asked.
fn sentinel_free_carrier() -> NeverQueried {
    NeverQueried
}

struct NeverQueried;

impl CarrierQuery for NeverQueried {
    fn name(&self) -> &str {
        "never"
    }

    async fn query(&self, _: &Shipment) -> Result<shared::ports::CarrierReply, CarrierError> {
        panic!("push mode must not query the carrier")
    }
}
