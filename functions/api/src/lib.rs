//! # The `api` function
//!
//! One Lambda function serves two event sources, because both do the same thing —
//! take parcels in from the outside world:
//!
//! - the **HTTP API** (API Gateway HTTP API, payload format 2.0): registering and
//!   looking up parcels (IAM-authorised), and the carriers' push callbacks
//!   (authenticated by the provider's own signature over the exact body);
//! - **`ShipmentRegistered` events** from the default EventBridge bus, so an order
//!   system can integrate by events alone.
//!
//! Everything that decides lives in `shared`; this crate only translates events
//! into domain calls ([`handler`]) and is generic over the store and the carrier,
//! so it is tested with the in-memory store and a recording carrier. `main.rs`
//! wires DynamoDB and the configured provider.
//!
//! ## The HTTP contract
//!
//! Every answer is JSON (`content-type: application/json; charset=utf-8`); every
//! error is `{"error": "..."}` with a message that names the bad parameter. Times
//! are RFC 3339 in China time (`2024-05-01T09:12:00+08:00`). A request body may be
//! base64-encoded (`isBase64Encoded`), as API Gateway does for form posts.
//!
//! ### `POST /shipments`
//!
//! Body: one parcel object, or an array of 1 to 500 of them (the shape is
//! [`shared::registration`]'s: `carrier`, `tracking_number`, optional `order_id`,
//! `shipped_at`, `promised_at`, `phone`, `tags`, `origin`, `destination`; unknown
//! keys are ignored). Each
//! parcel is answered on its own, in the order given:
//!
//! ```json
//! {"results": [
//!   {"carrier": "ZTO", "tracking_number": "75312345678901", "status": "registered"},
//!   {"carrier": "SF",  "tracking_number": "SF1234567890123", "status": "exists"},
//!   {"carrier": "X Y", "tracking_number": "123", "status": "invalid", "error": "carrier: bad carrier code ..."},
//!   {"carrier": "YTO", "tracking_number": "YT1234567890123", "status": "error", "error": "temporary store failure; send this parcel again"},
//!   {"carrier": "JTSD", "tracking_number": "JT0001234567890", "status": "registered", "subscription_error": "..."}
//! ]}
//! ```
//!
//! - `registered`: stored now, due for its first check at once. In push mode
//!   (`TRACKING_MODE=push`) the provider is asked to push its updates; if that
//!   fails the parcel is kept (its time-based rules still run) and
//!   `subscription_error` says why.
//! - `exists`: already registered; nothing changed. Registration is idempotent, so
//!   re-sending a batch after a timeout is safe. A parcel repeated within one
//!   request is answered `exists` from its second occurrence on.
//! - `invalid`: the parcel cannot be registered as given; `error` names the field.
//!   `carrier`/`tracking_number` echo the input (normalised when valid, `null`
//!   when not a string).
//! - `error`: the store failed; send that parcel again.
//!
//! HTTP status: **200** when every parcel is `registered` or `exists` (also when
//! all exist — the request's goal is met); **207** when some succeeded and some
//! did not; **400** when none could be registered because all are `invalid`;
//! **503** when none succeeded and the store failed for at least one. A body that
//! is not JSON, not an object or array, an empty array or more than 500 parcels is
//! **400** with `{"error"}` and nothing is registered.
//!
//! ### `GET /shipments/{carrier}/{tracking_number}`
//!
//! **404** `{"error"}` for an unknown parcel, **400** for a malformed identity.
//! Else:
//!
//! ```json
//! {"carrier": "ZTO", "tracking_number": "75312345678901", "order_id": "DD1", "tags": [],
//!  "status": "InTransit", "raw_state": "State=2", "phone_masked": "138****5678",
//!  "registered_at": "...", "shipped_at": null, "promised_at": null,
//!  "next_check_at": "...", "last_checked_at": "...", "last_error": null,
//!  "timeline": [{"at": "...", "text": "...", "location": null, "status": "PickedUp", "code": "1"}],
//!  "findings": [{"rule": "stalled", "severity": "warning", "since": "..."}],
//!  "alerts":   [{"rule": "stalled", "kind": "fired", "severity": "warning", "since": "...", "at": "...", "seq": 0}]}
//! ```
//!
//! `findings` are the rules that hold right now (evaluated at the time of the
//! request); `alerts` is the notification log, oldest first. The phone number is
//! never returned, only masked.
//!
//! ### `GET /shipments?status=&rule=&carrier=&limit=&cursor=`
//!
//! `{"items": [summary, ...], "next_cursor": "..." | null}`, ordered by identity; a
//! summary is `{"carrier", "tracking_number", "order_id", "tags", "status",
//! "registered_at", "last_event_at", "next_check_at", "alerts": [active rule
//! names]}`. `status` is a status name (`InTransit`), `rule` a rule name (`stalled`:
//! parcels with an active alert for it), `limit` 1 to 500 (default 50), `cursor`
//! the `next_cursor` of the previous page. An empty parameter counts as absent; a
//! bad value, a repeated or an unknown parameter is **400** naming it.
//!
//! ### `GET /summary`
//!
//! `{"parcels", "by_status": {...}, "by_carrier": {...}, "active_alerts": {rule:
//! n}, "parcels_with_alerts", "query_errors"}` ([`shared::report::HealthSummary`]).
//!
//! ### The console routes: `GET /problems`, `POST /problems/{carrier}/{tracking_number}/{rule}`
//!
//! `GET /summary`, `GET /shipments/{carrier}/{tracking_number}` (which also
//! carries the parcel's `problems`) and the problem routes are answered by
//! `sentinel_console`, the same code `sentinel serve` serves under `/api/` (its
//! crate docs hold their contract).
//!
//! ### `POST /callbacks/kdniao`, `POST /callbacks/kuaidi100`
//!
//! The providers' push callbacks, answered with the acknowledgement body each
//! provider expects and its status (200 taken, 400 malformed, 401 bad signature,
//! 500 temporary failure — the provider pushes again). Kdniao needs
//! `KDNIAO_EBUSINESS_ID` + `KDNIAO_API_KEY`, Kuaidi100 `KUAIDI100_SALT`; without
//! them the callback answers **503** with the provider's failure body. Ops alerts
//! the pushed news raises are handed to the [`handler::AlertPublisher`]; customer
//! notices stay in the outbox for the scheduler (this internet-facing function
//! sends no SMS, and its role may not).
//!
//! Any other path is **404** `{"error": "no route for GET /x"}`; a known path with
//! the wrong method is **405** with an `allow` header.
//!
//! ## The `ShipmentRegistered` event
//!
//! An EventBridge event with `detail-type` `ShipmentRegistered` (any `source`; the
//! bus rule chooses) whose `detail` is **one parcel object**, the same shape as one
//! element of `POST /shipments`:
//!
//! ```json
//! {"detail-type": "ShipmentRegistered", "source": "shop.orders",
//!  "detail": {"carrier": "ZTO", "tracking_number": "75312345678901", "order_id": "DD1",
//!             "shipped_at": "2024-05-01T10:00:00+08:00", "tags": ["shop-a"]}}
//! ```
//!
//! One parcel per event keeps each event small, independently retried and
//! independently dead-lettered. An already registered parcel succeeds (events may
//! be delivered twice). An invalid `detail` fails the invocation with an
//! `InvalidShipmentRegistered` error, so after Lambda's retries the event lands in
//! the dead-letter queue — nothing is silently dropped. A store failure fails it
//! too (`StoreUnavailable`, retried). Any other event is an `UnrecognisedEvent`
//! error.

pub mod handler;
mod http;

pub use handler::{
    handle, AlertPublisher, ApiStore, CallbackKeys, Deps, HandlerError, ItemResult, ItemStatus,
    Output,
};
