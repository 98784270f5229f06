//! Named defaults, as they would be written in the file.
//!
//! `docs/configuration.md` quotes these values: change both together.

/// Admin/API listener: loopback, so writes need no token unless moved off it.
pub const ADMIN_ADDR: &str = "127.0.0.1:7381";
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
/// On, as LXD runs dnsmasq (`--dhcp-rapid-commit`).
pub const RAPID_COMMIT: bool = true;
pub const DOMAIN: &str = "lxd";
pub const DNS_PORT: u16 = 53;
pub const DNS_TTL: &str = "30s";
pub const NEGATIVE_TTL: &str = "30s";
pub const LOG_LEVEL: &str = "info";
