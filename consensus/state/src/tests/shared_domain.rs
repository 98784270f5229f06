//! Networks that share a domain (`crate::networks`): a name is unique across
//! every table of its domain, under the same policy as inside one table.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::invariants::check;
use super::*;
use crate::types::{RecordData, StaticRecord};
use crate::{DEFAULT_NETWORK, OtherNetworks, Reservation};

/// Network `which` (0 is default): 10.`which`.0.0/27, range .2-.6, all in
/// the domain `lxd`, with `policy`.
fn shared_settings(which: u8, policy: HostnamePolicy) -> ClusterSettings {
    ClusterSettings {
        subnet: format!("10.{which}.0.0/27").parse().unwrap(),
        ranges: vec![AddressRange {
            start: Ipv4Addr::new(10, which, 0, 2),
            end: Ipv4Addr::new(10, which, 0, 6),
        }],
        domain: "lxd".into(),
        ..settings(policy)
    }
}

const NETWORKS: [&str; 3] = [DEFAULT_NETWORK, "lxdbr1", "lxdbr2"];

/// `default` and `lxdbr1` (and `lxdbr2` when `three`), all under `lxd`.
fn shared(policy: HostnamePolicy, count: usize) -> (LeaseTable, OtherNetworks) {
    let mut default = LeaseTable::default();
    let mut others = OtherNetworks::default();
    for (which, network) in NETWORKS.iter().enumerate().take(count) {
        let settings = shared_settings(u8::try_from(which).unwrap(), policy);
        let init = Command::for_network(network, Command::Initialize { settings });
        assert_eq!(others.apply(&mut default, &init), Response::Done);
    }
    (default, others)
}

fn bind_in(network: &str, n: u8, hostname: Option<&str>) -> Command {
    Command::for_network(
        network,
        Command::Bind {
            request: request(n, hostname, None),
            now: 1_000,
            lease_time_secs: None,
        },
    )
}

#[test]
fn a_name_held_in_one_network_is_suffixed_in_another_of_its_domain() {
    let (mut default, mut others) = shared(HostnamePolicy::Suffix, 2);
    let first = leased(others.apply(&mut default, &bind_in(DEFAULT_NETWORK, 1, Some("c1"))));
    let second = leased(others.apply(&mut default, &bind_in("lxdbr1", 2, Some("c1"))));
    let third = leased(others.apply(&mut default, &bind_in("lxdbr1", 3, Some("c1"))));
    assert_eq!(first.granted_name.as_deref(), Some("c1"));
    assert_eq!(second.granted_name.as_deref(), Some("c1-2"));
    assert_eq!(third.granted_name.as_deref(), Some("c1-3"));
    // And back the other way: default's next c1 skips lxdbr1's suffixes.
    let fourth = leased(others.apply(&mut default, &bind_in(DEFAULT_NETWORK, 4, Some("c1"))));
    assert_eq!(fourth.granted_name.as_deref(), Some("c1-4"));
    let lxdbr1 = others.get(&default, "lxdbr1").unwrap();
    let conflict = lxdbr1.conflicts().next().unwrap();
    assert_eq!(conflict.name, "c1");
    assert_eq!(conflict.owner, client(1));
    assert_eq!(conflict.owner_address, first.address);
    assert_eq!(conflict.granted_instead.as_deref(), Some("c1-2"));
    // The lend is returned: every table is whole and checks out.
    for (_, table) in others.all(&default) {
        assert!(table.lent_domain.is_empty());
        check(table).unwrap();
    }
    assert_eq!(default.address_of_name("c1"), Some(first.address));
    assert_eq!(lxdbr1.address_of_name("c1-2"), Some(second.address));
    // Once the first holder releases, the name is free for lxdbr1 again.
    let release = Command::Release {
        client_id: Some(client(1)),
        mac: None,
        address: first.address,
        now: 2_000,
    };
    assert_eq!(others.apply(&mut default, &release), Response::Done);
    let fifth = leased(others.apply(&mut default, &bind_in("lxdbr1", 5, Some("c1"))));
    assert_eq!(fifth.granted_name.as_deref(), Some("c1"));
}

#[test]
fn reject_policy_gives_no_name_when_another_network_of_the_domain_holds_it() {
    let (mut default, mut others) = shared(HostnamePolicy::Reject, 2);
    leased(others.apply(&mut default, &bind_in("lxdbr1", 1, Some("web"))));
    let second = leased(others.apply(&mut default, &bind_in(DEFAULT_NETWORK, 2, Some("web"))));
    assert_eq!(second.granted_name, None);
    let conflict = default.conflicts().next().unwrap();
    assert_eq!(
        (conflict.name.as_str(), conflict.granted_instead.as_deref()),
        ("web", None)
    );
}

#[test]
fn networks_of_other_domains_do_not_take_names() {
    let (mut default, mut others) = shared(HostnamePolicy::Suffix, 1);
    let mut own = shared_settings(1, HostnamePolicy::Suffix);
    own.domain = "lab.lxd".into();
    let init = Command::for_network("lab", Command::Initialize { settings: own });
    assert_eq!(others.apply(&mut default, &init), Response::Done);
    leased(others.apply(&mut default, &bind_in(DEFAULT_NETWORK, 1, Some("c1"))));
    let lab = leased(others.apply(&mut default, &bind_in("lab", 2, Some("c1"))));
    assert_eq!(lab.granted_name.as_deref(), Some("c1"));
}

#[test]
fn reservations_are_unique_across_the_domain() {
    let (mut default, mut others) = shared(HostnamePolicy::Suffix, 2);
    let reserve = |network: &str, n: u8, address: Ipv4Addr, name: &str| {
        Command::for_network(
            network,
            Command::Reserve {
                reservation: Reservation {
                    mac: mac(n),
                    address,
                    hostname: Some(name.into()),
                },
            },
        )
    };
    let db = reserve("lxdbr1", 1, Ipv4Addr::new(10, 1, 0, 20), "db");
    assert_eq!(others.apply(&mut default, &db), Response::Done);
    // The name is reserved in lxdbr1: default cannot reserve it ...
    let again = reserve(DEFAULT_NETWORK, 2, ip(20), "db");
    assert!(matches!(
        rejected(others.apply(&mut default, &again)),
        Rejection::HostnameReserved { name, mac: owner } if name == "db" && owner == mac(1)
    ));
    // ... and a client of default asking for it is suffixed.
    let lease = leased(others.apply(&mut default, &bind_in(DEFAULT_NETWORK, 3, Some("db"))));
    assert_eq!(lease.granted_name.as_deref(), Some("db-2"));
    // A name leased in default cannot be reserved in lxdbr1.
    let taken = reserve("lxdbr1", 4, Ipv4Addr::new(10, 1, 0, 21), "db-2");
    assert!(matches!(
        rejected(others.apply(&mut default, &taken)),
        Rejection::HostnameInUse { name, client: owner } if name == "db-2" && owner == client(3)
    ));
}

#[test]
fn a_static_record_in_one_network_keeps_its_name_from_every_network_of_the_domain() {
    let (mut default, mut others) = shared(HostnamePolicy::Suffix, 2);
    let lease = leased(others.apply(&mut default, &bind_in("lxdbr1", 1, Some("www"))));
    assert_eq!(lease.granted_name.as_deref(), Some("www"));
    let record = Command::AddRecord {
        record: StaticRecord {
            name: "www.lxd".into(),
            ttl: None,
            data: RecordData::A {
                address: Ipv4Addr::new(192, 0, 2, 1),
            },
        },
    };
    // Added to default's table: lxdbr1's lease yields the name.
    assert_eq!(others.apply(&mut default, &record), Response::Done);
    let lxdbr1 = others.get(&default, "lxdbr1").unwrap();
    assert_eq!(lxdbr1.address_of_name("www"), None);
    assert_eq!(
        lxdbr1.lease_by_address(lease.address).unwrap().granted_name,
        None
    );
    // And no lease of lxdbr1 takes it later.
    let later = leased(others.apply(&mut default, &bind_in("lxdbr1", 2, Some("www"))));
    assert_eq!(later.granted_name, None);
}

#[test]
fn an_lxd_instance_name_is_unique_across_the_domain() {
    let (mut default, mut others) = shared(HostnamePolicy::Suffix, 2);
    leased(others.apply(&mut default, &bind_in(DEFAULT_NETWORK, 1, Some("c1"))));
    leased(others.apply(&mut default, &bind_in("lxdbr1", 2, None)));
    let name = Command::NameMac {
        mac: mac(2),
        name: "c1".into(),
        now: 2_000,
    };
    assert_eq!(others.apply(&mut default, &name), Response::Done);
    let lxdbr1 = others.get(&default, "lxdbr1").unwrap();
    assert_eq!(lxdbr1.name_of_mac(mac(2)), Some("c1"));
    let lease = lxdbr1.lease_by_client(&client(2)).unwrap();
    assert_eq!(lease.granted_name.as_deref(), Some("c1-2"));
}

/// Every name held in a table (lease names and reserved hostnames), with the
/// network holding it.
fn held_names<'a>(default: &'a LeaseTable, others: &'a OtherNetworks) -> Vec<(String, &'a str)> {
    let mut held = Vec::new();
    for (network, table) in others.all(default) {
        let mut names: Vec<String> = table
            .leases()
            .filter_map(|lease| lease.granted_name.clone())
            .chain(table.reservations().filter_map(|r| r.hostname.clone()))
            .collect();
        names.sort();
        names.dedup();
        held.extend(names.into_iter().map(|name| (name, network)));
    }
    held
}

fn random_command() -> impl Strategy<Value = Command> {
    let c = 0u8..8;
    let host = prop_oneof![
        Just(None),
        Just(Some("c")),
        Just(Some("c-2")),
        Just(Some("web"))
    ];
    let now = 0u64..200_000;
    let address = (0u8..3, 0u8..10).prop_map(|(n, last)| Ipv4Addr::new(10, n, 0, last));
    prop_oneof![
        6 => (c.clone(), host.clone(), now.clone()).prop_map(|(c, host, now)| Command::Bind {
            request: request(c, host, None),
            now,
            lease_time_secs: None,
        }),
        2 => (c.clone(), address.clone(), now.clone()).prop_map(|(c, address, now)| Command::Release {
            client_id: Some(client(c)),
            mac: None,
            address,
            now,
        }),
        2 => (c.clone(), address, host).prop_map(|(c, address, hostname)| Command::Reserve {
            reservation: Reservation { mac: mac(c), address, hostname: hostname.map(str::to_string) },
        }),
        1 => c.clone().prop_map(|c| Command::Unreserve { mac: mac(c) }),
        1 => (c.clone(), prop_oneof![Just("c"), Just("web")], now.clone())
            .prop_map(|(c, name, now)| Command::NameMac { mac: mac(c), name: name.into(), now }),
        1 => (c, now.clone()).prop_map(|(c, now)| Command::ForgetMac { mac: mac(c), now }),
        1 => now.prop_map(|now| Command::Expire { now }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever is sent to which of three networks of one domain, under
    /// either policy: no name is held by two tables, every lend is returned,
    /// and each table keeps its invariants.
    #[test]
    fn no_name_is_held_by_two_networks_of_one_domain(
        reject in any::<bool>(),
        steps in proptest::collection::vec((0usize..3, random_command()), 1..60),
    ) {
        let policy = if reject { HostnamePolicy::Reject } else { HostnamePolicy::Suffix };
        let (mut default, mut others) = shared(policy, 3);
        for (which, command) in steps {
            others.apply(&mut default, &Command::for_network(NETWORKS[which], command));
            let mut holder: BTreeMap<String, &str> = BTreeMap::new();
            for (name, network) in held_names(&default, &others) {
                if let Some(first) = holder.insert(name.clone(), network) {
                    prop_assert!(false, "{} held in {} and {}", name, first, network);
                }
            }
            for (network, table) in others.all(&default) {
                prop_assert!(table.lent_domain.is_empty(), "{} kept a lend", network);
                check(table).map_err(TestCaseError::fail)?;
            }
        }
    }
}
