//! Migrating from dnsmasq: real clients (the whole matrix) lease from dnsmasq
//! on a host's bridge; dnsmasq stops, raftmasq starts on the same hosts,
//! `dnsctl import-dnsmasq` moves the leases and reservations, and every client
//! renews and keeps its address without a single NAK, under either
//! `dhcp.client_identity`.

use std::net::Ipv4Addr;
use std::time::Duration;

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::dnsmasq::Dnsmasq;
use raftmasq_tests::netns;
use raftmasq_tests::networkd::NETWORKD;
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions, lease_for_mac};

const TOOLS: &[&str] = &[
    "ip",
    "bridge",
    "curl",
    "dnsmasq",
    "dhclient",
    "udhcpc",
    "dhcpcd",
    "unshare",
    NETWORKD,
    "dbus-daemon",
    "networkctl",
    "nsenter",
];
const RESERVED: &str = "dhcp-host=02:42:ac:10:0d:01,172.16.0.77,fixed";

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn clients_of_dnsmasq_keep_their_addresses_after_import() {
    migrate("mg", "");
}

/// Under `mac` the imported leases must be keyed by MAC, as DHCP keys the
/// clients' renewals: dhcpcd and networkd send a DUID as option 61, which
/// dnsmasq records, and a lease imported under it would make their address
/// "leased to another client" at their first renewal (a NAK).
#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn clients_of_dnsmasq_keep_their_addresses_after_import_under_mac_identity() {
    migrate("mgm", r#"client_identity = "mac""#);
}

fn migrate(tag: &str, dhcp_extra: &str) {
    netns::require("migrate from dnsmasq", TOOLS);
    let options = TestbedOptions {
        dhcp_extra: dhcp_extra.to_string(),
        ..TestbedOptions::default()
    };
    let mut cluster = TestbedCluster::prepare_with(crate::binary(), tag, 3, &options);
    let dir = cluster.dir.path().to_path_buf();
    let range = (
        Ipv4Addr::new(172, 16, 0, 10),
        Ipv4Addr::new(172, 16, 0, 250),
    );
    let extra = format!("--{RESERVED}");
    let dnsmasq = Dnsmasq::start(
        cluster.testbed.host(1),
        &dir,
        range,
        "10m",
        &[extra.as_str()],
    )
    .expect("dnsmasq");

    // One container of each kind, the hosts in turn; the first has the
    // reservation.
    let kinds = ClientKind::ALL;
    let containers: Vec<_> = (1u8..)
        .zip(&kinds)
        .map(|(n, _)| {
            let host = (n - 1) % 3 + 1;
            let mac = if n == 1 {
                "02:42:ac:10:0d:01".to_string()
            } else {
                format!("02:42:ac:10:0d:{n:02x}")
            };
            cluster
                .testbed
                .add_container(host, &format!("m{n}"), &mac)
                .expect("container")
        })
        .collect();
    let mut clients: Vec<DhcpClient<'_>> = kinds
        .iter()
        .zip(&containers)
        .map(|(kind, container)| {
            let mut options = ClientOptions::hostname(&container.name);
            options.dhclient_renewal_secs = Some(8);
            DhcpClient::start(*kind, container, &dir, &options).expect("client")
        })
        .collect();
    let mut before = Vec::new();
    for client in &clients {
        let lease = client
            .wait_lease(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}\n{}", dnsmasq.log()));
        assert_eq!(
            lease.server_id,
            Some(Ipv4Addr::new(172, 16, 0, 1)),
            "dnsmasq on h1 served it"
        );
        before.push(lease.address.expect("address"));
    }
    assert_eq!(
        before[0],
        Ipv4Addr::new(172, 16, 0, 77),
        "the dnsmasq reservation"
    );
    let lease_file = dnsmasq.lease_file.clone();
    let conf = dir.join("dnsmasq.conf");
    std::fs::write(&conf, format!("domain=lxd\n{RESERVED}\n")).expect("conf");

    // Swap the servers: dnsmasq stops, raftmasq starts on every host.
    drop(dnsmasq);
    for host in 1..=3 {
        cluster.start_node(host);
    }
    cluster.wait_ready(Duration::from_secs(30));

    // A client that renews before the import (its timer does not wait for
    // the operator) is unknown to the cluster: raftmasq is authoritative and
    // lets it keep its address rather than NAKing it.
    let early = clients[1]
        .renew(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("early renew: {e}\n{}\n{}", clients[1].log(), cluster.logs()));
    assert_eq!(
        early.address,
        Some(before[1]),
        "kept its address before the import"
    );
    assert!(!clients[1].events().iter().any(|e| e.event == "NAK"));

    let dnsctl = crate::dnsctl::dnsctl_binary();
    let output = cluster
        .testbed
        .host(1)
        .command(dnsctl)
        .arg("--config")
        .arg(cluster.config_path(1))
        .args(["import-dnsmasq", "--leases"])
        .arg(&lease_file)
        .arg("--conf")
        .arg(&conf)
        .output()
        .expect("dnsctl import-dnsmasq");
    assert!(
        output.status.success(),
        "import: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // Every client renews with raftmasq (unicast to 172.16.0.1, now node 1,
    // which forwards the write to the leader) and keeps its address.
    for (client, address) in clients.iter_mut().zip(&before) {
        let renewed = client.renew(Duration::from_secs(30)).unwrap_or_else(|e| {
            panic!(
                "{:?} renew: {e}\n{}\n{}",
                client.kind,
                client.log(),
                cluster.logs()
            )
        });
        assert_eq!(
            renewed.address,
            Some(*address),
            "{:?} kept its address",
            client.kind
        );
        assert!(
            !client.events().iter().any(|e| e.event == "NAK"),
            "{:?} was NAKed",
            client.kind
        );
    }
    let leases = cluster.leases(2, true);
    for (container, address) in containers.iter().zip(&before) {
        let lease = lease_for_mac(&leases, &container.mac)
            .unwrap_or_else(|| panic!("{} not in the cluster", container.mac));
        assert_eq!(lease["address"], address.to_string());
        assert_eq!(lease["state"], "bound");
    }
}
