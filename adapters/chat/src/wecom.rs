//! WeCom group robot (企业微信群机器人): the key in the webhook URL is the only
//! credential (no signature).
//!
//! # Message type
//! WeCom markdown cannot `@` by mobile (only `<@userid>`), and text messages can
//! (`mentioned_mobile_list`) but are shorter and unformatted. So:
//! - without on-call mobiles: **markdown**, content `**title**\n` + text, at most
//!   [`MARKDOWN_LIMIT_BYTES`];
//! - with mobiles (`WECOM_AT_MOBILES`): **text**, content `title\n` + text with
//!   `mentioned_mobile_list`, at most [`TEXT_LIMIT_BYTES`] — paging the on-call
//!   person matters more than formatting.
//!
//! | `errcode` | meaning | class |
//! |---|---|---|
//! | `0` | ok | — |
//! | `93000` | invalid webhook URL / key (channels.md, MED) | [`ChannelError::Rejected`] |
//! | `45009` | frequency limit (channels.md, MED) | [`ChannelError::RateLimited`] |
//! | `40058` whose errmsg says `exceed` | content over its limit (e.g. `markdown.content exceed max length 4096`) | [`ChannelError::TooLarge`] |
//! | other | errmsg kept | [`ChannelError::Other`] |

use std::time::Duration;

use serde_json::{json, Value};

use super::{
    check_coded_reply, coded_error, errcode_of, http_client, post_json, ChannelError, ChatMessage,
    Redactor, TITLE_MAX_BYTES,
};
use shared::secret::Secret;

/// 20 messages per minute per robot (channels.md, HIGH).
pub const MESSAGES_PER_MINUTE: u32 = 20;

/// After a `45009` the robot's one-minute window has to pass (our reading of the
/// per-minute limit; WeCom names no wait).
pub const THROTTLE: Duration = Duration::from_secs(60);

/// Markdown `content` is at most 4096 bytes of UTF-8 (channels.md, HIGH).
pub const MARKDOWN_LIMIT_BYTES: usize = 4096;

/// Text `content` is at most 2048 bytes of UTF-8 (channels.md, HIGH).
pub const TEXT_LIMIT_BYTES: usize = 2048;

/// Bytes of the content besides the title and text (`**`, `**`, `\n`), with spare.
const CONTENT_OVERHEAD: usize = 16;

/// Largest text of a markdown message.
pub const MAX_MARKDOWN_TEXT_BYTES: usize =
    MARKDOWN_LIMIT_BYTES - TITLE_MAX_BYTES - CONTENT_OVERHEAD;

/// Largest text of a text message (the mode with `@` mobiles).
pub const MAX_PLAIN_TEXT_BYTES: usize = TEXT_LIMIT_BYTES - TITLE_MAX_BYTES - CONTENT_OVERHEAD;

#[derive(Clone, Debug)]
pub struct WeCom {
    /// The webhook URL with its key (a secret: never logged).
    webhook: Secret,
    at_mobiles: Vec<String>,
    client: reqwest::Client,
    redact: Redactor,
}

impl WeCom {
    /// `at_mobiles` (mobiles, or `@all`) non-empty switches to text messages.
    pub fn new(webhook: Secret, at_mobiles: Vec<String>) -> Result<Self, ChannelError> {
        Ok(Self {
            redact: Redactor::new(&webhook, None),
            webhook,
            at_mobiles,
            client: http_client()?,
        })
    }

    /// Text messages (with mentions) rather than markdown.
    pub fn uses_text(&self) -> bool {
        !self.at_mobiles.is_empty()
    }

    /// [`MAX_PLAIN_TEXT_BYTES`] with mobiles to `@`, else [`MAX_MARKDOWN_TEXT_BYTES`].
    pub fn max_text_bytes(&self) -> usize {
        if self.uses_text() {
            MAX_PLAIN_TEXT_BYTES
        } else {
            MAX_MARKDOWN_TEXT_BYTES
        }
    }

    /// The request body (see the module documentation for the choice of type).
    pub fn body(&self, message: &ChatMessage) -> Value {
        if self.uses_text() {
            json!({
                "msgtype": "text",
                "text": {
                    "content": format!("{}\n{}", message.title, message.text),
                    "mentioned_mobile_list": self.at_mobiles,
                },
            })
        } else {
            json!({
                "msgtype": "markdown",
                "markdown": {"content": format!("**{}**\n{}", message.title, message.text)},
            })
        }
    }

    /// Sends one message.
    pub async fn send(&self, message: &ChatMessage) -> Result<(), ChannelError> {
        let result = async {
            let reply = post_json(
                &self.client,
                "wecom",
                self.webhook.expose(),
                &self.body(message),
            )
            .await?;
            check_coded_reply("wecom", &reply, errcode_of, code_error)
        }
        .await;
        result.map_err(|e| self.redact.error(e))
    }
}

fn code_error(code: i64, msg: &str) -> ChannelError {
    let detail = format!("wecom {code} {msg}");
    match code {
        93000 => ChannelError::Rejected(detail),
        45009 => ChannelError::rate_limited(detail),
        40058 if msg.contains("exceed") => ChannelError::TooLarge(detail),
        _ => ChannelError::Other(detail),
    }
}

/// The error a WeCom reply body stands for, if any.
pub fn reply_error(v: &Value) -> Option<ChannelError> {
    coded_error(v, errcode_of, code_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wecom(mobiles: &[&str]) -> WeCom {
        WeCom::new(
            Secret::new("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY-0001"),
            mobiles.iter().map(|m| m.to_string()).collect(),
        )
        .unwrap()
    }

    #[test]
    fn markdown_without_mobiles_text_with_them() {
        let m = ChatMessage::new("物流停滞", "- 运单 1\n- 运单 2");
        let b = wecom(&[]).body(&m);
        assert_eq!(b["msgtype"], "markdown");
        assert_eq!(b["markdown"]["content"], "**物流停滞**\n- 运单 1\n- 运单 2");
        assert_eq!(wecom(&[]).max_text_bytes(), MAX_MARKDOWN_TEXT_BYTES);

        let w = wecom(&["13800001234", "@all"]);
        let b = w.body(&m);
        assert_eq!(b["msgtype"], "text");
        assert_eq!(b["text"]["content"], "物流停滞\n- 运单 1\n- 运单 2");
        assert_eq!(
            b["text"]["mentioned_mobile_list"],
            json!(["13800001234", "@all"])
        );
        assert_eq!(w.max_text_bytes(), MAX_PLAIN_TEXT_BYTES);
        assert!(!format!("{w:?}").contains("KEY-0001"));
    }

    #[test]
    fn a_full_budget_message_fits_the_limit() {
        let m = ChatMessage::new("题".repeat(300), "字".repeat(5000))
            .truncated(MAX_MARKDOWN_TEXT_BYTES);
        let b = wecom(&[]).body(&m);
        assert!(b["markdown"]["content"].as_str().unwrap().len() <= MARKDOWN_LIMIT_BYTES);
        let w = wecom(&["13800001234"]);
        let m = ChatMessage::new("题".repeat(300), "字".repeat(5000)).truncated(w.max_text_bytes());
        assert!(w.body(&m)["text"]["content"].as_str().unwrap().len() <= TEXT_LIMIT_BYTES);
    }

    #[test]
    fn replies() {
        assert_eq!(reply_error(&json!({"errcode": 0, "errmsg": "ok"})), None);
        assert!(matches!(
            reply_error(&json!({"errcode": 93000, "errmsg": "invalid webhook url"})),
            Some(ChannelError::Rejected(_))
        ));
        assert!(matches!(
            reply_error(&json!({"errcode": 45009, "errmsg": "api freq out of limit"})),
            Some(ChannelError::RateLimited {
                retry_after: None,
                ..
            })
        ));
        assert!(matches!(
            reply_error(
                &json!({"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"})
            ),
            Some(ChannelError::TooLarge(_))
        ));
        assert!(matches!(
            reply_error(&json!({"errcode": 40058, "errmsg": "invalid Request Parameter"})),
            Some(ChannelError::Other(_))
        ));
        assert!(matches!(
            reply_error(&json!({"errcode": 40008, "errmsg": "invalid message type"})),
            Some(ChannelError::Other(m)) if m.contains("invalid message type")
        ));
    }
}
