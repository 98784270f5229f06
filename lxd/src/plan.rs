//! The commands that make the cluster agree with LXD. Pure: what LXD says
//! now, what this host's LXD said before, and the replicated table in; Raft
//! commands out. Every command is idempotent, and nothing is proposed that
//! the table already shows, so several hosts reporting one instance (an LXD
//! cluster) and a resynchronisation after a reconnect change nothing twice.

use std::collections::BTreeMap;
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
pub fn plan(
    desired: &BTreeMap<MacAddr, Nic>,
    known: &BTreeMap<MacAddr, Nic>,
    table: &LeaseTable,
) -> Plan {
    let mut out = Plan::default();
    for (mac, nic) in desired {
        name(*mac, nic, table, &mut out);
        reservation(*mac, nic, known.get(mac), table, &mut out);
    }
    for mac in known.keys().filter(|mac| !desired.contains_key(mac)) {
        out.commands.push(Command::ForgetMac { mac: *mac, now: 0 });
    }
    out
}

fn name(mac: MacAddr, nic: &Nic, table: &LeaseTable, out: &mut Plan) {
    if let Some(name) = &nic.name
        && table.name_of_mac(mac) != Some(name.as_str())
    {
        out.commands.push(Command::NameMac {
            mac,
            name: name.clone(),
            now: 0,
        });
    }
}

fn reservation(
    mac: MacAddr,
    nic: &Nic,
    before: Option<&Nic>,
    table: &LeaseTable,
    out: &mut Plan,
) {
    let current = table.reservation_for_mac(mac).map(|r| r.address);
    let wanted = nic
        .static_v4
        .filter(|&address| usable(mac, nic, address, table, out));
    match (wanted, current) {
        (Some(wanted), Some(current)) if wanted == current => {}
        (Some(address), current) => {
            if current.is_some() {
                out.commands.push(Command::Unreserve { mac });
            }
            out.commands.push(Command::Reserve {
                reservation: Reservation {
                    mac,
                    address,
                    hostname: None,
                },
            });
        }
        (None, Some(current)) => {
            // Take back only what LXD set: an operator's reservation for a
            // MAC whose instance has no static address stays.
            if before.and_then(|b| b.static_v4) == Some(current) {
                out.commands.push(Command::Unreserve { mac });
            }
        }
        (None, None) => {}
    }
}

/// Whether `address` can be reserved for `mac`; if not, says why.
fn usable(mac: MacAddr, nic: &Nic, address: Ipv4Addr, table: &LeaseTable, out: &mut Plan) -> bool {
    if let Some(settings) = table.settings()
        && !settings.subnet.contains(&address)
    {
        out.problems.push(PlanProblem::OutsideSubnet {
            instance: nic.instance.clone(),
            address,
            subnet: settings.subnet.to_string(),
        });
        return false;
    }
    let taken = if let Some(other) = table.reservation_for_address(address)
        && other.mac != mac
    {
        Some((other.mac, "reserved for"))
    } else if let Some(lease) = table.lease_by_address(address)
        && lease.mac != mac
        && lease.state == LeaseState::Bound
    {
        Some((lease.mac, "leased to"))
    } else {
        None
    };
    if let Some((holder, how)) = taken {
        out.problems.push(PlanProblem::Taken {
            instance: nic.instance.clone(),
            address,
            holder,
            how,
        });
        return false;
    }
    true
}

#[cfg(test)]
mod tests;
