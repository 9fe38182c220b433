//! The domain: who a shipment is, what state it is in, and what happened to it.
//!
//! A shipment is identified by (carrier code, tracking number). Its status is one
//! normalised enum for every carrier; the carrier's own codes are kept beside it
//! (`raw_state`, per-event `code`) so nothing the carrier said is lost. The timeline
//! is a set of tracking events: merging replies is idempotent and order-independent,
//! because carriers send full or partial histories, newest-first or oldest-first,
//! and retries deliver the same reply twice.

use crate::places::Place;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub mod alert;

use crate::clip::clip;

pub use alert::{
    AlertKind, AlertRecord, AlertState, Audience, Notification, ProblemEvent, Rule, Severity,
    Silenced, Workflow, HISTORY_KEPT,
};

/// Why a value cannot be part of the domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("bad carrier code {:?}: expected 1-16 ASCII letters or digits, e.g. SF, ZTO, JTSD", clip(.0))]
    BadCarrier(String),
    #[error("bad tracking number {:?}: expected 5-40 ASCII letters, digits or '-'", clip(.0))]
    BadTrackingNumber(String),
    #[error("bad phone number {:?}: expected 7-20 digits", clip(.0))]
    BadPhone(String),
    #[error("unknown status {:?}", clip(.0))]
    BadStatus(String),
}

/// A carrier code in Kdniao's upper-case convention (`SF`, `ZTO`, `YTO`, `JTSD`...).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CarrierCode(String);

impl CarrierCode {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = crate::time::ascii_fold(raw.trim()).to_ascii_uppercase();
        if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(DomainError::BadCarrier(raw.to_string()));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CarrierCode {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<CarrierCode> for String {
    fn from(c: CarrierCode) -> Self {
        c.0
    }
}

impl fmt::Display for CarrierCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tracking number: ASCII letters, digits and '-', upper-cased, 5 to 40 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrackingNumber(String);

impl TrackingNumber {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = crate::time::ascii_fold(raw.trim()).to_ascii_uppercase();
        let ok = (5..=40).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && s.bytes().any(|b| b.is_ascii_digit());
        if !ok {
            return Err(DomainError::BadTrackingNumber(raw.to_string()));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TrackingNumber {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<TrackingNumber> for String {
    fn from(c: TrackingNumber) -> Self {
        c.0
    }
}

impl fmt::Display for TrackingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identity of a shipment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ShipmentId {
    pub carrier: CarrierCode,
    pub tracking_number: TrackingNumber,
}

impl ShipmentId {
    pub fn new(carrier: CarrierCode, tracking_number: TrackingNumber) -> Self {
        Self {
            carrier,
            tracking_number,
        }
    }

    pub fn parse(carrier: &str, tracking_number: &str) -> Result<Self, DomainError> {
        Ok(Self::new(
            CarrierCode::parse(carrier)?,
            TrackingNumber::parse(tracking_number)?,
        ))
    }
}

impl fmt::Display for ShipmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.carrier, self.tracking_number)
    }
}

/// A recipient phone number. Only its masked form is ever printed or logged
/// (`Debug` and `Display` both mask).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let folded = crate::time::ascii_fold(raw.trim());
        let digits: String = folded
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '+' | '(' | ')'))
            .collect();
        if !(7..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::BadPhone(mask_digits(raw)));
        }
        Ok(Self(digits))
    }

    /// The last four digits (what SF Express and privacy waybills ask for).
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// `138****5678`.
    pub fn masked(&self) -> String {
        mask_digits(&self.0)
    }

    /// The full number, for the one place that needs it (sending an SMS).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The number in E.164 for an SMS, when it is a mobile that can take one: a
    /// mainland mobile (11 digits starting with 1, optionally after 86), or an
    /// international number written with `00`. Landlines and unknown shapes
    /// give `None`.
    pub fn e164(&self) -> Option<String> {
        let d = self.0.as_str();
        let mainland = |m: &str| m.len() == 11 && m.starts_with('1') && !m.starts_with("10");
        if mainland(d) {
            return Some(format!("+86{d}"));
        }
        if let Some(m) = d.strip_prefix("0086").or_else(|| d.strip_prefix("86")) {
            if mainland(m) {
                return Some(format!("+86{m}"));
            }
        }
        match d.strip_prefix("00") {
            Some(intl) if (8..=15).contains(&intl.len()) => Some(format!("+{intl}")),
            _ => None,
        }
    }
}

/// Masks all but the first three and last four characters of a phone-like string.
pub fn mask_digits(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let keep_tail = chars.len() - 4;
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < 3 || i >= keep_tail { *c } else { '*' })
        .collect()
}

impl TryFrom<String> for Phone {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> Self {
        p.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// The normalised status, one enum for every carrier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Status {
    /// Registered, but the carrier has no pickup scan yet (possibly no trace at all).
    Pending,
    PickedUp,
    InTransit,
    ArrivedAtDestinationCity,
    OutForDelivery,
    /// In a parcel locker (快递柜) or pickup station (驿站), waiting for the recipient.
    AwaitingCollection,
    Delivered,
    DeliveryFailed,
    /// A problem parcel (问题件): address, damage, interception, mis-sort, customs...
    Exception,
    Refused,
    Returning,
    Returned,
    Redirected,
    CustomsClearance,
    /// Lost or expired: the carrier will not deliver it.
    Lost,
}

impl Status {
    pub const ALL: [Status; 15] = [
        Status::Pending,
        Status::PickedUp,
        Status::InTransit,
        Status::ArrivedAtDestinationCity,
        Status::OutForDelivery,
        Status::AwaitingCollection,
        Status::Delivered,
        Status::DeliveryFailed,
        Status::Exception,
        Status::Refused,
        Status::Returning,
        Status::Returned,
        Status::Redirected,
        Status::CustomsClearance,
        Status::Lost,
    ];

    /// Delivered, returned and lost parcels are finished: no time-based rule applies
    /// and they are not checked again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Delivered | Status::Returned | Status::Lost)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "Pending",
            Status::PickedUp => "PickedUp",
            Status::InTransit => "InTransit",
            Status::ArrivedAtDestinationCity => "ArrivedAtDestinationCity",
            Status::OutForDelivery => "OutForDelivery",
            Status::AwaitingCollection => "AwaitingCollection",
            Status::Delivered => "Delivered",
            Status::DeliveryFailed => "DeliveryFailed",
            Status::Exception => "Exception",
            Status::Refused => "Refused",
            Status::Returning => "Returning",
            Status::Returned => "Returned",
            Status::Redirected => "Redirected",
            Status::CustomsClearance => "CustomsClearance",
            Status::Lost => "Lost",
        }
    }

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| DomainError::BadStatus(s.to_string()))
    }

    /// Chinese label for messages.
    pub fn label_zh(self) -> &'static str {
        match self {
            Status::Pending => "待揽收",
            Status::PickedUp => "已揽收",
            Status::InTransit => "运输中",
            Status::ArrivedAtDestinationCity => "到达派件城市",
            Status::OutForDelivery => "派件中",
            Status::AwaitingCollection => "待取件（快递柜/驿站）",
            Status::Delivered => "已签收",
            Status::DeliveryFailed => "派送失败",
            Status::Exception => "问题件",
            Status::Refused => "拒收",
            Status::Returning => "退回中",
            Status::Returned => "已退回",
            Status::Redirected => "转寄",
            Status::CustomsClearance => "清关中",
            Status::Lost => "丢失/失效",
        }
    }

    /// Position along a parcel's life, used to order events that carry the same
    /// timestamp (a carrier writing "out for delivery" and "signed" in one minute).
    pub fn progress_rank(self) -> u8 {
        match self {
            Status::Pending => 0,
            Status::PickedUp => 1,
            Status::InTransit | Status::CustomsClearance | Status::Redirected => 2,
            Status::ArrivedAtDestinationCity => 3,
            Status::OutForDelivery => 4,
            Status::DeliveryFailed | Status::Exception => 5,
            Status::AwaitingCollection | Status::Refused => 6,
            Status::Returning => 7,
            Status::Delivered => 8,
            Status::Returned | Status::Lost => 9,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One tracking event (a "trace"), already classified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEvent {
    /// When the carrier says it happened (converted from China local time).
    pub at: DateTime<Utc>,
    /// The carrier's text, as given (`AcceptStation`, `context`).
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The carrier's own per-event code (Kdniao `Action`, Kuaidi100 `statusCode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What this event means, normalised.
    pub status: Status,
    /// `Some(hub name)` when this is an arrival or processing scan at a sorting hub /
    /// transit centre (the name may be empty when the carrier does not give it).
    /// Departure scans have `None`: they end a hub dwell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<String>,
}

impl TrackingEvent {
    /// A scan as a carrier's text and its meaning, with no location, code or
    /// hub given.
    pub fn new(at: DateTime<Utc>, status: Status, text: impl Into<String>) -> Self {
        Self {
            at,
            text: text.into(),
            location: None,
            code: None,
            status,
            hub: None,
        }
    }

    /// The total order used for the timeline: time, then progress, then text.
    fn order_key(&self) -> (DateTime<Utc>, u8, &str) {
        (self.at, self.status.progress_rank(), &self.text)
    }

    /// Of two copies of the same event (same time and text), the one to keep: the
    /// more informative one, ties broken by a fixed order so merging stays
    /// commutative.
    fn richer(a: TrackingEvent, b: TrackingEvent) -> TrackingEvent {
        if b.info() > a.info() {
            b
        } else {
            a
        }
    }

    /// How informative a copy is (everything but time and text, so two copies of
    /// the same event with equal `info` are equal).
    #[allow(clippy::type_complexity)]
    fn info(
        &self,
    ) -> (
        bool,
        bool,
        bool,
        u8,
        Status,
        Option<&String>,
        Option<&String>,
        Option<&String>,
    ) {
        (
            self.code.is_some(),
            self.location.is_some(),
            self.hub.is_some(),
            self.status.progress_rank(),
            self.status,
            self.code.as_ref(),
            self.location.as_ref(),
            self.hub.as_ref(),
        )
    }
}

/// The ordered, de-duplicated history of a shipment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timeline {
    events: Vec<TrackingEvent>,
}

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a timeline from events in any order, with duplicates.
    pub fn from_events(events: impl IntoIterator<Item = TrackingEvent>) -> Self {
        let mut t = Self::new();
        t.merge(events);
        t
    }

    pub fn events(&self) -> &[TrackingEvent] {
        &self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn last(&self) -> Option<&TrackingEvent> {
        self.events.last()
    }

    /// Merges events into the timeline. Two events are the same event when they have
    /// the same time and text; of two copies the richer is kept. The result does not
    /// depend on the order or repetition of what was merged. Returns whether the
    /// timeline changed.
    ///
    /// Replies usually repeat what the timeline already holds and at most add a few
    /// newer events, so the merge looks each incoming event up in the (sorted)
    /// timeline and only sorts when something was added or replaced; a timeline
    /// that is not in canonical order (e.g. deserialised from elsewhere) takes the
    /// full rebuild. Both paths give the same result.
    pub fn merge(&mut self, incoming: impl IntoIterator<Item = TrackingEvent>) -> bool {
        if !self.is_canonical() {
            return self.merge_full(incoming);
        }
        let mut changed = false;
        // Events not in the timeline yet, possibly with copies among themselves.
        let mut fresh: Vec<TrackingEvent> = Vec::new();
        for e in incoming {
            // The timeline is sorted by time first: the events at `e.at` are a run.
            let lo = self.events.partition_point(|x| x.at < e.at);
            let same = self.events[lo..]
                .iter()
                .take_while(|x| x.at == e.at)
                .position(|x| x.text == e.text);
            match same {
                Some(i) => {
                    let slot = &mut self.events[lo + i];
                    if e.info() > slot.info() {
                        *slot = e;
                        changed = true;
                    }
                }
                None => fresh.push(e),
            }
        }
        if !fresh.is_empty() {
            fresh.sort_by(|a, b| (a.at, &a.text).cmp(&(b.at, &b.text)));
            let mut unique: Vec<TrackingEvent> = Vec::with_capacity(fresh.len());
            for e in fresh {
                match unique.pop() {
                    Some(prev) if prev.at == e.at && prev.text == e.text => {
                        unique.push(TrackingEvent::richer(prev, e));
                    }
                    Some(prev) => {
                        unique.push(prev);
                        unique.push(e);
                    }
                    None => unique.push(e),
                }
            }
            self.events.extend(unique);
            changed = true;
        }
        if changed {
            // Already sorted but for the new tail or a replaced copy whose status
            // moved it among events of the same time: cheap for this sort.
            self.events
                .sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        }
        changed
    }

    /// Whether the events are sorted by [`TrackingEvent::order_key`] without two
    /// copies of the same (time, text): what every merge leaves behind.
    fn is_canonical(&self) -> bool {
        self.events
            .windows(2)
            .all(|w| w[0].order_key() < w[1].order_key())
            && self.events.iter().enumerate().all(|(i, e)| {
                self.events[i + 1..]
                    .iter()
                    .take_while(|x| x.at == e.at)
                    .all(|x| x.text != e.text)
            })
    }

    /// The reference merge: rebuilds the timeline from all events, keyed by
    /// (time, text).
    fn merge_full(&mut self, incoming: impl IntoIterator<Item = TrackingEvent>) -> bool {
        let mut by_key: BTreeMap<(DateTime<Utc>, String), TrackingEvent> = BTreeMap::new();
        for e in self.events.iter().cloned().chain(incoming) {
            let key = (e.at, e.text.clone());
            let merged = match by_key.remove(&key) {
                Some(prev) => TrackingEvent::richer(prev, e),
                None => e,
            };
            by_key.insert(key, merged);
        }
        let mut events: Vec<TrackingEvent> = by_key.into_values().collect();
        events.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        if events == self.events {
            return false;
        }
        self.events = events;
        true
    }

    /// The status of each event as it stands in the parcel's life. Carriers keep
    /// writing ordinary transit scans ("到达…转运中心", "派件中", "已签收") for a parcel
    /// on its way back to the sender; once a return has started those mean
    /// Returning, and a signature means Returned.
    pub fn effective_statuses(&self) -> impl Iterator<Item = (&TrackingEvent, Status)> + '_ {
        let mut returning = false;
        self.events
            .iter()
            .map(move |e| (e, effective_status(e.status, &mut returning)))
    }

    /// The current normalised status: that of the newest event, or Pending.
    pub fn current_status(&self) -> Status {
        self.effective_statuses()
            .last()
            .map(|(_, s)| s)
            .unwrap_or(Status::Pending)
    }
}

/// A shipment and everything Parcel Sentinel knows about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub id: ShipmentId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Free tags: shop, warehouse, `demo` for simulated parcels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    pub registered_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    /// Where the parcel leaves from and goes to, as registered (its lane; the
    /// traces name them too, see `lanes::Route`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Place>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Place>,
    pub status: Status,
    /// The carrier's own top-level codes from the last reply, e.g. `State=2;StateEx=403`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_state: Option<String>,
    #[serde(default)]
    pub timeline: Timeline,
    /// Optimistic-concurrency version: 0 until first stored, then the stored version.
    #[serde(default)]
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked_at: Option<DateTime<Utc>>,
    /// Carrier queries that failed in a row (reset by a good reply).
    #[serde(default)]
    pub consecutive_errors: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Alert state per rule.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub alerts: BTreeMap<Rule, AlertState>,
    /// Once delivered: how its lane's estimates fared, in hundredths (the
    /// chance given at each scan of delivery by the time it came;
    /// [`crate::calibration::pits`]), which its carrier's lane learns from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eta_pit: Vec<u8>,
}

impl Shipment {
    /// A newly registered shipment: no trace yet, due for a first check now.
    pub fn new(id: ShipmentId, registered_at: DateTime<Utc>) -> Self {
        Self {
            id,
            order_id: None,
            tags: Vec::new(),
            registered_at,
            shipped_at: None,
            promised_at: None,
            phone: None,
            origin: None,
            destination: None,
            status: Status::Pending,
            raw_state: None,
            timeline: Timeline::new(),
            version: 0,
            next_check_at: Some(registered_at),
            last_checked_at: None,
            consecutive_errors: 0,
            last_error: None,
            alerts: BTreeMap::new(),
            eta_pit: Vec::new(),
        }
    }

    /// When the parcel left the shop: `shipped_at`, else registration.
    pub fn started_at(&self) -> DateTime<Utc> {
        self.shipped_at.unwrap_or(self.registered_at)
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// Rules with an active (unresolved) alert.
    pub fn active_rules(&self) -> impl Iterator<Item = Rule> + '_ {
        self.alerts
            .values()
            .filter(|a| a.is_active())
            .map(|a| a.rule)
    }
}

/// One trace's status in the light of the ones before it, oldest first:
/// `returning` says whether a return has started (and is set by this trace when it
/// starts one). Once a parcel is on its way back, ordinary scans mean Returning and
/// a signature means Returned.
pub fn effective_status(raw: Status, returning: &mut bool) -> Status {
    match raw {
        Status::Returning | Status::Returned => {
            *returning = true;
            raw
        }
        Status::Delivered if *returning => Status::Returned,
        Status::PickedUp
        | Status::InTransit
        | Status::ArrivedAtDestinationCity
        | Status::OutForDelivery
        | Status::AwaitingCollection
            if *returning =>
        {
            Status::Returning
        }
        s => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(h: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_714_521_600 + i64::from(h) * 3600, 0).unwrap()
    }

    #[test]
    fn identities_are_validated_and_normalised() {
        let id = ShipmentId::parse(" zto ", "ｙｔ7531234567").unwrap();
        assert_eq!(id.carrier.as_str(), "ZTO");
        assert_eq!(id.tracking_number.as_str(), "YT7531234567");
        assert_eq!(id.to_string(), "ZTO:YT7531234567");
        for bad in [
            "",
            "12",
            "abc defg",
            "1234567890123456789012345678901234567890X",
            "ABCDEFG",
            "75312;DROP",
        ] {
            assert!(TrackingNumber::parse(bad).is_err(), "{bad}");
        }
        for bad in ["", "Z T O", "ZTO!", "ABCDEFGHIJKLMNOPQ"] {
            assert!(CarrierCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_are_masked_everywhere_they_are_printed() {
        let p = Phone::parse("138-1234-5678").unwrap();
        assert_eq!(p.last4(), "5678");
        assert_eq!(p.masked(), "138****5678");
        assert_eq!(format!("{p} {p:?}"), "138****5678 Phone(138****5678)");
        let e = Phone::parse("13812345678x").unwrap_err().to_string();
        assert!(!e.contains("13812345678"), "{e}");
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"13812345678\"");
    }

    #[test]
    fn status_names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()).unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!(Status::parse("Flying").is_err());
    }

    #[test]
    fn merge_keeps_the_richer_copy_and_orders_equal_times_by_progress() {
        let plain = TrackingEvent {
            at: at(5),
            text: "已签收".into(),
            location: None,
            code: None,
            status: Status::Delivered,
            hub: None,
        };
        let coded = TrackingEvent {
            code: Some("301".into()),
            ..plain.clone()
        };
        let ofd = TrackingEvent {
            text: "派件中".into(),
            status: Status::OutForDelivery,
            ..plain.clone()
        };
        let mut t = Timeline::from_events([plain.clone(), ofd.clone()]);
        assert!(t.merge([coded.clone()]));
        assert!(!t.merge([plain, coded.clone()]));
        assert_eq!(t.events(), &[ofd, coded]);
        assert_eq!(t.current_status(), Status::Delivered);
    }

    fn arb_event() -> impl Strategy<Value = TrackingEvent> {
        (
            0u32..50,
            0u8..6,
            proptest::sample::select(Status::ALL.to_vec()),
            proptest::option::of(0u8..3),
            proptest::option::of(0u8..2),
        )
            .prop_map(|(h, text, status, code, hub)| TrackingEvent {
                at: at(h),
                text: format!("trace {text}"),
                location: None,
                code: code.map(|c| c.to_string()),
                status,
                hub: hub.map(|h| format!("hub {h}")),
            })
    }

    proptest! {
        /// Merging any permutation, with any duplication, of the same events, in
        /// any number of batches, gives the same timeline.
        #[test]
        fn merge_is_idempotent_and_order_independent(
            events in proptest::collection::vec(arb_event(), 0..20),
            perm in any::<proptest::sample::Index>(),
            split in 0usize..20,
            dup in proptest::collection::vec(any::<proptest::sample::Index>(), 0..10),
        ) {
            let reference = Timeline::from_events(events.clone());
            let mut shuffled = events.clone();
            if !shuffled.is_empty() {
                let k = perm.index(shuffled.len());
                shuffled.rotate_left(k);
                shuffled.reverse();
                for d in &dup {
                    let e = events[d.index(events.len())].clone();
                    shuffled.push(e);
                }
            }
            let cut = split.min(shuffled.len());
            let mut t = Timeline::new();
            t.merge(shuffled[cut..].iter().cloned());
            t.merge(shuffled[..cut].iter().cloned());
            prop_assert_eq!(&t, &reference);
            // Idempotent: merging everything again changes nothing.
            prop_assert!(!t.merge(events.iter().cloned()));
            prop_assert_eq!(&t, &reference);
            // Sorted, and unique by (time, text).
            for w in t.events().windows(2) {
                prop_assert!(w[0].at <= w[1].at);
                prop_assert!((w[0].at, &w[0].text) != (w[1].at, &w[1].text));
            }
        }
    }

    proptest! {
        /// The incremental merge gives exactly what the full rebuild gives (events
        /// and "changed"), from canonical timelines and from unsorted ones.
        #[test]
        fn incremental_merge_matches_the_full_rebuild(
            before in proptest::collection::vec(arb_event(), 0..15),
            incoming in proptest::collection::vec(arb_event(), 0..15),
            raw in any::<bool>(),
        ) {
            let start = if raw {
                Timeline { events: before.clone() }
            } else {
                Timeline::from_events(before.clone())
            };
            let mut fast = start.clone();
            let mut full = start.clone();
            let fast_changed = fast.merge(incoming.iter().cloned());
            let full_changed = full.merge_full(incoming.iter().cloned());
            prop_assert_eq!(&fast, &full);
            prop_assert_eq!(fast_changed, full_changed);
            // Replaying the known events, and those plus a newer one.
            let mut again = fast.clone();
            prop_assert!(!again.merge(fast.events().iter().cloned()));
            let newer = arb_newest();
            let mut a = fast.clone();
            let mut b = fast.clone();
            let with_newer = fast.events().iter().cloned().chain([newer]);
            prop_assert_eq!(a.merge(with_newer.clone()), b.merge_full(with_newer));
            prop_assert_eq!(&a, &b);
        }
    }

    fn arb_newest() -> TrackingEvent {
        TrackingEvent {
            at: at(60),
            text: "trace new".into(),
            location: None,
            code: None,
            status: Status::InTransit,
            hub: None,
        }
    }

    #[test]
    fn phones_in_e164() {
        let e = |raw: &str| Phone::parse(raw).unwrap().e164();
        assert_eq!(e("13812345678").as_deref(), Some("+8613812345678"));
        assert_eq!(e("+86 138-1234-5678").as_deref(), Some("+8613812345678"));
        assert_eq!(e("008613812345678").as_deref(), Some("+8613812345678"));
        assert_eq!(e("0044 7700 900123").as_deref(), Some("+447700900123"));
        assert_eq!(e("057188888888"), None, "a landline takes no SMS");
        assert_eq!(e("10086123456"), None);
        assert_eq!(e("1234567"), None);
    }
}
