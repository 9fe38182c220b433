//! The demo scenario and the `sentinel-fakes` binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use chrono::{NaiveDateTime, TimeDelta, Utc};
use common::{form, k100_sign, kd_sign, post_form};
use sentinel_fakes::{
    demo_csv, demo_scenario, FakeKdniao, FakeKuaidi100, KdniaoConfig, Kuaidi100Config,
    DEMO_KDNIAO_APP_KEY, DEMO_KDNIAO_EBUSINESS_ID, DEMO_KUAIDI100_CUSTOMER, DEMO_KUAIDI100_KEY,
};
use serde_json::json;

fn hours_before(now: chrono::DateTime<Utc>, time: &str) -> i64 {
    let t = NaiveDateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S").expect("trace time");
    let china_now = (now + TimeDelta::hours(8)).naive_utc();
    (china_now - t).num_hours()
}

#[test]
fn demo_scenario_covers_the_situations() {
    let now = Utc::now();
    let s = demo_scenario(now);
    assert_eq!(s.len(), 8);
    let newest = |n: &str| s.get(n).and_then(|p| p.events.last()).expect("events");
    let yto = s.get("YT8800000000001").expect("moving");
    assert_eq!(hours_before(now, &yto.events[0].time), 10);
    assert_eq!(
        newest("73880000000002").kdniao_action.as_deref(),
        Some("301")
    );
    assert_eq!(hours_before(now, &newest("773880000000003").time), 72);
    assert!(newest("4388000000004")
        .text
        .contains("派送失败，电话无人接听"));
    assert!(newest("JT8800000000005").text.contains("拒收"));
    let hub = newest("1188000000006");
    assert_eq!(hours_before(now, &hub.time), 30);
    assert!(hub.text.contains("转运中心"));
    assert_eq!(
        s.get("SF8800000000007")
            .and_then(|p| p.phone_last4.as_deref()),
        Some("1234")
    );
    assert!(s
        .get("JDVA88000000008")
        .is_some_and(|p| p.events.is_empty()));

    let csv = demo_csv(now);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("carrier,tracking_number,order_id,shipped_at,promised_at,phone")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 8);
    assert!(rows.iter().all(|r| r.len() == 6));
    assert!(rows
        .iter()
        .all(|r| chrono::DateTime::parse_from_rfc3339(r[3]).is_ok()));
    let sf = rows.iter().find(|r| r[0] == "SF").expect("SF row");
    assert!(sf[5].ends_with("1234"));
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_scenario_through_both_fakes() {
    let now = Utc::now();
    let kd = FakeKdniao::start(KdniaoConfig {
        ebusiness_id: DEMO_KDNIAO_EBUSINESS_ID.into(),
        app_key: DEMO_KDNIAO_APP_KEY.into(),
        scenario: demo_scenario(now),
    });
    let k100 = FakeKuaidi100::start(Kuaidi100Config {
        customer: DEMO_KUAIDI100_CUSTOMER.into(),
        key: DEMO_KUAIDI100_KEY.into(),
        scenario: demo_scenario(now),
    });
    let data =
        json!({"ShipperCode": "SF", "LogisticCode": "SF8800000000007", "CustomerName": "1234"})
            .to_string();
    let b = form(&[
        ("RequestData", &data),
        ("EBusinessID", DEMO_KDNIAO_EBUSINESS_ID),
        ("RequestType", "8001"),
        ("DataSign", &kd_sign(&data, DEMO_KDNIAO_APP_KEY)),
        ("DataType", "2"),
    ]);
    let v = post_form(&kd.query_url(), &b).await.json();
    assert_eq!(v["Success"], true);
    assert_eq!(v["StateEx"], "202");

    let p = json!({"com": "jtexpress", "num": "JT8800000000005", "resultv2": "4"}).to_string();
    let b = form(&[
        ("customer", DEMO_KUAIDI100_CUSTOMER),
        (
            "sign",
            &k100_sign(&p, DEMO_KUAIDI100_KEY, DEMO_KUAIDI100_CUSTOMER),
        ),
        ("param", &p),
    ]);
    let v = post_form(&k100.query_url(), &b).await.json();
    assert_eq!(v["state"], "14");
    assert_eq!(v["data"][0]["status"], "拒签");
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_prints_exports_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentinel-fakes"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sentinel-fakes");
    let stdout = child.stdout.take().expect("stdout");
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let done = line.starts_with("# serving");
            lines.push(line);
            if done {
                break;
            }
        }
        lines
    });
    let lines = common::with_timeout(std::time::Duration::from_secs(30), lines)
        .await
        .expect("reader");
    let export = |name: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .map(str::to_string)
    };
    let kd_url = export("KDNIAO_API_URL").expect("KDNIAO_API_URL");
    assert_eq!(
        export("KDNIAO_EBUSINESS_ID").as_deref(),
        Some("test1234567")
    );
    assert_eq!(export("KDNIAO_API_KEY").as_deref(), Some("fake-kdniao-key"));
    assert!(kd_url.ends_with("/Ebusiness/EbusinessOrderHandle.aspx"));
    assert!(export("KDNIAO_SUBSCRIBE_URL").is_some_and(|u| u.ends_with("/api/dist")));
    assert!(export("KUAIDI100_API_URL").is_some_and(|u| u.ends_with("/poll/query.do")));
    assert!(export("KUAIDI100_SUBSCRIBE_URL").is_some_and(|u| u.ends_with("/poll")));
    assert_eq!(
        export("KUAIDI100_CUSTOMER").as_deref(),
        Some("FAKECUSTOMER")
    );
    assert_eq!(
        export("KUAIDI100_KEY").as_deref(),
        Some("fake-kuaidi100-key")
    );
    let header = lines
        .iter()
        .position(|l| l == "carrier,tracking_number,order_id,shipped_at,promised_at,phone")
        .expect("CSV header");
    assert_eq!(
        lines[header + 1..]
            .iter()
            .filter(|l| !l.starts_with('#'))
            .count(),
        8
    );

    let data = json!({"ShipperCode": "EMS", "LogisticCode": "1188000000006"}).to_string();
    let b = form(&[
        ("RequestData", &data),
        ("EBusinessID", "test1234567"),
        ("RequestType", "1002"),
        ("DataSign", &kd_sign(&data, "fake-kdniao-key")),
        ("DataType", "2"),
    ]);
    let v = post_form(&kd_url, &b).await.json();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(v["Success"], true);
    assert_eq!(v["State"], "2");
}
