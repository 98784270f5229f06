//! Forming and joining a cluster. A node whose file's cluster-wide settings
//! differ from the cluster's follows the cluster (the daemon says which keys
//! differ); only the first leader of a new cluster writes its own.

use std::collections::BTreeMap;
use std::time::Duration;

use openraft::ServerState;
use raftmasq_state::{Command, Response};

use super::ClusterNode;
use super::api::{JoinAccepted, JoinRefused, JoinRequest};
use super::write::WriteError;
use crate::backoff::Backoff;
use crate::network::paths;
use crate::types::{Member, MemberRole, NodeId};

pub(super) async fn start(node: &ClusterNode) {
    let initialized = node.raft().is_initialized().await.unwrap_or(false);
    let config = node.config();
    let voters = || {
        config
            .peers
            .iter()
            .filter(|(id, _)| !config.learners.contains(id))
    };
    let first_voter = voters().next().map(|(id, _)| *id);
    if !initialized && config.role == MemberRole::Voter && first_voter == Some(config.id) {
        // Exactly one node (the lowest voter id of `peers`) initialises a new
        // cluster, with the voters of `peers`; learners join by themselves. A
        // restarted node has a log and never gets here.
        let members: BTreeMap<NodeId, Member> = voters()
            .map(|(id, addr)| {
                let member = if *id == config.id {
                    config.member.clone()
                } else {
                    // The bridge address from our file, so the first
                    // membership already names every host's DNS server.
                    Member {
                        bridge_address: config.peer_bridges.get(id).copied(),
                        ..Member::new(addr.clone())
                    }
                };
                (*id, member)
            })
            .collect();
        match node.raft().initialize(members).await {
            Ok(()) => {
                tracing::info!(node_id = config.id, voters = ?voters().collect::<Vec<_>>(), learners = ?config.learners, "initialised a new cluster")
            }
            Err(error) => {
                tracing::info!(node_id = config.id, %error, "cluster already initialised")
            }
        }
    }
    // The file's role decides only the first join: once this store has
    // joined, a restart keeps whatever role the cluster gave it.
    node.spawn(register(node.clone(), Joining::first(!initialized)));
    node.spawn(super::roles::report_role_changes(node.clone()));
    node.spawn(seed_settings(node.clone()));
    node.spawn(super::expiry::expire_due_leases(node.clone()));
    node.spawn(super::clock_sync::keep_in_sync(node.clone()));
}

/// Whether this start is the store's first (the file's role applies) or a
/// restart (the cluster's membership decides the role).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Joining {
    keep_role: bool,
}

impl Joining {
    fn first(fresh_store: bool) -> Self {
        Joining {
            keep_role: !fresh_store,
        }
    }
}

/// Makes sure this node is a member (a voter if its file says so and this is
/// its first join) and that the cluster knows its current addresses: joins a
/// running cluster, or updates its member information.
async fn register(node: ClusterNode, mut joining: Joining) {
    // Unbounded: a node waits as long as it takes the cluster to form.
    let mut backoff = Backoff::fixed(Duration::from_millis(500));
    loop {
        let attempt = backoff.failures() + 1;
        if node.own_role() == Some(MemberRole::Voter) {
            // The first join's role is reached (or the node was a voter from
            // the start): from now on only addresses are updated, so an
            // operator's demotion is never undone by a join still retrying.
            joining.keep_role = true;
        }
        if is_registered(&node, joining) {
            return;
        }
        let request = JoinRequest {
            id: node.id(),
            member: node.member().clone(),
            settings: node.config().settings.clone(),
            role: node.config().role,
            keep_role: joining.keep_role,
        };
        for (target, addr) in join_targets(&node) {
            let answer: Result<Result<JoinAccepted, JoinRefused>, _> = node
                .peers()
                .post(
                    target,
                    &addr,
                    paths::JOIN,
                    &request,
                    Duration::from_secs(120),
                )
                .await;
            match answer {
                Ok(Ok(accepted)) => {
                    tracing::info!(
                        node_id = node.id(),
                        via = target,
                        ?accepted,
                        "registered with the cluster"
                    );
                    return;
                }
                Ok(Err(refused @ JoinRefused::AddressConflict { .. })) => {
                    node.refuse(refused.to_string());
                    return;
                }
                // A leader of an older release still refuses a node whose
                // settings differ: keep asking (another member may lead
                // next, or be upgraded) instead of stopping.
                Ok(Err(refused @ JoinRefused::SettingsDiffer { .. })) => {
                    node.count_join_refusal();
                    if attempt % 20 == 1 {
                        tracing::warn!(node_id = node.id(), via = target, %refused, "join refused by an older leader")
                    }
                }
                Ok(Err(JoinRefused::Write(WriteError::NotLeader { .. }))) => {}
                Ok(Err(other)) => {
                    node.count_join_refusal();
                    tracing::info!(node_id = node.id(), via = target, %other, "join refused; retrying")
                }
                Err(error) if attempt % 20 == 1 => {
                    tracing::info!(node_id = node.id(), via = target, %error, "waiting for the cluster")
                }
                Err(_) => {}
            }
        }
        backoff.wait().await;
    }
}

fn is_registered(node: &ClusterNode, joining: Joining) -> bool {
    let metrics = node.metrics();
    let membership = metrics.membership_config.membership();
    let wants_voter = node.config().role == MemberRole::Voter && !joining.keep_role;
    let role_settled = !wants_voter || membership.voter_ids().any(|id| id == node.id());
    role_settled && membership.get_node(&node.id()) == Some(node.member())
}

/// The leader first if known, then every other peer we know of.
fn join_targets(node: &ClusterNode) -> Vec<(NodeId, String)> {
    let metrics = node.metrics();
    let mut targets: BTreeMap<NodeId, String> = node.config().peers.clone();
    for (id, member) in metrics.membership_config.membership().nodes() {
        targets.insert(*id, member.cluster_addr.clone());
    }
    targets.remove(&node.id());
    let mut ordered: Vec<(NodeId, String)> = targets.into_iter().collect();
    if let Some(leader) = metrics.current_leader {
        ordered.sort_by_key(|(id, _)| *id != leader);
    }
    ordered
}

/// The first leader of a new cluster writes the shared settings as the first
/// command; later leaders find them already there. Then each configured
/// network the cluster lacks is initialised the same way.
async fn seed_settings(node: ClusterNode) {
    let mut metrics = node.raft().metrics();
    loop {
        if node.replica().read().table.is_initialized() {
            seed_networks(&node, &mut metrics).await;
            return;
        }
        let is_leader = metrics.borrow().state == ServerState::Leader;
        if is_leader {
            let command = Command::Initialize {
                settings: node.config().settings.clone(),
            };
            match node.write(command).await {
                Ok(Response::Done) => {
                    tracing::info!(node_id = node.id(), "cluster settings written");
                    seed_networks(&node, &mut metrics).await;
                    return;
                }
                Ok(other) => {
                    tracing::info!(
                        node_id = node.id(),
                        ?other,
                        "cluster settings already present"
                    );
                    seed_networks(&node, &mut metrics).await;
                    return;
                }
                Err(error) => {
                    tracing::warn!(node_id = node.id(), %error, "could not write the cluster settings yet")
                }
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// Initialises every configured network (`ClusterNodeConfig::networks`) the
/// replica does not have yet, once this node leads; a refusal (an overlapping
/// subnet or shared domain the file check missed, e.g. files that differ
/// between hosts) is logged and that network left out.
async fn seed_networks(
    node: &ClusterNode,
    metrics: &mut tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, Member>>,
) {
    let mut pending: Vec<(String, raftmasq_state::ClusterSettings)> =
        node.config().networks.clone();
    // Bounded: one attempt per network per leadership change, at most 100 rounds.
    for _ in 0..100 {
        pending.retain(|(name, _)| node.replica().read().network(name).is_none());
        if pending.is_empty() {
            return;
        }
        if metrics.borrow().state == ServerState::Leader {
            let mut retry = Vec::new();
            for (name, settings) in pending {
                let command = Command::for_network(
                    &name,
                    Command::Initialize {
                        settings: settings.clone(),
                    },
                );
                match node.write(command).await {
                    Ok(Response::Done) => {
                        tracing::info!(node_id = node.id(), network = %name, "network added to the cluster");
                    }
                    Ok(Response::Rejected { reason }) => {
                        tracing::warn!(node_id = node.id(), network = %name, %reason, "network refused by the cluster");
                    }
                    Ok(other) => {
                        tracing::info!(node_id = node.id(), network = %name, ?other, "network already present");
                    }
                    Err(error) => {
                        tracing::warn!(node_id = node.id(), network = %name, %error, "could not add the network yet");
                        retry.push((name, settings));
                    }
                }
            }
            pending = retry;
            if pending.is_empty() {
                return;
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
