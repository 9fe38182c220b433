//! The `alerts` table: the alert log (insert if absent, keyed so a record is
//! stored once; a check's records in the same transaction as its shipment), the
//! notification outbox (`pending_at`: when the row is free for a deliverer,
//! pushed forward by a lease; cleared on delivery), and the alert queries by
//! shipment and by time.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, TransactionBehavior};

use shared::domain::{AlertRecord, Shipment, ShipmentId};
use shared::ports::{Committed, Lease, StoreError};
use shared::store::alert_order;

use crate::quarantine::Table;
use crate::rows::{since_column, RawAlert};
use crate::{Ctx, SqliteStore};

/// Inserts one alert record unless its key is stored, pending and free for
/// deliverers at `free_at`. Returns whether it inserted.
fn insert_alert_in(
    conn: &Connection,
    r: &AlertRecord,
    free_at: DateTime<Utc>,
    owner: Option<&str>,
) -> Result<bool, StoreError> {
    let data = serde_json::to_string(r)
        .map_err(|e| StoreError::Backend(format!("cannot encode alert record: {e}")))?;
    let n = conn
        .prepare_cached(
            "INSERT INTO alerts (carrier, tracking_number, rule, since, kind, seq,
                 severity, at, data, pending_at, lease_owner)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
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
                free_at.timestamp_millis(),
                owner,
            ])
        })
        .ctx("insert alert")?;
    Ok(n > 0)
}

impl SqliteStore {
    pub(crate) fn insert_alert(&self, r: &AlertRecord) -> Result<bool, StoreError> {
        let conn = self.lock();
        insert_alert_in(&conn, r, r.deliver_at(), None)
    }

    /// A check's shipment and its alert records, in one write transaction.
    pub(crate) fn commit(
        &self,
        shipment: &Shipment,
        records: &[AlertRecord],
        lease: &Lease,
    ) -> Result<Committed, StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("begin commit_check")?;
        let version = Self::put_in(&tx, shipment)?;
        let inserted = records
            .iter()
            .map(|r| insert_alert_in(&tx, r, lease.free_at(r), Some(&lease.owner)))
            .collect::<Result<Vec<bool>, StoreError>>()?;
        tx.commit().ctx("commit commit_check")?;
        Ok(Committed { version, inserted })
    }

    /// Takes the lease of a pending row free at `due_by`: one conditional update.
    pub(crate) fn lease(
        &self,
        r: &AlertRecord,
        due_by: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<bool, StoreError> {
        if r.deliver_at() > due_by {
            return Ok(false);
        }
        let conn = self.lock();
        let n = conn
            .prepare_cached(
                "UPDATE alerts SET pending_at = ?7, lease_owner = ?8
                 WHERE carrier = ?1 AND tracking_number = ?2 AND rule = ?3 AND since = ?4
                   AND kind = ?5 AND seq = ?6
                   AND pending_at IS NOT NULL AND pending_at <= ?9",
            )
            .and_then(|mut st| {
                st.execute(params![
                    r.shipment.carrier.as_str(),
                    r.shipment.tracking_number.as_str(),
                    r.rule.as_str(),
                    since_column(r.since),
                    r.kind.as_str(),
                    i64::from(r.seq),
                    lease.until.timestamp_millis(),
                    lease.owner,
                    due_by.timestamp_millis(),
                ])
            })
            .ctx("take alert lease")?;
        Ok(n > 0)
    }

    pub(crate) fn mark_sent(&self, r: &AlertRecord) -> Result<(), StoreError> {
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
    /// read under the lock and decoded outside it; a row that does not decode is
    /// set aside and skipped.
    fn select_alerts(
        &self,
        what: &str,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<(Vec<AlertRecord>, usize), StoreError> {
        let conn = self.lock();
        let rows = conn
            .prepare_cached(sql)
            .and_then(|mut st| {
                st.query_map(args, RawAlert::from_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx(what)?;
        drop(conn);
        let mut out = Vec::with_capacity(rows.len());
        let mut set_aside = 0;
        for raw in rows {
            let rowid = raw.rowid;
            match raw.decode() {
                Ok(r) => out.push(r),
                Err(e) => {
                    self.set_aside(Table::Alerts, rowid, &e);
                    set_aside += 1;
                }
            }
        }
        Ok((out, set_aside))
    }

    pub(crate) fn pending(
        &self,
        due_by: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut attempts = 0;
        let mut out = loop {
            attempts += 1;
            let (out, set_aside) = self.select_alerts(
                "pending alerts",
                "SELECT carrier, tracking_number, rule, since, kind, seq, data, rowid FROM alerts
                 WHERE pending_at IS NOT NULL AND pending_at <= ?1
                 ORDER BY pending_at, carrier, tracking_number, rule, since, kind, seq
                 LIMIT ?2",
                params![due_by.timestamp_millis(), limit],
            )?;
            // Unreadable rows left the outbox: read again for a full batch (a
            // few times at most, should setting them aside fail).
            if set_aside == 0 || attempts >= 4 {
                break out;
            }
        };
        // The column is truncated to milliseconds: apply the exact bound.
        out.retain(|r| r.deliver_at() <= due_by);
        Ok(out)
    }

    pub(crate) fn alerts_of(&self, id: &ShipmentId) -> Result<Vec<AlertRecord>, StoreError> {
        let (mut out, _) = self.select_alerts(
            "alerts for shipment",
            "SELECT carrier, tracking_number, rule, since, kind, seq, data, rowid FROM alerts
             WHERE carrier = ?1 AND tracking_number = ?2
             ORDER BY at, rule, since, kind, seq",
            params![id.carrier.as_str(), id.tracking_number.as_str()],
        )?;
        out.sort_by(alert_order);
        Ok(out)
    }

    pub(crate) fn alerts_in(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        // The column is truncated to milliseconds: select a superset, then apply the
        // exact bounds.
        let (mut out, _) = self.select_alerts(
            "alerts between",
            "SELECT carrier, tracking_number, rule, since, kind, seq, data, rowid FROM alerts
             WHERE at >= ?1 AND at <= ?2
             ORDER BY at, carrier, tracking_number, rule, since, kind, seq",
            params![from.timestamp_millis(), to.timestamp_millis()],
        )?;
        out.retain(|r| from <= r.at && r.at < to);
        out.sort_by(alert_order);
        Ok(out)
    }
}
