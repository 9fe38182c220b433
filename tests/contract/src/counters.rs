//! The fleet's counters and the problem index (issue 16, "scale"): every store
//! keeps the sum of its shipments' tallies current with each write, in the
//! write's own atomic step, and indexes the shipments that have an active problem
//! by when their oldest one began.

use chrono::Duration;

use shared::domain::{AlertKind, Rule, Severity, Status, Workflow};
use shared::ports::{Lease, ListFilter, Store, StoreError};
use shared::tally::{days_read, problem_since, Scope, Tally};

use crate::{alert_state, get, id, insert, list_all, record, shipment, t, update};

/// The store's counters equal the sum of the tallies of what it holds (over the
/// days a summary at `t(0)` reads, and a wide window besides).
pub async fn assert_counted<S: Store>(store: &S, case: &str) {
    let stored = list_all(store, &ListFilter::default(), 100).await;
    for (from, to) in [
        days_read(t(0)),
        (
            t(-100 * 24 * 60).date_naive(),
            t(100 * 24 * 60).date_naive(),
        ),
    ] {
        let counters = store
            .tally(from, to)
            .await
            .unwrap_or_else(|e| panic!("{case}: tally: {e}"));
        let expected = Tally::sum(&stored).within(from, to);
        assert_eq!(
            counters,
            expected,
            "{case}: the counters are not the sum of the {} stored shipments",
            stored.len()
        );
    }
    // The lanes' counters too, read by lane and week (and a lane nobody used).
    let all = Tally::sum(&stored);
    let mut lanes = std::collections::BTreeSet::from(["k:YTO".to_string()]);
    let mut weeks = std::collections::BTreeSet::from([shared::lanes::week_of(t(0))]);
    for (key, _) in all.iter() {
        if let Scope::Lane { week, lane, .. } = Scope::of(key) {
            lanes.insert(lane.to_string());
            weeks.insert(week.to_string());
        }
    }
    let (lanes, weeks): (Vec<String>, Vec<String>) =
        (lanes.into_iter().collect(), weeks.into_iter().collect());
    let learned = store
        .lane_counts(&lanes, &weeks)
        .await
        .unwrap_or_else(|e| panic!("{case}: lane_counts: {e}"));
    assert_eq!(
        learned,
        all.lanes(&lanes, &weeks),
        "{case}: the lane counters are not the sum of the stored shipments' lessons"
    );
}

/// The counters follow inserts, updates (status, errors, problems and their
/// workflow, delivery), a check's commit with its claims, and stay as they were
/// when a write is refused.
pub async fn counters_are_the_sum_of_the_stored_shipments<S: Store>(store: &S) {
    assert_counted(store, "empty").await;
    let mut a = insert(store, &shipment("ZTO", "75300000000001", 0)).await;
    let mut b = insert(store, &shipment("SF", "SF0000000000002", 10)).await;
    assert_counted(store, "two inserted").await;

    // A check's outcome with its claim: a problem appears and the status moves.
    a.status = Status::InTransit;
    a.consecutive_errors = 1;
    a.alerts.insert(
        Rule::Stalled,
        alert_state(Rule::Stalled, Severity::Warning, 100, None),
    );
    let claim = record(&a.id, Rule::Stalled, 100, AlertKind::Fired, 0, t(130));
    let lease = Lease::new("tracker", t(130), Duration::minutes(5));
    let committed = store
        .commit_check(&a, &[claim], &lease)
        .await
        .unwrap_or_else(|e| panic!("commit_check: {e}"));
    a.version = committed.version;
    assert_counted(store, "after a commit with a claim").await;

    // A refused (stale) write changes nothing.
    let mut stale = a.clone();
    stale.version -= 1;
    stale.status = Status::Delivered;
    assert!(matches!(
        store.put_shipment(&stale).await,
        Err(StoreError::Conflict { .. })
    ));
    let stale_commit = store.commit_check(&stale, &[], &lease).await;
    assert!(matches!(stale_commit, Err(StoreError::Conflict { .. })));
    assert_counted(store, "after refused writes").await;

    // People act on the problem: acknowledged, then snoozed (its end counted
    // on its day), then the problem resolves.
    let stalled = a.alerts.get_mut(&Rule::Stalled).expect("the problem");
    stalled.workflow = Workflow::Acknowledged {
        by: "张三".into(),
        at: t(200),
    };
    a = update(store, &a).await;
    assert_counted(store, "acknowledged").await;
    let stalled = a.alerts.get_mut(&Rule::Stalled).expect("the problem");
    stalled.workflow = Workflow::Snoozed {
        by: "张三".into(),
        at: t(300),
        until: t(300 + 26 * 60),
    };
    a = update(store, &a).await;
    assert_counted(store, "snoozed").await;
    let from_to = days_read(t(0));
    let counters = store.tally(from_to.0, from_to.1).await.expect("tally");
    assert_eq!(counters.snoozed_at(t(301)), 1, "{counters:?}");
    assert_eq!(counters.snoozed_at(t(300 + 26 * 60)), 0);

    // Delivered: the problem resolves, the errors clear, the transit is counted,
    // and its lane (Hangzhou to Urumqi, at three levels) learns from it.
    a.origin = shared::places::Place::parse("浙江省杭州市");
    a.destination = shared::places::Place::parse("乌鲁木齐");
    a.status = Status::Delivered;
    a.consecutive_errors = 0;
    a.timeline = shared::domain::Timeline::from_events([crate::event(
        2000,
        "已签收",
        Status::Delivered,
        None,
        None,
        None,
    )]);
    a.promised_at = Some(t(3000));
    if let Some(p) = a.alerts.get_mut(&Rule::Stalled) {
        p.resolved_at = Some(t(2000));
    }
    a = update(store, &a).await;
    b.status = Status::Exception;
    b.alerts.insert(
        Rule::Exception,
        alert_state(Rule::Exception, Severity::Critical, 50, None),
    );
    b = update(store, &b).await;
    assert_counted(store, "delivered and another problem").await;

    let counters = store.tally(from_to.0, from_to.1).await.expect("tally");
    let summary = shared::report::HealthSummary::from_tally(&counters, t(0));
    assert_eq!(summary.parcels, 2);
    assert_eq!(summary.by_status.get("Delivered"), Some(&1));
    assert_eq!(summary.delivery["ZTO"].on_time, 1);
    assert_eq!(summary.parcels_with_alerts, 1);
    assert_eq!(summary.problems_by_severity.get("critical"), Some(&1));
    let view = shared::lanes::LaneView::load(store, &a, t(2100))
        .await
        .expect("lanes");
    let levels: Vec<(String, i64)> = view
        .levels
        .iter()
        .map(|(k, s)| (k.key(), s.remaining.values().map(|s| s.total()).sum()))
        .collect();
    assert_eq!(
        levels,
        [
            ("c:ZTO:杭州:乌鲁木齐".to_string(), 1),
            ("p:ZTO:浙江:新疆".to_string(), 1),
            ("l:ZTO:remote".to_string(), 1),
            ("k:ZTO".to_string(), 1)
        ]
    );
    let _ = (a, b);
}

/// The problem index lists exactly the shipments with an active problem, by when
/// the oldest began (then by identity), page by page, and follows each write.
pub async fn the_problem_index_is_oldest_problem_first<S: Store>(store: &S) {
    // (tracking number, start of each active problem; None = resolved)
    type Problems<'a> = &'a [(Rule, i64, Option<i64>)];
    let fixtures: [(&str, Problems); 7] = [
        ("YT0000000001", &[(Rule::Stalled, 300, None)]),
        (
            "YT0000000002",
            &[(Rule::Stalled, 500, None), (Rule::HubDwell, 100, None)],
        ),
        ("YT0000000003", &[]),
        ("YT0000000004", &[(Rule::Stalled, 50, Some(60))]),
        ("YT0000000005", &[(Rule::NoPickup, 300, None)]),
        ("YT0000000006", &[(Rule::Exception, 700, None)]),
        ("YT0000000007", &[(Rule::Stalled, 20, None)]),
    ];
    let mut stored = Vec::new();
    for (number, problems) in fixtures {
        let mut s = shipment("YTO", number, 0);
        for (rule, since, resolved) in problems {
            s.alerts.insert(
                *rule,
                alert_state(*rule, Severity::Warning, *since, *resolved),
            );
        }
        stored.push(insert(store, &s).await);
    }
    let walk = |limit: usize| async move {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let page = store
                .problem_shipments(cursor.as_deref(), limit)
                .await
                .unwrap_or_else(|e| panic!("problem_shipments: {e}"));
            assert!(page.items.len() <= limit);
            out.extend(page.items.iter().map(|s| s.id.tracking_number.to_string()));
            match page.next {
                Some(next) => cursor = Some(next),
                None => return out,
            }
        }
        panic!("the problem index did not end");
    };
    let expected = [
        "YT0000000007",
        "YT0000000002",
        "YT0000000001",
        "YT0000000005",
        "YT0000000006",
    ];
    for limit in [1, 2, 3, 100] {
        assert_eq!(walk(limit).await, expected, "pages of {limit}");
    }

    // The oldest parcel's problem resolves: it leaves; a new one joins at its
    // start; a problem starting earlier moves a parcel ahead.
    let mut first = stored[6].clone();
    if let Some(p) = first.alerts.get_mut(&Rule::Stalled) {
        p.resolved_at = Some(t(900));
    }
    update(store, &first).await;
    let mut third = stored[2].clone();
    third.alerts.insert(
        Rule::NoTrace,
        alert_state(Rule::NoTrace, Severity::Warning, 400, None),
    );
    update(store, &third).await;
    let mut last = stored[5].clone();
    last.alerts.insert(
        Rule::Stalled,
        alert_state(Rule::Stalled, Severity::Warning, 10, None),
    );
    update(store, &last).await;
    assert_eq!(
        walk(2).await,
        [
            "YT0000000006",
            "YT0000000002",
            "YT0000000001",
            "YT0000000005",
            "YT0000000003"
        ]
    );
    let page = store.problem_shipments(None, 1).await.expect("a page");
    assert_eq!(problem_since(&page.items[0]), Some(t(10)));
    assert_eq!(
        get(store, &id("YTO", "YT0000000006"))
            .await
            .map(|s| s.version),
        Some(2)
    );
    assert!(matches!(
        store.problem_shipments(Some("garbled"), 2).await,
        Err(StoreError::BadCursor(_))
    ));
}
