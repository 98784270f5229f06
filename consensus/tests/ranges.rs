//! Several ranges per network (snapshot format 3): a data directory written
//! with snapshot format 2 (one range per network, `fixtures/snapshot-format-2`)
//! loads whole; a node on it gives a network a second range, serves from it,
//! refuses a change that would strand leases, and writes format 3, which
//! loads back alike.

mod support;

use std::net::Ipv4Addr;
use std::path::Path;

use raftmasq_consensus::state::{AddressRange, ClusterSettings, Command, Rejection, Response};
use raftmasq_consensus::store::{read_replica, snapshot_format};
use raftmasq_consensus::{
    ClusterClock, ClusterLink, ClusterNode, ClusterNodeConfig, ClusterToken, Links, Member,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;

const FIXTURE: &str = "snapshot-format-2";

fn expected_replica() -> Value {
    let path = support::old_data::fixture(FIXTURE).join("expected-replica.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("expected replica"))
        .expect("expected replica is JSON")
}

fn replica_json(replica: &raftmasq_consensus::store::Replica) -> Value {
    json!({ "table": replica.table, "networks": replica.networks, "v6": replica.v6 })
}

fn range(start: u8, end: u8) -> AddressRange {
    AddressRange {
        start: Ipv4Addr::new(10, 1, 0, start),
        end: Ipv4Addr::new(10, 1, 0, end),
    }
}

/// `lab` as the fixture's file wrote it: 10.1.0.0/24, one range.
fn lab_settings() -> ClusterSettings {
    support::lab_settings()
}

/// Client `0x200 + last` (MAC 02:00:00:00:02:LAST, none of the fixture's)
/// asking for `name`.
fn bind(last: u8, name: &str) -> Command {
    support::bind_named(0x200 + u32::from(last), name, 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_format_2_data_directory_loads_whole() {
    let dir = support::old_data::copy_of(FIXTURE);
    let slot = support::old_data::snapshot_slot(dir.path());
    assert_eq!(slot[..5], [b'R', b'M', b'Q', b'S', 2], "a format-2 fixture");
    let replica = read_replica(dir.path()).await.expect("read format-2 store");
    assert_eq!(
        replica_json(&replica),
        expected_replica(),
        "format-2 snapshot plus the log after it give the old replica"
    );
    let lab = replica.network("lab").expect("lab");
    assert_eq!(
        lab.settings().expect("lab settings").ranges,
        [range(10, 200)]
    );
    assert_eq!(
        lab.address_of_name("late"),
        Some(Ipv4Addr::new(10, 1, 0, 12))
    );
    assert_eq!(replica.v6.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_format_2_data_grows_a_network_by_a_range_and_writes_format_3() {
    support::init_tracing();
    let dir = support::old_data::copy_of(FIXTURE);
    let node = start_on(dir.path()).await;

    // lab's leases are 10.1.0.10-12: keep them in a first small range and
    // add a second one; the next client is served from the second.
    let two_ranges = ClusterSettings {
        ranges: vec![range(10, 12), range(100, 110)],
        ..lab_settings()
    };
    let change = |settings: ClusterSettings| {
        Command::for_network(
            "lab",
            Command::ChangeSettings {
                settings,
                now: 0,
                based_on: None,
            },
        )
    };
    assert_eq!(
        node.write(change(two_ranges.clone())).await.expect("write"),
        Response::Done
    );
    let Response::Lease { lease } = node
        .write(Command::for_network("lab", bind(1, "fresh")))
        .await
        .expect("bind")
    else {
        panic!("no lease from the second range");
    };
    assert_eq!(lease.address, Ipv4Addr::new(10, 1, 0, 100));
    // Dropping the first range would strand web, db and late: refused, named.
    let stranding = ClusterSettings {
        ranges: vec![range(100, 110)],
        ..lab_settings()
    };
    let Response::Rejected {
        reason: Rejection::RangeStrandsLeases { leases, total, .. },
    } = node.write(change(stranding)).await.expect("write")
    else {
        panic!("a stranding change accepted");
    };
    assert_eq!(total, 3);
    assert_eq!(
        leases
            .iter()
            .map(|l| l.address.to_string())
            .collect::<Vec<_>>(),
        ["10.1.0.10", "10.1.0.11", "10.1.0.12"]
    );

    // A member's address on lab, replicated beside the tables (format 3).
    let lab_address = Command::SetNetworkAddress {
        network: "lab".into(),
        node: 1,
        address: Some(Ipv4Addr::new(10, 1, 0, 1)),
    };
    assert_eq!(
        node.write(lab_address).await.expect("write"),
        Response::Done
    );

    let before = node.replica().read().clone();
    let index = before.last_applied.expect("applied").index;
    node.raft().trigger().snapshot().await.expect("trigger");
    node.raft()
        .wait(Some(support::WAIT))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= index),
            "a new snapshot",
        )
        .await
        .expect("snapshot taken");
    node.shutdown().await;
    drop(node);

    let slot = support::old_data::snapshot_slot(dir.path());
    assert_eq!(slot[..5], [b'R', b'M', b'Q', b'S', 3]);
    assert_eq!(snapshot_format::VERSION, 3);
    let replica = read_replica(dir.path()).await.expect("read format-3 store");
    assert_eq!(replica_json(&replica), replica_json(&before));
    let lab = replica.network("lab").expect("lab");
    assert_eq!(lab.settings(), Some(&two_ranges));
    assert_eq!(lab.pool_stats().size, 3 + 11);
    assert_eq!(
        replica.network_addresses.of("lab", 1),
        Some(Ipv4Addr::new(10, 1, 0, 1))
    );
}

async fn start_on(dir: &Path) -> ClusterNode {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let member = Member {
        cluster_addr: listener.local_addr().expect("addr").to_string(),
        admin_addr: None,
        bridge_address: Some(Ipv4Addr::new(10, 0, 0, 1)),
    };
    let mut config = ClusterNodeConfig::new(
        1,
        dir.to_path_buf(),
        member,
        ClusterToken::new(support::TOKEN).expect("token"),
        ClusterLink::Tls(support::lone_node_tls(&dir.join("tls"), 1)),
        support::settings(),
    );
    let fixture_ms = expected_replica()["table"]["last_now"]
        .as_i64()
        .expect("last_now");
    config.clock = ClusterClock::with_test_offset(support::old_data::offset_to(fixture_ms));
    config.networks = vec![("lab".to_string(), lab_settings())];
    let node = ClusterNode::start(config, listener, Links::default())
        .await
        .expect("start on format-2 data");
    node.raft()
        .wait(Some(support::WAIT))
        .current_leader(1, "the lone voter leads again")
        .await
        .expect("leader");
    node
}
