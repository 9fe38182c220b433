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
    #[error("provider error: {0}")]
    Other(String),
}

impl CarrierError {
    /// The error class, for logs, metrics and JSON (`bad_credentials`,
    /// `unknown_carrier`, `no_traces`, `rate_limited`, `transient`, `malformed`,
    /// `other`).
    pub fn kind(&self) -> &'static str {
        match self {
            CarrierError::BadCredentials(_) => "bad_credentials",
            CarrierError::UnknownCarrier(_) => "unknown_carrier",
            CarrierError::NoTraces(_) => "no_traces",
            CarrierError::RateLimited(_) => "rate_limited",
            CarrierError::Transient(_) => "transient",
            CarrierError::Malformed(_) => "malformed",
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

    /// Asks the provider to push updates for this shipment (push mode). Sources
    /// that need no subscription (the simulator) accept it as a no-op.
    fn subscribe(
        &self,
        shipment: &Shipment,
    ) -> impl Future<Output = Result<(), CarrierError>> + Send {
        let _ = shipment;
        std::future::ready(Ok(()))
    }
}
