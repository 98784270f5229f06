//! `[[dhcp.networks]]`: the networks a cluster serves beside the one of
//! `[dhcp]` (which is network `default`, so a file without the list means
//! what it always meant). Each has its own bridge, subnet, pool, routers and
//! domain; lease time, hostname policy and quarantine are its own when the
//! entry writes them and `[dhcp]`'s otherwise; client identity is `[dhcp]`'s.
//! The cluster refuses overlapping subnets at run time too
//! (raftmasq_state::networks); the file is checked first so the operator
//! hears of it with the file, key and reason. Networks may share a domain
//! (each other's or `dns.domain`): names stay unique across the domain in
//! the state machine, so nothing about a shared domain is ambiguous.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;
use raftmasq_state::{AddressRange, ClusterSettings, DEFAULT_NETWORK, is_valid_network_name};
use serde::Deserialize;

use crate::HostnamePolicy;
use crate::error::Problems;
use crate::net;
use crate::options::DhcpOptionValue;

/// Option 121 (RFC 3442).
const CLASSLESS_STATIC_ROUTES: u8 = 121;

/// One `[[dhcp.networks]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Absent: a relay-only network, reached through DHCP relays alone.
    pub interface: Option<String>,
    pub address: String,
    pub subnet: String,
    pub range: Option<String>,
    pub ranges: Option<Vec<String>>,
    pub routers: Option<Vec<String>>,
    pub domain: Option<String>,
    /// The network's own; `[dhcp]`'s when absent.
    pub lease_time: Option<String>,
    pub decline_quarantine: Option<String>,
    pub duplicate_hostnames: Option<HostnamePolicy>,
    /// The network's own `[dhcp.options]`-style table and `[[...option]]`s.
    #[serde(default)]
    pub options: crate::raw::RawNamedOptions,
    #[serde(default)]
    pub option: Vec<crate::raw::RawOption>,
}

fn yes() -> bool {
    true
}

/// A network beside `default`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// 1-63 lowercase letters, digits or hyphens; never `default`.
    pub name: String,
    /// When false this node serves no DHCP on the network.
    pub enabled: bool,
    /// The bridge the network's clients are on; one listener each. `None`:
    /// relay-only, the clients are on a link of another host (routed) and
    /// their requests come through a DHCP relay there.
    pub interface: Option<String>,
    /// This host's address on that bridge; the server identifier there. For
    /// a relay-only network, this host's address the relays send to (e.g.
    /// its underlay address): the relay listener binds it, and it is the
    /// server identifier of the network's replies.
    pub address: Ipv4Addr,
    pub subnet: Ipv4Net,
    /// Dynamic pools, ascending and disjoint; empty: reservations and
    /// INFORM only.
    pub ranges: Vec<AddressRange>,
    /// Option 3, in order; `[address]` when not written.
    pub routers: Vec<Ipv4Addr>,
    /// `None`: `NAME.DNS_DOMAIN` ([`NetworkConfig::domain_under`]).
    pub domain: Option<String>,
    /// The network's own operator options (`dhcp.networks[i].options` and
    /// `.option`); [`NetworkConfig::options_over`] adds `[dhcp]`'s.
    pub options: Vec<DhcpOptionValue>,
    /// Its own `lease_time`; `None`: `[dhcp]`'s.
    pub lease_time: Option<Duration>,
    /// Its own `decline_quarantine`; `None`: `[dhcp]`'s.
    pub decline_quarantine: Option<Duration>,
    /// Its own `duplicate_hostnames`; `None`: `[dhcp]`'s.
    pub duplicate_hostnames: Option<HostnamePolicy>,
}

impl NetworkConfig {
    /// Served through relays only: no bridge of this host is on it.
    pub fn is_relay_only(&self) -> bool {
        self.interface.is_none()
    }

    /// The network's DNS domain given the cluster's `dns.domain`.
    pub fn domain_under(&self, dns_domain: &str) -> String {
        match &self.domain {
            Some(domain) => domain.clone(),
            None => format!("{}.{dns_domain}", self.name),
        }
    }

    /// The options the network's replies carry: its own, then each of
    /// `[dhcp]`'s (`default`) whose code it does not set, but for classless
    /// static routes (121), whose gateways are on the default subnet: a
    /// client given them would ignore this network's router (RFC 3442).
    pub fn options_over(&self, default: &[DhcpOptionValue]) -> Vec<DhcpOptionValue> {
        let mut options = self.options.clone();
        options.extend(
            default
                .iter()
                .filter(|option| option.code() != CLASSLESS_STATIC_ROUTES)
                .filter(|option| !self.options.iter().any(|own| own.code() == option.code()))
                .cloned(),
        );
        options
    }

    /// The network's replicated settings: its own subnet, ranges and
    /// domain, and lease time, quarantine and hostname policy where the
    /// entry writes them; the rest from `[dhcp]`'s (`default`).
    pub fn cluster_settings(&self, default: &ClusterSettings) -> ClusterSettings {
        ClusterSettings {
            subnet: self.subnet,
            ranges: self.ranges.clone(),
            domain: self.domain_under(&default.domain),
            lease_time_secs: self
                .lease_time
                .map_or(default.lease_time_secs, |d| d.as_secs()),
            decline_quarantine_secs: self
                .decline_quarantine
                .map_or(default.decline_quarantine_secs, |d| d.as_secs()),
            duplicate_hostnames: self
                .duplicate_hostnames
                .unwrap_or(default.duplicate_hostnames),
            ..default.clone()
        }
    }

    /// The cluster-wide keys (as `dnsctl settings set` names them) this
    /// entry writes itself, so a difference in them is at
    /// `dhcp.networks[i].FIELD`; the others are `[dhcp]`'s.
    pub fn own_keys(&self) -> Vec<&'static str> {
        let mut keys = vec!["dhcp.subnet", "dhcp.range", "dhcp.ranges", "dns.domain"];
        for (key, written) in [
            ("dhcp.lease_time", self.lease_time.is_some()),
            ("dhcp.decline_quarantine", self.decline_quarantine.is_some()),
            (
                "dhcp.duplicate_hostnames",
                self.duplicate_hostnames.is_some(),
            ),
        ] {
            if written {
                keys.push(key);
            }
        }
        keys
    }
}

/// What the default network (`[dhcp]`) holds, for the cross-network checks.
pub(crate) struct DefaultNetwork<'a> {
    pub interface: &'a str,
    pub subnet: Option<Ipv4Net>,
}

/// Validates `[[dhcp.networks]]`; every problem under `dhcp.networks[i].KEY`.
pub(crate) fn validate(
    raw: &[RawNetwork],
    default: &DefaultNetwork<'_>,
    problems: &mut Problems<'_>,
) -> Vec<NetworkConfig> {
    let mut networks = Vec::with_capacity(raw.len());
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut interfaces: BTreeMap<&str, String> = BTreeMap::new();
    interfaces.insert(default.interface, "dhcp.interface (network default)".into());
    let mut subnets: Vec<(Ipv4Net, String)> = default
        .subnet
        .map(|s| (s, "dhcp.subnet (network default)".to_string()))
        .into_iter()
        .collect();
    for (index, entry) in raw.iter().enumerate() {
        let key = |field: &str| format!("dhcp.networks[{index}].{field}");
        if entry.name == DEFAULT_NETWORK {
            problems.add(
                &key("name"),
                "`default` is the network of [dhcp] itself; give this one another name",
            );
        } else if !is_valid_network_name(&entry.name) {
            problems.add(
                &key("name"),
                format!(
                    "`{}` is not a network name: use 1 to 63 lowercase letters, digits or hyphens, not starting or ending with a hyphen",
                    entry.name
                ),
            );
        } else if let Some(first) = names.insert(&entry.name, index) {
            problems.add(
                &key("name"),
                format!(
                    "network `{}` is already defined by dhcp.networks[{first}]",
                    entry.name
                ),
            );
        }
        let relay_only = entry.interface.is_none();
        if let Some(interface) = &entry.interface {
            if let Err(reason) = crate::validate::interface(interface) {
                problems.add(&key("interface"), reason);
            } else if let Some(first) = interfaces.insert(interface, key("interface")) {
                problems.add(
                    &key("interface"),
                    format!(
                        "interface {interface} is already {first}'s; each network needs its own bridge"
                    ),
                );
            }
        }
        let address = check(problems, &key("address"), net::ipv4(&entry.address));
        let subnet = check(problems, &key("subnet"), net::subnet(&entry.subnet));
        let ranges = crate::ranges::parse(
            problems,
            &format!("dhcp.networks[{index}]"),
            entry.range.as_deref(),
            entry.ranges.as_deref(),
        );
        if relay_only && entry.routers.is_none() {
            problems.add(
                &key("routers"),
                "a network without `interface` is served through relays only, so this host's address is not on it: give its routers (usually the relay's address on that link, e.g. routers = [\"172.31.0.1\"])",
            );
        }
        let routers: Vec<Ipv4Addr> = match &entry.routers {
            Some(list) if list.is_empty() => {
                problems.add(
                    &key("routers"),
                    "the list is empty; omit the key to hand out this host's address",
                );
                Vec::new()
            }
            Some(list) => list
                .iter()
                .enumerate()
                .filter_map(|(i, text)| {
                    check(
                        problems,
                        &format!("dhcp.networks[{index}].routers[{i}]"),
                        net::ipv4(text),
                    )
                })
                .collect(),
            None => address.into_iter().collect(),
        };
        if let Some(domain) = &entry.domain
            && let Err(reason) = raftmasq_state::normalize_dns_name(domain)
        {
            problems.add(
                &key("domain"),
                format!("`{domain}` is not a domain: {reason}"),
            );
        }
        if let Some(subnet) = subnet {
            // A relay-only network's address is this host's on the path
            // from the relays (the underlay), never on the network itself.
            if let Some(address) = address
                && relay_only
            {
                if subnet.contains(&address) {
                    problems.add(
                        &key("address"),
                        format!(
                            "address {address} is inside this relay-only network's subnet {subnet}; give this host's address the relays send to (its underlay address), which is outside it"
                        ),
                    );
                } else if address.is_unspecified() || address.is_broadcast() {
                    problems.add(
                        &key("address"),
                        format!("address {address} is not a host address the relays can send to"),
                    );
                }
            }
            let mut host = |field: &str, what: &str, address: Ipv4Addr| {
                if !subnet.contains(&address) {
                    problems.add(
                        field,
                        format!("{what} {address} is outside this network's subnet {subnet}"),
                    );
                } else if address == subnet.network() || address == subnet.broadcast() {
                    problems.add(
                        field,
                        format!("{what} {address} is the network or broadcast address of {subnet}"),
                    );
                }
            };
            if let Some(address) = address
                && !relay_only
            {
                host(&key("address"), "address", address);
            }
            if entry.routers.is_some() {
                for (i, router) in routers.iter().enumerate() {
                    host(
                        &format!("dhcp.networks[{index}].routers[{i}]"),
                        "router",
                        *router,
                    );
                }
            }
            if let Some(ranges) = &ranges {
                let mut taken = crate::validate::edge_addresses(subnet);
                if !relay_only {
                    taken.extend(
                        address.map(|a| (a, "this host's address on the network".to_string())),
                    );
                }
                crate::ranges::check_in_subnet(problems, ranges, subnet, "subnet", &taken);
            }
            for (other, whose) in &subnets {
                if other.contains(&subnet.network()) || subnet.contains(&other.network()) {
                    problems.add(
                        &key("subnet"),
                        format!(
                            "subnet {subnet} overlaps {other} of {whose}; an address must belong to one network"
                        ),
                    );
                }
            }
            subnets.push((subnet, key("subnet")));
        }
        let section = format!("dhcp.networks[{index}]");
        for (field, set) in [
            ("next_server", entry.options.next_server.is_some()),
            ("server_name", entry.options.server_name.is_some()),
            ("boot_file", entry.options.boot_file.is_some()),
        ] {
            if set {
                problems.add(
                    &format!("{section}.options.{field}"),
                    "the boot fields are the cluster's: set them in [dhcp.options]",
                );
            }
        }
        let options = crate::options::validate_under(
            &section,
            &entry.options,
            &entry.option,
            subnet,
            problems,
        );
        let mut own_duration = |field: &str, text: &Option<String>, bounds| {
            text.as_ref()
                .and_then(|text| check(problems, &key(field), crate::duration::parse(text, bounds)))
        };
        let lease_time = own_duration("lease_time", &entry.lease_time, crate::validate::LEASE_TIME);
        let decline_quarantine = own_duration(
            "decline_quarantine",
            &entry.decline_quarantine,
            crate::validate::DECLINE_QUARANTINE,
        );
        let placeholder = Ipv4Addr::UNSPECIFIED;
        networks.push(NetworkConfig {
            name: entry.name.clone(),
            enabled: entry.enabled,
            interface: entry.interface.clone(),
            address: address.unwrap_or(placeholder),
            subnet: subnet.unwrap_or_default(),
            ranges: ranges
                .as_deref()
                .map(crate::ranges::plain)
                .unwrap_or_default(),
            routers,
            domain: entry
                .domain
                .as_ref()
                .map(|d| raftmasq_state::normalize_dns_name(d).unwrap_or_else(|_| d.clone())),
            options,
            lease_time,
            decline_quarantine,
            duplicate_hostnames: entry.duplicate_hostnames,
        });
    }
    networks
}

fn check<T>(problems: &mut Problems<'_>, key: &str, result: Result<T, String>) -> Option<T> {
    result.map_err(|reason| problems.add(key, reason)).ok()
}
