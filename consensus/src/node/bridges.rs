//! Every member's bridge address: the DHCP server identifiers a client may
//! name, and the DNS servers handed to clients by default.
//!
//! A member's address comes from the Raft membership (what it registered)
//! or, until it has registered, from this node's own configuration
//! (`cluster.peers` entries with `bridge=`). Which hosts are members is the
//! membership's word alone, so a host added later joins the list and a
//! removed one leaves it, whatever each node's file still says.
//!
//! **Voters only.** A learner is never listed, whatever it announced: a
//! node that merely joined (and any node the CA certified may join) must
//! not become a DNS server or server identifier of every lease. It is
//! listed once it is promoted to voter.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::types::{Member, NodeId};

/// The bridge addresses of the cluster's members, as far as they are known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeAddresses {
    /// Known addresses, one per member, this node's first (clients try DNS
    /// servers in order, and their own host is the nearest), then by address.
    pub addresses: Vec<Ipv4Addr>,
    /// Voters whose address nobody has told this node yet, with their
    /// cluster address for the log. (A learner is not listed, and never
    /// holds up the others.)
    pub missing: Vec<(NodeId, String)>,
}

impl BridgeAddresses {
    /// Whether every member's address is known.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// `members`: the current membership, voters and learners (empty before the
/// node has a log, when `initial` — the configured peers, all voters — stands
/// in for it); `is_voter` tells them apart. `configured`: bridge addresses
/// from this node's file. `own`: this node and its own bridge address.
pub fn bridge_addresses<'m>(
    members: impl IntoIterator<Item = (&'m NodeId, &'m Member)>,
    is_voter: impl Fn(NodeId) -> bool,
    initial: &BTreeMap<NodeId, String>,
    configured: &BTreeMap<NodeId, Ipv4Addr>,
    own: (NodeId, Option<Ipv4Addr>),
) -> BridgeAddresses {
    let mut members: BTreeMap<NodeId, (String, Option<Ipv4Addr>, bool)> = members
        .into_iter()
        .map(|(id, member)| {
            let entry = (
                member.cluster_addr.clone(),
                member.bridge_address,
                is_voter(*id),
            );
            (*id, entry)
        })
        .collect();
    if members.is_empty() {
        members = initial
            .iter()
            .map(|(id, addr)| (*id, (addr.clone(), None, true)))
            .collect();
    }
    if let Some(address) = own.1 {
        let voter = members.get(&own.0).is_none_or(|(_, _, voter)| *voter);
        members.insert(own.0, (String::new(), Some(address), voter));
    }
    let mut result = BridgeAddresses::default();
    for (id, (cluster_addr, registered, voter)) in members {
        if !voter {
            continue;
        }
        match registered.or_else(|| configured.get(&id).copied()) {
            Some(address) if !result.addresses.contains(&address) => result.addresses.push(address),
            Some(_) => {}
            None => result.missing.push((id, cluster_addr)),
        }
    }
    result
        .addresses
        .sort_by_key(|address| (Some(*address) != own.1, *address));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(addr: &str, bridge: Option<[u8; 4]>) -> Member {
        Member {
            bridge_address: bridge.map(Ipv4Addr::from),
            ..Member::new(addr)
        }
    }

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(172, 16, 0, last)
    }

    #[test]
    fn registered_addresses_own_first() {
        let members = BTreeMap::from([
            (1, member("10.99.0.1:7380", Some([172, 16, 0, 1]))),
            (2, member("10.99.0.2:7380", Some([172, 16, 0, 2]))),
            (3, member("10.99.0.3:7380", Some([172, 16, 0, 3]))),
        ]);
        let list = bridge_addresses(
            &members,
            |_| true,
            &BTreeMap::new(),
            &BTreeMap::new(),
            (2, Some(ip(2))),
        );
        assert_eq!(list.addresses, vec![ip(2), ip(1), ip(3)]);
        assert!(list.is_complete());
    }

    #[test]
    fn the_file_fills_in_members_that_have_not_registered() {
        let members = BTreeMap::from([
            (1, member("10.99.0.1:7380", Some([172, 16, 0, 1]))),
            (2, member("10.99.0.2:7380", None)),
            (3, member("10.99.0.3:7380", None)),
        ]);
        let configured = BTreeMap::from([(2, ip(2))]);
        let list = bridge_addresses(
            &members,
            |_| true,
            &BTreeMap::new(),
            &configured,
            (1, Some(ip(1))),
        );
        assert_eq!(list.addresses, vec![ip(1), ip(2)]);
        assert_eq!(list.missing, vec![(3, "10.99.0.3:7380".to_string())]);
        assert!(!list.is_complete());
    }

    #[test]
    fn a_registered_address_wins_over_the_file() {
        let members = BTreeMap::from([
            (1, member("10.99.0.1:7380", Some([172, 16, 0, 1]))),
            (2, member("10.99.0.2:7380", Some([172, 16, 0, 22]))),
        ]);
        let configured = BTreeMap::from([(2, ip(2))]);
        let list = bridge_addresses(
            &members,
            |_| true,
            &BTreeMap::new(),
            &configured,
            (1, Some(ip(1))),
        );
        assert_eq!(list.addresses, vec![ip(1), ip(22)]);
    }

    #[test]
    fn membership_decides_who_is_in() {
        // Node 4 was removed; the file still lists it. Node 5 joined later and
        // is in no file.
        let members = BTreeMap::from([
            (1, member("10.99.0.1:7380", Some([172, 16, 0, 1]))),
            (5, member("10.99.0.5:7380", Some([172, 16, 0, 5]))),
        ]);
        let configured = BTreeMap::from([(1, ip(1)), (4, ip(4))]);
        let list = bridge_addresses(
            &members,
            |_| true,
            &BTreeMap::new(),
            &configured,
            (1, Some(ip(1))),
        );
        assert_eq!(list.addresses, vec![ip(1), ip(5)]);
        assert!(list.is_complete());
    }

    #[test]
    fn before_any_log_the_configured_peers_stand_in() {
        let initial = BTreeMap::from([
            (1, "10.99.0.1:7380".to_string()),
            (2, "10.99.0.2:7380".to_string()),
            (3, "10.99.0.3:7380".to_string()),
        ]);
        let configured = BTreeMap::from([(1, ip(1)), (2, ip(2))]);
        let empty: BTreeMap<NodeId, Member> = BTreeMap::new();
        let list = bridge_addresses(&empty, |_| true, &initial, &configured, (1, Some(ip(1))));
        assert_eq!(list.addresses, vec![ip(1), ip(2)]);
        assert_eq!(list.missing, vec![(3, "10.99.0.3:7380".to_string())]);
    }

    /// The attack: a node added as a learner announced its own
    /// address, and every new lease named it as a DNS server.
    #[test]
    fn a_learner_is_never_listed_and_holds_nothing_up() {
        let members = BTreeMap::from([
            (1, member("10.99.0.1:7380", Some([172, 16, 0, 1]))),
            (4, member("10.99.0.4:7380", None)),
            (5, member("10.99.0.5:7380", Some([172, 16, 0, 5]))),
        ]);
        let list = bridge_addresses(
            &members,
            |id| id == 1,
            &BTreeMap::new(),
            &BTreeMap::new(),
            (1, Some(ip(1))),
        );
        assert_eq!(list.addresses, vec![ip(1)]);
        assert!(list.is_complete());
    }

    #[test]
    fn this_node_counts_even_before_it_is_a_member() {
        let members = BTreeMap::from([(1, member("10.99.0.1:7380", Some([172, 16, 0, 1])))]);
        let list = bridge_addresses(
            &members,
            |_| true,
            &BTreeMap::new(),
            &BTreeMap::new(),
            (4, Some(ip(4))),
        );
        assert_eq!(list.addresses, vec![ip(4), ip(1)]);
        assert!(list.is_complete());
    }
}
