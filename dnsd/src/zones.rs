//! The zones we are authoritative for and where a name falls in them.
//!
//! Names are handled as lowercase ASCII without the trailing dot, the form the
//! lease table indexes them by.

use std::net::Ipv4Addr;

use hickory_proto::rr::Name;
use ipnet::Ipv4Net;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZoneKind {
    /// The cluster domain: lease names, static records, NS.
    Forward,
    /// An `in-addr.arpa` zone covering `net`: PTRs of leases.
    Reverse { net: Ipv4Net, subnet: Ipv4Net },
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

/// The zones served for `domain` and (once the replica knows it) `subnet`;
/// the more specific zone first so a lookup picks the closest enclosing one.
pub(crate) fn zones(domain: &str, subnet: Option<Ipv4Net>) -> Vec<Zone> {
    let mut zones = Vec::with_capacity(2);
    if let Some(subnet) = subnet {
        zones.push(Zone::reverse(subnet));
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
        let zones = zones("lxd", Some(net("172.16.0.0/16")));
        let (zone, rel) = find(&zones, "c1.lxd").unwrap();
        assert_eq!((zone.apex.as_str(), rel), ("lxd", "c1"));
        let (zone, rel) = find(&zones, "16.172.in-addr.arpa").unwrap();
        assert_eq!((zone.apex.as_str(), rel), ("16.172.in-addr.arpa", ""));
        assert!(find(&zones, "xlxd").is_none());
        assert!(find(&zones, "example.com").is_none());
        assert!(find(&zones, "17.172.in-addr.arpa").is_none());
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
