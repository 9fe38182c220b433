//! What the reliability tests and the load bench share: a fleet of parcels served
//! by the fake Kdniao, the real `sentinel` binary started with a clean
//! environment, and the two ways to see what it delivered — the alert headlines
//! it printed, and the alert log (the outbox) in the SQLite file itself.
//!
//! Included with `mod common;` by the tests and with `#[path]` by the bench, so
//! not every item is used by every includer.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use chrono::{DateTime, Utc};
use sentinel_fakes::{
    demo_parcels, FakeKdniao, KdniaoConfig, Scenario, DEMO_KDNIAO_APP_KEY, DEMO_KDNIAO_EBUSINESS_ID,
};

/// The `sentinel` binary under test (set by Cargo for integration tests and
/// benches of this package).
pub const SENTINEL: &str = env!("CARGO_BIN_EXE_sentinel");

/// `n` parcels, cycling through the eight demo situations (moving, delivered,
/// stalled, failed delivery, refused, stuck at a hub, out for delivery with a
/// phone, no traces), each with its own tracking number and order id
/// (`LD-00042`). Returns the fake's scenario and the CSV `sentinel import`
/// takes. Timelines are relative to `now`, as in the demo; five of the eight
/// situations raise at least one alert.
pub fn fleet(n: usize, now: DateTime<Utc>) -> (Scenario, String) {
    let templates = demo_parcels(now);
    let mut scenario = Scenario::new();
    let mut csv = String::from("carrier,tracking_number,order_id,shipped_at,promised_at,phone\n");
    for i in 0..n {
        let t = &templates[i % templates.len()];
        let letters: String = t
            .parcel
            .number
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let number = format!("{letters}77{i:010}");
        let mut parcel = t.parcel.clone();
        parcel.number = number.clone();
        scenario.insert(parcel);
        csv.push_str(&format!(
            "{},{number},LD-{i:05},{},{},{}\n",
            t.parcel.carrier,
            t.shipped_at,
            t.promised_at,
            t.phone.as_deref().unwrap_or_default()
        ));
    }
    (scenario, csv)
}

/// A fake Kdniao serving `scenario` with the demo credentials.
pub fn kdniao(scenario: Scenario) -> FakeKdniao {
    FakeKdniao::start(KdniaoConfig {
        ebusiness_id: DEMO_KDNIAO_EBUSINESS_ID.into(),
        app_key: DEMO_KDNIAO_APP_KEY.into(),
        scenario,
    })
}

/// The environment of a `sentinel` talking to `fake` and storing in `db`: no
/// retries (a refused query is a failed check, counted once), `qps` queries a
/// second at most, `concurrency` parcels at once.
pub fn env(fake: &FakeKdniao, db: &Path, qps: u32, concurrency: usize) -> Vec<(String, String)> {
    [
        ("KDNIAO_EBUSINESS_ID", DEMO_KDNIAO_EBUSINESS_ID.to_string()),
        ("KDNIAO_API_KEY", DEMO_KDNIAO_APP_KEY.to_string()),
        ("KDNIAO_API_URL", fake.query_url()),
        ("KDNIAO_SUBSCRIBE_URL", fake.subscribe_url()),
        ("KDNIAO_REQUEST_TYPE", "8001".to_string()),
        ("KDNIAO_QPS", qps.to_string()),
        ("CARRIER_CONCURRENCY", concurrency.to_string()),
        ("CARRIER_RETRIES", "0".to_string()),
        ("SENTINEL_DB", db.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// `sentinel ARGS` with exactly `env` (nothing inherited from the developer's
/// shell: no robot, no rule or provider setting of theirs), output piped.
pub fn sentinel(env: &[(String, String)], args: &[&str]) -> Command {
    let mut c = Command::new(SENTINEL);
    c.args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Imports `csv` (written beside the store) into the store of `env`.
pub fn import(env: &[(String, String)], db: &Path, csv: &str) {
    let file = db.with_extension("csv");
    std::fs::write(&file, csv).unwrap();
    let o = sentinel(env, &["import", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
}

/// `sentinel run --once` to its end.
pub fn run_once(env: &[(String, String)]) -> Output {
    sentinel(env, &["run", "--once"]).output().unwrap()
}

/// The headline of every alert printed in `stdout` (`【预警】物流停滞 · 申通快递（STO）
/// 运单号 STO… · 订单 LD-00002`), without its time prefix: one per notification,
/// naming the parcel, the rule and the kind (fired, escalated, resolved), which
/// is what tells two alerts apart within a run. A killed process may leave its
/// last alert cut after the headline; the headline itself is in one write.
pub fn headlines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.starts_with('[') && l.contains(" 运单号 "))
        .filter_map(|l| l.split_once("] ").map(|(_, h)| h.to_string()))
        .collect()
}

/// How often each headline occurs.
pub fn tally<'a>(lines: impl IntoIterator<Item = &'a String>) -> BTreeMap<&'a str, usize> {
    let mut m = BTreeMap::new();
    for l in lines {
        *m.entry(l.as_str()).or_insert(0) += 1;
    }
    m
}

/// The totals of a `run` tick, from its stderr line `[…] checked 300, queries
/// 300 (4 failed), writes 300, alerts 190`, summed over the ticks printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tick {
    pub checked: usize,
    pub queries: usize,
    pub failed: usize,
    pub alerts: usize,
}

pub fn ticks(stderr: &str) -> Tick {
    let mut t = Tick::default();
    for l in stderr.lines() {
        let Some((_, rest)) = l.split_once("] checked ") else {
            continue;
        };
        let nums: Vec<usize> = rest
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        // checked, queries, failed, writes, alerts
        assert_eq!(nums.len(), 5, "unexpected tick line {l:?}");
        t.checked += nums[0];
        t.queries += nums[1];
        t.failed += nums[2];
        t.alerts += nums[4];
    }
    t
}

/// The alert log as stored: every record and, of those, the ones still pending
/// (in the outbox, not yet delivered). Read with SQLite itself, not the product.
#[derive(Debug)]
pub struct Log {
    pub records: usize,
    pub pending: usize,
}

pub fn alert_log(db: &Path) -> Log {
    let c = rusqlite::Connection::open(db).unwrap();
    let (records, pending): (i64, i64) = c
        .query_row("SELECT count(*), count(pending_at) FROM alerts", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    Log {
        records: records as usize,
        pending: pending as usize,
    }
}

/// The parcels as stored: how many, how many were checked at least once (have a
/// `last_checked_at`), and how many of those carry a query error.
#[derive(Debug)]
pub struct Parcels {
    pub total: usize,
    pub checked: usize,
    pub with_error: usize,
}

pub fn parcels(db: &Path) -> Parcels {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c.prepare("SELECT data FROM shipments").unwrap();
    let rows: Vec<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut p = Parcels {
        total: rows.len(),
        checked: 0,
        with_error: 0,
    };
    for row in rows {
        let v: serde_json::Value = serde_json::from_str(&row).unwrap();
        if v.get("last_checked_at").is_some_and(|t| !t.is_null()) {
            p.checked += 1;
        }
        if v.get("last_error").is_some_and(|e| !e.is_null()) {
            p.with_error += 1;
        }
    }
    p
}

/// Lets the delivery leases of the alert log run out, as `minutes` of waiting
/// would: every pending record becomes free that much earlier. (A killed
/// `sentinel run` keeps what it claimed leased for five minutes; a restart after
/// that delivers it. The tests do not wait five minutes.)
pub fn age_leases(db: &Path, minutes: i64) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    c.execute(
        "UPDATE alerts SET pending_at = pending_at - ?1 WHERE pending_at IS NOT NULL",
        [minutes * 60_000],
    )
    .unwrap();
}

/// A fresh temporary directory and the store path in it.
pub fn store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sentinel.db");
    (dir, db)
}

/// A small seeded generator (SplitMix64), so the kill schedule is the same on
/// every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// The largest number of `arrivals` (any order) within any one second.
pub fn max_in_any_second(arrivals: &[std::time::Instant]) -> usize {
    let mut a = arrivals.to_vec();
    a.sort();
    let mut max = 0;
    let mut j = 0;
    for i in 0..a.len() {
        while j < a.len() && a[j] < a[i] + std::time::Duration::from_secs(1) {
            j += 1;
        }
        max = max.max(j - i);
    }
    max
}

/// The gaps between the arrivals of the busiest second, in milliseconds (for
/// failure messages).
pub fn busiest_second_gaps(arrivals: &[std::time::Instant]) -> Vec<u128> {
    let mut a = arrivals.to_vec();
    a.sort();
    let second = std::time::Duration::from_secs(1);
    let (mut best, mut at) = (0, 0);
    for i in 0..a.len() {
        let n = a[i..].iter().take_while(|t| **t < a[i] + second).count();
        if n > best {
            (best, at) = (n, i);
        }
    }
    a[at..at + best]
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect()
}

/// A SQLite file in `dir` left by `sentinel demo` (300 parcels over 4 simulated
/// days: open problems of most rules), for the problem and console tests.
pub fn demo_db(dir: &Path) -> PathBuf {
    let db = dir.join("d.db");
    let o = Command::new(SENTINEL)
        .args(["demo", "--parcels", "300", "--days", "4", "--quiet", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    db
}

/// The URL `sentinel serve` prints on its first line (the page; its API is
/// under `api/`), read from the child's piped stdout.
pub fn served_url(child: &mut std::process::Child) -> String {
    use std::io::{BufRead, BufReader};
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout piped"))
        .read_line(&mut line)
        .unwrap();
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string()
}
