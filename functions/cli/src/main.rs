//! `sentinel`: Parcel Sentinel on one machine, on the embedded SQLite store.
//!
//! The same domain code as the Lambda functions; this binary only parses
//! arguments, wires adapters (SQLite store, simulated carrier, virtual or system
//! clock) and prints.

mod bench;
mod bench_console;
mod bench_table;
mod bounded;
mod check;
mod console;
mod csv_lines;
mod demo;
mod duration;
#[cfg(test)]
mod import_fuzz;
mod live;
mod parcels;
mod problems;
mod report_files;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Parcel Sentinel: tracks every parcel, evaluates stall and exception rules, and
/// alerts before the customer complains.
#[derive(Parser, Debug)]
#[command(name = "sentinel", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The store file, for every command that touches data.
#[derive(clap::Args, Debug, Clone)]
pub struct DbArg {
    /// SQLite file holding parcels and alerts (created on first use).
    #[arg(
        long,
        value_name = "FILE",
        env = "SENTINEL_DB",
        default_value = "sentinel.db"
    )]
    pub db: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate a fleet of parcels over days of virtual time and show the alerts,
    /// a health summary and the detection score against ground truth.
    Demo(demo::DemoArgs),
    /// Evaluate the rules over one carrier response (Kdniao or Kuaidi100 JSON) and
    /// print one JSON object.
    Check(check::CheckArgs),
    /// Register one parcel.
    Add(parcels::AddArgs),
    /// Register parcels from a CSV file (header: carrier,tracking_number,order_id,
    /// shipped_at,promised_at,phone).
    Import(parcels::ImportArgs),
    /// List parcels, optionally filtered.
    List(parcels::ListArgs),
    /// Health summary: parcels by status and carrier, alerts by rule.
    Report(parcels::ReportArgs),
    /// Look one parcel up at the configured provider: carrier detection, status,
    /// the whole timeline and any rule findings.
    Track(live::TrackArgs),
    /// Run the scheduler/tracker/alert loop on the store against the configured
    /// provider (CARRIER_PROVIDER, KDNIAO_*, KUAIDI100_*).
    Run(live::RunArgs),
    Bench(bench::BenchArgs),
    /// Time the console's reads (health summary, problem queue) on a synthetic
    /// fleet of stored parcels (default 1,000,000) in an SQLite file.
    BenchConsole(bench_console::BenchConsoleArgs),
    /// The problem queue: parcels with open alert episodes, oldest first, with
    /// who has taken each.
    Problems(problems::ProblemsArgs),
    /// Take a problem (or snooze it): no more repeats; an escalation still
    /// notifies.
    Ack(problems::AckArgs),
    /// Close a problem by hand (handled outside): nothing more is notified for
    /// this episode.
    Close(problems::CloseArgs),
    /// Tell the recipient of a problem by hand (the rule's customer notice; quiet
    /// hours and one notice per parcel and rule apply); `sentinel run` sends it.
    Notify(problems::NotifyArgs),
    /// Serve the console API under /api/ (lookup, problem queue, fleet health)
    /// on the store; loopback only unless a token is given.
    Serve(serve::ServeArgs),
}

/// A command failure: the message for stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// Bad input or configuration: exit code 2.
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            code: 2,
            message: message.into(),
        }
    }

    /// Something failed while running: exit code 1.
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<shared::config::ConfigError> for Failure {
    fn from(e: shared::config::ConfigError) -> Self {
        Failure::input(format!("configuration: {e}"))
    }
}

impl From<shared::ports::StoreError> for Failure {
    fn from(e: shared::ports::StoreError) -> Self {
        Failure::runtime(format!("store: {e}"))
    }
}

impl From<shared::tracker::TrackerError> for Failure {
    fn from(e: shared::tracker::TrackerError) -> Self {
        Failure::runtime(e.to_string())
    }
}

/// Output piped into a program that stops reading (`sentinel list | head -1`)
/// ends the process quietly, as for any Unix filter, instead of a panic in
/// `println!`: Rust ignores SIGPIPE by default, so a closed pipe becomes a write
/// error that `println!` panics on. The default action is restored before any
/// output is written.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists;
    // setting a signal's disposition to its default has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sentinel: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo(a) => demo::run(a).await,
            Command::Check(a) => check::run(a),
            Command::Add(a) => parcels::add(a).await,
            Command::Import(a) => parcels::import(a).await,
            Command::List(a) => parcels::list(a).await,
            Command::Report(a) => parcels::report(a).await,
            Command::Track(a) => live::track(a).await,
            Command::Run(a) => live::run(a).await,
            Command::Bench(a) => bench::run(a).await,
            Command::BenchConsole(a) => bench_console::run(a).await,
            Command::Problems(a) => problems::list(a).await,
            Command::Ack(a) => problems::ack(a).await,
            Command::Close(a) => problems::close(a).await,
            Command::Notify(a) => problems::notify(a).await,
            Command::Serve(a) => serve::run(a).await,
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("sentinel: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
