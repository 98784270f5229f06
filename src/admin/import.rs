//! `POST /import/dnsmasq`: plan (dry run) or apply an import of dnsmasq's
//! leases and reservations. The plan is computed on a consistent view of the
//! table; applying commits each planned command in order, and a command the
//! cluster refuses at commit time (someone else got there first) is reported,
//! never forced.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use raftmasq_api::import::{ImportReport, ImportRequest, plan_with_v6};
use raftmasq_consensus::state::Response as Answer;

use super::{Admin, Failure};

pub(super) fn routes() -> Router<Admin> {
    Router::new().route("/import/dnsmasq", post(import))
}

async fn import(
    State(admin): State<Admin>,
    Json(request): Json<ImportRequest>,
) -> Result<Json<ImportReport>, Failure> {
    let now = admin.now();
    let planned = admin
        .read(true, |replica| {
            plan_with_v6(&replica.table, &replica.v6, &request, now)
        })
        .await?;
    let mut items = Vec::with_capacity(planned.len());
    let mut stopped: Option<String> = None;
    for (mut item, command) in planned {
        if let (false, Some(command)) = (request.dry_run, command) {
            if let Some(reason) = &stopped {
                item.action = "rejected".into();
                item.reason = Some(reason.clone());
            } else {
                match admin.node.write(command).await {
                    Ok(Answer::Rejected { reason }) => {
                        item.action = "rejected".into();
                        item.reason = Some(reason.to_string());
                    }
                    Ok(Answer::Lease { lease }) => {
                        item.action = "applied".into();
                        item.expires_at = Some(lease.expires_at);
                    }
                    Ok(Answer::LeaseV6 { lease }) => {
                        item.action = "applied".into();
                        item.expires_at = Some(lease.expires_at);
                    }
                    Ok(_) => item.action = "applied".into(),
                    Err(error) => {
                        // Without a leader nothing later commits either.
                        let reason = format!("not committed: {error}");
                        tracing::warn!(%error, "dnsmasq import stopped");
                        item.action = "rejected".into();
                        item.reason = Some(reason.clone());
                        stopped = Some(reason);
                    }
                }
            }
        }
        items.push(item);
    }
    Ok(Json(ImportReport {
        dry_run: request.dry_run,
        items,
    }))
}
