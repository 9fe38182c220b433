//! A finished parcel that DynamoDB's TTL removes leaves the counters through
//! `DynamoStore::forget_removed` (fed by the table's stream), exactly once.

mod common;

use chrono::{Duration, TimeZone, Utc};

use sentinel_aws::dynamo::{shipment_pk, DynamoStore, Removed};
use shared::domain::{Shipment, ShipmentId, Status};
use shared::ports::{ShipmentQuery, ShipmentWriter};
use shared::tally::{days_read, Tally};

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_parcel_is_counted_out_once() {
    let config = common::emulator().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = common::unique("expiry");
    DynamoStore::create_table(&client, &table).await.unwrap();
    let store = DynamoStore::new(client.clone(), table.clone());
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap();
    let mut kept = Shipment::new(ShipmentId::parse("ZTO", "75300000000001").unwrap(), now);
    kept.status = Status::InTransit;
    let mut gone = Shipment::new(ShipmentId::parse("SF", "SF0000000000002").unwrap(), now);
    gone.status = Status::Delivered;
    gone.version = store.put_shipment(&gone).await.unwrap();
    store.put_shipment(&kept).await.unwrap();

    // TTL removes the delivered parcel: its item goes, the counters stay.
    client
        .delete_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(shipment_pk(&gone.id)),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("SHIP".into()),
        )
        .send()
        .await
        .unwrap();
    let (from, to) = days_read(now);
    let before = store.tally(from, to).await.unwrap();
    assert_eq!(before.get("parcels"), 2);

    let removed = Removed {
        pk: shipment_pk(&gone.id),
        version: gone.version,
        tally: Tally::of(&gone),
    };
    assert!(store.forget_removed(&removed, now).await.unwrap());
    let after = store.tally(from, to).await.unwrap();
    assert_eq!(after, Tally::of(&kept).within(from, to));
    // The stream delivers the record again: nothing changes.
    assert!(!store
        .forget_removed(&removed, now + Duration::minutes(3))
        .await
        .unwrap());
    assert_eq!(store.tally(from, to).await.unwrap(), after);
    // A key that is not a shipment's is an error, not a guess.
    let odd = Removed {
        pk: "META".into(),
        ..removed
    };
    assert!(store.forget_removed(&odd, now).await.is_err());
}
