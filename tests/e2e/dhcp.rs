//! DHCP end to end: real clients (the matrix: dhclient, udhcpc, dhcpcd,
//! systemd-networkd) in container namespaces on three hosts whose bridges
//! form one L2 segment over VXLAN, served by a three-node raftmasq cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::netns;
use raftmasq_tests::testbed_cluster::{RANGE_END, RANGE_START, TestbedCluster, lease_for_mac};
use serde_json::json;

/// What these tests run beside the client matrix's own tools.
const TOOLS: &[&str] = &["ip", "bridge", "curl"];

fn tools() -> Vec<&'static str> {
    [TOOLS, &ClientKind::matrix_tools()].concat()
}
const LEASE_WAIT: Duration = Duration::from_secs(20);

fn in_range(address: Ipv4Addr) -> bool {
    let start: Ipv4Addr = RANGE_START.parse().expect("range start");
    let end: Ipv4Addr = RANGE_END.parse().expect("range end");
    start <= address && address <= end
}

/// `raftmasq_dhcp_received_total{type="discover"}` of `host`'s node.
fn received_discovers(cluster: &TestbedCluster, host: u8) -> u64 {
    counter(
        cluster,
        host,
        "raftmasq_dhcp_received_total{type=\"discover\"} ",
    )
}

/// The value of the series `prefix` names (name, labels and a space); 0 when
/// the series does not exist yet.
fn counter(cluster: &TestbedCluster, host: u8, prefix: &str) -> u64 {
    let metrics = cluster
        .get_text(host, "/metrics")
        .unwrap_or_else(|| panic!("no metrics from host {host}"));
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .map_or(0, |value| value.trim().parse().expect("a counter value"))
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn real_clients_on_three_hosts_get_unique_leases_renew_release_and_names() {
    netns::require("dhcp real clients", &tools());
    let cluster = TestbedCluster::start(crate::binary(), "dh", 3, "");
    cluster.wait_ready(Duration::from_secs(30));
    let work = tempfile::TempDir::new().expect("client dir");

    // A reservation, made before its container asks.
    let reserved_mac = "02:42:ac:10:00:99";
    let reserved_ip: Ipv4Addr = "172.16.0.240".parse().expect("ip");
    let reserve = json!({"op": "reserve", "reservation": {"mac": [2, 0x42, 0xac, 0x10, 0, 0x99], "address": reserved_ip, "hostname": null}});
    let answer = cluster
        .post(2, "/api/v1/commands", &reserve)
        .expect("reserve");
    assert_eq!(answer["result"], "done", "{answer}");

    // Every client type on every host, plus two containers asking for "dup"
    // on different hosts, plus the reserved one.
    let mut containers = Vec::new();
    for host in 1..=3u8 {
        for (k, kind) in ClientKind::ALL.iter().enumerate() {
            let n = host * 10 + u8::try_from(k).unwrap_or(0);
            let mac = format!("02:42:ac:10:00:{n:02x}");
            let container = cluster
                .testbed
                .add_container(host, &format!("c{n}"), &mac)
                .expect("container");
            containers.push((*kind, format!("c{n}"), container));
        }
    }
    let dup1 = cluster
        .testbed
        .add_container(1, "dupa", "02:42:ac:10:00:a1")
        .expect("dup a");
    let dup2 = cluster
        .testbed
        .add_container(3, "dupb", "02:42:ac:10:00:a2")
        .expect("dup b");
    let reserved = cluster
        .testbed
        .add_container(2, "resv", reserved_mac)
        .expect("reserved");

    let mut clients = Vec::new();
    for (kind, hostname, container) in &containers {
        let mut options = ClientOptions::hostname(hostname);
        options.dhclient_renewal_secs = Some(5);
        clients.push(DhcpClient::start(*kind, container, work.path(), &options).expect("client"));
    }
    let dup_a = DhcpClient::start(
        ClientKind::Dhclient,
        &dup1,
        work.path(),
        &ClientOptions::hostname("dup"),
    )
    .expect("dup a");
    let dup_b = DhcpClient::start(
        ClientKind::Udhcpc,
        &dup2,
        work.path(),
        &ClientOptions::hostname("dup"),
    )
    .expect("dup b");
    let resv = DhcpClient::start(
        ClientKind::Udhcpc,
        &reserved,
        work.path(),
        &ClientOptions::hostname("resv"),
    )
    .expect("resv");

    let mut seen = BTreeMap::new();
    for client in clients.iter().chain([&dup_a, &dup_b, &resv]) {
        let lease = client.wait_lease(LEASE_WAIT).unwrap_or_else(|e| {
            panic!(
                "{:?}: {e}\n{}\n{}",
                client.kind,
                client.log(),
                cluster.logs()
            )
        });
        let address = lease.address.expect("address");
        assert!(
            seen.insert(address, client.kind).is_none(),
            "{address} handed out twice"
        );
        let server = lease.server_id.expect("server id");
        assert!(
            ["172.16.0.1", "172.16.0.2", "172.16.0.3"].contains(&server.to_string().as_str()),
            "server id {server}"
        );
        assert_eq!(
            lease.dns.len(),
            3,
            "DNS servers: every host's bridge: {:?}",
            lease.dns
        );
    }
    // Only the leader decoded the broadcasts; each follower held them,
    // undecoded, for a leader to come (dhcpd/src/server/held.rs).
    let leader = cluster.leader_seen_by(1).expect("a leader");
    for host in 1..=3u8 {
        let discovers = received_discovers(&cluster, host);
        let held = counter(
            &cluster,
            host,
            "raftmasq_dhcp_events_total{event=\"held_for_leader\"} ",
        );
        if host == leader {
            assert!(discovers > 0, "the leader on host {host} saw no DISCOVER");
        } else {
            assert_eq!(discovers, 0, "follower on host {host} decoded broadcasts");
            assert!(held > 0, "follower on host {host} held no broadcast");
        }
    }
    let resv_lease = resv.wait_lease(LEASE_WAIT).expect("reserved lease");
    assert_eq!(
        resv_lease.address,
        Some(reserved_ip),
        "the reservation is honoured"
    );
    for address in seen.keys() {
        assert!(
            in_range(*address) || *address == reserved_ip,
            "{address} outside the range"
        );
    }

    // The cluster agrees, and names follow the suffix policy.
    let leases = cluster.leases(1, true);
    let dup_a_name = lease_for_mac(&leases, "02:42:ac:10:00:a1").map(|l| l["granted_name"].clone());
    let dup_b_name = lease_for_mac(&leases, "02:42:ac:10:00:a2").map(|l| l["granted_name"].clone());
    let names: BTreeSet<String> = [dup_a_name, dup_b_name]
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["dup".to_string(), "dup-2".to_string()]),
        "{leases:?}"
    );
    for (kind, hostname, container) in &containers {
        let lease = lease_for_mac(&leases, &container.mac)
            .unwrap_or_else(|| panic!("{kind:?} {hostname} not in the cluster"));
        assert_eq!(lease["granted_name"], hostname.as_str());
        assert_eq!(lease["state"], "bound");
    }

    // Renewal extends the lease in the cluster; release frees it.
    for client in &mut clients {
        let mac = client.container().mac.clone();
        let before = lease_for_mac(&cluster.leases(1, true), &mac)
            .map(|l| l["expires_at"].as_u64().unwrap_or(0))
            .unwrap_or(0);
        std::thread::sleep(Duration::from_millis(1_100));
        client
            .renew(Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("{:?} renew: {e}\n{}", client.kind, client.log()));
        let after = lease_for_mac(&cluster.leases(1, true), &mac)
            .map(|l| l["expires_at"].as_u64().unwrap_or(0))
            .unwrap_or(0);
        assert!(
            after > before,
            "{:?}: renewal did not extend the lease ({before} -> {after})",
            client.kind
        );
    }
    // Host 1's clients, one of each kind.
    for client in &mut clients[..ClientKind::ALL.len()] {
        let mac = client.container().mac.clone();
        client
            .release(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{:?} release: {e}\n{}", client.kind, client.log()));
        let released =
            netns::wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
                lease_for_mac(&cluster.leases(2, true), &mac).is_none()
            });
        assert!(
            released,
            "{:?}: the released lease is still in the cluster",
            client.kind
        );
    }
    for client in clients.iter().chain([&dup_a, &dup_b, &resv]) {
        assert!(
            !client.events().iter().any(|e| e.event == "NAK"),
            "{:?} was NAKed",
            client.kind
        );
    }
}
