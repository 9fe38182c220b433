//! Ordinary misuse must end in a clear, short error, never a runaway: importing
//! an endless or absurd file, values of 100,000 characters echoed in errors, a
//! store file from a newer Sentinel or another application; and replies whose
//! success flags lie (carriers.md §7) are still read by `sentinel check`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

// (libc is a dev-dependency: the deadline kills a runaway child.)

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `sentinel` with a memory ceiling (so a runaway cannot take the machine)
/// and a deadline; `None` if it did not finish in time (it is killed).
fn run_bounded(db: &Path, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Option<Output> {
    let mut cmd = Command::new("sh");
    // 1 GiB of address space: plenty for sentinel, fatal for unbounded growth.
    cmd.arg("-c")
        .arg("ulimit -v 1048576; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_sentinel"))
        .args(args)
        .env("SENTINEL_DB", db)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id() as i32;
    // Drain the pipes while waiting (a long error must not block the child).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(o) => Some(o.unwrap()),
        Err(_) => {
            // SAFETY: kill(2) on the pid of the child spawned above.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            let _ = rx.recv();
            None
        }
    }
}

fn sentinel(db: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_bounded(db, args, env, Duration::from_secs(60)).expect("sentinel did not finish")
}

fn parcels_in(db: &Path) -> usize {
    let o = sentinel(db, &["list", "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout).lines().count()
}

#[cfg(unix)]
#[test]
fn importing_dev_zero_ends_quickly_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let started = Instant::now();
    let o = run_bounded(&db, &["import", "/dev/zero"], &[], Duration::from_secs(30))
        .expect("import /dev/zero did not end");
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("line 1"), "{err}");
    assert!(err.contains("longer than"), "{err}");
    assert!(err.len() < 400, "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_line_too_long_stops_the_import_there() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let csv = dir.path().join("orders.csv");
    let long = "9".repeat(100_000);
    std::fs::write(
        &csv,
        format!(
            "carrier,tracking_number,order_id\n\
             ZTO,75312345678901,DD1\n\
             ZTO,{long},DD2\n\
             ZTO,75312345678903,DD3\n"
        ),
    )
    .unwrap();
    let o = sentinel(&db, &["import", csv.to_str().unwrap()], &[]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("longer than"), "{err}");
    assert!(!err.contains(&"9".repeat(200)), "the line is echoed: {err}");
    // The row before is kept; nothing after the long line was read.
    assert_eq!(parcels_in(&db), 1);

    // A quoted field that runs over many lines is bounded the same way.
    let csv = dir.path().join("quoted.csv");
    std::fs::write(
        &csv,
        format!(
            "carrier,tracking_number,order_id\nZTO,75312345678904,\"{}\"\n",
            "x\n".repeat(50_000)
        ),
    )
    .unwrap();
    let o = sentinel(&db, &["import", csv.to_str().unwrap()], &[]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("line 2"), "{err}");
    assert_eq!(parcels_in(&db), 1);
}

#[test]
fn an_oversized_field_rejects_its_row_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let csv = dir.path().join("orders.csv");
    std::fs::write(
        &csv,
        format!(
            "carrier,tracking_number,order_id\n\
             ZTO,{},DD1\n\
             ZTO,75312345678902,DD2\n",
            "7".repeat(5_000)
        ),
    )
    .unwrap();
    let o = sentinel(&db, &["import", csv.to_str().unwrap()], &[]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("line 2: tracking_number"), "{err}");
    assert!(err.contains("5000 bytes"), "{err}");
    assert!(err.len() < 400, "{err}");
    assert_eq!(
        text(&o.stdout).trim(),
        "imported 1 parcels, rejected 1 rows"
    );
}

#[test]
fn errors_clip_the_values_they_echo() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let huge = "A".repeat(100_000);
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        // A tracking number, a carrier code, a time, a phone on the command line.
        (vec!["add", &huge, "--carrier", "ZTO"], vec![]),
        (vec!["add", "75312345678901", "--carrier", &huge], vec![]),
        (
            vec![
                "add",
                "75312345678901",
                "--carrier",
                "ZTO",
                "--shipped-at",
                &huge,
            ],
            vec![],
        ),
        (
            vec![
                "add",
                "75312345678901",
                "--carrier",
                "ZTO",
                "--phone",
                &huge,
            ],
            vec![],
        ),
        // Environment values.
        (
            vec!["add", "75312345678901", "--carrier", "ZTO"],
            vec![("STALLED_HOURS", huge.as_str())],
        ),
        (
            vec!["add", "75312345678901", "--carrier", "ZTO"],
            vec![("TRACKING_MODE", huge.as_str())],
        ),
        (
            vec!["track", "75312345678901", "--carrier", "ZTO"],
            vec![
                ("KDNIAO_EBUSINESS_ID", "1000000"),
                ("KDNIAO_API_KEY", "test-key"),
                ("KDNIAO_QPS", huge.as_str()),
            ],
        ),
    ];
    for (args, env) in cases {
        let o = sentinel(&db, &args, &env);
        let err = text(&o.stderr);
        let shown: Vec<_> = args.iter().map(|a| &a[..a.len().min(20)]).collect();
        assert_eq!(
            o.status.code(),
            Some(2),
            "{shown:?}: {}",
            &err[..err.len().min(300)]
        );
        assert!(
            err.len() < 400,
            "{shown:?}: {} bytes: {}",
            err.len(),
            &err[..300]
        );
        assert!(
            err.contains("\"AAA"),
            "{shown:?}: the value is shown: {err}"
        );
        assert!(err.contains("100000 chars"), "{shown:?}: {err}");
    }
    // A CSV header that is not ours is echoed clipped too.
    let csv = dir.path().join("header.csv");
    std::fs::write(&csv, format!("{huge},who\nx,y\n")).unwrap();
    let o = sentinel(&db, &["import", csv.to_str().unwrap()], &[]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{}", &err[..err.len().min(300)]);
    assert!(err.len() < 600, "{} bytes", err.len());
}

#[test]
fn store_files_sentinel_must_not_touch_are_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("app.db");
    let future = dir.path().join("future.db");
    {
        let c = rusqlite::Connection::open(&foreign).unwrap();
        c.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep');")
            .unwrap();
        let c = rusqlite::Connection::open(&future).unwrap();
        c.execute_batch("CREATE TABLE shipments (x); CREATE TABLE alerts (x);")
            .unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    for (db, says) in [
        (&foreign, "not a Parcel Sentinel store"),
        (&future, "newer than this build"),
    ] {
        let before = std::fs::read(db).unwrap();
        for args in [
            &["list"][..],
            &["add", "75312345678901", "--carrier", "ZTO"][..],
        ] {
            let o = sentinel(db, args, &[]);
            let err = text(&o.stderr);
            assert!(!o.status.success(), "{args:?}");
            assert!(err.contains(says), "{args:?}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
        assert!(
            std::fs::read(db).unwrap() == before,
            "{} changed",
            db.display()
        );
        assert!(!dir
            .path()
            .join(format!("{}-wal", db.file_name().unwrap().to_str().unwrap()))
            .exists());
    }
}

#[test]
fn check_reads_a_reply_whose_success_flag_lies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let reply = dir.path().join("reply.json");
    std::fs::write(
        &reply,
        r#"{"result":false,"returnCode":null,"message":"ok","nu":"YT0000000000001","ischeck":"0",
           "com":"yuantong","status":"200","state":"5","data":[
           {"time":"2024-05-02 07:40:00","ftime":"2024-05-02 07:40:00","context":"【杭州市】快件派送中","statusCode":"5"},
           {"time":"2024-05-01 09:12:00","ftime":"2024-05-01 09:12:00","context":"【杭州市】快件已揽收","statusCode":"1"}]}"#,
    )
    .unwrap();
    let o = sentinel(
        &db,
        &[
            "check",
            "--input",
            reply.to_str().unwrap(),
            "--now",
            "2024-05-02T10:00:00+08:00",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out: serde_json::Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    assert_eq!(out["status"], "OutForDelivery");
    assert_eq!(out["carrier"], "YTO");
}
