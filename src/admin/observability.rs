//! `/metrics` (Prometheus text format), `/healthz` and `/readyz`.
//!
//! Counters (DHCP and DNS messages by outcome, dropped packets, latency
//! histograms) are recorded where they happen, through the `metrics` facade.
//! Gauges that describe state (Raft term and indexes, follower lag, pool use)
//! are read at scrape time, so they are never stale.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics::gauge;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use openraft::ServerState;
use serde_json::json;

use super::Admin;

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder; later calls are no-ops.
pub fn install_recorder() {
    if RECORDER.get().is_some() {
        return;
    }
    match PrometheusBuilder::new()
        .set_buckets(&[
            0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
        ])
        .and_then(|builder| builder.install_recorder())
    {
        Ok(handle) => {
            let _ = RECORDER.set(handle);
        }
        Err(error) => {
            tracing::warn!(%error, "metrics recorder not installed: /metrics will be empty")
        }
    }
}

/// The counters and histograms in text format, when the recorder is installed.
pub(crate) fn render_counters() -> Option<String> {
    RECORDER.get().map(PrometheusHandle::render)
}

pub(super) fn routes() -> Router<Admin> {
    Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn render(State(admin): State<Admin>) -> Response {
    record_state(&admin);
    let body = RECORDER
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

fn record_state(admin: &Admin) {
    let node = &admin.node;
    let metrics = node.metrics();
    gauge!("raft_term").set(metrics.current_term as f64);
    gauge!("raft_is_leader").set(f64::from(u8::from(metrics.state == ServerState::Leader)));
    gauge!("raft_leader_id").set(metrics.current_leader.map_or(0.0, |id| id as f64));
    gauge!("raft_last_log_index").set(metrics.last_log_index.unwrap_or(0) as f64);
    gauge!("raft_applied_index").set(metrics.last_applied.map_or(0.0, |id| id.index as f64));
    gauge!("raft_has_quorum").set(f64::from(u8::from(node.quorum_status().has_quorum)));
    if let (Some(replication), Some(last)) = (&metrics.replication, metrics.last_log_index) {
        for (follower, matched) in replication.iter() {
            if *follower == metrics.id {
                continue;
            }
            let lag = last.saturating_sub(matched.as_ref().map_or(0, |m| m.index));
            gauge!("raft_follower_lag_entries", "follower" => follower.to_string()).set(lag as f64);
        }
    }
    let clock = node.clock().out_of_bound();
    gauge!("clock_correction_ms").set(node.clock().correction_ms() as f64);
    gauge!("clock_out_of_bound_peers").set(clock.peers.len() as f64);
    gauge!("clock_this_host_out_of_bound").set(f64::from(u8::from(clock.this_host)));
    let stats = node.replica().read().table.pool_stats();
    gauge!("dhcp_pool_size").set(stats.size as f64);
    gauge!("dhcp_leases", "state" => "bound").set(stats.bound as f64);
    gauge!("dhcp_leases", "state" => "offered").set(stats.offered as f64);
    gauge!("dhcp_addresses", "state" => "free").set(stats.free as f64);
    gauge!("dhcp_addresses", "state" => "reserved").set(stats.reserved as f64);
    gauge!("dhcp_addresses", "state" => "quarantined").set(stats.quarantined as f64);
    let utilisation = if stats.size == 0 {
        0.0
    } else {
        1.0 - stats.free as f64 / stats.size as f64
    };
    gauge!("dhcp_pool_utilisation").set(utilisation);
}

/// Alive: the Raft core runs.
async fn healthz(State(admin): State<Admin>) -> Response {
    match admin.node.metrics().running_state {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(fatal) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("raft stopped: {fatal}\n"),
        )
            .into_response(),
    }
}

/// Ready: serving, in a cluster with a leader, cluster settings replicated,
/// and (when it serves DHCP) every host's DNS server address known.
async fn readyz(State(admin): State<Admin>) -> Response {
    let node = &admin.node;
    let metrics = node.metrics();
    let quorum = node.quorum_status();
    let initialized = node.replica().read().table.is_initialized();
    let dns_servers = admin.dns_servers.list(node);
    let dns_servers_complete = admin.dns_servers.lets_ready(&dns_servers);
    let ready =
        metrics.running_state.is_ok() && quorum.has_quorum && initialized && dns_servers_complete;
    let missing: Vec<u64> = dns_servers
        .bridges
        .missing
        .iter()
        .map(|(id, _)| *id)
        .collect();
    let body = Json(json!({
        "ready": ready,
        "leader": metrics.current_leader,
        "has_quorum": quorum.has_quorum,
        "initialized": initialized,
        "dns_servers_complete": dns_servers_complete,
        "dns_servers_missing": missing,
    }));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body).into_response()
}
