//! `raftmasq export` reads a stopped node's store into the documented JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use raftmasq_tests::admin::AdminClient;
use raftmasq_tests::{Daemon, LoopbackCluster};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_reads_a_stopped_nodes_state() {
    let cluster = LoopbackCluster::new(3, "");
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.admin_addr.clone()).collect();
    let mut daemons: Vec<Daemon> = cluster
        .nodes
        .iter()
        .map(|n| Daemon::start(crate::binary(), &n.config, &n.log))
        .collect();
    let admin = AdminClient::default();
    admin
        .wait_ready(&addrs, Duration::from_secs(30))
        .await
        .expect("ready");

    let mut granted = BTreeMap::new();
    for n in 1..=5u8 {
        let mac = json!([2, 0, 0, 0, 0, n]);
        let bind = json!({"op": "bind", "request": {"client_id": [1, 2, 0, 0, 0, 0, n], "mac": mac,
            "hostname": format!("c{n}"), "requested_address": null, "seen_by": 1}, "now": 0, "lease_time_secs": null});
        let answer = admin.command(&addrs[0], &bind).await.expect("bind");
        granted.insert(
            format!("c{n}"),
            answer["lease"]["address"]
                .as_str()
                .expect("address")
                .to_string(),
        );
    }
    // A reservation and a static record travel too.
    let reserve = json!({"op": "reserve", "reservation": {"mac": [2, 0, 0, 0, 0, 0x99], "address": "10.0.0.99", "hostname": "fixed"}});
    assert_eq!(
        admin.command(&addrs[0], &reserve).await.expect("reserve")["result"],
        "done"
    );
    let record = json!({"op": "add_record", "record": {"name": "www.lxd", "ttl": null, "data": {"type": "A", "address": "10.0.0.5"}}});
    assert_eq!(
        admin.command(&addrs[0], &record).await.expect("record")["result"],
        "done"
    );
    // Let node 2 apply everything, then stop it.
    admin
        .leases(&addrs[1], true)
        .await
        .expect("consistent read on node 2");
    daemons[1].kill_hard();

    let output = std::process::Command::new(crate::binary())
        .args(["export", "--config"])
        .arg(&cluster.nodes[1].config)
        .output()
        .expect("run export");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let export: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(export["format"], "raftmasq-state-v1");
    assert_eq!(export["node_id"], 2);
    let leases: BTreeMap<String, String> = export["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .map(|l| {
            (
                l["granted_name"].as_str().unwrap_or("").to_string(),
                l["address"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(leases, granted);
    assert_eq!(export["settings"]["domain"], "lxd");

    // Restore into a brand-new cluster: same addresses, names, reservation, record.
    let file = cluster.path().join("state.json");
    std::fs::write(&file, &output.stdout).expect("write export");
    let fresh = LoopbackCluster::new(3, "");
    let fresh_addrs: Vec<String> = fresh.nodes.iter().map(|n| n.admin_addr.clone()).collect();
    let _fresh_daemons: Vec<Daemon> = fresh
        .nodes
        .iter()
        .map(|n| Daemon::start(crate::binary(), &n.config, &n.log))
        .collect();
    admin
        .wait_ready(&fresh_addrs, Duration::from_secs(30))
        .await
        .expect("fresh cluster ready");
    let dnsctl = |args: &[&str]| {
        std::process::Command::new(crate::dnsctl::dnsctl_binary())
            .args(["--node", &fresh_addrs[1]])
            .arg("--token-file")
            .arg(fresh.path().join("admin.token"))
            .args(args)
            .output()
            .expect("run dnsctl")
    };
    let dry = dnsctl(&["import-state", file.to_str().expect("path"), "--dry-run"]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(
        admin
            .leases(&fresh_addrs[0], true)
            .await
            .expect("leases")
            .is_empty(),
        "a dry run changes nothing"
    );
    let restored = dnsctl(&["import-state", file.to_str().expect("path")]);
    assert!(
        restored.status.success(),
        "{}{}",
        String::from_utf8_lossy(&restored.stdout),
        String::from_utf8_lossy(&restored.stderr)
    );
    let leases = admin.leases(&fresh_addrs[2], true).await.expect("leases");
    let restored: BTreeMap<String, String> = leases
        .iter()
        .map(|l| {
            (
                l["granted_name"].as_str().unwrap_or("").to_string(),
                l["address"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        restored, granted,
        "every lease back at its address with its name"
    );
    // Consistent reads: dnsctl talks to node 2, which may not have applied
    // the import's last entries yet when the import returns.
    let reservations = dnsctl(&["--json", "--consistent", "reservations", "list"]);
    assert!(String::from_utf8_lossy(&reservations.stdout).contains("10.0.0.99"));
    let records = dnsctl(&["--json", "--consistent", "records", "list"]);
    assert!(String::from_utf8_lossy(&records.stdout).contains("www.lxd"));

    // A running node's store is locked: export refuses with a hint.
    let refused = std::process::Command::new(crate::binary())
        .args(["export", "--config"])
        .arg(&cluster.nodes[0].config)
        .output()
        .expect("run export");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("stop raftmasq"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
