//! Issue 15 item 4: an attacker on the bridge cannot bend another client's
//! lease or the zone's names, with real clients on the testbed and a
//! hand-made attacker (`dhcp_edges::Probe`) in its own container:
//! - a RELEASE or DECLINE that copies the victim's client id (it is in every
//!   broadcast on the segment), from another MAC or from another address,
//!   leaves the victim's lease and its name in DNS as they were;
//! - a container asking for the name of a static record, a name server, or a
//!   denied name (`localhost`) gets an address but not the name, and a static
//!   record added later takes the name from the lease that held it;
//! - a burst of unicast renewals for addresses nobody holds binds at most
//!   `dhcp.unknown_renewals_max_percent` of the pool, and a real client still
//!   gets an address afterwards.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, MessageType};
use serde_json::{Value, json};

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::dig::dig;
use raftmasq_tests::netns::{self, Container};
use raftmasq_tests::testbed_cluster::{TestbedCluster, lease_for_mac};

use crate::dhcp_edges::{Probe, counter};

const TOOLS: &[&str] = &["ip", "bridge", "curl", "udhcpc", "unshare", "dig"];
const LEASE_WAIT: Duration = Duration::from_secs(20);
/// The single node's bridge address: the server the attacker unicasts to.
const SERVER: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 1);

/// A container with an address outside the pool (so it can send unicast from
/// it) and a probe socket on it.
fn attacker(
    cluster: &TestbedCluster,
    name: &str,
    mac: [u8; 6],
    own: Ipv4Addr,
) -> (Container, Probe) {
    let text = mac.map(|b| format!("{b:02x}")).join(":");
    let container = cluster
        .testbed
        .add_container(1, name, &text)
        .expect("attacker container");
    container
        .netns
        .ip(["addr", "add", &format!("{own}/16"), "dev", "eth0"])
        .expect("attacker address");
    let probe = Probe::open(&container, mac);
    (container, probe)
}

fn start_udhcpc<'c>(
    cluster: &TestbedCluster,
    container: &'c Container,
    dir: &std::path::Path,
    hostname: &str,
) -> (DhcpClient<'c>, Ipv4Addr) {
    let options = ClientOptions::hostname(hostname);
    let client = DhcpClient::start(ClientKind::Udhcpc, container, dir, &options).expect("client");
    let lease = client
        .wait_lease(LEASE_WAIT)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", container.name, cluster.logs()));
    (client, lease.address.expect("an address"))
}

/// The A records `name` has at the node, from inside `container`.
fn a_records(container: &Container, name: &str) -> (String, Vec<String>) {
    let replies = dig(&container.netns, &SERVER.to_string(), &[], &[(name, "A")]).expect("dig");
    (replies[0].status.clone(), replies[0].data("A"))
}

/// `01:02:42:...` as the bytes of option 61.
fn client_id_bytes(text: &str) -> Vec<u8> {
    text.split(':')
        .map(|octet| u8::from_str_radix(octet, 16).expect("a hex octet"))
        .collect()
}

fn lease_of(cluster: &TestbedCluster, mac: &str) -> Value {
    let leases = cluster.leases(1, true);
    lease_for_mac(&leases, mac)
        .cloned()
        .unwrap_or_else(|| panic!("no lease for {mac}: {leases:?}"))
}

/// Waits (at most 5 s) until `series` on host 1 reaches `at_least`.
fn wait_counter(cluster: &TestbedCluster, series: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let value = counter(cluster, 1, series);
        if value >= at_least || Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn forged_release_and_decline_leave_the_victims_lease_and_name() {
    netns::require("dhcp forged release and decline", TOOLS);
    let cluster = TestbedCluster::start(crate::binary(), "fr", 1, "");
    cluster.wait_ready(Duration::from_secs(30));
    let work = tempfile::TempDir::new().expect("client dir");
    let victim = cluster
        .testbed
        .add_container(1, "victim", "02:42:ac:10:00:c1")
        .expect("victim container");
    let (_client, address) = start_udhcpc(&cluster, &victim, work.path(), "victim");
    let lease = lease_of(&cluster, &victim.mac);
    let client_id = client_id_bytes(lease["client_id"].as_str().expect("a client id"));
    assert_eq!(a_records(&victim, "victim.lxd").1, [address.to_string()]);

    let attacker_mac = [2, 0x42, 0xac, 0x10, 0, 0xc2];
    let (_attacker, probe) = attacker(
        &cluster,
        "attacker",
        attacker_mac,
        Ipv4Addr::new(172, 16, 1, 6),
    );
    let victim_mac: [u8; 6] = [2, 0x42, 0xac, 0x10, 0, 0xc1];

    // 1. RELEASE with the victim's option 61 from the attacker's MAC, unicast.
    let mut release = probe.message(0x5ec1, MessageType::Release, address);
    release
        .opts_mut()
        .insert(DhcpOption::ClientIdentifier(client_id.clone()));
    release
        .opts_mut()
        .insert(DhcpOption::ServerIdentifier(SERVER));
    probe.send_to(&release, SERVER);
    // 2. The same with the victim's MAC in chaddr too: only the IP source
    //    (the attacker's address, not the lease's) gives it away.
    let spoofed = Probe {
        socket: probe.socket.try_clone().expect("socket"),
        mac: victim_mac,
    };
    let mut release = spoofed.message(0x5ec2, MessageType::Release, address);
    release
        .opts_mut()
        .insert(DhcpOption::ClientIdentifier(client_id.clone()));
    spoofed.send_to(&release, SERVER);
    // 3. DECLINE of the victim's address with its option 61, broadcast.
    let mut decline = probe.message(0x5ec3, MessageType::Decline, Ipv4Addr::UNSPECIFIED);
    decline
        .opts_mut()
        .insert(DhcpOption::ClientIdentifier(client_id));
    decline
        .opts_mut()
        .insert(DhcpOption::RequestedIpAddress(address));
    decline
        .opts_mut()
        .insert(DhcpOption::ServerIdentifier(SERVER));
    probe.send(&decline);

    let ignored = |reason: &str| format!(r#"raftmasq_dhcp_ignored_total{{reason="{reason}"}}"#);
    for reason in [
        "release_not_owner",
        "release_wrong_source",
        "decline_not_owner",
    ] {
        assert_eq!(
            wait_counter(&cluster, &ignored(reason), 1),
            1,
            "{reason}\n{}",
            cluster.logs()
        );
    }
    let after = lease_of(&cluster, &victim.mac);
    assert_eq!(after["address"], address.to_string());
    assert_eq!(after["state"], "bound");
    assert_eq!(after["granted_name"], "victim");
    assert_eq!(a_records(&victim, "victim.lxd").1, [address.to_string()]);
    // And the attacker cannot take the name, which is still held.
    let leases = cluster.leases(1, true);
    assert!(
        lease_for_mac(&leases, "02:42:ac:10:00:c2").is_none(),
        "the forgeries bound nothing: {leases:?}"
    );
    let log = std::fs::read_to_string(cluster.log_path(1)).unwrap_or_default();
    assert!(
        log.contains("for a lease its sender does not hold") && log.contains("02:42:ac:10:00:c2"),
        "the forgery is logged with the client's MAC:\n{log}"
    );
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn containers_get_addresses_but_not_the_zones_names_or_denied_ones() {
    netns::require("dhcp names the zone keeps", TOOLS);
    let cluster = TestbedCluster::start(crate::binary(), "zn", 1, "");
    cluster.wait_ready(Duration::from_secs(30));
    let static_www = "172.16.5.5";
    let record = json!({"name": "www", "ttl": null, "data": {"type": "A", "address": static_www}});
    cluster
        .post(1, "/api/v1/records", &record)
        .unwrap_or_else(|e| panic!("record: {e}\n{}", cluster.logs()));
    let work = tempfile::TempDir::new().expect("client dir");
    let cases = [
        ("wwwc", "02:42:ac:10:00:d1", "www"),
        ("nsc", "02:42:ac:10:00:d2", "ns1"),
        ("lh", "02:42:ac:10:00:d3", "localhost"),
        ("wp", "02:42:ac:10:00:d4", "WPAD"),
    ];
    let containers: Vec<Container> = cases
        .iter()
        .map(|(name, mac, _)| {
            cluster
                .testbed
                .add_container(1, name, mac)
                .expect("container")
        })
        .collect();
    let mut clients = Vec::new();
    for (container, (_, _, hostname)) in containers.iter().zip(cases) {
        let (client, address) = start_udhcpc(&cluster, container, work.path(), hostname);
        clients.push(client);
        let lease = lease_of(&cluster, &container.mac);
        assert_eq!(
            lease["address"],
            address.to_string(),
            "{hostname} got an address"
        );
        assert!(
            lease["granted_name"].is_null(),
            "{hostname} got a name: {lease}"
        );
    }
    let probe = &containers[0];
    assert_eq!(
        a_records(probe, "www.lxd"),
        ("NOERROR".to_string(), vec![static_www.to_string()]),
        "the static record only"
    );
    let (status, answers) = a_records(probe, "localhost.lxd");
    assert!(
        answers.is_empty(),
        "localhost.lxd answered {answers:?} ({status})"
    );
    let (status, answers) = a_records(probe, "wpad.lxd");
    assert!(
        answers.is_empty(),
        "wpad.lxd answered {answers:?} ({status})"
    );
    let ns1 = a_records(probe, "ns1.lxd").1;
    assert_eq!(ns1, ["10.99.0.1"], "ns1 is the host's NS address only");
    // Denied names are counted; the zone's own are recorded as conflicts.
    let denied = r#"raftmasq_dhcp_events_total{event="denied_hostname"}"#;
    assert!(counter(&cluster, 1, denied) >= 2, "{}", cluster.logs());
    let conflicts = cluster.get(1, "/api/v1/conflicts").expect("conflicts");
    let zone_names: Vec<&str> = conflicts
        .as_array()
        .expect("a list")
        .iter()
        .filter(|c| c["held_by_zone"] == true)
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        zone_names.contains(&"www") && zone_names.contains(&"ns1"),
        "{conflicts}"
    );

    // A name a lease holds, then an operator's record of the same name: the
    // record wins and the lease keeps its address without the name.
    let late = cluster
        .testbed
        .add_container(1, "late", "02:42:ac:10:00:d5")
        .expect("container");
    let (_late_client, address) = start_udhcpc(&cluster, &late, work.path(), "late");
    assert_eq!(a_records(&late, "late.lxd").1, [address.to_string()]);
    let record =
        json!({"name": "late", "ttl": null, "data": {"type": "A", "address": "172.16.5.6"}});
    cluster.post(1, "/api/v1/records", &record).expect("record");
    assert_eq!(a_records(&late, "late.lxd").1, ["172.16.5.6"]);
    let lease = lease_of(&cluster, &late.mac);
    assert_eq!(lease["address"], address.to_string());
    assert!(lease["granted_name"].is_null(), "{lease}");
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn a_burst_of_renewals_for_unknown_addresses_takes_at_most_its_share_of_the_pool() {
    netns::require("dhcp unknown renewals", TOOLS);
    // The testbed's pool is 172.16.0.10-250: 241 addresses, 10 % is 24, 8
    // for each of the three nodes.
    let cluster = TestbedCluster::start(crate::binary(), "ur", 3, "");
    cluster.wait_ready(Duration::from_secs(30));
    let (_attacker, probe) = attacker(
        &cluster,
        "burst",
        [2, 0x42, 0xac, 0x10, 0, 0xe0],
        Ipv4Addr::new(172, 16, 1, 7),
    );
    // 200 RENEWING requests, each from its own made-up MAC, for addresses
    // across the pool that nobody holds, spread over the three nodes (each
    // decides the unicasts it receives).
    let forged_prefix = "02:99:";
    for i in 0..200u16 {
        let [high, low] = i.to_be_bytes();
        let renewer = Probe {
            socket: probe.socket.try_clone().expect("socket"),
            mac: [2, 0x99, 0x5e, 0x17, high, low],
        };
        let ciaddr = Ipv4Addr::new(172, 16, 0, u8::try_from(10 + i).expect("in the pool"));
        let request = renewer.message(0x7000 + u32::from(i), MessageType::Request, ciaddr);
        let node = Ipv4Addr::new(172, 16, 0, u8::try_from(1 + i % 3).expect("a host"));
        renewer.send_to(&request, node);
        std::thread::sleep(Duration::from_millis(5));
    }
    let refused = r#"raftmasq_dhcp_events_total{event="unknown_renewal_refused"}"#;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut naks = 0;
    while naks < 176 && Instant::now() < deadline {
        naks = (1..=3).map(|host| counter(&cluster, host, refused)).sum();
        std::thread::sleep(Duration::from_millis(100));
    }
    let leases = cluster.leases(1, true);
    let taken = leases
        .iter()
        .filter(|lease| {
            lease["mac"]
                .as_str()
                .is_some_and(|mac| mac.starts_with(forged_prefix))
        })
        .count();
    assert!(
        (1..=24).contains(&taken),
        "{taken} addresses taken by forged renewals (at most 24), {naks} refused\n{}",
        cluster.logs()
    );
    for host in 1..=3 {
        let mine = counter(&cluster, host, refused);
        assert!(
            mine >= 58,
            "host {host} refused only {mine} of its 66 or 67"
        );
    }
    assert!(naks >= 176, "{naks} refused");
    // A real client still gets an address.
    let work = tempfile::TempDir::new().expect("client dir");
    let honest = cluster
        .testbed
        .add_container(2, "honest", "02:42:ac:10:00:e1")
        .expect("container");
    let (_client, address) = start_udhcpc(&cluster, &honest, work.path(), "honest");
    assert_eq!(
        lease_of(&cluster, &honest.mac)["address"],
        address.to_string()
    );
}
