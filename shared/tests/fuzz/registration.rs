//! Registration JSON (`shared::registration::NewShipment`): the parcel object of
//! `POST /shipments`, the `ShipmentRegistered` event and (field by field) the
//! rows of `sentinel import`.
//!
//! A generated parcel in any accepted spelling becomes exactly the shipment it
//! describes; a field of the wrong type is an error naming that field; any JSON
//! at all is a shipment or a bounded, one-line error that never holds a phone
//! number in full.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Map, Value};

use shared::registration::{NewShipment, MAX_ORDER_ID_CHARS, MAX_TAGS, MAX_TAG_CHARS};

use crate::support::{bounded, fuzz, hostile_text, odd_text};

const MAX_ERROR: usize = 80 * 10 + 160;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-02T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A valid parcel, how it is spelled, and what it must become.
#[derive(Clone, Debug)]
struct Parcel {
    json: Value,
    carrier: String,
    number: String,
    order_id: Option<String>,
    shipped_at: Option<DateTime<Utc>>,
    promised_at: Option<DateTime<Utc>>,
    phone: Option<String>,
    tags: Vec<String>,
}

/// An optional field: absent, null, empty or blank (all = absent), or a value.
fn optional<T: std::fmt::Debug + Clone>(
    value: impl Strategy<Value = T>,
) -> impl Strategy<Value = (u8, T)> {
    (0u8..6, value)
}

fn put(o: &mut Map<String, Value>, key: &str, style: u8, v: Value) -> bool {
    match style {
        0 => false,
        1 => {
            o.insert(key.into(), Value::Null);
            false
        }
        2 => {
            o.insert(key.into(), json!(""));
            false
        }
        3 => {
            o.insert(key.into(), json!(" \t "));
            false
        }
        _ => {
            o.insert(key.into(), v);
            true
        }
    }
}

fn instant() -> impl Strategy<Value = (String, DateTime<Utc>)> {
    (0i64..20 * 365 * 1440, any::<bool>()).prop_map(|(min, rfc)| {
        let local = NaiveDate::from_ymd_opt(2015, 1, 1)
            .unwrap_or_default()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            + Duration::minutes(min);
        let at = (local - Duration::hours(8)).and_utc();
        if rfc {
            (local.format("%Y-%m-%dT%H:%M:%S+08:00").to_string(), at)
        } else {
            (local.format("%Y-%m-%d %H:%M").to_string(), at)
        }
    })
}

fn parcel() -> impl Strategy<Value = Parcel> {
    (
        ("[A-Za-z]{1,4}[A-Za-z0-9]{0,12}", any::<bool>()),
        ("[A-Z]{0,4}[0-9]{5,20}", any::<bool>()),
        optional("[A-Za-z0-9订单-]{1,40}"),
        optional(instant()),
        optional(instant()),
        optional("1[3-9][0-9]{9}"),
        (0u8..3, proptest::collection::vec("[a-z]{1,8}", 0..6)),
        proptest::collection::vec(("x_[a-z]{1,5}", odd_text()), 0..3),
    )
        .prop_map(
            |((carrier, pad), (number, integer), order, shipped, promised, phone, tags, extra)| {
                let mut o = Map::new();
                let carrier_typed = if pad {
                    format!(" {carrier}\t")
                } else {
                    carrier.clone()
                };
                o.insert("carrier".into(), json!(carrier_typed));
                let as_int = integer && !number.starts_with('0') && number.len() <= 19;
                match number.parse::<u64>() {
                    Ok(n) if as_int => o.insert("tracking_number".into(), json!(n)),
                    _ => o.insert("tracking_number".into(), json!(number)),
                };
                let order_id =
                    put(&mut o, "order_id", order.0, json!(order.1)).then(|| order.1.clone());
                let shipped_at = put(&mut o, "shipped_at", shipped.0, json!(shipped.1 .0))
                    .then_some(shipped.1 .1);
                let promised_at = put(&mut o, "promised_at", promised.0, json!(promised.1 .0))
                    .then_some(promised.1 .1);
                let phone = put(&mut o, "phone", phone.0, json!(phone.1)).then(|| phone.1.clone());
                let mut want_tags: Vec<String> = Vec::new();
                match tags.0 {
                    0 => {}
                    1 => {
                        o.insert("tags".into(), Value::Null);
                    }
                    _ => {
                        // Blank and repeated tags are dropped.
                        let mut given: Vec<String> = tags.1.clone();
                        given.push(" ".into());
                        given.extend(tags.1.iter().take(1).cloned());
                        for t in &tags.1 {
                            if !want_tags.contains(t) {
                                want_tags.push(t.clone());
                            }
                        }
                        o.insert("tags".into(), json!(given));
                    }
                }
                for (k, v) in extra {
                    o.insert(k, json!(v));
                }
                Parcel {
                    json: Value::Object(o),
                    carrier: carrier.to_ascii_uppercase(),
                    number,
                    order_id,
                    shipped_at,
                    promised_at,
                    phone,
                    tags: want_tags,
                }
            },
        )
}

#[test]
fn valid_parcels_become_the_shipment_they_describe() {
    fuzz("registration_roundtrip", 384, parcel(), |p| {
        let n = NewShipment::from_json(&p.json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Serde goes through the same reader.
        let via_serde: NewShipment = serde_json::from_value(p.json.clone())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&via_serde, &n);
        let s = n
            .into_shipment(now())
            .map_err(|e| TestCaseError::fail(format!("{e}: {}", p.json)))?;
        prop_assert_eq!(s.id.carrier.as_str(), p.carrier.as_str());
        prop_assert_eq!(s.id.tracking_number.as_str(), p.number.as_str());
        prop_assert_eq!(s.order_id.as_deref(), p.order_id.as_deref());
        prop_assert_eq!(s.shipped_at, p.shipped_at);
        prop_assert_eq!(s.promised_at, p.promised_at);
        prop_assert_eq!(s.phone.as_ref().map(|p| p.expose()), p.phone.as_deref());
        prop_assert_eq!(&s.tags, &p.tags);
        prop_assert_eq!(s.registered_at, now());
        prop_assert_eq!(s.next_check_at, Some(now()));
        Ok(())
    });
}

/// The fields, in the order the reader checks them.
const FIELDS: &[&str] = &[
    "carrier",
    "tracking_number",
    "order_id",
    "shipped_at",
    "promised_at",
    "phone",
    "tags",
];

/// A value of a type the field never takes.
fn wrong_type(field: &str) -> impl Strategy<Value = Value> {
    let integers_ok = matches!(field, "tracking_number" | "order_id");
    let tags = field == "tags";
    prop_oneof![
        Just(json!(true)),
        Just(json!({"a": 1})),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!(12345678)),
        Just(json!(["x", 2])),
        Just(json!("x")),
    ]
    .prop_filter("a wrong type", move |v| match v {
        Value::Number(n) if integers_ok => !n.is_u64(),
        Value::String(_) => tags,
        Value::Array(a) if tags => a.iter().any(|t| !t.is_string()),
        _ => true,
    })
}

#[test]
fn a_field_of_the_wrong_type_is_an_error_naming_it() {
    let strategy = (parcel(), proptest::sample::select(FIELDS))
        .prop_flat_map(|(p, field)| (Just(p), Just(field), wrong_type(field)));
    fuzz(
        "registration_wrong_type",
        256,
        strategy,
        |(p, field, bad)| {
            let mut json = p.json.clone();
            if let Some(o) = json.as_object_mut() {
                o.insert(field.to_string(), bad);
            }
            let e = NewShipment::from_json(&json)
                .and_then(|n| n.into_shipment(now()))
                .expect_err("a wrong type is refused");
            prop_assert_eq!(e.field, field, "{}", json);
            bounded("field error", &e.to_string(), MAX_ERROR)
        },
    );
}

/// Hostile values in any field of a valid parcel (or of an empty object).
fn hostile_parcel() -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        hostile_text().prop_map(Value::String),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        Just(Value::Null),
        proptest::collection::vec(hostile_text().prop_map(Value::String), 0..30)
            .prop_map(Value::Array),
        Just(json!("9".repeat(MAX_ORDER_ID_CHARS + 1))),
        Just(json!(vec!["t"; MAX_TAGS + 1]
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{t}{i}"))
            .collect::<Vec<_>>())),
        Just(json!(["x".repeat(MAX_TAG_CHARS + 1)])),
        Just(json!("13812345678901234567890")),
        Just(json!("2024-02-30 10:00")),
    ];
    (
        prop_oneof![parcel().prop_map(|p| p.json), Just(json!({}))],
        proptest::collection::vec((proptest::sample::select(FIELDS), value), 1..4),
        any::<Index>(),
    )
        .prop_map(|(mut json, changes, i)| {
            if let Some(o) = json.as_object_mut() {
                for (k, v) in changes {
                    o.insert(k.to_string(), v);
                }
                // Sometimes a field goes missing.
                let keys: Vec<String> = o.keys().cloned().collect();
                if !keys.is_empty() && i.index(4) == 0 {
                    o.remove(&keys[i.index(keys.len())]);
                }
            }
            json
        })
}

#[test]
fn any_parcel_json_is_a_shipment_or_a_bounded_error() {
    let strategy = prop_oneof![
        4 => hostile_parcel(),
        1 => hostile_text().prop_map(Value::String),
        1 => Just(json!([{"carrier": "ZTO"}])),
        1 => Just(Value::Null),
    ];
    fuzz("registration_hostile", 512, strategy, |json| {
        let phone = json
            .get("phone")
            .and_then(Value::as_str)
            .map(str::to_string);
        match NewShipment::from_json(&json).and_then(|n| n.into_shipment(now())) {
            Ok(s) => {
                // Within the documented limits.
                prop_assert!(s.tags.len() <= MAX_TAGS);
                prop_assert!(s.tags.iter().all(|t| t.chars().count() <= MAX_TAG_CHARS));
                prop_assert!(s
                    .order_id
                    .as_ref()
                    .is_none_or(|o| o.chars().count() <= MAX_ORDER_ID_CHARS));
            }
            Err(e) => {
                prop_assert!(FIELDS.contains(&e.field) || e.field == "shipment");
                let shown = e.to_string();
                bounded("field error", &shown, MAX_ERROR)?;
                // A refused phone is never echoed whole: no run of 8 or more of
                // its digits survives.
                if e.field == "phone" {
                    let p = phone.unwrap_or_default();
                    for run in p.split(|c: char| !c.is_ascii_digit()) {
                        prop_assert!(run.len() < 8 || !shown.contains(run), "{shown}");
                    }
                }
            }
        }
        Ok(())
    });
}
