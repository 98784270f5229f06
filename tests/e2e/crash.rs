//! Durability: every write acknowledged to a caller survives `kill -9` of every
//! node at once, followed by a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raftmasq_consensus::state::{ClientId, Command, LeaseRequest, MacAddr};
use raftmasq_tests::admin::AdminClient;
use raftmasq_tests::{Daemon, LoopbackCluster};
use serde_json::Value;

const ROUNDS: u32 = 3;
const WRITERS: u32 = 4;

fn bind_command(round: u32, writer: u32, n: u32) -> Value {
    let mac = MacAddr([
        0x02,
        u8::try_from(round).unwrap_or(0),
        u8::try_from(writer).unwrap_or(0),
        0,
        (n >> 8) as u8,
        n as u8,
    ]);
    let command = Command::Bind {
        request: LeaseRequest {
            client_id: ClientId::from_mac(mac),
            mac,
            hostname: Some(format!("r{round}w{writer}n{n}")),
            requested_address: None,
            seen_by: None,
        },
        now: 0,
        lease_time_secs: None,
    };
    serde_json::to_value(command).expect("serialise command")
}

fn start_all(cluster: &LoopbackCluster) -> Vec<Daemon> {
    cluster
        .nodes
        .iter()
        .map(|node| Daemon::start(crate::binary(), &node.config, &node.log))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_of_every_node() {
    let cluster = LoopbackCluster::new(3, "");
    let admin_addrs: Vec<String> = cluster.nodes.iter().map(|n| n.admin_addr.clone()).collect();
    let admin = Arc::new(AdminClient::default());
    let mut daemons = start_all(&cluster);
    admin
        .wait_ready(&admin_addrs, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&daemons)));

    // mac → address, for every write the cluster acknowledged.
    let acknowledged: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for writer in 0..WRITERS {
            let (admin, addrs, acknowledged, stop) = (
                admin.clone(),
                admin_addrs.clone(),
                acknowledged.clone(),
                stop.clone(),
            );
            writers.push(tokio::spawn(async move {
                for n in 0..5_000u32 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let via = &addrs[usize::try_from(n + writer).unwrap_or(0) % addrs.len()];
                    if let Ok(answer) = admin.command(via, &bind_command(round, writer, n)).await {
                        let lease = &answer["lease"];
                        // The raw command answer carries the MAC as octets;
                        // `/api/v1/leases` shows it as text.
                        let mac: MacAddr =
                            serde_json::from_value(lease["mac"].clone()).expect("mac");
                        let mac = mac.to_string();
                        let address = lease["address"].as_str().expect("address").to_string();
                        acknowledged.lock().expect("lock").insert(mac, address);
                    }
                }
            }));
        }
        // Let writes flow, then pull the plug on every node while writers are mid-flight.
        let target = acknowledged.lock().expect("lock").len() + 40;
        let deadline = Instant::now() + Duration::from_secs(20);
        while acknowledged.lock().expect("lock").len() < target && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for daemon in &mut daemons {
            daemon.kill_hard();
        }
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.await.expect("writer task");
        }
        let acked = acknowledged.lock().expect("lock").clone();
        assert!(
            acked.len() >= target.min(40),
            "round {round}: too few writes acknowledged ({})",
            acked.len()
        );

        daemons = start_all(&cluster);
        admin
            .wait_ready(&admin_addrs, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", logs(&daemons)));
        for addr in &admin_addrs {
            let leases = read_leases(&admin, addr).await;
            let held: BTreeMap<String, String> = leases
                .iter()
                .map(|l| {
                    (
                        l["mac"].as_str().unwrap_or_default().to_string(),
                        l["address"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            for (mac, address) in &acked {
                if held.get(mac) != Some(address) {
                    let kept = cluster.dir.path().to_path_buf();
                    std::mem::forget(cluster);
                    panic!(
                        "round {round}: lease of {mac} ({address}) lost on node at {addr}; files kept in {}",
                        kept.display()
                    );
                }
            }
            let addresses: BTreeSet<&String> = held.values().collect();
            assert_eq!(addresses.len(), held.len(), "an address is held twice");
        }
    }
}

async fn read_leases(admin: &AdminClient, addr: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match admin.leases(addr, true).await {
            Ok(leases) => return leases,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "consistent read from {addr}: {error}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn logs(daemons: &[Daemon]) -> String {
    daemons
        .iter()
        .map(|d| format!("--- {}\n{}", d.log.display(), d.log_text()))
        .collect()
}
