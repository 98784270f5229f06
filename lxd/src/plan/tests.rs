use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use proptest::prelude::*;
use raftmasq_state::{
    AddressRange, ClientId, ClusterSettings, Command, HostnamePolicy, LeaseRequest, LeaseTable,
    MacAddr, Reservation, Response,
};

use super::*;

fn table() -> LeaseTable {
    let mut table = LeaseTable::default();
    let settings = ClusterSettings {
        subnet: "172.16.0.0/16".parse().unwrap(),
        ranges: vec![AddressRange {
            start: Ipv4Addr::new(172, 16, 1, 0),
            end: Ipv4Addr::new(172, 16, 1, 255),
        }],
        domain: "lxd".into(),
        lease_time_secs: 120,
        duplicate_hostnames: HostnamePolicy::Suffix,
        decline_quarantine_secs: 60,
        client_identity: Default::default(),
    };
    assert_eq!(
        table.apply(&Command::Initialize { settings }),
        Response::Done
    );
    table
}

fn mac(n: u8) -> MacAddr {
    MacAddr([0, 0x16, 0x3e, 0, 0, n])
}

fn nic(instance: &str, static_v4: Option<[u8; 4]>) -> Nic {
    Nic {
        project: "default".into(),
        instance: instance.into(),
        device: "eth0".into(),
        name: Some(instance.into()),
        static_v4: static_v4.map(Ipv4Addr::from),
    }
}

fn apply_all(table: &mut LeaseTable, commands: &[Command]) {
    for command in commands {
        // The leader stamps the time; 1000 stands in for it.
        let mut command = command.clone();
        match &mut command {
            Command::NameMac { now, .. } | Command::ForgetMac { now, .. } => *now = 1000,
            _ => {}
        }
        let _ = table.apply(&command);
    }
}

/// Plans against `table` and applies the plan to it.
fn step(table: &mut LeaseTable, desired: &BTreeMap<MacAddr, Nic>, known: &BTreeMap<MacAddr, Nic>) {
    let commands = plan(desired, known, table).commands;
    apply_all(table, &commands);
}

fn bind(table: &mut LeaseTable, mac: MacAddr, hostname: &str) -> Ipv4Addr {
    let response = table.apply(&Command::Bind {
        request: LeaseRequest {
            client_id: ClientId::from_mac(mac),
            mac,
            hostname: Some(hostname.into()),
            requested_address: None,
            seen_by: Some(1),
        },
        now: 1000,
        lease_time_secs: None,
    });
    match response {
        Response::Lease { lease } => lease.address,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_new_instance_is_named_and_its_static_address_reserved() {
    let table = table();
    let desired = BTreeMap::from([(mac(1), nic("c1", Some([172, 16, 5, 1])))]);
    let plan = plan(&desired, &BTreeMap::new(), &table);
    assert_eq!(
        plan.commands,
        vec![
            Command::NameMac {
                mac: mac(1),
                name: "c1".into(),
                now: 0
            },
            Command::Reserve {
                reservation: Reservation {
                    mac: mac(1),
                    address: Ipv4Addr::new(172, 16, 5, 1),
                    hostname: None
                }
            },
        ]
    );
    assert_eq!(plan.problems, vec![]);
}

#[test]
fn what_the_table_already_shows_is_not_proposed_again() {
    let mut table = table();
    let desired = BTreeMap::from([(mac(1), nic("c1", Some([172, 16, 5, 1])))]);
    step(&mut table, &desired, &BTreeMap::new());
    // Another host reporting the same instance, or a resync: nothing.
    assert_eq!(plan(&desired, &BTreeMap::new(), &table), Plan::default());
    assert_eq!(plan(&desired, &desired, &table), Plan::default());
}

#[test]
fn rename_renames_and_a_bound_lease_follows() {
    let mut table = table();
    let address = bind(&mut table, mac(1), "whatever");
    let before = BTreeMap::from([(mac(1), nic("c1", None))]);
    step(&mut table, &before, &BTreeMap::new());
    assert_eq!(table.address_of_name("c1"), Some(address));
    let after = BTreeMap::from([(mac(1), nic("c9", None))]);
    let commands = plan(&after, &before, &table).commands;
    assert_eq!(
        commands,
        vec![Command::NameMac {
            mac: mac(1),
            name: "c9".into(),
            now: 0
        }]
    );
    apply_all(&mut table, &commands);
    assert_eq!(table.address_of_name("c9"), Some(address));
    assert_eq!(table.address_of_name("c1"), None);
}

#[test]
fn a_nic_gone_is_forgotten_with_its_lease_and_name() {
    let mut table = table();
    let known = BTreeMap::from([
        (mac(1), nic("c1", Some([172, 16, 5, 1]))),
        (mac(2), nic("c2", None)),
    ]);
    step(&mut table, &known, &BTreeMap::new());
    let address = bind(&mut table, mac(2), "c2");
    let desired = BTreeMap::from([(mac(1), nic("c1", Some([172, 16, 5, 1])))]);
    let commands = plan(&desired, &known, &table).commands;
    assert_eq!(
        commands,
        vec![Command::ForgetMac {
            mac: mac(2),
            now: 0
        }]
    );
    apply_all(&mut table, &commands);
    assert_eq!(table.lease_by_address(address), None);
    assert_eq!(table.address_of_name("c2"), None);
    assert_eq!(table.name_of_mac(mac(2)), None);
}

#[test]
fn a_changed_static_address_moves_the_reservation_and_a_removed_one_goes() {
    let mut table = table();
    let first = BTreeMap::from([(mac(1), nic("c1", Some([172, 16, 5, 1])))]);
    step(&mut table, &first, &BTreeMap::new());
    let moved = BTreeMap::from([(mac(1), nic("c1", Some([172, 16, 5, 2])))]);
    let commands = plan(&moved, &first, &table).commands;
    assert_eq!(commands[0], Command::Unreserve { mac: mac(1) });
    apply_all(&mut table, &commands);
    assert_eq!(
        table.reservation_for_mac(mac(1)).map(|r| r.address),
        Some(Ipv4Addr::new(172, 16, 5, 2))
    );
    let removed = BTreeMap::from([(mac(1), nic("c1", None))]);
    let commands = plan(&removed, &moved, &table).commands;
    assert_eq!(commands, vec![Command::Unreserve { mac: mac(1) }]);
    apply_all(&mut table, &commands);
    assert_eq!(table.reservation_for_mac(mac(1)), None);
}

#[test]
fn an_operators_reservation_for_an_instance_without_a_static_key_stays() {
    let mut table = table();
    let reservation = Reservation {
        mac: mac(1),
        address: Ipv4Addr::new(172, 16, 7, 7),
        hostname: None,
    };
    table.apply(&Command::Reserve { reservation });
    let desired = BTreeMap::from([(mac(1), nic("c1", None))]);
    // Not even when LXD reported the instance before (without the key).
    for known in [BTreeMap::new(), desired.clone()] {
        let commands = plan(&desired, &known, &table).commands;
        assert!(
            !commands
                .iter()
                .any(|c| matches!(c, Command::Unreserve { .. })),
            "{commands:?}"
        );
    }
}

#[test]
fn a_static_address_outside_the_subnet_or_taken_is_a_problem_not_a_command() {
    let mut table = table();
    let other = bind(&mut table, mac(9), "other");
    table.apply(&Command::Reserve {
        reservation: Reservation {
            mac: mac(8),
            address: Ipv4Addr::new(172, 16, 5, 5),
            hostname: None,
        },
    });
    let desired = BTreeMap::from([
        (mac(1), nic("c1", Some([10, 0, 0, 1]))),
        (mac(2), nic("c2", Some(other.octets()))),
        (mac(3), nic("c3", Some([172, 16, 5, 5]))),
    ]);
    let plan = plan(&desired, &BTreeMap::new(), &table);
    assert!(
        plan.commands
            .iter()
            .all(|c| matches!(c, Command::NameMac { .. })),
        "{:?}",
        plan.commands
    );
    let texts: Vec<String> = plan.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        vec![
            "instance c1: static address 10.0.0.1 is outside the cluster's subnet 172.16.0.0/16; no reservation".to_string(),
            format!("instance c2: static address {other} is leased to 00:16:3e:00:00:09; no reservation until it is free"),
            "instance c3: static address 172.16.5.5 is reserved for 00:16:3e:00:00:08; no reservation until it is free".to_string(),
        ]
    );
}

fn arb_nics() -> impl Strategy<Value = BTreeMap<MacAddr, Nic>> {
    let names = prop::sample::select(vec!["a", "b", "c", "d"]);
    let statics = prop::option::of(prop::sample::select(vec![
        [172, 16, 5, 1],
        [172, 16, 5, 2],
        [172, 16, 1, 3],
        [10, 0, 0, 1],
    ]));
    prop::collection::btree_map(
        (1u8..7).prop_map(mac),
        (names, statics).prop_map(|(n, s)| nic(n, s)),
        0..6,
    )
}

proptest! {
    /// Whatever was known and whatever LXD says now: after the plan is
    /// applied, the table agrees with LXD and the next plan is empty, and
    /// what LXD no longer reports is gone.
    #[test]
    fn plans_converge_in_one_step(
        before in arb_nics(),
        now in arb_nics(),
        bound in prop::collection::vec(1u8..9, 0..4),
    ) {
        let mut table = table();
        for n in bound {
            bind(&mut table, mac(n), "x");
        }
        step(&mut table, &before, &BTreeMap::new());
        let step = plan(&now, &before, &table);
        apply_all(&mut table, &step.commands);
        prop_assert_eq!(plan(&now, &now, &table).commands, vec![]);
        for (mac, nic) in &now {
            prop_assert_eq!(table.name_of_mac(*mac), nic.name.as_deref());
            if let Some(reservation) = table.reservation_for_mac(*mac) {
                prop_assert_eq!(Some(reservation.address), nic.static_v4);
            }
        }
        for mac in before.keys().filter(|m| !now.contains_key(m)) {
            prop_assert_eq!(table.name_of_mac(*mac), None);
            prop_assert!(table.reservation_for_mac(*mac).is_none());
            prop_assert!(table.leases().all(|l| l.mac != *mac));
        }
    }
}
