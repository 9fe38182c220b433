//! Fuzz harnesses for the chat channels' configuration
//! (`ChannelSettings::from_lookup`, `channels_from_lookup`).
//!
//! A generated valid environment gives exactly the channels it names; a bad
//! webhook or mobile list is an error naming its variable; any environment at
//! all gives channels or a bounded one-line error, and a webhook's token (its
//! path and query) is never shown, in an error or in `Debug`.
//!
//! Each harness is a bounded-time property test: a modest number of cases in the
//! test command, `PROPTEST_CASES` in a long run; each prints how many cases it
//! ran (see [`support::fuzz`]). No test touches the network.

mod support;

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use sentinel_chat::{channels_from_lookup, ChannelSettings, VARIABLES};

use support::{bounded, fuzz, hostile_text, odd_text};

const MAX_ERROR: usize = 80 * 10 + 200;

fn lookup(map: HashMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |k| map.get(k).cloned()
}

/// A webhook URL whose token (`TOKEN…`, in the path or the query) must never be
/// shown.
fn webhook() -> impl Strategy<Value = (String, String)> {
    (
        proptest::sample::select(&["https", "http", "HTTPS"][..]),
        prop_oneof![
            Just("oapi.dingtalk.com".to_string()),
            Just("127.0.0.1:9".to_string()),
            "[a-z]{1,12}\\.example\\.cn"
        ],
        "TOKEN[A-Za-z0-9]{10,20}",
        0u8..3,
    )
        .prop_map(|(scheme, host, token, place)| {
            let url = match place {
                0 => format!("{scheme}://{host}/robot/send?access_token={token}"),
                1 => format!("{scheme}://{host}/open-apis/bot/v2/hook/{token}"),
                _ => format!("{scheme}://{host}/cgi-bin/webhook/send?key={token}&debug=1"),
            };
            (url, token)
        })
}

fn mobiles(allow_all: bool) -> impl Strategy<Value = (String, Vec<String>)> {
    proptest::collection::vec(
        prop_oneof![
            4 => "\\+?[0-9][0-9-]{0,18}",
            1 => Just(if allow_all { "@all" } else { "13800001234" }.to_string()),
        ],
        0..4,
    )
    .prop_map(|ms| (format!(" {}, ,", ms.join(" , ")), ms))
}

/// What DingTalk settings must be: webhook, secret, mobiles, keyword.
type DingTalkWant = (String, Option<String>, Vec<String>, Option<String>);

/// A valid environment and what it must give.
#[derive(Clone, Debug)]
struct Env {
    vars: HashMap<String, String>,
    dingtalk: Option<DingTalkWant>,
    wecom: Option<(String, Vec<String>)>,
    feishu: Option<(String, Option<String>)>,
    slack: Option<String>,
    tokens: Vec<String>,
}

fn env() -> impl Strategy<Value = Env> {
    (
        proptest::option::of((
            webhook(),
            proptest::option::of("[A-Za-z0-9]{0,20}"),
            mobiles(false),
            proptest::option::of(prop_oneof![Just("包裹".to_string()), odd_text()]),
        )),
        proptest::option::of((webhook(), mobiles(true))),
        proptest::option::of((webhook(), proptest::option::of("[A-Za-z0-9 ]{0,20}"))),
        proptest::option::of(webhook()),
        proptest::collection::vec(proptest::sample::select(VARIABLES.to_vec()), 0..2),
    )
        .prop_map(|(ding, wecom, feishu, slack, orphans)| {
            let mut vars = HashMap::new();
            let mut tokens = Vec::new();
            let nonblank = |s: &str| {
                let t = s.trim();
                (!t.is_empty()).then(|| t.to_string())
            };
            let dingtalk = ding.map(|((url, token), secret, (ms_text, ms), keyword)| {
                vars.insert("DINGTALK_WEBHOOK".to_string(), format!(" {url} "));
                tokens.push(token);
                if let Some(s) = &secret {
                    vars.insert("DINGTALK_SECRET".to_string(), s.clone());
                }
                vars.insert("DINGTALK_AT_MOBILES".to_string(), ms_text);
                if let Some(k) = &keyword {
                    vars.insert("DINGTALK_KEYWORD".to_string(), k.clone());
                }
                (
                    url,
                    secret.as_deref().and_then(nonblank),
                    ms,
                    keyword.as_deref().and_then(nonblank),
                )
            });
            let wecom = wecom.map(|((url, token), (ms_text, ms))| {
                vars.insert("WECOM_WEBHOOK".to_string(), url.clone());
                tokens.push(token);
                vars.insert("WECOM_AT_MOBILES".to_string(), ms_text);
                (url, ms)
            });
            let feishu = feishu.map(|((url, token), secret)| {
                vars.insert("FEISHU_WEBHOOK".to_string(), url.clone());
                tokens.push(token);
                if let Some(s) = &secret {
                    vars.insert("FEISHU_SECRET".to_string(), s.clone());
                }
                (url, secret.as_deref().and_then(nonblank))
            });
            let slack = slack.map(|(url, token)| {
                vars.insert("SLACK_WEBHOOK".to_string(), url.clone());
                tokens.push(token);
                url
            });
            // A variable whose webhook is not set is ignored (with a warning).
            for var in orphans {
                let prefix = var.split('_').next().unwrap_or("");
                let webhook = format!("{prefix}_WEBHOOK");
                if !var.ends_with("_WEBHOOK") && !vars.contains_key(&webhook) {
                    vars.insert(var.to_string(), "x".to_string());
                }
            }
            Env {
                vars,
                dingtalk,
                wecom,
                feishu,
                slack,
                tokens,
            }
        })
}

#[test]
fn a_valid_environment_gives_the_channels_it_names() {
    fuzz("channels_roundtrip", 256, env(), |e| {
        let s = ChannelSettings::from_lookup(lookup(e.vars.clone()))
            .map_err(|err| TestCaseError::fail(format!("{err}: {:?}", e.vars)))?;
        match (&e.dingtalk, &s.dingtalk) {
            (Some((url, secret, ms, keyword)), Some(d)) => {
                prop_assert_eq!(d.webhook.expose(), url.as_str());
                prop_assert_eq!(d.secret.as_ref().map(|s| s.expose()), secret.as_deref());
                prop_assert_eq!(&d.at_mobiles, ms);
                prop_assert_eq!(&d.keyword, keyword);
            }
            (None, None) => {}
            (want, got) => prop_assert!(false, "dingtalk {:?} → {:?}", want, got),
        }
        match (&e.wecom, &s.wecom) {
            (Some((url, ms)), Some(w)) => {
                prop_assert_eq!(w.webhook.expose(), url.as_str());
                prop_assert_eq!(&w.at_mobiles, ms);
            }
            (None, None) => {}
            (want, got) => prop_assert!(false, "wecom {:?} → {:?}", want, got),
        }
        match (&e.feishu, &s.feishu) {
            (Some((url, secret)), Some(f)) => {
                prop_assert_eq!(f.webhook.expose(), url.as_str());
                prop_assert_eq!(f.secret.as_ref().map(|s| s.expose()), secret.as_deref());
            }
            (None, None) => {}
            (want, got) => prop_assert!(false, "feishu {:?} → {:?}", want, got),
        }
        prop_assert_eq!(s.slack.as_ref().map(|s| s.expose()), e.slack.as_deref());
        let shown = format!("{s:?}");
        for t in &e.tokens {
            prop_assert!(!shown.contains(t.as_str()), "{}", shown);
        }
        // The channels are built in the documented order.
        let names: Vec<&str> = channels_from_lookup(lookup(e.vars.clone()))
            .map_err(|err| TestCaseError::fail(err.to_string()))?
            .iter()
            .map(|c| c.name())
            .collect();
        let want: Vec<&str> = [
            e.dingtalk.as_ref().map(|_| "dingtalk"),
            e.wecom.as_ref().map(|_| "wecom"),
            e.feishu.as_ref().map(|_| "feishu"),
            e.slack.as_ref().map(|_| "slack"),
        ]
        .into_iter()
        .flatten()
        .collect();
        prop_assert_eq!(names, want);
        Ok(())
    });
}

/// A webhook that is not an http(s) URL: another scheme, no scheme, a cut or
/// spliced one. Its token must not show in the error.
fn bad_webhook() -> impl Strategy<Value = (String, String)> {
    (
        webhook(),
        prop_oneof![
            Just("ftp"),
            Just("file"),
            Just("javascript"),
            Just(""),
            Just("https:"),
            Just("ht tp")
        ],
        odd_text(),
    )
        .prop_map(|((url, token), scheme, junk)| {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            let bad = match scheme {
                "" => rest.to_string(),
                "https:" => format!("https:{junk}/{rest}"),
                s => format!("{s}://{rest}"),
            };
            (bad, token)
        })
}

#[test]
fn a_bad_webhook_or_mobile_list_is_named_and_hides_the_token() {
    let strategy = (
        env(),
        proptest::sample::select(
            &[
                "DINGTALK_WEBHOOK",
                "WECOM_WEBHOOK",
                "FEISHU_WEBHOOK",
                "SLACK_WEBHOOK",
                "DINGTALK_AT_MOBILES",
                "WECOM_AT_MOBILES",
            ][..],
        ),
        bad_webhook(),
        prop_oneof![
            Just("abc".to_string()),
            Just("@all".to_string()),
            Just("+".to_string()),
            "[0-9]{21,30}",
            odd_text()
        ],
    );
    fuzz(
        "channels_one_bad",
        384,
        strategy,
        |(mut e, var, (bad_url, token), bad_mobile)| {
            // The channel's orphans (ignored while its webhook is unset, `x`)
            // would come alive with the webhook set below: only `var` is bad.
            let prefix = format!("{}_", var.split('_').next().unwrap_or(""));
            e.vars.retain(|k, v| !(k.starts_with(&prefix) && v == "x"));
            let value = if var.ends_with("_WEBHOOK") {
                bad_url
            } else {
                // A list with one bad mobile needs its webhook.
                let webhook = var.replace("_AT_MOBILES", "_WEBHOOK");
                e.vars
                    .entry(webhook)
                    .or_insert_with(|| "https://x.example.cn/hook".to_string());
                format!("13800001234,{bad_mobile}")
            };
            e.vars.insert(var.to_string(), value.clone());
            match ChannelSettings::from_lookup(lookup(e.vars.clone())) {
                // Some junk is a valid value after all (a URL parser is lenient,
                // `@all` is fine for WeCom, odd text may be blank or a number).
                Ok(_) => {}
                Err(err) => {
                    prop_assert_eq!(err.var, var, "{:?}", value);
                    let shown = err.to_string();
                    bounded("config error", &shown, MAX_ERROR)?;
                    prop_assert!(!shown.contains(&token), "{}", shown);
                    for t in &e.tokens {
                        prop_assert!(!shown.contains(t.as_str()), "{}", shown);
                    }
                }
            }
            Ok(())
        },
    );
}

#[test]
fn any_environment_gives_channels_or_a_bounded_error() {
    let value = prop_oneof![
        3 => hostile_text(),
        1 => webhook().prop_map(|(u, _)| u),
        1 => bad_webhook().prop_map(|(u, _)| u),
        1 => mobiles(true).prop_map(|(m, _)| m),
    ];
    let strategy = proptest::collection::hash_map(
        proptest::sample::select(VARIABLES.to_vec()).prop_map(str::to_string),
        value,
        0..8,
    );
    fuzz("channels_hostile", 512, strategy, |vars| {
        match ChannelSettings::from_lookup(lookup(vars.clone())) {
            Ok(s) => {
                if let Some(d) = &s.dingtalk {
                    prop_assert!(d.at_mobiles.iter().all(|m| !m.is_empty() && m.len() <= 21));
                }
            }
            Err(e) => {
                prop_assert!(VARIABLES.contains(&e.var));
                let shown = e.to_string();
                bounded("config error", &shown, MAX_ERROR)?;
                // A webhook's path and query never show.
                if e.var.ends_with("_WEBHOOK") {
                    let raw = vars.get(e.var).map(String::as_str).unwrap_or("");
                    for secret in raw.split(['/', '?', '&', '=']).skip(3) {
                        prop_assert!(
                            secret.trim().len() < 10 || !shown.contains(secret.trim()),
                            "{}",
                            shown
                        );
                    }
                }
            }
        }
        Ok(())
    });
}
