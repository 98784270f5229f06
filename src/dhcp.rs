//! DHCP in the daemon: only the glue that needs the Raft node. `NodeCluster`
//! is the server's view of the node (replica, role, membership-derived server
//! config, commit), and `start` binds
//! the bridge socket (`raftmasq_dhcpd::io`, which is also the transport) and
//! runs `raftmasq_dhcpd::DhcpServer` over both.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use raftmasq_config::Config;
use raftmasq_consensus::node::{BridgeAddresses, WriteError};
use raftmasq_consensus::state::{Command, LeaseTable, Millis, Response};
use raftmasq_consensus::types::LogId;
use raftmasq_consensus::{ClusterNode, MemberRole, NodeId};
use raftmasq_dhcpd::io::DhcpSocket;
use raftmasq_dhcpd::{BootFields, Cluster, DhcpServer, ReplyOptions, Role, ServerConfig};

/// One DHCP listener's network: the bridge it listens on, the lease table
/// it serves and what its replies say (`[dhcp]` is `default`, each
/// `[[dhcp.networks]]` entry another). A request is served from the network
/// of the interface it arrived on; one that reaches the relay listener
/// (`crate::dhcp_relay`) from the network whose subnet holds its link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedNetwork {
    pub name: String,
    /// `None`: relay-only, served by the relay listener alone.
    pub interface: Option<String>,
    /// This host's address on the bridge: the server identifier there (for
    /// a relay-only network, the address the relays send to).
    pub address: Ipv4Addr,
    pub routers: Vec<Ipv4Addr>,
    /// `None`: every member's address on the network (bridge addresses on
    /// the default network, registered network addresses on the others).
    pub dns_servers: Option<Vec<Ipv4Addr>>,
    /// Operator options (`[dhcp]`'s, or the network's over them).
    pub options: Vec<raftmasq_config::DhcpOptionValue>,
}

impl ServedNetwork {
    /// Every network this node serves DHCP on, `default` first.
    pub fn all(config: &Config) -> Vec<ServedNetwork> {
        let dhcp = &config.dhcp;
        let mut all = vec![ServedNetwork {
            name: raftmasq_consensus::state::DEFAULT_NETWORK.to_string(),
            interface: Some(dhcp.interface.clone()),
            address: dhcp.address,
            routers: dhcp.routers.clone(),
            dns_servers: dhcp.dns_servers.clone(),
            options: dhcp.options.clone(),
        }];
        all.extend(dhcp.networks.iter().filter(|n| n.enabled).map(|n| {
            ServedNetwork {
                name: n.name.clone(),
                interface: n.interface.clone(),
                address: n.address,
                routers: n.routers.clone(),
                // Every voter's registered address on this bridge
                // (network_addresses); a relay-only network's clients get
                // every member's cluster address.
                dns_servers: None,
                options: n.options_over(&dhcp.options),
            }
        }));
        all
    }
}

/// The table of a network the cluster has not initialised yet: empty, so
/// the server answers nothing from it until the leader adds the network.
static NO_NETWORK: std::sync::LazyLock<LeaseTable> = std::sync::LazyLock::new(LeaseTable::default);

/// The Raft node as the DHCP server of one network sees it.
pub struct NodeCluster {
    node: ClusterNode,
    /// The network whose table this server reads and whose commands it writes.
    network: String,
    options: ReplyOptions,
    server_id: Ipv4Addr,
    /// Reached through relays only: server identifiers and DNS servers are
    /// the members' cluster addresses, not bridge addresses.
    relay_only: bool,
    /// DNS servers from the file; `None`: every member's bridge address.
    dns_servers: Option<Vec<Ipv4Addr>>,
    /// `dhcp.denied_hostnames` and `dhcp.unknown_renewals_max_percent`.
    denied_hostnames: Vec<String>,
    unknown_renewals_max_percent: u8,
    /// Rebuilt only when the membership, or the members' addresses on this
    /// network, change.
    cached: Mutex<(CacheKey, Arc<ServerConfig>)>,
}

impl NodeCluster {
    /// The server of `network`; the rest of its answers (lease timing,
    /// options, boot fields, hostname rules) come from `[dhcp]`.
    pub fn for_network(node: ClusterNode, config: &Config, network: &ServedNetwork) -> Self {
        let options = ReplyOptions {
            routers: network.routers.clone(),
            dns_servers: Vec::new(),
            lease_time_secs: None,
            offer_hold_ms: u64::try_from(config.dhcp.offer_hold.as_millis()).unwrap_or(u64::MAX),
            operator: network
                .options
                .iter()
                .map(|option| (option.code(), option.payload()))
                .collect(),
            rapid_commit: config.dhcp.rapid_commit,
            boot: BootFields {
                next_server: config.dhcp.boot.next_server,
                server_name: config.dhcp.boot.server_name.clone(),
                boot_file: config.dhcp.boot.boot_file.clone(),
            },
        };
        let placeholder = Arc::new(ServerConfig {
            node_id: node.id(),
            server_id: network.address,
            cluster_server_ids: vec![network.address],
            options: options.clone(),
            members_complete: false,
            denied_hostnames: config.dhcp.denied_hostnames.clone(),
            unknown_renewals_max_percent: config.dhcp.unknown_renewals_max_percent,
        });
        NodeCluster {
            node,
            network: network.name.clone(),
            options,
            server_id: network.address,
            relay_only: network.interface.is_none(),
            dns_servers: network.dns_servers.clone(),
            denied_hostnames: config.dhcp.denied_hostnames.clone(),
            unknown_renewals_max_percent: config.dhcp.unknown_renewals_max_percent,
            cached: Mutex::new(((None, Vec::new()), placeholder)),
        }
    }

    /// The voters' addresses on this network, this host's first; empty on
    /// `default` and relay-only networks, whose lists come from elsewhere.
    fn network_members(&self) -> Vec<Ipv4Addr> {
        if self.relay_only || self.network == raftmasq_consensus::state::DEFAULT_NETWORK {
            return Vec::new();
        }
        self.node
            .network_addresses(&self.network, Some(self.server_id))
    }

    /// Whether the registrations on this network are still `cached`, read
    /// in place: asked for every datagram, so nothing is allocated.
    fn registrations_unchanged(&self, cached: &[(u64, Ipv4Addr)]) -> bool {
        let replica = self.node.replica().read();
        replica
            .network_addresses
            .on(&self.network)
            .eq(cached.iter().copied())
    }

    fn build_server_config(&self) -> (CacheKey, Arc<ServerConfig>) {
        let membership_log_id = *self.node.metrics().membership_config.log_id();
        let registered: Vec<(u64, Ipv4Addr)> = self
            .node
            .replica()
            .read()
            .network_addresses
            .on(&self.network)
            .collect();
        let members = self.network_members();
        let list = dns_server_list(&self.node, self.dns_servers.as_deref());
        let mut options = self.options.clone();
        options.dns_servers = list.servers;
        // Members' bridge addresses are the default network's; on another
        // network, their registered addresses there (`network_members`).
        let cluster_server_ids = if self.relay_only {
            // A relayed client may name any member after a failover; each
            // member's address from the relay is its cluster address.
            let members = crate::dhcp_relay::member_addresses(&self.node, self.server_id);
            if self.dns_servers.is_none() {
                options.dns_servers = members.clone();
            }
            members
        } else if self.network == raftmasq_consensus::state::DEFAULT_NETWORK {
            list.bridges.addresses
        } else {
            if self.dns_servers.is_none() {
                options.dns_servers = members.clone();
            }
            members
        };
        let config = ServerConfig {
            node_id: self.node.id(),
            server_id: self.server_id,
            cluster_server_ids,
            options,
            members_complete: list.complete,
            denied_hostnames: self.denied_hostnames.clone(),
            unknown_renewals_max_percent: self.unknown_renewals_max_percent,
        };
        ((membership_log_id, registered), Arc::new(config))
    }
}

/// What a network's cached server config was built from: the membership's
/// log id and the members' registered addresses on the network.
type CacheKey = (Option<LogId>, Vec<(u64, Ipv4Addr)>);

/// The DNS servers (option 6) leases get, and what they were made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsServerList {
    pub servers: Vec<Ipv4Addr>,
    /// Every member's bridge address as far as it is known.
    pub bridges: BridgeAddresses,
    /// The list names every host: `dhcp.dns_servers` is set, or every
    /// member's bridge address is known. Until then DHCP answers nothing and
    /// the node is not ready.
    pub complete: bool,
}

/// How this node builds the DNS server list its leases carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsServerSource {
    /// Whether this node serves DHCP at all (`dhcp.enabled`); when it does
    /// not, the list gates nothing.
    pub serves_dhcp: bool,
    /// `dhcp.dns_servers` from the file; `None` hands out every member's
    /// bridge address, this host's first.
    pub configured: Option<Vec<Ipv4Addr>>,
}

impl DnsServerSource {
    pub fn from_config(config: &Config) -> Self {
        DnsServerSource {
            serves_dhcp: config.dhcp.enabled,
            configured: config.dhcp.dns_servers.clone(),
        }
    }

    pub fn list(&self, node: &ClusterNode) -> DnsServerList {
        dns_server_list(node, self.configured.as_deref())
    }

    /// Whether the list lets this node report ready: it names every host, or
    /// this node hands out no leases.
    pub fn lets_ready(&self, list: &DnsServerList) -> bool {
        !self.serves_dhcp || list.complete
    }
}

/// `configured`: `dhcp.dns_servers` from the file; `None` hands out every
/// member's bridge address, this host's first.
pub fn dns_server_list(node: &ClusterNode, configured: Option<&[Ipv4Addr]>) -> DnsServerList {
    let bridges = node.bridge_addresses();
    match configured {
        Some(servers) => DnsServerList {
            servers: servers.to_vec(),
            complete: true,
            bridges,
        },
        None => DnsServerList {
            servers: bridges.addresses.clone(),
            complete: bridges.is_complete(),
            bridges,
        },
    }
}

/// Says in the log, each time the set changes, which members' bridge
/// addresses are still unknown (DHCP waits for them) and when the list is
/// complete. Runs until Raft stops.
pub async fn report_missing_dns_servers(node: ClusterNode, configured: Option<Vec<Ipv4Addr>>) {
    let mut metrics = node.raft().metrics();
    let mut reported: Option<Vec<NodeId>> = None;
    loop {
        drop(metrics.borrow_and_update());
        let list = dns_server_list(&node, configured.as_deref());
        let missing: Vec<NodeId> = list.bridges.missing.iter().map(|(id, _)| *id).collect();
        if reported.as_ref() != Some(&missing) {
            if list.complete {
                tracing::info!(dns_servers = ?list.servers, "dhcp: the DNS server list names every host");
            } else {
                let hosts: Vec<String> = list
                    .bridges
                    .missing
                    .iter()
                    .map(|(id, addr)| format!("node {id} ({addr})"))
                    .collect();
                tracing::warn!(
                    missing = ?hosts,
                    known = ?list.servers,
                    "dhcp waits: these members' bridge addresses are unknown until they register, \
                     and leases must name every host's DNS server; give them in cluster.peers \
                     as \"ID=IP:PORT bridge=IP\" to know them from the start"
                );
            }
            reported = Some(missing);
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

impl Cluster for NodeCluster {
    fn read<R>(&self, read: impl FnOnce(&LeaseTable) -> R) -> R {
        let replica = self.node.replica().read();
        read(replica.network(&self.network).unwrap_or(&NO_NETWORK))
    }

    fn role(&self) -> Role {
        let status = self.node.quorum_status();
        Role {
            is_leader: status.is_leader,
            has_quorum: status.has_quorum,
            // Not a member yet counts as a voter-to-be: it is silent anyway
            // until it knows a leader (no quorum, no lease of its own).
            is_voter: self.node.own_role() != Some(MemberRole::Learner),
        }
    }

    fn server_config(&self) -> Arc<ServerConfig> {
        let current = *self
            .node
            .raft()
            .metrics()
            .borrow()
            .membership_config
            .log_id();
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.0.0 != current
            || cached.0.0.is_none()
            || !self.registrations_unchanged(&cached.0.1)
        {
            *cached = self.build_server_config();
        }
        cached.1.clone()
    }

    type CommitError = WriteError;

    async fn commit(&self, command: Command) -> Result<Response, WriteError> {
        self.node
            .write(Command::for_network(&self.network, command))
            .await
    }

    fn now(&self) -> Millis {
        self.node.clock().now_millis()
    }
}

/// Binds one socket per served network's bridge and starts serving each.
/// Its counters reach Prometheus through the `metrics` facade.
pub fn start(node: ClusterNode, config: &Config) -> anyhow::Result<()> {
    let dhcp = &config.dhcp;
    tokio::spawn(report_missing_dns_servers(
        node.clone(),
        dhcp.dns_servers.clone(),
    ));
    crate::dhcp_relay::register_metrics();
    let served = ServedNetwork::all(config);
    for network in &served {
        if let Some(interface) = &network.interface {
            start_network(node.clone(), config, network, interface)?;
        }
    }
    crate::dhcp_relay::start(node, config, &served)
}

fn start_network(
    node: ClusterNode,
    config: &Config,
    network: &ServedNetwork,
    interface: &str,
) -> anyhow::Result<()> {
    let dhcp = &config.dhcp;
    let interface = interface.to_string();
    let mut socket = DhcpSocket::bind_with(&interface, dhcp.port, dhcp.unicast_replies)
        .map_err(|e| {
            let any = std::net::SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, dhcp.port));
            crate::port_holder::explain(e, any, crate::port_holder::Transport::Udp, &interface)
        })
        .with_context(|| {
            format!(
                "cannot serve DHCP for network {} on interface {:?} port {} (needs root or CAP_NET_BIND_SERVICE + CAP_NET_RAW)",
                network.name, interface, dhcp.port
            )
        })?;
    socket.set_source_address(network.address);
    let socket = Arc::new(socket);
    let server = DhcpServer::new(
        Arc::new(NodeCluster::for_network(node, config, network)),
        socket,
    );
    let name = network.name.clone();
    let task_interface = interface.clone();
    tokio::spawn(async move {
        if let Err(error) = server.run().await {
            tracing::error!(%error, interface = task_interface, network = name, "dhcp server stopped");
        }
    });
    tracing::info!(network = %network.name, interface = %interface, port = dhcp.port, server_id = %network.address, "dhcp server listening");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use raftmasq_config::Config;

    use super::ServedNetwork;

    const NETWORKS: &str = r#"
[[dhcp.networks]]
name = "lab"
interface = "br-lab"
address = "10.1.0.1"
subnet = "10.1.0.0/24"
range = "10.1.0.10-10.1.0.200"
routers = ["10.1.0.254"]

[[dhcp.networks]]
name = "off"
enabled = false
interface = "br-off"
address = "10.2.0.1"
subnet = "10.2.0.0/24"
range = "10.2.0.10-10.2.0.200"
"#;

    /// One listener per enabled network, each with its own bridge, server
    /// identifier and routers; `[dhcp]` is `default` and comes first.
    #[test]
    fn every_enabled_network_gets_a_listener_of_its_own() {
        let example = include_str!("../examples/lxd1.toml");
        let single = Config::from_toml(example, "lxd1.toml").unwrap();
        let served = ServedNetwork::all(&single);
        assert_eq!(served.len(), 1);
        assert_eq!(served[0].name, "default");
        assert_eq!(served[0].interface.as_ref(), Some(&single.dhcp.interface));
        assert_eq!(served[0].address, single.dhcp.address);

        let text = format!("{example}\n{NETWORKS}");
        let several = Config::from_toml(&text, "lxd1.toml").unwrap();
        let served = ServedNetwork::all(&several);
        let names: Vec<&str> = served.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            ["default", "lab"],
            "the disabled network is not served"
        );
        let lab = &served[1];
        assert_eq!(lab.interface.as_deref(), Some("br-lab"));
        assert_eq!(lab.address, Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(lab.routers, [Ipv4Addr::new(10, 1, 0, 254)]);
        assert_eq!(
            lab.dns_servers, None,
            "every voter's registered address on lab"
        );
        assert_eq!(served[0].options, several.dhcp.options);
    }

    /// A network's replies carry its own options over `[dhcp]`'s.
    #[test]
    fn a_network_serves_its_own_options() {
        let example = include_str!("../examples/lxd1.toml");
        let text = format!("{example}\n{NETWORKS}\n[dhcp.networks.options]\nmtu = 9000\n");
        let config = Config::from_toml(&text, "lxd1.toml").unwrap();
        let served = ServedNetwork::all(&config);
        // The `[dhcp.networks.options]` table belongs to the last entry (off,
        // not served); lab has none of its own, so it has `[dhcp]`'s but routes.
        assert!(served[1].options.iter().all(|o| o.code() != 121));
        let off = &config.dhcp.networks[1];
        assert_eq!(off.options.len(), 1);
        assert_eq!(off.options[0].code(), 26);
    }
}
