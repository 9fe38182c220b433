//! The Kdniao fake against hand-built requests (carriers.md §1).

mod common;

use std::time::{Duration, Instant};

use common::{decode, field, form, kd_sign, post, post_form, request, with_timeout};
use sentinel_fakes::kdniao::{
    REASON_BAD_JSON, REASON_CONTENT_TYPE, REASON_DATA_TYPE, REASON_ILLEGAL, REASON_NOT_DETECTED,
    REASON_NO_TRACE, REASON_RATE_LIMITED, REASON_SF_PHONE, REASON_UNKNOWN_SHIPPER,
    REASON_ZTO_PHONE, SANDBOX_PATH,
};
use sentinel_fakes::{
    kdniao_push_form, kdniao_render, Behaviour, Event, FakeKdniao, KdniaoConfig, Parcel, Scenario,
    Target,
};
use serde_json::Value;

const ID: &str = "1000000";
const KEY: &str = "test-appkey-0000";
const YTO: &str = "YT0000000000001";

fn scenario() -> Scenario {
    Scenario::new()
        .with(
            Parcel::new("YTO", YTO)
                .event(
                    Event::new("2024-05-01 09:12:00", "【杭州市】快件已揽收")
                        .at("杭州市")
                        .codes("1", "1"),
                )
                .event(
                    Event::new("2024-05-02 07:40:00", "【杭州市】快件派送中")
                        .at("杭州市")
                        .codes("202", "5"),
                ),
        )
        .with(
            Parcel::new("SF", "SF1000000000001")
                .phone_last4("1234")
                .event(Event::new("2024-05-01 10:00:00", "顺丰速运 已收取快件").kdniao("1")),
        )
        .with(
            Parcel::new("ZTO", "ZT1000000000001")
                .phone_last4("5678")
                .event(Event::new("2024-05-01 10:00:00", "已揽收").kdniao("1")),
        )
        .with(Parcel::new("JD", "JD0000000000001"))
}

fn fake() -> FakeKdniao {
    FakeKdniao::start(KdniaoConfig {
        ebusiness_id: ID.into(),
        app_key: KEY.into(),
        scenario: scenario(),
    })
}

fn body(request_type: &str, data: &str) -> String {
    form(&[
        ("RequestData", data),
        ("EBusinessID", ID),
        ("RequestType", request_type),
        ("DataSign", &kd_sign(data, KEY)),
        ("DataType", "2"),
    ])
}

fn data(shipper: &str, number: &str, customer: &str) -> String {
    serde_json::json!({"OrderCode": "", "ShipperCode": shipper, "LogisticCode": number, "CustomerName": customer})
        .to_string()
}

async fn query(fake: &FakeKdniao, request_type: &str, data: &str) -> Value {
    let r = post_form(&fake.query_url(), &body(request_type, data)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn assert_fail(v: &Value, reason: &str) {
    assert_eq!(v["Success"], false, "{v}");
    assert_eq!(v["Reason"], reason, "{v}");
}

/// The exact request of carriers.md §1.11 (the §1.2 test vector on the wire).
const DOC_REQUEST: &str = "RequestData=%7B%22OrderCode%22%3A%22%22%2C%22ShipperCode%22%3A%22YTO%22%2C%22LogisticCode%22%3A%22YT0000000000001%22%2C%22CustomerName%22%3A%221234%22%7D&EBusinessID=1000000&RequestType=8001&DataSign=Y2YxMzYyY2MzMTFkZGU0YmY0MWI5Mzk4MDkxMGM0MTg%3D&DataType=2";

#[tokio::test(flavor = "multi_thread")]
async fn doc_example_8001_gets_the_timeline() {
    let fake = fake();
    let r = post_form(&fake.query_url(), DOC_REQUEST).await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap_or("")
        .starts_with("application/json"));
    let v = r.json();
    assert_eq!(v["EBusinessID"], ID);
    assert_eq!(v["OrderCode"], "");
    assert_eq!(v["ShipperCode"], "YTO");
    assert_eq!(v["LogisticCode"], YTO);
    assert_eq!(v["Success"], true);
    assert_eq!(v["Reason"], Value::Null);
    assert_eq!(v["State"], "2");
    assert_eq!(v["StateEx"], "202");
    assert_eq!(v["Location"], "杭州市");
    let traces = v["Traces"].as_array().expect("Traces");
    assert_eq!(traces.len(), 2);
    assert_eq!(traces[0]["AcceptTime"], "2024-05-01 09:12:00");
    assert_eq!(traces[0]["AcceptStation"], "【杭州市】快件已揽收");
    assert_eq!(traces[0]["Location"], "杭州市");
    assert_eq!(traces[0]["Action"], "1");
    assert_eq!(traces[1]["Action"], "202");

    let log = fake.requests();
    assert_eq!(log.len(), 1);
    let l = &log[0];
    assert_eq!(l.path, "/Ebusiness/EbusinessOrderHandle.aspx");
    assert_eq!(l.method, "POST");
    assert_eq!(l.request_type.as_deref(), Some("8001"));
    assert_eq!(l.number.as_deref(), Some(YTO));
    assert_eq!(l.signature_valid, Some(true));
    assert_eq!(l.status, 200);
    assert_eq!(
        l.field("DataSign"),
        Some("Y2YxMzYyY2MzMTFkZGU0YmY0MWI5Mzk4MDkxMGM0MTg=")
    );
    assert_eq!(
        l.content_type.as_deref(),
        Some("application/x-www-form-urlencoded;charset=utf-8")
    );
    assert_eq!(l.reply, r.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn standard_1002_reply_shape() {
    let fake = fake();
    let d = serde_json::json!({"OrderCode": "O-1", "ShipperCode": "YTO", "LogisticCode": YTO, "Callback": "cb"}).to_string();
    let v = query(&fake, "1002", &d).await;
    assert_eq!(v["Success"], true);
    assert_eq!(v["OrderCode"], "O-1");
    assert_eq!(v["Callback"], "cb");
    assert_eq!(v["State"], "2");
    assert!(v.get("StateEx").is_none());
    let t = &v["Traces"][1];
    assert_eq!(t["AcceptTime"], "2024-05-02 07:40:00");
    assert!(t.get("Remark").is_some());
    assert!(t.get("Action").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn single_quoted_request_data_is_accepted() {
    let fake = fake();
    let d = format!("{{'OrderCode':'','ShipperCode':'YTO','LogisticCode':'{YTO}'}}");
    let v = query(&fake, "1002", &d).await;
    assert_eq!(v["Success"], true);
    assert_eq!(v["Traces"].as_array().map(Vec::len), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_signatures_and_credentials_are_illegal() {
    let fake = fake();
    let d = data("YTO", YTO, "");
    let sign = kd_sign(&d, KEY);
    let mut tampered = sign.clone();
    tampered.replace_range(0..1, if sign.starts_with('A') { "B" } else { "A" });
    let cases = [
        // tampered sign
        form(&[
            ("RequestData", &d),
            ("EBusinessID", ID),
            ("RequestType", "1002"),
            ("DataSign", &tampered),
            ("DataType", "2"),
        ]),
        // signed with another key
        form(&[
            ("RequestData", &d),
            ("EBusinessID", ID),
            ("RequestType", "1002"),
            ("DataSign", &kd_sign(&d, "other-key")),
            ("DataType", "2"),
        ]),
        // unknown EBusinessID, correct key
        form(&[
            ("RequestData", &d),
            ("EBusinessID", "999"),
            ("RequestType", "1002"),
            ("DataSign", &sign),
            ("DataType", "2"),
        ]),
        // signed over a different RequestData (data changed after signing)
        form(&[
            ("RequestData", &d.replace(YTO, "YT9")),
            ("EBusinessID", ID),
            ("RequestType", "1002"),
            ("DataSign", &sign),
            ("DataType", "2"),
        ]),
        // hex digest without Base64
        form(&[
            ("RequestData", &d),
            ("EBusinessID", ID),
            ("RequestType", "1002"),
            ("DataSign", &common::md5_hex(&format!("{d}{KEY}"))),
            ("DataType", "2"),
        ]),
        // uppercase hex
        form(&[
            ("RequestData", &d),
            ("EBusinessID", ID),
            ("RequestType", "1002"),
            ("DataSign", &{
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .encode(common::md5_hex(&format!("{d}{KEY}")).to_uppercase())
            }),
            ("DataType", "2"),
        ]),
    ];
    for c in &cases {
        let v = post_form(&fake.query_url(), c).await.json();
        assert_fail(&v, REASON_ILLEGAL);
        assert_eq!(v["Code"], "102");
        assert_eq!(v["State"], "0");
        assert_eq!(v["Traces"], serde_json::json!([]));
    }
    // Sent twice encoded: the server decodes once and signs something else.
    let twice = format!(
        "RequestData={}&EBusinessID={ID}&RequestType=1002&DataSign={}&DataType=2",
        form(&[("x", &form(&[("y", &d)]))]).trim_start_matches("x="),
        form(&[("x", &sign)]).trim_start_matches("x=")
    );
    let v = post_form(&fake.query_url(), &twice).await.json();
    assert_fail(&v, REASON_ILLEGAL);
    let log = fake.requests();
    assert!(log.iter().all(|l| l.status == 200));
    assert_eq!(log[0].signature_valid, Some(false));
    assert_eq!(log[2].signature_valid, Some(true), "only the ID was wrong");
}

#[tokio::test(flavor = "multi_thread")]
async fn envelope_checks() {
    let fake = fake();
    let d = data("YTO", YTO, "");
    let sign = kd_sign(&d, KEY);
    let all = [
        ("RequestData", d.as_str()),
        ("EBusinessID", ID),
        ("RequestType", "1002"),
        ("DataSign", sign.as_str()),
        ("DataType", "2"),
    ];
    for missing in [
        "RequestData",
        "EBusinessID",
        "RequestType",
        "DataSign",
        "DataType",
    ] {
        let pairs: Vec<(&str, &str)> = all.iter().copied().filter(|(k, _)| *k != missing).collect();
        let v = post_form(&fake.query_url(), &form(&pairs)).await.json();
        assert_fail(&v, &format!("缺少必要参数[{missing}]"));
        assert_eq!(v["Code"], "101");
    }
    let mut pairs = all.to_vec();
    pairs[4] = ("DataType", "1");
    let v = post_form(&fake.query_url(), &form(&pairs)).await.json();
    assert_fail(&v, REASON_DATA_TYPE);

    for ct in [Some("application/json"), Some("text/plain"), None] {
        let r = post(&fake.query_url(), ct, &form(&all))
            .await
            .expect("http");
        assert_eq!(r.status, 200);
        assert_fail(&r.json(), REASON_CONTENT_TYPE);
    }
    let r = post(
        &fake.query_url(),
        Some("Application/X-WWW-Form-Urlencoded"),
        &form(&all),
    )
    .await
    .expect("http");
    assert_eq!(r.json()["Success"], true);

    let v = query(&fake, "9999", &d).await;
    assert_eq!(v["Success"], false);
    assert_eq!(v["Code"], "105");
}

#[tokio::test(flavor = "multi_thread")]
async fn request_data_checks() {
    let fake = fake();
    let v = query(&fake, "1002", r#"{"LogisticCode":"YT1"}"#).await;
    assert_fail(&v, "缺少必要参数[ShipperCode]");
    let v = query(&fake, "8001", r#"{"ShipperCode":"YTO","LogisticCode":""}"#).await;
    assert_fail(&v, "缺少必要参数[LogisticCode]");
    let v = query(&fake, "1002", "not json").await;
    assert_fail(&v, REASON_BAD_JSON);
    assert_eq!(v["Code"], "401");
    let v = query(&fake, "1002", &data("XXX", YTO, "")).await;
    assert_fail(&v, REASON_UNKNOWN_SHIPPER);
    assert_eq!(v["ShipperCode"], "XXX");
    let v = query(&fake, "2002", "{}").await;
    assert_fail(&v, "缺少必要参数[LogisticCode]");
    assert_eq!(v["Shippers"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn sf_requires_customer_name() {
    let fake = fake();
    for customer in ["", "9999", "13800001234"] {
        for rt in ["1002", "8001"] {
            let v = query(&fake, rt, &data("SF", "SF1000000000001", customer)).await;
            assert_fail(&v, REASON_SF_PHONE);
        }
    }
    // SF always needs it, even for a number the fake does not know.
    let v = query(&fake, "1002", &data("SF", "SF404", "")).await;
    assert_fail(&v, REASON_SF_PHONE);
    let v = query(&fake, "1002", &data("SF", "SF404", "0000")).await;
    assert_eq!(v["Success"], true);
    assert_eq!(v["State"], "0");

    let v = query(&fake, "1002", &data("SF", "SF1000000000001", "1234")).await;
    assert_eq!(v["Success"], true);
    assert_eq!(v["State"], "1");
    // Lower-case ShipperCode is the same carrier.
    let v = query(&fake, "1002", &data("sf", "SF1000000000001", "")).await;
    assert_fail(&v, REASON_SF_PHONE);
}

#[tokio::test(flavor = "multi_thread")]
async fn zto_privacy_waybill_on_8001() {
    let fake = fake();
    let v = query(&fake, "8001", &data("ZTO", "ZT1000000000001", "")).await;
    assert_fail(&v, REASON_ZTO_PHONE);
    let v = query(&fake, "8001", &data("ZTO", "ZT1000000000001", "5678")).await;
    assert_eq!(v["Success"], true);
    let v = query(&fake, "1002", &data("ZTO", "ZT1000000000001", "")).await;
    assert_eq!(v["Success"], true);
    assert_eq!(v["State"], "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_trace_answers() {
    let fake = fake();
    let check = |v: &Value| {
        assert_eq!(v["Success"], true, "{v}");
        assert_eq!(v["State"], "0");
        assert_eq!(v["Reason"], REASON_NO_TRACE);
        assert_eq!(v["Traces"], serde_json::json!([]));
    };
    check(&query(&fake, "1002", &data("YTO", "YT404", "")).await);
    check(&query(&fake, "1002", &data("JD", "JD0000000000001", "")).await);
    // Known number, wrong carrier.
    check(&query(&fake, "1002", &data("ZTO", YTO, "")).await);
    fake.push_behaviour(YTO, Behaviour::NoTraces);
    let v = query(&fake, "8001", &data("YTO", YTO, "")).await;
    check(&v);
    assert_eq!(v["StateEx"], "0");
    assert_eq!(
        query(&fake, "8001", &data("YTO", YTO, "")).await["State"],
        "2"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn qps_limit_over_a_sliding_second() {
    let fake = fake();
    fake.set_qps_limit(Some(3));
    let url = fake.query_url();
    let b = body("1002", &data("YTO", YTO, ""));
    let replies = futures_join(5, &url, &b).await;
    let ok = replies.iter().filter(|v| v["Success"] == true).count();
    let limited: Vec<&Value> = replies.iter().filter(|v| v["Success"] == false).collect();
    assert_eq!(ok, 3);
    assert_eq!(limited.len(), 2);
    for v in limited {
        assert_fail(v, REASON_RATE_LIMITED);
        assert_eq!(v["Code"], "405");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(post_form(&url, &b).await.json()["Success"], true);
    fake.set_qps_limit(None);
    let replies = futures_join(6, &url, &b).await;
    assert!(replies.iter().all(|v| v["Success"] == true));
}

async fn futures_join(n: usize, url: &str, body: &str) -> Vec<Value> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (url, body) = (url.to_string(), body.to_string());
            tokio::spawn(async move { post_form(&url, &body).await.json() })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn one_shot_behaviours_are_consumed_in_order() {
    let fake = fake();
    let b = body("1002", &data("YTO", YTO, ""));
    fake.push_behaviour(Target::Any, Behaviour::HttpStatus(503));
    fake.push_behaviour(Target::Any, Behaviour::HttpStatus(502));
    fake.push_behaviour(
        Target::Any,
        Behaviour::error("105", "业务错误[没有可用套餐]"),
    );
    fake.push_behaviour(Target::Any, Behaviour::RateLimited);
    let r1 = post_form(&fake.query_url(), &b).await;
    let r2 = post_form(&fake.query_url(), &b).await;
    let r3 = post_form(&fake.query_url(), &b).await;
    let r4 = post_form(&fake.query_url(), &b).await;
    let r5 = post_form(&fake.query_url(), &b).await;
    assert_eq!((r1.status, r2.status), (503, 502));
    assert!(r1.body.contains("503 Service Unavailable"));
    assert!(r1
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    assert_fail(&r3.json(), "业务错误[没有可用套餐]");
    assert_eq!(r3.json()["Code"], "105");
    assert_fail(&r4.json(), REASON_RATE_LIMITED);
    assert_eq!(r5.json()["Success"], true);
    let statuses: Vec<u16> = fake.requests().iter().map(|l| l.status).collect();
    assert_eq!(statuses, [503, 502, 200, 200, 200]);

    // Number-targeted entries wait for their number; order is kept.
    fake.push_behaviour("SF1000000000001", Behaviour::HttpStatus(500));
    fake.push_behaviour(YTO, Behaviour::HttpStatus(504));
    assert_eq!(post_form(&fake.query_url(), &b).await.status, 504);
    assert_eq!(post_form(&fake.query_url(), &b).await.status, 200);
    let sf = body("1002", &data("SF", "SF1000000000001", "1234"));
    assert_eq!(post_form(&fake.query_url(), &sf).await.status, 500);

    // A request failing verification does not consume a behaviour.
    fake.push_behaviour(Target::Any, Behaviour::HttpStatus(503));
    let bad = body("1002", &data("SF", "SF1000000000001", ""));
    assert_fail(
        &post_form(&fake.query_url(), &bad).await.json(),
        REASON_SF_PHONE,
    );
    assert_eq!(post_form(&fake.query_url(), &b).await.status, 503);
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_behaviours() {
    let fake = fake();
    let b = body("1002", &data("YTO", YTO, ""));
    fake.set_behaviour(Target::Any, Behaviour::HttpStatus(500));
    fake.set_behaviour(YTO, Behaviour::Garbage("{\"Success\":tr".into()));
    for _ in 0..2 {
        let r = post_form(&fake.query_url(), &b).await;
        assert_eq!((r.status, r.body.as_str()), (200, "{\"Success\":tr"));
    }
    let other = body("1002", &data("YTO", "YT404", ""));
    assert_eq!(post_form(&fake.query_url(), &other).await.status, 500);
    fake.push_behaviour(YTO, Behaviour::Normal);
    assert_eq!(
        post_form(&fake.query_url(), &b).await.json()["Success"],
        true
    );
    fake.set_behaviour(YTO, Behaviour::Normal);
    assert_eq!(post_form(&fake.query_url(), &b).await.status, 500);
    fake.clear_behaviours();
    assert_eq!(
        post_form(&fake.query_url(), &b).await.json()["Success"],
        true
    );
    // An impossible status becomes 500.
    fake.push_behaviour(Target::Any, Behaviour::HttpStatus(42));
    assert_eq!(post_form(&fake.query_url(), &b).await.status, 500);
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_and_latency() {
    let fake = fake();
    let b = body("1002", &data("YTO", YTO, ""));
    fake.push_behaviour(Target::Any, Behaviour::Slow(Duration::from_millis(400)));
    let t = Instant::now();
    let v = post_form(&fake.query_url(), &b).await.json();
    assert!(t.elapsed() >= Duration::from_millis(400));
    assert_eq!(v["Success"], true);
    fake.set_latency(Duration::from_millis(800));
    let t = Instant::now();
    post_form(&fake.query_url(), &b).await;
    assert!(t.elapsed() >= Duration::from_millis(800));
    fake.set_latency(Duration::ZERO);
    let t = Instant::now();
    post_form(&fake.query_url(), &b).await;
    assert!(t.elapsed() < Duration::from_millis(800));
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_8008_and_1008() {
    let fake = fake();
    let d = serde_json::json!({"ShipperCode": "YTO", "LogisticCode": YTO, "OrderCode": "O-9"})
        .to_string();
    let r = post_form(&fake.subscribe_url(), &body("8008", &d)).await;
    let v = r.json();
    assert_eq!(v["EBusinessID"], ID);
    assert_eq!(v["Success"], true);
    assert_eq!(v["Reason"], "");
    assert_eq!(v["EstimatedDeliveryTime"], "");
    let update = v["UpdateTime"].as_str().expect("UpdateTime");
    assert!(chrono::NaiveDateTime::parse_from_str(update, "%Y-%m-%d %H:%M:%S").is_ok());
    let v = post_form(
        &fake.subscribe_url(),
        &body("1008", &data("SF", "SF1000000000001", "1234")),
    )
    .await
    .json();
    assert_eq!(v["Success"], true);
    let v = post_form(
        &fake.subscribe_url(),
        &body("8008", &data("SF", "SF1000000000001", "")),
    )
    .await
    .json();
    assert_fail(&v, REASON_SF_PHONE);
    assert!(v.get("UpdateTime").is_some());
    let subs = fake.subscriptions();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0].request_type.as_deref(), Some("8008"));
    assert_eq!(subs[0].carrier, "YTO");
    assert_eq!(subs[0].number, YTO);
    assert_eq!(subs[0].request["OrderCode"], "O-9");
    assert_eq!(subs[1].phone.as_deref(), Some("1234"));
    let log = fake.requests();
    assert_eq!(log[0].path, "/api/dist");
    assert_eq!(log[0].request_type.as_deref(), Some("8008"));

    // Every type is served on every path (the sandbox has one URL); the path is logged.
    let url = format!("{}{SANDBOX_PATH}", fake.base_url());
    assert_eq!(
        post_form(&url, &body("1002", &d)).await.json()["Success"],
        true
    );
    assert_eq!(
        fake.requests().last().map(|l| l.path.clone()).as_deref(),
        Some(SANDBOX_PATH)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn detection_2002() {
    let fake = fake();
    fake.set_detection(
        "3967950525457",
        vec![
            ("YD".into(), "韵达快递".into()),
            ("STO".into(), "申通快递".into()),
        ],
    );
    let v = query(&fake, "2002", r#"{"LogisticCode":"3967950525457"}"#).await;
    assert_eq!(v["Success"], true);
    assert_eq!(v["Code"], "100");
    assert_eq!(v["LogisticCode"], "3967950525457");
    assert_eq!(v["Shippers"][0]["ShipperCode"], "YD");
    assert_eq!(v["Shippers"][1]["ShipperName"], "申通快递");
    // Falls back to the scenario's carrier.
    let v = query(&fake, "2002", &format!(r#"{{"LogisticCode":"{YTO}"}}"#)).await;
    assert_eq!(v["Shippers"][0]["ShipperCode"], "YTO");
    let v = query(&fake, "2002", r#"{"LogisticCode":"000"}"#).await;
    assert_fail(&v, REASON_NOT_DETECTED);
    fake.set_detection(YTO, vec![]);
    let v = query(&fake, "2002", &format!(r#"{{"LogisticCode":"{YTO}"}}"#)).await;
    assert_fail(&v, REASON_NOT_DETECTED);
}

#[tokio::test(flavor = "multi_thread")]
async fn timelines_change_at_run_time() {
    let fake = fake();
    let d = data("YTO", YTO, "");
    fake.set_parcel(
        Parcel::new("YTO", YTO)
            .event(Event::new("2024-05-01 09:12:00", "已揽收").kdniao("1"))
            .event(Event::new("2024-05-03 09:12:00", "已签收").kuaidi100("3")),
    );
    let v = query(&fake, "8001", &d).await;
    assert_eq!(v["State"], "3");
    assert_eq!(v["StateEx"], "3");
    assert_eq!(v["Location"], "");
    assert_eq!(v["Traces"][1]["Location"], Value::Null);
    fake.remove_parcel(YTO);
    assert_eq!(query(&fake, "8001", &d).await["State"], "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn push_form_is_signed_like_kdniao() {
    let scenario = scenario();
    let yto = scenario.get(YTO).expect("parcel");
    let sf = scenario.get("SF1000000000001").expect("parcel");
    let body = kdniao_push_form(
        ID,
        KEY,
        "102",
        &[kdniao_render(yto, "102"), kdniao_render(sf, "102")],
    );
    let pairs = decode(&body);
    let data = field(&pairs, "RequestData").expect("RequestData");
    assert_eq!(field(&pairs, "DataSign"), Some(kd_sign(data, KEY).as_str()));
    assert_eq!(field(&pairs, "RequestType"), Some("102"));
    assert_eq!(field(&pairs, "EBusinessID"), Some(ID));
    assert_eq!(field(&pairs, "DataType"), Some("2"));
    let v: Value = serde_json::from_str(data).expect("JSON");
    assert_eq!(v["EBusinessID"], ID);
    assert_eq!(v["Count"], "2");
    assert!(chrono::NaiveDateTime::parse_from_str(
        v["PushTime"].as_str().unwrap_or(""),
        "%Y-%m-%d %H:%M:%S"
    )
    .is_ok());
    assert_eq!(v["Data"][0]["EBusinessID"], ID);
    assert_eq!(v["Data"][0]["LogisticCode"], YTO);
    assert_eq!(v["Data"][0]["StateEx"], "202");
    assert_eq!(v["Data"][0]["Traces"][1]["Action"], "202");
    assert_eq!(v["Data"][1]["ShipperCode"], "SF");
    // The signature is form-encoded exactly once ('=' → %3D).
    let raw_sign = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("DataSign="))
        .expect("DataSign");
    assert!(raw_sign.ends_with("%3D") && !raw_sign.contains('='));

    let standard = kdniao_push_form(ID, KEY, "101", &[kdniao_render(yto, "101")]);
    let pairs = decode(&standard);
    let v: Value = serde_json::from_str(field(&pairs, "RequestData").unwrap_or("")).expect("JSON");
    assert!(v["Data"][0].get("StateEx").is_none());
    assert_eq!(v["Data"][0]["State"], "2");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_method_and_path() {
    let fake = fake();
    let r = request("GET", &fake.query_url(), None, "")
        .await
        .expect("http");
    assert_eq!(r.status, 405);
    let r = post(
        &format!("{}/nope", fake.base_url()),
        Some(common::FORM),
        DOC_REQUEST,
    )
    .await
    .expect("http");
    assert_eq!(r.status, 404);
    let log = fake.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[1].path, "/nope");
    assert!(log[0].at <= log[1].at);
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_fake_cuts_a_parked_request() {
    let fake = fake();
    fake.push_behaviour(Target::Any, Behaviour::Slow(Duration::from_secs(60)));
    let url = fake.query_url();
    let b = body("1002", &data("YTO", YTO, ""));
    let pending = tokio::spawn(async move { post(&url, Some(common::FORM), &b).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.requests().len(), 1, "logged before the delay");
    drop(fake);
    let result = with_timeout(Duration::from_secs(5), pending)
        .await
        .expect("task");
    assert!(result.is_err(), "connection closed without a reply");
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_frees_the_port() {
    let fake = fake();
    let addr = fake.addr();
    fake.shutdown();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
