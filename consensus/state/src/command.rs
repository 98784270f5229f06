//! The commands replicated through Raft and the state machine's answers.
//!
//! Time rides in each command (stamped by the leader) so that `apply` is a pure
//! function of the log.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::settings::{AddressRange, ClusterSettings};
use serde::{Deserialize, Serialize};

use crate::types::{ClientId, Lease, MacAddr, Millis, NodeId, Reservation, StaticRecord};
use crate::v6::{V6Binding, V6Lease, V6LeaseRequest, V6Range};

/// Who is asking for an address, as seen in a DHCP request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    pub client_id: ClientId,
    pub mac: MacAddr,
    /// Hostname sent by the client (option 12, or the first label of option 81).
    pub hostname: Option<String>,
    /// Address the client asked for (option 50 or ciaddr).
    pub requested_address: Option<Ipv4Addr>,
    /// Node whose bridge saw the request.
    pub seen_by: Option<NodeId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// First entry of a new cluster: fixes the settings every node must share.
    Initialize {
        settings: ClusterSettings,
    },
    /// Hold an address for a client (DHCPOFFER) for `hold_ms`.
    /// `request.requested_address` is a hint.
    ///
    /// Retired: offers are not replicated (the DHCP server holds them itself,
    /// dhcpd/DESIGN.md), so no release proposes this. It stays so that a log
    /// holding one still decodes and replays as it did; a node refuses to
    /// propose a new one ([`Rejection::Retired`]).
    Allocate {
        request: LeaseRequest,
        now: Millis,
        hold_ms: u64,
    },
    /// Commit a lease (DHCPACK). If `request.requested_address` is set, exactly
    /// that address is bound or the command is rejected (the server then NAKs);
    /// otherwise the state machine chooses.
    Bind {
        request: LeaseRequest,
        now: Millis,
        lease_time_secs: Option<u64>,
    },
    /// Extend the bound lease `client_id` holds on `address`.
    Renew {
        client_id: ClientId,
        address: Ipv4Addr,
        now: Millis,
        lease_time_secs: Option<u64>,
    },
    /// The client gives the address back (DHCPRELEASE or `dnsctl release`).
    /// `client_id` and `mac`, when set, must both match the lease's owner:
    /// a DHCPRELEASE carries both, `dnsctl release` neither.
    Release {
        client_id: Option<ClientId>,
        /// Absent from entries written before the MAC was checked: those
        /// matched on `client_id` only, and still do.
        #[serde(default)]
        mac: Option<MacAddr>,
        address: Ipv4Addr,
        now: Millis,
    },
    /// The client found the address in use (DHCPDECLINE): quarantine it.
    /// The lease on `address` must be held by `client_id` and, when given,
    /// by `mac` (a forged DHCPDECLINE from another MAC that copies option 61
    /// quarantines nothing).
    Decline {
        client_id: ClientId,
        /// Absent from entries written before the MAC was checked: those
        /// matched on `client_id` only, and still do.
        #[serde(default)]
        mac: Option<MacAddr>,
        address: Ipv4Addr,
        now: Millis,
    },
    /// Drop every lease and quarantine that ended at or before `now`.
    Expire {
        now: Millis,
    },
    Reserve {
        reservation: Reservation,
    },
    Unreserve {
        mac: MacAddr,
    },
    /// An integration that knows the machine (LXD: its instance) names the
    /// client with `mac`: its leases are called `name` (a DNS label), which
    /// wins over the hostname the client sends and loses only to a
    /// reservation's hostname. A bound lease is renamed at once; a name held
    /// by another client follows `dhcp.duplicate_hostnames`. Applying it again
    /// changes nothing, so several hosts may report one instance.
    NameMac {
        mac: MacAddr,
        name: String,
        now: Millis,
    },
    /// The machine with `mac` is gone (LXD: instance deleted): its name, its
    /// reservation and its leases go at once, and its address is not kept for
    /// it. Idempotent: forgetting an unknown MAC is `Done`.
    ForgetMac {
        mac: MacAddr,
        now: Millis,
    },
    AddRecord {
        record: StaticRecord,
    },
    RemoveRecord {
        record: StaticRecord,
    },
    /// Replaces the cluster-wide settings of a running cluster (`dnsctl
    /// settings set|apply`). Applied in log order with the leases: a range
    /// may grow, move or shrink as long as no live lease is left outside it
    /// ([`Rejection::RangeStrandsLeases`]); a new lease time applies to the
    /// next grant or renewal, and no lease ends earlier than it did. The
    /// subnet, domain and client identity are fixed ([`Rejection::SettingFixed`]).
    ChangeSettings {
        settings: ClusterSettings,
        now: Millis,
        /// The settings the change was made from, when the proposer read
        /// them: applied only if they are still the cluster's, so two changes
        /// of different keys made at once cannot undo each other
        /// ([`Rejection::SettingsChangedMeanwhile`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        based_on: Option<ClusterSettings>,
    },
    // The DHCPv6 commands, applied to the v6 table (`v6::apply_both`).
    // Appended last: postcard numbers variants by position.
    /// Commit an IA_NA lease (DHCPv6 REPLY to REQUEST, RENEW, REBIND or a
    /// rapid-commit SOLICIT). A binding that holds an address keeps it and
    /// is extended; otherwise the address is chosen inside `apply` from
    /// `range` (the leader's `ipv6.range`), so two clients never get one.
    BindV6 {
        request: V6LeaseRequest,
        range: V6Range,
        now: Millis,
        lease_time_secs: u64,
    },
    /// DHCPv6 RELEASE of `address`, which `binding` must hold.
    ReleaseV6 {
        binding: V6Binding,
        address: Ipv6Addr,
        now: Millis,
    },
    /// DHCPv6 DECLINE: the address is in use on the link; quarantine it.
    DeclineV6 {
        binding: V6Binding,
        address: Ipv6Addr,
        now: Millis,
        quarantine_secs: u64,
    },
    /// `command` for the network named `network` (crate::networks). A
    /// command outside this wrapper is for the `default` network, as every
    /// entry written before networks existed was; so commands for `default`
    /// are written without it, and a log that names no other network reads
    /// the same to a release without networks.
    InNetwork {
        network: String,
        command: Box<Command>,
    },
    /// Member `node`'s own address on `network` (a network beside
    /// `default`, whose members' addresses are their `bridge_address`), or
    /// `None` when it has none there; crate::network_addresses.
    SetNetworkAddress {
        network: String,
        node: u64,
        address: Option<Ipv4Addr>,
    },
}

impl Command {
    /// Short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::Initialize { .. } => "initialize",
            Command::Allocate { .. } => "allocate",
            Command::Bind { .. } => "bind",
            Command::Renew { .. } => "renew",
            Command::Release { .. } => "release",
            Command::Decline { .. } => "decline",
            Command::Expire { .. } => "expire",
            Command::Reserve { .. } => "reserve",
            Command::Unreserve { .. } => "unreserve",
            Command::NameMac { .. } => "name_mac",
            Command::ForgetMac { .. } => "forget_mac",
            Command::AddRecord { .. } => "add_record",
            Command::RemoveRecord { .. } => "remove_record",
            Command::ChangeSettings { .. } => "change_settings",
            Command::BindV6 { .. } => "bind_v6",
            Command::ReleaseV6 { .. } => "release_v6",
            Command::DeclineV6 { .. } => "decline_v6",
            Command::InNetwork { command, .. } => command.kind(),
            Command::SetNetworkAddress { .. } => "set_network_address",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    /// The lease as it stands after the command.
    Lease {
        lease: Lease,
    },
    /// Leases dropped by an `Expire` (ended quarantines are lifted too, not counted).
    Expired {
        leases: usize,
    },
    Done,
    Rejected {
        reason: Rejection,
    },
    /// The v6 lease as it stands after a `BindV6`.
    LeaseV6 {
        lease: V6Lease,
    },
}

/// Why the state machine refused a command. Deterministic: every replica
/// refuses the same command for the same reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum Rejection {
    #[error("the cluster has not been initialised yet")]
    NotInitialized,
    #[error("the cluster is already initialised")]
    AlreadyInitialized,
    #[error("pool exhausted: no free address in the range")]
    PoolExhausted,
    #[error("address {address} is not available to this client")]
    AddressUnavailable { address: Ipv4Addr },
    #[error("address {address} is outside the subnet")]
    OutsideSubnet { address: Ipv4Addr },
    #[error("no lease for this client on {address}")]
    NoSuchLease { address: Ipv4Addr },
    #[error("MAC {mac} already has a reservation ({address})")]
    DuplicateReservation { mac: MacAddr, address: Ipv4Addr },
    #[error("address {address} is already reserved for {mac}")]
    AddressReserved { address: Ipv4Addr, mac: MacAddr },
    #[error("address {address} is leased to another client ({client}); release it first")]
    AddressLeased { address: Ipv4Addr, client: ClientId },
    #[error("no reservation for MAC {mac}")]
    NoSuchReservation { mac: MacAddr },
    #[error("no such record")]
    NoSuchRecord,
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    #[error("invalid cluster settings: {0}")]
    InvalidSettings(String),
    #[error("invalid hostname {name:?}: expected 1-63 letters, digits or hyphens")]
    InvalidHostname { name: String },
    #[error("hostname {name} is already reserved for {mac}")]
    HostnameReserved { name: String, mac: MacAddr },
    #[error("hostname {name} is in use by another client ({client}); release it first")]
    HostnameInUse { name: String, client: ClientId },
    /// Not from `apply`: the node refuses to propose a retired command (one
    /// kept only so old logs replay), so it never reaches the log.
    #[error("{command} is retired: no node proposes it any more (old logs still replay it)")]
    Retired { command: String },
    /// A `ChangeSettings` made from settings that another change replaced
    /// before it applied.
    #[error(
        "the cluster settings changed meanwhile (another change applied first); look again and retry"
    )]
    SettingsChangedMeanwhile,
    /// A cluster-wide setting that cannot change while the cluster runs.
    #[error("{key} cannot change while the cluster runs: {reason}")]
    SettingFixed { key: String, reason: String },
    /// A member's address on a network that cannot be its own.
    #[error("network {network}: {reason}")]
    NetworkAddressRefused { network: String, reason: String },
    /// New ranges would leave live leases outside every one of them;
    /// `leases` lists the first [`MAX_LISTED_STRANDED`] of them by address,
    /// `total` counts all.
    #[error(
        "range(s) {} would strand {total} lease(s) outside them: {}{}; release them (dnsctl release ADDRESS), or wait until they end, or keep them inside a range",
        crate::settings::ranges_text(ranges),
        leases.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        if *total > leases.len() { ", ..." } else { "" }
    )]
    RangeStrandsLeases {
        ranges: Vec<AddressRange>,
        leases: Vec<StrandedLease>,
        total: usize,
    },
    /// A v6 command given to the v4 table or the reverse (a wiring bug:
    /// the store applies through `v6::apply_both`).
    #[error("not a command for this table (v4 and v6 commands apply to their own tables)")]
    NotAV6Command,
    #[error("address {address} is not available to this client")]
    V6AddressUnavailable { address: Ipv6Addr },
    #[error("no lease for this client on {address}")]
    V6NoSuchLease { address: Ipv6Addr },
    /// A command for a network the cluster has not initialised.
    #[error("no network named {network} in this cluster")]
    UnknownNetwork { network: String },
    #[error("invalid network name {network:?}: {reason}")]
    InvalidNetwork { network: String, reason: String },
    /// A new network's subnet overlaps another network's: an address would
    /// belong to both.
    #[error("network {network}'s subnet {subnet} overlaps network {other}'s subnet {other_subnet}")]
    NetworksOverlap {
        network: String,
        subnet: ipnet::Ipv4Net,
        other: String,
        other_subnet: ipnet::Ipv4Net,
    },
    /// No longer given: networks may share a domain, names are unique per
    /// domain (crate::networks). Kept so that a response of an older node
    /// still decodes.
    #[error(
        "network {network}'s domain {domain} is already network {other}'s; each network needs its own domain"
    )]
    DomainShared {
        network: String,
        domain: String,
        other: String,
    },
}

/// How many blocking leases a [`Rejection::RangeStrandsLeases`] lists.
pub const MAX_LISTED_STRANDED: usize = 32;

/// A live lease that a new range would leave outside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrandedLease {
    pub address: Ipv4Addr,
    pub mac: MacAddr,
    pub client_id: ClientId,
    pub name: Option<String>,
    pub expires_at: Millis,
}

impl fmt::Display for StrandedLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.address, self.mac)?;
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
        }
        write!(f, ")")
    }
}

impl Command {
    /// Whether this command is kept only for old logs and must not be
    /// proposed again (see [`Command::Allocate`]).
    pub fn is_retired(&self) -> bool {
        match self {
            Command::Allocate { .. } => true,
            Command::InNetwork { command, .. } => command.is_retired(),
            _ => false,
        }
    }

    /// Wraps `command` for `network`; a command for the default network is
    /// returned as it is (see [`Command::InNetwork`]).
    pub fn for_network(network: &str, command: Command) -> Command {
        if network == crate::networks::DEFAULT_NETWORK {
            command
        } else {
            Command::InNetwork {
                network: network.to_string(),
                command: Box::new(command),
            }
        }
    }

    /// The network this command is for.
    pub fn network(&self) -> &str {
        match self {
            Command::InNetwork { network, .. } | Command::SetNetworkAddress { network, .. } => {
                network
            }
            _ => crate::networks::DEFAULT_NETWORK,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Initialize { settings } => {
                write!(
                    f,
                    "initialize subnet {} range {}",
                    settings.subnet,
                    crate::settings::ranges_text(&settings.ranges)
                )
            }
            Command::Allocate { request, .. } => {
                write!(f, "allocate for {} ({})", request.mac, request.client_id)
            }
            Command::Bind { request, .. } => {
                write!(f, "bind for {} ({})", request.mac, request.client_id)
            }
            Command::Renew {
                client_id, address, ..
            } => write!(f, "renew {address} for {client_id}"),
            Command::Release { address, .. } => write!(f, "release {address}"),
            Command::Decline { address, .. } => write!(f, "decline {address}"),
            Command::Expire { now } => write!(f, "expire leases ending by {now}"),
            Command::Reserve { reservation } => {
                write!(f, "reserve {} for {}", reservation.address, reservation.mac)
            }
            Command::Unreserve { mac } => write!(f, "unreserve {mac}"),
            Command::NameMac { mac, name, .. } => write!(f, "name {mac} {name}"),
            Command::ForgetMac { mac, .. } => write!(f, "forget {mac}"),
            Command::AddRecord { record } => {
                write!(f, "add {} record {}", record.data.type_name(), record.name)
            }
            Command::RemoveRecord { record } => {
                write!(
                    f,
                    "remove {} record {}",
                    record.data.type_name(),
                    record.name
                )
            }
            Command::ChangeSettings { settings, .. } => {
                write!(
                    f,
                    "change settings: range {} lease time {}s",
                    crate::settings::ranges_text(&settings.ranges),
                    settings.lease_time_secs
                )
            }
            Command::BindV6 { request, .. } => write!(
                f,
                "bind v6 for {} iaid {}",
                request.binding.duid, request.binding.iaid
            ),
            Command::ReleaseV6 { address, .. } => write!(f, "release v6 {address}"),
            Command::DeclineV6 { address, .. } => write!(f, "decline v6 {address}"),
            Command::InNetwork { network, command } => write!(f, "{command} in network {network}"),
            Command::SetNetworkAddress {
                network,
                node,
                address: Some(address),
            } => write!(f, "node {node} is {address} on network {network}"),
            Command::SetNetworkAddress {
                network,
                node,
                address: None,
            } => write!(f, "node {node} leaves network {network}"),
        }
    }
}
