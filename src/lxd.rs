//! `[lxd]`: the LXD watcher (crate `raftmasq-lxd`) wired to this node. Its
//! writes go through `ClusterNode::write`, as the admin API's do: committed
//! here if this node leads, forwarded to the leader otherwise.

use std::path::PathBuf;

use raftmasq_config::{Config, LxdConfig};
use raftmasq_consensus::ClusterNode;
use raftmasq_consensus::state::{Command, LeaseTable, Response};
use tokio_util::sync::CancellationToken;

struct Node(ClusterNode);

impl raftmasq_lxd::Cluster for Node {
    fn read<T>(&self, f: impl FnOnce(&LeaseTable) -> T) -> T {
        f(&self.0.replica().read().table)
    }

    async fn write(&self, command: Command) -> Result<Response, String> {
        self.0
            .write(command)
            .await
            .map_err(|error| error.to_string())
    }

    async fn initialized(&self) {
        let mut applied = self.0.replica().subscribe();
        while !self.0.replica().read().table.is_initialized() {
            if applied.changed().await.is_err() {
                // The node is shutting down: never initialised.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The watcher's settings from the file: the configured socket, or the
/// Debian, snap and Incus paths in turn; the bridge DHCP serves.
pub fn settings(config: &Config) -> raftmasq_lxd::Settings {
    let sockets = match &config.lxd.socket {
        Some(socket) => vec![socket.clone()],
        None => LxdConfig::DEFAULT_SOCKETS
            .iter()
            .map(PathBuf::from)
            .collect(),
    };
    let mut settings = raftmasq_lxd::Settings::new(sockets, config.dhcp.interface.clone());
    settings.memory = Some(config.node.data_dir.join(MEMORY_FILE));
    settings
}

/// In `node.data_dir`: what this host's LXD reported last.
const MEMORY_FILE: &str = "lxd-known.json";

/// Starts following LXD if `[lxd] enabled`; stops on `shutdown`.
pub fn start(node: &ClusterNode, config: &Config, shutdown: CancellationToken) {
    if !config.lxd.enabled {
        return;
    }
    let settings = settings(config);
    tracing::info!(sockets = ?settings.sockets, bridge = %settings.bridge, "lxd: watching instances");
    tokio::spawn(raftmasq_lxd::run(Node(node.clone()), settings, shutdown));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Config {
        Config::from_toml(include_str!("../examples/lxd1.toml"), "lxd1.toml").unwrap()
    }

    #[test]
    fn the_usual_sockets_unless_one_is_configured_and_the_served_bridge() {
        let mut config = example();
        assert!(!config.lxd.enabled, "off by default");
        let settings = settings(&config);
        assert_eq!(
            settings.sockets,
            vec![
                PathBuf::from("/var/lib/lxd/unix.socket"),
                PathBuf::from("/var/snap/lxd/common/lxd/unix.socket"),
                PathBuf::from("/var/lib/incus/unix.socket"),
            ]
        );
        assert_eq!(settings.bridge, config.dhcp.interface);
        assert_eq!(
            settings.memory,
            Some(config.node.data_dir.join("lxd-known.json"))
        );
        config.lxd.socket = Some(PathBuf::from("/run/lxd.socket"));
        assert_eq!(
            super::settings(&config).sockets,
            vec![PathBuf::from("/run/lxd.socket")]
        );
    }
}
