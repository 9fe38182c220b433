//! The embedded store: one SQLite file.
//!
//! Two tables. `shipments` holds each shipment as JSON (`data`) beside the columns
//! that queries need: the version for the conditional put, `next_check_at` (unix
//! milliseconds, NULL when finished) with a partial index for the due query,
//! `status`, and `active_rules` (`",stalled,hub_dwell,"`) for listing by rule.
//! `alerts` is the alert log, keyed by (shipment, rule, since, kind, seq) so that
//! inserting a record twice is a no-op.
//!
//! The connection sits behind a mutex (the store is `Send + Sync`); the trait methods
//! do their work synchronously and never hold the lock across an `.await`. Writes
//! use `BEGIN IMMEDIATE`, and a busy timeout makes two processes on one file wait for
//! each other instead of failing. The schema version is kept in `PRAGMA
//! user_version`; [`MIGRATIONS`] lists the steps from one version to the next.
//!
//! Times in columns are unix milliseconds; the JSON keeps full precision. The due
//! query is therefore exact to the millisecond, and the alert queries filter and
//! order on the exact times.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

use shared::domain::{AlertRecord, Shipment, ShipmentId};
use shared::ports::{
    AlertLog, DueIndex, ListFilter, Page, ShipmentQuery, ShipmentReader, ShipmentWriter, StoreError,
};
use shared::store::{alert_order, decode_cursor, encode_cursor};

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
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A [`Store`](super::Store) in one SQLite file (or in memory).
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Adds what was being done to a rusqlite error.
trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, StoreError>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, what: &str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::Backend(format!("sqlite {what}: {e}")))
    }
}

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

    /// The file this store lives in (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// How many shipments are stored.
    pub fn count_shipments(&self) -> Result<u64, StoreError> {
        let conn = self.lock();
        let n: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM shipments")
            .and_then(|mut st| st.query_row([], |r| r.get(0)))
            .ctx("count shipments")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The schema version of the open store.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .ctx("read schema version")
    }

    fn init(mut conn: Connection, path: Option<PathBuf>) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).ctx("set busy timeout")?;
        conn.set_prepared_statement_cache_capacity(32);
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

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves at worst an open transaction, which
        // rusqlite rolls back on drop; the connection stays usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: &ShipmentId) -> Result<Option<Shipment>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare_cached(
                "SELECT carrier, tracking_number, version, data FROM shipments
                 WHERE carrier = ?1 AND tracking_number = ?2",
            )
            .ctx("get shipment")?;
        let raw = st
            .query_row(
                params![id.carrier.as_str(), id.tracking_number.as_str()],
                RawShipment::from_row,
            )
            .optional()
            .ctx("get shipment")?;
        drop(st);
        drop(conn);
        raw.map(RawShipment::decode).transpose()
    }

    fn put(&self, shipment: &Shipment) -> Result<u64, StoreError> {
        let id = &shipment.id;
        let new_version = shipment
            .version
            .checked_add(1)
            .filter(|v| i64::try_from(*v).is_ok())
            .ok_or_else(|| StoreError::Backend(format!("version overflow on {id}")))?;
        let mut copy = shipment.clone();
        copy.version = new_version;
        let data = serde_json::to_string(&copy)
            .map_err(|e| StoreError::Backend(format!("cannot encode shipment {id}: {e}")))?;
        let active_rules = active_rules_column(shipment);
        let next_check_at = shipment.next_check_at.map(|t| t.timestamp_millis());
        let registered_at = shipment.registered_at.timestamp_millis();

        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("begin put_shipment")?;
        let stored: Option<Option<i64>> = tx
            .prepare_cached(
                "SELECT version FROM shipments WHERE carrier = ?1 AND tracking_number = ?2",
            )
            .and_then(|mut st| {
                st.query_row(
                    params![id.carrier.as_str(), id.tracking_number.as_str()],
                    |r| int_col(r, 0),
                )
                .optional()
            })
            .ctx("read version")?;
        let stored = stored
            .map(|v| {
                v.and_then(|v| u64::try_from(v).ok())
                    .filter(|v| *v > 0)
                    .ok_or_else(|| StoreError::Corrupt {
                        key: shipment_key(id.carrier.as_str(), id.tracking_number.as_str()),
                        reason: "version column is not a positive integer".to_string(),
                    })
            })
            .transpose()?;
        let conflict = || StoreError::Conflict {
            id: id.to_string(),
            expected: shipment.version,
            actual: stored,
        };
        // new_version fits in i64 (checked above), so these casts are lossless.
        let new_v = new_version as i64;
        match stored {
            None if shipment.version == 0 => {
                tx.prepare_cached(
                    "INSERT INTO shipments (carrier, tracking_number, version, status,
                         next_check_at, registered_at, active_rules, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        id.carrier.as_str(),
                        id.tracking_number.as_str(),
                        new_v,
                        shipment.status.as_str(),
                        next_check_at,
                        registered_at,
                        active_rules,
                        data,
                    ])
                })
                .ctx("insert shipment")?;
            }
            Some(v) if v == shipment.version => {
                let changed = tx
                    .prepare_cached(
                        "UPDATE shipments SET version = ?3, status = ?4, next_check_at = ?5,
                             registered_at = ?6, active_rules = ?7, data = ?8
                         WHERE carrier = ?1 AND tracking_number = ?2 AND version = ?9",
                    )
                    .and_then(|mut st| {
                        st.execute(params![
                            id.carrier.as_str(),
                            id.tracking_number.as_str(),
                            new_v,
                            shipment.status.as_str(),
                            next_check_at,
                            registered_at,
                            active_rules,
                            data,
                            new_v - 1,
                        ])
                    })
                    .ctx("update shipment")?;
                if changed != 1 {
                    // Cannot happen inside the transaction; refuse rather than guess.
                    return Err(conflict());
                }
            }
            _ => return Err(conflict()),
        }
        tx.commit().ctx("commit put_shipment")?;
        Ok(new_version)
    }

    fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<ShipmentId>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = self.lock();
        let mut st = conn
            .prepare_cached(
                "SELECT carrier, tracking_number FROM shipments
                 WHERE next_check_at IS NOT NULL AND next_check_at <= ?1
                 ORDER BY next_check_at, carrier, tracking_number
                 LIMIT ?2",
            )
            .ctx("due shipments")?;
        let rows = st
            .query_map(params![now.timestamp_millis(), limit], |r| {
                Ok((text_col(r, 0)?, text_col(r, 1)?))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx("due shipments")?;
        drop(st);
        drop(conn);
        rows.into_iter()
            .map(|(c, t)| parse_id(c.as_deref(), t.as_deref()))
            .collect()
    }

    fn insert_alert(&self, r: &AlertRecord) -> Result<bool, StoreError> {
        let data = serde_json::to_string(r)
            .map_err(|e| StoreError::Backend(format!("cannot encode alert record: {e}")))?;
        let conn = self.lock();
        let n = conn
            .prepare_cached(
                "INSERT INTO alerts (carrier, tracking_number, rule, since, kind, seq,
                     severity, at, data, pending_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut st| {
                st.execute(params![
                    r.shipment.carrier.as_str(),
                    r.shipment.tracking_number.as_str(),
                    r.rule.as_str(),
                    since_column(r.since),
                    r.kind.as_str(),
                    i64::from(r.seq),
                    r.severity.as_str(),
                    r.at.timestamp_millis(),
                    data,
                    r.deliver_at().timestamp_millis(),
                ])
            })
            .ctx("insert alert")?;
        Ok(n > 0)
    }

    fn mark_sent(&self, r: &AlertRecord) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.prepare_cached(
            "UPDATE alerts SET pending_at = NULL
             WHERE carrier = ?1 AND tracking_number = ?2 AND rule = ?3 AND since = ?4
               AND kind = ?5 AND seq = ?6",
        )
        .and_then(|mut st| {
            st.execute(params![
                r.shipment.carrier.as_str(),
                r.shipment.tracking_number.as_str(),
                r.rule.as_str(),
                since_column(r.since),
                r.kind.as_str(),
                i64::from(r.seq),
            ])
        })
        .ctx("mark alert delivered")?;
        Ok(())
    }

    /// Alert rows selected by `sql` (whose columns are those of [`RawAlert`]),
    /// read under the lock and decoded outside it.
    fn select_alerts(
        &self,
        what: &str,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let conn = self.lock();
        let rows = conn
            .prepare_cached(sql)
            .and_then(|mut st| {
                st.query_map(args, RawAlert::from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx(what)?;
        drop(conn);
        rows.into_iter().map(RawAlert::decode).collect()
    }

    fn pending(&self, due_by: DateTime<Utc>, limit: usize) -> Result<Vec<AlertRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut out = self.select_alerts(
            "pending alerts",
            "SELECT carrier, tracking_number, rule, since, kind, seq, data FROM alerts
             WHERE pending_at IS NOT NULL AND pending_at <= ?1
             ORDER BY pending_at, carrier, tracking_number, rule, since, kind, seq
             LIMIT ?2",
            params![due_by.timestamp_millis(), limit],
        )?;
        // The column is truncated to milliseconds: apply the exact bound.
        out.retain(|r| r.deliver_at() <= due_by);
        Ok(out)
    }

    fn alerts_of(&self, id: &ShipmentId) -> Result<Vec<AlertRecord>, StoreError> {
        let mut out = self.select_alerts(
            "alerts for shipment",
            "SELECT carrier, tracking_number, rule, since, kind, seq, data FROM alerts
             WHERE carrier = ?1 AND tracking_number = ?2
             ORDER BY at, rule, since, kind, seq",
            params![id.carrier.as_str(), id.tracking_number.as_str()],
        )?;
        out.sort_by(alert_order);
        Ok(out)
    }

    fn alerts_in(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        // The column is truncated to milliseconds: select a superset, then apply the
        // exact bounds.
        let mut out = self.select_alerts(
            "alerts between",
            "SELECT carrier, tracking_number, rule, since, kind, seq, data FROM alerts
             WHERE at >= ?1 AND at <= ?2
             ORDER BY at, carrier, tracking_number, rule, since, kind, seq",
            params![from.timestamp_millis(), to.timestamp_millis()],
        )?;
        out.retain(|r| from <= r.at && r.at < to);
        out.sort_by(alert_order);
        Ok(out)
    }

    fn list(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        let after = cursor.map(decode_cursor).transpose()?;
        // A page of 0 could never advance; treat it as 1.
        let limit = limit.max(1);

        let mut sql = String::from(
            "SELECT carrier, tracking_number, version, data FROM shipments WHERE 1 = 1",
        );
        let mut args: Vec<Value> = Vec::new();
        if let Some(after) = &after {
            sql.push_str(" AND (carrier, tracking_number) > (?, ?)");
            args.push(Value::Text(after.carrier.as_str().to_string()));
            args.push(Value::Text(after.tracking_number.as_str().to_string()));
        }
        if let Some(status) = filter.status {
            sql.push_str(" AND status = ?");
            args.push(Value::Text(status.as_str().to_string()));
        }
        if let Some(carrier) = &filter.carrier {
            sql.push_str(" AND carrier = ?");
            args.push(Value::Text(carrier.as_str().to_string()));
        }
        if let Some(rule) = filter.rule {
            sql.push_str(" AND instr(active_rules, ?) > 0");
            args.push(Value::Text(format!(",{},", rule.as_str())));
        }
        sql.push_str(" ORDER BY carrier, tracking_number LIMIT ?");
        // One more than a page, to know whether there is a next page.
        args.push(Value::Integer(
            i64::try_from(limit)
                .unwrap_or(i64::MAX - 1)
                .saturating_add(1),
        ));

        let conn = self.lock();
        let mut st = conn.prepare_cached(&sql).ctx("list shipments")?;
        let mut rows = st
            .query_map(rusqlite::params_from_iter(args), RawShipment::from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx("list shipments")?;
        drop(st);
        drop(conn);

        let more = rows.len() > limit;
        rows.truncate(limit);
        let items = rows
            .into_iter()
            .map(RawShipment::decode)
            .collect::<Result<Vec<_>, _>>()?;
        let next = if more {
            items.last().map(|s| encode_cursor(&s.id))
        } else {
            None
        };
        Ok(Page { items, next })
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

/// `",stalled,hub_dwell,"`: the active rules, comma-delimited on both sides so a
/// rule is matched with `instr(active_rules, ',rule,')`.
fn active_rules_column(s: &Shipment) -> String {
    let mut out = String::from(",");
    for r in s.active_rules() {
        out.push_str(r.as_str());
        out.push(',');
    }
    out
}

/// The `since` key column: RFC 3339 with nanoseconds, exact and sortable.
fn since_column(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn shipment_key(carrier: &str, tracking: &str) -> String {
    format!("shipment {carrier}:{tracking}")
}

/// A column that should be text, as a string (`None` if it is not text).
fn text_col(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Text(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    })
}

/// A column that should be JSON, as bytes (`None` if it is neither text nor blob).
fn bytes_col(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<Vec<u8>>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(b.to_vec()),
        _ => None,
    })
}

fn int_col(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<i64>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Integer(n) => Some(n),
        _ => None,
    })
}

fn parse_id(carrier: Option<&str>, tracking: Option<&str>) -> Result<ShipmentId, StoreError> {
    let (c, t) = (carrier.unwrap_or(""), tracking.unwrap_or(""));
    ShipmentId::parse(c, t).map_err(|e| StoreError::Corrupt {
        key: shipment_key(c, t),
        reason: format!("bad key columns: {e}"),
    })
}

/// A shipment row as read, decoded outside the lock.
struct RawShipment {
    carrier: Option<String>,
    tracking: Option<String>,
    version: Option<i64>,
    data: Option<Vec<u8>>,
}

impl RawShipment {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            carrier: text_col(r, 0)?,
            tracking: text_col(r, 1)?,
            version: int_col(r, 2)?,
            data: bytes_col(r, 3)?,
        })
    }

    fn decode(self) -> Result<Shipment, StoreError> {
        let carrier = self.carrier.unwrap_or_default();
        let tracking = self.tracking.unwrap_or_default();
        let corrupt = |reason: String| StoreError::Corrupt {
            key: shipment_key(&carrier, &tracking),
            reason,
        };
        let version = self
            .version
            .and_then(|v| u64::try_from(v).ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| corrupt("version column is not a positive integer".to_string()))?;
        let data = self
            .data
            .ok_or_else(|| corrupt("data column is not text".to_string()))?;
        let mut s: Shipment = serde_json::from_slice(&data)
            .map_err(|e| corrupt(format!("data is not a shipment: {e}")))?;
        if s.id.carrier.as_str() != carrier || s.id.tracking_number.as_str() != tracking {
            return Err(corrupt(format!("data is for another shipment ({})", s.id)));
        }
        s.version = version;
        Ok(s)
    }
}

/// An alert row as read, decoded outside the lock.
struct RawAlert {
    key: [Option<String>; 5],
    seq: Option<i64>,
    data: Option<Vec<u8>>,
}

impl RawAlert {
    fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            key: [
                text_col(r, 0)?,
                text_col(r, 1)?,
                text_col(r, 2)?,
                text_col(r, 3)?,
                text_col(r, 4)?,
            ],
            seq: int_col(r, 5)?,
            data: bytes_col(r, 6)?,
        })
    }

    fn decode(self) -> Result<AlertRecord, StoreError> {
        let [carrier, tracking, rule, since, kind] = self.key.map(Option::unwrap_or_default);
        let key = format!(
            "alert {carrier}:{tracking}/{rule}/{since}/{kind}/{}",
            self.seq.map_or_else(|| "?".to_string(), |s| s.to_string())
        );
        let corrupt = |reason: String| StoreError::Corrupt {
            key: key.clone(),
            reason,
        };
        let data = self
            .data
            .ok_or_else(|| corrupt("data column is not text".to_string()))?;
        let r: AlertRecord = serde_json::from_slice(&data)
            .map_err(|e| corrupt(format!("data is not an alert record: {e}")))?;
        let matches = r.shipment.carrier.as_str() == carrier
            && r.shipment.tracking_number.as_str() == tracking
            && r.rule.as_str() == rule
            && since_column(r.since) == since
            && r.kind.as_str() == kind
            && self.seq == Some(i64::from(r.seq));
        if !matches {
            return Err(corrupt("data does not match the key columns".to_string()));
        }
        Ok(r)
    }
}

impl ShipmentReader for SqliteStore {
    async fn get_shipment(&self, id: &ShipmentId) -> Result<Option<Shipment>, StoreError> {
        self.get(id)
    }
}

impl ShipmentWriter for SqliteStore {
    async fn put_shipment(&self, shipment: &Shipment) -> Result<u64, StoreError> {
        self.put(shipment)
    }
}

impl DueIndex for SqliteStore {
    async fn due_shipments(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ShipmentId>, StoreError> {
        self.due(now, limit)
    }
}

impl AlertLog for SqliteStore {
    async fn insert_alert_if_absent(&self, record: &AlertRecord) -> Result<bool, StoreError> {
        self.insert_alert(record)
    }

    async fn mark_delivered(&self, record: &AlertRecord) -> Result<(), StoreError> {
        self.mark_sent(record)
    }

    async fn pending_alerts(
        &self,
        due_by: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        self.pending(due_by, limit)
    }

    async fn alerts_for(&self, id: &ShipmentId) -> Result<Vec<AlertRecord>, StoreError> {
        self.alerts_of(id)
    }

    async fn alerts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        self.alerts_in(from, to)
    }
}

impl ShipmentQuery for SqliteStore {
    async fn list_shipments(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        self.list(filter, cursor, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use shared::domain::AlertKind;
    use shared::domain::Status;
    use shared::domain::{Rule, Severity};
    use shared::ports::Store;

    store_contract::store_contract_tests!(SqliteStore::in_memory().expect("in-memory sqlite store"));

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 11, 11, 8, 0, 0).unwrap()
    }

    fn sid(c: &str, t: &str) -> ShipmentId {
        ShipmentId::parse(c, t).unwrap()
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn store_is_send_sync_and_a_store() {
        fn is_store<S: Store>() {}
        assert_send_sync::<SqliteStore>();
        is_store::<SqliteStore>();
        assert_send_sync::<shared::store::memory::MemoryStore>();
        is_store::<shared::store::memory::MemoryStore>();
    }

    #[tokio::test]
    async fn file_store_persists_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sentinel.db");
        let id = sid("SF", "SF1234567890123");
        let mut s = Shipment::new(id.clone(), t0());
        s.tags = vec!["demo".to_string()];
        let record = AlertRecord {
            shipment: id.clone(),
            rule: Rule::Stalled,
            since: t0(),
            kind: AlertKind::Fired,
            seq: 0,
            severity: Severity::Warning,
            at: t0(),
            hold_until: None,
        };
        {
            let store = SqliteStore::open(&path).unwrap();
            assert_eq!(store.path(), Some(path.as_path()));
            s.version = store.put_shipment(&s).await.unwrap();
            assert!(store.insert_alert_if_absent(&record).await.unwrap());
            assert_eq!(store.count_shipments().unwrap(), 1);
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.get_shipment(&id).await.unwrap(), Some(s.clone()));
        assert_eq!(store.alerts_for(&id).await.unwrap(), vec![record.clone()]);
        assert!(!store.insert_alert_if_absent(&record).await.unwrap());
        assert_eq!(store.due_shipments(t0(), 10).await.unwrap(), vec![id]);
        assert_eq!(store.count_shipments().unwrap(), 1);
        s.status = Status::InTransit;
        assert_eq!(store.put_shipment(&s).await.unwrap(), 2);
    }

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
                    "shipments",
                    "shipments_due",
                    "shipments_status"
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

    fn raw_insert(store: &SqliteStore, carrier: &str, tracking: &str, version: Value, data: Value) {
        store
            .lock()
            .execute(
                "INSERT INTO shipments (carrier, tracking_number, version, status,
                     next_check_at, registered_at, active_rules, data)
                 VALUES (?1, ?2, ?3, 'InTransit', 0, 0, ',stalled,', ?4)",
                params![carrier, tracking, version, data],
            )
            .unwrap();
    }

    #[tokio::test]
    async fn corrupt_rows_are_corrupt_errors_not_panics() {
        let store = SqliteStore::in_memory().unwrap();
        let good = Shipment::new(sid("SF", "SF1111111111"), t0());
        let good_json = serde_json::to_string(&good).unwrap();
        let cases: Vec<(&str, Value, Value)> = vec![
            (
                "SF2222222222",
                Value::Integer(1),
                Value::Text("{not json".into()),
            ),
            ("SF3333333333", Value::Integer(1), Value::Text("{}".into())),
            (
                "SF4444444444",
                Value::Integer(1),
                Value::Text("[1,2,3]".into()),
            ),
            // Valid JSON, but for another shipment.
            (
                "SF5555555555",
                Value::Integer(1),
                Value::Text(good_json.clone()),
            ),
            // Good data, bad version column.
            (
                "SF1111111111",
                Value::Text("one".into()),
                Value::Text(good_json.clone()),
            ),
            ("SF6666666666", Value::Integer(1), Value::Integer(42)),
            (
                "SF7777777777",
                Value::Integer(1),
                Value::Blob(vec![0xff, 0xfe, 0x00]),
            ),
        ];
        for (tracking, version, data) in cases {
            raw_insert(&store, "SF", tracking, version, data);
            let id = sid("SF", tracking);
            match store.get_shipment(&id).await {
                Err(StoreError::Corrupt { key, reason }) => {
                    assert!(key.contains(tracking), "{key}");
                    assert!(!reason.is_empty());
                }
                other => panic!("{tracking}: expected Corrupt, got {other:?}"),
            }
            let list = store
                .list_shipments(&ListFilter::default(), None, 100)
                .await;
            assert!(matches!(list, Err(StoreError::Corrupt { .. })), "{list:?}");
            // Listing by a filter that excludes the corrupt rows still works.
            let other_carrier = ListFilter {
                carrier: Some(sid("ZTO", "ZT1234567").carrier),
                ..ListFilter::default()
            };
            assert!(store
                .list_shipments(&other_carrier, None, 100)
                .await
                .unwrap()
                .items
                .is_empty());
            // The due query only reads the key columns.
            assert!(store.due_shipments(t0(), 100).await.unwrap().contains(&id));
            store.lock().execute("DELETE FROM shipments", []).unwrap();
        }

        // A corrupt row cannot be overwritten blindly either.
        raw_insert(
            &store,
            "SF",
            "SF1111111111",
            Value::Integer(-3),
            Value::Text(good_json),
        );
        let mut s = good.clone();
        s.version = 1;
        assert!(matches!(
            store.put_shipment(&s).await,
            Err(StoreError::Corrupt { .. })
        ));
        // Bad key columns in the due query.
        store.lock().execute("DELETE FROM shipments", []).unwrap();
        raw_insert(
            &store,
            "s f",
            "x",
            Value::Integer(1),
            Value::Text("{}".into()),
        );
        assert!(matches!(
            store.due_shipments(t0(), 10).await,
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[tokio::test]
    async fn corrupt_alert_rows_are_corrupt_errors() {
        let store = SqliteStore::in_memory().unwrap();
        let id = sid("ZTO", "ZT1234567890");
        store
            .lock()
            .execute(
                "INSERT INTO alerts (carrier, tracking_number, rule, since, kind, seq, severity, at, data)
                 VALUES ('ZTO', 'ZT1234567890', 'stalled', 'x', 'fired', 0, 'warning', 0, '{\"oops\":1}')",
                [],
            )
            .unwrap();
        assert!(matches!(
            store.alerts_for(&id).await,
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            store.alerts_between(DateTime::UNIX_EPOCH, t0()).await,
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn the_due_query_uses_the_partial_index() {
        let store = SqliteStore::in_memory().unwrap();
        let conn = store.lock();
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT carrier, tracking_number FROM shipments
                 WHERE next_check_at IS NOT NULL AND next_check_at <= ?1
                 ORDER BY next_check_at, carrier, tracking_number LIMIT ?2",
            )
            .unwrap()
            .query_map(params![0, 10], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("shipments_due"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "no sort step: {plan}");
    }

    #[test]
    fn two_stores_on_one_file_racing_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.db");
        let id = sid("YTO", "YT1234567890");
        let mut s = Shipment::new(id.clone(), t0());
        {
            let store = SqliteStore::open(&path).unwrap();
            s.version = store.put(&s).unwrap();
        }
        for round in 0..10u64 {
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let handles: Vec<_> = (0..2)
                .map(|writer| {
                    let (path, barrier, id) = (path.clone(), barrier.clone(), id.clone());
                    std::thread::spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread()
                            .build()
                            .unwrap();
                        rt.block_on(async move {
                            let store = SqliteStore::open(&path).unwrap();
                            let mut copy = store.get_shipment(&id).await.unwrap().unwrap();
                            copy.tags = vec![format!("writer-{writer}")];
                            barrier.wait();
                            store.put_shipment(&copy).await
                        })
                    })
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            let v = 1 + round;
            let wins = results.iter().filter(|r| **r == Ok(v + 1)).count();
            let conflicts = results
                .iter()
                .filter(|r| {
                    matches!(r, Err(StoreError::Conflict { expected, actual: Some(a), .. })
                        if *expected == v && *a == v + 1)
                })
                .count();
            assert_eq!((wins, conflicts), (1, 1), "round {round}: {results:?}");
        }
        let store = SqliteStore::open(&path).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got = rt.block_on(store.get_shipment(&id)).unwrap().unwrap();
        assert_eq!(got.version, 11);
        assert_eq!(got.tags.len(), 1);
    }

    #[tokio::test]
    async fn many_shipments_list_and_due() {
        let store = SqliteStore::in_memory().unwrap();
        for i in 0..2000 {
            let mut s = Shipment::new(sid("ZTO", &format!("ZT{i:010}")), t0());
            s.next_check_at = Some(t0() + chrono::Duration::seconds(i));
            store.put_shipment(&s).await.unwrap();
        }
        assert_eq!(store.count_shipments().unwrap(), 2000);
        let due = store
            .due_shipments(t0() + chrono::Duration::seconds(99), 1000)
            .await
            .unwrap();
        assert_eq!(due.len(), 100);
        let page = store
            .list_shipments(&ListFilter::default(), None, 1500)
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1500);
        let rest = store
            .list_shipments(&ListFilter::default(), page.next.as_deref(), 1500)
            .await
            .unwrap();
        assert_eq!(rest.items.len(), 500);
        assert_eq!(rest.next, None);
    }
}
