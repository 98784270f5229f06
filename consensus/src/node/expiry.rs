//! The leader commits an `Expire` once a lease or quarantine is due, so every
//! replica frees the address and the name at the same log position.

use std::time::Duration;

use openraft::ServerState;
use raftmasq_state::Command;

use super::ClusterNode;

/// How often the leader looks for due leases. Readers (DNS, DHCP) already
/// ignore ended leases by their own clock, so this only bounds how long an
/// ended lease lingers in the table.
const CHECK_EVERY: Duration = Duration::from_secs(1);

pub(super) async fn expire_due_leases(node: ClusterNode) {
    let mut ticker = tokio::time::interval(CHECK_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if node.metrics().state != ServerState::Leader {
            continue;
        }
        let now = node.clock().now_millis();
        let due = node
            .replica()
            .read()
            .table
            .next_expiry()
            .is_some_and(|at| at <= now);
        if due {
            match node.write(Command::Expire { now }).await {
                Ok(response) => {
                    tracing::debug!(node_id = node.id(), ?response, "expired due leases")
                }
                Err(error) => {
                    tracing::warn!(node_id = node.id(), %error, "could not expire due leases")
                }
            }
        }
    }
}
