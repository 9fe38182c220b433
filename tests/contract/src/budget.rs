//! The query budget contract: a provider's count per China day, taken only under
//! its cap, even by racing takers; deferrals counted with the first one's time;
//! the day's warning claimed once.

use chrono::NaiveDate;
use futures_util::future::join_all;

use shared::budget::BudgetDay;
use shared::ports::Store;

use crate::t;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 11, d).expect("a date")
}

async fn take<S: Store>(store: &S, provider: &str, d: NaiveDate, cap: u32) -> bool {
    store
        .take_query(provider, d, cap)
        .await
        .unwrap_or_else(|e| panic!("take_query failed: {e}"))
}

async fn read<S: Store>(store: &S, provider: &str, d: NaiveDate) -> BudgetDay {
    store
        .budget_day(provider, d)
        .await
        .unwrap_or_else(|e| panic!("budget_day failed: {e}"))
}

/// Queries are taken while fewer than the cap were, per provider and day; a
/// deferral counts and keeps the first one's time; the warning is claimed once.
pub async fn query_budget_counts_per_provider_and_day<S: Store>(store: &S) {
    assert_eq!(read(store, "kdniao", day(11)).await, BudgetDay::default());
    assert!(
        !take(store, "kdniao", day(11), 0).await,
        "a cap of 0 takes nothing"
    );
    for i in 0..3 {
        assert!(take(store, "kdniao", day(11), 3).await, "query {i} of 3");
    }
    assert!(!take(store, "kdniao", day(11), 3).await, "the fourth of 3");
    // A higher cap (an urgent check) takes more; a lower one (routine) nothing.
    assert!(take(store, "kdniao", day(11), 5).await);
    assert!(!take(store, "kdniao", day(11), 2).await);
    // Other providers and days have their own counts.
    assert!(take(store, "kuaidi100", day(11), 1).await);
    assert!(take(store, "kdniao", day(12), 1).await);
    assert_eq!(read(store, "kdniao", day(11)).await.used, 4);
    assert_eq!(read(store, "kuaidi100", day(11)).await.used, 1);
    assert_eq!(read(store, "kdniao", day(12)).await.used, 1);

    let first = store
        .defer_query("kdniao", day(11), t(10))
        .await
        .unwrap_or_else(|e| panic!("defer_query failed: {e}"));
    assert_eq!(
        first,
        BudgetDay {
            used: 4,
            deferred: 1,
            short_since: Some(t(10)),
            warned: false
        }
    );
    let second = store
        .defer_query("kdniao", day(11), t(90))
        .await
        .unwrap_or_else(|e| panic!("defer_query failed: {e}"));
    assert_eq!((second.deferred, second.short_since), (2, Some(t(10))));
    assert!(second.warning_due(t(90)));

    let claims = join_all((0..4).map(|_| store.claim_budget_warning("kdniao", day(11)))).await;
    let won = claims
        .into_iter()
        .map(|c| c.unwrap_or_else(|e| panic!("claim failed: {e}")))
        .filter(|w| *w)
        .count();
    assert_eq!(won, 1, "the day's warning is claimed once");
    let after = read(store, "kdniao", day(11)).await;
    assert!(after.warned && !after.warning_due(t(200)));
    assert!(!read(store, "kdniao", day(12)).await.warned);
}

/// Takers racing for the last queries of a day never take more than the cap.
pub async fn racing_query_takers_never_exceed_the_cap<S: Store>(store: &S) {
    let takers = (0..24).map(|_| store.take_query("kdniao", day(11), 10));
    let won = join_all(takers)
        .await
        .into_iter()
        .map(|x| x.unwrap_or_else(|e| panic!("take_query failed: {e}")))
        .filter(|w| *w)
        .count();
    assert_eq!(won, 10, "24 racing takers, a cap of 10");
    assert_eq!(read(store, "kdniao", day(11)).await.used, 10);
}
