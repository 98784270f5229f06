//! Configuration files for a cluster of daemons on loopback.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use raftmasq_consensus::network::pki::{self, Pem};
use tempfile::TempDir;

use crate::free_port;

pub const TOKEN: &str = "e2e-test-token-0123456789abcdef";

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
            .map(|(i, port)| format!("\"{}=127.0.0.1:{port}\"", i + 1))
            .collect();
        let mut nodes = Vec::new();
        for id in 1..=n {
            let index = usize::try_from(id - 1).expect("small");
            let cluster_addr = format!("127.0.0.1:{}", cluster_ports[index]);
            let admin_addr = format!("127.0.0.1:{}", free_port());
            let data_dir = dir.path().join(format!("node{id}"));
            let config = dir.path().join(format!("node{id}.toml"));
            let text = format!(
                r#"[node]
id = {id}
data_dir = "{data}"
cluster_addr = "{cluster_addr}"
admin_addr = "{admin_addr}"

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
enabled = false
domain = "lxd"
{extra}
"#,
                data = data_dir.display(),
                token = token_file.display(),
                tls = tls_section(&tls_dir, id),
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
            });
        }
        LoopbackCluster { dir, nodes }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
