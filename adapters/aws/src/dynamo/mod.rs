//! The [`Store`](shared::ports::Store) on one DynamoDB table (on demand).
//!
//! # Items
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | shipment | `SHIP#{carrier}#{number}` | `SHIP` | `doc` (the shipment, JSON), `version`, `carrier`, `number`, `status`, `active_rules` (string set, absent when none), `due_shard` + `due_key` (only while a check is scheduled), `expires_at` (TTL, only once terminal), `tally` (what it adds to the counters), `problem_shard` + `problem_key` (only while it has an active problem) |
//! | alert record | `SHIP#{carrier}#{number}` | `ALERT#{rule}#{since ms}#{kind}#{seq}` | `doc`, `alert_day`, `alert_at`, `outbox_shard` + `outbox_key` (only while pending delivery), `lease_owner` (the last delivery lease holder) |
//! | carrier registry | `META` | `CARRIERS` | `codes` (string set of every carrier ever stored) |
//! | fleet and day counters | `COUNT#{shard}` | `FLEET`, `DAY#{date}` | one number per counter (see `counters.rs`) |
//! | lane counters | `LANE#{lane}#{shard}` | `WEEK#{iso week}` | what delivered parcels teach their lane that week (see `counters.rs`) |
//! | counting caught up | `META` | `COUNTED` | `cursor_pk` + `cursor_sk` (where the walk of shipments stored before the counters stands), then `done` (see `backfill.rs`) |
//! | removal counted out | `META` | `FORGOTTEN#{stream record id}` | `expires_at`: a shipment item's removal, seen on the stream, was taken out of the counters (see `stream.rs`) |
//! | query budget | `BUDGET#{provider}` | `DAY#{date}` | `used`, `deferred`, `short_since`, `warned`, `expires_at`: the daily query budget's count (see `budget.rs`) |
//! | unreadable registry | `META` | `UNREADABLE#{pk}#{sk}` | `name`, `reason`: an item that did not decode, set aside (see `quarantine.rs`); the item itself keeps its `doc`, gains `unreadable` and loses its due or outbox attributes |
//!
//! # Indexes (all global, sparse where it matters)
//!
//! - `due-index` (`due_shard`, `due_key`), keys only: "what is due" is one Query per
//!   shard (`due_key <= now`), never a Scan. A shipment's shard is a stable hash of
//!   its identity over [`DUE_SHARDS`] partitions, so no partition is hot however
//!   many parcels fall due at once. `due_key` = `{next_check_at ms, 15 digits}#
//!   {carrier}#{number}` sorts by time, then identity, as the contract requires.
//!   Finished parcels carry no `due_shard` and so are not in the index at all.
//! - `carrier-index` (`carrier`, `number`), with `status` and `active_rules`:
//!   listing in identity order is a Query per carrier (carriers from the registry,
//!   in order), filters applied by DynamoDB, documents fetched by BatchGetItem (at
//!   most 100 keys a call; unprocessed keys retried).
//! - `alert-time-index` (`alert_day`, `alert_at`), all attributes: the alert log by
//!   time, one partition per UTC day.
//! - `problem-index` (`problem_shard`, `problem_key`), all attributes: shipments
//!   with an active problem, oldest problem first (`counters.rs`).
//! - `outbox-index` (`outbox_shard`, `outbox_key`), all attributes: alert records
//!   not yet delivered, sharded like the due index; `outbox_key` =
//!   `{free at ms, 15 digits}#{pk}#{sk}`, where "free at" is the record's delivery
//!   time or the end of the lease on it. Marking a record delivered removes the
//!   two attributes, so the index holds only what is still to send.
//!
//! # Writes
//!
//! A shipment write alone is a conditional PutItem on `version`
//! (`attribute_not_exists` for a new one), or, when it changes the fleet's
//! counters, a TransactWriteItems of that Put and the counters' `ADD`s. A check that claims alert records
//! writes the shipment and the records in one TransactWriteItems (the version
//! condition, and insert-if-absent on each record), so a crash between them is
//! impossible: either the new alert state and its claims are stored, or neither
//! (a record already stored cancels the transaction with its reason, and the
//! transaction is sent again without it). A delivery lease moves a pending
//! record's `outbox_key` to the lease's end with a condition on the old key, so
//! it leaves every deliverer's pending query until then; `lease_owner` names the
//! holder. Terminal parcels get `expires_at` = last event +
//! retention (`RETENTION_DAYS`, default 90), computed as a pure value
//! ([`expires_at`]) since the emulator does not expire items. The table's stream
//! (`OLD_IMAGE`) tells the scheduler each removed shipment item, whose tally it
//! takes out of the counters (`stream.rs`).
//!
//! # Layout
//!
//! - this file: the store — the table's definition ([`DynamoStore::create_table`])
//!   and the port implementations, with their queries and conditional writes;
//! - `item.rs`: the item mapping — keys, shards and sort keys, and the encoding of
//!   shipments and alert records to and from items;
//! - `quarantine.rs`: unreadable items set aside where they are found, and named;
//! - `counters.rs`: the fleet's counters (kept in each shipment write's
//!   transaction) and the problem index;
//! - `stream.rs`: the table's stream: removed shipments counted out;
//! - `backfill.rs`: shipments stored before the counters were kept, counted;
//! - `budget.rs`: the daily query budget's counts.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Duration, NaiveDate, Utc};

use shared::budget::BudgetDay;
use shared::domain::AlertRecord;
use shared::domain::{Shipment, ShipmentId};
use shared::normalise::carriers;
use shared::ports::{
    AlertLog, Committed, DueIndex, LaneQuery, Lease, ListFilter, Page, QueryBudget, ShipmentQuery,
    ShipmentReader, ShipmentWriter, StoreError, Unreadable,
};
use shared::store::{alert_order, decode_cursor, encode_cursor};
use shared::tally::Tally;

mod backfill;
mod budget;
mod counters;
mod item;
mod quarantine;
pub mod stream;

pub use backfill::Catchup;
pub use counters::{Removed, COUNTER_SHARDS, PROBLEM_INDEX, PROBLEM_SHARDS};

use item::{
    alert_item, alert_sk, corrupt, decode_alert, id_from_pk, ms, n, outbox_key, s, text, Item,
};
pub use item::{due_shard, expires_at, outbox_shard, shipment_pk};
use quarantine::Index;

/// Partitions of the due index.
pub const DUE_SHARDS: u32 = 16;
pub const DUE_INDEX: &str = "due-index";
pub const CARRIER_INDEX: &str = "carrier-index";
pub const ALERT_INDEX: &str = "alert-time-index";
pub const OUTBOX_INDEX: &str = "outbox-index";

/// Every attribute an UpdateItem of this store names, besides the key: the carrier
/// registry's `codes`, what counting a shipment stored before the counters sets
/// (`backfill.rs`), the outbox and lease attributes, and what setting an item
/// aside changes. (The counters' and the query budget's updates are allowed
/// by partition instead: `COUNT#*`, `LANE#*`, `BUDGET#*`.) The template lets each
/// function's UpdateItem touch exactly these
/// (IAM `dynamodb:Attributes`, checked by `infra/template_test.py`), so an update
/// naming another attribute would be refused in AWS, though not by the emulator:
/// the test below keeps the list and the code's update expressions together.
pub const UPDATED_ATTRIBUTES: [&str; 10] = [
    "codes",
    "tally",
    "problem_shard",
    "problem_key",
    "outbox_shard",
    "outbox_key",
    "lease_owner",
    "unreadable",
    "due_shard",
    "due_key",
];
/// BatchGetItem's limit of keys per call.
const BATCH_GET: usize = 100;

/// The shipments and alert records of one table.
#[derive(Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    retention: Duration,
    /// Carriers known to be in the registry (saves a write per new shipment).
    registered_carriers: Mutex<BTreeSet<String>>,
    /// Every shipment stored before the counters were kept has been counted
    /// (`backfill.rs`; saves a read per tick).
    caught_up: std::sync::atomic::AtomicBool,
}

fn backend<E>(op: &str, e: E) -> StoreError
where
    E: std::error::Error + 'static,
{
    StoreError::Backend(format!("{op}: {}", DisplayErrorContext(e)))
}

/// The answer of a conditional write: `true` when it was made, `false` when its
/// condition did not hold (an answer, not a failure).
fn condition_held<T, E, R>(op: &str, result: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(backend(op, e)),
    }
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retention: Duration::days(90),
            registered_carriers: Mutex::new(BTreeSet::new()),
            caught_up: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// How long terminal parcels are kept (`RETENTION_DAYS`).
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table with its indexes and TTL, as `template.yaml` declares it
    /// (tests and local setups; the stack creates the real one).
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| backend("CreateTable", e))
        };
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| backend("CreateTable", e))
        };
        let gsi = |name: &str, hash: &str, range: &str, projection: Projection| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key(range, KeyType::Range)?)
                .projection(projection)
                .build()
                .map_err(|e| backend("CreateTable", e))
        };
        let mut req = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?);
        for a in [
            "pk",
            "sk",
            "due_shard",
            "due_key",
            "carrier",
            "number",
            "alert_day",
            "alert_at",
            "outbox_shard",
            "outbox_key",
            "problem_shard",
            "problem_key",
        ] {
            req = req.attribute_definitions(attr(a)?);
        }
        req = req
            .global_secondary_indexes(gsi(
                DUE_INDEX,
                "due_shard",
                "due_key",
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )?)
            .global_secondary_indexes(gsi(
                CARRIER_INDEX,
                "carrier",
                "number",
                Projection::builder()
                    .projection_type(ProjectionType::Include)
                    .non_key_attributes("status")
                    .non_key_attributes("active_rules")
                    .build(),
            )?)
            .global_secondary_indexes(gsi(
                ALERT_INDEX,
                "alert_day",
                "alert_at",
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )?)
            .global_secondary_indexes(gsi(
                OUTBOX_INDEX,
                "outbox_shard",
                "outbox_key",
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )?)
            .global_secondary_indexes(gsi(
                PROBLEM_INDEX,
                "problem_shard",
                "problem_key",
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )?)
            // Removals (TTL, or by hand) reach the counters through the stream.
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::OldImage)
                    .build()
                    .map_err(|e| backend("CreateTable", e))?,
            );
        req.send().await.map_err(|e| backend("CreateTable", e))?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .map_err(|e| backend("UpdateTimeToLive", e))?,
            )
            .send()
            .await
            .map_err(|e| backend("UpdateTimeToLive", e))?;
        Ok(())
    }

    /// The stored version of a shipment and the tally stored with it, read
    /// consistently (`None` if it is not stored; an empty tally if it was stored
    /// before it was counted).
    async fn stored(&self, id: &ShipmentId) -> Result<Option<(u64, Tally)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(shipment_pk(id)))
            .key("sk", s("SHIP"))
            .projection_expression("version, tally")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        Ok(out.item().map(|item| {
            let version = item
                .get("version")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            (version, Tally::from_json(text(item, "tally")))
        }))
    }

    /// Adds the carrier to the registry the listing walks (once per process and
    /// carrier; idempotent).
    async fn register_carrier(&self, carrier: &str) -> Result<(), StoreError> {
        if self
            .registered_carriers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(carrier)
        {
            return Ok(());
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s("META"))
            .key("sk", s("CARRIERS"))
            .update_expression("ADD codes :c")
            .expression_attribute_values(":c", AttributeValue::Ss(vec![carrier.to_string()]))
            .send()
            .await
            .map_err(|e| backend("UpdateItem", e))?;
        self.registered_carriers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(carrier.to_string());
        Ok(())
    }

    /// Every carrier that may have shipments: the registry, plus the built-in
    /// carrier table (so a crash between a first insert and its registry update
    /// hides nothing of the common carriers).
    async fn carriers(&self) -> Result<Vec<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s("META"))
            .key("sk", s("CARRIERS"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        let mut set: BTreeSet<String> = carriers::codes().map(str::to_string).collect();
        if let Some(AttributeValue::Ss(codes)) = out.item().and_then(|i| i.get("codes")) {
            set.extend(codes.iter().cloned());
        }
        Ok(set.into_iter().collect())
    }

    /// Fetches shipment items by partition key, keyed by it.
    async fn batch_get(&self, pks: &[String]) -> Result<HashMap<String, Item>, StoreError> {
        let keys = pks
            .iter()
            .map(|pk| HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s("SHIP"))]))
            .collect();
        let mut found = HashMap::new();
        for item in self.batch_get_items(keys).await? {
            if let Some(pk) = text(&item, "pk") {
                found.insert(pk.to_string(), item);
            }
        }
        Ok(found)
    }

    /// Fetches full items by key (`pk` and `sk`), 100 keys a call, retrying
    /// unprocessed keys; absent items are left out.
    async fn batch_get_items(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(BATCH_GET) {
            let mut keys: Vec<Item> = chunk.to_vec();
            let mut attempt = 0u32;
            while !keys.is_empty() {
                let ka = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| backend("BatchGetItem", e))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, ka)
                    .send()
                    .await
                    .map_err(|e| backend("BatchGetItem", e))?;
                found.extend(
                    out.responses()
                        .and_then(|r| r.get(&self.table))
                        .into_iter()
                        .flatten()
                        .cloned(),
                );
                keys = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if !keys.is_empty() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Backend(
                            "BatchGetItem: keys still unprocessed after 8 retries".into(),
                        ));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt.min(6)))
                        .await;
                }
            }
        }
        Ok(found)
    }
}

impl ShipmentReader for DynamoStore {
    async fn get_shipment(&self, id: &ShipmentId) -> Result<Option<Shipment>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(shipment_pk(id)))
            .key("sk", s("SHIP"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        match Self::decode_shipment(item) {
            Ok(sh) => Ok(Some(sh)),
            Err(e) => {
                self.set_aside(item, Index::Due, &e).await;
                Err(e)
            }
        }
    }
}

impl ShipmentWriter for DynamoStore {
    async fn put_shipment(&self, shipment: &Shipment) -> Result<u64, StoreError> {
        let counts = self.counts_of(shipment).await?;
        if !counts.is_empty() {
            // The counters change: the write and their update are one transaction.
            let lease = Lease::new("", DateTime::UNIX_EPOCH, Duration::zero());
            return Ok(self.commit(shipment, &[], &lease, &counts).await?.version);
        }
        let next = shipment.version + 1;
        let item = self.shipment_item(shipment, next)?;
        let (cond, values) = version_condition(shipment);
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(cond)
            .set_expression_attribute_values(values);
        if let Err(e) = req.send().await {
            if e.as_service_error()
                .is_some_and(|se| se.is_conditional_check_failed_exception())
            {
                return Err(self.conflict(shipment).await);
            }
            return Err(backend("PutItem", e));
        }
        self.written(shipment).await?;
        Ok(next)
    }
}

/// The condition of a shipment write: the stored version is the one read (or,
/// for a new shipment, there is none).
fn version_condition(
    shipment: &Shipment,
) -> (&'static str, Option<HashMap<String, AttributeValue>>) {
    if shipment.version == 0 {
        ("attribute_not_exists(pk)", None)
    } else {
        (
            "version = :v",
            Some(HashMap::from([(":v".to_string(), n(shipment.version))])),
        )
    }
}

impl DynamoStore {
    /// What writing `shipment` adds to the counters: its tally less the stored
    /// one (read only for a shipment already stored).
    async fn counts_of(&self, shipment: &Shipment) -> Result<Tally, StoreError> {
        let before = if shipment.version == 0 {
            Tally::default()
        } else {
            self.stored(&shipment.id)
                .await?
                .map(|(_, t)| t)
                .unwrap_or_default()
        };
        Ok(Tally::of(shipment).minus(&before))
    }

    async fn conflict(&self, shipment: &Shipment) -> StoreError {
        match self.stored(&shipment.id).await {
            Ok(stored) => StoreError::Conflict {
                id: shipment.id.to_string(),
                expected: shipment.version,
                actual: stored.map(|(version, _)| version),
            },
            Err(e) => e,
        }
    }

    /// After a shipment write: a new shipment's carrier joins the registry.
    async fn written(&self, shipment: &Shipment) -> Result<(), StoreError> {
        if shipment.version == 0 {
            self.register_carrier(shipment.id.carrier.as_str()).await?;
        }
        Ok(())
    }

    /// A check's shipment and alert records in one TransactWriteItems: the
    /// shipment under its version condition, each record insert-if-absent, and
    /// the counters' update (see `counters`). A record already stored cancels
    /// the transaction with its reason; it is not ours, so the transaction is
    /// retried without it. Another transaction on a counter item at the same
    /// moment cancels it too: it is retried after a short pause.
    async fn commit(
        &self,
        shipment: &Shipment,
        records: &[AlertRecord],
        lease: &Lease,
        counts: &Tally,
    ) -> Result<Committed, StoreError> {
        let next = shipment.version + 1;
        let mut inserted = vec![true; records.len()];
        let counters = self.counter_updates(&shipment.id, counts)?;
        let mut busy = 0u32;
        loop {
            let (cond, values) = version_condition(shipment);
            let put_shipment = Put::builder()
                .table_name(&self.table)
                .set_item(Some(self.shipment_item(shipment, next)?))
                .condition_expression(cond)
                .set_expression_attribute_values(values)
                .build()
                .map_err(|e| backend("TransactWriteItems", e))?;
            let mut items = vec![TransactWriteItem::builder().put(put_shipment).build()];
            let mut sent = Vec::new();
            for (i, r) in records.iter().enumerate().filter(|(i, _)| inserted[*i]) {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(alert_item(r, lease.free_at(r), Some(&lease.owner))?))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(|e| backend("TransactWriteItems", e))?;
                items.push(TransactWriteItem::builder().put(put).build());
                sent.push(i);
            }
            items.extend(counters.iter().cloned());
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let err = match result {
                Ok(_) => {
                    self.written(shipment).await?;
                    return Ok(Committed {
                        version: next,
                        inserted,
                    });
                }
                Err(e) => e,
            };
            let reasons: Vec<Option<String>> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().map(str::to_string))
                    .collect(),
                _ => return Err(backend("TransactWriteItems", err)),
            };
            let failed = |code: &Option<String>| code.as_deref() == Some("ConditionalCheckFailed");
            match reasons.first() {
                Some(code) if failed(code) => return Err(self.conflict(shipment).await),
                // Another transaction on the same items: as a version race, the
                // caller reloads and redoes.
                Some(Some(code)) if code == "TransactionConflict" => {
                    return Err(self.conflict(shipment).await)
                }
                _ => {}
            }
            let taken: Vec<usize> = reasons
                .iter()
                .skip(1)
                .zip(&sent)
                .filter(|(code, _)| failed(code))
                .map(|(_, i)| *i)
                .collect();
            let counters_busy = reasons
                .iter()
                .skip(1 + sent.len())
                .any(|code| code.as_deref() == Some("TransactionConflict"));
            if taken.is_empty() {
                if counters_busy && busy < 6 {
                    busy += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10 << busy)).await;
                    continue;
                }
                return Err(backend("TransactWriteItems", err));
            }
            for i in taken {
                inserted[i] = false;
            }
        }
    }
}

impl DueIndex for DynamoStore {
    async fn due_shipments(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ShipmentId>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Everything due at `now`: due_key <= "{now ms}#~" ('~' sorts after any
        // identity character).
        let upper = format!("{:015}#~", ms(now));
        let mut keys: Vec<(String, Item)> = Vec::new();
        for shard in 0..DUE_SHARDS {
            let shard = format!("due#{shard:02}");
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(DUE_INDEX)
                .key_condition_expression("due_shard = :s AND due_key <= :u")
                .expression_attribute_values(":s", s(&shard))
                .expression_attribute_values(":u", s(&upper))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX));
            for item in first_items(query, limit).await? {
                if let Some(k) = text(&item, "due_key") {
                    keys.push((k.to_string(), item));
                }
            }
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        keys.truncate(limit);
        let mut out = Vec::with_capacity(keys.len());
        for (k, item) in &keys {
            let mut parts = k.splitn(3, '#');
            let (_, carrier, number) = (parts.next(), parts.next(), parts.next());
            match carrier
                .zip(number)
                .and_then(|(c, n)| ShipmentId::parse(c, n).ok())
            {
                Some(id) => out.push(id),
                None => {
                    let key = text(item, "pk").unwrap_or(k);
                    self.set_aside(item, Index::Due, &corrupt(key, "bad due_key"))
                        .await;
                }
            }
        }
        Ok(out)
    }
}

impl AlertLog for DynamoStore {
    async fn insert_alert_if_absent(&self, record: &AlertRecord) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(alert_item(record, record.deliver_at(), None)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        condition_held("PutItem alert", result)
    }

    async fn commit_check(
        &self,
        shipment: &Shipment,
        records: &[AlertRecord],
        lease: &Lease,
    ) -> Result<Committed, StoreError> {
        if records.is_empty() {
            let version = self.put_shipment(shipment).await?;
            return Ok(Committed {
                version,
                inserted: Vec::new(),
            });
        }
        let counts = self.counts_of(shipment).await?;
        self.commit(shipment, records, lease, &counts).await
    }

    async fn take_lease(
        &self,
        record: &AlertRecord,
        due_by: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<bool, StoreError> {
        if record.deliver_at() > due_by {
            return Ok(false);
        }
        let pk = shipment_pk(&record.shipment);
        let sk = alert_sk(record);
        // The outbox key sorts by the time the record is free: moving it to the
        // lease's end takes the record out of everyone's pending query until then.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s(&sk))
            .update_expression("SET outbox_key = :k, lease_owner = :o")
            .condition_expression("attribute_exists(outbox_key) AND outbox_key <= :u")
            .expression_attribute_values(":k", s(outbox_key(lease.until, &pk, &sk)))
            .expression_attribute_values(":o", s(&lease.owner))
            .expression_attribute_values(":u", s(format!("{:015}#~", ms(due_by))))
            .send()
            .await;
        condition_held("UpdateItem lease", result)
    }

    async fn mark_delivered(&self, record: &AlertRecord) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(shipment_pk(&record.shipment)))
            .key("sk", s(alert_sk(record)))
            .update_expression("REMOVE outbox_shard, outbox_key")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Absent: nothing to mark (and nothing is created).
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(backend("UpdateItem alert", e)),
        }
    }

    async fn pending_alerts(
        &self,
        due_by: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let upper = format!("{:015}#~", ms(due_by));
        let mut found: Vec<(String, AlertRecord)> = Vec::new();
        for shard in 0..DUE_SHARDS {
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OUTBOX_INDEX)
                .key_condition_expression("outbox_shard = :s AND outbox_key <= :u")
                .expression_attribute_values(":s", s(format!("outbox#{shard:02}")))
                .expression_attribute_values(":u", s(&upper))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX));
            for item in first_items(query, limit).await? {
                let key = text(&item, "outbox_key").unwrap_or_default().to_string();
                match decode_alert(&item) {
                    Ok(r) => found.push((key, r)),
                    // Out of the outbox from now on; this batch is one short.
                    Err(e) => self.set_aside(&item, Index::Outbox, &e).await,
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| r.deliver_at() <= due_by)
            .take(limit)
            .collect())
    }

    async fn alerts_for(&self, id: &ShipmentId) -> Result<Vec<AlertRecord>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :a)")
            .expression_attribute_values(":p", s(shipment_pk(id)))
            .expression_attribute_values(":a", s("ALERT#"))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| backend("Query alerts", e))?;
        let mut out = self.readable_alerts(&items).await;
        out.sort_by(alert_order);
        Ok(out)
    }

    async fn alerts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        if to <= from {
            return Ok(Vec::new());
        }
        let last = to - Duration::milliseconds(1);
        if (last.date_naive() - from.date_naive()).num_days() > 400 {
            return Err(StoreError::Backend(
                "alerts_between: ranges longer than 400 days are not served".into(),
            ));
        }
        let lo = format!("{:015}", ms(from));
        let hi = format!("{:015}#~", ms(last));
        let mut out = Vec::new();
        let mut day = from.date_naive();
        while day <= last.date_naive() {
            let items = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(ALERT_INDEX)
                .key_condition_expression("alert_day = :d AND alert_at BETWEEN :lo AND :hi")
                .expression_attribute_values(
                    ":d",
                    s(format!("ALERTDAY#{}", day.format("%Y-%m-%d"))),
                )
                .expression_attribute_values(":lo", s(&lo))
                .expression_attribute_values(":hi", s(&hi))
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| backend("Query alert-time-index", e))?;
            out.extend(self.readable_alerts(&items).await);
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
        out.retain(|r| r.at >= from && r.at < to);
        out.sort_by(alert_order);
        Ok(out)
    }
}

/// The first `limit` items of a query, following its pages as needed.
async fn first_items(
    query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    limit: usize,
) -> Result<Vec<Item>, StoreError> {
    let index = query.get_index_name().clone().unwrap_or_default();
    let mut items = query.into_paginator().items().send();
    let mut out = Vec::new();
    while out.len() < limit {
        match items.try_next().await {
            Ok(Some(item)) => out.push(item),
            Ok(None) => break,
            Err(e) => return Err(backend(&format!("Query {index}"), e)),
        }
    }
    Ok(out)
}

impl LaneQuery for DynamoStore {
    async fn lane_counts(&self, lanes: &[String], weeks: &[String]) -> Result<Tally, StoreError> {
        self.read_lanes(lanes, weeks).await
    }
}

impl QueryBudget for DynamoStore {
    async fn take_query(
        &self,
        provider: &str,
        day: NaiveDate,
        cap: u32,
    ) -> Result<bool, StoreError> {
        self.take_budget(provider, day, cap).await
    }

    async fn defer_query(
        &self,
        provider: &str,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<BudgetDay, StoreError> {
        self.defer_budget(provider, day, now).await
    }

    async fn claim_budget_warning(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> Result<bool, StoreError> {
        self.claim_budget(provider, day).await
    }

    async fn budget_day(&self, provider: &str, day: NaiveDate) -> Result<BudgetDay, StoreError> {
        self.read_budget(provider, day).await
    }
}

impl ShipmentQuery for DynamoStore {
    async fn list_shipments(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.max(1);
        let carriers: Vec<String> = match &filter.carrier {
            Some(c) => vec![c.as_str().to_string()],
            None => self.carriers().await?,
        };
        // Matching keys in identity order; one more than a page tells whether
        // another page exists.
        let mut pks: Vec<String> = Vec::new();
        'carriers: for carrier in carriers {
            if let Some(a) = &after {
                if carrier.as_str() < a.carrier.as_str() {
                    continue;
                }
            }
            let mut start: Option<Item> = None;
            loop {
                let mut q = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(CARRIER_INDEX)
                    .expression_attribute_values(":c", s(&carrier))
                    .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
                    .set_exclusive_start_key(start.take());
                q = match &after {
                    Some(a) if a.carrier.as_str() == carrier => q
                        .key_condition_expression("carrier = :c AND #n > :after")
                        .expression_attribute_names("#n", "number")
                        .expression_attribute_values(":after", s(a.tracking_number.as_str())),
                    _ => q.key_condition_expression("carrier = :c"),
                };
                let mut filters = Vec::new();
                if let Some(st) = filter.status {
                    filters.push("#st = :st");
                    q = q
                        .expression_attribute_names("#st", "status")
                        .expression_attribute_values(":st", s(st.as_str()));
                }
                if let Some(r) = filter.rule {
                    filters.push("contains(active_rules, :r)");
                    q = q.expression_attribute_values(":r", s(r.as_str()));
                }
                if filter.alerting {
                    filters.push("attribute_exists(active_rules)");
                }
                if !filters.is_empty() {
                    q = q.filter_expression(filters.join(" AND "));
                }
                let page = q
                    .send()
                    .await
                    .map_err(|e| backend("Query carrier-index", e))?;
                for item in page.items() {
                    if let Some(pk) = text(item, "pk") {
                        pks.push(pk.to_string());
                        if pks.len() > limit {
                            break 'carriers;
                        }
                    }
                }
                match page.last_evaluated_key() {
                    Some(k) => start = Some(k.clone()),
                    None => break,
                }
            }
        }
        let more = pks.len() > limit;
        pks.truncate(limit);
        let mut items = self.batch_get(&pks).await?;
        let mut out = Vec::with_capacity(pks.len());
        let mut unreadable = Vec::new();
        for pk in &pks {
            // Gone since the index was read (never deleted today): skip.
            if let Some(item) = items.remove(pk) {
                match Self::decode_shipment(&item) {
                    Ok(sh) => out.push(sh),
                    Err(e) => {
                        self.set_aside(&item, Index::Due, &e).await;
                        if let StoreError::Corrupt { key, reason } = e {
                            unreadable.push(Unreadable::new(key, reason));
                        }
                    }
                }
            }
        }
        let next = if more {
            pks.last()
                .and_then(|pk| id_from_pk(pk))
                .map(|id| encode_cursor(&id))
        } else {
            None
        };
        Ok(Page {
            items: out,
            next,
            unreadable,
        })
    }

    async fn unreadable(&self, limit: usize) -> Result<Vec<Unreadable>, StoreError> {
        self.unreadable_items(limit).await
    }

    async fn tally(&self, from: NaiveDate, to: NaiveDate) -> Result<Tally, StoreError> {
        self.read_tally(from, to).await
    }

    async fn problem_shipments(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        self.problem_page(cursor, limit).await
    }
}

impl DynamoStore {
    /// The records among `items` that decode; the others are set aside.
    async fn readable_alerts(&self, items: &[Item]) -> Vec<AlertRecord> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match decode_alert(item) {
                Ok(r) => out.push(r),
                Err(e) => self.set_aside(item, Index::Outbox, &e).await,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::UPDATED_ATTRIBUTES;

    /// The update expressions written in this store's sources: every string
    /// literal that starts with an update clause.
    fn update_expressions() -> Vec<&'static str> {
        let mut found = Vec::new();
        for source in [
            include_str!("mod.rs"),
            include_str!("quarantine.rs"),
            include_str!("backfill.rs"),
        ] {
            for clause in ["\"SET ", "\"REMOVE ", "\"ADD "] {
                for (at, _) in source.match_indices(clause) {
                    let rest = &source[at + 1..];
                    let literal = &rest[..rest.find('"').unwrap_or(rest.len())];
                    // (Not this test's own clause words.)
                    if literal.trim() != clause.trim_matches(['"', ' ']) {
                        found.push(literal);
                    }
                }
            }
        }
        found
    }

    #[test]
    fn every_updated_attribute_is_one_the_template_allows() {
        let expressions = update_expressions();
        // The registry, the lease, the delivered mark, two ways of setting aside.
        assert!(expressions.len() >= 5, "{expressions:?}");
        for e in &expressions {
            for word in e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
                if word.is_empty()
                    || word.starts_with(':')
                    || ["SET", "REMOVE", "ADD"].contains(&word)
                {
                    continue;
                }
                assert!(
                    UPDATED_ATTRIBUTES.contains(&word),
                    "{word:?} (in {e:?}) is not in UPDATED_ATTRIBUTES: the IAM condition \
                     in template.yaml would refuse it"
                );
            }
        }
    }
}
