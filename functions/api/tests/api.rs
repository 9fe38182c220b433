//! The api handler driven with API Gateway HTTP API (payload 2.0) and EventBridge
//! events, as Lambda delivers them (fixtures in `tests/fixtures/`), against the
//! in-memory store, a recording carrier and a recording alert publisher.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{json, Value};

use sentinel_api::{handle, AlertPublisher, CallbackKeys, Deps, HandlerError, Output};
use sentinel_fakes::{kdniao_render, kuaidi100_push_form, kuaidi100_push_param, Event, Parcel};
use shared::budget::BudgetDay;
use shared::clock::ManualClock;
use shared::config::Settings;
use shared::domain::AlertRecord;
use shared::domain::Notification;
use shared::domain::{Audience, Rule};
use shared::domain::{Shipment, ShipmentId, Status};
use shared::ports::{
    AlertLog, Committed, DueIndex, LaneQuery, Lease, ListFilter, Page, QueryBudget, ShipmentQuery,
    ShipmentReader, ShipmentWriter, StoreError, Unreadable,
};
use shared::ports::{CarrierError, CarrierSubscribe};
use shared::registration::NewShipment;
use shared::schedule::TrackingMode;
use shared::secret::Secret;
use shared::store::memory::MemoryStore;

const EBID: &str = "1000001";
const APP_KEY: &str = "test-app-key-0001";
const SALT: &str = "SALT0001";

/// A Kdniao push form sent at the test's `now()`.
fn pushed_at_now(ebid: &str, key: &str, request_type: &str, data: &[Value]) -> String {
    sentinel_fakes::kdniao_push_form_at(
        ebid,
        key,
        request_type,
        data,
        &shared::time::local_carrier_format(now()),
    )
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-02T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

// ------------------------------------------------------------------ test adapters

/// Records subscriptions; fails for the numbers it is told to.
#[derive(Default)]
struct RecordingCarrier {
    subscribed: Mutex<Vec<ShipmentId>>,
    fail_for: HashSet<String>,
}

impl RecordingCarrier {
    fn subscribed(&self) -> Vec<String> {
        self.subscribed
            .lock()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

impl CarrierSubscribe for RecordingCarrier {
    async fn subscribe(&self, s: &Shipment) -> Result<(), CarrierError> {
        self.subscribed.lock().unwrap().push(s.id.clone());
        if self.fail_for.contains(s.id.tracking_number.as_str()) {
            return Err(CarrierError::Transient("provider timed out".into()));
        }
        Ok(())
    }
}

#[derive(Default)]
struct RecordingPublisher {
    published: Mutex<Vec<Notification>>,
}

impl AlertPublisher for RecordingPublisher {
    async fn publish(&self, n: &[Notification]) -> Vec<Result<(), String>> {
        self.published.lock().unwrap().extend_from_slice(n);
        vec![Ok(()); n.len()]
    }
}

/// The in-memory store, with a switch that makes every call fail.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    down: AtomicBool,
}

impl FlakyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Backend("connection reset".into()))
        } else {
            Ok(())
        }
    }
}

impl ShipmentReader for FlakyStore {
    async fn get_shipment(&self, id: &ShipmentId) -> Result<Option<Shipment>, StoreError> {
        self.check()?;
        self.inner.get_shipment(id).await
    }
}

impl ShipmentWriter for FlakyStore {
    async fn put_shipment(&self, s: &Shipment) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.put_shipment(s).await
    }
}

impl DueIndex for FlakyStore {
    async fn due_shipments(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ShipmentId>, StoreError> {
        self.check()?;
        self.inner.due_shipments(now, limit).await
    }
}

impl AlertLog for FlakyStore {
    async fn insert_alert_if_absent(&self, r: &AlertRecord) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.insert_alert_if_absent(r).await
    }
    async fn commit_check(
        &self,
        s: &Shipment,
        records: &[AlertRecord],
        lease: &Lease,
    ) -> Result<Committed, StoreError> {
        self.check()?;
        self.inner.commit_check(s, records, lease).await
    }
    async fn take_lease(
        &self,
        r: &AlertRecord,
        due_by: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.take_lease(r, due_by, lease).await
    }
    async fn mark_delivered(&self, r: &AlertRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.mark_delivered(r).await
    }
    async fn pending_alerts(
        &self,
        due_by: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        self.check()?;
        self.inner.pending_alerts(due_by, limit).await
    }
    async fn alerts_for(&self, id: &ShipmentId) -> Result<Vec<AlertRecord>, StoreError> {
        self.check()?;
        self.inner.alerts_for(id).await
    }
    async fn alerts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        self.check()?;
        self.inner.alerts_between(from, to).await
    }
}

impl LaneQuery for FlakyStore {
    async fn lane_counts(
        &self,
        lanes: &[String],
        weeks: &[String],
    ) -> Result<shared::tally::Tally, StoreError> {
        self.check()?;
        self.inner.lane_counts(lanes, weeks).await
    }
}

impl QueryBudget for FlakyStore {
    async fn take_query(
        &self,
        provider: &str,
        day: NaiveDate,
        cap: u32,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.take_query(provider, day, cap).await
    }
    async fn defer_query(
        &self,
        provider: &str,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<BudgetDay, StoreError> {
        self.check()?;
        self.inner.defer_query(provider, day, now).await
    }
    async fn claim_budget_warning(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.claim_budget_warning(provider, day).await
    }
    async fn budget_day(&self, provider: &str, day: NaiveDate) -> Result<BudgetDay, StoreError> {
        self.check()?;
        self.inner.budget_day(provider, day).await
    }
}

impl ShipmentQuery for FlakyStore {
    async fn list_shipments(
        &self,
        f: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        self.check()?;
        self.inner.list_shipments(f, cursor, limit).await
    }

    async fn unreadable(&self, limit: usize) -> Result<Vec<Unreadable>, StoreError> {
        self.check()?;
        self.inner.unreadable(limit).await
    }

    async fn tally(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<shared::tally::Tally, StoreError> {
        self.check()?;
        self.inner.tally(from, to).await
    }

    async fn problem_shipments(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        self.check()?;
        self.inner.problem_shipments(cursor, limit).await
    }
}

type TestDeps = Deps<FlakyStore, RecordingCarrier, RecordingPublisher>;

fn deps_with(mode: TrackingMode, carrier: RecordingCarrier, callbacks: bool) -> TestDeps {
    Deps {
        store: FlakyStore::default(),
        subscriber: Some(carrier),
        publisher: RecordingPublisher::default(),
        settings: Settings::default(),
        mode,
        callbacks: if callbacks {
            CallbackKeys {
                kdniao: Some((EBID.into(), Secret::new(APP_KEY))),
                kuaidi100_salt: Some(Secret::new(SALT)),
            }
        } else {
            CallbackKeys::default()
        },
        sign_in: None,
        clock: Arc::new(ManualClock::new(now())),
    }
}

fn deps() -> TestDeps {
    deps_with(TrackingMode::Poll, RecordingCarrier::default(), true)
}

// ------------------------------------------------------------------ events

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// An HTTP API request: the fixture's real shape with this method, path, query
/// and body.
fn request(method: &str, path: &str, query: &str, body: Option<&str>) -> Value {
    let mut e = fixture("http_request.json");
    e["routeKey"] = json!(format!("{method} {path}"));
    e["rawPath"] = json!(path);
    e["rawQueryString"] = json!(query);
    e["requestContext"]["http"]["method"] = json!(method);
    e["requestContext"]["http"]["path"] = json!(path);
    e["requestContext"]["routeKey"] = json!(format!("{method} {path}"));
    if let Some(b) = body {
        e["body"] = json!(b);
    }
    e
}

/// A fixture whose body is replaced (base64-encoded if the fixture says so).
fn with_body(mut e: Value, body: &str) -> Value {
    let b64 = e["isBase64Encoded"].as_bool().unwrap_or(false);
    e["body"] = if b64 {
        json!(base64::engine::general_purpose::STANDARD.encode(body))
    } else {
        json!(body)
    };
    e
}

struct Reply {
    status: u16,
    headers: Value,
    body: Value,
    text: String,
}

/// Invokes the handler with an HTTP event and reads the answer as API Gateway
/// would: the serialised response.
async fn call(deps: &TestDeps, event: Value) -> Reply {
    let out = handle(deps, event).await.expect("HTTP requests never fail");
    assert!(matches!(out, Output::Http(_)));
    let wire = serde_json::to_value(&out).unwrap();
    let text = wire["body"].as_str().unwrap().to_string();
    assert_eq!(wire["isBase64Encoded"], false);
    Reply {
        status: wire["statusCode"].as_u64().unwrap() as u16,
        headers: wire["headers"].clone(),
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

async fn post(deps: &TestDeps, body: &str) -> Reply {
    call(deps, request("POST", "/shipments", "", Some(body))).await
}

async fn get(deps: &TestDeps, path: &str, query: &str) -> Reply {
    call(deps, request("GET", path, query, None)).await
}

fn statuses(r: &Reply) -> Vec<String> {
    r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap().to_string())
        .collect()
}

async fn stored(deps: &TestDeps, carrier: &str, number: &str) -> Option<Shipment> {
    deps.store
        .inner
        .get_shipment(&ShipmentId::parse(carrier, number).unwrap())
        .await
        .unwrap()
}

async fn register(deps: &TestDeps, carrier: &str, number: &str) {
    let r = post(
        deps,
        &json!({"carrier": carrier, "tracking_number": number}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

// ------------------------------------------------------------------ POST /shipments

#[tokio::test]
async fn post_one_object_registers_it_due_now() {
    let deps = deps();
    let r = call(&deps, fixture("post_shipment.json")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(
        r.body,
        json!({"results": [{"carrier": "ZTO", "tracking_number": "75312345678901", "status": "registered"}]})
    );
    let s = stored(&deps, "ZTO", "75312345678901").await.unwrap();
    assert_eq!(s.order_id.as_deref(), Some("DD20240501-1"));
    assert_eq!(s.next_check_at, Some(now()));
    assert_eq!(s.registered_at, now());
    assert_eq!(s.tags, ["shop-a"]);
    assert_eq!(s.phone.unwrap().expose(), "13812345678");
    // Poll mode: nothing is subscribed.
    assert!(deps.subscriber.as_ref().unwrap().subscribed().is_empty());

    // The same again: exists, still 200 (registration is idempotent).
    let r = call(&deps, fixture("post_shipment.json")).await;
    assert_eq!(r.status, 200);
    assert_eq!(statuses(&r), ["exists"]);
}

#[tokio::test]
async fn a_batch_is_answered_per_item_in_order() {
    let deps = deps();
    register(&deps, "ZTO", "75312345678901").await;
    let r = call(&deps, fixture("post_shipments_batch.json")).await;
    assert_eq!(r.status, 207, "{}", r.text);
    assert_eq!(
        statuses(&r),
        [
            "registered",
            "invalid",
            "invalid",
            "exists",
            "exists",
            "registered",
            "invalid"
        ]
    );
    let results = r.body["results"].as_array().unwrap();
    assert_eq!(results[0]["carrier"], "SF");
    assert_eq!(results[0]["tracking_number"], "SF1234567890123");
    assert!(results[0].get("error").is_none());
    // Invalid items echo what they gave and name the field.
    assert_eq!(results[1]["carrier"], "X Y");
    assert!(results[1]["error"]
        .as_str()
        .unwrap()
        .starts_with("carrier: "));
    assert!(results[2]["error"]
        .as_str()
        .unwrap()
        .starts_with("shipped_at: "));
    // A repeat within the request (normalised to the same identity) exists.
    assert_eq!(results[3]["carrier"], "SF");
    assert_eq!(results[3]["tracking_number"], "SF1234567890123");
    // Integers are accepted for the number and the order id.
    assert_eq!(results[5]["tracking_number"], "1234567890123");
    assert_eq!(
        stored(&deps, "EMS", "1234567890123")
            .await
            .unwrap()
            .order_id
            .as_deref(),
        Some("5")
    );
    assert_eq!(results[6]["carrier"], Value::Null);
    assert!(results[6]["error"]
        .as_str()
        .unwrap()
        .contains("expected a JSON object"));
    // The repeat did not overwrite the first.
    assert_eq!(
        stored(&deps, "SF", "SF1234567890123")
            .await
            .unwrap()
            .order_id
            .as_deref(),
        Some("DD2")
    );
}

#[tokio::test]
async fn all_invalid_is_400_and_all_existing_is_200() {
    let deps = deps();
    let r = post(
        &deps,
        r#"[{"carrier":"ZTO"},{"tracking_number":"75312345678901"}]"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(statuses(&r), ["invalid", "invalid"]);
    assert!(r.body["results"][0]["error"]
        .as_str()
        .unwrap()
        .starts_with("tracking_number: "));
    register(&deps, "ZTO", "75312345678901").await;
    let r = post(
        &deps,
        r#"[{"carrier":"ZTO","tracking_number":"75312345678901"}]"#,
    )
    .await;
    assert_eq!((r.status, statuses(&r)), (200, vec!["exists".to_string()]));
}

#[tokio::test]
async fn bad_bodies_are_400_and_register_nothing() {
    let deps = deps();
    for (body, says) in [
        ("{not json", "not JSON"),
        ("", "not JSON"),
        ("\"ZTO 75312345678901\"", "shipment object or an array"),
        ("42", "shipment object or an array"),
        ("[]", "empty"),
    ] {
        let r = post(&deps, body).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(
            r.body["error"].as_str().unwrap().contains(says),
            "{body}: {}",
            r.text
        );
    }
    let too_many: Vec<Value> = (0..501)
        .map(|i| json!({"carrier": "ZTO", "tracking_number": format!("7531{i:010}")}))
        .collect();
    let r = post(&deps, &Value::Array(too_many.clone()).to_string()).await;
    assert_eq!(r.status, 400);
    let e = r.body["error"].as_str().unwrap();
    assert!(e.contains("501") && e.contains("at most 500"), "{e}");
    assert!(deps.store.inner.count_shipments().unwrap() == 0);
    // 500 is fine.
    let r = post(&deps, &Value::Array(too_many[..500].to_vec()).to_string()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["results"].as_array().unwrap().len(), 500);
    assert_eq!(deps.store.inner.count_shipments().unwrap(), 500);
}

#[tokio::test]
async fn base64_bodies_are_decoded() {
    let deps = deps();
    let r = call(&deps, fixture("post_shipments_base64.json")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(statuses(&r), ["registered"]);
    assert_eq!(
        stored(&deps, "JTSD", "JT0001234567890").await.unwrap().tags,
        ["仓库-杭州"]
    );
    let mut bad = fixture("post_shipments_base64.json");
    bad["body"] = json!("!!not base64!!");
    let r = call(&deps, bad).await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"].as_str().unwrap().contains("base64"));
}

#[tokio::test]
async fn push_mode_subscribes_new_parcels_and_reports_a_failed_subscription() {
    let carrier = RecordingCarrier {
        fail_for: ["SF1234567890123".to_string()].into(),
        ..RecordingCarrier::default()
    };
    let deps = deps_with(TrackingMode::Push, carrier, true);
    register(&deps, "YTO", "YT1234567890123").await;
    let r = post(
        &deps,
        &json!([
            {"carrier": "ZTO", "tracking_number": "75312345678901"},
            {"carrier": "SF", "tracking_number": "SF1234567890123"},
            {"carrier": "YTO", "tracking_number": "YT1234567890123"},
        ])
        .to_string(),
    )
    .await;
    // A failed subscription still registers the parcel: all succeeded.
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(statuses(&r), ["registered", "registered", "exists"]);
    let results = &r.body["results"];
    assert!(results[0].get("subscription_error").is_none());
    let why = results[1]["subscription_error"].as_str().unwrap();
    assert!(why.contains("provider timed out"), "{why}");
    assert!(stored(&deps, "SF", "SF1234567890123").await.is_some());
    // Only new parcels are subscribed, once each.
    assert_eq!(
        deps.subscriber.as_ref().unwrap().subscribed(),
        [
            "YTO:YT1234567890123",
            "ZTO:75312345678901",
            "SF:SF1234567890123"
        ]
    );
}

#[tokio::test]
async fn a_failing_store_is_an_error_per_item_and_503() {
    let deps = deps();
    deps.store.down.store(true, Ordering::SeqCst);
    let r = post(
        &deps,
        r#"[{"carrier":"ZTO","tracking_number":"75312345678901"},{"carrier":"ZTO"}]"#,
    )
    .await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(statuses(&r), ["error", "invalid"]);
    assert!(
        !r.text.contains("connection reset"),
        "internals stay in the log"
    );
    for path in ["/shipments/ZTO/75312345678901", "/shipments", "/summary"] {
        let r = get(&deps, path, "").await;
        assert_eq!(r.status, 503, "{path}");
        assert!(r.body["error"].is_string());
    }
    deps.store.down.store(false, Ordering::SeqCst);
    // Mixed success and failure is 207.
    register(&deps, "SF", "SF1234567890123").await;
    let r = post(
        &deps,
        r#"[{"carrier":"ZTO","tracking_number":"75312345678901"},{"carrier":"ZTO"}]"#,
    )
    .await;
    assert_eq!(r.status, 207);
}

// ------------------------------------------------------------------ GET one

/// Registers the fixture's parcel (ZTO 75312345678901) and pushes it picked up,
/// then refused: a parcel with one open `refused` problem.
async fn register_refused(deps: &TestDeps) {
    call(deps, fixture("post_shipment.json")).await;
    let parcel = Parcel::new("ZTO", "75312345678901")
        .event(Event::new("2024-05-01 12:00:00", "【杭州市】快件已揽收").codes("1", "1"))
        .event(Event::new("2024-05-01 20:00:00", "快件已被收件人拒收").codes("404", "14"));
    let body = pushed_at_now(EBID, APP_KEY, "102", &[kdniao_render(&parcel, "102")]);
    let r = call(deps, with_body(fixture("callback_kdniao.json"), &body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn get_one_parcel_with_timeline_findings_and_alerts() {
    let deps = deps();
    let r = call(&deps, fixture("get_shipment.json")).await;
    assert_eq!(r.status, 404);
    assert!(r.body["error"]
        .as_str()
        .unwrap()
        .contains("ZTO:75312345678901"));

    // A signed push: picked up, then refused.
    register_refused(&deps).await;

    let r = call(&deps, fixture("get_shipment.json")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = &r.body;
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "alerts",
            "carrier",
            "destination",
            "eta",
            "findings",
            "last_checked_at",
            "last_error",
            "next_check_at",
            "order_id",
            "origin",
            "phone_masked",
            "problems",
            "promised_at",
            "raw_state",
            "registered_at",
            "shipped_at",
            "status",
            "tags",
            "timeline",
            "tracking_number"
        ]
    );
    assert_eq!(v["carrier"], "ZTO");
    assert_eq!(v["status"], "Refused");
    // Refused: on its way back, no estimated delivery.
    assert_eq!(v["eta"], Value::Null);
    // The refusal is an open problem, nobody has it yet.
    assert_eq!(v["problems"][0]["rule"], "refused", "{v}");
    assert_eq!(v["problems"][0]["state"], "open");
    assert_eq!(v["order_id"], "DD20240501-1");
    assert_eq!(v["registered_at"], "2024-05-02T08:00:00+08:00");
    assert_eq!(v["shipped_at"], "2024-05-01T10:00:00+08:00");
    assert_eq!(v["promised_at"], "2024-05-04T18:00:00+08:00");
    assert_eq!(v["phone_masked"], "138****5678");
    assert!(
        !r.text.contains("13812345678"),
        "the phone is never returned in full"
    );
    let timeline = v["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[0]["at"], "2024-05-01T12:00:00+08:00");
    assert_eq!(timeline[0]["text"], "【杭州市】快件已揽收");
    assert_eq!(timeline[0]["status"], "PickedUp");
    assert_eq!(timeline[1]["status"], "Refused");
    assert!(timeline[0].get("location").is_some());
    // Refused before its promise: no chance of delivery by it, so
    // `predicted_late` holds from the refusal too.
    assert_eq!(
        v["findings"],
        json!([{"rule": "refused", "severity": "warning", "since": "2024-05-01T20:00:00+08:00"},
               {"rule": "predicted_late", "severity": "warning", "since": "2024-05-01T20:00:00+08:00"}])
    );
    assert_eq!(
        v["alerts"],
        json!([{"rule": "refused", "kind": "fired", "severity": "warning",
                "since": "2024-05-01T20:00:00+08:00", "at": "2024-05-02T08:00:00+08:00", "seq": 0},
               {"rule": "predicted_late", "kind": "fired", "severity": "warning",
                "since": "2024-05-01T20:00:00+08:00", "at": "2024-05-02T08:00:00+08:00", "seq": 0}])
    );

    // Malformed identities are 400 naming the part; lower case and percent-encoding are fine.
    let r = get(&deps, "/shipments/Z%20T/75312345678901", "").await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"].as_str().unwrap().starts_with("carrier: "));
    let r = get(&deps, "/shipments/ZTO/12", "").await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]
        .as_str()
        .unwrap()
        .starts_with("tracking_number: "));
    let r = get(&deps, "/shipments/zto/%37%35312345678901", "").await;
    assert_eq!(r.status, 200);
    let r = get(&deps, "/shipments/ZTO/%zz", "").await;
    assert_eq!(r.status, 400);
    // By its number alone: the carrier is found in the store.
    let r = get(&deps, "/shipments/75312345678901", "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["carrier"], "ZTO");
    let r = get(&deps, "/shipments/75312345678999", "").await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = get(&deps, "/vocabulary", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["rules"].as_array().unwrap().len(), Rule::ALL.len());

    // The problem queue and the actions on it (the console API, issue 16).
    let r = get(&deps, "/problems", "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", r.text);
    assert_eq!(items[0]["tracking_number"], "75312345678901");
    assert_eq!(items[0]["problems"][0]["state"], "open");
    let act = |body: &str| {
        request(
            "POST",
            "/problems/ZTO/75312345678901/refused",
            "",
            Some(body),
        )
    };
    let r = call(
        &deps,
        act(r#"{"action":"ack","by":"张三","note":"已联系网点"}"#),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["acted_on"], json!(["refused"]));
    assert_eq!(r.body["problems"][0]["state"], "acknowledged");
    assert_eq!(r.body["problems"][0]["history"][0]["note"], "已联系网点");
    // The second person is told who has it.
    let r = call(&deps, act(r#"{"action":"ack","by":"李四"}"#)).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["by"], "张三");
    assert_eq!(r.body["state"], "acknowledged");
    // It has left the open queue (where the parcel's lost promise, its own
    // problem, stays), and is in the acknowledged one.
    let r = get(&deps, "/problems", "state=open&rule=refused").await;
    assert_eq!(r.body["items"], json!([]), "{}", r.text);
    let r = get(&deps, "/problems", "state=open").await;
    let open = r.body["items"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{}", r.text);
    assert_eq!(
        open[0]["problems"][0]["rule"], "predicted_late",
        "{}",
        r.text
    );
    let r = get(
        &deps,
        "/problems",
        "state=acknowledged&rule=refused&carrier=zto",
    )
    .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.text);
    let r = get(&deps, "/shipments/ZTO/75312345678901", "").await;
    assert_eq!(r.body["problems"][0]["by"], "张三");
    // Bad requests name what is wrong.
    for (body, says) in [
        ("{", "not JSON"),
        (r#"{"action":"take","by":"x"}"#, "action"),
        (r#"{"action":"ack"}"#, "by"),
        (r#"{"action":"close","by":"x"}"#, "note"),
        (r#"{"action":"snooze","by":"x"}"#, "hours"),
        (r#"{"action":"snooze","by":"x","hours":-1}"#, "hours"),
        (r#"{"action":"ack","by":"x","hours":2}"#, "hours"),
        (r#"{"action":"ack","by":5}"#, "by"),
    ] {
        let r = call(&deps, act(body)).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        let e = r.body["error"].as_str().unwrap();
        assert!(e.contains(says), "{body}: {e}");
    }
    let r = call(
        &deps,
        request(
            "POST",
            "/problems/ZTO/75312345678901/late",
            "",
            Some(r#"{"action":"ack","by":"x"}"#),
        ),
    )
    .await;
    assert_eq!(r.status, 404, "no open problem for late: {}", r.text);
    for q in [
        "state=later",
        "rule=slow",
        "limit=0",
        "limit=1&limit=2",
        "colour=red",
    ] {
        assert_eq!(get(&deps, "/problems", q).await.status, 400, "{q}");
    }
    let r = call(
        &deps,
        request("GET", "/problems/ZTO/75312345678901/late", "", None),
    )
    .await;
    assert_eq!((r.status, r.headers["allow"].as_str()), (405, Some("POST")));
}

// ------------------------------------------------------------------ GET list, summary

#[tokio::test]
async fn list_filters_pages_and_refuses_bad_parameters() {
    let deps = deps();
    for n in ["75312345678901", "75312345678902", "75312345678903"] {
        register(&deps, "ZTO", n).await;
    }
    register(&deps, "SF", "SF1234567890123").await;

    let r = call(&deps, fixture("list_shipments.json")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0],
        json!({"carrier": "ZTO", "tracking_number": "75312345678901", "order_id": null,
               "tags": [], "status": "Pending", "registered_at": "2024-05-02T08:00:00+08:00",
               "last_event_at": null, "next_check_at": "2024-05-02T08:00:00+08:00", "alerts": []})
    );
    let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
    let r = get(
        &deps,
        "/shipments",
        &format!("carrier=ZTO&limit=2&cursor={cursor}"),
    )
    .await;
    let items = r.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["tracking_number"], "75312345678903");

    // Defaults: everything, 50 a page.
    let r = get(&deps, "/shipments", "").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 4);
    assert_eq!(r.body["next_cursor"], Value::Null);
    let r = get(&deps, "/shipments", "status=Delivered&rule=").await;
    assert_eq!(r.body["items"], json!([]));
    let r = get(&deps, "/shipments", "rule=stalled").await;
    assert_eq!(r.body["items"], json!([]));

    for (query, names) in [
        ("status=Flying", "status"),
        ("rule=stuck", "rule"),
        ("carrier=Z%20T", "carrier"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=lots", "limit"),
        ("cursor=zz", "cursor"),
        ("cursor=%E4%B8%AD", "cursor"),
        ("status=Pending&status=Delivered", "status"),
        ("sort=desc", "sort"),
    ] {
        let r = get(&deps, "/shipments", query).await;
        assert_eq!(r.status, 400, "{query}");
        let e = r.body["error"].as_str().unwrap();
        assert!(e.contains(names), "{query}: {e}");
    }
}

#[tokio::test]
async fn summary_counts_the_parcels() {
    let deps = deps();
    let r = call(&deps, fixture("http_request.json")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["parcels"], 0);
    register(&deps, "ZTO", "75312345678901").await;
    register(&deps, "SF", "SF1234567890123").await;
    let r = get(&deps, "/summary", "").await;
    assert_eq!(r.body["parcels"], 2);
    assert_eq!(r.body["by_status"], json!({"Pending": 2}));
    assert_eq!(r.body["by_carrier"], json!({"SF": 1, "ZTO": 1}));
    assert_eq!(r.body["parcels_with_alerts"], 0);
}

// ------------------------------------------------------------------ routing

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let deps = deps();
    let r = get(&deps, "/parcels", "").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, json!({"error": "no route for GET /parcels"}));
    // One segment is a tracking number (GET shipments/{number}): "ZTO" is not one.
    let r = get(&deps, "/shipments/ZTO", "").await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = get(&deps, "/shipments/ZTO/75312345678901/x", "").await;
    assert_eq!(r.status, 404);
    let r = call(
        &deps,
        request("DELETE", "/shipments/ZTO/75312345678901", "", None),
    )
    .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET");
    let r = call(&deps, request("PUT", "/shipments", "", Some("{}"))).await;
    assert_eq!(
        (r.status, r.headers["allow"].as_str()),
        (405, Some("GET, POST"))
    );
    let r = get(&deps, "/callbacks/kdniao", "").await;
    assert_eq!((r.status, r.headers["allow"].as_str()), (405, Some("POST")));
    let r = call(&deps, request("POST", "/summary", "", Some("{}"))).await;
    assert_eq!(r.status, 405);
    // Found by the fuzz harness (tests/fuzz, api_any_request): a 405 echoed
    // the whole path; it is clipped like a 404's.
    let long = format!("/shipments/ZTO/{}", "7".repeat(100_000));
    let r = call(&deps, request("POST", &long, "", Some("{}"))).await;
    assert_eq!(r.status, 405);
    let e = r.body["error"].as_str().unwrap();
    assert!(e.chars().count() < 300, "{}", &e[..300]);
    assert!(e.contains("…") && e.ends_with("; allowed: GET"), "{e}");
    // A named stage's prefix and a trailing slash are not part of the route.
    let mut e = request("GET", "/prod/summary/", "", None);
    e["requestContext"]["stage"] = json!("prod");
    assert_eq!(call(&deps, e).await.status, 200);
}

// ------------------------------------------------------------------ callbacks

fn refused_parcel(number: &str) -> Parcel {
    Parcel::new("YTO", number)
        .event(Event::new("2024-05-01 09:12:00", "【杭州市】快件已揽收").codes("1", "1"))
        .event(Event::new("2024-05-01 21:00:00", "快件已被收件人拒收").codes("404", "14"))
}

#[tokio::test]
async fn kdniao_callbacks_are_verified_merged_and_alerted() {
    let deps = deps_with(TrackingMode::Push, RecordingCarrier::default(), true);
    register(&deps, "YTO", "YT0000000000001").await;
    let before = stored(&deps, "YTO", "YT0000000000001").await.unwrap();
    let data = [kdniao_render(&refused_parcel("YT0000000000001"), "102")];

    // Wrong key: 401, Kdniao's failure body, nothing changes.
    let body = pushed_at_now(EBID, "not-the-key", "102", &data);
    let r = call(&deps, with_body(fixture("callback_kdniao.json"), &body)).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.body["Success"], false);
    assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(
        stored(&deps, "YTO", "YT0000000000001").await.unwrap(),
        before
    );

    // Good signature: merged, acknowledged, the refusal alert published.
    let body = pushed_at_now(EBID, APP_KEY, "102", &data);
    let r = call(&deps, with_body(fixture("callback_kdniao.json"), &body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"EBusinessID": EBID, "UpdateTime": "2024-05-02 08:00:00", "Success": true, "Reason": ""})
    );
    let after = stored(&deps, "YTO", "YT0000000000001").await.unwrap();
    assert_eq!(after.timeline.len(), 2);
    assert_eq!(after.status, Status::Refused);
    let published = deps.publisher.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].record.rule, Rule::Refused);
    assert_eq!(published[0].record.shipment, after.id);

    // The same push again: acknowledged, no second alert.
    let r = call(&deps, with_body(fixture("callback_kdniao.json"), &body)).await;
    assert_eq!(r.status, 200);
    assert_eq!(deps.publisher.published.lock().unwrap().len(), 1);

    // Unsigned and not-form bodies are refused.
    let r = call(&deps, with_body(fixture("callback_kdniao.json"), "hello")).await;
    assert_eq!(r.status, 400);
    let mut e = fixture("callback_kdniao.json");
    e["body"] = json!("%%%");
    let r = call(&deps, e).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["Success"], false);
}

/// The api sends no SMS: a customer notice a push raises stays in the outbox for
/// the scheduler (its role may only publish to the alerts topic); the ops alert
/// is published at once.
#[tokio::test]
async fn customer_notices_raised_by_a_push_are_left_to_the_scheduler() {
    let mut deps = deps_with(TrackingMode::Push, RecordingCarrier::default(), true);
    deps.settings = Settings::from_lookup(|k| match k {
        "CUSTOMER_NOTICE_RULES" => Some("refused".to_string()),
        "QUIET_HOURS" => Some("off".to_string()),
        _ => None,
    })
    .unwrap();
    let r = post(
        &deps,
        &json!({"carrier": "YTO", "tracking_number": "YT0000000000002", "phone": "13812345678"})
            .to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let data = [kdniao_render(&refused_parcel("YT0000000000002"), "102")];
    let body = pushed_at_now(EBID, APP_KEY, "102", &data);
    let r = call(&deps, with_body(fixture("callback_kdniao.json"), &body)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let published = deps.publisher.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].audience(), Audience::Ops);
    assert_eq!(published[0].record.rule, Rule::Refused);
    let pending = deps
        .store
        .pending_alerts(now() + Duration::days(1), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].audience(), Audience::Customer);
    assert_eq!(pending[0].rule, Rule::Refused);
}

#[tokio::test]
async fn kuaidi100_callbacks_are_verified_with_the_salt() {
    let deps = deps_with(TrackingMode::Push, RecordingCarrier::default(), true);
    register(&deps, "YTO", "YT0000000000002").await;
    let before = stored(&deps, "YTO", "YT0000000000002").await.unwrap();
    let param = kuaidi100_push_param("polling", "", &refused_parcel("YT0000000000002"));

    for body in [
        kuaidi100_push_form(&param, Some("OTHER")),
        kuaidi100_push_form(&param, None),
    ] {
        let r = call(&deps, with_body(fixture("callback_kuaidi100.json"), &body)).await;
        assert!(r.status == 401 || r.status == 400, "{}", r.text);
        assert_eq!(r.body["result"], false);
        assert_eq!(
            stored(&deps, "YTO", "YT0000000000002").await.unwrap(),
            before
        );
    }
    let body = kuaidi100_push_form(&param, Some(SALT));
    let r = call(&deps, with_body(fixture("callback_kuaidi100.json"), &body)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"result": true, "returnCode": "200", "message": "成功"})
    );
    assert_eq!(
        stored(&deps, "YTO", "YT0000000000002")
            .await
            .unwrap()
            .timeline
            .len(),
        2
    );
    assert_eq!(deps.publisher.published.lock().unwrap().len(), 1);

    // A push about a parcel we do not track is acknowledged and ignored.
    let other = kuaidi100_push_param("polling", "", &refused_parcel("YT0000000000099"));
    let body = kuaidi100_push_form(&other, Some(SALT));
    let r = call(&deps, with_body(fixture("callback_kuaidi100.json"), &body)).await;
    assert_eq!(r.status, 200);
    assert!(stored(&deps, "YTO", "YT0000000000099").await.is_none());
}

#[tokio::test]
async fn callbacks_without_credentials_answer_503() {
    let deps = deps_with(TrackingMode::Push, RecordingCarrier::default(), false);
    let data = [kdniao_render(&refused_parcel("YT0000000000001"), "102")];
    let body = pushed_at_now(EBID, APP_KEY, "102", &data);
    let r = call(&deps, with_body(fixture("callback_kdniao.json"), &body)).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["Success"], false);
    assert!(r.body["Reason"]
        .as_str()
        .unwrap()
        .contains("KDNIAO_EBUSINESS_ID"));

    let param = kuaidi100_push_param("polling", "", &refused_parcel("YT0000000000001"));
    let body = kuaidi100_push_form(&param, Some(SALT));
    let r = call(&deps, with_body(fixture("callback_kuaidi100.json"), &body)).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["result"], false);
}

// ------------------------------------------------------------------ EventBridge

#[tokio::test]
async fn shipment_registered_events_register_idempotently() {
    let deps = deps_with(TrackingMode::Push, RecordingCarrier::default(), true);
    let out = handle(&deps, fixture("shipment_registered.json"))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"carrier": "YTO", "tracking_number": "YT9876543210987", "status": "registered"})
    );
    let s = stored(&deps, "YTO", "YT9876543210987").await.unwrap();
    assert_eq!(s.order_id.as_deref(), Some("DD77"));
    assert_eq!(s.phone.as_ref().unwrap().expose(), "8613900001234");
    // Push mode: the subscription brings the traces, so the first look is for the
    // rules, at the first deadline: no_pickup, 24 h after shipping (18:30 China
    // time the day before).
    let shipped = DateTime::parse_from_rfc3339("2024-05-01T18:30:00+08:00").unwrap();
    assert_eq!(
        s.next_check_at,
        Some(shipped.with_timezone(&Utc) + Duration::hours(24))
    );
    assert_eq!(
        deps.subscriber.as_ref().unwrap().subscribed(),
        ["YTO:YT9876543210987"]
    );
    // Delivered twice: fine, nothing changes, no second subscription.
    let out = handle(&deps, fixture("shipment_registered.json"))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&out).unwrap()["status"], "exists");
    assert_eq!(deps.subscriber.as_ref().unwrap().subscribed().len(), 1);
    // The detail is exactly the NewShipment shape.
    let detail = fixture("shipment_registered.json")["detail"].clone();
    let n: NewShipment = serde_json::from_value(detail).unwrap();
    assert_eq!(n.into_shipment(now()).unwrap().id, s.id);
}

#[tokio::test]
async fn invalid_and_unknown_events_fail_the_invocation() {
    let deps = deps();
    let e = handle(&deps, fixture("shipment_registered_invalid.json"))
        .await
        .unwrap_err();
    assert!(matches!(e, HandlerError::InvalidEvent(_)), "{e}");
    assert!(e.to_string().contains("tracking_number"), "{e}");
    assert!(!e.is_retryable());
    let d: lambda_runtime::Diagnostic = e.into();
    assert_eq!(d.error_type, "InvalidShipmentRegistered");
    assert_eq!(deps.store.inner.count_shipments().unwrap(), 0);

    let mut other = fixture("shipment_registered.json");
    other["detail-type"] = json!("OrderCancelled");
    let e = handle(&deps, other).await.unwrap_err();
    assert!(matches!(e, HandlerError::Unrecognised(_)), "{e}");
    assert!(e.to_string().contains("OrderCancelled"));

    for event in [
        json!({"Records": []}),
        json!("hello"),
        json!(null),
        json!([1]),
    ] {
        let e = handle(&deps, event.clone()).await.unwrap_err();
        assert!(matches!(e, HandlerError::Unrecognised(_)), "{event}: {e}");
        let d: lambda_runtime::Diagnostic = e.into();
        assert_eq!(d.error_type, "UnrecognisedEvent");
    }

    // Found by the fuzz harness (tests/fuzz, api_any_event): the error echoed
    // an unknown event's keys, detail-type and source whole; now clipped.
    let huge = "A".repeat(100_000);
    let mut other = fixture("shipment_registered.json");
    other["detail-type"] = json!(huge);
    other["source"] = json!(huge);
    for event in [json!({ huge.clone(): 1, "b": 2 }), other] {
        let e = handle(&deps, event).await.unwrap_err();
        assert!(matches!(e, HandlerError::Unrecognised(_)), "{e}");
        let shown = e.to_string();
        assert!(shown.chars().count() < 400, "{}", &shown[..400]);
        assert!(shown.contains("(100000 chars)"), "{shown}");
    }

    // A store failure is retryable.
    deps.store.down.store(true, Ordering::SeqCst);
    let e = handle(&deps, fixture("shipment_registered.json"))
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert_eq!(e.error_type(), "StoreUnavailable");
}

/// A request through the console's JWT authorizer: the claims API Gateway puts
/// in the request context for a Cognito ID token (list claims as `[a b]`).
fn signed_in(method: &str, path: &str, body: Option<&str>, claims: Value) -> Value {
    let mut e = request(method, path, "", body);
    e["requestContext"]["authorizer"] = json!({
        "jwt": { "claims": claims, "scopes": null }
    });
    e
}

fn claims(groups: &str, email: &str) -> Value {
    json!({
        "sub": "7d8f0c1e-0000-4000-8000-000000000001",
        "iss": "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_Example",
        "aud": "4example5client6id7",
        "token_use": "id",
        "cognito:username": "zhangsan",
        "cognito:groups": groups,
        "email": email,
        "exp": "1714611600",
        "iat": "1714608000"
    })
}

#[tokio::test]
async fn the_console_on_aws_takes_who_and_what_from_the_token_claims() {
    let mut deps = deps();
    deps.sign_in = sentinel_console::SignIn::from_lookup(|k| match k {
        "CONSOLE_AUTH_DOMAIN" => {
            Some("https://sentinel-x.auth.cn-north-1.amazoncognito.com".into())
        }
        "CONSOLE_CLIENT_ID" => Some("4example5client6id7".into()),
        _ => None,
    })
    .unwrap();
    register_refused(&deps).await;

    // The page and where it signs in, to anyone.
    let r = call(&deps, request("GET", "/", "", None)).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("<html"), "{}", r.text);
    assert!(r.headers["content-type"]
        .as_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = r.headers["content-security-policy"].as_str().unwrap();
    assert!(
        csp.contains("connect-src 'self' https://sentinel-x.auth.cn-north-1.amazoncognito.com"),
        "{csp}"
    );
    let r = call(&deps, request("GET", "/console.js", "", None)).await;
    assert_eq!(r.status, 200);
    let r = get(&deps, "/console-config.json", "").await;
    assert_eq!(
        r.body["sign_in"]["client_id"], "4example5client6id7",
        "{}",
        r.text
    );

    // A viewer reads and may not act.
    let viewer = claims("[viewer]", "wang@example.cn");
    let r = call(
        &deps,
        signed_in("GET", "/api/problems", None, viewer.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.text);
    let r = call(
        &deps,
        signed_in("GET", "/api/summary", None, viewer.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ack = r#"{"action":"ack","by":"someone else","note":"已联系网点"}"#;
    let path = "/api/problems/ZTO/75312345678901/refused";
    let r = call(&deps, signed_in("POST", path, Some(ack), viewer)).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Ops act, under the name in the token whatever the body says.
    let ops = claims("[viewer ops]", "zhang@example.cn");
    let r = call(&deps, signed_in("POST", path, Some(ack), ops.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["problems"][0]["by"], "zhang@example.cn",
        "{}",
        r.text
    );
    let r = call(
        &deps,
        signed_in("GET", "/api/shipments/75312345678901", None, ops),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["problems"][0]["state"], "acknowledged");

    // Signed in without a group, or no claims at all: refused.
    let r = call(
        &deps,
        signed_in("GET", "/api/summary", None, claims("[]", "x@example.cn")),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = call(&deps, signed_in("GET", "/api/summary", None, json!({}))).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = call(&deps, request("GET", "/api/summary", "", None)).await;
    assert_eq!(r.status, 401, "{}", r.text);
    // Registration is not the console's.
    let r = call(
        &deps,
        signed_in(
            "POST",
            "/api/shipments",
            Some("{}"),
            claims("ops", "zhang@example.cn"),
        ),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
}
