//! The console's reads on DynamoDB make a fixed number of requests, whatever the
//! fleet's size: the summary reads the counter items (BatchGetItem), the problem
//! queue one Query per problem-index shard — never a Scan, never a walk of the
//! parcels. Counted at the wire (the `X-Amz-Target` of every request sent) on
//! two fleets ten times apart.

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use chrono::{DateTime, Duration, TimeZone, Utc};

use sentinel_aws::dynamo::{DynamoStore, COUNTER_SHARDS, PROBLEM_SHARDS};
use shared::domain::{AlertState, Rule, Severity, Shipment, ShipmentId, Status};
use shared::ports::{ShipmentQuery, ShipmentWriter};
use shared::problems::{queue, QueueFilter};
use shared::report::HealthSummary;

/// Every operation sent, by name (`BatchGetItem`, `Query`...).
#[derive(Clone, Debug, Default)]
struct Sent(Arc<Mutex<Vec<String>>>);

impl Intercept for Sent {
    fn name(&self) -> &'static str {
        "count-operations"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("?");
        let op = target.rsplit('.').next().unwrap_or(target).to_string();
        self.0.lock().map_err(|_| "poisoned")?.push(op);
        Ok(())
    }
}

impl Sent {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap()
}

/// Parcel `i`: in transit, and every 10th with an open problem.
fn parcel(i: u32) -> Shipment {
    let carriers = ["SF", "ZTO", "YTO"];
    let id = ShipmentId::parse(carriers[i as usize % 3], &format!("CR{i:010}")).unwrap();
    let mut s = Shipment::new(id, now() - Duration::hours(i64::from(i % 300)));
    s.status = Status::InTransit;
    if i % 10 == 0 {
        let since = now() - Duration::minutes(i64::from(i));
        s.alerts.insert(
            Rule::Stalled,
            AlertState::fired(Rule::Stalled, Severity::Warning, since, since),
        );
    }
    s
}

/// The requests a summary and a first queue page make on a fleet of `n`.
async fn reads_at(n: u32) -> (Vec<String>, Vec<String>, HealthSummary) {
    let sent = Sent::default();
    let base = common::emulator().await;
    let config = aws_sdk_dynamodb::config::Builder::from(&base)
        .interceptor(sent.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let table = common::unique("console-reads");
    DynamoStore::create_table(&client, &table).await.unwrap();
    let store = DynamoStore::new(client, table);
    for i in 0..n {
        store.put_shipment(&parcel(i)).await.unwrap();
    }
    sent.take();
    let summary = HealthSummary::collect(&store, now()).await.unwrap();
    let summary_ops = sent.take();
    let open = QueueFilter::default().with_state("open").unwrap();
    let items = queue(&store, &open, now(), 20).await.unwrap();
    assert_eq!(items.len(), 20.min(n as usize / 10));
    let queue_ops = sent.take();
    assert!(store.problem_shipments(None, 1).await.unwrap().items.len() <= 1);
    (summary_ops, queue_ops, summary)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_summary_and_the_queue_read_the_same_whatever_the_fleet() {
    let (small_summary, small_queue, small) = reads_at(40).await;
    let (large_summary, large_queue, large) = reads_at(400).await;
    assert_eq!(small.parcels, 40);
    assert_eq!(large.parcels, 400);
    assert_eq!(large.parcels_with_alerts, 40);
    assert_eq!(large.by_status.get("InTransit"), Some(&400));

    // The summary: the counter items of every shard (a fleet item and the days
    // read), 100 keys a BatchGetItem, and the unreadable registry's one Query.
    let (from, to) = shared::tally::days_read(now());
    let keys = COUNTER_SHARDS as usize * (2 + (to - from).num_days() as usize);
    let batches = keys.div_ceil(100);
    assert_eq!(small_summary, large_summary);
    let batch_gets = large_summary
        .iter()
        .filter(|o| *o == "BatchGetItem")
        .count();
    assert_eq!(batch_gets, batches, "{large_summary:?}");
    assert!(
        large_summary.len() <= batches + 1,
        "nothing but the counters and the unreadable registry: {large_summary:?}"
    );
    assert!(!large_summary.iter().any(|o| o == "Scan"));

    // The queue: one Query per problem-index shard for its first page.
    assert_eq!(small_queue, large_queue);
    assert_eq!(
        large_queue,
        vec!["Query".to_string(); PROBLEM_SHARDS as usize],
        "{large_queue:?}"
    );
}
