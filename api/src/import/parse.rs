//! Reading the files an import starts from: dnsmasq's lease file, its
//! configuration's `dhcp-host=` lines (every other option line reported with
//! where its raftmasq setting lives) and LXD's per-instance host files. Each
//! line becomes an entry or an [`Unsupported`] with the reason.

use std::net::Ipv4Addr;
use std::str::FromStr;

use raftmasq_state::MacAddr;

use super::v6::{DnsmasqLease6, parse_lease6_line};
use super::{DnsmasqHost, DnsmasqLease, DnsmasqName, Unsupported};
use crate::json::parse_client_id;

/// What a dnsmasq lease file holds for import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseFile {
    pub leases: Vec<DnsmasqLease>,
    pub leases6: Vec<DnsmasqLease6>,
    /// The `duid` line and every line that does not parse, with the reason.
    pub unsupported: Vec<Unsupported>,
}

/// Parses a dnsmasq lease file: v4 lines, and the v6 lines (an address with
/// a `:`, after the `duid SERVER_DUID` line). The server DUID is reported
/// as not imported; so is a line that does not parse.
pub fn parse_lease_file(text: &str) -> LeaseFile {
    let mut file = LeaseFile::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let parsed = if fields.first() == Some(&"duid") {
            Err("dnsmasq's own DHCPv6 server DUID: each raftmasq host has its own (`[ipv6]`); clients move to it when they REBIND".into())
        } else if fields.get(2).is_some_and(|address| address.contains(':')) {
            parse_lease6_line(&fields, line).map(|lease| file.leases6.push(lease))
        } else {
            parse_lease_line(&fields, line).map(|lease| file.leases.push(lease))
        };
        if let Err(reason) = parsed {
            file.unsupported.push(Unsupported {
                line,
                text: trimmed.to_string(),
                reason,
                source: None,
            });
        }
    }
    file
}

/// The v4 leases of a lease file and the lines not imported as v4 leases
/// (the v6 lines among them: [`parse_lease_file`] reads those).
pub fn parse_leases(text: &str) -> (Vec<DnsmasqLease>, Vec<Unsupported>) {
    let file = parse_lease_file(text);
    let mut unsupported = file.unsupported;
    for lease in &file.leases6 {
        let text = text.lines().nth(lease.line - 1).unwrap_or_default().trim();
        unsupported.push(Unsupported {
            line: lease.line,
            text: text.to_string(),
            reason: "DHCPv6 lease: read with parse_lease_file".into(),
            source: None,
        });
    }
    unsupported.sort_by_key(|u| u.line);
    (file.leases, unsupported)
}

fn parse_lease_line(fields: &[&str], line: usize) -> Result<DnsmasqLease, String> {
    let [expires, mac, address, hostname, rest @ ..] = fields else {
        return Err("expected EXPIRY MAC ADDRESS HOSTNAME [CLIENT-ID]".into());
    };
    let expires: u64 = expires
        .parse()
        .map_err(|_| format!("expiry {expires:?} is not a Unix time"))?;
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

/// A dnsmasq configuration file, read for import: its `dhcp-host=` lines
/// (reservations, or why not) and every other option line with the reason
/// it is not imported. Comments and blank lines are the only lines left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfFile {
    pub hosts: Vec<DnsmasqHost>,
    /// `dhcp-host=` lines that cannot become reservations.
    pub unsupported: Vec<Unsupported>,
    /// Every other option line: raftmasq takes these settings from its own
    /// configuration, so each one is reported with where its equivalent is.
    pub options: Vec<Unsupported>,
}

/// Parses a dnsmasq configuration file.
pub fn parse_conf(text: &str) -> ConfFile {
    let mut conf = ConfFile::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (key, value) = match trimmed.split_once('=') {
            Some((key, value)) => (key.trim(), Some(value.trim())),
            None => (trimmed, None),
        };
        let not_imported = |reason: String| Unsupported {
            line,
            text: trimmed.to_string(),
            reason,
            source: None,
        };
        match (key, value) {
            ("dhcp-host", Some(value)) => match parse_dhcp_host(value, line) {
                Ok(host) => conf.hosts.push(host),
                Err(reason) => conf.unsupported.push(not_imported(reason)),
            },
            _ => conf.options.push(not_imported(option_reason(key))),
        }
    }
    conf
}

/// Why a dnsmasq option is not imported, and where its raftmasq equivalent is.
fn option_reason(key: &str) -> String {
    let equivalent = match key {
        "domain" | "local" | "expand-hosts" => {
            "the cluster's DNS domain is dns.domain in raftmasq.toml"
        }
        "dhcp-range" => "the pool is dhcp.subnet and dhcp.range (or dhcp.ranges) in raftmasq.toml",
        "dhcp-option" | "dhcp-option-force" => {
            "DHCP options are [dhcp] keys and [[dhcp.option]] tables in raftmasq.toml"
        }
        "server" | "rev-server" | "resolv-file" | "no-resolv" => {
            "upstream DNS servers are dns.upstream in raftmasq.toml"
        }
        "interface" | "listen-address" | "bind-interfaces" | "bind-dynamic"
        | "except-interface" | "port" => {
            "listeners are dhcp.interface and dns.listen in raftmasq.toml"
        }
        "dhcp-leasefile" | "dhcp-lease-file" => "pass the lease file itself with --leases",
        "dhcp-hostsfile" | "dhcp-hostsdir" => {
            "pass the file or directory with --lxd-hosts if its lines are MAC[,IPv4][,NAME] \
             (LXD's form), other forms as dhcp-host= lines of a --conf file"
        }
        "conf-file" | "conf-dir" | "addn-hosts" => {
            "included files are not read: pass each with --conf"
        }
        "address" | "host-record" | "cname" | "txt-record" | "srv-host" | "mx-host"
        | "ptr-record" => "static DNS data is `dnsctl records add` or dns.records_file",
        "dhcp-authoritative" | "dhcp-no-override" | "dhcp-rapid-commit" | "no-ping" => {
            "raftmasq's DHCP behaviour is fixed or set in [dhcp] (docs/configuration.md)"
        }
        _ => "set its raftmasq equivalent, if any, in raftmasq.toml (docs/configuration.md)",
    };
    format!("dnsmasq option `{key}` is not imported: {equivalent}")
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
        source: None,
        note: None,
    })
}

/// What one LXD host file line becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LxdEntry {
    /// `MAC,IPv4[,[IPv6]][,NAME]`: a static address set in LXD.
    Reservation(DnsmasqHost),
    /// `MAC[,[IPv6]],NAME`: the instance's name for its MAC.
    Name(DnsmasqName),
}

/// Parses one of LXD's per-instance host files (`networks/BRIDGE/
/// dnsmasq.hosts/INSTANCE.NIC` in LXD 5.0, e.g. `c1.eth0`; `INSTANCE` in
/// older releases; prefixed `PROJECT_` outside the default project). LXD
/// writes one line `MAC[,IPv4][,[IPv6]][,NAME]` (lxd/dnsmasq
/// `UpdateStaticEntry`): the NAME only while the bridge's `dns.mode` is
/// managed, `NAME.PROJECT` outside the default project. `source` names the
/// file in the report.
pub fn parse_lxd_hosts(source: &str, text: &str) -> (Vec<LxdEntry>, Vec<Unsupported>) {
    let mut entries = Vec::new();
    let mut unsupported = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match parse_lxd_line(trimmed, line, source) {
            Ok(entry) => entries.push(entry),
            Err(reason) => unsupported.push(Unsupported {
                line,
                text: trimmed.to_string(),
                reason,
                source: Some(source.to_string()),
            }),
        }
    }
    (entries, unsupported)
}

fn parse_lxd_line(text: &str, line: usize, source: &str) -> Result<LxdEntry, String> {
    let mut fields = text.split(',').map(str::trim);
    let first = fields.next().unwrap_or_default();
    let mac = MacAddr::from_str(first).map_err(|_| {
        format!("expected MAC[,IPv4][,[IPv6]][,NAME] as LXD writes it; {first:?} is not a MAC")
    })?;
    let mut address = None;
    let mut ipv6 = None;
    let mut name: Option<&str> = None;
    for field in fields {
        if field.starts_with('[') && field.ends_with(']') && field.len() > 2 {
            if ipv6.replace(field).is_some() {
                return Err("more than one IPv6 address".into());
            }
        } else if let Ok(parsed) = Ipv4Addr::from_str(field) {
            if address.replace(parsed).is_some() {
                return Err("more than one IPv4 address".into());
            }
        } else if name.is_none() && !field.is_empty() {
            name = Some(field);
        } else {
            return Err(format!("unexpected field {field:?}"));
        }
    }
    let mut notes = Vec::new();
    if let Some(ipv6) = ipv6 {
        notes.push(format!(
            "IPv6 address {ipv6} not imported: raftmasq serves DHCPv4 only"
        ));
    }
    // NAME.PROJECT: an instance outside LXD's default project. It becomes
    // the MAC's name as it is; a reservation's hostname is one label.
    let name = match name {
        Some(name) if name.contains('.') => {
            match (raftmasq_state::normalize_machine_name(name), address) {
                (Some(machine), None) => Some(machine),
                (Some(_), Some(_)) => {
                    notes.push(format!(
                        "name {name:?} (NAME.PROJECT, an instance outside LXD's default project) not set on the \
                         reservation, whose hostname is one label; raftmasq's [lxd] integration names the instance"
                    ));
                    None
                }
                (None, _) => {
                    notes.push(format!("name {name:?} is not a DNS name: not imported"));
                    None
                }
            }
        }
        other => other.map(str::to_string),
    };
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    match (address, name) {
        (Some(address), hostname) => Ok(LxdEntry::Reservation(DnsmasqHost {
            line,
            mac,
            address,
            hostname,
            lease_secs: None,
            source: Some(source.to_string()),
            note,
        })),
        (None, Some(name)) => Ok(LxdEntry::Name(DnsmasqName {
            line,
            source: Some(source.to_string()),
            mac,
            name,
            note,
        })),
        (None, None) => Err(match note {
            Some(note) => format!("no IPv4 address and no name to import ({note})"),
            None => "no IPv4 address and no name: nothing to import".into(),
        }),
    }
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
