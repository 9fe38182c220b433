//! Load: one `sentinel run --once` tick over N due parcels (10,000 by default,
//! after a 1,000 run for comparison) against a slow fake Kdniao, with the real
//! binary and the real SQLite store. It prints, per run, what the provider saw
//! (requests, the most within any one second, the rate achieved), what the run
//! did (checked, failed, alerts printed, the records left pending) and what it
//! cost (wall time, CPU, peak RSS of the `sentinel` process from `wait4`).
//!
//! ```sh
//! cargo bench -p sentinel-cli --bench load
//! cargo bench -p sentinel-cli --bench load -- --parcels 10000 --qps 100 --latency-ms 200 --concurrency 32
//! ```
//!
//! Without `--bench` on its command line (`cargo test --benches`) it runs 200
//! parcels as a smoke test. Figures are printed, never asserted, except the
//! invariants the small test `tests/load.rs` asserts too.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::*;
use sentinel_fakes::Behaviour;

struct Options {
    sizes: Vec<usize>,
    qps: u32,
    latency: Duration,
    concurrency: usize,
    /// One parcel in this many fails at the provider (HTTP 503).
    fail_every: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| {
                v.parse::<u64>()
                    .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
            })
    };
    let sizes = match value("--parcels") {
        Some(n) => vec![n as usize],
        None if full => vec![1_000, 10_000],
        None => vec![200],
    };
    Options {
        sizes,
        qps: value("--qps").unwrap_or(100) as u32,
        latency: Duration::from_millis(value("--latency-ms").unwrap_or(200)),
        concurrency: value("--concurrency").unwrap_or(32) as usize,
        fail_every: value("--fail-every").unwrap_or(100) as usize,
    }
}

/// What the kernel says the child used (`wait4`).
struct Usage {
    max_rss_kb: i64,
    cpu: Duration,
}

fn wait4(pid: u32) -> (i32, Usage) {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet waited for; both pointers are valid.
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut ru) };
    assert_eq!(r, pid as libc::pid_t, "wait4 failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (
        status,
        Usage {
            max_rss_kb: ru.ru_maxrss,
            cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        },
    )
}

fn run(n: usize, o: &Options) {
    let (scenario, csv) = fleet(n, Utc::now());
    let fake = kdniao(scenario);
    fake.set_latency(o.latency);
    let failing: Vec<String> = csv
        .lines()
        .skip(1)
        .step_by(o.fail_every.max(1))
        .map(|l| l.split(',').nth(1).unwrap().to_string())
        .collect();
    for number in &failing {
        fake.set_behaviour(number.as_str(), Behaviour::HttpStatus(503));
    }
    let (_dir, db) = store();
    let env = env(&fake, &db, o.qps, o.concurrency);
    let started = Instant::now();
    import(&env, &db, &csv);
    let import_time = started.elapsed();

    let started = Instant::now();
    // Reaped by `wait4` below, which also reports its resource usage.
    #[allow(clippy::zombie_processes)]
    let mut child = sentinel(&env, &["run", "--once"]).spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    // Alerts are counted as they stream, not kept.
    let printed = std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .filter(|l| !headlines(l).is_empty())
            .count()
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(err), &mut s);
        s
    });
    let (status, usage) = wait4(child.id());
    let wall = started.elapsed();
    let printed = printed.join().unwrap();
    let stderr = stderr.join().unwrap();
    let tick = ticks(&stderr);

    let requests = fake.requests();
    let arrivals: Vec<Instant> = requests.iter().map(|r| r.at).collect();
    let max_1s = max_in_any_second(&arrivals);
    let span = match (arrivals.iter().min(), arrivals.iter().max()) {
        (Some(a), Some(b)) => (*b - *a).as_secs_f64(),
        _ => f64::NAN,
    };
    let achieved = (arrivals.len().saturating_sub(1)) as f64 / span;
    let p = parcels(&db);
    let log = alert_log(&db);
    let accounted = p.checked == n && tick.checked == n && tick.failed == failing.len();

    println!(
        "{n:>7} {:>5} {:>7} {:>10} {:>8} {:>9.2} {:>7} {:>9} {:>8} {:>8} {:>9.1} {:>8.1} {:>8.1} {:>11}  {}",
        o.qps,
        requests.len(),
        max_1s,
        format!("{:.1}%", 100.0 * achieved / f64::from(o.qps)),
        tick.checked,
        tick.failed,
        printed,
        log.records,
        log.pending,
        wall.as_secs_f64(),
        usage.cpu.as_secs_f64(),
        usage.max_rss_kb as f64 / 1024.0,
        format!("{:.1} s", import_time.as_secs_f64()),
        if status == 0 && accounted && max_1s <= o.qps as usize && log.pending == 0 {
            "ok"
        } else {
            "FAILED"
        },
    );
    if status != 0 || !accounted {
        eprintln!("exit status {status}; {p:?}; {tick:?}\n{stderr}");
    }
}

fn main() {
    let o = options();
    println!(
        "one `sentinel run --once` tick; fake Kdniao answering after {} ms, 1 parcel in {} \
         failing (HTTP 503, no retry); KDNIAO_QPS={}, CARRIER_CONCURRENCY={}",
        o.latency.as_millis(),
        o.fail_every,
        o.qps,
        o.concurrency
    );
    println!(
        "parcels   QPS  queries  max in 1s  achieved   checked   failed   alerts  records  pending    wall s    cpu s   RSS MB   import     invariants"
    );
    for &n in &o.sizes {
        run(n, &o);
    }
}
