//! Configuration files for a cluster of daemons on loopback.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use raftmasq_consensus::network::pki::{self, Pem};
use tempfile::TempDir;

use crate::free_port;

pub const TOKEN: &str = "e2e-test-token-0123456789abcdef";
/// The admin API's credential in every test cluster (not the cluster token).
pub const ADMIN_TOKEN: &str = "e2e-admin-token-fedcba9876543210";

/// Writes `ADMIN_TOKEN` to `dir/admin.token` (mode 600) and returns the
/// `[node]` lines that point a node at it and give it its own admin socket
/// (nodes of one test share the machine's `/run`).
pub fn admin_access(dir: &Path, id: u64) -> String {
    let token = dir.join("admin.token");
    if !token.exists() {
        fs::write(&token, format!("{ADMIN_TOKEN}\n")).expect("write admin token");
        fs::set_permissions(&token, fs::Permissions::from_mode(0o600)).expect("chmod admin token");
    }
    format!(
        "admin_token_file = \"{}\"\nadmin_socket = \"{}\"",
        token.display(),
        dir.join(format!("admin{id}.sock")).display()
    )
}

/// Issues the CA (`ca.pem`, `ca.key`) and the certificates of nodes `ids`
/// into `dir` (`node-N.pem`, `node-N.key`), fast and in process, as
/// `raftmasq cert` would; returns the `[cluster.tls]` section for node `N`.
pub fn write_tls(dir: &Path, ids: impl IntoIterator<Item = u64>) -> Pem {
    let ca = pki::new_ca(2).expect("test CA");
    fs::create_dir_all(dir).expect("tls dir");
    pki::write_file(&dir.join("ca.key"), &ca.key, 0o600).expect("CA key");
    pki::write_file(&dir.join("ca.pem"), &ca.cert, 0o644).expect("CA certificate");
    for id in ids {
        pki::write_node_files(dir, &ca, id, 2).expect("node certificate");
    }
    ca
}

/// Node `id`'s files from `ca` into `dir` (`ca.pem`, `node-N.pem`, `node-N.key`).
pub fn issue_into(dir: &Path, ca: &Pem, id: u64) -> raftmasq_consensus::TlsPaths {
    pki::write_node_files(dir, ca, id, 2).expect("node certificate")
}

/// The `[cluster.tls]` section of node `id` whose files are in `dir`.
pub fn tls_section(dir: &Path, id: u64) -> String {
    format!(
        "[cluster.tls]\nca_file = \"{dir}/ca.pem\"\ncert_file = \"{dir}/node-{id}.pem\"\nkey_file = \"{dir}/node-{id}.key\"\n",
        dir = dir.display()
    )
}

/// One node's files and addresses.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    pub id: u64,
    pub config: PathBuf,
    pub log: PathBuf,
    pub data_dir: PathBuf,
    pub cluster_addr: String,
    pub admin_addr: String,
    /// Its DNS listener, when the cluster was built with DNS on.
    pub dns_addr: Option<String>,
}

/// A directory holding the token and each node's config, data and log.
pub struct LoopbackCluster {
    pub dir: TempDir,
    pub nodes: Vec<NodeFiles>,
}

impl LoopbackCluster {
    /// Writes configs for nodes `1..=n` on loopback, DHCP and DNS off (Raft and
    /// the admin API only); `extra` is appended to every file.
    pub fn new(n: u64, extra: &str) -> LoopbackCluster {
        Self::with_roles(n, &[], false, extra)
    }

    /// Like [`LoopbackCluster::new`], with nodes `learners` configured as
    /// learners (`node.role`, and `role=learner` in every file's peers),
    /// and, with `dns`, each node's DNS on a loopback port of its own
    /// (`extra` then goes on in `[dns]`, after `enabled` and `listen`).
    pub fn with_roles(n: u64, learners: &[u64], dns: bool, extra: &str) -> LoopbackCluster {
        let dir = TempDir::new().expect("temp dir");
        let token_file = dir.path().join("cluster.token");
        fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
        fs::set_permissions(&token_file, fs::Permissions::from_mode(0o600)).expect("chmod token");
        let tls_dir = dir.path().join("tls");
        write_tls(&tls_dir, 1..=n);
        let cluster_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let peers: Vec<String> = cluster_ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                let id = i as u64 + 1;
                let role = if learners.contains(&id) {
                    " role=learner"
                } else {
                    ""
                };
                format!("\"{id}=127.0.0.1:{port}{role}\"")
            })
            .collect();
        let mut nodes = Vec::new();
        for id in 1..=n {
            let index = usize::try_from(id - 1).expect("small");
            let cluster_addr = format!("127.0.0.1:{}", cluster_ports[index]);
            let admin_addr = format!("127.0.0.1:{}", free_port());
            let data_dir = dir.path().join(format!("node{id}"));
            let config = dir.path().join(format!("node{id}.toml"));
            let role = if learners.contains(&id) {
                "role = \"learner\""
            } else {
                ""
            };
            let dns_addr = dns.then(|| format!("127.0.0.1:{}", free_port()));
            let dns_section = match &dns_addr {
                Some(addr) => format!("enabled = true\nlisten = [\"{addr}\"]"),
                None => "enabled = false".to_string(),
            };
            let text = format!(
                r#"[node]
id = {id}
data_dir = "{data}"
cluster_addr = "{cluster_addr}"
admin_addr = "{admin_addr}"
{admin_access}
{role}

[cluster]
token_file = "{token}"
peers = [{peers}]
election_timeout = "500ms"
heartbeat_interval = "100ms"
{tls}

[dhcp]
enabled = false
interface = "lo"
address = "10.0.0.{id}"
subnet = "10.0.0.0/16"
range = "10.0.0.10-10.0.255.254"
lease_time = "1h"

[dns]
{dns_section}
domain = "lxd"
{extra}
"#,
                data = data_dir.display(),
                token = token_file.display(),
                tls = tls_section(&tls_dir, id),
                admin_access = admin_access(dir.path(), id),
                peers = peers.join(", "),
            );
            fs::write(&config, text).expect("write config");
            nodes.push(NodeFiles {
                id,
                config,
                log: dir.path().join(format!("node{id}.log")),
                data_dir,
                cluster_addr,
                admin_addr,
                dns_addr,
            });
        }
        LoopbackCluster { dir, nodes }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
