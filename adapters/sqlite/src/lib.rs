//! The embedded store: the store ports of `shared::ports` on one SQLite file.
//!
//! Two main tables. `shipments` holds each shipment as JSON (`data`) beside the columns
//! that queries need: the version for the conditional put, `next_check_at` (unix
//! milliseconds, NULL when finished) with a partial index for the due query,
//! `status`, and `active_rules` (`",stalled,hub_dwell,"`) for listing by rule.
//! `alerts` is the alert log, keyed by (shipment, rule, since, kind, seq) so that
//! inserting a record twice is a no-op; its `pending_at` column is the
//! notification outbox. A third, `counters`, holds the fleet's counters, kept
//! with each shipment write (see `counters`).
//!
//! The connection sits behind a mutex (the store is `Send + Sync`); the trait methods
//! do their work synchronously and never hold the lock across an `.await`. Writes
//! use `BEGIN IMMEDIATE`, and a busy timeout makes two processes on one file wait for
//! each other instead of failing. The schema version is kept in `PRAGMA
//! user_version`; `MIGRATIONS` (in `schema`) lists the steps from one version to the
//! next, up to [`SCHEMA_VERSION`].
//!
//! A file store runs in WAL journal mode (an in-memory one cannot): readers go on
//! while a writer commits, so several connections or processes can share one file,
//! and with `synchronous = NORMAL` a commit appends to the log without waiting for
//! a sync (the file stays consistent after a crash).
//!
//! Times in columns are unix milliseconds; the JSON keeps full precision. The due
//! query is therefore exact to the millisecond, and the alert queries filter and
//! order on the exact times.
//!
//! Where each part lives:
//! - this file: [`SqliteStore`], its accessors, the `Ctx` error helper, and the
//!   port implementations (`ShipmentReader`, `ShipmentWriter`, `DueIndex`,
//!   `AlertLog`, `ShipmentQuery`), each delegating to a method below; the store
//!   contract tests;
//! - `schema`: the migrations, [`SCHEMA_VERSION`], and opening a store (busy
//!   timeout, WAL, version check and migration);
//! - `rows`: the row codec (columns written for shipments, alert records and
//!   times; rows read back and decoded, corrupt rows as `StoreError::Corrupt`);
//! - `quarantine`: unreadable rows set aside where they are found (out of the due
//!   index and the outbox, marked with why) and listed for people;
//! - `shipments`: the `shipments` queries (get, conditional put, due, list);
//! - `alerts`: the `alerts` queries (insert if absent, outbox, by shipment, by time);
//! - `budget`: the daily query budget's counts (`query_budget` table);
//! - `counters`: the fleet's counters (`counters` table) and the problem index
//!   (`problem_at`), kept in each shipment write's transaction.

mod alerts;
mod budget;
mod counters;
mod quarantine;
mod rows;
mod schema;
mod shipments;

pub use schema::SCHEMA_VERSION;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Connection;

use shared::budget::BudgetDay;
use shared::domain::{AlertRecord, Shipment, ShipmentId};
use shared::ports::{
    AlertLog, Committed, DueIndex, LaneQuery, Lease, ListFilter, Page, QueryBudget, ShipmentQuery,
    ShipmentReader, ShipmentWriter, StoreError, Unreadable,
};

/// A [`Store`](shared::ports::Store) in one SQLite file (or in memory).
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

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves at worst an open transaction, which
        // rusqlite rolls back on drop; the connection stays usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
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

    async fn commit_check(
        &self,
        shipment: &Shipment,
        records: &[AlertRecord],
        lease: &Lease,
    ) -> Result<Committed, StoreError> {
        self.commit(shipment, records, lease)
    }

    async fn take_lease(
        &self,
        record: &AlertRecord,
        due_by: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<bool, StoreError> {
        self.lease(record, due_by, lease)
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

impl LaneQuery for SqliteStore {
    async fn lane_counts(
        &self,
        lanes: &[String],
        weeks: &[String],
    ) -> Result<shared::tally::Tally, StoreError> {
        self.lane_rows(lanes, weeks)
    }
}

impl QueryBudget for SqliteStore {
    async fn take_query(
        &self,
        provider: &str,
        day: NaiveDate,
        cap: u32,
    ) -> Result<bool, StoreError> {
        self.take_budget(provider, day, cap)
    }

    async fn defer_query(
        &self,
        provider: &str,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<BudgetDay, StoreError> {
        self.defer_budget(provider, day, now)
    }

    async fn claim_budget_warning(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> Result<bool, StoreError> {
        self.claim_budget(provider, day)
    }

    async fn budget_day(&self, provider: &str, day: NaiveDate) -> Result<BudgetDay, StoreError> {
        self.read_budget(provider, day)
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

    async fn unreadable(&self, limit: usize) -> Result<Vec<Unreadable>, StoreError> {
        self.unreadable_rows(limit)
    }

    async fn tally(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<shared::tally::Tally, StoreError> {
        self.counters(from, to)
    }

    async fn problem_shipments(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        self.problems(cursor, limit)
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

    pub(crate) fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 11, 11, 8, 0, 0).unwrap()
    }

    pub(crate) fn sid(c: &str, t: &str) -> ShipmentId {
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
}
