//! Slack incoming webhook: `{"text": "*title*\ntext"}` (mrkdwn, the default for
//! `text`; `&`, `<` and `>` escaped as Slack requires). Success is HTTP 200 with
//! body `ok`; errors are an HTTP status with a text body (channels.md, HIGH):
//!
//! | reply | class |
//! |---|---|
//! | 200 `ok` | — |
//! | 429 (`Retry-After` seconds) | [`ChannelError::RateLimited`] with the wait |
//! | 5xx | [`ChannelError::Transient`] |
//! | 413, or a body `msg_too_long` | [`ChannelError::TooLarge`] |
//! | 403 `action_prohibited` / `invalid_token`, 404 `channel_not_found` / `no_service`, 410 `channel_is_archived` | [`ChannelError::Rejected`] |
//! | anything else (400 `invalid_payload`, …) | [`ChannelError::Other`] |

use std::time::Duration;

use serde_json::{json, Value};

use super::{
    http_client, other_status, post_json, status_class, ChannelError, ChatMessage, HttpReply,
    Redactor,
};
use shared::secret::Secret;

/// About one message per second per webhook, short bursts allowed (channels.md,
/// HIGH).
pub const MESSAGES_PER_SECOND: u32 = 1;

/// The wait after a 429 without `Retry-After` (Slack normally sends it).
pub const THROTTLE: Duration = Duration::from_secs(30);

/// Slack truncates a message `text` beyond 40,000 characters (Slack's
/// `chat.postMessage` documentation).
pub const TEXT_LIMIT_CHARS: usize = 40_000;

/// The text budget in bytes (a byte budget bounds characters too): well under
/// [`TEXT_LIMIT_CHARS`], leaving room for the title and the `&amp;`-style escapes.
pub const MAX_TEXT_BYTES: usize = 30_000;

#[derive(Clone, Debug)]
pub struct Slack {
    /// The webhook URL, itself the credential (never logged).
    webhook: Secret,
    client: reqwest::Client,
    redact: Redactor,
}

/// Escapes the three characters Slack's mrkdwn reserves.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Slack {
    pub fn new(webhook: Secret) -> Result<Self, ChannelError> {
        Ok(Self {
            redact: Redactor::new(&webhook, None),
            webhook,
            client: http_client()?,
        })
    }

    pub fn body(&self, message: &ChatMessage) -> Value {
        json!({"text": format!("*{}*\n{}", escape(&message.title), escape(&message.text))})
    }

    /// Sends one message.
    pub async fn send(&self, message: &ChatMessage) -> Result<(), ChannelError> {
        let result = async {
            let reply = post_json(
                &self.client,
                "slack",
                self.webhook.expose(),
                &self.body(message),
            )
            .await?;
            reply_error(&reply).map_or(Ok(()), Err)
        }
        .await;
        result.map_err(|e| self.redact.error(e))
    }
}

/// The error a Slack reply stands for, if any.
pub(crate) fn reply_error(reply: &HttpReply) -> Option<ChannelError> {
    if let Some(e) = status_class("slack", reply) {
        return Some(e);
    }
    let body = reply.body.trim();
    if reply.is_success() {
        return if body == "ok" {
            None
        } else {
            Some(ChannelError::Other(format!(
                "slack answered HTTP {} {}",
                reply.status,
                reply.snippet()
            )))
        };
    }
    match body {
        "msg_too_long" => Some(ChannelError::TooLarge(format!(
            "slack answered HTTP {} {body}",
            reply.status
        ))),
        "invalid_token"
        | "action_prohibited"
        | "channel_not_found"
        | "no_service"
        | "channel_is_archived"
        | "team_disabled" => Some(ChannelError::Rejected(format!(
            "slack answered HTTP {} {body}",
            reply.status
        ))),
        _ => Some(other_status("slack", reply)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str, retry_after: Option<u64>) -> HttpReply {
        HttpReply {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            body: body.into(),
        }
    }

    #[test]
    fn body_is_escaped_mrkdwn() {
        let s = Slack::new(Secret::new(
            "https://hooks.slack.com/services/T0/B0/XXXXXXXX1",
        ))
        .unwrap();
        let b = s.body(&ChatMessage::new("Stalled <STO>", "a & b\n- c > d"));
        assert_eq!(
            b,
            json!({"text": "*Stalled &lt;STO&gt;*\na &amp; b\n- c &gt; d"})
        );
        assert!(!format!("{s:?}").contains("XXXXXXXX1"));
    }

    #[test]
    fn replies() {
        assert_eq!(reply_error(&reply(200, "ok", None)), None);
        assert!(matches!(
            reply_error(&reply(200, "<html>", None)),
            Some(ChannelError::Other(_))
        ));
        assert_eq!(
            reply_error(&reply(429, "rate_limited", Some(7))),
            Some(ChannelError::RateLimited {
                detail: "slack answered HTTP 429 rate_limited".into(),
                retry_after: Some(Duration::from_secs(7)),
            })
        );
        assert!(matches!(
            reply_error(&reply(503, "", None)),
            Some(ChannelError::Transient(_))
        ));
        for (status, body) in [
            (403, "action_prohibited"),
            (404, "channel_not_found"),
            (404, "no_service"),
            (410, "channel_is_archived"),
            (403, "invalid_token"),
        ] {
            assert!(
                matches!(reply_error(&reply(status, body, None)), Some(ChannelError::Rejected(ref m)) if m.contains(body)),
                "{status} {body}"
            );
        }
        assert!(matches!(
            reply_error(&reply(400, "msg_too_long", None)),
            Some(ChannelError::TooLarge(_))
        ));
        assert!(matches!(
            reply_error(&reply(400, "invalid_payload", None)),
            Some(ChannelError::Other(m)) if m.contains("invalid_payload")
        ));
    }
}
