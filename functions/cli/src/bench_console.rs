//! `sentinel bench-console`: the console's reads at fleet scale, on the SQLite
//! store. Fills a file with a synthetic fleet (`sentinel_sim::bench::console`)
//! through the store's own write path (each parcel one transaction that also
//! keeps the counters and the problem index), then times the health summary and
//! the problem queue as the console asks for them.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Utc};

use sentinel_sim::bench::console::{measure, parcel, ConsoleFigures, ReadFigures, TAG};
use sentinel_sim::bench::metrics::CountingStore;
use shared::ports::{ListFilter, ShipmentQuery, ShipmentWriter};

use crate::parcels::open_store;
use crate::Failure;

#[derive(clap::Args, Debug)]
pub struct BenchConsoleArgs {
    /// Parcels in the fleet (the file is filled up to this many).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..=10_000_000))]
    pub parcels: u64,
    /// SQLite file for the fleet: new, or one this command filled before (a file
    /// holding other parcels is refused).
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
    /// Times each read is repeated.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    /// The fleet's seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The instant the fleet is built and read at (RFC 3339).
    #[arg(long, default_value = "2026-12-01T04:00:00Z")]
    pub now: DateTime<Utc>,
    /// Write the figures as one JSON object to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

pub async fn run(a: BenchConsoleArgs) -> Result<u8, Failure> {
    let store = open_store(&a.db)?;
    let stored = store.count_shipments()?;
    if stored > 0 {
        let sample = store
            .list_shipments(&ListFilter::default(), None, 100)
            .await?;
        if sample
            .items
            .iter()
            .any(|s| !s.tags.iter().any(|t| t == TAG))
        {
            return Err(Failure::input(format!(
                "{} holds parcels this benchmark did not write: give it a new file",
                a.db.display()
            )));
        }
    }
    let fill = Instant::now();
    let mut written = 0u64;
    for i in stored..a.parcels {
        store.put_shipment(&parcel(i, a.seed, a.now)).await?;
        written += 1;
        if written % 100_000 == 0 {
            eprintln!("bench-console: {} parcels stored", stored + written);
        }
    }
    let fill_s = fill.elapsed().as_secs_f64();
    let counting = CountingStore::new(store);
    let figures = measure(&counting, a.now, a.repeat as usize).await?;
    print(&figures, written, fill_s);
    if let Some(path) = &a.json {
        let json = serde_json::json!({
            "figures": figures,
            "written": written,
            "fill_seconds": fill_s,
            "repeat": a.repeat,
            "seed": a.seed,
        });
        std::fs::write(path, format!("{json:#}\n"))
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(0)
}

fn print(f: &ConsoleFigures, written: u64, fill_s: f64) {
    println!(
        "fleet: {} parcels ({} written now in {:.1} s), {} open problems",
        f.parcels, written, fill_s, f.open_problems
    );
    println!("| read | median | max | store calls |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, r: &ReadFigures| {
        println!(
            "| {name} | {:.2} ms | {:.2} ms | {} |",
            r.median_ms, r.max_ms, r.store_calls
        );
    };
    row("summary", &f.summary);
    row("queue: open, first 50", &f.queue_open);
    row("queue: open, one carrier, first 50", &f.queue_carrier);
    row("queue: acknowledged, first 50", &f.queue_acknowledged);
}
