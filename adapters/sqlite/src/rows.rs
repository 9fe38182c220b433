//! The row codec: how shipments, alert records and times are written to columns
//! (the `active_rules` and `since` columns, unix milliseconds) and how rows read
//! back are checked and decoded. A row that does not decode is a
//! [`StoreError::Corrupt`] naming its key, never a panic.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::ValueRef;
use rusqlite::Row;

use shared::domain::{AlertRecord, Shipment, ShipmentId};
use shared::ports::StoreError;

/// `",stalled,hub_dwell,"`: the active rules, comma-delimited on both sides so a
/// rule is matched with `instr(active_rules, ',rule,')`.
pub(crate) fn active_rules_column(s: &Shipment) -> String {
    let mut out = String::from(",");
    for r in s.active_rules() {
        out.push_str(r.as_str());
        out.push(',');
    }
    out
}

/// The `since` key column: RFC 3339 with nanoseconds, exact and sortable.
pub(crate) fn since_column(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn shipment_key(carrier: &str, tracking: &str) -> String {
    format!("shipment {carrier}:{tracking}")
}

/// A column that should be text, as a string (`None` if it is not text).
pub(crate) fn text_col(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<String>> {
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

pub(crate) fn int_col(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<i64>> {
    Ok(match r.get_ref(i)? {
        ValueRef::Integer(n) => Some(n),
        _ => None,
    })
}

pub(crate) fn parse_id(
    carrier: Option<&str>,
    tracking: Option<&str>,
) -> Result<ShipmentId, StoreError> {
    let (c, t) = (carrier.unwrap_or(""), tracking.unwrap_or(""));
    ShipmentId::parse(c, t).map_err(|e| StoreError::Corrupt {
        key: shipment_key(c, t),
        reason: format!("bad key columns: {e}"),
    })
}

/// A shipment row as read, decoded outside the lock.
pub(crate) struct RawShipment {
    /// The row's `rowid` (column 4), to set it aside if it does not decode.
    pub(crate) rowid: i64,
    pub(crate) carrier: Option<String>,
    pub(crate) tracking: Option<String>,
    version: Option<i64>,
    data: Option<Vec<u8>>,
}

impl RawShipment {
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            rowid: r.get(4)?,
            carrier: text_col(r, 0)?,
            tracking: text_col(r, 1)?,
            version: int_col(r, 2)?,
            data: bytes_col(r, 3)?,
        })
    }

    pub(crate) fn decode(self) -> Result<Shipment, StoreError> {
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
pub(crate) struct RawAlert {
    /// The row's `rowid` (column 7), to set it aside if it does not decode.
    pub(crate) rowid: i64,
    key: [Option<String>; 5],
    seq: Option<i64>,
    data: Option<Vec<u8>>,
}

impl RawAlert {
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            rowid: r.get(7)?,
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

    pub(crate) fn decode(self) -> Result<AlertRecord, StoreError> {
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

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use rusqlite::params;
    use rusqlite::types::Value;

    use shared::ports::{
        AlertLog, DueIndex, ListFilter, ShipmentQuery, ShipmentReader, ShipmentWriter,
    };

    use super::*;
    use crate::tests::{sid, t0};
    use crate::SqliteStore;

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
        // A good neighbour, listed and due throughout.
        let neighbour = Shipment::new(sid("SF", "SF9999999999"), t0());
        store.put_shipment(&neighbour).await.unwrap();
        for (tracking, version, data) in cases {
            raw_insert(&store, "SF", tracking, version, data);
            let id = sid("SF", tracking);
            // Listing skips it and names it.
            let list = store
                .list_shipments(&ListFilter::default(), None, 100)
                .await
                .unwrap();
            assert_eq!(
                list.items.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
                vec![neighbour.id.clone()],
                "{tracking}"
            );
            assert_eq!(list.unreadable.len(), 1, "{tracking}: {list:?}");
            assert!(list.unreadable[0].key.contains(tracking), "{list:?}");
            // Reading it is an error naming it...
            match store.get_shipment(&id).await {
                Err(StoreError::Corrupt { key, reason }) => {
                    assert!(key.contains(tracking), "{key}");
                    assert!(!reason.is_empty());
                }
                other => panic!("{tracking}: expected Corrupt, got {other:?}"),
            }
            // ...and it is set aside: never due again, named by `unreadable`.
            let due = store.due_shipments(t0(), 100).await.unwrap();
            assert_eq!(due, vec![neighbour.id.clone()], "{tracking}");
            let named = store.unreadable(10).await.unwrap();
            assert_eq!(named.len(), 1, "{named:?}");
            assert!(named[0].key.contains(tracking), "{named:?}");
            store
                .lock()
                .execute(
                    "DELETE FROM shipments WHERE tracking_number = ?1",
                    [tracking],
                )
                .unwrap();
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
        // Bad key columns in the due query: skipped and set aside, the rest due.
        store
            .lock()
            .execute(
                "DELETE FROM shipments WHERE tracking_number = 'SF1111111111'",
                [],
            )
            .unwrap();
        raw_insert(
            &store,
            "s f",
            "x",
            Value::Integer(1),
            Value::Text("{}".into()),
        );
        assert_eq!(
            store.due_shipments(t0(), 10).await.unwrap(),
            vec![neighbour.id.clone()]
        );
        assert!(store
            .unreadable(10)
            .await
            .unwrap()
            .iter()
            .any(|u| u.key.contains("s f:x")));
        let flagged: i64 = store
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM shipments WHERE next_check_at IS NULL AND unreadable IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(flagged, 1);
    }

    #[tokio::test]
    async fn corrupt_alert_rows_are_skipped_and_set_aside() {
        let store = SqliteStore::in_memory().unwrap();
        let id = sid("ZTO", "ZT1234567890");
        let good = AlertRecord {
            shipment: id.clone(),
            rule: shared::domain::Rule::Stalled,
            since: t0(),
            kind: shared::domain::AlertKind::Fired,
            seq: 0,
            severity: shared::domain::Severity::Warning,
            at: t0(),
            hold_until: None,
        };
        assert!(store.insert_alert_if_absent(&good).await.unwrap());
        // A pending row whose data is not a record, due before the good one.
        store
            .lock()
            .execute(
                "INSERT INTO alerts (carrier, tracking_number, rule, since, kind, seq, severity, at, data, pending_at)
                 VALUES ('ZTO', 'ZT1234567890', 'stalled', 'x', 'fired', 0, 'warning', 0, '{\"oops\":1}', 0)",
                [],
            )
            .unwrap();
        // The outbox delivers past it, and it leaves the outbox.
        let later = t0() + chrono::Duration::hours(1);
        assert_eq!(
            store.pending_alerts(later, 1).await.unwrap(),
            vec![good.clone()]
        );
        let pending: i64 = store
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM alerts WHERE pending_at IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(pending, 1);
        // The other queries skip it; it is named.
        assert_eq!(store.alerts_for(&id).await.unwrap(), vec![good.clone()]);
        assert_eq!(
            store
                .alerts_between(DateTime::UNIX_EPOCH, later)
                .await
                .unwrap(),
            vec![good]
        );
        let named = store.unreadable(10).await.unwrap();
        assert_eq!(named.len(), 1, "{named:?}");
        assert!(
            named[0].key.starts_with("alert ZTO:ZT1234567890/stalled/x"),
            "{named:?}"
        );
    }
}
