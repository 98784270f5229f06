//! What the decision knows besides the request and the lease table: who this
//! node is, how the packet arrived, the node's Raft role, and what to tell clients.

use std::net::Ipv4Addr;
use std::sync::Arc;

use raftmasq_state::NodeId;

/// Per-node settings, built once at start-up and shared by every decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub node_id: NodeId,
    /// This node's bridge address: option 54 in its replies.
    pub server_id: Ipv4Addr,
    /// The server identifiers of every node of the cluster, this one included.
    /// A REQUEST naming any of them is for "us": after a failover the client
    /// still names the old leader.
    pub cluster_server_ids: Vec<Ipv4Addr>,
    pub options: ReplyOptions,
    /// Whether every member's bridge address is known, so that the DNS
    /// servers and server identifiers above name every host. Until then the
    /// node answers nothing: a client keeps the DNS servers of its first ACK
    /// for a whole lease, and one with a single DNS host loses every name
    /// when that host dies.
    pub members_complete: bool,
    /// Hostnames no client is granted (`dhcp.denied_hostnames`, default in
    /// `raftmasq_config::defaults`), lowercase labels.
    pub denied_hostnames: Vec<String>,
    /// Share of the pool (percent) renewals of unknown addresses may bind per
    /// lease time (`dhcp.unknown_renewals_max_percent`).
    pub unknown_renewals_max_percent: u8,
}

impl ServerConfig {
    pub fn is_ours(&self, server_id: Ipv4Addr) -> bool {
        server_id == self.server_id || self.cluster_server_ids.contains(&server_id)
    }

    /// Whether the name a client asks for is on the deny list, compared as the
    /// label it would become (first label, any case).
    pub fn denies_hostname(&self, requested: &str) -> bool {
        raftmasq_state::normalize_hostname(requested)
            .is_some_and(|label| self.denied_hostnames.contains(&label))
    }
}

/// Values sent to clients. The subnet mask (1) and domain name (15) come from
/// the replicated `ClusterSettings`, so every node tells the same story. The
/// operator sets 1, 3, 6 and 15 only through their own keys (`dhcp.subnet`,
/// `dhcp.router`, `dhcp.dns_servers`, `dns.domain`), never by code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyOptions {
    /// Option 3; omitted when empty.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6 (default: the bridge addresses of all hosts); omitted when empty.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Lease time to grant; `None` means the cluster's `lease_time_secs`.
    /// T1 and T2 are always 0.5 and 0.875 of it (RFC 2131 §4.4.5).
    pub lease_time_secs: Option<u64>,
    /// How long an OFFER holds its address for the client.
    pub offer_hold_ms: u64,
    /// Operator options (dnsmasq's `dhcp-option`), already encoded: `(code, value)`.
    /// Codes in the one table of the server's own (`raftmasq_config::options::reserved`:
    /// 1, 3, 6, 12, 15, 50–59, 61, 80, 81, 82, Pad, End) are left out.
    /// Options 66 and 67 here replace the values derived from [`BootFields`].
    pub operator: Vec<(u8, Vec<u8>)>,
    /// Answer a DISCOVER carrying option 80 with a committed ACK (RFC 4039).
    pub rapid_commit: bool,
    /// `siaddr`, `sname` and `file` of OFFERs and ACKs (network boot).
    pub boot: BootFields,
}

/// The BOOTP boot fields (RFC 2131 §2, Table 3), as dnsmasq's `dhcp-boot`
/// and Kea's `next-server`, `server-hostname` and `boot-file-name` set them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootFields {
    /// `siaddr`: the next server of the boot (TFTP) process.
    pub next_server: Option<Ipv4Addr>,
    /// `sname` (at most 63 bytes and a NUL); also option 66's value unless
    /// the operator set option 66 itself.
    pub server_name: Option<String>,
    /// `file` (at most 127 bytes and a NUL); also option 67's value unless
    /// the operator set option 67 itself.
    pub boot_file: Option<String>,
}

impl Default for ReplyOptions {
    fn default() -> Self {
        ReplyOptions {
            routers: Vec::new(),
            dns_servers: Vec::new(),
            lease_time_secs: None,
            offer_hold_ms: DEFAULT_OFFER_HOLD_MS,
            operator: Vec::new(),
            rapid_commit: DEFAULT_RAPID_COMMIT,
            boot: BootFields::default(),
        }
    }
}

/// On, as LXD runs dnsmasq (`--dhcp-rapid-commit`). Safe with one answering
/// server per segment (the leader), which is dnsmasq's condition for it.
pub const DEFAULT_RAPID_COMMIT: bool = true;

/// Long enough for a slow client's REQUEST, short enough that a DISCOVER flood
/// cannot hold the pool for long (issue 3: at most 60 s).
pub const DEFAULT_OFFER_HOLD_MS: u64 = 30_000;

/// How the request reached this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Link-layer/IP broadcast: every node on the segment saw it.
    Broadcast,
    /// Addressed to this node only.
    Unicast,
}

/// This node's Raft role at the time of the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    pub is_leader: bool,
    /// The node can get a write committed (it is, or follows, a leader that
    /// holds a quorum). Without it no address is granted (degraded mode).
    pub has_quorum: bool,
    /// A voter; a learner is silent to every DHCP message, with or without
    /// quorum (`IgnoreReason::Learner`).
    pub is_voter: bool,
}

impl Role {
    pub const LEADER: Role = Role {
        is_leader: true,
        has_quorum: true,
        is_voter: true,
    };
    pub const FOLLOWER: Role = Role {
        is_leader: false,
        has_quorum: true,
        is_voter: true,
    };
    pub const ISOLATED: Role = Role {
        is_leader: false,
        has_quorum: false,
        is_voter: true,
    };
    /// A learner, whatever its view of the leader.
    pub const LEARNER: Role = Role {
        is_leader: false,
        has_quorum: true,
        is_voter: false,
    };
}

/// Everything `decide` needs besides the view, the request and the time.
#[derive(Debug, Clone)]
pub struct Context {
    pub server: Arc<ServerConfig>,
    pub arrival: Arrival,
    /// The datagram's IP source: 0.0.0.0 from a client without an address,
    /// the relay's address for a relayed one.
    pub source: Ipv4Addr,
    pub role: Role,
}
