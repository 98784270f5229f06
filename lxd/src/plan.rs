//! The commands that make the cluster agree with LXD. Pure: what LXD says
//! now, what this host's LXD said before, and the replicated table in; Raft
//! commands out. Every command is idempotent, and nothing is proposed that
//! the table already shows, so several hosts reporting one instance (an LXD
//! cluster) and a resynchronisation after a reconnect change nothing twice.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use raftmasq_state::{Command, LeaseState, LeaseTable, MacAddr, Reservation};

use crate::nics::Nic;

/// The commands to propose, in order, and why some were not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub commands: Vec<Command>,
    pub problems: Vec<PlanProblem>,
}

/// A static address LXD sets that cannot become a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanProblem {
    OutsideSubnet {
        instance: String,
        address: Ipv4Addr,
        subnet: String,
    },
    Taken {
        instance: String,
        address: Ipv4Addr,
        holder: MacAddr,
        how: &'static str,
    },
}

impl PlanProblem {
    pub fn instance(&self) -> &str {
        match self {
            PlanProblem::OutsideSubnet { instance, .. } | PlanProblem::Taken { instance, .. } => {
                instance
            }
        }
    }
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanProblem::OutsideSubnet {
                instance,
                address,
                subnet,
            } => write!(
                f,
                "instance {instance}: static address {address} is outside the cluster's subnet {subnet}; no reservation"
            ),
            PlanProblem::Taken {
                instance,
                address,
                holder,
                how,
            } => write!(
                f,
                "instance {instance}: static address {address} is {how} {holder}; no reservation until it is free"
            ),
        }
    }
}

/// `desired`: the NICs LXD reports now. `known`: the NICs this host's LXD
/// reported at the last plan (so a NIC gone while the event stream was down
/// is forgotten, and only reservations LXD made are taken back).
///
/// Order matters and is fixed: first what goes (forgotten MACs, reservations
/// that move or end), then names and new reservations, so an address freed
/// by this plan can be reserved by it too (an instance deleted and another
/// given its address converge in one plan).
pub fn plan(
    desired: &BTreeMap<MacAddr, Nic>,
    known: &BTreeMap<MacAddr, Nic>,
    table: &LeaseTable,
) -> Plan {
    let mut out = Plan::default();
    let mut state = Freed::default();
    for mac in known.keys().filter(|mac| !desired.contains_key(mac)) {
        out.commands.push(Command::ForgetMac { mac: *mac, now: 0 });
        state.macs.insert(*mac);
        if let Some(reservation) = table.reservation_for_mac(*mac) {
            state.addresses.insert(reservation.address);
        }
    }
    let mut wanted = BTreeMap::new();
    for (mac, nic) in desired {
        let address = nic
            .static_v4
            .filter(|&a| in_subnet(nic, a, table, &mut out));
        let current = table.reservation_for_mac(*mac).map(|r| r.address);
        let before = known.get(mac).and_then(|b| b.static_v4);
        if let Some(current) = current
            && address != Some(current)
            // Take back only what LXD set, or what a new LXD address
            // replaces: an operator's reservation for an instance without
            // a static key stays.
            && (address.is_some() || before == Some(current))
        {
            out.commands.push(Command::Unreserve { mac: *mac });
            state.addresses.insert(current);
        }
        if let Some(address) = address
            && current != Some(address)
        {
            wanted.insert(*mac, address);
        }
    }
    for (mac, nic) in desired {
        if let Some(name) = &nic.name
            && table.name_of_mac(*mac) != Some(name.as_str())
        {
            out.commands.push(Command::NameMac {
                mac: *mac,
                name: name.clone(),
                now: 0,
            });
        }
        let Some(&address) = wanted.get(mac) else {
            continue;
        };
        match holder(*mac, address, table, &state) {
            Some((holder, how)) => out.problems.push(PlanProblem::Taken {
                instance: nic.instance.clone(),
                address,
                holder,
                how,
            }),
            None => {
                state.claimed.insert(address, *mac);
                out.commands.push(Command::Reserve {
                    reservation: Reservation {
                        mac: *mac,
                        address,
                        hostname: None,
                    },
                });
            }
        }
    }
    out
}

/// What this plan frees and claims, so later steps of it see that.
#[derive(Default)]
struct Freed {
    /// MACs forgotten: their leases no longer hold addresses.
    macs: BTreeSet<MacAddr>,
    /// Addresses whose reservation this plan removes.
    addresses: BTreeSet<Ipv4Addr>,
    /// Addresses this plan reserves, and for whom.
    claimed: BTreeMap<Ipv4Addr, MacAddr>,
}

fn in_subnet(nic: &Nic, address: Ipv4Addr, table: &LeaseTable, out: &mut Plan) -> bool {
    match table.settings() {
        Some(settings) if !settings.subnet.contains(&address) => {
            out.problems.push(PlanProblem::OutsideSubnet {
                instance: nic.instance.clone(),
                address,
                subnet: settings.subnet.to_string(),
            });
            false
        }
        _ => true,
    }
}

/// Who else holds `address` once this plan's earlier steps are applied.
fn holder(
    mac: MacAddr,
    address: Ipv4Addr,
    table: &LeaseTable,
    state: &Freed,
) -> Option<(MacAddr, &'static str)> {
    if let Some(&other) = state.claimed.get(&address) {
        return Some((other, "reserved for"));
    }
    if let Some(other) = table.reservation_for_address(address)
        && other.mac != mac
        && !state.addresses.contains(&address)
    {
        return Some((other.mac, "reserved for"));
    }
    if let Some(lease) = table.lease_by_address(address)
        && lease.mac != mac
        && lease.state == LeaseState::Bound
        && !state.macs.contains(&lease.mac)
    {
        return Some((lease.mac, "leased to"));
    }
    None
}

#[cfg(test)]
mod tests;
