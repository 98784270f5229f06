//! The admin API on `node.admin_addr`: status, leases and writes for `dnsctl`
//! and operators. Reads come from the local replica unless `?consistent=true`.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use openraft::ServerState;
use raftmasq_consensus::state::{Command, Lease};
use raftmasq_consensus::{ClusterNode, ClusterToken, NodeId};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

#[derive(Clone)]
struct Admin {
    node: ClusterNode,
    token: ClusterToken,
    writes_need_token: bool,
}

pub async fn serve(
    node: ClusterNode,
    listener: TcpListener,
    token: ClusterToken,
    writes_need_token: bool,
) {
    let admin = Admin {
        node,
        token,
        writes_need_token,
    };
    let app = Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/leases", get(leases))
        .route("/api/v1/commands", post(command))
        .with_state(admin);
    if let Err(error) = axum::serve(listener, app).await {
        tracing::error!(%error, "admin listener stopped");
    }
}

#[derive(Debug, Serialize)]
struct Status {
    node_id: NodeId,
    role: &'static str,
    leader: Option<NodeId>,
    term: u64,
    last_log_index: Option<u64>,
    last_applied: Option<u64>,
    voters: Vec<NodeId>,
    learners: Vec<NodeId>,
    initialized: bool,
}

async fn status(State(admin): State<Admin>) -> Json<Status> {
    let metrics = admin.node.metrics();
    let membership = metrics.membership_config.membership();
    Json(Status {
        node_id: metrics.id,
        role: match metrics.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        },
        leader: metrics.current_leader,
        term: metrics.current_term,
        last_log_index: metrics.last_log_index,
        last_applied: metrics.last_applied.map(|log_id| log_id.index),
        voters: membership.voter_ids().collect(),
        learners: membership.learner_ids().collect(),
        initialized: admin.node.replica().read().table.is_initialized(),
    })
}

#[derive(Debug, Deserialize)]
struct ReadOptions {
    #[serde(default)]
    consistent: bool,
}

async fn leases(State(admin): State<Admin>, Query(options): Query<ReadOptions>) -> Response {
    let collect = |replica: &raftmasq_consensus::store::Replica| {
        replica.table.leases().cloned().collect::<Vec<Lease>>()
    };
    if options.consistent {
        match admin.node.consistent_read(collect).await {
            Ok(leases) => Json(leases).into_response(),
            Err(error) => (StatusCode::SERVICE_UNAVAILABLE, Json(error)).into_response(),
        }
    } else {
        Json(collect(&admin.node.replica().read())).into_response()
    }
}

async fn command(
    State(admin): State<Admin>,
    headers: HeaderMap,
    Json(command): Json<Command>,
) -> Response {
    if admin.writes_need_token && !presents_token(&headers, &admin.token) {
        return (
            StatusCode::UNAUTHORIZED,
            "writes over the network need the cluster token\n",
        )
            .into_response();
    }
    match admin.node.write(command).await {
        Ok(response) => Json(response).into_response(),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, Json(error)).into_response(),
    }
}

fn presents_token(headers: &HeaderMap, token: &ClusterToken) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|secret| token.matches(secret))
}
