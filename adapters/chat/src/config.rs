//! The chat channels' configuration: the variables of the crate documentation's
//! table, read (from the environment or any lookup), checked, and turned into
//! [`ChatChannel`]s.

use shared::config::ConfigError;
use shared::secret::Secret;

use crate::{ChannelError, ChatChannel, DingTalk, Feishu, Slack, WeCom};

/// Every variable this module reads.
pub const VARIABLES: [&str; 9] = [
    "DINGTALK_WEBHOOK",
    "DINGTALK_SECRET",
    "DINGTALK_AT_MOBILES",
    "DINGTALK_KEYWORD",
    "WECOM_WEBHOOK",
    "WECOM_AT_MOBILES",
    "FEISHU_WEBHOOK",
    "FEISHU_SECRET",
    "SLACK_WEBHOOK",
];

/// The variables that hold secrets (a webhook URL carries the robot's token), which
/// may also come from SSM parameters on AWS (`DINGTALK_WEBHOOK_PARAMETER` names the
/// parameter holding `DINGTALK_WEBHOOK`, ...; see `sentinel_aws::secrets`).
pub const SECRET_VARIABLES: [&str; 6] = [
    "DINGTALK_WEBHOOK",
    "DINGTALK_SECRET",
    "WECOM_WEBHOOK",
    "FEISHU_WEBHOOK",
    "FEISHU_SECRET",
    "SLACK_WEBHOOK",
];

/// DingTalk robot settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DingTalkSettings {
    pub webhook: Secret,
    pub secret: Option<Secret>,
    pub at_mobiles: Vec<String>,
    pub keyword: Option<String>,
}

/// WeCom robot settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeComSettings {
    pub webhook: Secret,
    pub at_mobiles: Vec<String>,
}

/// Feishu bot settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeishuSettings {
    pub webhook: Secret,
    pub secret: Option<Secret>,
}

/// The chat channels configured, as read from the environment (see the module
/// documentation for the variables).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelSettings {
    pub dingtalk: Option<DingTalkSettings>,
    pub wecom: Option<WeComSettings>,
    pub feishu: Option<FeishuSettings>,
    pub slack: Option<Secret>,
}

/// The configured channels, from the process environment.
pub fn channels_from_env() -> Result<Vec<ChatChannel>, ConfigError> {
    channels_from_lookup(|k| std::env::var(k).ok())
}

/// The configured channels (DingTalk, WeCom, Feishu, Slack, in that order; none
/// is an empty list), reading variables through `get` (tests pass a map).
pub fn channels_from_lookup(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Vec<ChatChannel>, ConfigError> {
    ChannelSettings::from_lookup(get)?.build()
}

impl ChannelSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the variables through `get`. Empty counts as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let orphan = |var: &str, needs: &str| {
            if get(var).is_some() && get(needs).is_none() {
                tracing::warn!("{var} is set but {needs} is not: ignored");
            }
        };
        orphan("DINGTALK_SECRET", "DINGTALK_WEBHOOK");
        orphan("DINGTALK_AT_MOBILES", "DINGTALK_WEBHOOK");
        orphan("DINGTALK_KEYWORD", "DINGTALK_WEBHOOK");
        orphan("WECOM_AT_MOBILES", "WECOM_WEBHOOK");
        orphan("FEISHU_SECRET", "FEISHU_WEBHOOK");

        let dingtalk = match get("DINGTALK_WEBHOOK") {
            None => None,
            Some(url) => Some(DingTalkSettings {
                webhook: webhook("DINGTALK_WEBHOOK", &url)?,
                secret: get("DINGTALK_SECRET").map(Secret::new),
                at_mobiles: mobiles("DINGTALK_AT_MOBILES", get("DINGTALK_AT_MOBILES"), false)?,
                keyword: get("DINGTALK_KEYWORD"),
            }),
        };
        let wecom = match get("WECOM_WEBHOOK") {
            None => None,
            Some(url) => Some(WeComSettings {
                webhook: webhook("WECOM_WEBHOOK", &url)?,
                at_mobiles: mobiles("WECOM_AT_MOBILES", get("WECOM_AT_MOBILES"), true)?,
            }),
        };
        let feishu = match get("FEISHU_WEBHOOK") {
            None => None,
            Some(url) => Some(FeishuSettings {
                webhook: webhook("FEISHU_WEBHOOK", &url)?,
                secret: get("FEISHU_SECRET").map(Secret::new),
            }),
        };
        let slack = get("SLACK_WEBHOOK")
            .map(|url| webhook("SLACK_WEBHOOK", &url))
            .transpose()?;
        Ok(Self {
            dingtalk,
            wecom,
            feishu,
            slack,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.dingtalk.is_none()
            && self.wecom.is_none()
            && self.feishu.is_none()
            && self.slack.is_none()
    }

    /// The clients (each with its own HTTP client).
    pub fn build(&self) -> Result<Vec<ChatChannel>, ConfigError> {
        let client_error = |var: &'static str| {
            move |e: ChannelError| ConfigError {
                var,
                token: String::new(),
                reason: format!("cannot set up the HTTP client: {e}"),
            }
        };
        let mut out = Vec::new();
        if let Some(d) = &self.dingtalk {
            let c = DingTalk::new(d.webhook.clone(), d.secret.clone(), d.at_mobiles.clone())
                .map_err(client_error("DINGTALK_WEBHOOK"))?
                .with_keyword(d.keyword.clone());
            out.push(ChatChannel::DingTalk(c));
        }
        if let Some(w) = &self.wecom {
            let c = WeCom::new(w.webhook.clone(), w.at_mobiles.clone())
                .map_err(client_error("WECOM_WEBHOOK"))?;
            out.push(ChatChannel::WeCom(c));
        }
        if let Some(f) = &self.feishu {
            let c = Feishu::new(f.webhook.clone(), f.secret.clone())
                .map_err(client_error("FEISHU_WEBHOOK"))?;
            out.push(ChatChannel::Feishu(c));
        }
        if let Some(s) = &self.slack {
            let c = Slack::new(s.clone()).map_err(client_error("SLACK_WEBHOOK"))?;
            out.push(ChatChannel::Slack(c));
        }
        Ok(out)
    }
}

/// An http(s) URL with a host; the error shows only its scheme and host.
fn webhook(var: &'static str, raw: &str) -> Result<Secret, ConfigError> {
    match reqwest::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(Secret::new(raw))
        }
        Ok(u) => Err(ConfigError {
            var,
            token: format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")),
            reason: "expected an http(s) URL".into(),
        }),
        Err(_) => Err(ConfigError {
            var,
            token: "***".into(),
            reason: "expected an http(s) URL (value hidden: it may hold a token)".into(),
        }),
    }
}

/// A comma list of mobiles: digits with an optional leading `+` and inner `-`
/// (and `@all` where allowed).
fn mobiles(
    var: &'static str,
    raw: Option<String>,
    allow_all: bool,
) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|m| {
            let digits = m.strip_prefix('+').unwrap_or(m);
            let ok = (allow_all && m == "@all")
                || (!digits.is_empty()
                    && digits.len() <= 20
                    && digits.starts_with(|c: char| c.is_ascii_digit())
                    && digits.chars().all(|c| c.is_ascii_digit() || c == '-'));
            if ok {
                Ok(m.to_string())
            } else {
                Err(ConfigError {
                    var,
                    token: m.to_string(),
                    reason: if allow_all {
                        "expected a comma list of mobile numbers or @all".into()
                    } else {
                        "expected a comma list of mobile numbers".into()
                    },
                })
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(crate) fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn no_variables_no_channels() {
        let s = ChannelSettings::from_lookup(lookup(&[])).unwrap();
        assert!(s.is_empty());
        assert!(channels_from_lookup(lookup(&[("SLACK_WEBHOOK", "  ")]))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn all_four_at_once() {
        let chans = channels_from_lookup(lookup(&[
            (
                "DINGTALK_WEBHOOK",
                "https://oapi.dingtalk.com/robot/send?access_token=abc",
            ),
            ("DINGTALK_SECRET", "SECx"),
            ("DINGTALK_AT_MOBILES", "13800001234, 13900005678,"),
            ("DINGTALK_KEYWORD", "包裹"),
            (
                "WECOM_WEBHOOK",
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
            ),
            ("WECOM_AT_MOBILES", "@all"),
            (
                "FEISHU_WEBHOOK",
                "https://open.feishu.cn/open-apis/bot/v2/hook/t",
            ),
            ("FEISHU_SECRET", ""),
            ("SLACK_WEBHOOK", "https://hooks.slack.com/services/T/B/X"),
        ]))
        .unwrap();
        let names: Vec<_> = chans.iter().map(ChatChannel::name).collect();
        assert_eq!(names, ["dingtalk", "wecom", "feishu", "slack"]);
        let s = ChannelSettings::from_lookup(lookup(&[
            (
                "DINGTALK_WEBHOOK",
                "http://127.0.0.1:9/robot/send?access_token=abc",
            ),
            ("DINGTALK_AT_MOBILES", "13800001234, +86-13900005678,"),
            ("DINGTALK_KEYWORD", " 包裹 "),
            (
                "FEISHU_WEBHOOK",
                "https://open.feishu.cn/open-apis/bot/v2/hook/t",
            ),
            ("FEISHU_SECRET", "   "),
        ]))
        .unwrap();
        let d = s.dingtalk.unwrap();
        assert_eq!(d.at_mobiles, ["13800001234", "+86-13900005678"]);
        assert_eq!(d.keyword.as_deref(), Some("包裹"));
        assert_eq!(d.secret, None);
        assert_eq!(s.feishu.unwrap().secret, None);
        assert!(s.wecom.is_none() && s.slack.is_none());
    }

    #[test]
    fn bad_webhooks_name_the_variable_and_hide_the_token() {
        let e = channels_from_lookup(lookup(&[(
            "WECOM_WEBHOOK",
            "ftp://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRETKEY123",
        )]))
        .unwrap_err();
        assert_eq!(e.var, "WECOM_WEBHOOK");
        assert_eq!(e.token, "ftp://qyapi.weixin.qq.com");
        assert!(!e.to_string().contains("SECRETKEY123"), "{e}");

        let e = channels_from_lookup(lookup(&[(
            "SLACK_WEBHOOK",
            "hooks.slack.com/services/T0/B0/SECRETPATH99",
        )]))
        .unwrap_err();
        assert_eq!(e.var, "SLACK_WEBHOOK");
        assert!(!e.to_string().contains("SECRETPATH99"), "{e}");
        assert!(!e.to_string().contains("hooks.slack.com/services"), "{e}");
    }

    #[test]
    fn bad_mobiles_are_errors() {
        let e = ChannelSettings::from_lookup(lookup(&[
            (
                "DINGTALK_WEBHOOK",
                "https://oapi.dingtalk.com/robot/send?access_token=a",
            ),
            ("DINGTALK_AT_MOBILES", "138 0000,@all"),
        ]))
        .unwrap_err();
        assert_eq!(e.var, "DINGTALK_AT_MOBILES");
        assert_eq!(e.token, "138 0000");
        // `@all` is WeCom's only.
        let e = ChannelSettings::from_lookup(lookup(&[
            (
                "DINGTALK_WEBHOOK",
                "https://oapi.dingtalk.com/robot/send?access_token=a",
            ),
            ("DINGTALK_AT_MOBILES", "@all"),
        ]))
        .unwrap_err();
        assert_eq!(e.token, "@all");
        let s = ChannelSettings::from_lookup(lookup(&[
            (
                "WECOM_WEBHOOK",
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
            ),
            ("WECOM_AT_MOBILES", "13800001234,@all"),
        ]))
        .unwrap();
        assert_eq!(s.wecom.unwrap().at_mobiles, ["13800001234", "@all"]);
    }

    #[test]
    fn debug_hides_webhooks_and_secrets() {
        let s = ChannelSettings::from_lookup(lookup(&[
            (
                "DINGTALK_WEBHOOK",
                "https://oapi.dingtalk.com/robot/send?access_token=TOKEN1",
            ),
            ("DINGTALK_SECRET", "SECRET1"),
            (
                "SLACK_WEBHOOK",
                "https://hooks.slack.com/services/T/B/TOKEN2",
            ),
        ]))
        .unwrap();
        let chans = s.build().unwrap();
        let shown = format!("{s:?} {chans:?}");
        for secret in ["TOKEN1", "SECRET1", "TOKEN2"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
