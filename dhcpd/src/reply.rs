//! A finished reply: its kind, where it goes, and its bytes.

use std::net::Ipv4Addr;

use raftmasq_state::{ClusterSettings, MacAddr};

use crate::boot;
use crate::context::ServerConfig;
use crate::decode::ClientRequest;
use crate::destination::{self, Destination, RouteInput};
use crate::encode::{self, ReplyHeader};
use crate::options::{self, Naming, OptionsInput};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyKind {
    Offer,
    /// ACK of a lease committed through Raft.
    Ack,
    /// ACK of a lease committed through Raft, answering a DISCOVER that
    /// carried option 80 (RFC 4039); carries option 80 itself.
    RapidCommitAck,
    /// ACK without quorum: the remaining time of a lease this replica shows
    /// bound to the client; nothing was written.
    DegradedAck,
    /// ACK of a DHCPINFORM: configuration only, no lease.
    InformAck,
    Nak,
}

impl ReplyKind {
    /// The DHCP message type (option 53) of this reply.
    pub fn message_type(&self) -> u8 {
        match self {
            ReplyKind::Offer => 2,
            ReplyKind::Ack
            | ReplyKind::RapidCommitAck
            | ReplyKind::DegradedAck
            | ReplyKind::InformAck => 5,
            ReplyKind::Nak => 6,
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            ReplyKind::Offer => "offer",
            ReplyKind::Ack => "ack",
            ReplyKind::RapidCommitAck => "rapid_commit_ack",
            ReplyKind::DegradedAck => "degraded_ack",
            ReplyKind::InformAck => "inform_ack",
            ReplyKind::Nak => "nak",
        }
    }
}

/// Why a NAK was sent, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NakReason {
    /// The address is not on our subnet (RFC 2131 §4.3.2).
    WrongSubnet,
    /// The client's notion of its address differs from our record (§4.3.2).
    WrongAddress,
    /// The address cannot be bound for this client.
    Unavailable,
    /// The address is leased to another client.
    HeldByOther,
    /// The state machine refused the command.
    Rejected,
    /// The committed lease was not the one asked for.
    LeaseMismatch,
    /// A renewal for an address the cluster has no lease for, past this
    /// node's budget for them (`unknown_renewals`): the client starts over.
    UnknownRenewalLimit,
}

impl NakReason {
    pub fn label(&self) -> &'static str {
        match self {
            NakReason::WrongSubnet => "wrong_subnet",
            NakReason::WrongAddress => "wrong_address",
            NakReason::Unavailable => "unavailable",
            NakReason::HeldByOther => "held_by_other",
            NakReason::Rejected => "rejected",
            NakReason::LeaseMismatch => "lease_mismatch",
            NakReason::UnknownRenewalLimit => "unknown_renewal_limit",
        }
    }
}

/// A reply ready for the I/O layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    pub nak_reason: Option<NakReason>,
    pub destination: Destination,
    pub xid: u32,
    pub mac: MacAddr,
    pub yiaddr: Ipv4Addr,
    /// The UDP payload.
    pub packet: Vec<u8>,
    /// Options wanted but left out (too big for the client, or unencodable).
    pub omitted_options: Vec<u8>,
}

/// The replicated settings a reply needs, captured when the decision is made
/// so that a reply finished after commit says the same as the decision saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Network {
    pub subnet_mask: Ipv4Addr,
    pub domain: String,
    pub lease_time_secs: u64,
}

impl Network {
    pub fn from_settings(settings: &ClusterSettings) -> Self {
        Network {
            subnet_mask: settings.subnet.netmask(),
            domain: settings.domain.trim_end_matches('.').to_string(),
            lease_time_secs: settings.lease_time_secs,
        }
    }
}

/// Why a reply could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuildError {
    /// The options the protocol requires exceed the client's maximum size.
    TooLarge,
    Encode,
}

/// Everything that differs between replies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplySpec<'a> {
    pub kind: ReplyKind,
    pub nak_reason: Option<NakReason>,
    pub yiaddr: Ipv4Addr,
    pub lease_secs: Option<u32>,
    pub naming: Naming<'a>,
    pub message: Option<&'a str>,
}

pub(crate) fn build(
    request: &ClientRequest,
    server: &ServerConfig,
    network: &Network,
    spec: ReplySpec<'_>,
) -> Result<Reply, BuildError> {
    let is_nak = spec.kind == ReplyKind::Nak;
    let route = destination::route(RouteInput {
        giaddr: request.giaddr,
        ciaddr: request.ciaddr,
        yiaddr: spec.yiaddr,
        broadcast_flag: request.broadcast_flag,
        mac: request.mac,
        is_nak,
    });
    let input = OptionsInput {
        kind: spec.kind,
        request,
        server_id: server.server_id,
        subnet_mask: network.subnet_mask,
        domain: &network.domain,
        options: &server.options,
        lease_secs: spec.lease_secs,
        naming: spec.naming,
        message: spec.message,
    };
    let fitted = options::choose(&input, options::max_reply_len(request))
        .map_err(|_| BuildError::TooLarge)?;
    // RFC 2131 Table 3: ciaddr is echoed in ACKs, zero in OFFER and NAK.
    let ciaddr = match spec.kind {
        ReplyKind::Offer | ReplyKind::Nak => Ipv4Addr::UNSPECIFIED,
        _ => request.ciaddr,
    };
    let header = ReplyHeader {
        xid: request.xid,
        broadcast_flag: route.broadcast_flag,
        ciaddr,
        yiaddr: spec.yiaddr,
        giaddr: request.giaddr,
        htype: request.htype,
        mac: request.mac,
        boot: boot::header_fields(&server.options.boot, spec.kind),
    };
    let packet = encode::encode(&header, &fitted.options).map_err(|_| BuildError::Encode)?;
    Ok(Reply {
        kind: spec.kind,
        nak_reason: spec.nak_reason,
        destination: route.destination,
        xid: request.xid,
        mac: request.mac,
        yiaddr: spec.yiaddr,
        packet,
        omitted_options: fitted.omitted,
    })
}
