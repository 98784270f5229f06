//! Per-network live settings (issue 17, items 1 and 2 together): `dnsctl
//! settings show|set|apply --network`, the admin API's `?network=` and
//! `network` field, per-network drift warnings and `raftmasq check` on real
//! daemons, and a network's range and lease time changed under DHCP load on
//! the three-host testbed with two bridges.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use raftmasq_consensus::state::{ClientId, Command as StateCommand, LeaseRequest, MacAddr};
use raftmasq_tests::LoopbackCluster;
use raftmasq_tests::admin::AdminClient;
use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::fault::checker::{ClusterLease, duplicates, holdings, lost_leases};
use raftmasq_tests::fault::dhcp_load::DhcpLoad;
use raftmasq_tests::fault::history::Recorder;
use raftmasq_tests::netns::{self, CONTAINER_INTERFACE, Container};
use raftmasq_tests::second_bridge;
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions, lease_for_mac};
use raftmasq_tests::wall_ms;
use serde_json::Value;

use crate::dnsctl::{dnsctl, eventually, logs, runtime, start, wait_leader};
use crate::live_settings::changed;
use crate::networks::{LAB, add_lab_network};

/// The cluster's value of `key` in a settings view.
fn cluster_value(view: &Value, key: &str) -> Option<String> {
    view["cluster"]
        .as_array()?
        .iter()
        .find(|s| s["key"] == key)?["value"]
        .as_str()
        .map(str::to_string)
}

/// The keys a settings view says the answering node's file differs in,
/// with where the file writes them.
fn file_differs(view: &Value) -> BTreeSet<(String, Option<String>)> {
    view["file_differs"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|d| {
                    Some((
                        d["key"].as_str()?.to_string(),
                        d["file_key"].as_str().map(str::to_string),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A `Bind` in network `network` for `mac`, asking for `address`.
fn bind_in(network: &str, mac: [u8; 6], hostname: &str, address: Ipv4Addr) -> Value {
    let mac = MacAddr(mac);
    serde_json::to_value(StateCommand::InNetwork {
        network: network.to_string(),
        command: Box::new(StateCommand::Bind {
            request: LeaseRequest {
                client_id: ClientId::from_mac(mac),
                mac,
                hostname: Some(hostname.into()),
                requested_address: Some(address),
                seen_by: Some(1),
            },
            now: wall_ms(),
            lease_time_secs: None,
        }),
    })
    .expect("command")
}

/// The `lab` network in a loopback node's file: no DHCP served (the
/// cluster's `[dhcp]` is off), its settings replicated all the same.
fn lab_entry(id: u64) -> String {
    format!(
        "\n[[dhcp.networks]]\nname = \"lab\"\ninterface = \"lab{id}\"\naddress = \"10.1.0.{id}\"\nsubnet = \"10.1.0.0/24\"\nrange = \"10.1.0.100-10.1.0.199\"\n"
    )
}

#[test]
fn dnsctl_shows_sets_and_applies_one_networks_settings() {
    let rt = runtime();
    let cluster = LoopbackCluster::new(3, "");
    for node in &cluster.nodes {
        let mut text = std::fs::read_to_string(&node.config).expect("file");
        text.push_str(&lab_entry(node.id));
        std::fs::write(&node.config, text).expect("write");
    }
    let daemons = start(&cluster);
    let leader = wait_leader(&rt, &cluster, &daemons);
    let node = |id: u64| &cluster.nodes[usize::try_from(id - 1).expect("id")];

    // ---- every node holds lab's settings once the leader seeded them.
    assert!(
        eventually(Duration::from_secs(10), || {
            (1..=3).all(|id| {
                let view = dnsctl(
                    node(id),
                    &["settings", "show", "--network", "lab", "--json"],
                );
                view.code == 0
                    && cluster_value(&view.json(), "dhcp.ranges").as_deref()
                        == Some("10.1.0.100-10.1.0.199")
            })
        }),
        "lab's settings never reached every node:\n{}",
        logs(&daemons)
    );
    let view = dnsctl(node(2), &["settings", "show", "--network", "lab", "--json"]).json();
    assert_eq!(view["network"], "lab", "{view}");
    assert_eq!(view["networks"], serde_json::json!(["default", "lab"]));
    assert_eq!(
        cluster_value(&view, "dns.domain").as_deref(),
        Some("lab.lxd")
    );
    assert_eq!(
        cluster_value(&view, "dhcp.lease_time").as_deref(),
        Some("1h")
    );
    // `show` without --network is `default`'s, and says lab exists.
    let shown = dnsctl(node(2), &["settings", "show"]).ok();
    assert!(shown.contains("10.0.0.10-10.0.255.254"), "{shown}");
    assert!(
        shown.contains("the cluster's other networks: lab (dnsctl settings show --network NAME)"),
        "{shown}"
    );
    // An unknown network: refused, naming the cluster's networks.
    let refused = dnsctl(node(2), &["settings", "show", "--network", "nope"])
        .fails(1, "the cluster has no network `nope`");
    assert!(
        refused.contains("its networks are default, lab"),
        "{refused}"
    );
    dnsctl(
        node(2),
        &[
            "settings",
            "set",
            "--network",
            "nope",
            "dhcp.lease_time",
            "2h",
        ],
    )
    .fails(1, "the cluster has no network `nope`");

    // ---- set: lab's lease time; default's stays.
    let out = dnsctl(
        node(3),
        &[
            "settings",
            "set",
            "--network",
            "lab",
            "dhcp.lease_time",
            "3h",
        ],
    )
    .ok();
    assert!(
        out.contains("network lab") && out.contains("dhcp.lease_time: 1h -> 3h"),
        "{out}"
    );
    assert!(eventually(Duration::from_secs(5), || {
        (1..=3).all(|id| {
            let lab = dnsctl(
                node(id),
                &["settings", "show", "--network", "lab", "--json"],
            )
            .json();
            let default = dnsctl(node(id), &["settings", "show", "--json"]).json();
            cluster_value(&lab, "dhcp.lease_time").as_deref() == Some("3h")
                && cluster_value(&default, "dhcp.lease_time").as_deref() == Some("1h")
                && file_differs(&lab) == BTreeSet::from([("dhcp.lease_time".to_string(), None)])
                && file_differs(&default).is_empty()
        })
    }));
    // Each node says which key of which network its file differs in.
    assert!(
        eventually(Duration::from_secs(5), || daemons.iter().all(|d| {
            let log = d.log_text();
            log.contains("network=lab key=dhcp.lease_time (network lab, from [dhcp]")
                && log.contains("dnsctl settings apply --network lab --from")
        })),
        "no per-network drift warning:\n{}",
        logs(&daemons)
    );

    // `dnsctl status` says it too, per network; `default`'s list stays empty.
    let status = dnsctl(node(2), &["status", "--json"]).status_json();
    assert_eq!(status["settings_differ"], serde_json::json!([]), "{status}");
    assert_eq!(
        status["network_settings_differ"][0]["network"], "lab",
        "{status}"
    );
    assert_eq!(
        status["network_settings_differ"][0]["differ"][0]["key"], "dhcp.lease_time",
        "{status}"
    );
    let run = dnsctl(node(2), &["status"]);
    assert!(
        run.stdout.contains("settings: network lab: this node follows the cluster; its file differs in dhcp.lease_time (cluster 3h, file 1h)"),
        "{}",
        run.stdout
    );

    // ---- `raftmasq check` asks the running node about every network.
    let output = std::process::Command::new(crate::binary())
        .args(["check"])
        .arg(&node(1).config)
        .output()
        .expect("raftmasq check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dhcp.lease_time (network lab, from [dhcp]")
            && stderr.contains("the cluster has 3h, this file 1h")
            && stderr.contains("dnsctl settings apply --network lab --from"),
        "{stderr}"
    );

    // ---- refusals: a fixed key, a range over this host's lab address, and
    // a shrink that would strand lab's lease on 10.1.0.150.
    dnsctl(
        node(1),
        &[
            "settings",
            "set",
            "--network",
            "lab",
            "dns.domain",
            "other.lxd",
        ],
    )
    .fails(1, "dns.domain cannot change while the cluster runs");
    dnsctl(
        node(1),
        &[
            "settings",
            "set",
            "--network",
            "lab",
            "dhcp.range",
            "10.1.0.1-10.1.0.199",
        ],
    )
    .fails(1, "node 1's address on network lab");
    let admin = AdminClient::default();
    let bound = rt
        .block_on(admin.command(
            &node(leader).admin_addr,
            &bind_in(
                "lab",
                [2, 0, 0, 0, 1, 1],
                "l1",
                Ipv4Addr::new(10, 1, 0, 150),
            ),
        ))
        .expect("bind");
    assert!(bound.to_string().contains("10.1.0.150"), "{bound}");
    let refused = dnsctl(
        node(2),
        &[
            "settings",
            "set",
            "--network",
            "lab",
            "dhcp.range",
            "10.1.0.100-10.1.0.120",
        ],
    )
    .fails(1, "would strand 1 lease(s)");
    assert!(
        refused.contains("10.1.0.150 (02:00:00:00:01:01 l1)"),
        "{refused}"
    );
    // A default-network change of the same range is a different network's:
    // lab's lease does not stand in its way.
    let out = dnsctl(
        node(2),
        &["settings", "set", "dhcp.range", "10.0.0.10-10.0.0.120"],
    )
    .ok();
    assert!(
        out.contains("dhcp.ranges: 10.0.0.10-10.0.255.254 -> 10.0.0.10-10.0.0.120"),
        "{out}"
    );

    // ---- grow lab's range: the file now differs there too, named by its
    // place in the file.
    let out = dnsctl(
        node(2),
        &[
            "settings",
            "set",
            "--network",
            "lab",
            "dhcp.range",
            "10.1.0.100-10.1.0.250",
        ],
    )
    .ok();
    assert!(
        out.contains("dhcp.ranges: 10.1.0.100-10.1.0.199 -> 10.1.0.100-10.1.0.250"),
        "{out}"
    );
    let shown = dnsctl(node(1), &["settings", "show", "--network", "lab"]).ok();
    assert!(shown.starts_with("network lab"), "{shown}");
    assert!(
        shown.contains(
            "dhcp.ranges (dhcp.networks[0].ranges in the file): cluster 10.1.0.100-10.1.0.250 · file 10.1.0.100-10.1.0.199"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("dnsctl settings apply --network lab --from"),
        "{shown}"
    );

    // ---- apply: node 1's file's values for lab become the cluster's.
    let file = node(1).config.to_str().expect("utf-8");
    let out = dnsctl(
        node(3),
        &["settings", "apply", "--network", "lab", "--from", file],
    )
    .ok();
    for line in [
        "dhcp.ranges: 10.1.0.100-10.1.0.250 -> 10.1.0.100-10.1.0.199",
        "dhcp.lease_time: 3h -> 1h",
    ] {
        assert!(out.contains(line), "{line} missing:\n{out}");
    }
    let again = dnsctl(
        node(3),
        &["settings", "apply", "--network", "lab", "--from", file],
    )
    .ok();
    assert!(again.contains("nothing to change"), "{again}");
    dnsctl(
        node(3),
        &[
            "settings",
            "apply",
            "--network",
            "elsewhere",
            "--from",
            file,
        ],
    )
    .fails(2, "no [[dhcp.networks]] entry is named elsewhere");
    assert!(eventually(Duration::from_secs(5), || {
        (1..=3).all(|id| {
            let lab = dnsctl(
                node(id),
                &["settings", "show", "--network", "lab", "--json"],
            )
            .json();
            file_differs(&lab).is_empty()
        })
    }));
    // An old client's POST (no `network`) still changes `default`.
    let answer: Value = rt
        .block_on(async {
            reqwest::Client::new()
                .post(format!("http://{}/api/v1/settings", node(1).admin_addr))
                .bearer_auth(raftmasq_tests::cluster::ADMIN_TOKEN)
                .json(&serde_json::json!({ "values": { "dhcp.lease_time": "2h" } }))
                .send()
                .await?
                .json()
                .await
        })
        .expect("post");
    assert_eq!(answer["network"], "default", "{answer}");
    let lab = dnsctl(node(1), &["settings", "show", "--network", "lab", "--json"]).json();
    assert_eq!(
        cluster_value(&lab, "dhcp.lease_time").as_deref(),
        Some("1h")
    );
    drop(daemons);
}

const TOOLS: &[&str] = &["ip", "bridge", "curl", "udhcpc", "dhclient"];
const LEASE_WAIT: Duration = Duration::from_secs(30);
const RENEW_WAIT: Duration = Duration::from_secs(15);

/// POSTs a settings change for `network` through `host`'s node.
fn set(cluster: &TestbedCluster, host: u8, network: &str, key: &str, value: &str) -> Value {
    crate::live_settings::set_in(cluster, host, Some(network), key, value)
}

fn lab_octet(lease: &Value) -> Option<u8> {
    let address: Ipv4Addr = lease["address"].as_str()?.parse().ok()?;
    let [a, b, c, d] = address.octets();
    ((a, b, c) == (172, 20, 0)).then_some(d)
}

fn lab_leases(cluster: &TestbedCluster, host: u8, consistent: bool) -> Vec<Value> {
    cluster
        .leases(host, consistent)
        .into_iter()
        .filter(|l| l["network"] == "lab")
        .collect()
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn a_second_networks_settings_change_live_under_dhcp_load_on_the_testbed() {
    netns::require(
        "a_second_networks_settings_change_live_under_dhcp_load_on_the_testbed",
        TOOLS,
    );
    let mut cluster =
        TestbedCluster::prepare_with(crate::binary(), "nset", 3, &TestbedOptions::default());
    second_bridge::add(&cluster.testbed, &LAB).expect("second bridge");
    add_lab_network(&cluster, 3);
    for host in 1..=3 {
        cluster.start_node(host);
    }
    cluster.wait_ready(Duration::from_secs(30));
    let since_ms = wall_ms();
    let default_before = cluster.get(1, "/api/v1/settings").expect("settings");
    let lab_seeded = netns::wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        (1..=3u8).all(|host| {
            cluster
                .get(host, "/api/v1/settings?network=lab")
                .is_some_and(|view| cluster_value(&view, "dhcp.ranges").is_some())
        })
    });
    assert!(
        lab_seeded,
        "lab's settings never reached every node:\n{}",
        cluster.logs()
    );

    // ---- a lab pool of 20 before any lease.
    changed(
        &set(
            &cluster,
            1,
            "lab",
            "dhcp.range",
            "172.20.0.100-172.20.0.119",
        ),
        "dhcp.ranges",
    );

    // ---- a real client on lab.
    let work = tempfile::TempDir::new().expect("client dir");
    let real = cluster
        .testbed
        .add_container_on(2, LAB.name, "nsr", "02:42:ac:14:00:01")
        .expect("container");
    let mut real_client = DhcpClient::start(
        ClientKind::Udhcpc,
        &real,
        work.path(),
        &ClientOptions::hostname("real"),
    )
    .expect("udhcpc");
    let first = real_client
        .wait_lease(LEASE_WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    assert_eq!(first.lease_time, Some(120), "{first:?}");

    // ---- load on lab: 30 simulated clients for the 19 addresses left. Each
    // load container gets a lab address outside the range first, so its
    // unicast renewals have a route on the lab bridge.
    let load_containers: Vec<Container> = (1..=3u8)
        .map(|host| {
            let container = cluster
                .testbed
                .add_container_on(
                    host,
                    LAB.name,
                    &format!("nsl{host}"),
                    &format!("02:fb:00:00:20:{host:02x}"),
                )
                .expect("load container");
            container
                .netns
                .ip([
                    "addr",
                    "add",
                    &format!("{}.{}/24", LAB.prefix24, 240 + host),
                    "dev",
                    CONTAINER_INTERFACE,
                ])
                .expect("lab address");
            container
        })
        .collect();
    let recorder = Recorder::default();
    let borrowed: Vec<&Container> = load_containers.iter().collect();
    let load = DhcpLoad::start(&borrowed, 10, 20, &recorder).expect("dhcp load");
    let full = netns::wait_until(Duration::from_secs(40), Duration::from_millis(200), || {
        lab_leases(&cluster, 1, false).len() >= 20
    });
    assert!(
        full,
        "lab's 20-address pool never filled:\n{}",
        cluster.logs()
    );

    // ---- grown under load: addresses from the new part are granted.
    changed(
        &set(
            &cluster,
            2,
            "lab",
            "dhcp.range",
            "172.20.0.100-172.20.0.160",
        ),
        "dhcp.ranges",
    );
    let grown = netns::wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
        lab_leases(&cluster, 1, false)
            .iter()
            .any(|l| lab_octet(l).is_some_and(|d| d > 119))
    });
    assert!(
        grown,
        "no address of lab's grown part granted:\n{}",
        cluster.logs()
    );

    // ---- a longer lease time on lab: the next renewal gets it.
    changed(
        &set(&cluster, 3, "lab", "dhcp.lease_time", "5m"),
        "dhcp.lease_time",
    );
    let renewed = real_client
        .renew(RENEW_WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    assert_eq!(renewed.lease_time, Some(300), "{renewed:?}");
    let leases = cluster.leases(1, true);
    let lease = lease_for_mac(&leases, &real.mac).expect("real client's lease");
    assert_eq!(lease["network"], "lab", "{lease}");
    assert_eq!(
        lease["expires_at"].as_u64().expect("expires_at")
            - lease["granted_at"].as_u64().expect("granted_at"),
        300_000,
        "{lease}"
    );

    // ---- a shrink that would strand lab's leases is refused with them listed.
    let refused = set(
        &cluster,
        1,
        "lab",
        "dhcp.range",
        "172.20.0.100-172.20.0.105",
    );
    assert_eq!(refused["error"], "conflict", "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains("would strand"), "{message}");
    let stranded: Vec<String> = lab_leases(&cluster, 1, true)
        .iter()
        .filter(|l| lab_octet(l).is_some_and(|d| d > 105))
        .filter_map(|l| l["address"].as_str().map(str::to_string))
        .collect();
    assert!(
        stranded.iter().any(|a| message.contains(&format!("{a} ("))),
        "{message} names none of {stranded:?}"
    );

    // ---- no lease lost or shortened, no address held twice.
    assert!(load.pause(Duration::from_secs(5)), "load did not pause");
    assert!(load.all_running(), "a load worker died");
    let leases = cluster.leases(1, true);
    let held = holdings(&recorder.snapshot().dhcp);
    assert!(!held.is_empty(), "the load got no lease");
    let lost = lost_leases(&held, &ClusterLease::all(&leases), wall_ms(), 1_000);
    assert!(lost.is_empty(), "leases lost: {lost:?}");
    let dups: Vec<_> = duplicates(&held)
        .into_iter()
        .filter(|d| d.at_ms >= since_ms)
        .collect();
    assert!(dups.is_empty(), "addresses held twice: {dups:?}");
    let addresses: BTreeSet<&str> = leases
        .iter()
        .filter_map(|l| l["address"].as_str())
        .collect();
    assert_eq!(addresses.len(), leases.len(), "an address leased twice");
    assert!(
        leases
            .iter()
            .filter(|l| l["network"] == "lab")
            .all(|l| lab_octet(l).is_some_and(|d| (100..=160).contains(&d))),
        "a lab lease outside lab's range: {leases:?}"
    );
    let grants = held.len();
    load.stop();

    // ---- every node reports lab's new settings, default's are unchanged,
    // and each says where its file differs for lab.
    for host in 1..=3u8 {
        let view = cluster
            .get(host, "/api/v1/settings?network=lab")
            .expect("lab settings");
        assert_eq!(view["network"], "lab");
        assert_eq!(
            cluster_value(&view, "dhcp.ranges").as_deref(),
            Some("172.20.0.100-172.20.0.160")
        );
        assert_eq!(
            cluster_value(&view, "dhcp.lease_time").as_deref(),
            Some("5m")
        );
        assert_eq!(
            file_differs(&view),
            BTreeSet::from([
                ("dhcp.lease_time".to_string(), None),
                (
                    "dhcp.ranges".to_string(),
                    Some("dhcp.networks[0].ranges".to_string())
                ),
            ]),
            "node {host}: {view}"
        );
        let default = cluster.get(host, "/api/v1/settings").expect("settings");
        assert_eq!(default["cluster"], default_before["cluster"], "node {host}");
        assert!(file_differs(&default).is_empty(), "node {host}: {default}");
        let log = std::fs::read_to_string(cluster.log_path(host)).unwrap_or_default();
        assert!(
            log.contains("network=lab key=dhcp.networks[0].ranges (network lab)"),
            "node {host} did not name lab's differing range:\n{log}"
        );
    }
    eprintln!(
        "lab settings under load: {grants} holdings checked, {} lab leases at the end",
        lab_leases(&cluster, 1, true).len()
    );
    drop(real_client);
}
