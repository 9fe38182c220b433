//! The [`TrackBus`] on the project's EventBridge bus: the scheduler's fan-out of
//! TrackBatch events (the event's `detail` is a [`TrackBatch`]).
//!
//! One event carries up to `TRACK_BATCH_SIZE` parcel identities; PutEvents takes at
//! most 10 entries a call, and may accept some entries and refuse others (it
//! answers 200 with a per-entry `ErrorCode`): refused entries are sent again, with
//! backoff, and only entries that still fail are reported.

use aws_sdk_eventbridge::error::DisplayErrorContext;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use shared::domain::ShipmentId;
use shared::ports::{BusError, TrackBatch, TrackBus};

/// `source` of the project's events.
pub const SOURCE: &str = "parcel-sentinel";
/// `detail-type` of a batch of parcels to check.
pub const TRACK_BATCH: &str = "TrackBatch";
/// PutEvents' limit of entries per call.
pub const MAX_ENTRIES: usize = 10;
const ATTEMPTS: u32 = 5;

#[derive(Clone, Debug)]
pub struct Bus {
    client: Client,
    bus_name: String,
}

impl TrackBus for Bus {
    /// Publishes `ids` as TrackBatch events of at most `batch_size` parcels.
    /// Returns the number of events published.
    async fn publish(&self, ids: &[ShipmentId], batch_size: usize) -> Result<usize, BusError> {
        let details: Vec<String> = ids
            .chunks(batch_size.max(1))
            .map(|c| {
                serde_json::to_string(&TrackBatch {
                    shipments: c.to_vec(),
                })
                .map_err(|e| BusError::Call(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let total = details.len();
        for chunk in details.chunks(MAX_ENTRIES) {
            self.put_with_retries(chunk, total).await?;
        }
        Ok(total)
    }
}

impl Bus {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }

    async fn put_with_retries(&self, details: &[String], total: usize) -> Result<(), BusError> {
        let mut pending: Vec<&String> = details.iter().collect();
        let mut reason = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
            let entries: Vec<PutEventsRequestEntry> = pending
                .iter()
                .map(|d| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(SOURCE)
                        .detail_type(TRACK_BATCH)
                        .detail(d.as_str())
                        .build()
                })
                .collect();
            let out = match self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(o) => o,
                Err(e) => {
                    reason = DisplayErrorContext(e).to_string();
                    continue;
                }
            };
            if out.failed_entry_count() == 0 {
                return Ok(());
            }
            // Entries answer in request order; keep the refused ones.
            let results = out.entries();
            let mut still = Vec::new();
            for (i, d) in pending.iter().enumerate() {
                if let Some(r) = results.get(i) {
                    if let Some(code) = r.error_code() {
                        reason = format!("{code}: {}", r.error_message().unwrap_or(""));
                        still.push(*d);
                    }
                }
            }
            tracing::warn!(refused = still.len(), %reason, "PutEvents refused entries; retrying them");
            pending = still;
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(BusError::Refused {
            failed: pending.len(),
            total,
            attempts: ATTEMPTS,
            reason,
        })
    }
}
