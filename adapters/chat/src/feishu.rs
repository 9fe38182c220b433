//! Feishu / Lark custom bot (飞书自定义机器人): `msg_type: "text"` messages
//! (content `title\n` + text: the text type is accepted by every bot, keyword
//! checks see the whole message, and nothing needs escaping), optionally signed
//! (`timestamp` in **seconds** and `sign` = Base64(HMAC-SHA256(key = timestamp +
//! "\n" + secret, message = empty)), both in the JSON body).
//!
//! Replies are `{"code":0,"msg":"success"}`, or `{"StatusCode":0,
//! "StatusMessage":"success"}` from older versions: either is accepted.
//!
//! | code | meaning (channels.md, MED) | class |
//! |---|---|---|
//! | `0` | ok | — |
//! | `19021` | signature or timestamp check failed | [`ChannelError::Rejected`] |
//! | `19022` | IP not allowed | [`ChannelError::Rejected`] |
//! | `19024` | keyword check failed | [`ChannelError::Rejected`] |
//! | `11232` | frequency limited | [`ChannelError::RateLimited`] |
//! | other | msg kept | [`ChannelError::Other`] |

use std::time::Duration;

use serde_json::{json, Value};

use super::{
    check_coded_reply, coded_error, hmac_sha256_base64, http_client, post_json, ChannelError,
    ChatMessage, Redactor,
};
use shared::secret::Secret;

/// 100 requests per minute per bot (channels.md, MED).
pub const MESSAGES_PER_MINUTE: u32 = 100;

/// ... and 5 per second (channels.md, MED).
pub const MESSAGES_PER_SECOND: u32 = 5;

/// After an `11232` the minute window has to pass (our reading of the per-minute
/// limit; Feishu names no wait).
pub const THROTTLE: Duration = Duration::from_secs(60);

/// The largest request body: 20 KB (channels.md, MED).
pub const BODY_LIMIT_BYTES: usize = 20_000;

/// The text budget: [`BODY_LIMIT_BYTES`] less 4 KB for the envelope, the
/// signature, the title and JSON escapes (`\n` per line).
pub const MAX_TEXT_BYTES: usize = 16_000;

/// `sign` for a timestamp in seconds: the key is `timestamp + "\n" + secret`, the
/// message empty (the other way round from DingTalk).
pub fn sign(secret: &str, timestamp_s: i64) -> String {
    hmac_sha256_base64(format!("{timestamp_s}\n{secret}").as_bytes(), b"")
}

#[derive(Clone, Debug)]
pub struct Feishu {
    /// The webhook URL with its token (a secret: never logged).
    webhook: Secret,
    secret: Option<Secret>,
    client: reqwest::Client,
    redact: Redactor,
}

impl Feishu {
    /// `secret` set: signed mode.
    pub fn new(webhook: Secret, secret: Option<Secret>) -> Result<Self, ChannelError> {
        Ok(Self {
            redact: Redactor::new(&webhook, secret.as_ref()),
            webhook,
            secret,
            client: http_client()?,
        })
    }

    /// The request body; in signed mode with `timestamp` (seconds of `now_ms`) and
    /// `sign`.
    pub fn body(&self, message: &ChatMessage, now_ms: i64) -> Value {
        let mut body = json!({
            "msg_type": "text",
            "content": {"text": format!("{}\n{}", message.title, message.text)},
        });
        if let Some(secret) = &self.secret {
            let ts = now_ms.div_euclid(1000);
            body["timestamp"] = json!(ts.to_string());
            body["sign"] = json!(sign(secret.expose(), ts));
        }
        body
    }

    /// Sends one message; `now_ms` (Unix ms, wall clock) signs it.
    pub async fn send(&self, message: &ChatMessage, now_ms: i64) -> Result<(), ChannelError> {
        let result = async {
            let reply = post_json(
                &self.client,
                "feishu",
                self.webhook.expose(),
                &self.body(message, now_ms),
            )
            .await?;
            check_coded_reply("feishu", &reply, reply_code, code_error)
        }
        .await;
        result.map_err(|e| self.redact.error(e))
    }
}

/// `code`/`msg`, or the older `StatusCode`/`StatusMessage`.
fn reply_code(v: &Value) -> Option<(i64, String)> {
    let code = v
        .get("code")
        .or_else(|| v.get("StatusCode"))
        .and_then(Value::as_i64)?;
    let msg = v
        .get("msg")
        .or_else(|| v.get("StatusMessage"))
        .and_then(Value::as_str)
        .unwrap_or("");
    Some((code, msg.to_string()))
}

fn code_error(code: i64, msg: &str) -> ChannelError {
    let detail = format!("feishu {code} {msg}");
    match code {
        19021 | 19022 | 19024 => ChannelError::Rejected(detail),
        11232 => ChannelError::rate_limited(detail),
        _ => ChannelError::Other(detail),
    }
}

/// The error a Feishu reply body stands for, if any.
pub fn reply_error(v: &Value) -> Option<ChannelError> {
    coded_error(v, reply_code, code_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_sign_vector() {
        assert_eq!(
            sign("feishu-secret-01", 1_700_000_000),
            "qQJDh0DjcKtraQn8sDRgB4PJYlekJFFEe2kwFVFk3C8="
        );
    }

    #[test]
    fn signed_body_carries_seconds_and_sign() {
        let f = Feishu::new(
            Secret::new("https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN-0001"),
            Some(Secret::new("feishu-secret-01")),
        )
        .unwrap();
        let b = f.body(&ChatMessage::new("物流停滞", "运单 1"), 1_700_000_000_999);
        assert_eq!(b["timestamp"], "1700000000");
        assert_eq!(b["sign"], "qQJDh0DjcKtraQn8sDRgB4PJYlekJFFEe2kwFVFk3C8=");
        assert_eq!(b["msg_type"], "text");
        assert_eq!(b["content"]["text"], "物流停滞\n运单 1");
        assert!(!format!("{f:?}").contains("TOKEN-0001"));
        assert!(!format!("{f:?}").contains("feishu-secret-01"));

        let unsigned = Feishu::new(
            Secret::new("https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN-0001"),
            None,
        )
        .unwrap();
        let b = unsigned.body(&ChatMessage::new("t", "x"), 1_700_000_000_000);
        assert!(b.get("timestamp").is_none() && b.get("sign").is_none());
    }

    #[test]
    fn replies_new_and_old_shapes() {
        assert_eq!(reply_error(&json!({"code": 0, "msg": "success"})), None);
        assert_eq!(
            reply_error(&json!({"Extra": null, "StatusCode": 0, "StatusMessage": "success"})),
            None
        );
        assert!(matches!(
            reply_error(
                &json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"})
            ),
            Some(ChannelError::Rejected(_))
        ));
        assert!(matches!(
            reply_error(&json!({"code": 19024, "msg": "Key Words Not Found"})),
            Some(ChannelError::Rejected(_))
        ));
        assert!(matches!(
            reply_error(&json!({"code": 11232, "msg": "frequency limited"})),
            Some(ChannelError::RateLimited { .. })
        ));
        assert!(matches!(
            reply_error(&json!({"StatusCode": 9499, "StatusMessage": "Bad Request"})),
            Some(ChannelError::Other(m)) if m.contains("9499 Bad Request")
        ));
    }
}
