//! `dnsctl import-dnsmasq` with files a real dnsmasq wrote while it served
//! real DHCP clients in the netns testbed: every lease and reservation must
//! arrive in a raftmasq cluster with the same address and remaining time.

use std::net::Ipv4Addr;
use std::time::Duration;

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::dnsmasq::Dnsmasq;
use raftmasq_tests::netns::{self, Testbed, test_prefix};
use raftmasq_tests::{Daemon, LoopbackCluster};
use serde_json::Value;

use crate::dnsctl::{Run, dnsctl_binary, dnsctl_command};

const RANGE: (Ipv4Addr, Ipv4Addr) = (
    Ipv4Addr::new(172, 16, 100, 10),
    Ipv4Addr::new(172, 16, 100, 200),
);
const RESERVED_MAC: &str = "02:42:00:00:0c:01";
const RESERVED_HOST: &str = "dhcp-host=02:42:00:00:0c:01,172.16.100.77,fixed";

fn import(config: &std::path::Path, args: &[&str]) -> Run {
    let output = dnsctl_command(dnsctl_binary())
        .arg("--config")
        .arg(config)
        .arg("import-dnsmasq")
        .args(args)
        .output()
        .expect("run dnsctl");
    Run::from(output)
}

fn leases(config: &std::path::Path) -> Vec<Value> {
    let output = dnsctl_command(dnsctl_binary())
        .arg("--config")
        .arg(config)
        .args(["leases", "--json", "--consistent"])
        .output()
        .expect("run dnsctl");
    Run::from(output)
        .json()
        .as_array()
        .cloned()
        .expect("a list")
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn import_dnsmasq_moves_real_leases_and_reservations_with_their_time() {
    let tools = ["ip", "bridge", "dnsmasq", "dhclient", "udhcpc"];
    netns::require("import_dnsmasq_moves_real_leases", &tools);
    let prefix = test_prefix("im");
    let dir = std::env::temp_dir().join(format!("{prefix}files"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test dir");
    let testbed = Testbed::new(&prefix, 1).expect("testbed");
    let extra = format!("--{RESERVED_HOST}");
    let dnsmasq =
        Dnsmasq::start(testbed.host(1), &dir, RANGE, "10m", &[extra.as_str()]).expect("dnsmasq");
    let fixed = testbed
        .add_container(1, "fx", RESERVED_MAC)
        .expect("container");
    let dynamic = testbed
        .add_container(1, "dy", "02:42:00:00:0c:02")
        .expect("container");
    let c1 = DhcpClient::start(
        ClientKind::Dhclient,
        &fixed,
        &dir,
        &ClientOptions::hostname("fixed"),
    )
    .expect("dhclient");
    let c2 = DhcpClient::start(
        ClientKind::Udhcpc,
        &dynamic,
        &dir,
        &ClientOptions::hostname("dyn-box"),
    )
    .expect("udhcpc");
    let l1 = c1
        .wait_lease(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", dnsmasq.log()));
    let l2 = c2
        .wait_lease(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", dnsmasq.log()));
    assert_eq!(l1.address, Some(Ipv4Addr::new(172, 16, 100, 77)));
    let granted = dnsmasq.leases();
    assert_eq!(granted.len(), 2, "{granted:?}");
    assert!(granted.iter().any(|l| Some(l.address) == l2.address));

    // The dnsmasq configuration: the dhcp-host line it runs with, plus forms
    // raftmasq reports as unsupported.
    let conf = dir.join("dnsmasq.conf");
    std::fs::write(
        &conf,
        format!(
            "# dnsmasq.conf\ndomain=lxd\n{RESERVED_HOST}\ndhcp-host=id:01:02:03,172.16.100.90\n"
        ),
    )
    .expect("conf");

    // A cluster whose subnet and range match dnsmasq's.
    let cluster = LoopbackCluster::new(3, "");
    for node in &cluster.nodes {
        let text = std::fs::read_to_string(&node.config).expect("config");
        let text = text
            .replace("subnet = \"10.0.0.0/16\"", "subnet = \"172.16.0.0/16\"")
            .replace(
                "range = \"10.0.0.10-10.0.255.254\"",
                "range = \"172.16.100.10-172.16.100.200\"",
            )
            .replace("address = \"10.0.0.", "address = \"172.16.0.");
        std::fs::write(&node.config, text).expect("config");
    }
    let daemons: Vec<Daemon> = cluster
        .nodes
        .iter()
        .map(|n| Daemon::start(crate::binary(), &n.config, &n.log))
        .collect();
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.admin_addr.clone()).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(
        raftmasq_tests::admin::AdminClient::default().wait_ready(&addrs, Duration::from_secs(30)),
    )
    .unwrap_or_else(|e| {
        let logs: String = daemons.iter().map(|d| d.log_text()).collect();
        panic!("{e}\n{logs}")
    });
    let (via, check) = (&cluster.nodes[1].config, &cluster.nodes[2].config);
    let lease_file = dnsmasq.lease_file.to_string_lossy().into_owned();
    let conf_file = conf.to_string_lossy().into_owned();

    // Dry run: shows the plan, changes nothing.
    let plan = import(
        via,
        &[
            "--leases",
            &lease_file,
            "--conf",
            &conf_file,
            "--dry-run",
            "--json",
        ],
    )
    .json();
    let actions: Vec<(String, String)> = plan["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["kind"].as_str().unwrap_or("").to_string(),
                i["action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let count = |kind: &str, action: &str| {
        actions
            .iter()
            .filter(|(k, a)| k == kind && a == action)
            .count()
    };
    assert_eq!(count("reservation", "add"), 1, "{plan}");
    assert_eq!(count("reservation", "unsupported"), 1, "{plan}");
    assert_eq!(count("lease", "add"), 2, "{plan}");
    assert_eq!(plan["dry_run"], true);
    assert!(leases(check).is_empty(), "a dry run changed the cluster");
    let text = import(
        via,
        &["--leases", &lease_file, "--conf", &conf_file, "--dry-run"],
    )
    .ok();
    assert!(
        text.contains("would add") && text.contains("dry run: 3 to add"),
        "{text}"
    );

    // The import itself.
    let report = import(
        via,
        &["--leases", &lease_file, "--conf", &conf_file, "--json"],
    )
    .json();
    assert_eq!(
        report["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|i| i["action"] == "applied")
            .count(),
        3,
        "{report}"
    );
    let imported = leases(check);
    assert_eq!(imported.len(), 2, "{imported:?}");
    for lease in dnsmasq.leases() {
        let ours = imported
            .iter()
            .find(|l| l["mac"] == lease.mac.as_str())
            .unwrap_or_else(|| panic!("lease of {} not imported: {imported:?}", lease.mac));
        assert_eq!(ours["address"], lease.address.to_string());
        assert_eq!(ours["state"], "bound");
        assert_eq!(
            ours["requested_hostname"].as_str(),
            lease.hostname.as_deref()
        );
        // The same end, to the second, never earlier than dnsmasq promised.
        let ends = ours["expires_at"].as_u64().expect("expires_at");
        let promised = lease.expires * 1000;
        assert!(
            ends >= promised && ends <= promised + 2_000,
            "{}: dnsmasq ends at {promised} ms, raftmasq at {ends} ms",
            lease.mac
        );
    }
    let reservations = dnsctl_command(dnsctl_binary())
        .arg("--config")
        .arg(check)
        .args(["reservations", "list", "--json", "--consistent"])
        .output()
        .expect("run dnsctl");
    assert_eq!(
        Run::from(reservations).json(),
        serde_json::json!([{"mac": RESERVED_MAC, "address": "172.16.100.77", "hostname": "fixed", "network": "default"}])
    );

    // Again: nothing left to do, nothing overwritten.
    let again = import(
        via,
        &["--leases", &lease_file, "--conf", &conf_file, "--json"],
    )
    .json();
    let unchanged = again["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["action"] == "unchanged")
        .count();
    assert_eq!(unchanged, 3, "{again}");

    // A lease file that claims a taken address for another client: reported,
    // not overwritten, and the command fails.
    let taken = l2.address.expect("address");
    let clash = dir.join("clash.leases");
    std::fs::write(
        &clash,
        format!(
            "{} 02:42:00:00:0c:99 {taken} intruder *\n",
            granted[0].expires
        ),
    )
    .expect("clash file");
    let clash_file = clash.to_string_lossy().into_owned();
    let run = import(via, &["--leases", &clash_file]);
    assert!(run.stdout.contains("conflict"), "{}", run.stdout);
    run.fails(1, "1 entries were not imported");
    let after = leases(check);
    assert!(
        after
            .iter()
            .any(|l| l["address"] == taken.to_string() && l["mac"] == "02:42:00:00:0c:02"),
        "the original holder lost its lease: {after:?}"
    );

    drop((c1, c2, dnsmasq));
    drop(testbed);
    let _ = std::fs::remove_dir_all(&dir);
}
