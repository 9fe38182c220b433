//! What the store adapters share: the in-memory store ([`memory`], the reference
//! implementation of the store ports and the one the benchmark runs on), the order
//! of alert records every store returns, and the opaque keyset cursor of
//! `list_shipments`.
//!
//! The store ports themselves are in [`crate::ports`]; every store passes the same
//! contract suite (`sentinel-store-contract`).

pub mod memory;

use std::cmp::Ordering;

use crate::domain::{AlertRecord, CarrierCode, ShipmentId, TrackingNumber};
use crate::ports::StoreError;

/// The order of alert records returned by the stores: by `at`, then by key.
pub fn alert_order(a: &AlertRecord, b: &AlertRecord) -> Ordering {
    (a.at, &a.shipment, a.rule, a.since, a.kind, a.seq).cmp(&(
        b.at,
        &b.shipment,
        b.rule,
        b.since,
        b.kind,
        b.seq,
    ))
}

/// The list cursor: the last identity of a page, as lower-case hex of
/// `carrier '\t' tracking_number`. Opaque to callers.
pub fn encode_cursor(id: &ShipmentId) -> String {
    let raw = format!("{}\t{}", id.carrier, id.tracking_number);
    let mut out = String::with_capacity(raw.len() * 2);
    for b in raw.bytes() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Decodes a cursor made by [`encode_cursor`]; anything else is
/// [`StoreError::BadCursor`].
pub fn decode_cursor(cursor: &str) -> Result<ShipmentId, StoreError> {
    let bad = || {
        let shown: String = cursor.chars().take(80).collect();
        StoreError::BadCursor(shown)
    };
    let hex = cursor.as_bytes();
    if hex.is_empty() || hex.len() % 2 != 0 || hex.len() > 200 {
        return Err(bad());
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = hex
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    let raw = String::from_utf8(bytes).map_err(|_| bad())?;
    let (carrier, tracking) = raw.split_once('\t').ok_or_else(bad)?;
    let carrier = CarrierCode::parse(carrier).map_err(|_| bad())?;
    let tracking = TrackingNumber::parse(tracking).map_err(|_| bad())?;
    let id = ShipmentId::new(carrier, tracking);
    // Only canonical cursors (exactly what encode_cursor makes) are accepted.
    if encode_cursor(&id) != cursor {
        return Err(bad());
    }
    Ok(id)
}
