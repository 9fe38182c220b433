//! The Kuaidi100 fake against hand-built requests (carriers.md §2).

mod common;

use std::time::{Duration, Instant};

use common::{decode, field, form, k100_sign, md5_hex, post, post_form, request};
use sentinel_fakes::kuaidi100::{
    MSG_BAD_PHONE, MSG_BAD_SIGN, MSG_INCOMPLETE, MSG_NOT_SUBSCRIBER, MSG_NO_COMPANY, MSG_NO_RESULT,
    MSG_RATE_LIMITED, MSG_SERVER_ERROR,
};
use sentinel_fakes::{
    kuaidi100_push_form, kuaidi100_push_param, kuaidi100_query_form, kuaidi100_render, Behaviour,
    Event, FakeKuaidi100, Kuaidi100Config, Parcel, Scenario, Target,
};
use serde_json::{json, Value};

const CUSTOMER: &str = "CUSTOMER0001";
const KEY: &str = "KEYKEY";
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
                .event(Event::new("2024-05-01 10:00:00", "顺丰速运 已收取快件").kuaidi100("1")),
        )
        .with(
            Parcel::new("ZTO", "ZT1000000000001")
                .phone_last4("5678")
                .event(Event::new("2024-05-01 10:00:00", "已揽收").kuaidi100("1"))
                .event(Event::new("2024-05-02 10:00:00", "已投柜").kuaidi100("304")),
        )
        .with(Parcel::new("JD", "JD0000000000001"))
}

fn fake() -> FakeKuaidi100 {
    FakeKuaidi100::start(Kuaidi100Config {
        customer: CUSTOMER.into(),
        key: KEY.into(),
        scenario: scenario(),
    })
}

fn body(param: &str) -> String {
    form(&[
        ("customer", CUSTOMER),
        ("sign", &k100_sign(param, KEY, CUSTOMER)),
        ("param", param),
    ])
}

fn param(com: &str, num: &str, phone: &str) -> String {
    json!({"com": com, "num": num, "phone": phone, "resultv2": "4"}).to_string()
}

async fn query(fake: &FakeKuaidi100, param: &str) -> Value {
    let r = post_form(&fake.query_url(), &body(param)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn assert_err(v: &Value, code: &str, message: &str) {
    assert_eq!(v["result"], false, "{v}");
    assert_eq!(v["returnCode"], code, "{v}");
    assert_eq!(v["message"], message, "{v}");
}

/// The exact request of carriers.md §2.8 (its test vector on the wire).
const DOC_REQUEST: &str = "customer=CUSTOMER0001&sign=9DB5F345BEB705D5B8103CD9028F0C44&param=%7B%22com%22%3A%22yuantong%22%2C%22num%22%3A%22YT0000000000001%22%2C%22phone%22%3A%221234%22%2C%22resultv2%22%3A%224%22%7D";

#[tokio::test(flavor = "multi_thread")]
async fn doc_example_gets_the_timeline() {
    let fake = fake();
    let r = post(
        &fake.query_url(),
        Some("application/x-www-form-urlencoded"),
        DOC_REQUEST,
    )
    .await
    .expect("http");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["message"], "ok");
    assert_eq!(v["nu"], YTO);
    assert_eq!(v["com"], "yuantong");
    assert_eq!(v["status"], "200");
    assert_eq!(v["ischeck"], "0");
    assert_eq!(v["condition"], "F00");
    assert_eq!(v["state"], "5");
    let data = v["data"].as_array().expect("data");
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["time"], "2024-05-02 07:40:00");
    assert_eq!(data[0]["ftime"], "2024-05-02 07:40:00");
    assert_eq!(data[0]["context"], "【杭州市】快件派送中");
    assert_eq!(data[0]["status"], "派件");
    assert_eq!(data[0]["statusCode"], "5");
    assert_eq!(data[0]["location"], "杭州市");
    assert_eq!(data[1]["status"], "揽收");
    assert_eq!(data[1]["statusCode"], "1");

    let log = fake.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].path, "/poll/query.do");
    assert_eq!(log[0].request_type, None);
    assert_eq!(log[0].number.as_deref(), Some(YTO));
    assert_eq!(log[0].signature_valid, Some(true));
    assert_eq!(
        log[0].field("sign"),
        Some("9DB5F345BEB705D5B8103CD9028F0C44")
    );
    assert_eq!(
        log[0].field("param"),
        Some(r#"{"com":"yuantong","num":"YT0000000000001","phone":"1234","resultv2":"4"}"#)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn resultv2_and_order() {
    let fake = fake();
    let v = query(&fake, &json!({"com": "yuantong", "num": YTO}).to_string()).await;
    assert_eq!(v["state"], "5");
    assert!(v["data"][0].get("status").is_none());
    assert!(v["data"][0].get("statusCode").is_none());
    let v = query(
        &fake,
        &json!({"com": "yuantong", "num": YTO, "resultv2": "1", "order": "asc"}).to_string(),
    )
    .await;
    assert_eq!(v["data"][0]["context"], "【杭州市】快件已揽收");
    assert_eq!(v["data"][0]["status"], "揽收");
    assert!(v["data"][0].get("statusCode").is_none());
    // resultv2=4: the top-level state can be a sub-state; ischeck follows its family.
    let v = query(&fake, &param("zhongtong", "ZT1000000000001", "5678")).await;
    assert_eq!(v["state"], "304");
    assert_eq!(v["ischeck"], "1");
    assert_eq!(v["data"][0]["status"], "签收");
    let v = query(
        &fake,
        &json!({"com": "zhongtong", "num": "ZT1000000000001", "phone": "5678", "resultv2": 0})
            .to_string(),
    )
    .await;
    assert_eq!(v["state"], "3");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_sign_or_customer() {
    let fake = fake();
    let p = param("yuantong", YTO, "");
    let good = k100_sign(&p, KEY, CUSTOMER);
    let cases = [
        form(&[
            ("customer", CUSTOMER),
            ("sign", &good.to_lowercase()),
            ("param", &p),
        ]),
        form(&[
            ("customer", CUSTOMER),
            ("sign", &k100_sign(&p, "OTHER", CUSTOMER)),
            ("param", &p),
        ]),
        form(&[
            ("customer", "OTHER"),
            ("sign", &k100_sign(&p, KEY, "OTHER")),
            ("param", &p),
        ]),
        form(&[
            ("customer", CUSTOMER),
            (
                "sign",
                &md5_hex(&format!("{p}{CUSTOMER}{KEY}")).to_uppercase(),
            ),
            ("param", &p),
        ]),
        form(&[
            ("customer", CUSTOMER),
            ("sign", &good),
            ("param", &p.replace(YTO, "YT9")),
        ]),
    ];
    for c in &cases {
        let r = post_form(&fake.query_url(), c).await;
        assert_eq!(r.status, 200);
        assert_err(&r.json(), "503", MSG_BAD_SIGN);
    }
    let log = fake.requests();
    assert!(log.iter().all(|l| l.signature_valid == Some(false)));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_fields_content_type_and_bad_param() {
    let fake = fake();
    let p = param("yuantong", YTO, "");
    let sign = k100_sign(&p, KEY, CUSTOMER);
    let all = [
        ("customer", CUSTOMER),
        ("sign", sign.as_str()),
        ("param", p.as_str()),
    ];
    for missing in ["customer", "sign", "param"] {
        let pairs: Vec<(&str, &str)> = all.iter().copied().filter(|(k, _)| *k != missing).collect();
        assert_err(
            &post_form(&fake.query_url(), &form(&pairs)).await.json(),
            "400",
            MSG_INCOMPLETE,
        );
    }
    let r = post(&fake.query_url(), Some("application/json"), &form(&all))
        .await
        .expect("http");
    assert_err(&r.json(), "400", MSG_INCOMPLETE);
    assert_err(&query(&fake, "{not json").await, "501", MSG_SERVER_ERROR);
    assert_err(
        &query(&fake, r#"{"com":"yuantong"}"#).await,
        "400",
        MSG_INCOMPLETE,
    );
    assert_err(
        &query(&fake, &param("nosuchco", YTO, "")).await,
        "400",
        MSG_NO_COMPANY,
    );
    assert_err(
        &query(&fake, &param("YUANTONG", YTO, "")).await,
        "400",
        MSG_NO_COMPANY,
    );
    assert_err(
        &query(&fake, &param("YTO", YTO, "")).await,
        "400",
        MSG_NO_COMPANY,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn phone_required_for_sf_and_zto() {
    let fake = fake();
    for phone in ["", "9999", "13800009999"] {
        assert_err(
            &query(&fake, &param("shunfeng", "SF1000000000001", phone)).await,
            "408",
            MSG_BAD_PHONE,
        );
    }
    let no_phone = json!({"com": "shunfeng", "num": "SF1000000000001"}).to_string();
    assert_err(&query(&fake, &no_phone).await, "408", MSG_BAD_PHONE);
    for phone in ["1234", "13800001234"] {
        let v = query(&fake, &param("shunfeng", "SF1000000000001", phone)).await;
        assert_eq!(v["message"], "ok", "{v}");
        assert_eq!(v["state"], "1");
    }
    assert_err(
        &query(&fake, &param("zhongtong", "ZT1000000000001", "")).await,
        "408",
        MSG_BAD_PHONE,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_result() {
    let fake = fake();
    assert_err(
        &query(&fake, &param("yuantong", "YT404", "")).await,
        "500",
        MSG_NO_RESULT,
    );
    assert_err(
        &query(&fake, &param("jd", "JD0000000000001", "")).await,
        "500",
        MSG_NO_RESULT,
    );
    assert_err(
        &query(&fake, &param("zhongtong", YTO, "")).await,
        "500",
        MSG_NO_RESULT,
    );
    fake.set_behaviour(YTO, Behaviour::NoTraces);
    assert_err(
        &query(&fake, &param("yuantong", YTO, "")).await,
        "500",
        MSG_NO_RESULT,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_is_http_429() {
    let fake = fake();
    fake.set_qps_limit(Some(2));
    let b = body(&param("yuantong", YTO, ""));
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = post_form(&fake.query_url(), &b).await;
        if r.status == 429 {
            assert_err(&r.json(), "429", MSG_RATE_LIMITED);
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(post_form(&fake.query_url(), &b).await.status, 200);
    fake.push_behaviour(Target::Any, Behaviour::RateLimited);
    fake.set_qps_limit(None);
    assert_eq!(post_form(&fake.query_url(), &b).await.status, 429);
    assert_eq!(post_form(&fake.query_url(), &b).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn scripted_faults() {
    let fake = fake();
    let b = body(&param("yuantong", YTO, ""));
    fake.push_behaviour(Target::Any, Behaviour::HttpStatus(503));
    fake.push_behaviour(Target::Any, Behaviour::HttpStatus(503));
    fake.push_behaviour(YTO, Behaviour::error("601", "key已过期"));
    fake.push_behaviour(Target::Any, Behaviour::error("502", "服务器繁忙"));
    fake.push_behaviour(
        Target::Any,
        Behaviour::Garbage("{\"message\":\"ok\",\"da".into()),
    );
    fake.push_behaviour(Target::Any, Behaviour::Slow(Duration::from_millis(300)));
    let mut replies = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let r = post_form(&fake.query_url(), &b).await;
        replies.push((r, t.elapsed()));
    }
    assert_eq!((replies[0].0.status, replies[1].0.status), (503, 503));
    assert!(replies[0].0.body.contains("<html>"));
    assert_err(&replies[2].0.json(), "601", "key已过期");
    assert_err(&replies[3].0.json(), "502", "服务器繁忙");
    assert_eq!(replies[4].0.body, "{\"message\":\"ok\",\"da");
    assert!(replies[5].1 >= Duration::from_millis(300));
    assert_eq!(replies[5].0.json()["message"], "ok");
    assert_eq!(replies[6].0.json()["message"], "ok");
    let logged: Vec<u16> = fake.requests().iter().map(|l| l.status).collect();
    assert_eq!(logged, [503, 503, 200, 200, 200, 200, 200]);
}

fn subscribe_body(p: &Value) -> String {
    form(&[("schema", "json"), ("param", &p.to_string())])
}

#[tokio::test(flavor = "multi_thread")]
async fn subscription() {
    let fake = fake();
    let p = json!({
        "company": "yuantong",
        "number": YTO,
        "key": KEY,
        "parameters": {"callbackurl": "https://example.test/k100?shop=1", "salt": "SALT0001", "resultv2": "4"}
    });
    let r = post_form(&fake.subscribe_url(), &subscribe_body(&p)).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"result": true, "returnCode": "200", "message": "提交成功"})
    );
    let subs = fake.subscriptions();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].carrier, "yuantong");
    assert_eq!(subs[0].number, YTO);
    assert_eq!(
        subs[0].callback_url.as_deref(),
        Some("https://example.test/k100?shop=1")
    );
    assert_eq!(subs[0].salt.as_deref(), Some("SALT0001"));
    assert_eq!(subs[0].resultv2.as_deref(), Some("4"));
    assert_eq!(subs[0].request_type, None);
    let log = fake.requests();
    assert_eq!(log[0].path, "/poll");
    assert_eq!(log[0].signature_valid, None);
    assert_eq!(log[0].number.as_deref(), Some(YTO));

    let mut wrong_key = p.clone();
    wrong_key["key"] = json!("OTHER");
    assert_err(
        &post_form(&fake.subscribe_url(), &subscribe_body(&wrong_key))
            .await
            .json(),
        "600",
        MSG_NOT_SUBSCRIBER,
    );
    let mut no_callback = p.clone();
    no_callback["parameters"] = json!({"salt": "x"});
    assert_err(
        &post_form(&fake.subscribe_url(), &subscribe_body(&no_callback))
            .await
            .json(),
        "400",
        MSG_INCOMPLETE,
    );
    let mut bad_company = p.clone();
    bad_company["company"] = json!("YTO");
    assert_err(
        &post_form(&fake.subscribe_url(), &subscribe_body(&bad_company))
            .await
            .json(),
        "400",
        MSG_NO_COMPANY,
    );
    let mut auto = p.clone();
    auto["company"] = json!("");
    auto["parameters"]["autoCom"] = json!("1");
    assert_eq!(
        post_form(&fake.subscribe_url(), &subscribe_body(&auto))
            .await
            .json()["result"],
        true
    );
    let no_schema = form(&[("param", &p.to_string())]);
    assert_err(
        &post_form(&fake.subscribe_url(), &no_schema).await.json(),
        "400",
        MSG_INCOMPLETE,
    );
    let not_json = form(&[("schema", "json"), ("param", "{")]);
    assert_err(
        &post_form(&fake.subscribe_url(), &not_json).await.json(),
        "501",
        MSG_SERVER_ERROR,
    );
    fake.push_behaviour(YTO, Behaviour::error("501", "重复订阅"));
    assert_err(
        &post_form(&fake.subscribe_url(), &subscribe_body(&p))
            .await
            .json(),
        "501",
        "重复订阅",
    );
    assert_eq!(fake.subscriptions().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn push_builders() {
    let scenario = scenario();
    let parcel = scenario.get(YTO).expect("parcel");
    let last = kuaidi100_render(parcel);
    assert_eq!(last["com"], "yuantong");
    assert_eq!(last["nu"], YTO);
    assert_eq!(last["state"], "5");
    assert_eq!(last["data"][0]["statusCode"], "5");
    let p = kuaidi100_push_param("polling", "", parcel);
    assert_eq!(p["lastResult"], last);

    let body = kuaidi100_push_form(&p, Some("SALT0001"));
    let pairs = decode(&body);
    let sent = field(&pairs, "param").expect("param");
    let sign = md5_hex(&format!("{sent}SALT0001")).to_uppercase();
    assert_eq!(field(&pairs, "sign"), Some(sign.as_str()));
    assert_eq!(serde_json::from_str::<Value>(sent).expect("JSON"), p);

    let unsigned = decode(&kuaidi100_push_form(
        &json!({"status": "abort", "message": "3天查询无记录"}),
        None,
    ));
    assert_eq!(unsigned.len(), 1);
    assert_eq!(
        field(&unsigned, "param"),
        Some(r#"{"message":"3天查询无记录","status":"abort"}"#)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn query_form_helper_is_accepted() {
    let fake = fake();
    let b = kuaidi100_query_form(CUSTOMER, KEY, &param("yuantong", YTO, ""));
    assert_eq!(b, body(&param("yuantong", YTO, "")));
    assert_eq!(
        post_form(&fake.query_url(), &b).await.json()["message"],
        "ok"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_method_and_path() {
    let fake = fake();
    assert_eq!(
        request("GET", &fake.query_url(), None, "")
            .await
            .expect("http")
            .status,
        405
    );
    assert_eq!(
        post_form(&format!("{}/poll/other", fake.base_url()), "")
            .await
            .status,
        404
    );
    assert_eq!(fake.requests().len(), 2);
}

#[test]
fn works_without_an_async_runtime() {
    let fake = fake();
    assert!(fake.base_url().starts_with("http://127.0.0.1:"));
    assert!(fake.query_url().ends_with("/poll/query.do"));
    assert!(fake.subscribe_url().ends_with("/poll"));
    let mut s = std::net::TcpStream::connect(fake.addr()).expect("connect");
    use std::io::{Read, Write};
    let b = body(&param("yuantong", YTO, ""));
    let req = format!(
        "POST /poll/query.do HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
        b.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    assert!(out.starts_with("HTTP/1.1 200"));
    assert!(out.contains("\"message\":\"ok\""));
}
