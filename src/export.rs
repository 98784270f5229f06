//! `raftmasq export`: the node's replicated state as a stable JSON document.

use anyhow::Context;
use raftmasq_config::Config;
use raftmasq_consensus::state::{ClusterSettings, Lease, Reservation, StaticRecord};
use serde::Serialize;

/// Version 1 of the export format; documented in docs/operations.md.
#[derive(Debug, Serialize)]
struct Export {
    format: &'static str,
    node_id: u64,
    /// Index of the last log entry this node held.
    last_index: u64,
    /// When the export was made (Unix ms); lease times are absolute.
    exported_at_ms: u64,
    settings: Option<ClusterSettings>,
    leases: Vec<Lease>,
    reservations: Vec<Reservation>,
    records: Vec<StaticRecord>,
}

pub async fn export(config: &Config) -> anyhow::Result<String> {
    let replica = raftmasq_consensus::store::read_replica(&config.node.data_dir)
        .await
        .with_context(|| {
            format!(
                "cannot read the store in {} (stop raftmasq on this host first)",
                config.node.data_dir.display()
            )
        })?;
    let table = &replica.table;
    let export = Export {
        format: "raftmasq-state-v1",
        node_id: config.node.id,
        last_index: replica.last_applied.map_or(0, |log_id| log_id.index),
        // No node runs during an export: this host's own clock.
        exported_at_ms: raftmasq_consensus::clock::system_millis(),
        settings: table.settings().cloned(),
        leases: table.leases().cloned().collect(),
        reservations: table.reservations().cloned().collect(),
        records: table.records().cloned().collect(),
    };
    serde_json::to_string_pretty(&export).context("cannot encode the export")
}
