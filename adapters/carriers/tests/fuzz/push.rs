//! Signed push bodies (`sentinel_carriers::push`): Kdniao `RequestData` +
//! `DataSign`, Kuaidi100 `param` + `sign` (carriers.md §1.2, §1.8, §2.5).
//!
//! - A body signed with the key is accepted and carries exactly the replies of
//!   its signed JSON, whatever the field order, extra fields or RequestType.
//! - Any change to the signed value or to the signature, a wrong key, or a
//!   second `RequestData`/`param` appended is refused as a bad signature.
//! - Any change to the raw body bytes is refused, or accepted with exactly the
//!   replies that were signed (form encoding has equivalent spellings).
//! - Any body at all is refused with a bounded one-line error, and the
//!   acknowledgement the provider gets is JSON.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};

use sentinel_carriers::http::form_body;
use sentinel_carriers::push::{
    kdniao_ack, kuaidi100_ack, verify_kdniao, verify_kuaidi100, PushError,
};
use sentinel_carriers::sign::{kdniao_data_sign, kuaidi100_push_sign};
use sentinel_carriers::Secret;
use shared::normalise;

use crate::support::{bounded, fuzz, hostile_bytes, hostile_text, odd_text};

/// Clipped echoes (80 characters, escaped in at most 10 each), a serde error
/// and a normaliser error with its own clipped value.
const MAX_ERROR: usize = 2_000;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-02T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn trace() -> impl Strategy<Value = Value> {
    (
        0u32..28,
        0u32..24,
        prop_oneof![
            Just("【杭州市】快件已揽收".to_string()),
            Just("快件已到达【杭州转运中心】".to_string()),
            odd_text()
        ],
        proptest::sample::select(&["1", "2", "201", "202", "3", "404", "999"][..]),
    )
        .prop_map(|(d, h, text, action)| {
            json!({
                "AcceptTime": format!("2024-05-{:02} {h:02}:12:00", d + 1),
                "AcceptStation": text,
                "Action": action,
            })
        })
}

fn parcel() -> impl Strategy<Value = Value> {
    (
        proptest::sample::select(&["YTO", "ZTO", "SF", "圆通速递", "jd"][..]),
        "[A-Z]{0,2}[0-9]{10,15}",
        proptest::collection::vec(trace(), 0..4),
    )
        .prop_map(|(shipper, number, traces)| {
            json!({"ShipperCode": shipper, "LogisticCode": number, "Success": true,
                   "State": "2", "Traces": traces})
        })
}

/// The `RequestData` of a Kdniao push, spelled compactly or with odd spacing.
fn request_data() -> impl Strategy<Value = String> {
    (proptest::collection::vec(parcel(), 1..4), any::<bool>()).prop_map(|(data, pretty)| {
        let v = json!({"EBusinessID": "1000000", "PushTime": "2024-05-02 08:00:00",
                           "Count": data.len().to_string(), "Data": data});
        if pretty {
            serde_json::to_string_pretty(&v).unwrap_or_default()
        } else {
            v.to_string()
        }
    })
}

/// The `param` of a Kuaidi100 push.
fn param() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(&["polling", "shutdown", "abort"][..]),
        "[A-Z]{0,2}[0-9]{10,15}",
        proptest::collection::vec(trace(), 0..4),
    )
        .prop_map(|(status, number, traces)| {
            let data: Vec<Value> = traces
                .iter()
                .map(|t| {
                    json!({"ftime": t["AcceptTime"], "context": t["AcceptStation"],
                           "statusCode": t["Action"]})
                })
                .collect();
            json!({"status": status, "billstatus": "change", "message": "",
                   "lastResult": {"message": "ok", "status": "200", "state": "0",
                                  "ischeck": "0", "com": "yuantong", "nu": number,
                                  "data": data}})
            .to_string()
        })
}

/// A Kdniao callback as sent: the five fields in any order, some optional ones
/// missing, maybe an extra one.
#[derive(Clone, Debug)]
struct KdBody {
    data: String,
    sign: String,
    key: String,
    ebid: String,
    request_type: Option<&'static str>,
    with_ebid: bool,
    extra: Option<(String, String)>,
    order: Vec<usize>,
}

impl KdBody {
    fn fields(&self) -> Vec<(String, String)> {
        let mut f = vec![
            ("RequestData".to_string(), self.data.clone()),
            ("DataSign".to_string(), self.sign.clone()),
            ("DataType".to_string(), "2".to_string()),
        ];
        if self.with_ebid {
            f.push(("EBusinessID".into(), self.ebid.clone()));
        }
        if let Some(rt) = self.request_type {
            f.push(("RequestType".into(), rt.into()));
        }
        if let Some((k, v)) = &self.extra {
            f.push((k.clone(), v.clone()));
        }
        let mut ordered = Vec::with_capacity(f.len());
        for i in &self.order {
            if !f.is_empty() {
                ordered.push(f.remove(i % f.len()));
            }
        }
        ordered.extend(f);
        ordered
    }

    fn body(&self) -> String {
        let f = self.fields();
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        form_body(&pairs)
    }

    fn secret(&self) -> Secret {
        Secret::new(self.key.clone())
    }

    /// The replies its signed JSON holds.
    fn replies(&self) -> Vec<shared::ports::CarrierReply> {
        let v: Value = serde_json::from_str(&self.data).unwrap_or_default();
        normalise::parse_kdniao_push(&v).unwrap_or_default()
    }
}

fn kd_body() -> impl Strategy<Value = KdBody> {
    (
        request_data(),
        "[!-~]{1,32}",
        "[0-9]{7}",
        proptest::option::of(proptest::sample::select(&["101", "102", " 102 "][..])),
        any::<bool>(),
        proptest::option::of(("[A-Za-z]{1,8}", odd_text())),
        proptest::collection::vec(0usize..6, 0..6),
    )
        .prop_map(
            |(data, key, ebid, request_type, with_ebid, extra, order)| KdBody {
                sign: kdniao_data_sign(&data, &key),
                data,
                key,
                ebid,
                request_type,
                with_ebid,
                // An extra field never replaces a real one.
                extra: extra.filter(|(k, _)| {
                    !["RequestData", "DataSign", "EBusinessID", "RequestType"].contains(&k.as_str())
                }),
                order,
            },
        )
}

#[test]
fn kdniao_signed_pushes_are_taken_with_exactly_their_replies() {
    fuzz("kdniao_push_signed", 128, kd_body(), |b| {
        let p = verify_kdniao(&b.body(), &b.ebid, &b.secret())
            .map_err(|e| TestCaseError::fail(format!("{e}: {}", b.body())))?;
        prop_assert_eq!(&p.replies, &b.replies());
        prop_assert!(!p.replies.is_empty());
        prop_assert_eq!(p.request_type, b.request_type.unwrap_or("101").trim());
        Ok(())
    });
}

/// A change to a string that is sure to change it.
#[derive(Clone, Debug)]
enum Change {
    Flip(Index),
    Insert(Index, String),
    Remove(Index),
    Truncate(Index),
    Replace(String),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        any::<Index>().prop_map(Change::Flip),
        (
            any::<Index>(),
            prop_oneof![" ".prop_map(|s: String| s), odd_text(), Just("0".into())]
        )
            .prop_map(|(i, s)| Change::Insert(i, s)),
        any::<Index>().prop_map(Change::Remove),
        any::<Index>().prop_map(Change::Truncate),
        hostile_text().prop_map(Change::Replace),
    ]
}

fn changed(s: &str, c: &Change) -> String {
    let chars: Vec<char> = s.chars().collect();
    let at = |i: &Index| i.index(chars.len().max(1));
    match c {
        Change::Flip(i) if !chars.is_empty() => {
            let mut out = chars.clone();
            let k = at(i);
            // Another character of the same class, so only the value changes.
            out[k] = match out[k] {
                '0'..='8' | 'a'..='y' | 'A'..='Y' => {
                    char::from_u32(out[k] as u32 + 1).unwrap_or('x')
                }
                '9' => '0',
                'z' => 'a',
                'Z' => 'A',
                '"' => '\'',
                other if other != 'x' => 'x',
                _ => 'y',
            };
            out.into_iter().collect()
        }
        Change::Insert(i, t) => {
            let k = i.index(chars.len() + 1);
            let mut out: String = chars[..k].iter().collect();
            out.push_str(t);
            out.extend(&chars[k..]);
            out
        }
        Change::Remove(i) if !chars.is_empty() => {
            let k = at(i);
            chars
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != k)
                .map(|(_, c)| c)
                .collect()
        }
        Change::Truncate(i) => chars[..i.index(chars.len().max(1))].iter().collect(),
        Change::Replace(t) => t.clone(),
        _ => format!("{s}x"),
    }
}

#[test]
fn kdniao_any_change_to_the_signed_data_or_the_signature_is_refused() {
    let strategy = (kd_body(), 0u8..4, change(), "[!-~]{1,32}");
    fuzz(
        "kdniao_push_tampered",
        256,
        strategy,
        |(mut b, what, c, other_key)| {
            let honest = b.clone();
            let other_key = if other_key == b.key {
                format!("{other_key}x")
            } else {
                other_key
            };
            match what {
                // The data changed, the signature kept.
                0 => b.data = changed(&b.data, &c),
                // The signature changed.
                1 => b.sign = changed(&b.sign, &c),
                // Data and signature changed together, signed with another key.
                2 => {
                    b.data = changed(&b.data, &c);
                    b.sign = kdniao_data_sign(&b.data, &other_key);
                }
                // The honest body verified with another key.
                _ => {}
            }
            let key = if what == 3 {
                Secret::new(other_key.clone())
            } else {
                b.secret()
            };
            let unchanged =
                b.data == honest.data && b.sign == honest.sign && key == honest.secret();
            match verify_kdniao(&b.body(), &b.ebid, &key) {
                Ok(p) => {
                    prop_assert!(unchanged, "a changed push was taken: {:?}", b);
                    prop_assert_eq!(p.replies, honest.replies());
                }
                Err(e) => {
                    prop_assert!(!unchanged, "{}", e);
                    prop_assert_eq!(e, PushError::BadSignature);
                }
            }
            Ok(())
        },
    );
}

/// Changes to the raw body bytes (after form encoding).
#[derive(Clone, Debug)]
enum BodyChange {
    Bytes(Vec<(Index, u8)>),
    Cut(Index),
    /// A second field appended (the later duplicate wins).
    Append(&'static str, String),
    /// A field prepended (the original, later one wins).
    Prepend(&'static str, String),
}

fn body_change() -> impl Strategy<Value = BodyChange> {
    let name = proptest::sample::select(
        &[
            "RequestData",
            "DataSign",
            "RequestType",
            "EBusinessID",
            "DataType",
        ][..],
    );
    prop_oneof![
        proptest::collection::vec(
            (
                any::<Index>(),
                prop_oneof![any::<u8>(), Just(b'&'), Just(b'='), Just(b'%'), Just(b'+')]
            ),
            1..4
        )
        .prop_map(BodyChange::Bytes),
        any::<Index>().prop_map(BodyChange::Cut),
        (name.clone(), prop_oneof![request_data(), hostile_text()])
            .prop_map(|(k, v)| BodyChange::Append(k, v)),
        (name, prop_oneof![request_data(), hostile_text()])
            .prop_map(|(k, v)| BodyChange::Prepend(k, v)),
    ]
}

fn apply_body(body: &str, c: &BodyChange) -> String {
    let mut bytes = body.as_bytes().to_vec();
    match c {
        BodyChange::Bytes(edits) => {
            for (i, b) in edits {
                if !bytes.is_empty() {
                    let k = i.index(bytes.len());
                    bytes[k] = *b;
                }
            }
        }
        BodyChange::Cut(i) => bytes.truncate(i.index(bytes.len().max(1))),
        BodyChange::Append(k, v) => {
            bytes.extend(format!("&{}", form_body(&[(k, v)])).into_bytes());
        }
        BodyChange::Prepend(k, v) => {
            let mut front = format!("{}&", form_body(&[(k, v)])).into_bytes();
            front.extend(bytes);
            bytes = front;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn kdniao_raw_body_changes_are_refused_or_carry_exactly_what_was_signed() {
    let strategy = (kd_body(), body_change());
    fuzz("kdniao_push_body_bytes", 256, strategy, |(b, c)| {
        let body = apply_body(&b.body(), &c);
        match verify_kdniao(&body, &b.ebid, &b.secret()) {
            Ok(p) => prop_assert_eq!(p.replies, b.replies(), "{:?}", c),
            Err(e) => bounded("push error", &e.to_string(), MAX_ERROR)?,
        }
        // A second RequestData with other content is never taken.
        if let BodyChange::Append("RequestData", v) = &c {
            if *v != b.data {
                prop_assert!(verify_kdniao(&body, &b.ebid, &b.secret()).is_err());
            }
        }
        Ok(())
    });
}

#[derive(Clone, Debug)]
struct K100Body {
    param: String,
    sign: String,
    salt: String,
    /// The signature as sent: upper-case, lower-case, padded.
    spelling: u8,
}

impl K100Body {
    fn sent_sign(&self) -> String {
        match self.spelling {
            0 => self.sign.clone(),
            1 => self.sign.to_ascii_lowercase(),
            _ => format!(" {} ", self.sign),
        }
    }

    fn body(&self) -> String {
        form_body(&[("param", &self.param), ("sign", &self.sent_sign())])
    }

    fn reply(&self) -> Option<shared::ports::CarrierReply> {
        let v: Value = serde_json::from_str(&self.param).ok()?;
        normalise::parse_kuaidi100_push(&v).ok()
    }
}

fn k100_body() -> impl Strategy<Value = K100Body> {
    (param(), "[!-~]{1,32}", 0u8..3).prop_map(|(param, salt, spelling)| K100Body {
        sign: kuaidi100_push_sign(&param, &salt),
        param,
        salt,
        spelling,
    })
}

#[test]
fn kuaidi100_signed_pushes_are_taken_and_any_change_refused() {
    let strategy = (k100_body(), 0u8..4, change(), "[!-~]{1,32}");
    fuzz(
        "kuaidi100_push",
        384,
        strategy,
        |(b, what, c, other_salt)| {
            let other_salt = if other_salt == b.salt {
                format!("{other_salt}x")
            } else {
                other_salt
            };
            let salt = Secret::new(b.salt.clone());
            let honest = verify_kuaidi100(&b.body(), Some(&salt))
                .map_err(|e| TestCaseError::fail(format!("{e}: {}", b.body())))?;
            prop_assert_eq!(Some(honest.reply.clone()), b.reply());
            let mut t = b.clone();
            let mut key = salt.clone();
            match what {
                0 => t.param = changed(&t.param, &c),
                1 => t.sign = changed(&t.sign, &c),
                2 => {
                    t.param = changed(&t.param, &c);
                    t.sign = kuaidi100_push_sign(&t.param, &other_salt);
                }
                _ => key = Secret::new(other_salt.clone()),
            }
            let same_sign = t.sent_sign().trim().to_ascii_uppercase() == b.sign;
            let unchanged = t.param == b.param && same_sign && key == salt;
            match verify_kuaidi100(&t.body(), Some(&key)) {
                Ok(p) => {
                    prop_assert!(unchanged, "a changed push was taken: {:?}", t);
                    prop_assert_eq!(p, honest);
                }
                Err(e) => {
                    prop_assert!(!unchanged, "{}", e);
                    prop_assert_eq!(e, PushError::BadSignature);
                }
            }
            // Without a salt nothing is taken.
            prop_assert_eq!(
                verify_kuaidi100(&b.body(), None),
                Err(PushError::NotConfigured("KUAIDI100_SALT"))
            );
            Ok(())
        },
    );
}

#[test]
fn kuaidi100_raw_body_changes_are_refused_or_carry_exactly_what_was_signed() {
    let strategy = (k100_body(), body_change());
    fuzz("kuaidi100_push_body_bytes", 256, strategy, |(b, c)| {
        // Kuaidi100's field names for the signed value and the signature.
        let rename = |k: &'static str| match k {
            "RequestData" => "param",
            "DataSign" => "sign",
            other => other,
        };
        let c = match c {
            BodyChange::Append(k, v) => BodyChange::Append(rename(k), v),
            BodyChange::Prepend(k, v) => BodyChange::Prepend(rename(k), v),
            other => other,
        };
        let body = apply_body(&b.body(), &c);
        let taken = verify_kuaidi100(&body, Some(&Secret::new(b.salt.clone())));
        match &taken {
            Ok(p) => prop_assert_eq!(Some(p.reply.clone()), b.reply(), "{:?}", c),
            Err(e) => bounded("push error", &e.to_string(), MAX_ERROR)?,
        }
        // A second param with other content is never taken.
        if let BodyChange::Append("param", v) = &c {
            if *v != b.param {
                prop_assert!(taken.is_err());
            }
        }
        Ok(())
    });
}

#[test]
fn any_callback_body_is_refused_with_a_bounded_error_and_a_json_ack() {
    let strategy = (
        prop_oneof![
            hostile_bytes().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            // Well-formed fields with hostile values.
            (
                hostile_text(),
                hostile_text(),
                hostile_text(),
                hostile_text()
            )
                .prop_map(|(d, s, e, r)| form_body(&[
                    ("RequestData", &d),
                    ("DataSign", &s),
                    ("EBusinessID", &e),
                    ("RequestType", &r),
                    ("param", &d),
                    ("sign", &s),
                ])),
        ],
        "[!-~]{1,16}",
    );
    fuzz("push_hostile", 512, strategy, |(body, key)| {
        let key = Secret::new(key);
        for r in [
            verify_kdniao(&body, "1000000", &key).map(|_| ()),
            verify_kuaidi100(&body, Some(&key)).map(|_| ()),
        ] {
            if let Err(e) = r {
                let why = e.to_string();
                bounded("push error", &why, MAX_ERROR)?;
                for ack in [
                    kdniao_ack("1000000", now(), Err(&why)),
                    kuaidi100_ack(Err(&why)),
                ] {
                    let v: Value = serde_json::from_str(&ack.body)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert!(v.is_object());
                    prop_assert_eq!(ack.status, 500);
                }
            }
        }
        Ok(())
    });
}

/// A signed Kdniao push with hostile JSON inside: taken or refused as
/// malformed, never a panic, and what is taken names only parcels its `Data`
/// names.
#[test]
fn kdniao_signed_hostile_json_is_parsed_or_refused_as_malformed() {
    let strategy = (
        prop_oneof![
            hostile_text(),
            request_data().prop_flat_map(|d| {
                (Just(d.clone()), any::<Index>(), hostile_text()).prop_map(|(d, i, s)| {
                    let k = i.index(d.chars().count() + 1);
                    let at = d.char_indices().nth(k).map_or(d.len(), |(b, _)| b);
                    format!("{}{s}{}", &d[..at], &d[at..])
                })
            }),
        ],
        "[!-~]{1,16}",
    );
    fuzz("kdniao_push_hostile_json", 384, strategy, |(data, key)| {
        let body = form_body(&[
            ("RequestData", &data),
            ("DataSign", &kdniao_data_sign(&data, &key)),
        ]);
        match verify_kdniao(&body, "1000000", &Secret::new(key)) {
            Ok(p) => {
                let v: Value = serde_json::from_str(data.trim_start_matches('\u{feff}'))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let numbers: Vec<String> = ["Data", "data"]
                    .iter()
                    .filter_map(|k| v.get(*k).and_then(Value::as_array))
                    .flatten()
                    .flat_map(|d| ["LogisticCode", "logisticCode"].map(|k| d.get(k).cloned()))
                    .flatten()
                    .map(|n| match n {
                        Value::String(s) => s.trim().to_string(),
                        other => other.to_string(),
                    })
                    .collect();
                for r in &p.replies {
                    if let Some(n) = &r.tracking_number {
                        prop_assert!(numbers.contains(n), "{n} not in {numbers:?}");
                    }
                }
            }
            Err(e) => {
                prop_assert!(matches!(e, PushError::Malformed(_)), "{}", e);
                bounded("push error", &e.to_string(), MAX_ERROR)?;
            }
        }
        Ok(())
    });
}
