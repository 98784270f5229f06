//! openraft's storage conformance suite against the sled store.

use openraft::testing::{StoreBuilder, Suite};
use raftmasq_consensus::store::{self, LogStore, StateMachineStore};
use raftmasq_consensus::types::{StorageError, TypeConfig};
use tempfile::TempDir;

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for SledBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = TempDir::new().expect("temp dir");
        let (log, state_machine) = store::open(dir.path(), 0).expect("open store");
        Ok((dir, log, state_machine))
    }
}

#[test]
#[allow(clippy::result_large_err)] // openraft's error type
fn sled_store_passes_the_openraft_suite() -> Result<(), StorageError> {
    Suite::test_all(SledBuilder)
}
