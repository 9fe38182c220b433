//! Fake chat robots on 127.0.0.1: DingTalk custom robot, WeCom group robot, Feishu
//! custom bot and Slack incoming webhook (`shared/protocols/channels.md`).
//!
//! Like the carrier fakes, these are the yardstick the product's chat clients are
//! measured against, so they are written from the protocol notes and share no code
//! with the product: the signatures are recomputed here (HMAC-SHA256 over the
//! *received* timestamp, checked against the real wall clock), limits are enforced
//! over sliding windows of real time, and replies have the real shapes.
//!
//! Each fake runs on its own thread with its own tokio runtime (usable from any
//! test flavour), records every request ([`ChatRequest`]) and every accepted
//! message (its parsed JSON body, [`FakeChat::received`]), and can be scripted to
//! fail the next requests ([`FakeChat::fail_next`] with a [`ChatFault`]).
//!
//! # Checks, in order
//!
//! **DingTalk** ([`FakeDingTalk`], path [`DINGTALK_PATH`]); failures are HTTP 200
//! `{"errcode","errmsg"}`:
//!
//! | check | `errcode` |
//! |---|---|
//! | `access_token` query parameter is the configured token | `300001` |
//! | body at most `max_body_bytes` (default 20,000) | `460101` |
//! | body is a JSON object | `40035` (fake's choice) |
//! | signed mode: `timestamp` (ms) within one hour of the wall clock and `sign` = Base64(HMAC-SHA256(secret, timestamp + "\n" + secret)) | `310000` |
//! | keyword mode: the text (`text.content` or `markdown.text`) contains the keyword | `310000` |
//! | scripted faults | — |
//! | `text.content`, or `markdown.title` and `markdown.text`, present | `40035` (fake's choice) |
//! | at most `per_minute` (default 20) accepted messages in any 60 s | `130101` |
//!
//! (The real robot then stays throttled for ~10 minutes; the fake does not model
//! that penalty.)
//!
//! **WeCom** ([`FakeWeCom`], path [`WECOM_PATH`]); failures are HTTP 200
//! `{"errcode","errmsg"}`:
//!
//! | check | `errcode` |
//! |---|---|
//! | `key` query parameter is the configured key | `93000` |
//! | body is a JSON object | `40035` (fake's choice) |
//! | scripted faults | — |
//! | `msgtype` `text` or `markdown` | `40008` |
//! | content present and non-empty | `44004` |
//! | text content ≤ 2048 bytes, markdown content ≤ 4096 bytes | `40058` `… exceed max length …` |
//! | at most `per_minute` (default 20) accepted messages in any 60 s | `45009` |
//!
//! **Feishu** ([`FakeFeishu`], path [`FEISHU_PATH`]`<token>`); failures are
//! `{"code","msg","data":{}}`:
//!
//! | check | reply |
//! |---|---|
//! | the token in the path is the configured one | `19001` |
//! | body at most `max_body_bytes` (default 20,000) | HTTP 413 (fake's choice) |
//! | body is a JSON object | `9499` (fake's choice) |
//! | signed mode: `timestamp` (s) within one hour and `sign` = Base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = empty)) | `19021` |
//! | keyword mode: the message's text (text content, post title and texts) contains the keyword | `19024` |
//! | scripted faults | — |
//! | `msg_type` `text` with `content.text`, `post` with `content.post`, or `interactive`/`image`/`share_chat` with content | `9499` |
//! | at most 5 accepted messages in any second and 100 in any minute | `11232` |
//!
//! Success: `{"code":0,"msg":"success","data":{}}`, or with `legacy_reply`
//! the older `{"Extra":null,"StatusCode":0,"StatusMessage":"success"}`.
//!
//! **Slack** ([`FakeSlack`], path `path`); failures are an HTTP status with a text
//! body:
//!
//! | check | reply |
//! |---|---|
//! | the path is the configured one | 404 `no_service` |
//! | the channel is not archived (`archived`) | 410 `channel_is_archived` |
//! | scripted faults | — |
//! | body is JSON with a non-empty `text` (or `blocks`) | 400 `invalid_payload` |
//! | `text` at most `max_text_chars` (default 40,000) characters | 400 `msg_too_long` (fake's choice) |
//! | at most `per_second` (default 1) accepted messages in any second | 429 `rate_limited`, `Retry-After: retry_after_secs` |
//!
//! Success: 200 `ok`. Any path but the webhook's, or a method other than POST,
//! gets 404 (405 for the method) on every fake.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::oneshot;

/// DingTalk's send path.
pub const DINGTALK_PATH: &str = "/robot/send";
/// WeCom's send path.
pub const WECOM_PATH: &str = "/cgi-bin/webhook/send";
/// Feishu's hook path prefix (the token follows).
pub const FEISHU_PATH: &str = "/open-apis/bot/v2/hook/";
/// The default Slack webhook path.
pub const SLACK_PATH: &str = "/services/TFAKE0001/BFAKE0001/fakeSlackWebhookSecret01";

/// A timestamp more than this far from the wall clock fails the signature check.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(3600);

fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        // HMAC takes any key length; an empty string never matches a signature.
        Err(_) => String::new(),
    }
}

/// DingTalk's `sign` (before URL encoding) for the timestamp string as received:
/// Base64(HMAC-SHA256(key = secret, message = timestamp + "\n" + secret)).
pub fn dingtalk_sign(secret: &str, timestamp_ms: &str) -> String {
    hmac_base64(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    )
}

/// Feishu's `sign` for the timestamp string as received: Base64(HMAC-SHA256(key =
/// timestamp + "\n" + secret, message = empty)).
pub fn feishu_sign(secret: &str, timestamp_s: &str) -> String {
    hmac_base64(format!("{timestamp_s}\n{secret}").as_bytes(), b"")
}

/// A scripted failure for the next request (see [`FakeChat::fail_next`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatFault {
    /// The service's own JSON error (HTTP 200): `errcode`/`errmsg` (DingTalk,
    /// WeCom) or `code`/`msg` (Feishu). Slack has no codes: HTTP 400 with `msg` as
    /// the body.
    Code { code: i64, msg: String },
    /// The service's rate-limit reply (130101, 45009, 11232, or Slack's 429 with
    /// `Retry-After`).
    RateLimited,
    /// Any HTTP status with a plain-text body and an optional `Retry-After`
    /// (seconds).
    Http {
        status: u16,
        body: String,
        retry_after: Option<u64>,
    },
}

/// One request as received, with the fake's answer.
#[derive(Clone, Debug)]
pub struct ChatRequest {
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// Decoded query parameters.
    pub query: Vec<(String, String)>,
    /// The body, if it was JSON.
    pub body: Option<Value>,
    pub status: u16,
    pub reply: String,
}

/// A request as the logic sees it.
pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Bytes,
    /// Arrival, for rate windows.
    pub at: Instant,
    /// Wall-clock time in Unix ms, for timestamp checks.
    pub wall_ms: i64,
}

impl Incoming {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub status: u16,
    pub json: bool,
    pub body: String,
    pub retry_after: Option<u64>,
}

impl Outgoing {
    fn json(v: Value) -> Self {
        Outgoing {
            status: 200,
            json: true,
            body: v.to_string(),
            retry_after: None,
        }
    }

    fn text(status: u16, body: &str) -> Self {
        Outgoing {
            status,
            json: false,
            body: body.to_string(),
            retry_after: None,
        }
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = if self.json {
            "application/json;charset=utf-8"
        } else {
            "text/plain; charset=utf-8"
        };
        let mut resp = (status, [(header::CONTENT_TYPE, content_type)], self.body).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// What a fake remembers.
#[derive(Default)]
pub struct ChatState {
    faults: VecDeque<ChatFault>,
    /// Arrival instants of accepted messages (the last minute's).
    accepted: VecDeque<Instant>,
    log: Vec<ChatRequest>,
    received: Vec<Value>,
}

impl ChatState {
    /// Accepted messages in the `window` before `now`.
    fn count_within(&mut self, now: Instant, window: Duration) -> usize {
        while let Some(first) = self.accepted.front() {
            if now.saturating_duration_since(*first) >= Duration::from_secs(60) {
                self.accepted.pop_front();
            } else {
                break;
            }
        }
        self.accepted
            .iter()
            .filter(|t| now.saturating_duration_since(**t) < window)
            .count()
    }

    fn accept(&mut self, now: Instant, body: Value) {
        self.accepted.push_back(now);
        self.received.push(body);
    }
}

/// The behaviour of one service. Implemented by the four configurations; the
/// logic is a pure function of the request, the state and the injected times.
pub trait ChatService: Send + Sync + 'static {
    /// For thread names.
    const NAME: &'static str;
    /// The webhook URL on a fake at `base`.
    fn webhook(&self, base: &str) -> String;
    /// Decides the reply (state locked).
    fn decide(&self, st: &mut ChatState, req: &Incoming) -> Outgoing;
}

fn parse_object(body: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

/// `None` if the request may go on; else the method/path reply.
fn route(req: &Incoming, path_ok: bool) -> Option<Outgoing> {
    if !path_ok {
        Some(Outgoing::text(404, "Not Found"))
    } else if req.method != Method::POST {
        Some(Outgoing::text(405, "Method Not Allowed"))
    } else {
        None
    }
}

fn within_skew(now_ms: i64, ts_ms: i64) -> bool {
    now_ms.abs_diff(ts_ms) <= MAX_CLOCK_SKEW.as_millis() as u64
}

// ---------------------------------------------------------------------------
// DingTalk

/// A [`FakeDingTalk`]'s robot.
#[derive(Clone, Debug)]
pub struct DingTalkConfig {
    pub access_token: String,
    /// Signed mode (加签).
    pub secret: Option<String>,
    /// Keyword mode.
    pub keyword: Option<String>,
    pub per_minute: usize,
    pub max_body_bytes: usize,
}

impl Default for DingTalkConfig {
    fn default() -> Self {
        DingTalkConfig {
            access_token: "fake-dingtalk-token-0001".into(),
            secret: None,
            keyword: None,
            per_minute: 20,
            max_body_bytes: 20_000,
        }
    }
}

fn errcode(code: i64, msg: &str) -> Outgoing {
    Outgoing::json(json!({"errcode": code, "errmsg": msg}))
}

fn scripted(
    st: &mut ChatState,
    code: impl Fn(i64, &str) -> Outgoing,
    rate: impl Fn() -> Outgoing,
) -> Option<Outgoing> {
    Some(match st.faults.pop_front()? {
        ChatFault::Code { code: c, msg } => code(c, &msg),
        ChatFault::RateLimited => rate(),
        ChatFault::Http {
            status,
            body,
            retry_after,
        } => Outgoing {
            retry_after,
            ..Outgoing::text(status, &body)
        },
    })
}

impl ChatService for DingTalkConfig {
    const NAME: &'static str = "fake-dingtalk";

    fn webhook(&self, base: &str) -> String {
        format!("{base}{DINGTALK_PATH}?access_token={}", self.access_token)
    }

    fn decide(&self, st: &mut ChatState, req: &Incoming) -> Outgoing {
        let too_fast = || errcode(130101, "send too fast, exceed 20 times per minute");
        if let Some(r) = route(req, req.path == DINGTALK_PATH) {
            return r;
        }
        if req.param("access_token") != Some(self.access_token.as_str()) {
            return errcode(300001, "token is not exist");
        }
        if req.body.len() > self.max_body_bytes {
            return errcode(460101, "message too long, exceed 20000 bytes");
        }
        let Some(body) = parse_object(&req.body) else {
            return errcode(40035, "缺少参数 json");
        };
        if let Some(secret) = &self.secret {
            let ts = req.param("timestamp").unwrap_or("");
            let fresh = ts.parse::<i64>().is_ok_and(|t| within_skew(req.wall_ms, t));
            if !fresh {
                return errcode(310000, "timestamp is invalid, more than 1 hour from now");
            }
            if req.param("sign") != Some(dingtalk_sign(secret, ts).as_str()) {
                return errcode(310000, "sign not match");
            }
        }
        let text =
            str_at(&body, &["text", "content"]).or_else(|| str_at(&body, &["markdown", "text"]));
        if let Some(k) = &self.keyword {
            if !text.is_some_and(|t| t.contains(k.as_str())) {
                return errcode(310000, "keywords not in content");
            }
        }
        if let Some(r) = scripted(st, errcode, too_fast) {
            return r;
        }
        let valid = match body.get("msgtype").and_then(Value::as_str) {
            Some("text") => str_at(&body, &["text", "content"]).is_some(),
            Some("markdown") => {
                str_at(&body, &["markdown", "title"]).is_some()
                    && str_at(&body, &["markdown", "text"]).is_some()
            }
            _ => false,
        };
        if !valid {
            return errcode(40035, "缺少参数 msgtype/content");
        }
        if st.count_within(req.at, Duration::from_secs(60)) >= self.per_minute {
            return too_fast();
        }
        st.accept(req.at, body);
        errcode(0, "ok")
    }
}

// ---------------------------------------------------------------------------
// WeCom

/// A [`FakeWeCom`]'s robot.
#[derive(Clone, Debug)]
pub struct WeComConfig {
    pub key: String,
    pub per_minute: usize,
    pub markdown_max_bytes: usize,
    pub text_max_bytes: usize,
}

impl Default for WeComConfig {
    fn default() -> Self {
        WeComConfig {
            key: "fake-wecom-key-0001".into(),
            per_minute: 20,
            markdown_max_bytes: 4096,
            text_max_bytes: 2048,
        }
    }
}

impl ChatService for WeComConfig {
    const NAME: &'static str = "fake-wecom";

    fn webhook(&self, base: &str) -> String {
        format!("{base}{WECOM_PATH}?key={}", self.key)
    }

    fn decide(&self, st: &mut ChatState, req: &Incoming) -> Outgoing {
        let freq = || errcode(45009, "api freq out of limit");
        if let Some(r) = route(req, req.path == WECOM_PATH) {
            return r;
        }
        if req.param("key") != Some(self.key.as_str()) {
            return errcode(93000, "invalid webhook url, please check");
        }
        let Some(body) = parse_object(&req.body) else {
            return errcode(40035, "invalid Request Parameter: not json");
        };
        if let Some(r) = scripted(st, errcode, freq) {
            return r;
        }
        let msgtype = body.get("msgtype").and_then(Value::as_str).unwrap_or("");
        let (content, max) = match msgtype {
            "text" => (str_at(&body, &["text", "content"]), self.text_max_bytes),
            "markdown" => (
                str_at(&body, &["markdown", "content"]),
                self.markdown_max_bytes,
            ),
            _ => return errcode(40008, "invalid message type"),
        };
        let Some(content) = content.filter(|c| !c.is_empty()) else {
            return errcode(44004, "empty content");
        };
        if content.len() > max {
            return errcode(
                40058,
                &format!("{msgtype}.content exceed max length {max}. invalid Request Parameter"),
            );
        }
        if msgtype == "text" {
            if let Some(list) = body["text"].get("mentioned_mobile_list") {
                let ok = list
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string));
                if !ok {
                    return errcode(40058, "invalid mentioned_mobile_list");
                }
            }
        }
        if st.count_within(req.at, Duration::from_secs(60)) >= self.per_minute {
            return freq();
        }
        st.accept(req.at, body);
        errcode(0, "ok")
    }
}

// ---------------------------------------------------------------------------
// Feishu

/// A [`FakeFeishu`]'s bot.
#[derive(Clone, Debug)]
pub struct FeishuConfig {
    /// The hook token (last path segment).
    pub token: String,
    /// Signed mode.
    pub secret: Option<String>,
    /// Keyword mode.
    pub keyword: Option<String>,
    pub per_minute: usize,
    pub per_second: usize,
    pub max_body_bytes: usize,
    /// Answer success in the older `StatusCode` shape.
    pub legacy_reply: bool,
}

impl Default for FeishuConfig {
    fn default() -> Self {
        FeishuConfig {
            token: "fake-feishu-hook-0001".into(),
            secret: None,
            keyword: None,
            per_minute: 100,
            per_second: 5,
            max_body_bytes: 20_000,
            legacy_reply: false,
        }
    }
}

fn feishu_code(code: i64, msg: &str) -> Outgoing {
    Outgoing::json(json!({"code": code, "msg": msg, "data": {}}))
}

/// All the words of a Feishu message the keyword check looks at.
fn feishu_words(body: &Value) -> String {
    let mut out = String::new();
    if let Some(t) = str_at(body, &["content", "text"]) {
        out.push_str(t);
    }
    if let Some(langs) = body["content"].get("post").and_then(Value::as_object) {
        for post in langs.values() {
            if let Some(t) = post.get("title").and_then(Value::as_str) {
                out.push_str(t);
            }
            for line in post["content"].as_array().into_iter().flatten() {
                for el in line.as_array().into_iter().flatten() {
                    if let Some(t) = el.get("text").and_then(Value::as_str) {
                        out.push_str(t);
                    }
                }
            }
        }
    }
    out
}

impl ChatService for FeishuConfig {
    const NAME: &'static str = "fake-feishu";

    fn webhook(&self, base: &str) -> String {
        format!("{base}{FEISHU_PATH}{}", self.token)
    }

    fn decide(&self, st: &mut ChatState, req: &Incoming) -> Outgoing {
        let limited = || {
            feishu_code(
                11232,
                "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]",
            )
        };
        let Some(token) = req.path.strip_prefix(FEISHU_PATH) else {
            return Outgoing::text(404, "404 page not found");
        };
        if let Some(r) = route(req, true) {
            return r;
        }
        if token != self.token {
            return feishu_code(
                19001,
                "param invalid: incoming webhook access token invalid",
            );
        }
        if req.body.len() > self.max_body_bytes {
            return Outgoing::text(413, "Request Entity Too Large");
        }
        let Some(body) = parse_object(&req.body) else {
            return feishu_code(9499, "Bad Request");
        };
        if let Some(secret) = &self.secret {
            let ts = match body.get("timestamp") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            let fresh = ts
                .parse::<i64>()
                .is_ok_and(|t| within_skew(req.wall_ms, t.saturating_mul(1000)));
            let signed =
                body.get("sign").and_then(Value::as_str) == Some(feishu_sign(secret, &ts).as_str());
            if !fresh || !signed {
                return feishu_code(
                    19021,
                    "sign match fail or timestamp is not within one hour from current time",
                );
            }
        }
        if let Some(k) = &self.keyword {
            if !feishu_words(&body).contains(k.as_str()) {
                return feishu_code(19024, "Key Words Not Found");
            }
        }
        if let Some(r) = scripted(st, feishu_code, limited) {
            return r;
        }
        let valid = match body.get("msg_type").and_then(Value::as_str) {
            Some("text") => str_at(&body, &["content", "text"]).is_some(),
            Some("post") => body["content"].get("post").is_some_and(Value::is_object),
            Some("interactive") => body.get("card").is_some() || body.get("content").is_some(),
            Some("image" | "share_chat") => body.get("content").is_some(),
            _ => false,
        };
        if !valid {
            return feishu_code(9499, "Bad Request");
        }
        if st.count_within(req.at, Duration::from_secs(1)) >= self.per_second
            || st.count_within(req.at, Duration::from_secs(60)) >= self.per_minute
        {
            return limited();
        }
        st.accept(req.at, body);
        if self.legacy_reply {
            Outgoing::json(json!({"Extra": null, "StatusCode": 0, "StatusMessage": "success"}))
        } else {
            feishu_code(0, "success")
        }
    }
}

// ---------------------------------------------------------------------------
// Slack

/// A [`FakeSlack`]'s webhook.
#[derive(Clone, Debug)]
pub struct SlackConfig {
    /// The webhook path (`/services/T…/B…/…`), itself the secret.
    pub path: String,
    pub archived: bool,
    pub per_second: usize,
    /// `Retry-After` of the 429 reply.
    pub retry_after_secs: u64,
    pub max_text_chars: usize,
}

impl Default for SlackConfig {
    fn default() -> Self {
        SlackConfig {
            path: SLACK_PATH.into(),
            archived: false,
            per_second: 1,
            retry_after_secs: 1,
            max_text_chars: 40_000,
        }
    }
}

impl ChatService for SlackConfig {
    const NAME: &'static str = "fake-slack";

    fn webhook(&self, base: &str) -> String {
        format!("{base}{}", self.path)
    }

    fn decide(&self, st: &mut ChatState, req: &Incoming) -> Outgoing {
        let limited = || Outgoing {
            retry_after: Some(self.retry_after_secs),
            ..Outgoing::text(429, "rate_limited")
        };
        if req.path != self.path {
            return Outgoing::text(404, "no_service");
        }
        if let Some(r) = route(req, true) {
            return r;
        }
        if self.archived {
            return Outgoing::text(410, "channel_is_archived");
        }
        if let Some(r) = scripted(st, |_, msg| Outgoing::text(400, msg), limited) {
            return r;
        }
        let Some(body) = parse_object(&req.body) else {
            return Outgoing::text(400, "invalid_payload");
        };
        let text = body.get("text").and_then(Value::as_str).unwrap_or("");
        let blocks = body
            .get("blocks")
            .and_then(Value::as_array)
            .is_some_and(|b| !b.is_empty());
        if text.trim().is_empty() && !blocks {
            return Outgoing::text(400, "invalid_payload");
        }
        if text.chars().count() > self.max_text_chars {
            return Outgoing::text(400, "msg_too_long");
        }
        if st.count_within(req.at, Duration::from_secs(1)) >= self.per_second {
            return limited();
        }
        st.accept(req.at, body);
        Outgoing::text(200, "ok")
    }
}

// ---------------------------------------------------------------------------
// The server

struct Hub<S> {
    service: S,
    state: Mutex<ChatState>,
}

impl<S: ChatService> Hub<S> {
    fn lock(&self) -> MutexGuard<'_, ChatState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn handle(&self, method: Method, uri: &Uri, body: Bytes) -> Response {
        let req = Incoming {
            method,
            path: uri.path().to_string(),
            query: form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
            body,
            at: Instant::now(),
            wall_ms: chrono::Utc::now().timestamp_millis(),
        };
        let mut st = self.lock();
        let out = self.service.decide(&mut st, &req);
        st.log.push(ChatRequest {
            at: req.at,
            method: req.method.to_string(),
            path: req.path,
            query: req.query,
            body: serde_json::from_slice(&req.body).ok(),
            status: out.status,
            reply: out.body.clone(),
        });
        drop(st);
        out.into_response()
    }
}

/// A running fake chat service on 127.0.0.1; stops when dropped.
pub struct FakeChat<S: ChatService> {
    hub: Arc<Hub<S>>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// A fake DingTalk custom robot.
pub type FakeDingTalk = FakeChat<DingTalkConfig>;
/// A fake WeCom group robot.
pub type FakeWeCom = FakeChat<WeComConfig>;
/// A fake Feishu custom bot.
pub type FakeFeishu = FakeChat<FeishuConfig>;
/// A fake Slack incoming webhook.
pub type FakeSlack = FakeChat<SlackConfig>;

impl<S: ChatService> FakeChat<S> {
    /// Starts on `127.0.0.1:0` (a random free port).
    ///
    /// # Panics
    /// If no local port can be bound (a broken test machine); use
    /// [`FakeChat::start_on`] to handle that.
    pub fn start(service: S) -> Self {
        match Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), service) {
            Ok(fake) => fake,
            Err(e) => panic!("{} could not bind 127.0.0.1:0: {e}", S::NAME),
        }
    }

    /// Starts on the given address.
    pub fn start_on(addr: SocketAddr, service: S) -> io::Result<Self> {
        let hub = Arc::new(Hub {
            service,
            state: Mutex::new(ChatState::default()),
        });
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app_hub = hub.clone();
        let app = Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let hub = app_hub.clone();
            async move { hub.handle(method, &uri, body) }
        });
        let thread = std::thread::Builder::new()
            .name(S::NAME.to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        _ = axum::serve(listener, app).into_future() => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime cancels every open connection.
                drop(runtime);
            })?;
        Ok(FakeChat {
            hub,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The webhook URL with the configured token / key / path.
    pub fn webhook(&self) -> String {
        self.hub.service.webhook(&self.base_url())
    }

    /// The configuration.
    pub fn config(&self) -> &S {
        &self.hub.service
    }

    /// The parsed bodies of the messages accepted so far, in order.
    pub fn received(&self) -> Vec<Value> {
        self.hub.lock().received.clone()
    }

    /// Every request so far (accepted or not), in arrival order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.hub.lock().log.clone()
    }

    /// The next `k` requests that pass the security checks get `fault` (queued
    /// after any faults already scripted).
    pub fn fail_next(&self, k: usize, fault: ChatFault) {
        let mut st = self.hub.lock();
        st.faults.extend(std::iter::repeat_n(fault, k));
    }

    /// Forgets the log, the received messages, the rate windows and the faults.
    pub fn reset(&self) {
        *self.hub.lock() = ChatState::default();
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<S: ChatService> Drop for FakeChat<S> {
    fn drop(&mut self) {
        // Signal only: joining from inside an async test would block its worker.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: i64 = 1_700_000_000_000;

    fn req(path: &str, query: &[(&str, &str)], body: Value, at: Instant) -> Incoming {
        Incoming {
            method: Method::POST,
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Bytes::from(body.to_string()),
            at,
            wall_ms: NOW_MS,
        }
    }

    fn code(o: &Outgoing) -> i64 {
        let v: Value = serde_json::from_str(&o.body).unwrap_or(Value::Null);
        v.get("errcode")
            .or_else(|| v.get("code"))
            .and_then(Value::as_i64)
            .unwrap_or(-1)
    }

    #[test]
    fn dingtalk_vector() {
        assert_eq!(
            dingtalk_sign("SECtest0123456789", "1700000000000"),
            "yBKp5IlG6qCzcQWmgyRK/ziJBdVNJmHfFE2ST/CzT/g="
        );
    }

    #[test]
    fn feishu_vector() {
        assert_eq!(
            feishu_sign("feishu-secret-01", "1700000000"),
            "qQJDh0DjcKtraQn8sDRgB4PJYlekJFFEe2kwFVFk3C8="
        );
    }

    fn md(text: &str) -> Value {
        json!({"msgtype": "markdown", "markdown": {"title": "t", "text": text}})
    }

    #[test]
    fn dingtalk_signed_mode_checks_sign_and_timestamp() {
        let cfg = DingTalkConfig {
            secret: Some("SECtest0123456789".into()),
            ..DingTalkConfig::default()
        };
        let mut st = ChatState::default();
        let t0 = Instant::now();
        let token = cfg.access_token.clone();
        let ok_sign = dingtalk_sign("SECtest0123456789", "1700000000000");
        let good = [
            ("access_token", token.as_str()),
            ("timestamp", "1700000000000"),
            ("sign", ok_sign.as_str()),
        ];
        assert_eq!(
            code(&cfg.decide(&mut st, &req(DINGTALK_PATH, &good, md("x"), t0))),
            0
        );
        // A wrong sign, a stale timestamp (signed correctly), a wrong token.
        let bad = [
            ("access_token", token.as_str()),
            ("timestamp", "1700000000000"),
            ("sign", "AAAA"),
        ];
        assert_eq!(
            code(&cfg.decide(&mut st, &req(DINGTALK_PATH, &bad, md("x"), t0))),
            310000
        );
        let old_sign = dingtalk_sign("SECtest0123456789", "1699990000000");
        let stale = [
            ("access_token", token.as_str()),
            ("timestamp", "1699990000000"),
            ("sign", old_sign.as_str()),
        ];
        assert_eq!(
            code(&cfg.decide(&mut st, &req(DINGTALK_PATH, &stale, md("x"), t0))),
            310000
        );
        let wrong_token = [
            ("access_token", "nope"),
            ("timestamp", "1700000000000"),
            ("sign", ok_sign.as_str()),
        ];
        assert_eq!(
            code(&cfg.decide(&mut st, &req(DINGTALK_PATH, &wrong_token, md("x"), t0))),
            300001
        );
        assert_eq!(st.received.len(), 1);
    }

    #[test]
    fn dingtalk_keyword_size_and_rate() {
        let cfg = DingTalkConfig {
            keyword: Some("包裹".into()),
            per_minute: 3,
            max_body_bytes: 200,
            ..DingTalkConfig::default()
        };
        let mut st = ChatState::default();
        let q = [("access_token", "fake-dingtalk-token-0001")];
        let t0 = Instant::now();
        assert_eq!(
            code(&cfg.decide(&mut st, &req(DINGTALK_PATH, &q, md("no keyword"), t0))),
            310000
        );
        assert_eq!(
            code(&cfg.decide(
                &mut st,
                &req(DINGTALK_PATH, &q, md(&"包裹".repeat(100)), t0)
            )),
            460101
        );
        for i in 0..3 {
            let at = t0 + Duration::from_secs(i * 10);
            assert_eq!(
                code(&cfg.decide(&mut st, &req(DINGTALK_PATH, &q, md("包裹 1"), at))),
                0
            );
        }
        // A 4th within 60 s of the first is refused; at 60 s the first has left
        // the window.
        let at = t0 + Duration::from_secs(59);
        assert_eq!(
            code(&cfg.decide(&mut st, &req(DINGTALK_PATH, &q, md("包裹 2"), at))),
            130101
        );
        let at = t0 + Duration::from_secs(60);
        assert_eq!(
            code(&cfg.decide(&mut st, &req(DINGTALK_PATH, &q, md("包裹 3"), at))),
            0
        );
        assert_eq!(st.received.len(), 4);
    }

    #[test]
    fn wecom_limits() {
        let cfg = WeComConfig::default();
        let mut st = ChatState::default();
        let q = [("key", "fake-wecom-key-0001")];
        let t0 = Instant::now();
        let markdown = |c: &str| json!({"msgtype": "markdown", "markdown": {"content": c}});
        assert_eq!(
            code(&cfg.decide(
                &mut st,
                &req(WECOM_PATH, &[("key", "x")], markdown("a"), t0)
            )),
            93000
        );
        assert_eq!(
            code(&cfg.decide(
                &mut st,
                &req(WECOM_PATH, &q, markdown(&"a".repeat(4097)), t0)
            )),
            40058
        );
        assert_eq!(
            code(&cfg.decide(
                &mut st,
                &req(WECOM_PATH, &q, markdown(&"a".repeat(4096)), t0)
            )),
            0
        );
        let text = json!({"msgtype": "text", "text": {"content": "a".repeat(2049)}});
        assert_eq!(
            code(&cfg.decide(&mut st, &req(WECOM_PATH, &q, text, t0))),
            40058
        );
        for _ in 1..20 {
            assert_eq!(
                code(&cfg.decide(&mut st, &req(WECOM_PATH, &q, markdown("a"), t0))),
                0
            );
        }
        assert_eq!(
            code(&cfg.decide(&mut st, &req(WECOM_PATH, &q, markdown("a"), t0))),
            45009
        );
    }

    #[test]
    fn feishu_signature_keyword_and_rates() {
        let cfg = FeishuConfig {
            secret: Some("feishu-secret-01".into()),
            keyword: Some("包裹".into()),
            ..FeishuConfig::default()
        };
        let mut st = ChatState::default();
        let path = format!("{FEISHU_PATH}fake-feishu-hook-0001");
        let t0 = Instant::now();
        let msg = |text: &str, ts: &str, sign: &str| json!({"timestamp": ts, "sign": sign, "msg_type": "text", "content": {"text": text}});
        let good = "qQJDh0DjcKtraQn8sDRgB4PJYlekJFFEe2kwFVFk3C8=";
        assert_eq!(
            code(&cfg.decide(
                &mut st,
                &req(&path, &[], msg("包裹", "1700000000", good), t0)
            )),
            0
        );
        assert_eq!(
            code(&cfg.decide(
                &mut st,
                &req(&path, &[], msg("包裹", "1700000000", "AAAA"), t0)
            )),
            19021
        );
        // Milliseconds instead of seconds: an hour off.
        let ms_sign = feishu_sign("feishu-secret-01", "1700000000000");
        assert_eq!(
            code(&cfg.decide(
                &mut st,
                &req(&path, &[], msg("包裹", "1700000000000", &ms_sign), t0)
            )),
            19021
        );
        assert_eq!(
            code(&cfg.decide(
                &mut st,
                &req(&path, &[], msg("none", "1700000000", good), t0)
            )),
            19024
        );
        // 5 per second: 4 more now, the 6th refused, fine a second later.
        for _ in 0..4 {
            assert_eq!(
                code(&cfg.decide(
                    &mut st,
                    &req(&path, &[], msg("包裹", "1700000000", good), t0)
                )),
                0
            );
        }
        assert_eq!(
            code(&cfg.decide(
                &mut st,
                &req(&path, &[], msg("包裹", "1700000000", good), t0)
            )),
            11232
        );
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            code(&cfg.decide(
                &mut st,
                &req(&path, &[], msg("包裹", "1700000000", good), t1)
            )),
            0
        );
        assert_eq!(
            code(&cfg.decide(
                &mut st,
                &req(
                    &format!("{FEISHU_PATH}other"),
                    &[],
                    msg("包裹", "1700000000", good),
                    t1
                )
            )),
            19001
        );
    }

    #[test]
    fn feishu_per_minute() {
        let cfg = FeishuConfig::default();
        let mut st = ChatState::default();
        let path = format!("{FEISHU_PATH}fake-feishu-hook-0001");
        let t0 = Instant::now();
        let msg = json!({"msg_type": "text", "content": {"text": "x"}});
        for i in 0..100 {
            let at = t0 + Duration::from_millis(i * 500);
            assert_eq!(
                code(&cfg.decide(&mut st, &req(&path, &[], msg.clone(), at))),
                0,
                "{i}"
            );
        }
        let at = t0 + Duration::from_millis(50_000);
        assert_eq!(code(&cfg.decide(&mut st, &req(&path, &[], msg, at))), 11232);
    }

    #[test]
    fn slack_replies() {
        let cfg = SlackConfig::default();
        let mut st = ChatState::default();
        let t0 = Instant::now();
        let ok = cfg.decide(&mut st, &req(SLACK_PATH, &[], json!({"text": "hi"}), t0));
        assert_eq!((ok.status, ok.body.as_str()), (200, "ok"));
        let limited = cfg.decide(&mut st, &req(SLACK_PATH, &[], json!({"text": "hi"}), t0));
        assert_eq!((limited.status, limited.retry_after), (429, Some(1)));
        let t1 = t0 + Duration::from_secs(1);
        let missing = cfg.decide(&mut st, &req(SLACK_PATH, &[], json!({"blocks": []}), t1));
        assert_eq!(
            (missing.status, missing.body.as_str()),
            (400, "invalid_payload")
        );
        let wrong = cfg.decide(
            &mut st,
            &req("/services/T/B/nope", &[], json!({"text": "hi"}), t1),
        );
        assert_eq!((wrong.status, wrong.body.as_str()), (404, "no_service"));
        st.faults.push_back(ChatFault::Http {
            status: 503,
            body: "down".into(),
            retry_after: None,
        });
        let down = cfg.decide(&mut st, &req(SLACK_PATH, &[], json!({"text": "hi"}), t1));
        assert_eq!(down.status, 503);
        let archived = SlackConfig {
            archived: true,
            ..SlackConfig::default()
        };
        assert_eq!(
            archived
                .decide(&mut st, &req(SLACK_PATH, &[], json!({"text": "hi"}), t1))
                .status,
            410
        );
        assert_eq!(st.received.len(), 1);
    }
}
