//! Rotating the cluster link's certificates on a running cluster (issue 15):
//! every node gets a new key and certificate with `raftmasq cert rotate`
//! while DHCP clients renew all the time; each node picks its files up by
//! itself, then a rolling restart makes every connection use the new ones.
//! No renewal fails, a new client is served after every step, and no lease
//! is lost.

use std::time::{Duration, Instant};

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::netns;
use raftmasq_tests::testbed_cluster::TestbedCluster;

const TOOLS: &[&str] = &["ip", "bridge", "curl", "udhcpc"];
const LEASE_WAIT: Duration = Duration::from_secs(20);

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn node_certificates_rotate_under_renewing_clients_without_a_gap() {
    netns::require("certificate rotation", TOOLS);
    let mut cluster = TestbedCluster::start(crate::binary(), "cr", 3, "");
    cluster.wait_ready(Duration::from_secs(30));
    let work = tempfile::TempDir::new().expect("client dir");
    let steady = cluster
        .testbed
        .add_container(1, "s1", "02:42:ac:10:0c:01")
        .expect("container");
    let mut client = DhcpClient::start(
        ClientKind::Udhcpc,
        &steady,
        work.path(),
        &ClientOptions::hostname("s1"),
    )
    .expect("udhcpc");
    let first = client
        .wait_lease(LEASE_WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", client.log(), cluster.logs()));
    let address = first.address.expect("an address");

    let tls = cluster.dir.path().join("tls");
    let mut newcomers = Vec::new();
    let mut renewals = 0;
    // One step of the rotation, then: renewals go on, a new client binds.
    let mut step = |cluster: &mut TestbedCluster, what: &str, index: usize| {
        let deadline = Instant::now() + Duration::from_secs(4);
        while Instant::now() < deadline {
            let renewed = client.renew(Duration::from_secs(5)).unwrap_or_else(|e| {
                panic!(
                    "renewal failed after {what}: {e}\n{}\n{}",
                    client.log(),
                    cluster.logs()
                )
            });
            assert_eq!(renewed.address, Some(address), "renewal after {what}");
            renewals += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
        let name = format!("n{index}");
        let mac = format!("02:42:ac:10:0d:{index:02x}");
        let container = cluster
            .testbed
            .add_container(2, &name, &mac)
            .expect("container");
        let newcomer = DhcpClient::start(
            ClientKind::Udhcpc,
            &container,
            work.path(),
            &ClientOptions::hostname(&name),
        )
        .expect("udhcpc");
        let lease = newcomer
            .wait_lease(LEASE_WAIT)
            .unwrap_or_else(|e| panic!("no lease after {what}: {e}\n{}", cluster.logs()));
        newcomers.push((name, lease.address.expect("an address")));
        drop(newcomer);
        drop(container);
    };

    for id in 1..=3u8 {
        let before = std::fs::read(tls.join(format!("node-{id}.pem"))).expect("old certificate");
        let rotated = std::process::Command::new(crate::binary())
            .args(["cert", "rotate", "--node-id", &id.to_string(), "--ca-dir"])
            .arg(&tls)
            .output()
            .expect("raftmasq cert rotate");
        assert!(
            rotated.status.success(),
            "{}",
            String::from_utf8_lossy(&rotated.stderr)
        );
        let after = std::fs::read(tls.join(format!("node-{id}.pem"))).expect("new certificate");
        assert_ne!(before, after, "node {id}'s certificate did not change");
        let reloaded =
            netns::wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
                std::fs::read_to_string(cluster.log_path(id))
                    .is_ok_and(|log| log.contains("cluster TLS files reloaded"))
            });
        assert!(
            reloaded,
            "node {id} did not reload its files\n{}",
            cluster.logs()
        );
        step(
            &mut cluster,
            &format!("rotating node {id}"),
            usize::from(id),
        );
    }
    // A rolling restart: from now on every connection uses the new files.
    for id in 1..=3u8 {
        cluster.terminate_node(id);
        assert!(
            cluster.wait_node_exit(id, Duration::from_secs(10)),
            "node {id} did not stop"
        );
        cluster.start_node(id);
        cluster.wait_ready(Duration::from_secs(30));
        step(
            &mut cluster,
            &format!("restarting node {id}"),
            usize::from(id) + 3,
        );
    }
    assert!(renewals >= 12, "only {renewals} renewals");

    // No lease lost: the steady client and every newcomer, on every node.
    let leases = cluster.wait_converged(Duration::from_secs(20));
    for (name, leased) in std::iter::once(("s1".to_string(), address)).chain(newcomers) {
        let found = leases.iter().any(|lease| {
            lease["address"] == leased.to_string() && lease["requested_hostname"] == name.as_str()
        });
        assert!(found, "{name} ({leased}) lost: {leases:?}");
    }
}
