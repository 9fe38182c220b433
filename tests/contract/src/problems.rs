//! The problem contract (issue 16): people's actions on alert episodes are kept
//! with the shipment on every store, two people acting at once get one winner and
//! a clear answer for the other, and an acknowledged problem stops repeating but
//! still escalates after the store's round trip.

use chrono::Duration;

use shared::domain::{AlertKind, Rule, Severity, Workflow};
use shared::lifecycle::reconcile;
use shared::ports::{Lease, Store, StoreError};
use shared::problems::{act, Action, ProblemError, Request, Target};
use shared::rules::Finding;

use crate::{alert_state, get, insert, shipment, t};

/// An acknowledgement by `by` at `at`.
fn req(target: Target, by: &str, at: chrono::DateTime<chrono::Utc>) -> Request {
    Request::new(target, Action::Ack, by, None, at).expect("a valid request")
}

/// A stored shipment with one active `stalled` problem (since `t(0)`).
async fn with_problem<S: Store>(store: &S, tracking: &str) -> shared::domain::ShipmentId {
    let mut s = shipment("YTO", tracking, 0);
    s.alerts.insert(
        Rule::Stalled,
        alert_state(Rule::Stalled, Severity::Warning, 0, None),
    );
    insert(store, &s).await.id
}

/// Two people acknowledge the same problem at once: one wins, the other is told
/// who has it, and the stored state and history are the winner's alone. The same
/// holds when both read the parcel before either writes (the store's version
/// check decides).
pub async fn concurrent_acks_have_one_winner<S: Store>(store: &S) {
    let id = with_problem(store, "YT7000000000001").await;
    let ack = |by: &'static str| {
        let req = Request::new(
            Target::Rule(Rule::Stalled),
            Action::Ack,
            by,
            Some("calling the outlet"),
            t(100),
        )
        .expect("a valid request");
        let id = &id;
        async move { act(store, id, &req).await }
    };
    let (a, b) = futures_util::future::join(ack("alice"), ack("bob")).await;
    let (winner, loser) = match (&a, &b) {
        (Ok(_), Err(e)) => ("alice", e),
        (Err(e), Ok(_)) => ("bob", e),
        other => panic!("exactly one of two concurrent acks must win, got {other:?}"),
    };
    match loser {
        ProblemError::Taken {
            rule: Rule::Stalled,
            state: "acknowledged",
            by,
            ..
        } => assert_eq!(by, winner, "the loser is told who has it"),
        other => panic!("the loser must be told the problem is taken, got {other:?}"),
    }
    let stored = get(store, &id).await.expect("the parcel is stored");
    let a = &stored.alerts[&Rule::Stalled];
    assert_eq!(
        a.workflow,
        Workflow::Acknowledged {
            by: winner.to_string(),
            at: t(100)
        }
    );
    assert_eq!(a.history.len(), 1, "only the winner's action is kept");
    assert_eq!(a.history[0].by, winner);
    assert_eq!(a.history[0].note.as_deref(), Some("calling the outlet"));

    // Both read the same version; the second write is refused by the store, and
    // acting again on a fresh read reports the winner.
    let id = with_problem(store, "YT7000000000002").await;
    let read = get(store, &id).await.expect("the parcel is stored");
    let (mut first, mut second) = (read.clone(), read);
    for (s, by) in [(&mut first, "carol"), (&mut second, "dave")] {
        shared::problems::apply(
            &id,
            &mut s.alerts,
            &req(Target::Rule(Rule::Stalled), by, t(200)),
        )
        .unwrap_or_else(|e| panic!("{by}'s ack on a fresh read: {e}"));
    }
    store
        .put_shipment(&first)
        .await
        .unwrap_or_else(|e| panic!("the first write: {e}"));
    match store.put_shipment(&second).await {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("the second of two writes of one version must conflict: {other:?}"),
    }
    match act(
        store,
        &id,
        &req(Target::Rule(Rule::Stalled), "dave", t(201)),
    )
    .await
    {
        Err(ProblemError::Taken { by, at, .. }) => {
            assert_eq!((by.as_str(), at), ("carol", t(200)))
        }
        other => panic!("acting after the winner must be told it is taken: {other:?}"),
    }
}

/// After an acknowledgement has gone through the store, the tracker's next
/// reconcile (a repeat due) notifies nothing, an escalation still notifies, and
/// the acknowledgement survives the tracker's commit.
pub async fn an_acknowledged_problem_stops_repeating_but_escalates<S: Store>(store: &S) {
    let id = with_problem(store, "YT7000000000003").await;
    act(store, &id, &req(Target::All, "张三", t(120)))
        .await
        .unwrap_or_else(|e| panic!("ack: {e}"));

    let repeat = Duration::hours(24);
    let finding = |severity| Finding {
        rule: Rule::Stalled,
        severity,
        since: t(0),
    };
    let lease = Lease::new("tracker", t(0), Duration::minutes(15));
    let mut s = get(store, &id).await.expect("the parcel is stored");
    let quiet = reconcile(
        &mut s.alerts,
        &[finding(Severity::Warning)],
        t(3 * 24 * 60),
        repeat,
    );
    assert!(quiet.is_empty(), "acknowledged: no repeat, got {quiet:?}");
    s.version = store
        .commit_check(&s, &[], &lease)
        .await
        .unwrap_or_else(|e| panic!("commit: {e}"))
        .version;

    let mut s = get(store, &id).await.expect("the parcel is stored");
    let up = reconcile(
        &mut s.alerts,
        &[finding(Severity::Critical)],
        t(3 * 24 * 60 + 1),
        repeat,
    );
    assert_eq!(
        up.iter().map(|t| t.kind).collect::<Vec<_>>(),
        [AlertKind::Escalated],
        "an escalation still notifies"
    );
    store
        .commit_check(&s, &[], &lease)
        .await
        .unwrap_or_else(|e| panic!("commit: {e}"));
    let after = get(store, &id).await.expect("the parcel is stored");
    let a = &after.alerts[&Rule::Stalled];
    assert_eq!(a.severity, Severity::Critical);
    assert!(
        matches!(&a.workflow, Workflow::Acknowledged { by, .. } if by == "张三"),
        "the acknowledgement is kept: {:?}",
        a.workflow
    );
}
