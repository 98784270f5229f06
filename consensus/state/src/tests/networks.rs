//! Several networks in one cluster (`crate::networks`): old commands go to
//! `default`, each network has its own pool, and no two networks share an
//! address (names shared across a domain: `shared_domain.rs`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::invariants::check;
use super::*;
use crate::{DEFAULT_NETWORK, OtherNetworks};

/// `lab`: 10.1.0.0/27, range .2-.21, domain lab.lxd (default is 10.0.0.0/27, lxd).
fn lab_settings() -> ClusterSettings {
    ClusterSettings {
        subnet: "10.1.0.0/27".parse().unwrap(),
        ranges: vec![AddressRange {
            start: Ipv4Addr::new(10, 1, 0, 2),
            end: Ipv4Addr::new(10, 1, 0, 21),
        }],
        domain: "lab.lxd".into(),
        ..settings(HostnamePolicy::Suffix)
    }
}

fn in_network(network: &str, command: Command) -> Command {
    Command::for_network(network, command)
}

fn bind_command(n: u8, hostname: Option<&str>, now: u64) -> Command {
    Command::Bind {
        request: request(n, hostname, None),
        now,
        lease_time_secs: None,
    }
}

/// Default and lab, both initialised.
fn two_networks() -> (LeaseTable, OtherNetworks) {
    let mut default = table(HostnamePolicy::Suffix);
    let mut others = OtherNetworks::default();
    let init = in_network(
        "lab",
        Command::Initialize {
            settings: lab_settings(),
        },
    );
    assert_eq!(others.apply(&mut default, &init), Response::Done);
    (default, others)
}

#[test]
fn commands_without_a_network_apply_to_default() {
    let (mut default, mut others) = two_networks();
    let lease = leased(others.apply(&mut default, &bind_command(1, Some("web"), 0)));
    assert_eq!(lease.address, ip(2));
    assert_eq!(default.address_of_name("web"), Some(ip(2)));
    let lab = others.get(&default, "lab").unwrap();
    assert_eq!(lab.leases().count(), 0);
    // Naming `default` explicitly is the same as naming none.
    let explicit = Command::InNetwork {
        network: DEFAULT_NETWORK.into(),
        command: Box::new(bind_command(2, Some("db"), 0)),
    };
    assert_eq!(leased(others.apply(&mut default, &explicit)).address, ip(3));
}

#[test]
fn each_network_leases_from_its_own_pool_and_names_in_its_own_domain() {
    let (mut default, mut others) = two_networks();
    let home = leased(others.apply(&mut default, &bind_command(1, Some("web"), 0)));
    let lab = leased(others.apply(
        &mut default,
        &in_network("lab", bind_command(1, Some("web"), 0)),
    ));
    assert_eq!(home.address, ip(2));
    assert_eq!(lab.address, Ipv4Addr::new(10, 1, 0, 2));
    // The same client, the same name, in two domains: no conflict, no suffix.
    assert_eq!(lab.granted_name.as_deref(), Some("web"));
    let lab_table = others.get(&default, "lab").unwrap();
    assert_eq!(lab_table.settings().unwrap().domain, "lab.lxd");
    assert_eq!(
        lab_table.address_of_name("web"),
        Some(Ipv4Addr::new(10, 1, 0, 2))
    );
    // An address of another network is not this one's to give.
    let strict = Command::Bind {
        request: request(3, None, Some(ip(5))),
        now: 0,
        lease_time_secs: None,
    };
    assert_eq!(
        rejected(others.apply(&mut default, &in_network("lab", strict))),
        Rejection::AddressUnavailable { address: ip(5) }
    );
    let reserve = Command::Reserve {
        reservation: crate::Reservation {
            mac: mac(4),
            address: ip(5),
            hostname: None,
        },
    };
    assert_eq!(
        rejected(others.apply(&mut default, &in_network("lab", reserve))),
        Rejection::OutsideSubnet { address: ip(5) }
    );
}

#[test]
fn a_network_whose_subnet_overlaps_another_is_refused() {
    let (mut default, mut others) = two_networks();
    let mut inside = lab_settings();
    inside.subnet = "10.1.0.16/28".parse().unwrap();
    inside.ranges = vec![AddressRange {
        start: Ipv4Addr::new(10, 1, 0, 17),
        end: Ipv4Addr::new(10, 1, 0, 20),
    }];
    inside.domain = "other.lxd".into();
    let reason = rejected(others.apply(
        &mut default,
        &in_network("other", Command::Initialize { settings: inside }),
    ));
    assert!(
        matches!(&reason, Rejection::NetworksOverlap { other, .. } if other == "lab"),
        "{reason}"
    );
    assert!(others.get(&default, "other").is_none());
    // A wider subnet around the default network's is refused too.
    let mut around = lab_settings();
    around.subnet = "10.0.0.0/8".parse().unwrap();
    around.domain = "wide.lxd".into();
    assert!(matches!(
        rejected(others.apply(
            &mut default,
            &in_network("wide", Command::Initialize { settings: around })
        )),
        Rejection::NetworksOverlap { .. }
    ));
}

#[test]
fn the_default_network_initialised_late_must_not_overlap_either() {
    let mut default = LeaseTable::default();
    let mut others = OtherNetworks::default();
    let mut lab = settings(HostnamePolicy::Suffix);
    lab.domain = "lab.lxd".into();
    let init = in_network("lab", Command::Initialize { settings: lab });
    assert_eq!(others.apply(&mut default, &init), Response::Done);
    let reason = rejected(others.apply(
        &mut default,
        &Command::Initialize {
            settings: settings(HostnamePolicy::Suffix),
        },
    ));
    assert!(
        matches!(reason, Rejection::NetworksOverlap { .. }),
        "{reason}"
    );
    assert!(!default.is_initialized());
}

#[test]
fn two_networks_may_share_a_domain_but_not_a_subnet() {
    let (mut default, mut others) = two_networks();
    let mut shared = lab_settings();
    shared.subnet = "10.2.0.0/27".parse().unwrap();
    shared.ranges = vec![AddressRange {
        start: Ipv4Addr::new(10, 2, 0, 2),
        end: Ipv4Addr::new(10, 2, 0, 9),
    }];
    shared.domain = "LXD".into();
    let init = Command::Initialize {
        settings: shared.clone(),
    };
    assert_eq!(
        others.apply(&mut default, &in_network("dmz", init)),
        Response::Done
    );
    // The shared domain does not excuse an overlapping subnet.
    shared.subnet = "10.2.0.0/26".parse().unwrap();
    let reason = rejected(others.apply(
        &mut default,
        &in_network("dmz2", Command::Initialize { settings: shared }),
    ));
    assert!(
        matches!(&reason, Rejection::NetworksOverlap { other, .. } if other == "dmz"),
        "{reason}"
    );
}

#[test]
fn unknown_invalid_and_nested_networks_are_rejected() {
    let (mut default, mut others) = two_networks();
    assert!(matches!(
        rejected(others.apply(&mut default, &in_network("nope", bind_command(1, None, 0)))),
        Rejection::UnknownNetwork { network } if network == "nope"
    ));
    assert!(matches!(
        rejected(others.apply(
            &mut default,
            &in_network("Bad_Name", bind_command(1, None, 0))
        )),
        Rejection::InvalidNetwork { .. }
    ));
    let nested = in_network("lab", in_network("lab", bind_command(1, None, 0)));
    assert!(matches!(
        rejected(others.apply(&mut default, &nested)),
        Rejection::InvalidNetwork { .. }
    ));
    assert!(matches!(
        rejected(others.apply(
            &mut default,
            &in_network(
                "lab",
                Command::Initialize {
                    settings: lab_settings()
                }
            )
        )),
        Rejection::AlreadyInitialized
    ));
    // A lone table (a caller without networks) refuses other networks.
    assert!(matches!(
        rejected(default.apply(&in_network("lab", bind_command(1, None, 0)))),
        Rejection::UnknownNetwork { .. }
    ));
}

#[test]
fn expire_without_a_network_ends_leases_in_every_network() {
    let (mut default, mut others) = two_networks();
    leased(others.apply(&mut default, &bind_command(1, None, 0)));
    leased(others.apply(&mut default, &in_network("lab", bind_command(1, None, 0))));
    leased(others.apply(&mut default, &in_network("lab", bind_command(2, None, 0))));
    assert_eq!(
        others.apply(&mut default, &Command::Expire { now: 61_000 }),
        Response::Expired { leases: 3 }
    );
    assert_eq!(others.get(&default, "lab").unwrap().leases().count(), 0);
}

#[test]
fn forget_mac_without_a_network_forgets_it_everywhere() {
    let (mut default, mut others) = two_networks();
    leased(others.apply(&mut default, &bind_command(1, Some("web"), 0)));
    leased(others.apply(
        &mut default,
        &in_network("lab", bind_command(1, Some("web"), 0)),
    ));
    assert_eq!(
        others.apply(
            &mut default,
            &Command::ForgetMac {
                mac: mac(1),
                now: 10
            }
        ),
        Response::Done
    );
    assert_eq!(default.leases().count(), 0);
    assert_eq!(others.get(&default, "lab").unwrap().leases().count(), 0);
}

#[test]
fn commands_keep_their_json_form_and_old_entries_mean_default() {
    let old = bind_command(1, Some("web"), 0);
    let json = serde_json::to_value(&old).unwrap();
    assert!(json.get("network").is_none(), "{json}");
    let back: Command = serde_json::from_value(json).unwrap();
    assert_eq!(back.network(), DEFAULT_NETWORK);
    assert_eq!(Command::for_network(DEFAULT_NETWORK, old.clone()), old);
    let wrapped = in_network("lab", old);
    let json = serde_json::to_value(&wrapped).unwrap();
    assert_eq!(json["op"], "in_network");
    assert_eq!(json["network"], "lab");
    assert_eq!(json["command"]["op"], "bind");
    let back: Command = serde_json::from_value(json).unwrap();
    assert_eq!(back, wrapped);
    assert_eq!(back.network(), "lab");
    assert_eq!(back.kind(), "bind");
}

#[test]
fn other_networks_round_trip_through_json() {
    let (mut default, mut others) = two_networks();
    leased(others.apply(
        &mut default,
        &in_network("lab", bind_command(1, Some("web"), 0)),
    ));
    let json = serde_json::to_string(&others).unwrap();
    let back: OtherNetworks = serde_json::from_str(&json).unwrap();
    assert_eq!(back, others);
}

// ----- random sequences over three networks -----

const NETWORKS: [&str; 3] = [DEFAULT_NETWORK, "lab", "dmz"];

fn network_settings(which: usize) -> ClusterSettings {
    let octet = u8::try_from(which).unwrap();
    ClusterSettings {
        subnet: format!("10.{octet}.0.0/27").parse().unwrap(),
        ranges: vec![AddressRange {
            start: Ipv4Addr::new(10, octet, 0, 2),
            end: Ipv4Addr::new(10, octet, 0, 6),
        }],
        domain: if which == 0 {
            "lxd".into()
        } else {
            format!("{}.lxd", NETWORKS[which])
        },
        ..settings(HostnamePolicy::Suffix)
    }
}

fn random_command() -> impl Strategy<Value = Command> {
    let c = 0u8..8;
    let host = prop_oneof![Just(None), Just(Some("c")), Just(Some("web"))];
    let now = 0u64..200_000;
    // Addresses of every network's subnet, so commands aim across networks.
    let address = (0u8..3, 0u8..10).prop_map(|(n, last)| Ipv4Addr::new(10, n, 0, last));
    prop_oneof![
        6 => (c.clone(), host, proptest::option::weighted(0.3, address.clone()), now.clone())
            .prop_map(|(c, host, address, now)| Command::Bind {
                request: request(c, host, address),
                now,
                lease_time_secs: None,
            }),
        2 => (c.clone(), address.clone(), now.clone()).prop_map(|(c, address, now)| Command::Release {
            client_id: Some(client(c)),
            mac: None,
            address,
            now,
        }),
        1 => (c.clone(), address.clone(), now.clone()).prop_map(|(c, address, now)| Command::Decline {
            client_id: client(c),
            mac: None,
            address,
            now,
        }),
        1 => (c.clone(), address).prop_map(|(c, address)| Command::Reserve {
            reservation: crate::Reservation { mac: mac(c), address, hostname: None },
        }),
        1 => (c, now.clone()).prop_map(|(c, now)| Command::ForgetMac { mac: mac(c), now }),
        1 => now.prop_map(|now| Command::Expire { now }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever is sent to which network: every lease and reservation lies
    /// in its own network's subnet, no address is held in two networks, each
    /// table keeps its invariants, and a network's table is exactly what a
    /// lone table given that network's commands would be (networks do not
    /// leak into each other).
    #[test]
    fn networks_keep_their_addresses_apart(
        steps in proptest::collection::vec((0usize..3, random_command()), 1..60),
    ) {
        let mut default = LeaseTable::default();
        let mut others = OtherNetworks::default();
        let mut alone: BTreeMap<&str, LeaseTable> = BTreeMap::new();
        for (which, network) in NETWORKS.iter().enumerate() {
            let init = Command::Initialize { settings: network_settings(which) };
            prop_assert_eq!(others.apply(&mut default, &in_network(network, init.clone())), Response::Done);
            let mut lone = LeaseTable::default();
            prop_assert_eq!(lone.apply(&init), Response::Done);
            alone.insert(network, lone);
        }
        for (which, command) in steps {
            let network = NETWORKS[which];
            // Expire and ForgetMac without a network reach every network.
            let broadcast = matches!(command, Command::Expire { .. } | Command::ForgetMac { .. });
            let response = others.apply(&mut default, &in_network(network, command.clone()));
            if broadcast && network == DEFAULT_NETWORK {
                for lone in alone.values_mut() {
                    lone.apply(&command);
                }
            } else {
                let expected = alone.get_mut(network).unwrap().apply(&command);
                prop_assert_eq!(response, expected);
            }
            let mut holder: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
            for (name, table) in others.all(&default) {
                check(table).map_err(TestCaseError::fail)?;
                prop_assert_eq!(table, &alone[name], "network {} diverged", name);
                let subnet = table.settings().unwrap().subnet;
                for lease in table.leases() {
                    prop_assert!(subnet.contains(&lease.address), "{} outside {}", lease.address, name);
                    if let Some(first) = holder.insert(lease.address, name) {
                        prop_assert!(false, "{} leased in {} and {}", lease.address, first, name);
                    }
                }
                for reservation in table.reservations() {
                    prop_assert!(subnet.contains(&reservation.address));
                }
            }
        }
    }
}
