//! Sending a batch of messages to one channel: paced at the channel's documented
//! rate, retried when that can help, bounded by a deadline, with an outcome for
//! every message — nothing is silently dropped.
//!
//! - **Pacing**: the providers' GCRA [`RateLimiter`] at [`ChatChannel::rate`]
//!   (e.g. DingTalk 20/min → one message every ~3.06 s, so no 60 s window ever
//!   holds more than 20). Create one [`Dispatcher`] per channel at start and keep
//!   it: its limiter remembers the last send across calls (a warm Lambda), so two
//!   invocations in a row do not burst. The rate is per process: run the notifier
//!   with a reserved concurrency of 1 to honour a robot's limit across instances.
//! - **Retries**: [`ChannelError::Transient`] with the [`RetryPolicy`]'s backoff;
//!   [`ChannelError::RateLimited`] after the service's `Retry-After`, else after the
//!   robot's throttle window ([`ChatChannel::throttle`]: DingTalk ~10 min). Each
//!   retry takes a pacing slot too. Rejected, TooLarge and Other are permanent.
//! - **Deadline**: no wait (pacing, backoff, throttle) runs past `deadline`; what is
//!   left is [`Outcome::Deferred`], for the next run. A request already started
//!   is not cut: it ends within [`super::HTTP_TIMEOUT`], so leave that much margin
//!   before a hard limit (e.g. the Lambda timeout).
//! - When a rate limit is not over by the deadline (or survives the retries), the
//!   remaining messages are deferred without being sent: hammering a throttled
//!   robot only prolongs the throttle.
//!
//! - **Metrics**: each message tried counts once, under the channel's name
//!   ([`ChatChannel::name`]): `NotificationsSent` when the service took it,
//!   `NotificationsFailed` when it was refused or still failing after its retries
//!   (deferred with an error). A message never tried (the deadline came first, or a
//!   rate limit halted the batch) is neither: it is sent by the next run.
//!
//! Time: pacing and waits run on tokio time (`tokio::time::Instant`, paused in
//! tests); signatures take the wall clock from the [`Clock`] passed in.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::{ChannelError, ChatChannel, ChatMessage};
use sentinel_resilience::{RateLimiter, RetryPolicy};
use shared::metrics;
use shared::ports::Clock;

/// What became of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the service.
    Sent,
    /// Not sent before the deadline, still rate-limited, or still failing
    /// transiently after the retries: send it again next run. Carries the last
    /// error, if an attempt was made (or the rate limit that stopped the batch).
    Deferred(Option<ChannelError>),
    /// Refused for good (Rejected, TooLarge, Other): retrying will not help.
    Failed(ChannelError),
}

impl Outcome {
    pub fn is_sent(&self) -> bool {
        matches!(self, Outcome::Sent)
    }
}

/// The default retries of a transient failure: 3 attempts in all, waits of
/// 0.5–1 s then 1–2 s.
pub fn default_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(10),
    }
}

/// A channel with its pacer: create once per channel, reuse for every batch.
#[derive(Debug)]
pub struct Dispatcher {
    channel: ChatChannel,
    limiter: RateLimiter,
    retry: RetryPolicy,
}

/// Whether the batch goes on after a message.
enum Next {
    Continue,
    /// Defer every remaining message with this reason.
    Halt(Option<ChannelError>),
}

impl Dispatcher {
    /// Paced at the channel's documented rate, with [`default_retry`]. `attempts`
    /// also bounds the tries of a rate-limited message.
    pub fn new(channel: ChatChannel) -> Self {
        Self {
            limiter: RateLimiter::new(channel.rate().qps()),
            channel,
            retry: default_retry(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn channel(&self) -> &ChatChannel {
        &self.channel
    }

    /// Sends `messages` in order; one [`Outcome`] per message, in the same order.
    /// `clock` gives the wall-clock time each request is signed with; `deadline`
    /// bounds all waiting.
    pub async fn send_all(
        &self,
        messages: &[ChatMessage],
        clock: &dyn Clock,
        deadline: Instant,
    ) -> Vec<Outcome> {
        self.run(messages, deadline, |m| {
            self.channel.send(m, clock.now().timestamp_millis())
        })
        .await
    }

    /// The batch loop, with the sending injected.
    async fn run<'m, F, Fut>(
        &self,
        messages: &'m [ChatMessage],
        deadline: Instant,
        mut send: F,
    ) -> Vec<Outcome>
    where
        F: FnMut(&'m ChatMessage) -> Fut,
        Fut: Future<Output = Result<(), ChannelError>>,
    {
        let mut out = Vec::with_capacity(messages.len());
        let mut halted: Option<Option<ChannelError>> = None;
        for m in messages {
            if let Some(reason) = &halted {
                out.push(Outcome::Deferred(reason.clone()));
                continue;
            }
            let (outcome, next) = self.deliver(m, deadline, &mut send).await;
            match &outcome {
                Outcome::Sent => metrics::notification(self.channel.name(), true),
                // Tried and failed: deferred after its retries, or refused.
                Outcome::Deferred(Some(_)) | Outcome::Failed(_) => {
                    metrics::notification(self.channel.name(), false)
                }
                // Never tried (the deadline came first): neither.
                Outcome::Deferred(None) => {}
            }
            match &outcome {
                Outcome::Sent => {}
                Outcome::Deferred(e) => tracing::warn!(
                    channel = self.channel.name(),
                    error = e.as_ref().map(ToString::to_string),
                    "chat message deferred to the next run"
                ),
                Outcome::Failed(e) => tracing::error!(
                    channel = self.channel.name(),
                    error = %e,
                    "chat message refused"
                ),
            }
            out.push(outcome);
            if let Next::Halt(reason) = next {
                halted = Some(reason);
            }
        }
        out
    }

    /// One message, with its retries.
    async fn deliver<'m, F, Fut>(
        &self,
        m: &'m ChatMessage,
        deadline: Instant,
        send: &mut F,
    ) -> (Outcome, Next)
    where
        F: FnMut(&'m ChatMessage) -> Fut,
        Fut: Future<Output = Result<(), ChannelError>>,
    {
        let attempts = self.retry.attempts.max(1);
        let mut failures = 0;
        let mut last: Option<ChannelError> = None;
        loop {
            if Instant::now() >= deadline
                || tokio::time::timeout_at(deadline, self.limiter.acquire())
                    .await
                    .is_err()
            {
                return (Outcome::Deferred(last), Next::Halt(None));
            }
            let error = match send(m).await {
                Ok(()) => return (Outcome::Sent, Next::Continue),
                Err(e) => e,
            };
            failures += 1;
            let wait = match &error {
                ChannelError::Transient(_) => self.retry.delay(failures),
                ChannelError::RateLimited { retry_after, .. } => {
                    retry_after.unwrap_or_else(|| self.channel.throttle())
                }
                _ => return (Outcome::Failed(error), Next::Continue),
            };
            if failures >= attempts || Instant::now() + wait > deadline {
                return match error {
                    ChannelError::RateLimited { .. } => (
                        Outcome::Deferred(Some(error.clone())),
                        Next::Halt(Some(error)),
                    ),
                    _ => (Outcome::Deferred(Some(error)), Next::Continue),
                };
            }
            tracing::debug!(
                channel = self.channel.name(),
                attempt = failures,
                wait_ms = wait.as_millis() as u64,
                error = %error,
                "retrying chat message"
            );
            last = Some(error);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DingTalk, Slack};
    use shared::secret::Secret;
    use std::cell::RefCell;

    fn dingtalk() -> Dispatcher {
        let d = DingTalk::new(
            Secret::new("http://127.0.0.1:9/robot/send?access_token=t"),
            None,
            vec![],
        )
        .unwrap();
        Dispatcher::new(ChatChannel::DingTalk(d))
    }

    fn slack() -> Dispatcher {
        let s = Slack::new(Secret::new("http://127.0.0.1:9/services/T/B/X")).unwrap();
        Dispatcher::new(ChatChannel::Slack(s))
    }

    fn messages(n: usize) -> Vec<ChatMessage> {
        (0..n)
            .map(|i| ChatMessage::new(format!("t{i}"), format!("x{i}")))
            .collect()
    }

    /// A scripted sender: records (message title, offset from `start`) of every
    /// attempt, answers from `script` (then Ok).
    struct Script {
        start: Instant,
        calls: RefCell<Vec<(String, Duration)>>,
        replies: RefCell<Vec<Result<(), ChannelError>>>,
    }

    impl Script {
        fn new(replies: Vec<Result<(), ChannelError>>) -> Self {
            Self {
                start: Instant::now(),
                calls: RefCell::new(Vec::new()),
                replies: RefCell::new(replies.into_iter().rev().collect()),
            }
        }

        fn send(&self, m: &ChatMessage) -> std::future::Ready<Result<(), ChannelError>> {
            self.calls
                .borrow_mut()
                .push((m.title.clone(), Instant::now() - self.start));
            std::future::ready(self.replies.borrow_mut().pop().unwrap_or(Ok(())))
        }

        fn times(&self) -> Vec<Duration> {
            self.calls.borrow().iter().map(|(_, t)| *t).collect()
        }
    }

    #[test]
    fn dispatching_can_run_on_any_worker_thread() {
        fn assert_send<T: Send>(_: &T) {}
        fn assert_sync<T: Sync>(_: &T) {}
        let d = dingtalk();
        assert_sync(&d);
        let msgs = messages(1);
        let clock = shared::clock::SystemClock;
        let fut = d.send_all(&msgs, &clock, Instant::now());
        assert_send(&fut);
    }

    #[tokio::test(start_paused = true)]
    async fn paced_at_twenty_a_minute() {
        let d = dingtalk();
        let msgs = messages(45);
        let s = Script::new(vec![]);
        let out = d
            .run(&msgs, s.start + Duration::from_secs(3600), |m| s.send(m))
            .await;
        assert_eq!(out, vec![Outcome::Sent; 45]);
        let t = s.times();
        assert_eq!(t.len(), 45);
        assert!(t[20] >= Duration::from_secs(60), "21st at {:?}", t[20]);
        assert!(t[40] >= Duration::from_secs(120), "41st at {:?}", t[40]);
        for (i, a) in t.iter().enumerate() {
            let in_window = t[i..]
                .iter()
                .filter(|b| **b < *a + Duration::from_secs(60))
                .count();
            assert!(
                in_window <= 20,
                "{in_window} sends in the minute after {a:?}"
            );
        }
        // Not slower than needed: 45 messages in about 44 intervals of 3.06 s.
        assert!(t[44] < Duration::from_secs(136), "{:?}", t[44]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_defers_the_rest() {
        let d = dingtalk();
        let msgs = messages(45);
        let s = Script::new(vec![]);
        let deadline = s.start + Duration::from_secs(30);
        let out = d.run(&msgs, deadline, |m| s.send(m)).await;
        assert_eq!(out.len(), 45);
        let sent = out.iter().filter(|o| o.is_sent()).count();
        assert_eq!(sent, 10, "{out:?}");
        assert!(out[..10].iter().all(Outcome::is_sent));
        assert!(out[10..].iter().all(|o| *o == Outcome::Deferred(None)));
        assert!(s.times().iter().all(|t| *t < Duration::from_secs(30)));
        // It returned at the deadline, not later.
        assert!(Instant::now() <= deadline + Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_carries_over_between_calls() {
        let d = dingtalk();
        let s = Script::new(vec![]);
        let far = s.start + Duration::from_secs(3600);
        let first = messages(1);
        let second = messages(2);
        assert_eq!(d.run(&first, far, |m| s.send(m)).await, vec![Outcome::Sent]);
        assert_eq!(
            d.run(&second, far, |m| s.send(m)).await,
            vec![Outcome::Sent; 2]
        );
        let t = s.times();
        assert_eq!(t[0], Duration::ZERO);
        assert!(t[1] >= Duration::from_secs(3), "{t:?}");
        assert!(t[2] >= Duration::from_secs(6), "{t:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_then_deferred() {
        let d = dingtalk();
        let msgs = messages(2);
        let flaky = || Err(ChannelError::Transient("HTTP 502".into()));
        // Message 0: two failures then success. Message 1: fails all 3 attempts.
        let s = Script::new(vec![flaky(), flaky(), Ok(()), flaky(), flaky(), flaky()]);
        let out = d
            .run(&msgs, s.start + Duration::from_secs(3600), |m| s.send(m))
            .await;
        assert_eq!(out[0], Outcome::Sent);
        assert_eq!(
            out[1],
            Outcome::Deferred(Some(ChannelError::Transient("HTTP 502".into())))
        );
        let calls = s.calls.borrow();
        let titles: Vec<_> = calls.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(titles, ["t0", "t0", "t0", "t1", "t1", "t1"]);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_are_not_retried_and_the_batch_goes_on() {
        let d = dingtalk();
        let msgs = messages(3);
        let s = Script::new(vec![
            Err(ChannelError::Rejected("310000".into())),
            Err(ChannelError::TooLarge("460101".into())),
        ]);
        let out = d
            .run(&msgs, s.start + Duration::from_secs(3600), |m| s.send(m))
            .await;
        assert_eq!(
            out,
            vec![
                Outcome::Failed(ChannelError::Rejected("310000".into())),
                Outcome::Failed(ChannelError::TooLarge("460101".into())),
                Outcome::Sent,
            ]
        );
        assert_eq!(s.calls.borrow().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_for() {
        let d = slack();
        let msgs = messages(2);
        let s = Script::new(vec![Err(ChannelError::RateLimited {
            detail: "429".into(),
            retry_after: Some(Duration::from_secs(5)),
        })]);
        let out = d
            .run(&msgs, s.start + Duration::from_secs(60), |m| s.send(m))
            .await;
        assert_eq!(out, vec![Outcome::Sent; 2]);
        let t = s.times();
        assert_eq!(t.len(), 3);
        assert!(t[1] >= Duration::from_secs(5), "{t:?}");
        assert!(t[1] < Duration::from_secs(6), "{t:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_robot_defers_the_batch_without_waiting_ten_minutes() {
        let d = dingtalk();
        let msgs = messages(5);
        let limited = ChannelError::rate_limited("130101 send too fast");
        let s = Script::new(vec![Ok(()), Err(limited.clone())]);
        let deadline = s.start + Duration::from_secs(60);
        let out = d.run(&msgs, deadline, |m| s.send(m)).await;
        assert_eq!(out[0], Outcome::Sent);
        for o in &out[1..] {
            assert_eq!(*o, Outcome::Deferred(Some(limited.clone())));
        }
        // Two requests only, and no wait for the 10-minute throttle.
        assert_eq!(s.calls.borrow().len(), 2);
        assert!(Instant::now() - s.start < Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn each_message_tried_counts_once_as_sent_or_failed() {
        let capture = shared::metrics::Capture::new();
        let _local = ::metrics::set_default_local_recorder(&capture);
        let d = slack();
        let msgs = messages(4);
        let flaky = || Err(ChannelError::Transient("HTTP 502".into()));
        // Sent after a retry; refused; failing after its 3 attempts; sent.
        let s = Script::new(vec![
            flaky(),
            Ok(()),
            Err(ChannelError::Rejected("invalid_payload".into())),
            flaky(),
            flaky(),
            flaky(),
        ]);
        let far = s.start + Duration::from_secs(3600);
        let out = d.run(&msgs, far, |m| s.send(m)).await;
        assert_eq!(out.iter().filter(|o| o.is_sent()).count(), 2, "{out:?}");
        // Past the deadline: never tried, so neither sent nor failed.
        let late = d.run(&messages(2), Instant::now(), |m| s.send(m)).await;
        assert_eq!(late, vec![Outcome::Deferred(None); 2]);
        let counted: Vec<(String, u64)> = capture.counters().into_iter().collect();
        let expected: Vec<(String, u64)> = [
            ("NotificationsFailed", 2),
            ("NotificationsFailed{Channel=slack}", 2),
            ("NotificationsSent", 2),
            ("NotificationsSent{Channel=slack}", 2),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(counted, expected);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limit_within_the_deadline_is_waited_out() {
        // WeCom-like: no Retry-After, the 60 s window fits before the deadline.
        let w = crate::WeCom::new(
            Secret::new("http://127.0.0.1:9/cgi-bin/webhook/send?key=k"),
            vec![],
        )
        .unwrap();
        let d = Dispatcher::new(ChatChannel::WeCom(w));
        let msgs = messages(1);
        let s = Script::new(vec![Err(ChannelError::rate_limited("45009"))]);
        let out = d
            .run(&msgs, s.start + Duration::from_secs(300), |m| s.send(m))
            .await;
        assert_eq!(out, vec![Outcome::Sent]);
        let t = s.times();
        assert!(t[1] >= Duration::from_secs(60), "{t:?}");
    }
}
