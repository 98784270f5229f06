//! Incoming Raft RPCs, handed to openraft once the sender is known to be the
//! node the RPC speaks for (see `auth::check_claim`).

use axum::extract::{ConnectInfo, State};
use axum::routing::post;
use axum::{Json, Router};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::{LeaderContact, PeerIdentity, Refused, check_claim, paths};
use crate::types::{NodeId, Raft, TypeConfig, Vote};

/// The node a vote speaks for: the leader it names, or the candidate.
fn voter(vote: &Vote) -> Option<NodeId> {
    vote.leader_id().voted_for()
}

/// Routes for the Raft RPCs; the caller adds authentication. `contact`
/// learns of every leader request this node accepts.
pub fn raft_routes(raft: Raft, contact: LeaderContact) -> Router {
    Router::new()
        .route(paths::APPEND, post(append))
        .route(paths::VOTE, post(vote))
        .route(paths::SNAPSHOT, post(snapshot))
        .with_state(Rpc { raft, contact })
}

#[derive(Clone)]
struct Rpc {
    raft: Raft,
    contact: LeaderContact,
}

type Answer<T, E = RaftError<NodeId>> = Result<Json<Result<T, E>>, Refused>;

async fn append(
    State(rpc): State<Rpc>,
    ConnectInfo(peer): ConnectInfo<PeerIdentity>,
    Json(request): Json<AppendEntriesRequest<TypeConfig>>,
) -> Answer<AppendEntriesResponse<NodeId>> {
    check_claim(&peer, voter(&request.vote), "append entries")?;
    let answer = rpc.raft.append_entries(request).await;
    // Any answer but HigherVote means this node accepted the sender as its
    // leader (a conflict only asks for earlier entries).
    if matches!(&answer, Ok(response) if !matches!(response, AppendEntriesResponse::HigherVote(_)))
    {
        rpc.contact.heard();
    }
    Ok(Json(answer))
}

async fn vote(
    State(Rpc { raft, .. }): State<Rpc>,
    ConnectInfo(peer): ConnectInfo<PeerIdentity>,
    Json(request): Json<VoteRequest<NodeId>>,
) -> Answer<VoteResponse<NodeId>> {
    check_claim(&peer, voter(&request.vote), "request a vote")?;
    Ok(Json(raft.vote(request).await))
}

async fn snapshot(
    State(rpc): State<Rpc>,
    ConnectInfo(peer): ConnectInfo<PeerIdentity>,
    Json(request): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Answer<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
    check_claim(&peer, voter(&request.vote), "install a snapshot")?;
    let sender = request.vote;
    let answer = rpc.raft.install_snapshot(request).await;
    if matches!(&answer, Ok(response) if response.vote == sender) {
        rpc.contact.heard();
    }
    Ok(Json(answer))
}
