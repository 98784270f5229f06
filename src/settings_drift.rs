//! A node whose file's cluster-wide keys differ from the cluster's follows
//! the cluster, and says so: once the replica has the settings, and again
//! each time the set of differing keys changes (a live change makes every
//! file differ until it is edited), never on every apply.

use raftmasq_consensus::ClusterNode;

use crate::admin::settings::FileSettings;

/// Runs until Raft stops. `dns_domain`: the domain DNS serves (fixed at
/// start), to say when it is not the cluster's.
pub async fn report(node: ClusterNode, file: FileSettings, dns_domain: Option<String>) {
    let mut applied = node.replica().subscribe();
    let mut reported: Option<Vec<String>> = None;
    let mut seen = None;
    loop {
        let cluster = node.replica().read().table.settings().cloned();
        if let Some(cluster) = cluster
            && seen.as_ref() != Some(&cluster)
        {
            let differences = file.differences(&cluster);
            if let Some(served) = &dns_domain
                && !served.eq_ignore_ascii_case(&cluster.domain)
            {
                // Only a node that joined with another domain in its file:
                // the replica had no settings when DNS started.
                tracing::warn!(served = %served, cluster = %cluster.domain, "dns serves this file's domain, not the cluster's, until this node restarts");
            }
            seen = Some(cluster);
            let keys: Vec<String> = differences.iter().map(|d| d.key.clone()).collect();
            if reported.as_ref() != Some(&keys) {
                if !differences.is_empty() {
                    for d in &differences {
                        tracing::warn!(key = %d.key, cluster = %d.cluster, file = %d.other, "this host's file differs from the cluster settings; the node follows the cluster");
                    }
                    tracing::warn!(
                        file = %file.path.display(),
                        "to make the file's values the cluster's: dnsctl settings apply --from {0}; to keep the cluster's: edit {0} to the cluster values above (dnsctl settings show)",
                        file.path.display()
                    );
                } else if reported.is_some() {
                    tracing::info!(file = %file.path.display(), "this host's file agrees with the cluster settings");
                }
                reported = Some(keys);
            }
        }
        if applied.changed().await.is_err() {
            return;
        }
    }
}
