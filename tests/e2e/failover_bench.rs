//! The failover benchmark (issue 19 item 7; `scripts/bench-failover.sh`,
//! figures in docs/benchmarks.md): on the three-host testbed with the
//! daemon's default timings, rounds of `kill -9` and of SIGTERM of the
//! current leader, each timed from the signal to the first lease of a new
//! container.
//!
//! A round: wait until the cluster is whole (every node agrees on the
//! leader, the replicas hold the same leases) and then [`SETTLE`] more (a
//! leader has led for a while in practice; a leader elected less than a
//! lease ago cannot hand over at once, see consensus/src/node/handover.rs);
//! add a new container (its own namespace on a survivor's bridge); note the
//! wall clock; signal the leader; start udhcpc in the container (a DISCOVER,
//! then again every second: `-T 1 -t 3 -A 1`, so after the third unanswered
//! one the next comes 2 s later); the failover time is the moment udhcpc's
//! script reported the lease (its `at=` wall clock) minus the signal's.
//! For SIGTERM, how long the process took to exit too. Then the stopped
//! node starts again and rejoins. SIGKILL and SIGTERM rounds alternate.
//!
//! `FAILOVER_ROUNDS` (default 20) rounds of each.

use std::time::{Duration, Instant};

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::netns;
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions};
use raftmasq_tests::wall_ms;

/// Time after the cluster is whole before the next signal.
const SETTLE: Duration = Duration::from_secs(3);
/// A round whose client has no lease by then fails the benchmark.
const LEASE_WAIT: Duration = Duration::from_secs(30);
/// How long a SIGTERMed node may take to exit before it counts as hung.
const EXIT_WAIT: Duration = Duration::from_secs(10);

fn rounds() -> usize {
    std::env::var("FAILOVER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// Nearest-rank percentile of sorted `values`.
fn percentile(sorted: &[u64], p: usize) -> u64 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn summary(name: &str, values: &[u64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return format!("{name}: no rounds");
    }
    format!(
        "{name}: n={} min={} p50={} p95={} max={} ms; all: {sorted:?}",
        sorted.len(),
        sorted[0],
        percentile(&sorted, 50),
        percentile(&sorted, 95),
        sorted[sorted.len() - 1],
    )
}

/// Waits until all three nodes run, agree on the leader and hold the same
/// leases; then [`SETTLE`]. Returns the leader's host.
fn whole(cluster: &TestbedCluster) -> u8 {
    cluster.wait_ready(Duration::from_secs(60));
    cluster.wait_converged(Duration::from_secs(30));
    std::thread::sleep(SETTLE);
    let leader = cluster.wait_leader_among(&[1, 2, 3], Duration::from_secs(30));
    u8::try_from(leader).expect("host index")
}

#[test]
#[ignore = "needs root, ip, curl and udhcpc; a benchmark of minutes: scripts/bench-failover.sh"]
fn failover_bench() {
    netns::require("failover benchmark", &["ip", "bridge", "curl", "udhcpc"]);
    let rounds = rounds();
    let options = TestbedOptions {
        default_timings: true,
        ..TestbedOptions::default()
    };
    let mut cluster = TestbedCluster::start_with(crate::binary(), "fb", 3, &options);
    let work = tempfile::TempDir::new().expect("client dir");
    let (mut killed, mut stopped, mut exits) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..2 * rounds {
        let graceful = round % 2 == 1;
        let leader = whole(&cluster);
        let host = leader % 3 + 1;
        let name = format!("fb{round}");
        let mac = format!("02:42:ac:12:{:02x}:{:02x}", round / 256, round % 256);
        let container = cluster
            .testbed
            .add_container(host, &name, &mac)
            .expect("container");
        let signalled_ms = wall_ms();
        let signalled = Instant::now();
        if graceful {
            cluster.terminate_node(leader);
        } else {
            cluster.kill_node(leader);
        }
        let mut client = DhcpClient::start(
            ClientKind::Udhcpc,
            &container,
            work.path(),
            &ClientOptions::hostname(&name),
        )
        .expect("udhcpc");
        let exit = graceful.then(|| {
            let exited = cluster.wait_node_exit(leader, EXIT_WAIT);
            assert!(
                exited,
                "node {leader} did not exit within {EXIT_WAIT:?} of SIGTERM\n{}",
                cluster.logs()
            );
            u64::try_from(signalled.elapsed().as_millis()).unwrap_or(u64::MAX)
        });
        let lease = client
            .wait_lease(LEASE_WAIT)
            .unwrap_or_else(|e| panic!("round {round}: {e}\n{}", cluster.logs()));
        let took = lease
            .at_ms
            .expect("udhcpc reports when")
            .saturating_sub(signalled_ms);
        eprintln!(
            "round {round}: {} of leader node {leader}: new client on host {host} bound {:?} from {:?} after {took} ms{}",
            if graceful { "SIGTERM" } else { "SIGKILL" },
            lease.address,
            lease.server_id,
            exit.map(|ms| format!(", the node exited within {ms} ms"))
                .unwrap_or_default(),
        );
        if graceful {
            stopped.push(took);
            exits.extend(exit);
        } else {
            killed.push(took);
        }
        client.stop();
        drop(client);
        drop(container);
        cluster.start_node(leader);
    }
    eprintln!(
        "{}",
        summary("SIGKILL of the leader -> first lease", &killed)
    );
    eprintln!(
        "{}",
        summary("SIGTERM of the leader -> first lease", &stopped)
    );
    eprintln!(
        "{}",
        summary(
            "SIGTERM of the leader -> process exit (20 ms polls)",
            &exits
        )
    );
}
