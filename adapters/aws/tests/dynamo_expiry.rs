//! A parcel that leaves the table without the store (DynamoDB's TTL, or a person
//! deleting its item) leaves the fleet's counters through the table's stream,
//! exactly once: the records are read from the emulator's own stream
//! (DynamoDB Streams' GetRecords) and handed over as Lambda hands them to the
//! scheduler.

mod common;

use aws_lambda_events::dynamodb::Event;
use chrono::{Duration, TimeZone, Utc};
use serde_json::{json, Value};

use sentinel_aws::dynamo::{shipment_pk, DynamoStore, Removed};
use shared::domain::{Shipment, ShipmentId, Status};
use shared::ports::{ShipmentQuery, ShipmentWriter};
use shared::tally::{days_read, Tally};

/// One call of the DynamoDB Streams JSON API on the emulator.
async fn streams(config: &aws_config::SdkConfig, action: &str, body: Value) -> Value {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let region = config.region().map(|r| r.to_string()).unwrap_or_default();
    let reply = reqwest::Client::new()
        .post(&endpoint)
        .header("X-Amz-Target", format!("DynamoDBStreams_20120810.{action}"))
        .header("Content-Type", "application/x-amz-json-1.0")
        .header(
            "Authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=testing/20261201/{region}/dynamodb/aws4_request, \
                 SignedHeaders=host, Signature=0"
            ),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "{action}: {}", reply.status());
    serde_json::from_str(&reply.text().await.unwrap()).unwrap()
}

/// Every record of the table's stream so far, as one Lambda batch (the records
/// of GetRecords with the stream's ARN, as the event source mapping sends them).
async fn stream_batch(config: &aws_config::SdkConfig, table: &str) -> Value {
    let listed = streams(config, "ListStreams", json!({ "TableName": table })).await;
    let arn = listed["Streams"][0]["StreamArn"]
        .as_str()
        .unwrap()
        .to_string();
    let described = streams(config, "DescribeStream", json!({ "StreamArn": arn })).await;
    let mut records = Vec::new();
    for shard in described["StreamDescription"]["Shards"].as_array().unwrap() {
        let iterator = streams(
            config,
            "GetShardIterator",
            json!({ "StreamArn": arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON" }),
        )
        .await;
        let got = streams(
            config,
            "GetRecords",
            json!({ "ShardIterator": iterator["ShardIterator"] }),
        )
        .await;
        for mut record in got["Records"].as_array().unwrap().iter().cloned() {
            record["eventSourceARN"] = json!(arn);
            records.push(record);
        }
    }
    json!({ "Records": records })
}

async fn remove(client: &aws_sdk_dynamodb::Client, table: &str, id: &ShipmentId) {
    use aws_sdk_dynamodb::types::AttributeValue::S;
    client
        .delete_item()
        .table_name(table)
        .key("pk", S(shipment_pk(id)))
        .key("sk", S("SHIP".into()))
        .send()
        .await
        .unwrap();
}

fn parcel(carrier: &str, number: &str, status: Status) -> Shipment {
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap();
    let mut sh = Shipment::new(ShipmentId::parse(carrier, number).unwrap(), now);
    sh.status = status;
    sh
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_parcel_is_counted_out_once() {
    let config = common::emulator().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = common::unique("expiry");
    DynamoStore::create_table(&client, &table).await.unwrap();
    let store = DynamoStore::new(client.clone(), table.clone());
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap();
    let kept = parcel("ZTO", "75300000000001", Status::InTransit);
    let gone = parcel("SF", "SF0000000000002", Status::Delivered);
    store.put_shipment(&gone).await.unwrap();
    store.put_shipment(&kept).await.unwrap();

    // TTL removes the delivered parcel: its item goes, the counters stay.
    remove(&client, &table, &gone.id).await;
    let (from, to) = days_read(now);
    assert_eq!(store.tally(from, to).await.unwrap().get("parcels"), 2);

    // The stream's batch: two inserts (passed over) and the removal.
    let raw = stream_batch(&config, &table).await;
    let names: Vec<&str> = raw["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["eventName"].as_str())
        .collect();
    assert!(names.contains(&"REMOVE"), "{names:?}");
    let batch: Event = serde_json::from_value(raw).unwrap();
    let answer = store.forget_stream(&batch, now).await;
    assert!(answer.batch_item_failures.is_empty());
    let after = store.tally(from, to).await.unwrap();
    assert_eq!(after, Tally::of(&kept).within(from, to));

    // Lambda delivers the batch again: nothing changes.
    let again = store
        .forget_stream(&batch, now + Duration::minutes(3))
        .await;
    assert!(again.batch_item_failures.is_empty());
    assert_eq!(store.tally(from, to).await.unwrap(), after);

    // A key that is not a shipment's is an error, not a guess.
    let odd = Removed {
        pk: "META".into(),
        record: "odd".into(),
        tally: Tally::of(&gone),
    };
    assert!(store.forget_removed(&odd, now).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removal_that_cannot_be_read_stops_the_batch_there_for_lambda_to_retry() {
    let config = common::emulator().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = common::unique("expiry-bad");
    DynamoStore::create_table(&client, &table).await.unwrap();
    let store = DynamoStore::new(client.clone(), table.clone());
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap();
    let parcels = [
        parcel("SF", "SF0000000000011", Status::Delivered),
        parcel("SF", "SF0000000000012", Status::Delivered),
        parcel("SF", "SF0000000000013", Status::Delivered),
    ];
    for sh in &parcels {
        store.put_shipment(sh).await.unwrap();
    }
    for sh in &parcels {
        remove(&client, &table, &sh.id).await;
    }
    let mut raw = stream_batch(&config, &table).await;
    let records = raw["Records"].as_array_mut().unwrap();
    records.retain(|r| r["eventName"] == "REMOVE");
    assert_eq!(records.len(), 3);
    // The second removal's tally is damaged.
    records[1]["dynamodb"]["OldImage"]["tally"] = json!({ "S": "{not json" });
    let broken = records[1]["dynamodb"]["SequenceNumber"].clone();
    let batch: Event = serde_json::from_value(raw).unwrap();

    let answer = store.forget_stream(&batch, now).await;
    let failed: Vec<_> = answer
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, vec![broken.as_str().map(str::to_string)]);
    // The first is counted out; the third is not (Lambda sends it again with
    // the failed one).
    let (from, to) = days_read(now);
    let left = store.tally(from, to).await.unwrap();
    let expected = Tally::sum(&parcels[1..]).within(from, to);
    assert_eq!(left, expected);
}
