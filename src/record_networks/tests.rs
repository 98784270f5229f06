use std::net::Ipv4Addr;

use raftmasq_consensus::state::{AddressRange, ClusterSettings, Command, HostnamePolicy, Response};

use super::*;

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

/// `default` in lxd (172.16.0.0/16), `lab` in lab.lxd (172.20.0.0/24),
/// `ops` in ops.example (10.9.0.0/24).
fn cluster() -> (LeaseTable, OtherNetworks) {
    let mut table = LeaseTable::default();
    let mut networks = OtherNetworks::default();
    let init = Command::Initialize {
        settings: settings("172.16.0.0/16", "lxd"),
    };
    assert_eq!(networks.apply(&mut table, &init), Response::Done);
    for (name, subnet, domain) in [
        ("lab", "172.20.0.0/24", "lab.lxd"),
        ("ops", "10.9.0.0/24", "ops.example"),
    ] {
        let init = Command::for_network(
            name,
            Command::Initialize {
                settings: settings(subnet, domain),
            },
        );
        assert_eq!(networks.apply(&mut table, &init), Response::Done);
    }
    (table, networks)
}

fn a(name: &str, last: u8) -> StaticRecord {
    StaticRecord {
        name: name.into(),
        ttl: None,
        data: RecordData::A {
            address: Ipv4Addr::new(172, 20, 0, last),
        },
    }
}

fn placed(network: Option<&str>, record: StaticRecord) -> Result<(String, String), PlacementError> {
    let (table, others) = cluster();
    place(&table, &others, record, network).map(|p| (p.network, p.record.name))
}

#[test]
fn a_record_goes_to_the_network_whose_domain_holds_its_name() {
    assert_eq!(
        placed(None, a("www", 5)),
        Ok(("default".into(), "www.lxd".into()))
    );
    assert_eq!(
        placed(None, a("db.lab", 5)),
        Ok(("lab".into(), "db.lab.lxd".into()))
    );
    assert_eq!(
        placed(None, a("db.lab.lxd", 5)),
        Ok(("lab".into(), "db.lab.lxd".into()))
    );
    assert_eq!(
        placed(None, a("DB.OPS.EXAMPLE.", 5)),
        Ok(("ops".into(), "DB.OPS.EXAMPLE".into()))
    );
    // Nobody's zone: the default network, as before networks.
    assert_eq!(
        placed(None, a("www.example.com.", 5)),
        Ok(("default".into(), "www.example.com".into()))
    );
}

#[test]
fn a_named_network_places_relative_names_in_its_own_domain() {
    assert_eq!(
        placed(Some("lab"), a("db", 5)),
        Ok(("lab".into(), "db.lab.lxd".into()))
    );
    assert_eq!(
        placed(Some("lab"), a("db.lab.lxd", 5)),
        Ok(("lab".into(), "db.lab.lxd".into()))
    );
    assert_eq!(
        placed(Some("default"), a("www", 5)),
        Ok(("default".into(), "www.lxd".into()))
    );
    // Reverse-zone owners (e.g. RFC 2317 CNAMEs) belong to the subnet's network.
    assert_eq!(
        placed(Some("lab"), a("x.0.20.172.in-addr.arpa.", 5)),
        Ok(("lab".into(), "x.0.20.172.in-addr.arpa".into()))
    );
}

#[test]
fn a_name_in_another_networks_zone_is_refused_with_both_domains() {
    let error = placed(Some("lab"), a("www.lxd.", 5)).unwrap_err();
    assert_eq!(
        error,
        PlacementError::OtherNetworksName {
            name: "www.lxd".into(),
            network: "lab".into(),
            network_domain: "lab.lxd".into(),
            owner: "default".into(),
            owner_domain: "lxd".into(),
        }
    );
    let text = error.to_string();
    assert!(
        text.contains("www.lxd is in network default's zone (lxd), not in network lab's (lab.lxd)"),
        "{text}"
    );
    let error = placed(Some("default"), a("db.lab.lxd", 5)).unwrap_err();
    assert!(
        matches!(&error, PlacementError::OtherNetworksName { owner, .. } if owner == "lab"),
        "{error}"
    );
}

#[test]
fn an_unknown_network_is_refused_with_the_known_ones() {
    let error = placed(Some("nope"), a("db", 5)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "no network \"nope\" in the cluster (it has default, lab, ops)"
    );
}

#[test]
fn targets_are_qualified_in_the_same_domain_as_the_name() {
    let (table, others) = cluster();
    let alias = StaticRecord {
        name: "alias".into(),
        ttl: None,
        data: RecordData::Cname {
            target: "db".into(),
        },
    };
    let placed = place(&table, &others, alias.clone(), Some("lab")).unwrap();
    assert_eq!(placed.record.name, "alias.lab.lxd");
    assert_eq!(
        placed.record.data,
        RecordData::Cname {
            target: "db.lab.lxd".into()
        }
    );
    // Placed by its name: the target is relative to the zone it lands in.
    let by_name = StaticRecord {
        name: "alias.lab".into(),
        ..alias.clone()
    };
    assert_eq!(place(&table, &others, by_name, None), Ok(placed));
    let absolute = StaticRecord {
        name: "alias.lab".into(),
        data: RecordData::Cname {
            target: "db.lxd.".into(),
        },
        ..alias
    };
    let placed = place(&table, &others, absolute, None).unwrap();
    assert_eq!(
        placed.record.data,
        RecordData::Cname {
            target: "db.lxd".into()
        }
    );
}

#[test]
fn a_single_network_cluster_places_everything_in_default() {
    let mut table = LeaseTable::default();
    let mut others = OtherNetworks::default();
    let init = Command::Initialize {
        settings: settings("172.16.0.0/16", "lxd"),
    };
    assert_eq!(others.apply(&mut table, &init), Response::Done);
    for name in ["www", "db.lab.lxd", "example.com."] {
        let placed = place(&table, &others, a(name, 5), None).unwrap();
        assert_eq!(placed.network, "default", "{name}");
    }
}

#[test]
fn names_are_relative_to_the_domain_unless_absolute() {
    assert_eq!(qualify("www", "lxd"), "www.lxd");
    assert_eq!(qualify("_sip._tcp", "lxd"), "_sip._tcp.lxd");
    assert_eq!(qualify("www.lxd", "lxd"), "www.lxd");
    assert_eq!(qualify("WWW.LXD", "lxd"), "WWW.LXD");
    assert_eq!(qualify("lxd", "lxd"), "lxd");
    assert_eq!(qualify("example.com.", "lxd"), "example.com");
    assert_eq!(qualify("mylxd", "lxd"), "mylxd.lxd");
}

#[test]
fn a_removal_may_name_the_network_a_misplaced_record_sits_in() {
    let (table, others) = cluster();
    let placed = place_for_removal(&table, &others, a("db.lab.lxd", 5), Some("default"))
        .expect("removal from default");
    assert_eq!(
        (placed.network.as_str(), placed.record.name.as_str()),
        ("default", "db.lab.lxd")
    );
    assert!(matches!(
        place_for_removal(&table, &others, a("db", 5), Some("nope")),
        Err(PlacementError::UnknownNetwork { .. })
    ));
    assert_eq!(
        place_for_removal(&table, &others, a("db.lab", 5), None),
        place(&table, &others, a("db.lab", 5), None)
    );
}

#[test]
fn a_record_named_for_a_network_sharing_a_domain_goes_to_the_zones_table() {
    let (mut table, mut others) = cluster();
    let init = Command::for_network(
        "lxdbr1",
        Command::Initialize {
            settings: settings("172.21.0.0/24", "lxd"),
        },
    );
    assert_eq!(others.apply(&mut table, &init), Response::Done);
    // DNS answers `lxd` from default's table: the record lives there,
    // whether lxdbr1 is named or not.
    for network in [None, Some("lxdbr1"), Some("default")] {
        let placed = place(&table, &others, a("www", 5), network).unwrap();
        assert_eq!(placed.network, "default", "{network:?}");
        assert_eq!(placed.record.name, "www.lxd");
    }
}
