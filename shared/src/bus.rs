//! An in-process [`TrackBus`]: keeps the batches it is given, for the local
//! wiring of the scheduler and for tests (on AWS, the EventBridge bus of
//! `sentinel-aws`).

use std::sync::Mutex;

use crate::domain::ShipmentId;
use crate::ports::{BusError, TrackBatch, TrackBus};

/// Batches published in order; [`MemoryBus::take`] drains them.
#[derive(Debug, Default)]
pub struct MemoryBus {
    batches: Mutex<Vec<TrackBatch>>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// The batches published so far, oldest first; the bus is left empty.
    pub fn take(&self) -> Vec<TrackBatch> {
        std::mem::take(&mut *self.batches.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl TrackBus for MemoryBus {
    async fn publish(&self, ids: &[ShipmentId], batch_size: usize) -> Result<usize, BusError> {
        let batches: Vec<TrackBatch> = ids
            .chunks(batch_size.max(1))
            .map(|c| TrackBatch {
                shipments: c.to_vec(),
            })
            .collect();
        let n = batches.len();
        self.batches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(batches);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn batches_are_cut_at_the_size_in_order() {
        let ids: Vec<ShipmentId> = (0..5)
            .map(|i| ShipmentId::parse("ZTO", &format!("7500000000{i}")).unwrap())
            .collect();
        let bus = MemoryBus::new();
        assert_eq!(bus.publish(&ids, 2).await, Ok(3));
        assert_eq!(bus.publish(&[], 2).await, Ok(0));
        let got = bus.take();
        let sizes: Vec<usize> = got.iter().map(|b| b.shipments.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        let flat: Vec<ShipmentId> = got.into_iter().flat_map(|b| b.shipments).collect();
        assert_eq!(flat, ids);
        assert!(bus.take().is_empty());
    }
}
