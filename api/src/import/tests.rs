use super::*;
use raftmasq_state::{AddressRange, ClientIdentity, ClusterSettings, HostnamePolicy};

const LEASES: &str = "\
1700000600 02:42:00:00:03:01 172.16.100.10 web 01:02:42:00:00:03:01
0 02:42:00:00:03:02 172.16.100.11 * *
1700000600 02:42:00:00:03:03 172.16.100.12 db
duid 00:01:00:01:2c:1f:00:00:02:42:ac:11:00:02
1700000600 1234abcd fd00::5 v6host 00:01:00:01
1700000600 02:42:00:00:03:04 172.16.100 x *
1700000600 06-02-42-00-00-03-05 172.16.100.13 tr *
";

#[test]
fn lease_file_lines_parse_with_star_meaning_none() {
    let (leases, unsupported) = parse_leases(LEASES);
    assert_eq!(leases.len(), 3);
    assert_eq!(
        leases[0],
        DnsmasqLease {
            line: 1,
            expires: 1_700_000_600,
            mac: "02:42:00:00:03:01".parse().expect("mac"),
            address: Ipv4Addr::new(172, 16, 100, 10),
            hostname: Some("web".into()),
            client_id: Some(ClientId(vec![1, 2, 0x42, 0, 0, 3, 1])),
        }
    );
    assert_eq!(leases[1].expires, 0);
    assert_eq!(leases[1].hostname, None);
    assert_eq!(leases[1].client_id, None);
    assert_eq!(leases[2].client_id, None, "client id column may be absent");
    let reasons: Vec<(usize, &str)> = unsupported
        .iter()
        .map(|u| (u.line, u.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[0].1.contains("DUID"));
    assert!(
        reasons[1].1.contains("IAID"),
        "a DHCPv6 line, its IAID in hex: {reasons:?}"
    );
    assert!(reasons[2].1.contains("invalid address"));
    assert!(reasons[3].1.contains("not an Ethernet MAC"));
}

#[test]
fn dhcp_host_lines_parse_in_their_supported_forms() {
    let conf = "\
# a comment
domain=lxd
dhcp-host=02:42:00:00:04:01,172.16.100.50
dhcp-host = 02:42:00:00:04:02,172.16.100.51,printer,12h
dhcp-host=02:42:00:00:04:03,172.16.100.52,infinite
dhcp-host=id:01:02:03,172.16.100.53
dhcp-host=02:42:00:00:04:05,laptop
dhcp-host=02:42:00:00:04:06,set:red,172.16.100.54
dhcp-host=02:42:00:00:04:07,ignore
dhcp-host=02:42:00:00:*:*,172.16.100.55
";
    let ConfFile {
        hosts,
        unsupported,
        options,
    } = parse_conf(conf);
    assert_eq!(hosts.len(), 3);
    assert_eq!(hosts[0].line, 3);
    assert_eq!(hosts[0].hostname, None);
    assert_eq!(hosts[1].hostname.as_deref(), Some("printer"));
    assert_eq!(hosts[1].lease_secs, Some(43_200));
    assert_eq!(hosts[1].address, Ipv4Addr::new(172, 16, 100, 51));
    assert_eq!(hosts[2].lease_secs, None);
    assert_eq!(
        hosts[2].hostname, None,
        "infinite is a lease time, not a name"
    );
    let lines: Vec<usize> = unsupported.iter().map(|u| u.line).collect();
    assert_eq!(lines, [6, 7, 8, 9, 10]);
    assert!(unsupported[0].reason.contains("id:"));
    assert!(unsupported[1].reason.contains("needs one"));
    // Every other option line is listed with where its equivalent is;
    // only the comment is left out.
    assert_eq!(options.len(), 1, "{options:?}");
    assert_eq!(options[0].line, 2);
    assert!(
        options[0].reason.contains("`domain`") && options[0].reason.contains("dns.domain"),
        "{options:?}"
    );
}

#[test]
fn every_option_line_of_a_conf_file_is_reported() {
    let conf = "\
# LXD's command line, as a file
strict-order
bind-interfaces
interface=lxdbr0

dhcp-range=172.16.0.2,172.16.255.254,1h
dhcp-no-override
listen-address=172.16.0.1
server=/lxd/
frobnicate=yes
";
    let conf = parse_conf(conf);
    assert!(conf.hosts.is_empty() && conf.unsupported.is_empty());
    let lines: Vec<usize> = conf.options.iter().map(|u| u.line).collect();
    assert_eq!(lines, [2, 3, 4, 6, 7, 8, 9, 10]);
    for option in &conf.options {
        assert!(
            option.reason.starts_with("dnsmasq option `") && option.reason.contains("raftmasq"),
            "{option:?}"
        );
    }
    assert!(conf.options[3].reason.contains("dhcp.range"));
    assert!(conf.options[6].reason.contains("dns.upstream"));
    assert!(conf.options[7].reason.contains("`frobnicate`"));
}

#[test]
fn lxd_host_files_in_every_form_lxd_writes() {
    // lxd/dnsmasq UpdateStaticEntry: MAC[,IPv4][,[IPv6]][,NAME].
    let text = "\
00:16:3e:aa:bb:01,172.16.0.50,c1
00:16:3e:aa:bb:02,c2
00:16:3e:aa:bb:03,172.16.0.51
00:16:3e:aa:bb:04,[fd42::4],c4
00:16:3e:aa:bb:05,172.16.0.52,[fd42::5],c5
00:16:3e:aa:bb:06,[fd42::6]
00:16:3e:aa:bb:07,web.proj
00:16:3e:aa:bb:08,172.16.0.53,db.proj
not-a-mac,172.16.0.54,x
00:16:3e:aa:bb:10,172.16.0.55,a,b
";
    let (entries, unsupported) = parse_lxd_hosts("dnsmasq.hosts/c1", text);
    let mac = |n: u8| MacAddr([0x00, 0x16, 0x3e, 0xaa, 0xbb, n]);
    let reservation = |entry: &LxdEntry| match entry {
        LxdEntry::Reservation(host) => Some((
            host.mac,
            host.address,
            host.hostname.clone(),
            host.note.is_some(),
        )),
        LxdEntry::Name(_) => None,
    };
    let name = |entry: &LxdEntry| match entry {
        LxdEntry::Name(name) => Some((name.mac, name.name.clone(), name.note.is_some())),
        LxdEntry::Reservation(_) => None,
    };
    assert_eq!(entries.len(), 7, "{entries:?}");
    assert_eq!(
        reservation(&entries[0]),
        Some((
            mac(1),
            Ipv4Addr::new(172, 16, 0, 50),
            Some("c1".into()),
            false
        ))
    );
    assert_eq!(name(&entries[1]), Some((mac(2), "c2".into(), false)));
    assert_eq!(
        reservation(&entries[2]),
        Some((mac(3), Ipv4Addr::new(172, 16, 0, 51), None, false))
    );
    // The IPv6 part is left out, and the report says so.
    assert_eq!(name(&entries[3]), Some((mac(4), "c4".into(), true)));
    assert_eq!(
        reservation(&entries[4]),
        Some((
            mac(5),
            Ipv4Addr::new(172, 16, 0, 52),
            Some("c5".into()),
            true
        ))
    );
    // NAME.PROJECT (another project's instance) is the MAC's name; with a
    // static address, the reservation keeps the address and says why it has
    // no hostname.
    assert_eq!(name(&entries[5]), Some((mac(7), "web.proj".into(), false)));
    assert_eq!(
        reservation(&entries[6]),
        Some((mac(8), Ipv4Addr::new(172, 16, 0, 53), None, true))
    );
    let LxdEntry::Reservation(host) = &entries[0] else {
        panic!("{entries:?}");
    };
    assert_eq!(host.source.as_deref(), Some("dnsmasq.hosts/c1"));
    assert_eq!(host.line, 1);
    let reasons: Vec<(usize, &str)> = unsupported
        .iter()
        .map(|u| (u.line, u.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0].0, 6);
    assert!(reasons[0].1.contains("IPv6"), "{reasons:?}");
    assert_eq!(reasons[1].0, 9);
    assert!(reasons[1].1.contains("not a MAC"));
    assert_eq!(reasons[2].0, 10);
    assert!(reasons[2].1.contains("unexpected field"));
    assert!(
        unsupported
            .iter()
            .all(|u| u.source.as_deref() == Some("dnsmasq.hosts/c1"))
    );
    // The project instance with a static address: its line's note says why
    // the reservation has no hostname.
    let LxdEntry::Reservation(project_host) = &entries[6] else {
        panic!("{entries:?}");
    };
    assert!(
        project_host
            .note
            .as_deref()
            .is_some_and(|n| n.contains("NAME.PROJECT"))
    );
}

#[test]
fn lxd_names_become_mac_names_and_rename_imported_leases() {
    let now: Millis = 1_700_000_000_000;
    let (entries, _) = parse_lxd_hosts(
        "c7",
        "02:42:00:00:03:07,c7\n02:42:00:00:03:08,172.16.100.60,c8\n",
    );
    let mut names = Vec::new();
    let mut reservations = Vec::new();
    for entry in entries {
        match entry {
            LxdEntry::Name(name) => names.push(name),
            LxdEntry::Reservation(host) => reservations.push(host),
        }
    }
    let (leases, _) = parse_leases(
        "1700000600 02:42:00:00:03:07 172.16.100.30 ubuntu *\n\
         1700000600 02:42:00:00:03:08 172.16.100.60 * *\n",
    );
    let request = ImportRequest {
        leases,
        reservations,
        names,
        leases6: Vec::new(),
        dry_run: false,
    };
    let mut table = table();
    let planned = plan(&table, &request, now);
    let kinds: Vec<(&str, &str)> = planned
        .iter()
        .map(|(item, _)| (item.kind.as_str(), item.action.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("reservation", "add"),
            ("name", "add"),
            ("lease", "add"),
            ("lease", "add")
        ]
    );
    for (_, command) in &planned {
        let command = command.as_ref().expect("a command");
        let response = table.apply(command);
        assert!(
            !matches!(response, Response::Rejected { .. }),
            "{response:?}"
        );
    }
    // The instance name wins over the hostname dnsmasq recorded, as the
    // host file's name did in dnsmasq.
    assert_eq!(
        table.address_of_name("c7"),
        Some(Ipv4Addr::new(172, 16, 100, 30))
    );
    assert_eq!(table.address_of_name("ubuntu"), None);
    assert_eq!(
        table.address_of_name("c8"),
        Some(Ipv4Addr::new(172, 16, 100, 60))
    );
    // Again: all unchanged.
    let again = plan(&table, &request, now);
    assert!(
        again
            .iter()
            .all(|(item, command)| item.action == "unchanged" && command.is_none()),
        "{again:?}"
    );
    // Another name for a named MAC is a conflict, never an overwrite.
    let (entries, _) = parse_lxd_hosts("c7", "02:42:00:00:03:07,other\n");
    let LxdEntry::Name(renamed) = entries[0].clone() else {
        panic!("{entries:?}");
    };
    let clash = plan(
        &table,
        &ImportRequest {
            leases: vec![],
            reservations: vec![],
            names: vec![renamed],
            leases6: Vec::new(),
            dry_run: true,
        },
        now,
    );
    assert_eq!(clash[0].0.action, "conflict");
    assert!(clash[0].0.reason.as_deref().unwrap_or("").contains("c7"));

    // Once `dns.mode` is none LXD writes its host files without names:
    // the same reservation without its name is no change, and says so.
    // Another name or another address is a conflict.
    let reimport = |line: &str| {
        let (entries, _) = parse_lxd_hosts("c8.eth0", line);
        let LxdEntry::Reservation(host) = entries[0].clone() else {
            panic!("{entries:?}");
        };
        let request = ImportRequest {
            leases: vec![],
            reservations: vec![host],
            names: vec![],
            leases6: Vec::new(),
            dry_run: true,
        };
        plan(&table, &request, now).remove(0).0
    };
    let nameless = reimport("02:42:00:00:03:08,172.16.100.60\n");
    assert_eq!(nameless.action, "unchanged");
    assert!(nameless.reason.as_deref().unwrap_or("").contains("c8"));
    assert_eq!(
        reimport("02:42:00:00:03:08,172.16.100.60,c9\n").action,
        "conflict"
    );
    assert_eq!(
        reimport("02:42:00:00:03:08,172.16.100.61\n").action,
        "conflict"
    );
}

#[test]
fn lease_times_in_dnsmasq_units() {
    assert_eq!(parse_lease_time("45"), Some(Some(45)));
    assert_eq!(parse_lease_time("2m"), Some(Some(120)));
    assert_eq!(parse_lease_time("12h"), Some(Some(43_200)));
    assert_eq!(parse_lease_time("1d"), Some(Some(86_400)));
    assert_eq!(parse_lease_time("1w"), Some(Some(604_800)));
    assert_eq!(parse_lease_time("infinite"), Some(None));
    assert_eq!(parse_lease_time("h"), None);
    assert_eq!(parse_lease_time("web1"), None);
    assert_eq!(parse_lease_time("12x"), None);
}

fn table() -> LeaseTable {
    table_keyed_by(ClientIdentity::ClientId)
}

fn table_keyed_by(client_identity: ClientIdentity) -> LeaseTable {
    let mut table = LeaseTable::default();
    let settings = ClusterSettings {
        subnet: "172.16.0.0/16".parse().expect("subnet"),
        ranges: vec![AddressRange {
            start: Ipv4Addr::new(172, 16, 100, 10),
            end: Ipv4Addr::new(172, 16, 100, 200),
        }],
        domain: "lxd".into(),
        lease_time_secs: 3_600,
        decline_quarantine_secs: 600,
        client_identity,
        duplicate_hostnames: HostnamePolicy::Suffix,
    };
    assert_eq!(
        table.apply(&Command::Initialize { settings }),
        Response::Done
    );
    table
}

fn bind(table: &mut LeaseTable, mac: &str, address: [u8; 4], now: Millis) {
    let mac: MacAddr = mac.parse().expect("mac");
    let response = table.apply(&Command::Bind {
        request: LeaseRequest {
            client_id: ClientId::from_mac(mac),
            mac,
            hostname: None,
            requested_address: Some(Ipv4Addr::from(address)),
            seen_by: None,
        },
        now,
        lease_time_secs: None,
    });
    assert!(matches!(response, Response::Lease { .. }), "{response:?}");
}

#[test]
fn the_plan_adds_keeps_and_reports_conflicts_without_overwriting() {
    let now: Millis = 1_700_000_000_000;
    let mut table = table();
    // Already in the cluster: one identical lease, one clashing lease.
    bind(&mut table, "02:42:00:00:03:03", [172, 16, 100, 12], now);
    bind(&mut table, "02:99:00:00:00:01", [172, 16, 100, 20], now);
    let before = table.clone();
    let (leases, _) = parse_leases(
        "\
1700000600 02:42:00:00:03:01 172.16.100.10 web 01:02:42:00:00:03:01
0 02:42:00:00:03:02 172.16.100.11 * *
1700000000 02:42:00:00:03:06 172.16.100.15 old *
1700000600 02:42:00:00:03:03 172.16.100.12 db *
1700000600 02:42:00:00:03:07 172.16.100.20 clash *
1700000600 02:42:00:00:03:08 10.1.2.3 outside *
",
    );
    let reservations = parse_conf(
        "dhcp-host=02:42:00:00:04:01,172.16.100.50,printer\n\
         dhcp-host=02:42:00:00:04:02,172.16.100.10\n",
    )
    .hosts;
    let request = ImportRequest {
        leases,
        reservations,
        names: vec![],
        leases6: Vec::new(),
        dry_run: true,
    };
    let plan = plan(&table, &request, now);
    assert_eq!(table, before, "planning must not touch the table");
    let actions: Vec<(&str, &str)> = plan
        .iter()
        .map(|(item, _)| (item.kind.as_str(), item.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("reservation", "add"),
            ("reservation", "add"),
            ("lease", "conflict"),
            ("lease", "add"),
            ("lease", "expired"),
            ("lease", "unchanged"),
            ("lease", "conflict"),
            ("lease", "conflict"),
        ]
    );
    // 172.16.100.10 is now reserved for another MAC by the second line.
    assert!(
        plan[2]
            .0
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("not available"),
        "{:?}",
        plan[2].0
    );
    assert!(
        plan[6]
            .0
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("02:99:00:00:00:01")
    );
    assert!(
        plan[7]
            .0
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("not available")
    );

    // Leases keep their remaining time, rounded up to whole seconds.
    let Some(Command::Bind {
        lease_time_secs,
        request,
        ..
    }) = &plan[3].1
    else {
        panic!("expected a bind: {:?}", plan[3]);
    };
    assert_eq!(
        *lease_time_secs, None,
        "infinite lease gets the cluster's time"
    );
    assert_eq!(
        request.requested_address,
        Some(Ipv4Addr::new(172, 16, 100, 11))
    );
    let reserved = plan_lease(
        &mut (table.clone(), Default::default()),
        &DnsmasqLease {
            line: 1,
            expires: 1_700_000_600,
            mac: "02:42:00:00:03:09".parse().expect("mac"),
            address: Ipv4Addr::new(172, 16, 100, 30),
            hostname: None,
            client_id: None,
        },
        now - 400,
    );
    let Some(Command::Bind {
        lease_time_secs, ..
    }) = reserved.1
    else {
        panic!("expected a bind");
    };
    assert_eq!(lease_time_secs, Some(601));
    // The table's clock never goes back (it saw `now`), so the lease ends
    // 601 s after `now`: a little late, never early.
    assert_eq!(reserved.0.expires_at, Some(now + 601_000));
}

#[test]
fn a_client_id_from_the_lease_file_is_kept() {
    let now: Millis = 1_700_000_000_000;
    let (leases, _) =
        parse_leases("1700000600 02:42:00:00:03:01 172.16.100.10 web ff:00:00:00:01:00:01\n");
    let request = ImportRequest {
        leases,
        reservations: vec![],
        names: vec![],
        leases6: Vec::new(),
        dry_run: false,
    };
    let plan = plan(&table(), &request, now);
    let Some(Command::Bind { request, .. }) = &plan[0].1 else {
        panic!("expected a bind");
    };
    assert_eq!(request.client_id, ClientId(vec![0xff, 0, 0, 0, 1, 0, 1]));
    assert_eq!(request.hostname.as_deref(), Some("web"));
}

#[test]
fn under_mac_identity_leases_are_keyed_by_mac_as_dhcp_keys_them() {
    let now: Millis = 1_700_000_000_000;
    // Two copies of one networkd container: one option 61 (the DUID of
    // their shared machine-id), two MACs, two addresses in dnsmasq
    // (which ran with --dhcp-ignore-clid).
    let (leases, _) = parse_leases(
        "1700000600 02:42:00:00:03:01 172.16.100.10 web ff:00:00:00:01:00:01
         1700000600 02:42:00:00:03:02 172.16.100.11 web2 ff:00:00:00:01:00:01
",
    );
    let request = ImportRequest {
        leases,
        reservations: vec![],
        names: vec![],
        leases6: Vec::new(),
        dry_run: false,
    };
    let mut table = table_keyed_by(ClientIdentity::Mac);
    let plan = plan(&table, &request, now);
    let mut keys = Vec::new();
    for (item, command) in &plan {
        assert_eq!(item.action, "add", "{item:?}");
        let Some(command @ Command::Bind { request, .. }) = command else {
            panic!("expected a bind: {item:?}");
        };
        keys.push(request.client_id.clone());
        assert!(matches!(table.apply(command), Response::Lease { .. }));
    }
    let macs: Vec<MacAddr> = ["02:42:00:00:03:01", "02:42:00:00:03:02"]
        .iter()
        .map(|mac| mac.parse().expect("mac"))
        .collect();
    assert_eq!(
        keys,
        macs.iter()
            .map(|mac| ClientId::from_mac(*mac))
            .collect::<Vec<_>>()
    );
    // The key DHCP will look the client up by under `mac`.
    for (mac, address) in macs.iter().zip([10, 11]) {
        let key = ClientId::keyed(
            ClientIdentity::Mac,
            Some(&ClientId(vec![0xff, 0, 0, 0, 1, 0, 1])),
            *mac,
        );
        let lease = table.lease_by_client(&key).expect("found by its DHCP key");
        assert_eq!(lease.address, Ipv4Addr::new(172, 16, 100, address));
    }
    // Imported again: already there, nothing to add.
    let again = super::plan(&table, &request, now);
    assert!(
        again
            .iter()
            .all(|(item, command)| item.action == "unchanged" && command.is_none()),
        "{again:?}"
    );

    // Under `client-id` the same file is one client: the second line
    // clashes with the first one's lease.
    let keyed_by_id = super::plan(&table_keyed_by(ClientIdentity::ClientId), &request, now);
    assert_eq!(keyed_by_id[0].0.action, "add");
    assert_eq!(keyed_by_id[1].0.action, "conflict", "{keyed_by_id:?}");
}

#[test]
fn a_state_exports_records_keep_their_network_and_older_exports_have_none() {
    let text = r#"{
        "format": "raftmasq-state-v1", "leases": [], "reservations": [],
        "records": [
            {"name": "db.lab.lxd", "ttl": null, "data": {"type": "A", "address": "172.20.0.5"}, "network": "lab"},
            {"name": "www.lxd", "ttl": 60, "data": {"type": "A", "address": "172.16.0.5"}}
        ]
    }"#;
    let (_, records) = state_request(text, false).expect("an export");
    let networks: Vec<(&str, Option<&str>)> = records
        .iter()
        .map(|r| (r.record.name.as_str(), r.network.as_deref()))
        .collect();
    assert_eq!(
        networks,
        [("db.lab.lxd", Some("lab")), ("www.lxd", None)],
        "each record is posted back with its network, or placed by its name"
    );
}
