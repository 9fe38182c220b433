//! The daily query budget (schema version 6): one `query_budget` row per
//! provider and China day. Each change is one upsert statement, atomic however
//! many processes share the file: a query is taken only while fewer than the cap
//! were taken.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rusqlite::{params, OptionalExtension};

use shared::budget::BudgetDay;
use shared::ports::StoreError;

use crate::{Ctx, SqliteStore};

fn day_column(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn budget_day(row: &rusqlite::Row<'_>) -> rusqlite::Result<BudgetDay> {
    let used: i64 = row.get(0)?;
    let deferred: i64 = row.get(1)?;
    let short_since: Option<i64> = row.get(2)?;
    let warned: i64 = row.get(3)?;
    Ok(BudgetDay {
        used: u32::try_from(used).unwrap_or(0),
        deferred: u32::try_from(deferred).unwrap_or(u32::MAX),
        short_since: short_since.and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        warned: warned != 0,
    })
}

impl SqliteStore {
    pub(crate) fn take_budget(
        &self,
        provider: &str,
        day: NaiveDate,
        cap: u32,
    ) -> Result<bool, StoreError> {
        let conn = self.lock();
        let n = conn
            .prepare_cached(
                "INSERT INTO query_budget (provider, day, used) SELECT ?1, ?2, 1 WHERE ?3 > 0
                 ON CONFLICT (provider, day) DO UPDATE SET used = used + 1 WHERE used < ?3",
            )
            .and_then(|mut st| st.execute(params![provider, day_column(day), i64::from(cap)]))
            .ctx("take a query from the budget")?;
        Ok(n > 0)
    }

    pub(crate) fn defer_budget(
        &self,
        provider: &str,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<BudgetDay, StoreError> {
        let conn = self.lock();
        conn.prepare_cached(
            "INSERT INTO query_budget (provider, day, deferred, short_since) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT (provider, day) DO UPDATE
                SET deferred = deferred + 1, short_since = COALESCE(short_since, ?3)
             RETURNING used, deferred, short_since, warned",
        )
        .and_then(|mut st| {
            st.query_row(
                params![provider, day_column(day), now.timestamp_millis()],
                budget_day,
            )
        })
        .ctx("count a deferred query")
    }

    pub(crate) fn claim_budget(&self, provider: &str, day: NaiveDate) -> Result<bool, StoreError> {
        let conn = self.lock();
        let n = conn
            .prepare_cached(
                "INSERT INTO query_budget (provider, day, warned) VALUES (?1, ?2, 1)
                 ON CONFLICT (provider, day) DO UPDATE SET warned = 1 WHERE warned = 0",
            )
            .and_then(|mut st| st.execute(params![provider, day_column(day)]))
            .ctx("claim the budget warning")?;
        Ok(n > 0)
    }

    pub(crate) fn read_budget(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> Result<BudgetDay, StoreError> {
        let conn = self.lock();
        let d = conn
            .prepare_cached(
                "SELECT used, deferred, short_since, warned FROM query_budget
                 WHERE provider = ?1 AND day = ?2",
            )
            .and_then(|mut st| {
                st.query_row(params![provider, day_column(day)], budget_day)
                    .optional()
            })
            .ctx("read the query budget")?;
        Ok(d.unwrap_or_default())
    }
}
