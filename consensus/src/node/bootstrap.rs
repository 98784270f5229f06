//! Forming and joining a cluster, and refusing to run with settings that
//! differ from the cluster's.

use std::collections::BTreeMap;
use std::time::Duration;

use openraft::ServerState;
use raftmasq_state::{Command, Response};

use super::ClusterNode;
use super::api::{JoinAccepted, JoinRefused, JoinRequest};
use super::write::WriteError;
use crate::backoff::Backoff;
use crate::network::paths;
use crate::types::{Member, NodeId};

pub(super) async fn start(node: &ClusterNode) {
    let initialized = node.raft().is_initialized().await.unwrap_or(false);
    let config = node.config();
    let first_peer = config.peers.keys().next().copied();
    if !initialized && first_peer == Some(config.id) {
        // Exactly one node (the lowest id of `peers`) initialises a new cluster;
        // a restarted node has a log and never gets here.
        let members: BTreeMap<NodeId, Member> = config
            .peers
            .iter()
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
                tracing::info!(node_id = config.id, peers = ?config.peers, "initialised a new cluster")
            }
            Err(error) => {
                tracing::info!(node_id = config.id, %error, "cluster already initialised")
            }
        }
    }
    node.spawn(register(node.clone()));
    node.spawn(guard_settings(node.clone()));
    node.spawn(seed_settings(node.clone()));
    node.spawn(super::expiry::expire_due_leases(node.clone()));
    node.spawn(super::clock_sync::keep_in_sync(node.clone()));
}

/// Makes sure this node is a voter and that the cluster knows its current
/// addresses: joins a running cluster, or updates its member information.
async fn register(node: ClusterNode) {
    // Unbounded: a node waits as long as it takes the cluster to form.
    let mut backoff = Backoff::fixed(Duration::from_millis(500));
    loop {
        let attempt = backoff.failures() + 1;
        if is_registered(&node) {
            return;
        }
        let request = JoinRequest {
            id: node.id(),
            member: node.member().clone(),
            settings: node.config().settings.clone(),
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
                Ok(Err(
                    refused @ (JoinRefused::SettingsDiffer { .. }
                    | JoinRefused::AddressConflict { .. }),
                )) => {
                    node.refuse(refused.to_string());
                    return;
                }
                Ok(Err(JoinRefused::Write(WriteError::NotLeader { .. }))) => {}
                Ok(Err(other)) => {
                    tracing::debug!(node_id = node.id(), via = target, %other, "join not done yet")
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

fn is_registered(node: &ClusterNode) -> bool {
    let metrics = node.metrics();
    let membership = metrics.membership_config.membership();
    membership.voter_ids().any(|id| id == node.id())
        && membership.get_node(&node.id()) == Some(node.member())
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

/// Refuses to serve once the replicated settings are known and differ from
/// this node's configuration.
async fn guard_settings(node: ClusterNode) {
    let mut applied = node.replica().subscribe();
    loop {
        let differing = node
            .replica()
            .read()
            .table
            .settings()
            .map(|cluster| node.config().settings.differing_keys(cluster));
        match differing {
            Some(keys) if keys.is_empty() => return,
            Some(keys) => {
                node.refuse(
                    JoinRefused::SettingsDiffer {
                        keys: keys.into_iter().map(String::from).collect(),
                    }
                    .to_string(),
                );
                if let Err(error) = node.raft().shutdown().await {
                    tracing::warn!(node_id = node.id(), %error, "raft shutdown failed");
                }
                return;
            }
            None => {}
        }
        if applied.changed().await.is_err() {
            return;
        }
    }
}

/// The first leader of a new cluster writes the shared settings as the first
/// command; later leaders find them already there.
async fn seed_settings(node: ClusterNode) {
    let mut metrics = node.raft().metrics();
    loop {
        if node.replica().read().table.is_initialized() {
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
                    return;
                }
                Ok(other) => {
                    tracing::info!(
                        node_id = node.id(),
                        ?other,
                        "cluster settings already present"
                    );
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
