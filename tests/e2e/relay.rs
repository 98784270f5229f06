//! A routed host behind a real relay (issue 17, item 3): host 4 is on the
//! underlay but not on the shared L2 overlay; its bridge `rbr0` is subnet
//! 172.31.0.0/24, a relay-only network of the three-host cluster (no
//! `interface`, `address` = each host's underlay address). Debian's
//! `dhcrelay` on host 4 relays its containers' broadcasts to all three
//! hosts' underlay addresses; a real udhcpc there must get a lease from that
//! network's pool, named by the leader, and renew it by unicast straight to
//! its server identifier over the routed path (with the relay stopped, so
//! that only that path can renew it). Then `kill -9` of the leader:
//! a second client behind the relay still gets a lease, from the new leader,
//! and not the first client's address (the new leader's replica holds it).
//! Throughout, each relayed request (sent to all three hosts) is answered
//! once: followers stay silent.
//!
//! Both names are answered, A in the relayed network's domain
//! (`rack4.lxd`) and PTR in its reverse zone, by every surviving host.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient, Lease};
use raftmasq_tests::dig::dig;
use raftmasq_tests::dnsprobe;
use raftmasq_tests::netns::{self, wait_until};
use raftmasq_tests::routed_host::{self, RoutedHost};
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions};

const TOOLS: &[&str] = &["ip", "bridge", "curl", "dhcrelay", "udhcpc", "dig"];
const HOSTS: u8 = 3;
/// The routed host.
const ROUTED: u8 = 4;
const LEASE_WAIT: Duration = Duration::from_secs(30);

fn underlay(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, host)
}

fn in_pool(address: Ipv4Addr) -> bool {
    let [a, b, c, d] = address.octets();
    (a, b, c) == (172, 31, 0) && (10..=200).contains(&d)
}

/// The relay-only network as host `i` writes it: its own underlay address
/// is where relays send and what its replies name as server identifier.
fn rack_network(i: u8) -> String {
    format!(
        r#"
[[dhcp.networks]]
name = "rack4"
address = "10.99.0.{i}"
subnet = "{subnet}"
range = "172.31.0.10-172.31.0.200"
routers = ["{gateway}"]
"#,
        subnet = routed_host::SUBNET,
        gateway = routed_host::GATEWAY,
    )
}

#[track_caller]
fn assert_relayed_lease(lease: &Lease, leader: u8) -> Ipv4Addr {
    let address = lease.address.expect("an address");
    assert!(
        in_pool(address),
        "{address} is not from rack4's pool: {lease:?}"
    );
    assert_eq!(lease.server_id, Some(underlay(leader)), "{lease:?}");
    assert_eq!(
        lease.routers,
        [routed_host::GATEWAY.parse::<Ipv4Addr>().expect("gateway")],
        "{lease:?}"
    );
    assert!(
        lease.dns.contains(&underlay(leader)),
        "DNS servers are the members' underlay addresses: {lease:?}"
    );
    address
}

/// How many BOOTREQUESTs of `mac` dhcrelay forwarded to a server (one per
/// server per request) and how many BOOTREPLYs it forwarded back.
fn relayed_counts(log: &str, mac: &str) -> (usize, usize) {
    let count = |what: &str| {
        log.lines()
            .filter(|line| line.starts_with(&format!("Forwarded {what} for {mac} ")))
            .count()
    };
    (count("BOOTREQUEST"), count("BOOTREPLY"))
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn routed_host_behind_dhcrelay_gets_leases_and_keeps_getting_them_after_the_leader_dies() {
    netns::require("dhcp relay", TOOLS);
    let mut cluster =
        TestbedCluster::prepare_with(crate::binary(), "rl", HOSTS, &TestbedOptions::default());
    for i in 1..=HOSTS {
        let path = cluster.config_path(i);
        let mut text = std::fs::read_to_string(&path).expect("config");
        text.push_str(&rack_network(i));
        std::fs::write(&path, text).expect("config");
    }
    let routed = RoutedHost::build(&cluster.testbed, ROUTED).expect("routed host");
    for i in 1..=HOSTS {
        cluster.start_node(i);
    }
    let leader = u8::try_from(cluster.wait_ready(Duration::from_secs(30))).expect("host index");
    let work = tempfile::TempDir::new().expect("work dir");

    // The routed host is on no bridge of the cluster: no overlay, only the
    // underlay and its own bridge.
    let links = routed.netns.ip(["-o", "link", "show"]).expect("links");
    assert!(
        !links.contains("vx0") && !links.contains("lxdbr0"),
        "{links}"
    );

    let servers: Vec<String> = (1..=HOSTS).map(|i| underlay(i).to_string()).collect();
    let mut routed = routed;
    routed.start_relay(&servers, work.path()).expect("dhcrelay");

    let first = routed
        .add_container(&cluster.testbed, "rl1", "02:42:ac:1f:00:01")
        .expect("container");
    let mut client = DhcpClient::start(
        ClientKind::Udhcpc,
        &first,
        work.path(),
        &ClientOptions::hostname("rl1"),
    )
    .expect("udhcpc");
    let lease = client.wait_lease(LEASE_WAIT).unwrap_or_else(|e| {
        panic!(
            "{e}\nclient: {}\nrelay: {}\n{}",
            client.log(),
            routed.relay_log(),
            cluster.logs()
        )
    });
    let first_address = assert_relayed_lease(&lease, leader);
    eprintln!("dhcp relay: rl1 bound {first_address} from node {leader} through dhcrelay");

    // RENEWING: udhcpc unicasts to its server identifier, the leader's
    // underlay address, over the routed path (giaddr zero: the relay
    // listener places it by ciaddr). The relay is stopped meanwhile, so a
    // REBINDING broadcast could not be what renews it.
    assert!(routed.relay_running(), "{}", routed.relay_log());
    routed.stop_relay();
    first
        .netns
        .ip(["route", "add", "default", "via", routed_host::GATEWAY])
        .expect("default route");
    let renewed = client
        .renew(Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{e}\nclient: {}\n{}", client.log(), cluster.logs()));
    assert_eq!(renewed.address, Some(first_address), "{renewed:?}");
    assert_eq!(renewed.server_id, Some(underlay(leader)), "{renewed:?}");
    routed
        .start_relay(&servers, work.path())
        .expect("dhcrelay again");

    // kill -9 of the leader; a second client behind the relay is served by
    // the new leader.
    let second = routed
        .add_container(&cluster.testbed, "rl2", "02:42:ac:1f:00:02")
        .expect("container");
    let killed_at = Instant::now();
    cluster.kill_node(leader);
    let survivors: Vec<u8> = (1..=HOSTS).filter(|h| *h != leader).collect();
    let late = DhcpClient::start(
        ClientKind::Udhcpc,
        &second,
        work.path(),
        &ClientOptions::hostname("rl2"),
    )
    .expect("udhcpc");
    let late_lease = late.wait_lease(LEASE_WAIT).unwrap_or_else(|e| {
        panic!(
            "{e}\nclient: {}\nrelay: {}\n{}",
            late.log(),
            routed.relay_log(),
            cluster.logs()
        )
    });
    let new_leader =
        u8::try_from(cluster.wait_leader_among(&survivors, Duration::from_secs(10))).expect("id");
    let second_address = assert_relayed_lease(&late_lease, new_leader);
    eprintln!(
        "dhcp relay: rl2 bound {second_address} from node {new_leader} {:?} after kill -9 of node {leader}",
        killed_at.elapsed()
    );
    assert_ne!(
        second_address, first_address,
        "the new leader must know rl1's lease from its replica"
    );
    // Both names in the relayed network's zones, on every surviving host.
    let named = [("rl1", first_address), ("rl2", second_address)];
    for host in &survivors {
        let server = underlay(*host).to_string();
        let mut last = String::new();
        let answered = wait_until(Duration::from_secs(5), Duration::from_millis(200), || {
            let fqdns: Vec<String> = named
                .iter()
                .map(|(n, _)| format!("{n}.rack4.lxd"))
                .collect();
            let reverse: Vec<String> = named
                .iter()
                .map(|(_, a)| dnsprobe::reverse_name(*a))
                .collect();
            let mut questions: Vec<(&str, &str)> =
                fqdns.iter().map(|f| (f.as_str(), "A")).collect();
            questions.extend(reverse.iter().map(|r| (r.as_str(), "PTR")));
            let Ok(replies) = dig(
                &cluster.testbed.host(*host).netns,
                &server,
                &["+norec"],
                &questions,
            ) else {
                return false;
            };
            last = format!("{replies:#?}");
            named.iter().enumerate().all(|(i, (name, address))| {
                replies[i].data("A") == [address.to_string()]
                    && replies[named.len() + i].data("PTR") == [format!("{name}.rack4.lxd.")]
            })
        });
        assert!(
            answered,
            "host {host} does not answer rl1/rl2 in rack4.lxd: {last}"
        );
    }
    // One answer per relayed request, although each went to all three
    // hosts: only the leader answers (dhcrelay logs every datagram it
    // forwards). Before the kill, exactly one; across it, at most one (a
    // retransmission to a dead leader may go unanswered).
    let log = routed.relay_log();
    let (requests, replies) = relayed_counts(&log, &first.mac);
    assert!(
        replies >= 2,
        "rl1's OFFER and ACK came through the relay:\n{log}"
    );
    assert_eq!(
        requests,
        replies * usize::from(HOSTS),
        "rl1: one answer per request sent to {HOSTS} hosts:\n{log}"
    );
    let (requests, replies) = relayed_counts(&log, &second.mac);
    assert!(
        replies >= 2,
        "rl2's OFFER and ACK came through the relay:\n{log}"
    );
    assert!(
        replies * usize::from(HOSTS) <= requests,
        "rl2: at most one answer per request:\n{log}"
    );
    drop(late);
    drop(client);
    drop(second);
    drop(first);
}
