//! The simulated carrier: answers through the same [`CarrierQuery`] port as the real
//! Kdniao and Kuaidi100 clients, by rendering the parcel's reply as of the clock's
//! `now` and running it through the real normaliser.

use std::future::Future;
use std::sync::Arc;

use shared::domain::Shipment;
use shared::normalise::parse_reply;
use shared::ports::Clock;
use shared::ports::{CarrierError, CarrierQuery, CarrierReply};

use super::fleet::Fleet;

/// A carrier that knows every parcel of a simulated fleet.
pub struct SimCarrier<C: Clock> {
    fleet: Arc<Fleet>,
    clock: C,
}

impl<C: Clock> SimCarrier<C> {
    pub fn new(fleet: Arc<Fleet>, clock: C) -> Self {
        Self { fleet, clock }
    }

    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// The reply for `shipment` now, synchronously.
    pub fn answer(&self, shipment: &Shipment) -> Result<CarrierReply, CarrierError> {
        let Some(parcel) = self.fleet.get(&shipment.id) else {
            return Ok(CarrierReply::default());
        };
        let body = parcel.reply_json(self.clock.now());
        parse_reply(&body, Some(parcel.format.normalise_format()))
            .map_err(|e| CarrierError::Malformed(e.to_string()))
    }
}

impl<C: Clock> CarrierQuery for SimCarrier<C> {
    fn name(&self) -> &str {
        "sim"
    }

    fn query(
        &self,
        shipment: &Shipment,
    ) -> impl Future<Output = Result<CarrierReply, CarrierError>> + Send {
        std::future::ready(self.answer(shipment))
    }
}
