//! The Kuaidi100 (快递100) client (carriers.md §2): real-time query
//! (`poll/query.do`, signed `MD5(param + key + customer)` upper-case) and
//! subscription (`poll`, the key inside `param`, pushes signed with a salt).
//!
//! Failures come back as `{"result":false,"returnCode":"...","message":"..."}`,
//! mapped by [`classify`]. "No result" (500) is an empty reply, not an error.

use serde::Serialize;
use serde_json::Value;

use super::guard::{Failure, Guard, GuardConfig};
use super::http::Http;
use super::kdniao::parse_json;
use super::{sign, Secret};
use shared::domain::Shipment;
use shared::normalise;
use shared::normalise::{carriers, Format, NormaliseError, Verdict};
use shared::ports::{CarrierError, CarrierReply};

#[derive(Clone, Debug, PartialEq)]
pub struct Kuaidi100Config {
    pub customer: String,
    pub key: Secret,
    pub api_url: String,
    pub subscribe_url: String,
    /// Where Kuaidi100 pushes (push mode).
    pub callback_url: Option<String>,
    /// Signs the pushes; without it pushes would be unauthenticated.
    pub salt: Option<Secret>,
}

#[derive(Debug)]
pub struct Kuaidi100 {
    config: Kuaidi100Config,
    http: Http,
    guard: Guard,
}

/// Query `param`, in the documented field order.
#[derive(Serialize)]
struct QueryParam<'a> {
    com: &'a str,
    num: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    phone: &'a str,
    resultv2: &'a str,
}

#[derive(Serialize)]
struct SubscribeParam<'a> {
    company: &'a str,
    number: &'a str,
    key: &'a str,
    parameters: SubscribeParameters<'a>,
}

#[derive(Serialize)]
struct SubscribeParameters<'a> {
    callbackurl: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    salt: &'a str,
    resultv2: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    phone: &'a str,
}

impl Kuaidi100 {
    pub fn new(config: Kuaidi100Config, guard: GuardConfig) -> Result<Self, CarrierError> {
        Ok(Self {
            http: Http::new(guard.timeout)?,
            guard: Guard::new(guard),
            config,
        })
    }

    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    fn com(shipment: &Shipment) -> Result<&'static str, CarrierError> {
        let code = shipment.id.carrier.as_str();
        carriers::to_kuaidi100(code).ok_or_else(|| {
            CarrierError::UnknownCarrier(format!("{code} has no Kuaidi100 company code"))
        })
    }

    /// The query `param` JSON. The phone's last four digits are sent (accepted by
    /// Kuaidi100, needed for SF and privacy waybills; the full number stays here).
    pub fn query_param(shipment: &Shipment) -> Result<String, CarrierError> {
        let p = QueryParam {
            com: Self::com(shipment)?,
            num: shipment.id.tracking_number.as_str(),
            phone: shipment.phone.as_ref().map_or("", |p| p.last4()),
            resultv2: "4",
        };
        serde_json::to_string(&p).map_err(|e| CarrierError::Other(e.to_string()))
    }

    /// The three form fields of a query, signed.
    pub fn query_form(&self, param: &str) -> Vec<(&'static str, String)> {
        vec![
            ("customer", self.config.customer.clone()),
            (
                "sign",
                sign::kuaidi100_sign(param, self.config.key.expose(), &self.config.customer),
            ),
            ("param", param.to_string()),
        ]
    }

    async fn call(
        &self,
        url: &str,
        form: &[(&'static str, String)],
    ) -> Result<Value, CarrierError> {
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.guard
            .run(|| async {
                let body = self.http.post_form(url, &fields).await?;
                let v = parse_json(&body)?;
                match failure_of(&v) {
                    None => Ok(v),
                    Some(e) => Err(Failure::from(e)),
                }
            })
            .await
    }

    pub async fn query(&self, shipment: &Shipment) -> Result<CarrierReply, CarrierError> {
        let param = Self::query_param(shipment)?;
        let v = self
            .call(&self.config.api_url, &self.query_form(&param))
            .await?;
        normalise::parse_value(&v, Some(Format::Kuaidi100)).map_err(|e| match e {
            NormaliseError::CarrierFailure { code, reason, .. } => {
                classify(code.as_deref(), &reason)
            }
            other => CarrierError::Malformed(format!("kuaidi100: {other}")),
        })
    }

    /// Subscription: Kuaidi100 then pushes to `KUAIDI100_CALLBACK_URL`, signed
    /// with `KUAIDI100_SALT`. Subscribing twice is not an error.
    pub async fn subscribe(&self, shipment: &Shipment) -> Result<(), CarrierError> {
        let Some(callback) = self.config.callback_url.as_deref() else {
            return Err(CarrierError::Other(
                "KUAIDI100_CALLBACK_URL is not set; cannot subscribe".into(),
            ));
        };
        let p = SubscribeParam {
            company: Self::com(shipment)?,
            number: shipment.id.tracking_number.as_str(),
            key: self.config.key.expose(),
            parameters: SubscribeParameters {
                callbackurl: callback,
                salt: self.config.salt.as_ref().map_or("", |s| s.expose()),
                resultv2: "4",
                phone: shipment.phone.as_ref().map_or("", |p| p.last4()),
            },
        };
        let param = serde_json::to_string(&p).map_err(|e| CarrierError::Other(e.to_string()))?;
        let form = [("schema", "json".to_string()), ("param", param)];
        match self.call(&self.config.subscribe_url, &form).await {
            Ok(_) => Ok(()),
            Err(CarrierError::Other(m)) if m.contains("重复") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The error a reply stands for, if it is one, judged by the normaliser's
/// [`normalise::kuaidi100_verdict`] (carriers.md §7: never by `result` alone). "No
/// result yet" is passed on: the normaliser makes it an empty answer.
fn failure_of(v: &Value) -> Option<CarrierError> {
    if !v.is_object() {
        return Some(CarrierError::Malformed("reply is not a JSON object".into()));
    }
    match normalise::kuaidi100_verdict(v) {
        Ok(Verdict::Answer | Verdict::NotFound { .. }) => None,
        Ok(Verdict::Failure { code, reason }) => Some(classify(code.as_deref(), &reason)),
        Err(e) => Some(CarrierError::Malformed(format!("kuaidi100: {e}"))),
    }
}

/// Maps a Kuaidi100 `returnCode` and `message` to a typed error (carriers.md §2.2).
pub fn classify(code: Option<&str>, message: &str) -> CarrierError {
    let shown = crate::echo(message);
    let shown = match code {
        Some(c) => format!("returnCode {}: {shown}", crate::echo(c)),
        None => shown,
    };
    match code.map(str::trim) {
        Some("400") if message.contains("公司") && !message.contains("授权") => {
            CarrierError::UnknownCarrier(shown)
        }
        Some("400") if message.contains("授权") => CarrierError::BadCredentials(shown),
        Some("500") => CarrierError::NoTraces(shown),
        Some("501" | "502") => CarrierError::Transient(shown),
        Some("503" | "601" | "600") => CarrierError::BadCredentials(shown),
        Some("429") => CarrierError::RateLimited(shown),
        _ if message.contains("频繁") || message.contains("超限") => {
            CarrierError::RateLimited(shown)
        }
        _ => CarrierError::Other(shown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::{Phone, ShipmentId};

    #[test]
    fn param_and_form_are_the_documented_ones() {
        let id = ShipmentId::parse("YTO", "YT0000000000001").unwrap();
        let mut s = Shipment::new(id, chrono::Utc::now());
        s.phone = Some(Phone::parse("13900001234").unwrap());
        let param = Kuaidi100::query_param(&s).unwrap();
        assert_eq!(
            param,
            r#"{"com":"yuantong","num":"YT0000000000001","phone":"1234","resultv2":"4"}"#
        );
        let k = Kuaidi100::new(
            Kuaidi100Config {
                customer: "CUSTOMER0001".into(),
                key: Secret::new("KEYKEY"),
                api_url: "http://127.0.0.1:1/poll/query.do".into(),
                subscribe_url: "http://127.0.0.1:1/poll".into(),
                callback_url: None,
                salt: None,
            },
            GuardConfig::default(),
        )
        .unwrap();
        let form = k.query_form(&param);
        assert_eq!(
            form[1],
            ("sign", "9DB5F345BEB705D5B8103CD9028F0C44".to_string())
        );
        assert!(!format!("{k:?}").contains("KEYKEY"));
        // A carrier Kuaidi100 has no code for.
        let id = ShipmentId::parse("ZZZ", "ZZ0000000000001").unwrap();
        let s = Shipment::new(id, chrono::Utc::now());
        assert!(matches!(
            Kuaidi100::query_param(&s),
            Err(CarrierError::UnknownCarrier(_))
        ));
    }

    #[test]
    fn return_codes_map_to_typed_errors() {
        let cases: &[(&str, &str, &str)] = &[
            ("400", "找不到对应公司", "unknown_carrier"),
            (
                "400",
                "提交的数据不完整，或者贵公司没授权",
                "bad_credentials",
            ),
            ("408", "快递公司参数异常：验证码错误", "other"),
            ("500", "查询无结果，请隔段时间再查", "no_traces"),
            ("501", "服务器错误", "transient"),
            ("502", "服务器繁忙", "transient"),
            ("503", "验证签名失败", "bad_credentials"),
            ("601", "key已过期", "bad_credentials"),
        ];
        for (code, message, kind) in cases {
            let e = classify(Some(code), message);
            assert_eq!(e.kind(), *kind, "{code} {message} -> {e:?}");
            assert!(e.to_string().contains(code));
        }
        assert_eq!(
            failure_of(&serde_json::json!({"message": "ok", "status": "200", "data": []})),
            None
        );
        assert!(matches!(
            failure_of(
                &serde_json::json!({"result": "false", "returnCode": "503", "message": "x"})
            ),
            Some(CarrierError::BadCredentials(_))
        ));
    }

    /// Found by the fuzz harness (tests/fuzz, client_failures): the failure's
    /// `returnCode` (or communication `status`) was echoed as sent, whole and
    /// unmasked.
    #[test]
    fn failure_codes_are_echoed_masked_and_clipped() {
        let e = classify(Some("13812345678"), "业务错误[没有可用套餐]");
        assert_eq!(
            e.to_string(),
            "provider error: returnCode 138****5678: 业务错误[没有可用套餐]"
        );
        let e = classify(Some(&"9".repeat(100_000)), "");
        let shown = e.to_string();
        assert!(shown.contains("… (100000 chars)"), "{}", &shown[..100]);
        assert!(shown.chars().count() < 150);
    }

    /// carriers.md §7: `result: false` and `returnCode: null` beside status 200,
    /// message ok and traces is a good reply, for the client as for the normaliser.
    #[test]
    fn a_lying_result_flag_does_not_refuse_a_good_reply() {
        use serde_json::json;
        let good = json!({"result": false, "returnCode": null, "message": "ok",
            "nu": "YT0000000000001", "com": "yuantong", "status": "200", "state": "0",
            "ischeck": "0", "data": [
                {"ftime": "2024-05-01 09:12:00", "context": "【杭州市】快件已揽收", "statusCode": "1"}]});
        assert_eq!(failure_of(&good), None);
        let r = normalise::parse_value(&good, Some(Format::Kuaidi100)).unwrap();
        assert_eq!(r.events.len(), 1);
        // Not found, re-serialised: passed on as an empty answer, not an error.
        let none = json!({"result": false, "returnCode": null, "status": "201",
            "message": "单号不存在或者已经过期", "data": []});
        assert_eq!(failure_of(&none), None);
        assert!(normalise::parse_value(&none, Some(Format::Kuaidi100))
            .unwrap()
            .knows_nothing());
        // Real failures keep their typed errors.
        let bad = json!({"result": false, "returnCode": "601", "message": "key已过期",
            "status": null, "data": null});
        assert!(matches!(
            failure_of(&bad),
            Some(CarrierError::BadCredentials(_))
        ));
        let busy = json!({"result": false, "returnCode": "502", "message": "服务器繁忙"});
        assert!(matches!(
            failure_of(&busy),
            Some(CarrierError::Transient(_))
        ));
    }
}
