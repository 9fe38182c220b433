//! The table's stream, as Lambda hands it to the function that consumes it
//! (`aws_lambda_events::dynamodb`): shipment items that left the table without
//! the store, and what they had added to the fleet's counters.
//!
//! The store never deletes a shipment item, so every `REMOVE` of one is DynamoDB's
//! TTL taking a finished parcel `RETENTION_DAYS` after its last event, or somebody
//! deleting it by hand; either way the summary must stop counting it. The old
//! image (stream view type `OLD_IMAGE`) holds the item's `tally`
//! ([`shared::tally`]); [`DynamoStore::forget_removed`] takes it out, once per
//! stream record, however often Lambda delivers the batch.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::{DateTime, Utc};
use serde_dynamo::AttributeValue;

use shared::tally::Tally;

use super::counters::Removed;
use super::DynamoStore;

/// What one stream record says: a shipment item's removal, or nothing this
/// consumer cares about (an insert, an update, another kind of item: the event
/// source's filter leaves those out, and they are passed over if one comes).
/// A removal that cannot be read is an error naming the record: retried, and
/// kept by the event source's on-failure destination when retries run out.
pub fn removed(record: &EventRecord) -> Result<Option<Removed>, String> {
    let string = |image: &serde_dynamo::Item, name: &str| match image.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    let change = &record.change;
    if record.event_name != "REMOVE" || string(&change.keys, "sk").as_deref() != Some("SHIP") {
        return Ok(None);
    }
    let what = || format!("stream record {}", record.event_id);
    if record.event_id.is_empty() {
        return Err("a stream record without its eventID".into());
    }
    let Some(pk) = string(&change.keys, "pk") else {
        return Err(format!("{}: no pk in its keys", what()));
    };
    if change.old_image.is_empty() {
        return Err(format!(
            "{}: a removal without its old image (the table's stream must be \
             OLD_IMAGE or NEW_AND_OLD_IMAGES)",
            what()
        ));
    }
    let tally = match change.old_image.get("tally") {
        // Stored before the counters were kept: it was never counted.
        None => Tally::default(),
        Some(AttributeValue::S(json)) => serde_json::from_str(json)
            .map_err(|e| format!("{}: its tally is not readable: {e}", what()))?,
        Some(_) => return Err(format!("{}: its tally is not a string", what())),
    };
    Ok(Some(Removed {
        pk,
        record: record.event_id.clone(),
        tally,
    }))
}

impl DynamoStore {
    /// One batch of the stream: each removal counted out, in order. The answer is
    /// Lambda's partial batch response: the first record that failed and so every
    /// record after it are delivered again (the ones before it are not), so a
    /// record is never skipped and never counted out twice.
    pub async fn forget_stream(&self, event: &Event, now: DateTime<Utc>) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in &event.records {
            let done = match removed(record) {
                Ok(None) => Ok(false),
                Ok(Some(gone)) => self
                    .forget_removed(&gone, now)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match done {
                Ok(true) => {
                    tracing::info!(record = %record.event_id, "a removed parcel counted out")
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::error!(record = %record.event_id, %error, "stream record not counted out");
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = record
                        .change
                        .sequence_number
                        .clone()
                        .or_else(|| Some(record.event_id.clone()));
                    response.batch_item_failures.push(failure);
                    break;
                }
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A stream record as Lambda delivers a TTL removal (the documented shape:
    /// `userIdentity` names the DynamoDB service).
    fn record(name: &str, sk: &str, old_image: Value) -> EventRecord {
        serde_json::from_value(json!({
            "eventID": "c81e728d9d4c2f636f067f89cc14862c",
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "cn-north-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_764_900_000,
                "Keys": { "pk": { "S": "SHIP#SF#SF1234567890123" }, "sk": { "S": sk } },
                "OldImage": old_image,
                "SequenceNumber": "4421584500000000017450439091",
                "SizeBytes": 312,
                "StreamViewType": "OLD_IMAGE"
            },
            "userIdentity": { "type": "Service", "principalId": "dynamodb.amazonaws.com" },
            "eventSourceARN": "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/sentinel/stream/2026-12-01T00:00:00.000"
        }))
        .unwrap()
    }

    fn image(tally: Option<Value>) -> Value {
        let mut image = json!({
            "pk": { "S": "SHIP#SF#SF1234567890123" },
            "sk": { "S": "SHIP" },
            "version": { "N": "7" },
        });
        if let Some(t) = tally {
            image["tally"] = t;
        }
        image
    }

    #[test]
    fn a_removed_shipment_gives_its_key_record_and_tally() {
        let tally = json!({ "S": r#"{"parcels":1,"status|SF|Delivered":1}"# });
        let gone = removed(&record("REMOVE", "SHIP", image(Some(tally))))
            .unwrap()
            .unwrap();
        assert_eq!(gone.pk, "SHIP#SF#SF1234567890123");
        assert_eq!(gone.record, "c81e728d9d4c2f636f067f89cc14862c");
        assert_eq!(gone.tally.get("parcels"), 1);
        assert_eq!(gone.tally.get("status|SF|Delivered"), 1);
    }

    #[test]
    fn what_is_not_a_shipment_removal_is_passed_over() {
        assert_eq!(removed(&record("MODIFY", "SHIP", image(None))), Ok(None));
        assert_eq!(removed(&record("INSERT", "SHIP", json!(null))), Ok(None));
        assert_eq!(
            removed(&record("REMOVE", "ALERT#stalled#1#fired#0", image(None))),
            Ok(None)
        );
    }

    #[test]
    fn a_shipment_stored_before_it_was_counted_takes_nothing_out() {
        let gone = removed(&record("REMOVE", "SHIP", image(None)))
            .unwrap()
            .unwrap();
        assert!(gone.tally.is_empty());
    }

    #[test]
    fn a_removal_that_cannot_be_read_is_an_error_naming_its_record() {
        let no_image = removed(&record("REMOVE", "SHIP", json!(null))).unwrap_err();
        assert!(no_image.contains("OLD_IMAGE"), "{no_image}");
        assert!(no_image.contains("c81e728d9d4c2f636f067f89cc14862c"));
        let bad = removed(&record(
            "REMOVE",
            "SHIP",
            image(Some(json!({ "S": "[1," }))),
        ));
        assert!(bad.unwrap_err().contains("tally is not readable"));
        let number = removed(&record("REMOVE", "SHIP", image(Some(json!({ "N": "1" })))));
        assert!(number.unwrap_err().contains("not a string"));
    }
}
