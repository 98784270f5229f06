//! Learners (issue 17): members that replicate and serve reads but never
//! vote, never count for quorum and never lead; promote and demote.

mod support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use openraft::ServerState;
use raftmasq_consensus::node::{MembershipChange, MembershipError, MembershipOutcome};
use raftmasq_consensus::{ClusterNode, MemberRole, NodeId};
use support::{TestCluster, address_on, lease};

fn voters(node: &ClusterNode) -> BTreeSet<NodeId> {
    node.metrics()
        .membership_config
        .membership()
        .voter_ids()
        .collect()
}

/// Polls `done` every 50 ms for at most 10 s.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not in time: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The bridge address the test cluster gives node `id`.
fn bridge(id: NodeId) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, u8::try_from(id).expect("small id"))
}

async fn change(
    node: &ClusterNode,
    change: MembershipChange,
) -> Result<MembershipOutcome, MembershipError> {
    node.change_membership(change).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_replicates_serves_reads_and_is_no_dhcp_server() {
    let cluster = TestCluster::start_with_learners(3, 1).await;
    let leader = cluster.ready().await;
    assert!(leader <= 3, "a learner never leads: {leader}");
    let learner = cluster.node(4);
    eventually("node 4 joins as a learner", || {
        learner.own_role() == Some(MemberRole::Learner)
    })
    .await;
    assert_eq!(voters(learner), BTreeSet::from([1, 2, 3]));
    assert_eq!(learner.metrics().state, ServerState::Learner);

    // Writes through the learner are forwarded to the leader; the learner's
    // replica has every lease, for DNS and admin reads.
    let through_learner = lease(learner, 1).await;
    let through_leader = lease(cluster.node(leader), 2).await;
    let index = cluster.last_applied(leader);
    cluster.applied_at_least(4, index).await;
    assert_eq!(address_on(learner, 1), Some(through_learner));
    assert_eq!(address_on(learner, 2), Some(through_leader));
    let status = learner.quorum_status();
    assert!(status.has_quorum && !status.is_leader, "{status:?}");
    assert_eq!(learner.known_leader(), Some(leader));

    // Issue 15's rule holds: a learner's bridge address is no DHCP server
    // identifier and no DNS server of any lease, on any node.
    for node in cluster.nodes.values() {
        let list = node.bridge_addresses();
        assert!(
            !list.addresses.contains(&bridge(4)),
            "node {}: {list:?}",
            node.id()
        );
    }
    eventually("every voter's bridge address is known", || {
        cluster
            .nodes
            .values()
            .all(|node| node.bridge_addresses().is_complete())
    })
    .await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_quorum_lost_the_learner_neither_votes_nor_leads_and_says_so() {
    let mut cluster = TestCluster::start_with_learners(3, 1).await;
    let leader = cluster.ready().await;
    eventually("node 4 joins as a learner", || {
        cluster.node(4).own_role() == Some(MemberRole::Learner)
    })
    .await;
    lease(cluster.node(4), 1).await;
    let survivor = (1..=3).find(|id| *id != leader).expect("a follower");
    let killed: Vec<NodeId> = (1..=3).filter(|id| *id != survivor).collect();
    for id in &killed {
        cluster.kill(*id).await;
    }
    let learner_term = cluster.node(4).metrics().current_term;

    // The survivor campaigns again and again; the learner is never asked,
    // never votes, never stands, and stops claiming a leader or a quorum
    // once the leader's lease has passed.
    eventually("the learner admits it has no leader", || {
        let learner = cluster.node(4);
        learner.known_leader().is_none() && !learner.quorum_status().has_quorum
    })
    .await;
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < until {
        let metrics = cluster.node(4).metrics();
        assert_eq!(metrics.state, ServerState::Learner, "the learner stands");
        assert_eq!(metrics.current_term, learner_term, "the learner voted");
        let status = cluster.node(4).quorum_status();
        assert!(!status.is_leader && !status.has_quorum, "{status:?}");
        assert_ne!(cluster.node(survivor).metrics().state, ServerState::Leader);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        cluster.node(survivor).metrics().current_term > learner_term,
        "the survivor campaigned meanwhile"
    );
    let report = cluster.node(4).report();
    assert!(
        report.leader.is_none() && report.state == "learner" && !report.has_quorum,
        "the report is honest: {report:?}"
    );

    // The voters come back: a voter leads, the learner follows it again.
    for id in killed {
        cluster.restart(id).await;
    }
    let leader = cluster.leader().await;
    assert!(leader <= 3);
    eventually("the learner follows the new leader", || {
        cluster.node(4).quorum_status().has_quorum && cluster.node(4).known_leader() == Some(leader)
    })
    .await;
    lease(cluster.node(4), 2).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_and_demote_with_their_safety_rules() {
    let mut cluster = TestCluster::start_with_learners(3, 1).await;
    let leader = cluster.ready().await;
    eventually("node 4 joins as a learner", || {
        cluster.node(4).own_role() == Some(MemberRole::Learner)
    })
    .await;
    // Promotion refuses a learner the leader has not replicated to yet
    // (`NotCaughtUp`, a safety rule, read from the leader's replication
    // metrics): wait until the leader sees it matched, as an operator would
    // in `dnsctl status`. (Without this the test raced the first
    // replication to the new learner and failed now and then.)
    eventually("the leader has replicated to node 4", || {
        cluster
            .node(leader)
            .metrics()
            .replication
            .as_ref()
            .and_then(|replication| replication.get(&4).copied().flatten())
            .is_some_and(|matched| matched.index > 0)
    })
    .await;

    // Promote the learner: it votes, and its bridge address is listed.
    assert_eq!(
        change(cluster.node(4), MembershipChange::Promote { id: 4 }).await,
        Ok(MembershipOutcome::Promoted { id: 4 })
    );
    eventually("node 4 is a voter everywhere", || {
        cluster.nodes.values().all(|n| voters(n).contains(&4))
    })
    .await;
    assert!(
        cluster
            .node(leader)
            .bridge_addresses()
            .addresses
            .contains(&bridge(4))
    );

    // A learner configured as such, promoted by the operator, stays a voter
    // across a restart: the cluster's membership rules after the first join.
    cluster.kill(4).await;
    cluster.restart(4).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(cluster.node(4).own_role(), Some(MemberRole::Voter));
    let via = cluster.node(4).clone();

    // Demote every other voter, the leader last: node 4 ends up the only
    // voter, and leads.
    let mut others: Vec<NodeId> = (1..=3).filter(|id| *id != leader).collect();
    others.push(leader);
    for (n, id) in others.iter().enumerate() {
        let outcome = change(&via, MembershipChange::Demote { id: *id }).await;
        assert!(
            matches!(
                outcome,
                Ok(MembershipOutcome::Demoted { id: demoted, voters_left, .. })
                    if demoted == *id && voters_left == 3 - n
            ),
            "demote {id}: {outcome:?}"
        );
    }
    eventually("node 4 leads alone", || {
        cluster.node(4).quorum_status().is_leader && voters(cluster.node(4)) == BTreeSet::from([4])
    })
    .await;
    for id in 1..=3 {
        // A demoted leader hands over first: openraft would let it lead on
        // as a non-voter.
        eventually("a demoted voter is a learner, and does not lead", || {
            cluster.node(id).own_role() == Some(MemberRole::Learner)
                && cluster.node(id).metrics().state == ServerState::Learner
        })
        .await;
    }
    assert_eq!(
        change(&via, MembershipChange::Demote { id: 4 }).await,
        Err(MembershipError::DemoteLastVoter { id: 4 })
    );
    assert_eq!(
        change(&via, MembershipChange::Demote { id: 1 }).await,
        Ok(MembershipOutcome::AlreadyLearner { id: 1 })
    );

    // A demoted voter (configured as a voter) stays a learner across a
    // restart.
    cluster.kill(2).await;
    cluster.restart(2).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(cluster.node(2).own_role(), Some(MemberRole::Learner));

    // Back to three voters; demoting one whose remaining voters cannot
    // carry on is refused with the reason.
    let index = cluster.last_applied(4);
    for id in [1, 2] {
        cluster.applied_at_least(id, index).await;
    }
    for id in [1, 2] {
        assert_eq!(
            change(&via, MembershipChange::Promote { id }).await,
            Ok(MembershipOutcome::Promoted { id })
        );
    }
    eventually("voters 1, 2, 4", || {
        voters(cluster.node(4)) == BTreeSet::from([1, 2, 4])
    })
    .await;
    let leader = cluster.leader().await;
    let (down, keep) = match leader {
        1 => (2, 4),
        2 => (1, 4),
        _ => (1, 2),
    };
    cluster.kill(down).await;
    let refused = change(cluster.node(leader), MembershipChange::Demote { id: keep }).await;
    assert!(
        matches!(
            refused,
            Err(MembershipError::WouldLoseQuorum {
                live: 1,
                remaining: 2,
                needed: 2,
                ..
            })
        ),
        "{refused:?}"
    );
    // Demoting the one that is down is fine: the other two carry on.
    let outcome = change(cluster.node(leader), MembershipChange::Demote { id: down }).await;
    assert!(
        matches!(
            outcome,
            Ok(MembershipOutcome::Demoted { voters_left: 2, .. })
        ),
        "{outcome:?}"
    );
    lease(cluster.node(keep), 1).await;
    cluster.shutdown().await;
}
