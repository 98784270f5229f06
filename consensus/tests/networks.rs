//! Several networks in one cluster: a data directory of the last
//! single-network release (snapshot format 1, `fixtures/snapshot-format-1`)
//! loads as network `default` and carries on with a second network; a
//! three-node cluster serves two networks, replicates both and ships them in
//! snapshots.

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use raftmasq_consensus::state::{
    AddressRange, ClusterSettings, Command, DEFAULT_NETWORK, LeaseTable, Response,
};
use raftmasq_consensus::store::{read_replica, snapshot_format};
use raftmasq_consensus::{
    ClusterClock, ClusterLink, ClusterNode, ClusterNodeConfig, ClusterToken, Links, Member,
};
use serde_json::Value;
use tokio::net::TcpListener;

const FIXTURE: &str = "snapshot-format-1";

fn old_data_dir() -> tempfile::TempDir {
    support::old_data::copy_of(FIXTURE)
}

fn expected_table() -> Value {
    let text =
        std::fs::read_to_string(support::old_data::fixture(FIXTURE).join("expected-table.json"))
            .expect("expected table");
    let table: LeaseTable = serde_json::from_str(&text).expect("expected table decodes");
    serde_json::to_value(&table).expect("table as JSON")
}

fn fixture_time_ms() -> i64 {
    let text =
        std::fs::read_to_string(support::old_data::fixture(FIXTURE).join("expected-table.json"))
            .expect("expected table");
    let value: Value = serde_json::from_str(&text).expect("expected table is JSON");
    value["last_now"].as_i64().expect("last_now")
}

fn snapshot_slot(dir: &Path) -> Vec<u8> {
    support::old_data::snapshot_slot(dir)
}

/// The second network of these tests: 10.1.0.0/24 in domain lab.lxd.
fn lab_settings() -> ClusterSettings {
    support::lab_settings()
}

/// Client `0x100 + last` (MAC 02:00:00:00:01:LAST) asking for `name`.
fn bind(last: u8, name: &str) -> Command {
    support::bind_named(0x100 + u32::from(last), name, 0)
}

fn granted(response: Response) -> Ipv4Addr {
    match response {
        Response::Lease { lease } => lease.address,
        other => panic!("expected a lease, got {other:?}"),
    }
}

fn names(table: &LeaseTable) -> Vec<String> {
    table
        .leases()
        .filter_map(|lease| lease.granted_name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_format_1_data_directory_loads_as_network_default() {
    let dir = old_data_dir();
    let slot = snapshot_slot(dir.path());
    assert_eq!(
        slot[..5],
        [b'R', b'M', b'Q', b'S', 1],
        "the fixture holds a format-1 snapshot"
    );
    let replica = read_replica(dir.path()).await.expect("read old store");
    assert_eq!(
        serde_json::to_value(&replica.table).expect("table as JSON"),
        expected_table(),
        "format-1 snapshot plus the log after it give the old table"
    );
    assert!(replica.networks.is_empty(), "no other network");
    let default = replica.network(DEFAULT_NETWORK).expect("default network");
    assert_eq!(names(default), ["web", "db", "cache", "late"]);
    assert!(
        default
            .reservation_for_address("10.0.0.200".parse().unwrap())
            .is_some()
    );
    assert_eq!(
        replica
            .all_networks()
            .map(|(name, _)| name)
            .collect::<Vec<_>>(),
        [DEFAULT_NETWORK]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_format_1_data_adds_a_network_and_writes_the_current_format() {
    support::init_tracing();
    let dir = old_data_dir();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let member = Member {
        cluster_addr: listener.local_addr().expect("addr").to_string(),
        admin_addr: None,
        bridge_address: Some(Ipv4Addr::new(10, 0, 0, 1)),
    };
    let mut config = ClusterNodeConfig::new(
        1,
        dir.path().to_path_buf(),
        member,
        ClusterToken::new(support::TOKEN).expect("token"),
        ClusterLink::Tls(support::lone_node_tls(&dir.path().join("tls"), 1)),
        support::settings(),
    );
    // Run the clock at the fixture's time, so its one-hour leases still live.
    config.clock = ClusterClock::with_test_offset(support::old_data::offset_to(fixture_time_ms()));
    // The upgraded file names a second network: the leader adds it.
    config.networks = vec![("lab".to_string(), lab_settings())];
    let node = ClusterNode::start(config, listener, Links::default())
        .await
        .expect("start on format-1 data");
    node.raft()
        .wait(Some(support::WAIT))
        .current_leader(1, "the lone voter leads again")
        .await
        .expect("leader");

    let mut applied = node.replica().subscribe();
    tokio::time::timeout(support::WAIT, async {
        while node.replica().read().network("lab").is_none() {
            applied.changed().await.expect("node runs");
        }
    })
    .await
    .expect("the leader adds the configured network");
    let again = Command::for_network(
        "lab",
        Command::Initialize {
            settings: lab_settings(),
        },
    );
    assert!(matches!(
        node.write(again).await.expect("write"),
        Response::Rejected { .. }
    ));
    let lab_web = granted(
        node.write(Command::for_network("lab", bind(1, "web")))
            .await
            .expect("bind in lab"),
    );
    let home_new = granted(node.write(bind(2, "fresh")).await.expect("bind in default"));
    assert!(lab_settings().subnet.contains(&lab_web), "{lab_web}");
    assert!(support::settings().subnet.contains(&home_new), "{home_new}");

    let before = node.replica().read().clone();
    let snapshot_index = before.last_applied.expect("applied").index;
    node.raft().trigger().snapshot().await.expect("trigger");
    node.raft()
        .wait(Some(support::WAIT))
        .metrics(
            |m| m.snapshot.is_some_and(|s| s.index >= snapshot_index),
            "a new snapshot",
        )
        .await
        .expect("snapshot taken");
    node.shutdown().await;
    drop(node);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let slot = snapshot_slot(dir.path());
    assert_eq!(
        slot[..5],
        [b'R', b'M', b'Q', b'S', snapshot_format::VERSION]
    );
    let replica = read_replica(dir.path()).await.expect("read new store");
    let default = replica.network(DEFAULT_NETWORK).expect("default");
    assert_eq!(names(default), ["web", "db", "cache", "late", "fresh"]);
    let lab = replica.network("lab").expect("lab survives the snapshot");
    assert_eq!(lab.settings().expect("lab settings").domain, "lab.lxd");
    assert_eq!(lab.address_of_name("web"), Some(lab_web));
    assert_eq!(
        serde_json::to_value(&replica.networks).expect("networks as JSON"),
        serde_json::to_value(&before.networks).expect("networks as JSON"),
    );
}

/// Three nodes, two networks: writes through any node land in the right
/// network on every replica, an overlapping third network is refused, and a
/// node restarted from a snapshot has both networks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_serves_two_networks_on_every_replica() {
    support::init_tracing();
    let mut cluster = support::TestCluster::start_with(3, 8).await;
    let leader = cluster.ready().await;
    let follower = cluster.follower_of(leader);
    let init = Command::for_network(
        "lab",
        Command::Initialize {
            settings: lab_settings(),
        },
    );
    assert_eq!(
        cluster.node(follower).write(init).await.expect("add lab"),
        Response::Done
    );
    let mut overlapping = lab_settings();
    overlapping.domain = "dmz.lxd".into();
    overlapping.subnet = "10.1.0.128/25".parse().expect("subnet");
    overlapping.ranges = vec![AddressRange {
        start: Ipv4Addr::new(10, 1, 0, 130),
        end: Ipv4Addr::new(10, 1, 0, 140),
    }];
    let refused = cluster
        .node(leader)
        .write(Command::for_network(
            "dmz",
            Command::Initialize {
                settings: overlapping,
            },
        ))
        .await
        .expect("write");
    assert!(
        matches!(refused, Response::Rejected { .. }),
        "overlap refused: {refused:?}"
    );
    let mut lab_addresses = Vec::new();
    for n in 1..=10u8 {
        let via = if n % 2 == 0 { leader } else { follower };
        let home = granted(
            cluster
                .node(via)
                .write(bind(n, &format!("h{n}")))
                .await
                .expect("bind"),
        );
        let lab = granted(
            cluster
                .node(via)
                .write(Command::for_network("lab", bind(n, &format!("h{n}"))))
                .await
                .expect("bind in lab"),
        );
        assert!(support::settings().subnet.contains(&home));
        assert!(lab_settings().subnet.contains(&lab));
        lab_addresses.push(lab);
    }
    let last = cluster.last_applied(leader);
    let victim = (1..=3)
        .find(|&id| id != leader && id != follower)
        .expect("third node");
    for id in 1..=3 {
        cluster.applied_at_least(id, last).await;
        let replica = cluster.node(id).replica().read().clone();
        let lab = replica.network("lab").expect("lab on every replica");
        assert_eq!(lab.leases().count(), 10, "node {id}");
        assert_eq!(replica.table.leases().count(), 10, "node {id}");
        assert!(replica.network("dmz").is_none());
        for (n, address) in (1..=10u8).zip(&lab_addresses) {
            assert_eq!(lab.address_of_name(&format!("h{n}")), Some(*address));
        }
    }
    // Restart a node: it loads its snapshot (taken every 8 entries) and the
    // log after it, and has both networks again.
    cluster.kill(victim).await;
    let restarted = cluster.restart(victim).await;
    cluster.applied_at_least(victim, last).await;
    let replica = restarted.replica().read().clone();
    assert_eq!(
        replica
            .network("lab")
            .expect("lab after restart")
            .leases()
            .count(),
        10
    );
    assert_eq!(replica.table.leases().count(), 10);
    cluster.shutdown().await;
}
