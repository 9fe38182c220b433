//! `sentinel serve`: the console (`sentinel_console`: the page at `/`, its JSON
//! API under `/api/`) over HTTP on the SQLite store, for one machine and small
//! teams. It binds to loopback by
//! default; any other address needs a bearer token (`--token` or
//! `SENTINEL_TOKEN`), which every request under `/api/` must then carry.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::json;

use sentinel_console::{Call, Caller, Reply};
use sentinel_sqlite::SqliteStore;
use shared::clock::SystemClock;
use shared::config::Settings;
use shared::ports::Clock;

use crate::parcels::open_store;
use crate::{DbArg, Failure};

/// Shortest token taken.
const MIN_TOKEN: usize = 16;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArg,
    /// Where to listen (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Bearer token every API request must carry; required unless the address
    /// is loopback. Prefer the environment variable: a flag shows in `ps`.
    #[arg(long, env = "SENTINEL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Serve as of this instant instead of the clock (RFC 3339; a time without
    /// offset is China time): a demo database's parcels live in the demo's days.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
}

struct Served {
    store: SqliteStore,
    settings: Settings,
    token: Option<String>,
    now: Option<DateTime<Utc>>,
}

pub async fn run(a: ServeArgs) -> Result<u8, Failure> {
    let token = a.token.map(|t| t.trim().to_string());
    match &token {
        Some(t) if t.chars().count() < MIN_TOKEN => {
            return Err(Failure::input(format!(
                "--token: at least {MIN_TOKEN} characters"
            )))
        }
        None if !a.addr.ip().is_loopback() => {
            return Err(Failure::input(format!(
                "{} is not a loopback address: give --token (or SENTINEL_TOKEN) so that only \
                 people holding it can read and act",
                a.addr
            )))
        }
        _ => {}
    }
    let now = crate::check::time_arg("now", &a.now)?;
    let settings = Settings::from_env()?;
    let store = open_store(&a.db.db)?;
    let listener = tokio::net::TcpListener::bind(a.addr)
        .await
        .map_err(|e| Failure::runtime(format!("cannot listen on {}: {e}", a.addr)))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::runtime(format!("cannot listen on {}: {e}", a.addr)))?;
    let state = Arc::new(Served {
        store,
        settings,
        token,
        now,
    });
    let app = axum::Router::new().fallback(answer).with_state(state);
    println!(
        "serving http://{bound}/ (the console; its API under /api/) from {}",
        a.db.db.display()
    );
    axum::serve(listener, app)
        .await
        .map_err(|e| Failure::runtime(format!("server stopped: {e}")))?;
    Ok(0)
}

/// One file of the page (GET or HEAD), under the page's content policy.
fn page(method: &Method, asset: sentinel_console::Asset) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut r = json_reply(Reply::error(
            405,
            format!("{method} is not allowed here; use GET"),
        ));
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let mut r = asset.body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(sentinel_console::CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn json_reply(r: Reply) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, axum::Json(r.body)).into_response();
    if let Some(allow) = r.allow {
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
    }
    resp
}

async fn answer(
    State(s): State<Arc<Served>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let Some(rest) = path
        .strip_prefix("/api")
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        if let Some(asset) = sentinel_console::asset(path) {
            return page(&method, asset);
        }
        if path == "/console-config.json" {
            // No sign-in on one machine: loopback, or the bearer token.
            return json_reply(Reply::ok(sentinel_console::SignIn::page_config(None)));
        }
        return json_reply(Reply::error(
            404,
            format!("no route for {method} {}", shared::clip::clip(path)),
        ));
    };
    if let Some(token) = &s.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same(given.trim().as_bytes(), token.as_bytes()) {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "a bearer token is required"})),
            )
                .into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    let Some(segments) = sentinel_console::segments(rest) else {
        return json_reply(Reply::error(400, "bad percent-encoding in the path"));
    };
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let call = Call {
        method: method.as_str(),
        segments: &segs,
        query: uri.query().unwrap_or(""),
        body: &body,
        now: s.now.unwrap_or_else(|| SystemClock.now()),
        // Loopback, or a caller holding the token: trusted, named by `by`.
        caller: Caller::TRUSTED,
    };
    let reply = sentinel_console::route(&s.store, &s.settings, &call)
        .await
        .unwrap_or_else(|| {
            Reply::error(
                404,
                format!("no route for {method} {}", shared::clip::clip(path)),
            )
        });
    json_reply(reply)
}
