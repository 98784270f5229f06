//! Tests of the v6 table: behaviour by behaviour, and random command
//! sequences checked against the invariants (no address twice, reservations
//! honoured, one name one owner across v4 and v6, snapshots round-trip).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use proptest::prelude::*;

use super::*;
use crate::tests::{mac, request, table};
use crate::{Command, HostnamePolicy, LeaseTable, Rejection, Response};

const RANGE: V6Range = V6Range {
    start: Ipv6Addr::new(0xfd42, 1, 0, 0, 0, 0, 0, 0x1000),
    end: Ipv6Addr::new(0xfd42, 1, 0, 0, 0, 0, 0, 0x1007),
};

fn reserved_address() -> Ipv6Addr {
    Ipv6Addr::new(0xfd42, 1, 0, 0, 0, 0, 0, 0x50)
}

fn binding(n: u8, iaid: u32) -> V6Binding {
    V6Binding {
        duid: Duid::link_layer(mac(n)),
        iaid,
    }
}

fn v6_request(n: u8, iaid: u32, fqdn: Option<&str>, want: V6Want) -> V6LeaseRequest {
    V6LeaseRequest {
        binding: binding(n, iaid),
        mac: Some(mac(n)),
        fqdn_label: fqdn.map(str::to_string),
        reserved_name: None,
        want,
    }
}

fn bind(v4: &mut LeaseTable, v6: &mut V6Leases, request: V6LeaseRequest, now: u64) -> Response {
    apply_both(
        v4,
        v6,
        &Command::BindV6 {
            request,
            range: RANGE,
            now,
            lease_time_secs: 60,
        },
    )
}

fn lease(response: Response) -> V6Lease {
    match response {
        Response::LeaseV6 { lease } => lease,
        other => panic!("expected a v6 lease, got {other:?}"),
    }
}

const ANY: V6Want = V6Want::Dynamic { hint: None };

#[test]
fn duid_ll_and_llt_carry_the_mac_others_do_not() {
    assert_eq!(Duid::link_layer(mac(7)).mac(), Some(mac(7)));
    let llt = Duid(vec![0, 1, 0, 1, 1, 2, 3, 4, 0, 0x16, 0x3e, 0, 0, 9]);
    assert_eq!(llt.mac(), Some(mac(9)));
    assert_eq!(Duid(vec![0, 2, 0, 0, 0, 9, 1]).mac(), None);
    assert_eq!(Duid(vec![0, 3, 0, 6, 1, 2, 3, 4, 5, 6]).mac(), None);
}

#[test]
fn a_binding_keeps_its_address_on_renewal_and_a_new_one_gets_the_next() {
    let (mut v4, mut v6) = (table(HostnamePolicy::Suffix), V6Leases::default());
    let first = lease(bind(&mut v4, &mut v6, v6_request(1, 1, None, ANY), 1_000));
    assert_eq!(first.address, RANGE.start);
    let again = lease(bind(&mut v4, &mut v6, v6_request(1, 1, None, ANY), 20_000));
    assert_eq!(again.address, first.address);
    assert_eq!(again.expires_at, 80_000);
    let other_ia = lease(bind(&mut v4, &mut v6, v6_request(1, 2, None, ANY), 20_000));
    assert_ne!(other_ia.address, first.address);
    assert_eq!(v6.len(), 2);
}

#[test]
fn the_pool_runs_out_and_expiry_frees_it() {
    let (mut v4, mut v6) = (table(HostnamePolicy::Suffix), V6Leases::default());
    for n in 0..8 {
        lease(bind(&mut v4, &mut v6, v6_request(n, 1, None, ANY), 1_000));
    }
    assert_eq!(
        bind(&mut v4, &mut v6, v6_request(9, 1, None, ANY), 1_000),
        Response::Rejected {
            reason: Rejection::PoolExhausted
        }
    );
    v4.apply(&Command::Expire { now: 61_000 });
    apply_both(&mut v4, &mut v6, &Command::Expire { now: 61_000 });
    assert!(v6.is_empty());
    lease(bind(&mut v4, &mut v6, v6_request(9, 1, None, ANY), 61_000));
}

#[test]
fn a_reservation_is_bound_exactly_and_refused_while_another_holds_it() {
    let (mut v4, mut v6) = (table(HostnamePolicy::Suffix), V6Leases::default());
    let want = V6Want::Reserved(reserved_address());
    let mut reserved = v6_request(1, 1, None, want);
    reserved.reserved_name = Some("db".into());
    let got = lease(bind(&mut v4, &mut v6, reserved.clone(), 1_000));
    assert_eq!(
        (got.address, got.name.as_deref()),
        (reserved_address(), Some("db"))
    );
    // Another client asking for the reserved address (its own misconfigured
    // reservation) is refused; the owner renews.
    assert_eq!(
        bind(&mut v4, &mut v6, v6_request(2, 1, None, want), 2_000),
        Response::Rejected {
            reason: Rejection::V6AddressUnavailable {
                address: reserved_address()
            }
        }
    );
    assert_eq!(
        lease(bind(&mut v4, &mut v6, reserved, 3_000)).address,
        reserved_address()
    );
}

#[test]
fn a_client_moves_onto_a_reservation_made_after_its_dynamic_lease() {
    let (mut v4, mut v6) = (table(HostnamePolicy::Suffix), V6Leases::default());
    let dynamic = lease(bind(&mut v4, &mut v6, v6_request(1, 1, None, ANY), 1_000));
    let want = V6Want::Reserved(reserved_address());
    let moved = lease(bind(&mut v4, &mut v6, v6_request(1, 1, None, want), 2_000));
    assert_eq!(moved.address, reserved_address());
    assert!(v6.lease_by_address(dynamic.address).is_none());
}

#[test]
fn release_and_decline_need_the_owner_and_decline_quarantines() {
    let (mut v4, mut v6) = (table(HostnamePolicy::Suffix), V6Leases::default());
    let got = lease(bind(&mut v4, &mut v6, v6_request(1, 1, None, ANY), 1_000));
    let forged = Command::ReleaseV6 {
        binding: binding(2, 1),
        address: got.address,
        now: 2_000,
    };
    assert_eq!(
        apply_both(&mut v4, &mut v6, &forged),
        Response::Rejected {
            reason: Rejection::V6NoSuchLease {
                address: got.address
            }
        }
    );
    let decline = Command::DeclineV6 {
        binding: binding(1, 1),
        address: got.address,
        now: 2_000,
        quarantine_secs: 30,
    };
    assert_eq!(apply_both(&mut v4, &mut v6, &decline), Response::Done);
    assert!(v6.is_quarantined(got.address));
    let next = lease(bind(&mut v4, &mut v6, v6_request(1, 1, None, ANY), 3_000));
    assert_ne!(next.address, got.address);
    apply_both(&mut v4, &mut v6, &Command::Expire { now: 32_001 });
    assert!(!v6.is_quarantined(got.address));
}

#[test]
fn the_v6_name_follows_the_macs_v4_lease_and_never_takes_another_macs() {
    let (mut v4, mut v6) = (table(HostnamePolicy::Suffix), V6Leases::default());
    let bind4 = |n, name: &str| Command::Bind {
        request: request(n, Some(name), None),
        now: 1_000,
        lease_time_secs: None,
    };
    assert!(matches!(
        apply_both(&mut v4, &mut v6, &bind4(1, "web")),
        Response::Lease { .. }
    ));
    // Same MAC: its v4 name wins over the FQDN it sends.
    let same = lease(bind(
        &mut v4,
        &mut v6,
        v6_request(1, 1, Some("other.lxd"), ANY),
        1_000,
    ));
    assert_eq!(same.name.as_deref(), Some("web"));
    assert_eq!(v6.address_of_name_at("web", 1_000), Some(same.address));
    assert_eq!(v6.name_of_address_at(same.address, 1_000), Some("web"));
    // Another MAC asking for the name by FQDN is suffixed (the policy).
    let thief = lease(bind(
        &mut v4,
        &mut v6,
        v6_request(2, 1, Some("web"), ANY),
        1_000,
    ));
    assert_eq!(thief.name.as_deref(), Some("web-2"));
    // A free FQDN label is granted.
    let free = lease(bind(
        &mut v4,
        &mut v6,
        v6_request(3, 1, Some("Cache.lxd"), ANY),
        1_000,
    ));
    assert_eq!(free.name.as_deref(), Some("cache"));
    // And then another v6 client is suffixed past the names both hold.
    let late = lease(bind(
        &mut v4,
        &mut v6,
        v6_request(4, 1, Some("web"), ANY),
        1_000,
    ));
    assert_eq!(late.name.as_deref(), Some("web-3"));
}

#[test]
fn under_reject_a_v6_claim_on_a_taken_name_gets_no_name() {
    let (mut v4, mut v6) = (table(HostnamePolicy::Reject), V6Leases::default());
    let bind4 = Command::Bind {
        request: request(1, Some("web"), None),
        now: 1_000,
        lease_time_secs: None,
    };
    assert!(matches!(
        apply_both(&mut v4, &mut v6, &bind4),
        Response::Lease { .. }
    ));
    let thief = lease(bind(
        &mut v4,
        &mut v6,
        v6_request(2, 1, Some("web"), ANY),
        1_000,
    ));
    assert_eq!(thief.name, None);
}

/// The v4 side of "one name, one owner": a DHCPv4 client asking for a name
/// a v6 lease of another machine holds goes through the same policy.
#[test]
fn a_v4_claim_on_a_name_a_v6_lease_holds_is_suffixed_or_rejected() {
    for (policy, expected) in [
        (HostnamePolicy::Suffix, Some("db-2")),
        (HostnamePolicy::Reject, None),
    ] {
        let (mut v4, mut v6) = (table(policy), V6Leases::default());
        let held = lease(bind(
            &mut v4,
            &mut v6,
            v6_request(1, 1, Some("db"), ANY),
            1_000,
        ));
        assert_eq!(held.name.as_deref(), Some("db"));
        let bind4 = |n, name: &str| Command::Bind {
            request: request(n, Some(name), None),
            now: 2_000,
            lease_time_secs: None,
        };
        let Response::Lease { lease: other } = apply_both(&mut v4, &mut v6, &bind4(2, "db")) else {
            panic!("no v4 lease");
        };
        assert_eq!(other.granted_name.as_deref(), expected, "{policy:?}");
        // The v6 names came back from the lend.
        assert_eq!(v6.address_of_name_at("db", 2_000), Some(held.address));
        // The same machine's v4 lease takes its own v6 name.
        let Response::Lease { lease: own } = apply_both(&mut v4, &mut v6, &bind4(1, "db")) else {
            panic!("no v4 lease");
        };
        assert_eq!(own.granted_name.as_deref(), Some("db"), "{policy:?}");
    }
}

/// A reservation may not name what another machine's DHCPv6 lease holds;
/// the same machine's may.
#[test]
fn a_reservation_of_a_name_a_v6_lease_holds_is_refused_unless_it_is_the_same_machine() {
    let (mut v4, mut v6) = (table(HostnamePolicy::Suffix), V6Leases::default());
    let held = lease(bind(
        &mut v4,
        &mut v6,
        v6_request(1, 1, Some("db"), ANY),
        1_000,
    ));
    assert_eq!(held.name.as_deref(), Some("db"));
    let reserve = |n: u8, address: [u8; 4]| Command::Reserve {
        reservation: crate::types::Reservation {
            mac: mac(n),
            address: std::net::Ipv4Addr::from(address),
            hostname: Some("db".into()),
        },
    };
    let other = apply_both(&mut v4, &mut v6, &reserve(2, [10, 0, 0, 25]));
    assert!(
        matches!(
            &other,
            Response::Rejected {
                reason: Rejection::HostnameInUse { name, .. }
            } if name == "db"
        ),
        "{other:?}"
    );
    assert_eq!(
        v6.address_of_name_at("db", 1_000),
        Some(held.address),
        "the lend came back"
    );
    let own = apply_both(&mut v4, &mut v6, &reserve(1, [10, 0, 0, 26]));
    assert_eq!(
        own,
        Response::Done,
        "the v6 holder's own machine may reserve its name"
    );
}

/// Suffixing skips names held in either family: `db-2` held in v6 means a
/// v4 claim on a taken `db` gets `db-3`.
#[test]
fn a_v4_suffix_skips_a_suffix_a_v6_lease_holds() {
    let (mut v4, mut v6) = (table(HostnamePolicy::Suffix), V6Leases::default());
    lease(bind(
        &mut v4,
        &mut v6,
        v6_request(1, 1, Some("db"), ANY),
        1_000,
    ));
    let second = lease(bind(
        &mut v4,
        &mut v6,
        v6_request(2, 1, Some("db"), ANY),
        1_000,
    ));
    assert_eq!(second.name.as_deref(), Some("db-2"));
    let bind4 = Command::Bind {
        request: request(3, Some("db"), None),
        now: 2_000,
        lease_time_secs: None,
    };
    let Response::Lease { lease: third } = apply_both(&mut v4, &mut v6, &bind4) else {
        panic!("no v4 lease");
    };
    assert_eq!(third.granted_name.as_deref(), Some("db-3"));
}

#[test]
fn forget_mac_drops_the_machines_v6_leases_too() {
    let (mut v4, mut v6) = (table(HostnamePolicy::Suffix), V6Leases::default());
    lease(bind(
        &mut v4,
        &mut v6,
        v6_request(1, 1, Some("a"), ANY),
        1_000,
    ));
    let forget = Command::ForgetMac {
        mac: mac(1),
        now: 2_000,
    };
    apply_both(&mut v4, &mut v6, &forget);
    assert!(v6.is_empty());
    assert_eq!(v6.address_of_name_at("a", 2_000), None);
}

#[test]
fn v6_commands_on_the_v4_table_are_refused() {
    let mut v4 = table(HostnamePolicy::Suffix);
    let command = Command::ReleaseV6 {
        binding: binding(1, 1),
        address: RANGE.start,
        now: 0,
    };
    assert_eq!(
        v4.apply(&command),
        Response::Rejected {
            reason: Rejection::NotAV6Command
        }
    );
}

#[derive(Debug, Clone)]
enum Op {
    Bind {
        client: u8,
        iaid: u32,
        fqdn: Option<u8>,
        hint: Option<u8>,
    },
    BindReserved {
        client: u8,
    },
    Bind4 {
        client: u8,
        name: u8,
    },
    Release {
        client: u8,
        iaid: u32,
        offset: u8,
    },
    Decline {
        client: u8,
        iaid: u32,
        offset: u8,
    },
    Expire,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..12, 0u32..2, proptest::option::of(0u8..4), proptest::option::of(0u8..10))
            .prop_map(|(client, iaid, fqdn, hint)| Op::Bind { client, iaid, fqdn, hint }),
        1 => (0u8..12).prop_map(|client| Op::BindReserved { client }),
        2 => (0u8..12, 0u8..4).prop_map(|(client, name)| Op::Bind4 { client, name }),
        1 => (0u8..12, 0u32..2, 0u8..8).prop_map(|(client, iaid, offset)| Op::Release { client, iaid, offset }),
        1 => (0u8..12, 0u32..2, 0u8..8).prop_map(|(client, iaid, offset)| Op::Decline { client, iaid, offset }),
        1 => Just(Op::Expire),
    ]
}

/// Clients 0 and 1 share one reserved address (a misconfiguration the
/// table must survive); others have none.
fn reservation_of(client: u8) -> Option<Ipv6Addr> {
    (client < 2).then(reserved_address)
}

fn run(ops: &[Op], policy: HostnamePolicy) -> (LeaseTable, V6Leases, u64) {
    let (mut v4, mut v6) = (table(policy), V6Leases::default());
    let mut now = 1_000;
    let names = ["a", "b", "c", "d"];
    for op in ops {
        now += 7_000;
        let offset = |o: u8| Ipv6Addr::from(u128::from(RANGE.start) + u128::from(o));
        let command = match op.clone() {
            Op::Bind {
                client,
                iaid,
                fqdn,
                hint,
            } => {
                let want = V6Want::Dynamic {
                    hint: hint.map(offset),
                };
                let request = v6_request(client, iaid, fqdn.map(|n| names[n as usize]), want);
                Command::BindV6 {
                    request,
                    range: RANGE,
                    now,
                    lease_time_secs: 60,
                }
            }
            Op::BindReserved { client } => {
                let want = reservation_of(client).map_or(ANY, V6Want::Reserved);
                Command::BindV6 {
                    request: v6_request(client, 0, None, want),
                    range: RANGE,
                    now,
                    lease_time_secs: 60,
                }
            }
            Op::Bind4 { client, name } => Command::Bind {
                request: request(client, Some(names[name as usize]), None),
                now,
                lease_time_secs: None,
            },
            Op::Release {
                client,
                iaid,
                offset: o,
            } => Command::ReleaseV6 {
                binding: binding(client, iaid),
                address: offset(o),
                now,
            },
            Op::Decline {
                client,
                iaid,
                offset: o,
            } => Command::DeclineV6 {
                binding: binding(client, iaid),
                address: offset(o),
                now,
                quarantine_secs: 20,
            },
            Op::Expire => Command::Expire { now },
        };
        let response = apply_both(&mut v4, &mut v6, &command);
        if let (Command::BindV6 { request, .. }, Response::LeaseV6 { lease }) =
            (&command, &response)
        {
            if let V6Want::Reserved(address) = request.want {
                assert_eq!(lease.address, address, "reservation not honoured");
            } else {
                // A dynamic request keeps what the binding holds: its
                // reservation, for the reserved clients 0 and 1.
                let kept_reservation = lease.address == reserved_address()
                    && (request.mac == Some(mac(0)) || request.mac == Some(mac(1)));
                assert!(
                    RANGE.contains(lease.address) || kept_reservation,
                    "{} outside the range",
                    lease.address
                );
            }
        }
    }
    (v4, v6, now)
}

proptest! {
    #[test]
    fn no_address_twice_names_have_one_owner_and_snapshots_round_trip(
        ops in proptest::collection::vec(op(), 0..80),
        reject in any::<bool>(),
    ) {
        let policy = if reject { HostnamePolicy::Reject } else { HostnamePolicy::Suffix };
        let (v4, v6, now) = run(&ops, policy);
        let mut addresses = BTreeSet::new();
        let mut bindings = BTreeSet::new();
        let mut names = BTreeSet::new();
        for lease in v6.leases() {
            prop_assert!(addresses.insert(lease.address), "{} leased twice", lease.address);
            prop_assert!(bindings.insert(lease.binding.clone()), "a binding holds two addresses");
            prop_assert!(!v6.is_quarantined(lease.address));
            prop_assert!(lease.expires_at > v6.last_now);
            if let Some(name) = &lease.name {
                prop_assert!(names.insert(name.clone()), "v6 name {name} twice");
                // One name, one owner in both directions: no v4 lease of
                // another machine holds a v6 lease's name, whichever came
                // first.
                if let Some(address) = v4.address_of_name_at(name, now)
                    && let Some(v4_lease) = v4.lease_by_address(address)
                {
                    prop_assert_eq!(Some(v4_lease.mac), lease.mac, "{} held by two machines", name);
                }
                prop_assert_eq!(v6.address_of_name_at(name, v6.last_now), Some(lease.address));
                // Names are lent to v4 and come back: the index is whole.
                prop_assert_eq!(v6.by_name.get(name).map(|h| h.address), Some(lease.address));
            }
        }
        // Allocation without a hint takes the lowest free address, as a
        // plain walk over the range finds it, from any start in the range.
        for skip in [0u128, 3] {
            let range = V6Range {
                start: Ipv6Addr::from(u128::from(RANGE.start) + skip),
                end: RANGE.end,
            };
            let lowest_free = (u128::from(range.start)..=u128::from(range.end))
                .map(Ipv6Addr::from)
                .find(|a| !addresses.contains(a) && !v6.is_quarantined(*a));
            prop_assert_eq!(v6.candidate(range, None), lowest_free);
        }
        // v4 and v6 agree: each v4 name is either no v6 lease's, or the
        // same machine's.
        for v4_lease in v4.leases() {
            if let Some(name) = &v4_lease.granted_name
                && let Some(address) = v6.address_of_name_at(name, v6.last_now)
            {
                let holder = v6.lease_by_address(address).and_then(|l| l.mac);
                prop_assert_eq!(holder, Some(v4_lease.mac), "{} in v4 and v6 by two machines", name);
            }
        }
        prop_assert!(v4.lent_v6_names.is_empty(), "the lend was not returned");
        // The snapshot holds no index: the round trip rebuilds them all
        // (the runs of leased addresses included) and they compare equal.
        let bytes = serde_json::to_vec(&v6).unwrap();
        let back: V6Leases = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(back, v6);
    }
}

/// Names are unique per domain across networks and families: with a second
/// network `lxdbr1` in the default network's domain, a v6 grant treats a
/// name lxdbr1 holds as taken, and lxdbr1's v4 grant treats a v6 name so.
#[test]
fn v6_names_are_unique_across_the_networks_of_the_domain() {
    use crate::OtherNetworks;
    let mut v4 = table(HostnamePolicy::Suffix);
    let mut v6 = V6Leases::default();
    let mut others = OtherNetworks::default();
    let mut lxdbr1 = v4.settings().unwrap().clone();
    lxdbr1.subnet = "10.1.0.0/27".parse().unwrap();
    lxdbr1.ranges = vec![crate::settings::AddressRange {
        start: std::net::Ipv4Addr::new(10, 1, 0, 2),
        end: std::net::Ipv4Addr::new(10, 1, 0, 9),
    }];
    let init = Command::for_network("lxdbr1", Command::Initialize { settings: lxdbr1 });
    assert_eq!(
        others.apply_with_v6(&mut v4, &mut v6, &init),
        Response::Done
    );
    let bind4 = |n: u8, name: &str| {
        Command::for_network(
            "lxdbr1",
            Command::Bind {
                request: request(n, Some(name), None),
                now: 10,
                lease_time_secs: None,
            },
        )
    };
    let bind6 = |n: u8, name: &str| Command::BindV6 {
        request: v6_request(n, 0, Some(name), ANY),
        range: RANGE,
        now: 10,
        lease_time_secs: 60,
    };
    let held = others.apply_with_v6(&mut v4, &mut v6, &bind4(1, "c1"));
    assert!(matches!(held, Response::Lease { .. }), "{held:?}");
    let suffixed = lease(others.apply_with_v6(&mut v4, &mut v6, &bind6(2, "c1")));
    assert_eq!(suffixed.name.as_deref(), Some("c1-2"));
    let web6 = lease(others.apply_with_v6(&mut v4, &mut v6, &bind6(3, "web")));
    assert_eq!(web6.name.as_deref(), Some("web"));
    let Response::Lease { lease: web4 } = others.apply_with_v6(&mut v4, &mut v6, &bind4(4, "web"))
    else {
        panic!("expected a lease");
    };
    assert_eq!(web4.granted_name.as_deref(), Some("web-2"));
    assert!(v4.lent_domain.is_empty() && v4.lent_v6_names.is_empty());
}
