//! The store contract suite (`sentinel-store-contract`), on DynamoDB (the emulator), one test per
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

store_contract::store_contract_tests!(
    #[tokio::test(flavor = "multi_thread")]
    fresh().await
);
