//! What keeps one provider's trouble from becoming the whole run's trouble:
//! a rate limiter (never above the provider's QPS), retries with exponential
//! backoff and jitter for transient failures only, a per-request timeout, and a
//! circuit breaker that fails fast while a provider is down.
//!
//! Time here is tokio's (`tokio::time::Instant`, `sleep`), which is the injected
//! clock of async code: tests pause it and advance it by hand, so the limiter and
//! breaker are checked on virtual time, exactly.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng as _;
use tokio::time::Instant;

use crate::carrier::CarrierError;

/// Spaces calls at least `1/qps` apart (GCRA without burst): in any window of one
/// second at most `qps` calls start. Waiters queue in arrival order of their
/// reservations, so the limiter is fair and never over-admits under concurrency.
///
/// The configured QPS is a ceiling the provider enforces on *arrivals*, which
/// network jitter bunches; so the spacing is [`HEADROOM`] wider than `1/qps`, and
/// a provider counting requests per second never sees more than `qps`.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

/// The share of the configured QPS actually used (the rest absorbs jitter).
pub const HEADROOM: f64 = 0.98;

impl RateLimiter {
    /// At most `qps` calls a second; `qps` must be positive (configuration checks
    /// it).
    pub fn new(qps: f64) -> Self {
        let qps = if qps.is_finite() && qps > 0.0 {
            qps
        } else {
            1.0
        };
        Self {
            interval: Duration::from_secs_f64(1.0 / (qps * HEADROOM)),
            next: Mutex::new(None),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for this call's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = match *next {
                Some(t) if t > now => t,
                _ => now,
            };
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Retry schedule for transient failures: attempt `n` (1-based) waits a random
/// time in `[d/2, d]` with `d = min(base * 2^(n-1), cap)` ("equal jitter": spread
/// out so that many parcels failing together do not retry together, yet never
/// retrying immediately).
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retry).
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.cap);
        let half = exp / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }
}

/// Breaker state: closed (normal), open until an instant (fail fast), half-open
/// (one trial call in flight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// Opens after `threshold` consecutive transient failures; while open every call
/// fails at once; after `cooldown` one trial call is let through, whose success
/// closes the breaker and whose failure opens it again.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// May a call go out now? `Err` carries the time left open.
    pub fn permit(&self) -> Result<(), Duration> {
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => Ok(()),
            State::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *s = State::HalfOpen;
                    Ok(())
                } else {
                    Err(until - now)
                }
            }
            // A trial is already out; others wait for its verdict.
            State::HalfOpen => Err(self.cooldown),
        }
    }

    /// Records the outcome of a permitted call.
    pub fn record(&self, transient_failure: bool) {
        let mut s = self.lock();
        *s = match (*s, transient_failure) {
            (_, false) => State::Closed { failures: 0 },
            (State::Closed { failures }, true) if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            (_, true) => State::Open {
                until: Instant::now() + self.cooldown,
            },
        };
    }

    pub fn is_open(&self) -> bool {
        !matches!(*self.lock(), State::Closed { .. })
    }
}

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
    use std::sync::Arc;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn limiter_spaces_calls_exactly() {
        rt().block_on(async {
            let l = Arc::new(RateLimiter::new(20.0));
            let start = Instant::now();
            let mut handles = Vec::new();
            for _ in 0..60 {
                let l = l.clone();
                handles.push(tokio::spawn(async move {
                    l.acquire().await;
                    Instant::now()
                }));
            }
            let mut times = Vec::new();
            for h in handles {
                times.push(h.await.unwrap() - start);
            }
            times.sort();
            // 60 calls at 20/s (less the headroom): the last starts 59 intervals
            // after the first, and in every one-second window at most 20 start.
            assert!(l.interval() > Duration::from_millis(50));
            assert!(l.interval() < Duration::from_millis(52));
            let last = times.last().copied().unwrap();
            assert!(
                last.abs_diff(l.interval() * 59) < Duration::from_millis(2),
                "{last:?}"
            );
            for (i, t) in times.iter().enumerate() {
                let in_window = times[i..]
                    .iter()
                    .filter(|u| **u < *t + Duration::from_secs(1))
                    .count();
                assert!(
                    in_window <= 20,
                    "{in_window} calls in the second after {t:?}"
                );
            }
        });
    }

    #[test]
    fn retry_delays_grow_with_jitter_and_cap() {
        let p = RetryPolicy {
            attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let d1 = p.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = p.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d9 = p.delay(9);
            assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_secs(1));
        }
        assert!(p.delay(40) <= Duration::from_secs(1));
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
