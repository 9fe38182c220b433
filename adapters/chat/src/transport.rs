//! The HTTP plumbing the four chat clients share: the client with its timeout,
//! POSTing a JSON body, mapping HTTP statuses and coded reply bodies to
//! [`ChannelError`]s, the HMAC signature of the signed modes, and the [`Redactor`]
//! that keeps webhook tokens and secrets out of error texts.

use std::time::Duration;

use serde_json::Value;

use shared::secret::Secret;

use crate::ChannelError;

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
