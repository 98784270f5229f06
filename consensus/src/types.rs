//! openraft type configuration for raftmasq.

use std::fmt;
use std::io::Cursor;
use std::net::Ipv4Addr;

use raftmasq_state::{Proposal, Response};
use serde::{Deserialize, Serialize};

pub type NodeId = u64;

/// What the cluster knows about one member; replicated in the Raft membership.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Raft RPC listener (`node.cluster_addr`), e.g. `10.99.0.1:7380`.
    pub cluster_addr: String,
    /// Admin/API listener, if the member has registered it.
    #[serde(default)]
    pub admin_addr: Option<String>,
    /// The member's bridge address (`dhcp.address`): its DHCP server identifier
    /// and, by default, one of the DNS servers handed to clients.
    #[serde(default)]
    pub bridge_address: Option<Ipv4Addr>,
}

impl Member {
    pub fn new(cluster_addr: impl Into<String>) -> Self {
        Member {
            cluster_addr: cluster_addr.into(),
            admin_addr: None,
            bridge_address: None,
        }
    }
}

/// Whether a member votes. A learner replicates the log and serves reads
/// (DNS, the admin API) from its replica, but never votes, never counts for
/// quorum and never leads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    #[default]
    Voter,
    Learner,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Voter => "voter",
            MemberRole::Learner => "learner",
        }
    }
}

impl fmt::Display for MemberRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cluster_addr)
    }
}

openraft::declare_raft_types!(
    /// raftmasq's Raft types: an entry carries a batch of lease-table commands
    /// (or, in logs written before batching, one) and answers one response per
    /// command, in order.
    pub TypeConfig:
        D = Proposal,
        R = Vec<Response>,
        NodeId = NodeId,
        Node = Member,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, Member>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Member>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, Member>;
