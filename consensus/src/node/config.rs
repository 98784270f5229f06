use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use raftmasq_limits::ListenerLimits;
use raftmasq_state::ClusterSettings;

use super::Batching;
use crate::clock::ClusterClock;
use crate::network::{ClusterLink, ClusterToken};
use crate::types::{Member, MemberRole, NodeId};

/// Everything a cluster member needs to run; built by the daemon from its
/// configuration file.
#[derive(Debug, Clone)]
pub struct ClusterNodeConfig {
    pub id: NodeId,
    pub data_dir: PathBuf,
    /// What this node announces about itself (its cluster address must be
    /// reachable by the other members).
    pub member: Member,
    /// The initial members (`cluster.peers`): id → cluster address.
    pub peers: BTreeMap<NodeId, String>,
    /// Those of `peers` marked `role=learner`: the node forming a new cluster
    /// leaves them out of the first voters (they join as learners).
    pub learners: BTreeSet<NodeId>,
    /// How this node first joins (`node.role`). Once it is a member the
    /// cluster's membership decides: a restart neither promotes nor demotes it.
    pub role: MemberRole,
    /// The bridge addresses the configuration gives for members
    /// (`cluster.peers` entries with `bridge=`), this node's own included:
    /// known from the first second, before any member has registered.
    pub peer_bridges: BTreeMap<NodeId, Ipv4Addr>,
    pub token: ClusterToken,
    /// Settings every member must share: the `default` network's.
    pub settings: ClusterSettings,
    /// The other networks (`[[dhcp.networks]]`), by name: a leader
    /// initialises each that the cluster does not have yet, so a network
    /// added to the file of a running cluster appears at the next leader
    /// term or start. Empty: the cluster serves `default` only.
    pub networks: Vec<(String, ClusterSettings)>,
    /// Minimum election timeout; openraft picks each timeout in [t, 2t).
    pub election_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// Log entries between snapshots.
    pub snapshot_every: u64,
    /// The storage engine's page cache, in bytes (`node.storage_cache_mib`).
    pub storage_cache_bytes: u64,
    /// How long a write may wait for its commit before the caller is told the
    /// cluster did not answer (no quorum, or no leader).
    pub write_timeout: Duration,
    /// How the leader groups concurrent writes into log entries.
    pub batching: Batching,
    /// This node's cluster time; tests skew a node through it
    /// (`ClusterClock::with_test_offset`).
    pub clock: ClusterClock,
    /// How far a voter's clock may be from the voters' median and still be
    /// followed (`cluster.max_clock_offset`; see `clock::assess`).
    pub max_clock_offset: Duration,
    /// TLS (the default) or the explicit plaintext opt-out.
    pub link: ClusterLink,
    /// Caps and timeouts of the cluster listener (`[limits]`).
    pub listener_limits: ListenerLimits,
}

impl ClusterNodeConfig {
    /// Defaults suited to an overlay network: election in the ~1 s range.
    pub fn new(
        id: NodeId,
        data_dir: PathBuf,
        member: Member,
        token: ClusterToken,
        link: ClusterLink,
        settings: ClusterSettings,
    ) -> Self {
        ClusterNodeConfig {
            id,
            data_dir,
            peers: BTreeMap::from([(id, member.cluster_addr.clone())]),
            learners: BTreeSet::new(),
            role: MemberRole::Voter,
            peer_bridges: member
                .bridge_address
                .map(|address| BTreeMap::from([(id, address)]))
                .unwrap_or_default(),
            member,
            token,
            settings,
            networks: Vec::new(),
            election_timeout: Duration::from_millis(400),
            heartbeat_interval: Duration::from_millis(100),
            snapshot_every: 5_000,
            storage_cache_bytes: crate::store::DEFAULT_CACHE_BYTES,
            write_timeout: Duration::from_secs(3),
            batching: Batching::default(),
            clock: ClusterClock::new(),
            max_clock_offset: Duration::from_millis(
                crate::clock::DEFAULT_MAX_OFFSET_MS.unsigned_abs(),
            ),
            link,
            listener_limits: ListenerLimits::CLUSTER,
        }
    }
}
