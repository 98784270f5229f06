//! `dnsctl import-dnsmasq`: reading dnsmasq's lease file and `dhcp-host=`
//! lines, and planning what importing them would change.
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
use std::str::FromStr;

use raftmasq_state::{
    ClientId, Command, LeaseRequest, LeaseTable, MacAddr, Millis, Reservation, Response,
};
use serde::{Deserialize, Serialize};

use crate::json::parse_client_id;

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

/// One `dhcp-host=MAC,IP[,NAME][,LEASETIME]` line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsmasqHost {
    pub line: usize,
    pub mac: MacAddr,
    pub address: Ipv4Addr,
    pub hostname: Option<String>,
    /// dnsmasq's per-host lease time; raftmasq reservations use the cluster's.
    pub lease_secs: Option<u64>,
}

/// A line that was understood but cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsupported {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// `POST /api/v1/import/dnsmasq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRequest {
    pub leases: Vec<DnsmasqLease>,
    pub reservations: Vec<DnsmasqHost>,
    pub dry_run: bool,
}

/// What happened (or would happen) to one imported line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportItem {
    /// `lease` or `reservation`.
    pub kind: String,
    /// Line number in the lease file (leases) or the conf file (reservations).
    pub line: usize,
    pub mac: Option<String>,
    pub address: Option<Ipv4Addr>,
    pub hostname: Option<String>,
    /// For leases: when the lease ends (ms since the epoch) once imported.
    pub expires_at: Option<Millis>,
    /// `add` (dry run), `applied`, `unchanged`, `conflict`, `expired`,
    /// `unsupported`, or `rejected` (refused when it was committed).
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
/// are restored.
#[derive(Debug, Deserialize)]
struct StateExport {
    format: String,
    leases: Vec<raftmasq_state::Lease>,
    reservations: Vec<raftmasq_state::Reservation>,
    records: Vec<raftmasq_state::StaticRecord>,
}

/// Turns an export into the import request (bound leases and reservations,
/// planned and applied like a dnsmasq import: conflicts are reported, never
/// overwritten) and the static records to add.
pub fn state_request(
    text: &str,
    dry_run: bool,
) -> Result<(ImportRequest, Vec<raftmasq_state::StaticRecord>), String> {
    let export: StateExport =
        serde_json::from_str(text).map_err(|e| format!("not a raftmasq export: {e}"))?;
    if export.format != "raftmasq-state-v1" {
        return Err(format!(
            "format {:?} is not raftmasq-state-v1",
            export.format
        ));
    }
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
        })
        .collect();
    Ok((
        ImportRequest {
            leases,
            reservations,
            dry_run,
        },
        export.records,
    ))
}

// ------------------------------------------------------------------ parsing

/// Parses a dnsmasq lease file. IPv6 leases and the `duid` line are reported
/// as unsupported; so is a line that does not parse.
pub fn parse_leases(text: &str) -> (Vec<DnsmasqLease>, Vec<Unsupported>) {
    let mut leases = Vec::new();
    let mut unsupported = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        match parse_lease_line(trimmed, line) {
            Ok(lease) => leases.push(lease),
            Err(reason) => unsupported.push(Unsupported {
                line,
                text: trimmed.to_string(),
                reason,
            }),
        }
    }
    (leases, unsupported)
}

fn parse_lease_line(text: &str, line: usize) -> Result<DnsmasqLease, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.first() == Some(&"duid") {
        return Err("DHCPv6 server DUID: raftmasq serves DHCPv4 only".into());
    }
    let [expires, mac, address, hostname, rest @ ..] = fields.as_slice() else {
        return Err("expected EXPIRY MAC ADDRESS HOSTNAME [CLIENT-ID]".into());
    };
    let expires: u64 = expires
        .parse()
        .map_err(|_| format!("expiry {expires:?} is not a Unix time"))?;
    if address.contains(':') {
        return Err("IPv6 lease: raftmasq serves DHCPv4 only".into());
    }
    let address =
        Ipv4Addr::from_str(address).map_err(|_| format!("invalid address {address:?}"))?;
    let mac = MacAddr::from_str(mac).map_err(|_| {
        format!(
            "hardware address {mac:?} is not an Ethernet MAC (only Ethernet clients are imported)"
        )
    })?;
    let hostname = (*hostname != "*").then(|| hostname.to_string());
    let client_id = match rest.first() {
        None | Some(&"*") => None,
        Some(text) => Some(parse_client_id(text)?),
    };
    Ok(DnsmasqLease {
        line,
        expires,
        mac,
        address,
        hostname,
        client_id,
    })
}

/// Parses the `dhcp-host=` lines of a dnsmasq configuration file; every other
/// line is ignored.
pub fn parse_conf(text: &str) -> (Vec<DnsmasqHost>, Vec<Unsupported>) {
    let mut hosts = Vec::new();
    let mut unsupported = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        let Some((key, value)) = trimmed.split_once('=') else {
            continue;
        };
        if key.trim() != "dhcp-host" {
            continue;
        }
        match parse_dhcp_host(value.trim(), line) {
            Ok(host) => hosts.push(host),
            Err(reason) => unsupported.push(Unsupported {
                line,
                text: trimmed.to_string(),
                reason,
            }),
        }
    }
    (hosts, unsupported)
}

fn parse_dhcp_host(value: &str, line: usize) -> Result<DnsmasqHost, String> {
    let mut mac = None;
    let mut address = None;
    let mut hostname = None;
    let mut lease_secs = None;
    for field in value.split(',').map(str::trim) {
        if field.is_empty() {
            continue;
        }
        if field.starts_with("id:") {
            return Err("client-id (id:) reservations are not supported; reserve by MAC".into());
        }
        if field.starts_with("set:") || field.starts_with("tag:") {
            return Err("tagged dhcp-host lines are not supported".into());
        }
        if field == "ignore" {
            return Err("`ignore` hosts have no reservation to import".into());
        }
        if field.starts_with('[') {
            return Err("IPv6 addresses are not supported".into());
        }
        if let Ok(parsed) = MacAddr::from_str(field) {
            if mac.replace(parsed).is_some() {
                return Err("more than one MAC address on one line is not supported".into());
            }
        } else if field.contains('*') {
            return Err(format!("wildcard MAC {field:?} is not supported"));
        } else if let Ok(parsed) = Ipv4Addr::from_str(field) {
            address = Some(parsed);
        } else if let Some(secs) = parse_lease_time(field) {
            lease_secs = secs;
        } else if hostname.is_none() {
            hostname = Some(field.to_string());
        } else {
            return Err(format!("unexpected field {field:?}"));
        }
    }
    let mac = mac.ok_or("no MAC address (only MAC,IP[,NAME][,LEASETIME] is supported)")?;
    let address = address.ok_or("no IPv4 address: a raftmasq reservation needs one")?;
    Ok(DnsmasqHost {
        line,
        mac,
        address,
        hostname,
        lease_secs,
    })
}

/// dnsmasq lease times: `infinite`, or a number with an optional unit
/// (s, m, h, d, w). `Some(None)` is infinite; `None` is not a lease time.
pub fn parse_lease_time(text: &str) -> Option<Option<u64>> {
    if text == "infinite" {
        return Some(None);
    }
    let (digits, unit) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], Some(c.to_ascii_lowercase())),
        _ => (text, None),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    let scale = match unit {
        None | Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3_600,
        Some('d') => 86_400,
        Some('w') => 604_800,
        Some(_) => return None,
    };
    Some(Some(value.saturating_mul(scale)))
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
    let mut simulated = table.clone();
    let mut out = Vec::new();
    for host in &request.reservations {
        out.push(plan_reservation(&mut simulated, host));
    }
    for lease in &request.leases {
        out.push(plan_lease(&mut simulated, lease, now));
    }
    out
}

fn plan_reservation(table: &mut LeaseTable, host: &DnsmasqHost) -> (ImportItem, Option<Command>) {
    let mut item = ImportItem {
        kind: "reservation".into(),
        line: host.line,
        mac: Some(host.mac.to_string()),
        address: Some(host.address),
        hostname: host.hostname.clone(),
        expires_at: None,
        action: "add".into(),
        reason: None,
    };
    let hostname = host.hostname.as_ref().map(|name| name.to_ascii_lowercase());
    if let Some(existing) = table.reservation_for_mac(host.mac) {
        if existing.address == host.address && existing.hostname == hostname {
            item.action = "unchanged".into();
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
    match table.apply(&command) {
        Response::Rejected { reason } => {
            item.action = "conflict".into();
            item.reason = Some(reason.to_string());
            (item, None)
        }
        _ => (item, Some(command)),
    }
}

fn plan_lease(
    table: &mut LeaseTable,
    lease: &DnsmasqLease,
    now: Millis,
) -> (ImportItem, Option<Command>) {
    let mut item = ImportItem {
        kind: "lease".into(),
        line: lease.line,
        mac: Some(lease.mac.to_string()),
        address: Some(lease.address),
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
    match table.apply(&command) {
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
            mac: None,
            address: None,
            hostname: None,
            expires_at: None,
            action: "unsupported".into(),
            reason: Some(format!("{}: {}", u.reason, u.text)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftmasq_state::{AddressRange, ClientIdentity, ClusterSettings, HostnamePolicy};

    const LEASES: &str = "\
1700000600 02:42:00:00:03:01 172.16.100.10 web 01:02:42:00:00:03:01
0 02:42:00:00:03:02 172.16.100.11 * *
1700000600 02:42:00:00:03:03 172.16.100.12 db
duid 00:01:00:01:2c:1f:00:00:02:42:ac:11:00:02
1700000600 1234abcd fd00::5 v6host 00:01:00:01
1700000600 02:42:00:00:03:04 172.16.100 x *
1700000600 06-02-42-00-00-03-05 172.16.100.13 tr *
";

    #[test]
    fn lease_file_lines_parse_with_star_meaning_none() {
        let (leases, unsupported) = parse_leases(LEASES);
        assert_eq!(leases.len(), 3);
        assert_eq!(
            leases[0],
            DnsmasqLease {
                line: 1,
                expires: 1_700_000_600,
                mac: "02:42:00:00:03:01".parse().expect("mac"),
                address: Ipv4Addr::new(172, 16, 100, 10),
                hostname: Some("web".into()),
                client_id: Some(ClientId(vec![1, 2, 0x42, 0, 0, 3, 1])),
            }
        );
        assert_eq!(leases[1].expires, 0);
        assert_eq!(leases[1].hostname, None);
        assert_eq!(leases[1].client_id, None);
        assert_eq!(leases[2].client_id, None, "client id column may be absent");
        let reasons: Vec<(usize, &str)> = unsupported
            .iter()
            .map(|u| (u.line, u.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].1.contains("DUID"));
        assert!(reasons[1].1.contains("IPv6"));
        assert!(reasons[2].1.contains("invalid address"));
        assert!(reasons[3].1.contains("not an Ethernet MAC"));
    }

    #[test]
    fn dhcp_host_lines_parse_in_their_supported_forms() {
        let conf = "\
# a comment
domain=lxd
dhcp-host=02:42:00:00:04:01,172.16.100.50
dhcp-host = 02:42:00:00:04:02,172.16.100.51,printer,12h
dhcp-host=02:42:00:00:04:03,172.16.100.52,infinite
dhcp-host=id:01:02:03,172.16.100.53
dhcp-host=02:42:00:00:04:05,laptop
dhcp-host=02:42:00:00:04:06,set:red,172.16.100.54
dhcp-host=02:42:00:00:04:07,ignore
dhcp-host=02:42:00:00:*:*,172.16.100.55
";
        let (hosts, unsupported) = parse_conf(conf);
        assert_eq!(hosts.len(), 3);
        assert_eq!(hosts[0].line, 3);
        assert_eq!(hosts[0].hostname, None);
        assert_eq!(hosts[1].hostname.as_deref(), Some("printer"));
        assert_eq!(hosts[1].lease_secs, Some(43_200));
        assert_eq!(hosts[1].address, Ipv4Addr::new(172, 16, 100, 51));
        assert_eq!(hosts[2].lease_secs, None);
        assert_eq!(
            hosts[2].hostname, None,
            "infinite is a lease time, not a name"
        );
        let lines: Vec<usize> = unsupported.iter().map(|u| u.line).collect();
        assert_eq!(lines, [6, 7, 8, 9, 10]);
        assert!(unsupported[0].reason.contains("id:"));
        assert!(unsupported[1].reason.contains("needs one"));
    }

    #[test]
    fn lease_times_in_dnsmasq_units() {
        assert_eq!(parse_lease_time("45"), Some(Some(45)));
        assert_eq!(parse_lease_time("2m"), Some(Some(120)));
        assert_eq!(parse_lease_time("12h"), Some(Some(43_200)));
        assert_eq!(parse_lease_time("1d"), Some(Some(86_400)));
        assert_eq!(parse_lease_time("1w"), Some(Some(604_800)));
        assert_eq!(parse_lease_time("infinite"), Some(None));
        assert_eq!(parse_lease_time("h"), None);
        assert_eq!(parse_lease_time("web1"), None);
        assert_eq!(parse_lease_time("12x"), None);
    }

    fn table() -> LeaseTable {
        table_keyed_by(ClientIdentity::ClientId)
    }

    fn table_keyed_by(client_identity: ClientIdentity) -> LeaseTable {
        let mut table = LeaseTable::default();
        let settings = ClusterSettings {
            subnet: "172.16.0.0/16".parse().expect("subnet"),
            range: AddressRange {
                start: Ipv4Addr::new(172, 16, 100, 10),
                end: Ipv4Addr::new(172, 16, 100, 200),
            },
            domain: "lxd".into(),
            lease_time_secs: 3_600,
            decline_quarantine_secs: 600,
            client_identity,
            duplicate_hostnames: HostnamePolicy::Suffix,
        };
        assert_eq!(
            table.apply(&Command::Initialize { settings }),
            Response::Done
        );
        table
    }

    fn bind(table: &mut LeaseTable, mac: &str, address: [u8; 4], now: Millis) {
        let mac: MacAddr = mac.parse().expect("mac");
        let response = table.apply(&Command::Bind {
            request: LeaseRequest {
                client_id: ClientId::from_mac(mac),
                mac,
                hostname: None,
                requested_address: Some(Ipv4Addr::from(address)),
                seen_by: None,
            },
            now,
            lease_time_secs: None,
        });
        assert!(matches!(response, Response::Lease { .. }), "{response:?}");
    }

    #[test]
    fn the_plan_adds_keeps_and_reports_conflicts_without_overwriting() {
        let now: Millis = 1_700_000_000_000;
        let mut table = table();
        // Already in the cluster: one identical lease, one clashing lease.
        bind(&mut table, "02:42:00:00:03:03", [172, 16, 100, 12], now);
        bind(&mut table, "02:99:00:00:00:01", [172, 16, 100, 20], now);
        let before = table.clone();
        let (leases, _) = parse_leases(
            "\
1700000600 02:42:00:00:03:01 172.16.100.10 web 01:02:42:00:00:03:01
0 02:42:00:00:03:02 172.16.100.11 * *
1700000000 02:42:00:00:03:06 172.16.100.15 old *
1700000600 02:42:00:00:03:03 172.16.100.12 db *
1700000600 02:42:00:00:03:07 172.16.100.20 clash *
1700000600 02:42:00:00:03:08 10.1.2.3 outside *
",
        );
        let (reservations, _) = parse_conf(
            "dhcp-host=02:42:00:00:04:01,172.16.100.50,printer\n\
             dhcp-host=02:42:00:00:04:02,172.16.100.10\n",
        );
        let request = ImportRequest {
            leases,
            reservations,
            dry_run: true,
        };
        let plan = plan(&table, &request, now);
        assert_eq!(table, before, "planning must not touch the table");
        let actions: Vec<(&str, &str)> = plan
            .iter()
            .map(|(item, _)| (item.kind.as_str(), item.action.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                ("reservation", "add"),
                ("reservation", "add"),
                ("lease", "conflict"),
                ("lease", "add"),
                ("lease", "expired"),
                ("lease", "unchanged"),
                ("lease", "conflict"),
                ("lease", "conflict"),
            ]
        );
        // 172.16.100.10 is now reserved for another MAC by the second line.
        assert!(
            plan[2]
                .0
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("not available"),
            "{:?}",
            plan[2].0
        );
        assert!(
            plan[6]
                .0
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("02:99:00:00:00:01")
        );
        assert!(
            plan[7]
                .0
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("not available")
        );

        // Leases keep their remaining time, rounded up to whole seconds.
        let Some(Command::Bind {
            lease_time_secs,
            request,
            ..
        }) = &plan[3].1
        else {
            panic!("expected a bind: {:?}", plan[3]);
        };
        assert_eq!(
            *lease_time_secs, None,
            "infinite lease gets the cluster's time"
        );
        assert_eq!(
            request.requested_address,
            Some(Ipv4Addr::new(172, 16, 100, 11))
        );
        let reserved = plan_lease(
            &mut table.clone(),
            &DnsmasqLease {
                line: 1,
                expires: 1_700_000_600,
                mac: "02:42:00:00:03:09".parse().expect("mac"),
                address: Ipv4Addr::new(172, 16, 100, 30),
                hostname: None,
                client_id: None,
            },
            now - 400,
        );
        let Some(Command::Bind {
            lease_time_secs, ..
        }) = reserved.1
        else {
            panic!("expected a bind");
        };
        assert_eq!(lease_time_secs, Some(601));
        // The table's clock never goes back (it saw `now`), so the lease ends
        // 601 s after `now`: a little late, never early.
        assert_eq!(reserved.0.expires_at, Some(now + 601_000));
    }

    #[test]
    fn a_client_id_from_the_lease_file_is_kept() {
        let now: Millis = 1_700_000_000_000;
        let (leases, _) =
            parse_leases("1700000600 02:42:00:00:03:01 172.16.100.10 web ff:00:00:00:01:00:01\n");
        let request = ImportRequest {
            leases,
            reservations: vec![],
            dry_run: false,
        };
        let plan = plan(&table(), &request, now);
        let Some(Command::Bind { request, .. }) = &plan[0].1 else {
            panic!("expected a bind");
        };
        assert_eq!(request.client_id, ClientId(vec![0xff, 0, 0, 0, 1, 0, 1]));
        assert_eq!(request.hostname.as_deref(), Some("web"));
    }

    #[test]
    fn under_mac_identity_leases_are_keyed_by_mac_as_dhcp_keys_them() {
        let now: Millis = 1_700_000_000_000;
        // Two copies of one networkd container: one option 61 (the DUID of
        // their shared machine-id), two MACs, two addresses in dnsmasq
        // (which ran with --dhcp-ignore-clid).
        let (leases, _) = parse_leases(
            "1700000600 02:42:00:00:03:01 172.16.100.10 web ff:00:00:00:01:00:01
             1700000600 02:42:00:00:03:02 172.16.100.11 web2 ff:00:00:00:01:00:01
",
        );
        let request = ImportRequest {
            leases,
            reservations: vec![],
            dry_run: false,
        };
        let mut table = table_keyed_by(ClientIdentity::Mac);
        let plan = plan(&table, &request, now);
        let mut keys = Vec::new();
        for (item, command) in &plan {
            assert_eq!(item.action, "add", "{item:?}");
            let Some(command @ Command::Bind { request, .. }) = command else {
                panic!("expected a bind: {item:?}");
            };
            keys.push(request.client_id.clone());
            assert!(matches!(table.apply(command), Response::Lease { .. }));
        }
        let macs: Vec<MacAddr> = ["02:42:00:00:03:01", "02:42:00:00:03:02"]
            .iter()
            .map(|mac| mac.parse().expect("mac"))
            .collect();
        assert_eq!(
            keys,
            macs.iter()
                .map(|mac| ClientId::from_mac(*mac))
                .collect::<Vec<_>>()
        );
        // The key DHCP will look the client up by under `mac`.
        for (mac, address) in macs.iter().zip([10, 11]) {
            let key = ClientId::keyed(
                ClientIdentity::Mac,
                Some(&ClientId(vec![0xff, 0, 0, 0, 1, 0, 1])),
                *mac,
            );
            let lease = table.lease_by_client(&key).expect("found by its DHCP key");
            assert_eq!(lease.address, Ipv4Addr::new(172, 16, 100, address));
        }
        // Imported again: already there, nothing to add.
        let again = super::plan(&table, &request, now);
        assert!(
            again
                .iter()
                .all(|(item, command)| item.action == "unchanged" && command.is_none()),
            "{again:?}"
        );

        // Under `client-id` the same file is one client: the second line
        // clashes with the first one's lease.
        let keyed_by_id = super::plan(&table_keyed_by(ClientIdentity::ClientId), &request, now);
        assert_eq!(keyed_by_id[0].0.action, "add");
        assert_eq!(keyed_by_id[1].0.action, "conflict", "{keyed_by_id:?}");
    }
}
