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

use super::{PeerIdentity, Refused, check_claim, paths};
use crate::types::{NodeId, Raft, TypeConfig, Vote};

/// The node a vote speaks for: the leader it names, or the candidate.
fn voter(vote: &Vote) -> Option<NodeId> {
    vote.leader_id().voted_for()
}

/// Routes for the Raft RPCs; the caller adds authentication.
pub fn raft_routes(raft: Raft) -> Router {
    Router::new()
        .route(paths::APPEND, post(append))
        .route(paths::VOTE, post(vote))
        .route(paths::SNAPSHOT, post(snapshot))
        .with_state(raft)
}

type Answer<T, E = RaftError<NodeId>> = Result<Json<Result<T, E>>, Refused>;

async fn append(
    State(raft): State<Raft>,
    ConnectInfo(peer): ConnectInfo<PeerIdentity>,
    Json(request): Json<AppendEntriesRequest<TypeConfig>>,
) -> Answer<AppendEntriesResponse<NodeId>> {
    check_claim(&peer, voter(&request.vote), "append entries")?;
    Ok(Json(raft.append_entries(request).await))
}

async fn vote(
    State(raft): State<Raft>,
    ConnectInfo(peer): ConnectInfo<PeerIdentity>,
    Json(request): Json<VoteRequest<NodeId>>,
) -> Answer<VoteResponse<NodeId>> {
    check_claim(&peer, voter(&request.vote), "request a vote")?;
    Ok(Json(raft.vote(request).await))
}

async fn snapshot(
    State(raft): State<Raft>,
    ConnectInfo(peer): ConnectInfo<PeerIdentity>,
    Json(request): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Answer<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
    check_claim(&peer, voter(&request.vote), "install a snapshot")?;
    Ok(Json(raft.install_snapshot(request).await))
}
