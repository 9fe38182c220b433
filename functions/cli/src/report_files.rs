//! `sentinel report --html FILE --csv FILE`: the fleet-health view as one
//! self-contained HTML file (rendered by `sentinel_console::report_html`) and the
//! open problems as CSV for a spreadsheet, each written atomically (a temporary
//! file in the same directory, then renamed over the target).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use shared::domain::Shipment;
use shared::normalise::keywords::mask_phones;
use shared::ports::{ListFilter, ShipmentQuery};
use shared::problems::{queue_item, ProblemView, QueueFilter};
use shared::time::rfc3339;

use crate::Failure;

/// The CSV's columns, in order (a public contract: see the README).
pub const CSV_HEADER: [&str; 13] = [
    "carrier",
    "tracking_number",
    "order_id",
    "status",
    "rule",
    "severity",
    "state",
    "since",
    "owner",
    "note",
    "notifications",
    "last_event_at",
    "last_event",
];

/// The problem states that are still someone's work (not `closed`; resolved
/// problems are not active and never listed).
pub const OPEN_STATES: [&str; 3] = ["open", "acknowledged", "snoozed"];

/// One open problem of one parcel: a CSV row.
#[derive(Clone, Debug, PartialEq)]
pub struct ProblemRow {
    pub carrier: String,
    pub tracking_number: String,
    pub order_id: Option<String>,
    pub status: String,
    pub problem: ProblemView,
    pub last_event_at: Option<DateTime<Utc>>,
    pub last_event: Option<String>,
}

impl ProblemRow {
    /// The row's cells, in [`CSV_HEADER`] order, guarded against formulas. Free
    /// text (the owner, the note, the carrier's words) has its phone numbers
    /// masked and is kept on one line; the parcel's phone is never written.
    pub fn cells(&self) -> [String; 13] {
        let p = &self.problem;
        let free = |s: &str| one_line(&mask_phones(s));
        let note = p.history.iter().rev().find_map(|e| e.note.as_deref());
        [
            self.carrier.clone(),
            self.tracking_number.clone(),
            self.order_id.clone().unwrap_or_default(),
            self.status.clone(),
            p.rule.as_str().to_string(),
            p.severity.as_str().to_string(),
            p.state.to_string(),
            rfc3339(p.since),
            p.by.as_deref().map(free).unwrap_or_default(),
            note.map(free).unwrap_or_default(),
            p.notifications.to_string(),
            self.last_event_at.map(rfc3339).unwrap_or_default(),
            self.last_event.as_deref().map(free).unwrap_or_default(),
        ]
        .map(|c| guard(&c))
    }
}

/// A cell a spreadsheet would take for a formula (it begins with `=`, `+`, `-`,
/// `@`, a tab or a carriage return) gets a leading `'`, so it is shown as text.
pub fn guard(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

fn one_line(s: &str) -> String {
    s.split(['\n', '\r']).collect::<Vec<_>>().join(" ")
}

/// The parcel's problems in [`OPEN_STATES`] as rows.
fn rows_of(s: &Shipment, now: DateTime<Utc>) -> Vec<ProblemRow> {
    let Some(item) = queue_item(s, &QueueFilter::default(), now) else {
        return Vec::new();
    };
    let last = s.timeline.last();
    item.problems
        .into_iter()
        .filter(|p| OPEN_STATES.contains(&p.state))
        .map(|problem| ProblemRow {
            carrier: item.carrier.clone(),
            tracking_number: item.tracking_number.clone(),
            order_id: item.order_id.clone(),
            status: item.status.as_str().to_string(),
            problem,
            last_event_at: last.map(|e| e.at),
            last_event: last.map(|e| e.text.clone()),
        })
        .collect()
}

/// Every open problem (one row per problem, [`OPEN_STATES`] as of `now`), the
/// oldest first: the problem queue's own selection (`shared::problems::queue_item`
/// over the parcels with an active alert), with each parcel's last scan.
pub async fn open_problems<S: ShipmentQuery>(
    store: &S,
    now: DateTime<Utc>,
) -> Result<Vec<ProblemRow>, Failure> {
    let filter = ListFilter {
        alerting: true,
        ..ListFilter::default()
    };
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list_shipments(&filter, cursor.as_deref(), 500)
            .await?;
        rows.extend(page.items.iter().flat_map(|s| rows_of(s, now)));
        match page.next {
            Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
            _ => break,
        }
    }
    rows.sort_by(|a, b| {
        (
            a.problem.since,
            &a.carrier,
            &a.tracking_number,
            a.problem.rule,
        )
            .cmp(&(
                b.problem.since,
                &b.carrier,
                &b.tracking_number,
                b.problem.rule,
            ))
    });
    Ok(rows)
}

/// The rows as CSV with [`CSV_HEADER`] first.
pub fn csv_bytes(rows: &[ProblemRow]) -> Result<Vec<u8>, Failure> {
    let bad = |e: csv::Error| Failure::runtime(format!("cannot write CSV: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER).map_err(bad)?;
    for r in rows {
        w.write_record(r.cells()).map_err(bad)?;
    }
    w.into_inner()
        .map_err(|e| Failure::runtime(format!("cannot write CSV: {e}")))
}

/// The directory a file given on the command line goes in (`.` for a bare name).
fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks that `path` (given with `flag`) can be written: its directory exists
/// and it is not itself a directory. An input error (exit 2) naming the path.
pub fn check_target(flag: &str, path: &Path) -> Result<(), Failure> {
    let dir = dir_of(path);
    if !dir.is_dir() {
        return Err(Failure::input(format!(
            "{flag} {}: directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    if path.is_dir() || path.file_name().is_none() {
        return Err(Failure::input(format!(
            "{flag} {}: is a directory, not a file",
            path.display()
        )));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a new temporary file beside it, synced,
/// then renamed over it. Readers see the old file or the new one, never a part;
/// a failure leaves no temporary file behind.
pub fn write_atomic(flag: &str, path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    check_target(flag, path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir_of(path).join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let failed = |e: std::io::Error| {
        Failure::runtime(format!("{flag} {}: cannot write: {e}", path.display()))
    };
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::{Rule, Severity};
    use shared::problems::EventView;

    fn row(order_id: &str, note: &str, last_event: &str) -> ProblemRow {
        let at = DateTime::parse_from_rfc3339("2024-11-05T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        ProblemRow {
            carrier: "ZTO".into(),
            tracking_number: "75312345678901".into(),
            order_id: Some(order_id.into()),
            status: "InTransit".into(),
            problem: ProblemView {
                rule: Rule::Stalled,
                severity: Severity::Critical,
                since: at,
                fired_at: at,
                notifications: 2,
                state: "acknowledged",
                by: Some("张三".into()),
                at: Some(at),
                until: None,
                history: vec![
                    EventView {
                        at,
                        by: "张三".into(),
                        action: "ack".into(),
                        note: Some("first".into()),
                    },
                    EventView {
                        at,
                        by: "张三".into(),
                        action: "note".into(),
                        note: Some(note.into()),
                    },
                ],
            },
            last_event_at: Some(at),
            last_event: Some(last_event.into()),
        }
    }

    #[test]
    fn formula_cells_are_quoted_as_text() {
        for (cell, want) in [
            ("=1+2", "'=1+2"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("LD-1", "LD-1"),
            ("", ""),
            ("中=", "中="),
        ] {
            assert_eq!(guard(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn a_row_is_guarded_masked_and_on_one_line() {
        let cells = row(
            "=HYPERLINK(\"http://x\")",
            "-客户电话 13812345678\n再联系",
            "派件员 电话13912345678 正在派件",
        )
        .cells();
        assert_eq!(cells.len(), CSV_HEADER.len());
        assert_eq!(cells[2], "'=HYPERLINK(\"http://x\")");
        assert_eq!(cells[4], "stalled");
        assert_eq!(cells[5], "critical");
        assert_eq!(cells[6], "acknowledged");
        assert_eq!(cells[7], "2024-11-05T10:00:00+08:00", "China time");
        assert_eq!(cells[8], "张三");
        assert_eq!(cells[9], "'-客户电话 138****5678 再联系", "the newest note");
        assert_eq!(cells[10], "2");
        assert_eq!(cells[12], "派件员 电话139****5678 正在派件");
        let csv = String::from_utf8(csv_bytes(&[row("LD-1", "ok", "到达")]).unwrap()).unwrap();
        assert!(
            csv.starts_with(&format!("{}\n", CSV_HEADER.join(","))),
            "{csv}"
        );
        assert_eq!(csv.lines().count(), 2);
    }

    #[test]
    fn files_are_replaced_whole_and_a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("r.html");
        write_atomic("--html", &file, b"first").unwrap();
        write_atomic("--html", &file, b"second").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"second");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");

        let missing = dir.path().join("nowhere").join("r.html");
        let e = write_atomic("--html", &missing, b"x").unwrap_err();
        assert_eq!(e.code, 2);
        assert!(
            e.message.contains(&missing.display().to_string()),
            "{}",
            e.message
        );
        assert!(e.message.contains("does not exist"), "{}", e.message);
        let e = write_atomic("--csv", dir.path(), b"x").unwrap_err();
        assert!(e.message.contains("is a directory"), "{}", e.message);
    }
}
