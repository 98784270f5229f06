//! Benchmark (not a test): committed allocations per second on a three-node
//! loopback cluster with durable sled storage, first with one command per log
//! entry (batching off: what every version before batching did), then with
//! the default batching; and the time to restart a node that holds a full /16
//! (65,534 leases), with the process's resident memory (the three nodes
//! together) at each step.
//!
//!     cargo run --release -p raftmasq-consensus --example bench_cluster -- [DATA_ROOT] [--fill-only]
//!
//! `--fill-only` skips the commit rates and only fills the /16 and restarts a
//! follower (the memory figures of docs/benchmarks.md).
//!
//! DATA_ROOT must be on a real disk (default: ./target/bench-data), since the
//! point is to pay for the fsyncs.

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use raftmasq_consensus::state::{
    AddressRange, ClientId, ClusterSettings, Command, HostnamePolicy, LeaseRequest, MacAddr,
    Response,
};
use raftmasq_consensus::{Batching, ClusterNode};
use support::TestCluster;

const FULL_POOL: u32 = 65_534;

fn settings() -> ClusterSettings {
    ClusterSettings {
        subnet: "10.0.0.0/16".parse().expect("subnet"),
        ranges: vec![AddressRange {
            start: Ipv4Addr::new(10, 0, 0, 1),
            end: Ipv4Addr::new(10, 0, 255, 254),
        }],
        domain: "lxd".into(),
        lease_time_secs: 86_400,
        duplicate_hostnames: HostnamePolicy::Suffix,
        decline_quarantine_secs: 600,
        client_identity: Default::default(),
    }
}

fn bind(n: u32) -> Command {
    let [_, b, c, d] = n.to_be_bytes();
    let mac = MacAddr([0x02, 0x00, 0x00, b, c, d]);
    Command::Bind {
        request: LeaseRequest {
            client_id: ClientId::from_mac(mac),
            mac,
            hostname: Some(format!("c{n}")),
            requested_address: None,
            seen_by: Some(1),
        },
        now: 0,
        lease_time_secs: None,
    }
}

/// `clients` concurrent writers issue Binds through `node` until `total`
/// leases are committed; returns (elapsed, per-write latencies).
async fn run_writers(
    node: &ClusterNode,
    first: u32,
    total: u32,
    clients: u32,
) -> (Duration, Vec<Duration>) {
    let next = Arc::new(AtomicU32::new(first));
    let end = first + total;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (node, next) = (node.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    return latencies;
                }
                let sent = Instant::now();
                match node.write(bind(n)).await {
                    Ok(Response::Lease { .. }) => latencies.push(sent.elapsed()),
                    other => panic!("bind {n}: {other:?}"),
                }
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("writer"));
    }
    (started.elapsed(), latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// The last log index the node has written.
fn last_log_index(node: &ClusterNode) -> u64 {
    node.metrics().last_log_index.unwrap_or(0)
}

/// Commit rates for 1 to 128 concurrent writers, on a cluster without leases.
async fn measure(node: &ClusterNode) {
    let mut next = 0;
    println!(
        "{:>8} {:>10} {:>12} {:>10} {:>10} {:>10} {:>12}",
        "clients", "commits", "commits/s", "p50 ms", "p99 ms", "max ms", "cmds/entry"
    );
    for clients in [1, 8, 32, 128] {
        let total = if clients == 1 { 500 } else { 4_000 };
        let entries_before = last_log_index(node);
        let (elapsed, mut latencies) = run_writers(node, next, total, clients).await;
        let entries = last_log_index(node).saturating_sub(entries_before).max(1);
        next += total;
        latencies.sort();
        println!(
            "{:>8} {:>10} {:>12.0} {:>10.2} {:>10.2} {:>10.2} {:>12.1}",
            clients,
            total,
            f64::from(total) / elapsed.as_secs_f64(),
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            f64::from(total) / entries as f64,
        );
    }
}

/// `/proc/self/status` VmRSS and VmHWM, and the anonymous part of the
/// resident set (`/proc/self/smaps_rollup`), in MiB.
fn memory(step: &str, leases: usize) {
    let field = |file: &str, name: &str| -> f64 {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with(name))
                    .and_then(|line| line.split_whitespace().nth(1))
                    .and_then(|kib| kib.parse::<f64>().ok())
            })
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    println!(
        "memory {step:<22} leases {leases:>6}: VmRSS {:6.1} MiB, VmHWM {:6.1} MiB, anonymous {:6.1} MiB (three nodes in one process)",
        field("/proc/self/status", "VmRSS:"),
        field("/proc/self/status", "VmHWM:"),
        field("/proc/self/smaps_rollup", "Anonymous:"),
    );
}

fn main() {
    // As the daemon does before any thread starts.
    raftmasq_consensus::store::limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}

async fn run() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fill_only = args.iter().any(|arg| arg == "--fill-only");
    let root = args
        .iter()
        .find(|arg| !arg.starts_with("--"))
        .map_or_else(|| PathBuf::from("target/bench-data"), PathBuf::from);
    std::fs::create_dir_all(&root).expect("data root");
    // Production timing (config defaults): election 1 s, heartbeat 250 ms.
    let timing = (Duration::from_millis(1_000), Duration::from_millis(250));
    let unbatched = Batching {
        max_commands: 1,
        max_in_flight: 1_024,
    };
    let in_flight = |max_in_flight| Batching {
        max_in_flight,
        ..Batching::default()
    };
    for (label, batching) in [
        ("one command per entry", unbatched),
        ("batched (default)", Batching::default()),
        ("batched, 2 entries in flight", in_flight(2)),
        ("batched, 4 entries in flight", in_flight(4)),
    ] {
        if fill_only {
            break;
        }
        let cluster =
            TestCluster::start_batched(3, 5_000, settings(), Some(&root), Some(timing), batching)
                .await;
        let leader = cluster.ready().await;
        println!(
            "3-node loopback cluster, durable sled storage under {}, {label}: {batching:?}",
            root.display()
        );
        measure(cluster.node(leader)).await;
        cluster.shutdown().await;
    }

    let mut cluster =
        TestCluster::start_timed(3, 5_000, settings(), Some(&root), Some(timing)).await;
    let leader = cluster.ready().await;
    let node = cluster.node(leader).clone();
    memory("idle", 0);
    // Fill a /16 from empty (batched), then restart a follower that holds it all.
    let fill_started = Instant::now();
    run_writers(&node, 0, 10_000, 128).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    memory("10k leases", 10_000);
    run_writers(&node, 10_000, FULL_POOL - 10_000, 128).await;
    println!(
        "filled the /16 ({FULL_POOL} leases) in {:.1} s",
        fill_started.elapsed().as_secs_f64()
    );
    match node.write(bind(FULL_POOL + 1)).await {
        Ok(Response::Rejected { reason }) => println!("next allocation: rejected: {reason}"),
        other => panic!("expected pool exhausted, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    memory("full /16", FULL_POOL as usize);
    let leader = cluster.leader().await;
    let target = cluster.last_applied(leader);
    let follower = *cluster
        .nodes
        .keys()
        .find(|id| **id != leader)
        .expect("a follower");
    cluster.kill(follower).await;
    let restart_started = Instant::now();
    let restarted = cluster.restart(follower).await;
    let started_in = restart_started.elapsed();
    cluster.applied_at_least(follower, target).await;
    let caught_up_in = restart_started.elapsed();
    let leases = restarted.replica().read().table.leases().count();
    println!(
        "restart of a follower holding {leases} leases: store opened and Raft started in {:.2} s, all {target} entries applied in {:.2} s",
        started_in.as_secs_f64(),
        caught_up_in.as_secs_f64()
    );
    drop(restarted);
    tokio::time::sleep(Duration::from_secs(2)).await;
    memory("follower restarted", leases);
    cluster.shutdown().await;
}
