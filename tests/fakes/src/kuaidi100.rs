//! Fake Kuaidi100 (快递100), carriers.md §2.
//!
//! # `POST /poll/query.do` (real-time query)
//! Checks, in order; failures are HTTP 200 `{"result":false,"returnCode","message"}`
//! unless said otherwise:
//!
//! | check | `returnCode` | `message` |
//! |---|---|---|
//! | method POST, known path | — | HTTP 405 / 404 (HTML) |
//! | QPS limit ([`FakeKuaidi100::set_qps_limit`]) | **HTTP 429** | `{"result":false,"returnCode":"429","message":"`[`MSG_RATE_LIMITED`]`"}` |
//! | `Content-Type` is a URL-encoded form; `customer`, `sign`, `param` non-empty | `400` | [`MSG_INCOMPLETE`] |
//! | `customer` is the configured one and `sign` = UPPER(hex MD5(param + key + customer)) over the decoded `param` (exact, upper case) | `503` | [`MSG_BAD_SIGN`] |
//! | `param` is a JSON object | `501` | [`MSG_SERVER_ERROR`] |
//! | `num` non-empty | `400` | [`MSG_INCOMPLETE`] |
//! | `com` known (lower case, [`CARRIERS`](crate::CARRIERS)) | `400` | [`MSG_NO_COMPANY`] |
//! | shunfeng/zhongtong whose parcel has `phone_last4`: `phone` ends with it | `408` | [`MSG_BAD_PHONE`] |
//!
//! Kuaidi100 documents no rate-limit reply; the fake answers HTTP 429 with the JSON
//! body above so a client has to handle a non-200 status. Then scripted
//! [`Behaviour`]s apply (`Error` → HTTP 200 with its `returnCode`/`message`, e.g.
//! 601 key已过期, 502 服务器繁忙). A number not in the scenario, a `com` that does
//! not match the scenario's carrier, an empty timeline or `NoTraces` →
//! `{"result":false,"returnCode":"500","message":"查询无结果，请隔段时间再查"}`.
//!
//! Success: `{"message":"ok","nu","ischeck","condition":"F00","com","status":"200",
//! "state","data":[...]}`, data newest first (`"order":"asc"` reverses it); each item
//! has `time`, `ftime`, `context`, `location` (`""` when unknown); with `resultv2`≥1
//! also `status` (Chinese base-state name), `areaCode`/`areaCenter`/`areaPinYin`
//! (`null`) and `areaName` (the location); with `resultv2`≥4 also `statusCode`.
//! Top-level `state` is the newest code with `resultv2`≥4, else its base state;
//! `ischeck` is `"1"` when that base state is `3` (签收).
//!
//! # `POST /poll` (subscription)
//! Form `schema=json` and `param`; no sign, no customer. After the QPS and
//! content-type checks: `schema` ≠ `json` or no `param` → 400 [`MSG_INCOMPLETE`];
//! `param` not an object → 501; `key` ≠ configured → 600 [`MSG_NOT_SUBSCRIBER`];
//! `number` or `parameters.callbackurl` missing → 400 [`MSG_INCOMPLETE`]; `company`
//! missing or unknown (unless `parameters.autoCom` = `"1"`) → 400 [`MSG_NO_COMPANY`];
//! then behaviours; then the subscription is recorded and the reply is
//! `{"result":true,"returnCode":"200","message":"提交成功"}`.
//!
//! # Pushes
//! [`kuaidi100_push_form`] builds what Kuaidi100 POSTs to a `callbackurl`:
//! `param=<json>` and, when a salt was given, `sign=UPPER(hex MD5(param + salt))`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::model::{
    kuaidi100_code_of, kuaidi100_com, kuaidi100_family, kuaidi100_state_name, shipper_of_com,
    Behaviour, Event, Logged, Parcel, Scenario, Subscription, Target,
};
use crate::server::{
    controls, required, str_field, verdict, Core, Details, Incoming, Logic, Reply, Running, State,
    Verdict,
};
use crate::sign::{kuaidi100_push_sign, kuaidi100_sign};

/// Real-time query path.
pub const QUERY_PATH: &str = "/poll/query.do";
/// Subscription path.
pub const SUBSCRIBE_PATH: &str = "/poll";

/// 400: bad content type, missing field.
pub const MSG_INCOMPLETE: &str = "提交的数据不完整，或者贵公司没授权";
/// 400: unknown `com`.
pub const MSG_NO_COMPANY: &str = "找不到对应公司";
/// 408: phone missing or wrong (SF, ZTO privacy waybills).
pub const MSG_BAD_PHONE: &str = "快递公司参数异常：验证码错误";
/// 500: nothing known about the number.
pub const MSG_NO_RESULT: &str = "查询无结果，请隔段时间再查";
/// 501: malformed `param`.
pub const MSG_SERVER_ERROR: &str = "服务器错误";
/// 503: wrong customer or sign.
pub const MSG_BAD_SIGN: &str = "验证签名失败";
/// 600: wrong key on `/poll`.
pub const MSG_NOT_SUBSCRIBER: &str = "您不是合法的订阅者";
/// HTTP 429 body message (the fake's choice: Kuaidi100 documents no rate-limit reply).
pub const MSG_RATE_LIMITED: &str = "请求过于频繁，请稍后再试";

/// Credentials and initial timelines of a [`FakeKuaidi100`].
#[derive(Clone, Debug, Default)]
pub struct Kuaidi100Config {
    /// The only accepted `customer`.
    pub customer: String,
    /// The account key (query signatures; `key` inside the subscription `param`).
    pub key: String,
    /// Initial timelines.
    pub scenario: Scenario,
}

/// A running fake Kuaidi100 on 127.0.0.1; stops when dropped.
pub struct FakeKuaidi100 {
    core: Core,
    running: Running,
}

impl FakeKuaidi100 {
    /// Starts on `127.0.0.1:0` (a random free port).
    ///
    /// # Panics
    /// If no local port can be bound; use [`FakeKuaidi100::start_on`] to handle that.
    pub fn start(config: Kuaidi100Config) -> FakeKuaidi100 {
        match FakeKuaidi100::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config) {
            Ok(fake) => fake,
            Err(e) => panic!("fake Kuaidi100 could not bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts on the given address.
    pub fn start_on(addr: SocketAddr, config: Kuaidi100Config) -> io::Result<FakeKuaidi100> {
        let core = Core::new(config.scenario.clone());
        let customer = config.customer;
        let key = config.key;
        let logic: Logic =
            Arc::new(move |st: &mut State, req: &Incoming| handle(st, &customer, &key, req));
        let running = Running::spawn(addr, core.clone(), logic, "fake-kuaidi100")?;
        Ok(FakeKuaidi100 { core, running })
    }

    /// `base_url()` + [`QUERY_PATH`].
    pub fn query_url(&self) -> String {
        format!("{}{QUERY_PATH}", self.base_url())
    }

    /// `base_url()` + [`SUBSCRIBE_PATH`].
    pub fn subscribe_url(&self) -> String {
        format!("{}{SUBSCRIBE_PATH}", self.base_url())
    }

    controls!();
}

fn err(code: &str, message: &str) -> Reply {
    Reply::json(&json!({"result": false, "returnCode": code, "message": message}))
}

fn rate_limited() -> Reply {
    Reply::json_status(
        429,
        &json!({"result": false, "returnCode": "429", "message": MSG_RATE_LIMITED}),
    )
}

fn parse_object(raw: &str) -> Option<Value> {
    serde_json::from_str::<Value>(raw)
        .ok()
        .filter(Value::is_object)
}

fn handle(st: &mut State, customer: &str, key: &str, req: &Incoming) -> (Reply, Details) {
    let param = req.field("param").and_then(parse_object);
    let is_query = req.path == QUERY_PATH;
    let details = Details {
        request_type: None,
        number: param
            .as_ref()
            .and_then(|p| required(p, if is_query { "num" } else { "number" })),
        signature_valid: if is_query {
            Some(match (req.field("param"), req.field("sign")) {
                (Some(p), Some(s)) => kuaidi100_sign(p, key, customer) == s,
                _ => false,
            })
        } else {
            None
        },
    };
    let reply = if req.path != QUERY_PATH && req.path != SUBSCRIBE_PATH {
        Reply::http_status(404)
    } else if req.method != axum::http::Method::POST {
        Reply::http_status(405)
    } else if !st.admit(req.at) {
        rate_limited()
    } else if !req.is_form() {
        err("400", MSG_INCOMPLETE)
    } else if is_query {
        query(st, customer, req, param.as_ref(), &details)
    } else {
        subscribe(st, key, req, param.as_ref())
    };
    (reply, details)
}

fn query(
    st: &mut State,
    customer: &str,
    req: &Incoming,
    param: Option<&Value>,
    details: &Details,
) -> Reply {
    if ["customer", "sign", "param"]
        .iter()
        .any(|f| req.nonempty(f).is_none())
    {
        return err("400", MSG_INCOMPLETE);
    }
    if req.field("customer") != Some(customer) || details.signature_valid != Some(true) {
        return err("503", MSG_BAD_SIGN);
    }
    let Some(param) = param else {
        return err("501", MSG_SERVER_ERROR);
    };
    let Some(number) = required(param, "num") else {
        return err("400", MSG_INCOMPLETE);
    };
    let com = str_field(param, "com").unwrap_or_default();
    let Some(shipper) = shipper_of_com(com.trim()) else {
        return err("400", MSG_NO_COMPANY);
    };
    let parcel = st.parcel_for(shipper, &number);
    if matches!(shipper, "SF" | "ZTO") {
        if let Some(last4) = parcel.as_ref().and_then(|p| p.phone_last4.as_deref()) {
            let phone = str_field(param, "phone").unwrap_or_default();
            if !phone.trim().ends_with(last4) {
                return err("408", MSG_BAD_PHONE);
            }
        }
    }
    let (delay, no_traces) = match verdict(st.take_behaviour(&number), err, rate_limited) {
        Verdict::Stop(reply) => return reply,
        Verdict::Go { delay, no_traces } => (delay, no_traces),
    };
    let events = match &parcel {
        Some(p) if !no_traces && !p.events.is_empty() => p.events.as_slice(),
        _ => return err("500", MSG_NO_RESULT).delayed(delay),
    };
    let resultv2 = str_field(param, "resultv2")
        .and_then(|r| r.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let ascending = str_field(param, "order").is_some_and(|o| o.eq_ignore_ascii_case("asc"));
    let com = com.trim().to_string();
    Reply::json(&render(&com, &number, events, resultv2, ascending)).delayed(delay)
}

fn subscribe(st: &mut State, key: &str, req: &Incoming, param: Option<&Value>) -> Reply {
    if req.field("schema") != Some("json") || req.nonempty("param").is_none() {
        return err("400", MSG_INCOMPLETE);
    }
    let Some(param) = param else {
        return err("501", MSG_SERVER_ERROR);
    };
    if str_field(param, "key").as_deref() != Some(key) {
        return err("600", MSG_NOT_SUBSCRIBER);
    }
    let parameters = param.get("parameters").cloned().unwrap_or(Value::Null);
    let callback_url = required(&parameters, "callbackurl");
    let Some(number) = required(param, "number") else {
        return err("400", MSG_INCOMPLETE);
    };
    if callback_url.is_none() {
        return err("400", MSG_INCOMPLETE);
    }
    let company = str_field(param, "company").unwrap_or_default();
    let auto = str_field(&parameters, "autoCom").as_deref() == Some("1");
    if shipper_of_com(company.trim()).is_none() && !(auto && company.trim().is_empty()) {
        return err("400", MSG_NO_COMPANY);
    }
    let delay = match verdict(st.take_behaviour(&number), err, rate_limited) {
        Verdict::Stop(reply) => return reply,
        Verdict::Go { delay, .. } => delay,
    };
    st.subscriptions.push(Subscription {
        at: Instant::now(),
        request_type: None,
        carrier: company,
        number,
        phone: str_field(&parameters, "phone"),
        callback_url,
        salt: str_field(&parameters, "salt"),
        resultv2: str_field(&parameters, "resultv2"),
        request: param.clone(),
    });
    Reply::json(&json!({"result": true, "returnCode": "200", "message": "提交成功"})).delayed(delay)
}

/// The query-shaped reply for these events.
fn render(com: &str, number: &str, events: &[Event], resultv2: u32, ascending: bool) -> Value {
    let newest = events.last().map(kuaidi100_code_of).unwrap_or_default();
    let family = kuaidi100_family(&newest);
    let state = if resultv2 >= 4 {
        newest.clone()
    } else {
        family.clone()
    };
    let mut data: Vec<Value> = events
        .iter()
        .map(|e| {
            let code = kuaidi100_code_of(e);
            let mut item = Map::new();
            item.insert("time".into(), json!(e.time));
            item.insert("ftime".into(), json!(e.time));
            item.insert("context".into(), json!(e.text));
            item.insert(
                "location".into(),
                json!(e.location.clone().unwrap_or_default()),
            );
            if resultv2 >= 1 {
                item.insert(
                    "status".into(),
                    json!(kuaidi100_state_name(&kuaidi100_family(&code))),
                );
                item.insert("areaCode".into(), Value::Null);
                item.insert("areaName".into(), json!(e.location));
                item.insert("areaCenter".into(), Value::Null);
                item.insert("areaPinYin".into(), Value::Null);
            }
            if resultv2 >= 4 {
                item.insert("statusCode".into(), json!(code));
            }
            Value::Object(item)
        })
        .collect();
    if !ascending {
        data.reverse();
    }
    json!({
        "message": "ok",
        "nu": number,
        "ischeck": if family == "3" { "1" } else { "0" },
        "condition": "F00",
        "com": com,
        "status": "200",
        "state": state,
        "data": data,
    })
}

/// The `lastResult` object for `parcel` (a resultv2=4 query reply, data newest
/// first); `com` from the carrier table (the lower-cased carrier if unknown).
pub fn kuaidi100_render(parcel: &Parcel) -> Value {
    let com = kuaidi100_com(&parcel.carrier)
        .map(str::to_string)
        .unwrap_or_else(|| parcel.carrier.to_ascii_lowercase());
    render(&com, &parcel.number, &parcel.events, 4, false)
}

/// A push `param` object: `{"status", "billstatus", "message", "autoCheck":"0",
/// "comOld":"", "comNew":"", "lastResult"}`; `status` is `polling`, `shutdown`,
/// `abort` or `updateall`, `message` e.g. `"3天查询无记录"` for `abort`.
pub fn kuaidi100_push_param(status: &str, message: &str, parcel: &Parcel) -> Value {
    let billstatus = match status {
        "shutdown" => "check",
        "abort" => "",
        _ => "got",
    };
    json!({
        "status": status,
        "billstatus": billstatus,
        "message": message,
        "autoCheck": "0",
        "comOld": "",
        "comNew": "",
        "lastResult": kuaidi100_render(parcel),
    })
}

/// The form body Kuaidi100 POSTs to a `callbackurl`: `param=<json>` and, when
/// `salt` is given, `&sign=UPPER(hex MD5(param + salt))` over the exact `param`
/// string sent.
pub fn kuaidi100_push_form(param: &Value, salt: Option<&str>) -> String {
    let param = param.to_string();
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("param", &param);
    if let Some(salt) = salt {
        form.append_pair("sign", &kuaidi100_push_sign(&param, salt));
    }
    form.finish()
}

/// A signed real-time query form body (`customer`, `sign`, `param`), for demos and
/// for tests that need a known-good request.
pub fn kuaidi100_query_form(customer: &str, key: &str, param: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("customer", customer)
        .append_pair("sign", &kuaidi100_sign(param, key, customer))
        .append_pair("param", param)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_resultv2_levels() {
        let p = Parcel::new("YTO", "1")
            .event(Event::new("2024-05-01 09:12:00", "揽收").kuaidi100("1"))
            .event(Event::new("2024-05-02 07:40:00", "到柜").kuaidi100("304"));
        let v = render("yuantong", "1", &p.events, 4, false);
        assert_eq!(v["state"], "304");
        assert_eq!(v["ischeck"], "1");
        assert_eq!(v["data"][0]["statusCode"], "304");
        assert_eq!(v["data"][0]["status"], "签收");
        let v = render("yuantong", "1", &p.events, 0, true);
        assert_eq!(v["state"], "3");
        assert_eq!(v["data"][0]["context"], "揽收");
        assert!(v["data"][0].get("status").is_none());
    }
}
