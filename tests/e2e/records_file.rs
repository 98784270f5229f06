//! `dns.records_file`: its records reach the cluster at start and on SIGHUP.

use std::time::{Duration, Instant};

use raftmasq_tests::admin::AdminClient;
use raftmasq_tests::{Daemon, LoopbackCluster};
use serde_json::Value;

async fn records(addr: &str) -> Vec<Value> {
    let url = format!("http://{addr}/api/v1/records");
    let body: Value = reqwest::get(&url)
        .await
        .expect("GET records")
        .json()
        .await
        .expect("JSON");
    body.as_array().cloned().unwrap_or_default()
}

async fn wait_for_record(addr: &str, name: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list = records(addr).await;
        if list.iter().any(|r| r["name"] == name) {
            return list;
        }
        assert!(Instant::now() < deadline, "{name} never appeared: {list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_file_entries_are_added_at_start_and_on_sighup() {
    let files = tempfile::TempDir::new().expect("dir");
    let path = files.path().join("records.toml");
    std::fs::write(
        &path,
        "[[record]]\nname = \"www\"\ntype = \"A\"\nvalue = \"10.0.0.5\"\n",
    )
    .expect("records");
    let cluster = LoopbackCluster::new(3, &format!("records_file = \"{}\"", path.display()));
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.admin_addr.clone()).collect();
    let daemons: Vec<Daemon> = cluster
        .nodes
        .iter()
        .map(|n| Daemon::start(crate::binary(), &n.config, &n.log))
        .collect();
    AdminClient::default()
        .wait_ready(&addrs, Duration::from_secs(30))
        .await
        .expect("ready");

    // Every node read the same file: one record, on every replica.
    let list = wait_for_record(&addrs[2], "www.lxd").await;
    assert_eq!(
        list.iter().filter(|r| r["name"] == "www.lxd").count(),
        1,
        "{list:?}"
    );

    // A new entry and a SIGHUP to one node.
    std::fs::write(
        &path,
        "[[record]]\nname = \"www\"\ntype = \"A\"\nvalue = \"10.0.0.5\"\n\n[[record]]\nname = \"mail\"\ntype = \"MX\"\nvalue = \"10 www\"\n",
    )
    .expect("records");
    daemons[1].signal("HUP");
    let list = wait_for_record(&addrs[0], "mail.lxd").await;
    let mx = list.iter().find(|r| r["name"] == "mail.lxd").expect("MX");
    assert_eq!(mx["data"]["exchange"], "www.lxd", "{mx}");

    // A broken file is reported by name and changes nothing.
    std::fs::write(
        &path,
        "[[record]]\nname = \"bad\"\ntype = \"A\"\nvalue = \"nope\"\n",
    )
    .expect("records");
    daemons[1].signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !daemons[1].log_text().contains("not an IPv4 address") {
        assert!(
            Instant::now() < deadline,
            "no error logged:\n{}",
            daemons[1].log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(daemons[1].log_text().contains("records.toml: record 1"));
    assert!(
        !records(&addrs[0])
            .await
            .iter()
            .any(|r| r["name"] == "bad.lxd")
    );
}
