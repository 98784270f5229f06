//! The zones we are authoritative for and where a name falls in them.
//!
//! Names are handled as lowercase ASCII without the trailing dot, the form the
//! lease table indexes them by.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;
use ipnet::{Ipv4Net, Ipv6Net};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZoneKind {
    /// The cluster domain: lease names, static records, NS.
    Forward,
    /// An `in-addr.arpa` zone covering `net`: PTRs of leases.
    Reverse { net: Ipv4Net, subnet: Ipv4Net },
    /// The `ip6.arpa` zone of the bridge's /64: PTRs of the EUI-64
    /// addresses of leases (`slaac`).
    Reverse6 { prefix: Ipv6Net },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Zone {
    /// Lowercase, no trailing dot.
    pub apex: String,
    pub kind: ZoneKind,
}

impl Zone {
    pub fn forward(domain: &str) -> Zone {
        Zone {
            apex: domain.to_string(),
            kind: ZoneKind::Forward,
        }
    }

    /// The reverse zone of `subnet`: its network's octets down to the prefix,
    /// rounded down to a whole octet (a /20 is served from the enclosing /16
    /// zone) because PTR names split only at octet boundaries.
    pub fn reverse(subnet: Ipv4Net) -> Zone {
        let octets = usize::from(subnet.prefix_len() / 8);
        let net = Ipv4Net::new(subnet.network(), (octets * 8) as u8)
            .map(|n| n.trunc())
            .unwrap_or(subnet);
        let mut labels: Vec<String> = net.network().octets()[..octets]
            .iter()
            .rev()
            .map(u8::to_string)
            .collect();
        labels.push("in-addr".into());
        labels.push("arpa".into());
        Zone {
            apex: labels.join("."),
            kind: ZoneKind::Reverse { net, subnet },
        }
    }

    /// The `ip6.arpa` zone of `prefix`: one nibble label per 4 bits of the
    /// prefix (the config crate makes it a /64, so 16 labels).
    pub fn reverse6(prefix: Ipv6Net) -> Zone {
        let nibbles = usize::from(prefix.prefix_len() / 4);
        let mut labels: Vec<String> = nibbles_of(prefix.network())[..nibbles]
            .iter()
            .rev()
            .map(|n| format!("{n:x}"))
            .collect();
        labels.push("ip6".into());
        labels.push("arpa".into());
        Zone {
            apex: labels.join("."),
            kind: ZoneKind::Reverse6 { prefix },
        }
    }

    /// The apex as a DNS name.
    pub fn name(&self) -> Name {
        // Apexes are built from validated labels, so this cannot fail in practice.
        Name::from_ascii(format!("{}.", self.apex)).unwrap_or_else(|_| Name::root())
    }

    /// The part of `name` below the apex (`""` at the apex), or `None` if
    /// `name` is outside the zone.
    pub fn relative<'n>(&self, name: &'n str) -> Option<&'n str> {
        if name == self.apex {
            return Some("");
        }
        let head = name.strip_suffix(self.apex.as_str())?;
        head.strip_suffix('.').filter(|h| !h.is_empty())
    }
}

/// The zones served for `domain`, (once the replica knows it) `subnet` and
/// (with IPv6) `prefix`; the more specific zone first so a lookup picks the
/// closest enclosing one.
pub(crate) fn zones(domain: &str, subnet: Option<Ipv4Net>, prefix: Option<Ipv6Net>) -> Vec<Zone> {
    let mut zones = Vec::with_capacity(3);
    if let Some(subnet) = subnet {
        zones.push(Zone::reverse(subnet));
    }
    if let Some(prefix) = prefix {
        zones.push(Zone::reverse6(prefix));
    }
    zones.push(Zone::forward(domain));
    zones.sort_by_key(|z| std::cmp::Reverse(z.apex.matches('.').count()));
    zones
}

/// The zone holding `name` and the part of `name` below its apex.
pub(crate) fn find<'z, 'n>(zones: &'z [Zone], name: &'n str) -> Option<(&'z Zone, &'n str)> {
    zones
        .iter()
        .find_map(|zone| zone.relative(name).map(|rel| (zone, rel)))
}

/// A name inside a reverse zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReverseName {
    /// Four octets: a PTR owner.
    Address(Ipv4Addr),
    /// Fewer octets: an interior node covering this network.
    Network(Ipv4Net),
    /// Not an address (bad label, too many octets).
    Invalid,
}

/// A name inside an `ip6.arpa` zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReverseName6 {
    /// 32 nibbles: a PTR owner.
    Address(Ipv6Addr),
    /// Fewer nibbles: an interior node of the zone.
    Interior,
    /// Not an address (bad label, too many nibbles).
    Invalid,
}

/// Parses the labels of `relative` (below the apex of the zone for `prefix`).
pub(crate) fn parse_reverse6(prefix: Ipv6Net, relative: &str) -> ReverseName6 {
    let mut nibbles = nibbles_of(prefix.network());
    let mut count = usize::from(prefix.prefix_len() / 4);
    if !relative.is_empty() {
        for label in relative.rsplit('.') {
            let nibble = match label.as_bytes() {
                [digit] => (*digit as char).to_digit(16),
                _ => None,
            };
            let (Some(nibble), true) = (nibble, count < 32) else {
                return ReverseName6::Invalid;
            };
            nibbles[count] = nibble as u8;
            count += 1;
        }
    }
    if count < 32 {
        return ReverseName6::Interior;
    }
    let value = nibbles
        .iter()
        .fold(0u128, |acc, nibble| (acc << 4) | u128::from(*nibble));
    ReverseName6::Address(Ipv6Addr::from(value))
}

/// The 32 nibbles of `address`, most significant first.
fn nibbles_of(address: Ipv6Addr) -> [u8; 32] {
    let mut nibbles = [0u8; 32];
    for (index, octet) in address.octets().iter().enumerate() {
        nibbles[2 * index] = octet >> 4;
        nibbles[2 * index + 1] = octet & 0x0f;
    }
    nibbles
}

/// `b.a.9.8. … .ip6.arpa` for an IPv6 address (RFC 3596 §2.5).
pub(crate) fn ptr6_name(address: Ipv6Addr) -> String {
    let mut name = String::with_capacity(72);
    for nibble in nibbles_of(address).iter().rev() {
        name.push_str(&format!("{nibble:x}."));
    }
    name.push_str("ip6.arpa");
    name
}

/// Parses the labels of `relative` (below the apex of a zone for `net`).
pub(crate) fn parse_reverse(net: Ipv4Net, relative: &str) -> ReverseName {
    let known = usize::from(net.prefix_len() / 8);
    let mut octets = net.network().octets();
    let mut count = known;
    if !relative.is_empty() {
        for label in relative.rsplit('.') {
            let Some(octet) = parse_octet(label) else {
                return ReverseName::Invalid;
            };
            if count == 4 {
                return ReverseName::Invalid;
            }
            octets[count] = octet;
            count += 1;
        }
    }
    let address = Ipv4Addr::from(octets);
    if count == 4 {
        return ReverseName::Address(address);
    }
    match Ipv4Net::new(address, (count * 8) as u8) {
        Ok(net) => ReverseName::Network(net),
        Err(_) => ReverseName::Invalid,
    }
}

/// A decimal octet in canonical form (`0`..`255`, no leading zeros), as
/// RFC 1035 §3.5 writes them.
pub(crate) fn parse_octet(label: &str) -> Option<u8> {
    let canonical = !label.is_empty()
        && label.len() <= 3
        && label.bytes().all(|b| b.is_ascii_digit())
        && (label == "0" || !label.starts_with('0'));
    if canonical { label.parse().ok() } else { None }
}

/// `4.3.2.1.in-addr.arpa.` for 1.2.3.4.
pub(crate) fn ptr_name(address: Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

/// Whether the networks overlap.
pub(crate) fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn reverse_zones_round_down_to_an_octet() {
        assert_eq!(
            Zone::reverse(net("172.16.0.0/16")).apex,
            "16.172.in-addr.arpa"
        );
        assert_eq!(
            Zone::reverse(net("172.16.0.0/20")).apex,
            "16.172.in-addr.arpa"
        );
        assert_eq!(
            Zone::reverse(net("10.1.2.0/24")).apex,
            "2.1.10.in-addr.arpa"
        );
        assert_eq!(
            Zone::reverse(net("10.1.2.128/25")).apex,
            "2.1.10.in-addr.arpa"
        );
        assert_eq!(Zone::reverse(net("10.0.0.0/8")).apex, "10.in-addr.arpa");
    }

    #[test]
    fn names_fall_in_the_closest_zone() {
        let zones = zones("lxd", Some(net("172.16.0.0/16")), None);
        let (zone, rel) = find(&zones, "c1.lxd").unwrap();
        assert_eq!((zone.apex.as_str(), rel), ("lxd", "c1"));
        let (zone, rel) = find(&zones, "16.172.in-addr.arpa").unwrap();
        assert_eq!((zone.apex.as_str(), rel), ("16.172.in-addr.arpa", ""));
        assert!(find(&zones, "xlxd").is_none());
        assert!(find(&zones, "example.com").is_none());
        assert!(find(&zones, "17.172.in-addr.arpa").is_none());
    }

    #[test]
    fn ip6_arpa_names_parse_nibble_by_nibble() {
        let prefix: Ipv6Net = "fd42:1::/64".parse().unwrap();
        let zone = Zone::reverse6(prefix);
        assert_eq!(zone.apex, "0.0.0.0.0.0.0.0.1.0.0.0.2.4.d.f.ip6.arpa");
        let address: Ipv6Addr = "fd42:1::ff:fe00:1".parse().unwrap();
        let name = ptr6_name(address);
        assert_eq!(
            name,
            "1.0.0.0.0.0.e.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.2.4.d.f.ip6.arpa"
        );
        let rel = zone.relative(&name).unwrap();
        assert_eq!(parse_reverse6(prefix, rel), ReverseName6::Address(address));
        assert_eq!(parse_reverse6(prefix, ""), ReverseName6::Interior);
        assert_eq!(parse_reverse6(prefix, "0.0"), ReverseName6::Interior);
        assert_eq!(parse_reverse6(prefix, "x.0"), ReverseName6::Invalid);
        assert_eq!(parse_reverse6(prefix, "10.0"), ReverseName6::Invalid);
        assert_eq!(
            parse_reverse6(prefix, &format!("0.{rel}")),
            ReverseName6::Invalid
        );
        let all = zones("lxd", Some(net("172.16.0.0/16")), Some(prefix));
        assert_eq!(find(&all, &name).unwrap().0.apex, zone.apex);
    }

    #[test]
    fn reverse_names_parse_to_addresses_or_networks() {
        let n = net("172.16.0.0/16");
        assert_eq!(
            parse_reverse(n, "10.0"),
            ReverseName::Address(Ipv4Addr::new(172, 16, 0, 10))
        );
        assert_eq!(
            parse_reverse(n, "0"),
            ReverseName::Network(net("172.16.0.0/24"))
        );
        assert_eq!(parse_reverse(n, ""), ReverseName::Network(n));
        assert_eq!(parse_reverse(n, "1.2.3"), ReverseName::Invalid);
        assert_eq!(parse_reverse(n, "01.0"), ReverseName::Invalid);
        assert_eq!(parse_reverse(n, "256.0"), ReverseName::Invalid);
        assert_eq!(parse_reverse(n, "x.0"), ReverseName::Invalid);
        assert_eq!(
            ptr_name(Ipv4Addr::new(172, 16, 0, 10)),
            "10.0.16.172.in-addr.arpa"
        );
    }
}
