//! The DNS server's own configuration; the daemon maps the file's
//! `raftmasq_config::DnsConfig` to it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::rr::Name;
use ipnet::{IpNet, Ipv6Net};

use crate::error::DnsError;
use crate::rrl::RateLimit;

/// UDP payload size we advertise and honour (the DNS flag day 2020 value).
pub const DEFAULT_UDP_PAYLOAD: u16 = 1232;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsServerConfig {
    /// The cluster domain (`dns.domain`), e.g. `lxd`; trailing dot optional.
    /// It must equal the replicated settings' domain (the config crate checks
    /// this); it is also what the server refuses to forward while the replica
    /// is still empty.
    pub domain: String,
    /// TTL of names from leases and of static records without their own.
    pub ttl: Duration,
    /// Negative-caching TTL (SOA minimum, RFC 2308).
    pub negative_ttl: Duration,
    /// Clients that may use this server for names outside our zones.
    pub allow_recursion: Vec<IpNet>,
    /// Upstream resolvers for other names; any port.
    pub upstream: Vec<SocketAddr>,
    /// Secondaries: allowed AXFR (by address) and sent NOTIFY (to this port, normally 53).
    pub secondaries: Vec<SocketAddr>,
    /// One NS per host: a label under the domain (`ns1`) or an absolute name
    /// (`ns1.example.net.`), and the host's address (glue if inside the domain).
    pub nameservers: Vec<(String, Ipv4Addr)>,
    /// At most one NOTIFY per zone per this interval; changes in between are coalesced.
    pub notify_interval: Duration,
    /// How long to wait for a NOTIFY answer before resending (doubles each try).
    pub notify_timeout: Duration,
    /// Source address for NOTIFY (secondaries accept NOTIFY only from their primaries).
    pub notify_source: Option<IpAddr>,
    /// How long to wait for one upstream before trying the next.
    pub upstream_timeout: Duration,
    /// Entries in the forwarding cache.
    pub cache_size: usize,
    /// Largest UDP response we send (RFC 6891 §6.2.5).
    pub max_udp_payload: u16,
    /// Idle TCP connections are closed after this long (RFC 7766 §6.2.3).
    pub tcp_idle_timeout: Duration,
    /// TSIG keys (RFC 8945): requests signed with one are verified and
    /// answered signed; any other signed request gets NOTAUTH/BADKEY.
    pub tsig_keys: Vec<TsigKey>,
    /// If set, the name of one of `tsig_keys`: AXFR and IXFR need a request
    /// signed with it (from any address; `secondaries` is then only where
    /// NOTIFY goes), and NOTIFY is signed with it.
    pub transfer_key: Option<String>,
    /// UDP response-rate limiting; `None` (the default) is off.
    pub rate_limit: Option<RateLimit>,
    /// TCP connections open at once, over all TCP listeners; more are
    /// closed at once (`limits.dns_tcp_connections`).
    pub tcp_max_connections: usize,
    /// TCP connections open at once from one client address
    /// (`limits.connections_per_client`).
    pub tcp_max_per_client: usize,
    /// The bridge's IPv6 /64 (`ipv6.prefix`): lease names get the AAAA of
    /// their MAC's EUI-64 address in it, and its `ip6.arpa` zone answers
    /// PTR for those. `None`: IPv4 only.
    pub ipv6_prefix: Option<Ipv6Net>,
    /// `ipv6.mode = "stateful"`: IPv6 names come from the DHCPv6 leases
    /// (AAAA of the leased address, its `ip6.arpa` PTR), not from EUI-64
    /// (clients form no SLAAC address when the prefix is not autonomous).
    pub ipv6_leases: bool,
}

/// A TSIG key: name, algorithm and the shared secret (already decoded).
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: TsigAlgorithmName,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The TSIG algorithms we sign and verify with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsigAlgorithmName {
    HmacSha256,
    HmacSha512,
}

impl DnsServerConfig {
    /// Defaults for everything but the domain.
    pub fn new(domain: impl Into<String>) -> Self {
        DnsServerConfig {
            domain: domain.into(),
            ttl: Duration::from_secs(30),
            negative_ttl: Duration::from_secs(30),
            allow_recursion: Vec::new(),
            upstream: Vec::new(),
            secondaries: Vec::new(),
            nameservers: Vec::new(),
            notify_interval: Duration::from_secs(1),
            notify_timeout: Duration::from_secs(1),
            notify_source: None,
            upstream_timeout: Duration::from_secs(2),
            cache_size: 10_000,
            max_udp_payload: DEFAULT_UDP_PAYLOAD,
            tcp_idle_timeout: Duration::from_secs(10),
            tsig_keys: Vec::new(),
            transfer_key: None,
            rate_limit: None,
            tcp_max_connections: 256,
            tcp_max_per_client: 32,
            ipv6_prefix: None,
            ipv6_leases: false,
        }
    }

    /// Checks the values and precomputes what lookups need.
    pub(crate) fn zone_config(&self) -> Result<ZoneConfig, DnsError> {
        let invalid = |what: String| DnsError::Config(what);
        let domain = raftmasq_state::normalize_dns_name(&self.domain)
            .map_err(|e| invalid(format!("domain: {e}")))?;
        let origin = Name::from_ascii(format!("{domain}."))
            .map_err(|e| invalid(format!("domain {domain}: {e}")))?;
        let mut nameservers = Vec::with_capacity(self.nameservers.len());
        for (raw, address) in &self.nameservers {
            let absolute = if raw.ends_with('.') {
                raw.clone()
            } else {
                format!("{raw}.{domain}")
            };
            let lower = raftmasq_state::normalize_dns_name(&absolute)
                .map_err(|e| invalid(format!("nameserver {raw}: {e}")))?;
            let name = Name::from_ascii(format!("{lower}."))
                .map_err(|e| invalid(format!("nameserver {raw}: {e}")))?;
            nameservers.push(NameServer {
                lower,
                name,
                address: *address,
            });
        }
        if let Some(prefix) = self.ipv6_prefix
            && (prefix.prefix_len() != 64 || prefix.addr() != prefix.network())
        {
            return Err(invalid(format!(
                "ipv6_prefix {prefix}: SLAAC names need a /64 without host bits"
            )));
        }
        if self.max_udp_payload < 512 {
            return Err(invalid("max_udp_payload must be at least 512".into()));
        }
        let hostmaster = Name::from_ascii(format!("hostmaster.{domain}."))
            .map_err(|e| invalid(format!("domain {domain}: {e}")))?;
        Ok(ZoneConfig {
            domain,
            origin,
            hostmaster,
            ttl: secs(self.ttl),
            negative_ttl: secs(self.negative_ttl),
            nameservers,
            ipv6_prefix: self.ipv6_prefix,
            ipv6_leases: self.ipv6_leases,
        })
    }
}

fn secs(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX)
}

/// A host's NS name and address, names already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NameServer {
    /// Lowercase, no trailing dot.
    pub lower: String,
    pub name: Name,
    pub address: Ipv4Addr,
}

/// What the pure lookup code needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZoneConfig {
    /// Lowercase, no trailing dot.
    pub domain: String,
    pub origin: Name,
    /// SOA RNAME.
    pub hostmaster: Name,
    pub ttl: u32,
    pub negative_ttl: u32,
    pub nameservers: Vec<NameServer>,
    pub ipv6_prefix: Option<Ipv6Net>,
    pub ipv6_leases: bool,
}
