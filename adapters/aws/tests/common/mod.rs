//! Shared by the emulator tests: the SDK configured for the AWS emulator that
//! `./infra/test.sh` starts (moto's server on 127.0.0.1).

use std::sync::atomic::{AtomicU32, Ordering};

/// The SDK configuration for the emulator. Fails loudly (never skips) when the
/// emulator is not configured.
pub async fn emulator() -> aws_config::SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1"),
        "these tests talk to the AWS emulator: run them through ./infra/test.sh, or \
         `eval \"$(infra/emulator.sh start)\"` first (AWS_ENDPOINT_URL={endpoint:?})"
    );
    sentinel_aws::sdk_config().await
}

/// A name no other test (or earlier run against the same emulator) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}
