//! Stateful DHCPv6 through a leader failure, with real `dhclient -6`
//! clients on the three-host testbed (issue 16, "Failover"): two clients
//! bound by the leader; `kill -9` of the leader; a new client gets a lease
//! within the v4 failover bound; the existing clients keep their addresses
//! and never see a NoBinding status (tcpdump decodes every DHCPv6 message on
//! their links); the surviving hosts keep sending router advertisements;
//! the killed node restarts and every replica holds the same v6 leases.
//!
//! How the existing clients get their leases back: `ipv6.lease_time` is the
//! minimum, 60 s (T1 30 s, T2 48 s). At T1 a client multicasts RENEW naming
//! the dead leader's DUID (each node has its own, dhcpd/DESIGN.md "Server
//! identity"), which the new leader does not answer (RFC 8415 §16.6); at T2
//! it multicasts REBIND, with no server identifier, which the new leader
//! answers from the replicated binding: the same address, committed before
//! the REPLY. Its next RENEW names the new leader and is answered at once.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use raftmasq_tests::clients6::{Client6Kind, Dhcp6Client, Event6, V6Trace};
use raftmasq_tests::netns::{self, Container, wait_until};
use raftmasq_tests::testbed_cluster::{TestbedCluster, bridge_link_local};
use serde_json::Value;

use crate::dhcp6::{enable_ipv6, in_range, stateful_options};
use crate::ipv6::solicit_until_heard;

const TOOLS: &[&str] = &[
    "ip", "bridge", "curl", "dhclient", "sysctl", "tcpdump", "rdisc6",
];
const LEASE_WAIT: Duration = Duration::from_secs(20);
/// As `dhcp_failover`'s FAILOVER_LIMIT (issue 3): after `kill -9` of the
/// leader, a new client is served within this.
const FAILOVER_LIMIT: Duration = Duration::from_secs(5);
/// The lease time in these tests: the minimum `ipv6.lease_time`.
const LEASE_SECS: u64 = 60;
fn host_index(node_id: u64) -> u8 {
    u8::try_from(node_id).expect("node ids are host indexes")
}

/// The v6 leases `host`'s node holds, by address.
fn leases6(cluster: &TestbedCluster, host: u8, consistent: bool) -> Vec<Value> {
    let path = format!("/api/v1/leases6?consistent={consistent}");
    match cluster.get(host, &path) {
        Some(Value::Array(leases)) => leases,
        other => panic!(
            "host {host}: no v6 lease list: {other:?}\n{}",
            cluster.logs()
        ),
    }
}

/// No DHCPv6 message on a traced link carried a NoBinding status, and the
/// trace did decode the REPLYs (so the check can fail).
fn assert_no_nobinding(traces: &[(&str, &V6Trace)]) {
    for (name, trace) in traces {
        let text = trace.text();
        assert!(
            text.contains("dhcp6 reply"),
            "{name}: no REPLY decoded in the trace:\n{text}"
        );
        assert!(
            !text.contains("NoBinding"),
            "{name}: a NoBinding status went over the wire:\n{text}"
        );
    }
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn dhcpv6_leader_killed_new_client_within_5s_renewals_keep_addresses_ras_continue() {
    netns::require("dhcpv6 failover", TOOLS);
    let mut cluster = TestbedCluster::start_with(crate::binary(), "f6", 3, &stateful_options("1m"));
    let leader = host_index(cluster.wait_ready(Duration::from_secs(30)));
    let survivors: Vec<u8> = (1..=3).filter(|host| *host != leader).collect();
    let work = tempfile::TempDir::new().expect("client dir");

    // Two clients, one on the leader's host and one on a survivor's.
    let containers: Vec<Container> = [(leader, "f6a", 1u8), (survivors[1], "f6b", 2)]
        .iter()
        .map(|(host, name, n)| {
            cluster
                .testbed
                .add_container(*host, name, &format!("02:42:ac:16:00:{n:02x}"))
                .expect("container")
        })
        .collect();
    let mut traces = Vec::new();
    let mut clients = Vec::new();
    for container in &containers {
        enable_ipv6(container);
        traces.push(V6Trace::start(container, work.path()).expect("tcpdump"));
        clients.push(
            Dhcp6Client::start(
                Client6Kind::Dhclient,
                container,
                work.path(),
                &container.name,
            )
            .expect("dhclient -6"),
        );
    }
    let first: Vec<Event6> = clients
        .iter()
        .map(|client| {
            client
                .wait_lease(LEASE_WAIT)
                .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()))
        })
        .collect();
    let addresses: Vec<Ipv6Addr> = first
        .iter()
        .map(|event| event.address.expect("address"))
        .collect();
    assert_ne!(addresses[0], addresses[1], "one address for two clients");
    assert!(addresses.iter().all(|a| in_range(*a)), "{addresses:?}");
    let old_server = first[0].server_id.clone().expect("server id");
    assert_eq!(first[1].server_id.as_ref(), Some(&old_server), "one leader");

    // The late container is ready (link-local usable) before the kill, so
    // that only DHCPv6 is timed.
    let late = cluster
        .testbed
        .add_container(survivors[0], "f6new", "02:42:ac:16:00:10")
        .expect("late container");
    enable_ipv6(&late);
    let seen: Vec<usize> = clients.iter().map(|c| c.events().len()).collect();
    let killed_at = Instant::now();
    cluster.kill_node(leader);
    let late_client = Dhcp6Client::start(Client6Kind::Dhclient, &late, work.path(), "f6new")
        .expect("late dhclient -6");
    let late_lease = late_client
        .wait_lease(FAILOVER_LIMIT + Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    let failover = killed_at.elapsed();
    let late_address = late_lease.address.expect("address");
    eprintln!(
        "dhcpv6 failover: a new client on host {} bound {late_address} {failover:?} after kill -9 of the leader (node {leader})",
        survivors[0]
    );
    assert!(
        failover <= FAILOVER_LIMIT,
        "the new client waited {failover:?} for a lease after the leader died\n{}",
        cluster.logs()
    );
    assert!(in_range(late_address) && !addresses.contains(&late_address));
    let new_leader = host_index(cluster.wait_leader_among(&survivors, Duration::from_secs(10)));
    let new_server = late_lease.server_id.clone().expect("server id");
    assert_ne!(new_server, old_server, "the new leader answers as itself");

    // The surviving hosts keep advertising.
    let heard = solicit_until_heard(&late, &survivors);
    for host in &survivors {
        assert!(
            heard.contains(&format!("from {}", bridge_link_local(*host))),
            "host {host} no longer advertises:\n{heard}"
        );
    }

    // The existing clients: unanswered RENEW at T1 (it names the dead
    // node), REBIND at T2 answered by the new leader with the same address.
    let mut rebinds = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        let rebound = client
            .wait_event(
                seen[i],
                Duration::from_secs(LEASE_SECS + 10),
                Event6::is_bound,
            )
            .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
        eprintln!(
            "dhcpv6 failover: {} {} {:?} after the kill",
            client.container().name,
            rebound.event,
            killed_at.elapsed()
        );
        assert_eq!(rebound.event, "REBIND6", "{rebound:?}\n{}", client.log());
        assert_eq!(rebound.address, Some(addresses[i]), "kept its address");
        assert_eq!(rebound.server_id.as_ref(), Some(&new_server), "{rebound:?}");
        let position = client
            .events()
            .iter()
            .position(|event| *event == rebound)
            .expect("the rebind is among the events");
        rebinds.push(position + 1);
    }
    // Their next renewal names the new leader and is answered as a RENEW.
    for (i, client) in clients.iter().enumerate() {
        let after = rebinds[i];
        let renewed = client
            .wait_event(after, Duration::from_secs(LEASE_SECS), Event6::is_bound)
            .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
        assert_eq!(renewed.event, "RENEW6", "{renewed:?}\n{}", client.log());
        assert_eq!(renewed.address, Some(addresses[i]));
        assert_eq!(renewed.server_id.as_ref(), Some(&new_server));
    }
    let trace_names: Vec<(&str, &V6Trace)> = containers
        .iter()
        .map(|c| c.name.as_str())
        .zip(traces.iter())
        .collect();
    assert_no_nobinding(&trace_names);

    // The killed node restarts and catches up: with the clients stopped,
    // every replica holds the same v6 leases, the late one included.
    drop(late_client);
    for client in &mut clients {
        client.stop();
    }
    cluster.start_node(leader);
    cluster.wait_leader_among(&[1, 2, 3], Duration::from_secs(30));
    let reference = leases6(&cluster, new_leader, true);
    let held: BTreeSet<String> = reference
        .iter()
        .filter_map(|lease| lease["address"].as_str().map(str::to_string))
        .collect();
    for address in addresses.iter().chain([&late_address]) {
        assert!(
            held.contains(&address.to_string()),
            "{address} missing from {reference:?}"
        );
    }
    assert_eq!(
        held.len(),
        reference.len(),
        "an address twice: {reference:?}"
    );
    let converged = wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
        (1..=3).all(|host| leases6(&cluster, host, false) == reference)
    });
    assert!(
        converged,
        "replicas differ: {:?}\n{}",
        (1..=3)
            .map(|host| leases6(&cluster, host, false))
            .collect::<Vec<_>>(),
        cluster.logs()
    );
}
