//! The claim contract: a check's shipment and alert records commit as one step,
//! and delivery leases let exactly one deliverer take a pending record.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;

use shared::domain::{AlertKind, AlertRecord, Rule, Severity};
use shared::ports::{Lease, Store, StoreError};

use crate::{alert_state, get, id, insert, pending, record, shipment, t};

async fn take<S: Store>(store: &S, r: &AlertRecord, due_by: DateTime<Utc>, l: Lease) -> bool {
    store
        .take_lease(r, due_by, &l)
        .await
        .unwrap_or_else(|e| panic!("take_lease failed: {e}"))
}

fn lease(owner: &str, minutes: i64) -> Lease {
    Lease {
        owner: owner.to_string(),
        until: t(minutes),
    }
}

/// `commit_check` writes the shipment and inserts its records together; a stale
/// version stores neither; a record already stored is reported `false` and does
/// not stop the rest. New records are leased: not pending before the lease ends.
pub async fn commit_check_is_atomic<S: Store>(store: &S) {
    let s = shipment("ZTO", "75500000000001", 0);
    let stored = insert(store, &s).await;
    let fired = record(&s.id, Rule::Stalled, 0, AlertKind::Fired, 0, t(10));
    let notice = record(&s.id, Rule::Stalled, 0, AlertKind::Notice, 0, t(10));

    let mut next = stored.clone();
    next.alerts.insert(
        Rule::Stalled,
        alert_state(Rule::Stalled, Severity::Warning, 0, None),
    );
    let committed = store
        .commit_check(&next, &[fired.clone(), notice.clone()], &lease("a", 15))
        .await
        .unwrap_or_else(|e| panic!("commit_check failed: {e}"));
    assert_eq!(committed.version, 2, "the shipment's new version");
    assert_eq!(committed.inserted, vec![true, true]);
    next.version = 2;
    assert_eq!(get(store, &s.id).await, Some(next.clone()));
    assert_eq!(
        pending(store, t(14), 10).await,
        vec![],
        "records claimed by a check are leased to it"
    );
    let mut free = pending(store, t(15), 10).await;
    free.sort_by_key(|r| r.kind);
    assert_eq!(
        free,
        vec![fired.clone(), notice.clone()],
        "pending once the lease has run out"
    );

    // A stale writer stores nothing: neither its shipment nor its records.
    let escalated = record(&s.id, Rule::Stalled, 0, AlertKind::Escalated, 0, t(20));
    let mut stale = stored.clone();
    stale.tags = vec!["stale".into()];
    match store
        .commit_check(&stale, std::slice::from_ref(&escalated), &lease("b", 25))
        .await
    {
        Err(StoreError::Conflict {
            expected: 1,
            actual: Some(2),
            ..
        }) => {}
        other => panic!("a stale commit_check must be a Conflict, got {other:?}"),
    }
    assert_eq!(get(store, &s.id).await, Some(next.clone()));
    let log = store
        .alerts_for(&s.id)
        .await
        .unwrap_or_else(|e| panic!("alerts_for failed: {e}"));
    assert!(
        !log.contains(&escalated),
        "a failed commit inserts no record: {log:?}"
    );

    // A record already stored is not this call's; the others and the shipment are.
    let mut again = next.clone();
    again.tags = vec!["again".into()];
    let committed = store
        .commit_check(&again, &[fired.clone(), escalated.clone()], &lease("c", 30))
        .await
        .unwrap_or_else(|e| panic!("commit_check with a stored record failed: {e}"));
    assert_eq!(committed.version, 3);
    assert_eq!(committed.inserted, vec![false, true]);
    again.version = 3;
    assert_eq!(get(store, &s.id).await, Some(again));
    assert_eq!(
        store.alerts_for(&s.id).await.map(|l| l.len()).ok(),
        Some(3),
        "fired, notice, escalated"
    );

    // A commit without records is a plain versioned write.
    let mut plain = get(store, &s.id).await.expect("shipment must exist");
    plain.tags = vec!["plain".into()];
    let committed = store
        .commit_check(&plain, &[], &lease("d", 40))
        .await
        .unwrap_or_else(|e| panic!("commit_check without records failed: {e}"));
    assert_eq!((committed.version, committed.inserted), (4, vec![]));
}

/// A pending record's lease goes to one deliverer at a time: taken, it leaves
/// the pending query until it ends; it cannot be taken before its delivery time
/// nor once delivered.
pub async fn leases_are_exclusive<S: Store>(store: &S) {
    let a = id("SF", "SF4300000000001");
    let r = record(&a, Rule::Stalled, 0, AlertKind::Fired, 0, t(100));
    let mut held = record(&a, Rule::Late, 0, AlertKind::Notice, 0, t(100));
    held.hold_until = Some(t(600));
    for x in [&r, &held] {
        assert!(store
            .insert_alert_if_absent(x)
            .await
            .unwrap_or_else(|e| panic!("insert failed: {e}")));
    }
    assert!(
        !take(store, &r, t(99), lease("a", 105)).await,
        "not before its time"
    );
    assert!(
        take(store, &r, t(100), lease("a", 105)).await,
        "free: taken"
    );
    assert!(
        !take(store, &r, t(100), lease("b", 106)).await,
        "held by a: b cannot take it"
    );
    assert!(
        !take(store, &r, t(104), lease("b", 106)).await,
        "still held by a"
    );
    assert_eq!(
        pending(store, t(104), 10).await,
        vec![],
        "a leased record is not pending"
    );
    assert_eq!(pending(store, t(105), 10).await, vec![r.clone()]);
    assert!(
        take(store, &r, t(105), lease("b", 110)).await,
        "a's lease ran out: b takes it"
    );
    assert!(
        !take(store, &held, t(599), lease("c", 700)).await,
        "a held notice is not free before its hold ends"
    );
    assert!(take(store, &held, t(600), lease("c", 700)).await);
    crate::mark(store, &r).await;
    assert!(
        !take(store, &r, t(1000), lease("d", 1100)).await,
        "a delivered record cannot be leased"
    );
    let absent = record(&a, Rule::Refused, 0, AlertKind::Fired, 0, t(100));
    assert!(
        !take(store, &absent, t(1000), lease("d", 1100)).await,
        "an absent record cannot be leased"
    );
    assert_eq!(pending(store, t(2000), 10).await, vec![held]);
}

/// Deliverers racing for the same records: each record goes to exactly one.
pub async fn racing_lease_takers<S: Store>(store: &S) {
    let a = id("YTO", "YT4400000000001");
    let records: Vec<_> = (0..4u32)
        .map(|seq| record(&a, Rule::Stalled, 0, AlertKind::Repeated, seq, t(100)))
        .collect();
    for r in &records {
        assert!(store
            .insert_alert_if_absent(r)
            .await
            .unwrap_or_else(|e| panic!("insert failed: {e}")));
    }
    for r in &records {
        let takers = (0..6).map(|i| {
            let l = lease(&format!("deliverer-{i}"), 200);
            async move { store.take_lease(r, t(150), &l).await }
        });
        let won: Vec<bool> = join_all(takers)
            .await
            .into_iter()
            .map(|x| x.unwrap_or_else(|e| panic!("take_lease failed: {e}")))
            .collect();
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "exactly one of six racing deliverers takes {r:?}: {won:?}"
        );
    }
    assert_eq!(pending(store, t(199), 10).await, vec![]);
    assert_eq!(pending(store, t(200), 10).await.len(), 4);
}
