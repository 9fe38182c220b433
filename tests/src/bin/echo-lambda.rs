//! A tiny Lambda function on `lambda_runtime`, to test the local Runtime API
//! (`sentinel_e2e::runtime_api`) with a real `bootstrap`-style process.
//!
//! * Answers `{"echo": <event>, "context": {request_id, deadline_ms, ...}}`.
//! * `{"fail": true, "message": "..."}` → a function error of type `EchoFailure`.
//! * `{"sleep_ms": N}` → answers after N milliseconds.
//! * `{"exit": N}` → the process exits with code N in the middle of the invocation.
//! * `ECHO_FAIL_INIT=1` → stops at cold start as the project's functions do on bad
//!   configuration: one line on stderr, exit code 1, before any `/next`.
//!   `ECHO_FAIL_INIT=report` also posts the error to `/runtime/init/error` first.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    if let Ok(mode) = std::env::var("ECHO_FAIL_INIT") {
        let message = format!(
            "invalid configuration: ECHO_FAIL_INIT={mode:?} (the echo function refuses to start)"
        );
        if mode == "report" {
            if let Err(e) = report_init_error("EchoConfigError", &message) {
                eprintln!("echo-lambda: could not post /runtime/init/error: {e}");
            }
        }
        eprintln!("echo-lambda: {message}");
        std::process::exit(1);
    }
    lambda_runtime::run(service_fn(echo)).await
}

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let (payload, context) = event.into_parts();
    if let Some(code) = payload.get("exit").and_then(Value::as_i64) {
        eprintln!("echo-lambda: exiting with code {code} as asked");
        std::process::exit(i32::try_from(code).unwrap_or(1));
    }
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if payload.get("fail") == Some(&Value::Bool(true)) {
        let message = payload
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("asked to fail");
        return Err(Diagnostic {
            error_type: "EchoFailure".to_string(),
            error_message: message.to_string(),
        });
    }
    Ok(json!({
        "echo": payload,
        "context": {
            "request_id": context.request_id,
            "deadline_ms": context.deadline,
            "invoked_function_arn": context.invoked_function_arn,
            "xray_trace_id": context.xray_trace_id,
            "function_name": context.env_config.function_name,
            "memory_mb": context.env_config.memory,
            "pid": std::process::id(),
        },
    }))
}

/// Posts `{errorType, errorMessage}` to `/runtime/init/error` (lambda_runtime only
/// does so for SnapStart hooks, so a plain HTTP/1.1 request does it here).
fn report_init_error(error_type: &str, message: &str) -> std::io::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .map_err(|_| std::io::Error::other("AWS_LAMBDA_RUNTIME_API is not set"))?;
    let body = json!({"errorType": error_type, "errorMessage": message}).to_string();
    let mut stream = TcpStream::connect(&api)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Error-Type: Runtime.InitError\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    if answer.starts_with("HTTP/1.1 202") {
        Ok(())
    } else {
        let status = answer.lines().next().unwrap_or("no answer").to_string();
        Err(std::io::Error::other(status))
    }
}
