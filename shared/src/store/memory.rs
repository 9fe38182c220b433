//! An in-process [`Store`](crate::ports::Store): the same semantics as the SQLite
//! and DynamoDB stores, kept in ordered maps behind a mutex. For tests, the
//! benchmark and in-process wiring of the functions' handlers.

use super::{alert_order, decode_cursor, encode_cursor};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, Utc};

use crate::budget::BudgetDay;
use crate::domain::{AlertKind, AlertRecord, Rule, Shipment, ShipmentId};
use crate::ports::{
    AlertLog, Committed, DueIndex, LaneQuery, Lease, ListFilter, Page, QueryBudget, ShipmentQuery,
    ShipmentReader, ShipmentWriter, StoreError, Unreadable,
};
use crate::tally::{decode_problem_cursor, encode_problem_cursor, problem_since, Tally};

/// The unique key of an alert record within one shipment.
type AlertKey = (Rule, DateTime<Utc>, AlertKind, u32);

#[derive(Default)]
struct Inner {
    shipments: BTreeMap<ShipmentId, Shipment>,
    /// The due index: (next_check_at, id) for every shipment that has one.
    due: BTreeSet<(DateTime<Utc>, ShipmentId)>,
    alerts: BTreeMap<ShipmentId, BTreeMap<AlertKey, AlertRecord>>,
    /// The outbox: (free_at, shipment, key) of every pending record, where
    /// free_at is when a deliverer may take it (its delivery time, or the end of
    /// the lease on it).
    pending: BTreeSet<(DateTime<Utc>, ShipmentId, AlertKey)>,
    /// The outbox position of every pending record, and its lease holder.
    free_at: BTreeMap<(ShipmentId, AlertKey), (DateTime<Utc>, String)>,
    /// The fleet's counters: the sum of every stored shipment's tally.
    counters: Tally,
    /// The problem index: (oldest active problem's start, id) of every shipment
    /// with an active problem.
    problems: BTreeSet<(DateTime<Utc>, ShipmentId)>,
    /// The query budgets' counts, by provider and China day.
    budgets: BTreeMap<(String, NaiveDate), BudgetDay>,
}

impl Inner {
    /// `provider`'s count of `day`, created empty.
    fn budget(&mut self, provider: &str, day: NaiveDate) -> &mut BudgetDay {
        self.budgets.entry((provider.to_string(), day)).or_default()
    }

    fn insert_alert(&mut self, record: &AlertRecord, free_at: DateTime<Utc>, owner: &str) -> bool {
        let key = alert_key(record);
        let log = self.alerts.entry(record.shipment.clone()).or_default();
        if log.contains_key(&key) {
            return false;
        }
        log.insert(key, record.clone());
        self.pending.insert((free_at, record.shipment.clone(), key));
        self.free_at
            .insert((record.shipment.clone(), key), (free_at, owner.to_string()));
        true
    }
}

fn alert_key(r: &AlertRecord) -> AlertKey {
    (r.rule, r.since, r.kind, r.seq)
}

/// An in-memory store. Cheap to create; everything is lost on drop.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemoryStore")
            .field("shipments", &inner.shipments.len())
            .field(
                "alerts",
                &inner.alerts.values().map(BTreeMap::len).sum::<usize>(),
            )
            .finish()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many shipments are stored.
    pub fn count_shipments(&self) -> Result<u64, StoreError> {
        Ok(self.lock().shipments.len() as u64)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that breaks the invariants below (each write is applied after all checks),
        // so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn put(&self, shipment: &Shipment) -> Result<u64, StoreError> {
        Self::put_locked(&mut self.lock(), shipment)
    }

    /// The version-checked write, under the caller's lock (so that a commit with
    /// alert records is one step).
    fn put_locked(inner: &mut Inner, shipment: &Shipment) -> Result<u64, StoreError> {
        let stored = inner.shipments.get(&shipment.id).map(|s| s.version);
        let ok = match stored {
            None => shipment.version == 0,
            Some(v) => shipment.version != 0 && v == shipment.version,
        };
        if !ok {
            return Err(StoreError::Conflict {
                id: shipment.id.to_string(),
                expected: shipment.version,
                actual: stored,
            });
        }
        let version = shipment
            .version
            .checked_add(1)
            .ok_or_else(|| StoreError::Backend(format!("version overflow on {}", shipment.id)))?;
        let mut copy = shipment.clone();
        copy.version = version;
        let old = inner.shipments.insert(copy.id.clone(), copy);
        let before = old.as_ref().map(Tally::of).unwrap_or_default();
        inner.counters.add(&Tally::of(shipment).minus(&before));
        if let Some(since) = old.as_ref().and_then(problem_since) {
            inner.problems.remove(&(since, shipment.id.clone()));
        }
        if let Some(since) = problem_since(shipment) {
            inner.problems.insert((since, shipment.id.clone()));
        }
        if let Some(at) = old.and_then(|o| o.next_check_at) {
            inner.due.remove(&(at, shipment.id.clone()));
        }
        if let Some(at) = shipment.next_check_at {
            inner.due.insert((at, shipment.id.clone()));
        }
        Ok(version)
    }

    fn list(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        let after = cursor.map(decode_cursor).transpose()?;
        let limit = limit.max(1);
        let inner = self.lock();
        let start = match &after {
            Some(id) => Bound::Excluded(id),
            None => Bound::Unbounded,
        };
        let mut matching = inner
            .shipments
            .range::<ShipmentId, _>((start, Bound::Unbounded))
            .map(|(_, s)| s)
            .filter(|s| matches_filter(s, filter));
        let items: Vec<Shipment> = matching.by_ref().take(limit).cloned().collect();
        let next = if matching.next().is_some() {
            items.last().map(|s| encode_cursor(&s.id))
        } else {
            None
        };
        Ok(Page {
            items,
            next,
            unreadable: Vec::new(),
        })
    }
}

/// Whether a shipment matches every set field of a filter.
pub(crate) fn matches_filter(s: &Shipment, filter: &ListFilter) -> bool {
    filter.status.is_none_or(|st| s.status == st)
        && filter.carrier.as_ref().is_none_or(|c| &s.id.carrier == c)
        && filter.rule.is_none_or(|r| s.active_rules().any(|a| a == r))
        && (!filter.alerting || s.active_rules().next().is_some())
}

impl ShipmentReader for MemoryStore {
    async fn get_shipment(&self, id: &ShipmentId) -> Result<Option<Shipment>, StoreError> {
        Ok(self.lock().shipments.get(id).cloned())
    }
}

impl ShipmentWriter for MemoryStore {
    async fn put_shipment(&self, shipment: &Shipment) -> Result<u64, StoreError> {
        self.put(shipment)
    }
}

impl DueIndex for MemoryStore {
    async fn due_shipments(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ShipmentId>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .map(|(_, id)| id.clone())
            .collect())
    }
}

impl AlertLog for MemoryStore {
    async fn insert_alert_if_absent(&self, record: &AlertRecord) -> Result<bool, StoreError> {
        Ok(self.lock().insert_alert(record, record.deliver_at(), ""))
    }

    async fn commit_check(
        &self,
        shipment: &Shipment,
        records: &[AlertRecord],
        lease: &Lease,
    ) -> Result<Committed, StoreError> {
        let mut inner = self.lock();
        // Every check comes before the first change: the write fails whole.
        let version = Self::put_locked(&mut inner, shipment)?;
        let inserted = records
            .iter()
            .map(|r| inner.insert_alert(r, lease.free_at(r), &lease.owner))
            .collect();
        Ok(Committed { version, inserted })
    }

    async fn take_lease(
        &self,
        record: &AlertRecord,
        due_by: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let slot = (record.shipment.clone(), alert_key(record));
        let Some((free_at, _)) = inner.free_at.get(&slot).cloned() else {
            return Ok(false);
        };
        let stored = inner.alerts.get(&slot.0).and_then(|l| l.get(&slot.1));
        if free_at > due_by || stored.is_none_or(|r| r.deliver_at() > due_by) {
            return Ok(false);
        }
        let until = lease.until;
        inner.pending.remove(&(free_at, slot.0.clone(), slot.1));
        inner.pending.insert((until, slot.0.clone(), slot.1));
        inner.free_at.insert(slot, (until, lease.owner.clone()));
        Ok(true)
    }

    async fn mark_delivered(&self, record: &AlertRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let slot = (record.shipment.clone(), alert_key(record));
        if let Some((free_at, _)) = inner.free_at.remove(&slot) {
            inner.pending.remove(&(free_at, slot.0, slot.1));
        }
        Ok(())
    }

    async fn pending_alerts(
        &self,
        due_by: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .pending
            .iter()
            .take_while(|(at, _, _)| *at <= due_by)
            .filter_map(|(_, id, key)| inner.alerts.get(id)?.get(key))
            .filter(|r| r.deliver_at() <= due_by)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn alerts_for(&self, id: &ShipmentId) -> Result<Vec<AlertRecord>, StoreError> {
        let inner = self.lock();
        let mut out: Vec<AlertRecord> = inner
            .alerts
            .get(id)
            .map(|log| log.values().cloned().collect())
            .unwrap_or_default();
        drop(inner);
        out.sort_by(alert_order);
        Ok(out)
    }

    async fn alerts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let inner = self.lock();
        let mut out: Vec<AlertRecord> = inner
            .alerts
            .values()
            .flat_map(BTreeMap::values)
            .filter(|r| from <= r.at && r.at < to)
            .cloned()
            .collect();
        drop(inner);
        out.sort_by(alert_order);
        Ok(out)
    }
}

impl LaneQuery for MemoryStore {
    async fn lane_counts(&self, lanes: &[String], weeks: &[String]) -> Result<Tally, StoreError> {
        Ok(self.lock().counters.lanes(lanes, weeks))
    }
}

impl QueryBudget for MemoryStore {
    async fn take_query(
        &self,
        provider: &str,
        day: NaiveDate,
        cap: u32,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let d = inner.budget(provider, day);
        let taken = d.used < cap;
        d.used += u32::from(taken);
        Ok(taken)
    }

    async fn defer_query(
        &self,
        provider: &str,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<BudgetDay, StoreError> {
        let mut inner = self.lock();
        let d = inner.budget(provider, day);
        d.deferred = d.deferred.saturating_add(1);
        d.short_since.get_or_insert(now);
        Ok(d.clone())
    }

    async fn claim_budget_warning(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let d = inner.budget(provider, day);
        Ok(!std::mem::replace(&mut d.warned, true))
    }

    async fn budget_day(&self, provider: &str, day: NaiveDate) -> Result<BudgetDay, StoreError> {
        let inner = self.lock();
        Ok(inner
            .budgets
            .get(&(provider.to_string(), day))
            .cloned()
            .unwrap_or_default())
    }
}

impl ShipmentQuery for MemoryStore {
    async fn list_shipments(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        self.list(filter, cursor, limit)
    }

    /// Typed values cannot be unreadable: none.
    async fn unreadable(&self, _limit: usize) -> Result<Vec<Unreadable>, StoreError> {
        Ok(Vec::new())
    }

    async fn tally(&self, from: NaiveDate, to: NaiveDate) -> Result<Tally, StoreError> {
        Ok(self.lock().counters.clone().within(from, to))
    }

    async fn problem_shipments(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        let after = cursor.map(decode_problem_cursor).transpose()?;
        let limit = limit.max(1);
        let inner = self.lock();
        let start = match &after {
            Some(key) => Bound::Excluded(key),
            None => Bound::Unbounded,
        };
        let mut keys = inner.problems.range((start, Bound::Unbounded));
        let page: Vec<&(DateTime<Utc>, ShipmentId)> = keys.by_ref().take(limit).collect();
        let next = keys
            .next()
            .and(page.last())
            .map(|(since, id)| encode_problem_cursor(*since, id));
        let items = page
            .iter()
            .filter_map(|(_, id)| inner.shipments.get(id).cloned())
            .collect();
        Ok(Page {
            items,
            next,
            unreadable: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(c: &str, t: &str) -> ShipmentId {
        ShipmentId::parse(c, t).unwrap()
    }

    #[test]
    fn cursor_round_trip() {
        let id = sid("JTSD", "JT-0012345678");
        let c = encode_cursor(&id);
        assert!(c.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(decode_cursor(&c), Ok(id));
    }

    #[test]
    fn garbled_cursors_are_refused() {
        let good = encode_cursor(&sid("JTSD", "JT-0012345678"));
        let upper = good.to_ascii_uppercase();
        let mut flipped = good.clone();
        flipped.replace_range(0..2, "ff");
        for bad in [
            "",
            "0",
            "zz",
            "ü",
            &good[..good.len() - 1],
            &upper,
            &flipped,
            // "sf\tsf123456789": valid ids but not canonical (lower case).
            "7366097366313233343536373839",
            // No tab.
            "5346",
        ] {
            assert!(
                matches!(decode_cursor(bad), Err(StoreError::BadCursor(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn threads_racing_on_one_version_exactly_one_wins() {
        let store = std::sync::Arc::new(MemoryStore::new());
        let mut s = Shipment::new(sid("ZTO", "ZT1234567890"), chrono::Utc::now());
        s.version = store.put(&s).unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (store, barrier, mut copy) = (store.clone(), barrier.clone(), s.clone());
                std::thread::spawn(move || {
                    copy.tags = vec![format!("writer-{i}")];
                    barrier.wait();
                    store.put(&copy)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{results:?}"
        );
        assert!(results.iter().all(|r| match r {
            Ok(v) => *v == 2,
            Err(StoreError::Conflict {
                expected: 1,
                actual: Some(2),
                ..
            }) => true,
            _ => false,
        }));
    }
}
