//! Plumbing shared by both fakes: the state behind a mutex, the HTTP server thread,
//! the rate limiter, scripted behaviours, and the request log.
//!
//! Each fake runs on **its own thread with its own single-threaded tokio runtime**.
//! That makes a fake independent of the test's runtime: it works from
//! `#[tokio::test]` of either flavour and from plain `#[test]`s, a test that blocks
//! does not starve it, and dropping the handle only sends a stop signal — the
//! server thread then drops its runtime, which cancels every connection (including
//! a request parked in a [`Behaviour::Slow`] delay), so a drop never waits on a
//! client and never hangs a test.
//!
//! Every request goes through one axum fallback handler: it decodes the body as a
//! form, lets the fake's (synchronous) logic decide the reply while holding the state
//! lock, logs the request with its reply, releases the lock, *then* sleeps for the
//! configured latency plus any `Slow` delay, and answers.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::model::{Behaviour, Logged, Parcel, Scenario, Subscription, Target};

/// JSON content type of both aggregators' replies.
pub(crate) const JSON: &str = "application/json;charset=utf-8";

/// Everything a fake knows and remembers.
#[derive(Default)]
pub(crate) struct State {
    pub scenario: Scenario,
    pub one_shot: VecDeque<(Target, Behaviour)>,
    pub persistent: Vec<(Target, Behaviour)>,
    pub latency: Duration,
    pub qps_limit: Option<u32>,
    /// Arrival instants of admitted requests in the last second.
    pub window: VecDeque<Instant>,
    pub log: Vec<Logged>,
    pub subscriptions: Vec<Subscription>,
    /// Kdniao 2002 answers, by number.
    pub detection: Vec<(String, Vec<(String, String)>)>,
}

impl State {
    pub fn new(scenario: Scenario) -> Self {
        State {
            scenario,
            ..State::default()
        }
    }

    /// Sliding one-second window. Only admitted requests count, so a client that
    /// backs off after a rate-limit reply gets through again one second after its
    /// last admitted burst.
    pub fn admit(&mut self, now: Instant) -> bool {
        while let Some(first) = self.window.front() {
            if now.saturating_duration_since(*first) >= Duration::from_secs(1) {
                self.window.pop_front();
            } else {
                break;
            }
        }
        if let Some(limit) = self.qps_limit {
            if self.window.len() >= limit as usize {
                return false;
            }
        }
        self.window.push_back(now);
        true
    }

    /// The behaviour for a request about `number`: the oldest matching one-shot
    /// entry (consumed), else a persistent one for the number, else a persistent
    /// one for any number, else [`Behaviour::Normal`].
    pub fn take_behaviour(&mut self, number: &str) -> Behaviour {
        if let Some(i) = self.one_shot.iter().position(|(t, _)| t.matches(number)) {
            if let Some((_, b)) = self.one_shot.remove(i) {
                return b;
            }
        }
        let specific = self
            .persistent
            .iter()
            .find(|(t, _)| matches!(t, Target::Number(n) if n == number));
        let any = self.persistent.iter().find(|(t, _)| *t == Target::Any);
        specific
            .or(any)
            .map(|(_, b)| b.clone())
            .unwrap_or(Behaviour::Normal)
    }

    /// The parcel with this number if its carrier is `carrier` (case-insensitive).
    pub fn parcel_for(&self, carrier: &str, number: &str) -> Option<Parcel> {
        self.scenario
            .get(number)
            .filter(|p| p.carrier.eq_ignore_ascii_case(carrier))
            .cloned()
    }
}

/// The shared state handle.
#[derive(Clone)]
pub(crate) struct Core {
    state: Arc<Mutex<State>>,
}

impl Core {
    pub fn new(scenario: Scenario) -> Self {
        Core {
            state: Arc::new(Mutex::new(State::new(scenario))),
        }
    }

    /// Locks the state; a poisoned lock is still usable (the state stays consistent
    /// between statements).
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request as the logic sees it.
pub(crate) struct Incoming {
    pub at: Instant,
    pub method: Method,
    pub path: String,
    pub content_type: Option<String>,
    pub form: Vec<(String, String)>,
}

impl Incoming {
    /// The first form field with this name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first form field with this name, if not empty.
    pub fn nonempty(&self, name: &str) -> Option<&str> {
        self.field(name).filter(|v| !v.is_empty())
    }

    /// Whether the content type is a URL-encoded form (parameters such as
    /// `;charset=utf-8` allowed).
    pub fn is_form(&self) -> bool {
        self.content_type.as_deref().is_some_and(|ct| {
            ct.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
    }
}

/// What to answer.
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(v: &Value) -> Self {
        Reply::json_status(200, v)
    }

    pub fn json_status(status: u16, v: &Value) -> Self {
        Reply {
            status,
            content_type: JSON,
            body: v.to_string(),
            delay: Duration::ZERO,
        }
    }

    /// An nginx-style error page with this status (invalid statuses become 500).
    pub fn http_status(status: u16) -> Self {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let line = format!(
            "{} {}",
            code.as_u16(),
            code.canonical_reason().unwrap_or("Error")
        );
        Reply {
            status: code.as_u16(),
            content_type: "text/html",
            body: format!(
                "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            ),
            delay: Duration::ZERO,
        }
    }

    pub fn garbage(body: String) -> Self {
        Reply {
            status: 200,
            content_type: JSON,
            body,
            delay: Duration::ZERO,
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, self.content_type)],
            self.body,
        )
            .into_response()
    }
}

/// What the logic found out about a request, for the log.
#[derive(Default)]
pub(crate) struct Details {
    pub request_type: Option<String>,
    pub number: Option<String>,
    pub signature_valid: Option<bool>,
}

/// A behaviour turned into "go on (maybe slowly, maybe pretending no traces)" or
/// "answer this instead".
pub(crate) enum Verdict {
    Go { delay: Duration, no_traces: bool },
    Stop(Reply),
}

pub(crate) fn verdict(
    behaviour: Behaviour,
    error: impl FnOnce(&str, &str) -> Reply,
    rate_limited: impl FnOnce() -> Reply,
) -> Verdict {
    match behaviour {
        Behaviour::Normal => Verdict::Go {
            delay: Duration::ZERO,
            no_traces: false,
        },
        Behaviour::NoTraces => Verdict::Go {
            delay: Duration::ZERO,
            no_traces: true,
        },
        Behaviour::Slow(delay) => Verdict::Go {
            delay,
            no_traces: false,
        },
        Behaviour::Error { code, message } => Verdict::Stop(error(&code, &message)),
        Behaviour::RateLimited => Verdict::Stop(rate_limited()),
        Behaviour::HttpStatus(n) => Verdict::Stop(Reply::http_status(n)),
        Behaviour::Garbage(body) => Verdict::Stop(Reply::garbage(body)),
    }
}

/// The fake's decision function: runs with the state locked, must not block.
pub(crate) type Logic = Arc<dyn Fn(&mut State, &Incoming) -> (Reply, Details) + Send + Sync>;

fn router(core: Core, logic: Logic) -> Router {
    Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let core = core.clone();
            let logic = logic.clone();
            async move {
                let incoming = Incoming {
                    at: Instant::now(),
                    method,
                    path: uri.path().to_string(),
                    content_type: headers
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                    form: form_urlencoded::parse(&body).into_owned().collect(),
                };
                let (reply, wait) = {
                    let mut st = core.lock();
                    let (reply, details) = logic(&mut st, &incoming);
                    let wait = st.latency + reply.delay;
                    st.log.push(Logged {
                        at: incoming.at,
                        method: incoming.method.to_string(),
                        path: incoming.path,
                        content_type: incoming.content_type,
                        form: incoming.form,
                        request_type: details.request_type,
                        number: details.number,
                        signature_valid: details.signature_valid,
                        status: reply.status,
                        reply: reply.body.clone(),
                    });
                    (reply, wait)
                };
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                reply.into_response()
            }
        },
    )
}

/// A server thread; stops when dropped.
pub(crate) struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    pub fn spawn(addr: SocketAddr, core: Core, logic: Logic, name: &str) -> io::Result<Running> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = router(core, logic);
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        _ = axum::serve(listener, app).into_future() => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime here cancels every open connection.
                drop(runtime);
            })?;
        Ok(Running {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits for its thread (it exits promptly: nothing in it
    /// blocks).
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Signal only: joining from inside an async test would block its worker.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The current time in China (UTC+8) as `yyyy-MM-dd HH:mm:ss`.
pub(crate) fn china_now() -> String {
    (chrono::Utc::now() + chrono::TimeDelta::hours(8))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A JSON field as a string: strings as is, numbers printed; anything else `None`.
pub(crate) fn str_field(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A JSON field as a trimmed, non-empty string.
pub(crate) fn required(v: &Value, key: &str) -> Option<String> {
    str_field(v, key)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Generates the runtime controls shared by both fake handles (they all go
/// through `self.core`).
macro_rules! controls {
    () => {
        /// Delays every reply by this much (on top of any [`Behaviour::Slow`]).
        pub fn set_latency(&self, latency: std::time::Duration) {
            self.core.lock().latency = latency;
        }

        /// Admits at most `limit` requests per sliding second; the rest get the
        /// rate-limit reply (rejected requests do not count). `None` lifts it.
        pub fn set_qps_limit(&self, limit: Option<u32>) {
            let mut st = self.core.lock();
            st.qps_limit = limit;
            st.window.clear();
        }

        /// Queues a one-shot behaviour: the next verified request matching
        /// `target` (a number, or [`Target::Any`]) consumes it. Queued entries are
        /// consumed in order.
        pub fn push_behaviour(&self, target: impl Into<Target>, behaviour: Behaviour) {
            self.core
                .lock()
                .one_shot
                .push_back((target.into(), behaviour));
        }

        /// Sets a persistent behaviour for `target` ([`Behaviour::Normal`] clears
        /// it). A number's own behaviour wins over [`Target::Any`]'s; queued
        /// one-shot behaviours win over both.
        pub fn set_behaviour(&self, target: impl Into<Target>, behaviour: Behaviour) {
            let target = target.into();
            let mut st = self.core.lock();
            st.persistent.retain(|(t, _)| *t != target);
            if behaviour != Behaviour::Normal {
                st.persistent.push((target, behaviour));
            }
        }

        /// Forgets all scripted behaviours (queued and persistent).
        pub fn clear_behaviours(&self) {
            let mut st = self.core.lock();
            st.one_shot.clear();
            st.persistent.clear();
        }

        /// Adds or replaces a parcel's timeline.
        pub fn set_parcel(&self, parcel: Parcel) {
            self.core.lock().scenario.insert(parcel);
        }

        /// Removes a parcel (its number becomes unknown).
        pub fn remove_parcel(&self, number: &str) {
            self.core.lock().scenario.remove(number);
        }

        /// A copy of the current scenario.
        pub fn scenario(&self) -> Scenario {
            self.core.lock().scenario.clone()
        }

        /// Every request received so far, in arrival order.
        pub fn requests(&self) -> Vec<Logged> {
            self.core.lock().log.clone()
        }

        /// Empties the request log.
        pub fn clear_requests(&self) {
            self.core.lock().log.clear();
        }

        /// Every subscription accepted so far.
        pub fn subscriptions(&self) -> Vec<Subscription> {
            self.core.lock().subscriptions.clone()
        }

        /// `http://127.0.0.1:PORT`, no trailing slash.
        pub fn base_url(&self) -> String {
            format!("http://{}", self.running.addr())
        }

        /// The bound address.
        pub fn addr(&self) -> std::net::SocketAddr {
            self.running.addr()
        }

        /// Stops the server and waits for its thread. Dropping the handle also
        /// stops it (without waiting).
        pub fn shutdown(mut self) {
            self.running.shutdown();
        }
    };
}

pub(crate) use controls;
