//! From the file as written ([`RawConfig`]) to a checked [`Config`].
//!
//! Every value is parsed even after an earlier one failed, so the operator sees
//! all problems at once. A value that failed to parse is `None` and the checks
//! that relate it to others are skipped, so one typo yields one message, not a
//! cascade. The placeholders used to finish building `Config` when something
//! failed are never seen: any problem turns the result into an error.
//!
//! One file of about 600 lines, not one per section: the checks relate the
//! sections' parsed values to each other (the range and addresses within the
//! subnet, the peers against this node, TLS against the opt-out), and split by
//! section those half-built values would have to travel between files.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};

use crate::duration::{self, Bounds};
use crate::error::Problems;
use crate::model::{
    ClusterConfig, Config, DhcpConfig, DnsConfig, LogConfig, NodeConfig, RateLimitConfig, TlsFiles,
    TsigKeyFile,
};
use crate::raw::{RawCluster, RawConfig, RawDhcp, RawDns, RawLimits, RawNode, RawRateLimit};
use crate::{AddressRange, defaults, names, net, options};

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
const fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}
const DAY: u64 = 86_400;

pub(crate) const ELECTION_TIMEOUT: Bounds = Bounds::new(millis(100), secs(60));
pub(crate) const HEARTBEAT_INTERVAL: Bounds = Bounds::new(millis(10), secs(30));
/// Below half a second, measurement noise would put true clocks out of
/// bound; a day is far beyond any clock NTP keeps.
pub(crate) const MAX_CLOCK_OFFSET: Bounds = Bounds::new(millis(500), secs(DAY));
/// RFC 2131 leaves the minimum to the server; below 2 minutes clients spend
/// their time renewing. 365 days keeps option 51 well inside u32 seconds.
pub(crate) const LEASE_TIME: Bounds = Bounds::seconds(secs(120), secs(365 * DAY));
/// An offer is held for the client's REQUEST; clients retry within seconds,
/// and a long hold lets a DISCOVER flood drain the pool.
pub(crate) const OFFER_HOLD: Bounds = Bounds::new(secs(1), secs(60));
pub(crate) const DECLINE_QUARANTINE: Bounds = Bounds::seconds(secs(1), secs(7 * DAY));
pub(crate) const DNS_TTL: Bounds = Bounds::seconds(secs(0), secs(DAY));

/// Parses one value, recording the reason under `key` when it fails.
fn check<T>(problems: &mut Problems<'_>, key: &str, result: Result<T, String>) -> Option<T> {
    result.map_err(|reason| problems.add(key, reason)).ok()
}

/// Parses every entry of the list at `key`; a bad entry is reported as
/// `key[index]` and left out.
fn check_each<T>(
    problems: &mut Problems<'_>,
    key: &str,
    list: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Vec<T> {
    list.iter()
        .enumerate()
        .filter_map(|(index, text)| check(problems, &format!("{key}[{index}]"), parse(text)))
        .collect()
}

pub(crate) fn validate(raw: RawConfig, source: &Path, problems: &mut Problems<'_>) -> Config {
    let node = node(&raw.node, problems);
    let cluster = cluster(&raw.cluster, &node, problems);
    let dhcp = dhcp(&raw.dhcp, problems);
    peer_bridges(&cluster, &node, &dhcp, problems);
    let ipv6 = crate::ipv6::validate(&raw.ipv6, problems);
    let dns = dns(&raw.dns, &node, &dhcp, ipv6.as_ref(), problems);
    if let Some(v6) = &ipv6
        && v6.mode.serves_dhcpv6()
        && !raw.dns.enabled
        && v6.dns_servers.is_none()
    {
        problems.add(
            "ipv6.mode",
            format!("\"{}\" DHCPv6 hands out DNS servers, but dns.enabled is false and ipv6.dns_servers is not set: set ipv6.dns_servers, enable DNS, or use \"slaac\"", v6.mode.as_str()),
        );
    }
    let log = LogConfig {
        level: check(problems, "log.level", log_level(&raw.log.level)).unwrap_or_default(),
        format: raw.log.format,
    };
    if let Some(socket) = &raw.lxd.socket
        && !socket.is_absolute()
    {
        problems.add(
            "lxd.socket",
            format!(
                "{} is not an absolute path (e.g. {})",
                socket.display(),
                crate::LxdConfig::DEFAULT_SOCKETS[0]
            ),
        );
    }
    let lxd = crate::LxdConfig {
        enabled: raw.lxd.enabled,
        socket: raw.lxd.socket.clone(),
    };
    let limits = limits(&raw.limits, problems);
    let token_file_position = problems.locate("cluster.token_file");
    Config {
        source: source.to_path_buf(),
        node: node.finish(),
        cluster,
        dhcp: dhcp.finish(),
        dns,
        log,
        lxd,
        limits,
        ipv6,
        token_file_position,
    }
}

/// `[limits]`: a cap of 0 would refuse everyone; above 100,000 connections
/// is past any open-file limit worth having (the caps must fit under it with
/// a reserve; the daemon checks at start).
const MAX_CONNECTIONS: u64 = 100_000;
const LISTENER_TIMEOUT: Bounds = Bounds::new(secs(1), secs(3600));

fn limits(raw: &RawLimits, problems: &mut Problems<'_>) -> crate::LimitsConfig {
    let mut count = |key: &str, value: u64| {
        if (1..=MAX_CONNECTIONS).contains(&value) {
            value as usize
        } else {
            problems.add(
                key,
                format!("{value} is not between 1 and {MAX_CONNECTIONS} connections"),
            );
            1
        }
    };
    let cluster_connections = count("limits.cluster_connections", raw.cluster_connections);
    let admin_connections = count("limits.admin_connections", raw.admin_connections);
    let dns_tcp_connections = count("limits.dns_tcp_connections", raw.dns_tcp_connections);
    let connections_per_client = count("limits.connections_per_client", raw.connections_per_client);
    let mut timeout = |key: &str, text: &str| {
        check(problems, key, duration::parse(text, LISTENER_TIMEOUT)).unwrap_or(secs(10))
    };
    crate::LimitsConfig {
        cluster_connections,
        admin_connections,
        dns_tcp_connections,
        connections_per_client,
        header_timeout: timeout("limits.header_timeout", &raw.header_timeout),
        idle_timeout: timeout("limits.idle_timeout", &raw.idle_timeout),
        request_timeout: timeout("limits.request_timeout", &raw.request_timeout),
    }
}

/// `dns.cache_size`: a million answers is some hundreds of MiB; more is a typo.
const MAX_DNS_CACHE_SIZE: u64 = 1_000_000;

/// `node.storage_cache_mib`: below 1 MiB sled rereads every log entry it
/// just wrote from disk; above 64 GiB is a typo.
const MIN_STORAGE_CACHE_MIB: u64 = 1;
const MAX_STORAGE_CACHE_MIB: u64 = 65_536;

struct Node {
    id: u64,
    data_dir: std::path::PathBuf,
    cluster_addr: Option<SocketAddr>,
    admin_addr: Option<SocketAddr>,
    storage_cache_mib: u64,
    admin: crate::AdminAccess,
    role: crate::NodeRole,
}

impl Node {
    fn finish(self) -> NodeConfig {
        let placeholder = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
        NodeConfig {
            id: self.id,
            data_dir: self.data_dir,
            cluster_addr: self.cluster_addr.unwrap_or(placeholder),
            admin_addr: self.admin_addr.unwrap_or(placeholder),
            storage_cache_bytes: self.storage_cache_mib << 20,
            admin: self.admin,
            role: self.role,
        }
    }
}

fn node(raw: &RawNode, problems: &mut Problems<'_>) -> Node {
    if raw.id == 0 {
        problems.add("node.id", "node ids start at 1");
    }
    if raw.data_dir.as_os_str().is_empty() {
        problems.add("node.data_dir", "the data directory path is empty");
    }
    let cluster_addr = check(
        problems,
        "node.cluster_addr",
        net::socket_addr(&raw.cluster_addr),
    );
    if let Some(addr) = cluster_addr
        && addr.ip().is_unspecified()
    {
        problems.add(
            "node.cluster_addr",
            format!(
                "{} is a wildcard; use this host's address on the underlay, the one peers dial",
                addr.ip()
            ),
        );
    }
    let admin_addr = check(
        problems,
        "node.admin_addr",
        net::socket_addr(&raw.admin_addr),
    );
    if let (Some(cluster), Some(admin)) = (cluster_addr, admin_addr)
        && net::listeners_overlap(cluster, admin)
    {
        problems.add(
            "node.admin_addr",
            format!("{admin} collides with node.cluster_addr {cluster}; use another port"),
        );
    }
    if !(MIN_STORAGE_CACHE_MIB..=MAX_STORAGE_CACHE_MIB).contains(&raw.storage_cache_mib) {
        problems.add(
            "node.storage_cache_mib",
            format!(
                "{} MiB is outside {MIN_STORAGE_CACHE_MIB}-{MAX_STORAGE_CACHE_MIB} MiB",
                raw.storage_cache_mib
            ),
        );
    }
    let admin = admin_access(raw, admin_addr, problems);
    Node {
        id: raw.id,
        data_dir: raw.data_dir.clone(),
        cluster_addr,
        admin_addr,
        storage_cache_mib: raw.storage_cache_mib,
        admin,
        role: raw.role,
    }
}

fn admin_access(
    raw: &RawNode,
    admin_addr: Option<SocketAddr>,
    problems: &mut Problems<'_>,
) -> crate::AdminAccess {
    let socket = (!raw.admin_socket.as_os_str().is_empty()).then(|| raw.admin_socket.clone());
    if let Some(socket) = &socket
        && !socket.is_absolute()
    {
        problems.add(
            "node.admin_socket",
            format!(
                "{} is not an absolute path (e.g. {}; \"\" turns the socket off)",
                socket.display(),
                defaults::ADMIN_SOCKET
            ),
        );
    }
    if raw.admin_token_file.as_os_str().is_empty() {
        problems.add(
            "node.admin_token_file",
            "the admin token file path is empty",
        );
    }
    for (index, name) in raw.admin_hostnames.iter().enumerate() {
        if name.is_empty() || name.contains([':', '/', ' ']) {
            problems.add(
                &format!("node.admin_hostnames[{index}]"),
                format!("{name:?} is not a host name (no port, scheme or path)"),
            );
        }
    }
    let off_loopback = admin_addr.is_some_and(|addr| !addr.ip().is_loopback());
    let tls = (off_loopback && !raw.admin_insecure_plaintext).then(|| crate::AdminTlsFiles {
        cert_file: raw.admin_tls.cert_file.clone(),
        key_file: raw.admin_tls.key_file.clone(),
    });
    crate::AdminAccess {
        socket,
        socket_group: raw.admin_socket_group.clone(),
        token_file: raw.admin_token_file.clone(),
        public_reads: raw.admin_public_reads,
        hostnames: raw
            .admin_hostnames
            .iter()
            .map(|name| name.to_ascii_lowercase())
            .collect(),
        tls,
        insecure_plaintext: raw.admin_insecure_plaintext && off_loopback,
    }
}

fn cluster(raw: &RawCluster, node: &Node, problems: &mut Problems<'_>) -> ClusterConfig {
    if raw.token_file.as_os_str().is_empty() {
        problems.add("cluster.token_file", "the token file path is empty");
    }

    let mut peers = Vec::new();
    let mut ids: BTreeMap<u64, usize> = BTreeMap::new();
    let mut addrs: HashMap<SocketAddr, u64> = HashMap::new();
    let mut all_parsed = true;
    for (index, text) in raw.peers.iter().enumerate() {
        let key = format!("cluster.peers[{index}]");
        let Some(peer) = check(problems, &key, net::peer(text)) else {
            all_parsed = false;
            continue;
        };
        if let Some(first) = ids.insert(peer.id, index) {
            problems.add(
                &key,
                format!(
                    "node id {} is listed twice (also cluster.peers[{first}])",
                    peer.id
                ),
            );
            continue;
        }
        if let Some(other) = addrs.insert(peer.addr, peer.id) {
            problems.add(
                &key,
                format!(
                    "nodes {other} and {} share the address {}",
                    peer.id, peer.addr
                ),
            );
            continue;
        }
        peers.push(peer);
    }
    if raw.peers.is_empty() {
        problems.add(
            "cluster.peers",
            "the list is empty; it must name the initial members, this node included",
        );
    } else if node.id != 0 && all_parsed && !ids.contains_key(&node.id) {
        problems.add(
            "cluster.peers",
            format!(
                "this node (node.id = {}) is not listed; add \"{}={}\"",
                node.id,
                node.id,
                node.cluster_addr
                    .map_or_else(|| "IP:PORT".to_string(), |a| a.to_string())
            ),
        );
    }
    peer_roles(&peers, &ids, node, problems);
    if let (Some(own), Some(cluster_addr)) =
        (peers.iter().find(|p| p.id == node.id), node.cluster_addr)
        && own.addr != cluster_addr
    {
        let index = ids.get(&node.id).copied().unwrap_or_default();
        problems.add(
            &format!("cluster.peers[{index}]"),
            format!(
                "this node's entry says {} but node.cluster_addr is {cluster_addr}; they must be equal",
                own.addr
            ),
        );
    }

    let election_timeout = check(
        problems,
        "cluster.election_timeout",
        duration::parse(&raw.election_timeout, ELECTION_TIMEOUT),
    );
    let heartbeat_interval = check(
        problems,
        "cluster.heartbeat_interval",
        duration::parse(&raw.heartbeat_interval, HEARTBEAT_INTERVAL),
    );
    if let (Some(election), Some(heartbeat)) = (election_timeout, heartbeat_interval)
        && heartbeat >= election
    {
        problems.add(
            "cluster.heartbeat_interval",
            format!(
                "{} must be shorter than cluster.election_timeout ({}), or followers start elections against a live leader",
                raw.heartbeat_interval.trim(),
                raw.election_timeout.trim()
            ),
        );
    }
    if raw.snapshot_every == 0 {
        problems.add("cluster.snapshot_every", "must be at least 1 log entry");
    }
    let max_clock_offset = check(
        problems,
        "cluster.max_clock_offset",
        duration::parse(&raw.max_clock_offset, MAX_CLOCK_OFFSET),
    );

    ClusterConfig {
        token_file: raw.token_file.clone(),
        peers,
        election_timeout: election_timeout.unwrap_or_default(),
        heartbeat_interval: heartbeat_interval.unwrap_or_default(),
        snapshot_every: raw.snapshot_every,
        max_clock_offset: max_clock_offset.unwrap_or_default(),
        tls: TlsFiles {
            ca_file: raw.tls.ca_file.clone(),
            cert_file: raw.tls.cert_file.clone(),
            key_file: raw.tls.key_file.clone(),
            crl_file: raw.tls.crl_file.clone(),
        },
        insecure_plaintext: raw.insecure_plaintext,
    }
}

struct Dhcp {
    config: DhcpConfig,
    address: Option<Ipv4Addr>,
    subnet: Option<Ipv4Net>,
}

impl Dhcp {
    fn finish(self) -> DhcpConfig {
        self.config
    }
}

fn dhcp(raw: &RawDhcp, problems: &mut Problems<'_>) -> Dhcp {
    check(problems, "dhcp.interface", interface(&raw.interface));
    let address = check(problems, "dhcp.address", net::ipv4(&raw.address));
    let subnet = check(problems, "dhcp.subnet", net::subnet(&raw.subnet));
    let ranges = crate::ranges::parse(
        problems,
        "dhcp",
        raw.range.as_deref(),
        raw.ranges.as_deref(),
    );
    // (key, router) for each router written; the host's address when none is.
    let written: Vec<(String, Option<Ipv4Addr>)> = match (&raw.router, &raw.routers) {
        (Some(_), Some(_)) => {
            problems.add("dhcp.routers", "write `router` or `routers`, not both");
            Vec::new()
        }
        (Some(text), None) => vec![(
            "dhcp.router".to_string(),
            check(problems, "dhcp.router", net::ipv4(text)),
        )],
        (None, Some(list)) if list.is_empty() => {
            problems.add(
                "dhcp.routers",
                "the list is empty; omit the key to hand out this host's dhcp.address",
            );
            Vec::new()
        }
        (None, Some(list)) => list
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let key = format!("dhcp.routers[{index}]");
                let router = check(problems, &key, net::ipv4(text));
                (key, router)
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    let routers: Vec<Ipv4Addr> = if written.is_empty() {
        address.into_iter().collect()
    } else {
        written.iter().filter_map(|(_, router)| *router).collect()
    };

    if let Some(subnet) = subnet {
        let network = subnet.network();
        let broadcast = subnet.broadcast();
        // The bridge and router addresses must be hosts of the subnet.
        let mut host = |key: &str, what: &str, address: Option<Ipv4Addr>| {
            let Some(address) = address else { return };
            if !subnet.contains(&address) {
                problems.add(
                    key,
                    format!("{what} {address} is outside dhcp.subnet {subnet}"),
                );
            } else if address == network || address == broadcast {
                problems.add(
                    key,
                    format!("{what} {address} is the network or broadcast address of {subnet}"),
                );
            }
        };
        host("dhcp.address", "address", address);
        for (key, router) in &written {
            host(key, "router", *router);
        }
        if let Some(ranges) = &ranges {
            ranges_in_subnet(ranges, subnet, address, &written, problems);
        }
    }

    let dns_servers = raw.dns_servers.as_ref().and_then(|list| {
        if list.is_empty() {
            problems.add(
                "dhcp.dns_servers",
                "the list is empty; omit the key to hand out every host's bridge address",
            );
            return None;
        }
        let mut servers = Vec::new();
        for (index, text) in list.iter().enumerate() {
            servers.extend(check(
                problems,
                &format!("dhcp.dns_servers[{index}]"),
                net::ipv4(text),
            ));
        }
        Some(servers)
    });

    let lease_time = check(
        problems,
        "dhcp.lease_time",
        duration::parse(&raw.lease_time, LEASE_TIME),
    );
    let offer_hold = check(
        problems,
        "dhcp.offer_hold",
        duration::parse(&raw.offer_hold, OFFER_HOLD),
    );
    let decline_quarantine = check(
        problems,
        "dhcp.decline_quarantine",
        duration::parse(&raw.decline_quarantine, DECLINE_QUARANTINE),
    );
    let denied_hostnames = denied_hostnames(raw.denied_hostnames.as_deref(), problems);
    if raw.unknown_renewals_max_percent > 100 {
        problems.add(
            "dhcp.unknown_renewals_max_percent",
            format!(
                "{} is more than 100 (percent of the pool)",
                raw.unknown_renewals_max_percent
            ),
        );
    }
    if raw.port == 0 {
        problems.add(
            "dhcp.port",
            "port 0 is not a fixed port; the standard is 67",
        );
    }
    let options = options::validate(&raw.options, &raw.option, subnet, problems);
    let boot = options::boot(&raw.options, problems);
    let networks = crate::networks::validate(
        &raw.networks,
        &crate::networks::DefaultNetwork {
            interface: &raw.interface,
            subnet,
        },
        problems,
    );

    let placeholder = Ipv4Addr::UNSPECIFIED;
    Dhcp {
        config: DhcpConfig {
            enabled: raw.enabled,
            interface: raw.interface.clone(),
            address: address.unwrap_or(placeholder),
            subnet: subnet.unwrap_or_default(),
            ranges: ranges
                .as_deref()
                .map(crate::ranges::plain)
                .unwrap_or_default(),
            routers: if routers.is_empty() {
                vec![placeholder]
            } else {
                routers
            },
            dns_servers,
            lease_time: lease_time.unwrap_or_default(),
            offer_hold: offer_hold.unwrap_or_default(),
            decline_quarantine: decline_quarantine.unwrap_or_default(),
            duplicate_hostnames: raw.duplicate_hostnames,
            client_identity: raw.client_identity,
            denied_hostnames,
            unknown_renewals_max_percent: raw.unknown_renewals_max_percent,
            port: raw.port,
            unicast_replies: raw.unicast_replies,
            rapid_commit: raw.rapid_commit,
            boot,
            options,
            networks,
        },
        address,
        subnet,
    }
}

/// `dhcp.denied_hostnames` as lowercase labels; the defaults when absent. A
/// DHCP name is one label, so an entry with a dot could never match.
fn denied_hostnames(list: Option<&[String]>, problems: &mut Problems<'_>) -> Vec<String> {
    let Some(list) = list else {
        return defaults::DENIED_HOSTNAMES.map(String::from).to_vec();
    };
    let mut labels: Vec<String> = Vec::with_capacity(list.len());
    for (index, name) in list.iter().enumerate() {
        if !raftmasq_state::is_valid_label(name) {
            problems.add(
                &format!("dhcp.denied_hostnames[{index}]"),
                format!(
                    "{name:?} is not a hostname label (1-63 letters, digits or hyphens, no dot)"
                ),
            );
            continue;
        }
        let label = name.to_ascii_lowercase();
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    labels
}

/// `role=` in `cluster.peers`: this node's entry must say what `node.role`
/// says (the node forming the cluster reads the others' roles from its own
/// file), and the first cluster needs a voter.
fn peer_roles(
    peers: &[crate::Peer],
    indexes: &BTreeMap<u64, usize>,
    node: &Node,
    problems: &mut Problems<'_>,
) {
    if let Some(own) = peers.iter().find(|p| p.id == node.id)
        && own.role != node.role
    {
        let index = indexes.get(&node.id).copied().unwrap_or_default();
        problems.add(
            &format!("cluster.peers[{index}]"),
            format!(
                "this node's entry says role={} but node.role is \"{}\"; they must be equal (write role={} or leave it out for a voter)",
                own.role.as_str(),
                node.role.as_str(),
                node.role.as_str()
            ),
        );
    }
    if !peers.is_empty() && peers.iter().all(|p| p.role == crate::NodeRole::Learner) {
        problems.add(
            "cluster.peers",
            "every entry is role=learner; a cluster needs voters: list at least one (3 or 5 in production) without role=learner",
        );
    }
}

/// Each peer's `bridge=` is that host's `dhcp.address`: this host's must be
/// its own, and every one is a host of the subnet, outside the pool, and
/// given once (clients get them as DNS servers and server identifiers).
fn peer_bridges(cluster: &ClusterConfig, node: &Node, dhcp: &Dhcp, problems: &mut Problems<'_>) {
    let mut seen: HashMap<Ipv4Addr, u64> = HashMap::new();
    for (index, peer) in cluster.peers.iter().enumerate() {
        let Some(bridge) = peer.bridge_address else {
            continue;
        };
        let key = format!("cluster.peers[{index}]");
        if let Some(other) = seen.insert(bridge, peer.id) {
            problems.add(
                &key,
                format!("bridge={bridge} is also node {other}'s; every host needs its own bridge address"),
            );
        }
        if let Some(address) = dhcp.address {
            if peer.id == node.id && bridge != address {
                problems.add(
                    &key,
                    format!("this node's entry says bridge={bridge} but dhcp.address is {address}; they must be equal"),
                );
            } else if peer.id != node.id && bridge == address {
                problems.add(
                    &key,
                    format!("bridge={bridge} is this host's dhcp.address; every host needs its own bridge address"),
                );
            }
        }
        if let Some(subnet) = dhcp.subnet {
            if !subnet.contains(&bridge) {
                problems.add(
                    &key,
                    format!("bridge={bridge} is outside dhcp.subnet {subnet}"),
                );
            } else if let Some(range) = dhcp.config.ranges.iter().find(|r| r.contains(bridge)) {
                problems.add(
                    &key,
                    format!(
                        "bridge={bridge} lies in the dhcp range {range}; the pool must leave out every host's bridge address"
                    ),
                );
            }
        }
    }
}

/// The pools lie inside the subnet and hand out none of the addresses that
/// are already someone's: network, broadcast, router, this host.
fn ranges_in_subnet(
    ranges: &[crate::ranges::KeyedRange],
    subnet: Ipv4Net,
    address: Option<Ipv4Addr>,
    routers: &[(String, Option<Ipv4Addr>)],
    problems: &mut Problems<'_>,
) {
    let mut taken = edge_addresses(subnet);
    taken.extend(address.map(|a| (a, "this host's dhcp.address".to_string())));
    taken.extend(
        routers
            .iter()
            .filter_map(|(key, router)| router.map(|r| (r, key.clone()))),
    );
    crate::ranges::check_in_subnet(problems, ranges, subnet, "dhcp.subnet", &taken);
}

/// The subnet's network and broadcast addresses, which no pool hands out.
pub(crate) fn edge_addresses(subnet: Ipv4Net) -> Vec<(Ipv4Addr, String)> {
    vec![
        (subnet.network(), "the network address".to_string()),
        (subnet.broadcast(), "the broadcast address".to_string()),
    ]
}

/// The range's rules, shared by the file and a range set live
/// (`cluster_keys::range_problems`): inside the subnet, none of `taken`.
pub(crate) fn range_problems(
    range: AddressRange,
    subnet: Ipv4Net,
    taken: &[(Ipv4Addr, String)],
) -> Vec<String> {
    if !subnet.contains(&range.start) || !subnet.contains(&range.end) {
        return vec![format!("range {range} is not inside dhcp.subnet {subnet}")];
    }
    taken
        .iter()
        .filter(|(address, _)| range.contains(*address))
        .map(|(address, what)| format!("range {range} contains {address}, {what}"))
        .collect()
}

/// Linux interface names: 1–15 bytes (IFNAMSIZ - 1), no `/` or whitespace.
pub(crate) fn interface(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 15 {
        return Err(format!(
            "`{name}` is not an interface name: use 1 to 15 characters"
        ));
    }
    if name == "." || name == ".." || name.chars().any(|c| c == '/' || c.is_whitespace()) {
        return Err(format!("`{name}` is not a valid interface name"));
    }
    Ok(())
}

fn log_level(level: &str) -> Result<String, String> {
    let level = level.trim();
    if level.is_empty() {
        return Err("empty; use e.g. \"info\" or \"info,raftmasq_dhcpd=debug\"".into());
    }
    Ok(level.to_string())
}

fn dns(
    raw: &RawDns,
    node: &Node,
    dhcp: &Dhcp,
    ipv6: Option<&crate::Ipv6Config>,
    problems: &mut Problems<'_>,
) -> DnsConfig {
    let domain = check(problems, "dns.domain", names::domain(&raw.domain)).unwrap_or_default();

    let listen: Vec<SocketAddr> = match &raw.listen {
        Some(list) => check_each(problems, "dns.listen", list, net::socket_addr),
        // The bridge addresses: the ones leases (and, with IPv6, router
        // advertisements) name as DNS servers.
        None => dhcp
            .address
            .map(IpAddr::V4)
            .into_iter()
            .chain(ipv6.map(|v6| IpAddr::V6(v6.address)))
            .map(|ip| SocketAddr::new(ip, defaults::DNS_PORT))
            .collect(),
    };
    if raw.enabled && raw.listen.as_ref().is_some_and(Vec::is_empty) {
        problems.add(
            "dns.listen",
            "the list is empty; set dns.enabled = false to serve no DNS",
        );
    }
    if raw.enabled {
        let key = if raw.listen.is_some() {
            "dns.listen"
        } else {
            "dhcp.address"
        };
        for (index, addr) in listen.iter().enumerate() {
            if listen[..index]
                .iter()
                .any(|a| net::listeners_overlap(*a, *addr))
            {
                problems.add(
                    key,
                    format!("{addr} is listed twice or overlaps an earlier entry"),
                );
            }
            for (other, name) in [
                (node.cluster_addr, "node.cluster_addr"),
                (node.admin_addr, "node.admin_addr"),
            ] {
                if other.is_some_and(|o| net::listeners_overlap(o, *addr)) {
                    problems.add(
                        key,
                        format!("{addr} collides with {name} (DNS also listens on TCP)"),
                    );
                }
            }
        }
    }

    let mut upstream = Vec::new();
    for (index, text) in raw.upstream.iter().enumerate() {
        let key = format!("dns.upstream[{index}]");
        let Some(addr) = check(
            problems,
            &key,
            net::socket_addr_or_ip(text, defaults::DNS_PORT),
        ) else {
            continue;
        };
        if listen.contains(&addr) {
            problems.add(
                &key,
                format!(
                    "{addr} is one of our own dns.listen addresses; forwarding there would loop"
                ),
            );
            continue;
        }
        upstream.push(addr);
    }

    let allow_recursion = match &raw.allow_recursion {
        Some(list) => check_each(problems, "dns.allow_recursion", list, net::ip_net),
        None => default_allow_recursion(dhcp.subnet, ipv6.map(|v6| v6.prefix)),
    };
    let secondaries = check_each(problems, "dns.secondaries", &raw.secondaries, net::ip);
    let tsig_keys = tsig_keys(raw, problems);
    if let Some(name) = &raw.transfer_key {
        let wanted = name.to_ascii_lowercase();
        if !tsig_keys
            .iter()
            .any(|k| k.name == wanted.trim_end_matches('.'))
        {
            problems.add(
                "dns.transfer_key",
                format!("{name:?} is not the name of one of the [[dns.tsig_keys]]"),
            );
        }
    }
    let rate_limit = raw
        .rate_limit
        .as_ref()
        .and_then(|r| rate_limit(r, problems));

    DnsConfig {
        enabled: raw.enabled,
        domain,
        listen,
        upstream,
        allow_recursion,
        secondaries,
        ttl: check(problems, "dns.ttl", duration::parse(&raw.ttl, DNS_TTL)).unwrap_or_default(),
        negative_ttl: check(
            problems,
            "dns.negative_ttl",
            duration::parse(&raw.negative_ttl, DNS_TTL),
        )
        .unwrap_or_default(),
        cache_size: dns_cache_size(raw.cache_size, problems),
        records_file: raw.records_file.clone(),
        transfer_key: raw
            .transfer_key
            .as_ref()
            .map(|k| k.to_ascii_lowercase().trim_end_matches('.').to_string()),
        tsig_keys,
        rate_limit,
    }
}

/// `[[dns.tsig_keys]]`: a valid, unique name, a known algorithm, an absolute
/// secret file (read later, see `Config::load_tsig_keys`).
fn tsig_keys(raw: &RawDns, problems: &mut Problems<'_>) -> Vec<TsigKeyFile> {
    let mut keys: Vec<TsigKeyFile> = Vec::new();
    for (index, key) in raw.tsig_keys.iter().enumerate() {
        let at = |field: &str| format!("dns.tsig_keys[{index}].{field}");
        let name = check(problems, &at("name"), names::domain(&key.name));
        let algorithm = check(
            problems,
            &at("algorithm"),
            crate::tsig::algorithm(&key.algorithm),
        );
        if !key.secret_file.is_absolute() {
            problems.add(
                &at("secret_file"),
                format!(
                    "{} is not an absolute path (e.g. /etc/raftmasq/tsig/{}.key)",
                    key.secret_file.display(),
                    key.name
                ),
            );
        }
        let (Some(name), Some(algorithm)) = (name, algorithm) else {
            continue;
        };
        if keys.iter().any(|k| k.name == name) {
            problems.add(&at("name"), format!("{name} is listed twice"));
            continue;
        }
        keys.push(TsigKeyFile {
            name,
            algorithm,
            secret_file: key.secret_file.clone(),
        });
    }
    keys
}

/// `[dns.rate_limit]`: at least one answer per second, slip 0–10, prefixes
/// within the address lengths.
fn rate_limit(raw: &RawRateLimit, problems: &mut Problems<'_>) -> Option<RateLimitConfig> {
    let mut ok = true;
    let mut bounded = |key: &str, value: u64, low: u64, high: u64| -> u64 {
        if value < low || value > high {
            problems.add(key, format!("{value} is outside {low}..={high}"));
            ok = false;
        }
        value.clamp(low, high)
    };
    let responses_per_second = bounded(
        "dns.rate_limit.responses_per_second",
        raw.responses_per_second,
        1,
        1_000_000,
    );
    let slip = bounded("dns.rate_limit.slip", raw.slip, 0, 10);
    let ipv4_prefix = bounded("dns.rate_limit.ipv4_prefix", raw.ipv4_prefix, 8, 32);
    let ipv6_prefix = bounded("dns.rate_limit.ipv6_prefix", raw.ipv6_prefix, 16, 128);
    ok.then(|| RateLimitConfig {
        responses_per_second: u32::try_from(responses_per_second).unwrap_or(u32::MAX),
        slip: u32::try_from(slip).unwrap_or(u32::MAX),
        ipv4_prefix: u8::try_from(ipv4_prefix).unwrap_or(u8::MAX),
        ipv6_prefix: u8::try_from(ipv6_prefix).unwrap_or(u8::MAX),
    })
}

fn dns_cache_size(size: u64, problems: &mut Problems<'_>) -> usize {
    if size > MAX_DNS_CACHE_SIZE {
        problems.add(
            "dns.cache_size",
            format!("{size} answers is above the maximum of {MAX_DNS_CACHE_SIZE}"),
        );
    }
    usize::try_from(size.min(MAX_DNS_CACHE_SIZE)).unwrap_or(usize::MAX)
}

/// The containers' subnet and this host itself.
fn default_allow_recursion(subnet: Option<Ipv4Net>, prefix: Option<ipnet::Ipv6Net>) -> Vec<IpNet> {
    let mut nets: Vec<IpNet> = subnet.map(IpNet::V4).into_iter().collect();
    nets.extend(prefix.map(IpNet::V6));
    nets.extend([
        IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
        IpNet::V6(ipnet::Ipv6Net::new_assert(
            std::net::Ipv6Addr::LOCALHOST,
            128,
        )),
    ]);
    nets
}
