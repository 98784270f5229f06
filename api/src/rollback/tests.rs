use std::net::Ipv4Addr;

use proptest::prelude::*;
use raftmasq_state::{
    AddressRange, ClientId, ClientIdentity, ClusterSettings, Command, HostnamePolicy, Lease,
    LeaseState, LeaseTable, MacAddr, Millis, Reservation, Response,
};

use super::*;
use crate::import::{self, ImportRequest};

const NOW: Millis = 1_700_000_000_123;

fn lease(n: u8, name: Option<&str>, client_id: Option<ClientId>, expires_at: Millis) -> Lease {
    let mac = MacAddr([0x02, 0x42, 0, 0, 9, n]);
    Lease {
        address: Ipv4Addr::new(172, 16, 100, n),
        client_id: client_id.unwrap_or_else(|| ClientId::from_mac(mac)),
        mac,
        requested_hostname: name.map(|n| n.to_uppercase()),
        granted_name: name.map(str::to_string),
        state: LeaseState::Bound,
        granted_at: NOW - 60_000,
        expires_at,
        seen_by: Some(2),
    }
}

#[test]
fn lines_are_dnsmasqs_own_format() {
    let with_id = lease(
        10,
        Some("web-2"),
        Some(ClientId(vec![0xff, 0, 1, 2])),
        NOW + 600_000,
    );
    // Rounded up: 1700000600.123 s ends at 1700000601.
    assert_eq!(
        lease_line(&with_id),
        "1700000601 02:42:00:00:09:0a 172.16.100.10 web-2 ff:00:01:02"
    );
    // Keyed by MAC and nameless: both stars.
    let bare = lease(11, None, None, NOW + 1_000_000 - 123);
    assert_eq!(
        lease_line(&bare),
        "1700001000 02:42:00:00:09:0b 172.16.100.11 * *"
    );
    // What dnsmasq itself wrote reads back as the same line.
    let (parsed, unsupported) = import::parse_leases(&lease_line(&with_id));
    assert!(unsupported.is_empty());
    assert_eq!(parsed[0].client_id, Some(ClientId(vec![0xff, 0, 1, 2])));
    assert_eq!(parsed[0].hostname.as_deref(), Some("web-2"));
}

#[test]
fn offered_and_ended_leases_are_left_out_and_listed() {
    let mut offered = lease(1, Some("a"), None, NOW + 60_000);
    offered.state = LeaseState::Offered;
    let ended = lease(2, Some("b"), None, NOW);
    let live = lease(3, Some("c"), None, NOW + 1);
    let reservations = [
        Reservation {
            mac: MacAddr([0x02, 0x42, 0, 0, 9, 0x50]),
            address: Ipv4Addr::new(172, 16, 100, 80),
            hostname: Some("printer".into()),
        },
        Reservation {
            mac: MacAddr([0x02, 0x42, 0, 0, 9, 0x51]),
            address: Ipv4Addr::new(172, 16, 100, 70),
            hostname: None,
        },
    ];
    let files = dnsmasq_files(&[live, ended, offered], &reservations, NOW);
    assert_eq!(files.written, 1);
    assert_eq!(files.leases.lines().count(), 1);
    assert!(
        files.leases.contains(" 172.16.100.3 c "),
        "{}",
        files.leases
    );
    let skipped: Vec<(Ipv4Addr, bool)> = files
        .skipped
        .iter()
        .map(|s| (s.address, s.reason.contains("offered")))
        .collect();
    assert_eq!(
        skipped,
        [
            (Ipv4Addr::new(172, 16, 100, 1), true),
            (Ipv4Addr::new(172, 16, 100, 2), false)
        ]
    );
    // Sorted by address, in both host forms.
    assert_eq!(
        files.hosts,
        "02:42:00:00:09:51,172.16.100.70\n02:42:00:00:09:50,172.16.100.80,printer\n"
    );
    assert_eq!(
        files.conf,
        "dhcp-host=02:42:00:00:09:51,172.16.100.70\ndhcp-host=02:42:00:00:09:50,172.16.100.80,printer\n"
    );
    // The conf form reads back through the importer as the same reservations.
    let conf = import::parse_conf(&files.conf);
    assert!(conf.unsupported.is_empty() && conf.options.is_empty());
    let back: Vec<Reservation> = conf
        .hosts
        .into_iter()
        .map(|h| Reservation {
            mac: h.mac,
            address: h.address,
            hostname: h.hostname,
        })
        .collect();
    let mut expected = reservations.to_vec();
    expected.sort_by_key(|r| r.address);
    assert_eq!(back, expected);
    // And so does the hosts-file form, read as LXD's host files are.
    let (entries, unsupported) = import::parse_lxd_hosts("exported", &files.hosts);
    assert!(unsupported.is_empty());
    assert_eq!(entries.len(), 2);
}

fn table(identity: ClientIdentity) -> LeaseTable {
    let mut table = LeaseTable::default();
    let settings = ClusterSettings {
        subnet: "172.16.0.0/16".parse().expect("subnet"),
        ranges: vec![AddressRange {
            start: Ipv4Addr::new(172, 16, 100, 1),
            end: Ipv4Addr::new(172, 16, 100, 250),
        }],
        domain: "lxd".into(),
        lease_time_secs: 3_600,
        decline_quarantine_secs: 600,
        client_identity: identity,
        duplicate_hostnames: HostnamePolicy::Suffix,
    };
    assert_eq!(
        table.apply(&Command::Initialize { settings }),
        Response::Done
    );
    table
}

/// One generated lease: its host number (address and MAC), whether it has a
/// name (and which), the option 61 it sent, and how long it has left (ms).
type Generated = (u8, Option<u8>, Option<Vec<u8>>, u64);

fn leases() -> impl Strategy<Value = Vec<Generated>> {
    proptest::collection::btree_map(
        1u8..=250,
        (
            proptest::option::of(0u8..4),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 1..12)),
            1u64..100_000_000,
        ),
        0..24,
    )
    .prop_map(|map| {
        map.into_iter()
            .map(|(n, (name, id, left))| (n, name, id, left))
            .collect()
    })
}

proptest! {
    /// Export then import gives the same leases: address, MAC, the key DHCP
    /// finds the client by, the DNS name, and an end no earlier than before
    /// (and less than two seconds later: whole seconds, rounded up twice).
    #[test]
    fn export_then_import_gives_the_same_leases(
        generated in leases(),
        by_mac in any::<bool>(),
    ) {
        let identity = if by_mac { ClientIdentity::Mac } else { ClientIdentity::ClientId };
        let originals: Vec<Lease> = generated
            .iter()
            .map(|(n, name, id, left)| {
                let mac = MacAddr([0x02, 0x42, 0, 0, 9, *n]);
                // Under client-id identity one id is one client: two
                // leases with the same option 61 are one client's (the
                // import rightly refuses the second), so ids are unique.
                let sent = id.clone().map(|mut id| {
                    id.insert(0, *n);
                    ClientId(id)
                });
                // Names from a small pool, made unique as the policy would.
                let name = name.map(|k| format!("{}-{n}", ["web", "db", "c1", "x"][usize::from(k)]));
                let mut lease = lease(*n, name.as_deref(), None, NOW + left);
                lease.client_id = ClientId::keyed(identity, sent.as_ref(), mac);
                lease
            })
            .collect();
        let files = dnsmasq_files(&originals, &[], NOW);
        prop_assert_eq!(files.written, originals.len());
        prop_assert!(files.skipped.is_empty());

        let (parsed, unsupported) = import::parse_leases(&files.leases);
        prop_assert!(unsupported.is_empty(), "{:?}", unsupported);
        let request = ImportRequest {
            leases: parsed,
            reservations: vec![],
            names: vec![],
            leases6: Vec::new(),
            dry_run: false,
        };
        let mut imported = table(identity);
        for (item, command) in import::plan(&imported, &request, NOW) {
            prop_assert_eq!(item.action.as_str(), "add", "{:?}", item);
            let command = command.expect("a command for every added lease");
            let response = imported.apply(&command);
            prop_assert!(matches!(response, Response::Lease { .. }), "{:?}", response);
        }
        let mut back: Vec<&Lease> = imported.leases().collect();
        back.sort_by_key(|l| l.address);
        prop_assert_eq!(back.len(), originals.len());
        for (original, back) in originals.iter().zip(back) {
            prop_assert_eq!(back.address, original.address);
            prop_assert_eq!(back.mac, original.mac);
            prop_assert_eq!(&back.client_id, &original.client_id);
            prop_assert_eq!(&back.granted_name, &original.granted_name);
            prop_assert_eq!(back.state, LeaseState::Bound);
            prop_assert!(
                back.expires_at >= original.expires_at
                    && back.expires_at < original.expires_at + 2_000,
                "{} -> {}", original.expires_at, back.expires_at
            );
        }
        // And the second export is the first one, line for line.
        let again: Vec<Lease> = imported.leases().cloned().collect();
        let second = dnsmasq_files(&again, &[], NOW);
        let first_lines: Vec<(&str, &str, &str, &str)> = files
            .leases
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                Some((*f.get(1)?, *f.get(2)?, *f.get(3)?, *f.get(4)?))
            })
            .collect();
        let second_lines: Vec<(&str, &str, &str, &str)> = second
            .leases
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                Some((*f.get(1)?, *f.get(2)?, *f.get(3)?, *f.get(4)?))
            })
            .collect();
        prop_assert_eq!(first_lines, second_lines);
    }
}
