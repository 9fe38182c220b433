//! Push callbacks (carriers.md §1.8, §2.5): verify the provider's signature over
//! the exact bytes received, parse the pushed timelines, and answer with the
//! acknowledgement body each provider expects.
//!
//! A callback with a wrong or missing signature is refused before anything is
//! parsed or stored, and so is a signed one whose own time (Kdniao's `PushTime`)
//! is more than [`PUSH_WINDOW`] from now: a replayed callback. A push that brings
//! nothing new (no event the timeline lacks) writes nothing, so replaying a
//! recent one costs a read, not a write. Kuaidi100's body carries no time of its
//! own (only the events'), so its replays are absorbed by that second rule. A store failure while ingesting answers "failure", so the
//! provider pushes again later (Kuaidi100 retries after about 30 minutes) and
//! nothing is lost; a push about a parcel we do not track is acknowledged and
//! ignored.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::http::{field, parse_form};
use super::{sign, Secret};
use shared::normalise;
use shared::ports::CarrierReply;
use shared::time::local_carrier_format;
use shared::tracker::{CheckOutcome, Tracker, TrackerError, TrackerStore};

/// Why a callback was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("the callback has no {0} field")]
    MissingField(&'static str),
    #[error("the callback's signature does not match")]
    BadSignature,
    #[error("the callback is for EBusinessID {:?}, not ours", shared::clip::clip(.0))]
    UnknownSender(String),
    #[error("unexpected RequestType {:?} (expected 101 or 102)", shared::clip::clip(.0))]
    BadRequestType(String),
    #[error("the callback body cannot be read: {0}")]
    Malformed(String),
    #[error("push callbacks need {0}")]
    NotConfigured(&'static str),
    /// The body's own time (Kdniao `PushTime`) is outside [`PUSH_WINDOW`] of now:
    /// a replay of an old callback, or a clock far off. Nothing is stored.
    #[error("the callback's PushTime {0} is more than {PUSH_WINDOW_HOURS} h from now (a replay?)")]
    Stale(String),
}

/// How far a push's own time (where the body carries one: Kdniao's `PushTime`)
/// may be from now, either way, before the push is refused as a replay. Kdniao
/// re-pushes a refused callback for a while and every push carries the full
/// timeline, so refusing an old one loses nothing a later push does not bring.
pub const PUSH_WINDOW_HOURS: i64 = 24;

/// [`PUSH_WINDOW_HOURS`] as a duration.
pub const PUSH_WINDOW: chrono::Duration = chrono::Duration::hours(PUSH_WINDOW_HOURS);

/// The HTTP answer to a callback (always JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    pub status: u16,
    pub body: String,
}

/// A verified Kdniao push: its RequestType, its `PushTime` (China time) when
/// given and readable, and one reply per parcel.
#[derive(Clone, Debug, PartialEq)]
pub struct KdniaoPush {
    pub request_type: String,
    pub push_time: Option<DateTime<Utc>>,
    pub replies: Vec<CarrierReply>,
}

/// A verified Kuaidi100 push: the monitoring status (`polling`, `shutdown`,
/// `abort`, `updateall`), its message, and the parcel's reply.
#[derive(Clone, Debug, PartialEq)]
pub struct Kuaidi100Push {
    pub status: String,
    pub message: String,
    pub reply: CarrierReply,
}

/// Verifies a Kdniao push body (`RequestData`, `RequestType` 101 or 102,
/// `DataSign` = Base64(md5hex(RequestData + AppKey))) and parses it.
pub fn verify_kdniao(
    body: &str,
    ebusiness_id: &str,
    app_key: &Secret,
) -> Result<KdniaoPush, PushError> {
    let fields = parse_form(body);
    let data = field(&fields, "RequestData").ok_or(PushError::MissingField("RequestData"))?;
    let given = field(&fields, "DataSign").ok_or(PushError::MissingField("DataSign"))?;
    if !sign::same_signature(given, &sign::kdniao_data_sign(data, app_key.expose())) {
        return Err(PushError::BadSignature);
    }
    if let Some(id) = field(&fields, "EBusinessID") {
        if id.trim() != ebusiness_id {
            return Err(PushError::UnknownSender(id.to_string()));
        }
    }
    let request_type = field(&fields, "RequestType")
        .unwrap_or("101")
        .trim()
        .to_string();
    if request_type != "101" && request_type != "102" {
        return Err(PushError::BadRequestType(request_type));
    }
    let v: Value = serde_json::from_str(data.trim_start_matches('\u{feff}'))
        .map_err(|e| PushError::Malformed(format!("RequestData is not JSON: {e}")))?;
    let replies =
        normalise::parse_kdniao_push(&v).map_err(|e| PushError::Malformed(e.to_string()))?;
    let push_time = v
        .get("PushTime")
        .and_then(Value::as_str)
        .and_then(|t| shared::time::parse_carrier_time(t).ok());
    Ok(KdniaoPush {
        request_type,
        push_time,
        replies,
    })
}

/// Kdniao's acknowledgement: `{"EBusinessID","UpdateTime","Success","Reason"}`.
pub fn kdniao_ack(ebusiness_id: &str, now: DateTime<Utc>, outcome: Result<(), &str>) -> Ack {
    let (status, success, reason) = match outcome {
        Ok(()) => (200, true, String::new()),
        Err(r) => (500, false, r.to_string()),
    };
    Ack {
        status,
        body: json!({
            "EBusinessID": ebusiness_id,
            "UpdateTime": local_carrier_format(now),
            "Success": success,
            "Reason": reason,
        })
        .to_string(),
    }
}

/// Verifies a Kuaidi100 push body (`param`, `sign` = UPPER(md5hex(param + salt)))
/// and parses it. Without a configured salt nothing can be authenticated, so
/// nothing is accepted.
pub fn verify_kuaidi100(body: &str, salt: Option<&Secret>) -> Result<Kuaidi100Push, PushError> {
    let salt = salt.ok_or(PushError::NotConfigured("KUAIDI100_SALT"))?;
    let fields = parse_form(body);
    let param = field(&fields, "param").ok_or(PushError::MissingField("param"))?;
    let given = field(&fields, "sign").ok_or(PushError::MissingField("sign"))?;
    let expected = sign::kuaidi100_push_sign(param, salt.expose());
    if !sign::same_signature(&given.trim().to_ascii_uppercase(), &expected) {
        return Err(PushError::BadSignature);
    }
    let v: Value = serde_json::from_str(param.trim_start_matches('\u{feff}'))
        .map_err(|e| PushError::Malformed(format!("param is not JSON: {e}")))?;
    let reply =
        normalise::parse_kuaidi100_push(&v).map_err(|e| PushError::Malformed(e.to_string()))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Ok(Kuaidi100Push {
        status: text("status"),
        message: text("message"),
        reply,
    })
}

/// Kuaidi100's acknowledgement: `{"result","returnCode","message"}`.
pub fn kuaidi100_ack(outcome: Result<(), &str>) -> Ack {
    match outcome {
        Ok(()) => Ack {
            status: 200,
            body: json!({"result": true, "returnCode": "200", "message": "成功"}).to_string(),
        },
        Err(r) => Ack {
            status: 500,
            body: json!({"result": false, "returnCode": "500", "message": r}).to_string(),
        },
    }
}

/// What handling one callback did.
#[derive(Debug, Default)]
pub struct Handled {
    pub outcomes: Vec<CheckOutcome>,
    /// Pushed parcels we do not track.
    pub unknown: usize,
}

async fn ingest_all<S: TrackerStore, C>(
    tracker: &Tracker<'_, S, C>,
    replies: &[CarrierReply],
    now: DateTime<Utc>,
) -> Result<Handled, TrackerError> {
    let mut h = Handled::default();
    for r in replies {
        let o = tracker.ingest(r, now).await?;
        if o.processed {
            h.outcomes.push(o);
        } else {
            h.unknown += 1;
        }
    }
    Ok(h)
}

/// A Kdniao callback end to end: verify, ingest every parcel, acknowledge. A
/// refused callback answers 401 and changes nothing.
pub async fn handle_kdniao<S: TrackerStore, C>(
    tracker: &Tracker<'_, S, C>,
    body: &str,
    ebusiness_id: &str,
    app_key: &Secret,
    now: DateTime<Utc>,
) -> (Ack, Result<Handled, String>) {
    let verified = verify_kdniao(body, ebusiness_id, app_key).and_then(|p| match p.push_time {
        Some(t) if (now - t).abs() > PUSH_WINDOW => Err(PushError::Stale(local_carrier_format(t))),
        _ => Ok(p),
    });
    let push = match verified {
        Ok(p) => p,
        Err(e) => {
            let mut ack = kdniao_ack(ebusiness_id, now, Err(&e.to_string()));
            ack.status = refusal_status(&e);
            return (ack, Err(e.to_string()));
        }
    };
    match ingest_all(tracker, &push.replies, now).await {
        Ok(h) => (kdniao_ack(ebusiness_id, now, Ok(())), Ok(h)),
        Err(e) => (
            kdniao_ack(ebusiness_id, now, Err("temporary failure; push again")),
            Err(e.to_string()),
        ),
    }
}

/// A Kuaidi100 callback end to end.
pub async fn handle_kuaidi100<S: TrackerStore, C>(
    tracker: &Tracker<'_, S, C>,
    body: &str,
    salt: Option<&Secret>,
    now: DateTime<Utc>,
) -> (Ack, Result<Handled, String>) {
    let push = match verify_kuaidi100(body, salt) {
        Ok(p) => p,
        Err(e) => {
            let mut ack = kuaidi100_ack(Err(&e.to_string()));
            ack.status = refusal_status(&e);
            return (ack, Err(e.to_string()));
        }
    };
    if push.status == "abort" {
        tracing::warn!(message = %push.message, "kuaidi100 stopped monitoring a parcel");
    }
    match ingest_all(tracker, std::slice::from_ref(&push.reply), now).await {
        Ok(h) => (kuaidi100_ack(Ok(())), Ok(h)),
        Err(e) => (
            kuaidi100_ack(Err("temporary failure; push again")),
            Err(e.to_string()),
        ),
    }
}

fn refusal_status(e: &PushError) -> u16 {
    match e {
        PushError::BadSignature | PushError::UnknownSender(_) => 401,
        PushError::NotConfigured(_) => 503,
        _ => 400,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::form_body;

    fn kdniao_body(data: &str, key: &str, rt: &str) -> String {
        let sign = sign::kdniao_data_sign(data, key);
        form_body(&[
            ("RequestData", data),
            ("EBusinessID", "1000000"),
            ("RequestType", rt),
            ("DataSign", &sign),
            ("DataType", "2"),
        ])
    }

    const KDNIAO_PUSH: &str = r#"{"EBusinessID":"1000000","PushTime":"2024-05-02 08:00:00","Count":"1","Data":[{"EBusinessID":"1000000","ShipperCode":"YTO","LogisticCode":"YT0000000000001","Success":true,"State":"2","Traces":[{"AcceptTime":"2024-05-01 09:12:00","AcceptStation":"【杭州市】快件已揽收"}]}]}"#;

    #[test]
    fn kdniao_good_push_is_parsed() {
        let key = Secret::new("k");
        let p = verify_kdniao(&kdniao_body(KDNIAO_PUSH, "k", "102"), "1000000", &key).unwrap();
        assert_eq!(p.request_type, "102");
        assert_eq!(p.replies.len(), 1);
        assert_eq!(p.replies[0].events.len(), 1);
    }

    #[test]
    fn kdniao_bad_pushes_are_refused() {
        let key = Secret::new("k");
        assert_eq!(
            verify_kdniao(&kdniao_body(KDNIAO_PUSH, "other", "101"), "1000000", &key),
            Err(PushError::BadSignature)
        );
        let unsigned = form_body(&[("RequestData", KDNIAO_PUSH), ("RequestType", "101")]);
        assert_eq!(
            verify_kdniao(&unsigned, "1000000", &key),
            Err(PushError::MissingField("DataSign"))
        );
        assert_eq!(
            verify_kdniao("", "1000000", &key),
            Err(PushError::MissingField("RequestData"))
        );
        assert_eq!(
            verify_kdniao(&kdniao_body(KDNIAO_PUSH, "k", "101"), "2000000", &key),
            Err(PushError::UnknownSender("1000000".into()))
        );
        assert_eq!(
            verify_kdniao(&kdniao_body(KDNIAO_PUSH, "k", "1002"), "1000000", &key),
            Err(PushError::BadRequestType("1002".into()))
        );
        assert!(matches!(
            verify_kdniao(&kdniao_body("{not json", "k", "101"), "1000000", &key),
            Err(PushError::Malformed(_))
        ));
    }

    #[test]
    fn kuaidi100_push_is_verified_with_the_salt() {
        let param = r#"{"status":"polling","message":"","lastResult":{"message":"ok","state":"0","status":"200","condition":"F00","ischeck":"0","com":"yuantong","nu":"YT0000000000001","data":[]}}"#;
        let body = form_body(&[
            ("param", param),
            ("sign", "3D1C2E4F34BAC56CA30EE9E835B3D08B"),
        ]);
        let salt = Secret::new("SALT0001");
        let p = verify_kuaidi100(&body, Some(&salt)).unwrap();
        assert_eq!(p.status, "polling");
        assert_eq!(
            verify_kuaidi100(&body, Some(&Secret::new("SALT0002"))),
            Err(PushError::BadSignature)
        );
        assert_eq!(
            verify_kuaidi100(&body, None),
            Err(PushError::NotConfigured("KUAIDI100_SALT"))
        );
        let unsigned = form_body(&[("param", param)]);
        assert_eq!(
            verify_kuaidi100(&unsigned, Some(&salt)),
            Err(PushError::MissingField("sign"))
        );
    }

    #[test]
    fn acknowledgements_are_the_expected_bodies() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-05-01T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = kdniao_ack("1000000", now, Ok(()));
        assert_eq!(a.status, 200);
        let v: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(
            v,
            json!({"EBusinessID":"1000000","UpdateTime":"2024-05-01 10:00:00","Success":true,"Reason":""})
        );
        let a = kuaidi100_ack(Ok(()));
        let v: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(
            v,
            json!({"result":true,"returnCode":"200","message":"成功"})
        );
        let a = kuaidi100_ack(Err("x"));
        assert_eq!(a.status, 500);
    }

    #[tokio::test]
    async fn replayed_kdniao_pushes_write_nothing_and_old_ones_are_refused() {
        use shared::config::Settings;
        use shared::domain::{Shipment, ShipmentId};
        use shared::ports::{ShipmentReader, ShipmentWriter};
        use shared::store::memory::MemoryStore;

        let pushed = shared::time::parse_carrier_time("2024-05-02 08:00:00").unwrap();
        let store = MemoryStore::new();
        let id = ShipmentId::parse("YTO", "YT0000000000001").unwrap();
        let registered = pushed - chrono::Duration::days(2);
        store
            .put_shipment(&Shipment::new(id.clone(), registered))
            .await
            .unwrap();
        let settings = Settings::default();
        let tracker = Tracker::for_pushes(&store, &settings);
        let key = Secret::new("k");
        let body = kdniao_body(KDNIAO_PUSH, "k", "101");
        let version = || async { store.get_shipment(&id).await.unwrap().unwrap().version };

        // The first delivery is taken in and written.
        let (ack, h) = handle_kdniao(&tracker, &body, "1000000", &key, pushed).await;
        assert_eq!(ack.status, 200, "{}", ack.body);
        assert!(h.unwrap().outcomes[0].written);
        let v = version().await;
        assert_eq!(v, 2);

        // The same push again, within the window: acknowledged, nothing written.
        let later = pushed + chrono::Duration::hours(3);
        let (ack, h) = handle_kdniao(&tracker, &body, "1000000", &key, later).await;
        assert_eq!(ack.status, 200, "{}", ack.body);
        let h = h.unwrap();
        assert!(h.outcomes[0].processed && !h.outcomes[0].written);
        assert_eq!(version().await, v);

        // A day and more after its PushTime, or far ahead of it: refused as a replay.
        for now in [
            pushed + PUSH_WINDOW + chrono::Duration::minutes(1),
            pushed - PUSH_WINDOW - chrono::Duration::minutes(1),
        ] {
            let (ack, h) = handle_kdniao(&tracker, &body, "1000000", &key, now).await;
            assert_eq!(ack.status, 400, "{}", ack.body);
            assert!(h.unwrap_err().contains("PushTime"));
        }
        assert_eq!(version().await, v);

        // A push with new events is written, of course.
        let newer = KDNIAO_PUSH.replace(
            r#"{"AcceptTime":"2024-05-01 09:12:00","AcceptStation":"【杭州市】快件已揽收"}"#,
            r#"{"AcceptTime":"2024-05-01 09:12:00","AcceptStation":"【杭州市】快件已揽收"},{"AcceptTime":"2024-05-02 07:00:00","AcceptStation":"【杭州市】快件已发往上海"}"#,
        );
        let (ack, h) = handle_kdniao(
            &tracker,
            &kdniao_body(&newer, "k", "101"),
            "1000000",
            &key,
            later,
        )
        .await;
        assert_eq!(ack.status, 200, "{}", ack.body);
        assert!(h.unwrap().outcomes[0].written);
        assert_eq!(version().await, v + 1);
    }
}
