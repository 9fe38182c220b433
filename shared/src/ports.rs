//! The ports: every trait through which the core talks to the outside world, in
//! one place. The core decides; adapters (crates beside it) implement these:
//!
//! | port | what it is for | adapters |
//! |---|---|---|
//! | [`ShipmentReader`], [`ShipmentWriter`], [`DueIndex`], [`AlertLog`], [`ShipmentQuery`], [`LaneQuery`], [`QueryBudget`] (all: [`Store`]) | the store, split by capability so each use case asks for the narrowest one | `MemoryStore` (here), `sentinel-sqlite`, `sentinel-aws` (DynamoDB) |
//! | [`CarrierQuery`], [`CarrierSubscribe`] | asking a tracking provider about a parcel; asking it to push updates | `sentinel-carriers` (Kdniao, Kuaidi100), `sentinel-sim` (the simulated carrier) |
//! | [`TrackBus`] | the scheduler's fan-out of [`TrackBatch`]es to trackers | `MemoryBus` (here), `sentinel-aws` (EventBridge) |
//! | [`AlertSink`] | where claimed notifications go | `sentinel-aws` (SNS), `sentinel-chat` (robots), the CLI's console |
//! | [`SmsSender`] | customer notices by SMS | `sentinel-aws` (SNS SMS) |
//! | [`Clock`] | "now", injected everywhere | `SystemClock`, `ManualClock` ([`crate::clock`]) |
//!
//! Async methods are `impl Future + Send` (no boxing): the functions are generic
//! over their ports, so they run on in-memory adapters in tests and on AWS in
//! production with the same code.

use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::budget::BudgetDay;
use crate::tally::Tally;

use crate::domain::{
    AlertRecord, CarrierCode, Notification, Rule, Shipment, ShipmentId, Status, TrackingEvent,
};

// ---------------------------------------------------------------------------
// Clock

/// A source of the current instant. Every decision (rule deadlines, the next
/// check, repeat intervals, the simulator) reads "now" from one, so tests,
/// benchmarks and the demo run on virtual time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

// ---------------------------------------------------------------------------
// Store

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
    #[error("bad list cursor {:?}", crate::clip::clip(.0))]
    BadCursor(String),
}

/// Filters for listing shipments. All set fields must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub carrier: Option<CarrierCode>,
    /// Only shipments with an active alert for this rule.
    pub rule: Option<Rule>,
    /// Only shipments with at least one active alert (the problem queue).
    pub alerting: bool,
}

/// One page of a listing; `next` is an opaque cursor for the following page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
    /// Stored items in this page's range that could not be decoded: skipped, and
    /// named here (they are also set aside, see [`ShipmentQuery::unreadable`]).
    pub unreadable: Vec<Unreadable>,
}

/// A stored item that could not be decoded (a corrupt row, an item written by
/// hand): it is **set aside** where it is found — taken out of the due index and
/// the outbox, its bytes kept for a human — so one bad item never stops the loop,
/// the outbox, a listing or a report, and it is named from then on by
/// [`ShipmentQuery::unreadable`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    /// The store's key of the item, naming its carrier and number where the key
    /// holds them (e.g. `shipment ZTO:75312345678901`).
    pub key: String,
    /// Why it could not be decoded (clipped).
    pub reason: String,
}

impl Unreadable {
    pub fn new(key: impl Into<String>, reason: impl AsRef<str>) -> Self {
        Self {
            key: crate::clip::clip(&key.into()).to_string(),
            reason: crate::clip::clip(reason.as_ref()).to_string(),
        }
    }
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// Read one shipment. A stored shipment that cannot be decoded is set aside (see
/// [`Unreadable`]) and reported as [`StoreError::Corrupt`] naming it.
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
    /// Shipments with no `next_check_at` (finished, or set aside as unreadable)
    /// are never due.
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

    /// One check's outcome, committed as one atomic step: writes `shipment` with
    /// the version check of [`ShipmentWriter::put_shipment`] and inserts each of
    /// `records` that is not stored yet, pending and leased to `lease` (no other
    /// deliverer takes it before `lease.until`, or before its own
    /// [`AlertRecord::deliver_at`] if later). Either all of it is stored or none
    /// of it: on a version conflict ([`StoreError::Conflict`]) or any other error
    /// nothing changed, so a crash at any point loses no claim. Records already
    /// stored are left as they are and reported `false` in
    /// [`Committed::inserted`] (same order as `records`): this call does not own
    /// them.
    fn commit_check(
        &self,
        shipment: &Shipment,
        records: &[AlertRecord],
        lease: &Lease,
    ) -> impl Future<Output = Result<Committed, StoreError>> + Send;

    /// Takes the delivery lease of a pending record: succeeds (`true`) only if the
    /// record is pending and free at `due_by` (its delivery time and any earlier
    /// lease have passed), and then holds it for `lease.owner` until `lease.until`
    /// (the record is free again from then). A conditional update: of deliverers
    /// racing for one record, one wins. A holder hands a record back by taking it
    /// at its own lease's end with a lease that ends now.
    fn take_lease(
        &self,
        record: &AlertRecord,
        due_by: DateTime<Utc>,
        lease: &Lease,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Marks a record delivered (it leaves the outbox). Idempotent; a record that
    /// does not exist is left absent.
    fn mark_delivered(
        &self,
        record: &AlertRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` pending records free at `due_by` (their
    /// [`AlertRecord::deliver_at`] and any lease on them have passed), earliest
    /// first. A record that cannot be decoded is set aside (it leaves the outbox,
    /// see [`Unreadable`]) and skipped, here and in the other queries.
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

/// A delivery lease: who is delivering a pending record, and until when other
/// deliverers keep off it. A deliverer that dies holding one loses it at `until`,
/// and the record is offered again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: DateTime<Utc>,
}

impl Lease {
    /// A lease for `owner` from `now` for `length`.
    pub fn new(owner: impl Into<String>, now: DateTime<Utc>, length: chrono::Duration) -> Self {
        Self {
            owner: owner.into(),
            until: now + length,
        }
    }

    /// When a record inserted under this lease is first free for others.
    pub fn free_at(&self, record: &AlertRecord) -> DateTime<Utc> {
        record.deliver_at().max(self.until)
    }
}

/// What [`AlertLog::commit_check`] stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The shipment's new version.
    pub version: u64,
    /// For each record given, whether this call inserted it (and owns it).
    pub inserted: Vec<bool>,
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

    /// The fleet's counters: the sum of every stored shipment's [`Tally`] (the
    /// fleet counters, and the day counters of the China days `from..=to`). A
    /// store keeps them current with every shipment write, in the write's own
    /// atomic step, so this is a fixed handful of reads, never a scan.
    fn tally(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Future<Output = Result<Tally, StoreError>> + Send;

    /// Stored shipments with an active problem, in problem-key order (when their
    /// oldest active problem began, then identity: see
    /// [`crate::tally::problem_since`]), `limit` a page; `cursor` continues after
    /// a page ([`Page::next`]). An index, not a scan: the problem queue reads
    /// only as far as it shows.
    fn problem_shipments(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<Shipment>, StoreError>> + Send;

    /// Up to `limit` items set aside as unreadable (shipments and alert records,
    /// by key), for the people who must repair or remove them. A store whose items
    /// cannot be corrupt (the in-memory one) has none.
    fn unreadable(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Unreadable>, StoreError>> + Send;
}

/// What the lanes have learned (issue 17): read by the ETA and by the lane rules.
pub trait LaneQuery: Send + Sync {
    /// The lane counters (`lane|…`, see [`crate::tally`]) of the lanes named
    /// `lanes` ([`crate::lanes::LaneKey::key`]) in the ISO weeks `weeks`: a few
    /// keyed reads, whatever the fleet.
    fn lane_counts(
        &self,
        lanes: &[String],
        weeks: &[String],
    ) -> impl Future<Output = Result<Tally, StoreError>> + Send;
}

/// A provider's daily query count (issue 17 §5, [`crate::budget`]): one small
/// record per provider and China day.
pub trait QueryBudget: Send + Sync {
    /// Takes one query from `provider`'s count of `day` if fewer than `cap` were
    /// taken, and says whether it did. Atomic: takers running at once never take
    /// more than `cap` between them.
    fn take_query(
        &self,
        provider: &str,
        day: NaiveDate,
        cap: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Counts a check whose query was refused (the first one of the day sets
    /// `short_since` to `now`), and returns the day's count after it.
    fn defer_query(
        &self,
        provider: &str,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<BudgetDay, StoreError>> + Send;

    /// Claims the day's shortage warning: true for one caller only.
    fn claim_budget_warning(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// `provider`'s count of `day` (zero when nothing was taken).
    fn budget_day(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> impl Future<Output = Result<BudgetDay, StoreError>> + Send;
}

/// Everything a store offers.
pub trait Store:
    ShipmentReader + ShipmentWriter + DueIndex + AlertLog + ShipmentQuery + LaneQuery + QueryBudget
{
}

impl<
        T: ShipmentReader
            + ShipmentWriter
            + DueIndex
            + AlertLog
            + ShipmentQuery
            + LaneQuery
            + QueryBudget,
    > Store for T
{
}

// ---------------------------------------------------------------------------
// Carrier

/// One carrier reply, normalised.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CarrierReply {
    /// The carrier as the reply names it (canonical upper-case code), if it does.
    pub carrier: Option<CarrierCode>,
    /// The tracking number as the reply names it, if it does.
    pub tracking_number: Option<String>,
    /// The reply-level status: that of the newest event, or of the carrier's
    /// top-level code when there are no events.
    pub status: Option<Status>,
    /// The carrier's own top-level codes, e.g. `State=2;StateEx=403` or `state=5`.
    pub raw_state: Option<String>,
    /// The events, classified, in any order (the timeline sorts and de-duplicates).
    pub events: Vec<TrackingEvent>,
    /// Things the normaliser could not map and fell back on (unknown codes, texts
    /// matching no keyword). Reported, never fatal.
    pub warnings: Vec<String>,
}

impl CarrierReply {
    /// Why the reply cannot be about `id`, if it names another carrier or number.
    /// Identities are compared as the domain normalises them (a carrier by any of
    /// its names, a number case- and space-insensitively); a reply that names
    /// neither is judged by what it does name, i.e. accepted.
    pub fn wrong_parcel(&self, id: &ShipmentId) -> Option<CarrierError> {
        if let Some(c) = &self.carrier {
            if !crate::normalise::carriers::same_carrier(c.as_str(), id.carrier.as_str()) {
                return Some(CarrierError::WrongParcel(format!(
                    "carrier {c}, asked about {}",
                    id.carrier
                )));
            }
        }
        if let Some(n) = &self.tracking_number {
            let folded: String = crate::time::ascii_fold(n)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_uppercase();
            if !folded.is_empty() && folded != id.tracking_number.as_str() {
                // The reply's number is outside input of any length: clipped.
                let shown = crate::domain::mask_digits(&folded);
                return Some(CarrierError::WrongParcel(format!(
                    "number {}, asked about {}",
                    crate::clip::clip(&shown),
                    crate::domain::mask_digits(id.tracking_number.as_str())
                )));
            }
        }
        None
    }

    /// The carrier knows nothing about the number (yet).
    pub fn knows_nothing(&self) -> bool {
        self.events.is_empty()
    }
}

/// Why a carrier query gave no usable reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    #[error("carrier rejected the credentials: {0}")]
    BadCredentials(String),
    #[error("provider does not know the carrier: {0}")]
    UnknownCarrier(String),
    /// The provider has no trace for the number (yet). The clients turn this into
    /// an empty reply, since "knows nothing yet" is an answer, not a failure; it is
    /// a variant so that classifying a provider's failure reasons can say so.
    #[error("no traces for the number yet: {0}")]
    NoTraces(String),
    #[error("rate limited by the provider: {0}")]
    RateLimited(String),
    #[error("transient provider failure: {0}")]
    Transient(String),
    #[error("malformed provider reply: {0}")]
    Malformed(String),
    /// The reply is about another parcel than the one asked about (its carrier or
    /// number differs): it is not merged, and the parcel keeps its state.
    #[error("the reply is about another parcel: {0}")]
    WrongParcel(String),
    #[error("provider error: {0}")]
    Other(String),
}

impl CarrierError {
    /// The error class, for logs, metrics and JSON (`bad_credentials`,
    /// `unknown_carrier`, `no_traces`, `rate_limited`, `transient`, `malformed`,
    /// `wrong_parcel`, `other`).
    pub fn kind(&self) -> &'static str {
        match self {
            CarrierError::BadCredentials(_) => "bad_credentials",
            CarrierError::UnknownCarrier(_) => "unknown_carrier",
            CarrierError::NoTraces(_) => "no_traces",
            CarrierError::RateLimited(_) => "rate_limited",
            CarrierError::Transient(_) => "transient",
            CarrierError::Malformed(_) => "malformed",
            CarrierError::WrongParcel(_) => "wrong_parcel",
            CarrierError::Other(_) => "other",
        }
    }

    /// Worth retrying soon (network, 5xx, rate limit); the rest need a human.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CarrierError::RateLimited(_) | CarrierError::Transient(_)
        )
    }
}

/// A source of tracking information that answers queries (poll mode).
pub trait CarrierQuery: Send + Sync {
    /// A short name for logs and reports (`kdniao`, `kuaidi100`, `sim`).
    fn name(&self) -> &str;

    /// Queries the carrier for one shipment. A number the carrier knows nothing
    /// about is `Ok` with no events, not an error.
    fn query(
        &self,
        shipment: &Shipment,
    ) -> impl Future<Output = Result<CarrierReply, CarrierError>> + Send;
}

/// A provider that pushes updates for the parcels it is subscribed to (push mode).
pub trait CarrierSubscribe: Send + Sync {
    /// Asks the provider to push updates for this shipment.
    fn subscribe(
        &self,
        shipment: &Shipment,
    ) -> impl Future<Output = Result<(), CarrierError>> + Send;
}

// ---------------------------------------------------------------------------
// Bus

/// The `detail` of a TrackBatch event: parcels a tracker should check (a public
/// contract between the scheduler and the tracker functions).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackBatch {
    pub shipments: Vec<ShipmentId>,
}

/// Why the bus did not take every batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    #[error("the bus refused the call: {0}")]
    Call(String),
    #[error(
        "{failed} of {total} TrackBatch events still refused after {attempts} attempts: {reason}"
    )]
    Refused {
        failed: usize,
        total: usize,
        attempts: u32,
        reason: String,
    },
}

/// The scheduler's fan-out: parcels that are due, as [`TrackBatch`]es for the
/// trackers.
pub trait TrackBus: Send + Sync {
    /// Publishes `ids` as batches of at most `batch_size` parcels; returns the
    /// number of batches published.
    fn publish(
        &self,
        ids: &[ShipmentId],
        batch_size: usize,
    ) -> impl Future<Output = Result<usize, BusError>> + Send;
}

// ---------------------------------------------------------------------------
// Notifications

/// Where claimed notifications go (the SNS topic on AWS; chat robots or the
/// terminal locally). Answers one result per notification, in order: `Ok` means
/// taken (it will not be offered again), `Err` leaves it in the outbox for a later
/// run ([`crate::outbox::deliver_pending`]).
pub trait AlertSink: Send + Sync {
    fn publish(
        &self,
        notifications: &[Notification],
    ) -> impl Future<Output = Vec<Result<(), String>>> + Send;
}

/// Sends one SMS. The AWS adapter sends through SNS; a China SMS provider (Aliyun
/// SMS, Tencent Cloud SMS...) implements the same trait.
pub trait SmsSender: Send + Sync {
    /// `to` is E.164 (`+8613812345678`). Errors must not contain the full number.
    fn send_sms(&self, to: &str, text: &str) -> impl Future<Output = Result<(), String>> + Send;
}
