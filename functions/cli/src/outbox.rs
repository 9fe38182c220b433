//! Where the CLI's notifications go: the terminal (and, with the alert-delivery
//! settings, chat robots), through the store's outbox like the Lambda functions.

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;

use shared::config::Settings;
use shared::pipeline::{deliver, deliver_pending, AlertSink, Delivery, Notification};
use shared::store::Store;

/// Prints each notification (above the progress bar, if any).
#[derive(Clone, Default)]
pub struct Console {
    pub quiet: bool,
    pub bar: Option<ProgressBar>,
}

impl AlertSink for Console {
    async fn publish(&self, notifications: &[Notification]) -> Vec<Result<(), String>> {
        if !self.quiet {
            let print = || {
                notifications
                    .iter()
                    .for_each(crate::demo::print_notification)
            };
            match &self.bar {
                Some(bar) => bar.suspend(print),
                None => print(),
            }
        }
        vec![Ok(()); notifications.len()]
    }
}

/// Delivers one tick's notifications, then whatever the outbox holds that is due
/// (failed earlier, or held through quiet hours).
pub async fn deliver_tick<S: Store, K: AlertSink>(
    store: &S,
    sink: &K,
    settings: &Settings,
    now: DateTime<Utc>,
    fresh: &[Notification],
) -> Result<Delivery, shared::store::StoreError> {
    let mut d = deliver(store, sink, fresh).await?;
    let later = deliver_pending(store, sink, settings, now, OUTBOX_PER_TICK).await?;
    d.delivered += later.delivered;
    d.failed += later.failed;
    d.first_error = d.first_error.or(later.first_error);
    Ok(d)
}

/// Pending notifications delivered per tick at most.
const OUTBOX_PER_TICK: usize = 1000;
