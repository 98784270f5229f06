//! One raftmasq cluster member: the Raft instance, its storage, its cluster
//! listener and the tasks that bootstrap, join and guard the cluster settings.

mod api;
mod at_leader;
mod batch;
mod bootstrap;
mod bridges;
mod change_queue;
mod clock_sync;
mod config;
mod expiry;
mod handover;
mod membership;
mod roles;
mod write;

pub use api::{JoinAccepted, JoinRefused, JoinRequest};
pub use batch::Batching;
pub use bridges::{BridgeAddresses, bridge_addresses};
pub use change_queue::{CHANGE_QUEUE_LIMIT, CHANGE_QUEUE_MAX_WAIT, QueueError};
pub use config::ClusterNodeConfig;
pub use handover::Handover;
pub use membership::{
    MemberReport, MembershipChange, MembershipError, MembershipOutcome, PROMOTE_MAX_LAG,
    RECOMMENDED_MIN_VOTERS, state_name,
};
pub use write::{ReadError, WriteError};

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::middleware;
use openraft::SnapshotPolicy;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::ClusterClock;
use crate::network::{
    ClusterListener, ClusterTls, ClusterToken, HttpNetwork, LeaderContact, Links, PeerClient,
    PeerIdentity, TlsError, raft_routes,
};
use crate::store::{self, ReplicaHandle, StoreOpenError};
use crate::types::{Member, MemberRole, NodeId, Raft, RaftMetrics};

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
    /// Set when this node must stop serving: the cluster refused it (its id is
    /// registered at another address).
    refused: watch::Sender<Option<String>>,
    /// The voters' clock offsets that correct `config.clock`.
    peer_offsets: clock_sync::PeerOffsets,
    /// When this node last became leader (`handover.rs`).
    leader_since: handover::LeaderSince,
    /// When a leader's request was last accepted here (a learner's quorum).
    contact: LeaderContact,
    /// Membership changes made while this node leads take turns here.
    changes: change_queue::ChangeQueue,
    /// Join answers from a leader that refused this node (see `join_refusals`).
    join_refusals: std::sync::atomic::AtomicU64,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

/// The upper end of the range openraft draws each node's election timeout
/// from, once, at start. It is also the leader's lease: a follower that heard
/// the leader refuses other candidates that long, then waits its own timeout,
/// so a dead leader is replaced after `max + [min, max)` of silence. Half of
/// `min` above it keeps that short and still spreads the nodes' timeouts
/// wide enough apart (tens of milliseconds at the least) that two
/// candidates seldom split the vote.
pub fn election_timeout_max(election_timeout: std::time::Duration) -> u64 {
    let min = millis(election_timeout);
    (min + min / 2).max(min + 1)
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
            election_timeout_max: election_timeout_max(config.election_timeout),
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
        let (log_store, state_machine) =
            store::open_with_cache(&config.data_dir, config.id, config.storage_cache_bytes)?;
        let replica = state_machine.handle();
        let peers = PeerClient::new(config.id, config.token.clone(), links, config.link.clone());
        let listener =
            raftmasq_limits::BoundedListener::new(listener, "cluster", config.listener_limits);
        let listener = ClusterListener::new(listener, config.link.tls().cloned(), config.id)
            .map_err(StartError::Listener)?;
        match config.link.tls() {
            Some(tls) => tracing::info!(
                node_id = config.id,
                generation = tls.generation(),
                "cluster link: TLS 1.3, client certificates required"
            ),
            None => tracing::error!(
                node_id = config.id,
                "INSECURE: the cluster link is plaintext HTTP (cluster.insecure_plaintext = true): anyone on the underlay can read the cluster token, every lease and hostname, and write to the cluster with the token"
            ),
        }
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
                leader_since: Default::default(),
                contact: Default::default(),
                changes: Default::default(),
                join_refusals: Default::default(),
                tasks: Default::default(),
            }),
        };
        node.spawn(batching);
        node.spawn(handover::track_leadership(node.clone()));
        node.spawn(trim_after_changes(node.replica().clone()));
        node.spawn(serve(node.clone(), listener));
        if node.inner.config.link.tls().is_some() {
            node.spawn(watch_tls_files(node.clone()));
        }
        bootstrap::start(&node).await;
        Ok(node)
    }

    pub fn id(&self) -> NodeId {
        self.inner.config.id
    }

    /// How many times a leader answered this node's join with a refusal
    /// (anything but "not the leader" or an unreachable peer), each costing
    /// a retry after a pause. Concurrent joins queue on the leader, so this
    /// stays 0 unless a change truly failed.
    pub fn join_refusals(&self) -> u64 {
        self.inner
            .join_refusals
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_join_refusal(&self) {
        self.inner
            .join_refusals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn change_queue(&self) -> &change_queue::ChangeQueue {
        &self.inner.changes
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
    /// addresses by then, although openraft still calls it leader. A leader
    /// handing over before it stops ([`ClusterNode::hand_over`]) counts as a
    /// follower: silent to broadcasts, writes go to the next leader.
    pub fn quorum_status(&self) -> QuorumStatus {
        if self.stepping_down() {
            return QuorumStatus {
                is_leader: false,
                has_quorum: true,
            };
        }
        let metrics = self.inner.raft.metrics();
        let metrics = metrics.borrow();
        let election_ms = millis(self.inner.config.election_timeout);
        let is_leader = metrics.state == openraft::ServerState::Leader
            && metrics
                .millis_since_quorum_ack
                .is_some_and(|ms| ms < election_ms);
        QuorumStatus {
            is_leader,
            has_quorum: is_leader || self.follows_a_live_leader(&metrics),
        }
    }

    /// The leader as this node knows it: openraft's, except that a learner
    /// that has not heard from it within the leader's lease knows none (see
    /// `network/contact.rs`).
    pub fn known_leader(&self) -> Option<NodeId> {
        let metrics = self.inner.raft.metrics();
        let metrics = metrics.borrow();
        if metrics.state == openraft::ServerState::Learner && !self.heard_a_leader_lately() {
            return None;
        }
        metrics.current_leader
    }

    fn follows_a_live_leader(&self, metrics: &RaftMetrics) -> bool {
        match metrics.state {
            openraft::ServerState::Follower => metrics.current_leader.is_some(),
            openraft::ServerState::Learner => {
                metrics.current_leader.is_some() && self.heard_a_leader_lately()
            }
            _ => false,
        }
    }

    /// Whether a leader's request was accepted within the leader's lease
    /// (`election_timeout_max`): heartbeats come every `heartbeat_interval`,
    /// far more often.
    fn heard_a_leader_lately(&self) -> bool {
        let lease = election_timeout_max(self.inner.config.election_timeout);
        self.inner
            .contact
            .heard_within(std::time::Duration::from_millis(lease))
    }

    /// This node's role in its view of the membership (`None`: not a member).
    pub fn own_role(&self) -> Option<MemberRole> {
        // Borrowed, not `metrics()`: the DHCP servers ask for every datagram,
        // and a clone copies the membership and replication maps each time.
        roles::role_of(&self.inner.raft.metrics().borrow(), self.id())
    }

    /// Every member's bridge address as far as this node knows it: from the
    /// membership, filled in from this node's file for members that have not
    /// registered yet (see [`bridges`]).
    pub fn bridge_addresses(&self) -> BridgeAddresses {
        let metrics = self.inner.raft.metrics();
        let metrics = metrics.borrow();
        let config = &self.inner.config;
        let membership = metrics.membership_config.membership();
        // Before any log, the voters of `peers` stand in for the membership.
        let initial_voters: std::collections::BTreeMap<NodeId, String> = config
            .peers
            .iter()
            .filter(|(id, _)| !config.learners.contains(id))
            .map(|(id, addr)| (*id, addr.clone()))
            .collect();
        let own_bridge = match config.role {
            MemberRole::Voter => config.member.bridge_address,
            // A learner-to-be does not list itself before it has joined.
            MemberRole::Learner if membership.get_node(&config.id).is_none() => None,
            MemberRole::Learner => config.member.bridge_address,
        };
        bridge_addresses(
            membership.nodes(),
            |id| membership.voter_ids().any(|voter| voter == id),
            &initial_voters,
            &config.peer_bridges,
            (config.id, own_bridge),
        )
    }

    /// The voters' registered addresses on `network` (a network beside
    /// `default`; raftmasq_state::network_addresses), this node's first
    /// (`own`, its address there, even before it has registered), then by
    /// address. A learner or a removed member is not listed, as for
    /// [`ClusterNode::bridge_addresses`].
    pub fn network_addresses(&self, network: &str, own: Option<Ipv4Addr>) -> Vec<Ipv4Addr> {
        // Before the metrics are borrowed below: one borrow at a time.
        let own = own.filter(|_| self.own_role() != Some(MemberRole::Learner));
        let voters: Vec<NodeId> = self
            .inner
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        let is_voter = |id: NodeId| voters.contains(&id);
        let replica = self.replica().read();
        let mut addresses: Vec<Ipv4Addr> = replica
            .network_addresses
            .on(network)
            .filter(|&(id, _)| id != self.id() && is_voter(id))
            .map(|(_, address)| address)
            .collect();
        addresses.sort_unstable();
        addresses.dedup();
        if let Some(own) = own {
            addresses.retain(|&a| a != own);
            addresses.insert(0, own);
        }
        addresses
    }

    /// The address the cluster listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// What this node announces about itself to the cluster.
    pub fn member(&self) -> &Member {
        &self.inner.config.member
    }

    /// Becomes `Some(reason)` when the cluster refused this node (its id is taken);
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

    /// Re-reads this node's TLS files (SIGHUP, or a change the file watch
    /// noticed): new connections use them at once, open ones keep theirs.
    /// On error the files in use stay. `Ok(false)`: plaintext, nothing to do.
    pub fn reload_tls(&self) -> Result<bool, TlsError> {
        let Some(tls) = self.inner.config.link.tls() else {
            return Ok(false);
        };
        match tls.reload() {
            Ok(()) => {
                tracing::info!(
                    node_id = self.id(),
                    generation = tls.generation(),
                    "cluster TLS files reloaded"
                );
                Ok(true)
            }
            Err(error) => {
                tracing::error!(node_id = self.id(), %error, "cluster TLS files not reloaded: still using the previous ones");
                Err(error)
            }
        }
    }

    /// How many times the TLS files were loaded (`None`: plaintext link).
    pub fn tls_generation(&self) -> Option<u64> {
        self.inner.config.link.tls().map(ClusterTls::generation)
    }

    /// Whether `id` is a voter or learner in this node's view of the membership.
    pub fn is_member(&self, id: NodeId) -> bool {
        self.inner
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .is_some()
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

/// How often the TLS files are checked for a change (renewal, rotation).
const TLS_WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Reloads the TLS files when they change; a set that does not load (e.g.
/// the certificate copied but not yet its key) is tried again on the next
/// change, and the files in use stay meanwhile.
async fn watch_tls_files(node: ClusterNode) {
    let Some(tls) = node.inner.config.link.tls().cloned() else {
        return;
    };
    let mut ticker = tokio::time::interval(TLS_WATCH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failed_on = None;
    loop {
        ticker.tick().await;
        if !tls.files_changed() {
            continue;
        }
        let stamp = tls.stamp_now();
        if failed_on.as_ref() == Some(&stamp) {
            continue;
        }
        failed_on = node.reload_tls().err().map(|_| stamp);
    }
}

async fn serve(node: ClusterNode, listener: ClusterListener) {
    let token: ClusterToken = node.config().token.clone();
    let members_only = api::member_routes(node.clone())
        .layer(middleware::from_fn_with_state(node.clone(), members_only));
    let app = raft_routes(node.raft().clone(), node.inner.contact.clone())
        .merge(api::join_routes(node.clone()))
        .merge(members_only)
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
        .layer(middleware::from_fn_with_state(
            token,
            crate::network::require_token,
        ));
    raftmasq_limits::http::serve(listener, app, node.config().listener_limits).await;
}

static NOT_A_MEMBER: std::sync::LazyLock<raftmasq_limits::SharedLogLimiter<NodeId>> =
    std::sync::LazyLock::new(|| {
        raftmasq_limits::SharedLogLimiter::new(std::time::Duration::from_secs(10))
    });

/// Forwarded writes, reads, membership changes, status and clock: for the
/// cluster's members only (over TLS; in plaintext the token decides).
async fn members_only(
    axum::extract::State(node): axum::extract::State<ClusterNode>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<PeerIdentity>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match peer.node {
        Some(id) if !node.is_member(id) => {
            // A removed node keeps asking: one line per interval.
            if let Some(suppressed) = NOT_A_MEMBER.check(&id) {
                tracing::warn!(node_id = node.id(), peer = %peer.addr, certified = id, path = %request.uri().path(), suppressed, "cluster request refused: not a member");
            }
            let refusal = crate::network::Refused(format!(
                "node {id} is not a member of this cluster: it may only join"
            ))
            .into_response();
            raftmasq_limits::http::refuse(request, refusal).await
        }
        _ => next.run(request).await,
    }
}

/// How often a node that applied entries hands glibc's free memory back.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Every [`TRIM_EVERY`], if entries were applied since the last time, calls
/// `malloc_trim`. Applying a fill of a /16 leaves 20-30 MiB free but held by
/// glibc (measured with gdb on the testbed: `malloc_trim(0)` took a follower
/// holding 65,534 leases from 85 to 59 MiB; docs/benchmarks.md, "Memory"),
/// and snapshots, which trim too, may not come for thousands of entries. On
/// a blocking thread: the trim walks the heap (milliseconds).
async fn trim_after_changes(replica: ReplicaHandle) {
    let mut trimmed_at = replica.last_applied();
    let mut ticks = tokio::time::interval(TRIM_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let applied = replica.last_applied();
        if applied != trimmed_at {
            trimmed_at = applied;
            let _ = tokio::task::spawn_blocking(crate::store::release_free_memory).await;
        }
    }
}
