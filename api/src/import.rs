//! `dnsctl import-dnsmasq`: reading dnsmasq's lease file, `dhcp-host=` lines
//! and LXD's per-instance host files (`dnsmasq.hosts/<instance>`), and
//! planning what importing them would change. Every line that is not
//! imported is reported with the reason; nothing is skipped silently.
//!
//! Parsing runs in `dnsctl` (the files are on the operator's host); planning
//! runs in the daemon against its replica, by applying the import's commands
//! to a *copy* of the lease table. The state machine is pure, so the dry run
//! is exactly what the real import would do, refusals included.
//!
//! Each lease becomes a strict `Bind` (the client's own address or nothing)
//! with the time dnsmasq had left on it, so the client renews and keeps its
//! address. Nothing already in the cluster is ever overwritten: a clash is a
//! conflict in the report.

use std::net::Ipv4Addr;

use raftmasq_state::{
    ClientId, Command, LeaseRequest, LeaseTable, MacAddr, Millis, Reservation, Response,
};
use serde::{Deserialize, Serialize};

mod parse;
mod v6;

pub use parse::{
    ConfFile, LeaseFile, LxdEntry, parse_conf, parse_lease_file, parse_lease_time, parse_leases,
    parse_lxd_hosts,
};
pub use v6::DnsmasqLease6;

/// One line of dnsmasq's lease file: `EXPIRY MAC IP HOSTNAME CLIENTID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsmasqLease {
    pub line: usize,
    /// Unix time (seconds) the lease ends; 0 for an infinite lease.
    pub expires: u64,
    pub mac: MacAddr,
    pub address: Ipv4Addr,
    pub hostname: Option<String>,
    pub client_id: Option<ClientId>,
}

/// One `dhcp-host=MAC,IP[,NAME][,LEASETIME]` line, or one line of an LXD
/// host file with an IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsmasqHost {
    pub line: usize,
    pub mac: MacAddr,
    pub address: Ipv4Addr,
    pub hostname: Option<String>,
    /// dnsmasq's per-host lease time; raftmasq reservations use the cluster's.
    pub lease_secs: Option<u64>,
    /// The file the line came from, when it is not the `--conf` file.
    #[serde(default)]
    pub source: Option<String>,
    /// What of the line is left out (e.g. an IPv6 address), shown as the reason.
    #[serde(default)]
    pub note: Option<String>,
}

/// A name for a MAC without an address: an LXD host file line `MAC,NAME`
/// (what LXD writes for every instance NIC when `dns.mode` is managed).
/// Imported as the MAC's name (`NameMac`), which wins over the hostname the
/// client sends, as it did in dnsmasq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsmasqName {
    pub line: usize,
    pub source: Option<String>,
    pub mac: MacAddr,
    pub name: String,
    pub note: Option<String>,
}

/// A line that is not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsupported {
    pub line: usize,
    pub text: String,
    pub reason: String,
    /// The file, when it is not the one the caller passed (LXD host files).
    #[serde(default)]
    pub source: Option<String>,
}

/// `POST /api/v1/import/dnsmasq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRequest {
    pub leases: Vec<DnsmasqLease>,
    pub reservations: Vec<DnsmasqHost>,
    /// Names for MACs (LXD host files); absent in requests of older `dnsctl`s.
    #[serde(default)]
    pub names: Vec<DnsmasqName>,
    /// DHCPv6 leases; absent in requests of older `dnsctl`s.
    #[serde(default)]
    pub leases6: Vec<DnsmasqLease6>,
    pub dry_run: bool,
}

/// What happened (or would happen) to one imported line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportItem {
    /// `lease`, `reservation`, `name` (a MAC's name from an LXD host file)
    /// or `conf` (a dnsmasq option line that has no import).
    pub kind: String,
    /// Line number in the lease file (leases), the conf file (reservations,
    /// conf) or `source`.
    pub line: usize,
    /// The file the line is in, when it is not the lease or conf file (an LXD
    /// host file). Absent from reports of older daemons.
    #[serde(default)]
    pub source: Option<String>,
    pub mac: Option<String>,
    pub address: Option<Ipv4Addr>,
    /// A DHCPv6 lease's address (kind `lease6`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address6: Option<std::net::Ipv6Addr>,
    pub hostname: Option<String>,
    /// For leases: when the lease ends (ms since the epoch) once imported.
    pub expires_at: Option<Millis>,
    /// `add` (dry run), `applied`, `unchanged`, `conflict`, `expired`,
    /// `unsupported` (not imported; the reason says why and what to do
    /// instead), or `rejected` (refused when it was committed).
    pub action: String,
    pub reason: Option<String>,
}

/// The answer of an import or a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub dry_run: bool,
    pub items: Vec<ImportItem>,
}

impl ImportReport {
    pub fn count(&self, action: &str) -> usize {
        self.items.iter().filter(|i| i.action == action).count()
    }
}

// ------------------------------------------------------- raftmasq export

/// The parts of a `raftmasq export` file (format `raftmasq-state-v1`) that
/// are restored (`import-state`) or written as dnsmasq files
/// (`export-dnsmasq`).
#[derive(Debug, Deserialize)]
pub struct StateExport {
    pub format: String,
    pub leases: Vec<raftmasq_state::Lease>,
    pub reservations: Vec<raftmasq_state::Reservation>,
    /// With their networks; an export of an older release has none (the
    /// daemon then places each by its name).
    pub records: Vec<crate::records::RecordView>,
}

/// Reads a `raftmasq export` file; an error says why it is not one.
pub fn read_state_export(text: &str) -> Result<StateExport, String> {
    let export: StateExport =
        serde_json::from_str(text).map_err(|e| format!("not a raftmasq export: {e}"))?;
    if export.format != "raftmasq-state-v1" {
        return Err(format!(
            "format {:?} is not raftmasq-state-v1",
            export.format
        ));
    }
    Ok(export)
}

/// Turns an export into the import request (bound leases and reservations,
/// planned and applied like a dnsmasq import: conflicts are reported, never
/// overwritten) and the static records to add.
pub fn state_request(
    text: &str,
    dry_run: bool,
) -> Result<(ImportRequest, Vec<crate::records::RecordView>), String> {
    let export = read_state_export(text)?;
    let leases = export
        .leases
        .into_iter()
        .filter(|lease| lease.state == raftmasq_state::LeaseState::Bound)
        .enumerate()
        .map(|(index, lease)| DnsmasqLease {
            line: index + 1,
            expires: lease.expires_at / 1000,
            mac: lease.mac,
            address: lease.address,
            // The name asked for: the policy grants it (or its suffix) again.
            hostname: lease.requested_hostname,
            client_id: Some(lease.client_id),
        })
        .collect();
    let reservations = export
        .reservations
        .into_iter()
        .enumerate()
        .map(|(index, reservation)| DnsmasqHost {
            line: index + 1,
            mac: reservation.mac,
            address: reservation.address,
            hostname: reservation.hostname,
            lease_secs: None,
            source: None,
            note: None,
        })
        .collect();
    Ok((
        ImportRequest {
            leases,
            reservations,
            names: Vec::new(),
            leases6: Vec::new(),
            dry_run,
        },
        export.records,
    ))
}

// ----------------------------------------------------------------- planning

/// Decides, line by line, what importing would do to `table` at time `now`.
/// Returns each line's item and, for the ones to add, the command to commit.
/// Reservations come first, so a client's lease lands on its reserved address.
pub fn plan(
    table: &LeaseTable,
    request: &ImportRequest,
    now: Millis,
) -> Vec<(ImportItem, Option<Command>)> {
    plan_with_v6(
        table,
        &raftmasq_state::v6::V6Leases::default(),
        request,
        now,
    )
}

/// [`plan`] with the cluster's DHCPv6 leases: the v6 lines are planned
/// after the v4 ones (so a v6 lease's name follows the same machine's v4
/// lease, and one name has one owner across both) on copies of both tables.
pub fn plan_with_v6(
    table: &LeaseTable,
    v6_table: &raftmasq_state::v6::V6Leases,
    request: &ImportRequest,
    now: Millis,
) -> Vec<(ImportItem, Option<Command>)> {
    let mut out = Vec::new();
    // Every command applies as the replica applies it (`apply_both`), so a
    // v4 name sees the cluster's v6 names, as it will when committed.
    let copies = &mut (table.clone(), v6_table.clone());
    for host in &request.reservations {
        out.push(plan_reservation(copies, host));
    }
    for name in &request.names {
        out.push(plan_name(copies, name, now));
    }
    for lease in &request.leases {
        out.push(plan_lease(copies, lease, now));
    }
    let (simulated, simulated_v6) = copies;
    for lease in &request.leases6 {
        out.push(v6::plan_lease6(simulated, simulated_v6, lease, now));
    }
    out
}

/// The planning copies of the v4 and the v6 table.
type Copies = (LeaseTable, raftmasq_state::v6::V6Leases);

fn plan_reservation(copies: &mut Copies, host: &DnsmasqHost) -> (ImportItem, Option<Command>) {
    let table = &copies.0;
    let mut item = ImportItem {
        kind: "reservation".into(),
        line: host.line,
        source: host.source.clone(),
        mac: Some(host.mac.to_string()),
        address: Some(host.address),
        address6: None,
        hostname: host.hostname.clone(),
        expires_at: None,
        action: "add".into(),
        reason: host.note.clone(),
    };
    let hostname = host.hostname.as_ref().map(|name| name.to_ascii_lowercase());
    if let Some(existing) = table.reservation_for_mac(host.mac) {
        // A line that says less than the cluster has (no name, where LXD
        // drops the names from its host files once `dns.mode` is none) is
        // no change: an import never takes anything away.
        if existing.address == host.address && (hostname.is_none() || existing.hostname == hostname)
        {
            item.action = "unchanged".into();
            if hostname.is_none() && existing.hostname.is_some() {
                item.reason = Some(format!(
                    "already reserved, with the name {}",
                    existing.hostname.as_deref().unwrap_or_default()
                ));
            }
        } else {
            item.action = "conflict".into();
            item.reason = Some(format!(
                "{} already has a reservation in the cluster ({}); remove it first to replace it",
                host.mac, existing.address
            ));
        }
        return (item, None);
    }
    let command = Command::Reserve {
        reservation: Reservation {
            mac: host.mac,
            address: host.address,
            hostname,
        },
    };
    apply_to_copy(copies, item, command)
}

fn plan_name(
    copies: &mut Copies,
    name: &DnsmasqName,
    now: Millis,
) -> (ImportItem, Option<Command>) {
    let table = &copies.0;
    let mut item = ImportItem {
        kind: "name".into(),
        line: name.line,
        source: name.source.clone(),
        mac: Some(name.mac.to_string()),
        address: None,
        address6: None,
        hostname: Some(name.name.clone()),
        expires_at: None,
        action: "add".into(),
        reason: name.note.clone(),
    };
    let wanted = name.name.to_ascii_lowercase();
    match table.name_of_mac(name.mac) {
        Some(current) if current == wanted => {
            item.action = "unchanged".into();
            return (item, None);
        }
        Some(current) => {
            item.action = "conflict".into();
            item.reason = Some(format!(
                "{} is already named {current} in the cluster; it keeps that name",
                name.mac
            ));
            return (item, None);
        }
        None => {}
    }
    let command = Command::NameMac {
        mac: name.mac,
        name: wanted,
        now,
    };
    apply_to_copy(copies, item, command)
}

/// Applies `command` to the planning copies: planned when it is taken, a
/// conflict with the state machine's reason when it is refused.
fn apply_to_copy(
    copies: &mut Copies,
    mut item: ImportItem,
    command: Command,
) -> (ImportItem, Option<Command>) {
    match raftmasq_state::v6::apply_both(&mut copies.0, &mut copies.1, &command) {
        Response::Rejected { reason } => {
            item.action = "conflict".into();
            item.reason = Some(reason.to_string());
            (item, None)
        }
        _ => (item, Some(command)),
    }
}

fn plan_lease(
    copies: &mut Copies,
    lease: &DnsmasqLease,
    now: Millis,
) -> (ImportItem, Option<Command>) {
    let table = &copies.0;
    let mut item = ImportItem {
        kind: "lease".into(),
        line: lease.line,
        source: None,
        mac: Some(lease.mac.to_string()),
        address: Some(lease.address),
        address6: None,
        hostname: lease.hostname.clone(),
        expires_at: None,
        action: "add".into(),
        reason: None,
    };
    let lease_secs = if lease.expires == 0 {
        item.reason = Some("infinite in dnsmasq: imported with the cluster's lease time".into());
        None
    } else {
        let ends = lease.expires.saturating_mul(1000);
        if ends <= now {
            item.action = "expired".into();
            item.expires_at = Some(ends);
            item.reason = Some("the lease has already ended".into());
            return (item, None);
        }
        // Round up: the client was promised until `expires`, never less.
        Some((ends - now).div_ceil(1000))
    };
    // Keyed as DHCP keys the client's next request (`dhcp.client_identity`),
    // or its first renewal would not find the imported lease.
    let identity = table
        .settings()
        .map(|settings| settings.client_identity)
        .unwrap_or_default();
    let client_id = ClientId::keyed(identity, lease.client_id.as_ref(), lease.mac);
    if let Some(existing) = table.lease_by_client(&client_id) {
        if existing.address == lease.address {
            item.action = "unchanged".into();
            item.expires_at = Some(existing.expires_at);
            item.reason = Some("already in the cluster".into());
        } else {
            item.action = "conflict".into();
            item.reason = Some(format!(
                "the cluster already leases {} to this client; release it first to import this lease",
                existing.address
            ));
        }
        return (item, None);
    }
    if let Some(other) = table.lease_by_address(lease.address) {
        item.action = "conflict".into();
        item.reason = Some(format!(
            "{} is leased to another client ({}) in the cluster",
            lease.address, other.mac
        ));
        return (item, None);
    }
    let command = Command::Bind {
        request: LeaseRequest {
            client_id,
            mac: lease.mac,
            hostname: lease.hostname.clone(),
            requested_address: Some(lease.address),
            seen_by: None,
        },
        now,
        lease_time_secs: lease_secs,
    };
    match raftmasq_state::v6::apply_both(&mut copies.0, &mut copies.1, &command) {
        Response::Lease { lease: granted } => {
            item.expires_at = Some(granted.expires_at);
            let asked = lease.hostname.as_ref().map(|n| n.to_ascii_lowercase());
            if granted.granted_name.is_some() && granted.granted_name != asked {
                item.reason = Some(format!(
                    "DNS name {} granted (the name asked for is taken)",
                    granted.granted_name.as_deref().unwrap_or_default()
                ));
            }
            (item, Some(command))
        }
        Response::Rejected { reason } => {
            item.action = "conflict".into();
            item.reason = Some(reason.to_string());
            (item, None)
        }
        other => {
            item.action = "conflict".into();
            item.reason = Some(format!("unexpected answer {other:?}"));
            (item, None)
        }
    }
}

/// Items for lines the parsers could not import, to show beside the plan.
pub fn unsupported_items(kind: &str, lines: &[Unsupported]) -> Vec<ImportItem> {
    lines
        .iter()
        .map(|u| ImportItem {
            kind: kind.into(),
            line: u.line,
            source: u.source.clone(),
            mac: None,
            address: None,
            address6: None,
            hostname: None,
            expires_at: None,
            action: "unsupported".into(),
            reason: Some(format!("{}: {}", u.reason, u.text)),
        })
        .collect()
}

#[cfg(test)]
mod tests;
