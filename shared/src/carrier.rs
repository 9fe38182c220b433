//! The `Carrier` port: whatever answers "what does the carrier know about this
//! parcel?" — the Kdniao and Kuaidi100 clients, or the simulator — answers with a
//! [`CarrierReply`] already normalised into the domain model.

use std::future::Future;

use crate::domain::{CarrierCode, Shipment, Status, TrackingEvent};

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
    #[error("carrier does not know carrier code {0}")]
    UnknownCarrier(String),
    #[error("rate limited by the provider: {0}")]
    RateLimited(String),
    #[error("transient provider failure: {0}")]
    Transient(String),
    #[error("malformed provider reply: {0}")]
    Malformed(String),
    #[error("provider error: {0}")]
    Other(String),
}

impl CarrierError {
    /// Worth retrying soon (network, 5xx, rate limit); the rest need a human.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CarrierError::RateLimited(_) | CarrierError::Transient(_)
        )
    }
}

/// A source of tracking information.
pub trait Carrier: Send + Sync {
    /// A short name for logs and reports (`kdniao`, `kuaidi100`, `sim`).
    fn name(&self) -> &str;

    /// Queries the carrier for one shipment. A number the carrier knows nothing
    /// about is `Ok` with no events, not an error.
    fn query(
        &self,
        shipment: &Shipment,
    ) -> impl Future<Output = Result<CarrierReply, CarrierError>> + Send;
}
