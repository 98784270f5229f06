//! Named defaults, as they would be written in the file.
//!
//! `docs/configuration.md` quotes these values: change both together.

/// Admin/API listener: loopback, so writes need no token unless moved off it.
pub const ADMIN_ADDR: &str = "127.0.0.1:7381";
/// `dnsctl` on the host talks here; systemd's `RuntimeDirectory=raftmasq`
/// makes the directory.
pub const ADMIN_SOCKET: &str = "/run/raftmasq/admin.sock";
/// Who besides root and the service user may use the admin socket.
pub const ADMIN_SOCKET_GROUP: &str = "raftmasq";
/// The admin credential (not the cluster token).
pub const ADMIN_TOKEN_FILE: &str = "/etc/raftmasq/admin.token";
pub const ADMIN_TLS_CERT_FILE: &str = "/etc/raftmasq/tls/admin.pem";
pub const ADMIN_TLS_KEY_FILE: &str = "/etc/raftmasq/tls/admin.key";
/// Each node's election timeout is drawn from `[t, 1.5t)`, and a follower
/// elects after the leader's lease (1.5t) plus that: 1.0–1.2 s of silence,
/// ten heartbeats, on a cloud underlay (docs/reliability.md has the failover
/// figures; a lossy or long-distance underlay wants more).
pub const ELECTION_TIMEOUT: &str = "400ms";
pub const HEARTBEAT_INTERVAL: &str = "100ms";
/// How far a voter's clock may be from the voters' median and still be followed.
pub const MAX_CLOCK_OFFSET: &str = "5s";
/// Where `raftmasq cert` writes and the daemon reads the cluster link's TLS files.
pub const TLS_CA_FILE: &str = "/etc/raftmasq/tls/ca.pem";
pub const TLS_CERT_FILE: &str = "/etc/raftmasq/tls/node.pem";
pub const TLS_KEY_FILE: &str = "/etc/raftmasq/tls/node.key";
/// The storage engine's (sled's) page cache, in MiB. sled's own default is
/// 1 GiB, which it fills with every log entry and snapshot written; 16 MiB
/// holds the log between two snapshots (docs/benchmarks.md, "Memory").
pub const STORAGE_CACHE_MIB: u64 = 16;
/// Forwarded answers kept by the DNS cache (a few hundred bytes each).
pub const DNS_CACHE_SIZE: u64 = 10_000;
/// Log entries between snapshots.
pub const SNAPSHOT_EVERY: u64 = 5000;
pub const LEASE_TIME: &str = "1h";
pub const OFFER_HOLD: &str = "30s";
pub const DECLINE_QUARANTINE: &str = "10m";
pub const DHCP_PORT: u16 = 67;
/// Names a client could use to capture other clients' traffic if DNS answered
/// them under the cluster domain: WPAD and ISATAP discovery (the two names of
/// Microsoft DNS's default `GlobalQueryBlockList`, kept for exactly this
/// reason) and the loopback names of Debian's and Ubuntu's `/etc/hosts`
/// (resolvers search them under the domain, so `localhost.lxd` pointing at a
/// container would redirect local traffic).
pub const DENIED_HOSTNAMES: [&str; 6] = [
    "localhost",
    "localdomain",
    "ip6-localhost",
    "ip6-loopback",
    "wpad",
    "isatap",
];
/// Share of the pool (percent) that renewals of addresses the cluster has no
/// lease for may take per lease time: enough for the clients of a restored
/// cluster or a dnsmasq host to keep their addresses at their first renewal,
/// too little for a burst of forged renewals to empty the pool.
pub const UNKNOWN_RENEWALS_MAX_PERCENT: u8 = 10;
/// On, as LXD runs dnsmasq (`--dhcp-rapid-commit`).
pub const RAPID_COMMIT: bool = true;
pub const DOMAIN: &str = "lxd";
pub const DNS_PORT: u16 = 53;
/// `ipv6.interval`: MaxRtrAdvInterval, RFC 4861 §6.2.1's default.
pub const RA_INTERVAL: &str = "600s";
pub const DNS_TTL: &str = "30s";
pub const NEGATIVE_TTL: &str = "30s";
pub const LOG_LEVEL: &str = "info";

/// `[dns.rate_limit]`: every second limited answer goes out truncated, and
/// clients are grouped by /24 and /56, as BIND's RRL does by default.
pub const RATE_LIMIT_SLIP: u64 = 2;
pub const RATE_LIMIT_IPV4_PREFIX: u64 = 24;
pub const RATE_LIMIT_IPV6_PREFIX: u64 = 56;
/// `[limits]`: connections each listener holds at once. With the reserve for
/// everything else (`raftmasq_limits::handles::RESERVED_HANDLES`, 1,024) they
/// fit far below the unit's `LimitNOFILE=65536`, and even a shell's 4,096.
pub const CLUSTER_CONNECTIONS: u64 = 256;
pub const ADMIN_CONNECTIONS: u64 = 64;
pub const DNS_TCP_CONNECTIONS: u64 = 256;
/// Connections one client address may hold on each listener: room for a
/// peer's replication, forwarding and probes, or a resolver's pool.
pub const CONNECTIONS_PER_CLIENT: u64 = 32;
/// HTTP listeners (cluster, admin): a request head must arrive within this
/// (so also ends idle keep-alive connections).
pub const HEADER_TIMEOUT: &str = "10s";
/// HTTP listeners: a connection on which no byte moves for this long ends.
pub const IDLE_TIMEOUT: &str = "60s";
/// HTTP listeners: one request, head to response head.
pub const REQUEST_TIMEOUT: &str = "60s";
