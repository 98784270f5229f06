//! `GET /settings` and `POST /settings`: the cluster-wide settings of a
//! running cluster (`dnsctl settings show|set|apply`), per network:
//! `?network=NAME` and the change's `network` pick one (absent: `default`,
//! so older `dnsctl`s change what they always did); an unknown network is a
//! 404 naming the cluster's networks.
//!
//! A change is checked here with the file's rules that need this host's view
//! (`default`'s range leaves out every member's bridge address and this
//! host's router, as `raftmasq check` would; another network's leaves out
//! this host's address and routers on it), then committed as one
//! `ChangeSettings` (in `InNetwork` for a network beside `default`), which
//! the state machine checks again in log order against that network's
//! leases (a shrink that would strand one is refused, naming them) and the
//! keys that cannot change live.

use std::net::Ipv4Addr;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use raftmasq_api::{
    SettingDifference, SettingValue, SettingsChange, SettingsChanged, SettingsView,
};
use raftmasq_config::{CLUSTER_KEYS, cluster_value, differences, with_cluster_value};
use raftmasq_consensus::state::{ClusterSettings, Command, DEFAULT_NETWORK, fixed_key_reason};
use raftmasq_consensus::store::Replica;
use serde::Deserialize;

use super::{Admin, Failure};

pub(crate) use crate::file_settings::FileSettings;

pub(super) fn routes() -> Router<Admin> {
    Router::new().route("/settings", get(show).post(change))
}

/// `?consistent=` and `?network=` (absent: `default`).
#[derive(Debug, Default, Deserialize)]
struct SettingsQuery {
    #[serde(default)]
    consistent: bool,
    network: Option<String>,
}

async fn show(
    State(admin): State<Admin>,
    Query(query): Query<SettingsQuery>,
) -> Result<Json<SettingsView>, Failure> {
    let network = query.network.as_deref().unwrap_or(DEFAULT_NETWORK);
    let (cluster, networks) = admin
        .read(query.consistent, |replica| {
            (settings_of(replica, network), network_names(replica))
        })
        .await?;
    let cluster = cluster.map_err(|()| unknown_network(network, &networks))?;
    let file = &admin.file_settings;
    Ok(Json(SettingsView {
        node_id: admin.node.id(),
        cluster: cluster.as_ref().map(values).unwrap_or_default(),
        file: file.path.display().to_string(),
        file_differs: cluster
            .as_ref()
            .and_then(|c| file.differences_in(network, c))
            .unwrap_or_default(),
        network: network.to_string(),
        networks,
    }))
}

/// The settings of `network` in `replica` (`None`: not written yet);
/// `Err` when the cluster has no such network.
fn settings_of(replica: &Replica, network: &str) -> Result<Option<ClusterSettings>, ()> {
    replica
        .network(network)
        .map(|table| table.settings().cloned())
        .ok_or(())
}

/// Every network the cluster holds, `default` first.
fn network_names(replica: &Replica) -> Vec<String> {
    replica
        .networks
        .all(&replica.table)
        .map(|(name, _)| name.to_string())
        .collect()
}

fn unknown_network(network: &str, known: &[String]) -> Failure {
    Failure::not_found(format!(
        "the cluster has no network `{network}`; its networks are {}. A [[dhcp.networks]] entry joins the cluster when a node whose file has it starts",
        known.join(", ")
    ))
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
    let network = request.network.as_deref().unwrap_or(DEFAULT_NETWORK);
    // Linearizable, so a change through a follower starts from the
    // cluster's latest settings; `based_on` refuses it if another change
    // applies before it.
    let (old, networks) = admin
        .read(true, |replica| {
            (settings_of(replica, network), network_names(replica))
        })
        .await?;
    let Some(old) = old.map_err(|()| unknown_network(network, &networks))? else {
        return Err(Failure::unavailable(format!(
            "network {network} has no settings yet: the first leader writes them once a quorum is up"
        )));
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
            file_key: None,
        })
        .collect();
    if changed.is_empty() {
        return Ok(Json(SettingsChanged {
            changed,
            message: "nothing to change: the cluster has these values already".into(),
            network: network.to_string(),
        }));
    }
    if new.ranges != old.ranges {
        check_range(&admin, network, &new)?;
    }
    admin
        .commit(super::networks::for_network(
            network,
            Command::ChangeSettings {
                settings: new,
                now: admin.now(),
                based_on: Some(old),
            },
        ))
        .await?;
    let summary: Vec<String> = changed
        .iter()
        .map(|d| format!("{}: {} -> {}", d.key, d.cluster, d.other))
        .collect();
    tracing::info!(network, changed = ?summary, "cluster settings changed");
    let message = if network == DEFAULT_NETWORK {
        format!("changed {}", summary.join(", "))
    } else {
        format!("changed in network {network}: {}", summary.join(", "))
    };
    Ok(Json(SettingsChanged {
        message,
        changed,
        network: network.to_string(),
    }))
}

/// The file's range rules that need this host's view: `default`'s range
/// leaves out every member's bridge address and this host's router, another
/// network's this host's address and routers on it.
fn check_range(admin: &Admin, network: &str, new: &ClusterSettings) -> Result<(), Failure> {
    let (key, taken) = if network == DEFAULT_NETWORK {
        ("dhcp.ranges".to_string(), default_taken(admin))
    } else {
        let mut taken = admin.file_settings.taken_on(network, admin.node.id());
        let replica = admin.node.replica().read();
        taken.extend(
            replica
                .network_addresses
                .on(network)
                .filter(|&(node, _)| node != admin.node.id())
                .map(|(node, address)| {
                    (
                        address,
                        format!("node {node}'s address on network {network}"),
                    )
                }),
        );
        (network_range_key(&admin.file_settings, network), taken)
    };
    let problems = raftmasq_config::range_problems(&new.ranges, new.subnet, &taken);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failure::bad_request(format!(
            "{key}: {}",
            problems.join("; ")
        )))
    }
}

/// Every member's bridge address and this host's `dhcp.router`.
fn default_taken(admin: &Admin) -> Vec<(Ipv4Addr, String)> {
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
    taken
}

/// The key a network's range problems are named under.
fn network_range_key(file: &FileSettings, network: &str) -> String {
    match file.network(network) {
        Some(entry) => format!(
            "dhcp.ranges (network {network}, dhcp.networks[{}].range)",
            entry.index
        ),
        None => format!("dhcp.ranges (network {network})"),
    }
}
