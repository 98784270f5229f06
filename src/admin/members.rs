//! `GET /members` (who is a voter, who a learner), `POST /members` (add a
//! learner), `POST /members/{id}/promote`, `POST /members/{id}/demote`,
//! `DELETE /members/{id}`: membership changes, forwarded to the leader.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::routing::{delete, post};
use axum::{Json, Router};
use raftmasq_api::{MemberAdd, MemberChanged, MemberRoleView, MembersView};
use raftmasq_consensus::node::{
    MembershipChange, MembershipError, MembershipOutcome, RECOMMENDED_MIN_VOTERS,
};
use raftmasq_consensus::{Member, MemberRole, NodeId};

use super::{Admin, Failure};

pub(super) fn routes() -> Router<Admin> {
    Router::new()
        .route("/members", post(add).get(list))
        .route("/members/{id}/promote", post(promote))
        .route("/members/{id}/demote", post(demote))
        .route("/members/{id}", delete(remove))
}

async fn add(
    State(admin): State<Admin>,
    Json(request): Json<MemberAdd>,
) -> Result<Json<MemberChanged>, Failure> {
    for (key, addr) in [
        ("cluster address", Some(&request.cluster_addr)),
        ("admin address", request.admin_addr.as_ref()),
    ] {
        if let Some(addr) = addr
            && addr.parse::<SocketAddr>().is_err()
        {
            return Err(Failure::bad_request(format!(
                "{key} {addr:?} is not IP:PORT (e.g. 10.99.0.4:7380)"
            )));
        }
    }
    let member = Member {
        cluster_addr: request.cluster_addr,
        admin_addr: request.admin_addr,
        bridge_address: None,
    };
    change(
        &admin,
        MembershipChange::AddLearner {
            id: request.id,
            member,
        },
    )
    .await
}

/// This node's view of the membership: no round trip, so it answers while
/// the cluster has no quorum.
async fn list(State(admin): State<Admin>) -> Json<MembersView> {
    let node = &admin.node;
    let metrics = node.metrics();
    let membership = metrics.membership_config.membership();
    let leader = node.known_leader();
    let members = membership
        .nodes()
        .map(|(id, member)| {
            let role = if membership.voter_ids().any(|voter| voter == *id) {
                MemberRole::Voter
            } else {
                MemberRole::Learner
            };
            MemberRoleView {
                id: *id,
                role: role.as_str().to_string(),
                leader: leader == Some(*id),
                cluster_addr: member.cluster_addr.clone(),
                admin_addr: member.admin_addr.clone(),
                bridge_address: member.bridge_address,
            }
        })
        .collect();
    Json(MembersView {
        node_id: node.id(),
        leader,
        members,
    })
}

async fn demote(
    State(admin): State<Admin>,
    Path(id): Path<NodeId>,
) -> Result<Json<MemberChanged>, Failure> {
    change(&admin, MembershipChange::Demote { id }).await
}

async fn promote(
    State(admin): State<Admin>,
    Path(id): Path<NodeId>,
) -> Result<Json<MemberChanged>, Failure> {
    change(&admin, MembershipChange::Promote { id }).await
}

async fn remove(
    State(admin): State<Admin>,
    Path(id): Path<NodeId>,
) -> Result<Json<MemberChanged>, Failure> {
    change(&admin, MembershipChange::Remove { id }).await
}

async fn change(admin: &Admin, change: MembershipChange) -> Result<Json<MemberChanged>, Failure> {
    let outcome = admin
        .node
        .change_membership(change)
        .await
        .map_err(failure)?;
    let (name, id, message) = match outcome {
        MembershipOutcome::LearnerAdded { id } => (
            "learner_added",
            id,
            format!(
                "node {id} added as a learner: it catches up once raftmasq runs there; then `dnsctl members promote {id}` (a node whose peers list this cluster promotes itself when it starts)"
            ),
        ),
        MembershipOutcome::Promoted { id } => ("promoted", id, format!("node {id} is now a voter")),
        MembershipOutcome::AlreadyVoter { id } => {
            ("already_voter", id, format!("node {id} is already a voter"))
        }
        MembershipOutcome::Demoted {
            id,
            was_leader,
            voters_left,
        } => (
            "demoted",
            id,
            format!(
                "node {id} is now a learner: it replicates and answers DNS, and no longer votes{}; the cluster has {voters_left} voter{}{}",
                if was_leader {
                    " (it was the leader: it stepped down and the voters elect a new one)"
                } else {
                    ""
                },
                if voters_left == 1 { "" } else { "s" },
                if voters_left < RECOMMENDED_MIN_VOTERS {
                    format!(
                        ". WARNING: fewer than {RECOMMENDED_MIN_VOTERS} voters survive no voter failure; promote a learner (dnsctl members promote ID) to get back to 3 or 5"
                    )
                } else {
                    String::new()
                }
            ),
        ),
        MembershipOutcome::AlreadyLearner { id } => (
            "already_learner",
            id,
            format!("node {id} is already a learner"),
        ),
        MembershipOutcome::Removed { id, was_leader } => (
            "removed",
            id,
            format!(
                "node {id} removed from the cluster{}; stop raftmasq there and wipe its data_dir before it joins again",
                if was_leader {
                    " (it was the leader: it stepped down and the remaining voters elect a new one)"
                } else {
                    ""
                }
            ),
        ),
    };
    Ok(Json(MemberChanged {
        outcome: name.to_string(),
        id,
        message,
    }))
}

fn failure(error: MembershipError) -> Failure {
    let message = error.to_string();
    match error {
        MembershipError::UnknownMember { .. } => {
            Failure::not_found(format!("{message}: `dnsctl status` lists the members"))
        }
        MembershipError::AddressConflict { .. }
        | MembershipError::NotALearner { .. }
        | MembershipError::NotCaughtUp { .. }
        | MembershipError::LastVoter { .. }
        | MembershipError::DemoteLastVoter { .. }
        | MembershipError::WouldLoseQuorum { .. } => Failure::conflict(message),
        // Busy, not wrong: the same command succeeds once the leader's
        // queue of membership changes has moved on.
        MembershipError::StillInProgress { .. } | MembershipError::Queue(_) => {
            Failure::unavailable(message)
        }
        MembershipError::Write(write) => write.into(),
    }
}
