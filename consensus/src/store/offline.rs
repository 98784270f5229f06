//! Reading a stopped node's store: for backups and for recovering the state
//! when a majority of the cluster is lost for good.

use std::path::Path;

use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{EntryPayload, RaftLogReader};

use super::{Replica, StoreOpenError, open};
use crate::types::StoredMembership;

/// The replica as this node last knew it: the latest snapshot plus every log
/// entry after it. Entries this node had stored but the cluster never
/// committed are included too (a stopped node cannot tell them apart), so a
/// restore from a minority survivor may contain a few writes that no client
/// was ever told about; none it was told about is missing.
pub async fn read_replica(dir: &Path) -> Result<Replica, StoreOpenError> {
    let (mut log, mut state_machine) = open(dir, 0)?;
    let (applied, _) = state_machine
        .applied_state()
        .await
        .map_err(StoreOpenError::Storage)?;
    let mut replica = state_machine.handle().read().clone();
    let state = log.get_log_state().await.map_err(StoreOpenError::Storage)?;
    let start = applied.map_or(0, |log_id| log_id.index + 1);
    let end = state.last_log_id.map_or(0, |log_id| log_id.index + 1);
    if start < end {
        let entries = log
            .try_get_log_entries(start..end)
            .await
            .map_err(StoreOpenError::Storage)?;
        for entry in entries {
            replica.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(proposal) => {
                    replica.apply_commands(proposal.commands());
                }
                EntryPayload::Membership(membership) => {
                    replica.membership = StoredMembership::new(Some(entry.log_id), membership);
                }
            }
        }
    }
    Ok(replica)
}
