//! `raftmasq demo`: a three-node cluster on loopback, each node a real
//! `raftmasq` process, with a few simulated clients. No root needed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use std::net::{Ipv4Addr, SocketAddrV4};

use anyhow::{Context, bail};
use raftmasq_api::LeaseView;
use raftmasq_consensus::backoff::Backoff;

use crate::demo_relay::Relay;

const NODES: u16 = 3;
const CLUSTER_PORT: u16 = 17580;
const ADMIN_PORT: u16 = 17680;
const DNS_PORT: u16 = 15350;
const DHCP_PORT: u16 = 16700;

fn cluster_addr(id: u16) -> String {
    format!("127.0.0.1:{}", CLUSTER_PORT + id)
}

fn dns_addr(id: u16) -> String {
    format!("127.0.0.1:{}", DNS_PORT + id)
}

fn admin_addr(id: u16) -> String {
    format!("127.0.0.1:{}", ADMIN_PORT + id)
}

/// Child processes, killed when the demo ends however it ends.
struct Nodes(Vec<(u16, Child)>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub async fn run(keep_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let temp;
    let dir: &Path = match &keep_dir {
        Some(dir) => {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            dir
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("raftmasq-demo-")
                .tempdir()
                .context("cannot create a temp dir")?;
            temp.path()
        }
    };
    write_files(dir)?;
    let exe = std::env::current_exe().context("cannot find the raftmasq binary")?;
    let mut nodes = Nodes(Vec::new());
    for id in 1..=NODES {
        nodes.0.push((id, spawn_node(&exe, dir, id)?));
    }
    raftmasq_consensus::network::tls::install_default_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let leader = tokio::select! {
        ready = wait_ready(&http, &mut nodes, dir, Duration::from_secs(30)) => ready?,
        _ = tokio::signal::ctrl_c() => return Ok(()),
        _ = terminate.recv() => return Ok(()),
    };
    println!(
        "raftmasq demo: 3 nodes on loopback, leader is node {leader}; data and logs in {}",
        dir.display()
    );

    simulate_clients().await?;
    print_leases(&http).await?;
    print_next_steps(dir, &nodes);

    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = check.tick() => {
                for (id, child) in &mut nodes.0 {
                    if let Ok(Some(status)) = child.try_wait() {
                        println!("node {id} exited ({status}); restarting it — watch it rejoin with `curl -s http://{}/api/v1/status`", admin_addr(*id));
                        *child = spawn_node(&exe, dir, *id)?;
                    }
                }
            }
        }
    }
    println!("stopping the demo cluster");
    drop(nodes);
    Ok(())
}

fn write_files(dir: &Path) -> anyhow::Result<()> {
    // The cluster link runs over TLS as in production: a CA for the demo
    // and a certificate per node (kept across demo restarts with --dir).
    let tls = dir.join("tls");
    let ca = if tls.join("ca.key").exists() {
        raftmasq_consensus::network::pki::Pem {
            cert: fs::read_to_string(tls.join("ca.pem"))?,
            key: fs::read_to_string(tls.join("ca.key"))?,
        }
    } else {
        let ca = raftmasq_consensus::network::pki::new_ca(30)?;
        fs::create_dir_all(&tls)?;
        raftmasq_consensus::network::pki::write_file(&tls.join("ca.key"), &ca.key, 0o600)?;
        ca
    };
    for id in 1..=NODES {
        raftmasq_consensus::network::pki::write_node_files(&tls, &ca, u64::from(id), 30)?;
    }
    let token = dir.join("cluster.token");
    fs::write(&token, "demo-cluster-token-not-for-production\n")?;
    fs::set_permissions(&token, fs::Permissions::from_mode(0o600))?;
    let admin_token = dir.join("admin.token");
    fs::write(&admin_token, "demo-admin-token-not-for-production\n")?;
    fs::set_permissions(&admin_token, fs::Permissions::from_mode(0o600))?;
    let peers: Vec<String> = (1..=NODES)
        .map(|id| format!("\"{id}={} bridge=127.77.0.{id}\"", cluster_addr(id)))
        .collect();
    for id in 1..=NODES {
        let text = format!(
            r#"# Demo node {id}: Raft and the admin API on loopback.
[node]
id = {id}
data_dir = "{data}"
cluster_addr = "{cluster}"
admin_addr = "{admin}"
admin_token_file = "{admin_token}"
admin_socket = "{admin_socket}"

[cluster]
token_file = "{token}"
peers = [{peers}]

[cluster.tls]
ca_file = "{tls}/ca.pem"
cert_file = "{tls}/node-{id}.pem"
key_file = "{tls}/node-{id}.key"

[dhcp]
interface = "lo"
address = "127.77.0.{id}"
subnet = "127.77.0.0/16"
range = "127.77.0.10-127.77.0.250"
port = {dhcp_port}
unicast_replies = "broadcast"
lease_time = "1h"

[dns]
domain = "lxd"
listen = ["{dns}"]
"#,
            data = dir.join(format!("node{id}")).display(),
            cluster = cluster_addr(id),
            admin = admin_addr(id),
            dns = dns_addr(id),
            dhcp_port = DHCP_PORT + id,
            token = token.display(),
            admin_token = admin_token.display(),
            admin_socket = dir.join(format!("admin{id}.sock")).display(),
            tls = tls.display(),
            peers = peers.join(", "),
        );
        fs::write(dir.join(format!("node{id}.toml")), text)?;
    }
    Ok(())
}

fn spawn_node(exe: &Path, dir: &Path, id: u16) -> anyhow::Result<Child> {
    let log = fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join(format!("node{id}.log")))?;
    let child = std::process::Command::new(exe)
        .arg("--exit-with-parent")
        .arg(std::process::id().to_string())
        .arg("--config")
        .arg(dir.join(format!("node{id}.toml")))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start node {id}"))?;
    Ok(child)
}

async fn wait_ready(
    http: &reqwest::Client,
    nodes: &mut Nodes,
    dir: &Path,
    timeout: Duration,
) -> anyhow::Result<u64> {
    let mut backoff =
        Backoff::fixed(Duration::from_millis(200)).until(tokio::time::Instant::now() + timeout);
    loop {
        for (id, child) in &mut nodes.0 {
            if let Ok(Some(status)) = child.try_wait() {
                let log = fs::read_to_string(dir.join(format!("node{id}.log"))).unwrap_or_default();
                let last = log.lines().last().unwrap_or("(no log)");
                bail!("demo node {id} exited ({status}): {last}");
            }
        }
        for id in 1..=NODES {
            let url = format!("http://{}/api/v1/status", admin_addr(id));
            let Ok(response) = http.get(&url).send().await else {
                continue;
            };
            let Ok(status) = response.json::<serde_json::Value>().await else {
                continue;
            };
            if let (Some(leader), Some(true)) =
                (status["leader"].as_u64(), status["initialized"].as_bool())
            {
                return Ok(leader);
            }
        }
        if !backoff.wait().await {
            break;
        }
    }
    bail!(
        "the demo cluster did not form within {timeout:?}; see the logs in {}",
        dir.display()
    )
}

/// Containers asking for names over DHCP through a relay; two ask for `web`.
async fn simulate_clients() -> anyhow::Result<()> {
    let servers = (1..=NODES)
        .map(|id| SocketAddrV4::new(Ipv4Addr::new(127, 77, 0, id as u8), DHCP_PORT + id))
        .collect();
    let relay = Relay::bind(servers).await?;
    for (n, hostname) in ["c1", "c2", "web", "web", "db"].iter().enumerate() {
        let n = u8::try_from(n + 1).unwrap_or(0);
        let mac = [0x00, 0x16, 0x3e, 0xde, 0x00, n];
        let address = relay
            .lease(mac, hostname, 0xde00_0000 | u32::from(n))
            .await
            .with_context(|| format!("simulated client {hostname} got no lease over DHCP"))?;
        tracing::debug!(%address, hostname, "simulated client leased");
    }
    Ok(())
}

async fn print_leases(http: &reqwest::Client) -> anyhow::Result<()> {
    let url = format!("http://{}/api/v1/leases?consistent=true", admin_addr(2));
    let leases: Vec<LeaseView> = http.get(&url).send().await?.json().await?;
    println!(
        "\n  {:<15} {:<17} {:<10} {:<10} SEEN BY",
        "ADDRESS", "MAC", "ASKED", "GRANTED"
    );
    for lease in leases {
        println!(
            "  {:<15} {:<17} {:<10} {:<10} node {}",
            lease.address.to_string(),
            lease.mac.to_string(),
            lease.requested_hostname.unwrap_or_default(),
            lease.granted_name.unwrap_or_else(|| "-".into()),
            lease
                .seen_by
                .map_or_else(|| "?".into(), |id| id.to_string()),
        );
    }
    Ok(())
}

fn print_next_steps(dir: &Path, nodes: &Nodes) {
    let dnsctl = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|bin| bin.join("dnsctl")))
        .filter(|path| path.exists())
        .map_or_else(|| "dnsctl".to_string(), |path| path.display().to_string());
    println!("\nTry next:");
    println!(
        "  dig @127.0.0.1 -p {} c1.lxd            # node 1's DNS, from its own replica",
        DNS_PORT + 1
    );
    println!(
        "  dig @127.0.0.1 -p {} -x 127.77.0.10    # the reverse zone, on node 3",
        DNS_PORT + 3
    );
    println!(
        "  {dnsctl} --config {}/node2.toml leases     # over node 2's admin socket",
        dir.display()
    );
    println!("  {dnsctl} --node {} status", admin_addr(1));
    for (id, child) in &nodes.0 {
        println!(
            "  kill -9 {}   # node {id}; the others elect a new leader, the demo restarts it",
            child.id()
        );
    }
    println!("  tail -f {}/node1.log", dir.display());
    println!(
        "\nDashboard: http://{}/ui/ (any node: ports {}-{}); to make changes there, enter the admin token from {}/admin.token",
        admin_addr(1),
        ADMIN_PORT + 1,
        ADMIN_PORT + NODES,
        dir.display()
    );
    println!(
        "Ctrl-C (or SIGTERM) stops the demo and removes what it created; its nodes never outlive it."
    );
}
