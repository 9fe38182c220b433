//! A carrier reply about another parcel is refused as a typed error and never
//! merged; real replies, which name the parcel in the provider's own spelling,
//! still match.

use chrono::{DateTime, Duration, Utc};

use shared::config::Settings;
use shared::domain::{CarrierCode, Shipment, ShipmentId, Status, TrackingEvent};
use shared::ports::{CarrierError, CarrierQuery, CarrierReply, ShipmentReader, ShipmentWriter};
use shared::store::memory::MemoryStore;
use shared::tracker::Tracker;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-11-07T03:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// Answers every query with the same reply, naming what it was built with.
struct Names {
    carrier: Option<&'static str>,
    number: Option<&'static str>,
}

impl CarrierQuery for Names {
    fn name(&self) -> &str {
        "names"
    }

    async fn query(&self, _: &Shipment) -> Result<CarrierReply, CarrierError> {
        Ok(CarrierReply {
            carrier: self.carrier.map(|c| CarrierCode::parse(c).unwrap()),
            tracking_number: self.number.map(str::to_string),
            status: Some(Status::Delivered),
            events: vec![TrackingEvent {
                at: t0() - Duration::hours(1),
                text: "已签收".into(),
                location: None,
                code: None,
                status: Status::Delivered,
                hub: None,
            }],
            ..CarrierReply::default()
        })
    }
}

/// Checks a due ZTO parcel against `carrier`; returns the outcome's query error
/// and the stored parcel afterwards.
async fn check(carrier: Names) -> (Option<CarrierError>, Shipment) {
    let store = MemoryStore::new();
    let id = ShipmentId::parse("ZTO", "75312345678901").unwrap();
    let mut s = Shipment::new(id.clone(), t0() - Duration::hours(30));
    s.next_check_at = Some(t0());
    store.put_shipment(&s).await.unwrap();
    let settings = Settings::default();
    let tracker = Tracker::new(&store, &carrier, &settings);
    let outcome = tracker.check(&id, t0()).await.unwrap();
    assert!(outcome.processed && outcome.queried);
    let stored = store.get_shipment(&id).await.unwrap().unwrap();
    (outcome.query_error, stored)
}

#[tokio::test]
async fn a_reply_about_another_parcel_is_refused_and_not_merged() {
    for (carrier, number) in [
        (Some("SF"), Some("75312345678901")),
        (Some("ZTO"), Some("75312345678902")),
        (Some("SF"), Some("SF1234567890123")),
        (None, Some("75312345678999")),
        (Some("SHUNFENG"), None),
    ] {
        let (error, stored) = check(Names { carrier, number }).await;
        assert!(
            matches!(error, Some(CarrierError::WrongParcel(_))),
            "{carrier:?} {number:?}: {error:?}"
        );
        assert_eq!(error.as_ref().unwrap().kind(), "wrong_parcel");
        // The parcel keeps its state: nothing merged, not delivered, still watched.
        assert!(stored.timeline.is_empty(), "{carrier:?} {number:?}");
        assert_eq!(stored.status, Status::Pending);
        assert!(stored.next_check_at.is_some());
        assert_eq!(stored.consecutive_errors, 1);
    }
}

#[tokio::test]
async fn replies_naming_the_parcel_in_the_providers_spelling_are_merged() {
    for (carrier, number) in [
        // Kdniao echoes our code; Kuaidi100 names the carrier by its `com`.
        (Some("ZTO"), Some("75312345678901")),
        (Some("ZHONGTONG"), Some("75312345678901")),
        (Some("zto"), Some(" 75312345678901 ")),
        // A reply that names nothing, or only one of the two, is judged by it.
        (None, None),
        (Some("ZTO"), None),
        (None, Some("75312345678901")),
    ] {
        let (error, stored) = check(Names { carrier, number }).await;
        assert_eq!(error, None, "{carrier:?} {number:?}");
        assert_eq!(stored.status, Status::Delivered, "{carrier:?} {number:?}");
        assert_eq!(stored.timeline.len(), 1);
    }
}

/// Found by the fuzz harness (`shared/tests/fuzz`, reply_mutations): a reply
/// naming a huge number gave a `WrongParcel` error echoing all of it (masked,
/// not clipped), stored as the parcel's last error and logged.
#[test]
fn a_reply_naming_a_huge_number_is_refused_with_a_clipped_error() {
    let number = format!("{}1", "A".repeat(100_000));
    let body = serde_json::json!({"message": "ok", "status": "200", "state": "0",
        "com": "zhongtong", "nu": number, "data": []});
    let reply = shared::normalise::parse_value(&body, None).unwrap();
    let id = ShipmentId::parse("ZTO", "75312345678901").unwrap();
    let e = reply.wrong_parcel(&id).expect("another parcel");
    assert_eq!(e.kind(), "wrong_parcel");
    let shown = e.to_string();
    assert!(shown.chars().count() < 200, "{}", &shown[..300]);
    assert!(shown.contains("(100001 chars)"), "{shown}");
    assert!(shown.ends_with("asked about 753*******8901"), "{shown}");
}
