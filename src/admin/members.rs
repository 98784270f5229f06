//! `POST /members` (add a learner), `POST /members/{id}/promote`,
//! `DELETE /members/{id}`: membership changes, forwarded to the leader.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::routing::{delete, post};
use axum::{Json, Router};
use raftmasq_api::{MemberAdd, MemberChanged};
use raftmasq_consensus::node::{MembershipChange, MembershipError, MembershipOutcome};
use raftmasq_consensus::{Member, NodeId};

use super::{Admin, Failure};

pub(super) fn routes() -> Router<Admin> {
    Router::new()
        .route("/members", post(add))
        .route("/members/{id}/promote", post(promote))
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
        | MembershipError::LastVoter { .. } => Failure::conflict(message),
        MembershipError::StillInProgress { .. } => Failure::unavailable(message),
        MembershipError::Write(write) => write.into(),
    }
}
