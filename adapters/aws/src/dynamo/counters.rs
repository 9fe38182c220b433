//! The fleet's counters and the problem index on the table.
//!
//! **Counters.** Each shipment item keeps its own tally (`tally`, JSON; see
//! `shared::tally`). A write whose tally differs from the stored one adds the
//! difference to counter items in the same TransactWriteItems as the shipment
//! (one `ADD` per counter), so the counters are always the sum of the stored
//! shipments, whatever crashes or races. The counters are spread over
//! [`COUNTER_SHARDS`] partitions by the parcel's identity, so that concurrent
//! writers rarely meet on one item:
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | fleet counters | `COUNT#{shard}` | `FLEET` | one number per fleet counter, named as the counter (`status\|ZTO\|Delivered`, …) |
//! | day counters | `COUNT#{shard}` | `DAY#{date}` | one number per counter of that China day (`registered`, `snooze\|{ms}`, …); `expires_at` ([`DAY_KEPT`] after the day) |
//! | lane counters | `LANE#{lane}#{shard}` | `WEEK#{iso week}` | one number per bucket of the lane's sketches that week (`r:line_haul\|105`, …; see `shared::lanes`); `expires_at` ([`LANE_KEPT`] after the week); over [`LANE_SHARDS`] partitions |
//!
//! A summary reads every shard's fleet item and its day items for the days it
//! shows: a fixed number of keys (BatchGetItem, 100 a call), whatever the fleet's
//! size.
//!
//! **Problem index.** A shipment with an active problem carries `problem_shard`
//! (`problem#{0..PROBLEM_SHARDS}`) and `problem_key` (`{oldest active problem's
//! start ms, 15 digits}#{carrier}#{number}`): the sparse `problem-index` GSI
//! (all attributes) lists them oldest first, one Query per shard and page.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::{NaiveDate, TimeZone, Utc};

use shared::domain::{Shipment, ShipmentId};
use shared::ports::{Page, StoreError, Unreadable};
use shared::tally::{decode_problem_cursor, problem_since, Scope, Tally};

use super::item::{hash, n, s, text, Item};
use super::quarantine::Index;
use super::{backend, first_items, DynamoStore};

/// Partitions of the counters.
pub const COUNTER_SHARDS: u32 = 8;
/// Partitions of the problem index.
pub const PROBLEM_SHARDS: u32 = 4;
pub const PROBLEM_INDEX: &str = "problem-index";
/// How long a day's counter item is kept after the day (it expires by TTL).
pub const DAY_KEPT: chrono::Days = chrono::Days::new(62);
/// The attributes of a counter item that are not counters.
const NOT_COUNTERS: [&str; 3] = ["pk", "sk", "expires_at"];

fn counter_pk(id: &ShipmentId) -> String {
    format!("COUNT#{:02}", hash(id) % COUNTER_SHARDS)
}

/// Partitions of each lane's counters (the carrier level is updated by every
/// delivery of that carrier).
pub const LANE_SHARDS: u32 = 4;
/// How long a lane's week item is kept after the week (it expires by TTL; the
/// estimates read the last five weeks).
pub const LANE_KEPT: chrono::Days = chrono::Days::new(63);

fn lane_pk(lane: &str, id: &ShipmentId) -> String {
    format!("LANE#{lane}#{}", hash(id) % LANE_SHARDS)
}

/// The Sunday that ends an ISO week (`2026-W49`).
fn week_end(week: &str) -> Option<NaiveDate> {
    let (year, w) = week.split_once("-W")?;
    NaiveDate::from_isoywd_opt(year.parse().ok()?, w.parse().ok()?, chrono::Weekday::Sun)
}

/// A shipment's problem-index attributes (`problem_shard`, `problem_key`), if it
/// has an active problem.
pub(super) fn problem_index(sh: &Shipment) -> Option<(String, String)> {
    let since = problem_since(sh)?;
    Some((
        format!("problem#{}", hash(&sh.id) % PROBLEM_SHARDS),
        problem_key(since.timestamp_millis(), &sh.id),
    ))
}

fn problem_key(since_ms: i64, id: &ShipmentId) -> String {
    format!(
        "{:015}#{}#{}",
        since_ms.max(0),
        id.carrier,
        id.tracking_number
    )
}

impl DynamoStore {
    /// The updates that add `delta` to the counters of `id`'s shard: one per
    /// counter item touched, for the shipment write's transaction.
    pub(super) fn counter_updates(
        &self,
        id: &ShipmentId,
        delta: &Tally,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items: BTreeMap<(String, String), Vec<(&str, i64)>> = BTreeMap::new();
        let mut expiry: BTreeMap<(String, String), i64> = BTreeMap::new();
        let at_midnight = |d: Option<NaiveDate>| {
            d.and_then(|d| d.and_hms_opt(0, 0, 0))
                .map_or(0, |t| Utc.from_utc_datetime(&t).timestamp())
        };
        for (key, count) in delta.iter() {
            let (item, name) = match Scope::of(key) {
                Scope::Fleet(name) => ((counter_pk(id), "FLEET".to_string()), name),
                Scope::Day { date, name } => {
                    let item = (counter_pk(id), format!("DAY#{date}"));
                    let kept = date
                        .parse::<NaiveDate>()
                        .ok()
                        .and_then(|d| d.checked_add_days(DAY_KEPT));
                    expiry.insert(item.clone(), at_midnight(kept));
                    (item, name)
                }
                Scope::Lane { week, lane, name } => {
                    let item = (lane_pk(lane, id), format!("WEEK#{week}"));
                    expiry.insert(
                        item.clone(),
                        at_midnight(week_end(week).and_then(|d| d.checked_add_days(LANE_KEPT))),
                    );
                    (item, name)
                }
            };
            items.entry(item).or_default().push((name, count));
        }
        let mut out = Vec::with_capacity(items.len());
        for ((pk, sk), counts) in items {
            let mut update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(&pk))
                .key("sk", s(&sk));
            let mut adds = Vec::with_capacity(counts.len());
            for (i, (name, count)) in counts.into_iter().enumerate() {
                adds.push(format!("#c{i} :c{i}"));
                update = update
                    .expression_attribute_names(format!("#c{i}"), name)
                    .expression_attribute_values(format!(":c{i}"), n(count));
            }
            let mut expression = format!("ADD {}", adds.join(", "));
            if let Some(at) = expiry.get(&(pk, sk)) {
                expression = format!("SET expires_at = if_not_exists(expires_at, :e) {expression}");
                update = update.expression_attribute_values(":e", n(*at));
            }
            let update = update
                .update_expression(expression)
                .build()
                .map_err(|e| backend("TransactWriteItems", e))?;
            out.push(TransactWriteItem::builder().update(update).build());
        }
        Ok(out)
    }

    /// The counters of every shard: the fleet items and the day items of
    /// `from..=to`, summed.
    pub(super) async fn read_tally(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Tally, StoreError> {
        if (to - from).num_days() > 400 {
            return Err(StoreError::Backend(
                "tally: ranges longer than 400 days are not served".into(),
            ));
        }
        let mut sks = vec!["FLEET".to_string()];
        let mut day = from;
        while day <= to {
            sks.push(format!("DAY#{day}"));
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        let keys = (0..COUNTER_SHARDS)
            .flat_map(|shard| {
                sks.iter().map(move |sk| {
                    Item::from([
                        ("pk".to_string(), s(format!("COUNT#{shard:02}"))),
                        ("sk".to_string(), s(sk)),
                    ])
                })
            })
            .collect();
        let mut tally = Tally::default();
        for item in self.batch_get_items(keys).await? {
            let day = text(&item, "sk").and_then(|sk| sk.strip_prefix("DAY#"));
            for (name, value) in &item {
                if NOT_COUNTERS.contains(&name.as_str()) {
                    continue;
                }
                let Some(count) = value.as_n().ok().and_then(|v| v.parse::<i64>().ok()) else {
                    continue;
                };
                match day {
                    Some(date) => tally.add_count(&shared::tally::day_key(date, name), count),
                    None => tally.add_count(name, count),
                }
            }
        }
        Ok(tally.within(from, to))
    }

    /// The lane counters of `lanes` in `weeks`: every shard's week item of each,
    /// summed (BatchGetItem; `lanes × weeks × LANE_SHARDS` keys).
    pub(super) async fn read_lanes(
        &self,
        lanes: &[String],
        weeks: &[String],
    ) -> Result<Tally, StoreError> {
        let mut keys = Vec::new();
        for lane in lanes {
            for week in weeks {
                for shard in 0..LANE_SHARDS {
                    keys.push(Item::from([
                        ("pk".to_string(), s(format!("LANE#{lane}#{shard}"))),
                        ("sk".to_string(), s(format!("WEEK#{week}"))),
                    ]));
                }
            }
        }
        let mut tally = Tally::default();
        for item in self.batch_get_items(keys).await? {
            let lane = text(&item, "pk")
                .and_then(|pk| pk.strip_prefix("LANE#"))
                .and_then(|rest| rest.rsplit_once('#'))
                .map(|(lane, _)| lane.to_string());
            let week = text(&item, "sk").and_then(|sk| sk.strip_prefix("WEEK#"));
            let (Some(lane), Some(week)) = (lane, week) else {
                continue;
            };
            for (name, value) in &item {
                if NOT_COUNTERS.contains(&name.as_str()) {
                    continue;
                }
                if let Some(count) = value.as_n().ok().and_then(|v| v.parse::<i64>().ok()) {
                    tally.add_count(&shared::tally::lane_key(week, &lane, name), count);
                }
            }
        }
        Ok(tally)
    }

    /// A page of the problem index: each shard's next keys after the cursor,
    /// merged in key order.
    pub(super) async fn problem_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        let after = cursor
            .map(decode_problem_cursor)
            .transpose()?
            .map(|(since, id)| problem_key(since.timestamp_millis(), &id));
        let limit = limit.clamp(1, 1000);
        let mut found: Vec<(String, Item)> = Vec::new();
        for shard in 0..PROBLEM_SHARDS {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(PROBLEM_INDEX)
                .expression_attribute_values(":s", s(format!("problem#{shard}")))
                .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX));
            query = match &after {
                Some(key) => query
                    .key_condition_expression("problem_shard = :s AND problem_key > :a")
                    .expression_attribute_values(":a", s(key)),
                None => query.key_condition_expression("problem_shard = :s"),
            };
            for item in first_items(query, limit + 1).await? {
                if let Some(key) = text(&item, "problem_key") {
                    found.push((key.to_string(), item));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let more = found.len() > limit;
        found.truncate(limit);
        let next = found.last().filter(|_| more).and_then(|(key, _)| {
            let mut parts = key.splitn(3, '#');
            let since = parts.next()?.parse::<i64>().ok()?;
            let id = ShipmentId::parse(parts.next()?, parts.next()?).ok()?;
            let since = Utc.timestamp_millis_opt(since).single()?;
            Some(shared::tally::encode_problem_cursor(since, &id))
        });
        let mut items = Vec::with_capacity(found.len());
        let mut unreadable = Vec::new();
        for (_, item) in found {
            match Self::decode_shipment(&item) {
                Ok(sh) => items.push(sh),
                Err(e) => {
                    self.set_aside(&item, Index::Due, &e).await;
                    if let StoreError::Corrupt { key, reason } = e {
                        unreadable.push(Unreadable::new(key, reason));
                    }
                }
            }
        }
        Ok(Page {
            items,
            next,
            unreadable,
        })
    }
}

/// A shipment item that left the table without the store (DynamoDB's TTL
/// removes finished parcels `RETENTION_DAYS` after their last event), as the
/// table's stream tells it (`stream::removed`): its key, the stream record that
/// told it (its `eventID`, the same each time Lambda delivers it) and the
/// item's stored tally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    pub pk: String,
    pub record: String,
    pub tally: Tally,
}

/// How long the mark that a removal was counted out is kept (a stream record
/// is redelivered within 24 hours at most: the stream keeps it no longer).
const FORGOTTEN_KEPT: i64 = 7 * 24 * 3600;

impl DynamoStore {
    /// Takes a removed shipment's tally out of the counters, once: the counters'
    /// update and a mark `META` / `FORGOTTEN#{record}` (insert-if-absent) are
    /// one transaction, so a redelivered stream record changes nothing.
    /// Answers whether this call took it out.
    pub async fn forget_removed(
        &self,
        removed: &Removed,
        now: chrono::DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let Some(id) = super::item::id_from_pk(&removed.pk) else {
            return Err(StoreError::Corrupt {
                key: removed.pk.clone(),
                reason: "not a shipment key".into(),
            });
        };
        let delta = Tally::default().minus(&removed.tally);
        if delta.is_empty() {
            return Ok(false);
        }
        let mark = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .item("pk", s("META"))
            .item("sk", s(format!("FORGOTTEN#{}", removed.record)))
            .item("expires_at", n(now.timestamp() + FORGOTTEN_KEPT))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| backend("TransactWriteItems", e))?;
        let mut items = vec![TransactWriteItem::builder().put(mark).build()];
        items.extend(self.counter_updates(&id, &delta)?);
        self.transact_counted(items).await
    }

    /// Sends a transaction of one conditional write and the counters' updates
    /// it carries. `Ok(false)`: the condition failed (done before, or written
    /// meanwhile), nothing changed. Another transaction on the same items at
    /// that moment cancels it: it is sent again after a short pause.
    pub(super) async fn transact_counted(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        let mut busy = 0u32;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(true),
                Err(e) => e,
            };
            let reasons: Vec<Option<String>> = match err.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c)) => c
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_string))
                    .collect(),
                _ => return Err(backend("TransactWriteItems", err)),
            };
            match reasons.first().and_then(Option::as_deref) {
                Some("ConditionalCheckFailed") => return Ok(false),
                _ if busy < 6
                    && reasons
                        .iter()
                        .any(|c| c.as_deref() == Some("TransactionConflict")) =>
                {
                    busy += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10 << busy)).await;
                }
                _ => return Err(backend("TransactWriteItems", err)),
            }
        }
    }
}
