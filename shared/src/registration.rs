//! Registration: the one way outside input becomes a new [`Shipment`].
//!
//! Every entry point that registers parcels — `POST /shipments` and the
//! `ShipmentRegistered` event of the `api` function, `sentinel add` and
//! `sentinel import` — describes a parcel with the same fields, under the same
//! names, and turns it into a shipment here, so the fields are validated the same
//! way and an error names the same field everywhere.
//!
//! The JSON shape (the CSV columns of `sentinel import` have the same names):
//!
//! ```json
//! {
//!   "carrier": "ZTO",                          // required: SF, ZTO, YTO, JTSD, ...
//!   "tracking_number": "75312345678901",       // required (a JSON integer is accepted too)
//!   "order_id": "DD20240501-1",                // optional (string or integer)
//!   "shipped_at": "2024-05-01 10:00:00",       // optional: RFC 3339, or no offset = China time
//!   "promised_at": "2024-05-04T18:00:00+08:00",// optional: the `late` rule fires when it passes
//!   "phone": "13812345678",                    // optional: for customer notices; never shown in full
//!   "tags": ["shop-a", "warehouse-hz"],        // optional: free labels
//!   "origin": "浙江省杭州市",                   // optional: where it leaves from (city, or province and city)
//!   "destination": "乌鲁木齐"                   // optional: where it goes (an address works: its start is read)
//! }
//! ```
//!
//! Leniency, deliberately: unknown keys are ignored (an order system can send its
//! whole order object, and adding a field here later breaks no sender); `null`, an
//! empty or all-blank string count as absent for the optional fields. Strictness,
//! equally deliberately: a value of the wrong type is an error naming the field,
//! never silently dropped.
//!
//! The new shipment is due now (`next_check_at = now`): its first check comes with
//! the scheduler's next tick, exactly as for [`Shipment::new`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::fmt;

use crate::config::Settings;
use crate::domain::{mask_digits, CarrierCode, Phone, Shipment, ShipmentId, TrackingNumber};
use crate::places::Place;
use crate::ports::{CarrierError, CarrierSubscribe, ShipmentWriter, StoreError};
use crate::rules::RuleConfig;
use crate::schedule;
use crate::schedule::{PollPolicy, TrackingMode};
use crate::time::parse_user_time;

/// At most this many tags per parcel.
pub const MAX_TAGS: usize = 20;
/// At most this many characters in a tag.
pub const MAX_TAG_CHARS: usize = 64;
/// At most this many characters in an order id.
pub const MAX_ORDER_ID_CHARS: usize = 128;

/// Why a field cannot be registered; `Display` is `field: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The field's name as the input spells it (`carrier`, `tracking_number`,
    /// `order_id`, `shipped_at`, `promised_at`, `phone`, `tags`, `origin`,
    /// `destination`).
    pub field: &'static str,
    pub reason: String,
}

impl FieldError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// A parcel to register, as given from outside (see the module docs for the JSON
/// shape). Nothing is validated until [`NewShipment::into_shipment`].
///
/// `Debug` masks the phone number.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct NewShipment {
    pub carrier: String,
    pub tracking_number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipped_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promised_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

impl fmt::Debug for NewShipment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewShipment")
            .field("carrier", &self.carrier)
            .field("tracking_number", &self.tracking_number)
            .field("order_id", &self.order_id)
            .field("shipped_at", &self.shipped_at)
            .field("promised_at", &self.promised_at)
            .field("phone", &self.phone.as_deref().map(mask_digits))
            .field("tags", &self.tags)
            .field("origin", &self.origin)
            .field("destination", &self.destination)
            .finish()
    }
}

/// A trimmed, non-empty string, or `None`.
fn nonempty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string field; with `integers`, a non-negative JSON integer is taken as its
/// decimal digits (order systems send tracking numbers and order ids as numbers).
fn text(
    map: &Map<String, Value>,
    field: &'static str,
    integers: bool,
) -> Result<Option<String>, FieldError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if integers && n.is_u64() => Ok(Some(n.to_string())),
        Some(other) => Err(FieldError::new(
            field,
            format!(
                "expected a string{}, got {}",
                if integers { " or an integer" } else { "" },
                type_name(other)
            ),
        )),
    }
}

impl NewShipment {
    /// Reads the fields of a JSON object, naming the field whose value has the
    /// wrong type. Unknown keys are ignored.
    pub fn from_json(value: &Value) -> Result<Self, FieldError> {
        let Value::Object(map) = value else {
            return Err(FieldError::new(
                "shipment",
                format!(
                    "expected a JSON object with carrier and tracking_number, got {}",
                    type_name(value)
                ),
            ));
        };
        let tags = match map.get("tags") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|t| match t {
                        Value::String(s) => Ok(s.clone()),
                        other => Err(FieldError::new(
                            "tags",
                            format!("expected an array of strings, found {}", type_name(other)),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(other) => {
                return Err(FieldError::new(
                    "tags",
                    format!("expected an array of strings, got {}", type_name(other)),
                ))
            }
        };
        Ok(Self {
            carrier: text(map, "carrier", false)?.unwrap_or_default(),
            tracking_number: text(map, "tracking_number", true)?.unwrap_or_default(),
            order_id: text(map, "order_id", true)?,
            shipped_at: text(map, "shipped_at", false)?,
            promised_at: text(map, "promised_at", false)?,
            phone: text(map, "phone", false)?,
            tags,
            origin: text(map, "origin", false)?,
            destination: text(map, "destination", false)?,
        })
    }

    /// Validates every field and builds the shipment, registered at `now` and due
    /// for its first check at `now`. The error names the first bad field, in the
    /// order carrier, tracking_number, order_id, shipped_at, promised_at, phone,
    /// tags, origin, destination; it never contains a full phone number.
    pub fn into_shipment(self, now: DateTime<Utc>) -> Result<Shipment, FieldError> {
        let carrier = match nonempty(Some(&self.carrier)) {
            None => return Err(FieldError::new("carrier", "required, e.g. SF, ZTO, YTO")),
            Some(c) => {
                CarrierCode::parse(c).map_err(|e| FieldError::new("carrier", e.to_string()))?
            }
        };
        let number = match nonempty(Some(&self.tracking_number)) {
            None => return Err(FieldError::new("tracking_number", "required")),
            Some(n) => TrackingNumber::parse(n)
                .map_err(|e| FieldError::new("tracking_number", e.to_string()))?,
        };
        let order_id = nonempty(self.order_id.as_deref()).map(str::to_string);
        if let Some(o) = &order_id {
            if o.chars().count() > MAX_ORDER_ID_CHARS {
                return Err(FieldError::new(
                    "order_id",
                    format!("longer than {MAX_ORDER_ID_CHARS} characters"),
                ));
            }
        }
        let time = |field: &'static str, v: Option<&str>| {
            nonempty(v)
                .map(|v| parse_user_time(v).map_err(|e| FieldError::new(field, e.to_string())))
                .transpose()
        };
        let shipped_at = time("shipped_at", self.shipped_at.as_deref())?;
        let promised_at = time("promised_at", self.promised_at.as_deref())?;
        let phone = nonempty(self.phone.as_deref())
            .map(|p| Phone::parse(p).map_err(|e| FieldError::new("phone", e.to_string())))
            .transpose()?;
        let mut tags: Vec<String> = Vec::new();
        for t in self.tags.unwrap_or_default() {
            let t = t.trim();
            if t.is_empty() || tags.iter().any(|have| have == t) {
                continue;
            }
            if t.chars().count() > MAX_TAG_CHARS {
                return Err(FieldError::new(
                    "tags",
                    format!("a tag is longer than {MAX_TAG_CHARS} characters"),
                ));
            }
            tags.push(t.to_string());
        }
        if tags.len() > MAX_TAGS {
            return Err(FieldError::new(
                "tags",
                format!("more than {MAX_TAGS} tags"),
            ));
        }

        let place = |field: &'static str, v: Option<&str>| {
            nonempty(v)
                .map(|v| {
                    Place::parse(v).ok_or_else(|| {
                        FieldError::new(
                            field,
                            format!(
                                "not a Chinese city or province this can read ({:?}); e.g. 杭州 or 浙江省杭州市",
                                crate::clip::clip(v)
                            ),
                        )
                    })
                })
                .transpose()
        };
        let origin = place("origin", self.origin.as_deref())?;
        let destination = place("destination", self.destination.as_deref())?;

        let mut s = Shipment::new(ShipmentId::new(carrier, number), now);
        s.origin = origin;
        s.destination = destination;
        s.order_id = order_id;
        s.shipped_at = shipped_at;
        s.promised_at = promised_at;
        s.phone = phone;
        s.tags = tags;
        Ok(s)
    }
}

impl<'de> Deserialize<'de> for NewShipment {
    /// Through [`NewShipment::from_json`], so serde errors name the field too.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Self::from_json(&v).map_err(serde::de::Error::custom)
    }
}

/// Registers a new shipment as given (a new [`Shipment`] is due at once). An
/// existing one is a conflict.
pub async fn register<S: ShipmentWriter>(
    store: &S,
    shipment: &Shipment,
) -> Result<u64, StoreError> {
    store_new(store, shipment, shipment.next_check_at).await
}

/// Registers a new shipment registered at `now`, first checked at
/// [`schedule::first_check_at`]: what every registration path does (through
/// [`register_parcel`] for the api function and `sentinel add`/`import`; directly
/// for the demo and the bench). An existing one is a
/// conflict.
pub async fn register_at<S: ShipmentWriter>(
    store: &S,
    shipment: &Shipment,
    rules: &RuleConfig,
    mode: TrackingMode,
    policy: &PollPolicy,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let first = schedule::first_check_at(shipment, rules, mode, policy, now);
    store_new(store, shipment, first).await
}

async fn store_new<S: ShipmentWriter>(
    store: &S,
    shipment: &Shipment,
    next_check_at: Option<DateTime<Utc>>,
) -> Result<u64, StoreError> {
    let mut s = shipment.clone();
    s.version = 0;
    s.next_check_at = next_check_at;
    store.put_shipment(&s).await
}

/// What became of one registration ([`register_parcel`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    /// Stored now. In push mode, `subscription_error` says why the provider could
    /// not be asked to push (the parcel is kept: its time-based rules still run).
    New {
        subscription_error: Option<CarrierError>,
    },
    /// The parcel was already registered; nothing changed.
    Exists,
}

/// The registration use case, for every entry point that registers parcels
/// (`POST /shipments` and the `ShipmentRegistered` event of the api function,
/// `sentinel add` and `sentinel import`): stores a new parcel first checked as
/// [`register_at`] says; a parcel already there is fine ([`Registered::Exists`]);
/// in push mode, asks `subscriber` to push its updates, and keeps the parcel if
/// that fails.
pub async fn register_parcel<S: ShipmentWriter, C: CarrierSubscribe>(
    store: &S,
    subscriber: Option<&C>,
    shipment: &Shipment,
    settings: &Settings,
    mode: TrackingMode,
    now: DateTime<Utc>,
) -> Result<Registered, StoreError> {
    match register_at(store, shipment, &settings.rules, mode, &settings.poll, now).await {
        Ok(_) => {}
        Err(StoreError::Conflict { .. }) => return Ok(Registered::Exists),
        Err(e) => return Err(e),
    }
    let mut subscription_error = None;
    if let (TrackingMode::Push, Some(subscriber)) = (mode, subscriber) {
        if let Err(e) = subscriber.subscribe(shipment).await {
            tracing::warn!(shipment = %shipment.id, kind = e.kind(), error = %e,
                "registered, but the subscription failed");
            subscription_error = Some(e);
        }
    }
    tracing::info!(shipment = %shipment.id, "registered");
    Ok(Registered::New { subscription_error })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Status;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn parse(v: Value) -> Result<Shipment, FieldError> {
        NewShipment::from_json(&v)?.into_shipment(now())
    }

    #[test]
    fn a_full_object_becomes_a_shipment_due_now() {
        let s = parse(json!({
            "carrier": " zto ",
            "tracking_number": "75312345678901",
            "order_id": " DD1 ",
            "shipped_at": "2024-05-01 10:00:00",
            "promised_at": "2024-05-04T18:00:00+08:00",
            "phone": "138-1234-5678",
            "tags": ["shop-a", " shop-a ", "", "wh-hz"],
            "customer_name": "ignored: unknown keys are ignored"
        }))
        .unwrap();
        assert_eq!(s.id.to_string(), "ZTO:75312345678901");
        assert_eq!(s.order_id.as_deref(), Some("DD1"));
        assert_eq!(s.shipped_at, Some(utc("2024-05-01T02:00:00Z")));
        assert_eq!(s.promised_at, Some(utc("2024-05-04T10:00:00Z")));
        assert_eq!(
            s.phone.as_ref().map(Phone::masked).as_deref(),
            Some("138****5678")
        );
        assert_eq!(s.tags, ["shop-a", "wh-hz"]);
        assert_eq!(s.registered_at, now());
        assert_eq!(s.next_check_at, Some(now()));
        assert_eq!(s.status, Status::Pending);
        assert_eq!(s.version, 0);
        // The same as Shipment::new for everything not given.
        let mut plain = Shipment::new(s.id.clone(), now());
        plain.order_id = s.order_id.clone();
        plain.shipped_at = s.shipped_at;
        plain.promised_at = s.promised_at;
        plain.phone = s.phone.clone();
        plain.tags = s.tags.clone();
        assert_eq!(s, plain);
    }

    #[test]
    fn origin_and_destination_are_read_as_places() {
        let s = parse(json!({
            "carrier": "ZTO", "tracking_number": "75312345678901",
            "origin": "浙江省杭州市余杭区文一西路969号", "destination": "乌鲁木齐"
        }))
        .unwrap();
        let place = |p: &str, c: &str| {
            Some(Place {
                province: Some(p.to_string()),
                city: Some(c.to_string()),
            })
        };
        assert_eq!(s.origin, place("浙江", "杭州"));
        assert_eq!(s.destination, place("新疆", "乌鲁木齐"));
        // Stored with the shipment, and read back.
        let back: Shipment = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        for (bad, field) in [
            (json!({"origin": "Hangzhou"}), "origin"),
            (json!({"destination": "N/A"}), "destination"),
            (json!({"destination": 12}), "destination"),
        ] {
            let mut v = json!({"carrier": "ZTO", "tracking_number": "75312345678901"});
            for (k, x) in bad.as_object().unwrap() {
                v[k] = x.clone();
            }
            let err = NewShipment::from_json(&v)
                .and_then(|n| n.into_shipment(now()))
                .unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn optional_fields_may_be_absent_null_or_blank() {
        let s = parse(json!({
            "carrier": "SF", "tracking_number": "SF1234567890123",
            "order_id": null, "shipped_at": "", "promised_at": "  ", "phone": null, "tags": null,
            "origin": " ", "destination": null
        }))
        .unwrap();
        assert_eq!(s.order_id, None);
        assert_eq!(s.shipped_at, None);
        assert_eq!(s.promised_at, None);
        assert!(s.phone.is_none());
        assert!(s.tags.is_empty());
        assert_eq!((s.origin, s.destination), (None, None));
    }

    #[test]
    fn integers_are_accepted_where_order_systems_send_them() {
        let s =
            parse(json!({"carrier": "ZTO", "tracking_number": 75312345678901u64, "order_id": 42}))
                .unwrap();
        assert_eq!(s.id.tracking_number.as_str(), "75312345678901");
        assert_eq!(s.order_id.as_deref(), Some("42"));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({"tracking_number": "75312345678901"}), "carrier"),
            (
                json!({"carrier": "", "tracking_number": "75312345678901"}),
                "carrier",
            ),
            (
                json!({"carrier": "X Y", "tracking_number": "75312345678901"}),
                "carrier",
            ),
            (
                json!({"carrier": 7, "tracking_number": "75312345678901"}),
                "carrier",
            ),
            (json!({"carrier": "ZTO"}), "tracking_number"),
            (
                json!({"carrier": "ZTO", "tracking_number": "12"}),
                "tracking_number",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": -5}),
                "tracking_number",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": 1.5}),
                "tracking_number",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": "75312345678901", "order_id": {}}),
                "order_id",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": "75312345678901", "order_id": "x".repeat(129)}),
                "order_id",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": "75312345678901", "shipped_at": "yesterday"}),
                "shipped_at",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": "75312345678901", "shipped_at": 1714521600}),
                "shipped_at",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": "75312345678901", "promised_at": "2024-13-01"}),
                "promised_at",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": "75312345678901", "phone": "call me"}),
                "phone",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": "75312345678901", "phone": 13812345678u64}),
                "phone",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": "75312345678901", "tags": "a,b"}),
                "tags",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": "75312345678901", "tags": [1]}),
                "tags",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": "75312345678901", "tags": ["t".repeat(65)]}),
                "tags",
            ),
            (
                json!({"carrier": "ZTO", "tracking_number": "75312345678901",
                    "tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
                "tags",
            ),
            (json!(["ZTO", "75312345678901"]), "shipment"),
        ];
        for (input, field) in cases {
            let e = parse(input.clone()).unwrap_err();
            assert_eq!(e.field, field, "{input}: {e}");
            assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
        }
    }

    #[test]
    fn a_bad_phone_is_never_shown_in_full() {
        let e = parse(
            json!({"carrier": "ZTO", "tracking_number": "75312345678901",
                             "phone": "13812345678x"}),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("13812345678"), "{e}");
        let n = NewShipment {
            phone: Some("13812345678".into()),
            ..NewShipment::default()
        };
        let shown = format!("{n:?}");
        assert!(
            !shown.contains("13812345678") && shown.contains("138****5678"),
            "{shown}"
        );
    }

    #[test]
    fn serde_goes_through_the_same_checks() {
        let n: NewShipment = serde_json::from_str(
            r#"{"carrier":"ZTO","tracking_number":75312345678901,"extra":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(n.tracking_number, "75312345678901");
        let e = serde_json::from_str::<NewShipment>(r#"{"carrier":"ZTO","phone":5}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("phone: expected a string"), "{e}");
        // Serialising gives the same keys back.
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(
            v,
            json!({"carrier":"ZTO","tracking_number":"75312345678901"})
        );
    }
}
