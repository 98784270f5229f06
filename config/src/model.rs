//! The validated configuration: typed, defaults filled in, ready to use.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use serde::Deserialize;

use crate::options::DhcpOptionValue;
use crate::{AddressRange, ClientIdentity, ClusterSettings, HostnamePolicy};

/// One host's configuration. Build it with [`Config::from_toml`] or [`Config::read`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it came from, for messages.
    pub source: PathBuf,
    pub node: NodeConfig,
    pub cluster: ClusterConfig,
    pub dhcp: DhcpConfig,
    pub dns: DnsConfig,
    pub log: LogConfig,
    pub lxd: LxdConfig,
    pub limits: LimitsConfig,
    /// `[ipv6]`; `None`: IPv6 is off (the default).
    pub ipv6: Option<crate::Ipv6Config>,
    /// Where `cluster.token_file` is written, for `load_token`'s messages.
    pub(crate) token_file_position: Option<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Raft node id, ≥ 1, unique in the cluster.
    pub id: u64,
    pub data_dir: PathBuf,
    /// Raft RPC listener; also this node's address in `cluster.peers`.
    pub cluster_addr: SocketAddr,
    /// Admin/API HTTP listener.
    pub admin_addr: SocketAddr,
    /// The storage engine's page cache, in bytes (`node.storage_cache_mib`).
    pub storage_cache_bytes: u64,
    pub admin: AdminAccess,
    /// How this node first joins the cluster (`node.role`); afterwards the
    /// cluster's membership decides (`dnsctl members promote|demote`).
    pub role: NodeRole,
}

/// Whether a member votes (`node.role`, and `role=` in `cluster.peers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// Votes, counts for quorum, may lead (and so answer DHCP).
    #[default]
    Voter,
    /// Replicates and answers DNS and admin reads; never votes or leads.
    Learner,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Voter => "voter",
            NodeRole::Learner => "learner",
        }
    }
}

/// Who may use the admin API, and how (`node.admin_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAccess {
    /// The local unix socket for `dnsctl` on this host (root, the service
    /// user and `socket_group` only); `None`: off.
    pub socket: Option<PathBuf>,
    pub socket_group: String,
    /// The admin credential every TCP write (and every read from off this
    /// host) must present.
    pub token_file: PathBuf,
    pub public_reads: bool,
    /// Accepted `Host` header names besides this node's own addresses.
    pub hostnames: Vec<String>,
    /// HTTPS for a non-loopback listener; `None` on loopback or with the
    /// plaintext opt-out.
    pub tls: Option<AdminTlsFiles>,
    /// A non-loopback listener in clear: an explicit opt-out, logged at
    /// error level on every start.
    pub insecure_plaintext: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// A member of the initial cluster (`cluster.peers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub id: u64,
    pub addr: SocketAddr,
    /// That host's `dhcp.address` (` bridge=IP` in the entry): its DHCP server
    /// identifier and one of the DNS servers handed to clients.
    pub bridge_address: Option<Ipv4Addr>,
    /// ` role=learner` in the entry: the node that forms a new cluster leaves
    /// it out of the first voters (it joins by itself as a learner).
    pub role: NodeRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub token_file: PathBuf,
    /// Initial members, in file order; includes this node.
    pub peers: Vec<Peer>,
    /// openraft draws each election timeout from `[t, 2t)`.
    pub election_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// Log entries between snapshots.
    pub snapshot_every: u64,
    /// How far a voter's clock may be from the voters' median and still be
    /// followed; further off, it is reported and left out.
    pub max_clock_offset: Duration,
    /// The cluster link's TLS files (unused with `insecure_plaintext`).
    pub tls: TlsFiles,
    /// The cluster link in clear, the token alone: an explicit opt-out,
    /// logged at error level on every start.
    pub insecure_plaintext: bool,
}

/// `[cluster.tls]`: PEM files; the key must be mode 600.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The cluster CA certificate(s); two during a CA rotation.
    pub ca_file: PathBuf,
    /// This node's certificate, issued for `node.id`.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Revoked certificates, if any.
    pub crl_file: Option<PathBuf>,
}

/// How replies reach a client that has no address yet (RFC 2131 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnicastReplies {
    /// Unicast to chaddr/yiaddr with a hand-built frame (needs CAP_NET_RAW).
    #[default]
    Raw,
    /// Broadcast to 255.255.255.255, which RFC 2131 allows as a fallback.
    Broadcast,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpConfig {
    /// When false this node never serves DHCP, even as Raft leader.
    pub enabled: bool,
    pub interface: String,
    /// This host's address on the bridge; the server identifier (option 54).
    pub address: Ipv4Addr,
    pub subnet: Ipv4Net,
    /// Dynamic pools (`range`, or `ranges`), ascending and disjoint; empty:
    /// reservations and INFORM only.
    pub ranges: Vec<AddressRange>,
    /// Option 3, in order (`router`, or `routers`); `[address]` when not
    /// written. Never empty.
    pub routers: Vec<Ipv4Addr>,
    /// `None`: decided at runtime, the bridge addresses of all hosts.
    pub dns_servers: Option<Vec<Ipv4Addr>>,
    pub lease_time: Duration,
    pub offer_hold: Duration,
    pub decline_quarantine: Duration,
    pub duplicate_hostnames: HostnamePolicy,
    /// What a client's lease is keyed on: option 61 or the MAC.
    pub client_identity: ClientIdentity,
    /// Hostnames no client may take by DHCP, lowercase labels; checked by the
    /// node that decides, so set alike on every node.
    pub denied_hostnames: Vec<String>,
    /// Share of the pool, in percent, that renewals of addresses without a
    /// lease may bind per lease time, cluster-wide (each node its part).
    pub unknown_renewals_max_percent: u8,
    pub port: u16,
    pub unicast_replies: UnicastReplies,
    /// Answer a DISCOVER carrying option 80 with a committed ACK (RFC 4039).
    pub rapid_commit: bool,
    /// `siaddr`, `sname` and `file` of replies (network boot).
    pub boot: BootConfig,
    /// Operator options, validated and ready to encode, in file order
    /// (`[dhcp.options]` first, then `[[dhcp.option]]`).
    pub options: Vec<DhcpOptionValue>,
    /// `[[dhcp.networks]]`: the networks beside this one, which is `default`.
    pub networks: Vec<crate::NetworkConfig>,
}

/// The BOOTP boot fields (`[dhcp.options]` `next_server`, `server_name`,
/// `boot_file`), like dnsmasq's `dhcp-boot`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootConfig {
    pub next_server: Option<Ipv4Addr>,
    /// At most 255 bytes; a name over 63 bytes goes in option 66 only.
    pub server_name: Option<String>,
    /// At most 255 bytes; a name over 127 bytes goes in option 67 only.
    pub boot_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    pub enabled: bool,
    /// Lowercase, without trailing dot.
    pub domain: String,
    pub listen: Vec<SocketAddr>,
    /// Empty: use /etc/resolv.conf's nameservers (see [`crate::resolv_conf_nameservers`]).
    pub upstream: Vec<SocketAddr>,
    /// Clients allowed to use this server for names outside the domain.
    pub allow_recursion: Vec<IpNet>,
    /// Allowed AXFR and sent NOTIFY.
    pub secondaries: Vec<IpAddr>,
    /// TTL of names from leases.
    pub ttl: Duration,
    /// TTL of NXDOMAIN/NODATA answers in the domain (SOA minimum, RFC 2308).
    pub negative_ttl: Duration,
    /// Forwarded answers the cache keeps at most (`0`: no cache).
    pub cache_size: usize,
    /// Extra static records; the file may not exist.
    pub records_file: Option<PathBuf>,
    /// `[[dns.tsig_keys]]`; the secrets are read by [`Config::load_tsig_keys`].
    pub tsig_keys: Vec<TsigKeyFile>,
    /// One of `tsig_keys` by name: zone transfers need it, NOTIFY is signed with it.
    pub transfer_key: Option<String>,
    /// `[dns.rate_limit]`; `None`: off.
    pub rate_limit: Option<RateLimitConfig>,
}

/// A TSIG key as configured: the secret stays in its file until
/// [`Config::load_tsig_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsigKeyFile {
    /// Lowercase, without trailing dot.
    pub name: String,
    pub algorithm: TsigAlgorithm,
    pub secret_file: PathBuf,
}

/// `hmac-sha256` or `hmac-sha512`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsigAlgorithm {
    HmacSha256,
    HmacSha512,
}

/// A TSIG key with its secret (base64-decoded).
#[derive(Clone, PartialEq, Eq)]
pub struct TsigSecret {
    pub name: String,
    pub algorithm: TsigAlgorithm,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for TsigSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigSecret")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// `[dns.rate_limit]`: UDP answers per second per client prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub responses_per_second: u32,
    pub slip: u32,
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Plain,
    Json,
}

/// `[limits]`: caps and timeouts of the TCP listeners (cluster, admin, DNS
/// over TCP). See docs/security.md, "Limits".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    pub cluster_connections: usize,
    pub admin_connections: usize,
    pub dns_tcp_connections: usize,
    /// On each listener, from one client address.
    pub connections_per_client: usize,
    /// HTTP listeners: time to send a request head (ends idle keep-alive too).
    pub header_timeout: Duration,
    /// HTTP listeners: no byte moving either way for this long ends a connection.
    pub idle_timeout: Duration,
    /// HTTP listeners: one request, head to response head.
    pub request_timeout: Duration,
}

impl LimitsConfig {
    /// Connections all listeners may hold together.
    pub fn total_connections(&self) -> usize {
        self.cluster_connections + self.admin_connections + self.dns_tcp_connections
    }
}

/// `[lxd]`: follow the local LXD's instances (names, static addresses,
/// deletions). See docs/configuration.md.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LxdConfig {
    pub enabled: bool,
    /// `None`: the first socket of [`LxdConfig::DEFAULT_SOCKETS`] that exists.
    pub socket: Option<PathBuf>,
}

impl LxdConfig {
    /// Debian/Ubuntu deb LXD, snap LXD, Incus: tried in this order.
    pub const DEFAULT_SOCKETS: [&'static str; 3] = [
        "/var/lib/lxd/unix.socket",
        "/var/snap/lxd/common/lxd/unix.socket",
        "/var/lib/incus/unix.socket",
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A tracing `EnvFilter` directive string, e.g. `info,raftmasq_dhcpd=debug`.
    pub level: String,
    pub format: LogFormat,
}

impl Config {
    /// The file's cluster-wide values: the cluster's when this node starts a
    /// new cluster; otherwise compared with the cluster's
    /// ([`ClusterSettings::differing_keys`]) to say where the file differs.
    pub fn cluster_settings(&self) -> ClusterSettings {
        ClusterSettings {
            subnet: self.dhcp.subnet,
            ranges: self.dhcp.ranges.clone(),
            domain: self.dns.domain.clone(),
            lease_time_secs: self.dhcp.lease_time.as_secs(),
            duplicate_hostnames: self.dhcp.duplicate_hostnames,
            decline_quarantine_secs: self.dhcp.decline_quarantine.as_secs(),
            client_identity: self.dhcp.client_identity,
        }
    }

    /// Every network's replicated settings, `default` (`[dhcp]`) first.
    pub fn network_settings(&self) -> Vec<(String, ClusterSettings)> {
        let default = self.cluster_settings();
        let mut all = vec![(raftmasq_state::DEFAULT_NETWORK.to_string(), default.clone())];
        all.extend(
            self.dhcp
                .networks
                .iter()
                .map(|n| (n.name.clone(), n.cluster_settings(&default))),
        );
        all
    }

    /// This node's entry in `cluster.peers` (validation guarantees it exists).
    pub fn own_peer(&self) -> Option<Peer> {
        self.cluster
            .peers
            .iter()
            .copied()
            .find(|p| p.id == self.node.id)
    }
}
