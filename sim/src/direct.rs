//! The simulated carrier without the wire format: replies are built straight from
//! the parcel's [`SimEvent`](crate::fleet::SimEvent)s (the carrier's real texts, the oracle's status
//! mapping, the hub name on hub arrival scans), with no JSON rendering or parsing.
//!
//! This is what the fleet benchmark (`sentinel bench`) uses by default so that a
//! million parcels fit in minutes; the JSON path ([`super::SimCarrier`], the real
//! Kdniao/Kuaidi100 normaliser) is exercised by `sentinel demo`, the simulator's
//! tests (which check that the normaliser agrees with this mapping on every
//! generated kind of trace) and `sentinel bench --wire json`.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use shared::domain::{Shipment, TrackingEvent};
use shared::ports::Clock;
use shared::ports::{CarrierError, CarrierQuery, CarrierReply};

use super::fleet::{Fleet, SimKind, SimParcel};
use super::render;

impl SimParcel {
    /// What the carrier knows about this parcel at `now`, already normalised: the
    /// reply the JSON path would produce, built directly. Carrier and tracking
    /// number are set (as a push body names them).
    pub fn reply_direct(&self, now: DateTime<Utc>) -> CarrierReply {
        let visible = self.events_at(now);
        let events = visible
            .iter()
            .map(|e| TrackingEvent {
                at: e.at,
                text: render::event_text(self, e),
                location: None,
                code: None,
                status: e.kind.status(),
                hub: (e.kind == SimKind::HubArrive)
                    .then(|| render::hub_name(e.city, e.site).to_string()),
            })
            .collect();
        CarrierReply {
            carrier: Some(self.id.carrier.clone()),
            tracking_number: Some(self.id.tracking_number.as_str().to_string()),
            status: visible.last().map(|e| e.kind.status()),
            raw_state: None,
            events,
            warnings: Vec::new(),
        }
    }
}

/// A carrier that knows every parcel of a simulated fleet and answers without a
/// wire format (see the module documentation).
pub struct DirectSimCarrier<C: Clock> {
    fleet: Arc<Fleet>,
    clock: C,
}

impl<C: Clock> DirectSimCarrier<C> {
    pub fn new(fleet: Arc<Fleet>, clock: C) -> Self {
        Self { fleet, clock }
    }

    /// The reply for `shipment` now; a number the fleet does not hold is unknown
    /// to the carrier (an empty reply).
    pub fn answer(&self, shipment: &Shipment) -> CarrierReply {
        match self.fleet.get(&shipment.id) {
            Some(p) => p.reply_direct(self.clock.now()),
            None => CarrierReply::default(),
        }
    }
}

impl<C: Clock> CarrierQuery for DirectSimCarrier<C> {
    fn name(&self) -> &str {
        "sim-direct"
    }

    fn query(
        &self,
        shipment: &Shipment,
    ) -> impl Future<Output = Result<CarrierReply, CarrierError>> + Send {
        std::future::ready(Ok(self.answer(shipment)))
    }
}
