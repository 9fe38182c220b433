//! The fleet's counters and the problem index (schema version 5): each shipment
//! row keeps its own tally (`tally`, JSON) and its problem key (`problem_at`, unix
//! ms of its oldest active problem's start, NULL when it has none, under the
//! partial index `shipments_problems`); the `counters` table holds the sum of the
//! tallies. A shipment write adds the difference between its new and stored
//! tally in the same transaction, so the summary reads `counters` alone and the
//! problem queue walks the index.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use shared::domain::{Shipment, ShipmentId};
use shared::ports::{Page, StoreError};
use shared::tally::{
    day_key, decode_problem_cursor, encode_problem_cursor, lane_key, problem_since, Tally,
};

use crate::rows::{int_col, parse_id, RawShipment};
use crate::{Ctx, SqliteStore};

/// The tally stored beside a shipment row (nothing for a new shipment, or a row
/// written before counting began and not yet counted).
pub(crate) fn stored_tally(tx: &Transaction<'_>, id: &ShipmentId) -> Result<Tally, StoreError> {
    let raw: Option<Option<String>> = tx
        .prepare_cached("SELECT tally FROM shipments WHERE carrier = ?1 AND tracking_number = ?2")
        .and_then(|mut st| {
            st.query_row(
                params![id.carrier.as_str(), id.tracking_number.as_str()],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
        })
        .ctx("read tally")?;
    Ok(Tally::from_json(raw.flatten().as_deref()))
}

/// Stores a shipment's tally and problem key beside it, and adds what changed to
/// the counters: inside the caller's write transaction.
pub(crate) fn count(
    tx: &Transaction<'_>,
    shipment: &Shipment,
    before: &Tally,
) -> Result<(), StoreError> {
    let id = &shipment.id;
    let after = Tally::of(shipment);
    tx.prepare_cached(
        "UPDATE shipments SET tally = ?3, problem_at = ?4
         WHERE carrier = ?1 AND tracking_number = ?2",
    )
    .and_then(|mut st| {
        st.execute(params![
            id.carrier.as_str(),
            id.tracking_number.as_str(),
            after.to_json(),
            problem_since(shipment).map(|t| t.timestamp_millis()),
        ])
    })
    .ctx("count shipment")?;
    add_counts(tx, &after.minus(before))
}

fn add_counts(tx: &Transaction<'_>, delta: &Tally) -> Result<(), StoreError> {
    for (key, n) in delta.iter() {
        tx.prepare_cached(
            "INSERT INTO counters (key, n) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET n = n + excluded.n",
        )
        .and_then(|mut st| st.execute(params![key, n]))
        .ctx("add counter")?;
        tx.prepare_cached("DELETE FROM counters WHERE key = ?1 AND n = 0")
            .and_then(|mut st| st.execute(params![key]))
            .ctx("drop counter")?;
    }
    Ok(())
}

/// Migration 5's data step: counts every readable stored shipment (one that
/// cannot be read is counted when it is next written whole).
pub(crate) fn count_existing(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let rows = tx
        .prepare("SELECT carrier, tracking_number, version, data, rowid FROM shipments")
        .and_then(|mut st| {
            st.query_map([], RawShipment::from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .ctx("count stored shipments")?;
    for raw in rows {
        if let Ok(s) = raw.decode() {
            count(tx, &s, &Tally::default())?;
        }
    }
    Ok(())
}

impl SqliteStore {
    /// The lane counters of `lanes` in `weeks`: one key range per lane and week.
    pub(crate) fn lane_rows(
        &self,
        lanes: &[String],
        weeks: &[String],
    ) -> Result<Tally, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare_cached("SELECT key, n FROM counters WHERE key >= ?1 AND key < ?2")
            .ctx("read lane counters")?;
        let mut tally = Tally::default();
        for week in weeks {
            for lane in lanes {
                // Names after the lane's own `|` are ASCII, so `~` ends the range.
                let rows = st
                    .query_map(
                        params![lane_key(week, lane, ""), lane_key(week, lane, "~")],
                        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                    )
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .ctx("read lane counters")?;
                for (key, n) in rows {
                    tally.add_count(&key, n);
                }
            }
        }
        Ok(tally)
    }

    pub(crate) fn counters(&self, from: NaiveDate, to: NaiveDate) -> Result<Tally, StoreError> {
        let conn = self.lock();
        let mut st = conn
            // The fleet's counters and the days asked for; never the lanes'
            // (key ranges of the primary key: no scan of the lane rows).
            .prepare_cached(
                "SELECT key, n FROM counters
                 WHERE key < 'day|' OR (key >= ?1 AND key < ?2)
                    OR (key >= 'day}' AND key < 'lane|') OR key >= 'lane}'",
            )
            .ctx("read counters")?;
        let rows = st
            .query_map(
                params![
                    day_key(&from.to_string(), ""),
                    day_key(&to.to_string(), "~")
                ],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
            )
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx("read counters")?;
        let mut tally = Tally::default();
        for (key, n) in rows {
            tally.add_count(&key, n);
        }
        Ok(tally.within(from, to))
    }

    pub(crate) fn problems(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        let after = cursor.map(decode_problem_cursor).transpose()?;
        let limit = limit.max(1);
        let (at, carrier, number) = match &after {
            Some((since, id)) => (
                since.timestamp_millis(),
                id.carrier.as_str().to_string(),
                id.tracking_number.as_str().to_string(),
            ),
            None => (i64::MIN, String::new(), String::new()),
        };
        let conn = self.lock();
        let mut st = conn
            .prepare_cached(
                "SELECT carrier, tracking_number, version, data, rowid, problem_at
                 FROM shipments
                 WHERE problem_at IS NOT NULL
                   AND (problem_at, carrier, tracking_number) > (?1, ?2, ?3)
                 ORDER BY problem_at, carrier, tracking_number
                 LIMIT ?4",
            )
            .ctx("problem index")?;
        let mut rows = st
            .query_map(
                params![
                    at,
                    carrier,
                    number,
                    i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1
                ],
                |r| Ok((RawShipment::from_row(r)?, int_col(r, 5)?)),
            )
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .ctx("problem index")?;
        drop(st);
        drop(conn);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = rows.last().filter(|_| more).and_then(|(raw, at)| {
            let id = parse_id(raw.carrier.as_deref(), raw.tracking.as_deref()).ok()?;
            let since: DateTime<Utc> = Utc.timestamp_millis_opt((*at)?).single()?;
            Some(encode_problem_cursor(since, &id))
        });
        let (items, unreadable) = self.decode_shipments(rows.into_iter().map(|(raw, _)| raw));
        Ok(Page {
            items,
            next,
            unreadable,
        })
    }
}
