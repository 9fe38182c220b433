//! A table written before the store kept the fleet's counters (shipment items
//! without `tally` or problem-index attributes, no counter items) is caught up
//! by `DynamoStore::count_uncounted`, a bounded part per call, exactly once:
//! the counters end as the sum of the stored shipments and the problem queue
//! lists every parcel with a problem.

mod common;

use std::time::Duration as Budget;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, TimeZone, Utc};

use sentinel_aws::dynamo::DynamoStore;
use shared::domain::{AlertState, Rule, Severity, Shipment, ShipmentId, Status};
use shared::ports::{ShipmentQuery, ShipmentWriter};
use shared::tally::{days_read, Tally};

fn parcels() -> Vec<Shipment> {
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap();
    (0..12u32)
        .map(|i| {
            let number = format!("7531000000{i:04}");
            let mut sh = Shipment::new(ShipmentId::parse("ZTO", &number).unwrap(), now);
            sh.status = match i % 3 {
                0 => Status::InTransit,
                1 => Status::Delivered,
                _ => Status::Exception,
            };
            if i % 4 == 0 {
                let since = now - Duration::hours(i64::from(60 - i));
                sh.alerts.insert(
                    Rule::Stalled,
                    AlertState::fired(Rule::Stalled, Severity::Warning, since, since),
                );
            }
            sh
        })
        .collect()
}

/// Makes the table look as the store left it before it kept counters.
async fn forget_counting(client: &aws_sdk_dynamodb::Client, table: &str) {
    let items = client
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    for item in items {
        let pk = item["pk"].as_s().unwrap().clone();
        let sk = item["sk"].as_s().unwrap().clone();
        if pk.starts_with("COUNT#") {
            client
                .delete_item()
                .table_name(table)
                .key("pk", AttributeValue::S(pk))
                .key("sk", AttributeValue::S(sk))
                .send()
                .await
                .unwrap();
        } else if sk == "SHIP" {
            client
                .update_item()
                .table_name(table)
                .key("pk", AttributeValue::S(pk))
                .key("sk", AttributeValue::S(sk))
                .update_expression("REMOVE tally, problem_shard, problem_key")
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shipments_stored_before_the_counters_are_counted_once() {
    let config = common::emulator().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = common::unique("backfill");
    DynamoStore::create_table(&client, &table).await.unwrap();
    let store = DynamoStore::new(client.clone(), table.clone());
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap();
    let (from, to) = days_read(now);
    let mut all = parcels();
    for sh in &mut all {
        sh.version = store.put_shipment(sh).await.unwrap();
    }
    forget_counting(&client, &table).await;
    assert_eq!(store.tally(from, to).await.unwrap(), Tally::default());
    assert!(store
        .problem_shipments(None, 50)
        .await
        .unwrap()
        .items
        .is_empty());

    // One of them is written again before the catching up reaches it: that
    // write counts it, the catching up leaves it alone.
    let mut touched = all[5].clone();
    touched.status = Status::Delivered;
    touched.version = store.put_shipment(&touched).await.unwrap();
    all[5] = touched;

    // Pages of 4 items, a page per call: the walk goes on where it stopped.
    let mut calls = 0;
    let mut counted = 0;
    loop {
        calls += 1;
        assert!(calls < 20, "the walk does not end");
        let caught = store.count_uncounted(Budget::ZERO, 4).await.unwrap();
        counted += caught.counted;
        if caught.done {
            break;
        }
    }
    assert!(calls > 2, "{calls} calls");
    assert_eq!(counted, 11);
    let expected = Tally::sum(&all).within(from, to);
    assert_eq!(store.tally(from, to).await.unwrap(), expected);
    let queue = store.problem_shipments(None, 50).await.unwrap();
    let listed: Vec<&ShipmentId> = queue.items.iter().map(|s| &s.id).collect();
    // Oldest problem first: parcel 0 (60 h), 4 (56 h), 8 (52 h).
    assert_eq!(listed, vec![&all[0].id, &all[4].id, &all[8].id]);

    // Done: another call, from this store or a fresh one, counts nothing.
    let again = store.count_uncounted(Budget::ZERO, 4).await.unwrap();
    assert!(again.done && again.counted == 0);
    let fresh = DynamoStore::new(client.clone(), table.clone());
    let again = fresh.count_uncounted(Budget::ZERO, 4).await.unwrap();
    assert!(again.done && again.counted == 0);
    assert_eq!(store.tally(from, to).await.unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_table_is_caught_up_at_once() {
    let config = common::emulator().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = common::unique("backfill-new");
    DynamoStore::create_table(&client, &table).await.unwrap();
    let store = DynamoStore::new(client.clone(), table.clone());
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap();
    let all = parcels();
    for sh in &all {
        store.put_shipment(sh).await.unwrap();
    }
    let caught = store
        .count_uncounted(Budget::from_secs(5), 500)
        .await
        .unwrap();
    assert_eq!((caught.counted, caught.done), (0, true));
    let (from, to) = days_read(now);
    assert_eq!(
        store.tally(from, to).await.unwrap(),
        Tally::sum(&all).within(from, to)
    );
}
