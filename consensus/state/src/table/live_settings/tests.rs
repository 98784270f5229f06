//! `ChangeSettings`: what may change live, what is refused, and that no
//! lease is lost or shortened.

use crate::settings::HostnamePolicy;
use crate::tests::{bind, client, ip, leased, rejected, settings, table};
use crate::{Command, LeaseTable, Rejection, Reservation, Response};

/// One edit of the settings.
type Edit = fn(&mut crate::ClusterSettings);

fn change(
    table: &mut LeaseTable,
    edit: impl FnOnce(&mut crate::ClusterSettings),
    now: u64,
) -> Response {
    let mut settings = table.settings().unwrap().clone();
    edit(&mut settings);
    table.apply(&Command::ChangeSettings {
        settings,
        now,
        based_on: None,
    })
}

fn fill(table: &mut LeaseTable, clients: std::ops::Range<u8>) {
    for n in clients {
        leased(bind(table, n, None, 1_000));
    }
}

#[test]
fn a_grown_range_grants_its_new_addresses_once_the_old_part_is_full() {
    let mut table = table(HostnamePolicy::Suffix);
    fill(&mut table, 0..20);
    assert_eq!(
        rejected(bind(&mut table, 20, None, 1_000)),
        Rejection::PoolExhausted
    );
    let response = change(&mut table, |s| s.ranges[0].end = ip(25), 2_000);
    assert_eq!(response, Response::Done);
    assert_eq!(leased(bind(&mut table, 20, None, 2_000)).address, ip(22));
    assert_eq!(table.pool_stats().size, 24);
    assert_eq!(table.pool_stats().free, 3);
}

#[test]
fn a_shrink_that_strands_leases_is_refused_with_them() {
    let mut table = table(HostnamePolicy::Suffix);
    fill(&mut table, 0..5); // 10.0.0.2-10.0.0.6
    let response = change(&mut table, |s| s.ranges[0].end = ip(4), 2_000);
    let Rejection::RangeStrandsLeases { leases, total, .. } = rejected(response) else {
        panic!("not a stranding refusal");
    };
    assert_eq!(total, 2);
    let addresses: Vec<_> = leases.iter().map(|l| l.address).collect();
    assert_eq!(addresses, vec![ip(5), ip(6)]);
    assert_eq!(leases[0].client_id, client(3));
    assert_eq!(table.settings().unwrap().ranges[0].end, ip(21));
    assert!(
        Rejection::RangeStrandsLeases {
            ranges: settings(HostnamePolicy::Suffix).ranges,
            leases,
            total
        }
        .to_string()
        .contains("10.0.0.5 (00:16:3e:00:00:03)")
    );
}

#[test]
fn a_shrink_goes_through_once_the_leases_outside_have_ended() {
    let mut table = table(HostnamePolicy::Suffix);
    fill(&mut table, 0..5);
    // The test settings' lease time is 60 s: all ended by 61 s.
    let response = change(&mut table, |s| s.ranges[0].end = ip(4), 61_001);
    assert_eq!(response, Response::Done);
    assert_eq!(table.pool_stats().size, 3);
    assert_eq!(leased(bind(&mut table, 9, None, 61_002)).address, ip(2));
}

#[test]
fn a_lease_on_its_own_reservation_never_blocks_a_shrink() {
    let mut table = table(HostnamePolicy::Suffix);
    let reservation = Reservation {
        mac: crate::tests::mac(1),
        address: ip(15),
        hostname: None,
    };
    assert_eq!(
        table.apply(&Command::Reserve { reservation }),
        Response::Done
    );
    assert_eq!(leased(bind(&mut table, 1, None, 1_000)).address, ip(15));
    assert_eq!(
        change(&mut table, |s| s.ranges[0].end = ip(10), 2_000),
        Response::Done
    );
    assert_eq!(table.lease_by_address(ip(15)).unwrap().client_id, client(1));
}

#[test]
fn a_shorter_lease_time_applies_to_new_leases_and_shortens_none() {
    let mut table = table(HostnamePolicy::Suffix);
    let before = leased(bind(&mut table, 1, None, 0));
    assert_eq!(before.expires_at, 60_000);
    assert_eq!(
        change(&mut table, |s| s.lease_time_secs = 10, 1_000),
        Response::Done
    );
    // A renewal at 1 s would end at 11 s under the new time: it keeps 60 s.
    let renewed = leased(table.apply(&Command::Renew {
        client_id: client(1),
        address: before.address,
        now: 1_000,
        lease_time_secs: None,
    }));
    assert_eq!(renewed.expires_at, 60_000);
    // A new client gets the new time; so does the old one once past it.
    assert_eq!(leased(bind(&mut table, 2, None, 2_000)).expires_at, 12_000);
    let late = leased(table.apply(&Command::Renew {
        client_id: client(1),
        address: before.address,
        now: 55_000,
        lease_time_secs: None,
    }));
    assert_eq!(late.expires_at, 65_000);
}

#[test]
fn a_longer_lease_time_applies_to_the_next_renewal() {
    let mut table = table(HostnamePolicy::Suffix);
    let lease = leased(bind(&mut table, 1, None, 0));
    assert_eq!(
        change(&mut table, |s| s.lease_time_secs = 600, 1_000),
        Response::Done
    );
    assert_eq!(
        table.lease_by_address(lease.address).unwrap().expires_at,
        60_000
    );
    let renewed = leased(table.apply(&Command::Renew {
        client_id: client(1),
        address: lease.address,
        now: 30_000,
        lease_time_secs: None,
    }));
    assert_eq!(renewed.expires_at, 630_000);
}

#[test]
fn the_policy_switch_applies_to_the_next_name() {
    let mut table = table(HostnamePolicy::Suffix);
    assert_eq!(
        leased(bind(&mut table, 1, Some("web"), 0))
            .granted_name
            .as_deref(),
        Some("web")
    );
    assert_eq!(
        leased(bind(&mut table, 2, Some("web"), 0))
            .granted_name
            .as_deref(),
        Some("web-2")
    );
    let reject = |s: &mut crate::ClusterSettings| s.duplicate_hostnames = HostnamePolicy::Reject;
    assert_eq!(change(&mut table, reject, 1_000), Response::Done);
    assert_eq!(
        leased(bind(&mut table, 3, Some("web"), 1_000)).granted_name,
        None
    );
    // Names already granted stay.
    assert_eq!(table.address_of_name("web-2"), Some(ip(3)));
}

#[test]
fn the_quarantine_change_applies_to_the_next_decline() {
    let mut table = table(HostnamePolicy::Suffix);
    let lease = leased(bind(&mut table, 1, None, 0));
    assert_eq!(
        change(&mut table, |s| s.decline_quarantine_secs = 5, 0),
        Response::Done
    );
    let decline = Command::Decline {
        client_id: client(1),
        mac: None,
        address: lease.address,
        now: 0,
    };
    assert_eq!(table.apply(&decline), Response::Done);
    assert_eq!(table.quarantined().next(), Some((lease.address, 5_000)));
}

#[test]
fn fixed_keys_are_refused_with_their_reason() {
    let mut table = table(HostnamePolicy::Suffix);
    let cases: [(&str, Edit); 3] = [
        ("dhcp.subnet", |s| s.subnet = "10.0.0.0/26".parse().unwrap()),
        ("dns.domain", |s| s.domain = "example".into()),
        ("dhcp.client_identity", |s| {
            s.client_identity = crate::ClientIdentity::Mac
        }),
    ];
    for (key, edit) in cases {
        let Rejection::SettingFixed {
            key: refused,
            reason,
        } = rejected(change(&mut table, edit, 0))
        else {
            panic!("{key} not refused as fixed");
        };
        assert_eq!(refused, key);
        assert_eq!(Some(reason.as_str()), super::fixed_key_reason(key));
    }
    // The domain compares as DNS does: a change of case alone changes nothing.
    assert_eq!(
        change(&mut table, |s| s.domain = "LXD".into(), 0),
        Response::Done
    );
    assert_eq!(table.settings().unwrap().domain, "lxd");
}

#[test]
fn a_change_made_from_replaced_settings_is_refused() {
    let mut table = table(HostnamePolicy::Suffix);
    let base = table.settings().unwrap().clone();
    let mut longer = base.clone();
    longer.lease_time_secs = 600;
    let first = Command::ChangeSettings {
        settings: longer,
        now: 0,
        based_on: Some(base.clone()),
    };
    assert_eq!(table.apply(&first), Response::Done);
    // Made from the same base, setting another key: it would undo the first.
    let mut reject = base.clone();
    reject.duplicate_hostnames = HostnamePolicy::Reject;
    let second = Command::ChangeSettings {
        settings: reject,
        now: 0,
        based_on: Some(base),
    };
    assert_eq!(
        rejected(table.apply(&second)),
        Rejection::SettingsChangedMeanwhile
    );
    assert_eq!(table.settings().unwrap().lease_time_secs, 600);
}

#[test]
fn a_range_outside_the_subnet_or_on_its_edges_is_invalid() {
    let mut table = table(HostnamePolicy::Suffix);
    for range in [(0, 10), (2, 31), (10, 5)] {
        let edit = |s: &mut crate::ClusterSettings| {
            s.ranges[0].start = ip(range.0);
            s.ranges[0].end = ip(range.1);
        };
        assert!(
            matches!(
                rejected(change(&mut table, edit, 0)),
                Rejection::InvalidSettings(_)
            ),
            "{range:?}"
        );
    }
    let outside =
        |s: &mut crate::ClusterSettings| s.ranges[0].end = std::net::Ipv4Addr::new(10, 0, 1, 5);
    assert!(matches!(
        rejected(change(&mut table, outside, 0)),
        Rejection::InvalidSettings(_)
    ));
}

#[test]
fn a_changed_table_round_trips_through_a_snapshot() {
    let mut table = table(HostnamePolicy::Suffix);
    fill(&mut table, 0..3);
    assert_eq!(
        change(
            &mut table,
            |s| s.ranges = vec![crate::AddressRange {
                start: ip(2),
                end: ip(29)
            }],
            1_000
        ),
        Response::Done
    );
    let back: LeaseTable = serde_json::from_str(&serde_json::to_string(&table).unwrap()).unwrap();
    assert_eq!(back, table);
    crate::tests::check_invariants(&table).unwrap();
}

fn range(start: u8, end: u8) -> crate::AddressRange {
    crate::AddressRange {
        start: ip(start),
        end: ip(end),
    }
}

#[test]
fn a_second_range_is_added_live_and_granted_from_once_the_first_is_full() {
    let mut table = table(HostnamePolicy::Suffix);
    let response = change(&mut table, |s| s.ranges = vec![range(2, 6)], 500);
    assert_eq!(response, Response::Done);
    fill(&mut table, 0..5);
    assert_eq!(
        rejected(bind(&mut table, 5, None, 1_000)),
        Rejection::PoolExhausted
    );
    let two = |s: &mut crate::ClusterSettings| s.ranges = vec![range(2, 6), range(20, 22)];
    assert_eq!(change(&mut table, two, 2_000), Response::Done);
    assert_eq!(table.pool_stats().size, 8);
    assert_eq!(leased(bind(&mut table, 5, None, 2_000)).address, ip(20));
    assert_eq!(leased(bind(&mut table, 6, None, 2_000)).address, ip(21));
    // Between the ranges nothing is handed out, even when asked for.
    assert!(!table.is_available_to(&client(7), crate::tests::mac(7), ip(10), 2_000));
    crate::tests::check_invariants(&table).unwrap();
}

#[test]
fn dropping_a_range_that_holds_leases_is_refused_with_them_and_without_them_goes_through() {
    let mut table = table(HostnamePolicy::Suffix);
    let two = |s: &mut crate::ClusterSettings| s.ranges = vec![range(2, 3), range(10, 12)];
    assert_eq!(change(&mut table, two, 500), Response::Done);
    fill(&mut table, 0..3); // 10.0.0.2, .3, .10
    let Rejection::RangeStrandsLeases { leases, total, .. } =
        rejected(change(&mut table, |s| s.ranges.truncate(1), 2_000))
    else {
        panic!("not a stranding refusal");
    };
    assert_eq!(total, 1);
    assert_eq!(leases[0].address, ip(10));
    let Rejection::RangeStrandsLeases { total, .. } =
        rejected(change(&mut table, |s| s.ranges.clear(), 2_000))
    else {
        panic!("not a stranding refusal");
    };
    assert_eq!(total, 3);
    // Once the leases have ended (60 s), the second range goes.
    assert_eq!(
        change(&mut table, |s| s.ranges.truncate(1), 61_001),
        Response::Done
    );
    assert_eq!(table.pool_stats().size, 2);
    crate::tests::check_invariants(&table).unwrap();
}

#[test]
fn without_ranges_only_reservations_are_granted() {
    let mut table = table(HostnamePolicy::Suffix);
    let reservation = Reservation {
        mac: crate::tests::mac(1),
        address: ip(25),
        hostname: Some("printer".into()),
    };
    assert_eq!(
        table.apply(&Command::Reserve { reservation }),
        Response::Done
    );
    assert_eq!(
        change(&mut table, |s| s.ranges.clear(), 500),
        Response::Done
    );
    assert_eq!(table.pool_stats().size, 0);
    assert_eq!(table.pool_stats().free, 0);
    assert_eq!(
        rejected(bind(&mut table, 2, None, 1_000)),
        Rejection::PoolExhausted
    );
    let printer = leased(bind(&mut table, 1, None, 1_000));
    assert_eq!(printer.address, ip(25));
    assert_eq!(table.address_of_name("printer"), Some(ip(25)));
    let back: LeaseTable = serde_json::from_str(&serde_json::to_string(&table).unwrap()).unwrap();
    assert_eq!(back, table);
    crate::tests::check_invariants(&table).unwrap();
}

#[test]
fn overlapping_or_unordered_ranges_are_invalid() {
    let mut table = table(HostnamePolicy::Suffix);
    for ranges in [
        vec![range(2, 10), range(10, 12)],
        vec![range(10, 12), range(2, 5)],
    ] {
        let edit = |s: &mut crate::ClusterSettings| s.ranges = ranges.clone();
        assert!(
            matches!(
                rejected(change(&mut table, edit, 0)),
                Rejection::InvalidSettings(_)
            ),
            "{ranges:?}"
        );
    }
}
