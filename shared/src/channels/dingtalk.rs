//! DingTalk custom robot (钉钉自定义机器人): markdown messages, signed requests
//! (加签: `timestamp` in ms and `sign` = Base64(HMAC-SHA256(secret, timestamp +
//! "\n" + secret)) as query parameters), `@` of on-call mobiles, and the
//! `{"errcode","errmsg"}` reply mapped to [`ChannelError`].

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::ChannelError;
use crate::providers::Secret;

/// The robot's documented rate: 20 messages a minute.
pub const MESSAGES_PER_MINUTE: u32 = 20;

/// `sign` for a timestamp (ms), before URL encoding.
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    let to_sign = format!("{timestamp_ms}\n{secret}");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(Clone, Debug)]
pub struct DingTalk {
    /// The webhook URL with its access token (a secret: never logged).
    webhook: Secret,
    secret: Option<Secret>,
    at_mobiles: Vec<String>,
    client: reqwest::Client,
}

impl DingTalk {
    pub fn new(
        webhook: Secret,
        secret: Option<Secret>,
        at_mobiles: Vec<String>,
    ) -> Result<Self, ChannelError> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| ChannelError::Other(e.to_string()))?;
        Ok(Self {
            webhook,
            secret,
            at_mobiles,
            client,
        })
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

    pub async fn send(&self, title: &str, text: &str, now_ms: i64) -> Result<(), ChannelError> {
        let resp = self
            .client
            .post(self.url(now_ms))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(self.body(title, text).to_string())
            .send()
            .await
            .map_err(|e| ChannelError::Transient(format!("dingtalk: {}", e.without_url())))?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(ChannelError::Transient(format!(
                "dingtalk answered HTTP {status}"
            )));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| ChannelError::Transient(format!("dingtalk: {}", e.without_url())))?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| ChannelError::Other(format!("dingtalk reply is not JSON: {e}")))?;
        reply_error(&v).map_or(Ok(()), Err)
    }
}

/// The error a DingTalk reply stands for, if any.
pub fn reply_error(v: &Value) -> Option<ChannelError> {
    let code = v.get("errcode").and_then(Value::as_i64)?;
    let msg = v
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match code {
        0 => None,
        310000 | 300001 => Some(ChannelError::Rejected(format!("{code} {msg}"))),
        130101 => Some(ChannelError::RateLimited(format!("{code} {msg}"))),
        460101 => Some(ChannelError::TooLarge(format!("{code} {msg}"))),
        _ => Some(ChannelError::Other(format!("{code} {msg}"))),
    }
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
            Some(ChannelError::RateLimited(_))
        ));
        assert!(matches!(
            reply_error(&json!({"errcode": 1, "errmsg": "x"})),
            Some(ChannelError::Other(_))
        ));
    }
}
