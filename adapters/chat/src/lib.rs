//! Chat channels alerts are delivered to (`shared/protocols/channels.md`): the
//! DingTalk custom robot, the WeCom group robot, the Feishu/Lark custom bot and Slack
//! incoming webhooks.
//!
//! - [`ChatMessage`]: what is sent (a title and markdown-ish plain text); each client
//!   renders it into its service's body.
//! - [`ChatChannel`]: one configured robot of any of the four services, with its
//!   documented rate ([`ChatChannel::rate`]) and message size
//!   ([`ChatChannel::max_text_bytes`]).
//! - [`channels_from_env`] / [`channels_from_lookup`]: the configured channels
//!   (`config.rs` reads them from the variables below).
//! - [`dispatch::Dispatcher`]: sends a list of messages to one channel, paced at its
//!   rate, with retries, bounded by a deadline, reporting an [`dispatch::Outcome`]
//!   per message.
//!
//! Every client checks the reply *body*: these services answer HTTP 200 with an
//! error code inside. Replies map to [`ChannelError`] classes.
//!
//! # Layout
//!
//! - this file: the message, error and channel types ([`ChatMessage`],
//!   [`ChannelError`], [`ChatChannel`], [`Rate`]);
//! - `config.rs`: the configuration, read from the environment ([`VARIABLES`],
//!   [`ChannelSettings`], [`channels_from_env`], [`channels_from_lookup`]);
//! - `transport.rs`: the HTTP plumbing the four clients share (the HTTP client,
//!   POSTing JSON, mapping replies to [`ChannelError`], HMAC signing, removing
//!   secrets from error texts);
//! - [`dingtalk`], [`wecom`], [`feishu`], [`slack`]: one client per service;
//! - [`dispatch`]: pacing and retries; [`sink`]: alerts to every configured channel.
//!
//! # Configuration (a public contract: SAM parameters become these variables)
//!
//! Any number of channels may be configured at once; an empty variable counts as
//! unset. A webhook that is not an http(s) URL stops the program at start with an
//! error naming the variable (showing only the URL's scheme and host: the rest
//! carries the token).
//!
//! | variable | meaning |
//! |---|---|
//! | `DINGTALK_WEBHOOK` | `https://oapi.dingtalk.com/robot/send?access_token=…` |
//! | `DINGTALK_SECRET` | signing secret (`SEC…`): signed mode (加签) |
//! | `DINGTALK_AT_MOBILES` | comma list of on-call mobiles to `@` |
//! | `DINGTALK_KEYWORD` | the robot's custom keyword: added to messages that lack it |
//! | `WECOM_WEBHOOK` | `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…` |
//! | `WECOM_AT_MOBILES` | comma list of mobiles (or `@all`) to `@`: switches WeCom to text messages |
//! | `FEISHU_WEBHOOK` | `https://open.feishu.cn/open-apis/bot/v2/hook/…` (or Lark's) |
//! | `FEISHU_SECRET` | signing secret: signed mode |
//! | `SLACK_WEBHOOK` | `https://hooks.slack.com/services/…` |
//!
//! Webhook URLs and secrets are [`Secret`](shared::secret::Secret)s: never in
//! `Debug`, logs or errors.

use std::time::Duration;

use shared::digest::Markup;

mod config;
pub mod dingtalk;
pub mod dispatch;
pub mod feishu;
pub mod sink;
pub mod slack;
mod transport;
pub mod wecom;

pub use config::{
    channels_from_env, channels_from_lookup, ChannelSettings, DingTalkSettings, FeishuSettings,
    WeComSettings, SECRET_VARIABLES, VARIABLES,
};
pub use dingtalk::DingTalk;
pub use dispatch::{Dispatcher, Outcome};
pub use feishu::Feishu;
pub use sink::{ChatSink, DEFAULT_BUDGET, TOP_PARCELS};
pub use slack::Slack;
pub use transport::HTTP_TIMEOUT;
// The clients import these as `super::…`.
pub(crate) use transport::{
    check_coded_reply, coded_error, errcode_of, hmac_sha256_base64, http_client, other_status,
    post_json, status_class, HttpReply, Redactor,
};
pub use wecom::WeCom;

/// Why a chat message was not delivered. Messages never contain the webhook URL,
/// its token or a signing secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Bad signature, keyword, IP, token or webhook (or an archived channel):
    /// permanent, needs a human.
    #[error("rejected (check the webhook, secret and keyword): {0}")]
    Rejected(String),
    /// Sent too fast: retry later, after `retry_after` when the service said so.
    #[error("rate limited: {detail}")]
    RateLimited {
        detail: String,
        retry_after: Option<Duration>,
    },
    /// The message is over the service's size limit: permanent for this message.
    #[error("message too large: {0}")]
    TooLarge(String),
    /// Network, timeout or 5xx: retry.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Anything else (an unknown code, with the service's message kept): permanent.
    #[error("channel error: {0}")]
    Other(String),
}

impl ChannelError {
    /// Transient and rate-limited failures may succeed later; the others will not.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ChannelError::Transient(_) | ChannelError::RateLimited { .. }
        )
    }

    /// A rate-limit error without a known wait.
    pub fn rate_limited(detail: impl Into<String>) -> Self {
        ChannelError::RateLimited {
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// The same error with its text passed through `f`.
    fn map_text(self, f: impl Fn(&str) -> String) -> Self {
        match self {
            ChannelError::Rejected(s) => ChannelError::Rejected(f(&s)),
            ChannelError::RateLimited {
                detail,
                retry_after,
            } => ChannelError::RateLimited {
                detail: f(&detail),
                retry_after,
            },
            ChannelError::TooLarge(s) => ChannelError::TooLarge(f(&s)),
            ChannelError::Transient(s) => ChannelError::Transient(f(&s)),
            ChannelError::Other(s) => ChannelError::Other(f(&s)),
        }
    }
}

/// One alert message, channel-neutral: `text` is markdown-ish plain text (lines,
/// `-` lists); each client renders title and text into its service's body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    pub title: String,
    pub text: String,
}

/// The title budget every channel's [`ChatChannel::max_text_bytes`] leaves room
/// for; [`ChatMessage::truncated`] cuts longer titles.
pub const TITLE_MAX_BYTES: usize = 256;

/// Appended to a text cut by [`ChatMessage::truncated`].
pub const TRUNCATION_MARK: &str = "\n…";

impl ChatMessage {
    pub fn new(title: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            text: text.into(),
        }
    }

    /// The message cut to fit a channel: text at most `max_text_bytes` (UTF-8,
    /// [`TRUNCATION_MARK`] included when cut), title at most [`TITLE_MAX_BYTES`];
    /// cuts fall on character boundaries. Use with
    /// [`ChatChannel::max_text_bytes`].
    pub fn truncated(&self, max_text_bytes: usize) -> ChatMessage {
        let text = if self.text.len() <= max_text_bytes {
            self.text.clone()
        } else {
            let keep = max_text_bytes.saturating_sub(TRUNCATION_MARK.len());
            format!("{}{TRUNCATION_MARK}", prefix_within(&self.text, keep))
        };
        ChatMessage {
            title: prefix_within(&self.title, TITLE_MAX_BYTES).to_string(),
            text,
        }
    }
}

/// The longest prefix of `s` of at most `max` bytes ending on a char boundary.
fn prefix_within(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A channel's documented sending rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Messages per minute.
    pub per_minute: u32,
    /// Messages per second, where the service also limits that.
    pub per_second: Option<u32>,
}

impl Rate {
    /// The sustained rate honouring both limits, in messages per second.
    pub fn qps(&self) -> f64 {
        let per_minute = f64::from(self.per_minute.max(1)) / 60.0;
        match self.per_second {
            Some(s) => per_minute.min(f64::from(s.max(1))),
            None => per_minute,
        }
    }
}

/// One configured robot.
#[derive(Clone, Debug)]
pub enum ChatChannel {
    DingTalk(DingTalk),
    WeCom(WeCom),
    Feishu(Feishu),
    Slack(Slack),
}

impl ChatChannel {
    /// `dingtalk`, `wecom`, `feishu` or `slack` (for logs and metrics).
    pub fn name(&self) -> &'static str {
        match self {
            ChatChannel::DingTalk(_) => "dingtalk",
            ChatChannel::WeCom(_) => "wecom",
            ChatChannel::Feishu(_) => "feishu",
            ChatChannel::Slack(_) => "slack",
        }
    }

    /// Sends one message (one HTTP request, no retry; see [`Dispatcher`] for
    /// pacing and retries). `now_ms` is the wall-clock time in Unix milliseconds,
    /// used by the signed modes (DingTalk, Feishu).
    pub async fn send(&self, message: &ChatMessage, now_ms: i64) -> Result<(), ChannelError> {
        match self {
            ChatChannel::DingTalk(c) => c.send(&message.title, &message.text, now_ms).await,
            ChatChannel::WeCom(c) => c.send(message).await,
            ChatChannel::Feishu(c) => c.send(message, now_ms).await,
            ChatChannel::Slack(c) => c.send(message).await,
        }
    }

    /// The largest `text` (UTF-8 bytes) one message may carry, leaving room for
    /// the envelope and a title of up to [`TITLE_MAX_BYTES`]; see
    /// [`ChatMessage::truncated`].
    pub fn max_text_bytes(&self) -> usize {
        match self {
            ChatChannel::DingTalk(_) => dingtalk::MAX_TEXT_BYTES,
            ChatChannel::WeCom(c) => c.max_text_bytes(),
            ChatChannel::Feishu(_) => feishu::MAX_TEXT_BYTES,
            ChatChannel::Slack(_) => slack::MAX_TEXT_BYTES,
        }
    }

    /// How the service reads the text: DingTalk and WeCom markdown messages are
    /// markdown; Feishu text messages, WeCom text messages (with mentions) and
    /// Slack (whose client escapes the whole text) take it as typed.
    pub fn markup(&self) -> Markup {
        match self {
            ChatChannel::DingTalk(_) => Markup::Markdown,
            ChatChannel::WeCom(c) if !c.uses_text() => Markup::Markdown,
            ChatChannel::WeCom(_) | ChatChannel::Feishu(_) | ChatChannel::Slack(_) => Markup::Plain,
        }
    }

    /// The service's documented rate for one robot / webhook.
    pub fn rate(&self) -> Rate {
        match self {
            ChatChannel::DingTalk(_) => Rate {
                per_minute: dingtalk::MESSAGES_PER_MINUTE,
                per_second: None,
            },
            ChatChannel::WeCom(_) => Rate {
                per_minute: wecom::MESSAGES_PER_MINUTE,
                per_second: None,
            },
            ChatChannel::Feishu(_) => Rate {
                per_minute: feishu::MESSAGES_PER_MINUTE,
                per_second: Some(feishu::MESSAGES_PER_SECOND),
            },
            ChatChannel::Slack(_) => Rate {
                per_minute: slack::MESSAGES_PER_SECOND * 60,
                per_second: Some(slack::MESSAGES_PER_SECOND),
            },
        }
    }

    /// How long the service keeps a robot throttled after a rate-limit reply
    /// that names no wait (`Retry-After`).
    pub fn throttle(&self) -> Duration {
        match self {
            ChatChannel::DingTalk(_) => dingtalk::THROTTLE,
            ChatChannel::WeCom(_) => wecom::THROTTLE,
            ChatChannel::Feishu(_) => feishu::THROTTLE,
            ChatChannel::Slack(_) => slack::THROTTLE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::lookup;

    #[test]
    fn rates_and_sizes_are_the_documented_ones() {
        let chans = channels_from_lookup(lookup(&[
            (
                "DINGTALK_WEBHOOK",
                "https://oapi.dingtalk.com/robot/send?access_token=a",
            ),
            (
                "WECOM_WEBHOOK",
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
            ),
            (
                "FEISHU_WEBHOOK",
                "https://open.feishu.cn/open-apis/bot/v2/hook/t",
            ),
            ("SLACK_WEBHOOK", "https://hooks.slack.com/services/T/B/X"),
        ]))
        .unwrap();
        let rates: Vec<_> = chans.iter().map(|c| c.rate()).collect();
        assert_eq!(rates[0].per_minute, 20);
        assert_eq!(rates[1].per_minute, 20);
        assert_eq!((rates[2].per_minute, rates[2].per_second), (100, Some(5)));
        assert_eq!(rates[3].per_second, Some(1));
        assert!((rates[0].qps() - 20.0 / 60.0).abs() < 1e-9);
        assert!((rates[2].qps() - 100.0 / 60.0).abs() < 1e-9);
        assert!((rates[3].qps() - 1.0).abs() < 1e-9);
        // WeCom markdown: the text plus title must stay within 4096 bytes.
        assert!(chans[1].max_text_bytes() + TITLE_MAX_BYTES + 16 <= 4096);
        assert!(chans[0].max_text_bytes() < 20_000);
        assert!(chans[2].max_text_bytes() < 20_000);
        assert_eq!(chans[0].throttle(), Duration::from_secs(600));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let m = ChatMessage::new("标题".repeat(200), "包裹".repeat(100));
        let t = m.truncated(100);
        assert!(t.text.len() <= 100, "{}", t.text.len());
        assert!(t.text.ends_with(TRUNCATION_MARK));
        assert!(t.title.len() <= TITLE_MAX_BYTES);
        assert!(m.text.starts_with(t.text.trim_end_matches(TRUNCATION_MARK)));
        let short = ChatMessage::new("t", "short");
        assert_eq!(short.truncated(100), short);
    }
}
