//! The `Store` port, split by capability so each piece of the pipeline asks for only
//! what it needs: the scheduler needs [`DueIndex`], the tracker needs
//! [`ShipmentReader`] + [`ShipmentWriter`] + [`AlertLog`], the CLI's `list` and
//! `report` need [`ShipmentQuery`].
//!
//! The shapes follow what DynamoDB can do cheaply, so the SQLite store here and the
//! DynamoDB store later implement the same trait and pass the same contract suite
//! ([`contract`]):
//! - shipments are written with an optimistic version check (a conditional put);
//! - "what is due" is a range query on `next_check_at`, never a scan;
//! - alert records are insert-if-absent, which is what makes "notify exactly once"
//!   hold under retries and racing trackers.

pub mod contract;
pub mod memory;
pub mod sqlite;

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use std::cmp::Ordering;

use crate::domain::{CarrierCode, Shipment, ShipmentId, Status, TrackingNumber};
use crate::rules::{Rule, Severity};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The shipment was changed by someone else since it was read (or, for a new
    /// shipment, it already exists). Reload and try again.
    #[error("version conflict on {id}: expected version {expected}, the store has {actual:?}")]
    Conflict {
        id: String,
        expected: u64,
        actual: Option<u64>,
    },
    /// A stored record could not be decoded.
    #[error("corrupt record {key}: {reason}")]
    Corrupt { key: String, reason: String },
    /// The backend failed (I/O, connection, throttling...).
    #[error("store backend error: {0}")]
    Backend(String),
    #[error("bad list cursor {0:?}")]
    BadCursor(String),
}

/// What happened to an alert, as recorded in the alert log and notified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Fired,
    Escalated,
    Repeated,
    Resolved,
    /// A notice to the parcel's recipient (audience `customer`), at most one per
    /// parcel and rule.
    Notice,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Fired => "fired",
            AlertKind::Escalated => "escalated",
            AlertKind::Repeated => "repeated",
            AlertKind::Resolved => "resolved",
            AlertKind::Notice => "notice",
        }
    }
}

/// One notification-worthy alert transition. The key (shipment, rule, since, kind,
/// seq) is unique: inserting the same record twice is a no-op, which is how a retry
/// or a racing tracker is kept from notifying twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub shipment: ShipmentId,
    pub rule: Rule,
    /// When the condition began (identifies the episode).
    pub since: DateTime<Utc>,
    pub kind: AlertKind,
    /// Notification number within the episode (0 for the first).
    pub seq: u32,
    pub severity: Severity,
    /// When the transition was decided.
    pub at: DateTime<Utc>,
    /// Not to be delivered before this time (a customer notice held through quiet
    /// hours); `None` means at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_until: Option<DateTime<Utc>>,
}

impl AlertRecord {
    /// When the record becomes deliverable.
    pub fn deliver_at(&self) -> DateTime<Utc> {
        self.hold_until.map_or(self.at, |h| h.max(self.at))
    }

    /// Who it is for.
    pub fn audience(&self) -> Audience {
        if self.kind == AlertKind::Notice {
            Audience::Customer
        } else {
            Audience::Ops
        }
    }
}

/// Who a notification is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Ops,
    Customer,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Ops => "ops",
            Audience::Customer => "customer",
        }
    }
}

/// Filters for listing shipments. All set fields must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub carrier: Option<CarrierCode>,
    /// Only shipments with an active alert for this rule.
    pub rule: Option<Rule>,
}

/// One page of a listing; `next` is an opaque cursor for the following page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Read one shipment.
pub trait ShipmentReader: Send + Sync {
    fn get_shipment(
        &self,
        id: &ShipmentId,
    ) -> impl Future<Output = Result<Option<Shipment>, StoreError>> + Send;
}

/// Write one shipment with an optimistic version check.
pub trait ShipmentWriter: Send + Sync {
    /// Stores `shipment` if the stored version is `shipment.version` (0 = it must not
    /// exist yet). Returns the new version (`shipment.version + 1`); the caller
    /// should set it on its copy. On mismatch returns [`StoreError::Conflict`] and
    /// changes nothing.
    fn put_shipment(
        &self,
        shipment: &Shipment,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The due index: shipments whose `next_check_at` has come.
pub trait DueIndex: Send + Sync {
    /// Up to `limit` shipments with `next_check_at <= now`, earliest first.
    /// Shipments with no `next_check_at` (finished) are never due.
    fn due_shipments(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ShipmentId>, StoreError>> + Send;
}

/// The alert log, which is also the notification outbox: a record is inserted
/// *pending*, and marked delivered once its notification has been handed over. A
/// record left pending (the publish failed, or the process died in between, or it
/// is held through quiet hours) is found again by [`AlertLog::pending_alerts`] and
/// delivered by a later run, so nothing claimed is ever lost.
pub trait AlertLog: Send + Sync {
    /// Inserts the record (pending) unless one with the same key exists. Returns
    /// `true` when this call inserted it (and so owns the notification).
    fn insert_alert_if_absent(
        &self,
        record: &AlertRecord,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Marks a record delivered (it leaves the outbox). Idempotent; a record that
    /// does not exist is left absent.
    fn mark_delivered(
        &self,
        record: &AlertRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` pending records whose [`AlertRecord::deliver_at`] is at or
    /// before `due_by`, earliest first.
    fn pending_alerts(
        &self,
        due_by: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AlertRecord>, StoreError>> + Send;

    /// All records of one shipment, oldest first.
    fn alerts_for(
        &self,
        id: &ShipmentId,
    ) -> impl Future<Output = Result<Vec<AlertRecord>, StoreError>> + Send;

    /// All records decided in `[from, to)`, oldest first (for reports).
    fn alerts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<AlertRecord>, StoreError>> + Send;
}

/// Listing for people (CLI `list`, `report`; the API later).
pub trait ShipmentQuery: Send + Sync {
    /// Shipments matching `filter`, ordered by identity, `limit` a page.
    fn list_shipments(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<Shipment>, StoreError>> + Send;
}

/// Everything a store offers.
pub trait Store: ShipmentReader + ShipmentWriter + DueIndex + AlertLog + ShipmentQuery {}

impl<T: ShipmentReader + ShipmentWriter + DueIndex + AlertLog + ShipmentQuery> Store for T {}

// Helpers shared by the store adapters: alert-log ordering and the opaque keyset
// cursor of `list_shipments`.

/// The order of alert records returned by the stores: by `at`, then by key.
pub fn alert_order(a: &AlertRecord, b: &AlertRecord) -> Ordering {
    (a.at, &a.shipment, a.rule, a.since, a.kind, a.seq).cmp(&(
        b.at,
        &b.shipment,
        b.rule,
        b.since,
        b.kind,
        b.seq,
    ))
}

/// The list cursor: the last identity of a page, as lower-case hex of
/// `carrier '\t' tracking_number`. Opaque to callers.
pub fn encode_cursor(id: &ShipmentId) -> String {
    let raw = format!("{}\t{}", id.carrier, id.tracking_number);
    let mut out = String::with_capacity(raw.len() * 2);
    for b in raw.bytes() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Decodes a cursor made by [`encode_cursor`]; anything else is
/// [`StoreError::BadCursor`].
pub fn decode_cursor(cursor: &str) -> Result<ShipmentId, StoreError> {
    let bad = || {
        let shown: String = cursor.chars().take(80).collect();
        StoreError::BadCursor(shown)
    };
    let hex = cursor.as_bytes();
    if hex.is_empty() || hex.len() % 2 != 0 || hex.len() > 200 {
        return Err(bad());
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = hex
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    let raw = String::from_utf8(bytes).map_err(|_| bad())?;
    let (carrier, tracking) = raw.split_once('\t').ok_or_else(bad)?;
    let carrier = CarrierCode::parse(carrier).map_err(|_| bad())?;
    let tracking = TrackingNumber::parse(tracking).map_err(|_| bad())?;
    let id = ShipmentId::new(carrier, tracking);
    // Only canonical cursors (exactly what encode_cursor makes) are accepted.
    if encode_cursor(&id) != cursor {
        return Err(bad());
    }
    Ok(id)
}
