//! `GET /conflicts`: hostname conflicts the cluster policy resolved.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use raftmasq_api::ConflictView;

use super::status::ReadOptions;
use super::{Admin, Failure};

pub(super) fn routes() -> Router<Admin> {
    Router::new().route("/conflicts", get(list))
}

async fn list(
    State(admin): State<Admin>,
    Query(options): Query<ReadOptions>,
) -> Result<Json<Vec<ConflictView>>, Failure> {
    let conflicts = admin
        .read(options.consistent, |replica| {
            replica.table.conflicts().map(ConflictView::from).collect()
        })
        .await?;
    Ok(Json(conflicts))
}
