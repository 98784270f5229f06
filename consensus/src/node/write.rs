//! Writes reach the leader from any node; reads are local or linearizable.

use std::time::Duration;

use openraft::error::{CheckIsLeaderError, RaftError};
use raftmasq_state::{Command, Millis, Rejection, Response};
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, timeout_at};

use super::ClusterNode;
use crate::backoff::Backoff;
use crate::network::{PeerError, paths};
use crate::types::{LogId, NodeId};

/// Why a write was not committed. Every variant tells the operator what to check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum WriteError {
    #[error("no leader: node {node} cannot reach a quorum of the cluster (last known leader: {})", display_leader(*last_leader))]
    NoLeader {
        node: NodeId,
        last_leader: Option<NodeId>,
    },
    #[error("node {node} is not the leader (leader: {})", display_leader(*leader))]
    NotLeader {
        node: NodeId,
        leader: Option<NodeId>,
    },
    #[error("not committed within {timeout_ms} ms: leader node {leader} may have lost its quorum")]
    Timeout { leader: NodeId, timeout_ms: u64 },
    #[error("cannot reach the leader: {reason}")]
    LeaderUnreachable { leader: NodeId, reason: String },
    #[error("node {node} is shutting down")]
    ShuttingDown { node: NodeId },
    #[error("internal error on node {node}: {reason}")]
    Internal { node: NodeId, reason: String },
}

fn display_leader(leader: Option<NodeId>) -> String {
    leader.map_or_else(|| "unknown".to_string(), |id| format!("node {id}"))
}

/// A failure that may clear up by itself within the caller's deadline.
pub(super) trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for WriteError {
    /// Leadership may settle: no leader yet, or it moved.
    fn is_transient(&self) -> bool {
        matches!(
            self,
            WriteError::NoLeader { .. }
                | WriteError::NotLeader { .. }
                | WriteError::LeaderUnreachable { .. }
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ReadError {
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("node {node} did not catch up to index {index} within the deadline")]
    CatchUp { node: NodeId, index: u64 },
}

/// The leader stamps its own clock into a command, so every replica applies
/// the same time whichever node first received the request.
fn stamp(command: &mut Command, leader_now: Millis) {
    match command {
        Command::Allocate { now, .. }
        | Command::Bind { now, .. }
        | Command::Renew { now, .. }
        | Command::Release { now, .. }
        | Command::Decline { now, .. }
        | Command::NameMac { now, .. }
        | Command::ForgetMac { now, .. }
        | Command::ChangeSettings { now, .. }
        | Command::BindV6 { now, .. }
        | Command::ReleaseV6 { now, .. }
        | Command::DeclineV6 { now, .. }
        | Command::Expire { now } => *now = leader_now,
        Command::InNetwork { command, .. } => stamp(command, leader_now),
        Command::Initialize { .. }
        | Command::Reserve { .. }
        | Command::Unreserve { .. }
        | Command::AddRecord { .. }
        | Command::RemoveRecord { .. }
        | Command::SetNetworkAddress { .. } => {}
    }
}

impl ClusterNode {
    /// Commits `command` through the leader, wherever it is, and returns the
    /// state machine's answer. Waits at most `write_timeout`.
    pub async fn write(&self, command: Command) -> Result<Response, WriteError> {
        let deadline = Instant::now() + self.config().write_timeout;
        retry_transient(deadline, || self.write_once(&command, deadline)).await
    }

    /// One attempt: commit here if this node leads, else at the leader.
    async fn write_once(
        &self,
        command: &Command,
        deadline: Instant,
    ) -> Result<Response, WriteError> {
        self.at_leader(
            paths::WRITE,
            command,
            deadline,
            || self.write_as_leader(command.clone(), deadline),
            peer_failure,
        )
        .await
    }

    /// Commits on this node if it is the leader; never forwards. The command
    /// joins the next batch (`batch.rs`); forwarded writes come here too.
    pub(super) async fn write_as_leader(
        &self,
        mut command: Command,
        deadline: Instant,
    ) -> Result<Response, WriteError> {
        if command.is_retired() {
            return Ok(Response::Rejected {
                reason: Rejection::Retired {
                    command: command.kind().to_string(),
                },
            });
        }
        if self.stepping_down() {
            // Handing over (`handover.rs`): the writer retries and reaches
            // the next leader once it leads.
            return Err(WriteError::NotLeader {
                node: self.id(),
                leader: None,
            });
        }
        if !self.clock().is_synced() {
            // A leader right after start has not compared clocks yet: do it
            // before its clock goes into the log for good.
            super::clock_sync::sync_once(self).await;
        }
        stamp(&mut command, self.clock().now_millis());
        let kind = command.kind();
        match timeout_at(deadline, self.batcher().submit(command)).await {
            Err(_elapsed) => {
                tracing::warn!(
                    node_id = self.id(),
                    command = kind,
                    "write not committed before its deadline"
                );
                Err(WriteError::Timeout {
                    leader: self.id(),
                    timeout_ms: millis(self.config().write_timeout),
                })
            }
            Ok(answer) => answer,
        }
    }

    /// A linearizable read: confirms the leader's authority with a quorum
    /// (read-index), waits until this replica has applied up to it, then runs
    /// `read` on the local replica.
    pub async fn consistent_read<T>(
        &self,
        read: impl FnOnce(&crate::store::Replica) -> T,
    ) -> Result<T, ReadError> {
        let deadline = Instant::now() + self.config().write_timeout;
        let index = self.read_index(deadline).await?;
        if let Some(index) = index {
            let wait = self
                .raft()
                .wait(Some(deadline.saturating_duration_since(Instant::now())));
            wait.applied_index_at_least(Some(index.index), "consistent read")
                .await
                .map_err(|_| ReadError::CatchUp {
                    node: self.id(),
                    index: index.index,
                })?;
        }
        Ok(read(&self.replica().read()))
    }

    async fn read_index(&self, deadline: Instant) -> Result<Option<LogId>, WriteError> {
        retry_transient(deadline, || self.read_index_once(deadline)).await
    }

    /// One attempt: confirm leadership here if this node leads, else ask the leader.
    async fn read_index_once(&self, deadline: Instant) -> Result<Option<LogId>, WriteError> {
        self.at_leader(
            paths::READ,
            &(),
            deadline,
            || self.read_index_as_leader(deadline),
            peer_failure,
        )
        .await
    }

    pub(super) async fn read_index_as_leader(
        &self,
        deadline: Instant,
    ) -> Result<Option<LogId>, WriteError> {
        match timeout_at(deadline, self.raft().ensure_linearizable()).await {
            Err(_elapsed) => Err(WriteError::Timeout {
                leader: self.id(),
                timeout_ms: millis(self.config().write_timeout),
            }),
            Ok(Ok(index)) => Ok(index),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward)))) => {
                Err(WriteError::NotLeader {
                    node: self.id(),
                    leader: forward.leader_id,
                })
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(error)))) => {
                tracing::warn!(node_id = self.id(), %error, "leadership not confirmed by a quorum");
                Err(WriteError::NoLeader {
                    node: self.id(),
                    last_leader: Some(self.id()),
                })
            }
            Ok(Err(RaftError::Fatal(_))) => Err(WriteError::ShuttingDown { node: self.id() }),
        }
    }

    /// The cluster address of a member, from the local membership.
    pub fn member_addr(&self, id: NodeId) -> Option<String> {
        let metrics = self.raft().metrics();
        let metrics = metrics.borrow();
        metrics
            .membership_config
            .membership()
            .get_node(&id)
            .map(|member| member.cluster_addr.clone())
    }
}

/// Retries `attempt` while it fails transiently (no leader yet, leadership
/// moving) with a short, growing pause, until `deadline`.
pub(super) async fn retry_transient<T, E, Fut>(
    deadline: Instant,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, E>
where
    E: Transient,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::linear(Duration::from_millis(20), Duration::from_millis(200))
        .until(deadline)
        .at_most(200);
    loop {
        match attempt().await {
            Err(error) if error.is_transient() => {
                if !backoff.wait().await {
                    return Err(error);
                }
            }
            other => return other,
        }
    }
}

fn peer_failure(leader: NodeId, error: PeerError) -> WriteError {
    match error {
        PeerError::Timeout { .. } => WriteError::Timeout {
            leader,
            timeout_ms: 0,
        },
        other => WriteError::LeaderUnreachable {
            leader,
            reason: other.to_string(),
        },
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
