//! A local AWS Lambda Runtime API, to run the project's real `bootstrap` binaries
//! in tests the way Lambda runs them.
//!
//! # Why
//!
//! What Parcel Sentinel uploads to AWS is a `bootstrap` executable per function,
//! built on `lambda_runtime`. Testing only the handler functions would skip what
//! breaks in production: reading and validating the configuration at cold start,
//! the event JSON really decoding into the typed events, the answer really being
//! serialised, errors reaching Lambda as function errors, a cold start that stops
//! on bad configuration. So the end-to-end tests run the built binaries themselves.
//!
//! # How Lambda drives a function
//!
//! Lambda starts the `bootstrap` process with `AWS_LAMBDA_RUNTIME_API=host:port`
//! (and a few `AWS_LAMBDA_*` variables describing the function). The process
//! initialises, then loops: `GET /2018-06-01/runtime/invocation/next` long-polls
//! until there is an event, and answers with the event JSON and the invocation's
//! headers (request id, deadline, function ARN, X-Ray trace id); the function
//! handles it and posts the result to `/runtime/invocation/{id}/response`, or a
//! `{errorType, errorMessage}` document to `/runtime/invocation/{id}/error`. A
//! function that fails before its first `/next` may post `/runtime/init/error`;
//! either way it exits, and Lambda reports the cold start as failed.
//!
//! [`RuntimeApi`] is that endpoint: an HTTP server on `127.0.0.1` (a random port),
//! running on its own runtime thread so that it serves plain `#[test]`s and
//! `#[tokio::test(flavor = "multi_thread")]`s alike. A test queues event JSON with
//! [`RuntimeApi::invoke`] and gets back an [`Invocation`]: the function's response,
//! or the function error it reported. One `RuntimeApi` stands for one Lambda
//! execution environment: give each process its own (two racing instances of a
//! function are two `RuntimeApi`s), so that init errors and the init time are its
//! own.
//!
//! [`Bootstrap`] starts a binary against a `RuntimeApi` with the environment Lambda
//! would give it ([`RuntimeApi::runtime_api_env`] plus the test's variables;
//! inherited `AWS_LAMBDA_*` variables are removed), captures its stdout and stderr,
//! kills it when dropped, notices when it exits early (reported with the tail of
//! its stderr) and measures its init time: from the spawn to its first `/next`,
//! which is when a Lambda function has finished its cold start. An arm64
//! `bootstrap` from `sam build` runs on x86_64 through a command prefix:
//! [`Bootstrap::spawn_with_prefix`] with [`QEMU_AARCH64`].
//!
//! # What `lambda_runtime` 1.x requires
//!
//! * Environment: `AWS_LAMBDA_RUNTIME_API` (`host:port`, no scheme),
//!   `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (an integer) and
//!   `AWS_LAMBDA_FUNCTION_VERSION`: `Runtime::new` panics without them.
//!   `AWS_LAMBDA_LOG_GROUP_NAME`/`AWS_LAMBDA_LOG_STREAM_NAME` are optional;
//!   `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start` would make it call
//!   `/runtime/restore/next`, so it is set to `on-demand`.
//! * Headers of `/next`: `Lambda-Runtime-Aws-Request-Id` and
//!   `Lambda-Runtime-Deadline-Ms` (epoch milliseconds, an integer) are required —
//!   the runtime panics when either is missing. `Lambda-Runtime-Invoked-Function-Arn`
//!   and `Lambda-Runtime-Trace-Id` are optional (it falls back to a placeholder ARN
//!   and no trace id) but are sent, as Lambda does. `Lambda-Runtime-Client-Context`
//!   and `Lambda-Runtime-Cognito-Identity` are left out: when present they must be
//!   JSON.
//! * Function errors arrive on `/error` with the header
//!   `Lambda-Runtime-Function-Error-Type: unhandled`; the body's `errorType` is the
//!   function's own error type (its `Diagnostic`), which is what
//!   [`Invocation::FunctionError::error_type`] holds.
//! * `lambda_runtime::run` posts `/runtime/init/error` only for SnapStart hooks: a
//!   function whose configuration is bad at cold start typically prints a line to
//!   stderr and exits non-zero before its first `/next`. Both surface here:
//!   [`HarnessError::ProcessExited`] (with the stderr tail) and
//!   [`HarnessError::InitFailed`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State as AxumState};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

/// The command prefix that runs an arm64 (aarch64) Linux binary on an x86_64
/// machine: qemu-user with the arm64 C library of `libc6-arm64-cross`
/// (`apt-get install -y qemu-user-static libc6-arm64-cross`).
pub const QEMU_AARCH64: &[&str] = &["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"];

/// The region and account of the function ARNs this Runtime API hands out.
pub const REGION: &str = "us-east-1";
/// See [`REGION`].
pub const ACCOUNT_ID: &str = "000000000000";

/// How many lines of a function's stderr an error message quotes.
const STDERR_TAIL_LINES: usize = 20;
/// How long a blocking wait sleeps between checks of the child process.
const POLL_SLICE: Duration = Duration::from_millis(10);

/// The function a [`RuntimeApi`] pretends to be (what Lambda knows of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionConfig {
    /// `AWS_LAMBDA_FUNCTION_NAME`, and the last part of the function ARN.
    pub name: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub memory_mb: u32,
    /// `AWS_LAMBDA_FUNCTION_VERSION`.
    pub version: String,
    /// The function's timeout: each invocation's deadline is the moment the
    /// function takes the event plus this. Lambda's deadline is advisory for the
    /// function (nothing here kills it when it passes).
    pub timeout: Duration,
}

impl Default for FunctionConfig {
    fn default() -> Self {
        FunctionConfig::named("sentinel-test-function")
    }
}

impl FunctionConfig {
    /// A function called `name`, with 128 MB, version `$LATEST` and a 30 s timeout.
    pub fn named(name: impl Into<String>) -> Self {
        FunctionConfig {
            name: name.into(),
            memory_mb: 128,
            version: "$LATEST".to_string(),
            timeout: Duration::from_secs(30),
        }
    }

    /// `arn:aws:lambda:us-east-1:000000000000:function:<name>`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}",
            self.name
        )
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// The function posted `/response`: its body, as JSON (a body that is not JSON
    /// is kept as a JSON string of its text).
    Ok(Value),
    /// The function posted `/error`.
    FunctionError {
        /// The body's `errorType` (the function's error type; with
        /// `lambda_runtime` its `Diagnostic::error_type`), else the
        /// `Lambda-Runtime-Function-Error-Type` header.
        error_type: String,
        /// The body's `errorMessage`.
        message: String,
        /// The `Lambda-Runtime-Function-Error-Type` header (`unhandled` with
        /// `lambda_runtime`).
        header_error_type: Option<String>,
        /// The body as posted.
        raw: String,
    },
}

impl Invocation {
    /// The response, when the function answered one.
    pub fn response(&self) -> Option<&Value> {
        match self {
            Invocation::Ok(value) => Some(value),
            Invocation::FunctionError { .. } => None,
        }
    }

    /// Whether the function reported an error.
    pub fn is_function_error(&self) -> bool {
        matches!(self, Invocation::FunctionError { .. })
    }

    /// The response; panics, quoting the function error, when there is none.
    pub fn expect_ok(self) -> Value {
        match self {
            Invocation::Ok(value) => value,
            Invocation::FunctionError {
                error_type,
                message,
                ..
            } => panic!("the function reported an error: {error_type}: {message}"),
        }
    }
}

/// What a function posted to `/runtime/init/error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError {
    /// The body's `errorType`, else the `Lambda-Runtime-Function-Error-Type` header.
    pub error_type: String,
    /// The body's `errorMessage`.
    pub message: String,
    /// The `Lambda-Runtime-Function-Error-Type` header (e.g. `Runtime.InitError`).
    pub header_error_type: Option<String>,
    /// The body as posted.
    pub raw: String,
}

/// Why the harness could not get an answer from the function.
#[derive(Debug)]
pub enum HarnessError {
    /// The function did not do what was awaited in time.
    Timeout {
        /// How long the harness waited.
        waited: Duration,
        /// What it was waiting for, and how far the function got.
        waiting_for: String,
        /// The last lines of the function's stderr (empty when unknown).
        stderr_tail: String,
    },
    /// The function's process exited while the harness waited on it.
    ProcessExited {
        /// Its exit status.
        status: ExitStatus,
        /// Whether it had called `/next` at least once (`false`: it died during
        /// init).
        initialised: bool,
        /// The last lines of its stderr.
        stderr_tail: String,
    },
    /// The function posted `/runtime/init/error`.
    InitFailed {
        /// What it posted.
        error: InitError,
        /// The last lines of its stderr (empty when unknown).
        stderr_tail: String,
    },
    /// The process could not be started.
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: io::Error,
    },
}

impl HarnessError {
    /// The stderr lines the error quotes (empty for [`HarnessError::Spawn`]).
    pub fn stderr_tail(&self) -> &str {
        match self {
            HarnessError::Timeout { stderr_tail, .. }
            | HarnessError::ProcessExited { stderr_tail, .. }
            | HarnessError::InitFailed { stderr_tail, .. } => stderr_tail,
            HarnessError::Spawn { .. } => "",
        }
    }

    fn with_stderr_tail(mut self, tail: String) -> Self {
        match &mut self {
            HarnessError::Timeout { stderr_tail, .. }
            | HarnessError::ProcessExited { stderr_tail, .. }
            | HarnessError::InitFailed { stderr_tail, .. } => *stderr_tail = tail,
            HarnessError::Spawn { .. } => {}
        }
        self
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HarnessError::Timeout {
                waited,
                waiting_for,
                ..
            } => write!(f, "timed out after {waited:?} waiting for {waiting_for}")?,
            HarnessError::ProcessExited {
                status,
                initialised,
                ..
            } => {
                let when = if *initialised {
                    "after it had started polling /next"
                } else {
                    "during init, before its first /next"
                };
                write!(f, "the function process exited early ({status}), {when}")?
            }
            HarnessError::InitFailed { error, .. } => write!(
                f,
                "the function failed at init (/runtime/init/error): {}: {}",
                error.error_type, error.message
            )?,
            HarnessError::Spawn { command, source } => {
                return write!(f, "cannot start `{command}`: {source}")
            }
        }
        let tail = self.stderr_tail();
        if tail.trim().is_empty() {
            if matches!(self, HarnessError::ProcessExited { .. }) {
                write!(f, "; it wrote nothing to stderr")?;
            }
            Ok(())
        } else {
            write!(f, "\n--- function stderr (last lines) ---\n{tail}")
        }
    }
}

impl std::error::Error for HarnessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HarnessError::Spawn { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Where an invocation is.
enum Status {
    Queued,
    Running,
    Done(Invocation),
}

struct Queued {
    request_id: String,
    body: Bytes,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    status: HashMap<String, Status>,
    first_next: Option<Instant>,
    next_requests: usize,
    init_error: Option<InitError>,
    /// Long-polling `/next` requests waiting for an event.
    next_waiters: Vec<Waker>,
    /// `invoke_async` callers waiting for a change.
    result_waiters: Vec<Waker>,
}

struct Shared {
    config: FunctionConfig,
    state: Mutex<State>,
    /// Signalled on every change a blocking waiter may care about.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes everyone waiting for a result (blocking and async).
    fn notify(&self, state: &mut State) {
        for waker in state.result_waiters.drain(..) {
            waker.wake();
        }
        self.changed.notify_all();
    }

    fn enqueue(&self, body: Bytes) -> String {
        let request_id = request_id();
        let mut state = self.lock();
        state.status.insert(request_id.clone(), Status::Queued);
        state.queue.push_back(Queued {
            request_id: request_id.clone(),
            body,
        });
        for waker in state.next_waiters.drain(..) {
            waker.wake();
        }
        request_id
    }

    /// The outcome of `request_id` if it is done (and forgets it), or a reason to
    /// stop waiting.
    fn check(
        &self,
        state: &mut State,
        request_id: &str,
    ) -> Option<Result<Invocation, HarnessError>> {
        if let Some(Status::Done(_)) = state.status.get(request_id) {
            if let Some(Status::Done(invocation)) = state.status.remove(request_id) {
                return Some(Ok(invocation));
            }
        }
        if !state.status.contains_key(request_id) {
            return Some(Err(HarnessError::Timeout {
                waited: Duration::ZERO,
                waiting_for: format!(
                    "request {request_id}, which this Runtime API does not know \
                     (already collected, or queued on another Runtime API)"
                ),
                stderr_tail: String::new(),
            }));
        }
        if let Some(error) = state.init_error.clone() {
            forget(state, request_id);
            return Some(Err(HarnessError::InitFailed {
                error,
                stderr_tail: String::new(),
            }));
        }
        None
    }

    fn timeout(&self, state: &mut State, request_id: &str, waited: Duration) -> HarnessError {
        let waiting_for = match forget(state, request_id) {
            Some(Status::Queued) => format!(
                "request {request_id}: no /next took the event (is the function running? \
                 it made {} /next request(s) so far)",
                state.next_requests
            ),
            _ => format!(
                "request {request_id}: the function took the event from /next but posted \
                 neither /response nor /error"
            ),
        };
        HarnessError::Timeout {
            waited,
            waiting_for,
            stderr_tail: String::new(),
        }
    }

    /// Blocks until `request_id` is answered, `timeout` passes, or `abort` (checked
    /// every few milliseconds) reports a reason to give up.
    fn wait_for(
        &self,
        request_id: &str,
        timeout: Duration,
        mut abort: impl FnMut() -> Option<HarnessError>,
    ) -> Result<Invocation, HarnessError> {
        let start = Instant::now();
        loop {
            let aborted = abort();
            let mut state = self.lock();
            if let Some(outcome) = self.check(&mut state, request_id) {
                return outcome;
            }
            if let Some(error) = aborted {
                forget(&mut state, request_id);
                return Err(error);
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(self.timeout(&mut state, request_id, waited));
            }
            let slice = (timeout - waited).min(POLL_SLICE);
            drop(self.changed.wait_timeout(state, slice));
        }
    }

    /// `/next`: records the call, then waits for an event and marks it running.
    async fn next_event(&self) -> (Queued, u64) {
        {
            let mut state = self.lock();
            state.next_requests += 1;
            state.first_next.get_or_insert_with(Instant::now);
            self.notify(&mut state);
        }
        let queued = std::future::poll_fn(|cx| {
            let mut state = self.lock();
            match state.queue.pop_front() {
                Some(queued) => {
                    state
                        .status
                        .insert(queued.request_id.clone(), Status::Running);
                    self.notify(&mut state);
                    Poll::Ready(queued)
                }
                None => {
                    state.next_waiters.push(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        let deadline = epoch_ms(SystemTime::now() + self.config.timeout);
        (queued, deadline)
    }

    /// Records the outcome of a running invocation; the status code and body to
    /// answer with, as Lambda's Runtime API would.
    fn complete(&self, request_id: &str, invocation: Invocation) -> (StatusCode, Value) {
        let mut state = self.lock();
        match state.status.get(request_id) {
            Some(Status::Running) => {
                state
                    .status
                    .insert(request_id.to_string(), Status::Done(invocation));
                self.notify(&mut state);
                (StatusCode::ACCEPTED, json!({"status": "OK"}))
            }
            Some(_) => (
                StatusCode::FORBIDDEN,
                json!({
                    "errorType": "InvalidStateTransition",
                    "errorMessage": format!("request {request_id} is not in progress"),
                }),
            ),
            None => (
                StatusCode::BAD_REQUEST,
                json!({
                    "errorType": "InvalidRequestID",
                    "errorMessage": format!("unknown request id {request_id}"),
                }),
            ),
        }
    }
}

/// Drops what is known of `request_id` (a queued event leaves the queue).
fn forget(state: &mut State, request_id: &str) -> Option<Status> {
    state.queue.retain(|q| q.request_id != request_id);
    state.status.remove(request_id)
}

/// A local Lambda Runtime API (see the [module docs](self)). Stops when dropped.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl RuntimeApi {
    /// Starts a Runtime API for a default function ([`FunctionConfig::default`]).
    pub fn start() -> RuntimeApi {
        RuntimeApi::start_with(FunctionConfig::default())
    }

    /// Starts a Runtime API for the function `config` describes, on 127.0.0.1
    /// (a random port), served by its own one-thread tokio runtime.
    pub fn start_with(config: FunctionConfig) -> RuntimeApi {
        match RuntimeApi::try_start(config) {
            Ok(api) => api,
            Err(e) => panic!("the local Lambda Runtime API could not start: {e}"),
        }
    }

    fn try_start(config: FunctionConfig) -> io::Result<RuntimeApi> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        // A worker thread of its own: the server runs whatever the caller does
        // (blocking in a plain test, or inside another tokio runtime).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lambda-runtime-api")
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let app = router(shared.clone());
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(RuntimeApi {
            addr,
            shared,
            runtime: Some(runtime),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The function it pretends to be.
    pub fn config(&self) -> &FunctionConfig {
        &self.shared.config
    }

    /// The environment Lambda gives a function: `AWS_LAMBDA_RUNTIME_API` pointing
    /// here, plus the function's name, memory size, version, log group and stream,
    /// and `AWS_LAMBDA_INITIALIZATION_TYPE=on-demand`.
    pub fn runtime_api_env(&self) -> Vec<(String, String)> {
        let config = &self.shared.config;
        let stream = format!(
            "{}/[{}]{:016x}{:016x}",
            chrono::Utc::now().format("%Y/%m/%d"),
            config.version,
            random_u64(),
            random_u64()
        );
        [
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", config.name.clone()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                config.memory_mb.to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION", config.version.clone()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", config.name),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", stream),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Queues `event` for the next `/next`; its request id.
    pub fn enqueue(&self, event: &Value) -> String {
        self.enqueue_raw(event.to_string())
    }

    /// Queues a raw body (not necessarily JSON) for the next `/next`; its request id.
    pub fn enqueue_raw(&self, body: impl Into<Bytes>) -> String {
        self.shared.enqueue(body.into())
    }

    /// Waits (blocking) up to `timeout` for the outcome of `request_id`.
    pub fn wait_for(
        &self,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Invocation, HarnessError> {
        self.shared.wait_for(request_id, timeout, || None)
    }

    /// Invokes the function with `event`: queues it and waits (blocking) up to
    /// `timeout` for the function's response or error. Fails at once when the
    /// function reported an init error; cannot tell when its process died (see
    /// [`Bootstrap::invoke`]), which then shows as a timeout.
    pub fn invoke(&self, event: Value, timeout: Duration) -> Result<Invocation, HarnessError> {
        let request_id = self.enqueue(&event);
        self.wait_for(&request_id, timeout)
    }

    /// [`RuntimeApi::invoke`] for async code (it needs a tokio runtime with the
    /// time driver).
    pub async fn invoke_async(
        &self,
        event: Value,
        timeout: Duration,
    ) -> Result<Invocation, HarnessError> {
        let request_id = self.enqueue(&event);
        let shared = &self.shared;
        let start = Instant::now();
        let outcome = std::future::poll_fn(|cx| {
            let mut state = shared.lock();
            match shared.check(&mut state, &request_id) {
                Some(outcome) => Poll::Ready(outcome),
                None => {
                    state.result_waiters.push(cx.waker().clone());
                    Poll::Pending
                }
            }
        });
        match tokio::time::timeout(timeout, outcome).await {
            Ok(outcome) => outcome,
            Err(_) => {
                let mut state = shared.lock();
                match shared.check(&mut state, &request_id) {
                    Some(outcome) => outcome,
                    None => Err(shared.timeout(&mut state, &request_id, start.elapsed())),
                }
            }
        }
    }

    /// When the first `/next` request arrived (the end of the first cold start).
    pub fn first_next_at(&self) -> Option<Instant> {
        self.shared.lock().first_next
    }

    /// How many `/next` requests arrived so far.
    pub fn next_requests(&self) -> usize {
        self.shared.lock().next_requests
    }

    /// What a function posted to `/runtime/init/error`, if it did.
    pub fn init_error(&self) -> Option<InitError> {
        self.shared.lock().init_error.clone()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        // Does not block (allowed inside async tests); open connections are cut.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(function_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(shared)
}

async fn next(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    let (queued, deadline) = shared.next_event().await;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("content-type", "application/json".to_string());
    set("lambda-runtime-aws-request-id", queued.request_id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set("lambda-runtime-invoked-function-arn", shared.config.arn());
    set("lambda-runtime-trace-id", trace_id());
    (StatusCode::OK, headers, queued.body).into_response()
}

async fn response(
    AxumState(shared): AxumState<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let (status, answer) = shared.complete(&id, Invocation::Ok(value));
    json_response(status, answer)
}

async fn function_error(
    AxumState(shared): AxumState<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, message, header_error_type, raw) = read_error(&headers, &body);
    let invocation = Invocation::FunctionError {
        error_type,
        message,
        header_error_type,
        raw,
    };
    let (status, answer) = shared.complete(&id, invocation);
    json_response(status, answer)
}

async fn init_error(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, message, header_error_type, raw) = read_error(&headers, &body);
    let mut state = shared.lock();
    state.init_error = Some(InitError {
        error_type,
        message,
        header_error_type,
        raw,
    });
    shared.notify(&mut state);
    json_response(StatusCode::ACCEPTED, json!({"status": "OK"}))
}

/// `(errorType, errorMessage, Lambda-Runtime-Function-Error-Type, raw body)`.
fn read_error(headers: &HeaderMap, body: &[u8]) -> (String, String, Option<String>, String) {
    let header = headers
        .get("lambda-runtime-function-error-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let raw = String::from_utf8_lossy(body).into_owned();
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |name: &str| parsed.get(name).and_then(Value::as_str).map(str::to_string);
    let error_type = field("errorType")
        .or_else(|| header.clone())
        .unwrap_or_else(|| "Unknown".to_string());
    let message = field("errorMessage").unwrap_or_else(|| raw.clone());
    (error_type, message, header, raw)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body.to_string(),
    )
        .into_response()
}

fn epoch_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A fresh pseudo-random number (splitmix64 over a counter seeded by the clock);
/// enough for unique request ids, not for secrets.
fn random_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let _ = STATE.compare_exchange(0, seed | 1, Ordering::Relaxed, Ordering::Relaxed);
    let mut z = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A UUID (version 4 layout), as Lambda's request ids are.
fn request_id() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// An X-Ray trace header: `Root=1-<epoch s hex>-<96 bits hex>;Parent=<64 bits>;Sampled=0`.
fn trace_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "Root=1-{secs:08x}-{:08x}{:016x};Parent={:016x};Sampled=0",
        random_u64() as u32,
        random_u64(),
        random_u64()
    )
}

/// A `bootstrap` process run against a [`RuntimeApi`], killed when dropped.
pub struct Bootstrap {
    child: Child,
    command: String,
    shared: Arc<Shared>,
    spawned_at: Instant,
    exit: Option<ExitStatus>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Bootstrap {
    /// Starts the executable at `path` against `runtime`: with
    /// [`RuntimeApi::runtime_api_env`] and then `env` (which wins) on top of the
    /// inherited environment minus its `AWS_LAMBDA_*` variables. Panics when the
    /// executable cannot be started.
    pub fn spawn(path: &Path, runtime: &RuntimeApi, env: &[(String, String)]) -> Bootstrap {
        Bootstrap::spawn_with_prefix(&[], path, runtime, env)
    }

    /// [`Bootstrap::spawn`] through a command prefix: `prefix[0] prefix[1..] path`,
    /// e.g. [`QEMU_AARCH64`] to run an arm64 `bootstrap` under qemu-user.
    pub fn spawn_with_prefix(
        prefix: &[&str],
        path: &Path,
        runtime: &RuntimeApi,
        env: &[(String, String)],
    ) -> Bootstrap {
        match Bootstrap::try_spawn(prefix, path, runtime, env) {
            Ok(bootstrap) => bootstrap,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Bootstrap::spawn_with_prefix`] that reports a failure to start instead of
    /// panicking.
    pub fn try_spawn(
        prefix: &[&str],
        path: &Path,
        runtime: &RuntimeApi,
        env: &[(String, String)],
    ) -> Result<Bootstrap, HarnessError> {
        let mut words: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        words.push(path.display().to_string());
        let command_line = words.join(" ");
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(path);
                command
            }
            None => Command::new(path),
        };
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_LAMBDA_") {
                command.env_remove(&key);
            }
        }
        command
            .env_remove("_X_AMZN_TRACE_ID")
            .envs(runtime.runtime_api_env())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let spawned_at = Instant::now();
        let mut child = command.spawn().map_err(|source| HarnessError::Spawn {
            command: command_line.clone(),
            source,
        })?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            readers.push(collect(pipe, stdout.clone()));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(collect(pipe, stderr.clone()));
        }
        Ok(Bootstrap {
            child,
            command: command_line,
            shared: runtime.shared.clone(),
            spawned_at,
            exit: None,
            stdout,
            stderr,
            readers,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The command line it was started with.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Invokes the function with `event` (through its [`RuntimeApi`]) and waits
    /// (blocking) up to `timeout` for its response or error; reports at once when
    /// the process exits or posts an init error meanwhile.
    pub fn invoke(&mut self, event: Value, timeout: Duration) -> Result<Invocation, HarnessError> {
        let request_id = self.shared.enqueue(event.to_string().into());
        self.wait_for(&request_id, timeout)
    }

    /// Waits (blocking) up to `timeout` for the outcome of `request_id` (from
    /// [`RuntimeApi::enqueue`]), watching the process as [`Bootstrap::invoke`] does.
    pub fn wait_for(
        &mut self,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Invocation, HarnessError> {
        let shared = self.shared.clone();
        let outcome = shared.wait_for(request_id, timeout, || self.exited_error());
        outcome.map_err(|e| self.explain(e))
    }

    /// Waits up to `timeout` for the process to finish its cold start, i.e. to make
    /// its first `/next` request; the init duration. Fails when it exits first or
    /// posts an init error (quoting its stderr), or does not get there in time.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, HarnessError> {
        let shared = self.shared.clone();
        let start = Instant::now();
        loop {
            let exited = self.exited_error();
            let state = shared.lock();
            if let Some(duration) = self.init_duration_in(&state) {
                return Ok(duration);
            }
            if let Some(error) = &state.init_error {
                let error = HarnessError::InitFailed {
                    error: error.clone(),
                    stderr_tail: String::new(),
                };
                drop(state);
                return Err(self.explain(error));
            }
            if let Some(error) = exited {
                drop(state);
                return Err(self.explain(error));
            }
            let waited = start.elapsed();
            if waited >= timeout {
                drop(state);
                let error = HarnessError::Timeout {
                    waited,
                    waiting_for: "the function's first /next request (the end of its init)"
                        .to_string(),
                    stderr_tail: String::new(),
                };
                return Err(self.explain(error));
            }
            let slice = (timeout - waited).min(POLL_SLICE);
            drop(shared.changed.wait_timeout(state, slice));
        }
    }

    /// From the spawn to the first `/next` request, if there was one since.
    pub fn init_duration(&self) -> Option<Duration> {
        self.init_duration_in(&self.shared.lock())
    }

    fn init_duration_in(&self, state: &State) -> Option<Duration> {
        state
            .first_next
            .and_then(|at| at.checked_duration_since(self.spawned_at))
    }

    /// Waits up to `timeout` for the process to exit; its status, if it did.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_exit_status() {
                return Some(status);
            }
            if start.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(POLL_SLICE.min(timeout.saturating_sub(start.elapsed())));
        }
    }

    /// Its exit status, if it has exited (does not wait).
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
                self.settle_output();
            }
        }
        self.exit
    }

    /// Kills the process (if it still runs) and reaps it.
    pub fn kill(&mut self) {
        if self.try_exit_status().is_none() {
            let _ = self.child.kill();
            if let Ok(status) = self.child.wait() {
                self.exit = Some(status);
            }
            self.settle_output();
        }
    }

    /// What it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        read_buffer(&self.stdout)
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        read_buffer(&self.stderr)
    }

    /// The last lines of its stderr.
    pub fn stderr_tail(&self) -> String {
        let stderr = self.stderr();
        let lines: Vec<&str> = stderr.lines().collect();
        lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
    }

    fn exited_error(&mut self) -> Option<HarnessError> {
        let status = self.try_exit_status()?;
        let initialised = self.init_duration().is_some();
        Some(HarnessError::ProcessExited {
            status,
            initialised,
            stderr_tail: String::new(),
        })
    }

    /// Adds the stderr tail to `error` (after letting a dying process finish
    /// writing it).
    fn explain(&mut self, error: HarnessError) -> HarnessError {
        if matches!(error, HarnessError::InitFailed { .. }) {
            self.wait_for_exit(Duration::from_secs(2));
        }
        let tail = self.stderr_tail();
        error.with_stderr_tail(tail)
    }

    /// Lets the pipe readers reach the end of what an exited process wrote.
    fn settle_output(&mut self) {
        let start = Instant::now();
        while self.readers.iter().any(|r| !r.is_finished()) {
            if start.elapsed() > Duration::from_secs(1) {
                // Something (a grandchild?) keeps the pipes open: don't hang.
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for Bootstrap {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bootstrap")
            .field("command", &self.command)
            .field("pid", &self.child.id())
            .field("exit", &self.exit)
            .finish_non_exhaustive()
    }
}

fn collect<R: Read + Send + 'static>(mut pipe: R, sink: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .extend_from_slice(&buf[..n]),
            }
        }
    })
}

fn read_buffer(buffer: &Mutex<Vec<u8>>) -> String {
    let bytes = buffer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    String::from_utf8_lossy(&bytes).into_owned()
}
