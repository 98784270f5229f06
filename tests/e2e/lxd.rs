//! Real LXD daemons, one per testbed host (issue 14): instances started with
//! `lxc launch` get their leases from raftmasq and resolve by name on every
//! host, in both deployment modes.

use std::time::Duration;

use raftmasq_tests::dig::dig;
use raftmasq_tests::lxd::{self, BridgeMode, LxdHost};
use raftmasq_tests::netns;
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions, lease_for_mac};

/// A three-host cluster with an LXD daemon per host; the nodes start after
/// LXD has made (or attached to) each host's bridge.
fn lxd_cluster(tag: &str, mode: BridgeMode) -> (Vec<LxdHost>, TestbedCluster) {
    let mut cluster =
        TestbedCluster::prepare_with(crate::binary(), tag, 3, &TestbedOptions::default());
    let image = lxd::build_image(cluster.dir.path()).expect("busybox image");
    let hosts: Vec<LxdHost> = (1..=3)
        .map(|i| {
            LxdHost::start(cluster.testbed.host(i), cluster.dir.path(), &image, mode)
                .unwrap_or_else(|e| panic!("LXD on h{i}: {e}"))
        })
        .collect();
    for i in 1..=3 {
        cluster.start_node(i);
    }
    cluster.wait_ready(Duration::from_secs(30));
    (hosts, cluster)
}

fn launched_instances_get_leases_and_names(tag: &str, mode: BridgeMode) {
    netns::require(&format!("lxd {mode:?}"), lxd::TOOLS);
    let (hosts, cluster) = lxd_cluster(tag, mode);
    let mut bound = Vec::new();
    for lxd in &hosts {
        let name = format!("c{}", lxd.host);
        lxd.launch(&name, &[]).expect("lxc launch");
        let mac = lxd.mac(&name).expect("MAC");
        let address = lxd
            .dhcp(&name, Some(&name))
            .unwrap_or_else(|e| panic!("udhcpc in {name}: {e}\n{}", cluster.logs()));
        assert_eq!(
            lxd.addresses(&name).expect("addresses"),
            vec![address.clone()]
        );
        bound.push((name, mac, address));
    }
    let leases = cluster.wait_converged(Duration::from_secs(10));
    for (name, mac, address) in &bound {
        let lease = lease_for_mac(&leases, mac)
            .unwrap_or_else(|| panic!("no lease for {name} ({mac}): {leases:?}"));
        assert_eq!(lease["address"].as_str(), Some(address.as_str()), "{lease}");
        for host in cluster.testbed.hosts() {
            let replies = dig(
                &host.netns,
                &host.bridge_address(),
                &[],
                &[(&format!("{name}.lxd"), "A")],
            )
            .expect("dig");
            assert_eq!(
                replies[0].data("A"),
                vec![address.clone()],
                "{name}.lxd on h{}",
                host.index
            );
        }
    }
    // Containers on different hosts reach each other over the overlay.
    let (_, _, third) = &bound[2];
    hosts[0]
        .exec("c1", &["ping", "-c", "1", "-W", "2", third])
        .expect("c1 pings c3 across hosts");
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn lxd_unmanaged_bridge_instances_get_leases_and_names() {
    launched_instances_get_leases_and_names("lxb", BridgeMode::Unmanaged);
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn lxd_managed_bridge_instances_get_leases_and_names() {
    launched_instances_get_leases_and_names("lxa", BridgeMode::Managed);
}

/// A DNS server already on the bridge address (LXD's dnsmasq without
/// `raw.dnsmasq=port=0`): raftmasq does not start, and says who holds the
/// port and how to free it.
#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn lxd_port_53_clash_names_the_holder_and_the_fix() {
    netns::require("lxd port clash", &["ip", "dnsmasq"]);
    let mut cluster =
        TestbedCluster::prepare_with(crate::binary(), "lxp", 1, &TestbedOptions::default());
    let host = cluster.testbed.host(1);
    let log = cluster.dir.path().join("dnsmasq.log");
    // As LXD runs it with dns.mode=none: DNS on the bridge address, no DHCP.
    let mut dnsmasq = host
        .spawn(
            &[
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--bind-interfaces",
                "--listen-address=172.16.0.1",
                "--except-interface=lo",
                "--no-resolv",
                "--no-hosts",
                "--pid-file=",
            ],
            &log,
        )
        .expect("dnsmasq");
    let bound = netns::wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        host.exec(&["ss", "-lnu", "sport", "=", ":53"])
            .is_ok_and(|out| out.contains("172.16.0.1:53"))
    });
    assert!(bound, "dnsmasq did not bind: {}", dnsmasq.log_text());
    let pid = dnsmasq.pid().expect("dnsmasq pid");
    cluster.start_node(1);
    let exited = netns::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        !cluster.node_running(1)
    });
    let log = cluster.logs();
    assert!(exited, "raftmasq kept running with port 53 taken:\n{log}");
    assert!(
        log.contains(&format!(
            "172.16.0.1:53/udp is in use: held by dnsmasq (pid {pid})"
        )),
        "{log}"
    );
    assert!(
        log.contains("lxc network set lxdbr0 raw.dnsmasq port=0"),
        "{log}"
    );
    dnsmasq.kill();
}
