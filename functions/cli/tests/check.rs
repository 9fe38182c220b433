//! `sentinel check` end to end: hand-made Kdniao and Kuaidi100 replies, every rule,
//! time zones, escalation, per-carrier overrides, disabled rules and bad input.

use std::process::Command;

use serde_json::Value;

struct Run {
    code: i32,
    out: Value,
    stderr: String,
}

fn sentinel_check(body: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reply.json");
    std::fs::write(&path, body).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sentinel"));
    cmd.arg("check").arg("--input").arg(&path).args(args);
    for var in shared::config::VARIABLES {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let o = cmd.output().unwrap();
    let stdout = String::from_utf8(o.stdout).unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        out: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8(o.stderr).unwrap(),
    }
}

/// (rule, severity, since) of each finding.
fn findings(r: &Run) -> Vec<(String, String, String)> {
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    r.out["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["since"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn rules(r: &Run) -> Vec<String> {
    findings(r).into_iter().map(|f| f.0).collect()
}

fn f(rule: &str, sev: &str, since: &str) -> (String, String, String) {
    (rule.into(), sev.into(), since.into())
}

/// A Kdniao 8001 reply from (time, text, Action) traces.
fn kdniao(shipper: &str, state: &str, traces: &[(&str, &str, &str)]) -> String {
    let traces: Vec<Value> = traces
        .iter()
        .map(|(t, text, action)| {
            serde_json::json!({"AcceptTime": t, "AcceptStation": text, "Location": null, "Action": action, "Remark": null})
        })
        .collect();
    serde_json::json!({
        "EBusinessID": "1000000", "OrderCode": "", "ShipperCode": shipper,
        "LogisticCode": "YT0000000000001", "Success": true, "Reason": null,
        "State": state, "StateEx": traces.last().map(|t| t["Action"].clone()).unwrap_or(Value::Null),
        "Traces": traces
    })
    .to_string()
}

/// A Kuaidi100 reply (resultv2=4) from (time, text, statusCode) traces, newest first.
fn kuaidi100(com: &str, state: &str, traces: &[(&str, &str, &str)]) -> String {
    let mut data: Vec<Value> = traces
        .iter()
        .map(|(t, text, code)| {
            serde_json::json!({"time": t, "ftime": t, "context": text, "location": "", "statusCode": code})
        })
        .collect();
    data.reverse();
    serde_json::json!({
        "message": "ok", "nu": "75312345678901", "ischeck": "0", "com": com,
        "status": "200", "condition": "F00", "state": state, "data": data
    })
    .to_string()
}

const PICKUP: (&str, &str, &str) = (
    "2024-05-01 09:12:00",
    "【杭州市】快件已由 杭州余杭网点 揽收",
    "1",
);

#[test]
fn carriers_md_example_is_out_for_delivery() {
    let body = r#"{"EBusinessID":"1000000","OrderCode":"","ShipperCode":"YTO","LogisticCode":"YT0000000000001",
 "Success":true,"Reason":null,"State":"2","StateEx":"202","Location":"杭州市",
 "Traces":[
  {"AcceptTime":"2024-05-01 09:12:00","AcceptStation":"【杭州市】快件已揽收","Location":"杭州市","Action":"1","Remark":""},
  {"AcceptTime":"2024-05-02 07:40:00","AcceptStation":"【杭州市】快件派送中","Location":"杭州市","Action":"202","Remark":""}]}"#;
    let r = sentinel_check(body, &["--now", "2024-05-02T10:00:00+08:00"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.out["carrier"], "YTO");
    assert_eq!(r.out["tracking_number"], "YT0000000000001");
    assert_eq!(r.out["status"], "OutForDelivery");
    assert_eq!(r.out["last_event_at"], "2024-05-02T07:40:00+08:00");
    assert!(findings(&r).is_empty());
    // Out for delivery: polled every 90 minutes.
    assert_eq!(r.out["next_check_at"], "2024-05-02T11:30:00+08:00");
    // 12 h after the out-for-delivery scan, in UTC on the command line.
    let r = sentinel_check(body, &["--now", "2024-05-02T11:40:00Z"], &[]);
    assert_eq!(
        findings(&r),
        [f(
            "out_for_delivery_stuck",
            "warning",
            "2024-05-02T07:40:00+08:00"
        )]
    );
    let r = sentinel_check(body, &["--now", "2024-05-02T11:39:59Z"], &[]);
    assert!(findings(&r).is_empty(), "one second early");
}

#[test]
fn stalled_warns_at_48h_and_escalates_at_96h() {
    let body = kdniao(
        "ZTO",
        "2",
        &[
            PICKUP,
            (
                "2024-05-01 20:00:00",
                "快件离开【杭州转运中心】，已发往【成都转运中心】",
                "2",
            ),
        ],
    );
    let at = |now| sentinel_check(&body, &["--now", now], &[]);
    assert!(findings(&at("2024-05-03T19:59:00+08:00")).is_empty());
    assert_eq!(
        findings(&at("2024-05-03T20:00:00+08:00")),
        [f("stalled", "warning", "2024-05-01T20:00:00+08:00")]
    );
    assert_eq!(
        findings(&at("2024-05-05T20:00:00+08:00")),
        [f("stalled", "critical", "2024-05-01T20:00:00+08:00")]
    );
    // The next check is the critical deadline when nothing sooner is due.
    let r = at("2024-05-05T19:30:00+08:00");
    assert_eq!(r.out["next_check_at"], "2024-05-05T20:00:00+08:00");
}

#[test]
fn per_carrier_override_and_disabled_rules_from_the_environment() {
    let body = kdniao(
        "EMS",
        "2",
        &[
            PICKUP,
            ("2024-05-01 20:00:00", "快件离开【杭州转运中心】", "2"),
        ],
    );
    let now = ["--now", "2024-05-04T08:00:00+08:00"]; // 60 h after the last trace
    assert_eq!(rules(&sentinel_check(&body, &now, &[])), ["stalled"]);
    let env = [("RULE_OVERRIDES", "stalled@EMS=72,hub_dwell@SF=12")];
    assert!(rules(&sentinel_check(&body, &now, &env)).is_empty());
    // The same override does not apply to another carrier given on the command line.
    let zto = ["--now", "2024-05-04T08:00:00+08:00", "--carrier", "ZTO"];
    assert_eq!(rules(&sentinel_check(&body, &zto, &env)), ["stalled"]);
    let r = sentinel_check(
        &body,
        &zto,
        &[("STALLED_HOURS", "61.5"), ("DISABLED_RULES", "late")],
    );
    assert!(rules(&r).is_empty());
    let r = sentinel_check(&body, &now, &[("DISABLED_RULES", "stalled")]);
    assert!(rules(&r).is_empty());
}

#[test]
fn hub_dwell_and_stalled_together_in_both_formats() {
    let hub = ("2024-05-01 22:00:00", "快件已到达【成都转运中心】", "204");
    let kd = kdniao("ZTO", "2", &[PICKUP, hub]);
    let k100 = kuaidi100(
        "zhongtong",
        "0",
        &[(PICKUP.0, PICKUP.1, "1"), (hub.0, hub.1, "1002")],
    );
    for body in [kd, k100] {
        let r = sentinel_check(&body, &["--now", "2024-05-02T22:00:00+08:00"], &[]);
        assert_eq!(r.out["carrier"], "ZTO");
        assert_eq!(
            findings(&r),
            [f("hub_dwell", "warning", "2024-05-01T22:00:00+08:00")]
        );
        let r = sentinel_check(&body, &["--now", "2024-05-03T22:00:00+08:00"], &[]);
        assert_eq!(
            findings(&r),
            [
                f("stalled", "warning", "2024-05-01T22:00:00+08:00"),
                f("hub_dwell", "warning", "2024-05-01T22:00:00+08:00")
            ]
        );
    }
    // A departure scan ends the dwell.
    let left = kdniao(
        "ZTO",
        "2",
        &[
            PICKUP,
            hub,
            (
                "2024-05-01 23:00:00",
                "快件离开【成都转运中心】，已发往【成都】",
                "2",
            ),
        ],
    );
    assert!(rules(&sentinel_check(
        &left,
        &["--now", "2024-05-02T23:00:00+08:00"],
        &[]
    ))
    .is_empty());
}

#[test]
fn locker_uncollected_with_text_only_traces() {
    let body = kdniao(
        "ZTO",
        "2",
        &[
            PICKUP,
            (
                "2024-05-02 10:00:00",
                "快件已被【丰巢智能柜】代收，请及时取件",
                "",
            ),
        ],
    );
    let r = sentinel_check(&body, &["--now", "2024-05-04T10:00:00+08:00"], &[]);
    assert_eq!(r.out["status"], "AwaitingCollection");
    assert_eq!(
        findings(&r),
        [
            f("stalled", "warning", "2024-05-02T10:00:00+08:00"),
            f("locker_uncollected", "warning", "2024-05-02T10:00:00+08:00")
        ]
    );
    let k100 = kuaidi100(
        "zhongtong",
        "5",
        &[
            (PICKUP.0, PICKUP.1, "1"),
            ("2024-05-02 10:00:00", "已放入快递柜", "501"),
        ],
    );
    let r = sentinel_check(&k100, &["--now", "2024-05-04T09:00:00+08:00"], &[]);
    assert_eq!(r.out["status"], "AwaitingCollection");
    assert!(rules(&r).is_empty(), "47 h: not yet");
}

#[test]
fn event_rules_in_both_formats() {
    let now = ["--now", "2024-05-02T12:00:00+08:00"];
    let cases: [(&str, &str, &str, &str, &str); 8] = [
        // (kdniao Action, kuaidi100 statusCode, text, status, rule)
        (
            "405",
            "204",
            "快件派送失败，原因：电话无人接听",
            "DeliveryFailed",
            "delivery_failed",
        ),
        (
            "416",
            "206",
            "无法联系收件人",
            "DeliveryFailed",
            "delivery_failed",
        ),
        (
            "420",
            "2",
            "收件地址不详，快件暂存网点",
            "Exception",
            "exception",
        ),
        ("414", "209", "快件外包装破损", "Exception", "exception"),
        ("404", "14", "收件人拒收", "Refused", "refused"),
        (
            "407",
            "6",
            "快件已退回，正在返回寄件人",
            "Returning",
            "returned",
        ),
        (
            "406",
            "4",
            "退回件已签收，签收人：寄件人",
            "Returned",
            "returned",
        ),
        ("413", "2", "快件已拦截", "Exception", "exception"),
    ];
    for (action, code, text, status, rule) in cases {
        let ev = ("2024-05-02 11:00:00", text, action);
        let kd = kdniao("YD", "4", &[PICKUP, ev]);
        let k100 = kuaidi100(
            "yunda",
            code,
            &[(PICKUP.0, PICKUP.1, "1"), (ev.0, text, code)],
        );
        for body in [kd, k100] {
            let r = sentinel_check(&body, &now, &[]);
            assert_eq!(r.out["status"], status, "{text}");
            assert_eq!(
                findings(&r),
                [f(rule, "warning", "2024-05-02T11:00:00+08:00")],
                "{text}"
            );
        }
    }
}

#[test]
fn codes_lag_text_kuaidi100_state_0_while_delivering() {
    let body = kuaidi100(
        "yuantong",
        "0",
        &[
            (PICKUP.0, PICKUP.1, "0"),
            (
                "2024-05-02 08:00:00",
                "【杭州市】派件员 张三（电话13812345678）正在为您派件",
                "0",
            ),
        ],
    );
    let r = sentinel_check(&body, &["--now", "2024-05-02T20:00:00+08:00"], &[]);
    assert_eq!(r.out["status"], "OutForDelivery");
    assert_eq!(rules(&r), ["out_for_delivery_stuck"]);
}

#[test]
fn no_pickup_and_no_trace_for_replies_that_know_nothing() {
    let kd = r#"{"EBusinessID":"1000000","ShipperCode":"SF","LogisticCode":"SF1234567890123","Success":true,"State":"0","Reason":"暂无轨迹信息","Traces":[]}"#;
    let k100 = r#"{"message":"快递公司参数异常：单号不存在或者已经过期","nu":"","ischeck":"0","com":"","status":"201","state":"0","data":[]}"#;
    for body in [kd, k100] {
        let shipped = ["--shipped-at", "2024-05-01 08:00:00", "--carrier", "SF"];
        let early: Vec<&str> = shipped
            .iter()
            .copied()
            .chain(["--now", "2024-05-02T07:59:00+08:00"])
            .collect();
        let r = sentinel_check(body, &early, &[]);
        assert_eq!(r.out["status"], "Pending");
        assert!(rules(&r).is_empty());
        assert_eq!(r.out["next_check_at"], "2024-05-02T08:00:00+08:00");
        let late: Vec<&str> = shipped
            .iter()
            .copied()
            .chain(["--now", "2024-05-02T08:00:00+08:00"])
            .collect();
        let r = sentinel_check(body, &late, &[]);
        assert_eq!(
            findings(&r),
            [
                f("no_pickup", "warning", "2024-05-01T08:00:00+08:00"),
                f("no_trace", "warning", "2024-05-01T08:00:00+08:00")
            ]
        );
        assert_eq!(r.out["carrier"], "SF");
    }
}

#[test]
fn late_fires_at_the_promise_and_delivered_parcels_are_done() {
    let moving = kdniao(
        "JD",
        "2",
        &[
            PICKUP,
            ("2024-05-02 06:00:00", "快件离开【北京转运中心】", "2"),
        ],
    );
    let args = [
        "--now",
        "2024-05-02T12:00:00+08:00",
        "--promised-at",
        "2024-05-02T12:00:00+08:00",
    ];
    assert_eq!(
        findings(&sentinel_check(&moving, &args, &[])),
        [f("late", "warning", "2024-05-02T12:00:00+08:00")]
    );
    let done = kdniao(
        "JD",
        "3",
        &[
            PICKUP,
            ("2024-05-03 10:00:00", "已签收，签收人：本人", "301"),
        ],
    );
    let r = sentinel_check(
        &done,
        &[
            "--now",
            "2024-06-01T00:00:00Z",
            "--promised-at",
            "2024-05-02T12:00:00+08:00",
        ],
        &[],
    );
    assert_eq!(r.out["status"], "Delivered");
    assert!(rules(&r).is_empty());
    assert_eq!(r.out["next_check_at"], Value::Null);
}

#[test]
fn real_world_quirks_parse() {
    // Numbers instead of strings, unpadded and slashed times, newest first, nulls.
    let body = r#"{"ShipperCode":"STO","LogisticCode":"773123456789","Success":"true","State":2,
      "Traces":[{"AcceptTime":"2024/5/2 8:05","AcceptStation":"快件已到达【上海分拨中心】","Action":204,"Location":null},
                {"AcceptTime":"2024-5-1 9:12:06","AcceptStation":"已揽收"}]}"#;
    let r = sentinel_check(body, &["--now", "2024-05-03T08:05:00+08:00"], &[]);
    assert_eq!(r.out["last_event_at"], "2024-05-02T08:05:00+08:00");
    assert_eq!(rules(&r), ["hub_dwell"]);
}

fn bad(body: &str, args: &[&str], env: &[(&str, &str)], needle: &str) {
    let r = sentinel_check(body, args, env);
    assert_eq!(r.code, 2, "stdout: {} stderr: {}", r.out, r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "one line: {}", r.stderr);
    assert!(r.stderr.contains(needle), "{needle:?} not in {}", r.stderr);
    assert_eq!(r.out, Value::Null, "nothing on stdout");
}

#[test]
fn bad_input_exits_2_with_one_line_naming_the_problem() {
    let ok = kdniao("ZTO", "2", &[PICKUP]);
    bad("{not json", &[], &[], "reply.json");
    bad(r#"{"hello":"world"}"#, &[], &[], "reply.json");
    bad(r#"[1,2,3]"#, &[], &[], "reply.json");
    bad(
        r#"{"ShipperCode":"ZTO","LogisticCode":"75312345678","Success":true,"Traces":[{"AcceptStation":"已揽收"}]}"#,
        &[],
        &[],
        "AcceptTime",
    );
    bad(
        r#"{"ShipperCode":"ZTO","LogisticCode":"75312345678","Success":true,"Traces":[{"AcceptTime":"2024-13-45 99:00","AcceptStation":"已揽收"}]}"#,
        &[],
        &[],
        "2024-13-45 99:00",
    );
    bad(
        r#"{"message":"ok","nu":"75312345678","com":"zhongtong","status":"200","state":"0","data":[{"context":"已揽收"}]}"#,
        &[],
        &[],
        "data[0]",
    );
    bad(&ok, &["--now", "tuesday"], &[], "--now");
    bad(&ok, &["--carrier", "Z T O"], &[], "--carrier");
    bad(&ok, &[], &[("STALLED_HOURS", "abc")], "STALLED_HOURS");
    bad(&ok, &[], &[("DISABLED_RULES", "stalled,stuck")], "stuck");
    bad(
        &ok,
        &[],
        &[("RULE_OVERRIDES", "stalled@EMS")],
        "RULE_OVERRIDES",
    );
    let r = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .args(["check", "--input", "/nonexistent/reply.json"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("/nonexistent/reply.json"));
}
