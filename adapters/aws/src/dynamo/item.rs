//! The item mapping of the table: partition and sort keys, the due and outbox
//! shards and sort keys, the expiry time, and the encoding of shipments and alert
//! records to and from DynamoDB items (the layout is in the [module
//! documentation](super)).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use shared::domain::AlertRecord;
use shared::domain::{Shipment, ShipmentId};
use shared::ports::StoreError;
use shared::tally::Tally;

use super::{DynamoStore, DUE_SHARDS};

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis().max(0)
}

/// The partition key of a shipment and its alert records.
pub fn shipment_pk(id: &ShipmentId) -> String {
    format!("SHIP#{}#{}", id.carrier, id.tracking_number)
}

pub(super) fn id_from_pk(pk: &str) -> Option<ShipmentId> {
    let (carrier, number) = pk.strip_prefix("SHIP#")?.split_once('#')?;
    ShipmentId::parse(carrier, number).ok()
}

/// A stable (FNV-1a) hash of an identity: the same on every machine and
/// release, so each sharded index puts a parcel in the same shard for good.
pub(super) fn hash(id: &ShipmentId) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in shipment_pk(id).bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The shard of an identity, `0..DUE_SHARDS`.
fn shard(id: &ShipmentId) -> u32 {
    hash(id) % DUE_SHARDS
}

/// The due-index partition of a shipment.
pub fn due_shard(id: &ShipmentId) -> String {
    format!("due#{:02}", shard(id))
}

/// The outbox-index partition of a shipment's pending alert records.
pub fn outbox_shard(id: &ShipmentId) -> String {
    format!("outbox#{:02}", shard(id))
}

fn due_key(at: DateTime<Utc>, id: &ShipmentId) -> String {
    format!("{:015}#{}#{}", ms(at), id.carrier, id.tracking_number)
}

/// When a terminal shipment's items may expire: its last event (or registration)
/// plus the retention. `None` while it is still moving.
pub fn expires_at(shipment: &Shipment, retention: Duration) -> Option<i64> {
    if !shipment.status.is_terminal() {
        return None;
    }
    let done = shipment
        .timeline
        .last()
        .map_or(shipment.registered_at, |e| e.at);
    Some((done + retention).timestamp())
}

pub(super) fn alert_sk(r: &AlertRecord) -> String {
    format!(
        "ALERT#{}#{:015}#{}#{:010}",
        r.rule.as_str(),
        ms(r.since),
        r.kind.as_str(),
        r.seq
    )
}

pub(super) fn text<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub(super) fn corrupt(key: &str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: key.to_string(),
        reason: reason.into(),
    }
}

impl DynamoStore {
    pub(super) fn shipment_item(&self, sh: &Shipment, version: u64) -> Result<Item, StoreError> {
        let mut doc = sh.clone();
        doc.version = version;
        let json = serde_json::to_string(&doc)
            .map_err(|e| corrupt(&shipment_pk(&sh.id), format!("cannot encode: {e}")))?;
        let mut item: Item = HashMap::from([
            ("pk".to_string(), s(shipment_pk(&sh.id))),
            ("sk".to_string(), s("SHIP")),
            ("doc".to_string(), s(json)),
            ("version".to_string(), n(version)),
            ("carrier".to_string(), s(sh.id.carrier.as_str())),
            ("number".to_string(), s(sh.id.tracking_number.as_str())),
            ("status".to_string(), s(sh.status.as_str())),
        ]);
        let rules: Vec<String> = sh.active_rules().map(|r| r.as_str().to_string()).collect();
        if !rules.is_empty() {
            item.insert("active_rules".into(), AttributeValue::Ss(rules));
        }
        if let Some(at) = sh.next_check_at {
            item.insert("due_shard".into(), s(due_shard(&sh.id)));
            item.insert("due_key".into(), s(due_key(at, &sh.id)));
        }
        if let Some(exp) = expires_at(sh, self.retention) {
            item.insert("expires_at".into(), n(exp));
        }
        item.insert("tally".into(), s(Tally::of(sh).to_json()));
        if let Some((shard, key)) = super::counters::problem_index(sh) {
            item.insert("problem_shard".into(), s(shard));
            item.insert("problem_key".into(), s(key));
        }
        Ok(item)
    }

    pub(super) fn decode_shipment(item: &Item) -> Result<Shipment, StoreError> {
        let key = text(item, "pk").unwrap_or("?");
        let doc = text(item, "doc").ok_or_else(|| corrupt(key, "no doc attribute"))?;
        let mut sh: Shipment =
            serde_json::from_str(doc).map_err(|e| corrupt(key, format!("bad doc: {e}")))?;
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| corrupt(key, "no numeric version"))?;
        sh.version = version;
        Ok(sh)
    }
}

/// The item of a new alert record: pending, free for deliverers at `free_at`
/// (its outbox position), leased to `owner` if given.
pub(super) fn alert_item(
    r: &AlertRecord,
    free_at: DateTime<Utc>,
    owner: Option<&str>,
) -> Result<Item, StoreError> {
    let pk = shipment_pk(&r.shipment);
    let sk = alert_sk(r);
    let doc = serde_json::to_string(r).map_err(|e| corrupt(&sk, e.to_string()))?;
    let mut item: Item = HashMap::from([
        ("doc".to_string(), s(doc)),
        (
            "alert_day".to_string(),
            s(format!("ALERTDAY#{}", r.at.format("%Y-%m-%d"))),
        ),
        (
            "alert_at".to_string(),
            s(format!("{:015}#{pk}#{sk}", ms(r.at))),
        ),
        ("outbox_shard".to_string(), s(outbox_shard(&r.shipment))),
        ("outbox_key".to_string(), s(outbox_key(free_at, &pk, &sk))),
    ]);
    if let Some(o) = owner {
        item.insert("lease_owner".into(), s(o));
    }
    item.insert("pk".into(), s(pk));
    item.insert("sk".into(), s(sk));
    Ok(item)
}

/// The outbox-index sort key of a record free for deliverers at `at`.
pub(super) fn outbox_key(at: DateTime<Utc>, pk: &str, sk: &str) -> String {
    format!("{:015}#{pk}#{sk}", ms(at))
}

pub(super) fn decode_alert(item: &Item) -> Result<AlertRecord, StoreError> {
    let key = format!(
        "{}/{}",
        text(item, "pk").unwrap_or("?"),
        text(item, "sk").unwrap_or("?")
    );
    let key = key.as_str();
    let doc = text(item, "doc").ok_or_else(|| corrupt(key, "no doc attribute"))?;
    serde_json::from_str(doc).map_err(|e| corrupt(key, format!("bad alert doc: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use shared::domain::{Status, TrackingEvent};
    use std::collections::BTreeSet;

    fn id(c: &str, n: &str) -> ShipmentId {
        ShipmentId::parse(c, n).unwrap()
    }

    #[test]
    fn keys_round_trip_and_sort_by_time_then_identity() {
        let a = id("EMS", "EM0000000000009");
        assert_eq!(id_from_pk(&shipment_pk(&a)), Some(a.clone()));
        let t = Utc.with_ymd_and_hms(2024, 11, 11, 8, 0, 0).unwrap();
        let mut keys = [
            due_key(t + Duration::minutes(1), &id("AAA", "AA0000000001")),
            due_key(t, &id("SF", "SF1000000000002")),
            due_key(t, &id("EMS", "EM0000000000009")),
            due_key(t, &id("EMSX", "EM0000000000001")),
        ];
        keys.sort();
        assert!(keys[0].contains("#EMS#"));
        assert!(keys[1].contains("#EMSX#"));
        assert!(keys[2].contains("#SF#"));
        assert!(keys[3].contains("#AAA#"));
    }

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(
            due_shard(&id("SF", "SF1000000000001")),
            due_shard(&id("SF", "SF1000000000001"))
        );
        let used: BTreeSet<String> = (0..2000)
            .map(|i| due_shard(&id("ZTO", &format!("7310{i:010}"))))
            .collect();
        assert_eq!(used.len(), DUE_SHARDS as usize, "every shard used");
    }

    #[test]
    fn only_terminal_shipments_expire() {
        let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        let mut sh = Shipment::new(id("YTO", "YT0000000000001"), t0);
        assert_eq!(expires_at(&sh, Duration::days(90)), None);
        sh.timeline.merge(vec![TrackingEvent {
            at: t0 + Duration::days(2),
            text: "已签收".into(),
            location: None,
            code: None,
            status: Status::Delivered,
            hub: None,
        }]);
        sh.status = sh.timeline.current_status();
        assert_eq!(
            expires_at(&sh, Duration::days(90)),
            Some((t0 + Duration::days(92)).timestamp())
        );
    }
}
