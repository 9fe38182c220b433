//! Fake Kdniao (快递鸟), carriers.md §1.
//!
//! # What it checks, in order
//! Each failure is an HTTP 200 JSON reply with `"Success":false`, a `Code` and a
//! `Reason` (Kdniao reports business failures in the body, never in the status):
//!
//! | check | `Code` | `Reason` |
//! |---|---|---|
//! | method POST, known path | — | HTTP 405 / 404 (HTML) |
//! | QPS limit ([`FakeKdniao::set_qps_limit`]) | `405` | [`REASON_RATE_LIMITED`] |
//! | `Content-Type` starts with `application/x-www-form-urlencoded` | `103` | [`REASON_CONTENT_TYPE`] |
//! | `RequestData`, `EBusinessID`, `RequestType`, `DataSign`, `DataType` present | `101` | `缺少必要参数[<field>]` |
//! | `DataType` = `2` | `103` | [`REASON_DATA_TYPE`] |
//! | `EBusinessID` is the configured one and `DataSign` = Base64(hex MD5(RequestData + AppKey)) over the decoded form value | `102` | [`REASON_ILLEGAL`] |
//! | `RequestType` ∈ 1002, 8001, 8002, 2002, 1008, 8008 | `105` | [`REASON_REQUEST_TYPE`] |
//! | `RequestData` is a JSON object (single-quoted demo style accepted) | `401` | [`REASON_BAD_JSON`] |
//! | `ShipperCode` (not for 2002) and `LogisticCode` present | `101` | `缺少必要参数[ShipperCode]` / `缺少必要参数[LogisticCode]` |
//! | `ShipperCode` known ([`CARRIERS`](crate::CARRIERS)) | `105` | [`REASON_UNKNOWN_SHIPPER`] |
//! | SF: `CustomerName` non-empty, and equal to the parcel's `phone_last4` when it has one | `105` | [`REASON_SF_PHONE`] |
//! | 8001 ZTO whose parcel has `phone_last4`: `CustomerName` equal to it | `105` | [`REASON_ZTO_PHONE`] |
//!
//! Failure bodies: `{"EBusinessID","Success":false,"Code","Reason"}` plus, by request
//! type, `ShipperCode`/`LogisticCode`/`State:"0"`/`Traces:[]` (queries),
//! `LogisticCode`/`Shippers:[]` (2002), `UpdateTime`/`EstimatedDeliveryTime:""`
//! (subscriptions). Only then do scripted [`Behaviour`]s apply
//! (`RateLimited` gives the `405` body above; `Error` gives its own code and reason).
//!
//! # Paths
//! All request types are served on [`QUERY_PATH`], [`SUBSCRIBE_PATH`] and the
//! sandbox's single URL [`SANDBOX_PATH`] (the sandbox serves everything on one URL);
//! the log records which path was used, so a test can assert it.
//!
//! # Replies
//! 1002/8002/8001: the §1.6 shape, traces oldest first; `State` = leading digit of
//! the newest trace's action; 8001 adds `StateEx` (newest action), `Location` and
//! per-trace `Action`. A number not in the scenario, a carrier that does not match
//! the scenario's, an empty timeline or [`Behaviour::NoTraces`] give
//! `Success:true, State:"0", Traces:[], Reason:"暂无轨迹信息"` ([`REASON_NO_TRACE`]).
//! 1008/8008: `{"EBusinessID","UpdateTime","Success":true,"Reason":"","EstimatedDeliveryTime":""}`
//! and the subscription is recorded. 2002: shippers from
//! [`FakeKdniao::set_detection`], else the scenario parcel's carrier, else
//! `Success:false, Code:"105"`, [`REASON_NOT_DETECTED`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::model::{
    kdniao_action_of, kdniao_state_of, shipper_name, Behaviour, Event, Logged, Parcel, Scenario,
    Subscription, Target,
};
use crate::server::{
    china_now, controls, required, str_field, verdict, Core, Details, Incoming, Logic, Reply,
    Running, State, Verdict,
};
use crate::sign::kdniao_sign;

/// Production query path (1002, 8001, 8002, 2002).
pub const QUERY_PATH: &str = "/Ebusiness/EbusinessOrderHandle.aspx";
/// Production subscription path (1008, 8008).
pub const SUBSCRIBE_PATH: &str = "/api/dist";
/// The sandbox's single gateway path.
pub const SANDBOX_PATH: &str = "/kdniaosandbox/gateway/exterfaceInvoke.json";

/// Unknown `EBusinessID` or bad `DataSign`.
pub const REASON_ILLEGAL: &str = "非法参数[请核实ID和key是否正确]";
/// Known number without traces, unknown number, or [`Behaviour::NoTraces`].
pub const REASON_NO_TRACE: &str = "暂无轨迹信息";
/// Rate-limit reply (`Code` `405`).
pub const REASON_RATE_LIMITED: &str = "查询次数超过限制";
/// `ShipperCode` not in the carrier table.
pub const REASON_UNKNOWN_SHIPPER: &str = "不支持该快递公司";
/// SF without the right `CustomerName`.
pub const REASON_SF_PHONE: &str = "顺丰单号需要提供收件人或寄件人手机号后四位";
/// 8001 ZTO privacy waybill without the right `CustomerName`.
pub const REASON_ZTO_PHONE: &str = "中通隐私面单需要提供收件人手机号后四位";
/// 2002 with nothing to offer.
pub const REASON_NOT_DETECTED: &str = "未识别到快递公司";
/// Body not sent as a URL-encoded form.
pub const REASON_CONTENT_TYPE: &str = "非法请求[Content-Type须为application/x-www-form-urlencoded]";
/// `DataType` other than `2`.
pub const REASON_DATA_TYPE: &str = "DataType参数错误[仅支持2(JSON)]";
/// `RequestType` the fake does not serve.
pub const REASON_REQUEST_TYPE: &str = "RequestType不存在或未开通";
/// `RequestData` is not a JSON object.
pub const REASON_BAD_JSON: &str = "RequestData格式错误";

/// Credentials and initial timelines of a [`FakeKdniao`].
#[derive(Clone, Debug, Default)]
pub struct KdniaoConfig {
    /// The only accepted `EBusinessID`.
    pub ebusiness_id: String,
    /// The AppKey signatures are checked with.
    pub app_key: String,
    /// Initial timelines.
    pub scenario: Scenario,
}

/// A running fake Kdniao on 127.0.0.1; stops when dropped.
pub struct FakeKdniao {
    core: Core,
    running: Running,
}

impl FakeKdniao {
    /// Starts on `127.0.0.1:0` (a random free port).
    ///
    /// # Panics
    /// If no local port can be bound (a broken test machine); use
    /// [`FakeKdniao::start_on`] to handle that.
    pub fn start(config: KdniaoConfig) -> FakeKdniao {
        match FakeKdniao::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config) {
            Ok(fake) => fake,
            Err(e) => panic!("fake Kdniao could not bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts on the given address.
    pub fn start_on(addr: SocketAddr, config: KdniaoConfig) -> io::Result<FakeKdniao> {
        let core = Core::new(config.scenario.clone());
        let ebusiness_id = config.ebusiness_id;
        let app_key = config.app_key;
        let logic: Logic = Arc::new(move |st: &mut State, req: &Incoming| {
            handle(st, &ebusiness_id, &app_key, req)
        });
        let running = Running::spawn(addr, core.clone(), logic, "fake-kdniao")?;
        Ok(FakeKdniao { core, running })
    }

    /// `base_url()` + [`QUERY_PATH`] (1002, 8001, 2002).
    pub fn query_url(&self) -> String {
        format!("{}{QUERY_PATH}", self.base_url())
    }

    /// `base_url()` + [`SUBSCRIBE_PATH`] (1008, 8008).
    pub fn subscribe_url(&self) -> String {
        format!("{}{SUBSCRIBE_PATH}", self.base_url())
    }

    /// What 2002 answers for `number`: `(ShipperCode, ShipperName)` candidates, best
    /// first. An empty list makes 2002 fail with [`REASON_NOT_DETECTED`].
    pub fn set_detection(&self, number: &str, shippers: Vec<(String, String)>) {
        let mut st = self.core.lock();
        st.detection.retain(|(n, _)| n != number);
        st.detection.push((number.to_string(), shippers));
    }

    controls!();
}

/// Lenient JSON reading like Kdniao's: standard JSON, or the official demos'
/// single-quoted style when the text holds no double quote.
fn parse_request_data(raw: &str) -> Option<Value> {
    let v = serde_json::from_str::<Value>(raw).ok().or_else(|| {
        if raw.contains('"') {
            None
        } else {
            serde_json::from_str::<Value>(&raw.replace('\'', "\"")).ok()
        }
    })?;
    v.is_object().then_some(v)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Query { value_added: bool },
    Subscribe,
    Detect,
}

fn kind_of(request_type: &str) -> Option<Kind> {
    match request_type {
        "1002" | "8002" => Some(Kind::Query { value_added: false }),
        "8001" => Some(Kind::Query { value_added: true }),
        "1008" | "8008" => Some(Kind::Subscribe),
        "2002" => Some(Kind::Detect),
        _ => None,
    }
}

fn handle(st: &mut State, ebusiness_id: &str, app_key: &str, req: &Incoming) -> (Reply, Details) {
    let raw = req.field("RequestData");
    let data = raw.and_then(parse_request_data);
    let details = Details {
        request_type: req.field("RequestType").map(str::to_string),
        number: data.as_ref().and_then(|d| required(d, "LogisticCode")),
        signature_valid: Some(match (raw, req.field("DataSign")) {
            (Some(raw), Some(sign)) => kdniao_sign(raw, app_key) == sign,
            _ => false,
        }),
    };
    let reply = decide(st, ebusiness_id, req, data.as_ref(), &details);
    (reply, details)
}

/// The failure body for this request type.
fn failure(
    ebusiness_id: &str,
    request_type: &str,
    data: Option<&Value>,
    code: &str,
    reason: &str,
) -> Value {
    let get = |k: &str| data.and_then(|d| str_field(d, k)).unwrap_or_default();
    let mut v = json!({
        "EBusinessID": ebusiness_id,
        "Success": false,
        "Code": code,
        "Reason": reason,
    });
    let extra = match kind_of(request_type) {
        Some(Kind::Query { .. }) | None => json!({
            "OrderCode": get("OrderCode"),
            "ShipperCode": get("ShipperCode"),
            "LogisticCode": get("LogisticCode"),
            "State": "0",
            "Traces": [],
        }),
        Some(Kind::Detect) => json!({"LogisticCode": get("LogisticCode"), "Shippers": []}),
        Some(Kind::Subscribe) => json!({"UpdateTime": china_now(), "EstimatedDeliveryTime": ""}),
    };
    merge(&mut v, extra);
    v
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

fn decide(
    st: &mut State,
    ebusiness_id: &str,
    req: &Incoming,
    data: Option<&Value>,
    details: &Details,
) -> Reply {
    if ![QUERY_PATH, SUBSCRIBE_PATH, SANDBOX_PATH]
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&req.path))
    {
        return Reply::http_status(404);
    }
    if req.method != axum::http::Method::POST {
        return Reply::http_status(405);
    }
    let sent_id = req.field("EBusinessID").unwrap_or("");
    let request_type = req.field("RequestType").unwrap_or("");
    let fail =
        |code: &str, reason: &str| Reply::json(&failure(sent_id, request_type, data, code, reason));
    if !st.admit(req.at) {
        return fail("405", REASON_RATE_LIMITED);
    }
    if !req.is_form() {
        return fail("103", REASON_CONTENT_TYPE);
    }
    for name in [
        "RequestData",
        "EBusinessID",
        "RequestType",
        "DataSign",
        "DataType",
    ] {
        if req.nonempty(name).is_none() {
            return fail("101", &format!("缺少必要参数[{name}]"));
        }
    }
    if req.field("DataType") != Some("2") {
        return fail("103", REASON_DATA_TYPE);
    }
    if sent_id != ebusiness_id || details.signature_valid != Some(true) {
        return fail("102", REASON_ILLEGAL);
    }
    let Some(kind) = kind_of(request_type) else {
        return fail("105", REASON_REQUEST_TYPE);
    };
    let Some(data) = data else {
        return fail("401", REASON_BAD_JSON);
    };
    let shipper = required(data, "ShipperCode");
    let Some(number) = required(data, "LogisticCode") else {
        return fail("101", "缺少必要参数[LogisticCode]");
    };
    if kind == Kind::Detect {
        return detect(st, sent_id, &number, fail);
    }
    let Some(shipper) = shipper else {
        return fail("101", "缺少必要参数[ShipperCode]");
    };
    if shipper_name(&shipper).is_none() {
        return fail("105", REASON_UNKNOWN_SHIPPER);
    }
    let parcel = st.parcel_for(&shipper, &number);
    let customer = required(data, "CustomerName").unwrap_or_default();
    let last4 = parcel.as_ref().and_then(|p| p.phone_last4.clone());
    let phone_ok = last4.as_deref().is_none_or(|l| l == customer);
    if shipper.eq_ignore_ascii_case("SF") && (customer.is_empty() || !phone_ok) {
        return fail("105", REASON_SF_PHONE);
    }
    if kind == (Kind::Query { value_added: true })
        && shipper.eq_ignore_ascii_case("ZTO")
        && !phone_ok
    {
        return fail("105", REASON_ZTO_PHONE);
    }
    let (delay, no_traces) = match verdict(st.take_behaviour(&number), fail, || {
        fail("405", REASON_RATE_LIMITED)
    }) {
        Verdict::Stop(reply) => return reply,
        Verdict::Go { delay, no_traces } => (delay, no_traces),
    };
    let value_added = kind == (Kind::Query { value_added: true });
    let reply = match kind {
        Kind::Subscribe => {
            st.subscriptions.push(Subscription {
                at: Instant::now(),
                request_type: Some(request_type.to_string()),
                carrier: shipper.clone(),
                number: number.clone(),
                phone: Some(customer).filter(|c| !c.is_empty()),
                callback_url: None,
                salt: None,
                resultv2: None,
                request: data.clone(),
            });
            json!({
                "EBusinessID": sent_id,
                "UpdateTime": china_now(),
                "Success": true,
                "Reason": "",
                "EstimatedDeliveryTime": "",
            })
        }
        Kind::Query { .. } | Kind::Detect => {
            let events = match &parcel {
                Some(p) if !no_traces => p.events.as_slice(),
                _ => &[],
            };
            let mut v = render(&shipper, &number, events, value_added);
            let order_code = str_field(data, "OrderCode").unwrap_or_default();
            let mut head = json!({"EBusinessID": sent_id, "OrderCode": order_code});
            if let Some(cb) = str_field(data, "Callback") {
                merge(&mut head, json!({ "Callback": cb }));
            }
            merge(&mut v, head);
            v
        }
    };
    Reply::json(&reply).delayed(delay)
}

fn detect(
    st: &mut State,
    sent_id: &str,
    number: &str,
    fail: impl Fn(&str, &str) -> Reply,
) -> Reply {
    let delay = match verdict(st.take_behaviour(number), &fail, || {
        fail("405", REASON_RATE_LIMITED)
    }) {
        Verdict::Stop(reply) => return reply,
        Verdict::Go { delay, .. } => delay,
    };
    let explicit = st
        .detection
        .iter()
        .find(|(n, _)| n == number)
        .map(|(_, s)| s.clone());
    let shippers = explicit.unwrap_or_else(|| {
        st.scenario
            .get(number)
            .map(|p| {
                vec![(
                    p.carrier.clone(),
                    shipper_name(&p.carrier).unwrap_or_default().to_string(),
                )]
            })
            .unwrap_or_default()
    });
    if shippers.is_empty() {
        return fail("105", REASON_NOT_DETECTED).delayed(delay);
    }
    let list: Vec<Value> = shippers
        .iter()
        .map(|(code, name)| json!({"ShipperCode": code, "ShipperName": name}))
        .collect();
    Reply::json(&json!({
        "EBusinessID": sent_id,
        "LogisticCode": number,
        "Success": true,
        "Code": "100",
        "Shippers": list,
    }))
    .delayed(delay)
}

/// The query-shaped object (without `EBusinessID`/`OrderCode`).
fn render(shipper: &str, number: &str, events: &[Event], value_added: bool) -> Value {
    let mut v = Map::new();
    v.insert("ShipperCode".into(), json!(shipper));
    v.insert("LogisticCode".into(), json!(number));
    v.insert("Success".into(), json!(true));
    let newest_action = events.last().map(kdniao_action_of);
    let state = newest_action
        .as_deref()
        .map(kdniao_state_of)
        .unwrap_or_else(|| "0".to_string());
    v.insert("State".into(), json!(state));
    if events.is_empty() {
        v.insert("Reason".into(), json!(REASON_NO_TRACE));
    } else {
        v.insert("Reason".into(), Value::Null);
    }
    if value_added {
        v.insert(
            "StateEx".into(),
            json!(newest_action.unwrap_or_else(|| "0".to_string())),
        );
        let location = events
            .last()
            .and_then(|e| e.location.clone())
            .unwrap_or_default();
        v.insert("Location".into(), json!(location));
    }
    let traces: Vec<Value> = events
        .iter()
        .map(|e| {
            let mut t = json!({
                "AcceptTime": e.time,
                "AcceptStation": e.text,
                "Location": e.location,
                "Remark": Value::Null,
            });
            if value_added {
                merge(&mut t, json!({ "Action": kdniao_action_of(e) }));
            }
            t
        })
        .collect();
    v.insert("Traces".into(), Value::Array(traces));
    Value::Object(v)
}

/// The query-shaped object for `parcel` as Kdniao returns it for `request_type`
/// (`"1002"`/`"101"`: standard; `"8001"`/`"8008"`/`"102"`: value-added, with
/// `StateEx`, `Location`, per-trace `Action`). Carries `ShipperCode`,
/// `LogisticCode`, `Success`, `Reason`, `State`, `Traces` but no `EBusinessID`.
pub fn kdniao_render(parcel: &Parcel, request_type: &str) -> Value {
    let value_added = matches!(request_type, "8001" | "8008" | "102");
    render(&parcel.carrier, &parcel.number, &parcel.events, value_added)
}

/// A signed Kdniao form body: `RequestData`, `EBusinessID`, `RequestType`,
/// `DataSign`, `DataType=2`, each form-encoded once. Use it for queries and for
/// pushes with hand-written `RequestData`.
pub fn kdniao_form(
    ebusiness_id: &str,
    app_key: &str,
    request_type: &str,
    request_data: &str,
) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("RequestData", request_data)
        .append_pair("EBusinessID", ebusiness_id)
        .append_pair("RequestType", request_type)
        .append_pair("DataSign", &kdniao_sign(request_data, app_key))
        .append_pair("DataType", "2")
        .finish()
}

/// The `RequestData` JSON of a push, as a string: `{"EBusinessID","PushTime",
/// "Count","Data"}` with `Count` a string and each `Data` element given an
/// `EBusinessID` if it has none. `PushTime` is now (China time).
pub fn kdniao_push_request_data(ebusiness_id: &str, data: &[Value]) -> String {
    kdniao_push_request_data_at(ebusiness_id, data, &china_now())
}

/// [`kdniao_push_request_data`] pushed at `push_time` (`yyyy-MM-dd HH:mm:ss`, China
/// time), for tests on a virtual clock.
pub fn kdniao_push_request_data_at(ebusiness_id: &str, data: &[Value], push_time: &str) -> String {
    let data: Vec<Value> = data
        .iter()
        .map(|d| {
            let mut d = d.clone();
            if let Value::Object(m) = &mut d {
                m.entry("EBusinessID")
                    .or_insert_with(|| json!(ebusiness_id));
            }
            d
        })
        .collect();
    json!({
        "EBusinessID": ebusiness_id,
        "PushTime": push_time,
        "Count": data.len().to_string(),
        "Data": data,
    })
    .to_string()
}

/// A signed push body as Kdniao POSTs it to the merchant's callback
/// (`application/x-www-form-urlencoded`): `request_type` `"101"` (1008
/// subscriptions) or `"102"` (8008), `data` the query-shaped objects (see
/// [`kdniao_render`]).
pub fn kdniao_push_form(
    ebusiness_id: &str,
    app_key: &str,
    request_type: &str,
    data: &[Value],
) -> String {
    kdniao_form(
        ebusiness_id,
        app_key,
        request_type,
        &kdniao_push_request_data(ebusiness_id, data),
    )
}

/// [`kdniao_push_form`] pushed at `push_time` (`yyyy-MM-dd HH:mm:ss`, China time).
pub fn kdniao_push_form_at(
    ebusiness_id: &str,
    app_key: &str,
    request_type: &str,
    data: &[Value],
    push_time: &str,
) -> String {
    kdniao_form(
        ebusiness_id,
        app_key,
        request_type,
        &kdniao_push_request_data_at(ebusiness_id, data, push_time),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_quoted_request_data_is_read() {
        let v = parse_request_data("{'ShipperCode':'SF','LogisticCode':'1'}");
        assert_eq!(
            v.and_then(|v| str_field(&v, "ShipperCode")),
            Some("SF".into())
        );
        assert!(parse_request_data("[1,2]").is_none());
        assert!(parse_request_data("{\"a\":'b'}").is_none());
    }

    #[test]
    fn render_states() {
        let p = Parcel::new("YTO", "1")
            .event(Event::new("2024-05-01 09:12:00", "揽收").kdniao("1"))
            .event(
                Event::new("2024-05-02 07:40:00", "派送中")
                    .at("杭州市")
                    .kdniao("202"),
            );
        let v = kdniao_render(&p, "8001");
        assert_eq!(v["State"], "2");
        assert_eq!(v["StateEx"], "202");
        assert_eq!(v["Location"], "杭州市");
        assert_eq!(v["Traces"][1]["Action"], "202");
        let v = kdniao_render(&p, "1002");
        assert!(v.get("StateEx").is_none());
        assert!(v["Traces"][0].get("Action").is_none());
    }
}
