//! Which network an admin write is for: the one whose subnet holds the
//! address (subnets never overlap), and the command wrapped for it.

use std::net::Ipv4Addr;

use raftmasq_consensus::state::{Command, DEFAULT_NETWORK, LeaseTable, OtherNetworks};

/// The network whose subnet holds `address`, with its table; `default`
/// when none does (its checks then say what is wrong).
pub(super) fn holding<'a>(
    default: &'a LeaseTable,
    others: &'a OtherNetworks,
    address: Ipv4Addr,
) -> (&'a str, &'a LeaseTable) {
    others
        .all(default)
        .find(|(_, table)| {
            table
                .settings()
                .is_some_and(|settings| settings.subnet.contains(&address))
        })
        .unwrap_or((DEFAULT_NETWORK, default))
}

/// `command` as `network`'s: unwrapped for `default`, as every older entry.
pub(super) fn for_network(network: &str, command: Command) -> Command {
    if network == DEFAULT_NETWORK {
        command
    } else {
        Command::InNetwork {
            network: network.to_string(),
            command: Box::new(command),
        }
    }
}
