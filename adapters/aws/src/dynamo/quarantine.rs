//! Setting unreadable items aside. An item that does not decode is marked where
//! it is found (`unreadable` = why) and taken out of the due index or the outbox
//! (its `due_*` or `outbox_*` attributes removed), so it stops no tick, delivery,
//! listing or report; its `doc` stays for a human. A registry item (`pk` = `META`,
//! `sk` = `UNREADABLE#{pk}#{sk}`) names it for [`ShipmentQuery::unreadable`]
//! without a Scan.
//!
//! [`ShipmentQuery::unreadable`]: shared::ports::ShipmentQuery::unreadable

use shared::ports::{StoreError, Unreadable};

use super::item::{s, text, Item};
use super::{backend, DynamoStore};

const PREFIX: &str = "UNREADABLE#";

/// Where an unreadable item was found.
#[derive(Clone, Copy, Debug)]
pub(super) enum Index {
    Due,
    Outbox,
}

impl DynamoStore {
    /// Marks `item` unreadable because of `error` and takes it out of `index`.
    /// Best effort: a failure is logged, and the item is skipped all the same.
    pub(super) async fn set_aside(&self, item: &Item, index: Index, error: &StoreError) {
        let (Some(pk), Some(sk)) = (text(item, "pk"), text(item, "sk")) else {
            return;
        };
        let u = match error {
            StoreError::Corrupt { key, reason } => Unreadable::new(key.clone(), reason),
            other => Unreadable::new(format!("{pk}/{sk}"), other.to_string()),
        };
        tracing::warn!(item = %u.key, reason = %u.reason,
            "unreadable stored item set aside (skipped from now on; repair or delete it)");
        let update = match index {
            Index::Due => "SET unreadable = :r REMOVE due_shard, due_key",
            Index::Outbox => "SET unreadable = :r REMOVE outbox_shard, outbox_key",
        };
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(update)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":r", s(&u.reason))
            .send()
            .await;
        let named = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s("META"))
            .item("sk", s(format!("{PREFIX}{pk}#{sk}")))
            .item("name", s(&u.key))
            .item("reason", s(&u.reason))
            .send()
            .await;
        if let Err(e) = marked {
            tracing::error!(item = %u.key, error = %backend("UpdateItem (set aside)", e),
                "could not set the unreadable item aside");
        }
        if let Err(e) = named {
            tracing::error!(item = %u.key, error = %backend("PutItem (unreadable registry)", e),
                "could not name the unreadable item");
        }
    }

    /// Up to `limit` items set aside, from the registry.
    pub(super) async fn unreadable_items(
        &self,
        limit: usize,
    ) -> Result<Vec<Unreadable>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :m AND begins_with(sk, :u)")
            .expression_attribute_values(":m", s("META"))
            .expression_attribute_values(":u", s(PREFIX))
            .consistent_read(true);
        let items = super::first_items(query, limit).await?;
        Ok(items
            .iter()
            .map(|i| {
                Unreadable::new(
                    text(i, "name").unwrap_or("?"),
                    text(i, "reason").unwrap_or_default(),
                )
            })
            .collect())
    }
}
