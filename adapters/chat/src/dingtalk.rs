//! DingTalk custom robot (钉钉自定义机器人): markdown messages, signed requests
//! (加签: `timestamp` in ms and `sign` = Base64(HMAC-SHA256(secret, timestamp +
//! "\n" + secret)) as query parameters), keyword mode (the robot's custom keyword is
//! added to messages that lack it), `@` of on-call mobiles, and the
//! `{"errcode","errmsg"}` reply mapped to [`ChannelError`].
//!
//! | `errcode` | meaning (channels.md) | class |
//! |---|---|---|
//! | `0` | ok | — |
//! | `310000` | security check failed (keyword, signature, timestamp, IP) | [`ChannelError::Rejected`] |
//! | `300001` | bad token | [`ChannelError::Rejected`] |
//! | `130101` | sending too fast | [`ChannelError::RateLimited`] (throttled ~[`THROTTLE`]) |
//! | `460101` | message too large | [`ChannelError::TooLarge`] |
//! | other | errmsg kept | [`ChannelError::Other`] |

use serde_json::{json, Value};

use super::{
    check_coded_reply, coded_error, errcode_of, hmac_sha256_base64, http_client, post_json,
    ChannelError, Redactor,
};
use shared::secret::Secret;

/// The robot's documented rate: 20 messages a minute (channels.md, HIGH).
pub const MESSAGES_PER_MINUTE: u32 = 20;

/// A robot that exceeded its rate is throttled for about ten minutes
/// (channels.md, HIGH).
pub const THROTTLE: std::time::Duration = std::time::Duration::from_secs(600);

/// The largest request body DingTalk takes: about 20 KB (channels.md, MED).
pub const BODY_LIMIT_BYTES: usize = 20_000;

/// The text budget of one message: [`BODY_LIMIT_BYTES`] less 4 KB for the JSON
/// envelope, the title (up to [`super::TITLE_MAX_BYTES`]), the keyword, the `@`
/// mentions and the markdown line breaks (`"  \n"` per line).
pub const MAX_TEXT_BYTES: usize = 16_000;

/// `sign` for a timestamp (ms), before URL encoding.
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    hmac_sha256_base64(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    )
}

#[derive(Clone, Debug)]
pub struct DingTalk {
    /// The webhook URL with its access token (a secret: never logged).
    webhook: Secret,
    secret: Option<Secret>,
    at_mobiles: Vec<String>,
    /// Keyword mode: added to title and text when they lack it.
    keyword: Option<String>,
    client: reqwest::Client,
    redact: Redactor,
}

impl DingTalk {
    pub fn new(
        webhook: Secret,
        secret: Option<Secret>,
        at_mobiles: Vec<String>,
    ) -> Result<Self, ChannelError> {
        let redact = Redactor::new(&webhook, secret.as_ref());
        Ok(Self {
            webhook,
            secret,
            at_mobiles,
            keyword: None,
            client: http_client()?,
            redact,
        })
    }

    /// Keyword mode (the robot's "custom keywords" security setting): a title or
    /// text that does not contain `keyword` gets it as a prefix, so the robot
    /// accepts every message. `None` or blank turns it off.
    pub fn with_keyword(mut self, keyword: Option<String>) -> Self {
        self.keyword = keyword
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty());
        self
    }

    /// The URL for one request: the webhook, plus timestamp and sign in signed mode.
    pub fn url(&self, now_ms: i64) -> String {
        match &self.secret {
            None => self.webhook.expose().to_string(),
            Some(secret) => {
                let sign: String =
                    form_urlencoded::byte_serialize(sign(secret.expose(), now_ms).as_bytes())
                        .collect();
                let sep = if self.webhook.expose().contains('?') {
                    '&'
                } else {
                    '?'
                };
                format!(
                    "{}{sep}timestamp={now_ms}&sign={sign}",
                    self.webhook.expose()
                )
            }
        }
    }

    /// The markdown body; the on-call mobiles are `@`-ed (DingTalk needs them in the
    /// text too).
    pub fn body(&self, title: &str, text: &str) -> Value {
        let (title, text) = match &self.keyword {
            Some(k) => (with_keyword(k, title), with_keyword(k, text)),
            None => (title.to_string(), text.to_string()),
        };
        let mut text = text.replace('\n', "  \n");
        for m in &self.at_mobiles {
            text.push_str(&format!(" @{m}"));
        }
        json!({
            "msgtype": "markdown",
            "markdown": {"title": title, "text": text},
            "at": {"atMobiles": self.at_mobiles, "isAtAll": false},
        })
    }

    /// Sends one markdown message; `now_ms` (Unix ms, wall clock) signs it.
    pub async fn send(&self, title: &str, text: &str, now_ms: i64) -> Result<(), ChannelError> {
        let result = async {
            let reply = post_json(
                &self.client,
                "dingtalk",
                &self.url(now_ms),
                &self.body(title, text),
            )
            .await?;
            check_coded_reply("dingtalk", &reply, errcode_of, code_error)
        }
        .await;
        result.map_err(|e| self.redact.error(e))
    }
}

/// `s`, prefixed with `keyword` unless it already contains it.
fn with_keyword(keyword: &str, s: &str) -> String {
    if s.contains(keyword) {
        s.to_string()
    } else {
        format!("{keyword} {s}")
    }
}

fn code_error(code: i64, msg: &str) -> ChannelError {
    let detail = format!("dingtalk {code} {msg}");
    match code {
        310000 | 300001 => ChannelError::Rejected(detail),
        130101 => ChannelError::rate_limited(detail),
        460101 => ChannelError::TooLarge(detail),
        _ => ChannelError::Other(detail),
    }
}

/// The error a DingTalk reply body stands for, if any.
pub fn reply_error(v: &Value) -> Option<ChannelError> {
    coded_error(v, errcode_of, code_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_sign_vector() {
        assert_eq!(
            sign("SECtest0123456789", 1_700_000_000_000),
            "yBKp5IlG6qCzcQWmgyRK/ziJBdVNJmHfFE2ST/CzT/g="
        );
    }

    #[test]
    fn signed_url_and_body() {
        let d = DingTalk::new(
            Secret::new("https://oapi.dingtalk.com/robot/send?access_token=TOKEN"),
            Some(Secret::new("SECtest0123456789")),
            vec!["13800001234".into()],
        )
        .unwrap();
        assert_eq!(
            d.url(1_700_000_000_000),
            "https://oapi.dingtalk.com/robot/send?access_token=TOKEN&timestamp=1700000000000&sign=yBKp5IlG6qCzcQWmgyRK%2FziJBdVNJmHfFE2ST%2FCzT%2Fg%3D"
        );
        let b = d.body("t", "a\nb");
        assert_eq!(b["msgtype"], "markdown");
        assert!(b["markdown"]["text"]
            .as_str()
            .unwrap()
            .ends_with("@13800001234"));
        assert!(!format!("{d:?}").contains("TOKEN"));
    }

    #[test]
    fn replies() {
        assert_eq!(reply_error(&json!({"errcode": 0, "errmsg": "ok"})), None);
        assert!(matches!(
            reply_error(&json!({"errcode": 310000, "errmsg": "sign not match"})),
            Some(ChannelError::Rejected(_))
        ));
        assert!(matches!(
            reply_error(&json!({"errcode": 130101, "errmsg": "send too fast"})),
            Some(ChannelError::RateLimited { .. })
        ));
        assert!(matches!(
            reply_error(&json!({"errcode": 1, "errmsg": "x"})),
            Some(ChannelError::Other(_))
        ));
        assert!(matches!(
            reply_error(&json!({"errcode": 460101, "errmsg": "message too long"})),
            Some(ChannelError::TooLarge(_))
        ));
        assert!(matches!(
            reply_error(&json!({"errcode": 300001, "errmsg": "token is not exist"})),
            Some(ChannelError::Rejected(_))
        ));
        assert_eq!(reply_error(&json!({"no": "code"})), None);
    }

    #[test]
    fn keyword_mode_adds_the_keyword_once() {
        let d = DingTalk::new(
            Secret::new("https://oapi.dingtalk.com/robot/send?access_token=TOKEN"),
            None,
            vec![],
        )
        .unwrap()
        .with_keyword(Some(" 包裹 ".into()));
        let b = d.body("物流停滞", "运单 1");
        assert_eq!(b["markdown"]["title"], "包裹 物流停滞");
        assert_eq!(b["markdown"]["text"], "包裹 运单 1");
        let b = d.body("包裹预警", "第二行\n包裹 运单 2");
        assert_eq!(b["markdown"]["title"], "包裹预警");
        assert_eq!(b["markdown"]["text"], "第二行  \n包裹 运单 2");
        // Off: unchanged, and the unsigned URL is the webhook itself.
        let d = d.with_keyword(Some("  ".into()));
        assert_eq!(d.body("t", "x")["markdown"]["title"], "t");
        assert_eq!(
            d.url(1),
            "https://oapi.dingtalk.com/robot/send?access_token=TOKEN"
        );
    }
}
