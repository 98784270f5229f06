//! Registers this host's address on each network beside `default` with the
//! cluster (`Command::SetNetworkAddress`), so every member's DHCP server on
//! that network names every host as DNS server and server identifier, as on
//! `default`. Runs for the life of the node: it registers once the network
//! exists in the cluster, and again whenever the replicated address is not
//! this file's (a changed file, or a lost write).

use std::net::Ipv4Addr;
use std::time::Duration;

use raftmasq_config::Config;
use raftmasq_consensus::ClusterNode;
use raftmasq_consensus::state::{Command, Response};

/// Waits between failed registrations, doubling up to the last.
const RETRY: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(15),
];

/// This host's addresses on the networks it has a bridge on.
pub fn own_addresses(config: &Config) -> Vec<(String, Ipv4Addr)> {
    config
        .dhcp
        .networks
        .iter()
        .filter(|network| !network.is_relay_only())
        .map(|network| (network.name.clone(), network.address))
        .collect()
}

/// The registrations `node` still has to write: networks the cluster has
/// whose replicated address for this node is not `own`'s.
fn pending(node: &ClusterNode, own: &[(String, Ipv4Addr)]) -> Vec<Command> {
    let replica = node.replica().read();
    own.iter()
        .filter(|(network, _)| replica.network(network).is_some())
        .filter(|(network, address)| {
            replica.network_addresses.of(network, node.id()) != Some(*address)
        })
        .map(|(network, address)| Command::SetNetworkAddress {
            network: network.clone(),
            node: node.id(),
            address: Some(*address),
        })
        .collect()
}

/// Registers `own` and keeps it registered; returns when the node stops.
pub async fn keep_registered(node: ClusterNode, own: Vec<(String, Ipv4Addr)>) {
    if own.is_empty() {
        return;
    }
    let mut applied = node.replica().subscribe();
    let mut failures = 0usize;
    // Refused by the cluster: said once, not proposed again until restart
    // (the file has to change anyway).
    let mut refused: Vec<Command> = Vec::new();
    loop {
        for command in pending(&node, &own) {
            if refused.contains(&command) {
                continue;
            }
            let what = command.to_string();
            match node.write(command.clone()).await {
                Ok(Response::Done) => {
                    failures = 0;
                    tracing::info!(registration = %what, "registered this host's address on a network");
                }
                Ok(Response::Rejected { reason }) => {
                    tracing::warn!(registration = %what, %reason, "the cluster refused this host's address on a network; check its [[dhcp.networks]] address");
                    refused.push(command);
                }
                Ok(other) => {
                    tracing::warn!(registration = %what, response = ?other, "unexpected answer to a registration")
                }
                Err(error) => {
                    tracing::debug!(registration = %what, %error, "registration not written yet; retrying");
                    failures += 1;
                }
            }
        }
        if failures > 0 {
            let wait = RETRY[failures.min(RETRY.len()) - 1];
            tokio::time::sleep(wait).await;
            if pending(&node, &own).iter().all(|c| refused.contains(c)) {
                failures = 0;
            }
            continue;
        }
        if applied.changed().await.is_err() {
            return;
        }
    }
}
