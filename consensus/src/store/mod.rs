//! Durable storage for the Raft log and the state machine snapshots, in sled.
//!
//! One `sled::Db` per node (sled holds a file lock per path) with separate trees
//! for the log, Raft metadata and snapshots. Everything outside this module sees
//! only openraft's storage traits, so the engine can be swapped.

// openraft's storage traits fix the error type; boxing it here would only
// move the size elsewhere.
#![allow(clippy::result_large_err)]

mod log;
mod offline;
pub mod snapshot_format;
mod state_machine;

pub use log::LogStore;
pub use offline::read_replica;
pub use state_machine::{Replica, ReplicaHandle, StateMachineStore};

use std::path::Path;

use crate::types::{NodeId, StorageError};

/// The storage engine's page cache unless configured (`node.storage_cache_mib`):
/// sled's own default, 1 GiB, kept every log entry and snapshot written in
/// memory (docs/benchmarks.md, "Memory").
pub const DEFAULT_CACHE_BYTES: u64 = 16 << 20;

/// Opens (or creates) the store of node `node_id` under `dir`, with the
/// default cache.
pub fn open(dir: &Path, node_id: NodeId) -> Result<(LogStore, StateMachineStore), StoreOpenError> {
    open_with_cache(dir, node_id, DEFAULT_CACHE_BYTES)
}

/// [`open`] with a page cache of at most `cache_bytes`.
pub fn open_with_cache(
    dir: &Path,
    node_id: NodeId,
    cache_bytes: u64,
) -> Result<(LogStore, StateMachineStore), StoreOpenError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreOpenError::Io {
        dir: dir.display().to_string(),
        source,
    })?;
    let db = sled_config(dir, cache_bytes)
        .open()
        .map_err(|source| StoreOpenError::Sled {
            dir: dir.display().to_string(),
            source,
        })?;
    let log = LogStore::new(&db, node_id).map_err(StoreOpenError::Storage)?;
    let state_machine = StateMachineStore::new(&db).map_err(StoreOpenError::Storage)?;
    Ok((log, state_machine))
}

/// Hands the memory the allocator holds free back to the system. Loading or
/// installing a snapshot decodes the whole table next to the one it replaces,
/// and glibc keeps the freed chunks (spread over its per-thread arenas) as
/// resident memory until it is asked to trim; measured in docs/benchmarks.md
/// ("Memory"). A no-op off glibc.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas; it takes no pointers.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// At most two glibc malloc arenas. glibc gives each thread that allocates
/// under contention an arena of its own (up to 8 per core) and keeps what is
/// freed in each; with tokio's workers, sled's threads and the DHCP and DNS
/// threads all touching the table, a follower holding a full /16 kept 80 MiB
/// resident with the default and 64 MiB with two arenas (docs/benchmarks.md,
/// "Memory"). Call before any thread starts; a no-op off glibc.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes no pointers; called before other threads exist.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn sled_config(dir: &Path, cache_bytes: u64) -> sled::Config {
    sled::Config::new()
        .path(dir.join("sled"))
        .cache_capacity(cache_bytes)
        // Durability comes from explicit flushes before acknowledging (see DESIGN.md),
        // not from a background timer.
        .flush_every_ms(None)
        // Measured with perfdhcp on the testbed (docs/benchmarks.md): 1,750
        // instead of 1,500 exchanges/s at < 1% drops. The extra space it may
        // use is bounded by snapshots and log purges.
        .mode(sled::Mode::HighThroughput)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreOpenError {
    #[error("cannot create data directory {dir}: {source}")]
    Io { dir: String, source: std::io::Error },
    #[error(
        "cannot open the sled database in {dir}: {source} (is another raftmasq using this data_dir?)"
    )]
    Sled { dir: String, source: sled::Error },
    #[error("cannot read stored Raft state: {0}")]
    Storage(StorageError),
}

/// Big-endian index keys keep sled's byte order equal to log order.
fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_cache_is_the_configured_size() {
        let dir = Path::new("/nonexistent");
        assert_eq!(sled_config(dir, 3 << 20).cache_capacity, 3 << 20);
        assert_eq!(DEFAULT_CACHE_BYTES, 16 << 20);
        assert!(
            DEFAULT_CACHE_BYTES < sled::Config::new().cache_capacity / 16,
            "sled's default is what this bounds"
        );
    }
}
