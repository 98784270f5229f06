//! `GET /settings` and `POST /settings`: the cluster-wide settings of a
//! running cluster (`dnsctl settings show|set|apply`).
//!
//! A change is checked here with the file's rules that need this host's view
//! (the range leaves out every member's bridge address and this host's
//! router, as `raftmasq check` would), then committed as one
//! `ChangeSettings`, which the state machine checks again in log order
//! against the leases (a shrink that would strand one is refused, naming
//! them) and the keys that cannot change live.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use raftmasq_api::{
    SettingDifference, SettingValue, SettingsChange, SettingsChanged, SettingsView,
};
use raftmasq_config::{CLUSTER_KEYS, Config, cluster_value, differences, with_cluster_value};
use raftmasq_consensus::state::{ClusterSettings, Command, fixed_key_reason};

use super::status::ReadOptions;
use super::{Admin, Failure};

/// What this node's own file says, for comparing and for checking a range.
#[derive(Debug, Clone)]
pub(crate) struct FileSettings {
    pub path: PathBuf,
    /// The file's cluster-wide values.
    pub settings: ClusterSettings,
    /// This host's `dhcp.router` (or `dhcp.routers`).
    pub routers: Vec<Ipv4Addr>,
}

impl FileSettings {
    pub(crate) fn from_config(path: PathBuf, config: &Config) -> Self {
        FileSettings {
            // Absolute, for the `dnsctl settings apply --from` hint.
            path: std::fs::canonicalize(&path).unwrap_or(path),
            settings: config.cluster_settings(),
            routers: config.dhcp.routers.clone(),
        }
    }

    /// The keys where this file differs from `cluster`, with both values.
    pub(crate) fn differences(&self, cluster: &ClusterSettings) -> Vec<SettingDifference> {
        differences(cluster, &self.settings)
            .into_iter()
            .map(|d| SettingDifference {
                key: d.key.to_string(),
                cluster: d.cluster,
                other: d.file,
            })
            .collect()
    }
}

pub(super) fn routes() -> Router<Admin> {
    Router::new().route("/settings", get(show).post(change))
}

async fn show(
    State(admin): State<Admin>,
    Query(options): Query<ReadOptions>,
) -> Result<Json<SettingsView>, Failure> {
    let cluster = admin
        .read(options.consistent, |replica| {
            replica.table.settings().cloned()
        })
        .await?;
    let file = &admin.file_settings;
    Ok(Json(SettingsView {
        node_id: admin.node.id(),
        cluster: cluster.as_ref().map(values).unwrap_or_default(),
        file: file.path.display().to_string(),
        file_differs: cluster
            .as_ref()
            .map(|c| file.differences(c))
            .unwrap_or_default(),
    }))
}

fn values(settings: &ClusterSettings) -> Vec<SettingValue> {
    CLUSTER_KEYS
        .iter()
        .map(|key| SettingValue {
            key: (*key).to_string(),
            value: cluster_value(settings, key).unwrap_or_default(),
            fixed: fixed_key_reason(key).map(str::to_string),
        })
        .collect()
}

async fn change(
    State(admin): State<Admin>,
    Json(request): Json<SettingsChange>,
) -> Result<Json<SettingsChanged>, Failure> {
    // Linearizable, so a change through a follower starts from the
    // cluster's latest settings; `based_on` refuses it if another change
    // applies before it.
    let Some(old) = admin
        .read(true, |replica| replica.table.settings().cloned())
        .await?
    else {
        return Err(Failure::unavailable(
            "the cluster has no settings yet: the first leader writes them once a quorum is up",
        ));
    };
    let mut new = old.clone();
    for (key, value) in &request.values {
        new = with_cluster_value(&new, key, value).map_err(Failure::bad_request)?;
    }
    let changed: Vec<SettingDifference> = differences(&old, &new)
        .into_iter()
        .map(|d| SettingDifference {
            key: d.key.to_string(),
            cluster: d.cluster,
            other: d.file,
        })
        .collect();
    if changed.is_empty() {
        return Ok(Json(SettingsChanged {
            changed,
            message: "nothing to change: the cluster has these values already".into(),
        }));
    }
    if new.ranges != old.ranges {
        check_range(&admin, &new)?;
    }
    admin
        .commit(Command::ChangeSettings {
            settings: new,
            now: admin.now(),
            based_on: Some(old),
        })
        .await?;
    let summary: Vec<String> = changed
        .iter()
        .map(|d| format!("{}: {} -> {}", d.key, d.cluster, d.other))
        .collect();
    tracing::info!(changed = ?summary, "cluster settings changed");
    Ok(Json(SettingsChanged {
        message: format!("changed {}", summary.join(", ")),
        changed,
    }))
}

/// The file's range rules that need this host's view: every member's bridge
/// address and this host's router stay out of the pool.
fn check_range(admin: &Admin, new: &ClusterSettings) -> Result<(), Failure> {
    let mut taken: Vec<(Ipv4Addr, String)> = admin
        .node
        .bridge_addresses()
        .addresses
        .into_iter()
        .map(|a| (a, "a member's bridge address".to_string()))
        .collect();
    taken.extend(
        admin
            .file_settings
            .routers
            .iter()
            .map(|&router| (router, format!("node {}'s dhcp.router", admin.node.id()))),
    );
    let problems = raftmasq_config::range_problems(&new.ranges, new.subnet, &taken);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::bad_request(format!(
            "dhcp.ranges: {}",
            problems.join("; ")
        )))
    }
}
