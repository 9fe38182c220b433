//! The guard around each call to one provider: the rate limiter (never above the
//! provider's QPS), retries with exponential backoff and jitter for transient
//! failures only, a per-request timeout, and the circuit breaker
//! ([`sentinel_resilience`]), with carrier errors classified as transient or not.
//!
//! Time here is tokio's, which tests pause and advance by hand.

use std::future::Future;
use std::time::Duration;

use sentinel_resilience::{CircuitBreaker, RateLimiter, RetryPolicy};
use shared::ports::CarrierError;

/// The resilience settings of one provider.
#[derive(Clone, Debug, PartialEq)]
pub struct GuardConfig {
    pub qps: f64,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            qps: 10.0,
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

/// Rate limiter, retries, timeout and breaker around each call to one provider.
#[derive(Debug)]
pub struct Guard {
    config: GuardConfig,
    limiter: RateLimiter,
    breaker: CircuitBreaker,
}

/// A transient failure may carry the provider's own wait (`Retry-After`).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: CarrierError,
    pub retry_after: Option<Duration>,
}

impl From<CarrierError> for Failure {
    fn from(error: CarrierError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

impl Guard {
    pub fn new(config: GuardConfig) -> Self {
        Self {
            limiter: RateLimiter::new(config.qps),
            breaker: CircuitBreaker::new(config.breaker_threshold, config.breaker_cooldown),
            config,
        }
    }

    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Runs `call` (one HTTP request) under the limiter, the timeout and the
    /// breaker, retrying transient failures per the retry policy. Permanent
    /// failures (bad credentials, unknown carrier, malformed reply...) return at
    /// once: retrying them would only spend quota.
    pub async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, CarrierError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let attempts = self.config.retry.attempts.max(1);
        let mut n = 0;
        loop {
            n += 1;
            if let Err(left) = self.breaker.permit() {
                return Err(CarrierError::Transient(format!(
                    "circuit open after repeated failures; next try in {}s",
                    left.as_secs().max(1)
                )));
            }
            self.limiter.acquire().await;
            let outcome = match tokio::time::timeout(self.config.timeout, call()).await {
                Ok(r) => r,
                Err(_) => Err(Failure::from(CarrierError::Transient(format!(
                    "no reply within {} ms",
                    self.config.timeout.as_millis()
                )))),
            };
            match outcome {
                Ok(v) => {
                    self.breaker.record(false);
                    return Ok(v);
                }
                Err(f) => {
                    let transient = f.error.is_transient();
                    self.breaker.record(transient);
                    if !transient || n >= attempts {
                        return Err(f.error);
                    }
                    let wait = self.config.retry.delay(n);
                    let wait = f
                        .retry_after
                        .map_or(wait, |r| r.min(self.config.retry.cap).max(wait));
                    tracing::debug!(attempt = n, wait_ms = wait.as_millis() as u64, error = %f.error, "retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::Instant;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    fn guard(attempts: u32) -> Guard {
        Guard::new(GuardConfig {
            qps: 1000.0,
            timeout: Duration::from_secs(2),
            retry: RetryPolicy {
                attempts,
                base: Duration::from_millis(100),
                cap: Duration::from_secs(1),
            },
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(30),
        })
    }

    #[test]
    fn transient_failures_are_retried_until_success() {
        rt().block_on(async {
            let g = guard(4);
            let calls = AtomicU32::new(0);
            let r = g
                .run(|| {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if n < 2 {
                            Err(Failure::from(CarrierError::Transient("HTTP 503".into())))
                        } else {
                            Ok(n)
                        }
                    }
                })
                .await;
            assert_eq!(r, Ok(2));
            assert_eq!(calls.load(Ordering::SeqCst), 3);
            assert!(!g.breaker().is_open());
        });
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        rt().block_on(async {
            let g = guard(5);
            for e in [
                CarrierError::BadCredentials("x".into()),
                CarrierError::UnknownCarrier("x".into()),
                CarrierError::Malformed("x".into()),
                CarrierError::Other("x".into()),
            ] {
                let calls = AtomicU32::new(0);
                let r: Result<(), _> = g
                    .run(|| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let e = e.clone();
                        async move { Err(Failure::from(e)) }
                    })
                    .await;
                assert_eq!(r, Err(e));
                assert_eq!(calls.load(Ordering::SeqCst), 1);
            }
        });
    }

    #[test]
    fn retries_stop_after_the_configured_attempts() {
        rt().block_on(async {
            let g = guard(2);
            let calls = AtomicU32::new(0);
            let r: Result<(), _> = g
                .run(|| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async { Err(Failure::from(CarrierError::RateLimited("slow down".into()))) }
                })
                .await;
            assert_eq!(r, Err(CarrierError::RateLimited("slow down".into())));
            assert_eq!(calls.load(Ordering::SeqCst), 2);
        });
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        rt().block_on(async {
            let g = guard(2);
            let start = Instant::now();
            let calls = AtomicU32::new(0);
            let _ = g
                .run(|| {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    async move {
                        if n == 0 {
                            Err(Failure {
                                error: CarrierError::RateLimited("429".into()),
                                retry_after: Some(Duration::from_millis(800)),
                            })
                        } else {
                            Ok(())
                        }
                    }
                })
                .await;
            let waited = Instant::now() - start;
            assert!(waited >= Duration::from_millis(800), "{waited:?}");
            assert!(waited < Duration::from_millis(900), "{waited:?}");
        });
    }

    #[test]
    fn timeout_is_a_transient_failure() {
        rt().block_on(async {
            let g = guard(1);
            let r: Result<(), _> = g
                .run(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(())
                })
                .await;
            assert!(
                matches!(r, Err(CarrierError::Transient(ref m)) if m.contains("2000 ms")),
                "{r:?}"
            );
        });
    }

    #[test]
    fn breaker_opens_fails_fast_and_recovers() {
        rt().block_on(async {
            let g = guard(1);
            let calls = AtomicU32::new(0);
            let failing = || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>(Failure::from(CarrierError::Transient("down".into()))) }
            };
            for _ in 0..3 {
                let _ = g.run(failing).await;
            }
            assert!(g.breaker().is_open());
            assert_eq!(calls.load(Ordering::SeqCst), 3);
            // Open: no call goes out.
            let r = g.run(failing).await;
            assert!(matches!(r, Err(CarrierError::Transient(ref m)) if m.contains("circuit open")));
            assert_eq!(calls.load(Ordering::SeqCst), 3);
            // After the cooldown one trial goes out; it fails, so open again.
            tokio::time::advance(Duration::from_secs(31)).await;
            let _ = g.run(failing).await;
            assert_eq!(calls.load(Ordering::SeqCst), 4);
            assert!(g.breaker().is_open());
            let _ = g.run(failing).await;
            assert_eq!(calls.load(Ordering::SeqCst), 4);
            // Next trial succeeds: closed.
            tokio::time::advance(Duration::from_secs(31)).await;
            assert_eq!(g.run(|| async { Ok::<_, Failure>(7) }).await, Ok(7));
            assert!(!g.breaker().is_open());
        });
    }
}
