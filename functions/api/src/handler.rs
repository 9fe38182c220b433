//! Event dispatch: which of the two event sources this is, and the domain calls
//! they share (registration). The HTTP routes are in the `http` module.
//!
//! The handler is generic over the [`ApiStore`], the [`CarrierSubscribe`] (to
//! subscribe parcels in push mode) and the [`AlertPublisher`], so the tests run it
//! against the in-memory store with a recording subscriber and publisher.

use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use lambda_runtime::Diagnostic;
use serde::Serialize;
use serde_json::Value;

use sentinel_carriers::ProviderSettings;
use shared::clip::{clip, Clipped};
use shared::config::Settings;
use shared::domain::Shipment;
use shared::ports::{
    AlertLog, CarrierSubscribe, Clock, LaneQuery, QueryBudget, ShipmentQuery, ShipmentReader,
    ShipmentWriter, StoreError,
};
use shared::registration::{register_parcel, NewShipment, Registered};
use shared::schedule::TrackingMode;
use shared::secret::Secret;

/// The store capabilities the api function uses: everything but the due index
/// (it registers, looks up, lists, and takes in pushes).
/// (`QueryBudget` because the pushes' tracker is the tracker; a push is never a
/// query, so the api never takes from the budget.)
pub trait ApiStore:
    ShipmentReader + ShipmentWriter + AlertLog + ShipmentQuery + LaneQuery + QueryBudget
{
}
impl<T: ShipmentReader + ShipmentWriter + AlertLog + ShipmentQuery + LaneQuery + QueryBudget>
    ApiStore for T
{
}

/// The `detail-type` of the registration event.
pub const SHIPMENT_REGISTERED: &str = "ShipmentRegistered";

/// The credentials that authenticate the providers' push callbacks.
#[derive(Clone, Debug, Default)]
pub struct CallbackKeys {
    /// Kdniao's `EBusinessID` and API key (`DataSign` is keyed with it).
    pub kdniao: Option<(String, Secret)>,
    /// Kuaidi100's push salt (`sign` is keyed with it).
    pub kuaidi100_salt: Option<Secret>,
}

impl CallbackKeys {
    pub fn from_settings(ps: &ProviderSettings) -> Self {
        Self {
            kdniao: ps
                .kdniao
                .as_ref()
                .map(|k| (k.ebusiness_id.clone(), k.api_key.clone())),
            kuaidi100_salt: ps.kuaidi100.as_ref().and_then(|k| k.salt.clone()),
        }
    }
}

/// Where alerts raised by a carrier push go (the SNS topic, in AWS). A push is
/// checked like a scheduled check: the tracker merges it, evaluates the rules and
/// claims each alert transition in the alert log; the claimed ones must be
/// delivered by whoever claimed them.
pub use shared::ports::AlertSink as AlertPublisher;

/// Everything the handler needs, built once at cold start.
pub struct Deps<S, C, P> {
    pub store: S,
    /// The provider that subscribes new parcels in push mode
    /// ([`sentinel_carriers::Provider::subscriber`]); the api function never
    /// queries a carrier, so poll mode needs no provider client at all.
    pub subscriber: Option<C>,
    pub publisher: P,
    pub settings: Settings,
    /// Poll or push: whether new parcels are subscribed, and how the tracker
    /// schedules a pushed parcel's next check.
    pub mode: TrackingMode,
    pub callbacks: CallbackKeys,
    /// Where people sign in to the console (`CONSOLE_AUTH_DOMAIN`,
    /// `CONSOLE_CLIENT_ID`); `None`: the page has no sign-in.
    pub sign_in: Option<sentinel_console::SignIn>,
    pub clock: Arc<dyn Clock>,
}

impl<S, C, P> Deps<S, C, P> {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// Why an invocation failed (HTTP requests never fail: their errors are HTTP
/// answers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    #[error("unrecognised event: {0}")]
    Unrecognised(String),
    #[error("invalid ShipmentRegistered event: {0}")]
    InvalidEvent(String),
    #[error("store unavailable: {0}")]
    Store(#[from] StoreError),
}

impl HandlerError {
    /// The Lambda error type: says what went wrong and whether a retry can help.
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Unrecognised(_) => "UnrecognisedEvent",
            HandlerError::InvalidEvent(_) => "InvalidShipmentRegistered",
            HandlerError::Store(_) => "StoreUnavailable",
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, HandlerError::Store(_))
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        Diagnostic {
            error_type: e.error_type().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// What the function answers.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Output {
    Http(ApiGatewayV2httpResponse),
    /// The outcome of a `ShipmentRegistered` event.
    Registered(ItemResult),
}

/// The outcome of registering one parcel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Registered,
    Exists,
    Invalid,
    Error,
}

/// One parcel's answer (an element of `POST /shipments`' `results`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemResult {
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub status: ItemStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_error: Option<String>,
}

impl ItemResult {
    pub(crate) fn for_shipment(s: &Shipment, status: ItemStatus) -> Self {
        Self {
            carrier: Some(s.id.carrier.to_string()),
            tracking_number: Some(s.id.tracking_number.to_string()),
            status,
            error: None,
            subscription_error: None,
        }
    }

    /// An input that is not a valid parcel; echoes what identity it gave.
    pub(crate) fn invalid(item: &Value, error: String) -> Self {
        let echo = |k: &str| match item.get(k) {
            Some(Value::String(s)) => Some(s.chars().take(64).collect()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Self {
            carrier: echo("carrier"),
            tracking_number: echo("tracking_number"),
            status: ItemStatus::Invalid,
            error: Some(error),
            subscription_error: None,
        }
    }

    pub fn succeeded(&self) -> bool {
        matches!(self.status, ItemStatus::Registered | ItemStatus::Exists)
    }
}

/// Reads one parcel from outside input.
pub(crate) fn prepare(item: &Value, now: DateTime<Utc>) -> Result<Shipment, ItemResult> {
    NewShipment::from_json(item)
        .and_then(|n| n.into_shipment(now))
        .map_err(|e| ItemResult::invalid(item, e.to_string()))
}

/// Registers a parcel ([`register_parcel`]) and says how it went: `exists` when
/// it was already there; a failed subscription keeps the parcel and is reported;
/// a store failure is an error for the caller to answer.
pub(crate) async fn register<S: ShipmentWriter, C: CarrierSubscribe, P>(
    deps: &Deps<S, C, P>,
    shipment: &Shipment,
) -> Result<ItemResult, StoreError> {
    let registered = register_parcel(
        &deps.store,
        deps.subscriber.as_ref(),
        shipment,
        &deps.settings,
        deps.mode,
        deps.now(),
    );
    Ok(match registered.await? {
        Registered::Exists => ItemResult::for_shipment(shipment, ItemStatus::Exists),
        Registered::New { subscription_error } => ItemResult {
            subscription_error: subscription_error.map(|e| format!("subscription failed: {e}")),
            ..ItemResult::for_shipment(shipment, ItemStatus::Registered)
        },
    })
}

/// Does the event look like an API Gateway HTTP API (payload 2.0) request?
fn is_http(event: &Value) -> bool {
    event
        .get("requestContext")
        .is_some_and(|c| c.get("http").is_some())
        && (event.get("rawPath").is_some() || event.get("routeKey").is_some())
}

/// Does the event look like an EventBridge event?
fn is_eventbridge(event: &Value) -> bool {
    event.get("detail-type").is_some_and(Value::is_string)
        && event.get("source").is_some()
        && event.get("detail").is_some()
}

/// A short description of an event nobody handles, for the error.
fn describe(event: &Value) -> String {
    match event {
        Value::Object(m) => {
            // Keys are outside input of any length: each clipped.
            let keys: Vec<Clipped<'_>> = m.keys().take(8).map(|k| clip(k)).collect();
            format!("an object with keys {keys:?}")
        }
        other => format!(
            "a JSON {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            }
        ),
    }
}

/// Handles one invocation: an HTTP API request or a `ShipmentRegistered` event.
pub async fn handle<S: ApiStore, C: CarrierSubscribe, P: AlertPublisher>(
    deps: &Deps<S, C, P>,
    event: Value,
) -> Result<Output, HandlerError> {
    if is_http(&event) {
        let request: ApiGatewayV2httpRequest = serde_json::from_value(event).map_err(|e| {
            HandlerError::Unrecognised(format!(
                "an HTTP API request that cannot be read: {}",
                clip(&e.to_string())
            ))
        })?;
        return Ok(Output::Http(crate::http::respond(deps, request).await));
    }
    if is_eventbridge(&event) {
        let event: EventBridgeEvent<Value> = serde_json::from_value(event).map_err(|e| {
            HandlerError::Unrecognised(format!(
                "an EventBridge event that cannot be read: {}",
                clip(&e.to_string())
            ))
        })?;
        if event.detail_type != SHIPMENT_REGISTERED {
            return Err(HandlerError::Unrecognised(format!(
                "EventBridge detail-type {:?} from {:?} (this function takes {SHIPMENT_REGISTERED})",
                clip(&event.detail_type),
                clip(&event.source)
            )));
        }
        return shipment_registered(deps, &event)
            .await
            .map(Output::Registered);
    }
    Err(HandlerError::Unrecognised(describe(&event)))
}

/// One `ShipmentRegistered` event: its `detail` is one parcel object.
async fn shipment_registered<S: ShipmentWriter, C: CarrierSubscribe, P>(
    deps: &Deps<S, C, P>,
    event: &EventBridgeEvent<Value>,
) -> Result<ItemResult, HandlerError> {
    let id = event.id.as_deref().unwrap_or("-");
    let shipment = match prepare(&event.detail, deps.now()) {
        Ok(s) => s,
        Err(r) => {
            let why = r.error.unwrap_or_default();
            tracing::warn!(event_id = id, source = %event.source, error = %why, "invalid ShipmentRegistered event");
            return Err(HandlerError::InvalidEvent(why));
        }
    };
    match register(deps, &shipment).await {
        Ok(r) => Ok(r),
        Err(e) => {
            tracing::error!(event_id = id, shipment = %shipment.id, error = %e, "cannot store the parcel");
            Err(e.into())
        }
    }
}
