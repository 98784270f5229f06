//! Live cluster-wide settings (issue 17 item 1): `dnsctl settings
//! show|set|apply` on real daemons, a node whose file differs joining and
//! following the cluster, and changes under DHCP load with real and
//! simulated clients on the three-host testbed.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use raftmasq_tests::LoopbackCluster;
use raftmasq_tests::admin::AdminClient;
use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::dig::dig;
use raftmasq_tests::fault::checker::{ClusterLease, duplicates, holdings, lost_leases};
use raftmasq_tests::fault::dhcp_load::DhcpLoad;
use raftmasq_tests::fault::history::Recorder;
use raftmasq_tests::netns::{self, Container};
use raftmasq_tests::testbed_cluster::{TestbedCluster, lease_for_mac};
use raftmasq_tests::wall_ms;
use serde_json::Value;

use crate::dnsctl::{bind_at, dnsctl, eventually, logs, runtime, start, wait_leader};

/// The keys a node's `/status` says its file differs in.
fn differing_keys(status: &Value) -> BTreeSet<String> {
    status["settings_differ"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|d| d["key"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The cluster's value of `key` in a `settings show --json`.
fn cluster_value(view: &Value, key: &str) -> Option<String> {
    view["cluster"]
        .as_array()?
        .iter()
        .find(|s| s["key"] == key)?["value"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn a_differing_file_follows_the_cluster_and_dnsctl_changes_settings_live() {
    let rt = runtime();
    let cluster = LoopbackCluster::new(3, "");
    // Node 3's file asks for another lease time from its first start.
    let third = &cluster.nodes[2].config;
    let text = std::fs::read_to_string(third).expect("node 3 file");
    std::fs::write(
        third,
        text.replace("lease_time = \"1h\"", "lease_time = \"3h\""),
    )
    .expect("edit");
    let daemons = start(&cluster);
    let leader = wait_leader(&rt, &cluster, &daemons);
    let node = |id: u64| &cluster.nodes[usize::try_from(id - 1).expect("id")];

    // ---- node 3 is a member, serves reads, and names the difference.
    assert!(
        eventually(Duration::from_secs(10), || {
            let status = dnsctl(node(3), &["status", "--json"]).status_json();
            status["initialized"] == true
                && differing_keys(&status) == BTreeSet::from(["dhcp.lease_time".to_string()])
        }),
        "node 3 never reported its differing file:\n{}",
        logs(&daemons)
    );
    let status = dnsctl(node(3), &["status", "--json"]).status_json();
    let difference = &status["settings_differ"][0];
    assert_eq!(difference["cluster"], "1h", "{status}");
    assert_eq!(difference["other"], "3h", "{status}");
    let run = dnsctl(node(3), &["status"]);
    assert!(matches!(run.code, 0 | 3), "{}", run.stderr);
    let text = run.stdout;
    assert!(
        text.contains("its file differs in dhcp.lease_time (cluster 1h, file 3h)"),
        "{text}"
    );
    let shown = dnsctl(node(3), &["settings", "show"]).ok();
    assert!(shown.contains("dnsctl settings apply --from"), "{shown}");
    assert!(
        daemons[2]
            .log_text()
            .contains("this host's file differs from the cluster settings"),
        "no warning in node 3's log:\n{}",
        daemons[2].log_text()
    );
    assert!(!daemons[2].log_text().contains("refused by the cluster"));
    for id in 1..=3 {
        assert!(
            differing_keys(&dnsctl(node(id), &["status", "--json"]).status_json()).len()
                == usize::from(id == 3),
            "node {id}"
        );
    }

    // ---- three leases: 10.0.0.10, .11, .12.
    let admin = AdminClient::default();
    for k in 1..=3u8 {
        rt.block_on(admin.command(
            &node(leader).admin_addr,
            &bind_at([2, 0, 0, 0, 0, k], &format!("c{k}"), 1, 0),
        ))
        .expect("bind");
    }

    // ---- set: one key, what changed is printed; node 3's file now agrees.
    let out = dnsctl(node(1), &["settings", "set", "dhcp.lease_time", "3h"]).ok();
    assert!(out.contains("dhcp.lease_time: 1h -> 3h"), "{out}");
    assert!(eventually(Duration::from_secs(5), || {
        (1..=3).all(|id| {
            let status = dnsctl(node(id), &["status", "--json"]).status_json();
            differing_keys(&status).len() == usize::from(id != 3)
        })
    }));

    // ---- `raftmasq check` on node 1's file asks the running node.
    let output = std::process::Command::new(crate::binary())
        .args(["check"])
        .arg(&node(1).config)
        .output()
        .expect("raftmasq check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dhcp.lease_time: the cluster has 3h, this file 1h")
            && stderr.contains("dnsctl settings apply --from"),
        "{stderr}"
    );

    // ---- refusals: a fixed key, a bad value, a range over a bridge address,
    // and a shrink that would strand the lease on 10.0.0.12.
    dnsctl(node(2), &["settings", "set", "dhcp.subnet", "10.1.0.0/16"])
        .fails(1, "dhcp.subnet cannot change while the cluster runs");
    dnsctl(node(2), &["settings", "set", "dhcp.lease_time", "10s"]).fails(1, "dhcp.lease_time");
    dnsctl(
        node(2),
        &["settings", "set", "dhcp.ranges", "10.0.0.2-10.0.0.100"],
    )
    .fails(1, "a member's bridge address");
    let refused = dnsctl(
        node(2),
        &["settings", "set", "dhcp.range", "10.0.0.10-10.0.0.11"],
    )
    .fails(1, "would strand 1 lease(s)");
    assert!(
        refused.contains("10.0.0.12 (02:00:00:00:00:03 c3)"),
        "{refused}"
    );

    // ---- once it is released, the shrink goes through.
    dnsctl(node(2), &["release", "10.0.0.12"]).ok();
    let out = dnsctl(
        node(2),
        &["settings", "set", "dhcp.range", "10.0.0.10-10.0.0.11"],
    )
    .ok();
    assert!(
        out.contains("dhcp.ranges: 10.0.0.10-10.0.255.254 -> 10.0.0.10-10.0.0.11"),
        "{out}"
    );

    // ---- apply: a file's cluster-wide keys, here node 1's with "reject".
    let edited = cluster.path().join("edited.toml");
    let text = std::fs::read_to_string(&node(1).config).expect("node 1 file");
    let text = text.replace(
        "lease_time = \"1h\"",
        "lease_time = \"1h\"\nduplicate_hostnames = \"reject\"",
    );
    std::fs::write(&edited, text).expect("write edited");
    let out = dnsctl(
        node(3),
        &[
            "settings",
            "apply",
            "--from",
            edited.to_str().expect("utf-8"),
        ],
    )
    .ok();
    for line in [
        "dhcp.ranges: 10.0.0.10-10.0.0.11 -> 10.0.0.10-10.0.255.254",
        "dhcp.lease_time: 3h -> 1h",
        "dhcp.duplicate_hostnames: suffix -> reject",
    ] {
        assert!(out.contains(line), "{line} missing:\n{out}");
    }
    let again = dnsctl(
        node(3),
        &[
            "settings",
            "apply",
            "--from",
            edited.to_str().expect("utf-8"),
        ],
    )
    .ok();
    assert!(again.contains("nothing to change"), "{again}");

    // ---- every node reports the new settings.
    assert!(eventually(Duration::from_secs(5), || {
        (1..=3).all(|id| {
            let view = dnsctl(node(id), &["settings", "show", "--json"]).json();
            cluster_value(&view, "dhcp.duplicate_hostnames").as_deref() == Some("reject")
                && cluster_value(&view, "dhcp.lease_time").as_deref() == Some("1h")
                && cluster_value(&view, "dhcp.ranges").as_deref() == Some("10.0.0.10-10.0.255.254")
        })
    }));
    let view = dnsctl(node(3), &["settings", "show", "--json"]).json();
    assert!(
        view["cluster"]
            .as_array()
            .expect("cluster")
            .iter()
            .any(|s| s["key"] == "dns.domain" && s["fixed"].is_string()),
        "{view}"
    );
    // No lease was lost or moved by any of it.
    let leases: Vec<(String, Ipv4Addr)> = rt
        .block_on(admin.leases(&node(1).admin_addr, true))
        .expect("leases")
        .iter()
        .map(|l| {
            (
                l["mac"].as_str().expect("mac").to_string(),
                l["address"].as_str().expect("address").parse().expect("ip"),
            )
        })
        .collect();
    assert_eq!(
        leases,
        vec![
            ("02:00:00:00:00:01".to_string(), Ipv4Addr::new(10, 0, 0, 10)),
            ("02:00:00:00:00:02".to_string(), Ipv4Addr::new(10, 0, 0, 11)),
        ]
    );
    drop(daemons);
}

/// What the testbed test runs beside the client matrix's own tools.
const TESTBED_TOOLS: &[&str] = &["ip", "bridge", "curl", "dig", "udhcpc", "dhclient"];
const LEASE_WAIT: Duration = Duration::from_secs(20);
const RENEW_WAIT: Duration = Duration::from_secs(15);

/// POSTs a settings change through `host`'s node; the answer (changed keys,
/// or the API's error).
fn set(cluster: &TestbedCluster, host: u8, key: &str, value: &str) -> Value {
    set_in(cluster, host, None, key, value)
}

/// [`set`] for `network` (`None`: as older clients, without the field).
pub(crate) fn set_in(
    cluster: &TestbedCluster,
    host: u8,
    network: Option<&str>,
    key: &str,
    value: &str,
) -> Value {
    let mut body = serde_json::json!({ "values": { key: value } });
    if let Some(network) = network {
        body["network"] = network.into();
    }
    cluster
        .post(host, "/api/v1/settings", &body)
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()))
}

#[track_caller]
pub(crate) fn changed(answer: &Value, key: &str) {
    assert!(
        answer["changed"]
            .as_array()
            .is_some_and(|list| list.iter().any(|c| c["key"] == key)),
        "{key} not changed: {answer}"
    );
}

/// The cluster's lease of `mac`, read linearizably through `host`.
fn lease_of(cluster: &TestbedCluster, host: u8, mac: &str) -> Value {
    let leases = cluster.leases(host, true);
    lease_for_mac(&leases, mac)
        .cloned()
        .unwrap_or_else(|| panic!("no lease for {mac}: {leases:?}"))
}

fn octet(address: &Value) -> u8 {
    address
        .as_str()
        .and_then(|a| a.parse::<Ipv4Addr>().ok())
        .map_or(0, |a| a.octets()[3])
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn settings_change_live_under_dhcp_load_on_the_testbed() {
    netns::require("live settings under load", TESTBED_TOOLS);
    let mut cluster = TestbedCluster::start(crate::binary(), "lset", 3, "");
    cluster.wait_ready(Duration::from_secs(30));
    let since_ms = wall_ms();

    // ---- a pool of 20 before any lease: the shrink goes through.
    changed(
        &set(&cluster, 1, "dhcp.range", "172.16.0.10-172.16.0.29"),
        "dhcp.ranges",
    );

    // ---- two real clients ask for one name under "suffix".
    let work = tempfile::TempDir::new().expect("client dir");
    let first = cluster
        .testbed
        .add_container(2, "lsa", "02:42:ac:17:00:01")
        .expect("container");
    let second = cluster
        .testbed
        .add_container(3, "lsb", "02:42:ac:17:00:02")
        .expect("container");
    let options = ClientOptions::hostname("dup");
    let mut first_client =
        DhcpClient::start(ClientKind::Udhcpc, &first, work.path(), &options).expect("udhcpc");
    first_client
        .wait_lease(LEASE_WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    let second_client =
        DhcpClient::start(ClientKind::Dhclient, &second, work.path(), &options).expect("dhclient");
    second_client
        .wait_lease(LEASE_WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    assert_eq!(lease_of(&cluster, 1, &first.mac)["granted_name"], "dup");
    assert_eq!(lease_of(&cluster, 1, &second.mac)["granted_name"], "dup-2");

    // ---- load: 30 simulated clients for the 18 addresses left.
    let load_containers: Vec<Container> = (1..=3u8)
        .map(|host| {
            cluster
                .testbed
                .add_container(
                    host,
                    &format!("lsl{host}"),
                    &format!("02:fb:00:00:17:{host:02x}"),
                )
                .expect("load container")
        })
        .collect();
    let recorder = Recorder::default();
    let borrowed: Vec<&Container> = load_containers.iter().collect();
    let load = DhcpLoad::start(&borrowed, 10, 17, &recorder).expect("dhcp load");
    let full = netns::wait_until(Duration::from_secs(40), Duration::from_millis(200), || {
        cluster
            .status(1)
            .is_some_and(|s| s["pool"]["free"] == 0 && s["pool"]["size"] == 20)
    });
    assert!(
        full,
        "the 20-address pool never filled:\n{}",
        cluster.logs()
    );

    // ---- grown under load by a second range, with a gap kept for static
    // hosts: addresses from the new range are granted, none from the gap.
    changed(
        &set(
            &cluster,
            2,
            "dhcp.ranges",
            "172.16.0.10-172.16.0.29, 172.16.0.40-172.16.0.60",
        ),
        "dhcp.ranges",
    );
    let grown = netns::wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
        cluster
            .leases(1, false)
            .iter()
            .any(|l| octet(&l["address"]) >= 40)
    });
    assert!(
        grown,
        "no address of the added range granted:\n{}",
        cluster.logs()
    );

    // ---- a longer lease time: the next renewal gets it.
    changed(
        &set(&cluster, 3, "dhcp.lease_time", "5m"),
        "dhcp.lease_time",
    );
    let renewed = first_client
        .renew(RENEW_WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    assert_eq!(renewed.lease_time, Some(300), "{renewed:?}");
    let long = lease_of(&cluster, 1, &first.mac);
    let long_end = long["expires_at"].as_u64().expect("expires_at");
    assert_eq!(
        long_end - long["granted_at"].as_u64().expect("granted_at"),
        300_000
    );

    // ---- back to 2 minutes: a renewal keeps the longer end (no lease shortened).
    changed(
        &set(&cluster, 1, "dhcp.lease_time", "2m"),
        "dhcp.lease_time",
    );
    let renewed = first_client
        .renew(RENEW_WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    let told = renewed.lease_time.expect("lease time");
    assert!(told > 120 && told <= 300, "told {told} s: {renewed:?}");
    let kept = lease_of(&cluster, 1, &first.mac);
    assert_eq!(kept["expires_at"].as_u64(), Some(long_end), "{kept}");

    // ---- suffix -> reject: a third "dup" gets an address and no name.
    changed(
        &set(&cluster, 2, "dhcp.duplicate_hostnames", "reject"),
        "dhcp.duplicate_hostnames",
    );
    let third = cluster
        .testbed
        .add_container(1, "lsc", "02:42:ac:17:00:03")
        .expect("container");
    let third_client =
        DhcpClient::start(ClientKind::Udhcpc, &third, work.path(), &options).expect("udhcpc");
    third_client
        .wait_lease(LEASE_WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    let refused_name = lease_of(&cluster, 1, &third.mac);
    assert_eq!(refused_name["granted_name"], Value::Null, "{refused_name}");
    assert_eq!(lease_of(&cluster, 1, &second.mac)["granted_name"], "dup-2");

    // ---- a shrink that would strand leases is refused with them listed.
    let refused = set(&cluster, 3, "dhcp.ranges", "172.16.0.10-172.16.0.20");
    assert_eq!(refused["error"], "conflict", "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(message.contains("would strand"), "{message}");
    let stranded: Vec<String> = cluster
        .leases(1, true)
        .iter()
        .filter(|l| octet(&l["address"]) > 20)
        .filter_map(|l| l["address"].as_str().map(str::to_string))
        .collect();
    assert!(
        stranded
            .iter()
            .take(5)
            .any(|a| message.contains(&format!("{a} ("))),
        "{message} names none of {stranded:?}"
    );

    // ---- no lease lost or shortened, no address held twice.
    assert!(load.pause(Duration::from_secs(5)), "load did not pause");
    assert!(load.all_running(), "a load worker died");
    let leases = cluster.leases(1, true);
    let held = holdings(&recorder.snapshot().dhcp);
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
    let in_gap: Vec<&Value> = leases
        .iter()
        .filter(|l| (30..40).contains(&octet(&l["address"])))
        .collect();
    assert!(in_gap.is_empty(), "leased between the ranges: {in_gap:?}");
    let grants = held.len();
    load.stop();

    // ---- every node holds the new settings, and says its file differs.
    for host in 1..=3u8 {
        let view = cluster.get(host, "/api/v1/settings").expect("settings");
        assert_eq!(
            cluster_value(&view, "dhcp.ranges").as_deref(),
            Some("172.16.0.10-172.16.0.29, 172.16.0.40-172.16.0.60")
        );
        assert_eq!(
            cluster_value(&view, "dhcp.lease_time").as_deref(),
            Some("2m")
        );
        assert_eq!(
            cluster_value(&view, "dhcp.duplicate_hostnames").as_deref(),
            Some("reject")
        );
        let status = cluster.status(host).expect("status");
        assert_eq!(
            differing_keys(&status),
            BTreeSet::from([
                "dhcp.duplicate_hostnames".to_string(),
                "dhcp.ranges".to_string()
            ]),
            "node {host}: {status}"
        );
    }

    // ---- a node restarted with its (now differing) file rejoins and serves.
    cluster.terminate_node(2);
    assert!(
        cluster.wait_node_exit(2, Duration::from_secs(10)),
        "node 2 did not stop"
    );
    cluster.start_node(2);
    let back = netns::wait_until(Duration::from_secs(30), Duration::from_millis(200), || {
        cluster.status(2).is_some_and(|s| {
            s["initialized"] == true && differing_keys(&s).len() == 2 && s["leader"].is_u64()
        })
    });
    assert!(back, "node 2 did not come back:\n{}", cluster.logs());
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        cluster.node_running(2),
        "node 2 exited:\n{}",
        cluster.logs()
    );
    let answered = netns::wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        dig(
            &cluster.testbed.host(2).netns,
            "172.16.0.2",
            &[],
            &[("dup.lxd", "A")],
        )
        .is_ok_and(|replies| !replies[0].data("A").is_empty())
    });
    assert!(answered, "node 2 does not serve DNS:\n{}", cluster.logs());
    let log = std::fs::read_to_string(cluster.log_path(2)).unwrap_or_default();
    assert!(
        log.contains("this host's file differs from the cluster settings"),
        "{log}"
    );
    eprintln!(
        "live settings under load: {grants} holdings checked, {} leases at the end",
        leases.len()
    );
    drop(third_client);
    drop(second_client);
    drop(first_client);
}
