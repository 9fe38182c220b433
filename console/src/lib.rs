//! # The console API
//!
//! What people use (issue 16): look a parcel up with its timeline, findings and
//! problems; work the problem queue; see the fleet's health. One router, free of
//! any HTTP framework ([`route`] takes a method, path segments, a query string and
//! a body, and returns a [`Reply`]), so the very same answers are served locally
//! by `sentinel serve` under `/api/` and on AWS by the api function. Everything
//! that decides is in `shared` ([`shared::problems`], [`shared::report`],
//! [`shared::rules`]); this crate only reads requests and writes JSON.
//!
//! ## Routes (relative to `/api/` locally, to the HTTP API's root on AWS)
//!
//! - `GET vocabulary`: the rules, statuses and severities with their Chinese
//!   labels, the problem states and the carriers (what the page's menus show).
//! - `GET summary`: [`shared::report::HealthSummary`] (parcels by status and
//!   carrier, problems by rule, state and severity, the last 14 days, delivery
//!   figures per carrier).
//! - `GET shipments/{carrier}/{tracking_number}`: the parcel ([`detail`]) with its
//!   timeline (the carrier's words; times RFC 3339 China time), the rules that hold
//!   now (`findings`), the notification log (`alerts`) and its `problems`
//!   (each active episode's state, owner and history).
//! - `GET shipments/{tracking_number}`: the same, for the one parcel of that
//!   number whatever its carrier; **300** `{"error", "carriers"}` when the number
//!   is registered under several.
//! - `GET problems?state=open&rule=…&carrier=…&severity=…&owner=…&limit=N`: the problem queue,
//!   `{"items": [...]}`, one item per parcel with its problems, the oldest first
//!   (`state` `open` by default; `all` for every state; `limit` 1 to 500,
//!   default 100).
//! - `POST problems/{carrier}/{tracking_number}/{rule}` with
//!   `{"action": "ack"|"snooze"|"close"|"note", "by": "…", "note": "…", "hours": N}`
//!   (`rule` may be `all`; `hours` only for `snooze`): **200**
//!   `{"carrier", "tracking_number", "acted_on": [rules], "problems": [...]}`;
//!   **409** `{"error", "state", "by", "at"}` when someone else was first;
//!   **404** for an unknown parcel or no open problem; **400** naming the bad field.
//!   `"action": "notify"` tells the recipient by hand
//!   ([`shared::problems::notify`]): **202** `{"carrier", "tracking_number",
//!   "notice": {"rule", "at", "deliver_at"}}` (sent by the next outbox pass, after
//!   quiet hours); **409** `{"error", "state": "notified", "at"}` when the
//!   recipient was already told of that rule; **422** without a phone number.
//!   A signed-in caller acts under their own name (the body's `by` is ignored);
//!   a `viewer` gets **403** ([`Caller`]).
//!
//! Every error is `{"error": "..."}`; a store failure is **503** (try again), an
//! unreadable stored item **500** naming it.

pub mod report_html;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use shared::clip::clip;
use shared::config::Settings;
use shared::domain::{AlertRecord, Rule, Severity, Shipment, ShipmentId};
use shared::lanes::{Eta, LaneView};
use shared::ports::{
    AlertLog, LaneQuery, ShipmentQuery, ShipmentReader, ShipmentWriter, StoreError,
};
use shared::problems::{self, Action, ProblemError, ProblemView, QueueFilter, Request, Target};
use shared::report::HealthSummary;
use shared::rules::{self, Finding, RuleConfig};
use shared::time::rfc3339;

/// What the console needs of a store.
pub trait ConsoleStore:
    ShipmentReader + ShipmentWriter + AlertLog + ShipmentQuery + LaneQuery
{
}
impl<T: ShipmentReader + ShipmentWriter + AlertLog + ShipmentQuery + LaneQuery> ConsoleStore for T {}

/// One file of the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static str,
}

/// The page's files by path (`/`, `/console.js`, `/console.css`): one HTML page,
/// its script and its style, built into the binary. They hold no data; the
/// script reads the JSON API at `api/` beside the page.
pub fn asset(path: &str) -> Option<Asset> {
    let (content_type, body) = match path {
        "/" | "/index.html" => (
            "text/html; charset=utf-8",
            include_str!("../page/index.html"),
        ),
        "/console.js" => (
            "text/javascript; charset=utf-8",
            include_str!("../page/console.js"),
        ),
        "/console.css" => (
            "text/css; charset=utf-8",
            include_str!("../page/console.css"),
        ),
        _ => return None,
    };
    Some(Asset { content_type, body })
}

/// The page's policy: its own script and style only, nothing framed, nothing
/// sent elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Where people sign in to the console on AWS (the Cognito hosted sign-in of the
/// template's user pool): `CONSOLE_AUTH_DOMAIN` and `CONSOLE_CLIENT_ID`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignIn {
    /// `https://{prefix}.auth.{region}.amazoncognito.com`, no trailing slash.
    pub domain: String,
    pub client_id: String,
}

/// The sign-in variables.
pub const SIGN_IN_VARIABLES: [&str; 2] = ["CONSOLE_AUTH_DOMAIN", "CONSOLE_CLIENT_ID"];

impl SignIn {
    /// Both variables, or neither (`None`: no sign-in, as on one machine). A
    /// domain that is not an `https://` host, or a client id that is not the
    /// 1–128 letters and digits Cognito issues, is refused naming the variable.
    /// Plain `http://` is taken for a loopback address with its port only
    /// (`http://127.0.0.1:PORT`, `http://localhost:PORT`): a stand-in for the
    /// hosted sign-in on the machine itself, as in the console's browser test.
    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, shared::config::ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let bad = |var: &'static str, token: &str, reason: &str| shared::config::ConfigError {
            var,
            token: token.to_string(),
            reason: reason.to_string(),
        };
        let [dv, cv] = SIGN_IN_VARIABLES;
        match (get(dv), get(cv)) {
            (None, None) => Ok(None),
            (Some(d), Some(c)) => {
                let Some(domain) = sign_in_domain(&d) else {
                    return Err(bad(
                        dv,
                        &d,
                        "expected https://HOST, e.g. https://x.auth.cn-north-1.amazoncognito.com \
                         (http only for a loopback address with its port)",
                    ));
                };
                if c.is_empty() || c.len() > 128 || !c.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(bad(
                        cv,
                        &c,
                        "expected the app client id (letters and digits)",
                    ));
                }
                Ok(Some(Self {
                    domain,
                    client_id: c,
                }))
            }
            (Some(_), None) => Err(bad(cv, "", "required with CONSOLE_AUTH_DOMAIN")),
            (None, Some(_)) => Err(bad(dv, "", "required with CONSOLE_CLIENT_ID")),
        }
    }

    /// The page's policy when it signs in here: it may also talk to the sign-in
    /// domain (the token endpoint) and be sent there.
    pub fn content_security_policy(sign_in: Option<&SignIn>) -> String {
        match sign_in {
            None => CONTENT_SECURITY_POLICY.to_string(),
            Some(s) => format!(
                "default-src 'self'; img-src 'self' data:; connect-src 'self' {d}; \
                 frame-ancestors 'none'; base-uri 'none'; form-action 'self' {d}",
                d = s.domain
            ),
        }
    }

    /// `GET console-config.json`: where the page signs in (`{"sign_in": null}`
    /// without sign-in).
    pub fn page_config(sign_in: Option<&SignIn>) -> Value {
        json!({
            "sign_in": sign_in.map(|s| json!({"domain": s.domain, "client_id": s.client_id})),
        })
    }
}

/// `CONSOLE_AUTH_DOMAIN` as the page uses it (no trailing slash), if it is an
/// `https://` host, or an `http://` loopback host with its port.
fn sign_in_domain(d: &str) -> Option<String> {
    let strip = |scheme: &str| {
        let rest = d.strip_prefix(scheme)?;
        Some(rest.strip_suffix('/').unwrap_or(rest))
    };
    if let Some(host) = strip("https://") {
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        return host_ok.then(|| format!("https://{host}"));
    }
    let (host, port) = strip("http://")?.rsplit_once(':')?;
    let port_ok = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p > 0);
    (port_ok && ["127.0.0.1", "localhost", "[::1]"].contains(&host))
        .then(|| format!("http://{host}:{port}"))
}

/// The names the page shows: rules, statuses and severities with their Chinese
/// labels, the problem states, the carriers.
pub fn vocabulary() -> Value {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|r| json!({"code": r.as_str(), "zh": r.label_zh()}))
        .collect();
    let statuses: Vec<Value> = shared::domain::Status::ALL
        .iter()
        .map(|s| json!({"code": s.as_str(), "zh": s.label_zh()}))
        .collect();
    let severities: Vec<Value> = [Severity::Warning, Severity::Critical]
        .iter()
        .map(|s| json!({"code": s.as_str(), "zh": s.label_zh()}))
        .collect();
    let carriers: Vec<Value> = shared::normalise::carriers::codes()
        .map(|c| json!({"code": c, "zh": shared::normalise::carriers::name_zh(c)}))
        .collect();
    json!({
        "rules": rules,
        "statuses": statuses,
        "severities": severities,
        "states": problems::STATES,
        "carriers": carriers,
    })
}

/// Default and largest page of `GET problems`.
pub const DEFAULT_QUEUE: usize = 100;
pub const MAX_QUEUE: usize = 500;
/// Largest request body taken.
pub const MAX_BODY: usize = 16 * 1024;

/// An answer: HTTP status and JSON body (and the `allow` header of a 405).
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub allow: Option<&'static str>,
}

impl Reply {
    pub fn ok(body: Value) -> Self {
        Self {
            status: 200,
            body,
            allow: None,
        }
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "error": message.into() }),
            allow: None,
        }
    }

    fn not_allowed(call: &Call<'_>, allow: &'static str) -> Self {
        let path = format!("/{}", call.segments.join("/"));
        Self {
            allow: Some(allow),
            ..Self::error(
                405,
                format!(
                    "method {} is not allowed on {}; allowed: {allow}",
                    clip(call.method),
                    clip(&path)
                ),
            )
        }
    }

    /// The answer to a failed store call.
    pub fn store_failed(e: &StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        match e {
            // Not worth a retry: the item was set aside for a human.
            StoreError::Corrupt { key, .. } => Self {
                status: 500,
                body: json!({
                    "error": "a stored item is unreadable; it was set aside for an operator to \
                              repair or delete",
                    "unreadable": clip(key).to_string(),
                }),
                allow: None,
            },
            _ => Self::error(503, "the store is temporarily unavailable; try again"),
        }
    }
}

/// The segments of a request path, percent-decoded, empty ones dropped; `None`
/// when a segment is not valid percent-encoded UTF-8.
pub fn segments(path: &str) -> Option<Vec<String>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.as_bytes()
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'%')
                .any(|(i, _)| {
                    !s.as_bytes()
                        .get(i + 1..i + 3)
                        .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
                })
            {
                return None;
            }
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        })
        .collect()
}

/// One request to the console.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub method: &'a str,
    /// The path's segments after the API's root, decoded ([`segments`]).
    pub segments: &'a [&'a str],
    /// The raw query string (without `?`).
    pub query: &'a str,
    pub body: &'a [u8],
    pub now: DateTime<Utc>,
    /// Who calls, as the deployment authenticated them.
    pub caller: Caller<'a>,
}

/// Who calls the console and what they may do. On one machine (`sentinel serve`)
/// and on the machine routes (IAM) a caller may act and names themself in the
/// body's `by`; through the sign-in on AWS the identity and the permission come
/// from the token's claims ([`Caller::from_claims`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller<'a> {
    /// The signed-in person; `None`: the body's `by` says who acts.
    pub name: Option<&'a str>,
    /// May acknowledge, snooze, close, annotate and notify (`ops`); otherwise
    /// read only (`viewer`).
    pub may_act: bool,
}

impl Caller<'static> {
    /// A caller trusted by where it came from (loopback, a bearer token, IAM).
    pub const TRUSTED: Caller<'static> = Caller {
        name: None,
        may_act: true,
    };
}

/// The group whose members may act on problems.
pub const OPS_GROUP: &str = "ops";
/// The group whose members may only read.
pub const VIEWER_GROUP: &str = "viewer";

impl<'a> Caller<'a> {
    /// A signed-in person from a Cognito token's claims: `cognito:groups` (as API
    /// Gateway passes a list claim: `[ops viewer]`, or one name) decides; the name
    /// is `email`, else `cognito:username`, else `username`, else `sub`. `None`
    /// when the caller is in neither group (signed in, but nobody gave them a
    /// role) or names nobody.
    pub fn from_claims(claim: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        let groups = claim("cognito:groups").unwrap_or("");
        let member = |g: &str| {
            groups
                .trim_matches(|c| c == '[' || c == ']')
                .split([' ', ','])
                .map(|x| x.trim().trim_matches('"'))
                .any(|x| x == g)
        };
        let may_act = member(OPS_GROUP);
        if !may_act && !member(VIEWER_GROUP) {
            return None;
        }
        let name = ["email", "cognito:username", "username", "sub"]
            .into_iter()
            .find_map(|k| claim(k).map(str::trim).filter(|v| !v.is_empty()))?;
        Some(Self {
            name: Some(name),
            may_act,
        })
    }
}

/// Answers `call` if it is a console route; `None` for any other path (the
/// caller's own routes, or its 404).
pub async fn route<S: ConsoleStore>(
    store: &S,
    settings: &Settings,
    call: &Call<'_>,
) -> Option<Reply> {
    let rules = &settings.rules;
    let get = call.method.eq_ignore_ascii_case("GET");
    let post = call.method.eq_ignore_ascii_case("POST");
    Some(match call.segments {
        ["summary"] if get => match HealthSummary::collect(store, call.now).await {
            Ok(s) => serde_json::to_value(s).map_or_else(
                |e| Reply::error(500, format!("cannot write the summary: {e}")),
                Reply::ok,
            ),
            Err(e) => Reply::store_failed(&e),
        },
        ["shipments", carrier, number] if get => {
            lookup(store, rules, carrier, number, call.now).await
        }
        ["shipments", number] if get => match problems::locate(store, number, None).await {
            Ok(s) => show(store, rules, s, call.now).await,
            Err(e) => problem_error(e),
        },
        ["problems"] if get => queue(store, call.query, call.now).await,
        ["problems", _, _, _] if post && !call.caller.may_act => Reply::error(
            403,
            format!("read only: only the {OPS_GROUP} group may act on problems"),
        ),
        ["problems", carrier, number, rule] if post => {
            act(store, settings, carrier, number, rule, call).await
        }
        ["vocabulary"] if get => Reply::ok(vocabulary()),
        ["vocabulary"] | ["summary"] | ["shipments", _] | ["shipments", _, _] | ["problems"] => {
            Reply::not_allowed(call, "GET")
        }
        ["problems", _, _, _] => Reply::not_allowed(call, "POST"),
        _ => return None,
    })
}

fn parse_id(carrier: &str, number: &str) -> Result<ShipmentId, Reply> {
    ShipmentId::parse(carrier, number).map_err(|e| {
        let field = match e {
            shared::domain::DomainError::BadCarrier(_) => "carrier",
            _ => "tracking_number",
        };
        Reply::error(400, format!("{field}: {e}"))
    })
}

async fn lookup<S: ConsoleStore>(
    store: &S,
    rules: &RuleConfig,
    carrier: &str,
    number: &str,
    now: DateTime<Utc>,
) -> Reply {
    let id = match parse_id(carrier, number) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let shipment = match store.get_shipment(&id).await {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::error(404, format!("no parcel {id} is registered")),
        Err(e) => return Reply::store_failed(&e),
    };
    show(store, rules, shipment, now).await
}

/// The parcel's detail with its notification log.
async fn show<S: ConsoleStore>(
    store: &S,
    rules: &RuleConfig,
    shipment: Shipment,
    now: DateTime<Utc>,
) -> Reply {
    let alerts = match store.alerts_for(&shipment.id).await {
        Ok(a) => a,
        Err(e) => return Reply::store_failed(&e),
    };
    let lanes = LaneView::load_or_prior(store, &shipment, now).await;
    let findings = rules::evaluate_with(&shipment, rules, Some(&lanes), now);
    let eta = lanes.eta(&shipment, now);
    Reply::ok(detail(&shipment, &findings, &alerts, eta.as_ref(), now))
}

/// One parcel as people see it (the body of `GET shipments/{carrier}/{number}`).
pub fn detail(
    s: &Shipment,
    findings: &[Finding],
    alerts: &[AlertRecord],
    eta: Option<&Eta>,
    now: DateTime<Utc>,
) -> Value {
    let timeline: Vec<Value> = s
        .timeline
        .effective_statuses()
        .map(|(e, status)| {
            json!({
                "at": rfc3339(e.at),
                "text": e.text,
                "location": e.location,
                "status": status.as_str(),
                "code": e.code,
            })
        })
        .collect();
    let findings: Vec<Value> = findings
        .iter()
        .map(|f| {
            json!({
                "rule": f.rule.as_str(),
                "severity": f.severity.as_str(),
                "since": rfc3339(f.since),
            })
        })
        .collect();
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|a| {
            json!({
                "rule": a.rule.as_str(),
                "kind": a.kind.as_str(),
                "severity": a.severity.as_str(),
                "since": rfc3339(a.since),
                "at": rfc3339(a.at),
                "seq": a.seq,
            })
        })
        .collect();
    let problems = problems::views(s, now);
    json!({
        "carrier": s.id.carrier.as_str(),
        "tracking_number": s.id.tracking_number.as_str(),
        "order_id": s.order_id,
        "tags": s.tags,
        "status": s.status.as_str(),
        "raw_state": s.raw_state,
        "phone_masked": s.phone.as_ref().map(|p| p.masked()),
        "registered_at": rfc3339(s.registered_at),
        "shipped_at": s.shipped_at.map(rfc3339),
        "promised_at": s.promised_at.map(rfc3339),
        "next_check_at": s.next_check_at.map(rfc3339),
        "last_checked_at": s.last_checked_at.map(rfc3339),
        "last_error": s.last_error,
        "origin": s.origin,
        "destination": s.destination,
        "eta": eta.map(Eta::to_json),
        "timeline": timeline,
        "findings": findings,
        "alerts": alerts,
        "problems": problems,
    })
}

/// The `GET problems` query: its filter and limit, or the message naming the bad
/// parameter.
pub fn queue_query(query: &str) -> Result<(QueueFilter, usize), String> {
    let mut filter = QueueFilter::default()
        .with_state("open")
        .map_err(|e| e.to_string())?;
    let mut limit = DEFAULT_QUEUE;
    let mut seen = std::collections::BTreeSet::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if !seen.insert(k.to_string()) {
            return Err(format!("{}: given twice", clip(&k)));
        }
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        match k.as_ref() {
            "state" => filter = filter.with_state(v).map_err(|e| e.to_string())?,
            "rule" => {
                filter.rule = Some(
                    Rule::parse(v).ok_or_else(|| format!("rule: unknown rule {:?}", clip(v)))?,
                )
            }
            "carrier" => {
                filter.carrier = Some(
                    shared::domain::CarrierCode::parse(v).map_err(|e| format!("carrier: {e}"))?,
                )
            }
            "severity" => filter = filter.with_severity(v).map_err(|e| e.to_string())?,
            "owner" => filter = filter.with_owner(v),
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_QUEUE).contains(n))
                    .ok_or_else(|| format!("limit: 1 to {MAX_QUEUE}, not {:?}", clip(v)))?
            }
            other => return Err(format!("unknown query parameter {:?}", clip(other))),
        }
    }
    Ok((filter, limit))
}

async fn queue<S: ConsoleStore>(store: &S, query: &str, now: DateTime<Utc>) -> Reply {
    let (filter, limit) = match queue_query(query) {
        Ok(q) => q,
        Err(why) => return Reply::error(400, why),
    };
    match problems::queue(store, &filter, now, limit).await {
        Ok(items) => Reply::ok(json!({ "items": items })),
        Err(e) => Reply::store_failed(&e),
    }
}

/// The body of `POST problems/...`, as a checked [`Request`]. `who` (a signed-in
/// caller) is who acts, whatever the body's `by` says.
pub fn action_request(
    rule: &str,
    body: &[u8],
    who: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Request, String> {
    if body.len() > MAX_BODY {
        return Err(format!("the body is over {MAX_BODY} bytes"));
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Some(o) = v.as_object() else {
        return Err("the body must be a JSON object".into());
    };
    let text = |k: &str| -> Result<Option<&str>, String> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("{k}: must be a string")),
        }
    };
    let target = match rule {
        r if r.eq_ignore_ascii_case("all") => Target::All,
        r => {
            Target::Rule(Rule::parse(r).ok_or_else(|| format!("rule: unknown rule {:?}", clip(r)))?)
        }
    };
    let hours = match o.get("hours") {
        None | Some(Value::Null) => None,
        Some(h) => Some(
            h.as_f64()
                .filter(|h| h.is_finite())
                .ok_or("hours: must be a number")?,
        ),
    };
    let action = match text("action")? {
        Some("ack") if hours.is_none() => Action::Ack,
        Some("snooze") => {
            let h = hours.ok_or("snooze: hours is required")?;
            let max = problems::MAX_SNOOZE_HOURS as f64;
            if !(h > 0.0 && h <= max) {
                return Err(format!("hours: more than 0 and at most {max}"));
            }
            Action::Snooze(Duration::seconds((h * 3600.0).round() as i64))
        }
        Some("close") if hours.is_none() => Action::Close,
        Some("note") if hours.is_none() => Action::Note,
        Some("notify") if hours.is_none() => Action::Notify,
        Some("ack" | "close" | "note" | "notify") => return Err("hours: only for snooze".into()),
        Some(other) => {
            return Err(format!(
                "action: one of ack, snooze, close, note, notify, not {:?}",
                clip(other)
            ))
        }
        None => return Err("action: required (ack, snooze, close, note or notify)".into()),
    };
    let by = match who {
        Some(name) => name,
        None => text("by")?.unwrap_or(""),
    };
    Request::new(target, action, by, text("note")?, now).map_err(|e| e.to_string())
}

async fn act<S: ConsoleStore>(
    store: &S,
    settings: &Settings,
    carrier: &str,
    number: &str,
    rule: &str,
    call: &Call<'_>,
) -> Reply {
    let now = call.now;
    let id = match parse_id(carrier, number) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let req = match action_request(rule, call.body, call.caller.name, now) {
        Ok(r) => r,
        Err(why) => return Reply::error(400, why),
    };
    if req.action == Action::Notify {
        return match problems::notify(store, &settings.quiet_hours, &id, &req).await {
            Ok(record) => Reply {
                status: 202,
                body: json!({
                    "carrier": id.carrier.as_str(),
                    "tracking_number": id.tracking_number.as_str(),
                    "notice": {
                        "rule": record.rule,
                        "at": rfc3339(record.at),
                        "deliver_at": rfc3339(record.deliver_at()),
                    },
                }),
                allow: None,
            },
            Err(e) => problem_error(e),
        };
    }
    match problems::act(store, &id, &req).await {
        Ok(acted) => {
            let problems: Vec<ProblemView> = match store.get_shipment(&id).await {
                Ok(Some(s)) => problems::views(&s, now),
                _ => Vec::new(),
            };
            Reply::ok(json!({
                "carrier": id.carrier.as_str(),
                "tracking_number": id.tracking_number.as_str(),
                "acted_on": acted,
                "problems": problems,
            }))
        }
        Err(e) => problem_error(e),
    }
}

fn problem_error(e: ProblemError) -> Reply {
    match e {
        ProblemError::Store(e) => Reply::store_failed(&e),
        ProblemError::Invalid(why) => Reply::error(400, why),
        ProblemError::NoParcel(_) | ProblemError::NoProblem { .. } | ProblemError::NoNumber(_) => {
            Reply::error(404, e.to_string())
        }
        ProblemError::Ambiguous { ref carriers, .. } => Reply {
            status: 300,
            body: json!({"error": e.to_string(), "carriers": carriers}),
            allow: None,
        },
        ProblemError::AlreadyTold { at, .. } => Reply {
            status: 409,
            body: json!({"error": e.to_string(), "state": "notified", "at": rfc3339(at)}),
            allow: None,
        },
        ProblemError::NoPhone(_) => Reply::error(422, e.to_string()),
        ProblemError::Taken {
            state, ref by, at, ..
        } => Reply {
            status: 409,
            body: json!({
                "error": e.to_string(),
                "state": state,
                "by": by,
                "at": rfc3339(at),
            }),
            allow: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_from_claims() {
        let claims = |groups: &'static str| {
            move |k: &str| match k {
                "cognito:groups" => Some(groups),
                "email" => Some("li@example.cn"),
                "cognito:username" => Some("lisi"),
                _ => None,
            }
        };
        for (groups, may_act) in [
            ("[ops]", true),
            ("[viewer ops]", true),
            ("ops", true),
            ("[\"ops\",\"viewer\"]", true),
            ("[viewer]", false),
            ("viewer", false),
        ] {
            let c = Caller::from_claims(claims(groups)).unwrap();
            assert_eq!(c.may_act, may_act, "{groups}");
            assert_eq!(c.name, Some("li@example.cn"));
        }
        for groups in ["", "[]", "[opsx]", "[admins]", "operations"] {
            assert_eq!(Caller::from_claims(claims(groups)), None, "{groups}");
        }
        // No e-mail in the token: the user name.
        let c = Caller::from_claims(|k| match k {
            "cognito:groups" => Some("[ops]"),
            "cognito:username" => Some("lisi"),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.name, Some("lisi"));
    }

    #[test]
    fn sign_in_needs_both_variables_and_checks_them() {
        let with = |d: Option<&str>, c: Option<&str>| {
            SignIn::from_lookup(|k| match k {
                "CONSOLE_AUTH_DOMAIN" => d.map(str::to_string),
                "CONSOLE_CLIENT_ID" => c.map(str::to_string),
                _ => None,
            })
        };
        assert_eq!(with(None, None).unwrap(), None);
        let s = with(
            Some("https://x.auth.cn-north-1.amazoncognito.com/"),
            Some("abc123"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.domain, "https://x.auth.cn-north-1.amazoncognito.com");
        assert_eq!(
            SignIn::page_config(Some(&s)),
            json!({"sign_in": {"domain": s.domain, "client_id": "abc123"}})
        );
        assert_eq!(SignIn::page_config(None), json!({"sign_in": null}));
        // A stand-in on the machine itself (the browser test's fake Cognito).
        for (given, domain) in [
            ("http://127.0.0.1:8443/", "http://127.0.0.1:8443"),
            ("http://localhost:9000", "http://localhost:9000"),
        ] {
            let s = with(Some(given), Some("abc")).unwrap().unwrap();
            assert_eq!(s.domain, domain);
        }
        for (d, c, var) in [
            (Some("http://x.example"), Some("abc"), "CONSOLE_AUTH_DOMAIN"),
            (Some("http://127.0.0.1"), Some("abc"), "CONSOLE_AUTH_DOMAIN"),
            (
                Some("http://127.0.0.1:0"),
                Some("abc"),
                "CONSOLE_AUTH_DOMAIN",
            ),
            (
                Some("http://127.0.0.1:99999"),
                Some("abc"),
                "CONSOLE_AUTH_DOMAIN",
            ),
            (
                Some("http://127.0.0.1.x.example:80"),
                Some("abc"),
                "CONSOLE_AUTH_DOMAIN",
            ),
            (
                Some("http://x.example:80"),
                Some("abc"),
                "CONSOLE_AUTH_DOMAIN",
            ),
            (
                Some("http://localhost:80/x"),
                Some("abc"),
                "CONSOLE_AUTH_DOMAIN",
            ),
            (
                Some("https://x.example:443"),
                Some("abc"),
                "CONSOLE_AUTH_DOMAIN",
            ),
            (
                Some("https://x.example/'; script"),
                Some("abc"),
                "CONSOLE_AUTH_DOMAIN",
            ),
            (Some("https://x.example"), Some("a b"), "CONSOLE_CLIENT_ID"),
            (Some("https://x.example"), None, "CONSOLE_CLIENT_ID"),
            (None, Some("abc"), "CONSOLE_AUTH_DOMAIN"),
        ] {
            assert_eq!(with(d, c).unwrap_err().var, var, "{d:?} {c:?}");
        }
    }

    #[test]
    fn segments_are_percent_decoded() {
        assert_eq!(
            segments("/shipments/SF/SF%31%32/").unwrap(),
            ["shipments", "SF", "SF12"]
        );
        assert_eq!(segments("%E4%B8%AD").unwrap(), ["中"]);
        for bad in ["%", "%4", "a/%zz", "%FF", "x%"] {
            assert_eq!(segments(bad), None, "{bad}");
        }
    }
}
