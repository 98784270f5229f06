//! A /16 filled to the last address: the "Must show" capacity test.

use std::net::Ipv4Addr;
use std::time::Instant;

use super::invariants::check;
use super::*;

#[test]
fn a_slash_16_fills_exhausts_and_makes_room_after_a_release() {
    let started = Instant::now();
    let mut settings = settings(HostnamePolicy::Suffix);
    settings.subnet = "10.0.0.0/16".parse().unwrap();
    settings.ranges = vec![AddressRange {
        start: Ipv4Addr::new(10, 0, 0, 1),
        end: Ipv4Addr::new(10, 0, 255, 254),
    }];
    settings.lease_time_secs = 3600;
    let mut table = LeaseTable::default();
    table.apply(&Command::Initialize { settings });

    let mut seen = vec![false; 1 << 16];
    let request_for = |n: u32| LeaseRequest {
        client_id: ClientId(n.to_be_bytes().to_vec()),
        mac: MacAddr([2, 0, 0, (n >> 16) as u8, (n >> 8) as u8, n as u8]),
        // Every tenth container is called "web": the suffix index is exercised too.
        hostname: Some(if n.is_multiple_of(10) {
            "web".into()
        } else {
            format!("c{n}")
        }),
        requested_address: None,
        seen_by: None,
    };
    for n in 0..65_534u32 {
        let lease = leased(table.apply(&Command::Bind {
            request: request_for(n),
            now: u64::from(n),
            lease_time_secs: None,
        }));
        let low = (u32::from(lease.address) & 0xffff) as usize;
        assert!(!seen[low], "{} granted twice", lease.address);
        seen[low] = true;
        assert!(lease.granted_name.is_some());
    }
    let stats = table.pool_stats();
    assert_eq!((stats.size, stats.bound, stats.free), (65_534, 65_534, 0));
    assert_eq!(
        table.address_of_name("web-6554"),
        table
            .lease_by_client(&ClientId(65_530u32.to_be_bytes().to_vec()))
            .map(|l| l.address)
    );

    let next = table.apply(&Command::Bind {
        request: request_for(70_000),
        now: 70_000,
        lease_time_secs: None,
    });
    assert_eq!(rejected(next), Rejection::PoolExhausted);
    assert_eq!(
        Rejection::PoolExhausted.to_string(),
        "pool exhausted: no free address in the range"
    );

    let freed = Ipv4Addr::new(10, 0, 123, 45);
    assert_eq!(
        table.apply(&Command::Release {
            client_id: None,
            mac: None,
            address: freed,
            now: 70_001
        }),
        Response::Done
    );
    let lease = leased(table.apply(&Command::Bind {
        request: request_for(70_000),
        now: 70_002,
        lease_time_secs: None,
    }));
    assert_eq!(lease.address, freed);
    let elapsed = started.elapsed();
    check(&table).unwrap();
    let json = serde_json::to_string(&table).unwrap();
    let back: LeaseTable = serde_json::from_str(&json).unwrap();
    assert_eq!(back, table);
    eprintln!(
        "filled a /16 in {elapsed:?}; with checks and a snapshot round trip {:?}",
        started.elapsed()
    );
}
