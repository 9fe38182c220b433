//! The local Lambda Runtime API, driving a real `lambda_runtime` process (the
//! `echo-lambda` binary of this crate) the way Lambda does.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use sentinel_e2e::runtime_api::{Bootstrap, FunctionConfig, HarnessError, Invocation, RuntimeApi};

const ECHO: &str = env!("CARGO_BIN_EXE_echo-lambda");
/// Generous: nothing here is timing-asserted, these only bound a hung test.
const WAIT: Duration = Duration::from_secs(10);

fn echo(api: &RuntimeApi, env: &[(&str, &str)]) -> Bootstrap {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Bootstrap::spawn(Path::new(ECHO), api, &env)
}

fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

#[test]
fn a_response_round_trips_with_the_invocation_headers() {
    let api = RuntimeApi::start_with(FunctionConfig::named("echo"));
    let mut function = echo(&api, &[]);
    let before = now_ms();
    let event = json!({"hello": "world", "n": [1, 2, 3]});
    let answer = function.invoke(event.clone(), WAIT).unwrap().expect_ok();

    assert_eq!(answer["echo"], event);
    let context = &answer["context"];
    let request_id = context["request_id"].as_str().unwrap();
    assert_eq!(request_id.len(), 36, "a UUID: {request_id}");
    let deadline = context["deadline_ms"].as_u64().unwrap();
    // The default 30 s timeout, counted from when the function took the event.
    assert!(deadline >= before + 29_000 && deadline <= now_ms() + 30_000);
    assert_eq!(
        context["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:echo"
    );
    assert!(context["xray_trace_id"]
        .as_str()
        .unwrap()
        .starts_with("Root=1-"));
    assert_eq!(context["function_name"], "echo");
    assert_eq!(context["memory_mb"], 128);
    assert_eq!(function.try_exit_status(), None, "still waiting on /next");
}

#[test]
fn one_process_serves_invocations_one_after_another() {
    let api = RuntimeApi::start();
    let mut function = echo(&api, &[]);
    let first = function.invoke(json!({"n": 1}), WAIT).unwrap().expect_ok();
    let second = api.invoke(json!({"n": 2}), WAIT).unwrap().expect_ok();
    assert_eq!(first["echo"]["n"], 1);
    assert_eq!(second["echo"]["n"], 2);
    assert_eq!(first["context"]["pid"], second["context"]["pid"]);
    assert_ne!(
        first["context"]["request_id"],
        second["context"]["request_id"]
    );
    assert!(api.next_requests() >= 2);
}

#[test]
fn a_function_error_is_recorded_with_its_type() {
    let api = RuntimeApi::start();
    let mut function = echo(&api, &[]);
    let outcome = function
        .invoke(json!({"fail": true, "message": "no such parcel"}), WAIT)
        .unwrap();
    assert!(outcome.is_function_error());
    match outcome {
        Invocation::FunctionError {
            error_type,
            message,
            header_error_type,
            raw,
        } => {
            assert_eq!(error_type, "EchoFailure");
            assert_eq!(message, "no such parcel");
            assert_eq!(header_error_type.as_deref(), Some("unhandled"));
            let raw: Value = serde_json::from_str(&raw).unwrap();
            assert_eq!(raw["errorType"], "EchoFailure");
        }
        Invocation::Ok(value) => panic!("expected a function error, got {value}"),
    }
    // The process lives on and takes the next event.
    let answer = function.invoke(json!({"after": "error"}), WAIT).unwrap();
    assert_eq!(answer.expect_ok()["echo"]["after"], "error");
}

#[test]
fn an_event_that_is_not_the_expected_json_is_a_function_error() {
    let api = RuntimeApi::start();
    let mut function = echo(&api, &[]);
    let request_id = api.enqueue_raw("{not json");
    let outcome = function.wait_for(&request_id, WAIT).unwrap();
    assert!(outcome.is_function_error(), "{outcome:?}");
}

#[test]
fn a_function_that_stops_at_init_is_reported_with_its_stderr_line() {
    let api = RuntimeApi::start();
    let mut function = echo(&api, &[("ECHO_FAIL_INIT", "1")]);
    let error = function.wait_ready(WAIT).unwrap_err();
    match &error {
        HarnessError::ProcessExited {
            status,
            initialised,
            ..
        } => {
            assert!(!status.success());
            assert!(!initialised);
        }
        other => panic!("expected ProcessExited, got {other}"),
    }
    let text = error.to_string();
    assert!(text.contains("during init"), "{text}");
    assert!(text.contains("ECHO_FAIL_INIT=\"1\""), "{text}");
    assert_eq!(
        function.stderr().lines().count(),
        1,
        "{}",
        function.stderr()
    );
    assert_eq!(api.next_requests(), 0);
    assert_eq!(function.init_duration(), None);

    // An invocation sent to it says so too, rather than timing out.
    let error = function.invoke(json!({}), WAIT).unwrap_err();
    assert!(
        matches!(error, HarnessError::ProcessExited { .. }),
        "{error}"
    );
}

#[test]
fn an_init_error_posted_to_the_runtime_api_is_recorded() {
    let api = RuntimeApi::start();
    let mut function = echo(&api, &[("ECHO_FAIL_INIT", "report")]);
    let error = function.invoke(json!({}), WAIT).unwrap_err();
    let HarnessError::InitFailed { error: init, .. } = &error else {
        panic!("expected InitFailed, got {error}");
    };
    assert_eq!(init.error_type, "EchoConfigError");
    assert_eq!(init.header_error_type.as_deref(), Some("Runtime.InitError"));
    assert!(init.message.contains("ECHO_FAIL_INIT"));
    assert!(error.stderr_tail().contains("refuses to start"), "{error}");
    assert_eq!(api.init_error().as_ref(), Some(init));
    assert!(function.wait_for_exit(WAIT).is_some_and(|s| !s.success()));
    // The Runtime API alone knows too.
    let error = api.invoke(json!({}), WAIT).unwrap_err();
    assert!(matches!(error, HarnessError::InitFailed { .. }), "{error}");
}

#[test]
fn init_duration_is_spawn_to_first_next() {
    let api = RuntimeApi::start();
    assert_eq!(api.first_next_at(), None);
    let mut function = echo(&api, &[]);
    let ready = function.wait_ready(WAIT).unwrap();
    assert_eq!(function.init_duration(), Some(ready));
    assert!(api.first_next_at().is_some());
    // Later invocations do not move it.
    function.invoke(json!({}), WAIT).unwrap().expect_ok();
    assert_eq!(function.init_duration(), Some(ready));
}

#[test]
fn a_process_that_dies_during_an_invocation_is_reported() {
    let api = RuntimeApi::start();
    let mut function = echo(&api, &[]);
    let error = function.invoke(json!({"exit": 3}), WAIT).unwrap_err();
    match &error {
        HarnessError::ProcessExited {
            status,
            initialised,
            ..
        } => {
            assert_eq!(status.code(), Some(3));
            assert!(initialised);
        }
        other => panic!("expected ProcessExited, got {other}"),
    }
    assert!(error.to_string().contains("exiting with code 3"), "{error}");
}

#[test]
fn timeouts_say_how_far_the_function_got() {
    // Nobody polls /next: the event is never taken.
    let api = RuntimeApi::start();
    let error = api
        .invoke(json!({}), Duration::from_millis(50))
        .unwrap_err();
    assert!(matches!(error, HarnessError::Timeout { .. }), "{error}");
    assert!(
        error.to_string().contains("no /next took the event"),
        "{error}"
    );

    // The function takes the event but is slower than the harness waits.
    let mut function = echo(&api, &[]);
    function.wait_ready(WAIT).unwrap();
    let error = function
        .invoke(json!({"sleep_ms": 5_000}), Duration::from_millis(200))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("posted neither /response nor /error"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn it_serves_async_tests_too() {
    let api = RuntimeApi::start_with(FunctionConfig {
        timeout: Duration::from_secs(3),
        ..FunctionConfig::named("async-echo")
    });
    let function = echo(&api, &[]);
    let answer = api
        .invoke_async(json!({"async": true}), WAIT)
        .await
        .unwrap()
        .expect_ok();
    assert_eq!(answer["echo"]["async"], true);
    assert_eq!(answer["context"]["function_name"], "async-echo");
    let deadline = answer["context"]["deadline_ms"].as_u64().unwrap();
    assert!(deadline <= now_ms() + 3_000);
    // The blocking API works inside a multi-thread runtime as well.
    let outcome = api.invoke(json!({"fail": true}), WAIT).unwrap();
    assert!(outcome.is_function_error());
    drop(function);
    drop(api);
}

#[test]
fn a_command_prefix_runs_the_binary_through_another_program() {
    // The way an arm64 bootstrap runs under qemu-user (`QEMU_AARCH64`); `env` is a
    // prefix that is always there.
    let api = RuntimeApi::start();
    let mut function = Bootstrap::spawn_with_prefix(&["env"], Path::new(ECHO), &api, &[]);
    assert_eq!(function.command(), format!("env {ECHO}"));
    let answer = function.invoke(json!({"via": "env"}), WAIT).unwrap();
    assert_eq!(answer.expect_ok()["echo"]["via"], "env");
}

#[test]
fn a_binary_that_cannot_start_is_a_clear_error() {
    let api = RuntimeApi::start();
    let error =
        Bootstrap::try_spawn(&[], Path::new("/nonexistent/bootstrap"), &api, &[]).unwrap_err();
    assert!(matches!(error, HarnessError::Spawn { .. }));
    assert!(
        error
            .to_string()
            .starts_with("cannot start `/nonexistent/bootstrap`: "),
        "{error}"
    );
}
