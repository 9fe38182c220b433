//! `sentinel add | import | list | report`: parcels in the embedded store.

use shared::lanes::{Eta, LaneViews};
use std::path::{Path, PathBuf};

use chrono::Utc;
use clap::Args;

use sentinel_sqlite::SqliteStore;
use shared::domain::Rule;
use shared::domain::{CarrierCode, Shipment, Status};
use shared::ports::{AlertLog, ListFilter, ShipmentQuery};
use shared::registration::{register_parcel, NewShipment, Registered};
use shared::report::{alerts_by_rule, HealthSummary};
use shared::time::local_minutes;

use sentinel_carriers::Provider;

use shared::config::Settings;
use shared::schedule::TrackingMode;

use crate::bounded::{RecordCap, RecordTooLong, MAX_FIELD_BYTES, MAX_RECORD_BYTES};
use crate::csv_lines::BlankLines;
use crate::live::{subscriber, tracking_mode};
use crate::{DbArg, Failure};
use shared::clip::clip;

pub fn open_store(path: &Path) -> Result<SqliteStore, Failure> {
    SqliteStore::open(path)
        .map_err(|e| Failure::runtime(format!("cannot open {}: {e}", path.display())))
}

/// The optional fields of a parcel, as given on the command line or in a CSV row.
#[derive(Default)]
struct ParcelFields<'a> {
    order_id: Option<&'a str>,
    shipped_at: Option<&'a str>,
    promised_at: Option<&'a str>,
    phone: Option<&'a str>,
    origin: Option<&'a str>,
    destination: Option<&'a str>,
}

/// Builds a shipment from user input through the shared registration rules
/// (`shared::registration`); the error names the bad field.
fn build(carrier: &str, number: &str, f: ParcelFields<'_>) -> Result<Shipment, String> {
    let owned = |v: Option<&str>| v.map(str::to_string);
    NewShipment {
        carrier: carrier.to_string(),
        tracking_number: number.to_string(),
        order_id: owned(f.order_id),
        shipped_at: owned(f.shipped_at),
        promised_at: owned(f.promised_at),
        phone: owned(f.phone),
        tags: None,
        origin: owned(f.origin),
        destination: owned(f.destination),
    }
    .into_shipment(Utc::now())
    .map_err(|e| e.to_string())
}

/// How new parcels are registered: the tracking mode, the provider that
/// subscribes them in push mode, and the settings that schedule their first check.
struct Registrar {
    mode: TrackingMode,
    subscriber: Option<Provider>,
    settings: Settings,
}

impl Registrar {
    fn from_env() -> Result<Self, Failure> {
        Ok(Self {
            mode: tracking_mode()?,
            subscriber: subscriber()?,
            settings: Settings::from_env()?,
        })
    }
}

/// Registers a parcel ([`register_parcel`]): `Ok(false)` when it is already
/// registered; a failed subscription keeps the parcel (its time-based rules still
/// run) and is reported as the inner `Err`.
async fn store_new(
    store: &SqliteStore,
    s: &Shipment,
    how: &Registrar,
) -> Result<Result<bool, String>, Failure> {
    let registered = register_parcel(
        store,
        how.subscriber.as_ref(),
        s,
        &how.settings,
        how.mode,
        Utc::now(),
    );
    Ok(match registered.await? {
        Registered::Exists => Ok(false),
        Registered::New {
            subscription_error: None,
        } => Ok(true),
        Registered::New {
            subscription_error: Some(e),
        } => Err(format!(
            "{} registered, but the subscription failed: {e}",
            s.id
        )),
    })
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The tracking number.
    pub tracking_number: String,
    /// Carrier code: SF, ZTO, YTO, STO, YD, JD, EMS, JTSD, DBL, ...
    #[arg(long, value_name = "CODE")]
    pub carrier: String,
    #[arg(long)]
    pub order_id: Option<String>,
    /// RFC 3339, or a time without offset in China time.
    #[arg(long, value_name = "TIME")]
    pub shipped_at: Option<String>,
    /// The delivery promise (the `late` rule fires when it passes).
    #[arg(long, value_name = "TIME")]
    pub promised_at: Option<String>,
    /// Recipient phone, only for customer notices (never printed in full).
    #[arg(long)]
    pub phone: Option<String>,
    /// Where it leaves from: a city, or province and city (杭州, 浙江省杭州市).
    #[arg(long, value_name = "PLACE")]
    pub origin: Option<String>,
    /// Where it goes: a city, or province and city; an address's start is read.
    #[arg(long, value_name = "PLACE")]
    pub destination: Option<String>,
    #[command(flatten)]
    pub db: DbArg,
}

pub async fn add(a: AddArgs) -> Result<u8, Failure> {
    let s = build(
        &a.carrier,
        &a.tracking_number,
        ParcelFields {
            order_id: a.order_id.as_deref(),
            shipped_at: a.shipped_at.as_deref(),
            promised_at: a.promised_at.as_deref(),
            phone: a.phone.as_deref(),
            origin: a.origin.as_deref(),
            destination: a.destination.as_deref(),
        },
    )
    .map_err(Failure::input)?;
    let how = Registrar::from_env()?;
    let store = open_store(&a.db.db)?;
    match store_new(&store, &s, &how).await? {
        Ok(true) => {}
        Ok(false) => return Err(Failure::input(format!("{} is already registered", s.id))),
        Err(why) => return Err(Failure::runtime(why)),
    }
    println!("registered {}", s.id);
    Ok(0)
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// CSV with a header row: carrier,tracking_number,order_id,shipped_at,promised_at,phone,
    /// origin,destination (carrier and tracking_number required; the other columns may be
    /// absent or empty).
    pub file: PathBuf,
    #[command(flatten)]
    pub db: DbArg,
}

/// The columns of an import file, found by their header names.
struct Columns {
    carrier: usize,
    number: usize,
    order_id: Option<usize>,
    shipped_at: Option<usize>,
    promised_at: Option<usize>,
    phone: Option<usize>,
    origin: Option<usize>,
    destination: Option<usize>,
}

/// One step of reading an import file.
#[derive(Debug)]
pub(crate) enum Row {
    /// A parcel to register, and the line its record began on.
    Parcel { line: u64, shipment: Box<Shipment> },
    /// A row that cannot be registered, and why (the field, the reason).
    Rejected { line: u64, why: String },
    /// The file cannot be read on (a record too long, an I/O error): the rows
    /// before it stand, nothing after it is read.
    Stop(String),
}

/// The rows of a CSV file of parcels, as `sentinel import` reads them, without
/// the store: bounded ([`RecordCap`], [`MAX_FIELD_BYTES`]), columns found by
/// header name, every row built through the shared registration rules. Blank
/// rows are skipped (and the lines after them numbered right: [`BlankLines`]);
/// the iteration ends after a [`Row::Stop`].
pub(crate) struct CsvParcels<R: std::io::Read> {
    records: csv::StringRecordsIntoIter<BlankLines<RecordCap<R>>>,
    headers: csv::StringRecord,
    columns: Columns,
    stopped: bool,
}

impl<R: std::io::Read> CsvParcels<R> {
    /// Reads the header; the error says why the file is unusable.
    pub(crate) fn new(input: R) -> Result<Self, String> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(BlankLines::new(RecordCap::new(input, MAX_RECORD_BYTES)));
        let headers = reader
            .headers()
            .map_err(|e| format!("cannot read the header: {e}"))?
            .clone();
        let col = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
        };
        let (Some(carrier), Some(number)) = (col("carrier"), col("tracking_number")) else {
            return Err(format!(
                "the header must name the columns carrier and tracking_number \
                 (and optionally order_id, shipped_at, promised_at, phone, origin, destination); \
                 got {:?}",
                headers.iter().take(10).map(clip).collect::<Vec<_>>()
            ));
        };
        let columns = Columns {
            carrier,
            number,
            order_id: col("order_id"),
            shipped_at: col("shipped_at"),
            promised_at: col("promised_at"),
            phone: col("phone"),
            origin: col("origin"),
            destination: col("destination"),
        };
        Ok(Self {
            records: reader.into_records(),
            headers,
            columns,
            stopped: false,
        })
    }
}

impl<R: std::io::Read> Iterator for CsvParcels<R> {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.stopped {
            return None;
        }
        loop {
            let record = match self.records.next()? {
                Ok(r) => r,
                // A record too long, or the file cannot be read on: stop there
                // (the rows before are kept).
                Err(e) if RecordTooLong::of(&e).is_some() || e.is_io_error() => {
                    self.stopped = true;
                    return Some(Row::Stop(match RecordTooLong::of(&e) {
                        Some(long) => long.to_string(),
                        None => format!("cannot read on: {e}"),
                    }));
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    return Some(Row::Rejected {
                        line,
                        why: e.to_string(),
                    });
                }
            };
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            if record.iter().all(|f| f.is_empty()) {
                continue;
            }
            if let Some((i, f)) = record
                .iter()
                .enumerate()
                .find(|(_, f)| f.len() > MAX_FIELD_BYTES)
            {
                let column = self
                    .headers
                    .get(i)
                    .map_or(format!("column {}", i + 1), |h| {
                        clip(h.trim_start_matches('\u{feff}')).to_string()
                    });
                return Some(Row::Rejected {
                    line,
                    why: format!(
                        "{column}: {} bytes long; at most {MAX_FIELD_BYTES}",
                        f.len()
                    ),
                });
            }
            let c = &self.columns;
            let get = |i: Option<usize>| i.and_then(|i| record.get(i));
            let built = build(
                get(Some(c.carrier)).unwrap_or(""),
                get(Some(c.number)).unwrap_or(""),
                ParcelFields {
                    order_id: get(c.order_id),
                    shipped_at: get(c.shipped_at),
                    promised_at: get(c.promised_at),
                    phone: get(c.phone),
                    origin: get(c.origin),
                    destination: get(c.destination),
                },
            );
            return Some(match built {
                Ok(shipment) => Row::Parcel {
                    line,
                    shipment: Box::new(shipment),
                },
                Err(why) => Row::Rejected { line, why },
            });
        }
    }
}

/// Exit code 0 when every row was imported, 1 when some rows were rejected (the
/// good rows are kept), 2 when the file itself is unusable.
pub async fn import(a: ImportArgs) -> Result<u8, Failure> {
    let file = a.file.display().to_string();
    let opened =
        std::fs::File::open(&a.file).map_err(|e| Failure::input(format!("{file}: {e}")))?;
    // Bounded: a record longer than MAX_RECORD_BYTES ends the import there.
    let rows = CsvParcels::new(opened).map_err(|e| Failure::input(format!("{file}: {e}")))?;
    let how = Registrar::from_env()?;
    let store = open_store(&a.db.db)?;
    let (mut imported, mut rejected, mut unsubscribed) = (0u64, 0u64, 0u64);
    for row in rows {
        match row {
            Row::Stop(why) => {
                println!("imported {imported} parcels, rejected {rejected} rows");
                return Err(Failure::input(format!("{file}: {why}")));
            }
            Row::Rejected { line, why } => {
                eprintln!("{file}: line {line}: {why}");
                rejected += 1;
            }
            Row::Parcel { line, shipment: s } => match store_new(&store, &s, &how).await? {
                Ok(true) => imported += 1,
                Ok(false) => {
                    eprintln!("{file}: line {line}: {} is already registered", s.id);
                    rejected += 1;
                }
                Err(why) => {
                    eprintln!("{file}: line {line}: {why}");
                    imported += 1;
                    unsubscribed += 1;
                }
            },
        }
    }
    println!("imported {imported} parcels, rejected {rejected} rows");
    if unsubscribed > 0 {
        println!("{unsubscribed} imported parcels could not be subscribed (see above)");
    }
    Ok(if rejected == 0 && unsubscribed == 0 {
        0
    } else {
        1
    })
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only parcels in this status (e.g. InTransit, OutForDelivery, Delivered).
    #[arg(long)]
    pub status: Option<String>,
    /// Only this carrier.
    #[arg(long, value_name = "CODE")]
    pub carrier: Option<String>,
    /// Only parcels with an active alert for this rule (e.g. stalled).
    #[arg(long)]
    pub rule: Option<String>,
    /// At most this many parcels.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArg,
}

pub async fn list(a: ListArgs) -> Result<u8, Failure> {
    let filter = ListFilter {
        status: a
            .status
            .as_deref()
            .map(|s| Status::parse(s).map_err(|e| Failure::input(format!("--status: {e}"))))
            .transpose()?,
        carrier: a
            .carrier
            .as_deref()
            .map(|c| CarrierCode::parse(c).map_err(|e| Failure::input(format!("--carrier: {e}"))))
            .transpose()?,
        rule: a
            .rule
            .as_deref()
            .map(|r| {
                Rule::parse(r).ok_or_else(|| Failure::input(format!("--rule: unknown rule {r:?}")))
            })
            .transpose()?,
        alerting: false,
    };
    let store = open_store(&a.db.db)?;
    let now = chrono::Utc::now();
    let mut lanes = LaneViews::new(now);
    let mut shown = 0usize;
    let mut cursor: Option<String> = None;
    if !a.json {
        println!(
            "{:<6} {:<22} {:<26} {:<17} {:<17} {:<17} ALERTS",
            "CARRIER", "TRACKING NUMBER", "STATUS", "LAST EVENT", "NEXT CHECK", "ETA (P50)"
        );
    }
    while shown < a.limit {
        let page = store
            .list_shipments(&filter, cursor.as_deref(), (a.limit - shown).min(500))
            .await?;
        for s in &page.items {
            shown += 1;
            let alerts: Vec<&str> = s.active_rules().map(|r| r.as_str()).collect();
            let last = s.timeline.last().map(|e| local_minutes(e.at));
            let next = s.next_check_at.map(local_minutes);
            let eta = lanes.get(&store, s).await.eta(s, now);
            if a.json {
                let line = serde_json::json!({
                    "carrier": s.id.carrier.as_str(),
                    "tracking_number": s.id.tracking_number.as_str(),
                    "order_id": s.order_id,
                    "status": s.status.as_str(),
                    "last_event_at": s.timeline.last().map(|e| shared::time::rfc3339(e.at)),
                    "next_check_at": s.next_check_at.map(shared::time::rfc3339),
                    "eta": eta.as_ref().map(Eta::to_json),
                    "alerts": alerts,
                });
                println!("{line}");
            } else {
                println!(
                    "{:<6} {:<22} {:<26} {:<17} {:<17} {:<17} {}",
                    s.id.carrier.as_str(),
                    s.id.tracking_number.as_str(),
                    s.status.as_str(),
                    last.as_deref().unwrap_or("-"),
                    next.as_deref().unwrap_or("-"),
                    eta.as_ref()
                        .map_or("-".to_string(), |e| local_minutes(e.p50)),
                    alerts.join(",")
                );
            }
        }
        for u in &page.unreadable {
            eprintln!("skipped an unreadable stored item (set aside; repair or delete it): {u}");
        }
        match page.next {
            Some(n) if Some(&n) != cursor.as_ref() => cursor = Some(n),
            _ => break,
        }
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Report as of this instant instead of the clock (RFC 3339; a time without
    /// offset is China time): the last 14 days end here.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Write the fleet-health view to FILE as one self-contained HTML page (no
    /// script, nothing external; for a daily mail). Chinese unless
    /// ALERT_LANGUAGE=en.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write the open problems (open, acknowledged or snoozed) to FILE as CSV,
    /// one row per problem, the oldest first.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArg,
}

/// `sentinel report`: the summary on stdout (text, or JSON with `--json`), and
/// the files asked for with `--html` and `--csv`. Given only files (no `--json`),
/// nothing is printed on stdout; each file written is named on stderr.
pub async fn report(a: ReportArgs) -> Result<u8, Failure> {
    use crate::report_files::{check_target, csv_bytes, open_problems, write_atomic};
    let now = crate::check::time_arg("now", &a.now)?.unwrap_or_else(Utc::now);
    // Everything that can be told before any work: the targets and the language.
    if let (Some(h), Some(c)) = (&a.html, &a.csv) {
        if h == c {
            return Err(Failure::input(format!(
                "--html and --csv name the same file {}",
                h.display()
            )));
        }
    }
    if let Some(p) = &a.html {
        check_target("--html", p)?;
    }
    if let Some(p) = &a.csv {
        check_target("--csv", p)?;
    }
    let lang = match a.html {
        Some(_) => Some(shared::message::Language::from_env()?),
        None => None,
    };
    let store = open_store(&a.db.db)?;
    // The alert log first: what it finds unreadable is named in the summary.
    let records = store
        .alerts_between(
            chrono::DateTime::<Utc>::MIN_UTC,
            chrono::DateTime::<Utc>::MAX_UTC,
        )
        .await?;
    let summary = HealthSummary::collect(&store, now).await?;
    let by_rule = alerts_by_rule(&records);
    // The files first: when one cannot be written, nothing is printed.
    if let (Some(path), Some(lang)) = (&a.html, lang) {
        let html = sentinel_console::report_html::fleet_html(&summary, lang, now);
        write_atomic("--html", path, html.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &a.csv {
        let rows = open_problems(&store, now).await?;
        write_atomic("--csv", path, &csv_bytes(&rows)?)?;
        eprintln!("wrote {} ({} open problems)", path.display(), rows.len());
    }
    if a.json {
        let notified: serde_json::Map<String, serde_json::Value> = by_rule
            .iter()
            .map(|(rule, kinds)| {
                let k: serde_json::Map<String, serde_json::Value> = kinds
                    .iter()
                    .map(|(kind, n)| (kind.as_str().to_string(), (*n).into()))
                    .collect();
                (rule.as_str().to_string(), k.into())
            })
            .collect();
        let mut v = serde_json::to_value(&summary).map_err(|e| Failure::runtime(e.to_string()))?;
        v["notifications_by_rule"] = notified.into();
        println!("{v}");
    } else if a.html.is_none() && a.csv.is_none() {
        print!("{}", crate::demo::summary_tables(&summary, &by_rule));
    } else if !summary.unreadable.is_empty() {
        eprintln!(
            "skipped {} unreadable stored items (set aside; `sentinel report` names them)",
            summary.unreadable.len()
        );
    }
    Ok(0)
}
