//! The web dashboard in a real browser: Debian's headless Chromium, driven by
//! playwright-core from `tests/dashboard/dashboard.test.mjs`, against a
//! 3-node loopback cluster of real daemons. This module starts the cluster,
//! creates leases (a DHCPv6 one too), a hostname conflict and a decline, then runs
//! `node --test` with the addresses, token, dnsctl and the PID of the node
//! the browser test kills, and fails when that run fails.
//!
//! Screenshots go to a temporary directory, or to
//! `RAFTMASQ_DASHBOARD_SCREENSHOTS` (the ones in docs/dashboard/ were made
//! with `RAFTMASQ_DASHBOARD_SCREENSHOTS=$PWD/docs/dashboard`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use raftmasq_consensus::state::{ClientId, Command as StateCommand, MacAddr};
use raftmasq_tests::admin::AdminClient;
use raftmasq_tests::cluster::{ADMIN_TOKEN, TOKEN};
use raftmasq_tests::dnsprobe;
use raftmasq_tests::{Daemon, LoopbackCluster, free_port, wall_ms};
use serde_json::Value;

use crate::dnsctl::dnsctl_binary;

const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser run (launch, six checks, screenshots) takes ~20 s.
const BROWSER_RUN_LIMIT: Duration = Duration::from_secs(180);

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard")
}

/// Fails the test, naming what is missing, unless Node, Chromium and `npm
/// ci`'s playwright-core are there (the test is `#[ignore]`d: it runs only
/// when opted in, as `scripts/test.sh` does).
fn require_browser() {
    let mut missing = Vec::new();
    // playwright-core needs Node.js 20 or later.
    let node_major = Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| {
            let version = String::from_utf8_lossy(&out.stdout).into_owned();
            version
                .trim()
                .strip_prefix('v')?
                .split('.')
                .next()?
                .parse::<u32>()
                .ok()
        });
    if node_major.is_none_or(|major| major < 20) {
        missing.push(format!("Node.js 20 or later (found {node_major:?})"));
    }
    if !Path::new(CHROMIUM).is_file() {
        missing.push(format!("{CHROMIUM} (apt-get install chromium)"));
    }
    if !project().join("node_modules/playwright-core").is_dir() {
        missing.push("playwright-core (npm ci in tests/dashboard)".to_string());
    }
    assert!(
        missing.is_empty(),
        "dashboard: missing {}; run scripts/install-test-deps.sh as root",
        missing.join(", ")
    );
}

fn bind(mac: [u8; 6], hostname: &str, seen_by: u64) -> Value {
    crate::dnsctl::bind_at(mac, hostname, seen_by, wall_ms())
}

/// Leases seen by each node, two clients asking for one name (a conflict),
/// and a client declining its address (a quarantine).
async fn populate(admin: &AdminClient, addr: &str) -> Result<Vec<String>, String> {
    let mut addresses = Vec::new();
    for (last, name, seen_by) in [
        (0x11, "web", 1),
        (0x12, "db", 2),
        (0x13, "cache", 3),
        (0x14, "web", 2),
        (0x15, "build", 1),
    ] {
        let answer = admin
            .command(addr, &bind([2, 0x42, 0, 0, 0, last], name, seen_by))
            .await?;
        let address = answer["lease"]["address"]
            .as_str()
            .ok_or_else(|| format!("no lease in {answer}"))?;
        addresses.push(address.to_string());
    }
    let declined = MacAddr([2, 0x42, 0, 0, 0, 0x15]);
    let decline = serde_json::to_value(StateCommand::Decline {
        client_id: ClientId::from_mac(declined),
        mac: Some(declined),
        address: addresses[4].parse().map_err(|e| format!("{e}"))?,
        now: wall_ms(),
    })
    .map_err(|e| e.to_string())?;
    admin.command(addr, &decline).await?;
    addresses.pop();
    Ok(addresses)
}

/// A DHCPv6 lease for `db`'s MAC (committed as the stateful server would),
/// so the page shows a v6 row named as the machine's v4 lease.
async fn populate_v6(admin: &AdminClient, addr: &str) -> Result<String, String> {
    use raftmasq_consensus::state::v6::{Duid, V6Binding, V6LeaseRequest, V6Range, V6Want};
    let mac = MacAddr([2, 0x42, 0, 0, 0, 0x12]);
    let range = V6Range {
        start: "fd42:1::1000".parse().map_err(|e| format!("{e}"))?,
        end: "fd42:1::1fff".parse().map_err(|e| format!("{e}"))?,
    };
    let bind = serde_json::to_value(StateCommand::BindV6 {
        request: V6LeaseRequest {
            binding: V6Binding {
                duid: Duid::link_layer(mac),
                iaid: 7,
            },
            mac: Some(mac),
            fqdn_label: None,
            reserved_name: None,
            want: V6Want::Dynamic { hint: None },
        },
        range,
        now: wall_ms(),
        lease_time_secs: 3600,
    })
    .map_err(|e| e.to_string())?;
    let answer = admin.command(addr, &bind).await?;
    if answer["lease"]["name"] != "db" {
        return Err(format!("the v6 lease is not named db: {answer}"));
    }
    answer["lease"]["address"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no v6 lease in {answer}"))
}

/// Every node answers DNS on its own loopback port; nothing is forwarded
/// (no client may recurse, and the upstream is a closed loopback port).
fn with_dns(cluster: &LoopbackCluster) -> Vec<std::net::SocketAddr> {
    cluster
        .nodes
        .iter()
        .map(|node| {
            let listen: std::net::SocketAddr = format!("127.0.0.1:{}", free_port())
                .parse()
                .expect("address");
            let text = std::fs::read_to_string(&node.config).expect("config");
            let text = text.replace(
                "[dns]\nenabled = false\n",
                &format!("[dns]\nlisten = [\"{listen}\"]\n"),
            );
            assert!(
                text.contains(&listen.to_string()),
                "adjust the test to LoopbackCluster's [dns]"
            );
            std::fs::write(&node.config, text).expect("config");
            listen
        })
        .collect()
}

/// DNS traffic for the rate chart: queries for a lease's name for `span`,
/// so at least one 5 s sample of the page node's counters sees them.
fn query_for(server: std::net::SocketAddr, span: Duration) -> usize {
    let started = Instant::now();
    let mut answered = 0;
    for id in 0..2_000u16 {
        if started.elapsed() > span {
            break;
        }
        let request = dnsprobe::query(id, "web.lxd", 1);
        if dnsprobe::udp_exchange(server, &request, Duration::from_millis(500)).is_ok() {
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    answered
}

#[test]
#[ignore = "needs Node.js, Chromium and playwright-core; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn the_dashboard_shows_the_cluster_and_its_forms_work_in_headless_chromium() {
    require_browser();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cluster = LoopbackCluster::new(3, "upstream = [\"127.0.0.1:9\"]\nallow_recursion = []");
    let dns = with_dns(&cluster);
    let daemons: Vec<Daemon> = cluster
        .nodes
        .iter()
        .map(|node| Daemon::start(crate::binary(), &node.config, &node.log))
        .collect();
    let logs = || -> String {
        daemons
            .iter()
            .map(|d| format!("--- {}\n{}", d.log.display(), d.log_text()))
            .collect()
    };
    let admin = AdminClient::default();
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.admin_addr.clone()).collect();
    let leader = rt
        .block_on(admin.wait_ready(&addrs, Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    let leases = rt
        .block_on(populate(&admin, &addrs[0]))
        .unwrap_or_else(|e| panic!("leases not created: {e}\n{}", logs()));
    let lease6 = rt
        .block_on(populate_v6(&admin, &addrs[0]))
        .unwrap_or_else(|e| panic!("v6 lease not created: {e}\n{}", logs()));

    // The browser watches a follower's page and sees the leader die when
    // there is one to spare; either way a surviving node shows the kill.
    let page = if leader == 1 { 2 } else { 1 };
    let victim = if leader != page { leader } else { 3 };
    let other = 6 - page - victim;
    let index = |id: u64| usize::try_from(id - 1).expect("small id");
    let victim_pid = daemons[index(victim)].pid().expect("victim runs");
    let answered = query_for(dns[index(page)], Duration::from_secs(6));
    assert!(answered > 50, "node {page} answered {answered} DNS queries");
    let screenshots = std::env::var_os("RAFTMASQ_DASHBOARD_SCREENSHOTS")
        .map_or_else(|| cluster.path().join("screenshots"), PathBuf::from);

    let mut browser = Command::new("node");
    browser
        .current_dir(project())
        .args(["--test", "--test-reporter=spec", "dashboard.test.mjs"])
        .env("DASHBOARD_URL", format!("http://{}", addrs[index(page)]))
        .env(
            "DASHBOARD_OTHER_URL",
            format!("http://{}", addrs[index(other)]),
        )
        .env("DASHBOARD_NODE_ID", page.to_string())
        .env("DASHBOARD_TOKEN", ADMIN_TOKEN)
        .env("DASHBOARD_CLUSTER_TOKEN", TOKEN)
        .env("DASHBOARD_LEASES", leases.join(","))
        .env("DASHBOARD_LEASE6", &lease6)
        .env("DASHBOARD_VICTIM_ID", victim.to_string())
        .env("DASHBOARD_VICTIM_PID", victim_pid.to_string())
        .env("DASHBOARD_SCREENSHOTS", &screenshots)
        .env(
            "DASHBOARD_USER_DATA",
            cluster.path().join("chromium-profile"),
        )
        .env("CHROMIUM", CHROMIUM)
        .env("DNSCTL", dnsctl_binary())
        .env("DNSCTL_CONFIG", &cluster.nodes[index(page)].config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = browser.spawn().expect("start node --test");
    // Drained while it runs, so a chatty run never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > BROWSER_RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = format!(
        "{}{}",
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default()
    );
    println!("{output}");
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("browser tests failed ({status}):\n{output}\n{}", logs()),
        None => panic!(
            "browser tests did not finish within {BROWSER_RUN_LIMIT:?}:\n{output}\n{}",
            logs()
        ),
    }
    for name in ["desktop.png", "phone.png", "member-down.png"] {
        let shot = screenshots.join(name);
        let size = std::fs::metadata(&shot).map_or(0, |m| m.len());
        assert!(size > 10_000, "{} missing or empty", shot.display());
    }
}
