//! `/metrics` (Prometheus text format), `/healthz` and `/readyz`.
//!
//! Counters (DHCP and DNS messages by outcome, dropped packets, latency
//! histograms) are recorded where they happen, through the `metrics` facade.
//! Gauges that describe state (Raft term and indexes, follower lag, pool use)
//! are read at scrape time, so they are never stale. Every name, with its
//! help text, is in `raftmasq_api::metrics`, and is described to the recorder
//! when it is installed; docs/metrics.md lists them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    gauge,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use openraft::ServerState;
use raftmasq_api::metrics::{self as names, CATALOGUE, Kind};
use serde_json::json;

use super::Admin;

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder; later calls are no-ops.
pub fn install_recorder() {
    if RECORDER.get().is_some() {
        return;
    }
    let builder = match PrometheusBuilder::new().set_buckets(&[
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
    ]) {
        Ok(builder) => builder,
        Err(error) => {
            tracing::warn!(%error, "metrics recorder not installed: /metrics will be empty");
            return;
        }
    };
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    match metrics::set_global_recorder(Tallying { inner: recorder }) {
        Ok(()) => {
            let _ = RECORDER.set(handle);
            describe_all();
            raftmasq_dhcpd::server::register_metrics();
            raftmasq_dnsd::register_metrics();
            raftmasq_ra::register_metrics();
            raftmasq_dhcp6::register_metrics();
            crate::dhcp6_stateful::register_metrics();
        }
        Err(error) => {
            tracing::warn!(%error, "metrics recorder not installed: /metrics will be empty")
        }
    }
}

/// Gives every family of the catalogue its `# HELP` text (and unit) in the
/// installed recorder. The exporter appends no unit to a name (its unit
/// suffix is off): the catalogue's names carry their units already.
fn describe_all() {
    for metric in CATALOGUE {
        let (name, help) = (metric.name, metric.help);
        match (metric.kind, unit_of(metric.unit)) {
            (Kind::Counter, Some(unit)) => metrics::describe_counter!(name, unit, help),
            (Kind::Counter, None) => metrics::describe_counter!(name, help),
            (Kind::Gauge, Some(unit)) => metrics::describe_gauge!(name, unit, help),
            (Kind::Gauge, None) => metrics::describe_gauge!(name, help),
            (Kind::Histogram, Some(unit)) => metrics::describe_histogram!(name, unit, help),
            (Kind::Histogram, None) => metrics::describe_histogram!(name, help),
        }
    }
}

/// The facade's unit; none for a ratio or a 0/1 flag, which it has no word for.
fn unit_of(unit: names::Unit) -> Option<Unit> {
    match unit {
        names::Unit::Seconds => Some(Unit::Seconds),
        names::Unit::Count => Some(Unit::Count),
        names::Unit::Ratio | names::Unit::Boolean => None,
    }
}

/// The running totals the dashboard's rates are computed from: each summed
/// over every label set of its counter, counted as the counter is, so the
/// dashboard reads three numbers instead of rendering every metric to text
/// and parsing it back.
pub(crate) fn totals() -> Totals {
    Totals {
        dhcp_received: DHCP_RECEIVED.load(Ordering::Relaxed),
        dhcp_replies: DHCP_REPLIES.load(Ordering::Relaxed),
        dns_queries: DNS_QUERIES.load(Ordering::Relaxed),
    }
}

/// See [`totals`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub dhcp_received: u64,
    pub dhcp_replies: u64,
    pub dns_queries: u64,
}

static DHCP_RECEIVED: AtomicU64 = AtomicU64::new(0);
static DHCP_REPLIES: AtomicU64 = AtomicU64::new(0);
static DNS_QUERIES: AtomicU64 = AtomicU64::new(0);

/// The running total a counter also adds to, if the dashboard reads it.
fn total_of(name: &str) -> Option<&'static AtomicU64> {
    match name {
        names::DHCP_RECEIVED => Some(&DHCP_RECEIVED),
        names::DHCP_REPLIES => Some(&DHCP_REPLIES),
        names::DNS_QUERIES => Some(&DNS_QUERIES),
        _ => None,
    }
}

/// The Prometheus recorder, with the counters the dashboard reads also
/// added to their running totals.
struct Tallying<R> {
    inner: R,
}

impl<R: Recorder> Recorder for Tallying<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        let counter = self.inner.register_counter(key, metadata);
        match total_of(key.name()) {
            Some(total) => Counter::from_arc(Arc::new(Tally { counter, total })),
            None => counter,
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.inner.register_histogram(key, metadata)
    }
}

/// One series of a tallied counter.
struct Tally {
    counter: Counter,
    total: &'static AtomicU64,
}

impl CounterFn for Tally {
    fn increment(&self, value: u64) {
        self.counter.increment(value);
        self.total.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        // Only for counters mirrored from elsewhere; raftmasq only increments
        // these, so the running total has nothing to add.
        self.counter.absolute(value);
    }
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
    gauge!(names::RAFT_TERM).set(metrics.current_term as f64);
    gauge!(names::RAFT_IS_LEADER).set(f64::from(u8::from(metrics.state == ServerState::Leader)));
    gauge!(names::RAFT_LEADER_ID).set(metrics.current_leader.map_or(0.0, |id| id as f64));
    gauge!(names::RAFT_LAST_LOG_INDEX).set(metrics.last_log_index.unwrap_or(0) as f64);
    gauge!(names::RAFT_APPLIED_INDEX).set(metrics.last_applied.map_or(0.0, |id| id.index as f64));
    gauge!(names::RAFT_HAS_QUORUM).set(f64::from(u8::from(node.quorum_status().has_quorum)));
    if let (Some(replication), Some(last)) = (&metrics.replication, metrics.last_log_index) {
        for (follower, matched) in replication.iter() {
            if *follower == metrics.id {
                continue;
            }
            let lag = last.saturating_sub(matched.as_ref().map_or(0, |m| m.index));
            gauge!(names::RAFT_FOLLOWER_LAG, "follower" => follower.to_string()).set(lag as f64);
        }
    }
    let clock = node.clock().out_of_bound();
    gauge!(names::CLOCK_CORRECTION).set(node.clock().correction_ms() as f64 / 1000.0);
    gauge!(names::CLOCK_OUT_OF_BOUND_PEERS).set(clock.peers.len() as f64);
    gauge!(names::CLOCK_THIS_HOST_OUT_OF_BOUND).set(f64::from(u8::from(clock.this_host)));
    // One series per network the replica holds: the configured ones, a
    // bounded set (`default` from the start, the others once initialised).
    let (pools, v6_leases) = {
        let replica = node.replica().read();
        let pools: Vec<(String, raftmasq_consensus::state::PoolStats)> = replica
            .networks
            .all(&replica.table)
            .map(|(network, table)| (network.to_string(), table.pool_stats()))
            .collect();
        (pools, replica.v6.len())
    };
    gauge!(names::DHCP6_LEASES).set(v6_leases as f64);
    for (network, stats) in pools {
        record_pool(network, &stats);
    }
}

fn record_pool(network: String, stats: &raftmasq_consensus::state::PoolStats) {
    let label = |state: &'static str| [("network", network.clone()), ("state", state.to_string())];
    gauge!(names::DHCP_POOL_SIZE, "network" => network.clone()).set(stats.size as f64);
    gauge!(names::DHCP_LEASES, &label("bound")).set(stats.bound as f64);
    gauge!(names::DHCP_LEASES, &label("offered")).set(stats.offered as f64);
    gauge!(names::DHCP_ADDRESSES, &label("free")).set(stats.free as f64);
    gauge!(names::DHCP_ADDRESSES, &label("reserved")).set(stats.reserved as f64);
    gauge!(names::DHCP_ADDRESSES, &label("quarantined")).set(stats.quarantined as f64);
    let utilisation = if stats.size == 0 {
        0.0
    } else {
        1.0 - stats.free as f64 / stats.size as f64
    };
    gauge!(names::DHCP_POOL_UTILISATION, "network" => network).set(utilisation);
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

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use raftmasq_api::metrics as names;

    use super::{Tallying, totals};

    #[test]
    fn the_dashboards_counters_add_to_their_totals_and_still_render() {
        let inner = PrometheusBuilder::new().build_recorder();
        let handle = inner.handle();
        let recorder = Tallying { inner };
        let before = totals();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!(names::DHCP_RECEIVED, "type" => "discover").increment(2);
            metrics::counter!(names::DHCP_RECEIVED, "type" => "request").increment(3);
            metrics::counter!(names::DHCP_REPLIES, "type" => "ack").increment(1);
            metrics::counter!(names::DNS_QUERIES, "qtype" => "A", "rcode" => "NOERROR")
                .increment(7);
            // Not the dashboard's: counted and rendered, but in no total.
            metrics::counter!(names::DNS_DROPPED).increment(100);
            metrics::counter!("raftmasq_dhcp_received_totally_different").increment(1000);
        });
        let after = totals();
        assert_eq!(after.dhcp_received - before.dhcp_received, 5);
        assert_eq!(after.dhcp_replies - before.dhcp_replies, 1);
        assert_eq!(after.dns_queries - before.dns_queries, 7);
        // /metrics is unchanged: every series still renders with its labels.
        let text = handle.render();
        for line in [
            "raftmasq_dhcp_received_total{type=\"discover\"} 2",
            "raftmasq_dhcp_received_total{type=\"request\"} 3",
            "raftmasq_dns_queries_total{qtype=\"A\",rcode=\"NOERROR\"} 7",
            "raftmasq_dns_dropped_total 100",
            "raftmasq_dhcp_received_totally_different 1000",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
