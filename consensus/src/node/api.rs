//! The cluster listener's own endpoints (besides the Raft RPCs): forwarded
//! writes, read-index for followers, and joining.

use axum::extract::{ConnectInfo, State};
use axum::routing::post;
use axum::{Json, Router};
use openraft::ChangeMembers;
use raftmasq_state::{ClusterSettings, Command, Response};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tokio::time::Instant;

use super::{ClusterNode, WriteError};
use crate::network::{PeerIdentity, Refused, check_claim, paths};
use crate::types::{LogId, Member, MemberRole, NodeId};

/// Endpoints for members only (see `members_only`).
pub(super) fn member_routes(node: ClusterNode) -> Router {
    Router::new()
        .route(paths::WRITE, post(write))
        .route(paths::READ, post(read_index))
        .route(paths::CLOCK, post(super::clock_sync::answer))
        .with_state(node.clone())
        .merge(super::handover::routes(node.clone()))
        .merge(super::membership::routes(node))
}

/// Joining: open to any node the CA certified, for its own id only.
pub(super) fn join_routes(node: ClusterNode) -> Router {
    Router::new()
        .route(paths::JOIN, post(join))
        .with_state(node)
}

/// A write forwarded by a follower. Only the leader commits; anyone else says
/// who it believes leads, and the follower retries there.
async fn write(
    State(node): State<ClusterNode>,
    Json(command): Json<Command>,
) -> Json<Result<Response, WriteError>> {
    let deadline = Instant::now() + node.config().write_timeout;
    Json(node.write_as_leader(command, deadline).await)
}

async fn read_index(
    State(node): State<ClusterNode>,
    Json(()): Json<()>,
) -> Json<Result<Option<LogId>, WriteError>> {
    let deadline = Instant::now() + node.config().write_timeout;
    Json(node.read_index_as_leader(deadline).await)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub id: NodeId,
    pub member: Member,
    pub settings: ClusterSettings,
    /// The node's `node.role`: how it joins if it is not a member yet.
    /// (Absent from nodes older than learners: they join as voters.)
    #[serde(default)]
    pub role: MemberRole,
    /// The node's store has joined before: whatever role the cluster gives
    /// it stays (an operator's promote or demote sticks across restarts).
    #[serde(default)]
    pub keep_role: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinAccepted {
    /// Already a member (in the role it has) with this information.
    AlreadyMember,
    /// A member whose announced information (admin address, bridge address) was updated.
    Updated,
    /// Added as a learner, caught up, and promoted to voter.
    Added,
    /// Added as a learner (`node.role = "learner"`); it stays one.
    AddedAsLearner,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum JoinRefused {
    /// Sent only by releases before live settings (a node now follows the
    /// cluster's settings); kept so their answer still decodes.
    #[error(
        "this node's settings differ from the cluster's in {}: make them identical on every host (the cluster's values are authoritative)",
        keys.join(", ")
    )]
    SettingsDiffer { keys: Vec<String> },
    #[error(
        "node id {id} is already a member at {registered}; remove it first (dnsctl members remove {id}) or pick another id"
    )]
    AddressConflict { id: NodeId, registered: String },
    #[error(transparent)]
    Write(#[from] WriteError),
}

pub(super) async fn join(
    State(node): State<ClusterNode>,
    ConnectInfo(peer): ConnectInfo<PeerIdentity>,
    Json(request): Json<JoinRequest>,
) -> Result<Json<Result<JoinAccepted, JoinRefused>>, Refused> {
    check_claim(&peer, Some(request.id), "join")?;
    Ok(Json(handle_join(&node, request).await))
}

async fn handle_join(
    node: &ClusterNode,
    request: JoinRequest,
) -> Result<JoinAccepted, JoinRefused> {
    // Settings that differ are no reason to refuse: the node follows the
    // cluster's and says which keys of its file differ.
    if let Some(cluster) = node.replica().read().table.settings() {
        let keys = request.settings.differing_keys(cluster);
        if !keys.is_empty() {
            tracing::info!(
                node_id = request.id,
                ?keys,
                "joining node's file differs from the cluster settings; it follows the cluster"
            );
        }
    }
    let metrics = node.metrics();
    if metrics.current_leader != Some(node.id()) {
        return Err(WriteError::NotLeader {
            node: node.id(),
            leader: metrics.current_leader,
        }
        .into());
    }
    let membership = metrics.membership_config.membership().clone();
    let is_voter = membership.voter_ids().any(|id| id == request.id);
    let wants_voter = request.role == MemberRole::Voter && !request.keep_role;
    let change_error = |error: openraft::error::RaftError<
        NodeId,
        openraft::error::ClientWriteError<NodeId, Member>,
    >| {
        JoinRefused::Write(WriteError::Internal {
            node: node.id(),
            reason: error.to_string(),
        })
    };
    let known = membership.get_node(&request.id).cloned();
    if let Some(known) = &known
        && known.cluster_addr != request.member.cluster_addr
    {
        return Err(JoinRefused::AddressConflict {
            id: request.id,
            registered: known.cluster_addr.clone(),
        });
    }
    let mut updated = false;
    match &known {
        Some(known) if *known != request.member => {
            tracing::info!(node_id = request.id, old = ?known, new = ?request.member, "updating member information");
            let nodes = BTreeMap::from([(request.id, request.member.clone())]);
            node.raft()
                .change_membership(ChangeMembers::SetNodes(nodes), true)
                .await
                .map_err(change_error)?;
            updated = true;
        }
        Some(_) => {}
        None => {
            tracing::info!(node_id = request.id, member = %request.member, role = %request.role, "adding learner");
            // A voter-to-be is waited for until it has caught up.
            node.raft()
                .add_learner(request.id, request.member.clone(), wants_voter)
                .await
                .map_err(change_error)?;
            if !wants_voter {
                return Ok(JoinAccepted::AddedAsLearner);
            }
        }
    }
    if is_voter || !wants_voter {
        return Ok(if updated {
            JoinAccepted::Updated
        } else {
            JoinAccepted::AlreadyMember
        });
    }
    if known.is_some() {
        // A learner joining for the first time as a voter (added beforehand
        // by `dnsctl members add`): wait until it has caught up.
        node.raft()
            .add_learner(request.id, request.member, true)
            .await
            .map_err(change_error)?;
    }
    tracing::info!(node_id = request.id, "promoting learner to voter");
    let ids = BTreeSet::from([request.id]);
    node.raft()
        .change_membership(ChangeMembers::AddVoterIds(ids), false)
        .await
        .map_err(change_error)?;
    Ok(JoinAccepted::Added)
}
