//! Multi-node cluster behaviour, in process, over real HTTP on loopback.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use openraft::ServerState;
use raftmasq_consensus::state::{ClientId, Command, Rejection, Response};
use raftmasq_consensus::{NodeId, QuorumStatus, WriteError};
use support::{TOKEN, TestCluster, address_on, bind, client_mac as mac, lease, settings};

/// Both nodes hold the same address (or none) for clients `range`.
fn assert_same_leases(cluster: &TestCluster, a: NodeId, b: NodeId, range: std::ops::Range<u32>) {
    for n in range {
        assert_eq!(
            address_on(cluster.node(a), n),
            address_on(cluster.node(b), n),
            "client {n} on nodes {a} and {b}"
        );
    }
}

async fn all_applied(cluster: &TestCluster, leader: NodeId) {
    let index = cluster.last_applied(leader);
    for id in cluster.nodes.keys() {
        cluster.applied_at_least(*id, index).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elects_a_leader_and_replicates_writes_from_any_node() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    let follower = cluster.follower_of(leader);

    let mut granted = BTreeMap::new();
    for n in 0..20 {
        // Alternate between the leader and a follower, which forwards.
        let via = if n % 2 == 0 { leader } else { follower };
        granted.insert(n, lease(cluster.node(via), n).await);
    }
    let distinct: BTreeSet<_> = granted.values().collect();
    assert_eq!(
        distinct.len(),
        granted.len(),
        "every client has its own address"
    );

    all_applied(&cluster, leader).await;
    for node in cluster.nodes.values() {
        for (n, address) in &granted {
            assert_eq!(
                address_on(node, *n),
                Some(*address),
                "node {} has lease {n}",
                node.id()
            );
        }
        assert_eq!(node.replica().read().table.settings(), Some(&settings()));
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_another_and_loses_no_acknowledged_write() {
    let mut cluster = TestCluster::start(3).await;
    let old_leader = cluster.ready().await;
    let mut granted = BTreeMap::new();
    for n in 0..10 {
        granted.insert(n, lease(cluster.node(old_leader), n).await);
    }

    let killed_at = Instant::now();
    cluster.kill(old_leader).await;
    let new_leader = cluster.leader().await;
    let failover = killed_at.elapsed();
    assert_ne!(new_leader, old_leader);
    // election_timeout is 400 ms in tests: a follower elects after the
    // leader lease (600 ms) plus its own draw from [400, 600) ms.
    assert!(
        failover < Duration::from_secs(5),
        "failover took {failover:?}"
    );

    for n in 10..20 {
        granted.insert(n, lease(cluster.node(new_leader), n).await);
    }
    all_applied(&cluster, new_leader).await;
    for node in cluster.nodes.values() {
        for (n, address) in &granted {
            assert_eq!(
                address_on(node, *n),
                Some(*address),
                "lease {n} survived on node {}",
                node.id()
            );
        }
    }

    // The old leader comes back as a follower and catches up.
    cluster.restart(old_leader).await;
    let leader = cluster.leader().await;
    all_applied(&cluster, leader).await;
    for (n, address) in &granted {
        assert_eq!(address_on(cluster.node(old_leader), *n), Some(*address));
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_catches_up() {
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    let follower = cluster.follower_of(leader);
    cluster.kill(follower).await;
    for n in 0..30 {
        lease(cluster.node(leader), n).await;
    }
    cluster.restart(follower).await;
    all_applied(&cluster, leader).await;
    assert_same_leases(&cluster, follower, leader, 0..30);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_a_purged_log_catches_up_from_a_snapshot() {
    let mut cluster = TestCluster::start_with(3, 20).await;
    let leader = cluster.ready().await;
    let follower = cluster.follower_of(leader);
    cluster.kill(follower).await;
    for n in 0..120 {
        lease(cluster.node(leader), n).await;
    }
    // Snapshot and purge everything the follower would need from the log.
    let raft = cluster.node(leader).raft().clone();
    raft.trigger().snapshot().await.expect("trigger snapshot");
    let index = cluster.last_applied(leader);
    raft.wait(Some(support::WAIT))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= index - 1),
            "snapshot built",
        )
        .await
        .expect("snapshot");
    raft.trigger().purge_log(index).await.expect("purge");
    raft.wait(Some(support::WAIT))
        .metrics(|m| m.purged.is_some_and(|p| p.index >= 100), "log purged")
        .await
        .expect("purged");

    cluster.restart(follower).await;
    all_applied(&cluster, leader).await;
    let metrics = cluster.node(follower).metrics();
    assert!(
        metrics.snapshot.is_some(),
        "the follower installed a snapshot"
    );
    assert_same_leases(&cluster, follower, leader, 0..120);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_leader_stops_committing_and_says_so() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    lease(cluster.node(leader), 1).await;
    let others: Vec<NodeId> = cluster
        .nodes
        .keys()
        .copied()
        .filter(|id| *id != leader)
        .collect();
    assert_eq!(
        cluster.node(leader).quorum_status(),
        QuorumStatus {
            is_leader: true,
            has_quorum: true
        }
    );
    let cut_at = Instant::now();
    cluster.links.isolate(leader, others.iter().copied());

    // Within about one election timeout the cut-off leader knows it lost its
    // quorum, even though openraft may still call it leader.
    while cluster.node(leader).quorum_status().has_quorum {
        assert!(
            cut_at.elapsed() < Duration::from_secs(3),
            "the isolated leader still claims a quorum"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let noticed = cut_at.elapsed();
    assert!(
        noticed < Duration::from_millis(1_500),
        "noticed only after {noticed:?}"
    );

    // The isolated old leader cannot commit: the write fails with a clear reason.
    let error = cluster
        .node(leader)
        .write(bind(2))
        .await
        .expect_err("no quorum");
    assert!(
        matches!(
            error,
            WriteError::Timeout { .. } | WriteError::NoLeader { .. }
        ),
        "unexpected error: {error:?}"
    );
    assert!(
        error.to_string().contains("quorum"),
        "error explains itself: {error}"
    );

    // The majority elects a new leader and keeps granting.
    let majority = &others;
    let deadline = Instant::now() + support::WAIT;
    let new_leader = loop {
        let m = cluster.node(majority[0]).metrics();
        if let Some(l) = m.current_leader.filter(|l| majority.contains(l)) {
            break l;
        }
        assert!(Instant::now() < deadline, "majority elected no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let address = lease(cluster.node(new_leader), 3).await;

    cluster.links.heal();
    let leader = cluster.leader().await;
    all_applied(&cluster, leader).await;
    for node in cluster.nodes.values() {
        assert_eq!(address_on(node, 3), Some(address));
        assert_eq!(
            address_on(node, 2),
            None,
            "the uncommitted write never appears"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_reads_work_from_a_follower() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    let follower = cluster.follower_of(leader);
    let address = lease(cluster.node(leader), 7).await;
    let seen = cluster
        .node(follower)
        .consistent_read(|replica| {
            replica
                .table
                .lease_by_client(&ClientId::from_mac(mac(7)))
                .map(|l| l.address)
        })
        .await
        .expect("consistent read");
    assert_eq!(seen, Some(address));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_host_joins_as_learner_then_voter_and_can_be_removed() {
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    for n in 0..10 {
        lease(cluster.node(leader), n).await;
    }
    let newcomer = cluster.add_node(4, settings(), TOKEN).await;
    newcomer
        .raft()
        .wait(Some(support::WAIT))
        .metrics(
            |m| {
                m.membership_config
                    .membership()
                    .voter_ids()
                    .any(|id| id == 4)
            },
            "node 4 becomes a voter",
        )
        .await
        .expect("joined");
    all_applied(&cluster, leader).await;
    assert_eq!(
        address_on(&newcomer, 3),
        address_on(cluster.node(leader), 3)
    );

    // A membership change may still be settling (joint consensus): retry.
    let deadline = Instant::now() + support::WAIT;
    let leader = loop {
        let leader = cluster.leader().await;
        match cluster
            .node(leader)
            .raft()
            .change_membership(BTreeSet::from([1, 2, 3]), false)
            .await
        {
            Ok(_) => break leader,
            Err(error) => {
                assert!(Instant::now() < deadline, "cannot remove node 4: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let voters: BTreeSet<NodeId> = cluster
        .node(leader)
        .metrics()
        .membership_config
        .membership()
        .voter_ids()
        .collect();
    assert_eq!(voters, BTreeSet::from([1, 2, 3]));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_different_settings_joins_and_follows_the_cluster() {
    let mut cluster = TestCluster::start(3).await;
    cluster.ready().await;
    let mut different = settings();
    different.lease_time_secs = 60;
    different.domain = "other".into();
    let stranger = cluster.add_node(4, different, TOKEN).await;
    stranger
        .raft()
        .wait(Some(support::WAIT))
        .metrics(
            |m| {
                m.membership_config
                    .membership()
                    .voter_ids()
                    .any(|id| id == 4)
            },
            "node 4 becomes a voter",
        )
        .await
        .expect("joined despite its file");
    let deadline = Instant::now() + support::WAIT;
    while !stranger.replica().read().table.is_initialized() {
        assert!(Instant::now() < deadline, "node 4 never got the settings");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        stranger.replica().read().table.settings(),
        Some(&settings()),
        "the newcomer holds the cluster's settings, not its file's"
    );
    assert!(stranger.refused().borrow().is_none());
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_settings_reach_every_replica_in_log_order() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    let mut grown = settings();
    grown.lease_time_secs += 60;
    let answer = cluster
        .node(leader)
        .write(Command::ChangeSettings {
            settings: grown.clone(),
            now: cluster.node(leader).clock().now_millis(),
            based_on: Some(settings()),
        })
        .await
        .expect("committed");
    assert_eq!(answer, Response::Done);
    all_applied(&cluster, leader).await;
    for node in cluster.nodes.values() {
        assert_eq!(node.replica().read().table.settings(), Some(&grown));
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_and_changes_nothing() {
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    let before = cluster.node(leader).metrics();

    // A raw RPC with a wrong token, and one with none: 401, vote unchanged,
    // even from a node whose certificate the cluster CA issued.
    let tls = cluster.tls(9).client_config(leader).expect("client TLS");
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client");
    let url = format!("https://{}/raft/vote", cluster.addrs[&leader]);
    let vote = serde_json::json!({"vote": {"leader_id": {"term": 1000, "node_id": 9}, "committed": false}, "last_log_id": null});
    for auth in [Some("Bearer wrong-token"), None] {
        let mut request = http.post(&url).json(&vote);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.expect("send");
        assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    }
    let after = cluster.node(leader).metrics();
    assert_eq!(after.current_term, before.current_term);
    assert_eq!(after.state, ServerState::Leader);

    // A node with the wrong token never gets in.
    let intruder = cluster.add_node(5, settings(), "wrong-token").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let members = cluster
        .node(leader)
        .metrics()
        .membership_config
        .membership()
        .clone();
    assert!(members.get_node(&5).is_none());
    assert_eq!(intruder.metrics().current_leader, None);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_expires_ended_leases_on_every_replica() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    let mut short = bind(42);
    if let Command::Bind {
        lease_time_secs, ..
    } = &mut short
    {
        *lease_time_secs = Some(1);
    }
    let granted = cluster.node(leader).write(short).await.expect("bind");
    assert!(matches!(granted, Response::Lease { .. }), "{granted:?}");
    all_applied(&cluster, leader).await;
    assert!(cluster.nodes.values().all(|n| address_on(n, 42).is_some()));

    // No client command follows: the leader's own Expire must remove it everywhere.
    let deadline = Instant::now() + support::WAIT;
    while cluster.nodes.values().any(|n| address_on(n, 42).is_some()) {
        assert!(
            Instant::now() < deadline,
            "the ended lease was never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in cluster.nodes.values() {
        assert_eq!(node.replica().read().table.address_of_name("c42"), None);
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_and_purges_keep_the_log_bounded() {
    // A snapshot every 20 entries; openraft keeps at most 20 entries behind it.
    let cluster = TestCluster::start_with(3, 20).await;
    let leader = cluster.ready().await;
    for n in 0..300 {
        lease(cluster.node(leader), n).await;
    }
    all_applied(&cluster, leader).await;
    for node in cluster.nodes.values() {
        let metrics = node
            .raft()
            .wait(Some(support::WAIT))
            .metrics(
                |m| m.purged.is_some_and(|p| p.index >= 200),
                "log purged behind snapshots",
            )
            .await
            .unwrap_or_else(|_| panic!("node {} never purged its log", node.id()));
        let last = metrics.last_log_index.unwrap_or(0);
        let purged = metrics.purged.map_or(0, |p| p.index);
        assert!(
            last - purged <= 60,
            "node {}: {} entries kept",
            node.id(),
            last - purged
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_nodes_store_can_be_read_for_backup_and_recovery() {
    let mut cluster = TestCluster::start_with(3, 25).await;
    let leader = cluster.ready().await;
    let mut granted = BTreeMap::new();
    for n in 0..60 {
        granted.insert(n, lease(cluster.node(leader), n).await);
    }
    all_applied(&cluster, leader).await;
    let follower = cluster.follower_of(leader);
    cluster.kill(follower).await;
    // Snapshot (every 25 entries) plus the log after it, read offline.
    let replica = raftmasq_consensus::store::read_replica(cluster.data_dir(follower))
        .await
        .expect("read store");
    for (n, address) in &granted {
        let held = replica
            .table
            .lease_by_client(&ClientId::from_mac(mac(*n)))
            .map(|l| l.address);
        assert_eq!(held, Some(*address), "lease {n} in the offline copy");
    }
    assert_eq!(replica.table.settings(), Some(&settings()));
    cluster.shutdown().await;
}

/// `Allocate` is kept only so old logs replay: a node refuses to propose
/// it, from the leader or through a follower, and the log does not grow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_allocate_is_refused_and_never_reaches_the_log() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    let follower = cluster.follower_of(leader);
    let applied = cluster.last_applied(leader);
    let Command::Bind { request, now, .. } = bind(1) else {
        unreachable!("bind builds a Bind")
    };
    let allocate = Command::Allocate {
        request,
        now,
        hold_ms: 10_000,
    };
    for id in [leader, follower] {
        let answer = cluster.node(id).write(allocate.clone()).await;
        assert_eq!(
            answer,
            Ok(Response::Rejected {
                reason: Rejection::Retired {
                    command: "allocate".into()
                }
            }),
            "through node {id}"
        );
    }
    assert_eq!(
        cluster.last_applied(leader),
        applied,
        "nothing was proposed"
    );
    cluster.shutdown().await;
}
