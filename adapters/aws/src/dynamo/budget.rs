//! The daily query budget: one item per provider and China day.
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | query budget | `BUDGET#{provider}` | `DAY#{date}` | `used` (queries taken), `deferred` (checks refused), `short_since` (ms of the first refusal), `warned` (the day's warning claimed), `expires_at` ([`BUDGET_KEPT`] after the day) |
//!
//! A query is taken by one conditional `ADD` (`used < cap`), so trackers running at
//! once never take more than the cap between them; a refused condition is the
//! answer "no". The day's warning is claimed by a conditional `SET`, once. The
//! tracker may update these partitions only (IAM `dynamodb:LeadingKeys`
//! `BUDGET#*`).

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use shared::budget::BudgetDay;
use shared::ports::StoreError;

use super::item::{n, s, Item};
use super::{backend, condition_held, DynamoStore};

/// How long a day's budget item is kept after the day (TTL).
pub const BUDGET_KEPT: chrono::Days = chrono::Days::new(35);

fn key(provider: &str, day: NaiveDate) -> (String, String) {
    (format!("BUDGET#{provider}"), format!("DAY#{day}"))
}

/// The item's expiry: midnight UTC [`BUDGET_KEPT`] after the day.
fn expiry(day: NaiveDate) -> i64 {
    day.checked_add_days(BUDGET_KEPT)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(0, |t| Utc.from_utc_datetime(&t).timestamp())
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn decode(item: &Item) -> BudgetDay {
    let count = |name| number(item, name).and_then(|v| u32::try_from(v).ok());
    BudgetDay {
        used: count("used").unwrap_or(0),
        deferred: count("deferred").unwrap_or(0),
        short_since: number(item, "short_since")
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        warned: item.contains_key("warned"),
    }
}

impl DynamoStore {
    pub(super) async fn take_budget(
        &self,
        provider: &str,
        day: NaiveDate,
        cap: u32,
    ) -> Result<bool, StoreError> {
        if cap == 0 {
            return Ok(false);
        }
        let (pk, sk) = key(provider, day);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("ADD #used :one SET expires_at = :e")
            .condition_expression("attribute_not_exists(#used) OR #used < :cap")
            .expression_attribute_names("#used", "used")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(cap))
            .expression_attribute_values(":e", n(expiry(day)))
            .send()
            .await;
        condition_held("UpdateItem budget", result)
    }

    pub(super) async fn defer_budget(
        &self,
        provider: &str,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<BudgetDay, StoreError> {
        let (pk, sk) = key(provider, day);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression(
                "ADD #deferred :one SET short_since = if_not_exists(short_since, :now), expires_at = :e",
            )
            // DynamoDB reserves the word.
            .expression_attribute_names("#deferred", "deferred")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .expression_attribute_values(":e", n(expiry(day)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| backend("UpdateItem budget", e))?;
        Ok(out.attributes().map(decode).unwrap_or_default())
    }

    pub(super) async fn claim_budget(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = key(provider, day);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("SET #warned = :t, expires_at = :e")
            .condition_expression("attribute_not_exists(#warned)")
            .expression_attribute_names("#warned", "warned")
            .expression_attribute_values(":t", n(1))
            .expression_attribute_values(":e", n(expiry(day)))
            .send()
            .await;
        condition_held("UpdateItem budget", result)
    }

    pub(super) async fn read_budget(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> Result<BudgetDay, StoreError> {
        let (pk, sk) = key(provider, day);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("GetItem budget", e))?;
        Ok(out.item().map(decode).unwrap_or_default())
    }
}
