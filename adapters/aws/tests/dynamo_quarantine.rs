//! Unreadable items on DynamoDB (the emulator): set aside where they are found —
//! out of the due index and the outbox — skipped by listings and queries, and
//! named by `unreadable`.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, TimeZone, Utc};

use sentinel_aws::dynamo::{due_shard, outbox_shard, shipment_pk, DynamoStore};
use shared::domain::{AlertKind, AlertRecord, Rule, Severity, Shipment, ShipmentId};
use shared::ports::{
    AlertLog, DueIndex, ListFilter, ShipmentQuery, ShipmentReader, ShipmentWriter, StoreError,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 11, 11, 8, 0, 0).unwrap()
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_items_are_set_aside_skipped_and_named() {
    let config = common::emulator().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = common::unique("quarantine");
    DynamoStore::create_table(&client, &table).await.unwrap();
    let store = DynamoStore::new(client.clone(), table.clone());

    let good = ShipmentId::parse("ZTO", "75310000000001").unwrap();
    store
        .put_shipment(&Shipment::new(good.clone(), t0()))
        .await
        .unwrap();
    // A shipment item written by hand, due earlier than the good one, whose
    // document is not a shipment.
    let bad = ShipmentId::parse("ZTO", "75310000000000").unwrap();
    client
        .put_item()
        .table_name(&table)
        .item("pk", s(shipment_pk(&bad)))
        .item("sk", s("SHIP"))
        .item("doc", s("not json"))
        .item("version", AttributeValue::N("1".into()))
        .item("carrier", s("ZTO"))
        .item("number", s("75310000000000"))
        .item("status", s("InTransit"))
        .item("due_shard", s(due_shard(&bad)))
        .item("due_key", s(format!("{:015}#ZTO#75310000000000", 0)))
        .send()
        .await
        .unwrap();
    let now = t0() + Duration::hours(1);

    // Due (the index holds keys only) until a reader finds it unreadable.
    assert_eq!(
        store.due_shipments(now, 10).await.unwrap(),
        vec![bad.clone(), good.clone()]
    );
    assert!(matches!(
        store.get_shipment(&bad).await,
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(
        store.due_shipments(now, 10).await.unwrap(),
        vec![good.clone()]
    );

    // Listing skips it and still names it (it keeps its document).
    let page = store
        .list_shipments(&ListFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![good.clone()]
    );
    assert_eq!(page.unreadable.len(), 1, "{page:?}");
    assert!(
        page.unreadable[0].key.contains("75310000000000"),
        "{page:?}"
    );

    // An alert item whose document is not a record, first in the outbox.
    let record = AlertRecord {
        shipment: good.clone(),
        rule: Rule::Stalled,
        since: t0(),
        kind: AlertKind::Fired,
        seq: 0,
        severity: Severity::Warning,
        at: t0(),
        hold_until: None,
    };
    assert!(store.insert_alert_if_absent(&record).await.unwrap());
    client
        .put_item()
        .table_name(&table)
        .item("pk", s(shipment_pk(&good)))
        .item("sk", s("ALERT#stalled#000000000000000#fired#0000000000"))
        .item("doc", s("{\"oops\":1}"))
        .item(
            "alert_day",
            s(format!("ALERTDAY#{}", t0().format("%Y-%m-%d"))),
        )
        .item("alert_at", s(format!("{:015}#x", t0().timestamp_millis())))
        .item("outbox_shard", s(outbox_shard(&good)))
        .item("outbox_key", s(format!("{:015}#x", 0)))
        .send()
        .await
        .unwrap();
    // The outbox skips it and it leaves the outbox: a batch of one is the good
    // record from then on.
    assert_eq!(
        store.pending_alerts(now, 10).await.unwrap(),
        vec![record.clone()]
    );
    assert_eq!(
        store.pending_alerts(now, 1).await.unwrap(),
        vec![record.clone()]
    );
    // The other queries skip it too.
    assert_eq!(store.alerts_for(&good).await.unwrap(), vec![record.clone()]);
    assert_eq!(
        store
            .alerts_between(t0() - Duration::days(1), now)
            .await
            .unwrap(),
        vec![record]
    );

    let named = store.unreadable(10).await.unwrap();
    assert_eq!(named.len(), 2, "{named:?}");
    assert!(
        named.iter().any(|u| u.key.contains("75310000000000")),
        "{named:?}"
    );
    assert!(
        named
            .iter()
            .any(|u| u.key.contains("ALERT#stalled#000000000000000")),
        "{named:?}"
    );
}
