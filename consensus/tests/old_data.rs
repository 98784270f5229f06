//! A data directory written by release 0.1 (JSON snapshots; see
//! `fixtures/release-0.1/README.md`) still loads, and a node started on it
//! carries on and writes the current, binary format.

mod support;

use std::path::Path;
use std::time::Duration;

use raftmasq_consensus::state::{ClientId, Command, LeaseRequest, LeaseTable, MacAddr, Response};
use raftmasq_consensus::store::{read_replica, snapshot_format};
use raftmasq_consensus::{
    ClusterClock, ClusterLink, ClusterNode, ClusterNodeConfig, ClusterToken, Links, Member,
};
use serde_json::Value;
use tokio::net::TcpListener;

const FIXTURE: &str = "release-0.1";

/// A writable copy of the fixture's data directory.
fn old_data_dir() -> tempfile::TempDir {
    support::old_data::copy_of(FIXTURE)
}

fn fixture_file(name: &str) -> std::path::PathBuf {
    support::old_data::fixture(FIXTURE).join(name)
}

/// The table release 0.1 had, as this release writes it: read through
/// `LeaseTable`'s own decoder, so fields added since take their defaults
/// (as they do when a node loads the old snapshot).
fn expected_table() -> Value {
    let text =
        std::fs::read_to_string(fixture_file("expected-table.json")).expect("expected table");
    let table: LeaseTable = serde_json::from_str(&text).expect("expected table decodes");
    serde_json::to_value(&table).expect("table as JSON")
}

/// The time of the fixture's last write (`last_now` of its table).
fn fixture_time_ms() -> i64 {
    let text =
        std::fs::read_to_string(fixture_file("expected-table.json")).expect("expected table");
    let value: Value = serde_json::from_str(&text).expect("expected table is JSON");
    value["last_now"].as_i64().expect("last_now")
}

/// The table as JSON without `last_now`, which the leader's expiry ticks
/// move on while the test runs.
fn table_without_clock(table: &raftmasq_consensus::state::LeaseTable) -> Value {
    let mut value = serde_json::to_value(table).expect("table as JSON");
    value
        .as_object_mut()
        .expect("table is an object")
        .remove("last_now");
    value
}

fn snapshot_slot(dir: &Path) -> Vec<u8> {
    support::old_data::snapshot_slot(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_0_1_data_directory_reads_offline() {
    let dir = old_data_dir();
    assert!(
        snapshot_slot(dir.path()).starts_with(b"{"),
        "the fixture holds a legacy JSON snapshot"
    );
    let replica = read_replica(dir.path()).await.expect("read old store");
    assert_eq!(
        serde_json::to_value(&replica.table).expect("table as JSON"),
        expected_table(),
        "snapshot plus the log after it give the table the old release had"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_starts_on_release_0_1_data_and_writes_binary_snapshots() {
    support::init_tracing();
    let dir = old_data_dir();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let member = Member {
        cluster_addr: listener.local_addr().expect("addr").to_string(),
        admin_addr: None,
        bridge_address: Some(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    };
    let mut config = ClusterNodeConfig::new(
        1,
        dir.path().to_path_buf(),
        member,
        ClusterToken::new(support::TOKEN).expect("token"),
        ClusterLink::Tls(support::lone_node_tls(&dir.path().join("tls"), 1)),
        support::settings(),
    );
    // The node's clock runs at the fixture's time: its leases (one hour)
    // would otherwise have ended long before this test runs.
    config.clock = ClusterClock::with_test_offset(support::old_data::offset_to(fixture_time_ms()));
    let node = ClusterNode::start(config, listener, Links::default())
        .await
        .expect("start on old data");
    node.raft()
        .wait(Some(support::WAIT))
        .current_leader(1, "the lone voter leads again")
        .await
        .expect("leader");
    let mac = MacAddr([0x02, 0, 0, 0, 0, 0x20]);
    let granted = node
        .write(Command::Bind {
            request: LeaseRequest {
                client_id: ClientId::from_mac(mac),
                mac,
                hostname: Some("after-upgrade".into()),
                requested_address: None,
                seen_by: Some(1),
            },
            now: 1_767_225_700_000,
            lease_time_secs: None,
        })
        .await
        .expect("write after the upgrade");
    assert!(matches!(granted, Response::Lease { .. }), "{granted:?}");
    let before = table_without_clock(&node.replica().read().table);
    node.raft().trigger().snapshot().await.expect("trigger");
    node.raft()
        .wait(Some(support::WAIT))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index > 12),
            "a new snapshot",
        )
        .await
        .expect("snapshot taken");
    node.shutdown().await;
    drop(node);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let slot = snapshot_slot(dir.path());
    assert!(
        slot.starts_with(&snapshot_format::MAGIC),
        "the new snapshot is binary"
    );
    let replica = read_replica(dir.path()).await.expect("read new store");
    let after = table_without_clock(&replica.table);
    assert_eq!(after, before, "the binary snapshot holds the whole table");
    let names: Vec<&str> = after["leases"]
        .as_array()
        .expect("leases")
        .iter()
        .filter_map(|lease| lease["granted_name"].as_str())
        .collect();
    for name in ["web", "db", "web-2", "late", "later", "after-upgrade"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
}
