//! IPv6 end to end on the netns testbed: every host sends router
//! advertisements for the bridge's /64; containers form EUI-64 addresses by
//! SLAAC, `rdisc6` sees the prefix, RDNSS, DNSSL and MTU from all three
//! hosts; every host answers AAAA and ip6.arpa PTR for a leased container;
//! containers on host 1 and host 3 ping each other over the overlay; with a
//! node killed (-9), the other hosts keep advertising and clients keep a
//! default router; a node stopped cleanly withdraws as a router at once.

use std::time::Duration;

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::dig::dig_short;
use raftmasq_tests::netns::{self, Container, wait_until};
use raftmasq_tests::testbed_cluster::{
    TestbedCluster, TestbedOptions, bridge_link_local, ipv6_address, slaac_address,
};

const TOOLS: &[&str] = &[
    "ip", "bridge", "curl", "udhcpc", "dig", "rdisc6", "ping", "sysctl",
];
const LEASE_WAIT: Duration = Duration::from_secs(20);
const SLAAC_WAIT: Duration = Duration::from_secs(30);

/// Turns IPv6 back on in a testbed container (it starts with it off), with
/// EUI-64 addresses (`addr_gen_mode=0`) and router advertisements accepted.
pub(crate) fn enable_slaac(container: &Container) {
    for setting in [
        "net.ipv6.conf.eth0.addr_gen_mode=0",
        "net.ipv6.conf.eth0.accept_ra=1",
        "net.ipv6.conf.eth0.accept_dad=0",
        "net.ipv6.conf.all.disable_ipv6=0",
        "net.ipv6.conf.eth0.disable_ipv6=0",
    ] {
        container
            .exec(&["sysctl", "-q", "-w", setting])
            .unwrap_or_else(|e| panic!("sysctl {setting}: {e}"));
    }
}

fn global_addresses(container: &Container) -> String {
    container
        .exec(&["ip", "-6", "addr", "show", "dev", "eth0", "scope", "global"])
        .unwrap_or_default()
}

/// `rdisc6`'s report of every advertisement answering one solicitation,
/// runs of spaces collapsed to one.
fn solicit(container: &Container) -> String {
    let text = container
        .exec(&["rdisc6", "-m", "-n", "-w", "1500", "eth0"])
        .expect("rdisc6");
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The reports of up to MAX_RTR_SOLICITATIONS (3, RFC 4861 §10)
/// solicitations, stopping once every one of `hosts` has answered. One
/// answer can miss rdisc6's 1.5 s window on a loaded machine (seen once in
/// CI: host 1's, with hosts 2 and 3 heard); a client retries as the RFC
/// has it, and so does this, while a host that never answers still fails.
pub(crate) fn solicit_until_heard(container: &Container, hosts: &[u8]) -> String {
    let mut seen = String::new();
    for _ in 0..3 {
        seen.push_str(&solicit(container));
        seen.push('\n');
        if hosts
            .iter()
            .all(|host| seen.contains(&format!("from {}", bridge_link_local(*host))))
        {
            break;
        }
    }
    seen
}

/// The value of the series `prefix` (name, labels, space) on `host`'s node.
pub(crate) fn counter(cluster: &TestbedCluster, host: u8, prefix: &str) -> u64 {
    cluster
        .get_text(host, "/metrics")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .map_or(0, |value| value.trim().parse().unwrap_or(0))
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn containers_get_slaac_addresses_names_and_routers_that_survive_a_dead_host() {
    netns::require("ipv6 router advertisements", TOOLS);
    let options = TestbedOptions {
        ipv6: true,
        ..TestbedOptions::default()
    };
    let mut cluster = TestbedCluster::start_with(crate::binary(), "v6", 3, &options);
    cluster.wait_ready(Duration::from_secs(30));
    let work = tempfile::TempDir::new().expect("client dir");

    let macs = [
        [0x02, 0x42, 0xac, 0x10, 0x01, 0x01],
        [0x02, 0x42, 0xac, 0x10, 0x03, 0x03],
    ];
    let mac_text = |mac: [u8; 6]| {
        mac.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let c1 = cluster
        .testbed
        .add_container(1, "web1", &mac_text(macs[0]))
        .expect("container on host 1");
    let c3 = cluster
        .testbed
        .add_container(3, "web3", &mac_text(macs[1]))
        .expect("container on host 3");
    let clients: Vec<DhcpClient> = [(&c1, "web1"), (&c3, "web3")]
        .into_iter()
        .map(|(container, name)| {
            let client = DhcpClient::start(
                ClientKind::Udhcpc,
                container,
                work.path(),
                &ClientOptions::hostname(name),
            )
            .expect("udhcpc");
            client
                .wait_lease(LEASE_WAIT)
                .unwrap_or_else(|e| panic!("{name}: {e}\n{}\n{}", client.log(), cluster.logs()));
            client
        })
        .collect();

    // SLAAC: each container forms its EUI-64 address from the advertised prefix.
    for container in [&c1, &c3] {
        enable_slaac(container);
    }
    let expected = [
        slaac_address(&mac_text(macs[0])),
        slaac_address(&mac_text(macs[1])),
    ];
    for (container, address) in [(&c1, &expected[0]), (&c3, &expected[1])] {
        let formed = wait_until(SLAAC_WAIT, Duration::from_millis(200), || {
            global_addresses(container).contains(&format!("{address}/64"))
        });
        assert!(
            formed,
            "no SLAAC address {address} within {SLAAC_WAIT:?}: {}\n{}",
            global_addresses(container),
            cluster.logs()
        );
    }

    // rdisc6 solicits; every host answers with prefix, RDNSS, DNSSL and MTU.
    let seen = solicit_until_heard(&c1, &[1, 2, 3]);
    for needle in [
        "Prefix : fd42:1::/64".to_string(),
        "DNS search list : lxd".to_string(),
        "MTU : 1450 bytes".to_string(),
    ] {
        assert!(seen.contains(&needle), "rdisc6 lacks {needle:?}:\n{seen}");
    }
    for host in 1..=3u8 {
        assert!(
            seen.contains(&format!("from {}", bridge_link_local(host))),
            "no advertisement from host {host}:\n{seen}"
        );
        assert!(
            seen.contains(&format!("Recursive DNS server : {}", ipv6_address(host))),
            "host {host} does not name itself as RDNSS:\n{seen}"
        );
    }
    println!("rdisc6 from web1:\n{seen}");

    // Names: AAAA and PTR on every host, over IPv4 and over IPv6.
    for host in 1..=3u8 {
        let ns = &cluster.testbed.host(host).netns;
        let server = format!("10.99.0.{host}");
        assert_eq!(
            dig_short(ns, &server, &["AAAA", "web3.lxd"]),
            expected[1],
            "host {host}"
        );
        assert_eq!(
            dig_short(ns, &server, &["AAAA", "web1.lxd"]),
            expected[0],
            "host {host}"
        );
        assert_eq!(
            dig_short(ns, &server, &["-x", &expected[1]]),
            "web3.lxd.",
            "host {host}"
        );
        // One name, one owner: web1's A is its v4 lease, its AAAA its own MAC's.
        let a = dig_short(ns, &server, &["A", "web1.lxd"]);
        assert!(a.starts_with("172.16."), "host {host}: {a}");
    }
    assert_eq!(
        dig_short(&c1.netns, &ipv6_address(3), &["AAAA", "web3.lxd"]),
        expected[1],
        "DNS over IPv6 from a container to host 3's RDNSS address"
    );

    // The overlay carries IPv6 between hosts.
    let ping = |from: &Container, to: &str| {
        from.output(&["ping", "-6", "-c", "2", "-W", "2", to])
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    assert!(
        wait_until(
            Duration::from_secs(10),
            Duration::from_millis(200),
            || ping(&c1, &expected[1])
        ),
        "web1 (host 1) cannot ping6 web3 (host 3) at {}",
        expected[1]
    );

    for host in 1..=3u8 {
        let sent = counter(
            &cluster,
            host,
            "raftmasq_ra_sent_total{destination=\"multicast\"} ",
        );
        assert!(sent > 0, "host {host} sent no multicast advertisement");
    }
    let answered: u64 = (1..=3u8)
        .map(|host| {
            counter(
                &cluster,
                host,
                "raftmasq_ra_solicitations_total{outcome=\"scheduled\"} ",
            )
        })
        .sum();
    assert!(answered > 0, "no solicitation was answered");

    // Host 1's node dies (kill -9: no final advertisement). Hosts 2 and 3
    // keep advertising; web1 keeps a default router and its address.
    cluster.kill_node(1);
    let after = solicit_until_heard(&c1, &[2, 3]);
    assert!(
        !after.contains(&format!("from {}", bridge_link_local(1))),
        "{after}"
    );
    for host in 2..=3u8 {
        assert!(
            after.contains(&format!("from {}", bridge_link_local(host))),
            "host {host} stopped advertising after host 1 died:\n{after}"
        );
    }
    // Wait past several advertisement intervals: the default routes via the
    // live hosts are refreshed, the address stays.
    std::thread::sleep(Duration::from_secs(9));
    let routes = c1
        .exec(&["ip", "-6", "route", "show", "default"])
        .unwrap_or_default();
    for host in 2..=3u8 {
        assert!(
            routes.contains(&bridge_link_local(host)),
            "no default route via host {host}: {routes}"
        );
    }
    assert!(global_addresses(&c1).contains(&expected[0]));
    for host in 2..=3u8 {
        let ns = &cluster.testbed.host(host).netns;
        assert_eq!(
            dig_short(ns, &format!("10.99.0.{host}"), &["AAAA", "web1.lxd"]),
            expected[0],
            "host {host} after host 1 died"
        );
    }
    println!("default routes of web1 with host 1's node dead:\n{routes}");

    // A clean stop (SIGTERM) of host 2's node ends with an advertisement of
    // router lifetime 0 (RFC 4861 §6.2.5): web1 drops host 2 as a default
    // router at once instead of after the lifetime; host 3 stays.
    cluster.terminate_node(2);
    assert!(
        cluster.wait_node_exit(2, Duration::from_secs(10)),
        "node 2 did not stop"
    );
    let routes_now = || {
        c1.exec(&["ip", "-6", "route", "show", "default"])
            .unwrap_or_default()
    };
    assert!(
        wait_until(Duration::from_secs(3), Duration::from_millis(100), || {
            !routes_now().contains(&bridge_link_local(2))
        }),
        "host 2 is still a default router after its node stopped: {}",
        routes_now()
    );
    assert!(
        routes_now().contains(&bridge_link_local(3)),
        "{}",
        routes_now()
    );
    drop(clients);
}
