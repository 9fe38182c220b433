//! The product's chat clients (`sentinel_chat`) against the independent fake
//! robots of `sentinel_fakes::chat`: wire format, signatures over the real clock,
//! reply codes mapped to `ChannelError` classes, and no secret in any error.

use std::time::Duration;

use serde_json::{json, Value};

use sentinel_chat::dispatch::{Dispatcher, Outcome};
use sentinel_chat::{
    channels_from_lookup, dingtalk, feishu, ChannelError, ChatChannel, ChatMessage, DingTalk,
    Feishu, Slack, WeCom,
};
use sentinel_fakes::chat::{
    dingtalk_sign, feishu_sign, ChatFault, DingTalkConfig, FakeDingTalk, FakeFeishu, FakeSlack,
    FakeWeCom, FeishuConfig, SlackConfig, WeComConfig,
};
use shared::clock::SystemClock;
use shared::secret::Secret;

const DINGTALK_SECRET: &str = "SECtest0123456789";
const FEISHU_SECRET: &str = "feishu-secret-01";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn message() -> ChatMessage {
    ChatMessage::new(
        "【预警】物流停滞 · 申通快递（STO）",
        "运单号 773880000000003\n- 已 72 小时没有新的物流轨迹",
    )
}

/// The error's text holds none of the secrets (URL, token, signing secret).
fn assert_clean(e: &ChannelError, secrets: &[&str]) {
    let shown = format!("{e} {e:?}");
    for s in secrets {
        assert!(!shown.contains(s), "{s:?} leaked in {shown}");
    }
}

fn dingtalk_client(fake: &FakeDingTalk, secret: Option<&str>) -> DingTalk {
    DingTalk::new(
        Secret::new(fake.webhook()),
        secret.map(Secret::new),
        vec!["13800001234".into()],
    )
    .unwrap()
}

fn dingtalk_secrets(fake: &FakeDingTalk) -> Vec<String> {
    vec![
        fake.webhook(),
        fake.config().access_token.clone(),
        DINGTALK_SECRET.into(),
        "SECwrong".into(),
    ]
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// ---------------------------------------------------------------------------
// Signatures

#[test]
fn product_and_fake_signatures_agree_with_the_vectors_and_each_other() {
    assert_eq!(
        dingtalk_sign(DINGTALK_SECRET, "1700000000000"),
        "yBKp5IlG6qCzcQWmgyRK/ziJBdVNJmHfFE2ST/CzT/g="
    );
    assert_eq!(
        feishu_sign(FEISHU_SECRET, "1700000000"),
        "qQJDh0DjcKtraQn8sDRgB4PJYlekJFFEe2kwFVFk3C8="
    );
    for ts in [0i64, 1, 1_700_000_000_000, 1_767_225_600_123] {
        assert_eq!(
            dingtalk::sign("SECother", ts),
            dingtalk_sign("SECother", &ts.to_string())
        );
        let s = ts / 1000;
        assert_eq!(
            feishu::sign("other", s),
            feishu_sign("other", &s.to_string())
        );
    }
}

// ---------------------------------------------------------------------------
// DingTalk

#[tokio::test]
async fn dingtalk_signed_markdown_is_accepted() {
    let fake = FakeDingTalk::start(DingTalkConfig {
        secret: Some(DINGTALK_SECRET.into()),
        ..DingTalkConfig::default()
    });
    let d = dingtalk_client(&fake, Some(DINGTALK_SECRET));
    let m = message();
    d.send(&m.title, &m.text, now_ms()).await.unwrap();
    let got = fake.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["msgtype"], "markdown");
    assert_eq!(got[0]["markdown"]["title"], m.title.as_str());
    let text = got[0]["markdown"]["text"].as_str().unwrap();
    assert!(
        text.contains("773880000000003") && text.ends_with("@13800001234"),
        "{text}"
    );
    assert_eq!(got[0]["at"]["atMobiles"], json!(["13800001234"]));
    let q = &fake.requests()[0].query;
    assert!(q.iter().any(|(k, _)| k == "timestamp") && q.iter().any(|(k, _)| k == "sign"));
}

#[tokio::test]
async fn dingtalk_wrong_secret_token_or_stale_clock_is_rejected() {
    let fake = FakeDingTalk::start(DingTalkConfig {
        secret: Some(DINGTALK_SECRET.into()),
        ..DingTalkConfig::default()
    });
    let secrets = dingtalk_secrets(&fake);
    let m = message();

    let e = dingtalk_client(&fake, Some("SECwrong"))
        .send(&m.title, &m.text, now_ms())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ChannelError::Rejected(t) if t.contains("310000")),
        "{e}"
    );
    assert_clean(&e, &refs(&secrets));

    // Unsigned against a signed robot.
    let e = dingtalk_client(&fake, None)
        .send(&m.title, &m.text, now_ms())
        .await
        .unwrap_err();
    assert!(matches!(e, ChannelError::Rejected(_)), "{e}");

    // Signed two hours ago.
    let e = dingtalk_client(&fake, Some(DINGTALK_SECRET))
        .send(&m.title, &m.text, now_ms() - 2 * 3_600_000)
        .await
        .unwrap_err();
    assert!(matches!(e, ChannelError::Rejected(_)), "{e}");

    let wrong_token = DingTalk::new(
        Secret::new(format!(
            "{}/robot/send?access_token=nope-token-99",
            fake.base_url()
        )),
        Some(Secret::new(DINGTALK_SECRET)),
        vec![],
    )
    .unwrap();
    let e = wrong_token.send("t", "x", now_ms()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::Rejected(t) if t.contains("300001")),
        "{e}"
    );
    assert_clean(&e, &["nope-token-99"]);
    assert!(fake.received().is_empty());
}

#[tokio::test]
async fn dingtalk_keyword_mode() {
    let fake = FakeDingTalk::start(DingTalkConfig {
        keyword: Some("包裹".into()),
        ..DingTalkConfig::default()
    });
    let m = ChatMessage::new("物流停滞", "运单号 773880000000003");
    let plain = dingtalk_client(&fake, None);
    let e = plain.send(&m.title, &m.text, now_ms()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::Rejected(t) if t.contains("310000")),
        "{e}"
    );

    let keyed = dingtalk_client(&fake, None).with_keyword(Some("包裹".into()));
    keyed.send(&m.title, &m.text, now_ms()).await.unwrap();
    // Already containing it: unchanged.
    keyed
        .send("包裹预警", "包裹 运单号 2", now_ms())
        .await
        .unwrap();
    let got = fake.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["markdown"]["title"], "包裹 物流停滞");
    assert!(got[0]["markdown"]["text"]
        .as_str()
        .unwrap()
        .starts_with("包裹 运单号 773880000000003"));
    assert_eq!(got[1]["markdown"]["title"], "包裹预警");
    assert!(got[1]["markdown"]["text"]
        .as_str()
        .unwrap()
        .starts_with("包裹 运单号 2"));
}

#[tokio::test]
async fn dingtalk_rate_size_5xx_and_unknown_codes() {
    let fake = FakeDingTalk::start(DingTalkConfig {
        per_minute: 2,
        max_body_bytes: 1_000,
        ..DingTalkConfig::default()
    });
    let secrets = dingtalk_secrets(&fake);
    let d = dingtalk_client(&fake, None);
    d.send("t", "1", now_ms()).await.unwrap();
    d.send("t", "2", now_ms()).await.unwrap();
    let e = d.send("t", "3", now_ms()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::RateLimited { detail, retry_after: None } if detail.contains("130101")),
        "{e:?}"
    );
    fake.reset();

    let e = d.send("t", &"字".repeat(400), now_ms()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::TooLarge(t) if t.contains("460101")),
        "{e}"
    );

    fake.fail_next(
        1,
        ChatFault::Http {
            status: 502,
            body: "Bad Gateway".into(),
            retry_after: None,
        },
    );
    let e5 = d.send("t", "x", now_ms()).await.unwrap_err();
    assert!(matches!(e5, ChannelError::Transient(_)), "{e5}");

    fake.fail_next(
        1,
        ChatFault::Code {
            code: 400102,
            msg: "robot stopped".into(),
        },
    );
    let eo = d.send("t", "x", now_ms()).await.unwrap_err();
    assert!(
        matches!(&eo, ChannelError::Other(t) if t.contains("400102 robot stopped")),
        "{eo}"
    );

    // After the scripted faults, normal again.
    d.send("t", "x", now_ms()).await.unwrap();
    for err in [&e, &e5, &eo] {
        assert_clean(err, &refs(&secrets));
    }
}

#[tokio::test]
async fn network_failures_are_transient_and_hide_the_url() {
    // A port nothing listens on: bind, note, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/robot/send?access_token=tok-secret-777");
    let d = DingTalk::new(Secret::new(url.clone()), None, vec![]).unwrap();
    let e = d.send("t", "x", now_ms()).await.unwrap_err();
    assert!(matches!(e, ChannelError::Transient(_)), "{e}");
    assert_clean(&e, &[&url, "tok-secret-777", "access_token"]);

    let s = Slack::new(Secret::new(format!(
        "http://127.0.0.1:{port}/services/T1/B1/slack-secret-777"
    )))
    .unwrap();
    let e = s.send(&message()).await.unwrap_err();
    assert!(matches!(e, ChannelError::Transient(_)), "{e}");
    assert_clean(&e, &["slack-secret-777", "/services/"]);
}

// ---------------------------------------------------------------------------
// WeCom

#[tokio::test]
async fn wecom_markdown_and_text_with_mentions() {
    let fake = FakeWeCom::start(WeComConfig::default());
    let m = message();
    WeCom::new(Secret::new(fake.webhook()), vec![])
        .unwrap()
        .send(&m)
        .await
        .unwrap();
    WeCom::new(Secret::new(fake.webhook()), vec!["13800001234".into()])
        .unwrap()
        .send(&m)
        .await
        .unwrap();
    let got = fake.received();
    assert_eq!(got[0]["msgtype"], "markdown");
    let content = got[0]["markdown"]["content"].as_str().unwrap();
    assert!(
        content.starts_with(&format!("**{}**\n", m.title)) && content.contains("773880000000003")
    );
    assert_eq!(got[1]["msgtype"], "text");
    assert_eq!(
        got[1]["text"]["mentioned_mobile_list"],
        json!(["13800001234"])
    );
}

#[tokio::test]
async fn wecom_errors() {
    let fake = FakeWeCom::start(WeComConfig::default());
    let secrets = [fake.webhook(), fake.config().key.clone()];
    let w = WeCom::new(Secret::new(fake.webhook()), vec![]).unwrap();
    let mut errors = Vec::new();

    let bad_key = WeCom::new(
        Secret::new(format!(
            "{}/cgi-bin/webhook/send?key=wrong-key-1234",
            fake.base_url()
        )),
        vec![],
    )
    .unwrap();
    let e = bad_key.send(&message()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::Rejected(t) if t.contains("93000")),
        "{e}"
    );
    assert_clean(&e, &["wrong-key-1234"]);

    // Markdown content over 4096 bytes (the client sends what it is given).
    let e = w
        .send(&ChatMessage::new("t", "字".repeat(1500)))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ChannelError::TooLarge(t) if t.contains("40058")),
        "{e}"
    );
    errors.push(e);
    // ... while the channel's budget fits.
    let fitted = ChatMessage::new("t", "字".repeat(1500)).truncated(w.max_text_bytes());
    w.send(&fitted).await.unwrap();

    for i in 1..20 {
        w.send(&ChatMessage::new("t", format!("{i}")))
            .await
            .unwrap();
    }
    let e = w.send(&message()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::RateLimited { detail, .. } if detail.contains("45009")),
        "{e}"
    );
    errors.push(e);
    fake.reset();

    fake.fail_next(
        1,
        ChatFault::Http {
            status: 503,
            body: String::new(),
            retry_after: None,
        },
    );
    let e = w.send(&message()).await.unwrap_err();
    assert!(matches!(e, ChannelError::Transient(_)), "{e}");
    errors.push(e);
    fake.fail_next(
        1,
        ChatFault::Code {
            code: 40008,
            msg: "invalid message type".into(),
        },
    );
    let e = w.send(&message()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::Other(t) if t.contains("40008 invalid message type")),
        "{e}"
    );
    errors.push(e);
    for e in &errors {
        assert_clean(e, &refs(&secrets));
    }
}

// ---------------------------------------------------------------------------
// Feishu

fn feishu_fake(secret: Option<&str>, keyword: Option<&str>) -> FakeFeishu {
    FakeFeishu::start(FeishuConfig {
        secret: secret.map(str::to_string),
        keyword: keyword.map(str::to_string),
        ..FeishuConfig::default()
    })
}

#[tokio::test]
async fn feishu_signed_text_is_accepted_in_both_reply_shapes() {
    let fake = feishu_fake(Some(FEISHU_SECRET), None);
    let f = Feishu::new(
        Secret::new(fake.webhook()),
        Some(Secret::new(FEISHU_SECRET)),
    )
    .unwrap();
    let m = message();
    f.send(&m, now_ms()).await.unwrap();
    let got = fake.received();
    assert_eq!(got[0]["msg_type"], "text");
    assert_eq!(
        got[0]["content"]["text"].as_str().unwrap(),
        format!("{}\n{}", m.title, m.text)
    );
    let ts: i64 = got[0]["timestamp"].as_str().unwrap().parse().unwrap();
    assert!((ts - now_ms() / 1000).abs() < 60, "seconds, not ms: {ts}");

    let legacy = FakeFeishu::start(FeishuConfig {
        legacy_reply: true,
        ..FeishuConfig::default()
    });
    Feishu::new(Secret::new(legacy.webhook()), None)
        .unwrap()
        .send(&m, now_ms())
        .await
        .unwrap();
    assert!(legacy.requests()[0].reply.contains("StatusCode"));
    assert_eq!(legacy.received().len(), 1);
}

#[tokio::test]
async fn feishu_errors() {
    let fake = feishu_fake(Some(FEISHU_SECRET), Some("包裹"));
    let secrets = [
        fake.webhook(),
        fake.config().token.clone(),
        FEISHU_SECRET.to_string(),
        "wrong-secret-55".to_string(),
    ];
    let good = Feishu::new(
        Secret::new(fake.webhook()),
        Some(Secret::new(FEISHU_SECRET)),
    )
    .unwrap();
    let with_kw = ChatMessage::new("包裹预警", "运单 1");
    let mut errors = Vec::new();

    let wrong = Feishu::new(
        Secret::new(fake.webhook()),
        Some(Secret::new("wrong-secret-55")),
    )
    .unwrap();
    let e = wrong.send(&with_kw, now_ms()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::Rejected(t) if t.contains("19021")),
        "{e}"
    );
    errors.push(e);

    let e = good
        .send(&ChatMessage::new("物流停滞", "运单 1"), now_ms())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ChannelError::Rejected(t) if t.contains("19024")),
        "{e}"
    );
    errors.push(e);

    // 5 a second: the 6th within the second is refused.
    for _ in 0..5 {
        good.send(&with_kw, now_ms()).await.unwrap();
    }
    let e = good.send(&with_kw, now_ms()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::RateLimited { detail, .. } if detail.contains("11232")),
        "{e}"
    );
    errors.push(e);
    fake.reset();

    fake.fail_next(
        1,
        ChatFault::Http {
            status: 500,
            body: "oops".into(),
            retry_after: None,
        },
    );
    let e = good.send(&with_kw, now_ms()).await.unwrap_err();
    assert!(matches!(e, ChannelError::Transient(_)), "{e}");
    errors.push(e);
    fake.fail_next(
        1,
        ChatFault::Code {
            code: 19002,
            msg: "whatever".into(),
        },
    );
    let e = good.send(&with_kw, now_ms()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::Other(t) if t.contains("19002 whatever")),
        "{e}"
    );
    errors.push(e);
    for e in &errors {
        assert_clean(e, &refs(&secrets));
    }
}

#[tokio::test]
async fn feishu_body_over_the_limit_is_too_large() {
    let fake = FakeFeishu::start(FeishuConfig {
        max_body_bytes: 2_000,
        ..FeishuConfig::default()
    });
    let f = Feishu::new(Secret::new(fake.webhook()), None).unwrap();
    let e = f
        .send(&ChatMessage::new("t", "x".repeat(3_000)), now_ms())
        .await
        .unwrap_err();
    assert!(matches!(e, ChannelError::TooLarge(_)), "{e}");
    let wrong_token = Feishu::new(
        Secret::new(format!(
            "{}/open-apis/bot/v2/hook/not-the-token-1",
            fake.base_url()
        )),
        None,
    )
    .unwrap();
    let e = wrong_token.send(&message(), now_ms()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::Other(t) if t.contains("19001")),
        "{e}"
    );
    assert_clean(&e, &["not-the-token-1"]);
}

// ---------------------------------------------------------------------------
// Slack

#[tokio::test]
async fn slack_success_and_retry_after() {
    let fake = FakeSlack::start(SlackConfig {
        retry_after_secs: 7,
        ..SlackConfig::default()
    });
    let s = Slack::new(Secret::new(fake.webhook())).unwrap();
    s.send(&ChatMessage::new("Stalled <STO>", "a & b"))
        .await
        .unwrap();
    assert_eq!(
        fake.received(),
        vec![json!({"text": "*Stalled &lt;STO&gt;*\na &amp; b"})]
    );
    // A second message within the second: 429 with Retry-After: 7.
    let e = s.send(&message()).await.unwrap_err();
    assert_eq!(
        e,
        ChannelError::RateLimited {
            detail: "slack answered HTTP 429 rate_limited".into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
    assert_clean(&e, &[&fake.webhook(), &fake.config().path]);
}

#[tokio::test]
async fn slack_errors() {
    let fake = FakeSlack::start(SlackConfig {
        per_second: 100,
        max_text_chars: 100,
        ..SlackConfig::default()
    });
    let s = Slack::new(Secret::new(fake.webhook())).unwrap();
    let secret_path = fake.config().path.clone();
    let mut errors = Vec::new();

    let e = s
        .send(&ChatMessage::new("t", "x".repeat(200)))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ChannelError::TooLarge(t) if t.contains("msg_too_long")),
        "{e}"
    );
    errors.push(e);

    fake.fail_next(
        1,
        ChatFault::Http {
            status: 503,
            body: "upstream down".into(),
            retry_after: None,
        },
    );
    let e = s.send(&message()).await.unwrap_err();
    assert!(matches!(e, ChannelError::Transient(_)), "{e}");
    errors.push(e);

    fake.fail_next(
        1,
        ChatFault::Code {
            code: 0,
            msg: "something_new".into(),
        },
    );
    let e = s.send(&message()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::Other(t) if t.contains("400 something_new")),
        "{e}"
    );
    errors.push(e);

    let unknown = Slack::new(Secret::new(format!(
        "{}/services/T0/B0/deleted-hook-42",
        fake.base_url()
    )))
    .unwrap();
    let e = unknown.send(&message()).await.unwrap_err();
    assert!(
        matches!(&e, ChannelError::Rejected(t) if t.contains("no_service")),
        "{e}"
    );
    assert_clean(&e, &["deleted-hook-42"]);

    let archived = FakeSlack::start(SlackConfig {
        archived: true,
        ..SlackConfig::default()
    });
    let e = Slack::new(Secret::new(archived.webhook()))
        .unwrap()
        .send(&message())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ChannelError::Rejected(t) if t.contains("channel_is_archived")),
        "{e}"
    );
    errors.push(e);
    for e in &errors {
        assert_clean(e, &[&fake.webhook(), &secret_path]);
    }
    // Every send above failed: nothing was accepted.
    assert!(fake.received().is_empty());
}

// ---------------------------------------------------------------------------
// Configuration and dispatch, end to end

#[tokio::test]
async fn all_four_channels_from_configuration() {
    let dt = FakeDingTalk::start(DingTalkConfig {
        secret: Some(DINGTALK_SECRET.into()),
        keyword: Some("包裹".into()),
        ..DingTalkConfig::default()
    });
    let wc = FakeWeCom::start(WeComConfig::default());
    let fs = feishu_fake(Some(FEISHU_SECRET), None);
    let sl = FakeSlack::start(SlackConfig::default());
    let env: Vec<(&str, String)> = vec![
        ("DINGTALK_WEBHOOK", dt.webhook()),
        ("DINGTALK_SECRET", DINGTALK_SECRET.into()),
        ("DINGTALK_KEYWORD", "包裹".into()),
        ("DINGTALK_AT_MOBILES", "13800001234".into()),
        ("WECOM_WEBHOOK", wc.webhook()),
        ("WECOM_AT_MOBILES", "13800001234,@all".into()),
        ("FEISHU_WEBHOOK", fs.webhook()),
        ("FEISHU_SECRET", FEISHU_SECRET.into()),
        ("SLACK_WEBHOOK", sl.webhook()),
    ];
    let channels = channels_from_lookup(|k| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.clone())
    })
    .unwrap();
    assert_eq!(channels.len(), 4);
    let m = message();
    for c in &channels {
        let fitted = m.truncated(c.max_text_bytes());
        c.send(&fitted, now_ms())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", c.name()));
    }
    for got in [dt.received(), wc.received(), fs.received(), sl.received()] {
        assert_eq!(got.len(), 1);
        assert!(got[0].to_string().contains("773880000000003"), "{}", got[0]);
    }
    assert_eq!(
        wc.received()[0]["text"]["mentioned_mobile_list"],
        json!(["13800001234", "@all"])
    );
}

#[tokio::test]
async fn dispatcher_paces_slack_under_its_limit_and_honours_retry_after() {
    let fake = FakeSlack::start(SlackConfig::default());
    let dispatcher = Dispatcher::new(ChatChannel::Slack(
        Slack::new(Secret::new(fake.webhook())).unwrap(),
    ));
    // The first request gets a 429 with Retry-After: 1.
    fake.fail_next(1, ChatFault::RateLimited);
    let msgs: Vec<_> = (0..3)
        .map(|i| ChatMessage::new(format!("t{i}"), format!("x{i}")))
        .collect();
    let start = tokio::time::Instant::now();
    let out = dispatcher
        .send_all(&msgs, &SystemClock, start + Duration::from_secs(20))
        .await;
    assert_eq!(out, vec![Outcome::Sent; 3]);
    let reqs = fake.requests();
    let statuses: Vec<u16> = reqs.iter().map(|r| r.status).collect();
    // The scripted 429, then paced under the fake's own 1/s limit: unpaced, each
    // message would meet a 429 (6 requests or more). One more 429 is tolerated:
    // the pacing keeps only 2% headroom, which a loaded machine's jitter can eat.
    assert_eq!(statuses[0], 429, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert!(reqs.len() <= 5, "{statuses:?}");
    // Retry-After: 1 was waited for.
    assert!(reqs[1].at - reqs[0].at >= Duration::from_secs(1));
    let texts: Vec<Value> = fake.received().iter().map(|b| b["text"].clone()).collect();
    assert_eq!(
        texts,
        [json!("*t0*\nx0"), json!("*t1*\nx1"), json!("*t2*\nx2")]
    );
}

#[tokio::test]
async fn dispatcher_reports_every_message() {
    let fake = FakeDingTalk::start(DingTalkConfig {
        secret: Some(DINGTALK_SECRET.into()),
        per_minute: 1,
        ..DingTalkConfig::default()
    });
    let dispatcher = Dispatcher::new(ChatChannel::DingTalk(dingtalk_client(
        &fake,
        Some(DINGTALK_SECRET),
    )));
    // Message 0: refused for good (scripted unknown code). Message 1: sent.
    // Message 2: the fake's 1/min limit answers 130101; DingTalk's throttle (10
    // min) is past the deadline, so 2 and 3 are deferred without waiting.
    fake.fail_next(
        1,
        ChatFault::Code {
            code: 400102,
            msg: "robot stopped".into(),
        },
    );
    let msgs: Vec<_> = (0..4)
        .map(|i| ChatMessage::new(format!("t{i}"), format!("x{i}")))
        .collect();
    let start = tokio::time::Instant::now();
    let out = dispatcher
        .send_all(&msgs, &SystemClock, start + Duration::from_secs(30))
        .await;
    assert!(
        matches!(&out[0], Outcome::Failed(ChannelError::Other(t)) if t.contains("400102")),
        "{out:?}"
    );
    assert_eq!(out[1], Outcome::Sent);
    assert!(
        matches!(
            &out[2],
            Outcome::Deferred(Some(ChannelError::RateLimited { .. }))
        ),
        "{out:?}"
    );
    assert!(
        matches!(
            &out[3],
            Outcome::Deferred(Some(ChannelError::RateLimited { .. }))
        ),
        "{out:?}"
    );
    assert_eq!(fake.requests().len(), 3);
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
}
