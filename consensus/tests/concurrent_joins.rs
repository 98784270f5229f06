//! Membership changes that arrive at the leader at the same time queue
//! there instead of failing with openraft's "already undergoing a
//! configuration change" (consensus/src/node/change_queue.rs).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use raftmasq_consensus::node::{JoinAccepted, JoinRequest, MembershipChange, MembershipOutcome};
use raftmasq_consensus::{ClusterNode, Member, MemberRole, NodeId};
use support::{TestCluster, settings};

fn voters(node: &ClusterNode) -> BTreeSet<NodeId> {
    node.metrics()
        .membership_config
        .membership()
        .voter_ids()
        .collect()
}

fn members(node: &ClusterNode) -> BTreeSet<NodeId> {
    node.metrics()
        .membership_config
        .membership()
        .nodes()
        .map(|(id, _)| *id)
        .collect()
}

/// Polls `done` every 50 ms for at most 30 s (two cores, a dozen nodes).
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in time: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_learners_joining_at_once_all_join_at_their_first_attempt() {
    // The eight learners start together once the cluster runs: their
    // requests reach the leader at the same moment.
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    let learners: Vec<NodeId> = (4..=11).collect();
    cluster.learners.extend(learners.iter().copied());
    cluster.add_nodes_at_once(&learners).await;
    eventually("all eight learners are members", || {
        let leader = cluster.node(leader);
        learners.iter().all(|id| {
            leader
                .metrics()
                .membership_config
                .membership()
                .get_node(id)
                .is_some()
        })
    })
    .await;
    for id in &learners {
        let node = cluster.node(*id);
        eventually("the learner sees itself as one", || {
            node.own_role() == Some(MemberRole::Learner)
        })
        .await;
        assert_eq!(
            node.join_refusals(),
            0,
            "node {id}'s join was refused (and retried) at least once"
        );
    }
    assert_eq!(voters(cluster.node(leader)), BTreeSet::from([1, 2, 3]));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_join_requests_at_the_same_instant_all_succeed() {
    // The leader's side alone, for eight learners that need not run (a
    // learner is added without waiting for it): all eight changes are
    // submitted in the same instant, which openraft alone would refuse for
    // all but one ("already undergoing a configuration change").
    let cluster = TestCluster::start(3).await;
    let leader = cluster.node(cluster.ready().await).clone();
    let ids: Vec<NodeId> = (21..=28).collect();
    let joins = ids.iter().map(|id| {
        let leader = leader.clone();
        let request = JoinRequest {
            id: *id,
            // Nothing listens there: replication to it just fails.
            member: Member::new(format!("127.0.0.1:{}", 9 + id)),
            settings: settings(),
            role: MemberRole::Learner,
            keep_role: false,
        };
        tokio::spawn(async move { leader.accept_join(request).await })
    });
    for (id, answer) in ids.iter().zip(futures::future::join_all(joins).await) {
        assert_eq!(
            answer.expect("task"),
            Ok(JoinAccepted::AddedAsLearner),
            "node {id}"
        );
    }
    let expected: BTreeSet<NodeId> = (1..=3).chain(21..=28).collect();
    assert_eq!(members(&leader), expected);
    assert_eq!(voters(&leader), BTreeSet::from([1, 2, 3]));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voters_promoted_while_others_join_all_end_up_as_asked() {
    // Bounded as a whole: this test once waited without end in a CI run
    // (cause not found yet); a hang must fail it, not stall the suite.
    tokio::time::timeout(Duration::from_secs(180), promotions_while_joining())
        .await
        .expect("voters promoted while others join: no end within 180 s");
}

async fn promotions_while_joining() {
    let mut cluster = TestCluster::start_with_learners(3, 2).await;
    let leader = cluster.ready().await;
    eventually("learners 4 and 5 joined", || {
        let members = members(cluster.node(leader));
        members.contains(&4) && members.contains(&5)
    })
    .await;
    // Two newcomers join as voters (learner, catch-up, promotion) and two
    // as learners, while an operator promotes learners 4 and 5 through a
    // follower (forwarded to the leader).
    cluster.learners.extend([8, 9]);
    cluster.add_nodes_at_once(&[6, 7, 8, 9]).await;
    let follower = cluster.node(cluster.follower_of(leader)).clone();
    let promotions = [4, 5].map(|id| {
        let follower = follower.clone();
        tokio::spawn(async move {
            follower
                .change_membership(MembershipChange::Promote { id })
                .await
        })
    });
    for (id, promotion) in [4, 5].into_iter().zip(promotions) {
        assert_eq!(
            promotion.await.expect("task"),
            Ok(MembershipOutcome::Promoted { id })
        );
    }
    let leader = cluster.leader().await;
    eventually("voters 1..=7, learners 8 and 9", || {
        let node = cluster.node(leader);
        voters(node) == BTreeSet::from([1, 2, 3, 4, 5, 6, 7])
            && members(node) == (1..=9).collect::<BTreeSet<_>>()
    })
    .await;
    for id in 6..=9 {
        assert_eq!(
            cluster.node(id).join_refusals(),
            0,
            "node {id}'s join was refused (and retried) at least once"
        );
    }
    cluster.shutdown().await;
}
