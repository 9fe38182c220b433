//! `sentinel report --html FILE --csv FILE`: the fleet-health page for a mail
//! and the open problems for a spreadsheet, on the data `sentinel demo --db`
//! leaves and on parcels imported with hostile order ids.

use std::path::Path;
use std::process::{Command, Output};

use chrono::Utc;
use serde_json::Value;

mod common;

const HEADER: [&str; 13] = [
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

/// The demo fleet starts 2024-11-04 (China time) and runs four days.
const DEMO_NOW: &str = "2024-11-07T18:00:00";

fn sentinel(db: &Path, args: &[&str], lang: Option<&str>) -> Output {
    let mut c = Command::new(common::SENTINEL);
    c.args(args)
        .env("SENTINEL_DB", db)
        .env_remove("RUST_LOG")
        .env_remove("ALERT_LANGUAGE");
    if let Some(l) = lang {
        c.env("ALERT_LANGUAGE", l);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    text(&o.stdout)
}

/// The CSV file parsed: its header and its rows.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn col(name: &str) -> usize {
    HEADER.iter().position(|h| *h == name).unwrap()
}

/// Every problem of every state (`problems --state all`), as (carrier, number,
/// rule, state).
fn all_problems(db: &Path) -> Vec<(String, String, String, String)> {
    let out = ok(&sentinel(
        db,
        &["problems", "--state", "all", "--limit", "100000", "--json"],
        None,
    ));
    let mut all = Vec::new();
    for line in out.lines() {
        let item: Value = serde_json::from_str(line).unwrap();
        for p in item["problems"].as_array().unwrap() {
            all.push((
                item["carrier"].as_str().unwrap().to_string(),
                item["tracking_number"].as_str().unwrap().to_string(),
                p["rule"].as_str().unwrap().to_string(),
                p["state"].as_str().unwrap().to_string(),
            ));
        }
    }
    all
}

/// Maximal runs of ASCII digits that look like a mainland mobile number.
fn phone_like(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 11 && run.starts_with('1'))
        .map(str::to_string)
        .collect()
}

#[test]
fn report_writes_the_health_page_and_the_open_problems() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::demo_db(dir.path());
    // Work two problems first: one acknowledged with a note (still open work),
    // one closed by hand (no longer in the CSV).
    let open = all_problems(&db);
    let (ac, an, ar, _) = open
        .iter()
        .find(|p| p.3 == "open")
        .expect("the demo leaves open problems")
        .clone();
    ok(&sentinel(
        &db,
        &[
            "ack",
            &an,
            &ar,
            "--carrier",
            &ac,
            "--by",
            "张三",
            "--note",
            "=客户电话 13812345678",
        ],
        None,
    ));
    let (cc, cn, cr, _) = open
        .iter()
        .find(|p| p.3 == "open" && (p.0 != ac || p.1 != an))
        .expect("a second open problem")
        .clone();
    ok(&sentinel(
        &db,
        &[
            "close",
            &cn,
            &cr,
            "--carrier",
            &cc,
            "--by",
            "李四",
            "--note",
            "已重发",
        ],
        None,
    ));

    let html = dir.path().join("r.html");
    let csv_path = dir.path().join("p.csv");
    let o = sentinel(
        &db,
        &[
            "report",
            "--db",
            db.to_str().unwrap(),
            "--now",
            DEMO_NOW,
            "--html",
            html.to_str().unwrap(),
            "--csv",
            csv_path.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(ok(&o), "", "only files asked for: nothing on stdout");
    let err = text(&o.stderr);
    assert!(err.contains(&html.display().to_string()), "{err}");
    assert!(err.contains(&csv_path.display().to_string()), "{err}");

    // The page: Chinese by default, the parcel count and every carrier, standalone.
    let summary: Value = serde_json::from_str(&ok(&sentinel(
        &db,
        &["report", "--json", "--now", DEMO_NOW],
        None,
    )))
    .unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("<html lang=\"zh-CN\">"));
    assert!(page.contains("2024-11-07 18:00"), "dated by --now");
    assert!(page.contains("<b>300</b>包裹总数"), "the parcel count");
    let carriers = summary["by_carrier"].as_object().unwrap();
    assert!(carriers.len() >= 3);
    for (code, n) in carriers {
        assert!(
            page.contains(&format!("({code})</th><td class=\"n\">{n}</td>"))
                || page.contains(&format!(">{code}</th><td class=\"n\">{n}</td>")),
            "carrier {code} with its {n} parcels"
        );
    }
    assert!(page.contains("<svg"));
    for outside in ["<script", "src=", "href=", "http:", "https:"] {
        assert!(!page.contains(outside), "{outside}");
    }

    // The CSV: the header, one row per problem not closed, the oldest first.
    let (header, rows) = read_csv(&csv_path);
    assert_eq!(header, HEADER);
    let all = all_problems(&db);
    let not_closed = all.iter().filter(|p| p.3 != "closed").count();
    assert!(not_closed >= 5, "{all:?}");
    assert_eq!(rows.len(), not_closed);
    assert!(all.iter().any(|p| p.3 == "closed"));
    assert!(!rows
        .iter()
        .any(|r| (&r[0], &r[1], &r[4]) == (&cc, &cn, &cr)));
    for r in &rows {
        assert_eq!(r.len(), HEADER.len());
        assert!(
            ["open", "acknowledged", "snoozed"].contains(&r[col("state")].as_str()),
            "{r:?}"
        );
        assert!(r[col("since")].ends_with("+08:00"), "China time: {r:?}");
        assert!(r[col("notifications")].parse::<u32>().is_ok(), "{r:?}");
    }
    let since: Vec<&str> = rows.iter().map(|r| r[col("since")].as_str()).collect();
    let mut sorted = since.clone();
    sorted.sort();
    assert_eq!(since, sorted, "oldest first");
    let acked = rows
        .iter()
        .find(|r| (&r[0], &r[1], &r[4]) == (&ac, &an, &ar))
        .expect("the acknowledged problem is still listed");
    assert_eq!(acked[col("state")], "acknowledged");
    assert_eq!(acked[col("owner")], "张三");
    assert_eq!(
        acked[col("note")],
        "'=客户电话 138****5678",
        "guarded, the phone masked"
    );
    let raw = std::fs::read_to_string(&csv_path).unwrap();
    assert!(phone_like(&raw).is_empty(), "{:?}", phone_like(&raw));
    assert!(rows.iter().any(|r| !r[col("last_event_at")].is_empty()));

    // With --json as well: the JSON on stdout, the file written again.
    let again = dir.path().join("again.csv");
    let o = sentinel(
        &db,
        &[
            "report",
            "--json",
            "--now",
            DEMO_NOW,
            "--csv",
            again.to_str().unwrap(),
        ],
        None,
    );
    let v: Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(v["parcels"], 300);
    assert_eq!(std::fs::read(&again).unwrap(), raw.as_bytes());

    // In English when ALERT_LANGUAGE says so; the text report stays without files.
    let en = dir.path().join("en.html");
    ok(&sentinel(
        &db,
        &["report", "--now", DEMO_NOW, "--html", en.to_str().unwrap()],
        Some("en"),
    ));
    let page = std::fs::read_to_string(&en).unwrap();
    assert!(page.contains("Fleet health") && page.contains("<b>300</b>Parcels"));
    let out = ok(&sentinel(&db, &["report", "--now", DEMO_NOW], None));
    assert!(
        out.contains("By status") && out.contains("Parcels: 300"),
        "{out}"
    );
}

#[test]
fn a_missing_directory_is_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    ok(&sentinel(
        &db,
        &["add", "75312345678901", "--carrier", "ZTO"],
        None,
    ));
    let good = dir.path().join("r.html");
    for (flag, missing) in [
        ("--html", dir.path().join("nowhere").join("r.html")),
        ("--csv", dir.path().join("nowhere").join("p.csv")),
    ] {
        let other = if flag == "--html" { "--csv" } else { "--html" };
        let o = sentinel(
            &db,
            &[
                "report",
                flag,
                missing.to_str().unwrap(),
                other,
                good.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(2), "{flag}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(err.contains(&missing.display().to_string()), "{err}");
        assert!(err.contains("does not exist"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(text(&o.stdout), "");
        assert!(!good.exists(), "checked before anything is written");
    }
    // A directory is not a file; one file cannot be both.
    let o = sentinel(
        &db,
        &["report", "--csv", dir.path().to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("is a directory"));
    let o = sentinel(
        &db,
        &[
            "report",
            "--csv",
            good.to_str().unwrap(),
            "--html",
            good.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    // A bad language is a configuration error when a page is asked for.
    let o = sentinel(
        &db,
        &["report", "--html", good.to_str().unwrap()],
        Some("fr"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("ALERT_LANGUAGE"));
    assert!(!good.exists());
}

/// Order ids are outside input: ones a spreadsheet would run as formulas are
/// written as text, and the parcels' phones never reach the file.
#[test]
fn formula_like_order_ids_are_written_as_text() {
    const HOSTILE: [&str; 8] = [
        "=1+2",
        "+1",
        "-2",
        "@SUM(A1)",
        "=HYPERLINK(\"\"http://x\"\")",
        "=cmd|' /C calc'!A0",
        "+-3",
        "@x",
    ];
    let (scenario, csv) = common::fleet(8, Utc::now());
    let mut lines = csv.lines();
    let mut import = format!("{}\n", lines.next().unwrap());
    let mut phones = Vec::new();
    for (i, line) in lines.enumerate() {
        let id = format!(",LD-{i:05},");
        assert!(line.contains(&id), "{line}");
        let hostile = if HOSTILE[i].contains('"') {
            format!(",\"{}\",", HOSTILE[i])
        } else {
            format!(",{},", HOSTILE[i])
        };
        import.push_str(&line.replacen(&id, &hostile, 1));
        import.push('\n');
        let phone = line.rsplit(',').next().unwrap();
        if !phone.is_empty() {
            phones.push(phone.to_string());
        }
    }
    assert!(!phones.is_empty(), "the fleet has a parcel with a phone");
    let fake = common::kdniao(scenario);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let env = common::env(&fake, &db, 1000, 4);
    common::import(&env, &db, &import);
    let o = common::run_once(&env);
    assert!(o.status.success(), "{}", text(&o.stderr));

    let out = dir.path().join("p.csv");
    let o = common::sentinel(&env, &["report", "--csv", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let (header, rows) = read_csv(&out);
    assert_eq!(header, HEADER);
    assert!(
        rows.len() >= 5,
        "five of the eight situations alert: {rows:?}"
    );
    let want: Vec<String> = HOSTILE
        .iter()
        .map(|h| format!("'{}", h.replace("\"\"", "\"")))
        .collect();
    for r in &rows {
        assert!(
            want.contains(&r[col("order_id")]),
            "guarded: {:?}",
            r[col("order_id")]
        );
        for cell in r {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} in {r:?}"
            );
        }
    }
    let raw = std::fs::read_to_string(&out).unwrap();
    for phone in &phones {
        assert!(!raw.contains(phone.as_str()), "phone {phone} in the CSV");
    }
}
