//! The in-memory store passes the store contract suite, like every other store.
//! (An integration test: the suite's crate links this crate's library, which a
//! unit test of it would not share.)

use shared::store::memory::MemoryStore;

store_contract::store_contract_tests!(MemoryStore::new());

#[tokio::test]
async fn run_all_runs_every_check() {
    store_contract::run_all(MemoryStore::new).await;
}
