//! The daily query budget on a generated fleet: the carrier never sees more than
//! the budget's queries in a China day, what was refused is counted as deferred,
//! and detection goes on.

use sentinel_sim::bench;
use sentinel_sim::bench::{BenchConfig, BenchReport};
use shared::budget::DailyBudget;
use shared::config::Settings;
use shared::domain::Rule;

fn settings(budget: DailyBudget) -> Settings {
    let mut s = Settings {
        budget,
        ..Settings::default()
    };
    s.rules.set_enabled(Rule::PredictedLate, false);
    s.rules.set_enabled(Rule::SlowLane, false);
    s
}

async fn run(budget: DailyBudget) -> BenchReport {
    let config = BenchConfig {
        parcels: 600,
        days: 4,
        seed: 11,
        ..BenchConfig::default()
    };
    bench::run(&config, &settings(budget)).await.unwrap()
}

fn busiest_day(r: &BenchReport) -> u64 {
    r.sentinel
        .queries_by_day
        .values()
        .copied()
        .max()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_budget_caps_every_days_queries_and_defers_the_rest() {
    let free = run(DailyBudget::NONE).await;
    let busiest = busiest_day(&free);
    assert!(busiest > 100, "a fleet busy enough to ration: {busiest}");
    assert_eq!(free.sentinel.deferred, 0);
    // The carrier's own count, split by day, adds up to the run's queries.
    let by_day: u64 = free.sentinel.queries_by_day.values().sum();
    assert_eq!(by_day, free.sentinel.queries);

    let limit = (busiest / 2) as u32;
    let tight = run(DailyBudget::of(limit)).await;
    assert!(
        tight
            .sentinel
            .queries_by_day
            .values()
            .all(|&q| q <= u64::from(limit)),
        "budget {limit}: {:?}",
        tight.sentinel.queries_by_day
    );
    assert!(tight.sentinel.deferred > 0);
    assert!(tight.sentinel.queries < free.sentinel.queries);
    // Rationed, not blind: most problems are still found.
    let recall = tight.sentinel.scores.overall.recall().unwrap();
    assert!(recall > 0.5, "recall {recall}");
}
