//! Two networks in one cluster on the netns testbed: every host has
//! `lxdbr0` (172.16/16, domain `lxd`) and `lxdbr1` (172.20.0/24, its own
//! VXLAN overlay, network `lab`, domain `lab.lxd`). Real clients on both
//! bridges get leases from their own network's pool with their own domain,
//! and every host answers their names and PTRs from the right zone, also
//! when both networks hold the same name.

use std::collections::BTreeSet;
use std::fs;
use std::net::Ipv4Addr;
use std::time::Duration;

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient, Lease};
use raftmasq_tests::dig::dig;
use raftmasq_tests::dnsprobe;
use raftmasq_tests::netns::{self, wait_until};
use raftmasq_tests::second_bridge::{self, SecondBridge};
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions, lease_for_mac};

use crate::binary;

const TOOLS: &[&str] = &["ip", "bridge", "curl", "udhcpc", "dhclient", "dig"];
const LEASE_WAIT: Duration = Duration::from_secs(30);
const READY_WAIT: Duration = Duration::from_secs(30);

pub(crate) const LAB: SecondBridge = SecondBridge {
    name: "lxdbr1",
    vxlan: "vx1",
    vni: 43,
    prefix24: "172.20.0",
    mac_octet: 0x01,
};
const LAB_RANGE: (u8, u8) = (100, 199);

/// Each node's file gains the `lab` network and DNS on its `lxdbr1` address.
pub(crate) fn add_lab_network(cluster: &TestbedCluster, hosts: u8) {
    for host in 1..=hosts {
        let path = cluster.config_path(host);
        let text = fs::read_to_string(&path).expect("config");
        let listen = format!("listen = [\"172.16.0.{host}:53\"");
        assert!(text.contains(&listen), "the fixture's dns.listen changed");
        let mut text = text.replacen(
            &listen,
            &format!(
                "listen = [\"{}:53\", \"172.16.0.{host}:53\"",
                LAB.address(host)
            ),
            1,
        );
        text.push_str(&format!(
            "\n[[dhcp.networks]]\nname = \"lab\"\ninterface = \"{}\"\naddress = \"{}\"\nsubnet = \"{}\"\nrange = \"{p}.{}-{p}.{}\"\n",
            LAB.name,
            LAB.address(host),
            LAB.subnet(),
            LAB_RANGE.0,
            LAB_RANGE.1,
            p = LAB.prefix24,
        ));
        fs::write(&path, text).expect("config");
    }
}

struct Client {
    name: &'static str,
    host: u8,
    bridge: &'static str,
    kind: ClientKind,
    mac: &'static str,
}

/// Whether `address` is in the pool of the network on `bridge`.
fn in_pool(bridge: &str, address: Ipv4Addr) -> bool {
    let [a, b, c, d] = address.octets();
    if bridge == LAB.name {
        (a, b, c) == (172, 20, 0) && (LAB_RANGE.0..=LAB_RANGE.1).contains(&d)
    } else {
        (a, b) == (172, 16)
            && address >= Ipv4Addr::new(172, 16, 0, 10)
            && address <= Ipv4Addr::new(172, 16, 0, 250)
    }
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn two_bridges_on_every_host_serve_their_own_pool_domain_and_reverse_zone() {
    netns::require(
        "two_bridges_on_every_host_serve_their_own_pool_domain_and_reverse_zone",
        TOOLS,
    );
    let mut cluster = TestbedCluster::prepare_with(binary(), "nw", 3, &TestbedOptions::default());
    second_bridge::add(&cluster.testbed, &LAB).expect("second bridge");
    add_lab_network(&cluster, 3);
    for host in 1..=3 {
        cluster.start_node(host);
    }
    cluster.wait_ready(READY_WAIT);
    let work = tempfile::TempDir::new().expect("work dir");

    // `c1` on both networks (one name per domain, not per cluster); web only
    // on lab, db only on the default network; udhcpc and dhclient on each.
    let clients = [
        Client {
            name: "c1",
            host: 1,
            bridge: LAB.name,
            kind: ClientKind::Udhcpc,
            mac: "02:42:ac:14:01:01",
        },
        Client {
            name: "web",
            host: 2,
            bridge: LAB.name,
            kind: ClientKind::Dhclient,
            mac: "02:42:ac:14:02:01",
        },
        Client {
            name: "c1",
            host: 3,
            bridge: "lxdbr0",
            kind: ClientKind::Udhcpc,
            mac: "02:42:ac:10:03:01",
        },
        Client {
            name: "db",
            host: 2,
            bridge: "lxdbr0",
            kind: ClientKind::Dhclient,
            mac: "02:42:ac:10:02:01",
        },
    ];
    let containers: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cluster
                .testbed
                .add_container_on(c.host, c.bridge, &format!("n{i}"), c.mac)
                .expect("container")
        })
        .collect();
    // Every host registers its lab address with the cluster (said in its
    // log), so lab's leases can name every host as DNS server.
    let registered = wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
        (1..=3u8).all(|host| {
            std::fs::read_to_string(cluster.log_path(host))
                .is_ok_and(|log| log.contains("registered this host's address on a network"))
        })
    });
    assert!(
        registered,
        "a host never registered its lab address:\n{}",
        cluster.logs()
    );
    let running: Vec<DhcpClient<'_>> = clients
        .iter()
        .zip(&containers)
        .map(|(c, container)| {
            DhcpClient::start(
                c.kind,
                container,
                work.path(),
                &ClientOptions::hostname(c.name),
            )
            .expect("client")
        })
        .collect();
    let leases: Vec<Lease> = running
        .iter()
        .map(|client| {
            client
                .wait_lease(LEASE_WAIT)
                .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()))
        })
        .collect();
    let lab = LAB.name;
    for (c, lease) in clients.iter().zip(&leases) {
        let address = lease.address.expect("address");
        assert!(
            in_pool(c.bridge, address),
            "{} on {}: {address} is not that network's pool",
            c.name,
            c.bridge
        );
        let domain = if c.bridge == lab { "lab.lxd" } else { "lxd" };
        assert_eq!(
            lease.domain.as_deref(),
            Some(domain),
            "{} on {}: option 15",
            c.name,
            c.bridge
        );
        if c.bridge == lab {
            // Every host's lab address (replicated), the answering one first:
            // a lab client keeps a DNS server when any host goes.
            let hosts: BTreeSet<Ipv4Addr> =
                (1..=3).map(|h| LAB.address(h).parse().unwrap()).collect();
            let named: BTreeSet<Ipv4Addr> = lease.dns.iter().copied().collect();
            assert_eq!(
                (lease.dns.len(), named),
                (3, hosts),
                "{} on lab: DNS servers {:?}",
                c.name,
                lease.dns
            );
            assert_eq!(
                lease.server_id,
                Some(lease.dns[0]),
                "{} on lab: the answering host's address first",
                c.name
            );
        }
    }

    // Every host answers every name and address from the right zone.
    let fqdn = |c: &Client| {
        if c.bridge == lab {
            format!("{}.lab.lxd", c.name)
        } else {
            format!("{}.lxd", c.name)
        }
    };
    let questions: Vec<(String, String)> = clients
        .iter()
        .zip(&leases)
        .flat_map(|(c, lease)| {
            [
                (fqdn(c), "A".to_string()),
                (
                    dnsprobe::reverse_name(lease.address.expect("address")),
                    "PTR".to_string(),
                ),
            ]
        })
        .collect();
    let questions: Vec<(&str, &str)> = questions
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
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
            clients
                .iter()
                .zip(&leases)
                .zip(replies.chunks(2))
                .all(|((c, lease), pair)| {
                    let address = lease.address.expect("address").to_string();
                    pair[0].has_flag("aa")
                        && pair[0].data("A") == [address]
                        && pair[1].has_flag("aa")
                        && pair[1].data("PTR") == [format!("{}.", fqdn(c))]
                })
        });
        assert!(
            answered,
            "host {host} did not answer every network's names: {last}"
        );
        // Each network's names exist in its own domain only.
        let replies = dig(
            &cluster.testbed.host(host).netns,
            &server,
            &["+norec"],
            &[
                ("web.lxd", "A"),
                ("db.lab.lxd", "A"),
                ("lab.lxd", "SOA"),
                ("0.20.172.in-addr.arpa", "SOA"),
            ],
        )
        .expect("dig");
        assert_eq!(
            replies[0].status, "NXDOMAIN",
            "web is lab's only: {:?}",
            replies[0]
        );
        assert_eq!(
            replies[1].status, "NXDOMAIN",
            "db is default's only: {:?}",
            replies[1]
        );
        assert!(
            replies[2].has_flag("aa") && !replies[2].data("SOA").is_empty(),
            "{:?}",
            replies[2]
        );
        assert!(
            replies[3].has_flag("aa") && !replies[3].data("SOA").is_empty(),
            "{:?}",
            replies[3]
        );
    }

    // A lab container resolves through the DNS server its lease named.
    let (c, lease) = (&clients[0], &leases[0]);
    let server = lease.dns[0].to_string();
    let reply = dig(&containers[0].netns, &server, &[], &[("web.lab.lxd", "A")]).expect("dig");
    assert_eq!(
        reply[0].data("A"),
        [leases[1].address.expect("address").to_string()],
        "{} asking {server}",
        c.name
    );

    // The admin API's lease listing carries each lease's network.
    let listed = cluster.wait_converged(Duration::from_secs(10));
    for (c, lease) in clients.iter().zip(&leases) {
        let entry = lease_for_mac(&listed, c.mac)
            .unwrap_or_else(|| panic!("{} not listed: {listed:?}", c.mac));
        let network = if c.bridge == lab { "lab" } else { "default" };
        assert_eq!(entry["network"], network, "{entry}");
        assert_eq!(
            entry["address"],
            lease.address.expect("address").to_string(),
            "{entry}"
        );
    }

    // Pool metrics are per network on every node: two bound leases each.
    for host in 1..=3u8 {
        let body = cluster.get_text(host, "/metrics").expect("metrics");
        for network in ["default", "lab"] {
            let series = format!("raftmasq_dhcp_leases{{network=\"{network}\",state=\"bound\"}} 2");
            assert!(
                body.lines().any(|line| line == series),
                "host {host}: no `{series}` in\n{body}"
            );
        }
        let lab_size = format!(
            "raftmasq_dhcp_pool_size{{network=\"lab\"}} {}",
            LAB_RANGE.1 - LAB_RANGE.0 + 1
        );
        assert!(
            body.lines().any(|line| line == lab_size),
            "host {host}: no `{lab_size}`"
        );
    }

    // A reservation in lab's subnet goes to lab: a client with that MAC on
    // lxdbr1 gets the address and the name, in lab's domain.
    let reserved = "172.20.0.50";
    let done = cluster
        .post(
            2,
            "/api/v1/reservations",
            &serde_json::json!({"mac": "02:42:ac:14:03:09", "address": reserved, "hostname": "fixed"}),
        )
        .unwrap_or_else(|e| panic!("reserve: {e}"));
    assert!(
        done["message"]
            .as_str()
            .is_some_and(|m| m.contains(reserved)),
        "{done}"
    );
    let listed = cluster
        .get(1, "/api/v1/reservations?consistent=true")
        .expect("reservations");
    assert_eq!(listed[0]["network"], "lab", "{listed}");
    let fixed = cluster
        .testbed
        .add_container_on(3, LAB.name, "nfix", "02:42:ac:14:03:09")
        .expect("container");
    let fixed_client = DhcpClient::start(
        ClientKind::Udhcpc,
        &fixed,
        work.path(),
        &ClientOptions::hostname("whatever"),
    )
    .expect("client");
    let fixed_lease = fixed_client
        .wait_lease(LEASE_WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    assert_eq!(fixed_lease.address, Some(reserved.parse().unwrap()));
    assert_eq!(fixed_lease.domain.as_deref(), Some("lab.lxd"));
    let found = wait_until(Duration::from_secs(5), Duration::from_millis(200), || {
        dig(
            &cluster.testbed.host(1).netns,
            "10.99.0.1",
            &["+norec"],
            &[("fixed.lab.lxd", "A")],
        )
        .is_ok_and(|replies| replies[0].data("A") == [reserved.to_string()])
    });
    assert!(found, "fixed.lab.lxd does not name the reserved address");
    drop(fixed_client);

    // `dnsctl release` (the admin API) finds the lab lease by its address.
    let web = leases[1].address.expect("address");
    let released = cluster
        .post(
            1,
            &format!("/api/v1/leases/{web}/release"),
            &serde_json::json!({}),
        )
        .unwrap_or_else(|e| panic!("release {web}: {e}"));
    assert!(
        released["message"]
            .as_str()
            .is_some_and(|m| m.contains("web")),
        "release of lab's {web}: {released}"
    );
    for host in 1..=3u8 {
        let server = format!("10.99.0.{host}");
        let gone = wait_until(Duration::from_secs(5), Duration::from_millis(200), || {
            dig(
                &cluster.testbed.host(host).netns,
                &server,
                &["+norec"],
                &[("web.lab.lxd", "A")],
            )
            .is_ok_and(|replies| replies[0].status == "NXDOMAIN")
        });
        assert!(
            gone,
            "host {host} still answers web.lab.lxd after its release"
        );
    }
    drop(running);
}
