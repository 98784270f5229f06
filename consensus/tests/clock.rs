//! Cluster time with one skewed host, in process: each node owns its clock,
//! and a host 180 s ahead follows the voters' median (the regression of the
//! fault suite's clock fault, without namespaces).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use raftmasq_consensus::clock::{DEAD_BAND_MS, system_millis};
use support::TestCluster;

const AHEAD_MS: i64 = 180_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_180_s_ahead_follows_the_voters_and_the_others_keep_their_time() {
    let cluster = TestCluster::start_skewed(3, BTreeMap::from([(3, AHEAD_MS)])).await;
    cluster.ready().await;
    let skewed = cluster.node(3).clock();
    let drift = skewed.local_millis().abs_diff(system_millis());
    assert!(
        drift >= 179_000,
        "node 3's host clock is ahead ({drift} ms)"
    );
    let deadline = tokio::time::Instant::now() + support::WAIT;
    while skewed.correction_ms() > -(AHEAD_MS - DEAD_BAND_MS) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "node 3 never corrected its clock: {} ms",
            skewed.correction_ms()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let off = skewed.now_millis().abs_diff(system_millis());
    assert!(off < 1_000, "node 3's cluster time is {off} ms off");
    for id in [1, 2] {
        let clock = cluster.node(id).clock();
        assert_eq!(clock.correction_ms(), 0, "node {id} keeps its own time");
    }
    cluster.shutdown().await;
}
