//! The leader batches concurrent writes into one log entry: every caller still
//! gets its own answer, replicas converge, and a batch that never commits
//! gives its callers errors, never someone else's answer.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use raftmasq_consensus::state::{ClientId, Command, LeaseRequest, MacAddr, Rejection, Response};
use raftmasq_consensus::{ClusterNode, NodeId, WriteError};
use support::TestCluster;
use tokio::task::JoinSet;

fn mac(n: u32) -> MacAddr {
    let [_, b, c, d] = n.to_be_bytes();
    MacAddr([0x02, 0x00, 0x00, b, c, d])
}

fn client(n: u32) -> ClientId {
    ClientId::from_mac(mac(n))
}

fn bind(n: u32, requested_address: Option<Ipv4Addr>) -> Command {
    Command::Bind {
        request: LeaseRequest {
            client_id: client(n),
            mac: mac(n),
            hostname: Some(format!("c{n}")),
            requested_address,
            seen_by: Some(1),
        },
        now: 0,
        lease_time_secs: None,
    }
}

fn lease_of(node: &ClusterNode, n: u32) -> Option<(Ipv4Addr, Option<String>)> {
    node.replica()
        .read()
        .table
        .lease_by_client(&client(n))
        .map(|lease| (lease.address, lease.granted_name.clone()))
}

fn last_log_index(node: &ClusterNode) -> u64 {
    node.metrics().last_log_index.unwrap_or(0)
}

/// Waits until every node has applied what `leader` has, then checks that
/// all tables are equal.
async fn assert_converged(cluster: &TestCluster, leader: NodeId) {
    let index = cluster.last_applied(leader);
    for id in cluster.nodes.keys() {
        cluster.applied_at_least(*id, index).await;
    }
    let reference = cluster.node(leader).replica().read().table.clone();
    for node in cluster.nodes.values() {
        assert!(
            node.replica().read().table == reference,
            "node {} differs from leader {leader}",
            node.id()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_each_get_their_own_answer_and_replicas_converge() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.ready().await;
    let follower = cluster.follower_of(leader);
    let entries_before = last_log_index(cluster.node(leader));

    // 300 writers at once, a third of them through a follower (forwarded to
    // the leader's batcher). Pairs (n, n+1) for n % 10 == 0 ask for the same
    // address: exactly one of each pair gets it. Every 7th writer renews a
    // lease it does not have: only that writer is refused.
    const WRITERS: u32 = 300;
    let contested = |n: u32| Ipv4Addr::new(10, 0, 200, u8::try_from(n / 10).expect("small"));
    let mut writers = JoinSet::new();
    for n in 0..WRITERS {
        let via = if n % 3 == 0 { follower } else { leader };
        let node = cluster.node(via).clone();
        let command = if n % 7 == 3 {
            Command::Renew {
                client_id: client(n),
                address: Ipv4Addr::new(10, 0, 100, 1),
                now: 0,
                lease_time_secs: None,
            }
        } else if n % 10 <= 1 {
            bind(n, Some(contested(n)))
        } else {
            bind(n, None)
        };
        writers.spawn(async move { (n, node.write(command).await) });
    }
    let mut answers = BTreeMap::new();
    while let Some(joined) = writers.join_next().await {
        let (n, answer) = joined.expect("writer task");
        answers.insert(n, answer.unwrap_or_else(|e| panic!("writer {n}: {e}")));
    }

    let mut addresses = BTreeSet::new();
    for (n, answer) in &answers {
        let n = *n;
        if n % 7 == 3 {
            assert_eq!(
                *answer,
                Response::Rejected {
                    reason: Rejection::NoSuchLease {
                        address: Ipv4Addr::new(10, 0, 100, 1)
                    }
                },
                "writer {n}"
            );
            continue;
        }
        if n % 10 <= 1 {
            // Judged per pair below.
            continue;
        }
        let Response::Lease { lease } = answer else {
            panic!("writer {n} got {answer:?}");
        };
        assert_eq!(lease.client_id, client(n), "writer {n} got another's lease");
        assert_eq!(
            lease.granted_name.as_deref(),
            Some(format!("c{n}").as_str())
        );
        assert!(
            addresses.insert(lease.address),
            "{} granted twice",
            lease.address
        );
    }
    for pair in (0..WRITERS).step_by(10) {
        let granted: Vec<u32> = [pair, pair + 1]
            .into_iter()
            .filter(|n| n % 7 != 3)
            .filter(|n| match &answers[n] {
                Response::Lease { lease } => {
                    assert_eq!(lease.client_id, client(*n));
                    assert_eq!(lease.address, contested(*n));
                    true
                }
                Response::Rejected {
                    reason: Rejection::AddressUnavailable { address },
                } => {
                    assert_eq!(*address, contested(*n));
                    false
                }
                other => panic!("writer {n} got {other:?}"),
            })
            .collect();
        assert_eq!(
            granted.len(),
            1,
            "pair {pair}: exactly one gets the address"
        );
    }

    // The writes shared entries: fewer entries than commands.
    let entries = last_log_index(cluster.node(leader)) - entries_before;
    assert!(
        entries < u64::from(WRITERS),
        "{WRITERS} writes took {entries} entries: nothing was batched"
    );

    assert_converged(&cluster, leader).await;
    for node in cluster.nodes.values() {
        for (n, answer) in &answers {
            if let Response::Lease { lease } = answer {
                assert_eq!(
                    lease_of(node, *n),
                    Some((lease.address, lease.granted_name.clone())),
                    "lease of writer {n} on node {}",
                    node.id()
                );
            }
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_cut_off_by_a_leader_change_fail_their_callers_and_never_misanswer() {
    let cluster = TestCluster::start(3).await;
    let old_leader = cluster.ready().await;
    let others: Vec<NodeId> = cluster
        .nodes
        .keys()
        .copied()
        .filter(|id| *id != old_leader)
        .collect();

    // Writers keep the leader's batcher busy; part-way through, the leader
    // is cut off from both followers. Its batches in flight and the ones
    // formed afterwards cannot commit.
    let mut writers = JoinSet::new();
    for w in 0..40u32 {
        let node = cluster.node(old_leader).clone();
        writers.spawn(async move {
            let mut answers = Vec::new();
            for i in 0..15u32 {
                let n = w * 100 + i;
                let answer = node.write(bind(n, None)).await;
                let failed = answer.is_err();
                answers.push((n, answer));
                if failed {
                    // Cut off: each later write would only wait out its deadline too.
                    break;
                }
            }
            answers
        });
    }
    // Let some writes through first, then cut while batches are in flight.
    let base = cluster.last_applied(old_leader);
    cluster.applied_at_least(old_leader, base + 3).await;
    cluster.links.isolate(old_leader, others.iter().copied());

    let mut answers: BTreeMap<u32, Result<Response, WriteError>> = BTreeMap::new();
    while let Some(joined) = writers.join_next().await {
        answers.extend(joined.expect("writer task"));
    }

    // The majority carries on under a new leader; then the cut heals and the
    // old leader's uncommitted entries are replaced by the new leader's log.
    let deadline = tokio::time::Instant::now() + support::WAIT;
    let new_leader = loop {
        let metrics = cluster.node(others[0]).metrics();
        if let Some(leader) = metrics.current_leader.filter(|l| others.contains(l)) {
            break leader;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new leader on the majority side"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let after = cluster
        .node(new_leader)
        .write(bind(9_999, None))
        .await
        .expect("the new leader commits");
    cluster.links.heal();
    let leader = cluster.leader().await;
    assert_converged(&cluster, leader).await;

    let (mut committed, mut failed) = (0, 0);
    for (n, answer) in &answers {
        match answer {
            // A caller told "committed" holds exactly that lease everywhere.
            Ok(Response::Lease { lease }) => {
                committed += 1;
                assert_eq!(
                    lease.client_id,
                    client(*n),
                    "writer {n} got another's lease"
                );
                for node in cluster.nodes.values() {
                    assert_eq!(
                        lease_of(node, *n),
                        Some((lease.address, lease.granted_name.clone())),
                        "acknowledged lease of {n} on node {}",
                        node.id()
                    );
                }
            }
            Ok(other) => panic!("writer {n} got {other:?}"),
            // An error may hide a commit the caller did not hear of (the
            // entry reached a majority just before the cut), never a wrong one.
            Err(error) => {
                failed += 1;
                if let Some((_, hostname)) = lease_of(cluster.node(leader), *n) {
                    assert_eq!(hostname, Some(format!("c{n}")), "writer {n} after {error}");
                }
            }
        }
    }
    assert!(committed > 0, "no write committed before the cut");
    assert!(
        failed > 0,
        "no write was cut off: the test did not exercise a leader change"
    );
    let Response::Lease { lease } = after else {
        panic!("the write after the change got {after:?}");
    };
    assert_eq!(
        lease_of(cluster.node(leader), 9_999),
        Some((lease.address, lease.granted_name))
    );
    cluster.shutdown().await;
}
