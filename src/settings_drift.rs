//! A node whose file's cluster-wide keys differ from the cluster's follows
//! the cluster, and says so, for every network the file and the cluster
//! both have: once the replica has the settings, and again each time the
//! set of differing keys changes (a live change makes every file differ
//! until it is edited), never on every apply.

use raftmasq_consensus::ClusterNode;
use raftmasq_consensus::state::{ClusterSettings, DEFAULT_NETWORK};

use crate::file_settings::{FileSettings, NetworkDrift, apply_command, described_key};

/// Runs until Raft stops. `dns_domain`: the domain DNS serves (fixed at
/// start), to say when it is not the cluster's.
pub async fn report(node: ClusterNode, file: FileSettings, dns_domain: Option<String>) {
    let mut applied = node.replica().subscribe();
    let mut reported: Option<Vec<(String, String)>> = None;
    let mut seen: Option<Vec<(String, ClusterSettings)>> = None;
    loop {
        let cluster: Vec<(String, ClusterSettings)> = {
            let replica = node.replica().read();
            replica
                .networks
                .all(&replica.table)
                .filter_map(|(name, table)| Some((name.to_string(), table.settings()?.clone())))
                .collect()
        };
        let default = cluster
            .iter()
            .find(|(name, _)| name == DEFAULT_NETWORK)
            .map(|(_, settings)| settings);
        if let Some(default) = default
            && seen.as_ref() != Some(&cluster)
        {
            if let Some(served) = &dns_domain
                && !served.eq_ignore_ascii_case(&default.domain)
            {
                // Only a node that joined with another domain in its file:
                // the replica had no settings when DNS started.
                tracing::warn!(served = %served, cluster = %default.domain, "dns serves this file's domain, not the cluster's, until this node restarts");
            }
            let drift = file.drift(cluster.iter().map(|(name, s)| (name.as_str(), s)));
            let keys = drift_keys(&drift);
            if reported.as_ref() != Some(&keys) {
                if !drift.is_empty() {
                    warn_drift(&file, &drift);
                } else if reported.is_some() {
                    tracing::info!(file = %file.path.display(), "this host's file agrees with the cluster settings");
                }
                reported = Some(keys);
            }
            seen = Some(cluster);
        }
        if applied.changed().await.is_err() {
            return;
        }
    }
}

/// Which keys of which networks differ: what decides whether to say it again.
fn drift_keys(drift: &[NetworkDrift]) -> Vec<(String, String)> {
    drift
        .iter()
        .flat_map(|n| {
            n.differences
                .iter()
                .map(|d| (n.network.clone(), d.key.clone()))
        })
        .collect()
}

fn warn_drift(file: &FileSettings, drift: &[NetworkDrift]) {
    for network in drift {
        for d in &network.differences {
            tracing::warn!(network = %network.network, key = %described_key(&network.network, d), cluster = %d.cluster, file = %d.other, "this host's file differs from the cluster settings; the node follows the cluster");
        }
        tracing::warn!(
            network = %network.network,
            file = %file.path.display(),
            "to make the file's values the cluster's: {0}; to keep the cluster's: edit {1} to the cluster values above (dnsctl settings show{2})",
            apply_command(&network.network, &file.path),
            file.path.display(),
            if network.network == DEFAULT_NETWORK {
                String::new()
            } else {
                format!(" --network {}", network.network)
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_that_decide_a_new_report_are_per_network() {
        let difference = |key: &str| raftmasq_api::SettingDifference {
            key: key.into(),
            cluster: "1h".into(),
            other: "2h".into(),
            file_key: None,
        };
        let drift = [
            NetworkDrift {
                network: "default".into(),
                differences: vec![difference("dhcp.lease_time")],
            },
            NetworkDrift {
                network: "lab".into(),
                differences: vec![difference("dhcp.lease_time"), difference("dhcp.ranges")],
            },
        ];
        assert_eq!(
            drift_keys(&drift),
            [
                ("default".to_string(), "dhcp.lease_time".to_string()),
                ("lab".to_string(), "dhcp.lease_time".to_string()),
                ("lab".to_string(), "dhcp.ranges".to_string()),
            ]
        );
    }
}
