//! One test per behaviour of `apply` and the read API.

use super::invariants::check;
use super::*;
use crate::table::MAX_CONFLICTS;
use crate::{HostnamePolicy, LeaseState, RecordData, Reservation, StaticRecord};

const SUFFIX: HostnamePolicy = HostnamePolicy::Suffix;
const REJECT: HostnamePolicy = HostnamePolicy::Reject;

fn reserve(table: &mut LeaseTable, n: u8, last: u8, hostname: Option<&str>) -> Response {
    table.apply(&Command::Reserve {
        reservation: Reservation {
            mac: mac(n),
            address: ip(last),
            hostname: hostname.map(str::to_string),
        },
    })
}

fn release(table: &mut LeaseTable, n: Option<u8>, address: Ipv4Addr, now: u64) -> Response {
    table.apply(&Command::Release {
        client_id: n.map(client),
        mac: None,
        address,
        now,
    })
}

fn renew(table: &mut LeaseTable, n: u8, address: Ipv4Addr, now: u64) -> Response {
    table.apply(&Command::Renew {
        client_id: client(n),
        address,
        now,
        lease_time_secs: None,
    })
}

fn strict_bind(table: &mut LeaseTable, n: u8, address: Ipv4Addr, now: u64) -> Response {
    table.apply(&Command::Bind {
        request: request(n, None, Some(address)),
        now,
        lease_time_secs: None,
    })
}

fn allocate(table: &mut LeaseTable, n: u8, hint: Option<Ipv4Addr>, now: u64) -> Response {
    table.apply(&Command::Allocate {
        request: request(n, Some("c1"), hint),
        now,
        hold_ms: 5_000,
    })
}

#[test]
fn commands_before_initialize_are_rejected() {
    let mut table = LeaseTable::default();
    assert!(!table.is_initialized());
    assert_eq!(
        rejected(bind(&mut table, 1, None, 0)),
        Rejection::NotInitialized
    );
    assert_eq!(
        rejected(table.apply(&Command::Expire { now: 0 })),
        Rejection::NotInitialized
    );
    assert_eq!(
        rejected(reserve(&mut table, 1, 5, None)),
        Rejection::NotInitialized
    );
    let settings = settings(SUFFIX);
    assert_eq!(
        table.apply(&Command::Initialize {
            settings: settings.clone()
        }),
        Response::Done
    );
    assert_eq!(table.settings(), Some(&settings));
    assert_eq!(
        rejected(table.apply(&Command::Initialize { settings })),
        Rejection::AlreadyInitialized
    );
}

#[test]
fn invalid_settings_are_rejected() {
    let mut bad = settings(SUFFIX);
    bad.ranges[0].end = Ipv4Addr::new(10, 0, 1, 5);
    let mut table = LeaseTable::default();
    assert!(matches!(
        rejected(table.apply(&Command::Initialize { settings: bad })),
        Rejection::InvalidSettings(_)
    ));
    assert!(!table.is_initialized());
}

#[test]
fn allocate_offers_without_a_name_and_bind_grants_one() {
    let mut table = table(SUFFIX);
    let offer = leased(allocate(&mut table, 1, None, 1_000));
    assert_eq!(offer.address, ip(2));
    assert_eq!(offer.state, LeaseState::Offered);
    assert_eq!(offer.granted_name, None);
    assert_eq!(offer.expires_at, 6_000);
    assert_eq!(table.address_of_name("c1"), None);

    let lease = leased(table.apply(&Command::Bind {
        request: request(1, Some("C1.example.org"), None),
        now: 2_000,
        lease_time_secs: Some(100),
    }));
    assert_eq!(lease.address, ip(2));
    assert_eq!(lease.state, LeaseState::Bound);
    assert_eq!(lease.granted_name.as_deref(), Some("c1"));
    assert_eq!(lease.expires_at, 102_000);
    assert_eq!(table.address_of_name("C1"), Some(ip(2)));
    assert_eq!(table.lease_by_client(&client(1)), Some(&lease));
    assert_eq!(table.lease_by_address(ip(2)), Some(&lease));
    check(&table).unwrap();
}

#[test]
fn strict_bind_gets_exactly_the_address_or_is_rejected() {
    let mut table = table(SUFFIX);
    assert_eq!(leased(strict_bind(&mut table, 1, ip(7), 0)).address, ip(7));
    let taken = Rejection::AddressUnavailable { address: ip(7) };
    assert_eq!(rejected(strict_bind(&mut table, 2, ip(7), 0)), taken);
    let outside_range = ip(25);
    assert_eq!(
        rejected(strict_bind(&mut table, 2, outside_range, 0)),
        Rejection::AddressUnavailable {
            address: outside_range
        }
    );
    let outside_subnet = Ipv4Addr::new(192, 168, 0, 2);
    assert!(matches!(
        rejected(strict_bind(&mut table, 2, outside_subnet, 0)),
        Rejection::AddressUnavailable { .. }
    ));
    // The holder may bind its own address again; binding another moves it.
    assert_eq!(leased(strict_bind(&mut table, 1, ip(7), 10)).address, ip(7));
    assert_eq!(leased(strict_bind(&mut table, 1, ip(8), 20)).address, ip(8));
    assert_eq!(table.lease_by_address(ip(7)), None);
    assert_eq!(table.leases().count(), 1);
    check(&table).unwrap();
}

#[test]
fn hint_is_used_when_free_and_ignored_when_taken() {
    let mut table = table(SUFFIX);
    assert_eq!(
        leased(allocate(&mut table, 1, Some(ip(9)), 0)).address,
        ip(9)
    );
    assert_eq!(
        leased(allocate(&mut table, 2, Some(ip(9)), 0)).address,
        ip(2)
    );
    // A hint outside the range is ignored too.
    assert_eq!(
        leased(allocate(&mut table, 3, Some(ip(30)), 0)).address,
        ip(3)
    );
}

#[test]
fn returning_client_gets_its_previous_address() {
    let mut table = table(SUFFIX);
    for n in 1..=3 {
        leased(bind(&mut table, n, None, 0));
    }
    // Client 2 (10.0.0.3) releases; client 4 takes the lowest free: .3.
    assert_eq!(release(&mut table, Some(2), ip(3), 1_000), Response::Done);
    assert_eq!(
        table.previous_lease(&client(2)).map(|p| p.address),
        Some(ip(3))
    );
    // Clients 1 and 3 let their leases expire.
    assert_eq!(
        table.apply(&Command::Expire { now: 61_000 }),
        Response::Expired { leases: 2 }
    );
    // Client 3's previous is .4; client 2's .3; client 1's .2. Rebind in reverse order.
    assert_eq!(leased(bind(&mut table, 3, None, 62_000)).address, ip(4));
    assert_eq!(leased(bind(&mut table, 2, None, 62_000)).address, ip(3));
    assert_eq!(leased(bind(&mut table, 1, None, 62_000)).address, ip(2));
    // A newcomer gets the lowest free address.
    assert_eq!(leased(bind(&mut table, 9, None, 62_000)).address, ip(5));
    check(&table).unwrap();
}

#[test]
fn previous_address_is_not_returned_once_taken() {
    let mut table = table(SUFFIX);
    leased(bind(&mut table, 1, None, 0));
    release(&mut table, Some(1), ip(2), 10);
    assert_eq!(leased(bind(&mut table, 2, None, 20)).address, ip(2));
    assert_eq!(leased(bind(&mut table, 1, None, 30)).address, ip(3));
    // Client 2's release makes .2 its memory, evicting client 1's.
    release(&mut table, Some(2), ip(2), 40);
    assert_eq!(table.previous_lease(&client(1)), None);
    assert_eq!(
        table.previous_lease(&client(2)).map(|p| p.address),
        Some(ip(2))
    );
    check(&table).unwrap();
}

#[test]
fn reservation_takes_precedence_and_is_never_handed_out() {
    let mut table = table(SUFFIX);
    // A reservation outside the range but inside the subnet is fine.
    assert_eq!(reserve(&mut table, 1, 25, Some("db")), Response::Done);
    assert_eq!(reserve(&mut table, 2, 2, None), Response::Done);
    assert_eq!(
        table.reservation_for_address(ip(25)).map(|r| r.mac),
        Some(mac(1))
    );
    assert_eq!(
        table.reservation_for_mac(mac(2)).map(|r| r.address),
        Some(ip(2))
    );

    // Client 1 gets its reservation despite a hint, with the reserved name.
    let lease = leased(table.apply(&Command::Bind {
        request: request(1, Some("whatever"), None),
        now: 0,
        lease_time_secs: None,
    }));
    assert_eq!(
        (lease.address, lease.granted_name.as_deref()),
        (ip(25), Some("db"))
    );
    assert_eq!(
        leased(allocate(&mut table, 1, Some(ip(9)), 0)).address,
        ip(25)
    );
    // ...and may not bind anything else.
    assert_eq!(
        rejected(strict_bind(&mut table, 1, ip(9), 0)),
        Rejection::AddressUnavailable { address: ip(9) }
    );
    // Others never get a reserved address, even when asking for it.
    assert_eq!(
        rejected(strict_bind(&mut table, 3, ip(2), 0)),
        Rejection::AddressUnavailable { address: ip(2) }
    );
    assert_eq!(
        leased(allocate(&mut table, 3, Some(ip(2)), 0)).address,
        ip(3)
    );
    let mut given = Vec::new();
    for n in 4..40 {
        match bind(&mut table, n, None, 0) {
            Response::Lease { lease } => given.push(lease.address),
            Response::Rejected { reason } => {
                assert_eq!(reason, Rejection::PoolExhausted);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    // 20 in range, one reserved, one offered to client 3.
    assert_eq!(given.len(), 18);
    assert!(!given.contains(&ip(2)));
    // The reserved client still gets its address with the pool full.
    assert_eq!(leased(bind(&mut table, 2, None, 0)).address, ip(2));
    check(&table).unwrap();
}

#[test]
fn reserve_rejects_conflicts_instead_of_overwriting() {
    let mut table = table(SUFFIX);
    leased(bind(&mut table, 9, Some("web"), 0));
    assert_eq!(reserve(&mut table, 1, 10, Some("db")), Response::Done);
    assert_eq!(
        rejected(reserve(&mut table, 1, 11, None)),
        Rejection::DuplicateReservation {
            mac: mac(1),
            address: ip(10)
        }
    );
    assert_eq!(
        rejected(reserve(&mut table, 2, 10, None)),
        Rejection::AddressReserved {
            address: ip(10),
            mac: mac(1)
        }
    );
    let outside = Ipv4Addr::new(10, 0, 1, 1);
    assert_eq!(
        rejected(table.apply(&Command::Reserve {
            reservation: Reservation {
                mac: mac(2),
                address: outside,
                hostname: None
            }
        })),
        Rejection::OutsideSubnet { address: outside }
    );
    assert_eq!(
        rejected(reserve(&mut table, 2, 2, None)),
        Rejection::AddressLeased {
            address: ip(2),
            client: client(9)
        }
    );
    assert_eq!(
        rejected(reserve(&mut table, 2, 3, Some("bad_name"))),
        Rejection::InvalidHostname {
            name: "bad_name".into()
        }
    );
    assert_eq!(
        rejected(reserve(&mut table, 2, 3, Some("DB"))),
        Rejection::HostnameReserved {
            name: "db".into(),
            mac: mac(1)
        }
    );
    assert_eq!(
        rejected(reserve(&mut table, 2, 3, Some("web"))),
        Rejection::HostnameInUse {
            name: "web".into(),
            client: client(9)
        }
    );
    // The holder's own MAC may reserve its leased address and name.
    assert_eq!(reserve(&mut table, 9, 2, Some("web")), Response::Done);
    assert_eq!(
        rejected(table.apply(&Command::Unreserve { mac: mac(5) })),
        Rejection::NoSuchReservation { mac: mac(5) }
    );
    check(&table).unwrap();
}

#[test]
fn unreserve_returns_the_address_to_the_pool() {
    let mut table = table(SUFFIX);
    reserve(&mut table, 1, 2, None);
    assert_eq!(leased(bind(&mut table, 2, None, 0)).address, ip(3));
    assert_eq!(table.pool_stats().free, 18);
    assert_eq!(
        table.apply(&Command::Unreserve { mac: mac(1) }),
        Response::Done
    );
    assert_eq!(table.pool_stats().free, 19);
    assert_eq!(leased(bind(&mut table, 3, None, 0)).address, ip(2));
    check(&table).unwrap();
}

#[test]
fn renew_is_refused_when_a_reservation_points_elsewhere() {
    let mut table = table(SUFFIX);
    leased(bind(&mut table, 1, None, 0));
    reserve(&mut table, 1, 9, None);
    assert_eq!(
        rejected(renew(&mut table, 1, ip(2), 1_000)),
        Rejection::AddressUnavailable { address: ip(2) }
    );
    // The client restarts and moves to its reservation; the old lease goes.
    assert_eq!(leased(bind(&mut table, 1, None, 2_000)).address, ip(9));
    assert_eq!(table.lease_by_address(ip(2)), None);
    check(&table).unwrap();
}

#[test]
fn suffix_policy_numbers_duplicates_and_records_conflicts() {
    let mut table = table(SUFFIX);
    let names: Vec<_> = (1..=4)
        .map(|n| leased(bind(&mut table, n, Some("c1"), 0)).granted_name)
        .collect();
    assert_eq!(
        names,
        [Some("c1"), Some("c1-2"), Some("c1-3"), Some("c1-4")].map(|n| n.map(String::from))
    );
    let conflicts: Vec<_> = table.conflicts().collect();
    assert_eq!(conflicts.len(), 3);
    assert_eq!(conflicts[0].name, "c1");
    assert_eq!(conflicts[0].owner, client(1));
    assert_eq!(conflicts[0].owner_address, ip(2));
    assert_eq!(conflicts[0].claimant, client(2));
    assert_eq!(conflicts[0].granted_instead.as_deref(), Some("c1-2"));
    // Freed suffixes are reused, lowest first.
    release(&mut table, Some(2), ip(3), 10);
    assert_eq!(
        leased(bind(&mut table, 5, Some("c1"), 20))
            .granted_name
            .as_deref(),
        Some("c1-2")
    );
    assert_eq!(
        table.address_of_name("c1-2"),
        table.lease_by_client(&client(5)).map(|l| l.address)
    );
    check(&table).unwrap();
}

#[test]
fn reject_policy_grants_the_lease_without_a_name() {
    let mut table = table(REJECT);
    leased(bind(&mut table, 1, Some("c1"), 0));
    let second = leased(bind(&mut table, 2, Some("C1"), 0));
    assert_eq!(second.granted_name, None);
    assert_eq!(second.requested_hostname.as_deref(), Some("C1"));
    assert_eq!(table.address_of_name("c1"), Some(ip(2)));
    let conflict = table.conflicts().last().unwrap();
    assert_eq!(
        (conflict.owner.clone(), conflict.claimant.clone()),
        (client(1), client(2))
    );
    assert_eq!(conflict.granted_instead, None);
    check(&table).unwrap();
}

#[test]
fn reserved_names_belong_to_their_mac() {
    let mut table = table(SUFFIX);
    reserve(&mut table, 1, 25, Some("db"));
    let squatter = leased(bind(&mut table, 2, Some("db"), 0));
    assert_eq!(squatter.granted_name.as_deref(), Some("db-2"));
    let conflict = table.conflicts().last().unwrap();
    assert_eq!(
        (conflict.owner.clone(), conflict.owner_address),
        (client(1), ip(25))
    );
    let owner = leased(bind(&mut table, 1, None, 0));
    assert_eq!(owner.granted_name.as_deref(), Some("db"));
}

#[test]
fn a_client_keeps_its_name_on_renew_and_rebind() {
    let mut table = table(SUFFIX);
    leased(bind(&mut table, 1, Some("c1"), 0));
    leased(bind(&mut table, 2, Some("c1"), 0));
    release(&mut table, Some(1), ip(2), 1_000);
    // c1 is free now, but client 2 keeps c1-2 through renewals and rebinds.
    let renewed = leased(renew(&mut table, 2, ip(3), 2_000));
    assert_eq!(renewed.granted_name.as_deref(), Some("c1-2"));
    assert_eq!(renewed.expires_at, 62_000);
    let rebound = leased(bind(&mut table, 2, Some("c1.lxd"), 3_000));
    assert_eq!(rebound.granted_name.as_deref(), Some("c1-2"));
    // A request without a hostname keeps the name too.
    let rebound = leased(bind(&mut table, 2, None, 3_000));
    assert_eq!(rebound.granted_name.as_deref(), Some("c1-2"));
    // Asking for another name changes it.
    let renamed = leased(bind(&mut table, 2, Some("web"), 4_000));
    assert_eq!(renamed.granted_name.as_deref(), Some("web"));
    assert_eq!(table.address_of_name("c1-2"), None);
    check(&table).unwrap();
}

#[test]
fn invalid_hostnames_get_no_name() {
    let mut table = table(SUFFIX);
    let lease = leased(bind(&mut table, 1, Some("bad_name"), 0));
    assert_eq!(lease.granted_name, None);
    assert_eq!(lease.requested_hostname.as_deref(), Some("bad_name"));
    assert_eq!(table.conflicts().count(), 0);
}

#[test]
fn expiry_frees_the_name_and_the_same_client_gets_it_back() {
    let mut table = table(REJECT);
    leased(bind(&mut table, 1, Some("c1"), 0));
    // One ms before the end the lease still stands.
    assert_eq!(
        table.apply(&Command::Expire { now: 59_999 }),
        Response::Expired { leases: 0 }
    );
    assert_eq!(table.address_of_name("c1"), Some(ip(2)));
    assert_eq!(table.address_of_name_at("c1", 59_999), Some(ip(2)));
    assert_eq!(table.address_of_name_at("c1", 60_000), None);
    assert_eq!(table.name_of_address_at(ip(2), 59_999), Some("c1"));
    assert_eq!(table.name_of_address_at(ip(2), 60_000), None);
    assert_eq!(
        table.apply(&Command::Expire { now: 60_000 }),
        Response::Expired { leases: 1 }
    );
    assert_eq!(table.address_of_name("c1"), None);
    assert_eq!(table.leases().count(), 0);
    let back = leased(bind(&mut table, 1, Some("c1"), 61_000));
    assert_eq!(
        (back.address, back.granted_name.as_deref()),
        (ip(2), Some("c1"))
    );
    check(&table).unwrap();
}

#[test]
fn any_command_with_time_expires_first() {
    let mut table = table(REJECT);
    leased(bind(&mut table, 1, Some("c1"), 0));
    // Client 2 asks for the name after client 1's lease ended: no conflict.
    let lease = leased(bind(&mut table, 2, Some("c1"), 60_000));
    assert_eq!(lease.granted_name.as_deref(), Some("c1"));
    assert_eq!(lease.address, ip(2));
    assert_eq!(table.conflicts().count(), 0);
}

#[test]
fn time_never_goes_backwards() {
    let mut table = table(SUFFIX);
    leased(bind(&mut table, 1, None, 100_000));
    // A new leader with a slow clock: the lease granted "earlier" is counted
    // from the latest time seen.
    let lease = leased(bind(&mut table, 2, None, 50_000));
    assert_eq!(lease.granted_at, 100_000);
    assert_eq!(lease.expires_at, 160_000);
    assert_eq!(table.last_now(), 100_000);
    // Expired leases do not come back when time appears to go back.
    table.apply(&Command::Expire { now: 170_000 });
    assert_eq!(table.leases().count(), 0);
    assert_eq!(
        rejected(table.apply(&Command::Release {
            client_id: Some(client(1)),
            mac: None,
            address: ip(2),
            now: 120_000
        })),
        Rejection::NoSuchLease { address: ip(2) }
    );
    assert_eq!(table.last_now(), 170_000);
    // Reads use the clamp too.
    assert!(table.is_available_to(&client(3), mac(3), ip(2), 0));
}

#[test]
fn release_needs_the_holder_unless_the_operator_asks() {
    let mut table = table(SUFFIX);
    leased(bind(&mut table, 1, Some("c1"), 0));
    leased(bind(&mut table, 2, None, 0));
    assert_eq!(
        rejected(release(&mut table, Some(2), ip(2), 1)),
        Rejection::NoSuchLease { address: ip(2) }
    );
    assert_eq!(
        rejected(release(&mut table, None, ip(9), 1)),
        Rejection::NoSuchLease { address: ip(9) }
    );
    assert_eq!(release(&mut table, None, ip(2), 1), Response::Done);
    assert_eq!(table.address_of_name("c1"), None);
    // The freed address is allocatable again (it is the lowest free).
    assert_eq!(leased(bind(&mut table, 3, None, 2)).address, ip(2));
    check(&table).unwrap();
}

#[test]
fn a_dhcp_release_must_come_from_the_owners_identity_and_mac() {
    let mut table = table(SUFFIX);
    let lease = leased(bind(&mut table, 1, Some("c1"), 0));
    let from = |client_id: ClientId, mac: MacAddr| Command::Release {
        client_id: Some(client_id),
        mac: Some(mac),
        address: lease.address,
        now: 1,
    };
    // Option 61 copied by another MAC (a clone, or a forgery) frees nothing.
    assert_eq!(
        rejected(table.apply(&from(client(1), mac(2)))),
        Rejection::NoSuchLease {
            address: lease.address
        }
    );
    // The owner's MAC with another identity frees nothing either.
    assert_eq!(
        rejected(table.apply(&from(client(2), mac(1)))),
        Rejection::NoSuchLease {
            address: lease.address
        }
    );
    assert_eq!(table.address_of_name("c1"), Some(lease.address));
    assert_eq!(table.apply(&from(client(1), mac(1))), Response::Done);
    assert!(table.lease_by_address(lease.address).is_none());
    check(&table).unwrap();
}

#[test]
fn decline_quarantines_until_the_quarantine_ends() {
    let mut table = table(SUFFIX);
    leased(bind(&mut table, 1, Some("c1"), 0));
    assert_eq!(
        rejected(table.apply(&Command::Decline {
            client_id: client(2),
            mac: None,
            address: ip(2),
            now: 1_000
        })),
        Rejection::NoSuchLease { address: ip(2) }
    );
    assert_eq!(
        table.apply(&Command::Decline {
            client_id: client(1),
            mac: None,
            address: ip(2),
            now: 1_000
        }),
        Response::Done
    );
    assert_eq!(table.address_of_name("c1"), None);
    assert_eq!(table.quarantined().collect::<Vec<_>>(), [(ip(2), 31_000)]);
    assert_eq!(table.pool_stats().quarantined, 1);
    // The declining client is not steered back to it, nobody gets it.
    assert_eq!(table.previous_lease(&client(1)), None);
    assert_eq!(leased(bind(&mut table, 1, None, 2_000)).address, ip(3));
    assert_eq!(
        rejected(strict_bind(&mut table, 2, ip(2), 30_999)),
        Rejection::AddressUnavailable { address: ip(2) }
    );
    assert!(!table.is_available_to(&client(2), mac(2), ip(2), 30_999));
    assert!(table.is_available_to(&client(2), mac(2), ip(2), 31_000));
    assert_eq!(
        table.apply(&Command::Expire { now: 31_000 }),
        Response::Expired { leases: 0 }
    );
    assert_eq!(table.quarantined().count(), 0);
    assert_eq!(leased(bind(&mut table, 2, None, 31_000)).address, ip(2));
    check(&table).unwrap();
}

#[test]
fn renew_extends_and_rebinds_a_lapsed_lease() {
    let mut table = table(SUFFIX);
    leased(bind(&mut table, 1, Some("c1"), 0));
    leased(bind(&mut table, 2, None, 0));
    assert_eq!(
        leased(renew(&mut table, 1, ip(2), 30_000)).expires_at,
        90_000
    );
    assert_eq!(
        rejected(renew(&mut table, 1, ip(3), 30_000)),
        Rejection::NoSuchLease { address: ip(3) }
    );
    // Lapsed during a failover, address still free: rebound, with its name.
    table.apply(&Command::Expire { now: 100_000 });
    let rebound = leased(renew(&mut table, 1, ip(2), 100_000));
    assert_eq!(rebound.state, LeaseState::Bound);
    assert_eq!(rebound.mac, mac(1));
    assert_eq!(rebound.granted_name.as_deref(), Some("c1"));
    // Lapsed and taken by someone else: NAK.
    leased(strict_bind(&mut table, 3, ip(3), 100_000));
    assert_eq!(
        rejected(renew(&mut table, 2, ip(3), 100_000)),
        Rejection::NoSuchLease { address: ip(3) }
    );
    // Never held: NAK.
    assert_eq!(
        rejected(renew(&mut table, 4, ip(9), 100_000)),
        Rejection::NoSuchLease { address: ip(9) }
    );
    check(&table).unwrap();
}

#[test]
fn renewing_an_offer_binds_it() {
    let mut table = table(SUFFIX);
    leased(allocate(&mut table, 1, None, 0));
    let lease = leased(renew(&mut table, 1, ip(2), 1_000));
    assert_eq!(lease.state, LeaseState::Bound);
    assert_eq!(lease.granted_name.as_deref(), Some("c1"));
}

#[test]
fn offers_expire_and_a_bound_client_is_offered_its_lease() {
    let mut table = table(SUFFIX);
    leased(allocate(&mut table, 1, None, 0));
    assert_eq!(table.pool_stats().offered, 1);
    assert_eq!(
        table.apply(&Command::Expire { now: 5_000 }),
        Response::Expired { leases: 1 }
    );
    // An expired offer leaves no memory.
    assert_eq!(table.previous_lease(&client(1)), None);
    let bound = leased(bind(&mut table, 1, Some("c1"), 6_000));
    let offered = leased(allocate(&mut table, 1, None, 7_000));
    assert_eq!(offered, bound);
}

#[test]
fn candidates_follow_the_preference_order() {
    let mut table = table(SUFFIX);
    leased(bind(&mut table, 1, None, 0)); // .2
    leased(bind(&mut table, 2, None, 0)); // .3
    release(&mut table, Some(2), ip(3), 1);
    leased(bind(&mut table, 3, None, 2)); // takes .3
    release(&mut table, Some(3), ip(3), 3); // .3 now remembered for 3
    leased(bind(&mut table, 4, None, 4)); // .3 again
    // Client 3 remembers .3 but it is taken: candidates are hint then ascending.
    let req = request(3, None, Some(ip(9)));
    let got: Vec<_> = table.candidate_addresses(&req, 5).take(4).collect();
    assert_eq!(got, [ip(9), ip(4), ip(5), ip(6)]);
    // Client 1: current, hint, then free ascending (no duplicates).
    let req = request(1, None, Some(ip(4)));
    let got: Vec<_> = table.candidate_addresses(&req, 5).take(4).collect();
    assert_eq!(got, [ip(2), ip(4), ip(5), ip(6)]);
    // Once client 1's lease has ended (at 60s; client 4's on .3 ends at 60.004s),
    // .2 is its previous address, read without mutating the table.
    let req = request(1, None, Some(ip(7)));
    let got: Vec<_> = table.candidate_addresses(&req, 60_000).take(3).collect();
    assert_eq!(got, [ip(7), ip(2), ip(4)]);
    // ...and once client 4's has ended too, .3 is free again, in order.
    let got: Vec<_> = table.candidate_addresses(&req, 60_004).take(4).collect();
    assert_eq!(got, [ip(7), ip(2), ip(3), ip(4)]);
    // A reserved client has only its reservation.
    reserve(&mut table, 8, 20, None);
    let got: Vec<_> = table
        .candidate_addresses(&request(8, None, None), 5)
        .collect();
    assert_eq!(got, [ip(20)]);
    assert_eq!(
        table
            .candidate_addresses(&request(5, None, None), 5)
            .count(),
        17
    );
}

#[test]
fn candidates_from_skip_free_addresses_below_the_start_only() {
    let mut table = table(SUFFIX);
    leased(bind(&mut table, 1, None, 0)); // .2 until 60s
    leased(bind(&mut table, 2, None, 0)); // .3
    release(&mut table, Some(2), ip(3), 1); // .3 free again, below the start
    // Client 1 keeps its current address (below the start) and its hint first.
    let req = request(1, None, Some(ip(4)));
    let got: Vec<_> = table
        .candidate_addresses_from(&req, 5, ip(10))
        .take(4)
        .collect();
    assert_eq!(got, [ip(2), ip(4), ip(10), ip(11)]);
    // A new client: the free addresses from the start on; none past the range.
    let req = request(7, None, None);
    let got: Vec<_> = table.candidate_addresses_from(&req, 5, ip(10)).collect();
    let all: Vec<_> = table.candidate_addresses(&req, 5).collect();
    let expected: Vec<_> = all.into_iter().filter(|a| *a >= ip(10)).collect();
    assert_eq!(got, expected);
    assert!(
        table
            .candidate_addresses_from(&req, 5, ip(22))
            .next()
            .is_none()
    );
    // Client 1's lease ending by `now` frees .2 before the pool knows it:
    // yielded from a start at or below it, skipped from a start above it.
    let got: Vec<_> = table
        .candidate_addresses_from(&req, 60_000, ip(2))
        .take(3)
        .collect();
    assert_eq!(got, [ip(2), ip(3), ip(4)]);
    let got: Vec<_> = table
        .candidate_addresses_from(&req, 60_000, ip(3))
        .take(2)
        .collect();
    assert_eq!(got, [ip(3), ip(4)]);
}

#[test]
fn records_are_added_and_removed_through_apply() {
    let mut table = table(SUFFIX);
    let record = StaticRecord {
        name: "WWW.lxd.".into(),
        ttl: Some(300),
        data: RecordData::A { address: ip(30) },
    };
    assert_eq!(
        table.apply(&Command::AddRecord {
            record: record.clone()
        }),
        Response::Done
    );
    assert_eq!(table.records_named("www.lxd").len(), 1);
    assert_eq!(
        table.records().next().map(|r| r.name.as_str()),
        Some("www.lxd")
    );
    assert_eq!(
        table.apply(&Command::RemoveRecord {
            record: record.clone()
        }),
        Response::Done
    );
    assert_eq!(
        rejected(table.apply(&Command::RemoveRecord { record })),
        Rejection::NoSuchRecord
    );
}

#[test]
fn the_conflict_log_is_bounded() {
    let mut settings = settings(SUFFIX);
    settings.subnet = "10.0.0.0/20".parse().unwrap();
    settings.ranges[0].end = Ipv4Addr::new(10, 0, 15, 254);
    let mut table = LeaseTable::default();
    table.apply(&Command::Initialize { settings });
    for n in 0..(MAX_CONFLICTS as u32 + 5) {
        let mut req = request(0, Some("same"), None);
        req.client_id = ClientId(n.to_be_bytes().to_vec());
        leased(table.apply(&Command::Bind {
            request: req,
            now: 0,
            lease_time_secs: None,
        }));
    }
    assert_eq!(table.conflicts().count(), MAX_CONFLICTS);
    assert_eq!(
        table
            .conflicts()
            .last()
            .and_then(|c| c.granted_instead.clone())
            .as_deref(),
        Some("same-1005")
    );
    check(&table).unwrap();
}

#[test]
fn pool_stats_count_each_kind() {
    let mut table = table(SUFFIX);
    reserve(&mut table, 1, 25, None);
    leased(bind(&mut table, 1, None, 0));
    leased(bind(&mut table, 2, None, 0));
    leased(allocate(&mut table, 3, None, 0));
    leased(bind(&mut table, 4, None, 0));
    table.apply(&Command::Decline {
        client_id: client(4),
        mac: None,
        address: ip(4),
        now: 0,
    });
    assert_eq!(
        table.pool_stats(),
        crate::PoolStats {
            size: 20,
            bound: 2,
            offered: 1,
            reserved: 1,
            quarantined: 1,
            free: 17,
        }
    );
}

#[test]
fn snapshots_round_trip_exactly() {
    let mut table = table(SUFFIX);
    reserve(&mut table, 1, 25, Some("db"));
    leased(bind(&mut table, 1, None, 0));
    leased(bind(&mut table, 2, Some("c1"), 0));
    leased(bind(&mut table, 3, Some("c1"), 0));
    leased(allocate(&mut table, 4, None, 0));
    leased(bind(&mut table, 5, None, 0));
    release(&mut table, Some(5), ip(5), 10);
    leased(bind(&mut table, 6, None, 0));
    table.apply(&Command::Decline {
        client_id: client(6),
        mac: None,
        address: ip(5),
        now: 20,
    });
    table.apply(&Command::AddRecord {
        record: StaticRecord {
            name: "www.lxd".into(),
            ttl: None,
            data: RecordData::Cname {
                target: "c1.lxd".into(),
            },
        },
    });
    let json = serde_json::to_string(&table).unwrap();
    let back: LeaseTable = serde_json::from_str(&json).unwrap();
    assert_eq!(back, table);
    check(&back).unwrap();
    // Uninitialised tables round-trip too.
    let empty = LeaseTable::default();
    let back: LeaseTable = serde_json::from_str(&serde_json::to_string(&empty).unwrap()).unwrap();
    assert_eq!(back, empty);
}

#[test]
fn inconsistent_snapshots_are_refused() {
    let mut table = table(SUFFIX);
    leased(bind(&mut table, 1, None, 0));
    leased(bind(&mut table, 2, None, 0));
    let mut json: serde_json::Value = serde_json::to_value(&table).unwrap();
    // Give both leases the same client.
    let first = json["leases"][0]["client_id"].clone();
    json["leases"][1]["client_id"] = first;
    let error = serde_json::from_value::<LeaseTable>(json).unwrap_err();
    assert!(error.to_string().contains("two leases"), "{error}");

    let mut json: serde_json::Value = serde_json::to_value(&table).unwrap();
    json["settings"] = serde_json::Value::Null;
    assert!(serde_json::from_value::<LeaseTable>(json).is_err());

    let mut json: serde_json::Value = serde_json::to_value(&table).unwrap();
    json["unexpected"] = serde_json::Value::Bool(true);
    assert!(serde_json::from_value::<LeaseTable>(json).is_err());
}

#[test]
fn next_expiry_tracks_the_earliest_lease_and_quarantine() {
    let mut table = table(HostnamePolicy::Suffix);
    assert_eq!(table.next_expiry(), None);
    let first = leased(bind(&mut table, 1, None, 1_000));
    leased(bind(&mut table, 2, None, 5_000));
    assert_eq!(table.next_expiry(), Some(first.expires_at));
    // A decline at t=6000 quarantines for 30 s, ending before lease 1 (60 s).
    let declined = leased(bind(&mut table, 3, None, 6_000));
    table.apply(&Command::Decline {
        client_id: client(3),
        mac: None,
        address: declined.address,
        now: 6_000,
    });
    assert_eq!(table.next_expiry(), Some(36_000));
    // Once everything has ended and been expired, nothing is due.
    table.apply(&Command::Expire { now: 1_000_000 });
    assert_eq!(table.next_expiry(), None);
}

fn name_mac(table: &mut LeaseTable, n: u8, name: &str, now: u64) -> Response {
    table.apply(&Command::NameMac {
        mac: mac(n),
        name: name.to_string(),
        now,
    })
}

#[test]
fn a_mac_name_wins_over_the_clients_hostname_and_renames_its_lease() {
    let mut t = table(SUFFIX);
    let lease = leased(bind(&mut t, 1, Some("ubuntu"), 1_000));
    assert_eq!(lease.granted_name.as_deref(), Some("ubuntu"));
    assert_eq!(name_mac(&mut t, 1, "c1", 2_000), Response::Done);
    // Renamed at once: the old name is gone from DNS, the new one is there.
    assert_eq!(t.address_of_name("c1"), Some(lease.address));
    assert_eq!(t.address_of_name("ubuntu"), None);
    // And kept when the client binds again with its own hostname.
    let again = leased(bind(&mut t, 1, Some("ubuntu"), 3_000));
    assert_eq!(again.granted_name.as_deref(), Some("c1"));
    // A client that sends no hostname gets the name too.
    name_mac(&mut t, 2, "c2", 3_000);
    let second = leased(bind(&mut t, 2, None, 3_000));
    assert_eq!(second.granted_name.as_deref(), Some("c2"));
    check(&t).expect("invariants");
}

#[test]
fn naming_a_mac_again_changes_nothing() {
    let mut t = table(SUFFIX);
    name_mac(&mut t, 1, "c1", 1_000);
    leased(bind(&mut t, 1, None, 1_000));
    let before = t.clone();
    // Three hosts of an LXD cluster report the same instance.
    for _ in 0..3 {
        assert_eq!(name_mac(&mut t, 1, "c1", 1_000), Response::Done);
    }
    assert_eq!(t, before);
}

#[test]
fn a_mac_name_held_by_another_client_follows_the_policy() {
    let mut t = table(SUFFIX);
    leased(bind(&mut t, 1, Some("c1"), 1_000));
    name_mac(&mut t, 2, "c1", 1_000);
    let lease = leased(bind(&mut t, 2, None, 1_000));
    assert_eq!(lease.granted_name.as_deref(), Some("c1-2"));
    assert!(t.conflicts().any(|c| c.name == "c1"));

    let mut t = table(REJECT);
    leased(bind(&mut t, 1, Some("c1"), 1_000));
    name_mac(&mut t, 2, "c1", 1_000);
    let lease = leased(bind(&mut t, 2, None, 1_000));
    assert_eq!(lease.granted_name, None);
}

#[test]
fn a_project_instance_is_named_name_dot_project_and_suffixed_in_its_first_label() {
    let mut t = table(SUFFIX);
    name_mac(&mut t, 1, "c1.web", 1_000);
    let first = leased(bind(&mut t, 1, Some("other"), 1_000));
    assert_eq!(first.granted_name.as_deref(), Some("c1.web"));
    // The default project's c1 is another name; a second web/c1 is suffixed.
    name_mac(&mut t, 2, "c1", 1_000);
    let second = leased(bind(&mut t, 2, None, 1_000));
    assert_eq!(second.granted_name.as_deref(), Some("c1"));
    name_mac(&mut t, 3, "c1.web", 1_000);
    let third = leased(bind(&mut t, 3, None, 1_000));
    assert_eq!(third.granted_name.as_deref(), Some("c1-2.web"));
}

#[test]
fn an_invalid_mac_name_is_refused_and_changes_nothing() {
    let mut t = table(SUFFIX);
    for bad in ["my_box", "a.b.c", "a..b", ".b", "", "-x", &"x".repeat(64)] {
        assert!(matches!(
            rejected(name_mac(&mut t, 1, bad, 1_000)),
            Rejection::InvalidHostname { .. }
        ));
    }
    assert_eq!(t.name_of_mac(mac(1)), None);
}

#[test]
fn forgetting_a_mac_frees_its_address_name_and_reservation_at_once() {
    let mut t = table(SUFFIX);
    name_mac(&mut t, 1, "c1", 1_000);
    let lease = leased(bind(&mut t, 1, None, 1_000));
    reserve(&mut t, 3, 77, Some("c3"));
    assert_eq!(
        t.apply(&Command::ForgetMac {
            mac: mac(1),
            now: 2_000
        }),
        Response::Done
    );
    assert_eq!(
        t.apply(&Command::ForgetMac {
            mac: mac(3),
            now: 2_000
        }),
        Response::Done
    );
    assert!(t.lease_by_address(lease.address).is_none());
    assert_eq!(t.address_of_name("c1"), None);
    assert!(t.reservation_for_mac(mac(3)).is_none());
    assert_eq!(t.name_of_mac(mac(1)), None);
    // The name is free for a new instance at once, without a suffix, and the
    // old MAC's address is not kept for it.
    assert!(t.previous_lease(&client(1)).is_none());
    name_mac(&mut t, 4, "c1", 2_000);
    let relaunched = leased(bind(&mut t, 4, None, 2_000));
    assert_eq!(relaunched.granted_name.as_deref(), Some("c1"));
    // Forgetting what is not there is fine (idempotent).
    assert_eq!(
        t.apply(&Command::ForgetMac {
            mac: mac(1),
            now: 2_000
        }),
        Response::Done
    );
    check(&t).expect("invariants");
}

#[test]
fn mac_names_survive_a_snapshot_and_old_snapshots_still_load() {
    let mut t = table(SUFFIX);
    name_mac(&mut t, 1, "c1", 1_000);
    let json = serde_json::to_string(&t).expect("snapshot");
    let back: LeaseTable = serde_json::from_str(&json).expect("load");
    assert_eq!(back.name_of_mac(mac(1)), Some("c1"));
    // A snapshot with no MAC names has no such field: as written before.
    let plain = table(SUFFIX);
    let json = serde_json::to_string(&plain).expect("snapshot");
    assert!(!json.contains("mac_names"), "{json}");
    let back: LeaseTable = serde_json::from_str(&json).expect("old form loads");
    assert_eq!(back, plain);
}

#[test]
fn a_dhcp_decline_must_come_from_the_owners_identity_and_mac() {
    let mut table = table(SUFFIX);
    let lease = leased(bind(&mut table, 1, Some("c1"), 0));
    let from = |client_id: ClientId, mac: MacAddr| Command::Decline {
        client_id,
        mac: Some(mac),
        address: lease.address,
        now: 1,
    };
    let refused = Rejection::NoSuchLease {
        address: lease.address,
    };
    // Option 61 copied by another MAC quarantines nothing.
    assert_eq!(rejected(table.apply(&from(client(1), mac(2)))), refused);
    assert_eq!(rejected(table.apply(&from(client(2), mac(1)))), refused);
    assert_eq!(table.address_of_name("c1"), Some(lease.address));
    assert_eq!(table.apply(&from(client(1), mac(1))), Response::Done);
    assert!(table.lease_by_address(lease.address).is_none());
    check(&table).unwrap();
}

fn add_a_record(table: &mut LeaseTable, name: &str, last: u8) {
    let record = StaticRecord {
        name: name.into(),
        ttl: None,
        data: RecordData::A { address: ip(last) },
    };
    assert_eq!(table.apply(&Command::AddRecord { record }), Response::Done);
}

#[test]
fn a_static_records_name_is_never_granted_to_a_lease() {
    for policy in [SUFFIX, REJECT] {
        let mut table = table(policy);
        add_a_record(&mut table, "www.lxd", 30);
        let lease = leased(bind(&mut table, 1, Some("WWW"), 0));
        assert_eq!(lease.granted_name, None, "{policy:?}");
        assert_eq!(lease.requested_hostname.as_deref(), Some("WWW"));
        assert_eq!(table.address_of_name("www"), None);
        let conflict = table.conflicts().last().unwrap();
        assert_eq!(conflict.name, "www");
        assert!(conflict.owner.0.is_empty());
        assert_eq!(conflict.owner_address, Ipv4Addr::UNSPECIFIED);
        assert_eq!(conflict.claimant, client(1));
        // A record elsewhere, or deeper, leaves the label free.
        add_a_record(&mut table, "mail.example.org", 31);
        add_a_record(&mut table, "host.web.lxd", 32);
        let mail = leased(bind(&mut table, 2, Some("mail"), 0));
        assert_eq!(mail.granted_name.as_deref(), Some("mail"));
        let web = leased(bind(&mut table, 3, Some("web"), 0));
        assert_eq!(web.granted_name.as_deref(), Some("web"));
        check(&table).unwrap();
    }
}

#[test]
fn name_server_host_names_are_never_granted() {
    let mut table = table(SUFFIX);
    for (n, name) in [(1, "ns1"), (2, "NS2"), (3, "ns17")] {
        let lease = leased(bind(&mut table, n, Some(name), 0));
        assert_eq!(lease.granted_name, None, "{name}");
    }
    for (n, name) in [(4, "ns"), (5, "ns1a"), (6, "dns1")] {
        let lease = leased(bind(&mut table, n, Some(name), 0));
        assert_eq!(lease.granted_name.as_deref(), Some(name), "{name}");
    }
    check(&table).unwrap();
}

#[test]
fn a_static_record_added_later_takes_the_name_from_the_lease() {
    let mut table = table(SUFFIX);
    let lease = leased(bind(&mut table, 1, Some("www"), 0));
    assert_eq!(table.address_of_name("www"), Some(lease.address));
    add_a_record(&mut table, "WWW.lxd.", 30);
    let now_held = table.lease_by_address(lease.address).unwrap();
    assert_eq!(now_held.granted_name, None);
    assert_eq!(now_held.expires_at, lease.expires_at);
    assert_eq!(table.address_of_name("www"), None);
    let conflict = table.conflicts().last().unwrap();
    assert_eq!(
        (conflict.name.as_str(), conflict.claimant_address),
        ("www", lease.address)
    );
    // Renewing or rebinding does not win the name back.
    leased(renew(&mut table, 1, lease.address, 1_000));
    let rebound = leased(bind(&mut table, 1, Some("www"), 2_000));
    assert_eq!(rebound.granted_name, None);
    check(&table).unwrap();
}

#[test]
fn an_instance_named_like_a_static_record_gets_no_name_and_one_conflict() {
    let mut table = table(SUFFIX);
    add_a_record(&mut table, "www.lxd", 30);
    let lease = leased(bind(&mut table, 1, None, 0));
    let name_www = Command::NameMac {
        mac: mac(1),
        name: "www".into(),
        now: 1,
    };
    assert_eq!(table.apply(&name_www), Response::Done);
    assert_eq!(table.apply(&name_www), Response::Done);
    assert_eq!(
        table.lease_by_address(lease.address).unwrap().granted_name,
        None
    );
    assert_eq!(table.conflicts().count(), 0);
    check(&table).unwrap();
}
