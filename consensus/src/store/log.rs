//! The Raft log and Raft metadata (vote, committed, purged) in sled.
//!
//! Durability contract (openraft `RaftLogStorage`): a vote is on disk before
//! `save_vote` returns, and `append` reports completion only after the entries
//! are fsynced, because openraft counts this node toward the commit quorum at
//! that moment. sled's `flush_async` fsyncs the whole database.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{RaftLogReader, StorageIOError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::index_key;
use crate::types::{Entry, LogId, NodeId, StorageError, TypeConfig, Vote};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// Raft log store; cheap to clone (sled trees are shared handles).
#[derive(Clone)]
pub struct LogStore {
    db: sled::Db,
    logs: sled::Tree,
    meta: sled::Tree,
    /// This node's id, to know when it is the leader named by its own vote.
    node_id: NodeId,
}

impl LogStore {
    pub(super) fn new(db: &sled::Db, node_id: NodeId) -> Result<Self, StorageError> {
        let open = |name: &str| -> Result<sled::Tree, StorageError> {
            db.open_tree(name)
                .map_err(|e| StorageIOError::read_logs(&e).into())
        };
        Ok(LogStore {
            db: db.clone(),
            logs: open("raft_log")?,
            meta: open("raft_meta")?,
            node_id,
        })
    }

    async fn flush(&self) -> Result<(), sled::Error> {
        self.db.flush_async().await.map(|_| ())
    }

    fn read_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        let Some(bytes) = self.meta.get(key).map_err(|e| StorageIOError::read(&e))? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StorageIOError::read(&e).into())
    }

    fn write_meta<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StorageIOError::write(&e))?;
        self.meta
            .insert(key, bytes)
            .map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }

    fn is_own_leader_vote(&self) -> Result<bool, StorageError> {
        let vote: Option<Vote> = self.read_meta(VOTE)?;
        Ok(vote.is_some_and(|vote| {
            vote.is_committed() && vote.leader_id().voted_for() == Some(self.node_id)
        }))
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, StorageError> {
        let Some((_, bytes)) = self
            .logs
            .last()
            .map_err(|e| StorageIOError::read_logs(&e))?
        else {
            return Ok(None);
        };
        let entry: Entry =
            serde_json::from_slice(&bytes).map_err(|e| StorageIOError::read_logs(&e))?;
        Ok(Some(entry.log_id))
    }

    /// Removes every log key in `range` with one atomic batch.
    fn remove_range(&self, range: impl RangeBounds<[u8; 8]>) -> Result<(), sled::Error> {
        let mut batch = sled::Batch::default();
        for key in self.logs.range(range) {
            let (key, _) = key?;
            batch.remove(key);
        }
        self.logs.apply_batch(batch)
    }
}

fn map_bound(bound: Bound<&u64>) -> Bound<[u8; 8]> {
    match bound {
        Bound::Included(index) => Bound::Included(index_key(*index)),
        Bound::Excluded(index) => Bound::Excluded(index_key(*index)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let keys = (map_bound(range.start_bound()), map_bound(range.end_bound()));
        let mut entries = Vec::new();
        for item in self.logs.range(keys) {
            let (_, bytes) = item.map_err(|e| StorageIOError::read_logs(&e))?;
            let entry: Entry =
                serde_json::from_slice(&bytes).map_err(|e| StorageIOError::read_logs(&e))?;
            entries.push(entry);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.read_meta(LAST_PURGED)?;
        let last_log_id = self.last_entry_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.write_meta(VOTE, vote)?;
        self.flush()
            .await
            .map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.write_meta(COMMITTED, &committed)?;
        // A leader restarted with its vote intact resumes leadership in the same
        // term without a new no-op entry, and openraft then takes this stored
        // value as the linearizable read index. If it were behind what the
        // leader had acknowledged before the crash, a `--consistent` read could
        // miss acknowledged leases (the e2e crash test caught exactly that).
        // openraft awaits this before applying, so flushing here makes the
        // value durable before any client hears of the commit. Followers learn
        // the commit index from the leader and skip the fsync.
        if self.is_own_leader_vote()? {
            self.flush().await.map_err(|e| StorageIOError::write(&e))?;
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry).map_err(|e| StorageIOError::write_logs(&e))?;
            batch.insert(&index_key(entry.log_id.index), bytes);
        }
        self.logs
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        let flushed = self.flush().await.map_err(std::io::Error::other);
        let failed = flushed
            .as_ref()
            .err()
            .map(|e| StorageIOError::write_logs(e).into());
        callback.log_io_completed(flushed);
        match failed {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.remove_range(index_key(log_id.index)..)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        self.flush()
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point durably before deleting, so a crash in between
        // never leaves a log whose first entry openraft does not expect.
        self.write_meta(LAST_PURGED, &log_id)?;
        self.flush()
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        self.remove_range(..=index_key(log_id.index))
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}
