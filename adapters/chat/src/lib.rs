//! Chat channels alerts are delivered to (`shared/protocols/channels.md`): the
//! DingTalk custom robot, the WeCom group robot, the Feishu/Lark custom bot and Slack
//! incoming webhooks.
//!
//! - [`ChatMessage`]: what is sent (a title and markdown-ish plain text); each client
//!   renders it into its service's body.
//! - [`ChatChannel`]: one configured robot of any of the four services, with its
//!   documented rate ([`ChatChannel::rate`]) and message size
//!   ([`ChatChannel::max_text_bytes`]).
//! - [`channels_from_env`] / [`channels_from_lookup`]: the configured channels.
//! - [`dispatch::Dispatcher`]: sends a list of messages to one channel, paced at its
//!   rate, with retries, bounded by a deadline, reporting an [`dispatch::Outcome`]
//!   per message.
//!
//! Every client checks the reply *body*: these services answer HTTP 200 with an
//! error code inside. Replies map to [`ChannelError`] classes.
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
//! Webhook URLs and secrets are [`Secret`]s: never in `Debug`, logs or errors.

use std::time::Duration;

use serde_json::Value;

use shared::config::ConfigError;
use shared::secret::Secret;

pub mod dingtalk;
pub mod dispatch;
pub mod feishu;
pub mod sink;
pub mod slack;
pub mod wecom;

pub use dingtalk::DingTalk;
pub use dispatch::{Dispatcher, Outcome};
pub use feishu::Feishu;
pub use sink::{ChatSink, DEFAULT_BUDGET, TOP_PARCELS};
pub use slack::Slack;
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

// ---------------------------------------------------------------------------
// Configuration

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

// ---------------------------------------------------------------------------
// HTTP plumbing shared by the clients

/// Per-request timeout of every chat client.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of an unexpected reply body an error quotes.
const SNIPPET_CHARS: usize = 200;

pub(crate) fn http_client() -> Result<reqwest::Client, ChannelError> {
    reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|e| ChannelError::Other(format!("HTTP client: {}", e.without_url())))
}

/// A reply, read in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HttpReply {
    pub status: u16,
    /// `Retry-After` in seconds (the HTTP-date form is not used by these services).
    pub retry_after: Option<Duration>,
    pub body: String,
}

impl HttpReply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The start of the body on one line, for error messages.
    pub fn snippet(&self) -> String {
        self.body
            .chars()
            .take(SNIPPET_CHARS)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .to_string()
    }
}

/// Base64(HMAC-SHA256(key, message)), the signature of DingTalk and Feishu.
pub(crate) fn hmac_sha256_base64(key: &[u8], message: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::{KeyInit, Mac};
    // HMAC takes keys of any length, so this cannot fail; an empty signature
    // (refused by the service) would be the answer if it ever did.
    match <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// A network failure or timeout, with its causes, without the URL.
fn transport_error(service: &str, e: reqwest::Error) -> ChannelError {
    let e = e.without_url();
    let mut text = format!("{service}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    ChannelError::Transient(text)
}

/// POSTs a JSON body; network failures and timeouts are transient.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    service: &str,
    url: &str,
    body: &Value,
) -> Result<HttpReply, ChannelError> {
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| transport_error(service, e))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| transport_error(service, e))?;
    Ok(HttpReply {
        status,
        retry_after,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// The classes every service shares by HTTP status: 5xx transient, 429 rate
/// limited (with `Retry-After`), 413 too large.
pub(crate) fn status_class(service: &str, reply: &HttpReply) -> Option<ChannelError> {
    match reply.status {
        500..=599 => Some(ChannelError::Transient(format!(
            "{service} answered HTTP {}",
            reply.status
        ))),
        429 => Some(ChannelError::RateLimited {
            detail: format!("{service} answered HTTP 429 {}", reply.snippet()),
            retry_after: reply.retry_after,
        }),
        413 => Some(ChannelError::TooLarge(format!(
            "{service} answered HTTP 413"
        ))),
        _ => None,
    }
}

/// Any other failed HTTP status: the webhook is wrong or gone (401, 403, 404,
/// 410), or something unknown.
pub(crate) fn other_status(service: &str, reply: &HttpReply) -> ChannelError {
    let text = format!(
        "{service} answered HTTP {} {}",
        reply.status,
        reply.snippet()
    );
    match reply.status {
        401 | 403 | 404 | 410 => ChannelError::Rejected(text),
        _ => ChannelError::Other(text),
    }
}

/// `(errcode, errmsg)` of a DingTalk or WeCom reply body.
pub(crate) fn errcode_of(v: &Value) -> Option<(i64, String)> {
    let code = v.get("errcode").and_then(Value::as_i64)?;
    let msg = v.get("errmsg").and_then(Value::as_str).unwrap_or("");
    Some((code, msg.to_string()))
}

/// The error a coded reply body stands for: none for code 0 or no code.
pub(crate) fn coded_error(
    v: &Value,
    code_of: impl Fn(&Value) -> Option<(i64, String)>,
    code_error: impl Fn(i64, &str) -> ChannelError,
) -> Option<ChannelError> {
    match code_of(v)? {
        (0, _) => None,
        (code, msg) => Some(code_error(code, &msg)),
    }
}

/// Maps the reply of a service that answers a JSON result code:
/// `code_of` extracts `(code, message)`, `code_error` maps a non-zero code.
pub(crate) fn check_coded_reply(
    service: &str,
    reply: &HttpReply,
    code_of: impl Fn(&Value) -> Option<(i64, String)>,
    code_error: impl Fn(i64, &str) -> ChannelError,
) -> Result<(), ChannelError> {
    if let Some(e) = status_class(service, reply) {
        return Err(e);
    }
    let coded = serde_json::from_str::<Value>(&reply.body)
        .ok()
        .and_then(|v| code_of(&v));
    match coded {
        Some((0, _)) if reply.is_success() => Ok(()),
        Some((code, msg)) if code != 0 => Err(code_error(code, &msg)),
        _ if !reply.is_success() => Err(other_status(service, reply)),
        _ => Err(ChannelError::Other(format!(
            "{service} reply has no result code: {}",
            reply.snippet()
        ))),
    }
}

/// Removes a client's secrets from error texts: the webhook URL, its long path
/// segments and query values (the token), and the signing secret.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor(***)")
    }
}

/// Path segments and query values at least this long are treated as tokens.
const TOKEN_MIN_LEN: usize = 8;

impl Redactor {
    pub fn new(webhook: &Secret, secret: Option<&Secret>) -> Self {
        let url = webhook.expose();
        let mut secrets = vec![url.to_string()];
        if let Ok(u) = reqwest::Url::parse(url) {
            secrets.extend(
                u.path_segments()
                    .into_iter()
                    .flatten()
                    .map(str::to_string)
                    .chain(u.query_pairs().map(|(_, v)| v.into_owned()))
                    .filter(|s| {
                        s.len() >= TOKEN_MIN_LEN
                            && !s.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    }),
            );
        }
        secrets.extend(secret.map(|s| s.expose().to_string()));
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    pub fn scrub(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
    }

    pub fn error(&self, e: ChannelError) -> ChannelError {
        e.map_text(|t| self.scrub(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
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

    #[test]
    fn redactor_removes_url_token_and_secret() {
        let r = Redactor::new(
            &Secret::new("https://hooks.slack.com/services/T0001/B0001/abcdEFGH1234"),
            Some(&Secret::new("sekrit-value")),
        );
        let t = r.scrub(
            "failed https://hooks.slack.com/services/T0001/B0001/abcdEFGH1234 then abcdEFGH1234 and sekrit-value",
        );
        assert!(
            !t.contains("abcdEFGH1234") && !t.contains("sekrit-value"),
            "{t}"
        );
        assert!(t.starts_with("failed ***"), "{t}");
        // Plain path words stay readable.
        let r = Redactor::new(
            &Secret::new("https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c-tok"),
            None,
        );
        assert_eq!(r.scrub("open-apis 0f1e2d3c-tok"), "open-apis ***");
        let e = r.error(ChannelError::rate_limited("x 0f1e2d3c-tok"));
        assert_eq!(e, ChannelError::rate_limited("x ***"));
    }

    #[test]
    fn coded_replies() {
        let reply = |status: u16, body: &str| HttpReply {
            status,
            retry_after: None,
            body: body.into(),
        };
        let code_of = |v: &Value| {
            Some((
                v.get("errcode")?.as_i64()?,
                v.get("errmsg")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ))
        };
        let err = |c: i64, m: &str| ChannelError::Other(format!("{c} {m}"));
        let check = |r: HttpReply| check_coded_reply("x", &r, code_of, err);
        assert_eq!(check(reply(200, r#"{"errcode":0,"errmsg":"ok"}"#)), Ok(()));
        assert_eq!(
            check(reply(200, r#"{"errcode":7,"errmsg":"no"}"#)),
            Err(ChannelError::Other("7 no".into()))
        );
        assert!(matches!(
            check(reply(502, "bad gateway")),
            Err(ChannelError::Transient(_))
        ));
        assert!(matches!(
            check(reply(413, "")),
            Err(ChannelError::TooLarge(_))
        ));
        assert!(matches!(
            check(reply(404, "nope")),
            Err(ChannelError::Rejected(_))
        ));
        assert!(matches!(
            check(reply(400, "nope")),
            Err(ChannelError::Other(_))
        ));
        assert!(matches!(
            check(reply(200, "<html>")),
            Err(ChannelError::Other(_))
        ));
        // A success code on a failed status is not a success.
        assert!(check(reply(400, r#"{"errcode":0}"#)).is_err());
        let limited = HttpReply {
            status: 429,
            retry_after: Some(Duration::from_secs(3)),
            body: String::new(),
        };
        assert!(matches!(
            check(limited),
            Err(ChannelError::RateLimited { retry_after: Some(d), .. }) if d == Duration::from_secs(3)
        ));
    }
}
