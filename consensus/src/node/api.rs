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

use std::time::Duration;

use super::{ClusterNode, MembershipError, QueueError, WriteError};
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
    /// The joining voter-to-be did not catch up in time; it asks again.
    #[error(
        "node {id} has not caught up with the leader's log after {waited_ms} ms: it is added as a learner and is promoted when it asks again (is the link to it slow?)"
    )]
    NotCaughtUp { id: NodeId, waited_ms: u64 },
    #[error(transparent)]
    Queue(#[from] QueueError),
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

/// How long the leader waits for a joining voter-to-be to catch up before
/// it answers (the joiner then asks again). With the two changes' bounds
/// below, a join is answered within 110 s: the joiner's own request times
/// out after 120 s.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(50);
/// How long one membership change of a join may take, its turn in the
/// leader's queue included.
const JOIN_CHANGE_TIMEOUT: Duration = Duration::from_secs(30);

impl ClusterNode {
    /// The leader's side of a join, as the join endpoint runs it once the
    /// caller's certificate matched `request.id` (tests call it directly).
    pub async fn accept_join(&self, request: JoinRequest) -> Result<JoinAccepted, JoinRefused> {
        handle_join(self, request).await
    }
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
    let wants_voter = request.role == MemberRole::Voter && !request.keep_role;
    // Step 1, in one turn of the leader's change queue: register the node
    // (or update its information). The membership is read under the turn,
    // so it is the one the change builds on.
    let deadline = Instant::now() + JOIN_CHANGE_TIMEOUT;
    let turn = node.membership_turn(deadline).await?;
    let membership = leaders_membership(node)?;
    let is_voter = membership.voter_ids().any(|id| id == request.id);
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
    // The log index the node must have replicated to count as caught up.
    let added_at = match &known {
        Some(known) if *known != request.member => {
            tracing::info!(node_id = request.id, old = ?known, new = ?request.member, "updating member information");
            let nodes = BTreeMap::from([(request.id, request.member.clone())]);
            node.commit_change(deadline, || {
                node.raft()
                    .change_membership(ChangeMembers::SetNodes(nodes.clone()), true)
            })
            .await
            .map_err(|error| refusal(node, error))?;
            updated = true;
            None
        }
        Some(_) => None,
        None => {
            tracing::info!(node_id = request.id, member = %request.member, role = %request.role, "adding learner");
            // Not openraft's blocking form: that would also wait for the
            // catch-up, holding the turn all the while.
            let response = node
                .commit_change(deadline, || {
                    node.raft()
                        .add_learner(request.id, request.member.clone(), false)
                })
                .await
                .map_err(|error| refusal(node, error))?;
            if !wants_voter {
                return Ok(JoinAccepted::AddedAsLearner);
            }
            Some(response.log_id.index)
        }
    };
    drop(turn);
    if is_voter || !wants_voter {
        return Ok(if updated {
            JoinAccepted::Updated
        } else {
            JoinAccepted::AlreadyMember
        });
    }
    // Step 2, outside any turn: wait until the voter-to-be has caught up
    // (a learner added earlier by `dnsctl members add`: up to the leader's
    // log now), so a slow host delays only its own join.
    let target = added_at.unwrap_or_else(|| node.metrics().last_log_index.unwrap_or(0));
    wait_caught_up(node, request.id, target).await?;
    // Step 3, in a new turn: promote it, if nothing changed meanwhile.
    let deadline = Instant::now() + JOIN_CHANGE_TIMEOUT;
    let _turn = node.membership_turn(deadline).await?;
    let membership = leaders_membership(node)?;
    if membership.voter_ids().any(|id| id == request.id) {
        return Ok(JoinAccepted::Added);
    }
    if membership.get_node(&request.id) != Some(&request.member) {
        // Removed or changed by an operator while it caught up: their
        // change stands; the joiner asks again if it still should.
        return Err(WriteError::Internal {
            node: node.id(),
            reason: format!(
                "node {} was removed or changed while it caught up; not promoted",
                request.id
            ),
        }
        .into());
    }
    tracing::info!(node_id = request.id, "promoting learner to voter");
    let ids = BTreeSet::from([request.id]);
    node.commit_change(deadline, || {
        node.raft()
            .change_membership(ChangeMembers::AddVoterIds(ids.clone()), false)
    })
    .await
    .map_err(|error| refusal(node, error))?;
    Ok(JoinAccepted::Added)
}

/// This node's current membership, if it leads.
fn leaders_membership(
    node: &ClusterNode,
) -> Result<openraft::Membership<NodeId, Member>, JoinRefused> {
    let metrics = node.metrics();
    if metrics.current_leader != Some(node.id()) {
        return Err(WriteError::NotLeader {
            node: node.id(),
            leader: metrics.current_leader,
        }
        .into());
    }
    Ok(metrics.membership_config.membership().clone())
}

/// Waits, bounded, until `id` has replicated the leader's log up to `index`;
/// stops early if this node stops leading.
async fn wait_caught_up(node: &ClusterNode, id: NodeId, index: u64) -> Result<(), JoinRefused> {
    let caught_up = |metrics: &crate::types::RaftMetrics| {
        metrics
            .replication
            .as_ref()
            .and_then(|replication| replication.get(&id).copied().flatten())
            .is_some_and(|matched| matched.index >= index)
    };
    let started = Instant::now();
    let waited = node
        .raft()
        .wait(Some(CATCH_UP_TIMEOUT))
        .metrics(
            |metrics| caught_up(metrics) || metrics.current_leader != Some(node.id()),
            "joining voter caught up",
        )
        .await;
    match waited {
        Ok(metrics) if caught_up(&metrics) => Ok(()),
        Ok(metrics) => Err(WriteError::NotLeader {
            node: node.id(),
            leader: metrics.current_leader,
        }
        .into()),
        Err(openraft::metrics::WaitError::Timeout(..)) => Err(JoinRefused::NotCaughtUp {
            id,
            waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }),
        Err(openraft::metrics::WaitError::ShuttingDown) => {
            Err(WriteError::ShuttingDown { node: node.id() }.into())
        }
    }
}

/// A failed change as the joiner sees it; the reason is kept.
fn refusal(node: &ClusterNode, error: MembershipError) -> JoinRefused {
    match error {
        MembershipError::Write(error) => JoinRefused::Write(error),
        MembershipError::Queue(error) => JoinRefused::Queue(error),
        other => JoinRefused::Write(WriteError::Internal {
            node: node.id(),
            reason: other.to_string(),
        }),
    }
}
