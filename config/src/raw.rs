//! The file as written: serde structs that reject unknown keys and fill named
//! defaults, with addresses and durations still as strings.
//!
//! Keeping values as strings here lets validation report every bad value at once
//! with its own key and reason, instead of serde stopping at the first one with a
//! generic "invalid IP address syntax".

use std::path::PathBuf;

use serde::Deserialize;

use crate::defaults;
use crate::model::{LogFormat, NodeRole, UnicastReplies};
use crate::options::OptionType;
use crate::{ClientIdentity, HostnamePolicy};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub node: RawNode,
    pub cluster: RawCluster,
    pub dhcp: RawDhcp,
    #[serde(default)]
    pub dns: RawDns,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub lxd: RawLxd,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub ipv6: crate::ipv6::RawIpv6,
}

/// `[limits]`: caps and timeouts of the TCP listeners.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    #[serde(default = "cluster_connections")]
    pub cluster_connections: u64,
    #[serde(default = "admin_connections")]
    pub admin_connections: u64,
    #[serde(default = "dns_tcp_connections")]
    pub dns_tcp_connections: u64,
    #[serde(default = "connections_per_client")]
    pub connections_per_client: u64,
    #[serde(default = "header_timeout")]
    pub header_timeout: String,
    #[serde(default = "idle_timeout")]
    pub idle_timeout: String,
    #[serde(default = "request_timeout")]
    pub request_timeout: String,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            cluster_connections: cluster_connections(),
            admin_connections: admin_connections(),
            dns_tcp_connections: dns_tcp_connections(),
            connections_per_client: connections_per_client(),
            header_timeout: header_timeout(),
            idle_timeout: idle_timeout(),
            request_timeout: request_timeout(),
        }
    }
}

fn cluster_connections() -> u64 {
    defaults::CLUSTER_CONNECTIONS
}
fn admin_connections() -> u64 {
    defaults::ADMIN_CONNECTIONS
}
fn dns_tcp_connections() -> u64 {
    defaults::DNS_TCP_CONNECTIONS
}
fn connections_per_client() -> u64 {
    defaults::CONNECTIONS_PER_CLIENT
}
fn header_timeout() -> String {
    defaults::HEADER_TIMEOUT.to_string()
}
fn idle_timeout() -> String {
    defaults::IDLE_TIMEOUT.to_string()
}
fn request_timeout() -> String {
    defaults::REQUEST_TIMEOUT.to_string()
}

/// `[lxd]`: names and static addresses from the local LXD (off by default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLxd {
    #[serde(default)]
    pub enabled: bool,
    /// The LXD (or Incus) unix socket; unset: the first of the usual paths.
    pub socket: Option<std::path::PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNode {
    pub id: u64,
    pub data_dir: PathBuf,
    pub cluster_addr: String,
    #[serde(default = "admin_addr")]
    pub admin_addr: String,
    #[serde(default = "storage_cache_mib")]
    pub storage_cache_mib: u64,
    /// The local admin socket; `""` turns it off.
    #[serde(default = "admin_socket")]
    pub admin_socket: PathBuf,
    #[serde(default = "admin_socket_group")]
    pub admin_socket_group: String,
    #[serde(default = "admin_token_file")]
    pub admin_token_file: PathBuf,
    /// Reads from off this host without the admin credential.
    #[serde(default)]
    pub admin_public_reads: bool,
    /// `Host` header names accepted besides this node's own addresses.
    #[serde(default)]
    pub admin_hostnames: Vec<String>,
    /// The explicit opt-out of HTTPS on a non-loopback admin listener.
    #[serde(default)]
    pub admin_insecure_plaintext: bool,
    #[serde(default)]
    pub admin_tls: RawAdminTls,
    /// `voter` (the default) or `learner`: how this node first joins.
    #[serde(default)]
    pub role: NodeRole,
}

/// `[node.admin_tls]`: the admin listener's certificate when it is not on
/// loopback.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdminTls {
    #[serde(default = "admin_tls_cert_file")]
    pub cert_file: PathBuf,
    #[serde(default = "admin_tls_key_file")]
    pub key_file: PathBuf,
}

impl Default for RawAdminTls {
    fn default() -> Self {
        RawAdminTls {
            cert_file: admin_tls_cert_file(),
            key_file: admin_tls_key_file(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCluster {
    pub token_file: PathBuf,
    pub peers: Vec<String>,
    #[serde(default = "election_timeout")]
    pub election_timeout: String,
    #[serde(default = "heartbeat_interval")]
    pub heartbeat_interval: String,
    #[serde(default = "snapshot_every")]
    pub snapshot_every: u64,
    #[serde(default = "max_clock_offset")]
    pub max_clock_offset: String,
    /// The explicit opt-out of TLS on the cluster link.
    #[serde(default)]
    pub insecure_plaintext: bool,
    #[serde(default)]
    pub tls: RawTls,
}

/// `[cluster.tls]`: the cluster link's CA, certificate and key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    #[serde(default = "tls_ca_file")]
    pub ca_file: PathBuf,
    #[serde(default = "tls_cert_file")]
    pub cert_file: PathBuf,
    #[serde(default = "tls_key_file")]
    pub key_file: PathBuf,
    pub crl_file: Option<PathBuf>,
}

impl Default for RawTls {
    fn default() -> Self {
        RawTls {
            ca_file: tls_ca_file(),
            cert_file: tls_cert_file(),
            key_file: tls_key_file(),
            crl_file: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDhcp {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub interface: String,
    pub address: String,
    pub subnet: String,
    /// One dynamic pool; or `ranges`, several or none.
    pub range: Option<String>,
    pub ranges: Option<Vec<String>>,
    pub router: Option<String>,
    /// Several routers in order (option 3), instead of `router`.
    pub routers: Option<Vec<String>>,
    pub dns_servers: Option<Vec<String>>,
    #[serde(default = "lease_time")]
    pub lease_time: String,
    #[serde(default = "offer_hold")]
    pub offer_hold: String,
    #[serde(default = "decline_quarantine")]
    pub decline_quarantine: String,
    #[serde(default)]
    pub duplicate_hostnames: HostnamePolicy,
    #[serde(default)]
    pub client_identity: ClientIdentity,
    /// `None`: [`defaults::DENIED_HOSTNAMES`]; a list replaces them.
    pub denied_hostnames: Option<Vec<String>>,
    #[serde(default = "unknown_renewals_max_percent")]
    pub unknown_renewals_max_percent: u8,
    #[serde(default = "dhcp_port")]
    pub port: u16,
    #[serde(default)]
    pub unicast_replies: UnicastReplies,
    #[serde(default = "rapid_commit")]
    pub rapid_commit: bool,
    #[serde(default)]
    pub options: RawNamedOptions,
    #[serde(default)]
    pub option: Vec<RawOption>,
    /// `[[dhcp.networks]]`: networks beside this one (`default`).
    #[serde(default)]
    pub networks: Vec<crate::networks::RawNetwork>,
}

/// `[dhcp.options]`: the options operators set most, by name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNamedOptions {
    pub mtu: Option<i64>,
    pub ntp_servers: Option<Vec<String>>,
    pub domain_search: Option<Vec<String>>,
    pub classless_static_routes: Option<Vec<String>>,
    /// `siaddr`: the boot (TFTP) server's address.
    pub next_server: Option<String>,
    /// `sname`, and option 66 when the client asks for it.
    pub server_name: Option<String>,
    /// `file`, and option 67 when the client asks for it.
    pub boot_file: Option<String>,
    /// Option 66 when it must differ from `server_name`.
    pub tftp_server_name: Option<String>,
    /// Option 67 when it must differ from `boot_file`.
    pub bootfile_name: Option<String>,
}

/// One `[[dhcp.option]]`: any other option by code and type.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOption {
    pub code: i64,
    #[serde(rename = "type")]
    pub kind: OptionType,
    pub value: toml::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "domain")]
    pub domain: String,
    pub listen: Option<Vec<String>>,
    #[serde(default)]
    pub upstream: Vec<String>,
    pub allow_recursion: Option<Vec<String>>,
    #[serde(default)]
    pub secondaries: Vec<String>,
    #[serde(default = "dns_ttl")]
    pub ttl: String,
    #[serde(default = "negative_ttl")]
    pub negative_ttl: String,
    #[serde(default = "dns_cache_size")]
    pub cache_size: u64,
    pub records_file: Option<PathBuf>,
    #[serde(default)]
    pub tsig_keys: Vec<RawTsigKey>,
    pub transfer_key: Option<String>,
    pub rate_limit: Option<RawRateLimit>,
}

/// One `[[dns.tsig_keys]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTsigKey {
    pub name: String,
    pub algorithm: String,
    pub secret_file: PathBuf,
}

/// `[dns.rate_limit]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    pub responses_per_second: u64,
    #[serde(default = "rate_limit_slip")]
    pub slip: u64,
    #[serde(default = "rate_limit_ipv4_prefix")]
    pub ipv4_prefix: u64,
    #[serde(default = "rate_limit_ipv6_prefix")]
    pub ipv6_prefix: u64,
}

impl Default for RawDns {
    fn default() -> Self {
        RawDns {
            enabled: true,
            domain: domain(),
            listen: None,
            upstream: Vec::new(),
            allow_recursion: None,
            secondaries: Vec::new(),
            ttl: dns_ttl(),
            negative_ttl: negative_ttl(),
            cache_size: dns_cache_size(),
            records_file: None,
            tsig_keys: Vec::new(),
            transfer_key: None,
            rate_limit: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    #[serde(default = "log_level")]
    pub level: String,
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            level: log_level(),
            format: LogFormat::default(),
        }
    }
}

// serde's `default = "..."` wants functions; these forward to the public constants.
fn yes() -> bool {
    true
}
fn admin_addr() -> String {
    defaults::ADMIN_ADDR.to_string()
}
fn admin_socket() -> PathBuf {
    PathBuf::from(defaults::ADMIN_SOCKET)
}
fn admin_socket_group() -> String {
    defaults::ADMIN_SOCKET_GROUP.to_string()
}
fn admin_token_file() -> PathBuf {
    PathBuf::from(defaults::ADMIN_TOKEN_FILE)
}
fn admin_tls_cert_file() -> PathBuf {
    PathBuf::from(defaults::ADMIN_TLS_CERT_FILE)
}
fn admin_tls_key_file() -> PathBuf {
    PathBuf::from(defaults::ADMIN_TLS_KEY_FILE)
}
fn election_timeout() -> String {
    defaults::ELECTION_TIMEOUT.to_string()
}
fn heartbeat_interval() -> String {
    defaults::HEARTBEAT_INTERVAL.to_string()
}
fn storage_cache_mib() -> u64 {
    defaults::STORAGE_CACHE_MIB
}
fn snapshot_every() -> u64 {
    defaults::SNAPSHOT_EVERY
}
fn max_clock_offset() -> String {
    defaults::MAX_CLOCK_OFFSET.to_string()
}
fn tls_ca_file() -> PathBuf {
    PathBuf::from(defaults::TLS_CA_FILE)
}
fn tls_cert_file() -> PathBuf {
    PathBuf::from(defaults::TLS_CERT_FILE)
}
fn tls_key_file() -> PathBuf {
    PathBuf::from(defaults::TLS_KEY_FILE)
}
fn lease_time() -> String {
    defaults::LEASE_TIME.to_string()
}
fn offer_hold() -> String {
    defaults::OFFER_HOLD.to_string()
}
fn decline_quarantine() -> String {
    defaults::DECLINE_QUARANTINE.to_string()
}
fn rapid_commit() -> bool {
    defaults::RAPID_COMMIT
}
fn unknown_renewals_max_percent() -> u8 {
    defaults::UNKNOWN_RENEWALS_MAX_PERCENT
}
fn dhcp_port() -> u16 {
    defaults::DHCP_PORT
}
fn domain() -> String {
    defaults::DOMAIN.to_string()
}
fn dns_ttl() -> String {
    defaults::DNS_TTL.to_string()
}
fn negative_ttl() -> String {
    defaults::NEGATIVE_TTL.to_string()
}
fn dns_cache_size() -> u64 {
    defaults::DNS_CACHE_SIZE
}
fn rate_limit_slip() -> u64 {
    defaults::RATE_LIMIT_SLIP
}
fn rate_limit_ipv4_prefix() -> u64 {
    defaults::RATE_LIMIT_IPV4_PREFIX
}
fn rate_limit_ipv6_prefix() -> u64 {
    defaults::RATE_LIMIT_IPV6_PREFIX
}
fn log_level() -> String {
    defaults::LOG_LEVEL.to_string()
}
