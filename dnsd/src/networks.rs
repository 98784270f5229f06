//! Which network's table answers a name: every network of the cluster has its
//! own forward zone (its domain) and reverse zone (its subnet), each served
//! from that network's lease table, so two networks may both hold `c1`.
//!
//! The zone that holds a name most specifically wins, across networks as
//! inside one: with `dns.domain = "lxd"` and a network `lab` whose domain is
//! `lab.lxd`, `c1.lab.lxd` is `lab`'s and `c1.lxd` `default`'s, as a
//! delegated child zone served beside its parent would be. Subnets never
//! overlap (the config and the state machine refuse it), so an address has
//! one reverse owner even when two subnets share a reverse zone's apex (two
//! /25s of one /24): the subnet that holds the address takes it.
//!
//! Networks may share a domain: the forward zone is then one zone, answered
//! from the table `select` picks (default on a tie, else the first network
//! by name: where record placement puts the domain's static records) with
//! the other tables of the domain beside it ([`siblings`]); a lease name is
//! in exactly one of them (the state machine keeps names unique per domain).
//!
//! The default network keeps everything it had (SLAAC and DHCPv6 names,
//! name servers at its apex); the others are plain DHCPv4 networks. The UDP
//! fast path needs nothing from here: it answers only a single label under
//! `dns.domain` found in `default`'s table and a PTR inside the default
//! subnet, and leaves every miss to the general path, which also looks in
//! the other networks of a shared domain. Since a name is in one table, a
//! hit in `default` is the only answer.

use hickory_proto::rr::Name;
use raftmasq_state::{LeaseTable, OtherNetworks};

use crate::config::ZoneConfig;
use crate::zones::{self, ReverseName, Zone, ZoneKind};

/// The network whose zones hold `lname` (lowercase, no trailing dot): `None`
/// when it is the default network's or nobody's, else that network's table
/// and the zone config for its domain.
pub(crate) fn select<'a>(
    default: &'a LeaseTable,
    others: &'a OtherNetworks,
    config: &ZoneConfig,
    lname: &str,
) -> Option<(&'a LeaseTable, ZoneConfig)> {
    if others.is_empty() {
        return None;
    }
    let subnet = default.settings().map(|s| s.subnet);
    let mut best = claim(
        &zones::zones(&config.domain, subnet, config.ipv6_prefix),
        lname,
    );
    let mut chosen = None;
    for (name, table) in others.all(default).skip(1) {
        let Some(settings) = table.settings() else {
            continue;
        };
        let theirs = zones::zones(&settings.domain, Some(settings.subnet), None);
        if let Some(strength) = claim(&theirs, lname)
            && best.is_none_or(|b| strength > b)
        {
            best = Some(strength);
            chosen = Some((name, table, settings.domain.as_str()));
        }
    }
    let (_, table, domain) = chosen?;
    Some((table, zone_config_for(config, domain)?))
}

/// The tables of every network whose domain is `domain`, but `answering`
/// (the table a view is built on): their lease names are in the same forward
/// zone. Empty, without allocating, for a cluster of one network.
pub(crate) fn siblings<'a>(
    default: &'a LeaseTable,
    others: &'a OtherNetworks,
    answering: &LeaseTable,
    domain: &str,
) -> Vec<&'a LeaseTable> {
    if others.is_empty() {
        return Vec::new();
    }
    others
        .all(default)
        .map(|(_, table)| table)
        .filter(|table| !std::ptr::eq(*table, answering))
        .filter(|table| {
            table
                .settings()
                .is_some_and(|s| s.domain.eq_ignore_ascii_case(domain))
        })
        .collect()
}

/// The network whose zones hold `lname` (any case, trailing dot optional)
/// most specifically, by the rule [`select`] answers with: the table a
/// static record of that name must live in to be answered. Ties go to
/// `default`; `None`: no network's zone holds the name (nobody answers it).
pub fn network_of_name<'a>(
    default: &'a LeaseTable,
    others: &'a OtherNetworks,
    lname: &str,
) -> Option<&'a str> {
    let lname = lname
        .strip_suffix('.')
        .unwrap_or(lname)
        .to_ascii_lowercase();
    let mut best: Option<((usize, bool), &str)> = None;
    for (name, table) in others.all(default) {
        let Some(settings) = table.settings() else {
            continue;
        };
        let theirs = zones::zones(&settings.domain, Some(settings.subnet), None);
        if let Some(strength) = claim(&theirs, &lname)
            && best.is_none_or(|(b, _)| strength > b)
        {
            best = Some((strength, name));
        }
    }
    best.map(|(_, name)| name)
}

/// How specifically `zones` hold `lname`: the apex's label count, and
/// whether the name is an address of the zone's own subnet (which breaks the
/// tie between two subnets under one reverse apex).
fn claim(zones: &[Zone], lname: &str) -> Option<(usize, bool)> {
    let (zone, rel) = zones::find(zones, lname)?;
    let depth = zone.apex.split('.').count();
    let owns_address = match zone.kind {
        ZoneKind::Reverse { net, subnet } => {
            matches!(zones::parse_reverse(net, rel), ReverseName::Address(a) if subnet.contains(&a))
        }
        _ => false,
    };
    Some((depth, owns_address))
}

/// The default zone config with `domain` as origin: the same TTLs and name
/// servers (which stay under `dns.domain`), no IPv6 names.
fn zone_config_for(config: &ZoneConfig, domain: &str) -> Option<ZoneConfig> {
    let origin = Name::from_ascii(format!("{domain}.")).ok()?;
    let hostmaster = Name::from_ascii(format!("hostmaster.{domain}.")).ok()?;
    Some(ZoneConfig {
        domain: domain.to_string(),
        origin,
        hostmaster,
        ipv6_prefix: None,
        ipv6_leases: false,
        ..config.clone()
    })
}

/// Every zone of every network other than `default`, with the zone config it
/// is served under (for NOTIFY).
pub(crate) fn other_zones(
    default: &LeaseTable,
    others: &OtherNetworks,
    config: &ZoneConfig,
) -> Vec<(Zone, ZoneConfig)> {
    let mut all: Vec<(Zone, ZoneConfig)> = Vec::new();
    // A forward zone shared by several networks (or with `default`, whose
    // zones the caller lists) is one zone: listed once.
    let mut apexes = std::collections::BTreeSet::new();
    apexes.insert(config.domain.to_ascii_lowercase());
    for (_, table) in others.all(default).skip(1) {
        let Some(settings) = table.settings() else {
            continue;
        };
        let Some(theirs) = zone_config_for(config, &settings.domain) else {
            continue;
        };
        for zone in zones::zones(&settings.domain, Some(settings.subnet), None) {
            if zone.kind == ZoneKind::Forward && !apexes.insert(zone.apex.to_ascii_lowercase()) {
                continue;
            }
            all.push((zone, theirs.clone()));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftmasq_state::{AddressRange, ClusterSettings, Command, HostnamePolicy, Response};
    use std::net::Ipv4Addr;

    fn settings(subnet: &str, domain: &str) -> ClusterSettings {
        let subnet: ipnet::Ipv4Net = subnet.parse().unwrap();
        let first = u32::from(subnet.network()) + 1;
        ClusterSettings {
            subnet,
            ranges: vec![AddressRange {
                start: Ipv4Addr::from(first),
                end: Ipv4Addr::from(first + 5),
            }],
            domain: domain.into(),
            lease_time_secs: 3600,
            duplicate_hostnames: HostnamePolicy::Suffix,
            decline_quarantine_secs: 60,
            client_identity: Default::default(),
        }
    }

    fn cluster(
        default: (&str, &str),
        others: &[(&str, &str, &str)],
    ) -> (LeaseTable, OtherNetworks) {
        let mut table = LeaseTable::default();
        let mut networks = OtherNetworks::default();
        let init = Command::Initialize {
            settings: settings(default.0, default.1),
        };
        assert_eq!(networks.apply(&mut table, &init), Response::Done);
        for (name, subnet, domain) in others {
            let init = Command::InNetwork {
                network: (*name).into(),
                command: Box::new(Command::Initialize {
                    settings: settings(subnet, domain),
                }),
            };
            assert_eq!(networks.apply(&mut table, &init), Response::Done);
        }
        (table, networks)
    }

    fn chosen(table: &LeaseTable, others: &OtherNetworks, name: &str) -> Option<String> {
        let config = crate::config::DnsServerConfig::new("lxd")
            .zone_config()
            .unwrap();
        select(table, others, &config, name).map(|(_, config)| config.domain)
    }

    #[test]
    fn the_most_specific_zone_across_networks_wins() {
        let (table, others) = cluster(
            ("172.16.0.0/16", "lxd"),
            &[
                ("lab", "172.20.0.0/24", "lab.lxd"),
                ("ops", "10.9.0.0/24", "ops.example"),
            ],
        );
        assert_eq!(chosen(&table, &others, "c1.lxd"), None);
        assert_eq!(chosen(&table, &others, "lab.lxd"), Some("lab.lxd".into()));
        assert_eq!(
            chosen(&table, &others, "c1.lab.lxd"),
            Some("lab.lxd".into())
        );
        assert_eq!(
            chosen(&table, &others, "c1.ops.example"),
            Some("ops.example".into())
        );
        assert_eq!(chosen(&table, &others, "example"), None);
        assert_eq!(
            chosen(&table, &others, "5.0.20.172.in-addr.arpa"),
            Some("lab.lxd".into())
        );
        assert_eq!(chosen(&table, &others, "5.0.16.172.in-addr.arpa"), None);
    }

    #[test]
    fn two_subnets_under_one_reverse_apex_split_by_address() {
        let (table, others) = cluster(
            ("10.1.2.0/25", "lxd"),
            &[("upper", "10.1.2.128/25", "upper.lxd")],
        );
        assert_eq!(chosen(&table, &others, "5.2.1.10.in-addr.arpa"), None);
        assert_eq!(
            chosen(&table, &others, "130.2.1.10.in-addr.arpa"),
            Some("upper.lxd".into())
        );
        // The shared apex itself stays the default network's.
        assert_eq!(chosen(&table, &others, "2.1.10.in-addr.arpa"), None);
    }

    #[test]
    fn a_name_belongs_to_the_network_of_its_most_specific_zone() {
        let (table, others) = cluster(
            ("172.16.0.0/16", "lxd"),
            &[
                ("lab", "172.20.0.0/24", "lab.lxd"),
                ("ops", "10.9.0.0/24", "ops.example"),
            ],
        );
        let owner = |name| network_of_name(&table, &others, name);
        assert_eq!(owner("www.lxd"), Some("default"));
        assert_eq!(owner("lxd"), Some("default"));
        assert_eq!(owner("DB.Lab.LXD."), Some("lab"));
        assert_eq!(owner("_sip._tcp.lab.lxd"), Some("lab"));
        assert_eq!(owner("db.ops.example"), Some("ops"));
        assert_eq!(owner("x.0.20.172.in-addr.arpa"), Some("lab"));
        assert_eq!(owner("5.0.16.172.in-addr.arpa"), Some("default"));
        assert_eq!(owner("example.com"), None);
        assert_eq!(owner("notlab.lxd"), Some("default"));
    }

    /// One name in every network's domain or reverse zone, or outside all.
    fn any_name() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let label = "[a-z0-9_]{1,6}";
        prop_oneof![
            (
                label,
                prop::sample::select(vec![
                    "lxd",
                    "lab.lxd",
                    "x.lab.lxd",
                    "ops.example",
                    "example",
                    "com",
                    "lab.lxd.",
                ])
            )
                .prop_map(|(l, d)| format!("{l}.{d}")),
            prop::sample::select(vec!["lxd", "lab.lxd", "ops.example", "example"])
                .prop_map(str::to_string),
            (any::<[u8; 4]>(), 1usize..=4).prop_map(|(octets, depth)| {
                let mut labels: Vec<String> = octets.iter().rev().map(u8::to_string).collect();
                labels.drain(..4 - depth);
                format!("{}.in-addr.arpa", labels.join("."))
            }),
            (0u8..=255).prop_map(|last| format!("{last}.2.1.10.in-addr.arpa")),
        ]
    }

    proptest::proptest! {
        /// The network a record is placed in is the one whose table DNS
        /// answers the name from (`select`), so a placed record is answered.
        #[test]
        fn placement_agrees_with_the_answering_table(name in any_name()) {
            let (table, others) = cluster(
                ("10.1.2.0/25", "lxd"),
                &[
                    ("lab", "172.20.0.0/24", "lab.lxd"),
                    ("upper", "10.1.2.128/25", "upper.lxd"),
                    ("ops", "10.9.0.0/24", "ops.example"),
                ],
            );
            let config = crate::config::DnsServerConfig::new("lxd").zone_config().unwrap();
            let lname = name.strip_suffix('.').unwrap_or(&name).to_string();
            let answering = select(&table, &others, &config, &lname)
                .map(|(answering, _)| answering as *const LeaseTable);
            let placed = network_of_name(&table, &others, &name);
            match placed {
                None => proptest::prop_assert!(answering.is_none()),
                Some("default") => proptest::prop_assert!(answering.is_none()),
                Some(network) => {
                    let theirs = others.get(&table, network).unwrap() as *const LeaseTable;
                    proptest::prop_assert_eq!(answering, Some(theirs));
                }
            }
            // The owner's domain or reverse zone holds the name.
            if let Some(network) = placed {
                let settings = others.get(&table, network).unwrap().settings().unwrap();
                let zones = zones::zones(&settings.domain, Some(settings.subnet), None);
                proptest::prop_assert!(zones::find(&zones, &lname).is_some());
            }
        }
    }

    #[test]
    fn a_shared_forward_zone_is_notified_once() {
        let (table, others) = cluster(
            ("172.16.0.0/16", "lxd"),
            &[
                ("lxdbr1", "172.20.0.0/24", "lxd"),
                ("lab", "172.21.0.0/24", "lab.lxd"),
                ("lab2", "172.22.0.0/24", "LAB.lxd"),
            ],
        );
        let config = crate::config::DnsServerConfig::new("lxd")
            .zone_config()
            .unwrap();
        let apexes: Vec<_> = other_zones(&table, &others, &config)
            .into_iter()
            .map(|(zone, _)| zone.apex)
            .collect();
        assert_eq!(
            apexes,
            [
                "0.21.172.in-addr.arpa",
                "lab.lxd",
                "0.22.172.in-addr.arpa",
                "0.20.172.in-addr.arpa"
            ]
        );
        // The shared zone's other tables sit beside the answering one.
        let lxdbr1 = others.get(&table, "lxdbr1").unwrap();
        let beside = siblings(&table, &others, &table, "LXD");
        assert_eq!(beside.len(), 1);
        assert!(std::ptr::eq(beside[0], lxdbr1));
        assert_eq!(
            chosen(&table, &others, "c1.lxd"),
            None,
            "default answers lxd"
        );
    }

    #[test]
    fn notify_lists_the_other_networks_zones() {
        let (table, others) = cluster(
            ("172.16.0.0/16", "lxd"),
            &[("lab", "172.20.0.0/24", "lab.lxd")],
        );
        let config = crate::config::DnsServerConfig::new("lxd")
            .zone_config()
            .unwrap();
        let apexes: Vec<_> = other_zones(&table, &others, &config)
            .into_iter()
            .map(|(zone, config)| (zone.apex, config.domain))
            .collect();
        assert_eq!(
            apexes,
            [
                ("0.20.172.in-addr.arpa".to_string(), "lab.lxd".to_string()),
                ("lab.lxd".to_string(), "lab.lxd".to_string())
            ]
        );
    }
}
