//! The HTTP routes (the contract is in the crate docs). Every outcome, including
//! every kind of bad input and a failing store, is an HTTP answer; nothing here
//! panics on what a client sends.

use std::collections::HashMap;

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::header::{ALLOW, CONTENT_TYPE};
use aws_lambda_events::http::{HeaderValue, Method};
use base64::Engine as _;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};

use chrono::{DateTime, Utc};
use sentinel_carriers::push;
use sentinel_carriers::push::{Ack, Handled};
use sentinel_console::{Caller, SignIn};
use shared::domain::{Audience, Rule};
use shared::domain::{CarrierCode, Shipment, ShipmentId, Status};
use shared::ports::{
    AlertLog, CarrierSubscribe, Lease, ListFilter, ShipmentQuery, ShipmentWriter, StoreError,
};
use shared::time::rfc3339;
use shared::tracker::{Tracker, TrackerStore};

use crate::handler::{self, AlertPublisher, ApiStore, Deps, ItemResult, ItemStatus};

/// At most this many parcels in one `POST /shipments`.
pub const MAX_BATCH: usize = 500;
/// Default and largest page of `GET /shipments`.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;
/// Parcels registered at once within one request.
const REGISTER_CONCURRENCY: usize = 16;

const JSON: &str = "application/json; charset=utf-8";

fn response(status: u16, body: String) -> ApiGatewayV2httpResponse {
    let mut r = ApiGatewayV2httpResponse::default();
    r.status_code = i64::from(status);
    r.headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    r.body = Some(Body::Text(body));
    r.is_base64_encoded = false;
    r
}

fn json_response<T: Serialize>(status: u16, body: &T) -> ApiGatewayV2httpResponse {
    match serde_json::to_string(body) {
        Ok(text) => response(status, text),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a response");
            response(500, r#"{"error":"internal error"}"#.into())
        }
    }
}

fn error(status: u16, message: impl Into<String>) -> ApiGatewayV2httpResponse {
    json_response(status, &json!({ "error": message.into() }))
}

fn store_unavailable(e: &StoreError) -> ApiGatewayV2httpResponse {
    tracing::error!(error = %e, "store failure");
    match e {
        // Not worth a retry: the item was set aside for a human.
        StoreError::Corrupt { key, .. } => json_response(
            500,
            &json!({
                "error": "a stored item is unreadable; it was set aside for an operator to \
                          repair or delete",
                "unreadable": shared::clip::clip(key).to_string(),
            }),
        ),
        _ => error(503, "the store is temporarily unavailable; try again"),
    }
}

fn not_allowed(method: &Method, path: &str, allow: &'static str) -> ApiGatewayV2httpResponse {
    let mut r = error(
        405,
        format!(
            "method {method} is not allowed on {}; allowed: {allow}",
            clip(path, 200)
        ),
    );
    r.headers.insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// At most `n` characters of client input, for messages.
fn clip(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

/// The request path without the stage prefix (`/prod/shipments` on a named stage
/// is `/shipments`) and without a trailing slash.
fn route_path(req: &ApiGatewayV2httpRequest) -> String {
    let raw = req
        .raw_path
        .as_deref()
        .or(req.request_context.http.path.as_deref())
        .unwrap_or("/");
    let mut path = raw;
    if let Some(stage) = req.request_context.stage.as_deref() {
        if stage != "$default" && !stage.is_empty() {
            if let Some(rest) = raw
                .strip_prefix('/')
                .and_then(|r| r.strip_prefix(stage))
                .filter(|r| r.is_empty() || r.starts_with('/'))
            {
                path = rest;
            }
        }
    }
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        "/".into()
    } else if path.starts_with('/') {
        path.into()
    } else {
        format!("/{path}")
    }
}

/// The request body as bytes (base64-decoded when API Gateway encoded it).
fn body_bytes(req: &ApiGatewayV2httpRequest) -> Result<Vec<u8>, String> {
    match &req.body {
        None => Ok(Vec::new()),
        Some(b) if req.is_base64_encoded => base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|e| format!("the body is marked base64-encoded but is not: {e}")),
        Some(b) => Ok(b.as_bytes().to_vec()),
    }
}

/// Answers one HTTP API request.
pub(crate) async fn respond<S: ApiStore, C: CarrierSubscribe, P: AlertPublisher>(
    deps: &Deps<S, C, P>,
    req: ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let method = req.request_context.http.method.clone();
    let path = route_path(&req);
    let Some(segments) = sentinel_console::segments(&path) else {
        return error(
            400,
            format!("bad percent-encoding in the path {}", clip(&path, 200)),
        );
    };
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    // A body that is not valid base64 reads as empty here (the console's POST
    // then answers 400); the callbacks answer it in their provider's own format.
    let body = body_bytes(&req).unwrap_or_default();
    let (segs, caller, signed_in) = match segs.as_slice() {
        // The console's JSON for people signed in (the JWT authorizer has checked
        // the token; the groups in it say what they may do).
        ["api", rest @ ..] => match signed_in_caller(&req) {
            Ok(caller) => (rest, caller, true),
            Err((status, why)) => return error(status, why),
        },
        // The machine routes: IAM has checked the caller.
        all => (all, Caller::TRUSTED, false),
    };
    if let Some(resp) = page(deps, &method, segs) {
        return resp;
    }
    let call = sentinel_console::Call {
        method: method.as_str(),
        segments: segs,
        query: req.raw_query_string.as_deref().unwrap_or(""),
        body: &body,
        now: deps.now(),
        caller,
    };
    let answer = sentinel_console::route(&deps.store, &deps.settings, &call).await;
    if let Some(reply) = answer {
        let mut resp = json_response(reply.status, &reply.body);
        if let Some(allow) = reply.allow {
            resp.headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        tracing::info!(method = %method, path = %clip(&path, 200), status = resp.status_code, "http");
        return resp;
    }
    if signed_in {
        // Registration and the callbacks are not the console's.
        return error(404, format!("no route for {method} {}", clip(&path, 200)));
    }
    let resp = match segs {
        ["shipments"] => match method {
            Method::POST => post_shipments(deps, &req).await,
            Method::GET => list_shipments(deps, &req).await,
            _ => not_allowed(&method, &path, "GET, POST"),
        },
        ["callbacks", provider @ ("kdniao" | "kuaidi100")] => match method {
            Method::POST => callback(deps, provider, &req).await,
            _ => not_allowed(&method, &path, "POST"),
        },
        _ => error(404, format!("no route for {method} {}", clip(&path, 200))),
    };
    tracing::info!(method = %method, path = %clip(&path, 200), status = resp.status_code, "http");
    resp
}

/// The signed-in caller of an `/api/` request, from the JWT claims API Gateway
/// passes in the request context; 401 without claims (the route is not behind
/// the authorizer), 403 for someone in neither console group.
fn signed_in_caller(req: &ApiGatewayV2httpRequest) -> Result<Caller<'_>, (u16, String)> {
    let claims = req
        .request_context
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .map(|j| &j.claims)
        .filter(|c| !c.is_empty())
        .ok_or((401, "sign in: this route needs a console token".to_string()))?;
    Caller::from_claims(|k| claims.get(k).map(String::as_str)).ok_or_else(|| {
        (
            403,
            format!(
                "signed in, but in neither the {} nor the {} group: ask an administrator",
                sentinel_console::OPS_GROUP,
                sentinel_console::VIEWER_GROUP
            ),
        )
    })
}

/// The console page, its files and where it signs in (no data: served to anyone).
fn page<S, C, P>(
    deps: &Deps<S, C, P>,
    method: &Method,
    segs: &[&str],
) -> Option<ApiGatewayV2httpResponse> {
    let path = match segs {
        [] => "/".to_string(),
        [one] => format!("/{one}"),
        _ => return None,
    };
    if path == "/console-config.json" {
        return Some(match *method {
            Method::GET => json_response(200, &SignIn::page_config(deps.sign_in.as_ref())),
            _ => not_allowed(method, &path, "GET"),
        });
    }
    let asset = sentinel_console::asset(&path)?;
    if *method != Method::GET {
        return Some(not_allowed(method, &path, "GET"));
    }
    let mut r = response(200, asset.body.to_string());
    r.headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    let policy = SignIn::content_security_policy(deps.sign_in.as_ref());
    if let Ok(v) = HeaderValue::from_str(&policy) {
        r.headers.insert("content-security-policy", v);
    }
    r.headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Some(r)
}

/// One parcel of a batch, before storing.
enum Prepared {
    Invalid(ItemResult),
    New(Box<Shipment>),
    /// The same parcel as an earlier element of the request.
    Repeat(usize),
}

async fn post_shipments<S: ShipmentWriter, C: CarrierSubscribe, P>(
    deps: &Deps<S, C, P>,
    req: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let bytes = match body_bytes(req) {
        Ok(b) => b,
        Err(why) => return error(400, why),
    };
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return error(400, format!("the body is not JSON: {e}")),
    };
    let items = match body {
        Value::Object(_) => vec![body],
        Value::Array(items) if items.is_empty() => {
            return error(
                400,
                format!("the array is empty: send 1 to {MAX_BATCH} shipments"),
            )
        }
        Value::Array(items) if items.len() > MAX_BATCH => {
            return error(
                400,
                format!(
                    "too many shipments: {} in one request, at most {MAX_BATCH}; split the batch",
                    items.len()
                ),
            )
        }
        Value::Array(items) => items,
        _ => {
            return error(
                400,
                "the body must be a shipment object or an array of shipment objects",
            )
        }
    };

    let now = deps.now();
    let mut first_seen: HashMap<ShipmentId, usize> = HashMap::new();
    let prepared: Vec<Prepared> = items
        .iter()
        .enumerate()
        .map(|(i, item)| match handler::prepare(item, now) {
            Err(r) => Prepared::Invalid(r),
            Ok(s) => match first_seen.get(&s.id) {
                Some(&j) => Prepared::Repeat(j),
                None => {
                    first_seen.insert(s.id.clone(), i);
                    Prepared::New(Box::new(s))
                }
            },
        })
        .collect();

    let stored: Vec<Option<ItemResult>> = stream::iter(prepared.iter())
        .map(|p| async move {
            match p {
                Prepared::New(s) => Some(match handler::register(deps, s).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(shipment = %s.id, error = %e, "cannot store the parcel");
                        let mut r = ItemResult::for_shipment(s, ItemStatus::Error);
                        r.error = Some("temporary store failure; send this parcel again".into());
                        r
                    }
                }),
                _ => None,
            }
        })
        .buffered(REGISTER_CONCURRENCY)
        .collect()
        .await;

    let internal = || ItemResult {
        carrier: None,
        tracking_number: None,
        status: ItemStatus::Error,
        error: Some("internal error".into()),
        subscription_error: None,
    };
    let mut results: Vec<ItemResult> = Vec::with_capacity(prepared.len());
    for (p, s) in prepared.into_iter().zip(stored) {
        let r = match p {
            Prepared::Invalid(r) => r,
            Prepared::New(_) => s.unwrap_or_else(internal),
            Prepared::Repeat(j) => {
                // `j` is earlier, so its answer is already in `results`.
                let mut r = results.get(j).cloned().unwrap_or_else(internal);
                if r.status == ItemStatus::Registered {
                    r.status = ItemStatus::Exists;
                    r.subscription_error = None;
                }
                r
            }
        };
        results.push(r);
    }

    let ok = results.iter().filter(|r| r.succeeded()).count();
    let errors = results
        .iter()
        .filter(|r| r.status == ItemStatus::Error)
        .count();
    let status = if ok == results.len() {
        200
    } else if ok > 0 {
        207
    } else if errors > 0 {
        503
    } else {
        400
    };
    json_response(status, &json!({ "results": results }))
}

fn summary(s: &Shipment) -> Value {
    json!({
        "carrier": s.id.carrier.as_str(),
        "tracking_number": s.id.tracking_number.as_str(),
        "order_id": s.order_id,
        "tags": s.tags,
        "status": s.status.as_str(),
        "registered_at": rfc3339(s.registered_at),
        "last_event_at": s.timeline.last().map(|e| rfc3339(e.at)),
        "next_check_at": s.next_check_at.map(rfc3339),
        "alerts": s.active_rules().map(Rule::as_str).collect::<Vec<_>>(),
    })
}

/// The listing's query: `(filter, cursor, limit)`, or a message naming the bad
/// parameter.
fn list_query(raw: &str) -> Result<(ListFilter, Option<String>, usize), String> {
    let mut filter = ListFilter::default();
    let mut cursor = None;
    let mut limit = DEFAULT_LIMIT;
    let mut seen: Vec<String> = Vec::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let key = k.as_ref();
        if !matches!(key, "status" | "rule" | "carrier" | "limit" | "cursor") {
            return Err(format!(
                "unknown query parameter {:?}; known: status, rule, carrier, limit, cursor",
                clip(key, 40)
            ));
        }
        if seen.iter().any(|s| s == key) {
            return Err(format!("{key}: given more than once"));
        }
        seen.push(key.to_string());
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match key {
            "status" => {
                let st = Status::parse(v).map_err(|_| {
                    let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
                    format!(
                        "status: unknown status {:?}; known: {}",
                        clip(v, 40),
                        names.join(", ")
                    )
                })?;
                filter.status = Some(st);
            }
            "rule" => {
                let r = Rule::parse(v).ok_or_else(|| {
                    let names: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
                    format!(
                        "rule: unknown rule {:?}; known: {}",
                        clip(v, 40),
                        names.join(", ")
                    )
                })?;
                filter.rule = Some(r);
            }
            "carrier" => {
                let c = CarrierCode::parse(v).map_err(|e| format!("carrier: {e}"))?;
                filter.carrier = Some(c);
            }
            "limit" => {
                limit = match v.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                    _ => {
                        return Err(format!(
                            "limit: expected a whole number from 1 to {MAX_LIMIT}, got {:?}",
                            clip(v, 40)
                        ))
                    }
                }
            }
            _ => cursor = Some(v.to_string()),
        }
    }
    Ok((filter, cursor, limit))
}

async fn list_shipments<S: ShipmentQuery, C, P>(
    deps: &Deps<S, C, P>,
    req: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let (filter, cursor, limit) = match list_query(req.raw_query_string.as_deref().unwrap_or("")) {
        Ok(q) => q,
        Err(why) => return error(400, why),
    };
    match deps
        .store
        .list_shipments(&filter, cursor.as_deref(), limit)
        .await
    {
        Ok(page) => json_response(
            200,
            &json!({
                "items": page.items.iter().map(summary).collect::<Vec<_>>(),
                "next_cursor": page.next,
                "unreadable": page.unreadable,
            }),
        ),
        Err(StoreError::BadCursor(_)) => error(
            400,
            "cursor: not a cursor this API returned (pass next_cursor unchanged)",
        ),
        Err(e) => store_unavailable(&e),
    }
}

fn ack_response(ack: Ack) -> ApiGatewayV2httpResponse {
    response(ack.status, ack.body)
}

async fn callback<S: TrackerStore, C, P: AlertPublisher>(
    deps: &Deps<S, C, P>,
    provider: &str,
    req: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    let now = deps.now();
    let refuse = |why: &str| -> Ack {
        let mut ack = if provider == "kdniao" {
            let id = deps.callbacks.kdniao.as_ref().map(|(id, _)| id.as_str());
            push::kdniao_ack(id.unwrap_or(""), now, Err(why))
        } else {
            push::kuaidi100_ack(Err(why))
        };
        ack.status = 400;
        ack
    };
    let body = match body_bytes(req).map(String::from_utf8) {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return ack_response(refuse("the body is not UTF-8")),
        Err(why) => return ack_response(refuse(&why)),
    };
    let tracker = Tracker::for_pushes(&deps.store, &deps.settings)
        .with(deps.mode, 1)
        .owned_by(format!("api push {provider}"));
    let lease = tracker.lease_at(now);
    let (ack, outcome) = if provider == "kdniao" {
        match &deps.callbacks.kdniao {
            Some((id, key)) => push::handle_kdniao(&tracker, &body, id, key, now).await,
            None => {
                let mut ack = push::kdniao_ack(
                    "",
                    now,
                    Err("push callbacks need KDNIAO_EBUSINESS_ID and KDNIAO_API_KEY"),
                );
                ack.status = 503;
                (ack, Err("Kdniao callbacks are not configured".to_string()))
            }
        }
    } else {
        let salt = deps.callbacks.kuaidi100_salt.as_ref();
        push::handle_kuaidi100(&tracker, &body, salt, now).await
    };
    match outcome {
        Ok(handled) => publish(deps, provider, handled, &lease, now).await,
        Err(why) => tracing::warn!(provider, status = ack.status, error = %why, "callback refused"),
    }
    ack_response(ack)
}

/// Hands the ops alerts a push raised to the publisher; what it does not take
/// stays in the outbox for the scheduler's next tick.
///
/// Customer notices are left in the outbox on purpose: the api is the
/// internet-facing function, and it may not send SMS to arbitrary phone numbers
/// (its role has no `sns:Publish` outside the alerts topic). The scheduler sends
/// them on its next tick, once the outbox grace (`OUTBOX_GRACE_SECONDS`) has
/// passed — minutes later, as for a notice held through quiet hours.
async fn publish<S: AlertLog, C, P: AlertPublisher>(
    deps: &Deps<S, C, P>,
    provider: &str,
    h: Handled,
    lease: &Lease,
    now: DateTime<Utc>,
) {
    let (notifications, notices): (Vec<_>, Vec<_>) = h
        .outcomes
        .into_iter()
        .flat_map(|o| o.notifications)
        .partition(|n| n.audience() == Audience::Ops);
    tracing::info!(
        provider,
        unknown_parcels = h.unknown,
        alerts = notifications.len(),
        customer_notices_for_the_scheduler = notices.len(),
        "callback taken"
    );
    match shared::outbox::deliver(&deps.store, &deps.publisher, &notifications, lease, now).await {
        Ok(d) if d.failed == 0 => {}
        Ok(d) => tracing::error!(provider, undelivered = d.failed, error = ?d.first_error,
            "alerts a push raised left in the outbox"),
        Err(e) => tracing::error!(provider, error = %e, "cannot mark alerts delivered"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queries() {
        let (f, c, l) =
            list_query("status=intransit&rule=stalled&carrier=zto&limit=10&cursor=ab").unwrap();
        assert_eq!(f.status, Some(Status::InTransit));
        assert_eq!(f.rule, Some(Rule::Stalled));
        assert_eq!(f.carrier.unwrap().as_str(), "ZTO");
        assert_eq!((c.as_deref(), l), (Some("ab"), 10));
        let (f, c, l) = list_query("status=&cursor=").unwrap();
        assert_eq!((f, c, l), (ListFilter::default(), None, DEFAULT_LIMIT));
        for (q, starts) in [
            ("status=Flying", "status:"),
            ("rule=stuck", "rule:"),
            ("carrier=Z%20T", "carrier:"),
            ("limit=0", "limit:"),
            ("limit=501", "limit:"),
            ("limit=ten", "limit:"),
            ("limit=1&limit=2", "limit:"),
            ("stauts=Delivered", "unknown query parameter"),
        ] {
            let e = list_query(q).unwrap_err();
            assert!(e.starts_with(starts), "{q}: {e}");
        }
    }
}
