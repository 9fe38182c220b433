//! The store contract: what every [`Store`] implementation must do, as executable
//! checks.
//!
//! Each check is a public `async fn name<S: Store>(store: &S)` that expects a fresh,
//! empty store and panics with a clear message on a violation; [`run_all`] runs every
//! check, each on its own fresh store. Backends call them from their own tests:
//!
//! ```text
//! #[tokio::test]
//! async fn contract() {
//!     store_contract::run_all(|| MyStore::new_for_test()).await;
//! }
//! ```
//!
//! or one `#[tokio::test]` per check (see [`CHECKS`] for the list), so a failure names
//! the check. The suite depends on no runtime and no test-only crate.
//!
//! What is deliberately *not* required, so that a DynamoDB store can pass:
//! - pages of a filtered listing may be shorter than the limit (DynamoDB applies
//!   `Limit` before filters), and a page may even be empty as long as the listing
//!   ends; only a listing that fits in one page must come back with `next == None`;
//! - the order of alert records decided at the same instant is the store's choice;
//! - the cursor format is the store's choice (a garbled one must be refused).

use std::collections::BTreeSet;
use std::future::Future;

mod budget;
mod claims;
mod counters;
pub mod faults;
mod problems;

pub use budget::{
    query_budget_counts_per_provider_and_day, racing_query_takers_never_exceed_the_cap,
};
pub use claims::{commit_check_is_atomic, leases_are_exclusive, racing_lease_takers};
pub use counters::{
    assert_counted, counters_are_the_sum_of_the_stored_shipments,
    the_problem_index_is_oldest_problem_first,
};
pub use faults::a_failed_write_at_every_step_loses_nothing;
pub use problems::{
    an_acknowledged_problem_stops_repeating_but_escalates, concurrent_acks_have_one_winner,
};

use chrono::{DateTime, Duration, TimeZone, Utc};

use shared::domain::{
    AlertKind, AlertRecord, AlertState, Phone, Rule, Severity, Shipment, ShipmentId, Status,
    Timeline, TrackingEvent, Workflow,
};
use shared::ports::{ListFilter, Store, StoreError};

/// The name of every check, in the order [`run_all`] runs them.
pub const CHECKS: &[&str] = &[
    "get_absent_is_none",
    "insert_then_get",
    "insert_existing_conflicts",
    "update_bumps_version",
    "stale_update_conflicts",
    "update_absent_conflicts",
    "full_round_trip",
    "due_only_past_earliest_first",
    "due_respects_limit",
    "due_never_without_next_check",
    "due_moved_to_future_leaves",
    "alert_insert_if_absent",
    "alerts_for_oldest_first",
    "alerts_between_bounds",
    "outbox_pending_until_delivered",
    "outbox_holds_until_due",
    "list_all_in_order",
    "list_filter_status",
    "list_filter_carrier",
    "list_filter_rule",
    "list_combined_filters",
    "list_pagination",
    "list_bad_cursor",
    "racing_writers",
    "commit_check_is_atomic",
    "leases_are_exclusive",
    "racing_lease_takers",
    "a_failed_write_at_every_step_loses_nothing",
    "concurrent_acks_have_one_winner",
    "an_acknowledged_problem_stops_repeating_but_escalates",
    "counters_are_the_sum_of_the_stored_shipments",
    "the_problem_index_is_oldest_problem_first",
    "query_budget_counts_per_provider_and_day",
    "racing_query_takers_never_exceed_the_cap",
];

/// Runs every check, each on a store made by `fresh` (which must return an empty
/// store).
pub async fn run_all<S: Store, F: Fn() -> S>(fresh: F) {
    run_all_with(|| std::future::ready(fresh())).await;
}

/// [`run_all`] for backends whose fresh store is made asynchronously (a new table in
/// an emulator, say).
pub async fn run_all_with<S, F, Fut>(fresh: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    get_absent_is_none(&fresh().await).await;
    insert_then_get(&fresh().await).await;
    insert_existing_conflicts(&fresh().await).await;
    update_bumps_version(&fresh().await).await;
    stale_update_conflicts(&fresh().await).await;
    update_absent_conflicts(&fresh().await).await;
    full_round_trip(&fresh().await).await;
    due_only_past_earliest_first(&fresh().await).await;
    due_respects_limit(&fresh().await).await;
    due_never_without_next_check(&fresh().await).await;
    due_moved_to_future_leaves(&fresh().await).await;
    alert_insert_if_absent(&fresh().await).await;
    alerts_for_oldest_first(&fresh().await).await;
    alerts_between_bounds(&fresh().await).await;
    outbox_pending_until_delivered(&fresh().await).await;
    outbox_holds_until_due(&fresh().await).await;
    list_all_in_order(&fresh().await).await;
    list_filter_status(&fresh().await).await;
    list_filter_carrier(&fresh().await).await;
    list_filter_rule(&fresh().await).await;
    list_combined_filters(&fresh().await).await;
    list_pagination(&fresh().await).await;
    list_bad_cursor(&fresh().await).await;
    racing_writers(&fresh().await).await;
    commit_check_is_atomic(&fresh().await).await;
    leases_are_exclusive(&fresh().await).await;
    racing_lease_takers(&fresh().await).await;
    a_failed_write_at_every_step_loses_nothing(&fresh().await).await;
    concurrent_acks_have_one_winner(&fresh().await).await;
    an_acknowledged_problem_stops_repeating_but_escalates(&fresh().await).await;
    counters_are_the_sum_of_the_stored_shipments(&fresh().await).await;
    the_problem_index_is_oldest_problem_first(&fresh().await).await;
    query_budget_counts_per_provider_and_day(&fresh().await).await;
    racing_query_takers_never_exceed_the_cap(&fresh().await).await;
}

// ---------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------

/// 2024-11-11 08:00:00 UTC plus `minutes`.
fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 11, 11, 8, 0, 0)
        .single()
        .expect("fixed fixture time is valid")
        + Duration::minutes(minutes)
}

fn id(carrier: &str, tracking: &str) -> ShipmentId {
    ShipmentId::parse(carrier, tracking)
        .unwrap_or_else(|e| panic!("fixture id {carrier}:{tracking} is invalid: {e}"))
}

/// A plain new shipment registered at `t(minutes)`.
fn shipment(carrier: &str, tracking: &str, minutes: i64) -> Shipment {
    Shipment::new(id(carrier, tracking), t(minutes))
}

fn event(
    minutes: i64,
    text: &str,
    status: Status,
    location: Option<&str>,
    code: Option<&str>,
    hub: Option<&str>,
) -> TrackingEvent {
    TrackingEvent {
        at: t(minutes),
        text: text.to_string(),
        location: location.map(str::to_string),
        code: code.map(str::to_string),
        status,
        hub: hub.map(str::to_string),
    }
}

fn alert_state(rule: Rule, severity: Severity, since: i64, resolved: Option<i64>) -> AlertState {
    AlertState {
        last_notified_at: t(since + 90),
        notifications: 2,
        resolved_at: resolved.map(t),
        ..AlertState::fired(rule, severity, t(since), t(since + 30))
    }
}

/// A shipment with every field set: timeline with hubs, codes and locations, alert
/// states (active and resolved), phone, tags, promise, carrier codes, errors.
fn full_shipment() -> Shipment {
    let mut s = shipment("SF", "SF1402938475621", 0);
    s.order_id = Some("TB-20241111-0042".to_string());
    s.tags = vec!["shop-hangzhou".to_string(), "demo".to_string()];
    s.shipped_at = Some(t(-60));
    s.promised_at = Some(t(3 * 24 * 60));
    s.phone = Some(Phone::parse("+86 138-0013-8000").expect("fixture phone is valid"));
    s.timeline = Timeline::from_events(vec![
        event(
            -50,
            "顺丰速运 已收取快件",
            Status::PickedUp,
            Some("杭州市西湖区"),
            Some("50"),
            None,
        ),
        event(
            120,
            "快件到达 【杭州萧山中转场】",
            Status::InTransit,
            Some("杭州市"),
            Some("30"),
            Some("杭州萧山中转场"),
        ),
        event(
            300,
            "快件已发车",
            Status::InTransit,
            Some("杭州市"),
            Some("36"),
            None,
        ),
        event(
            900,
            "快件到达 【上海青浦集散中心】",
            Status::ArrivedAtDestinationCity,
            Some("上海市"),
            Some("31"),
            Some(""),
        ),
    ]);
    s.status = s.timeline.current_status();
    s.raw_state = Some("State=2;StateEx=201".to_string());
    s.next_check_at = Some(t(1000));
    // Sub-second precision must survive a round trip.
    s.last_checked_at = Some(t(960) + Duration::nanoseconds(123_456_789));
    s.consecutive_errors = 2;
    s.last_error = Some("carrier timeout after 10s \"quoted\" \\ 'x'".to_string());
    // An acknowledged problem: its workflow survives the round trip.
    let mut hub = alert_state(Rule::HubDwell, Severity::Critical, 120, None);
    hub.workflow = Workflow::Acknowledged {
        by: "张三 <ops>".to_string(),
        at: t(200) + Duration::milliseconds(5),
    };
    hub.history.push(shared::domain::ProblemEvent {
        at: t(200) + Duration::milliseconds(5),
        by: "张三 <ops>".to_string(),
        action: "ack".to_string(),
        note: Some("已联系网点 \"quoted\"".to_string()),
    });
    s.alerts.insert(Rule::HubDwell, hub);
    s.alerts.insert(
        Rule::Stalled,
        alert_state(Rule::Stalled, Severity::Warning, 300, Some(900)),
    );
    s
}

fn record(
    shipment: &ShipmentId,
    rule: Rule,
    since: i64,
    kind: AlertKind,
    seq: u32,
    at: DateTime<Utc>,
) -> AlertRecord {
    AlertRecord {
        shipment: shipment.clone(),
        rule,
        since: t(since),
        kind,
        seq,
        severity: Severity::Warning,
        at,
        hold_until: None,
    }
}

// ---------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------

async fn get<S: Store>(store: &S, id: &ShipmentId) -> Option<Shipment> {
    store
        .get_shipment(id)
        .await
        .unwrap_or_else(|e| panic!("get_shipment({id}) failed: {e}"))
}

/// Inserts a new shipment and returns the stored copy (version set).
async fn insert<S: Store>(store: &S, s: &Shipment) -> Shipment {
    assert_eq!(s.version, 0, "fixture {} must be new", s.id);
    let v = store
        .put_shipment(s)
        .await
        .unwrap_or_else(|e| panic!("inserting new shipment {} failed: {e}", s.id));
    assert_eq!(v, 1, "inserting {} must return version 1", s.id);
    let mut stored = s.clone();
    stored.version = v;
    stored
}

/// Puts a stored shipment (an update) and returns the new copy.
async fn update<S: Store>(store: &S, s: &Shipment) -> Shipment {
    let v = store
        .put_shipment(s)
        .await
        .unwrap_or_else(|e| panic!("updating {} at version {} failed: {e}", s.id, s.version));
    assert_eq!(
        v,
        s.version + 1,
        "updating {} at version {} must return version {}",
        s.id,
        s.version,
        s.version + 1
    );
    let mut stored = s.clone();
    stored.version = v;
    stored
}

#[track_caller]
fn assert_conflict(
    what: &str,
    result: Result<u64, StoreError>,
    expected: u64,
    actual: Option<u64>,
) {
    match result {
        Err(StoreError::Conflict {
            expected: e,
            actual: a,
            ..
        }) => {
            assert_eq!(e, expected, "{what}: Conflict.expected");
            assert_eq!(a, actual, "{what}: Conflict.actual");
        }
        other => panic!("{what}: expected a version Conflict, got {other:?}"),
    }
}

async fn due<S: Store>(store: &S, now: DateTime<Utc>, limit: usize) -> Vec<ShipmentId> {
    store
        .due_shipments(now, limit)
        .await
        .unwrap_or_else(|e| panic!("due_shipments({now}, {limit}) failed: {e}"))
}

async fn insert_alert<S: Store>(store: &S, r: &AlertRecord) -> bool {
    store
        .insert_alert_if_absent(r)
        .await
        .unwrap_or_else(|e| panic!("insert_alert_if_absent({r:?}) failed: {e}"))
}

/// Lists everything matching `filter`, page by page, checking the page invariants.
async fn list_all<S: Store>(store: &S, filter: &ListFilter, limit: usize) -> Vec<Shipment> {
    // Generous bound: a store may return short or empty pages, but must end.
    let max_pages = 1000;
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..max_pages {
        let page = store
            .list_shipments(filter, cursor.as_deref(), limit)
            .await
            .unwrap_or_else(|e| {
                panic!("list_shipments({filter:?}, {cursor:?}, {limit}) failed: {e}")
            });
        assert!(
            page.items.len() <= limit,
            "list_shipments({filter:?}, limit {limit}) returned {} items",
            page.items.len()
        );
        out.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
    panic!("list_shipments({filter:?}, limit {limit}) did not end after {max_pages} pages");
}

fn ids(shipments: &[Shipment]) -> Vec<ShipmentId> {
    shipments.iter().map(|s| s.id.clone()).collect()
}

// ---------------------------------------------------------------------------------
// Shipments: get and conditional put
// ---------------------------------------------------------------------------------

/// Reading a shipment that was never stored gives `None`.
pub async fn get_absent_is_none<S: Store>(store: &S) {
    let got = get(store, &id("ZTO", "78312345678901")).await;
    assert!(
        got.is_none(),
        "get of an absent shipment must be None, got {got:?}"
    );
}

/// A new shipment (version 0) is stored as version 1 and read back equal.
pub async fn insert_then_get<S: Store>(store: &S) {
    let s = shipment("ZTO", "78312345678901", 0);
    let stored = insert(store, &s).await;
    let got = get(store, &s.id)
        .await
        .expect("inserted shipment must be found");
    assert_eq!(got.version, 1, "version after insert");
    assert_eq!(got, stored, "shipment read back after insert");
}

/// Inserting (version 0) an id that exists is a Conflict and changes nothing.
pub async fn insert_existing_conflicts<S: Store>(store: &S) {
    let s = shipment("YTO", "YT7512345678901", 0);
    let stored = insert(store, &s).await;

    let mut other = shipment("YTO", "YT7512345678901", 10);
    other.tags = vec!["overwrite".to_string()];
    other.next_check_at = None;
    let r = store.put_shipment(&other).await;
    assert_conflict("second insert of the same id", r, 0, Some(1));

    let got = get(store, &s.id).await.expect("shipment must still exist");
    assert_eq!(got, stored, "a conflicting insert must change nothing");
}

/// Updating with the stored version succeeds and bumps the version each time.
pub async fn update_bumps_version<S: Store>(store: &S) {
    let s = shipment("JTSD", "JT0001234567890", 0);
    let mut cur = insert(store, &s).await;
    for i in 0..3 {
        cur.status = Status::InTransit;
        cur.consecutive_errors = i;
        cur.last_checked_at = Some(t(i64::from(i) * 60));
        let before = cur.version;
        cur = update(store, &cur).await;
        let got = get(store, &s.id)
            .await
            .expect("updated shipment must exist");
        assert_eq!(got.version, before + 1, "version after update {i}");
        assert_eq!(got, cur, "shipment read back after update {i}");
    }
    assert_eq!(cur.version, 4, "three updates after the insert");
}

/// Updating with a stale version is a Conflict and changes nothing.
pub async fn stale_update_conflicts<S: Store>(store: &S) {
    let s = shipment("STO", "773012345678901", 0);
    let v1 = insert(store, &s).await;
    let mut v2 = v1.clone();
    v2.status = Status::PickedUp;
    let v2 = update(store, &v2).await;

    let mut stale = v1.clone();
    stale.status = Status::Lost;
    stale.next_check_at = None;
    let r = store.put_shipment(&stale).await;
    assert_conflict("update from stale version 1", r, 1, Some(2));

    let mut ahead = v2.clone();
    ahead.version = 7;
    let r = store.put_shipment(&ahead).await;
    assert_conflict("update from a version the store never had", r, 7, Some(2));

    let got = get(store, &s.id).await.expect("shipment must still exist");
    assert_eq!(got, v2, "a conflicting update must change nothing");
}

/// Updating (version > 0) a shipment that does not exist is a Conflict with no
/// actual version, and does not create it.
pub async fn update_absent_conflicts<S: Store>(store: &S) {
    let mut s = shipment("YD", "4312345678901", 0);
    s.version = 3;
    let r = store.put_shipment(&s).await;
    assert_conflict("update of an absent shipment", r, 3, None);
    assert!(
        get(store, &s.id).await.is_none(),
        "a conflicting update must not create the shipment"
    );
}

/// Every field of a fully populated shipment survives the store.
pub async fn full_round_trip<S: Store>(store: &S) {
    let s = full_shipment();
    let stored = insert(store, &s).await;
    let got = get(store, &s.id).await.expect("shipment must be found");
    assert_eq!(got, stored, "full shipment round trip (insert)");
    assert_eq!(got.timeline.len(), 4, "timeline events");
    assert_eq!(
        got.phone.as_ref().map(Phone::expose),
        Some("8613800138000"),
        "phone"
    );

    let mut changed = got.clone();
    changed.timeline.merge(vec![event(
        1200,
        "快件派送中，派件员：张三 138****0000",
        Status::OutForDelivery,
        Some("上海市青浦区"),
        Some("44"),
        None,
    )]);
    changed.status = changed.timeline.current_status();
    changed.alerts.remove(&Rule::HubDwell);
    changed.last_error = None;
    changed.phone = None;
    let stored = update(store, &changed).await;
    let got = get(store, &s.id).await.expect("shipment must be found");
    assert_eq!(got, stored, "full shipment round trip (update)");
    assert_eq!(got.status, Status::OutForDelivery);

    let listed = list_all(store, &ListFilter::default(), 10).await;
    assert_eq!(
        listed,
        vec![stored],
        "a listed shipment equals the stored one"
    );
}

// ---------------------------------------------------------------------------------
// Due index
// ---------------------------------------------------------------------------------

/// Only shipments with `next_check_at <= now` are due, earliest first.
pub async fn due_only_past_earliest_first<S: Store>(store: &S) {
    let now = t(100);
    // (tracking, next_check_at minutes)
    let fixtures = [
        ("SF1000000000003", 90),
        ("SF1000000000001", 10),
        ("SF1000000000005", 101),
        ("SF1000000000002", 50),
        ("SF1000000000004", 100),
        ("SF1000000000006", 5000),
    ];
    for (tracking, next) in fixtures {
        let mut s = shipment("SF", tracking, 0);
        s.next_check_at = Some(t(next));
        insert(store, &s).await;
    }
    // Two due at the same instant: ordered by identity.
    let mut a = shipment("ZTO", "ZT0000000000002", 0);
    a.next_check_at = Some(t(50));
    insert(store, &a).await;
    let mut b = shipment("EMS", "EM0000000000009", 0);
    b.next_check_at = Some(t(50));
    insert(store, &b).await;

    let got = due(store, now, 100).await;
    let expected = vec![
        id("SF", "SF1000000000001"),
        id("EMS", "EM0000000000009"),
        id("SF", "SF1000000000002"),
        id("ZTO", "ZT0000000000002"),
        id("SF", "SF1000000000003"),
        id("SF", "SF1000000000004"),
    ];
    assert_eq!(
        got, expected,
        "due at {now}: next_check_at <= now, earliest first, ties by identity"
    );

    let got = due(store, t(0), 100).await;
    assert!(
        got.is_empty(),
        "nothing is due before the earliest check: {got:?}"
    );
    let got = due(store, t(10), 100).await;
    assert_eq!(
        got,
        vec![id("SF", "SF1000000000001")],
        "due exactly at next_check_at"
    );
}

/// `due_shipments` returns at most `limit` ids, the earliest ones.
pub async fn due_respects_limit<S: Store>(store: &S) {
    for i in 0..7 {
        let mut s = shipment("YTO", &format!("YT10000000000{i:02}"), 0);
        // Inserted in reverse order of due time.
        s.next_check_at = Some(t(60 - i * 5));
        insert(store, &s).await;
    }
    let got = due(store, t(1000), 3).await;
    assert_eq!(
        got,
        vec![
            id("YTO", "YT1000000000006"),
            id("YTO", "YT1000000000005"),
            id("YTO", "YT1000000000004"),
        ],
        "limit 3 gives the three earliest"
    );
    assert_eq!(due(store, t(1000), 7).await.len(), 7, "limit 7");
    assert_eq!(
        due(store, t(1000), 50).await.len(),
        7,
        "limit above the count"
    );
    assert!(
        due(store, t(1000), 0).await.is_empty(),
        "limit 0 gives nothing"
    );
}

/// A shipment with no `next_check_at` (finished) is never due.
pub async fn due_never_without_next_check<S: Store>(store: &S) {
    let mut done = shipment("SF", "SF2000000000001", 0);
    done.status = Status::Delivered;
    done.next_check_at = None;
    insert(store, &done).await;
    let mut live = shipment("SF", "SF2000000000002", 0);
    live.next_check_at = Some(t(5));
    let live = insert(store, &live).await;

    let far_future = Utc
        .with_ymd_and_hms(2200, 1, 1, 0, 0, 0)
        .single()
        .expect("fixed time is valid");
    assert_eq!(
        due(store, far_future, 100).await,
        vec![live.id.clone()],
        "only the shipment with a next_check_at is due"
    );

    // Finishing a shipment takes it out of the due set.
    let mut finished = live.clone();
    finished.status = Status::Delivered;
    finished.next_check_at = None;
    update(store, &finished).await;
    let got = due(store, far_future, 100).await;
    assert!(
        got.is_empty(),
        "a finished shipment must leave the due set: {got:?}"
    );
}

/// Moving `next_check_at` into the future takes a shipment out of the due set, and
/// moving it back brings it in again.
pub async fn due_moved_to_future_leaves<S: Store>(store: &S) {
    let mut s = shipment("ZTO", "ZT3000000000001", 0);
    s.next_check_at = Some(t(10));
    let s = insert(store, &s).await;
    let mut other = shipment("ZTO", "ZT3000000000002", 0);
    other.next_check_at = Some(t(20));
    insert(store, &other).await;
    let now = t(30);
    assert_eq!(due(store, now, 10).await.len(), 2, "both due at first");

    let mut later = s.clone();
    later.next_check_at = Some(t(90));
    let later = update(store, &later).await;
    assert_eq!(
        due(store, now, 10).await,
        vec![other.id.clone()],
        "a shipment moved to the future leaves the due set"
    );
    assert_eq!(
        due(store, t(90), 10).await,
        vec![other.id.clone(), s.id.clone()],
        "and comes back when its time comes, in order"
    );

    let mut earlier = later.clone();
    earlier.next_check_at = Some(t(1));
    update(store, &earlier).await;
    assert_eq!(
        due(store, now, 10).await,
        vec![s.id.clone(), other.id.clone()],
        "moved earlier, it is due first"
    );
}

// ---------------------------------------------------------------------------------
// Alert log
// ---------------------------------------------------------------------------------

/// Insert-if-absent: true the first time, false for the same key (even with other
/// non-key fields), true for a key differing in any part.
pub async fn alert_insert_if_absent<S: Store>(store: &S) {
    let sid = id("SF", "SF4000000000001");
    let base = record(&sid, Rule::Stalled, 0, AlertKind::Fired, 0, t(60));
    assert!(insert_alert(store, &base).await, "first insert must insert");
    assert!(
        !insert_alert(store, &base).await,
        "same record again must not insert"
    );

    let mut same_key = base.clone();
    same_key.at = t(61);
    same_key.severity = Severity::Critical;
    assert!(
        !insert_alert(store, &same_key).await,
        "a record with the same key (other at/severity) must not insert"
    );

    let variants = [
        (
            "seq",
            record(&sid, Rule::Stalled, 0, AlertKind::Fired, 1, t(60)),
        ),
        (
            "kind",
            record(&sid, Rule::Stalled, 0, AlertKind::Escalated, 0, t(60)),
        ),
        (
            "since",
            record(&sid, Rule::Stalled, 5, AlertKind::Fired, 0, t(60)),
        ),
        (
            "rule",
            record(&sid, Rule::HubDwell, 0, AlertKind::Fired, 0, t(60)),
        ),
        (
            "shipment",
            record(
                &id("SF", "SF4000000000002"),
                Rule::Stalled,
                0,
                AlertKind::Fired,
                0,
                t(60),
            ),
        ),
        (
            "carrier",
            record(
                &id("ZTO", "SF4000000000001"),
                Rule::Stalled,
                0,
                AlertKind::Fired,
                0,
                t(60),
            ),
        ),
    ];
    for (what, r) in &variants {
        assert!(
            insert_alert(store, r).await,
            "a record differing by {what} must insert"
        );
        assert!(
            !insert_alert(store, r).await,
            "the record differing by {what}, again, must not insert"
        );
    }

    let stored = store
        .alerts_for(&sid)
        .await
        .unwrap_or_else(|e| panic!("alerts_for failed: {e}"));
    assert_eq!(stored.len(), 5, "records of {sid}: {stored:?}");
    assert!(
        stored.contains(&base),
        "the first record is kept as first inserted: {stored:?}"
    );
    assert!(
        !stored.contains(&same_key),
        "the ignored duplicate must not replace the first: {stored:?}"
    );
}

/// `alerts_for` returns only that shipment's records, oldest first.
pub async fn alerts_for_oldest_first<S: Store>(store: &S) {
    let sid = id("YTO", "YT5000000000001");
    let other = id("YTO", "YT5000000000002");
    let recs = [
        record(&sid, Rule::Stalled, 0, AlertKind::Repeated, 1, t(300)),
        record(&sid, Rule::Stalled, 0, AlertKind::Fired, 0, t(100)),
        record(&sid, Rule::Stalled, 0, AlertKind::Resolved, 2, t(400)),
        record(&sid, Rule::HubDwell, 50, AlertKind::Fired, 0, t(200)),
        record(&sid, Rule::Stalled, 0, AlertKind::Escalated, 0, t(250)),
    ];
    for r in &recs {
        assert!(insert_alert(store, r).await, "insert {r:?}");
    }
    assert!(
        insert_alert(
            store,
            &record(&other, Rule::Stalled, 0, AlertKind::Fired, 0, t(150))
        )
        .await
    );

    let got = store
        .alerts_for(&sid)
        .await
        .unwrap_or_else(|e| panic!("alerts_for failed: {e}"));
    let mut expected = recs.to_vec();
    expected.sort_by_key(|r| r.at);
    assert_eq!(got, expected, "alerts_for({sid}) oldest first");

    let none = store
        .alerts_for(&id("YTO", "YT5000000000003"))
        .await
        .unwrap_or_else(|e| panic!("alerts_for failed: {e}"));
    assert!(none.is_empty(), "no records for a shipment without alerts");
}

/// `alerts_between(from, to)` returns records with `from <= at < to`, oldest first.
pub async fn alerts_between_bounds<S: Store>(store: &S) {
    let a = id("SF", "SF6000000000001");
    let b = id("JTSD", "JT6000000000002");
    let recs = [
        record(&a, Rule::Stalled, 0, AlertKind::Fired, 0, t(59)),
        record(&b, Rule::Late, 0, AlertKind::Fired, 0, t(60)),
        record(&a, Rule::Stalled, 0, AlertKind::Escalated, 0, t(90)),
        record(&b, Rule::Late, 0, AlertKind::Repeated, 1, t(119)),
        record(&a, Rule::Stalled, 0, AlertKind::Resolved, 1, t(120)),
        record(&b, Rule::Late, 0, AlertKind::Resolved, 2, t(121)),
    ];
    // Insert out of order.
    for i in [3, 0, 5, 1, 4, 2] {
        assert!(insert_alert(store, &recs[i]).await);
    }

    let between = |from: DateTime<Utc>, to: DateTime<Utc>| async move {
        store
            .alerts_between(from, to)
            .await
            .unwrap_or_else(|e| panic!("alerts_between({from}, {to}) failed: {e}"))
    };
    assert_eq!(
        between(t(60), t(120)).await,
        recs[1..4].to_vec(),
        "[from, to): from included, to excluded, oldest first"
    );
    assert_eq!(between(t(0), t(1000)).await, recs.to_vec(), "everything");
    assert!(between(t(60), t(60)).await.is_empty(), "empty range");
    assert!(
        between(t(200), t(300)).await.is_empty(),
        "range after everything"
    );
    assert_eq!(
        between(t(120), t(121)).await,
        vec![recs[4].clone()],
        "a one-minute range"
    );
    assert_eq!(
        between(
            t(119) + Duration::seconds(59),
            t(120) + Duration::seconds(1)
        )
        .await,
        vec![recs[4].clone()],
        "bounds are exact, not rounded to minutes"
    );
}

/// The outbox: an inserted record is pending until marked delivered; pending
/// records come back earliest first, only when due, at most `limit`; marking is
/// idempotent, and a duplicate insert does not make a delivered record pending again.
pub async fn outbox_pending_until_delivered<S: Store>(store: &S) {
    let a = id("SF", "SF4100000000001");
    let b = id("ZTO", "75410000000002");
    let first = record(&a, Rule::Stalled, 0, AlertKind::Fired, 0, t(100));
    let second = record(&b, Rule::Late, 0, AlertKind::Fired, 0, t(110));
    let third = record(&a, Rule::Stalled, 0, AlertKind::Escalated, 0, t(120));
    for r in [&third, &first, &second] {
        assert!(insert_alert(store, r).await);
    }
    assert_eq!(
        pending(store, t(99), 10).await,
        vec![],
        "nothing due before t(100)"
    );
    assert_eq!(
        pending(store, t(110), 10).await,
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        pending(store, t(1000), 2).await,
        vec![first.clone(), second.clone()],
        "limit, earliest first"
    );
    mark(store, &first).await;
    mark(store, &first).await;
    assert_eq!(
        pending(store, t(1000), 10).await,
        vec![second.clone(), third.clone()],
        "a delivered record leaves the outbox; marking twice is harmless"
    );
    assert!(!insert_alert(store, &first).await);
    assert_eq!(
        pending(store, t(1000), 10).await,
        vec![second.clone(), third.clone()],
        "a duplicate insert does not make a delivered record pending again"
    );
    mark(
        store,
        &record(&a, Rule::Refused, 0, AlertKind::Fired, 0, t(100)),
    )
    .await;
    assert!(
        store.alerts_for(&a).await.map(|v| v.len()).ok() == Some(2),
        "marking an absent record creates nothing"
    );
    mark(store, &second).await;
    mark(store, &third).await;
    assert_eq!(pending(store, t(1000), 10).await, vec![]);
    let kept = store
        .alerts_for(&a)
        .await
        .unwrap_or_else(|e| panic!("alerts_for failed: {e}"));
    assert_eq!(
        kept,
        vec![first, third],
        "delivered records stay in the log"
    );
}

/// A record held until a later time (a customer notice in quiet hours) is pending
/// but not due before then.
pub async fn outbox_holds_until_due<S: Store>(store: &S) {
    let a = id("YTO", "YT4200000000001");
    let mut notice = record(&a, Rule::Late, 0, AlertKind::Notice, 0, t(60));
    notice.hold_until = Some(t(600));
    let ops = record(&a, Rule::Late, 0, AlertKind::Fired, 0, t(60));
    assert!(insert_alert(store, &notice).await);
    assert!(insert_alert(store, &ops).await);
    assert_eq!(pending(store, t(599), 10).await, vec![ops.clone()]);
    assert_eq!(pending(store, t(600), 10).await, vec![ops, notice.clone()]);
    let stored = store
        .alerts_for(&a)
        .await
        .unwrap_or_else(|e| panic!("alerts_for failed: {e}"));
    assert!(stored.contains(&notice), "hold_until is stored: {stored:?}");
}

async fn pending<S: Store>(store: &S, due_by: DateTime<Utc>, limit: usize) -> Vec<AlertRecord> {
    store
        .pending_alerts(due_by, limit)
        .await
        .unwrap_or_else(|e| panic!("pending_alerts failed: {e}"))
}

async fn mark<S: Store>(store: &S, r: &AlertRecord) {
    store
        .mark_delivered(r)
        .await
        .unwrap_or_else(|e| panic!("mark_delivered failed: {e}"));
}

// ---------------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------------

/// A varied population for the listing checks; returns the stored copies in identity
/// order.
async fn populate<S: Store>(store: &S) -> Vec<Shipment> {
    let carriers = ["ZTO", "SF", "YTO", "JTSD"];
    let statuses = [
        Status::InTransit,
        Status::Delivered,
        Status::Exception,
        Status::AwaitingCollection,
        Status::InTransit,
    ];
    let mut out = Vec::new();
    for i in 0..23usize {
        let carrier = carriers[i % carriers.len()];
        let mut s = shipment(carrier, &format!("{carrier}77000{:04}", 23 - i), i as i64);
        s.status = statuses[i % statuses.len()];
        if s.status.is_terminal() {
            s.next_check_at = None;
        }
        if i % 3 == 0 {
            // Active stalled alert.
            s.alerts.insert(
                Rule::Stalled,
                alert_state(Rule::Stalled, Severity::Warning, i as i64, None),
            );
        } else if i % 3 == 1 {
            // Resolved stalled alert, active hub dwell.
            s.alerts.insert(
                Rule::Stalled,
                alert_state(Rule::Stalled, Severity::Warning, 0, Some(i as i64)),
            );
            s.alerts.insert(
                Rule::HubDwell,
                alert_state(Rule::HubDwell, Severity::Critical, 5, None),
            );
        }
        let mut stored = insert(store, &s).await;
        if i % 4 == 0 {
            // Some shipments at version > 1; an update may also change the rules.
            stored.alerts.insert(
                Rule::Late,
                alert_state(Rule::Late, Severity::Warning, 10, None),
            );
            stored = update(store, &stored).await;
        }
        out.push(stored);
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// With no filter, everything is listed once, ordered by (carrier, tracking number),
/// with the stored versions; a listing that fits in a page has no next cursor.
pub async fn list_all_in_order<S: Store>(store: &S) {
    let empty = store
        .list_shipments(&ListFilter::default(), None, 10)
        .await
        .unwrap_or_else(|e| panic!("list_shipments on an empty store failed: {e}"));
    assert!(empty.items.is_empty(), "empty store lists nothing");
    assert_eq!(empty.next, None, "empty store: no next page");

    let all = populate(store).await;
    let page = store
        .list_shipments(&ListFilter::default(), None, 100)
        .await
        .unwrap_or_else(|e| panic!("list_shipments failed: {e}"));
    assert_eq!(
        page.next, None,
        "a listing that fits in one page has no next"
    );
    assert_eq!(ids(&page.items), ids(&all), "ordered by identity");
    assert_eq!(page.items, all, "listed shipments equal the stored ones");
}

/// Filtering by status.
pub async fn list_filter_status<S: Store>(store: &S) {
    let all = populate(store).await;
    for status in [
        Status::InTransit,
        Status::Delivered,
        Status::Exception,
        Status::Lost,
    ] {
        let filter = ListFilter {
            status: Some(status),
            ..ListFilter::default()
        };
        let expected: Vec<Shipment> = all.iter().filter(|s| s.status == status).cloned().collect();
        let got = list_all(store, &filter, 100).await;
        assert_eq!(ids(&got), ids(&expected), "status {status}");
        assert_eq!(got, expected, "status {status}: full shipments");
    }
}

/// Filtering by carrier.
pub async fn list_filter_carrier<S: Store>(store: &S) {
    let all = populate(store).await;
    for carrier in ["SF", "ZTO", "JTSD", "EMS"] {
        let code = id(carrier, "00000000").carrier;
        let filter = ListFilter {
            carrier: Some(code.clone()),
            ..ListFilter::default()
        };
        let expected: Vec<ShipmentId> = all
            .iter()
            .filter(|s| s.id.carrier == code)
            .map(|s| s.id.clone())
            .collect();
        let got = list_all(store, &filter, 100).await;
        assert_eq!(ids(&got), expected, "carrier {carrier}");
    }
}

/// Filtering by rule matches only shipments whose alert for that rule is active
/// (resolved alerts do not match).
pub async fn list_filter_rule<S: Store>(store: &S) {
    let all = populate(store).await;
    for rule in [Rule::Stalled, Rule::HubDwell, Rule::Late, Rule::NoTrace] {
        let filter = ListFilter {
            rule: Some(rule),
            ..ListFilter::default()
        };
        let expected: Vec<ShipmentId> = all
            .iter()
            .filter(|s| s.alerts.get(&rule).is_some_and(AlertState::is_active))
            .map(|s| s.id.clone())
            .collect();
        let got = list_all(store, &filter, 100).await;
        assert_eq!(ids(&got), expected, "active rule {rule}");
    }
    // Sanity: the fixtures do have resolved stalled alerts that must not match.
    assert!(all
        .iter()
        .any(|s| s.alerts.get(&Rule::Stalled).is_some_and(|a| !a.is_active())));

    // Any active alert at all (the problem queue's listing).
    let alerting = ListFilter {
        alerting: true,
        ..ListFilter::default()
    };
    let expected: Vec<ShipmentId> = all
        .iter()
        .filter(|s| s.alerts.values().any(AlertState::is_active))
        .map(|s| s.id.clone())
        .collect();
    assert!(!expected.is_empty() && expected.len() < all.len());
    assert_eq!(
        ids(&list_all(store, &alerting, 100).await),
        expected,
        "alerting"
    );
}

/// All set filters must match.
pub async fn list_combined_filters<S: Store>(store: &S) {
    let all = populate(store).await;
    let code = id("SF", "00000000").carrier;
    let filter = ListFilter {
        status: Some(Status::InTransit),
        carrier: Some(code.clone()),
        rule: Some(Rule::Stalled),
        alerting: true,
    };
    let expected: Vec<ShipmentId> = all
        .iter()
        .filter(|s| {
            s.status == Status::InTransit
                && s.id.carrier == code
                && s.alerts
                    .get(&Rule::Stalled)
                    .is_some_and(AlertState::is_active)
        })
        .map(|s| s.id.clone())
        .collect();
    let got = list_all(store, &filter, 100).await;
    assert_eq!(ids(&got), expected, "status + carrier + rule");
}

/// Paging with small pages returns every matching shipment exactly once, in order.
pub async fn list_pagination<S: Store>(store: &S) {
    let all = populate(store).await;
    for limit in [1, 2, 3, 5, 22, 23, 24] {
        let got = list_all(store, &ListFilter::default(), limit).await;
        assert_eq!(ids(&got), ids(&all), "all shipments, pages of {limit}");
        assert_eq!(got, all, "pages of {limit}: full shipments");
    }
    let in_transit = ListFilter {
        status: Some(Status::InTransit),
        ..ListFilter::default()
    };
    let expected: Vec<ShipmentId> = all
        .iter()
        .filter(|s| s.status == Status::InTransit)
        .map(|s| s.id.clone())
        .collect();
    for limit in [1, 2, 4] {
        let got = list_all(store, &in_transit, limit).await;
        assert_eq!(
            ids(&got),
            expected,
            "in-transit shipments, pages of {limit}"
        );
    }
    let stalled = ListFilter {
        rule: Some(Rule::Stalled),
        ..ListFilter::default()
    };
    let expected: Vec<ShipmentId> = all
        .iter()
        .filter(|s| {
            s.alerts
                .get(&Rule::Stalled)
                .is_some_and(AlertState::is_active)
        })
        .map(|s| s.id.clone())
        .collect();
    let got = list_all(store, &stalled, 2).await;
    assert_eq!(ids(&got), expected, "stalled shipments, pages of 2");

    // No duplicates (exactly once), and pages are not affected by an insert of an
    // earlier identity between pages.
    let first = store
        .list_shipments(&ListFilter::default(), None, 5)
        .await
        .unwrap_or_else(|e| panic!("list_shipments failed: {e}"));
    let cursor = first.next.clone().expect("23 shipments do not fit in 5");
    insert(store, &shipment("AAA", "AA0000000001", 0)).await;
    let mut rest = list_all_from(store, &cursor, 5).await;
    let mut seen: Vec<ShipmentId> = ids(&first.items);
    seen.append(&mut rest);
    let unique: BTreeSet<&ShipmentId> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "no shipment listed twice: {seen:?}"
    );
    assert_eq!(
        seen,
        ids(&all),
        "an insert before the cursor does not shift pages"
    );
}

async fn list_all_from<S: Store>(store: &S, cursor: &str, limit: usize) -> Vec<ShipmentId> {
    let mut out = Vec::new();
    let mut cursor = Some(cursor.to_string());
    for _ in 0..1000 {
        let Some(c) = cursor.take() else {
            return out;
        };
        let page = store
            .list_shipments(&ListFilter::default(), Some(&c), limit)
            .await
            .unwrap_or_else(|e| panic!("list_shipments(cursor {c:?}) failed: {e}"));
        out.extend(page.items.iter().map(|s| s.id.clone()));
        cursor = page.next;
    }
    panic!("listing did not end");
}

/// A garbled cursor is refused with `BadCursor`.
pub async fn list_bad_cursor<S: Store>(store: &S) {
    populate(store).await;
    for bad in [
        "",
        "not a cursor!",
        "\u{0}\u{1}\u{2}",
        "zz",
        "%%%%",
        "{\"pk\":",
    ] {
        match store
            .list_shipments(&ListFilter::default(), Some(bad), 5)
            .await
        {
            Err(StoreError::BadCursor(_)) => {}
            other => panic!("cursor {bad:?} must be refused with BadCursor, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------

/// Two writers read the same version and race to update: the first put wins, the
/// second gets a Conflict and its change is not applied; after reloading it can
/// apply its change.
pub async fn racing_writers<S: Store>(store: &S) {
    let s = shipment("ZTO", "ZT9000000000001", 0);
    insert(store, &s).await;

    for round in 0..3u64 {
        let v = 1 + round * 2;
        let mut a = get(store, &s.id).await.expect("shipment must exist");
        let mut b = a.clone();
        assert_eq!(a.version, v, "round {round}: version read by both writers");

        a.status = Status::InTransit;
        a.tags = vec![format!("writer-a-{round}")];
        b.status = Status::Exception;
        b.tags = vec![format!("writer-b-{round}")];

        let won = update(store, &a).await;
        let r = store.put_shipment(&b).await;
        assert_conflict("the second of two racing writers", r, v, Some(v + 1));
        let got = get(store, &s.id).await.expect("shipment must exist");
        assert_eq!(got, won, "round {round}: the winner's write stands");

        // The loser reloads and retries.
        let mut retry = got.clone();
        retry.tags.push(format!("writer-b-{round}"));
        let retried = update(store, &retry).await;
        assert_eq!(retried.version, v + 2, "round {round}: retry after reload");
        assert_eq!(get(store, &s.id).await, Some(retried));
    }
}

/// Generates one test per contract check, each on a fresh store made by `$fresh`
/// (an expression evaluated inside each async test, so it may `.await`), plus a
/// test that the generated list is [`CHECKS`]. The test attribute defaults to
/// `#[tokio::test]`; pass another first, e.g.
/// `store_contract_tests!(#[tokio::test(flavor = "multi_thread")] fresh().await);`.
#[macro_export]
macro_rules! store_contract_tests {
    (#[$attr:meta] $fresh:expr) => {
        $crate::store_contract_tests!(
            @each [$attr] $fresh;
            get_absent_is_none,
            insert_then_get,
            insert_existing_conflicts,
            update_bumps_version,
            stale_update_conflicts,
            update_absent_conflicts,
            full_round_trip,
            due_only_past_earliest_first,
            due_respects_limit,
            due_never_without_next_check,
            due_moved_to_future_leaves,
            alert_insert_if_absent,
            alerts_for_oldest_first,
            alerts_between_bounds,
            outbox_pending_until_delivered,
            outbox_holds_until_due,
            list_all_in_order,
            list_filter_status,
            list_filter_carrier,
            list_filter_rule,
            list_combined_filters,
            list_pagination,
            list_bad_cursor,
            racing_writers,
            commit_check_is_atomic,
            leases_are_exclusive,
            racing_lease_takers,
            a_failed_write_at_every_step_loses_nothing,
            concurrent_acks_have_one_winner,
            an_acknowledged_problem_stops_repeating_but_escalates,
            counters_are_the_sum_of_the_stored_shipments,
            the_problem_index_is_oldest_problem_first,
            query_budget_counts_per_provider_and_day,
            racing_query_takers_never_exceed_the_cap,
        );
    };
    ($fresh:expr) => {
        $crate::store_contract_tests!(#[tokio::test] $fresh);
    };
    (@each [$attr:meta] $fresh:expr; $($name:ident),* $(,)?) => {
        $(
            #[$attr]
            async fn $name() {
                let store = $fresh;
                $crate::$name(&store).await;
            }
        )*

        #[test]
        fn contract_tests_cover_every_check() {
            let generated: &[&str] = &[$(stringify!($name)),*];
            assert_eq!(generated, $crate::CHECKS);
        }
    };
}

#[cfg(test)]
mod tests {
    /// `CHECKS` names every check exactly once (the per-check test lists in the
    /// backends are generated from the same list by `store_contract_tests!`).
    #[test]
    fn check_names_are_unique() {
        let set: std::collections::BTreeSet<_> = super::CHECKS.iter().collect();
        assert_eq!(set.len(), super::CHECKS.len());
    }
}
