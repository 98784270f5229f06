//! dhcpcd as a DHCPv6 client (`[ipv6] mode = "stateful"`) on the netns
//! testbed: two containers on different hosts run dhcpcd 9 dual stack
//! (DHCPv4 for the host name, DHCPv6 IA_NA for the address), each under
//! `unshare -m` with a private `/run` and `/var/lib/dhcpcd`
//! (`raftmasq_tests::clients6`). Each gets its own address from the range,
//! dhcpcd puts it on `eth0`, and every host answers AAAA and ip6.arpa PTR
//! for both names. (Debian's busybox has no `udhcpc6`: see `clients6`.)

use std::net::Ipv6Addr;
use std::time::Duration;

use raftmasq_tests::clients6::{Client6Kind, Dhcp6Client, Event6};
use raftmasq_tests::dig::dig_short;
use raftmasq_tests::netns::{self, Container, wait_until};
use raftmasq_tests::testbed_cluster::TestbedCluster;

use crate::dhcp6::{enable_ipv6, in_range, stateful_options};

const TOOLS: &[&str] = &["ip", "bridge", "curl", "dhcpcd", "unshare", "dig", "sysctl"];
const LEASE_WAIT: Duration = Duration::from_secs(30);

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn dhcpcd_gets_unique_v6_leases_named_in_dns_on_every_host() {
    netns::require("dhcpv6 with dhcpcd", TOOLS);
    let cluster = TestbedCluster::start_with(crate::binary(), "c6", 3, &stateful_options("1h"));
    cluster.wait_ready(Duration::from_secs(30));
    let work = tempfile::TempDir::new().expect("client dir");
    let containers: Vec<Container> = [(1u8, "c6one", 1u8), (3, "c6three", 3)]
        .iter()
        .map(|(host, name, n)| {
            cluster
                .testbed
                .add_container(*host, name, &format!("02:42:ac:17:00:{n:02x}"))
                .expect("container")
        })
        .collect();
    let mut clients = Vec::new();
    for container in &containers {
        enable_ipv6(container);
        clients.push(
            Dhcp6Client::start(Client6Kind::Dhcpcd, container, work.path(), &container.name)
                .expect("dhcpcd"),
        );
    }
    let addresses: Vec<Ipv6Addr> = clients
        .iter()
        .map(|client| {
            let event: Event6 = client
                .wait_lease(LEASE_WAIT)
                .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
            event.address.expect("address")
        })
        .collect();
    assert_ne!(addresses[0], addresses[1], "one address for two clients");
    for (container, address) in containers.iter().zip(&addresses) {
        assert!(in_range(*address), "{address} outside the range");
        // dhcpcd configures the leased address itself.
        let on_link = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
            container
                .exec(&["ip", "-6", "addr", "show", "dev", "eth0", "scope", "global"])
                .is_ok_and(|out| out.contains(&format!("{address}/")))
        });
        assert!(on_link, "{address} not on eth0 of {}", container.name);
    }

    for (container, address) in containers.iter().zip(&addresses) {
        let name = format!("{}.lxd", container.name);
        let address = address.to_string();
        for host in 1..=3 {
            let server = format!("172.16.0.{host}");
            let found = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
                dig_short(&container.netns, &server, &["AAAA", &name]).trim() == address
            });
            assert!(
                found,
                "host {host} has no AAAA {address} for {name}: {:?}\n{}",
                dig_short(&container.netns, &server, &["AAAA", &name]),
                cluster.logs()
            );
            let ptr = dig_short(&container.netns, &server, &["-x", &address]);
            assert_eq!(
                ptr.trim(),
                format!("{name}."),
                "host {host} PTR of {address}"
            );
        }
    }
    for client in &mut clients {
        client.stop();
    }
}
