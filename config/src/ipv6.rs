//! `[ipv6]`: IPv6 on the bridge: router advertisements (SLAAC), DHCPv6
//! (`mode`: stateless or stateful, with `range`, `lease_time` and
//! reservations) and DNS names for the addresses clients get.
//!
//! Off by default, so files without the section mean what they meant.

use std::net::Ipv6Addr;
use std::time::Duration;

use ipnet::Ipv6Net;
use serde::Deserialize;

use crate::duration::{self, Bounds};
use crate::error::Problems;

/// SLAAC needs a /64: the interface identifier is 64 bits (RFC 4862 §5.5.3,
/// RFC 4291 §2.5.1).
pub const SLAAC_PREFIX_LEN: u8 = 64;

/// MaxRtrAdvInterval: RFC 4861 §6.2.1 allows 4 s to 1800 s.
const INTERVAL: Bounds = Bounds::seconds(Duration::from_secs(4), Duration::from_secs(1800));
/// AdvDefaultLifetime: 0 (not a default router) up to 9000 s (§6.2.1).
const ROUTER_LIFETIME: Bounds = Bounds::seconds(Duration::ZERO, Duration::from_secs(9000));

/// How clients on the bridge get their IPv6 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ipv6Mode {
    /// Router advertisements with the prefix on-link and autonomous; clients
    /// form their own addresses (RFC 4862).
    #[default]
    Slaac,
    /// SLAAC addresses, plus DHCPv6 INFORMATION-REQUEST answered with the
    /// DNS servers (option 23) and search list (24) by every host (the
    /// `dhcp6` crate): advertisements carry the O flag (RFC 4861 §4.2, RFC
    /// 8415 §18.2.6). LXD's default for a managed bridge.
    Stateless,
    /// Addresses from DHCPv6 (IA_NA, from `ipv6.range`): advertisements
    /// carry the M flag and the prefix on-link but not autonomous.
    Stateful,
}

impl Ipv6Mode {
    pub fn as_str(&self) -> &'static str {
        match self {
            Ipv6Mode::Slaac => "slaac",
            Ipv6Mode::Stateless => "stateless",
            Ipv6Mode::Stateful => "stateful",
        }
    }

    /// Whether this mode runs the DHCPv6 server.
    pub fn serves_dhcpv6(&self) -> bool {
        !matches!(self, Ipv6Mode::Slaac)
    }
}

/// Lease lifetime bounds for DHCPv6 (valid lifetime of an IA_NA address).
const V6_LEASE_TIME: Bounds =
    Bounds::seconds(Duration::from_secs(60), Duration::from_secs(30 * 86400));

/// One `[[ipv6.reservations]]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawV6Reservation {
    pub duid: Option<String>,
    pub mac: Option<String>,
    pub address: Option<String>,
    pub hostname: Option<String>,
}

/// Who a v6 reservation is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V6ReservationKey {
    /// The client's DUID, as bytes.
    Duid(Vec<u8>),
    /// The client's MAC: from a DUID-LL/LLT or the client link-layer
    /// address option (RFC 6939).
    Mac([u8; 6]),
}

/// A fixed IPv6 address (and optionally a name) for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V6Reservation {
    pub key: V6ReservationKey,
    pub address: Ipv6Addr,
    pub hostname: Option<String>,
}

/// The stateful pool: `ipv6.range`, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Range {
    pub start: Ipv6Addr,
    pub end: Ipv6Addr,
}

/// `[ipv6]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIpv6 {
    #[serde(default)]
    pub enabled: bool,
    pub prefix: Option<String>,
    pub address: Option<String>,
    #[serde(default)]
    pub mode: Ipv6Mode,
    #[serde(default = "yes")]
    pub router_advertisements: bool,
    #[serde(default = "interval")]
    pub interval: String,
    pub router_lifetime: Option<String>,
    pub dns_servers: Option<Vec<String>>,
    pub mtu: Option<i64>,
    pub range: Option<String>,
    pub lease_time: Option<String>,
    #[serde(default)]
    pub reservations: Vec<RawV6Reservation>,
}

fn yes() -> bool {
    true
}
fn interval() -> String {
    crate::defaults::RA_INTERVAL.to_string()
}

/// `[ipv6]`, validated. Present only when `ipv6.enabled`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Config {
    /// The bridge's prefix (`ipv6.prefix`), a /64 with no host bits. Set it
    /// alike on every host: the names' AAAA and PTR records derive from it.
    pub prefix: Ipv6Net,
    /// This host's address on the bridge (`ipv6.address`): advertised as a
    /// DNS server (RDNSS) and listened on for DNS.
    pub address: Ipv6Addr,
    pub mode: Ipv6Mode,
    /// Whether this host sends router advertisements.
    pub router_advertisements: bool,
    /// MaxRtrAdvInterval (RFC 4861 §6.2.1); MinRtrAdvInterval is a third of it.
    pub interval: Duration,
    /// AdvDefaultLifetime: how long clients keep this host as a default
    /// router without hearing from it (default three intervals).
    pub router_lifetime: Duration,
    /// RDNSS addresses; `None`: this host's `address`.
    pub dns_servers: Option<Vec<Ipv6Addr>>,
    /// The MTU option; `None`: none sent.
    pub mtu: Option<u32>,
    /// `stateful` only: the addresses DHCPv6 leases come from.
    pub range: Option<Ipv6Range>,
    /// Valid lifetime of a DHCPv6 address lease (`ipv6.lease_time`,
    /// default one hour); preferred lifetime and T1/T2 derive from it.
    pub lease_time: Duration,
    /// `stateful` only: fixed addresses by DUID or MAC, inside the prefix
    /// and outside the range.
    pub reservations: Vec<V6Reservation>,
}

impl Ipv6Config {
    /// The DNS servers this host's advertisements name.
    pub fn advertised_dns_servers(&self) -> Vec<Ipv6Addr> {
        self.dns_servers
            .clone()
            .unwrap_or_else(|| vec![self.address])
    }
}

fn prefix(text: &str) -> Result<Ipv6Net, String> {
    let net: Ipv6Net = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an IPv6 prefix; write it as e.g. \"fd42:1::/64\""))?;
    if net.prefix_len() != SLAAC_PREFIX_LEN {
        return Err(format!(
            "{net} is a /{}; SLAAC needs a /64 (clients fill the last 64 bits)",
            net.prefix_len()
        ));
    }
    if net.addr() != net.network() {
        return Err(format!(
            "{net} has host bits set; the prefix is {}",
            net.trunc()
        ));
    }
    let first = net.network().segments()[0];
    if net.network().is_multicast() || (first & 0xffc0) == 0xfe80 || net.network().is_loopback() {
        return Err(format!(
            "{net} is not a unicast prefix for a bridge (multicast, link-local or loopback); use a ULA (fd00::/8) or global prefix"
        ));
    }
    Ok(net)
}

fn ipv6_address(text: &str) -> Result<Ipv6Addr, String> {
    text.trim().parse().map_err(|_| {
        format!("`{text}` is not an IPv6 address; write e.g. \"fd42:1::1\" (no prefix length)")
    })
}

pub(crate) fn validate(raw: &RawIpv6, problems: &mut Problems<'_>) -> Option<Ipv6Config> {
    if !raw.enabled {
        return None;
    }
    let prefix = match &raw.prefix {
        Some(text) => raw_check(problems, "ipv6.prefix", prefix(text)),
        None => {
            problems.add(
                "ipv6.prefix",
                "missing: with ipv6.enabled the bridge's /64 is needed, e.g. \"fd42:1::/64\"",
            );
            None
        }
    };
    let address = match &raw.address {
        Some(text) => raw_check(problems, "ipv6.address", ipv6_address(text)),
        None => {
            problems.add(
                "ipv6.address",
                "missing: this host's IPv6 address on the bridge, e.g. \"fd42:1::1\"",
            );
            None
        }
    };
    if let (Some(prefix), Some(address)) = (prefix, address) {
        if !prefix.contains(&address) {
            problems.add(
                "ipv6.address",
                format!("{address} is outside ipv6.prefix {prefix}"),
            );
        } else if address == prefix.network() {
            problems.add(
                "ipv6.address",
                format!("{address} is the subnet-router anycast address of {prefix} (RFC 4291 §2.6.1); use another"),
            );
        }
    }
    let interval = raw_check(
        problems,
        "ipv6.interval",
        duration::parse(&raw.interval, INTERVAL),
    );
    let router_lifetime = match &raw.router_lifetime {
        Some(text) => raw_check(
            problems,
            "ipv6.router_lifetime",
            duration::parse(text, ROUTER_LIFETIME),
        ),
        None => interval.map(|i| (i * 3).min(ROUTER_LIFETIME.max)),
    };
    if let (Some(interval), Some(lifetime)) = (interval, router_lifetime)
        && !lifetime.is_zero()
        && lifetime < interval
    {
        problems.add(
            "ipv6.router_lifetime",
            format!(
                "{}s is shorter than ipv6.interval ({}s): clients would drop this router between advertisements (RFC 4861 §6.2.1); use 0 or at least the interval",
                lifetime.as_secs(),
                interval.as_secs()
            ),
        );
    }
    let dns_servers = raw.dns_servers.as_ref().map(|list| {
        list.iter()
            .enumerate()
            .filter_map(|(index, text)| {
                raw_check(
                    problems,
                    &format!("ipv6.dns_servers[{index}]"),
                    ipv6_address(text),
                )
            })
            .collect::<Vec<_>>()
    });
    if raw.dns_servers.as_ref().is_some_and(Vec::is_empty) {
        problems.add(
            "ipv6.dns_servers",
            "the list is empty; leave it out to advertise this host's ipv6.address",
        );
    }
    let mtu = raw.mtu.and_then(|mtu| match u32::try_from(mtu) {
        // RFC 8200 §5: every IPv6 link carries at least 1280 bytes.
        Ok(mtu) if (1280..=65535).contains(&mtu) => Some(mtu),
        _ => {
            problems.add(
                "ipv6.mtu",
                format!("{mtu} is not an IPv6 link MTU: use 1280..=65535"),
            );
            None
        }
    });
    let range = match (&raw.range, raw.mode) {
        (Some(text), Ipv6Mode::Stateful) => raw_check(problems, "ipv6.range", range(text, prefix)),
        (Some(_), mode) => {
            problems.add(
                "ipv6.range",
                format!("only used with mode = \"stateful\" (mode is \"{}\"); remove it or set the mode", mode.as_str()),
            );
            None
        }
        (None, Ipv6Mode::Stateful) => {
            problems.add(
                "ipv6.range",
                "missing: mode = \"stateful\" leases addresses from a range inside ipv6.prefix, e.g. \"fd42:1::1000-fd42:1::1fff\"",
            );
            None
        }
        (None, _) => None,
    };
    if let (Some(r), Some(a)) = (range, address)
        && r.start <= a
        && a <= r.end
    {
        problems.add("ipv6.range", format!("{}-{} holds this host's ipv6.address {a}; keep the range clear of the hosts' addresses", r.start, r.end));
    }
    let lease_time = raw_check(
        problems,
        "ipv6.lease_time",
        duration::parse(raw.lease_time.as_deref().unwrap_or("1h"), V6_LEASE_TIME),
    );
    if !raw.reservations.is_empty() && raw.mode != Ipv6Mode::Stateful {
        problems.add("ipv6.reservations", "only used with mode = \"stateful\"");
    }
    let reservations = reservations(&raw.reservations, prefix, range, address, problems);
    Some(Ipv6Config {
        range,
        lease_time: lease_time?,
        reservations,
        prefix: prefix?,
        address: address?,
        mode: raw.mode,
        router_advertisements: raw.router_advertisements,
        interval: interval?,
        router_lifetime: router_lifetime?,
        dns_servers,
        mtu,
    })
}

/// `ipv6.range`: `"fd42:1::1000-fd42:1::1fff"`, inside `prefix`, start <= end.
fn range(text: &str, prefix: Option<Ipv6Net>) -> Result<Ipv6Range, String> {
    let Some((start, end)) = text.split_once('-') else {
        return Err(format!(
            "`{text}` is not a range; write FIRST-LAST, e.g. \"fd42:1::1000-fd42:1::1fff\""
        ));
    };
    let start = ipv6_address(start)?;
    let end = ipv6_address(end)?;
    if start > end {
        return Err(format!(
            "{start}-{end} is reversed: the first address is after the last; write {end}-{start}"
        ));
    }
    if let Some(prefix) = prefix {
        for address in [start, end] {
            if !prefix.contains(&address) {
                return Err(format!("{address} is outside ipv6.prefix {prefix}"));
            }
        }
        if start == prefix.network() {
            return Err(format!(
                "{start} is the subnet-router anycast address of {prefix} (RFC 4291 §2.6.1); start the range after it"
            ));
        }
    }
    Ok(Ipv6Range { start, end })
}

/// A DUID as hex octets, `:`-separated (`00:03:00:01:00:16:3e:12:34:56`).
fn duid(text: &str) -> Result<Vec<u8>, String> {
    let bytes: Result<Vec<u8>, _> = text
        .trim()
        .split(':')
        .map(|part| {
            if part.is_empty() || part.len() > 2 {
                Err(())
            } else {
                u8::from_str_radix(part, 16).map_err(|_| ())
            }
        })
        .collect();
    match bytes {
        // RFC 8415 §11.1: a DUID is 2 type octets plus 1..=128 octets.
        Ok(bytes) if (3..=130).contains(&bytes.len()) => Ok(bytes),
        _ => Err(format!(
            "`{text}` is not a DUID: write 3 to 130 hex octets separated by `:`, e.g. \"00:03:00:01:00:16:3e:12:34:56\""
        )),
    }
}

fn reservations(
    raw: &[RawV6Reservation],
    prefix: Option<Ipv6Net>,
    range: Option<Ipv6Range>,
    address_of_host: Option<Ipv6Addr>,
    problems: &mut Problems<'_>,
) -> Vec<V6Reservation> {
    let mut out: Vec<V6Reservation> = Vec::new();
    for (index, entry) in raw.iter().enumerate() {
        let at = |key: &str| format!("ipv6.reservations[{index}].{key}");
        let key = match (&entry.duid, &entry.mac) {
            (Some(text), None) => {
                raw_check(problems, &at("duid"), duid(text)).map(V6ReservationKey::Duid)
            }
            (None, Some(text)) => raw_check(
                problems,
                &at("mac"),
                text.parse::<raftmasq_state::MacAddr>()
                    .map(|mac| V6ReservationKey::Mac(mac.0))
                    .map_err(|e| e.to_string()),
            ),
            (Some(_), Some(_)) => {
                problems.add(&at("mac"), "give either duid or mac, not both");
                None
            }
            (None, None) => {
                problems.add(
                    &at("duid"),
                    "missing: a reservation names the client by duid or by mac",
                );
                None
            }
        };
        let address = match &entry.address {
            Some(text) => raw_check(problems, &at("address"), ipv6_address(text)),
            None => {
                problems.add(
                    &at("address"),
                    "missing: the address to reserve, e.g. \"fd42:1::50\"",
                );
                None
            }
        };
        if let Some(address) = address {
            if prefix.is_some_and(|p| !p.contains(&address)) {
                problems.add(&at("address"), format!("{address} is outside ipv6.prefix"));
            } else if range.is_some_and(|r| r.start <= address && address <= r.end) {
                problems.add(
                    &at("address"),
                    format!("{address} is inside ipv6.range; reserve addresses outside the dynamic range (so no dynamic lease can hold one)"),
                );
            } else if Some(address) == address_of_host {
                problems.add(
                    &at("address"),
                    format!("{address} is this host's ipv6.address"),
                );
            } else if out.iter().any(|r| r.address == address) {
                problems.add(&at("address"), format!("{address} is reserved twice"));
            }
        }
        let hostname = entry.hostname.as_ref().and_then(|name| {
            let normal = raftmasq_state::normalize_hostname(name)
                .filter(|n| n == name || n == &name.to_ascii_lowercase());
            if normal.is_none() {
                problems.add(
                    &at("hostname"),
                    format!("`{name}` is not a host name: 1-63 letters, digits or hyphens"),
                );
            }
            normal
        });
        if let (Some(key), Some(address)) = (key, address) {
            if out.iter().any(|r| r.key == key) {
                problems.add(&at("duid"), "this client has a reservation already");
            }
            out.push(V6Reservation {
                key,
                address,
                hostname,
            });
        }
    }
    out
}

fn raw_check<T>(problems: &mut Problems<'_>, key: &str, result: Result<T, String>) -> Option<T> {
    result.map_err(|reason| problems.add(key, reason)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_must_be_a_unicast_64_without_host_bits() {
        assert_eq!(prefix("fd42:1::/64").unwrap().to_string(), "fd42:1::/64");
        assert!(
            prefix("fd42:1::/48")
                .unwrap_err()
                .contains("SLAAC needs a /64")
        );
        assert!(
            prefix("fd42:1::5/64")
                .unwrap_err()
                .contains("host bits set; the prefix is fd42:1::/64")
        );
        assert!(prefix("fe80::/64").unwrap_err().contains("link-local"));
        assert!(prefix("ff02::/64").unwrap_err().contains("multicast"));
        assert!(
            prefix("10.0.0.0/24")
                .unwrap_err()
                .contains("not an IPv6 prefix")
        );
    }
}
