//! Parsing of the address-like values: IPs, CIDRs, `start-end` ranges,
//! `ip:port` listeners, `ID=IP:PORT` peers. Errors are the reason only; the
//! caller adds file and key.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::{IpNet, Ipv4Net};

use crate::AddressRange;
use crate::model::{NodeRole, Peer};

pub(crate) fn ipv4(text: &str) -> Result<Ipv4Addr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an IPv4 address"))
}

pub(crate) fn ip(text: &str) -> Result<IpAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an IP address"))
}

/// The DHCP subnet: written as its network address, with room for a network
/// address, a broadcast address and at least two hosts.
pub(crate) fn subnet(text: &str) -> Result<Ipv4Net, String> {
    let net: Ipv4Net = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an IPv4 CIDR like \"172.16.0.0/16\""))?;
    if net.trunc() != net {
        return Err(format!(
            "`{text}` has host bits set; did you mean \"{}\"?",
            net.trunc()
        ));
    }
    if net.prefix_len() > 30 {
        return Err(format!(
            "`{text}` is too small for DHCP: use a prefix of /30 or shorter"
        ));
    }
    Ok(net)
}

/// A CIDR of either family; a bare address means just that host.
pub(crate) fn ip_net(text: &str) -> Result<IpNet, String> {
    let trimmed = text.trim();
    let net: IpNet = match trimmed.parse() {
        Ok(net) => net,
        Err(_) => trimmed
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("`{text}` is not a CIDR like \"172.16.0.0/16\" or \"::1/128\""))?,
    };
    if net.trunc() != net {
        return Err(format!(
            "`{text}` has host bits set; did you mean \"{}\"?",
            net.trunc()
        ));
    }
    Ok(net)
}

/// `START-END`, inclusive, `START <= END`.
pub(crate) fn range(text: &str) -> Result<AddressRange, String> {
    let (start, end) = text
        .split_once('-')
        .ok_or_else(|| format!("`{text}` is not a range like \"172.16.0.10-172.16.255.254\""))?;
    let start = ipv4(start)?;
    let end = ipv4(end)?;
    if start > end {
        return Err(format!("range start {start} is after its end {end}"));
    }
    Ok(AddressRange { start, end })
}

/// `IP:PORT` (IPv6 as `[::1]:PORT`), port required and non-zero.
pub(crate) fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = text.trim().parse().map_err(|_| {
        if ip(text).is_ok() {
            format!("`{text}` has no port; write it as IP:PORT")
        } else {
            format!("`{text}` is not an IP:PORT address like \"10.99.0.1:7380\"")
        }
    })?;
    if addr.port() == 0 {
        return Err(format!("`{text}`: port 0 is not a fixed port"));
    }
    Ok(addr)
}

/// `IP` or `IP:PORT` (IPv6 as `::1` or `[::1]:PORT`); the port defaults.
pub(crate) fn socket_addr_or_ip(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    match ip(text) {
        Ok(address) => Ok(SocketAddr::new(address, default_port)),
        Err(_) => socket_addr(text),
    }
}

/// `ID=IP:PORT`, ID ≥ 1, a concrete (not wildcard) address others can dial,
/// optionally followed by ` bridge=IPV4`: that host's `dhcp.address`, so every
/// node knows every host's DNS server address from its own file at start, and
/// ` role=learner` (or `role=voter`, the default): that host's `node.role`.
pub(crate) fn peer(text: &str) -> Result<Peer, String> {
    let mut words = text.split_whitespace();
    let first = words.next().unwrap_or_default();
    let (id, addr) = first.split_once('=').ok_or_else(|| {
        format!(
            "`{text}` is not a peer like \"2=10.99.0.2:7380 bridge=172.16.0.2\" (ID=IP:PORT [bridge=IP])"
        )
    })?;
    let id: u64 = id.trim().parse().map_err(|_| {
        format!(
            "`{text}`: node id `{}` is not a positive integer",
            id.trim()
        )
    })?;
    if id == 0 {
        return Err(format!("`{text}`: node ids start at 1"));
    }
    let addr = socket_addr(addr).map_err(|reason| format!("peer {id}: {reason}"))?;
    if addr.ip().is_unspecified() {
        return Err(format!(
            "`{text}`: {} is a wildcard; peers need an address the other hosts can dial",
            addr.ip()
        ));
    }
    let mut bridge_address = None;
    let mut role = None;
    for word in words {
        match word.split_once('=') {
            Some(("role", value)) => {
                if role.is_some() {
                    return Err(format!("`{text}`: role= is given twice"));
                }
                role = Some(match value {
                    "voter" => NodeRole::Voter,
                    "learner" => NodeRole::Learner,
                    _ => {
                        return Err(format!(
                            "`{text}`: role={value} is neither `voter` nor `learner` (that host's node.role)"
                        ));
                    }
                });
            }
            Some(("bridge", value)) => {
                if bridge_address.is_some() {
                    return Err(format!("`{text}`: bridge= is given twice"));
                }
                let address: Ipv4Addr = value.parse().map_err(|_| {
                    format!(
                        "`{text}`: bridge={value} is not an IPv4 address (that host's dhcp.address)"
                    )
                })?;
                if address.is_unspecified() || address.is_broadcast() {
                    return Err(format!(
                        "`{text}`: bridge={value} cannot be a host's bridge address"
                    ));
                }
                bridge_address = Some(address);
            }
            _ => {
                return Err(format!(
                    "`{text}`: unknown `{word}`; after ID=IP:PORT only bridge=IP and role=learner may follow"
                ));
            }
        }
    }
    Ok(Peer {
        id,
        addr,
        bridge_address,
        role: role.unwrap_or_default(),
    })
}

/// Whether two TCP listeners would fight over one port: same port, same family
/// and either the same address or one of them a wildcard.
pub(crate) fn listeners_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// The `nameserver` lines of resolv.conf(5), port 53. `dns.upstream = []` means
/// "use these"; the file is read by the daemon and parsed here so it is testable.
/// Loopback servers are skipped: on a host running raftmasq they would point at
/// ourselves (or at systemd-resolved's stub, which may forward back to us).
pub fn resolv_conf_nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then(|| words.next())?
        })
        .filter_map(|word| {
            // Strip an IPv6 zone (`fe80::1%eth0`): SocketAddr cannot carry it by name.
            word.split('%').next()?.parse::<IpAddr>().ok()
        })
        .filter(|address| !address.is_loopback())
        .map(|address| SocketAddr::new(address, crate::defaults::DNS_PORT))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_must_be_network_addresses_with_room() {
        assert_eq!(subnet("172.16.0.0/16").unwrap().prefix_len(), 16);
        assert!(
            subnet("172.16.0.1/16")
                .unwrap_err()
                .contains("did you mean \"172.16.0.0/16\"")
        );
        assert!(subnet("172.16.0.0/31").unwrap_err().contains("too small"));
        assert!(
            subnet("172.16.0.0")
                .unwrap_err()
                .contains("not an IPv4 CIDR")
        );
        assert!(
            subnet("fd00::/64")
                .unwrap_err()
                .contains("not an IPv4 CIDR")
        );
    }

    #[test]
    fn ranges_parse_and_are_ordered() {
        let r = range("172.16.0.10 - 172.16.255.254").unwrap();
        assert_eq!(r.start, Ipv4Addr::new(172, 16, 0, 10));
        assert_eq!(r.end, Ipv4Addr::new(172, 16, 255, 254));
        assert!(
            range("172.16.0.20-172.16.0.10")
                .unwrap_err()
                .contains("after its end")
        );
        assert!(range("172.16.0.10").unwrap_err().contains("not a range"));
        assert!(
            range("172.16.0.10-x")
                .unwrap_err()
                .contains("`x` is not an IPv4")
        );
    }

    #[test]
    fn socket_addresses_need_a_port_unless_defaulted() {
        assert!(
            socket_addr("10.99.0.1")
                .unwrap_err()
                .contains("has no port")
        );
        assert!(socket_addr("10.99.0.1:0").unwrap_err().contains("port 0"));
        assert!(
            socket_addr("host:80")
                .unwrap_err()
                .contains("not an IP:PORT")
        );
        assert_eq!(
            socket_addr_or_ip("9.9.9.9", 53).unwrap().to_string(),
            "9.9.9.9:53"
        );
        assert_eq!(
            socket_addr_or_ip("::1", 53).unwrap().to_string(),
            "[::1]:53"
        );
        assert_eq!(
            socket_addr_or_ip("[::1]:5353", 53).unwrap().to_string(),
            "[::1]:5353"
        );
    }

    #[test]
    fn peers_parse_and_reject_bad_forms() {
        let p = peer("2=10.99.0.2:7380").unwrap();
        assert_eq!((p.id, p.addr.to_string().as_str()), (2, "10.99.0.2:7380"));
        assert!(peer("10.99.0.2:7380").unwrap_err().contains("ID=IP:PORT"));
        assert!(peer("0=10.99.0.2:7380").unwrap_err().contains("start at 1"));
        assert!(
            peer("x=10.99.0.2:7380")
                .unwrap_err()
                .contains("not a positive integer")
        );
        assert!(peer("2=10.99.0.2").unwrap_err().contains("has no port"));
        assert!(peer("2=0.0.0.0:7380").unwrap_err().contains("wildcard"));
    }

    #[test]
    fn peers_may_be_marked_learners() {
        assert_eq!(peer("2=10.99.0.2:7380").unwrap().role, NodeRole::Voter);
        let p = peer("4=10.99.0.4:7380 bridge=172.16.0.4 role=learner").unwrap();
        assert_eq!(p.role, NodeRole::Learner);
        assert_eq!(p.bridge_address, Some(Ipv4Addr::new(172, 16, 0, 4)));
        assert_eq!(
            peer("4=10.99.0.4:7380 role=voter").unwrap().role,
            NodeRole::Voter
        );
        assert!(
            peer("4=10.99.0.4:7380 role=observer")
                .unwrap_err()
                .contains("neither `voter` nor `learner`")
        );
        assert!(
            peer("4=10.99.0.4:7380 role=learner role=voter")
                .unwrap_err()
                .contains("given twice")
        );
    }

    #[test]
    fn peers_may_name_their_bridge_address() {
        let p = peer("2=10.99.0.2:7380 bridge=172.16.0.2").unwrap();
        assert_eq!(p.bridge_address, Some(Ipv4Addr::new(172, 16, 0, 2)));
        assert_eq!(peer("2=10.99.0.2:7380").unwrap().bridge_address, None);
        assert_eq!(
            peer("  2=10.99.0.2:7380   bridge=172.16.0.2 ")
                .unwrap()
                .bridge_address,
            Some(Ipv4Addr::new(172, 16, 0, 2))
        );
        assert!(
            peer("2=10.99.0.2:7380 bridge=x")
                .unwrap_err()
                .contains("not an IPv4")
        );
        assert!(
            peer("2=10.99.0.2:7380 bridge=fd00::1")
                .unwrap_err()
                .contains("not an IPv4")
        );
        assert!(
            peer("2=10.99.0.2:7380 bridge=0.0.0.0")
                .unwrap_err()
                .contains("cannot be")
        );
        assert!(
            peer("2=10.99.0.2:7380 bridge=172.16.0.2 bridge=172.16.0.3")
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            peer("2=10.99.0.2:7380 dns=172.16.0.2")
                .unwrap_err()
                .contains("unknown `dns=172.16.0.2`")
        );
    }

    #[test]
    fn cidrs_of_either_family() {
        assert_eq!(ip_net("::1/128").unwrap().to_string(), "::1/128");
        assert_eq!(ip_net("10.0.0.7").unwrap().to_string(), "10.0.0.7/32");
        assert!(ip_net("10.0.0.7/8").unwrap_err().contains("host bits"));
    }

    #[test]
    fn overlapping_listeners() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(listeners_overlap(a("10.0.0.1:53"), a("10.0.0.1:53")));
        assert!(listeners_overlap(a("0.0.0.0:53"), a("10.0.0.1:53")));
        assert!(!listeners_overlap(a("10.0.0.2:53"), a("10.0.0.1:53")));
        assert!(!listeners_overlap(a("10.0.0.1:54"), a("10.0.0.1:53")));
        assert!(!listeners_overlap(a("[::]:53"), a("10.0.0.1:53")));
    }

    #[test]
    fn resolv_conf_keeps_remote_nameservers() {
        let text = "# generated\nsearch lxd\nnameserver 127.0.0.53\nnameserver 9.9.9.9\n\
                    nameserver fe80::1%eth0\nnameserver2 1.1.1.1\noptions edns0\n";
        let servers: Vec<String> = resolv_conf_nameservers(text)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(servers, ["9.9.9.9:53", "[fe80::1]:53"]);
    }
}
