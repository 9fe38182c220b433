//! What keeps one outside service's trouble from becoming the whole run's
//! trouble: a rate limiter (never above the service's QPS), retries with
//! exponential backoff and jitter, and a circuit breaker that fails fast while a
//! service is down. Shared by the carrier clients (`sentinel-carriers`, whose
//! `Guard` puts them around each provider call) and the chat robots' paced
//! dispatcher (`sentinel-chat`).
//!
//! Time here is tokio's (`tokio::time::Instant`, `sleep`), which is the injected
//! clock of async code: tests pause it and advance it by hand, so the limiter and
//! breaker are checked on virtual time, exactly.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng as _;
use tokio::time::Instant;

/// Spaces calls at least `1/qps` apart (GCRA without burst): in any window of one
/// second at most `qps` calls start. Waiters queue in arrival order of their
/// reservations, so the limiter is fair and never over-admits under concurrency.
///
/// Slots are reserved ahead, so waiters whose slots passed while the process was
/// not running (descheduled, its runtime busy) wake together. They may catch up,
/// but only as far as the limit allows: a call starts only when the `burst`-th
/// call before it started at least `burst` intervals ago (for a whole number
/// `qps`, `burst = qps`: never more than `qps` starts in any second, with the
/// headroom to spare).
///
/// The configured QPS is a ceiling the provider enforces on *arrivals*, which
/// network jitter bunches; so the spacing is [`HEADROOM`] wider than `1/qps`, and
/// a provider counting requests per second never sees more than `qps`.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
    /// `qps` rounded down (at least 1), and the time that many intervals take.
    burst: usize,
    window: Duration,
    /// When the last `burst` calls actually started, oldest first.
    starts: Mutex<VecDeque<Instant>>,
}

/// The resolution of tokio's timer: a sleep may end this much after its deadline.
const TIMER_TICK: Duration = Duration::from_millis(1);

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
        let interval = Duration::from_secs_f64(1.0 / (qps * HEADROOM));
        let burst = (qps.floor() as usize).max(1);
        Self {
            interval,
            next: Mutex::new(None),
            burst,
            window: interval * burst as u32,
            starts: Mutex::new(VecDeque::with_capacity(burst)),
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
        loop {
            let wait = {
                let mut starts = self.starts.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                match starts.front() {
                    // (To the timer's resolution, which would otherwise add up.)
                    Some(&first)
                        if starts.len() >= self.burst && now + TIMER_TICK < first + self.window =>
                    {
                        Some(first + self.window)
                    }
                    _ => {
                        if starts.len() >= self.burst {
                            starts.pop_front();
                        }
                        starts.push_back(now);
                        None
                    }
                }
            };
            match wait {
                Some(t) => tokio::time::sleep_until(t).await,
                None => return,
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Found by the CLI's load test (`functions/cli/tests/load.rs`) on a busy
    /// machine: the provider saw 51 requests within one second at a limit of 50,
    /// after waiters whose slots had passed while the process was not running all
    /// started at once.
    #[test]
    fn waiters_woken_late_never_exceed_the_limit() {
        rt().block_on(async {
            let l = Arc::new(RateLimiter::new(5.0));
            let start = Instant::now();
            let mut handles = Vec::new();
            for _ in 0..15 {
                let l = l.clone();
                handles.push(tokio::spawn(async move {
                    l.acquire().await;
                    Instant::now() - start
                }));
            }
            // Each reserves its slot (0, 204 ms, 408 ms...), the first starts;
            // then the runtime does not run for three seconds.
            tokio::task::yield_now().await;
            tokio::time::advance(Duration::from_secs(3)).await;
            let mut times = Vec::new();
            for h in handles {
                times.push(h.await.unwrap());
            }
            times.sort();
            // They catch up (five at once after the pause), but never more
            // than five start within a second.
            assert_eq!(
                times.iter().filter(|t| **t == times[1]).count(),
                5,
                "{times:?}"
            );
            for (i, t) in times.iter().enumerate() {
                let in_window = times[i..]
                    .iter()
                    .filter(|u| **u < *t + Duration::from_secs(1))
                    .count();
                assert!(
                    in_window <= 5,
                    "{in_window} in the second after {t:?}: {times:?}"
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
}
