//! `sentinel run` under load, small: one tick over 300 due parcels against a slow
//! fake Kdniao. What must hold whatever the machine's speed: the provider never
//! sees more than `KDNIAO_QPS` requests in any one second (by the fake's own
//! arrival times), and every parcel is checked or reported failed. The figures
//! of the full run (10,000 parcels: throughput, peak memory) come from the bench:
//! `cargo bench -p sentinel-cli --bench load` (see BENCHMARKS.md).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use common::*;
use sentinel_fakes::Behaviour;

const PARCELS: usize = 300;
const QPS: u32 = 50;

#[test]
fn one_tick_over_300_due_parcels_holds_the_qps_and_accounts_for_every_parcel() {
    let (scenario, csv) = fleet(PARCELS, Utc::now());
    let numbers: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().to_string())
        .collect();
    let fake = kdniao(scenario);
    // A slow provider: 120 ms a reply, so the 8 parcels in flight at once are
    // what reach the limit (50 a second × 0.12 s = 6 in flight).
    fake.set_latency(Duration::from_millis(120));
    // One parcel in 25 fails at the provider (HTTP 503, no retry).
    let failing: Vec<&String> = numbers.iter().step_by(25).collect();
    for n in &failing {
        fake.set_behaviour(n.as_str(), Behaviour::HttpStatus(503));
    }
    let (_dir, db) = store();
    let env = env(&fake, &db, QPS, 8);
    import(&env, &db, &csv);

    let o = run_once(&env);
    let err = text(&o.stderr);
    assert!(o.status.success(), "{err}");
    let t = ticks(&err);
    assert_eq!(
        (t.checked, t.queries, t.failed),
        (PARCELS, PARCELS, failing.len()),
        "{err}"
    );
    assert!(!err.contains("could not be checked"), "{err}");

    // The provider's view: each parcel asked about once, never above the limit.
    let requests = fake.requests();
    let mut asked: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &requests {
        *asked.entry(r.number.as_deref().unwrap_or("-")).or_default() += 1;
    }
    assert_eq!(asked.len(), PARCELS);
    assert!(asked.values().all(|&n| n == 1), "asked twice: {asked:?}");
    let arrivals: Vec<_> = requests.iter().map(|r| r.at).collect();
    let max = max_in_any_second(&arrivals);
    assert!(
        max <= QPS as usize,
        "{max} requests within one second; gaps (ms) in the busiest: {:?}",
        busiest_second_gaps(&arrivals)
    );
    // The limiter, not the machine, set the pace (else the bound above proves
    // nothing).
    assert!(max >= QPS as usize / 2, "the limit was not reached: {max}");
    eprintln!("{max} requests in the busiest second (limit {QPS})");

    // The store's view: every parcel checked; exactly the failing ones carry
    // their error (and stay due for a later tick).
    let p = parcels(&db);
    assert_eq!(
        (p.total, p.checked, p.with_error),
        (PARCELS, PARCELS, failing.len())
    );
    let log = alert_log(&db);
    assert!(log.records > 0 && log.pending == 0, "{log:?}");
}
