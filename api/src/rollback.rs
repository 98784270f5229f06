//! `dnsctl export-dnsmasq`: the way back. Writes a stopped cluster's leases
//! (from a `raftmasq export` file) as a dnsmasq lease file, and its
//! reservations as dnsmasq host entries, so dnsmasq (or LXD's dnsmasq) starts
//! with every client's address and name and ACKs their renewals.
//!
//! The lease file is exactly what dnsmasq writes (`lease_update_file` in
//! dnsmasq's `lease.c`): one line per lease, `EXPIRY MAC ADDRESS HOSTNAME
//! CLIENT-ID`, `*` for a missing hostname or client id. The `duid` line is
//! only written by a dnsmasq serving DHCPv6, so it is never needed here.
//!
//! The client id is written only when the client sent one of its own: a lease
//! keyed by the MAC (no option 61, or `dhcp.client_identity = "mac"`) gets
//! `*`, which dnsmasq's lease lookup matches by hardware address whatever id
//! the client sends (see DESIGN.md).
//!
//! Pure: [`import`](crate::import) reads these files back, and the round trip
//! is checked by a property test.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use raftmasq_state::{ClientId, Lease, LeaseState, Millis, Reservation};
use serde::{Deserialize, Serialize};

/// A lease that was not written, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub address: Ipv4Addr,
    pub mac: String,
    pub reason: String,
}

/// The files for dnsmasq, and what was left out of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsmasqFiles {
    /// The lease file (`--dhcp-leasefile`, or LXD's
    /// `networks/BRIDGE/dnsmasq.leases`).
    pub leases: String,
    /// Reservations as a dhcp-hostsfile: `MAC,ADDRESS[,NAME]` lines, for
    /// `--dhcp-hostsfile=FILE` or a file in a `--dhcp-hostsdir`.
    pub hosts: String,
    /// Reservations as `dhcp-host=MAC,ADDRESS[,NAME]` lines, for a dnsmasq
    /// configuration file or LXD's `raw.dnsmasq`.
    pub conf: String,
    /// How many leases the lease file holds.
    pub written: usize,
    pub skipped: Vec<Skipped>,
}

/// Writes `leases` and `reservations` as dnsmasq files at time `now`: bound
/// leases that have not ended; offered and ended ones are listed in `skipped`.
pub fn dnsmasq_files(leases: &[Lease], reservations: &[Reservation], now: Millis) -> DnsmasqFiles {
    let mut files = DnsmasqFiles::default();
    let mut ordered: Vec<&Lease> = leases.iter().collect();
    ordered.sort_by_key(|lease| lease.address);
    for lease in ordered {
        let skip = |reason: &str| Skipped {
            address: lease.address,
            mac: lease.mac.to_string(),
            reason: reason.to_string(),
        };
        if lease.state != LeaseState::Bound {
            files.skipped.push(skip(
                "offered, never acknowledged: the client asks again and dnsmasq offers anew",
            ));
        } else if lease.expires_at <= now {
            files
                .skipped
                .push(skip("ended: dnsmasq would drop it at start"));
        } else {
            files.leases.push_str(&lease_line(lease));
            files.leases.push('\n');
            files.written += 1;
        }
    }
    let mut ordered: Vec<&Reservation> = reservations.iter().collect();
    ordered.sort_by_key(|reservation| reservation.address);
    for reservation in ordered {
        let entry = host_entry(reservation);
        let _ = writeln!(files.hosts, "{entry}");
        let _ = writeln!(files.conf, "dhcp-host={entry}");
    }
    files
}

/// One lease as dnsmasq writes it. The expiry is rounded up to the second:
/// dnsmasq never ends the lease before the client's own end.
pub fn lease_line(lease: &Lease) -> String {
    let expires = lease.expires_at.div_ceil(1000);
    let hostname = lease.granted_name.as_deref().unwrap_or("*");
    let client_id = if lease.client_id == ClientId::from_mac(lease.mac) {
        "*".to_string()
    } else {
        lease.client_id.to_string()
    };
    format!(
        "{expires} {} {} {hostname} {client_id}",
        lease.mac, lease.address
    )
}

/// `MAC,ADDRESS[,NAME]`, the value of a `dhcp-host=` line.
pub fn host_entry(reservation: &Reservation) -> String {
    match &reservation.hostname {
        Some(name) => format!("{},{},{name}", reservation.mac, reservation.address),
        None => format!("{},{}", reservation.mac, reservation.address),
    }
}

#[cfg(test)]
mod tests;
