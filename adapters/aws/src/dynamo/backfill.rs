//! Catching up a table written before the store kept the fleet's counters: its
//! shipment items have no `tally` and no problem-index attributes, so the
//! summary would not count them and the problem queue would not list them until
//! their next write (a finished parcel is never written again).
//!
//! The scheduler walks the table once, a bounded part per tick
//! ([`DynamoStore::count_uncounted`]): a Scan for shipment items without `tally`,
//! and for each one transaction that sets its `tally` and problem-index
//! attributes (on condition that its `version` is still the one read and it is
//! still uncounted) and adds its tally to the counters. A shipment written
//! meanwhile was counted by that write, and the condition leaves it alone, so
//! nothing is counted twice whatever runs at the same time. Where the walk
//! stands is kept in the item `META` / `COUNTED` (`cursor`, then `done`); once
//! done, a tick reads that item only (and, in a warm function, not even that).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use futures_util::stream::{self, StreamExt};

use shared::ports::StoreError;
use shared::tally::Tally;

use super::item::{n, s, text, Item};
use super::{backend, DynamoStore};

/// Shipments counted at once (each is one transaction).
const AT_ONCE: usize = 16;

/// What one call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catchup {
    /// Shipments counted by this call.
    pub counted: u64,
    /// Shipments left alone: written meanwhile (counted by that write), or
    /// unreadable (set aside where they are read).
    pub skipped: u64,
    /// The whole table has been walked.
    pub done: bool,
}

impl DynamoStore {
    /// Counts the shipments stored before the counters were kept, for about
    /// `budget` at most (at least one Scan page of `page` items evaluated),
    /// from where the last call stopped.
    pub async fn count_uncounted(
        &self,
        budget: Duration,
        page: i32,
    ) -> Result<Catchup, StoreError> {
        let mut out = Catchup::default();
        if self.caught_up.load(Ordering::Relaxed) {
            out.done = true;
            return Ok(out);
        }
        let mark = self.catchup_mark().await?;
        let Some(mut cursor) = mark else {
            self.caught_up.store(true, Ordering::Relaxed);
            out.done = true;
            return Ok(out);
        };
        let started = Instant::now();
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :ship AND attribute_not_exists(tally)")
                .expression_attribute_values(":ship", s("SHIP"))
                .limit(page.max(1))
                .consistent_read(true)
                .set_exclusive_start_key(cursor.take())
                .send()
                .await
                .map_err(|e| backend("Scan", e))?;
            cursor = page.last_evaluated_key;
            let results: Vec<Result<bool, StoreError>> =
                stream::iter(page.items.unwrap_or_default())
                    .map(|item| async move { self.count_one(&item).await })
                    .buffer_unordered(AT_ONCE)
                    .collect()
                    .await;
            for result in results {
                if result? {
                    out.counted += 1;
                } else {
                    out.skipped += 1;
                }
            }
            let Some(next) = &cursor else {
                self.save_catchup(None).await?;
                self.caught_up.store(true, Ordering::Relaxed);
                out.done = true;
                return Ok(out);
            };
            if started.elapsed() >= budget {
                self.save_catchup(Some(next)).await?;
                return Ok(out);
            }
        }
    }

    /// Where the walk stands: `None` once done, else the key to go on from
    /// (`Some(None)`: from the start).
    async fn catchup_mark(&self) -> Result<Option<Option<Item>>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s("META"))
            .key("sk", s("COUNTED"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem", e))?;
        let Some(item) = found.item() else {
            return Ok(Some(None));
        };
        if item.contains_key("done") {
            return Ok(None);
        }
        let key = match (text(item, "cursor_pk"), text(item, "cursor_sk")) {
            (Some(pk), Some(sk)) => Some(Item::from([
                ("pk".to_string(), s(pk)),
                ("sk".to_string(), s(sk)),
            ])),
            _ => None,
        };
        Ok(Some(key))
    }

    async fn save_catchup(&self, next: Option<&Item>) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s("META"))
            .item("sk", s("COUNTED"));
        match next {
            Some(key) => {
                for name in ["pk", "sk"] {
                    if let Some(v) = text(key, name) {
                        put = put.item(format!("cursor_{name}"), s(v));
                    }
                }
            }
            None => put = put.item("done", AttributeValue::Bool(true)),
        }
        put.send().await.map_err(|e| backend("PutItem", e))?;
        Ok(())
    }

    /// Counts one uncounted shipment item; `false` if it was left alone.
    async fn count_one(&self, item: &Item) -> Result<bool, StoreError> {
        let Ok(shipment) = Self::decode_shipment(item) else {
            // Unreadable: set aside (and named) by the reads that meet it.
            return Ok(false);
        };
        let tally = Tally::of(&shipment);
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(super::item::shipment_pk(&shipment.id)))
            .key("sk", s("SHIP"))
            .condition_expression("version = :v AND attribute_not_exists(tally)")
            .expression_attribute_values(":v", n(shipment.version))
            .expression_attribute_values(":t", s(tally.to_json()));
        update = match super::counters::problem_index(&shipment) {
            Some((shard, key)) => update
                .update_expression("SET tally = :t, problem_shard = :ps, problem_key = :pk")
                .expression_attribute_values(":ps", s(shard))
                .expression_attribute_values(":pk", s(key)),
            None => update.update_expression("SET tally = :t"),
        };
        let update = update
            .build()
            .map_err(|e| backend("TransactWriteItems", e))?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        items.extend(self.counter_updates(&shipment.id, &tally)?);
        self.transact_counted(items).await
    }
}
