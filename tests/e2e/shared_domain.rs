//! Two networks in one domain on the netns testbed: `lxdbr0` (network
//! `default`) and `lxdbr1` (network `lab`, its own subnet 172.20.0/24) both
//! under the cluster's domain `lxd`, as LXD users have them. Names are
//! unique per domain across both: real clients on each bridge asking for
//! `c1` get `c1` and `c1-2` (suffix policy), every host answers both from
//! the one `lxd` zone, and each PTR from its own subnet's reverse zone.

use std::fs;
use std::time::Duration;

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::dig::dig;
use raftmasq_tests::dnsprobe;
use raftmasq_tests::netns::{self, wait_until};
use raftmasq_tests::second_bridge;
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions, lease_for_mac};

use crate::binary;
use crate::networks::{LAB, add_lab_network};

const TOOLS: &[&str] = &["ip", "bridge", "curl", "udhcpc", "dig"];
const LEASE_WAIT: Duration = Duration::from_secs(30);
const READY_WAIT: Duration = Duration::from_secs(30);

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn two_bridges_in_one_domain_suffix_a_name_across_networks() {
    netns::require(
        "two_bridges_in_one_domain_suffix_a_name_across_networks",
        TOOLS,
    );
    let mut cluster = TestbedCluster::prepare_with(binary(), "sd", 3, &TestbedOptions::default());
    second_bridge::add(&cluster.testbed, &LAB).expect("second bridge");
    add_lab_network(&cluster, 3);
    // `lab` is the last table of each file: its domain is the cluster's.
    for host in 1..=3 {
        let path = cluster.config_path(host);
        let mut text = fs::read_to_string(&path).expect("config");
        text.push_str("domain = \"lxd\"\n");
        fs::write(&path, text).expect("config");
    }
    for host in 1..=3 {
        cluster.start_node(host);
    }
    cluster.wait_ready(READY_WAIT);
    let work = tempfile::TempDir::new().expect("work dir");

    // One after the other, so `c1` on lxdbr0 is the first holder.
    let clients = [
        (1u8, "lxdbr0", "02:42:ac:10:01:0c"),
        (2u8, LAB.name, "02:42:ac:14:02:0c"),
    ];
    let containers: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, &(host, bridge, mac))| {
            cluster
                .testbed
                .add_container_on(host, bridge, &format!("s{i}"), mac)
                .expect("container")
        })
        .collect();
    let mut running = Vec::new();
    let mut leases = Vec::new();
    for container in &containers {
        let client = DhcpClient::start(
            ClientKind::Udhcpc,
            container,
            work.path(),
            &ClientOptions::hostname("c1"),
        )
        .expect("client");
        let lease = client
            .wait_lease(LEASE_WAIT)
            .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
        assert_eq!(lease.domain.as_deref(), Some("lxd"), "option 15");
        leases.push(lease.address.expect("address"));
        running.push(client);
    }
    assert!(leases[0].octets()[..2] == [172, 16], "{}", leases[0]);
    assert!(leases[1].octets()[..3] == [172, 20, 0], "{}", leases[1]);

    // The cluster's view: one c1 per domain, the second one suffixed.
    let listed = cluster.wait_converged(Duration::from_secs(10));
    for ((_, _, mac), (network, name)) in clients.iter().zip([("default", "c1"), ("lab", "c1-2")]) {
        let entry =
            lease_for_mac(&listed, mac).unwrap_or_else(|| panic!("{mac} not listed: {listed:?}"));
        assert_eq!(entry["network"], network, "{entry}");
        assert_eq!(entry["granted_name"], name, "{entry}");
    }

    // Every host answers both names from the one `lxd` zone and each PTR
    // from its subnet's reverse zone.
    let reverse: Vec<String> = leases.iter().map(|a| dnsprobe::reverse_name(*a)).collect();
    let questions = [
        ("c1.lxd", "A"),
        ("c1-2.lxd", "A"),
        (reverse[0].as_str(), "PTR"),
        (reverse[1].as_str(), "PTR"),
    ];
    for host in 1..=3u8 {
        let server = format!("10.99.0.{host}");
        let mut last = String::new();
        // A follower may apply the last lease a moment after the client saw it.
        let answered = wait_until(Duration::from_secs(5), Duration::from_millis(200), || {
            let Ok(replies) = dig(
                &cluster.testbed.host(host).netns,
                &server,
                &["+norec"],
                &questions,
            ) else {
                return false;
            };
            last = format!("{replies:#?}");
            replies.iter().all(|r| r.has_flag("aa"))
                && replies[0].data("A") == [leases[0].to_string()]
                && replies[1].data("A") == [leases[1].to_string()]
                && replies[2].data("PTR") == ["c1.lxd."]
                && replies[3].data("PTR") == ["c1-2.lxd."]
        });
        assert!(
            answered,
            "host {host} did not answer the shared zone: {last}"
        );
    }
    drop(running);
}
