//! DNS in the daemon: `raftmasq-dnsd` over this node's replica.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context as _;
use raftmasq_config::{Config, RateLimitConfig, TsigAlgorithm, Upstream};
use raftmasq_consensus::ClusterClock;
use raftmasq_consensus::state::LeaseTable;
use raftmasq_consensus::store::ReplicaHandle;
use raftmasq_dnsd::{
    DnsServer, DnsServerConfig, RateLimit, TsigAlgorithmName, TsigKey, ZoneSource,
};
use tokio::net::{TcpListener, UdpSocket};

use crate::port_holder::{self, Transport};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The replica as a zone source; the serial is the Raft applied index.
pub struct ReplicaZones {
    replica: ReplicaHandle,
    changes: watch::Receiver<u64>,
}

impl ReplicaZones {
    /// Must be called inside the runtime: it spawns the task that turns
    /// applied log ids into serials.
    pub fn new(replica: ReplicaHandle) -> Self {
        let mut applied = replica.subscribe();
        let (tx, changes) = watch::channel(index_of(&replica));
        tokio::spawn(async move {
            while applied.changed().await.is_ok() {
                let index = applied.borrow_and_update().map_or(0, |log_id| log_id.index);
                tx.send_replace(index);
            }
        });
        ReplicaZones { replica, changes }
    }
}

fn index_of(replica: &ReplicaHandle) -> u64 {
    replica.last_applied().map_or(0, |log_id| log_id.index)
}

impl ZoneSource for ReplicaZones {
    fn read(&self, read: &mut dyn FnMut(&LeaseTable, u64)) {
        let replica = self.replica.read();
        let serial = replica.last_applied.map_or(0, |log_id| log_id.index);
        read(&replica.table, serial);
    }

    fn read_with_v6(
        &self,
        read: &mut dyn FnMut(&LeaseTable, Option<&raftmasq_consensus::state::v6::V6Leases>, u64),
    ) {
        let replica = self.replica.read();
        let serial = replica.last_applied.map_or(0, |log_id| log_id.index);
        read(&replica.table, Some(&replica.v6), serial);
    }

    fn read_networks(&self, read: &mut raftmasq_dnsd::NetworksRead<'_>) {
        let replica = self.replica.read();
        let serial = replica.last_applied.map_or(0, |log_id| log_id.index);
        read(&replica.table, Some(&replica.v6), &replica.networks, serial);
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.clone()
    }
}

pub fn server_config(config: &Config) -> anyhow::Result<DnsServerConfig> {
    let dns = &config.dns;
    let mut server = DnsServerConfig::new(dns.domain.clone());
    server.ttl = dns.ttl;
    server.negative_ttl = dns.negative_ttl;
    server.cache_size = dns.cache_size;
    server.allow_recursion = dns.allow_recursion.clone();
    server.upstream = upstream(config);
    server.secondaries = dns
        .secondaries
        .iter()
        .map(|ip| SocketAddr::new(*ip, 53))
        .collect();
    // One NS per host, at its underlay address: what the office DNS reaches.
    server.nameservers = config
        .cluster
        .peers
        .iter()
        .filter_map(|peer| match peer.addr.ip() {
            IpAddr::V4(ip) => Some((format!("ns{}", peer.id), ip)),
            IpAddr::V6(_) => None,
        })
        .collect();
    server.notify_source = Some(config.node.cluster_addr.ip());
    // The secrets are read here, at start-up, from their private files.
    server.tsig_keys = config
        .load_tsig_keys()?
        .into_iter()
        .map(|key| TsigKey {
            name: key.name,
            algorithm: match key.algorithm {
                TsigAlgorithm::HmacSha256 => TsigAlgorithmName::HmacSha256,
                TsigAlgorithm::HmacSha512 => TsigAlgorithmName::HmacSha512,
            },
            secret: key.secret,
        })
        .collect();
    server.transfer_key.clone_from(&dns.transfer_key);
    server.rate_limit = dns.rate_limit.map(rate_limit);
    server.tcp_max_connections = config.limits.dns_tcp_connections;
    server.tcp_max_per_client = config.limits.connections_per_client;
    server.ipv6_prefix = config.ipv6.as_ref().map(|v6| v6.prefix);
    server.ipv6_leases = config
        .ipv6
        .as_ref()
        .is_some_and(|v6| v6.mode == raftmasq_config::Ipv6Mode::Stateful);
    Ok(server)
}

fn rate_limit(config: RateLimitConfig) -> RateLimit {
    RateLimit {
        slip: config.slip,
        ipv4_prefix: config.ipv4_prefix,
        ipv6_prefix: config.ipv6_prefix,
        ..RateLimit::per_second(config.responses_per_second)
    }
}

/// Binds UDP and TCP on every `dns.listen` address and serves until
/// `shutdown`; the returned handle changes the upstream resolvers (SIGHUP).
pub async fn start(
    replica: ReplicaHandle,
    clock: ClusterClock,
    config: &Config,
    shutdown: CancellationToken,
) -> anyhow::Result<DnsServer> {
    let server_config = server_config(config)?;
    let mut udp = Vec::new();
    let mut tcp = Vec::new();
    // One UDP socket per two cores on each address (SO_REUSEPORT), each with
    // its own thread: the kernel spreads clients across them. The UDP path,
    // not the lookups, is the bottleneck, but the host has other work (Raft,
    // DHCP, its containers): on two cores one socket answered about 8 % more
    // queries/s than two (docs/benchmarks.md).
    let bridge = config.dhcp.interface.as_str();
    let per_address = (std::thread::available_parallelism().map_or(1, usize::from) / 2).clamp(1, 4);
    for addr in &config.dns.listen {
        for _ in 0..per_address {
            udp.push(
                udp_socket(*addr)
                    .map_err(|e| port_holder::explain(e, *addr, Transport::Udp, bridge))
                    .with_context(|| format!("cannot listen for DNS on dns.listen {addr} (UDP)"))?,
            );
        }
        tcp.push(
            tcp_listener(*addr)
                .map_err(|e| port_holder::explain(e, *addr, Transport::Tcp, bridge))
                .with_context(|| format!("cannot listen for DNS on dns.listen {addr} (TCP)"))?,
        );
    }
    // The node's one clock (see `raftmasq_consensus::clock`), so a skewed
    // host's DNS ends leases by the same time as its DHCP and Raft code.
    let server = DnsServer::new(
        &server_config,
        Arc::new(ReplicaZones::new(replica)),
        Arc::new(move || clock.now_millis()),
    )?;
    tracing::info!(listen = ?config.dns.listen, domain = %config.dns.domain, "dns server listening");
    let running = server.clone();
    tokio::spawn(async move {
        if let Err(error) = running.run(udp, tcp, shutdown).await {
            tracing::error!(%error, "dns server stopped");
        }
    });
    Ok(server)
}

/// `dns.upstream`, or the host's resolvers when it is empty (see
/// [`Upstream`]); says in the log where they came from, and warns when there
/// are none.
pub fn upstream(config: &Config) -> Vec<SocketAddr> {
    let upstream = Upstream::of_host(&config.dns.upstream);
    match upstream.warning() {
        Some(warning) => tracing::warn!("{warning}"),
        None => {
            tracing::info!(servers = ?upstream.servers, source = %upstream.source, "dns upstream")
        }
    }
    upstream.servers
}

fn udp_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    bind_even_if_tentative(&socket, addr)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

fn tcp_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // As tokio's `TcpListener::bind`: a restarted daemon rebinds at once.
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    bind_even_if_tentative(&socket, addr)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// An IPv6 bridge address (`ipv6.address`) is tentative for a second or so
/// after it is added, while duplicate address detection runs, and cannot be
/// bound then: at boot raftmasq starts right after LXD adds it. IPV6_FREEBIND
/// lets the bind succeed; queries arrive once the address is usable.
/// (`raftmasq check` still verifies that every `dns.listen` address is this
/// host's.)
fn bind_even_if_tentative(socket: &socket2::Socket, addr: SocketAddr) -> std::io::Result<()> {
    if addr.is_ipv6() && !addr.ip().is_unspecified() {
        socket.set_freebind_v6(true)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use raftmasq_config::Config;

    #[test]
    fn the_forwarder_cache_takes_its_size_from_the_file() {
        let example = include_str!("../examples/lxd1.toml");
        let default = Config::from_toml(example, "lxd1.toml").unwrap();
        assert_eq!(super::server_config(&default).unwrap().cache_size, 10_000);
        let text = example.replacen("[dns]\n", "[dns]\ncache_size = 123\n", 1);
        let sized = Config::from_toml(&text, "lxd1.toml").unwrap();
        assert_eq!(super::server_config(&sized).unwrap().cache_size, 123);
    }

    #[test]
    fn tsig_keys_the_transfer_key_and_the_rate_limit_reach_the_server() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("office-xfr.key");
        std::fs::write(&secret, "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let example = include_str!("../examples/lxd1.toml");
        let default = Config::from_toml(example, "lxd1.toml").unwrap();
        let plain = super::server_config(&default).unwrap();
        assert!(plain.tsig_keys.is_empty() && plain.transfer_key.is_none());
        assert_eq!(plain.rate_limit, None);
        let keyed = format!(
            "[dns]\ntransfer_key = \"office-xfr\"\n\
             tsig_keys = [{{ name = \"office-xfr\", algorithm = \"hmac-sha256\", secret_file = \"{}\" }}]\n\
             rate_limit = {{ responses_per_second = 7, slip = 3 }}\n",
            secret.display()
        );
        let text = example.replacen("[dns]\n", &keyed, 1);
        let server = super::server_config(&Config::from_toml(&text, "lxd1.toml").unwrap()).unwrap();
        assert_eq!(server.transfer_key.as_deref(), Some("office-xfr"));
        assert_eq!(server.tsig_keys.len(), 1);
        assert_eq!(server.tsig_keys[0].secret, b"secret-secret-secret-secret!");
        let limit = server.rate_limit.unwrap();
        assert_eq!(
            (limit.responses_per_second, limit.slip, limit.ipv4_prefix),
            (7, 3, 24)
        );
        // A secret others can read stops the start.
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error =
            super::server_config(&Config::from_toml(&text, "lxd1.toml").unwrap()).unwrap_err();
        assert!(format!("{error:#}").contains("chmod 600"), "{error:#}");
    }

    #[test]
    fn the_tcp_caps_come_from_limits() {
        let example = include_str!("../examples/lxd1.toml");
        let text = example
            .replacen("dns_tcp_connections = 256", "dns_tcp_connections = 9", 1)
            .replacen(
                "connections_per_client = 32",
                "connections_per_client = 4",
                1,
            );
        let config = Config::from_toml(&text, "lxd1.toml").unwrap();
        let server = super::server_config(&config).unwrap();
        assert_eq!(
            (server.tcp_max_connections, server.tcp_max_per_client),
            (9, 4)
        );
    }
}
