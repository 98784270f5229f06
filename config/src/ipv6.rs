//! `[ipv6]`: IPv6 on the bridge: router advertisements (SLAAC), stateless
//! DHCPv6 for DNS settings, and DNS names for the addresses clients form.
//! Stateful DHCPv6 will add a mode here, not a new section.
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

/// How clients on the bridge get their IPv6 addresses and settings.
/// Stateful DHCPv6 (addresses from DHCPv6) will be a further variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ipv6Mode {
    /// Router advertisements with the prefix on-link and autonomous; clients
    /// form their own addresses (RFC 4862).
    #[default]
    Slaac,
    /// SLAAC as above, with the O flag set: clients ask DHCPv6 for the DNS
    /// servers and search domain (RFC 8415 §18.2.6, Information-request),
    /// which every host answers. LXD's default for a managed bridge.
    Stateless,
}

impl Ipv6Mode {
    pub fn as_str(&self) -> &'static str {
        match self {
            Ipv6Mode::Slaac => "slaac",
            Ipv6Mode::Stateless => "stateless",
        }
    }

    /// Whether this mode answers DHCPv6.
    pub fn serves_dhcpv6(&self) -> bool {
        matches!(self, Ipv6Mode::Stateless)
    }
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
    Some(Ipv6Config {
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
