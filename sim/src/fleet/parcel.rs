//! The data of a simulated parcel: its events, their kinds and places, the
//! anomaly injected into it and the reply format it is rendered in.

use std::fmt;

use chrono::{DateTime, Utc};

use shared::domain::{Phone, Shipment, ShipmentId, Status};

use super::clock::dt;
use crate::geo::LaneClass;

/// "No hub or station" in [`SimEvent::site`] / [`SimEvent::next_site`].
pub const NO_SITE: u8 = u8::MAX;

/// What is wrong with a parcel, when something is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Anomaly {
    NoPickup,
    WrongNumber,
    HubStuck,
    Stall,
    Lost,
    OutForDeliveryStuck,
    DeliveryFailed,
    Exception,
    Refused,
    Returned,
    LockerUncollected,
    Late,
    /// Late without any stall: the line haul runs days slower than planned, every
    /// gap below the fixed thresholds, against a promise made from the plan.
    Slow,
}

impl Anomaly {
    pub const ALL: [Anomaly; 13] = [
        Anomaly::NoPickup,
        Anomaly::WrongNumber,
        Anomaly::HubStuck,
        Anomaly::Stall,
        Anomaly::Lost,
        Anomaly::OutForDeliveryStuck,
        Anomaly::DeliveryFailed,
        Anomaly::Exception,
        Anomaly::Refused,
        Anomaly::Returned,
        Anomaly::LockerUncollected,
        Anomaly::Late,
        Anomaly::Slow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Anomaly::NoPickup => "no_pickup",
            Anomaly::WrongNumber => "wrong_number",
            Anomaly::HubStuck => "hub_stuck",
            Anomaly::Stall => "stall",
            Anomaly::Lost => "lost",
            Anomaly::OutForDeliveryStuck => "out_for_delivery_stuck",
            Anomaly::DeliveryFailed => "delivery_failed",
            Anomaly::Exception => "exception",
            Anomaly::Refused => "refused",
            Anomaly::Returned => "returned",
            Anomaly::LockerUncollected => "locker_uncollected",
            Anomaly::Late => "late",
            Anomaly::Slow => "slow",
        }
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a simulated trace says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SimKind {
    Created,
    PickedUp,
    HubArrive,
    HubDepart,
    StationArrive,
    OutForDelivery,
    Locker,
    LockerOverdue,
    Delivered,
    Failed,
    Redeliver,
    Exception,
    ExceptionResolved,
    Refused,
    ReturnStart,
    ReturnTransit,
    ReturnSigned,
}

impl SimKind {
    /// The normalised status this trace means (the oracle's mapping).
    pub fn status(self) -> Status {
        match self {
            SimKind::Created => Status::Pending,
            SimKind::PickedUp => Status::PickedUp,
            SimKind::HubArrive | SimKind::HubDepart | SimKind::ExceptionResolved => {
                Status::InTransit
            }
            SimKind::StationArrive => Status::ArrivedAtDestinationCity,
            SimKind::OutForDelivery | SimKind::Redeliver => Status::OutForDelivery,
            SimKind::Locker | SimKind::LockerOverdue => Status::AwaitingCollection,
            SimKind::Delivered => Status::Delivered,
            SimKind::Failed => Status::DeliveryFailed,
            SimKind::Exception => Status::Exception,
            SimKind::Refused => Status::Refused,
            SimKind::ReturnStart | SimKind::ReturnTransit => Status::Returning,
            SimKind::ReturnSigned => Status::Returned,
        }
    }

    pub(super) fn is_hub(self) -> bool {
        matches!(self, SimKind::HubArrive | SimKind::HubDepart)
    }
}

/// One simulated trace. Places are indices into [`crate::geo::CITIES`] and that
/// city's `hubs` / `stations`; the text is only rendered in a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimEvent {
    pub at: DateTime<Utc>,
    pub kind: SimKind,
    /// Index into `CITIES`.
    pub city: u8,
    /// Hub slot (hub kinds, `ReturnTransit`, hub exceptions) or station slot (the
    /// rest) in that city; [`NO_SITE`] when none.
    pub site: u8,
    /// `HubDepart` only: where the parcel goes next, a hub (city, slot) or the
    /// destination city with `next_site == NO_SITE`.
    pub next_city: u8,
    pub next_site: u8,
    /// Text variant: locker (`< 100` 丰巢 cabinet number - 1, `>= 100` 驿站 shop
    /// index + 100), delivered (1 = collected with a code), failed reason (0/1),
    /// exception (0 address, 1 damaged, 2 mis-sorted).
    pub variant: u8,
}

impl SimEvent {
    pub(super) fn new(at: i64, kind: SimKind, city: u8, site: u8) -> Self {
        Self {
            at: dt(at),
            kind,
            city,
            site,
            next_city: NO_SITE,
            next_site: NO_SITE,
            variant: 0,
        }
    }

    pub(super) fn with_variant(mut self, v: u8) -> Self {
        self.variant = v;
        self
    }

    pub(super) fn secs(&self) -> i64 {
        self.at.timestamp()
    }

    pub(super) fn same_place(&self, other: &SimEvent) -> bool {
        self.city == other.city && self.site == other.site
    }
}

/// Which carrier reply format the parcel is rendered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyFormat {
    /// Kdniao instant query 8001: per-trace `Action`, top-level `StateEx`.
    Kdniao8001,
    /// Kdniao instant query 1002: texts only.
    Kdniao1002,
    /// Kuaidi100 real-time query with `resultv2=4` status codes.
    Kuaidi100,
}

impl ReplyFormat {
    pub fn normalise_format(self) -> shared::normalise::Format {
        match self {
            ReplyFormat::Kdniao8001 | ReplyFormat::Kdniao1002 => shared::normalise::Format::Kdniao,
            ReplyFormat::Kuaidi100 => shared::normalise::Format::Kuaidi100,
        }
    }
}

/// One simulated parcel: identity, promises, and its complete (future included)
/// carrier-side history.
#[derive(Clone, Debug, PartialEq)]
pub struct SimParcel {
    /// Position in the fleet (the parcel depends only on the seed and this).
    pub index: u32,
    pub id: ShipmentId,
    pub order_id: String,
    pub registered_at: DateTime<Utc>,
    pub shipped_at: DateTime<Utc>,
    pub promised_at: Option<DateTime<Utc>>,
    pub phone: Option<Phone>,
    pub anomaly: Option<Anomaly>,
    /// The first instant at which what an observer can see (the carrier's traces,
    /// or the promise) tells this parcel apart from the healthy journey it was
    /// drawn with: the first trace that differs, or the time a healthy trace would
    /// have come and did not; registration for a `late` parcel, whose promise is
    /// short of its plan. `None` for a parcel with no anomaly. What the bench
    /// measures the most any prediction could foresee by.
    pub told_apart_at: Option<DateTime<Utc>>,
    /// Every trace the carrier will ever report, ascending by time.
    pub events: Vec<SimEvent>,
    pub format: ReplyFormat,
    /// Index into [`crate::geo::CARRIERS`].
    pub carrier: u8,
    /// Indices into `CITIES`.
    pub origin: u8,
    pub dest: u8,
    pub lane: LaneClass,
    /// Index into `COURIERS`, and the courier's phone shown masked: `13{prefix}****{tail}`.
    pub courier: u8,
    pub courier_prefix: u8,
    pub courier_tail: u16,
}

impl SimParcel {
    /// The shipment as the order system would register it.
    pub fn shipment(&self) -> Shipment {
        let mut s = Shipment::new(self.id.clone(), self.registered_at);
        s.order_id = Some(self.order_id.clone());
        s.shipped_at = Some(self.shipped_at);
        s.promised_at = self.promised_at;
        s.phone = self.phone.clone();
        s.tags = vec!["demo".to_string()];
        s.origin = crate::geo::place(self.origin);
        s.destination = crate::geo::place(self.dest);
        s
    }

    /// When the recipient has the parcel (the signature, or the collection from a
    /// locker or 驿站): what an estimated delivery is judged against. `None` for a
    /// parcel that never reaches its recipient.
    pub fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.events
            .iter()
            .find(|e| e.kind == SimKind::Delivered)
            .map(|e| e.at)
    }

    /// Events the carrier has reported by `now`.
    pub fn events_at(&self, now: DateTime<Utc>) -> &[SimEvent] {
        let n = self.events.partition_point(|e| e.at <= now);
        &self.events[..n]
    }

    /// The delivery moment (first locker/station drop or signature), if any.
    pub fn delivered_or_dropped_at(&self) -> Option<DateTime<Utc>> {
        self.events
            .iter()
            .find(|e| matches!(e.kind, SimKind::Locker | SimKind::Delivered))
            .map(|e| e.at)
    }

    /// Pickup scan time, if any.
    pub fn picked_up_at(&self) -> Option<DateTime<Utc>> {
        self.events
            .iter()
            .find(|e| e.kind == SimKind::PickedUp)
            .map(|e| e.at)
    }
}
