//! The `shipments` table: reading one shipment, the conditional put (a version
//! check and the write in one `BEGIN IMMEDIATE` transaction), the due query on the
//! partial index, and listing with filters and a cursor.

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use shared::domain::{Shipment, ShipmentId};
use shared::ports::{ListFilter, Page, StoreError};
use shared::store::{decode_cursor, encode_cursor};

use crate::quarantine::Table;
use crate::rows::{active_rules_column, int_col, parse_id, shipment_key, text_col, RawShipment};
use crate::{Ctx, SqliteStore};

impl SqliteStore {
    pub(crate) fn get(&self, id: &ShipmentId) -> Result<Option<Shipment>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare_cached(
                "SELECT carrier, tracking_number, version, data, rowid FROM shipments
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
        let Some(raw) = raw else { return Ok(None) };
        let rowid = raw.rowid;
        raw.decode().map(Some).inspect_err(|e| {
            self.set_aside(Table::Shipments, rowid, e);
        })
    }

    pub(crate) fn put(&self, shipment: &Shipment) -> Result<u64, StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .ctx("begin put_shipment")?;
        let version = Self::put_in(&tx, shipment)?;
        tx.commit().ctx("commit put_shipment")?;
        Ok(version)
    }

    /// The version-checked write inside the caller's write transaction (so that
    /// a check's shipment and alert records commit together).
    pub(crate) fn put_in(
        tx: &rusqlite::Transaction<'_>,
        shipment: &Shipment,
    ) -> Result<u64, StoreError> {
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
        let before = crate::counters::stored_tally(tx, id)?;
        let next_check_at = shipment.next_check_at.map(|t| t.timestamp_millis());
        let registered_at = shipment.registered_at.timestamp_millis();
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
                             registered_at = ?6, active_rules = ?7, data = ?8, unreadable = NULL
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
        crate::counters::count(tx, shipment, &before)?;
        Ok(new_version)
    }

    pub(crate) fn due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ShipmentId>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = self.lock();
        let mut st = conn
            .prepare_cached(
                "SELECT carrier, tracking_number, rowid FROM shipments
                 WHERE next_check_at IS NOT NULL AND next_check_at <= ?1
                 ORDER BY next_check_at, carrier, tracking_number
                 LIMIT ?2",
            )
            .ctx("due shipments")?;
        let rows = st
            .query_map(params![now.timestamp_millis(), limit], |r| {
                Ok((text_col(r, 0)?, text_col(r, 1)?, r.get::<_, i64>(2)?))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx("due shipments")?;
        drop(st);
        drop(conn);
        let mut out = Vec::with_capacity(rows.len());
        for (c, t, rowid) in rows {
            match parse_id(c.as_deref(), t.as_deref()) {
                Ok(id) => out.push(id),
                Err(e) => self.set_aside(Table::Shipments, rowid, &e),
            }
        }
        Ok(out)
    }

    pub(crate) fn list(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        let after = cursor.map(decode_cursor).transpose()?;
        // A page of 0 could never advance; treat it as 1.
        let limit = limit.max(1);

        let mut sql = String::from(
            "SELECT carrier, tracking_number, version, data, rowid FROM shipments WHERE 1 = 1",
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
        if filter.alerting {
            sql.push_str(" AND active_rules <> ','");
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
        // The cursor is the last row's key, readable or not.
        let last = rows
            .last()
            .and_then(|r| parse_id(r.carrier.as_deref(), r.tracking.as_deref()).ok());
        let (items, unreadable) = self.decode_shipments(rows);
        let next = if more {
            last.or_else(|| items.last().map(|s| s.id.clone()))
                .map(|id| encode_cursor(&id))
        } else {
            None
        };
        Ok(Page {
            items,
            next,
            unreadable,
        })
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use shared::domain::Shipment;
    use shared::ports::{
        DueIndex, ListFilter, ShipmentQuery, ShipmentReader, ShipmentWriter, StoreError,
    };

    use crate::tests::{sid, t0};
    use crate::SqliteStore;

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
