//! Configuration files for a cluster of daemons on loopback.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::free_port;

pub const TOKEN: &str = "e2e-test-token-0123456789abcdef";

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
