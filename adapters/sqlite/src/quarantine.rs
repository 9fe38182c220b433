//! Setting unreadable rows aside. A row that does not decode is marked where it
//! is found (`unreadable` = why) and leaves the due index or the outbox, so it
//! stops no loop, listing, report or delivery; its bytes stay for a human, who
//! finds it with [`SqliteStore::unreadable_rows`] (`sentinel list` names it).

use rusqlite::params;

use shared::ports::{StoreError, Unreadable};

use shared::domain::Shipment;

use crate::rows::{text_col, RawShipment};
use crate::{Ctx, SqliteStore};

/// The table a row was found in.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Table {
    Shipments,
    Alerts,
}

/// The named, clipped form of a decoding error.
pub(crate) fn unreadable_of(e: StoreError) -> Unreadable {
    match e {
        StoreError::Corrupt { key, reason } => Unreadable::new(key, reason),
        other => Unreadable::new("?", other.to_string()),
    }
}

impl SqliteStore {
    /// The shipments of `rows` that decode, and the unreadable ones, set aside
    /// and named.
    pub(crate) fn decode_shipments(
        &self,
        rows: impl IntoIterator<Item = RawShipment>,
    ) -> (Vec<Shipment>, Vec<Unreadable>) {
        let mut items = Vec::new();
        let mut unreadable = Vec::new();
        for raw in rows {
            let rowid = raw.rowid;
            match raw.decode() {
                Ok(s) => items.push(s),
                Err(e) => {
                    self.set_aside(Table::Shipments, rowid, &e);
                    unreadable.push(unreadable_of(e));
                }
            }
        }
        (items, unreadable)
    }

    /// Marks row `rowid` of `table` unreadable and takes it out of the due index
    /// (shipments) or the outbox (alerts). Best effort: a failure to mark is
    /// logged, and the row is skipped all the same.
    pub(crate) fn set_aside(&self, table: Table, rowid: i64, error: &StoreError) {
        let u = unreadable_of(error.clone());
        tracing::warn!(item = %u.key, reason = %u.reason,
            "unreadable stored item set aside (skipped from now on; repair or delete it)");
        let sql = match table {
            Table::Shipments => {
                "UPDATE shipments SET next_check_at = NULL, unreadable = ?2 WHERE rowid = ?1"
            }
            Table::Alerts => {
                "UPDATE alerts SET pending_at = NULL, unreadable = ?2 WHERE rowid = ?1"
            }
        };
        let conn = self.lock();
        if let Err(e) = conn
            .prepare_cached(sql)
            .and_then(|mut st| st.execute(params![rowid, u.reason]))
        {
            tracing::error!(item = %u.key, error = %e, "could not set the unreadable item aside");
        }
    }

    /// Up to `limit` rows set aside as unreadable, shipments first.
    pub(crate) fn unreadable_rows(&self, limit: usize) -> Result<Vec<Unreadable>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = self.lock();
        let rows = conn
            .prepare_cached(
                "SELECT 'shipment ' || carrier || ':' || tracking_number, unreadable
                   FROM shipments WHERE unreadable IS NOT NULL
                 UNION ALL
                 SELECT 'alert ' || carrier || ':' || tracking_number || '/' || rule || '/'
                        || since || '/' || kind || '/' || seq, unreadable
                   FROM alerts WHERE unreadable IS NOT NULL
                 LIMIT ?1",
            )
            .and_then(|mut st| {
                st.query_map(params![limit], |r| Ok((text_col(r, 0)?, text_col(r, 1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .ctx("unreadable rows")?;
        Ok(rows
            .into_iter()
            .map(|(k, why)| {
                Unreadable::new(k.unwrap_or_else(|| "?".into()), why.unwrap_or_default())
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use shared::config::Settings;
    use shared::domain::{Shipment, ShipmentId};
    use shared::ports::{
        CarrierError, CarrierQuery, CarrierReply, DueIndex, ShipmentQuery, ShipmentWriter,
    };
    use shared::tracker::{run_due, Tracker};

    use crate::tests::t0;
    use crate::SqliteStore;

    /// Knows nothing about any parcel (yet): every check succeeds.
    struct Silent;

    impl CarrierQuery for Silent {
        fn name(&self) -> &str {
            "silent"
        }
        async fn query(&self, _: &Shipment) -> Result<CarrierReply, CarrierError> {
            Ok(CarrierReply::default())
        }
    }

    #[tokio::test]
    async fn corrupt_rows_at_the_head_of_the_due_queue_do_not_stop_the_tick() {
        let store = SqliteStore::in_memory().unwrap();
        let ids: Vec<ShipmentId> = (0..30)
            .map(|i| ShipmentId::parse("ZTO", &format!("7531000000{i:02}")).unwrap())
            .collect();
        for (i, id) in ids.iter().enumerate() {
            let at = t0() + Duration::minutes(i as i64);
            store
                .put_shipment(&Shipment::new(id.clone(), at))
                .await
                .unwrap();
        }
        // The twelve earliest due are unreadable: more than two batches' worth.
        store
            .lock()
            .execute(
                "UPDATE shipments SET data = 'not json' WHERE tracking_number < '753100000012'",
                [],
            )
            .unwrap();
        let settings = Settings::default();
        let tracker = Tracker::new(&store, &Silent, &settings);
        let now = t0() + Duration::hours(1);
        let stats = run_due(&tracker, now, 5, |_| {}).await.unwrap();
        assert_eq!((stats.checked, stats.failed), (18, 12), "{stats:?}");

        // Set aside: named, no longer due, and the next tick is clean.
        let named = store.unreadable(100).await.unwrap();
        assert_eq!(named.len(), 12, "{named:?}");
        assert!(named
            .iter()
            .all(|u| u.key.starts_with("shipment ZTO:7531000000")));
        assert!(
            store
                .due_shipments(now + Duration::days(30), 100)
                .await
                .unwrap()
                .len()
                == 18
        );
        let again = run_due(&tracker, now, 5, |_| {}).await.unwrap();
        assert_eq!((again.checked, again.failed), (0, 0), "{again:?}");
    }
}
