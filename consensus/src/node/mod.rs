//! One raftmasq cluster member: the Raft instance, its storage, its cluster
//! listener and the tasks that bootstrap, join and guard the cluster settings.

mod api;
mod at_leader;
mod batch;
mod bootstrap;
mod bridges;
mod clock_sync;
mod config;
mod expiry;
mod membership;
mod write;

pub use batch::Batching;
pub use bridges::{BridgeAddresses, bridge_addresses};
pub use config::ClusterNodeConfig;
pub use membership::{
    MemberReport, MembershipChange, MembershipError, MembershipOutcome, PROMOTE_MAX_LAG, state_name,
};
pub use write::{ReadError, WriteError};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::middleware;
use openraft::SnapshotPolicy;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::ClusterClock;
use crate::network::{ClusterToken, HttpNetwork, Links, PeerClient, raft_routes};
use crate::store::{self, ReplicaHandle, StoreOpenError};
use crate::types::{Member, NodeId, Raft, RaftMetrics};

/// A running cluster member. Cheap to clone.
#[derive(Clone)]
pub struct ClusterNode {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClusterNodeConfig,
    raft: Raft,
    /// Groups this node's writes into entries while it leads.
    batcher: batch::Batcher,
    replica: ReplicaHandle,
    peers: PeerClient,
    local_addr: SocketAddr,
    /// Set when this node must stop serving: its settings differ from the cluster's.
    refused: watch::Sender<Option<String>>,
    /// The voters' clock offsets that correct `config.clock`.
    peer_offsets: clock_sync::PeerOffsets,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// See [`ClusterNode::quorum_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuorumStatus {
    pub is_leader: bool,
    pub has_quorum: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreOpenError),
    #[error("invalid Raft configuration: {0}")]
    RaftConfig(String),
    #[error("cannot start Raft: {0}")]
    Raft(String),
    #[error("cannot read the cluster listener's address: {0}")]
    Listener(std::io::Error),
}

impl ClusterNode {
    /// Starts the node on an already bound cluster listener.
    pub async fn start(
        config: ClusterNodeConfig,
        listener: TcpListener,
        links: Links,
    ) -> Result<Self, StartError> {
        let local_addr = listener.local_addr().map_err(StartError::Listener)?;
        let raft_config = openraft::Config {
            cluster_name: "raftmasq".into(),
            heartbeat_interval: millis(config.heartbeat_interval),
            election_timeout_min: millis(config.election_timeout),
            election_timeout_max: millis(config.election_timeout) * 2,
            install_snapshot_timeout: 10_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every),
            max_in_snapshot_log_to_keep: config.snapshot_every.min(1_000),
            snapshot_max_chunk_size: 1 << 20,
            purge_batch_size: 256,
            ..Default::default()
        };
        let raft_config = Arc::new(
            raft_config
                .validate()
                .map_err(|e| StartError::RaftConfig(e.to_string()))?,
        );
        let (log_store, state_machine) = store::open(&config.data_dir, config.id)?;
        let replica = state_machine.handle();
        let peers = PeerClient::new(config.id, config.token.clone(), links);
        let raft = Raft::new(
            config.id,
            raft_config,
            HttpNetwork::new(peers.clone()),
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;
        let (batcher, batching) = batch::Batcher::new(
            raft.clone(),
            config.id,
            config.batching,
            config.write_timeout,
        );

        let node = ClusterNode {
            inner: Arc::new(Inner {
                config,
                raft,
                batcher,
                replica,
                peers,
                local_addr,
                refused: watch::Sender::new(None),
                peer_offsets: Default::default(),
                tasks: Default::default(),
            }),
        };
        node.spawn(batching);
        node.spawn(serve(node.clone(), listener));
        bootstrap::start(&node).await;
        Ok(node)
    }

    pub fn id(&self) -> NodeId {
        self.inner.config.id
    }

    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// Cluster time, the one clock of this node: hand it to everything that
    /// compares with lease times (DHCP, DNS, the admin API).
    pub fn clock(&self) -> &ClusterClock {
        &self.inner.config.clock
    }

    fn peer_offsets(&self) -> &clock_sync::PeerOffsets {
        &self.inner.peer_offsets
    }

    /// This node's replica, for local reads (DNS, DHCP, `dnsctl` without `--consistent`).
    pub fn replica(&self) -> &ReplicaHandle {
        &self.inner.replica
    }

    pub fn metrics(&self) -> RaftMetrics {
        self.inner.raft.metrics().borrow().clone()
    }

    /// Whether this node may act for the cluster right now. A leader counts as
    /// leader only while a quorum has acknowledged it within one election
    /// timeout: an old leader cut off on the minority side stops granting
    /// addresses by then, although openraft still calls it leader.
    pub fn quorum_status(&self) -> QuorumStatus {
        let metrics = self.inner.raft.metrics();
        let metrics = metrics.borrow();
        let election_ms = millis(self.inner.config.election_timeout);
        let is_leader = metrics.state == openraft::ServerState::Leader
            && metrics
                .millis_since_quorum_ack
                .is_some_and(|ms| ms < election_ms);
        QuorumStatus {
            is_leader,
            has_quorum: is_leader || follows_a_leader(&metrics),
        }
    }

    /// Whether this node follows a leader it knows: then the leader answers
    /// the segment's broadcasts and this node stays silent to them.
    pub fn follows_a_leader(&self) -> bool {
        follows_a_leader(&self.inner.raft.metrics().borrow())
    }

    /// Every member's bridge address as far as this node knows it: from the
    /// membership, filled in from this node's file for members that have not
    /// registered yet (see [`bridges`]).
    pub fn bridge_addresses(&self) -> BridgeAddresses {
        let metrics = self.inner.raft.metrics();
        let metrics = metrics.borrow();
        let config = &self.inner.config;
        let membership = metrics.membership_config.membership();
        bridge_addresses(
            membership.nodes(),
            |id| membership.voter_ids().any(|voter| voter == id),
            &config.peers,
            &config.peer_bridges,
            (config.id, config.member.bridge_address),
        )
    }

    /// The address the cluster listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// What this node announces about itself to the cluster.
    pub fn member(&self) -> &Member {
        &self.inner.config.member
    }

    /// Becomes `Some(reason)` when the cluster refused this node (settings differ);
    /// the daemon then exits with that reason.
    pub fn refused(&self) -> watch::Receiver<Option<String>> {
        self.inner.refused.subscribe()
    }

    fn refuse(&self, reason: String) {
        tracing::error!(node_id = self.id(), %reason, "this node is refused by the cluster");
        self.inner.refused.send_replace(Some(reason));
    }

    pub(crate) fn config(&self) -> &ClusterNodeConfig {
        &self.inner.config
    }

    fn batcher(&self) -> &batch::Batcher {
        &self.inner.batcher
    }

    pub(crate) fn peers(&self) -> &PeerClient {
        &self.inner.peers
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(handle);
    }

    /// Stops Raft and every task of this node. Storage is closed when the last
    /// clone is dropped.
    pub async fn shutdown(&self) {
        let tasks = std::mem::take(
            &mut *self
                .inner
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for task in tasks {
            task.abort();
        }
        if let Err(error) = self.inner.raft.shutdown().await {
            tracing::warn!(node_id = self.id(), %error, "raft shutdown did not complete cleanly");
        }
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

async fn serve(node: ClusterNode, listener: TcpListener) {
    let token: ClusterToken = node.config().token.clone();
    let app = raft_routes(node.raft().clone())
        .merge(api::routes(node.clone()))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .layer(middleware::from_fn_with_state(
            token,
            crate::network::require_token,
        ));
    if let Err(error) = axum::serve(listener, app).await {
        tracing::error!(node_id = node.id(), %error, "cluster listener stopped");
    }
}

fn follows_a_leader(metrics: &RaftMetrics) -> bool {
    matches!(
        metrics.state,
        openraft::ServerState::Follower | openraft::ServerState::Learner
    ) && metrics.current_leader.is_some()
}
