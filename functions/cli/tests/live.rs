//! `sentinel track` and `sentinel run` end to end: the real binary against the
//! fake Kdniao and Kuaidi100 servers on 127.0.0.1, configured by environment
//! variables exactly as a user would.

use std::path::Path;
use std::process::{Command, Output};

use chrono::Utc;
use sentinel_fakes::{
    demo_csv, demo_parcels, demo_scenario, FakeKdniao, FakeKuaidi100, KdniaoConfig,
    Kuaidi100Config, DEMO_KDNIAO_APP_KEY, DEMO_KDNIAO_EBUSINESS_ID, DEMO_KUAIDI100_CUSTOMER,
    DEMO_KUAIDI100_KEY,
};

fn kdniao() -> FakeKdniao {
    FakeKdniao::start(KdniaoConfig {
        ebusiness_id: DEMO_KDNIAO_EBUSINESS_ID.into(),
        app_key: DEMO_KDNIAO_APP_KEY.into(),
        scenario: demo_scenario(Utc::now()),
    })
}

fn sentinel(env: &[(&str, String)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sentinel"));
    c.args(args).env_remove("RUST_LOG");
    for v in shared_vars() {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Provider variables a developer's shell might hold; the tests set their own.
fn shared_vars() -> &'static [&'static str] {
    &[
        "CARRIER_PROVIDER",
        "TRACKING_MODE",
        "KDNIAO_EBUSINESS_ID",
        "KDNIAO_API_KEY",
        "KDNIAO_API_URL",
        "KDNIAO_SUBSCRIBE_URL",
        "KDNIAO_REQUEST_TYPE",
        "KUAIDI100_CUSTOMER",
        "KUAIDI100_KEY",
        "KUAIDI100_API_URL",
        "SENTINEL_DB",
        "DINGTALK_WEBHOOK",
        "DINGTALK_SECRET",
        "WECOM_WEBHOOK",
        "FEISHU_WEBHOOK",
        "SLACK_WEBHOOK",
        "ALERT_LANGUAGE",
        "DAILY_QUERY_BUDGET",
    ]
}

fn kdniao_env(fake: &FakeKdniao, key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("KDNIAO_EBUSINESS_ID", DEMO_KDNIAO_EBUSINESS_ID.into()),
        ("KDNIAO_API_KEY", key.into()),
        ("KDNIAO_API_URL", fake.query_url()),
        ("KDNIAO_SUBSCRIBE_URL", fake.subscribe_url()),
        ("KDNIAO_REQUEST_TYPE", "8001".into()),
        ("CARRIER_RETRIES", "0".into()),
    ]
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn track_detects_queries_and_prints_the_timeline() {
    let fake = kdniao();
    let env = kdniao_env(&fake, DEMO_KDNIAO_APP_KEY);
    // The number alone: the carrier (YTO) is detected from its shape.
    let o = sentinel(&env, &["track", "YT8800000000001"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("YTO YT8800000000001 · 圆通速递（kdniao）"),
        "{out}"
    );
    assert!(out.contains("轨迹（4 条，北京时间）"), "{out}");
    assert!(
        out.contains("浙江杭州转运中心 已发出 下一站 上海转运中心"),
        "{out}"
    );
    assert!(out.contains("规则：无异常"), "{out}");
    // In transit: an estimated delivery, from the published figures (no --db).
    assert!(out.contains("预计送达："), "{out}");
    assert!(out.contains("国家邮政局公布的时限"), "{out}");

    // A stalled parcel: the finding is printed.
    let o = sentinel(&env, &["track", "773880000000003", "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["carrier"], "STO");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "stalled"),
        "{v}"
    );
    assert!(!v["timeline"].as_array().unwrap().is_empty());

    // A refusal, with the carrier given.
    let o = sentinel(
        &env,
        &["track", "JT8800000000005", "--carrier", "JTSD", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "Refused", "{v}");
    assert_eq!(v["eta"], serde_json::Value::Null, "on its way back: {v}");

    // SF: needs the phone tail.
    let o = sentinel(&env, &["track", "SF8800000000007"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--phone"));
    let o = sentinel(
        &env,
        &[
            "track",
            "SF8800000000007",
            "--phone",
            "13800001234",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["status"], "OutForDelivery", "{v}");
    assert_eq!(v["eta"]["stage"], "out_for_delivery", "{v}");
    assert_eq!(v["eta"]["lane"], serde_json::Value::Null, "{v}");

    // No traces: an answer, not an error.
    let o = sentinel(&env, &["track", "JDVA88000000008", "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["timeline"].as_array().unwrap().len(), 0);
}

#[test]
fn track_reports_ambiguity_and_provider_failures() {
    let fake = kdniao();
    let env = kdniao_env(&fake, DEMO_KDNIAO_APP_KEY);
    // A shape two carriers use, and Kdniao's 2002 does not know it either.
    let o = sentinel(&env, &["track", "568123456789"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("STO, ZTO") && err.contains("--carrier"),
        "{err}"
    );
    // Kdniao recognises it: detection succeeds.
    fake.set_detection("568123456789", vec![("STO".into(), "申通快递".into())]);
    let o = sentinel(&env, &["track", "568123456789", "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Wrong key: exit 1, the class named, the key never shown.
    let env = kdniao_env(&fake, "definitely-wrong-key");
    let o = sentinel(&env, &["track", "YT8800000000001", "--carrier", "YTO"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("bad_credentials"), "{err}");
    assert!(!err.contains("definitely-wrong-key"));
    // Missing configuration names the variable.
    let o = sentinel(&[], &["track", "YT8800000000001"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("KDNIAO_EBUSINESS_ID"));
}

#[test]
fn track_through_kuaidi100() {
    let fake = FakeKuaidi100::start(Kuaidi100Config {
        customer: DEMO_KUAIDI100_CUSTOMER.into(),
        key: DEMO_KUAIDI100_KEY.into(),
        scenario: demo_scenario(Utc::now()),
    });
    let env = vec![
        ("CARRIER_PROVIDER", "kuaidi100".to_string()),
        ("KUAIDI100_CUSTOMER", DEMO_KUAIDI100_CUSTOMER.into()),
        ("KUAIDI100_KEY", DEMO_KUAIDI100_KEY.into()),
        ("KUAIDI100_API_URL", fake.query_url()),
    ];
    let o = sentinel(&env, &["track", "4388000000004", "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["provider"], "kuaidi100");
    assert_eq!(v["carrier"], "YD");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "delivery_failed"),
        "{v}"
    );
}

/// A fresh store holding the imported demo parcels; `env` then points at it.
fn demo_db(env: &mut Vec<(&'static str, String)>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    import_demo(&db, env);
    env.push(("SENTINEL_DB", db.display().to_string()));
    dir
}

fn import_demo(db: &Path, env: &[(&str, String)]) {
    let csv = db.with_extension("csv");
    std::fs::write(&csv, demo_csv(Utc::now())).unwrap();
    let mut env = env.to_vec();
    env.push(("SENTINEL_DB", db.display().to_string()));
    let o = sentinel(&env, &["import", csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
}

#[test]
fn run_once_tracks_imported_parcels_and_alerts() {
    let fake = kdniao();
    let mut env = kdniao_env(&fake, DEMO_KDNIAO_APP_KEY);
    let _dir = demo_db(&mut env);

    let o = sentinel(&env, &["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    for phrase in ["物流停滞", "派送失败", "拒收", "中转滞留"] {
        assert!(out.contains(phrase), "{phrase} missing from:\n{out}");
    }
    let err = text(&o.stderr);
    assert!(err.contains("checked 8, queries 8 (0 failed)"), "{err}");
    assert_eq!(fake.requests().len(), 8);
    assert!(fake
        .requests()
        .iter()
        .all(|r| r.signature_valid == Some(true)));

    // Nothing is due again right away: no query, no duplicate alert.
    let o = sentinel(&env, &["run", "--once"]);
    assert!(o.status.success());
    assert!(
        text(&o.stderr).contains("checked 0, queries 0"),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stdout).is_empty());
    assert_eq!(fake.requests().len(), 8);

    // The store holds the tracked state.
    let o = sentinel(&env, &["list", "--rule", "refused", "--json"]);
    assert!(
        text(&o.stdout).contains("JT8800000000005"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn run_once_never_queries_past_the_daily_budget() {
    let fake = kdniao();
    let mut env = kdniao_env(&fake, DEMO_KDNIAO_APP_KEY);
    let _dir = demo_db(&mut env);
    env.push(("DAILY_QUERY_BUDGET", "kdniao=3".into()));
    let day = shared::budget::china_day(Utc::now());

    let o = sentinel(&env, &["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    let asked = fake.requests().len();
    // Five of the demo's eight parcels shipped days ago and hold a problem
    // (urgent): the whole budget goes, and no more.
    assert_eq!(asked, 3, "{err}");
    assert!(err.contains("checked 8, queries 3"), "{err}");
    assert!(
        err.contains("daily query budget (kdniao): 3 of 3 used today; 5 checks deferred"),
        "{err}"
    );
    // What the queries found is told; the deferred parcels decided nothing.
    let asked_about: Vec<String> = fake
        .requests()
        .into_iter()
        .filter_map(|r| r.number)
        .collect();
    let told = text(&o.stdout);
    assert!(!told.is_empty());
    for d in demo_parcels(Utc::now()) {
        let number = &d.parcel.number;
        assert!(
            !told.contains(number.as_str()) || asked_about.contains(number),
            "{number} told without being asked about\n{told}"
        );
    }

    // Again at once: the deferred parcels wait for the next day's budget.
    let o = sentinel(&env, &["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    if shared::budget::china_day(Utc::now()) == day {
        assert_eq!(fake.requests().len(), 3, "{}", text(&o.stderr));
    }
}

#[test]
fn run_once_with_every_query_failing_exits_1() {
    let fake = kdniao();
    let mut env = kdniao_env(&fake, "wrong-key");
    let _dir = demo_db(&mut env);
    let o = sentinel(&env, &["run", "--once"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    // Nothing lost: the parcels are still registered, and checked again later.
    let o = sentinel(&env, &["list", "--json"]);
    assert_eq!(text(&o.stdout).lines().count(), 8);
}

#[test]
fn push_mode_subscribes_at_registration() {
    let fake = kdniao();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let mut env = kdniao_env(&fake, DEMO_KDNIAO_APP_KEY);
    env.push(("TRACKING_MODE", "push".into()));
    import_demo(&db, &env);
    let subs = fake.subscriptions();
    assert_eq!(subs.len(), 8);
    assert!(subs
        .iter()
        .all(|s| s.request_type.as_deref() == Some("8008")));
    // A run in push mode queries nothing; time-based rules still run.
    env.push(("SENTINEL_DB", db.display().to_string()));
    let o = sentinel(&env, &["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("queries 0"), "{}", text(&o.stderr));
    assert!(fake
        .requests()
        .iter()
        .all(|r| r.request_type.as_deref() == Some("8008")));
}

/// `run` sends its alerts to a chat robot too (a fake Slack here), as one digest;
/// when the robot is down, the alerts stay in the outbox and the next run sends
/// them.
#[test]
fn run_sends_digests_to_the_robot_and_retries_what_it_refused() {
    use sentinel_fakes::chat::{ChatFault, FakeSlack, SlackConfig};
    let dir = tempfile::tempdir().unwrap();
    let fake = kdniao();
    let slack = FakeSlack::start(SlackConfig::default());
    let db = dir.path().join("s.db");
    let mut env = kdniao_env(&fake, DEMO_KDNIAO_APP_KEY);
    import_demo(&db, &env);
    env.push(("SENTINEL_DB", db.display().to_string()));
    env.push(("SLACK_WEBHOOK", slack.webhook()));

    slack.fail_next(
        1,
        ChatFault::Http {
            status: 404,
            body: "channel_not_found".into(),
            retry_after: None,
        },
    );
    let o = sentinel(&env, &["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(slack.received().is_empty(), "the robot refused");
    let err = text(&o.stderr);
    assert!(err.contains("alerts 0"), "nothing delivered yet: {err}");

    // Next run: nothing new is due, but the outbox is delivered, in one digest.
    let o = sentinel(&env, &["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let got = slack.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let digest = got[0]["text"].as_str().unwrap();
    for phrase in ["物流停滞", "派送失败", "拒收", "中转滞留"] {
        assert!(digest.contains(phrase), "{phrase} missing from:\n{digest}");
    }
    // And only once.
    let o = sentinel(&env, &["run", "--once"]);
    assert!(o.status.success());
    assert_eq!(slack.received().len(), 1);
}

/// `demo` prints its alerts, and with a robot configured also sends them as a
/// few digests at the end.
#[test]
fn demo_sends_its_alerts_to_a_configured_robot() {
    use sentinel_fakes::chat::{DingTalkConfig, FakeDingTalk};
    let dir = tempfile::tempdir().unwrap();
    let ding = FakeDingTalk::start(DingTalkConfig {
        secret: Some("SECdemo".into()),
        ..DingTalkConfig::default()
    });
    let env = vec![
        ("DINGTALK_WEBHOOK", ding.webhook()),
        ("DINGTALK_SECRET", "SECdemo".to_string()),
    ];
    let db = dir.path().join("demo.db");
    let o = sentinel(
        &env,
        &[
            "demo",
            "--parcels",
            "300",
            "--days",
            "5",
            "--quiet",
            "--db",
            db.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("as digests"), "{out}");
    let got = ding.received();
    assert!((1..=20).contains(&got.len()), "{} messages", got.len());
    assert!(got[0]["markdown"]["text"].as_str().unwrap().contains("件"));
}
