//! What this host's file says each network's cluster-wide settings are, and
//! where they differ from the cluster's: for `GET /settings`, the drift
//! warnings (`settings_drift`) and `raftmasq check`.
//!
//! A network's settings come from its `[[dhcp.networks]]` entry (subnet,
//! ranges, domain, and lease time, hostname policy and quarantine where it
//! writes them) and from `[dhcp]` (the rest: `NetworkConfig::cluster_settings`). A
//! difference is named by the key `dnsctl settings set` takes and, for a
//! network's own keys, by where the file writes it (`dhcp.networks[1].range`)
//! so the operator finds the line.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use raftmasq_api::SettingDifference;
use raftmasq_config::{Config, differences};
use raftmasq_consensus::state::{ClusterSettings, DEFAULT_NETWORK};

/// What this node's own file says, for comparing and for checking a range.
#[derive(Debug, Clone)]
pub(crate) struct FileSettings {
    pub path: PathBuf,
    /// The file's cluster-wide values of `default` (`[dhcp]`).
    pub settings: ClusterSettings,
    /// This host's `dhcp.router` (or `dhcp.routers`).
    pub routers: Vec<Ipv4Addr>,
    /// The file's other networks, in file order.
    pub networks: Vec<FileNetwork>,
}

/// One `[[dhcp.networks]]` entry of this host's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileNetwork {
    pub name: String,
    /// Its place in the file: `dhcp.networks[index]`.
    pub index: usize,
    /// Its cluster-wide values (own subnet, range, domain; the rest `[dhcp]`'s).
    pub settings: ClusterSettings,
    /// This host's address on the network; `None` for a relay-only network,
    /// where `address` is this host's address toward the relays, not on it.
    pub address: Option<Ipv4Addr>,
    /// The routers the network's clients are given.
    pub routers: Vec<Ipv4Addr>,
    /// The cluster-wide keys the entry writes itself (`NetworkConfig::own_keys`).
    pub own_keys: Vec<&'static str>,
}

impl FileSettings {
    pub(crate) fn from_config(path: PathBuf, config: &Config) -> Self {
        let default = config.cluster_settings();
        let networks = config
            .dhcp
            .networks
            .iter()
            .enumerate()
            .map(|(index, network)| FileNetwork {
                name: network.name.clone(),
                index,
                settings: network.cluster_settings(&default),
                address: (!network.is_relay_only()).then_some(network.address),
                routers: network.routers.clone(),
                own_keys: network.own_keys(),
            })
            .collect();
        FileSettings {
            // Absolute, for the `dnsctl settings apply --from` hint.
            path: std::fs::canonicalize(&path).unwrap_or(path),
            settings: default,
            routers: config.dhcp.routers.clone(),
            networks,
        }
    }

    /// The file's entry for `network` (not `default`).
    pub(crate) fn network(&self, network: &str) -> Option<&FileNetwork> {
        self.networks.iter().find(|n| n.name == network)
    }

    /// The addresses of `network` a range must leave out, as far as this
    /// host knows them: its own address on the network and the routers its
    /// file gives, each with what it is. (Other members' addresses on a
    /// network beside `default` are not replicated; each member's own check,
    /// and `raftmasq check`, covers its own.)
    pub(crate) fn taken_on(&self, network: &str, node: u64) -> Vec<(Ipv4Addr, String)> {
        let Some(entry) = self.network(network) else {
            return Vec::new();
        };
        let mut taken: Vec<(Ipv4Addr, String)> = entry
            .address
            .map(|a| (a, format!("node {node}'s address on network {network}")))
            .into_iter()
            .collect();
        taken.extend(entry.routers.iter().enumerate().map(|(i, router)| {
            (
                *router,
                format!("node {node}'s dhcp.networks[{}].routers[{i}]", entry.index),
            )
        }));
        taken
    }

    /// The keys where this file's `default` differs from `cluster`, with
    /// both values.
    pub(crate) fn differences(&self, cluster: &ClusterSettings) -> Vec<SettingDifference> {
        self.differences_in(DEFAULT_NETWORK, cluster)
            .unwrap_or_default()
    }

    /// The keys where this file's values for `network` differ from
    /// `cluster`; `None` when the file does not have the network.
    pub(crate) fn differences_in(
        &self,
        network: &str,
        cluster: &ClusterSettings,
    ) -> Option<Vec<SettingDifference>> {
        let (file, entry) = if network == DEFAULT_NETWORK {
            (&self.settings, None)
        } else {
            let entry = self.network(network)?;
            (&entry.settings, Some(entry))
        };
        Some(
            differences(cluster, file)
                .into_iter()
                .map(|d| SettingDifference {
                    key: d.key.to_string(),
                    cluster: d.cluster,
                    other: d.file,
                    file_key: entry.and_then(|entry| {
                        entry
                            .own_keys
                            .contains(&d.key)
                            .then(|| network_file_key(entry.index, d.key))
                            .flatten()
                    }),
                })
                .collect(),
        )
    }

    /// Every network the file and the cluster both have whose values differ,
    /// in the cluster's order (`default` first); a network only one side has
    /// is left out: the file's is initialised by the leader, the cluster's is
    /// another host's.
    pub(crate) fn drift<'a>(
        &self,
        cluster: impl IntoIterator<Item = (&'a str, &'a ClusterSettings)>,
    ) -> Vec<NetworkDrift> {
        cluster
            .into_iter()
            .filter_map(|(network, settings)| {
                let differences = self.differences_in(network, settings)?;
                (!differences.is_empty()).then(|| NetworkDrift {
                    network: network.to_string(),
                    differences,
                })
            })
            .collect()
    }
}

/// Where one network's file values differ from the cluster's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetworkDrift {
    pub network: String,
    pub differences: Vec<SettingDifference>,
}

/// The key as the file writes it for the network at `dhcp.networks[index]`
/// when an entry may write it (subnet, ranges, domain, lease time,
/// quarantine, hostname policy); `None` for the keys every network takes
/// from `[dhcp]` (client identity), which the file writes as `key`.
pub(crate) fn network_file_key(index: usize, key: &str) -> Option<String> {
    let field = match key {
        "dns.domain" => "domain",
        other => other.strip_prefix("dhcp.").filter(|field| {
            matches!(
                *field,
                "subnet"
                    | "range"
                    | "ranges"
                    | "lease_time"
                    | "decline_quarantine"
                    | "duplicate_hostnames"
            )
        })?,
    };
    Some(format!("dhcp.networks[{index}].{field}"))
}

/// How a difference is named to the operator: the key `dnsctl settings set`
/// takes, and where the file writes it when that is elsewhere.
pub(crate) fn described_key(network: &str, difference: &SettingDifference) -> String {
    match (&difference.file_key, network == DEFAULT_NETWORK) {
        (_, true) => difference.key.clone(),
        (Some(file_key), false) => format!("{file_key} (network {network})"),
        (None, false) => format!(
            "{} (network {network}, from [dhcp], which its [[dhcp.networks]] entry inherits)",
            difference.key
        ),
    }
}

/// The `dnsctl` command that makes `file`'s values for `network` the
/// cluster's.
pub(crate) fn apply_command(network: &str, file: &std::path::Path) -> String {
    if network == DEFAULT_NETWORK {
        format!("dnsctl settings apply --from {}", file.display())
    } else {
        format!(
            "dnsctl settings apply --network {network} --from {}",
            file.display()
        )
    }
}

#[cfg(test)]
mod tests;
