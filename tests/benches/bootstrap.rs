//! The Lambda functions' cold start: each `bootstrap`'s size (the arm64 ones `sam
//! build` packages) and its init time (process start → its first
//! `/runtime/invocation/next` request, native build), through the local Runtime
//! API.
//!
//! ```sh
//! sam build --beta-features && cargo build --release --workspace --bins
//! cargo bench -p sentinel-e2e --bench bootstrap
//! ```
//! `cargo test` runs it once on the debug binaries as a smoke test (figures shown,
//! not asserted).
//!
//! With `--qemu` it times the arm64 bootstraps themselves under qemu-user (20 runs
//! each, whatever the profile): emulated, so the figures only compare builds with
//! each other (e.g. before and after a change), from `SAM_BUILD_DIR` (default
//! `.aws-sam/build`):
//! ```sh
//! SAM_BUILD_DIR=/tmp/before cargo test -p sentinel-e2e --bench bootstrap -- --qemu
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use sentinel_e2e::runtime_api::{Bootstrap, FunctionConfig, RuntimeApi, QEMU_AARCH64};

const FUNCTIONS: [(&str, &str); 4] = [
    ("SchedulerFunction", "sentinel-scheduler"),
    ("TrackerFunction", "sentinel-tracker"),
    ("ApiFunction", "sentinel-api"),
    ("NotifierFunction", "sentinel-notifier"),
];

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let qemu = std::env::args().any(|a| a == "--qemu");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The function binaries sit next to this bench's own build directory
    // (target/release under `cargo bench`, target/debug under `cargo test`).
    let bins_dir: PathBuf = std::env::current_exe()
        .ok()
        .and_then(|e| {
            e.parent()
                .and_then(|deps| deps.parent())
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| root.join("target").join("debug"));
    let profile = if bench { "release" } else { "debug" };
    let runs = if bench || qemu { 20 } else { 2 };
    let sam_build = std::env::var_os("SAM_BUILD_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".aws-sam/build"));
    let env: Vec<(String, String)> = [
        ("TABLE_NAME", "bench"),
        ("EVENT_BUS_NAME", "bench"),
        ("TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:bench"),
        ("KDNIAO_EBUSINESS_ID", "1"),
        ("KDNIAO_API_KEY", "k"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let what = if qemu {
        "arm64 under qemu".to_string()
    } else {
        format!("native {profile}")
    };
    println!(
        "function            arm64 bootstrap (sam build)   {what} init: median   max   (runs)"
    );
    for (function, bin) in FUNCTIONS {
        let arm = sam_build.join(function).join("bootstrap");
        let size = std::fs::metadata(&arm)
            .map(|m| format!("{:.1} MB", m.len() as f64 / 1_048_576.0))
            .unwrap_or_else(|_| "not built".into());
        let native: PathBuf = if qemu {
            arm.clone()
        } else {
            bins_dir.join(bin)
        };
        if !native.exists() {
            println!(
                "{function:<18}  {size:>28}   {} missing (cargo build{} --workspace --bins)",
                native.display(),
                if bench { " --release" } else { "" }
            );
            continue;
        }
        let mut inits: Vec<Duration> = Vec::new();
        for _ in 0..runs {
            let rt = RuntimeApi::start_with(FunctionConfig::named(function));
            let prefix: &[&str] = if qemu { QEMU_AARCH64 } else { &[] };
            let mut b = Bootstrap::spawn_with_prefix(prefix, &native, &rt, &env);
            match b.wait_ready(Duration::from_secs(30)) {
                Ok(d) => inits.push(d),
                Err(e) => panic!("{function}: {e}"),
            }
        }
        inits.sort();
        let median = inits[inits.len() / 2];
        let max = inits[inits.len() - 1];
        println!(
            "{function:<18}  {size:>28}   {:>10.1} ms  {:>6.1} ms  ({runs})",
            median.as_secs_f64() * 1000.0,
            max.as_secs_f64() * 1000.0
        );
    }
}
