//! The pure DHCPv6 decision: the v6 lease table, a parsed request, this
//! server's configuration, its Raft role and the time in; a reply, a command
//! to commit (with the reply waiting on it) or a labelled silence out.
//!
//! Rules, with their RFC 8415 sections:
//! - Only the Raft leader answers (every client message goes to ff02::1:2,
//!   so every node sees it); without a quorum (degraded mode, as v4) a voter
//!   answers REQUEST/RENEW/REBIND for a binding its replica holds with the
//!   remaining lifetime and grants nothing new.
//! - §16: SOLICIT, CONFIRM and REBIND carry no server identifier; REQUEST,
//!   RENEW, RELEASE and DECLINE carry ours (or a cluster peer's); every
//!   message but INFORMATION-REQUEST carries a client identifier.
//! - §18.3.1: SOLICIT gets an ADVERTISE (not committed: like v4 offers, the
//!   address is chosen again at REQUEST) with preference 255 so the client
//!   requests at once; with rapid commit (§21.14) the lease is committed
//!   and a REPLY sent.
//! - §18.3.4/§18.3.5: RENEW or REBIND of an address we have no binding for
//!   is bound anew when the address is in the range (a replica that lagged
//!   a failover must not answer NoBinding to a live client); otherwise the
//!   IA gets NoBinding.
//! - Only the first IA_NA of a message gets an address; others get
//!   NoAddrsAvail (containers ask for one).

use std::net::Ipv6Addr;

use dhcproto::v6::{DhcpOption, Message, MessageType, Status};
use ipnet::Ipv6Net;
use raftmasq_state::v6::{Duid, V6Binding, V6LeaseRequest, V6Leases, V6Range, V6Want};
use raftmasq_state::{Command, MacAddr, Millis, Response};

use super::parse::V6Request;
use super::reply;
use crate::context::Role;

/// Who a v6 reservation is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V6ReservedBy {
    Duid(Duid),
    Mac(MacAddr),
}

/// One `[[ipv6.reservations]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V6ServerReservation {
    pub by: V6ReservedBy,
    pub address: Ipv6Addr,
    pub hostname: Option<String>,
}

/// This node's DHCPv6 settings (from `[ipv6]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V6ServerConfig {
    /// Our DUID-LL, from the bridge MAC: stable across restarts; each node
    /// has its own (as each Kea HA server does). See dhcpd/DESIGN.md.
    pub server_duid: Duid,
    /// The other nodes' DUIDs, accepted as "us" in REQUEST/RENEW/RELEASE/
    /// DECLINE after a failover; may be empty (then such a client waits for
    /// T2 and REBINDs, which any leader answers).
    pub peer_duids: Vec<Duid>,
    pub prefix: Ipv6Net,
    /// The dynamic range (`ipv6.range`, which stateful mode requires; the
    /// stateless mode is the `dhcp6` crate's, not this server's).
    pub range: V6Range,
    pub lease_time_secs: u32,
    pub decline_quarantine_secs: u64,
    pub dns_servers: Vec<Ipv6Addr>,
    pub search_domains: Vec<String>,
    pub reservations: Vec<V6ServerReservation>,
    pub rapid_commit: bool,
}

impl V6ServerConfig {
    fn is_ours(&self, server_id: &[u8]) -> bool {
        self.server_duid.0 == server_id || self.peer_duids.iter().any(|d| d.0 == server_id)
    }

    fn reservation_for(&self, duid: &Duid, mac: Option<MacAddr>) -> Option<&V6ServerReservation> {
        self.reservations
            .iter()
            .find(|r| r.by == V6ReservedBy::Duid(duid.clone()))
            .or_else(|| {
                let mac = mac?;
                self.reservations
                    .iter()
                    .find(|r| r.by == V6ReservedBy::Mac(mac))
            })
    }
}

/// Why a message gets no answer; each is a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V6IgnoreReason {
    NotInitialized,
    Learner,
    NotLeader,
    /// No quorum and nothing the replica can answer alone.
    Degraded,
    MissingClientId,
    /// A server identifier where §16 forbids one, or none where it needs one.
    BadServerId,
    ForOtherServer,
    NoIaNa,
}

impl V6IgnoreReason {
    pub const ALL: [V6IgnoreReason; 8] = [
        V6IgnoreReason::NotInitialized,
        V6IgnoreReason::Learner,
        V6IgnoreReason::NotLeader,
        V6IgnoreReason::Degraded,
        V6IgnoreReason::MissingClientId,
        V6IgnoreReason::BadServerId,
        V6IgnoreReason::ForOtherServer,
        V6IgnoreReason::NoIaNa,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            V6IgnoreReason::NotInitialized => "not_initialized",
            V6IgnoreReason::Learner => "learner",
            V6IgnoreReason::NotLeader => "not_leader",
            V6IgnoreReason::Degraded => "degraded",
            V6IgnoreReason::MissingClientId => "missing_client_id",
            V6IgnoreReason::BadServerId => "bad_server_id",
            V6IgnoreReason::ForOtherServer => "for_other_server",
            V6IgnoreReason::NoIaNa => "no_ia_na",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum V6Decision {
    Ignore(V6IgnoreReason),
    Reply(Message),
    /// An INFORMATION-REQUEST this node answers: the edge encodes the Reply
    /// with the stateless server's encoder (`raftmasq_dhcp6`), so one
    /// encoder answers it in both modes (dhcp6/DESIGN.md).
    Information,
    /// Commit `command`, then send [`finish`]'s reply (silence if the commit fails).
    Propose(V6Proposal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V6Proposal {
    pub command: Command,
    pub pending: V6Pending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V6PendingKind {
    /// REPLY with the committed address (REQUEST, RENEW, REBIND, rapid SOLICIT).
    Address { rapid_commit: bool },
    /// REPLY with status Success whatever the outcome (RELEASE §18.3.7,
    /// DECLINE §18.3.8).
    Success,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V6Pending {
    pub kind: V6PendingKind,
    pub xid: [u8; 3],
    pub client: Duid,
    pub iaid: u32,
    /// Further IA_NAs of the message, answered NoAddrsAvail.
    pub other_iaids: Vec<u32>,
}

/// The silences [`decide`] keeps whatever the message says: a learner's,
/// an uninitialised replica's, and a follower's while a leader holds a
/// quorum. Every node on the segment hears every request (ff02::1:2), so
/// the edge asks this before it decodes a datagram, and a follower spends
/// nothing on the requests only the leader answers (as the v4 followers
/// keep theirs undecoded). `decide` asks it first, so the two cannot differ.
pub fn ignore_unread(role: Role, initialized: bool) -> Option<V6IgnoreReason> {
    if !role.is_voter {
        Some(V6IgnoreReason::Learner)
    } else if !initialized {
        Some(V6IgnoreReason::NotInitialized)
    } else if !role.is_leader && role.has_quorum {
        Some(V6IgnoreReason::NotLeader)
    } else {
        None
    }
}

pub fn decide(
    leases: &V6Leases,
    initialized: bool,
    request: &V6Request,
    config: &V6ServerConfig,
    role: Role,
    now: Millis,
) -> V6Decision {
    use V6IgnoreReason as Why;
    let ignore = V6Decision::Ignore;
    if let Some(reason) = ignore_unread(role, initialized) {
        return ignore(reason);
    }
    let degraded = !role.has_quorum;
    let kind = request.msg_type;
    let needs_server_id = matches!(
        kind,
        MessageType::Request | MessageType::Renew | MessageType::Release | MessageType::Decline
    );
    let forbids_server_id = matches!(
        kind,
        MessageType::Solicit | MessageType::Confirm | MessageType::Rebind
    );
    match (&request.server_id, needs_server_id, forbids_server_id) {
        (Some(_), _, true) | (None, true, _) => return ignore(Why::BadServerId),
        (Some(id), _, _) if !config.is_ours(id) => return ignore(Why::ForOtherServer),
        _ => {}
    }
    if kind == MessageType::InformationRequest {
        // Without a quorum every partitioned voter answers: the options are
        // the same everywhere, so that is harmless and clients keep working.
        // The bytes are the stateless encoder's (see `V6Decision::Information`).
        return V6Decision::Information;
    }
    let Some(client) = request.client_id.clone() else {
        return ignore(Why::MissingClientId);
    };
    if kind == MessageType::Confirm {
        // §18.3.3: on-link or not, nothing more.
        let addresses: Vec<Ipv6Addr> = request
            .ia_nas
            .iter()
            .flat_map(|ia| ia.addresses.clone())
            .collect();
        if addresses.is_empty() {
            return ignore(Why::NoIaNa);
        }
        let on_link = addresses.iter().all(|a| config.prefix.contains(a));
        let mut message = reply::base(MessageType::Reply, request.xid, &client, config);
        if on_link {
            reply::status(&mut message, Status::Success, "on link");
        } else {
            reply::status(&mut message, Status::NotOnLink, "not on this link");
        }
        return V6Decision::Reply(message);
    }
    let range = config.range;
    let Some(first) = request.ia_nas.first() else {
        return ignore(Why::NoIaNa);
    };
    let binding = V6Binding {
        duid: client.clone(),
        iaid: first.iaid,
    };
    let pending = |kind| V6Pending {
        kind,
        xid: request.xid,
        client: client.clone(),
        iaid: first.iaid,
        other_iaids: request.ia_nas.iter().skip(1).map(|ia| ia.iaid).collect(),
    };
    let held = leases
        .lease_by_binding(&binding)
        .filter(|l| l.expires_at > now);
    let mac = request.mac();
    let reservation = config.reservation_for(&client, mac);
    let want = match reservation {
        Some(r) => V6Want::Reserved(r.address),
        None => V6Want::Dynamic {
            hint: held
                .map(|l| l.address)
                .or_else(|| first.addresses.first().copied()),
        },
    };
    let bind = |rapid_commit| {
        V6Decision::Propose(V6Proposal {
            command: Command::BindV6 {
                request: V6LeaseRequest {
                    binding: binding.clone(),
                    mac,
                    fqdn_label: request.fqdn_label.clone(),
                    reserved_name: reservation.and_then(|r| r.hostname.clone()),
                    want,
                },
                range,
                now,
                lease_time_secs: u64::from(config.lease_time_secs),
            },
            pending: pending(V6PendingKind::Address { rapid_commit }),
        })
    };
    if degraded {
        // No quorum: a held binding is confirmed with what is left of it.
        return match (kind, held) {
            (MessageType::Request | MessageType::Renew | MessageType::Rebind, Some(lease)) => {
                let left =
                    u32::try_from(lease.expires_at.saturating_sub(now) / 1000).unwrap_or(u32::MAX);
                let mut message = reply::base(MessageType::Reply, request.xid, &client, config);
                message
                    .opts_mut()
                    .insert(reply::ia_with_address(first.iaid, lease.address, left));
                reply::add_dns(&mut message, config);
                V6Decision::Reply(message)
            }
            _ => ignore(Why::Degraded),
        };
    }
    match kind {
        MessageType::Solicit if request.rapid_commit && config.rapid_commit => bind(true),
        MessageType::Solicit => {
            let address = match want {
                V6Want::Reserved(address) => Some(address),
                V6Want::Dynamic { hint } => held
                    .map(|l| l.address)
                    .or_else(|| leases.candidate(range, hint)),
            };
            let mut message = reply::base(MessageType::Advertise, request.xid, &client, config);
            message.opts_mut().insert(DhcpOption::Preference(255));
            match address {
                Some(address) => message.opts_mut().insert(reply::ia_with_address(
                    first.iaid,
                    address,
                    config.lease_time_secs,
                )),
                None => message.opts_mut().insert(reply::ia_with_status(
                    first.iaid,
                    Status::NoAddrsAvail,
                    "no addresses available",
                )),
            }
            for ia in request.ia_nas.iter().skip(1) {
                message.opts_mut().insert(reply::ia_with_status(
                    ia.iaid,
                    Status::NoAddrsAvail,
                    "one address per client",
                ));
            }
            reply::add_dns(&mut message, config);
            V6Decision::Reply(message)
        }
        MessageType::Request => bind(false),
        MessageType::Renew | MessageType::Rebind => {
            let renewable = held.is_some()
                || reservation.is_some()
                || first.addresses.first().is_some_and(|a| range.contains(*a));
            if renewable {
                bind(false)
            } else {
                let mut message = reply::base(MessageType::Reply, request.xid, &client, config);
                message.opts_mut().insert(reply::ia_with_status(
                    first.iaid,
                    Status::NoBinding,
                    "no binding for this IA",
                ));
                V6Decision::Reply(message)
            }
        }
        MessageType::Release | MessageType::Decline => {
            let Some(&address) = first.addresses.first() else {
                return ignore(Why::NoIaNa);
            };
            let command = if kind == MessageType::Release {
                Command::ReleaseV6 {
                    binding,
                    address,
                    now,
                }
            } else {
                Command::DeclineV6 {
                    binding,
                    address,
                    now,
                    quarantine_secs: config.decline_quarantine_secs,
                }
            };
            V6Decision::Propose(V6Proposal {
                command,
                pending: pending(V6PendingKind::Success),
            })
        }
        _ => ignore(Why::NoIaNa),
    }
}

/// The REPLY for a committed command. Built only from the committed
/// response, so the address sent is the one Raft holds.
pub fn finish(
    pending: &V6Pending,
    response: &Response,
    config: &V6ServerConfig,
    now: Millis,
) -> Message {
    let mut message = reply::base(MessageType::Reply, pending.xid, &pending.client, config);
    match (pending.kind, response) {
        (V6PendingKind::Address { rapid_commit }, Response::LeaseV6 { lease }) => {
            let valid =
                u32::try_from(lease.expires_at.saturating_sub(now) / 1000).unwrap_or(u32::MAX);
            message
                .opts_mut()
                .insert(reply::ia_with_address(pending.iaid, lease.address, valid));
            if rapid_commit {
                message.opts_mut().insert(DhcpOption::RapidCommit);
            }
        }
        (V6PendingKind::Address { .. }, _) => {
            message.opts_mut().insert(reply::ia_with_status(
                pending.iaid,
                Status::NoAddrsAvail,
                "no addresses available",
            ));
        }
        (V6PendingKind::Success, _) => {
            reply::status(&mut message, Status::Success, "done");
            return message;
        }
    }
    for &iaid in &pending.other_iaids {
        message.opts_mut().insert(reply::ia_with_status(
            iaid,
            Status::NoAddrsAvail,
            "one address per client",
        ));
    }
    reply::add_dns(&mut message, config);
    message
}
