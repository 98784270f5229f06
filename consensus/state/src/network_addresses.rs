//! Each member's own address on each network beside `default`.
//!
//! On `default` a member's address is its `bridge_address`, registered with
//! its Raft membership. On another network every member has an address of
//! its own too (its `[[dhcp.networks]] address`): the DNS servers and server
//! identifiers that network's leases name, so a lease there survives the
//! loss of the host that granted it as the default network's do. Members
//! register them with [`Command::SetNetworkAddress`]; they are replicated
//! here, beside the lease tables, and read with the membership (a removed
//! member's entry is ignored by readers, and replaced if it rejoins).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::command::{Rejection, Response};
use crate::networks::{DEFAULT_NETWORK, OtherNetworks};
use crate::table::LeaseTable;

/// Members' addresses by network, then by node id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NetworkAddresses {
    by_network: BTreeMap<String, BTreeMap<u64, Ipv4Addr>>,
}

impl NetworkAddresses {
    /// The registered members' addresses on `network`, by node id.
    pub fn on(&self, network: &str) -> impl Iterator<Item = (u64, Ipv4Addr)> + '_ {
        self.by_network
            .get(network)
            .into_iter()
            .flat_map(|members| members.iter().map(|(&node, &address)| (node, address)))
    }

    /// `node`'s registered address on `network`.
    pub fn of(&self, network: &str, node: u64) -> Option<Ipv4Addr> {
        self.by_network.get(network)?.get(&node).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.by_network.is_empty()
    }

    /// Applies [`Command::SetNetworkAddress`](crate::Command::SetNetworkAddress):
    /// the network must exist beside `default`, the address be a host of
    /// its subnet and no other member's there. Deterministic.
    pub fn set(
        &mut self,
        tables: (&LeaseTable, &OtherNetworks),
        network: &str,
        node: u64,
        address: Option<Ipv4Addr>,
    ) -> Response {
        match self.check(tables, network, node, address) {
            Ok(()) => {
                let members = self.by_network.entry(network.to_string()).or_default();
                match address {
                    Some(address) => {
                        members.insert(node, address);
                    }
                    None => {
                        members.remove(&node);
                        if members.is_empty() {
                            self.by_network.remove(network);
                        }
                    }
                }
                Response::Done
            }
            Err(reason) => Response::Rejected { reason },
        }
    }

    fn check(
        &self,
        (default, others): (&LeaseTable, &OtherNetworks),
        network: &str,
        node: u64,
        address: Option<Ipv4Addr>,
    ) -> Result<(), Rejection> {
        let refused = |reason: String| {
            Err(Rejection::NetworkAddressRefused {
                network: network.to_string(),
                reason,
            })
        };
        if network == DEFAULT_NETWORK {
            return refused(
                "a member's address on the default network is its bridge address (membership)"
                    .into(),
            );
        }
        let Some(settings) = others.get(default, network).and_then(LeaseTable::settings) else {
            return Err(Rejection::UnknownNetwork {
                network: network.to_string(),
            });
        };
        let Some(address) = address else {
            return Ok(());
        };
        let subnet = settings.subnet;
        if !subnet.contains(&address)
            || (subnet.prefix_len() < 31
                && (address == subnet.network() || address == subnet.broadcast()))
        {
            return refused(format!("{address} is not a host address of {subnet}"));
        }
        if let Some((other, _)) = self
            .on(network)
            .find(|&(other, theirs)| other != node && theirs == address)
        {
            return refused(format!("{address} is node {other}'s address there"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::{AddressRange, ClusterSettings, Command, HostnamePolicy};

    fn networks() -> (LeaseTable, OtherNetworks) {
        let settings = |subnet: &str, start: [u8; 4], end: [u8; 4], domain: &str| ClusterSettings {
            subnet: subnet.parse().unwrap(),
            ranges: vec![AddressRange {
                start: start.into(),
                end: end.into(),
            }],
            domain: domain.into(),
            lease_time_secs: 60,
            duplicate_hostnames: HostnamePolicy::Suffix,
            decline_quarantine_secs: 30,
            client_identity: Default::default(),
        };
        let mut default = LeaseTable::default();
        let mut others = OtherNetworks::default();
        let init = |settings| Command::Initialize { settings };
        others.apply(
            &mut default,
            &init(settings(
                "10.0.0.0/24",
                [10, 0, 0, 10],
                [10, 0, 0, 99],
                "lxd",
            )),
        );
        others.apply(
            &mut default,
            &Command::for_network(
                "lab",
                init(settings(
                    "10.1.0.0/24",
                    [10, 1, 0, 10],
                    [10, 1, 0, 99],
                    "lab.lxd",
                )),
            ),
        );
        (default, others)
    }

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 1, 0, last)
    }

    #[test]
    fn members_register_change_and_withdraw_their_address_on_a_network() {
        let (default, others) = networks();
        let mut addresses = NetworkAddresses::default();
        let tables = (&default, &others);
        assert_eq!(addresses.set(tables, "lab", 1, Some(ip(1))), Response::Done);
        assert_eq!(addresses.set(tables, "lab", 2, Some(ip(2))), Response::Done);
        assert_eq!(addresses.set(tables, "lab", 2, Some(ip(3))), Response::Done);
        assert_eq!(
            addresses.on("lab").collect::<Vec<_>>(),
            [(1, ip(1)), (2, ip(3))]
        );
        assert_eq!(addresses.of("lab", 2), Some(ip(3)));
        assert_eq!(addresses.set(tables, "lab", 2, None), Response::Done);
        assert_eq!(addresses.set(tables, "lab", 1, None), Response::Done);
        assert!(addresses.is_empty());
    }

    #[test]
    fn an_address_off_the_subnet_taken_or_on_an_unknown_network_is_refused() {
        let (default, others) = networks();
        let mut addresses = NetworkAddresses::default();
        let tables = (&default, &others);
        assert_eq!(addresses.set(tables, "lab", 1, Some(ip(1))), Response::Done);
        for (network, node, address) in [
            ("lab", 2, Ipv4Addr::new(10, 0, 0, 2)),
            ("lab", 2, ip(0)),
            ("lab", 2, ip(255)),
            ("lab", 2, ip(1)),
            ("default", 2, Ipv4Addr::new(10, 0, 0, 2)),
            ("dmz", 2, ip(2)),
        ] {
            let response = addresses.set(tables, network, node, Some(address));
            assert!(
                matches!(response, Response::Rejected { .. }),
                "{network} {address}: {response:?}"
            );
        }
        assert_eq!(addresses.on("lab").count(), 1);
        let json = serde_json::to_string(&addresses).unwrap();
        assert_eq!(json, r#"{"lab":{"1":"10.1.0.1"}}"#);
        let binary = postcard::to_stdvec(&addresses).unwrap();
        assert_eq!(
            postcard::from_bytes::<NetworkAddresses>(&binary).unwrap(),
            addresses
        );
    }
}
