//! An in-process cluster on loopback: real HTTP between nodes, a switchboard
//! (`Links`) to cut them apart, and waits on Raft metrics instead of sleeps.

#![allow(dead_code)]

pub mod old_data;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use raftmasq_consensus::network::pki;
use raftmasq_consensus::state::{AddressRange, ClusterSettings, HostnamePolicy};
use raftmasq_consensus::types::RaftMetrics;
use raftmasq_consensus::{
    Batching, ClusterLink, ClusterNode, ClusterNodeConfig, ClusterTls, ClusterToken, Links, Member,
    MemberRole, NodeId,
};
use tempfile::TempDir;
use tokio::net::TcpListener;

pub const TOKEN: &str = "test-cluster-token";
pub const WAIT: Duration = Duration::from_secs(10);

pub fn settings() -> ClusterSettings {
    ClusterSettings {
        subnet: "10.0.0.0/16".parse().expect("subnet"),
        ranges: vec![AddressRange {
            start: Ipv4Addr::new(10, 0, 0, 10),
            end: Ipv4Addr::new(10, 0, 255, 254),
        }],
        domain: "lxd".into(),
        lease_time_secs: 3600,
        duplicate_hostnames: HostnamePolicy::Suffix,
        decline_quarantine_secs: 600,
        client_identity: Default::default(),
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,openraft=error".into()),
        )
        .with_test_writer()
        .try_init();
}

pub struct TestCluster {
    pub links: Links,
    pub nodes: BTreeMap<NodeId, ClusterNode>,
    pub addrs: BTreeMap<NodeId, SocketAddr>,
    dirs: BTreeMap<NodeId, TempDir>,
    peers: BTreeMap<NodeId, String>,
    pub snapshot_every: u64,
    /// Election timeout and heartbeat; short in tests for quick failovers.
    pub timing: (Duration, Duration),
    pub settings: ClusterSettings,
    /// How leaders group writes into entries (the default unless a bench compares).
    pub batching: Batching,
    /// Nodes whose host clock is skewed, by how many milliseconds.
    pub clock_offsets: BTreeMap<NodeId, i64>,
    /// The cluster's CA: every node gets a certificate from it, and the
    /// cluster link runs over TLS as in production.
    pub ca: pki::Pem,
    /// Where the nodes' TLS files are.
    pub tls_dir: TempDir,
    /// Nodes configured as learners (`node.role`, `role=learner` in peers).
    pub learners: BTreeSet<NodeId>,
}

/// TLS for a lone node `id` whose files go into `dir`.
pub fn lone_node_tls(dir: &std::path::Path, id: NodeId) -> ClusterTls {
    let paths = pki::write_node_files(dir, &test_ca(), id, 1).expect("node certificate");
    ClusterTls::load(id, paths).expect("node TLS")
}

/// A CA for one test cluster.
pub fn test_ca() -> pki::Pem {
    pki::new_ca(1).expect("test CA")
}

impl TestCluster {
    /// Starts nodes `1..=n` as the initial members.
    pub async fn start(n: u64) -> Self {
        Self::start_with(n, 5_000).await
    }

    pub async fn start_with(n: u64, snapshot_every: u64) -> Self {
        Self::start_custom(n, snapshot_every, settings(), None).await
    }

    /// `data_root`: where node data lives (default: a temp dir under /tmp).
    pub async fn start_custom(
        n: u64,
        snapshot_every: u64,
        settings: ClusterSettings,
        data_root: Option<&std::path::Path>,
    ) -> Self {
        Self::start_timed(n, snapshot_every, settings, data_root, None).await
    }

    /// Like `start_custom`, with production-like timing when `timing` is set.
    pub async fn start_timed(
        n: u64,
        snapshot_every: u64,
        settings: ClusterSettings,
        data_root: Option<&std::path::Path>,
        timing: Option<(Duration, Duration)>,
    ) -> Self {
        Self::start_batched(
            n,
            snapshot_every,
            settings,
            data_root,
            timing,
            Batching::default(),
        )
        .await
    }

    /// Like `start_timed`, with leaders batching writes as `batching` says.
    pub async fn start_batched(
        n: u64,
        snapshot_every: u64,
        settings: ClusterSettings,
        data_root: Option<&std::path::Path>,
        timing: Option<(Duration, Duration)>,
        batching: Batching,
    ) -> Self {
        Self::start_all(
            n,
            snapshot_every,
            settings,
            data_root,
            timing,
            batching,
            BTreeMap::new(),
        )
        .await
    }

    /// Nodes `1..=n` with the host clocks of `clock_offsets` skewed.
    pub async fn start_skewed(n: u64, clock_offsets: BTreeMap<NodeId, i64>) -> Self {
        Self::start_all(
            n,
            5_000,
            settings(),
            None,
            None,
            Batching::default(),
            clock_offsets,
        )
        .await
    }

    /// Voters `1..=voters`, then learners `voters+1..=voters+learners`, all
    /// in `cluster.peers` (the learners marked so).
    pub async fn start_with_learners(voters: u64, learners: u64) -> Self {
        Self::start_roles(
            voters + learners,
            5_000,
            settings(),
            None,
            None,
            Batching::default(),
            BTreeMap::new(),
            (voters + 1..=voters + learners).collect(),
        )
        .await
    }

    async fn start_all(
        n: u64,
        snapshot_every: u64,
        settings: ClusterSettings,
        data_root: Option<&std::path::Path>,
        timing: Option<(Duration, Duration)>,
        batching: Batching,
        clock_offsets: BTreeMap<NodeId, i64>,
    ) -> Self {
        Self::start_roles(
            n,
            snapshot_every,
            settings,
            data_root,
            timing,
            batching,
            clock_offsets,
            BTreeSet::new(),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_roles(
        n: u64,
        snapshot_every: u64,
        settings: ClusterSettings,
        data_root: Option<&std::path::Path>,
        timing: Option<(Duration, Duration)>,
        batching: Batching,
        clock_offsets: BTreeMap<NodeId, i64>,
        learners: BTreeSet<NodeId>,
    ) -> Self {
        init_tracing();
        let mut listeners = BTreeMap::new();
        let mut addrs = BTreeMap::new();
        for id in 1..=n {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            addrs.insert(id, listener.local_addr().expect("addr"));
            listeners.insert(id, listener);
        }
        let peers = addrs
            .iter()
            .map(|(id, addr)| (*id, addr.to_string()))
            .collect();
        let mut cluster = TestCluster {
            links: Links::default(),
            nodes: BTreeMap::new(),
            addrs,
            dirs: BTreeMap::new(),
            peers,
            snapshot_every,
            timing: timing.unwrap_or((Duration::from_millis(400), Duration::from_millis(100))),
            settings: settings.clone(),
            batching,
            clock_offsets,
            ca: test_ca(),
            tls_dir: TempDir::new().expect("temp dir"),
            learners,
        };
        for (id, listener) in listeners {
            let dir = match data_root {
                Some(root) => TempDir::new_in(root).expect("temp dir"),
                None => TempDir::new().expect("temp dir"),
            };
            let node = cluster
                .launch(id, dir.path(), listener, settings.clone(), TOKEN)
                .await;
            cluster.dirs.insert(id, dir);
            cluster.nodes.insert(id, node);
        }
        cluster
    }

    pub fn config(
        &self,
        id: NodeId,
        data_dir: &std::path::Path,
        settings: ClusterSettings,
        token: &str,
    ) -> ClusterNodeConfig {
        let addr = self.addrs[&id];
        let member = Member {
            cluster_addr: addr.to_string(),
            admin_addr: None,
            bridge_address: Some(Ipv4Addr::new(10, 0, 0, u8::try_from(id).expect("small id"))),
        };
        let mut config = ClusterNodeConfig::new(
            id,
            data_dir.to_path_buf(),
            member,
            ClusterToken::new(token).expect("valid token"),
            ClusterLink::Tls(self.tls(id)),
            settings,
        );
        config.peers = self.peers.clone();
        config.learners = self.learners.clone();
        config.role = if self.learners.contains(&id) {
            MemberRole::Learner
        } else {
            MemberRole::Voter
        };
        (config.election_timeout, config.heartbeat_interval) = self.timing;
        config.snapshot_every = self.snapshot_every;
        config.write_timeout = Duration::from_secs(3);
        config.batching = self.batching;
        // The clock hook exists only with debug assertions; release builds
        // (the `bench_cluster` example) never skew a clock.
        #[cfg(debug_assertions)]
        if let Some(offset_ms) = self.clock_offsets.get(&id) {
            config.clock = raftmasq_consensus::ClusterClock::with_test_offset(*offset_ms);
        }
        config
    }

    /// Node `id`'s TLS, from files issued by the cluster's CA (issued on
    /// first use, kept across restarts).
    pub fn tls(&self, id: NodeId) -> ClusterTls {
        let dir = self.tls_dir.path();
        let paths = raftmasq_consensus::TlsPaths {
            ca_file: dir.join("ca.pem"),
            cert_file: dir.join(format!("node-{id}.pem")),
            key_file: dir.join(format!("node-{id}.key")),
            crl_file: None,
        };
        let paths = if paths.key_file.exists() {
            paths
        } else {
            pki::write_node_files(dir, &self.ca, id, 1).expect("node certificate")
        };
        ClusterTls::load(id, paths).expect("node TLS")
    }

    async fn launch(
        &self,
        id: NodeId,
        data_dir: &std::path::Path,
        listener: TcpListener,
        settings: ClusterSettings,
        token: &str,
    ) -> ClusterNode {
        let config = self.config(id, data_dir, settings, token);
        ClusterNode::start(config, listener, self.links.clone())
            .await
            .expect("start node")
    }

    /// Adds a node that is not among the initial peers (it joins).
    pub async fn add_node(
        &mut self,
        id: NodeId,
        settings: ClusterSettings,
        token: &str,
    ) -> ClusterNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        self.addrs.insert(id, listener.local_addr().expect("addr"));
        let dir = TempDir::new().expect("temp dir");
        let node = self.launch(id, dir.path(), listener, settings, token).await;
        self.dirs.insert(id, dir);
        self.nodes.insert(id, node.clone());
        node
    }

    /// Adds nodes that are not among the initial peers, all started at
    /// once: their joins reach the leader together.
    pub async fn add_nodes_at_once(&mut self, ids: &[NodeId]) -> Vec<ClusterNode> {
        let mut listeners = Vec::new();
        let mut dirs = Vec::new();
        for id in ids {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            self.addrs.insert(*id, listener.local_addr().expect("addr"));
            listeners.push((*id, listener));
            dirs.push(TempDir::new().expect("temp dir"));
        }
        let launches = listeners
            .into_iter()
            .zip(&dirs)
            .map(|((id, listener), dir)| self.launch(id, dir.path(), listener, settings(), TOKEN));
        let nodes = futures::future::join_all(launches).await;
        for ((id, dir), node) in ids.iter().zip(dirs).zip(&nodes) {
            self.dirs.insert(*id, dir);
            self.nodes.insert(*id, node.clone());
        }
        nodes
    }

    pub fn data_dir(&self, id: NodeId) -> &std::path::Path {
        self.dirs[&id].path()
    }

    /// Any running node other than `leader`.
    pub fn follower_of(&self, leader: NodeId) -> NodeId {
        *self
            .nodes
            .keys()
            .find(|id| **id != leader)
            .expect("a follower")
    }

    pub fn node(&self, id: NodeId) -> &ClusterNode {
        &self.nodes[&id]
    }

    /// Waits until every running node agrees on one leader; returns it.
    pub async fn leader(&self) -> NodeId {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let leaders: Vec<Option<NodeId>> = self
                .nodes
                .values()
                .map(|n| n.metrics().current_leader)
                .collect();
            if let Some(Some(leader)) = leaders.first()
                && leaders.iter().all(|l| *l == Some(*leader))
                && self.nodes.contains_key(leader)
            {
                return *leader;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no agreed leader within {WAIT:?}: {leaders:?}"
            );
            self.any_change().await;
        }
    }

    /// Waits for a metrics change on any node (bounded).
    async fn any_change(&self) {
        let mut receivers: Vec<_> = self.nodes.values().map(|n| n.raft().metrics()).collect();
        let changes = receivers.iter_mut().map(|rx| Box::pin(rx.changed()));
        let _ = tokio::time::timeout(
            Duration::from_millis(200),
            futures::future::select_all(changes),
        )
        .await;
    }

    /// Waits until `id` has applied at least `index`.
    pub async fn applied_at_least(&self, id: NodeId, index: u64) -> RaftMetrics {
        self.node(id)
            .raft()
            .wait(Some(WAIT))
            .applied_index_at_least(Some(index), format!("node {id} applies {index}"))
            .await
            .expect("applied in time")
    }

    /// What the node's state machine has applied. Read from the replica, not
    /// from Raft metrics: a write returns to its caller as soon as it is
    /// applied, and the metrics catch up a moment later.
    pub fn last_applied(&self, id: NodeId) -> u64 {
        self.node(id)
            .replica()
            .last_applied()
            .map_or(0, |l| l.index)
    }

    /// Waits until the replicated settings are in place on every running node.
    pub async fn ready(&self) -> NodeId {
        let leader = self.leader().await;
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self
            .nodes
            .values()
            .all(|n| n.replica().read().table.is_initialized())
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "settings not replicated in time"
            );
            self.any_change().await;
        }
        leader
    }

    /// Stops a node like `kill -9` would, from the cluster's point of view.
    pub async fn kill(&mut self, id: NodeId) {
        let node = self.nodes.remove(&id).expect("running node");
        node.shutdown().await;
        drop(node);
        // sled releases its file lock when the last handle drops; give its
        // background threads a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    pub async fn restart(&mut self, id: NodeId) -> ClusterNode {
        let addr = self.addrs[&id];
        let mut attempt = 0;
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(listener) => break listener,
                Err(_) if attempt < 50 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("rebind {addr}: {error}"),
            }
        };
        let dir = self.dirs[&id].path().to_path_buf();
        let node = ClusterNode::start(
            self.config(id, &dir, self.settings.clone(), TOKEN),
            listener,
            self.links.clone(),
        )
        .await
        .unwrap_or_else(|error| panic!("restart node {id}: {error}"));
        self.nodes.insert(id, node.clone());
        node
    }

    pub async fn shutdown(self) {
        for node in self.nodes.values() {
            node.shutdown().await;
        }
    }
}

/// Client `n`'s MAC (and, as `ClientId::from_mac`, its identity).
pub fn client_mac(n: u32) -> raftmasq_consensus::state::MacAddr {
    let [_, b, c, d] = n.to_be_bytes();
    raftmasq_consensus::state::MacAddr([0x02, 0x00, 0x00, b, c, d])
}

/// A `Bind` for client `n` (hostname `c{n}`), any address.
pub fn bind(n: u32) -> raftmasq_consensus::state::Command {
    bind_named(n, &format!("c{n}"), 1_000)
}

/// A `Bind` for client `n` asking for `name`, any address, at `now`.
pub fn bind_named(n: u32, name: &str, now: u64) -> raftmasq_consensus::state::Command {
    use raftmasq_consensus::state::{ClientId, Command, LeaseRequest};
    let mac = client_mac(n);
    Command::Bind {
        request: LeaseRequest {
            client_id: ClientId::from_mac(mac),
            mac,
            hostname: Some(name.into()),
            requested_address: None,
            seen_by: Some(1),
        },
        now,
        lease_time_secs: None,
    }
}

/// The second network of the network tests (and of the format-2 fixture):
/// `lab`, 10.1.0.0/24, range 10.1.0.10-10.1.0.200, domain lab.lxd.
pub fn lab_settings() -> ClusterSettings {
    ClusterSettings {
        subnet: "10.1.0.0/24".parse().expect("subnet"),
        ranges: vec![AddressRange {
            start: Ipv4Addr::new(10, 1, 0, 10),
            end: Ipv4Addr::new(10, 1, 0, 200),
        }],
        domain: "lab.lxd".into(),
        ..settings()
    }
}

/// Binds a lease for client `n` through `node`; returns the address granted.
pub async fn lease(node: &raftmasq_consensus::ClusterNode, n: u32) -> std::net::Ipv4Addr {
    match node.write(bind(n)).await {
        Ok(raftmasq_consensus::state::Response::Lease { lease }) => lease.address,
        other => panic!("bind {n} through node {}: {other:?}", node.id()),
    }
}

/// The address `node`'s replica holds for client `n`.
pub fn address_on(node: &raftmasq_consensus::ClusterNode, n: u32) -> Option<std::net::Ipv4Addr> {
    node.replica()
        .read()
        .table
        .lease_by_client(&raftmasq_consensus::state::ClientId::from_mac(client_mac(
            n,
        )))
        .map(|lease| lease.address)
}
