//! A planned stop of the leader (`ClusterNode::hand_over`, what the daemon
//! does on SIGTERM): a caught-up voter leads within the bound, and nothing
//! committed is lost; with voters down the stop still ends in its bound.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use raftmasq_consensus::network::{PeerClient, PeerError, paths};
use raftmasq_consensus::{ClusterLink, ClusterToken, Handover, Links, QuorumStatus};
use support::{TOKEN, TestCluster, address_on, lease};

/// What the daemon gives a stopping leader.
const WITHIN: Duration = Duration::from_millis(800);

/// A leader grants a candidate's vote only once its own election is older
/// than the leader lease (`election_timeout_max`, 800 ms in tests).
async fn past_the_leader_lease(cluster: &TestCluster) {
    tokio::time::sleep(cluster.timing.0 * 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_leader_hands_over_at_once_and_loses_no_write() {
    let mut cluster = TestCluster::start(3).await;
    let old = cluster.ready().await;
    let follower = cluster.follower_of(old);
    let mut granted = BTreeMap::new();
    for n in 0..10 {
        let via = if n % 2 == 0 { old } else { follower };
        granted.insert(n, lease(cluster.node(via), n).await);
    }
    past_the_leader_lease(&cluster).await;
    // Writes keep coming through the follower while the leader stops.
    let writer = {
        let node = cluster.node(follower).clone();
        tokio::spawn(async move {
            let mut done = BTreeMap::new();
            for n in 100..140 {
                done.insert(n, lease(&node, n).await);
            }
            done
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;

    let started = Instant::now();
    let outcome = cluster.node(old).hand_over(WITHIN).await;
    let took = started.elapsed();
    assert_eq!(
        cluster.node(old).quorum_status(),
        QuorumStatus {
            is_leader: false,
            has_quorum: true
        },
        "a stopping leader no longer acts as one"
    );
    cluster.kill(old).await;
    eprintln!("handover: {outcome:?} in {took:?}");
    let Handover::Done { to } = outcome else {
        panic!("no handover within {WITHIN:?}: {outcome:?}");
    };
    assert_ne!(to, old);
    assert!(took < WITHIN, "handover took {took:?}");
    assert_eq!(cluster.leader().await, to);

    granted.extend(writer.await.expect("writer"));
    for n in 200..205 {
        granted.insert(n, lease(cluster.node(to), n).await);
    }
    for node in cluster.nodes.values() {
        let index = cluster.last_applied(to);
        cluster.applied_at_least(node.id(), index).await;
        for (n, address) in &granted {
            assert_eq!(
                address_on(node, *n),
                Some(*address),
                "lease {n} on node {}",
                node.id()
            );
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_a_voter_down_hands_over_to_the_other() {
    let mut cluster = TestCluster::start(3).await;
    let old = cluster.ready().await;
    let down = cluster.follower_of(old);
    lease(cluster.node(old), 1).await;
    past_the_leader_lease(&cluster).await;
    // Down without a trace in the metrics: it acknowledged the whole log.
    cluster.links.isolate(down, [1, 2, 3]);

    let started = Instant::now();
    let outcome = cluster.node(old).hand_over(WITHIN).await;
    let took = started.elapsed();
    eprintln!("handover with node {down} cut off: {outcome:?} in {took:?}");
    let Handover::Done { to } = outcome else {
        panic!("no handover within {WITHIN:?}: {outcome:?}");
    };
    assert!(to != old && to != down, "handed to node {to}");
    assert!(took < WITHIN, "handover took {took:?}");
    cluster.kill(old).await;
    cluster.links.heal();
    assert_eq!(cluster.leader().await, to);
    lease(cluster.node(to), 2).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_without_any_voter_to_take_over_ends_in_its_bound() {
    let cluster = TestCluster::start(3).await;
    let old = cluster.ready().await;
    let followers: Vec<_> = cluster
        .nodes
        .keys()
        .copied()
        .filter(|id| *id != old)
        .collect();
    assert_eq!(
        cluster.node(followers[0]).hand_over(WITHIN).await,
        Handover::NotLeader,
        "a follower just stops"
    );
    past_the_leader_lease(&cluster).await;
    cluster.links.isolate(old, followers.iter().copied());

    let started = Instant::now();
    let outcome = cluster.node(old).hand_over(WITHIN).await;
    let took = started.elapsed();
    eprintln!("handover with every voter cut off: {outcome:?} in {took:?}");
    assert_eq!(outcome, Handover::TimedOut);
    assert!(
        took < WITHIN + Duration::from_millis(100),
        "the stop took {took:?}"
    );
    cluster.links.heal();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_a_voter_follows_may_ask_it_to_take_over() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    let followers: Vec<_> = cluster
        .nodes
        .keys()
        .copied()
        .filter(|id| *id != leader)
        .collect();
    let (target, other) = (followers[0], followers[1]);
    let term = cluster.node(target).metrics().vote.leader_id().term;
    let token = ClusterToken::new(TOKEN).expect("token");
    let as_other = PeerClient::new(
        other,
        token,
        Links::default(),
        ClusterLink::Tls(cluster.tls(other)),
    );
    let addr = cluster.addrs[&target].to_string();
    let ask = |claimed| {
        let body = serde_json::json!({ "leader": claimed, "term": term });
        let as_other = &as_other;
        let addr = &addr;
        async move {
            as_other
                .post::<_, Result<(), String>>(
                    target,
                    addr,
                    paths::ELECT,
                    &body,
                    Duration::from_secs(2),
                )
                .await
        }
    };
    // Another member's certificate speaking for the leader: refused.
    let forged = ask(leader).await;
    assert!(
        matches!(forged, Err(PeerError::Forbidden { .. })),
        "{forged:?}"
    );
    // Speaking for itself: the target does not follow it.
    let refused = ask(other).await.expect("answered");
    assert!(refused.is_err(), "{refused:?}");
    // Nothing moved.
    assert_eq!(cluster.leader().await, leader);
    assert_eq!(cluster.node(target).metrics().vote.leader_id().term, term);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_stopped_right_after_its_election_waits_out_its_lease_and_hands_over() {
    let mut cluster = TestCluster::start(3).await;
    let old = cluster.ready().await;
    // No pause: the leader was elected moments ago, and grants no vote for
    // one lease (1.5 x 400 ms) after that.
    let started = Instant::now();
    let outcome = cluster.node(old).hand_over(WITHIN).await;
    let took = started.elapsed();
    eprintln!("handover right after the election: {outcome:?} in {took:?}");
    let Handover::Done { to } = outcome else {
        panic!("no handover within {WITHIN:?}: {outcome:?}");
    };
    assert_ne!(to, old);
    cluster.kill(old).await;
    assert_eq!(cluster.leader().await, to);
    lease(cluster.node(to), 1).await;
    cluster.shutdown().await;
}
