//! The store contract suite of `shared`, on DynamoDB (the emulator), one test per
//! check, each on a fresh table.

mod common;

use sentinel_aws::dynamo::DynamoStore;

async fn fresh() -> DynamoStore {
    let config = common::emulator().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = common::unique("contract");
    DynamoStore::create_table(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("create table {table}: {e}"));
    DynamoStore::new(client, table)
}

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $name() {
                shared::store::contract::$name(&fresh().await).await;
            }
        )*

        #[test]
        fn every_check_runs() {
            assert_eq!(&[$(stringify!($name)),*], shared::store::contract::CHECKS);
        }
    };
}

checks!(
    get_absent_is_none,
    insert_then_get,
    insert_existing_conflicts,
    update_bumps_version,
    stale_update_conflicts,
    update_absent_conflicts,
    full_round_trip,
    due_only_past_earliest_first,
    due_respects_limit,
    due_never_without_next_check,
    due_moved_to_future_leaves,
    alert_insert_if_absent,
    alerts_for_oldest_first,
    alerts_between_bounds,
    list_all_in_order,
    list_filter_status,
    list_filter_carrier,
    list_filter_rule,
    list_combined_filters,
    list_pagination,
    list_bad_cursor,
    racing_writers,
);
