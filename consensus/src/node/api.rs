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
use crate::types::{LogId, Member, NodeId};

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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JoinAccepted {
    /// Already a voter with this information.
    AlreadyMember,
    /// A voter whose announced information (admin address, bridge address) was updated.
    Updated,
    /// Added as a learner, caught up, and promoted to voter.
    Added,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum JoinRefused {
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
    if let Some(cluster) = node.replica().read().table.settings() {
        let keys = request.settings.differing_keys(cluster);
        if !keys.is_empty() {
            tracing::warn!(node_id = request.id, ?keys, "join refused: settings differ");
            return Err(JoinRefused::SettingsDiffer {
                keys: keys.into_iter().map(String::from).collect(),
            });
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
    let change_error = |error: openraft::error::RaftError<
        NodeId,
        openraft::error::ClientWriteError<NodeId, Member>,
    >| {
        JoinRefused::Write(WriteError::Internal {
            node: node.id(),
            reason: error.to_string(),
        })
    };
    match membership.get_node(&request.id) {
        Some(known) if known.cluster_addr != request.member.cluster_addr => {
            Err(JoinRefused::AddressConflict {
                id: request.id,
                registered: known.cluster_addr.clone(),
            })
        }
        Some(known) if is_voter && *known == request.member => Ok(JoinAccepted::AlreadyMember),
        Some(known) if is_voter => {
            tracing::info!(node_id = request.id, old = ?known, new = ?request.member, "updating member information");
            let nodes = BTreeMap::from([(request.id, request.member)]);
            node.raft()
                .change_membership(ChangeMembers::SetNodes(nodes), true)
                .await
                .map_err(change_error)?;
            Ok(JoinAccepted::Updated)
        }
        known => {
            // A new host, or a learner: (re-)add it as a learner, wait until it has
            // caught up, then make it a voter.
            if known != Some(&request.member) {
                tracing::info!(node_id = request.id, member = %request.member, "adding learner");
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
    }
}
