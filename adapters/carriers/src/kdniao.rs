//! The Kdniao (快递鸟) client (carriers.md §1): instant query (1002, or 8001
//! value-added), subscription (8008) and number recognition (2002).
//!
//! Every call is one form POST of `RequestData` (the business JSON), `EBusinessID`,
//! `RequestType`, `DataSign` and `DataType=2`, signed over the exact JSON sent.
//! Kdniao answers HTTP 200 even for failures; `Success=false` and its `Reason`
//! are mapped to typed errors by [`classify`].

use serde::Serialize;
use serde_json::Value;

use super::guard::{Failure, Guard, GuardConfig};
use super::http::Http;
use super::{sign, Secret};
use shared::domain::{CarrierCode, Shipment, Status};
use shared::normalise;
use shared::normalise::{Format, NormaliseError, Verdict};
use shared::ports::{CarrierError, CarrierReply};

/// Which instant-query product the account has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KdniaoQuery {
    /// 1002 即时查询.
    #[default]
    Standard,
    /// 8001 在途监控·即时查询 (adds StateEx and per-trace Action codes).
    ValueAdded,
}

impl KdniaoQuery {
    pub fn request_type(self) -> &'static str {
        match self {
            KdniaoQuery::Standard => "1002",
            KdniaoQuery::ValueAdded => "8001",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct KdniaoConfig {
    pub ebusiness_id: String,
    pub api_key: Secret,
    pub api_url: String,
    pub subscribe_url: String,
    pub query: KdniaoQuery,
}

/// The client; cheap to share (one connection pool, one rate limiter).
#[derive(Debug)]
pub struct Kdniao {
    config: KdniaoConfig,
    http: Http,
    guard: Guard,
}

/// RequestData of 1002/8001/8008, in the documented field order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TrackRequest<'a> {
    order_code: &'a str,
    shipper_code: &'a str,
    logistic_code: &'a str,
    customer_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RecogniseRequest<'a> {
    logistic_code: &'a str,
}

impl Kdniao {
    pub fn new(config: KdniaoConfig, guard: GuardConfig) -> Result<Self, CarrierError> {
        Ok(Self {
            http: Http::new(guard.timeout)?,
            guard: Guard::new(guard),
            config,
        })
    }

    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// The RequestData JSON for a track query or subscription. SF needs the last
    /// four digits of the recipient's phone (`CustomerName`); other carriers get
    /// them too when known (privacy waybills of ZTO and others need them on 8001).
    pub fn track_request_data(shipment: &Shipment) -> Result<String, CarrierError> {
        let carrier = shipment.id.carrier.as_str();
        let customer_name = shipment.phone.as_ref().map_or("", |p| p.last4());
        if carrier == "SF" && customer_name.is_empty() {
            return Err(CarrierError::Other(format!(
                "{}: SF needs the last four digits of the recipient's phone (CustomerName); \
                 the shipment has no phone",
                shipment.id
            )));
        }
        let req = TrackRequest {
            order_code: shipment.order_id.as_deref().unwrap_or(""),
            shipper_code: carrier,
            logistic_code: shipment.id.tracking_number.as_str(),
            customer_name,
        };
        serde_json::to_string(&req).map_err(|e| CarrierError::Other(e.to_string()))
    }

    /// The five form fields of one call, signed.
    pub fn form(&self, request_type: &str, request_data: &str) -> Vec<(&'static str, String)> {
        vec![
            ("RequestData", request_data.to_string()),
            ("EBusinessID", self.config.ebusiness_id.clone()),
            ("RequestType", request_type.to_string()),
            (
                "DataSign",
                sign::kdniao_data_sign(request_data, self.config.api_key.expose()),
            ),
            ("DataType", "2".to_string()),
        ]
    }

    /// One signed call, under the guard; a `Success=false` reply is an error
    /// (transient ones are retried).
    async fn call(&self, url: &str, request_type: &str, data: &str) -> Result<Value, CarrierError> {
        let form = self.form(request_type, data);
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.guard
            .run(|| async {
                let body = self.http.post_form(url, &fields).await?;
                let v = parse_json(&body)?;
                match failure_of(&v) {
                    Some(e) => Err(Failure::from(e)),
                    None => Ok(v),
                }
            })
            .await
    }

    /// Instant query. "No traces yet" is an empty reply, not an error.
    pub async fn query(&self, shipment: &Shipment) -> Result<CarrierReply, CarrierError> {
        let data = Self::track_request_data(shipment)?;
        let v = match self
            .call(
                &self.config.api_url,
                self.config.query.request_type(),
                &data,
            )
            .await
        {
            Ok(v) => v,
            Err(CarrierError::NoTraces(reason)) => return Ok(empty_reply(shipment, &reason)),
            Err(e) => return Err(e),
        };
        normalise::parse_value(&v, Some(Format::Kdniao)).map_err(|e| match e {
            NormaliseError::CarrierFailure { code, reason, .. } => {
                classify(&reason, code.as_deref())
            }
            other => CarrierError::Malformed(format!("kdniao: {other}")),
        })
    }

    /// Subscription (8008): Kdniao then pushes updates to the callback URL set in
    /// its console.
    pub async fn subscribe(&self, shipment: &Shipment) -> Result<(), CarrierError> {
        let data = Self::track_request_data(shipment)?;
        self.call(&self.config.subscribe_url, "8008", &data)
            .await
            .map(|_| ())
    }

    /// Number recognition (2002): the candidate carriers, best first. An
    /// unrecognised number is an empty list.
    pub async fn recognise(&self, number: &str) -> Result<Vec<CarrierCode>, CarrierError> {
        let data = serde_json::to_string(&RecogniseRequest {
            logistic_code: number.trim(),
        })
        .map_err(|e| CarrierError::Other(e.to_string()))?;
        let v = match self.call(&self.config.api_url, "2002", &data).await {
            Ok(v) => v,
            Err(
                CarrierError::Other(_)
                | CarrierError::UnknownCarrier(_)
                | CarrierError::NoTraces(_),
            ) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let shippers = v.get("Shippers").and_then(Value::as_array);
        let mut out: Vec<CarrierCode> = Vec::new();
        for s in shippers.into_iter().flatten() {
            if let Some(code) = s.get("ShipperCode").and_then(Value::as_str) {
                if let Ok(c) = CarrierCode::parse(code) {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
            }
        }
        Ok(out)
    }
}

fn empty_reply(shipment: &Shipment, reason: &str) -> CarrierReply {
    CarrierReply {
        carrier: Some(shipment.id.carrier.clone()),
        tracking_number: Some(shipment.id.tracking_number.as_str().to_string()),
        status: Some(Status::Pending),
        raw_state: None,
        events: Vec::new(),
        warnings: vec![format!("kdniao: {reason}")],
    }
}

pub(crate) fn parse_json(body: &str) -> Result<Value, CarrierError> {
    let body = body.trim_start_matches('\u{feff}');
    serde_json::from_str(body).map_err(|e| {
        CarrierError::Malformed(format!(
            "reply is not JSON ({e}); it starts {:?}",
            body.chars().take(40).collect::<String>()
        ))
    })
}

/// The error a reply stands for, if it is one, judged by the normaliser's
/// [`normalise::kdniao_verdict`] (carriers.md §7: never by `Success` alone).
fn failure_of(v: &Value) -> Option<CarrierError> {
    if !v.is_object() {
        return Some(CarrierError::Malformed("reply is not a JSON object".into()));
    }
    match normalise::kdniao_verdict(v) {
        Ok(Verdict::Answer) => None,
        Ok(Verdict::NotFound { reason }) => Some(CarrierError::NoTraces(reason)),
        Ok(Verdict::Failure { code, reason }) => Some(classify(&reason, code.as_deref())),
        Err(e) => Some(CarrierError::Malformed(format!("kdniao: {e}"))),
    }
}

/// Maps a Kdniao failure (`Reason`, and `Code` where present) to a typed error.
/// Kdniao publishes no closed list of reasons; these are the phrasings its
/// replies and SDKs use (carriers.md §1.2, §1.6, §1.10).
pub fn classify(reason: &str, code: Option<&str>) -> CarrierError {
    let has = |words: &[&str]| words.iter().any(|w| reason.contains(w));
    let shown = crate::echo(reason);
    let shown = if shown.is_empty() {
        format!(
            "Success=false{}",
            code.map(|c| format!(", Code {}", crate::echo(c)))
                .unwrap_or_default()
        )
    } else {
        shown
    };
    let code = code.map(str::trim);
    if code == Some("405") || has(&["次数", "超限", "限流", "频繁", "超过限制", "QPS", "qps"])
    {
        CarrierError::RateLimited(shown)
    } else if matches!(code, Some("102" | "104"))
        || has(&[
            "非法参数",
            "ID和key",
            "ID和Key",
            "签名",
            "DataSign",
            "套餐",
            "未授权",
            "没有权限",
            "无权限",
            "EBusinessID",
            "用户不存在",
            "账号",
        ])
    {
        CarrierError::BadCredentials(shown)
    } else if has(&["暂无轨迹", "没有物流轨迹", "无轨迹", "没有轨迹", "暂无物流"])
    {
        CarrierError::NoTraces(shown)
    } else if (has(&["快递公司", "物流公司", "ShipperCode", "快递编码"])
        && has(&["不支持", "错误", "不存在", "未识别", "无效", "暂不"]))
        || has(&["不支持该快递"])
    {
        CarrierError::UnknownCarrier(shown)
    } else if has(&[
        "系统繁忙",
        "系统错误",
        "系统异常",
        "服务器",
        "超时",
        "稍后",
        "网络",
    ]) {
        CarrierError::Transient(shown)
    } else {
        CarrierError::Other(shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::{Phone, ShipmentId};

    fn shipment(carrier: &str, number: &str, phone: Option<&str>) -> Shipment {
        let id = ShipmentId::parse(carrier, number).unwrap();
        let mut s = Shipment::new(id, chrono::Utc::now());
        s.phone = phone.map(|p| Phone::parse(p).unwrap());
        s
    }

    #[test]
    fn request_data_is_the_documented_shape() {
        let s = shipment("YTO", "YT0000000000001", Some("13800001234"));
        assert_eq!(
            Kdniao::track_request_data(&s).unwrap(),
            r#"{"OrderCode":"","ShipperCode":"YTO","LogisticCode":"YT0000000000001","CustomerName":"1234"}"#
        );
        // ... and so its signature is the published one.
        let k = Kdniao::new(
            KdniaoConfig {
                ebusiness_id: "1000000".into(),
                api_key: Secret::new("test-appkey-0000"),
                api_url: "http://127.0.0.1:1/".into(),
                subscribe_url: "http://127.0.0.1:1/".into(),
                query: KdniaoQuery::ValueAdded,
            },
            GuardConfig::default(),
        )
        .unwrap();
        let form = k.form("8001", &Kdniao::track_request_data(&s).unwrap());
        let body = super::super::http::form_body(
            &form
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        );
        assert_eq!(
            body,
            "RequestData=%7B%22OrderCode%22%3A%22%22%2C%22ShipperCode%22%3A%22YTO%22%2C%22LogisticCode%22%3A%22YT0000000000001%22%2C%22CustomerName%22%3A%221234%22%7D&EBusinessID=1000000&RequestType=8001&DataSign=Y2YxMzYyY2MzMTFkZGU0YmY0MWI5Mzk4MDkxMGM0MTg%3D&DataType=2"
        );
        assert!(!format!("{k:?}").contains("test-appkey-0000"));
    }

    #[test]
    fn sf_needs_the_phone_tail() {
        let s = shipment("SF", "SF1234567890123", None);
        let e = Kdniao::track_request_data(&s).unwrap_err();
        assert!(matches!(e, CarrierError::Other(ref m) if m.contains("CustomerName")));
        let s = shipment("SF", "SF1234567890123", Some("+86 138-0000-5678"));
        assert!(Kdniao::track_request_data(&s)
            .unwrap()
            .contains(r#""CustomerName":"5678""#));
        // No phone, not SF: an empty CustomerName.
        let s = shipment("ZTO", "73100000000001", None);
        assert!(Kdniao::track_request_data(&s)
            .unwrap()
            .contains(r#""CustomerName":"""#));
    }

    #[test]
    fn failure_reasons_map_to_typed_errors() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("非法参数[请核实ID和key是否正确]", None, "bad_credentials"),
            ("业务错误[没有可用套餐]", None, "bad_credentials"),
            ("不支持该快递公司", None, "unknown_carrier"),
            ("快递公司编码错误", None, "unknown_carrier"),
            ("暂无轨迹信息", None, "no_traces"),
            ("查询次数超过限制", None, "rate_limited"),
            ("", Some("405"), "rate_limited"),
            ("校验失败", Some("102"), "bad_credentials"),
            ("系统繁忙，请稍后再试", None, "transient"),
            ("顺丰单号需要提供收件人或寄件人手机号后四位", None, "other"),
        ];
        for (reason, code, kind) in cases {
            let e = classify(reason, *code);
            assert_eq!(e.kind(), *kind, "{reason:?} {code:?} -> {e:?}");
        }
        // Phones in reasons are masked.
        let e = classify("收件人13812345678无法联系", None);
        assert!(!e.to_string().contains("13812345678"), "{e}");
    }

    /// Found by the fuzz harness (tests/fuzz, client_failures): without a
    /// reason the reply's `Code` was echoed as sent, whole and unmasked.
    #[test]
    fn failure_codes_are_echoed_masked_and_clipped() {
        let e = classify("", Some("13812345678"));
        assert_eq!(
            e.to_string(),
            "provider error: Success=false, Code 138****5678"
        );
        let e = classify(" ", Some(&"9".repeat(100_000)));
        let shown = e.to_string();
        assert!(shown.ends_with("… (100000 chars)"), "{}", &shown[..100]);
        assert!(shown.chars().count() < 150);
    }

    #[test]
    fn success_flags_in_any_spelling() {
        assert_eq!(failure_of(&serde_json::json!({"Success": true})), None);
        assert!(failure_of(&serde_json::json!({"Success": "false", "Reason": "x"})).is_some());
        assert!(failure_of(&serde_json::json!([1])).is_some());
    }

    /// carriers.md §7: the client judges a reply as the normaliser does, not by
    /// one boolean alone.
    #[test]
    fn success_flags_that_lie_do_not_refuse_a_good_reply() {
        use serde_json::json;
        let good = json!({"ShipperCode": "圆通速递", "shipperCode": "YTO",
            "LogisticCode": "YT0000000000001", "Success": false, "success": true,
            "Reason": null, "State": "2", "Traces": [
                {"AcceptTime": "2024-05-01 09:12:00", "AcceptStation": "【杭州市】快件已揽收", "Action": "1"}]});
        assert_eq!(failure_of(&good), None);
        let r = normalise::parse_value(&good, Some(Format::Kdniao)).unwrap();
        assert_eq!(r.events.len(), 1);
        assert_eq!(
            r.carrier.map(|c| c.as_str().to_string()),
            Some("YTO".into())
        );
        // Real failures keep their typed errors, whatever the other spelling says.
        let bad = json!({"Success": false, "success": true, "Reason": "业务错误[没有可用套餐]"});
        assert!(matches!(
            failure_of(&bad),
            Some(CarrierError::BadCredentials(_))
        ));
        let limited = json!({"Success": false, "Code": "405", "Reason": ""});
        assert!(matches!(
            failure_of(&limited),
            Some(CarrierError::RateLimited(_))
        ));
        let none =
            json!({"Success": false, "success": false, "Reason": "暂无轨迹信息", "State": "0"});
        assert!(matches!(failure_of(&none), Some(CarrierError::NoTraces(_))));
    }

    proptest::proptest! {
        /// Whatever the body, reading a reply gives a value or a typed error.
        #[test]
        fn any_body_is_an_answer_or_a_typed_error(body in ".{0,200}") {
            if let Ok(v) = parse_json(&body) {
                let _ = failure_of(&v);
                let _ = normalise::parse_value(&v, Some(Format::Kdniao));
                let _ = super::super::kuaidi100::classify(Some("x"), &body);
            }
            let _ = classify(&body, Some(&body));
        }
    }
}
