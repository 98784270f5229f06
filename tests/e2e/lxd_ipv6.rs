//! The quickstart's IPv6 section with a real LXD (issue 16): LXD's managed
//! bridge gets its IPv6 address from the quickstart's own `ipv6-a` block,
//! its dnsmasq stays silent on it, and an instance forms its SLAAC address
//! from raftmasq's advertisements; that address is the AAAA (and PTR) of the
//! instance's name on every host, and it reaches the other hosts' bridges
//! over the overlay.

use std::path::PathBuf;
use std::time::Duration;

use raftmasq_tests::dig::dig_short;
use raftmasq_tests::lxd::{self, BridgeMode, LxdHost};
use raftmasq_tests::netns::{self, wait_until};
use raftmasq_tests::testbed_cluster::{
    TestbedCluster, TestbedOptions, bridge_link_local, ipv6_address, slaac_address,
};

use crate::cutover::{quickstart_blocks, run_block};

const SLAAC_WAIT: Duration = Duration::from_secs(30);

/// The instance's init PID, for tools run in its network namespace.
fn instance_pid(lxd: &LxdHost, name: &str) -> String {
    let pid = lxd
        .lxc(&["list", name, "-c", "p", "-f", "csv"])
        .expect("lxc list");
    let pid = pid.trim().to_string();
    assert!(pid.parse::<u32>().is_ok(), "no PID for {name}: {pid:?}");
    pid
}

/// `rdisc6` in the instance's namespace: every advertisement it receives
/// within 3 s of one solicitation, spaces collapsed.
fn solicit_from(lxd: &LxdHost, name: &str) -> String {
    let pid = instance_pid(lxd, name);
    let output = std::process::Command::new("nsenter")
        .args(["-t", &pid, "-n", "rdisc6", "-m", "-n", "-w", "3000", "eth0"])
        .output()
        .expect("nsenter rdisc6");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn lxd_managed_bridge_keeps_ipv6_by_the_quickstart() {
    let mut tools = lxd::TOOLS.to_vec();
    tools.extend(["rdisc6", "nsenter", "sysctl", "sh", "timeout"]);
    netns::require("LXD IPv6 from the quickstart", &tools);
    let options = TestbedOptions {
        ipv6: true,
        ..TestbedOptions::default()
    };
    let mut cluster = TestbedCluster::prepare_with(crate::binary(), "lxv6", 3, &options);
    let dir = cluster.dir.path().to_path_buf();
    let image = lxd::build_image(&dir).expect("busybox image");
    // LXD on host 1 makes its own bridge (no IPv6); hosts 2 and 3 are plain.
    let lxd = LxdHost::start(cluster.testbed.host(1), &dir, &image, BridgeMode::Managed)
        .unwrap_or_else(|e| panic!("LXD on h1: {e}"));
    let blocks = quickstart_blocks();
    let mut env = vec![
        ("N", PathBuf::from("1")),
        ("BACKUP", dir.join("backup")),
        ("RAFTMASQ_CONFIG", cluster.config_path(1)),
    ];
    env.extend(lxd.client_env());
    run_block(&blocks, "ipv6-a", cluster.testbed.host(1), &env);
    let h1 = &cluster.testbed.host(1).netns;
    let bridge = h1
        .exec(&[
            "ip", "-6", "addr", "show", "dev", "lxdbr0", "scope", "global",
        ])
        .expect("ip addr");
    assert!(
        bridge.contains(&format!("{}/64", ipv6_address(1))),
        "{bridge}"
    );
    let accept_ra = h1
        .exec(&["sysctl", "-n", "net.ipv6.conf.lxdbr0.accept_ra"])
        .expect("sysctl");
    assert_eq!(accept_ra.trim(), "0");

    for host in 1..=3 {
        cluster.start_node(host);
    }
    cluster.wait_ready(Duration::from_secs(30));

    lxd.launch("c1", &[]).expect("launch c1");
    let mac = lxd.mac("c1").expect("MAC");
    lxd.dhcp("c1", Some("c1"))
        .unwrap_or_else(|e| panic!("udhcpc in c1: {e}\n{}", cluster.logs()));
    let expected = slaac_address(&mac);
    let mut formed = String::new();
    let slaac = wait_until(SLAAC_WAIT, Duration::from_millis(200), || {
        formed = lxd
            .exec(
                "c1",
                &["ip", "-6", "addr", "show", "dev", "eth0", "scope", "global"],
            )
            .unwrap_or_default();
        formed.contains(&format!("{expected}/64"))
    });
    assert!(
        slaac,
        "c1 formed no {expected}/64 within {SLAAC_WAIT:?}: {formed}\n{}\n{}",
        lxd.daemon_log(),
        cluster.logs()
    );

    // The name's AAAA and PTR are that address, on every host.
    for host in 1..=3u8 {
        let ns = &cluster.testbed.host(host).netns;
        let server = format!("10.99.0.{host}");
        assert_eq!(
            dig_short(ns, &server, &["AAAA", "c1.lxd"]),
            expected,
            "h{host}"
        );
        assert_eq!(
            dig_short(ns, &server, &["-x", &expected]),
            "c1.lxd.",
            "h{host}"
        );
    }
    // Over the overlay: host 3's bridge answers the instance.
    lxd.exec(
        "c1",
        &["ping", "-6", "-c", "2", "-W", "2", &ipv6_address(3)],
    )
    .unwrap_or_else(|e| panic!("c1 cannot ping6 host 3: {e}"));

    // Every host advertises; with raftmasq on host 1 killed, nothing on host
    // 1 does: LXD's dnsmasq sends no advertisement of its own.
    let seen = solicit_from(&lxd, "c1");
    for host in 1..=3 {
        assert!(
            seen.contains(&format!("from {}", bridge_link_local(host))),
            "no advertisement from host {host}:\n{seen}"
        );
    }
    cluster.kill_node(1);
    let seen = solicit_from(&lxd, "c1");
    assert!(
        !seen.contains(&format!("from {}", bridge_link_local(1))),
        "host 1 still advertises with raftmasq dead (LXD's dnsmasq?):\n{seen}\n{}",
        lxd.daemon_log()
    );
    assert!(
        seen.contains(&format!("from {}", bridge_link_local(2))),
        "host 2 stopped advertising:\n{seen}"
    );
}
