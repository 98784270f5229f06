//! The DNS servers (option 6) a lease carries name every host, from the first
//! reply after a start, and follow the membership as hosts join and leave.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient, Lease};
use raftmasq_tests::netns::{self, Container};
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions};

const TOOLS: &[&str] = &["ip", "bridge", "curl", "udhcpc"];
const LEASE_WAIT: Duration = Duration::from_secs(20);
const READY_WAIT: Duration = Duration::from_secs(30);

fn bridges(hosts: impl IntoIterator<Item = u8>) -> BTreeSet<Ipv4Addr> {
    hosts
        .into_iter()
        .map(|host| Ipv4Addr::new(172, 16, 0, host))
        .collect()
}

fn dns_of(lease: &Lease) -> BTreeSet<Ipv4Addr> {
    lease.dns.iter().copied().collect()
}

fn lease_now<'c>(
    container: &'c Container,
    dir: &std::path::Path,
    name: &str,
) -> (DhcpClient<'c>, Lease) {
    let client = DhcpClient::start(
        ClientKind::Udhcpc,
        container,
        dir,
        &ClientOptions::hostname(name),
    )
    .expect("start udhcpc");
    let lease = client
        .wait_lease(LEASE_WAIT)
        .unwrap_or_else(|error| panic!("{error}\n{}", client.log()));
    (client, lease)
}

/// Twenty brand-new clusters, each leasing a client the moment every node
/// says it is ready: every ACK names all three bridge addresses. Every other
/// round the peers are written without `bridge=`, so the nodes learn the
/// others' addresses only as they register, and readiness must wait for it.
#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn every_first_lease_after_a_start_names_every_host() {
    netns::require("dns servers after start", TOOLS);
    let work = tempfile::TempDir::new().expect("client dir");
    for (round, peers_without_bridge) in [(0, false), (1, true)] {
        let options = TestbedOptions {
            peers_without_bridge,
            ..TestbedOptions::default()
        };
        let tag = if peers_without_bridge { "dsl" } else { "dsb" };
        let mut cluster = TestbedCluster::start_with(crate::binary(), tag, 3, &options);
        let container = cluster
            .testbed
            .add_container(3, "c", &format!("02:42:ac:10:07:0{round}"))
            .expect("container");
        for start in 0..10 {
            if start > 0 {
                cluster.restart_fresh();
            }
            cluster.wait_reported_ready(READY_WAIT);
            let dir = work.path().join(format!("{tag}{start}"));
            let (mut client, lease) = lease_now(&container, &dir, "first");
            assert_eq!(
                dns_of(&lease),
                bridges(1..=3),
                "start {start} (peers without bridge=: {peers_without_bridge}): {lease:?}\n{}",
                cluster.logs()
            );
            client.stop();
        }
        let status = cluster.status(1).expect("status");
        let listed: BTreeSet<Ipv4Addr> = status["dns_servers"]
            .as_array()
            .expect("dns_servers in status")
            .iter()
            .filter_map(|a| a.as_str()?.parse().ok())
            .collect();
        assert_eq!(listed, bridges(1..=3), "{status}");
        // Each node lists its own host first: the nearest server for its clients.
        assert_eq!(status["dns_servers"][0], "172.16.0.1", "{status}");
    }
}

/// Without `bridge=` in the peers, a follower that has not heard the others
/// register is not ready and its log says which hosts are missing.
#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn a_node_that_misses_a_hosts_address_is_not_ready_and_says_why() {
    netns::require("dns servers incomplete", TOOLS);
    let options = TestbedOptions {
        peers_without_bridge: true,
        ..TestbedOptions::default()
    };
    // Host 3 never starts: nodes 1 and 2 form a quorum but cannot know
    // 172.16.0.3 until it registers.
    let mut cluster = TestbedCluster::prepare_with(crate::binary(), "dsm", 3, &options);
    cluster.start_node(1);
    cluster.start_node(2);
    // Node 2 registers its own address; node 3's stays unknown.
    let only_three_missing = netns::wait_until(READY_WAIT, Duration::from_millis(100), || {
        [1, 2].iter().all(|host| {
            cluster.status(*host).is_some_and(|s| {
                s["has_quorum"] == true
                    && s["initialized"] == true
                    && s["dns_servers_missing"] == serde_json::json!([3])
            })
        })
    });
    assert!(
        only_three_missing,
        "nodes 1 and 2 never agreed that only node 3 is missing: {:?} {:?}\n{}",
        cluster.status(1),
        cluster.status(2),
        cluster.logs()
    );
    for host in [1, 2] {
        assert!(
            !cluster.reports_ready(host),
            "node {host} ready without node 3's address"
        );
    }
    let container = cluster
        .testbed
        .add_container(1, "c", "02:42:ac:10:07:10")
        .expect("container");
    let work = tempfile::TempDir::new().expect("client dir");
    let client = DhcpClient::start(
        ClientKind::Udhcpc,
        &container,
        work.path(),
        &ClientOptions::hostname("early"),
    )
    .expect("start udhcpc");
    assert!(
        client.wait_lease(Duration::from_secs(3)).is_err(),
        "a lease was granted with an incomplete DNS server list: {:?}",
        client.events()
    );
    let logs = cluster.logs();
    assert!(
        logs.contains("dhcp waits") && logs.contains("node 3 (10.99.0.3:7380)"),
        "{logs}"
    );

    cluster.start_node(3);
    cluster.wait_reported_ready(READY_WAIT);
    let lease = client
        .wait_lease(LEASE_WAIT)
        .unwrap_or_else(|error| panic!("{error}\n{}", client.log()));
    assert_eq!(dns_of(&lease), bridges(1..=3), "{lease:?}");
}

/// A fourth host joins: new leases and renewals name four; it is removed:
/// they name three again.
#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn the_list_follows_hosts_that_join_and_leave() {
    netns::require("dns servers follow membership", TOOLS);
    let options = TestbedOptions {
        members: Some(3),
        ..TestbedOptions::default()
    };
    let mut cluster = TestbedCluster::prepare_with(crate::binary(), "dsj", 4, &options);
    for host in 1..=3 {
        cluster.start_node(host);
    }
    cluster.wait_reported_ready(READY_WAIT);
    let work = tempfile::TempDir::new().expect("client dir");
    let early = cluster
        .testbed
        .add_container(2, "a", "02:42:ac:10:07:20")
        .expect("container");
    let (mut early_client, lease) = lease_now(&early, work.path(), "early");
    assert_eq!(dns_of(&lease), bridges(1..=3), "{lease:?}");

    cluster.start_node(4);
    let voter = netns::wait_until(READY_WAIT, Duration::from_millis(100), || {
        cluster.status(1).is_some_and(|status| {
            status["members"].as_array().is_some_and(|members| {
                members
                    .iter()
                    .any(|m| m["id"] == 4 && m["role"] != "learner")
            }) && status["dns_servers"]
                .as_array()
                .is_some_and(|list| list.len() == 4)
        })
    });
    assert!(voter, "node 4 did not join\n{}", cluster.logs());
    cluster.wait_reported_ready(READY_WAIT);

    let joined = cluster
        .testbed
        .add_container(3, "b", "02:42:ac:10:07:21")
        .expect("container");
    let (mut joined_client, lease) = lease_now(&joined, work.path(), "joined");
    assert_eq!(dns_of(&lease), bridges(1..=4), "new lease: {lease:?}");
    let renewed = early_client
        .renew(LEASE_WAIT)
        .unwrap_or_else(|error| panic!("{error}\n{}", early_client.log()));
    assert_eq!(dns_of(&renewed), bridges(1..=4), "renewal: {renewed:?}");

    let removed = cluster.testbed.host(1).exec(&[
        "curl",
        "-sf",
        "--max-time",
        "10",
        "-H",
        &raftmasq_tests::testbed_cluster::bearer(),
        "-X",
        "DELETE",
        "http://127.0.0.1:7381/api/v1/members/4",
    ]);
    assert!(removed.is_ok(), "remove node 4: {removed:?}");
    cluster.kill_node(4);
    let three = netns::wait_until(READY_WAIT, Duration::from_millis(100), || {
        cluster.status(1).is_some_and(|status| {
            status["dns_servers"]
                .as_array()
                .is_some_and(|l| l.len() == 3)
        })
    });
    assert!(three, "node 4 still listed\n{}", cluster.logs());

    let late = cluster
        .testbed
        .add_container(1, "c", "02:42:ac:10:07:22")
        .expect("container");
    let (_late_client, lease) = lease_now(&late, work.path(), "late");
    assert_eq!(
        dns_of(&lease),
        bridges(1..=3),
        "new lease after removal: {lease:?}"
    );
    let renewed = joined_client
        .renew(LEASE_WAIT)
        .unwrap_or_else(|error| panic!("{error}\n{}", joined_client.log()));
    assert_eq!(
        dns_of(&renewed),
        bridges(1..=3),
        "renewal after removal: {renewed:?}"
    );
    early_client.stop();
}
