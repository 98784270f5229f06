//! Incoming Raft RPCs, handed straight to openraft.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::paths;
use crate::types::{NodeId, Raft, TypeConfig};

/// Routes for the Raft RPCs; the caller adds authentication.
pub fn raft_routes(raft: Raft) -> Router {
    Router::new()
        .route(paths::APPEND, post(append))
        .route(paths::VOTE, post(vote))
        .route(paths::SNAPSHOT, post(snapshot))
        .with_state(raft)
}

async fn append(
    State(raft): State<Raft>,
    Json(request): Json<AppendEntriesRequest<TypeConfig>>,
) -> Json<Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>> {
    Json(raft.append_entries(request).await)
}

async fn vote(
    State(raft): State<Raft>,
    Json(request): Json<VoteRequest<NodeId>>,
) -> Json<Result<VoteResponse<NodeId>, RaftError<NodeId>>> {
    Json(raft.vote(request).await)
}

async fn snapshot(
    State(raft): State<Raft>,
    Json(request): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Json<Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>> {
    Json(raft.install_snapshot(request).await)
}
