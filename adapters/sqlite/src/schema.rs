//! The schema and opening a store: the migrations that create and upgrade the
//! tables, the schema version kept in `PRAGMA user_version`, and
//! [`SqliteStore::open`] / [`SqliteStore::in_memory`], which set the busy timeout,
//! look at what the file holds *before writing anything* ([`check_file`]: a newer
//! schema or another application's database is refused and left byte for byte as
//! it was), then switch a file to WAL and create or migrate the schema.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use shared::ports::StoreError;

use crate::{Ctx, SqliteStore};

/// How long a write waits for another connection (or process) holding the lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Schema migrations: `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
/// Never edit a released step; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: shipments, alerts.
    "
    CREATE TABLE IF NOT EXISTS shipments (
        carrier         TEXT    NOT NULL,
        tracking_number TEXT    NOT NULL,
        version         INTEGER NOT NULL,
        status          TEXT    NOT NULL,
        next_check_at   INTEGER,
        registered_at   INTEGER NOT NULL,
        active_rules    TEXT    NOT NULL,
        data            TEXT    NOT NULL,
        PRIMARY KEY (carrier, tracking_number)
    );
    CREATE INDEX IF NOT EXISTS shipments_due
        ON shipments (next_check_at, carrier, tracking_number)
        WHERE next_check_at IS NOT NULL;
    CREATE INDEX IF NOT EXISTS shipments_status
        ON shipments (status, carrier, tracking_number);

    CREATE TABLE IF NOT EXISTS alerts (
        carrier         TEXT    NOT NULL,
        tracking_number TEXT    NOT NULL,
        rule            TEXT    NOT NULL,
        since           TEXT    NOT NULL,
        kind            TEXT    NOT NULL,
        seq             INTEGER NOT NULL,
        severity        TEXT    NOT NULL,
        at              INTEGER NOT NULL,
        data            TEXT    NOT NULL,
        PRIMARY KEY (carrier, tracking_number, rule, since, kind, seq)
    );
    CREATE INDEX IF NOT EXISTS alerts_at ON alerts (at);
    ",
    // 2: the notification outbox. Rows from version 1 count as delivered.
    "
    ALTER TABLE alerts ADD COLUMN pending_at INTEGER;
    CREATE INDEX IF NOT EXISTS alerts_pending
        ON alerts (pending_at)
        WHERE pending_at IS NOT NULL;
    ",
    // 3: delivery leases. `pending_at` is now when a pending record is free for a
    // deliverer (its delivery time, or the end of the lease on it); `lease_owner`
    // who holds or last held it.
    "
    ALTER TABLE alerts ADD COLUMN lease_owner TEXT;
    ",
    // 4: quarantine. A row that cannot be decoded is set aside where it is found:
    // `unreadable` says why, and it leaves the due index (`next_check_at`) or the
    // outbox (`pending_at`); its bytes stay for a human.
    "
    ALTER TABLE shipments ADD COLUMN unreadable TEXT;
    ALTER TABLE alerts ADD COLUMN unreadable TEXT;
    ",
    // 5: the fleet's counters and the problem index (see `counters`); the
    // shipments stored so far are counted by `counters::count_existing`. The
    // summary names unreadable rows: partial indexes find them without a scan.
    "
    ALTER TABLE shipments ADD COLUMN tally TEXT;
    ALTER TABLE shipments ADD COLUMN problem_at INTEGER;
    CREATE INDEX IF NOT EXISTS shipments_problems
        ON shipments (problem_at, carrier, tracking_number)
        WHERE problem_at IS NOT NULL;
    CREATE TABLE IF NOT EXISTS counters (
        key TEXT    NOT NULL PRIMARY KEY,
        n   INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS shipments_unreadable
        ON shipments (carrier, tracking_number)
        WHERE unreadable IS NOT NULL;
    CREATE INDEX IF NOT EXISTS alerts_unreadable
        ON alerts (carrier, tracking_number)
        WHERE unreadable IS NOT NULL;
    ",
    // 6: the daily query budget: queries taken and checks deferred per provider
    // and China day (see `budget`).
    "
    CREATE TABLE IF NOT EXISTS query_budget (
        provider    TEXT    NOT NULL,
        day         TEXT    NOT NULL,
        used        INTEGER NOT NULL DEFAULT 0,
        deferred    INTEGER NOT NULL DEFAULT 0,
        short_since INTEGER,
        warned      INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (provider, day)
    ) WITHOUT ROWID;
    ",
];

/// The schema version whose migration counts the shipments already stored.
const COUNTED_FROM: usize = 5;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

impl SqliteStore {
    /// Opens (creating if needed) the store in the file at `path`, and creates or
    /// migrates its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(|e| {
            StoreError::Backend(format!("cannot open sqlite store {}: {e}", path.display()))
        })?;
        Self::init(conn, Some(path.to_path_buf()))
    }

    /// A private in-memory store (for tests and one-shot runs).
    pub fn in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().ctx("open in memory")?;
        Self::init(conn, None)
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).ctx("set busy timeout")?;
        conn.set_prepared_statement_cache_capacity(32);
        check_file(&conn)?;
        if path.is_some() {
            set_wal(&conn)?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .ctx("set synchronous")?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
        })
    }
}

/// The tables every Sentinel schema version has.
const OUR_TABLES: &[&str] = &["shipments", "alerts"];

/// Refuses, before anything is written (no WAL switch, no table), a file this
/// build must not touch:
/// - a schema newer than [`SCHEMA_VERSION`] (a newer Sentinel wrote it);
/// - another application's database: tables but no Sentinel schema version
///   (`user_version` 0), or a version without Sentinel's tables.
///
/// An empty file, or a database without tables, is initialised by [`migrate`].
/// Only reads happen here, so a refused file stays byte for byte as it was.
fn check_file(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .ctx("read schema version")?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .ctx("read the tables")?;
    let ours = OUR_TABLES.iter().all(|t| tables.iter().any(|n| n == t));
    let foreign = || {
        let mut listed = tables
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if tables.len() > 5 {
            listed.push_str(&format!(" and {} more", tables.len() - 5));
        }
        StoreError::Backend(format!(
            "the file is not a Parcel Sentinel store: it holds other tables ({listed}) \
             with schema version {version}; refusing to add Sentinel's tables to it \
             (use another --db file)"
        ))
    };
    match version {
        0 if tables.is_empty() => Ok(()),
        v if v > SCHEMA_VERSION && ours => Err(StoreError::Backend(format!(
            "sqlite store has schema version {v}, newer than this build knows \
             (up to {SCHEMA_VERSION}); use a newer sentinel (the file was not changed)"
        ))),
        v if (1..=SCHEMA_VERSION).contains(&v) && ours => Ok(()),
        _ => Err(foreign()),
    }
}

/// Migrates the schema to [`SCHEMA_VERSION`], in one write transaction.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let read_version = |c: &Connection| -> Result<i64, StoreError> {
        c.query_row("PRAGMA user_version", [], |r| r.get(0))
            .ctx("read schema version")
    };
    let check = |v: i64| {
        if !(0..=SCHEMA_VERSION).contains(&v) {
            Err(StoreError::Backend(format!(
                "sqlite store has schema version {v}; this build knows up to {SCHEMA_VERSION}"
            )))
        } else {
            Ok(())
        }
    };
    let current = read_version(conn)?;
    check(current)?;
    if current == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("begin migration")?;
    // Another process may have migrated while we waited for the lock.
    let current = read_version(&tx)?;
    check(current)?;
    for (i, step) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(step)
            .ctx(&format!("migrate schema to version {}", i + 1))?;
        if i + 1 == COUNTED_FROM {
            crate::counters::count_existing(&tx)?;
        }
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .ctx("set schema version")?;
    tx.commit().ctx("commit migration")
}

/// Switches a file database to WAL. The switch needs a moment of exclusive access,
/// which another process opening the same new file may hold: retry for a while.
fn set_wal(conn: &Connection) -> Result<(), StoreError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        let r =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0));
        match r {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(StoreError::Backend(format!(
                    "sqlite refused WAL journal mode (got {mode})"
                )))
            }
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).ctx("set WAL journal mode"),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use rusqlite::params;

    use shared::ports::AlertLog;

    use super::*;
    use crate::rows::since_column;
    use crate::tests::{sid, t0};

    #[test]
    fn open_creates_the_schema_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested-name.sqlite");
        assert!(!path.exists());
        let store = SqliteStore::open(&path).unwrap();
        assert!(path.exists(), "the file is created on first use");
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        {
            let conn = store.lock();
            let mode: String = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                .unwrap();
            assert_eq!(mode.to_ascii_lowercase(), "wal");
            let mut names: Vec<String> = conn
                .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' ORDER BY name")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            names.sort();
            assert_eq!(
                names,
                [
                    "alerts",
                    "alerts_at",
                    "alerts_pending",
                    "alerts_unreadable",
                    "counters",
                    "query_budget",
                    "shipments",
                    "shipments_due",
                    "shipments_problems",
                    "shipments_status",
                    "shipments_unreadable"
                ]
            );
        }
        drop(store);
        let again = SqliteStore::open(&path).unwrap();
        assert_eq!(again.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(again.count_shipments().unwrap(), 0);
        // A second store on the same file at the same time is fine too.
        let third = SqliteStore::open(&path).unwrap();
        assert_eq!(third.count_shipments().unwrap(), 0);
    }

    /// A version-4 file's shipments are counted by the migration: the summary
    /// and the problem queue see them at once.
    #[tokio::test]
    async fn version_4_files_migrate_with_their_shipments_counted() {
        use shared::ports::{ShipmentQuery, ShipmentWriter};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        let mut s = shared::domain::Shipment::new(sid("ZTO", "75300000000001"), t0());
        s.alerts.insert(
            shared::domain::Rule::Stalled,
            shared::domain::AlertState::fired(
                shared::domain::Rule::Stalled,
                shared::domain::Severity::Warning,
                t0(),
                t0(),
            ),
        );
        {
            let conn = Connection::open(&path).unwrap();
            for step in &MIGRATIONS[..4] {
                conn.execute_batch(step).unwrap();
            }
            conn.pragma_update(None, "user_version", 4).unwrap();
            conn.execute(
                "INSERT INTO shipments (carrier, tracking_number, version, status, next_check_at,
                     registered_at, active_rules, data)
                 VALUES ('ZTO', '75300000000001', 1, 'Pending', NULL, 0, ',stalled,', ?1)",
                params![serde_json::to_string(&s).unwrap()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO shipments (carrier, tracking_number, version, status, next_check_at,
                     registered_at, active_rules, data)
                 VALUES ('ZTO', '75300000000002', 1, 'Pending', NULL, 0, ',', 'not json')",
                [],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let (from, to) = shared::tally::days_read(t0());
        let counted = store.tally(from, to).await.unwrap();
        assert_eq!(counted, shared::tally::Tally::of(&s).within(from, to));
        let problems = store.problem_shipments(None, 10).await.unwrap();
        assert_eq!(problems.items.len(), 1);
        assert_eq!(problems.items[0].id, s.id);
        // Written again whole, the counted shipment is not counted twice.
        s.version = 1;
        store.put_shipment(&s).await.unwrap();
        assert_eq!(store.tally(from, to).await.unwrap().get("parcels"), 1);
    }

    #[tokio::test]
    async fn version_1_files_migrate_with_their_alerts_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO alerts (carrier, tracking_number, rule, since, kind, seq, severity, at, data)
                 VALUES ('ZTO', '75300000000001', 'stalled', ?1, 'fired', 0, 'warning', 0, ?2)",
                params![
                    since_column(DateTime::UNIX_EPOCH),
                    r#"{"shipment":{"carrier":"ZTO","tracking_number":"75300000000001"},"rule":"stalled","since":"1970-01-01T00:00:00Z","kind":"fired","seq":0,"severity":"warning","at":"1970-01-01T00:00:00Z"}"#
                ],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let id = sid("ZTO", "75300000000001");
        let old = store.alerts_for(&id).await.unwrap();
        assert_eq!(old.len(), 1, "the v1 record is read back");
        assert_eq!(old[0].hold_until, None);
        assert_eq!(
            store.pending_alerts(t0(), 10).await.unwrap(),
            vec![],
            "records written before the outbox existed count as delivered"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("future.db");
        let store = SqliteStore::open(&path).unwrap();
        store
            .lock()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(store);
        match SqliteStore::open(&path) {
            Err(StoreError::Backend(msg)) => assert!(msg.contains("schema version"), "{msg}"),
            other => panic!("expected a Backend error, got {other:?}"),
        }
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(
            &path,
            "this is not a database, just some text. ".repeat(100),
        )
        .unwrap();
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::Backend(_))
        ));
    }

    /// The bytes and modification time of a file, to prove it was left alone.
    fn snapshot(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
        (
            std::fs::read(path).unwrap(),
            std::fs::metadata(path).unwrap().modified().unwrap(),
        )
    }

    /// A database written by someone else, in rollback-journal mode (as most
    /// SQLite files are), closed.
    fn write_db(path: &Path, sql: &str, user_version: i64) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(sql).unwrap();
        conn.pragma_update(None, "user_version", user_version)
            .unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("future.db");
        write_db(
            &path,
            "CREATE TABLE shipments (carrier TEXT, tracking_number TEXT);
             CREATE TABLE alerts (carrier TEXT);
             CREATE TABLE whatever_comes_next (x);",
            SCHEMA_VERSION + 1,
        );
        let before = snapshot(&path);
        std::thread::sleep(Duration::from_millis(20));
        match SqliteStore::open(&path) {
            Err(StoreError::Backend(msg)) => {
                assert!(msg.contains("schema version"), "{msg}");
                assert!(msg.contains("newer"), "{msg}");
            }
            other => panic!("expected a Backend error, got {other:?}"),
        }
        assert!(before == snapshot(&path), "the file was changed");
        // Not switched to WAL: no log file beside it either.
        assert!(!dir.path().join("future.db-wal").exists());
    }

    #[test]
    fn a_foreign_sqlite_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        // Someone else's tables, no schema version.
        let path = dir.path().join("notes.db");
        write_db(
            &path,
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO notes (body) VALUES ('keep me');",
            0,
        );
        let before = snapshot(&path);
        std::thread::sleep(Duration::from_millis(20));
        match SqliteStore::open(&path) {
            Err(StoreError::Backend(msg)) => {
                assert!(msg.contains("not a Parcel Sentinel store"), "{msg}");
                assert!(msg.contains("notes"), "{msg}");
            }
            other => panic!("expected a Backend error, got {other:?}"),
        }
        assert!(before == snapshot(&path), "the file was changed");
        // Another application's schema version, without our tables.
        let path = dir.path().join("app.db");
        write_db(&path, "CREATE TABLE settings (k TEXT, v TEXT);", 1);
        let before = snapshot(&path);
        match SqliteStore::open(&path) {
            Err(StoreError::Backend(msg)) => {
                assert!(msg.contains("not a Parcel Sentinel store"), "{msg}")
            }
            other => panic!("expected a Backend error, got {other:?}"),
        }
        assert!(before == snapshot(&path), "the file was changed");
    }

    #[test]
    fn an_empty_file_is_initialised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.db");
        std::fs::write(&path, b"").unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        // An empty SQLite database (a header, no tables) too.
        let path = dir.path().join("blank.db");
        write_db(&path, "CREATE TABLE t (x); DROP TABLE t;", 0);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    }
}
