//! The stateless DHCPv6 service, decided from a request's bytes alone
//! (RFC 8415 §6.1, §16, §18.3.6): no clock, no lease table, no socket.
//!
//! - Information-request: a Reply with the DNS servers (option 23) and the
//!   search domain (option 24, RFC 3646), the client's identifier echoed.
//! - Solicit: an Advertise whose only news is NoAddrsAvail (§18.3.9): this
//!   network configures addresses by SLAAC. A client that wants an address
//!   from DHCPv6 learns at once that none will come, and still gets the
//!   DNS options.
//! - The messages of the stateful service (Request, Renew, Rebind, Release,
//!   Decline, Confirm) are left unanswered: this server never advertised an
//!   address, so none of them is addressed to it (§16.6, §18.3.3).
//! - Relayed requests are not served yet; server messages are not requests.
//!
//! Requests the RFC tells servers to discard (§16) are dropped as malformed
//! and counted by reason.

use std::net::Ipv6Addr;

use dhcproto::Name;
use dhcproto::v6::{
    Decodable, Decoder, DhcpOption, DhcpOptions, Encodable, Message, MessageType, OptionCode,
    Status, StatusCode,
};

/// Message type of a Relay-forward (RFC 8415 §7.3): its header is not a
/// client message's, so it is recognised before decoding.
const RELAY_FORW: u8 = 12;

/// DUID-LL (RFC 8415 §11.4): type 3, hardware type 1 (Ethernet, RFC 826),
/// then the bridge's MAC. Stable for as long as the bridge keeps its MAC and
/// needs no clock or stored state. Each host has its own: a stateless
/// client takes the first Reply and does not return to its server.
pub fn server_duid(mac: [u8; 6]) -> Vec<u8> {
    let mut duid = vec![0, 3, 0, 1];
    duid.extend_from_slice(&mac);
    duid
}

/// What a host hands out to stateless clients.
#[derive(Debug, Clone)]
pub struct StatelessService {
    server_id: Vec<u8>,
    dns_servers: Vec<Ipv6Addr>,
    search_domains: Vec<Name>,
}

/// What became of one datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send these bytes back to the request's source.
    Answer(Answer),
    Ignored(Ignored),
    Dropped(Malformed),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub message_type: MessageType,
    pub bytes: Vec<u8>,
}

/// Valid messages this server leaves unanswered, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Names another server in its Server Identifier (RFC 8415 §16).
    ForOtherServer,
    /// Request, Renew, Rebind, Release, Decline or Confirm: for a server
    /// that assigns addresses, which this one does not.
    NeedsStatefulService,
    /// A Relay-forward: relayed requests are not served yet.
    Relayed,
    /// Advertise, Reply, Reconfigure, Relay-reply or an unknown type.
    NotAClientMessage,
    /// Our own reply could not be encoded (a bug; logged).
    ReplyNotEncoded,
}

impl Ignored {
    pub const ALL: [Ignored; 5] = [
        Ignored::ForOtherServer,
        Ignored::NeedsStatefulService,
        Ignored::Relayed,
        Ignored::NotAClientMessage,
        Ignored::ReplyNotEncoded,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Ignored::ForOtherServer => "for_other_server",
            Ignored::NeedsStatefulService => "needs_stateful_service",
            Ignored::Relayed => "relayed",
            Ignored::NotAClientMessage => "not_a_client_message",
            Ignored::ReplyNotEncoded => "reply_not_encoded",
        }
    }
}

/// Requests that RFC 8415 §16 has servers discard, or that do not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("not a DHCPv6 message")]
    Undecodable,
    #[error("Solicit without a Client Identifier (RFC 8415 §16.2)")]
    MissingClientId,
    #[error("Solicit with a Server Identifier (RFC 8415 §16.2)")]
    ServerIdInSolicit,
    #[error("Information-request with an IA option (RFC 8415 §16.12)")]
    IaInInformationRequest,
}

impl Malformed {
    pub const ALL: [Malformed; 4] = [
        Malformed::Undecodable,
        Malformed::MissingClientId,
        Malformed::ServerIdInSolicit,
        Malformed::IaInInformationRequest,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Malformed::Undecodable => "undecodable",
            Malformed::MissingClientId => "missing_client_id",
            Malformed::ServerIdInSolicit => "server_id_in_solicit",
            Malformed::IaInInformationRequest => "ia_in_information_request",
        }
    }
}

/// The label of a received message's type, for the metrics: the first byte
/// is the type (RFC 8415 §8, §9), whether or not the rest decodes.
pub fn received_label(bytes: &[u8]) -> &'static str {
    match bytes.first() {
        Some(1) => "solicit",
        Some(3) => "request",
        Some(4) => "confirm",
        Some(5) => "renew",
        Some(6) => "rebind",
        Some(8) => "release",
        Some(9) => "decline",
        Some(11) => "information_request",
        Some(&RELAY_FORW) => "relay_forward",
        _ => "other",
    }
}

pub const RECEIVED_LABELS: [&str; 10] = [
    "solicit",
    "request",
    "confirm",
    "renew",
    "rebind",
    "release",
    "decline",
    "information_request",
    "relay_forward",
    "other",
];

/// Whether the top-level options (code, length, data; RFC 8415 §21.1) end
/// exactly at the end of the message. The decoder stops quietly at a
/// truncated option and keeps what came before; a request cut short is
/// not answered as if it were whole.
fn options_fill_the_message(bytes: &[u8]) -> bool {
    let mut rest = match bytes.get(4..) {
        Some(rest) => rest,
        None => return false,
    };
    // Bounded: every round consumes at least the 4-byte option header.
    while !rest.is_empty() {
        let Some(&[_, _, high, low]) = rest.get(..4) else {
            return false;
        };
        let end = 4 + usize::from(u16::from_be_bytes([high, low]));
        match rest.get(end..) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    true
}

impl StatelessService {
    pub fn new(
        server_id: Vec<u8>,
        dns_servers: Vec<Ipv6Addr>,
        search_domains: Vec<Name>,
    ) -> StatelessService {
        StatelessService {
            server_id,
            dns_servers,
            search_domains,
        }
    }

    pub fn server_id(&self) -> &[u8] {
        &self.server_id
    }

    /// The answer to one datagram received on the bridge.
    pub fn answer(&self, bytes: &[u8]) -> Outcome {
        if bytes.first() == Some(&RELAY_FORW) {
            return Outcome::Ignored(Ignored::Relayed);
        }
        if !options_fill_the_message(bytes) || !crate::wire::dhcproto_can_decode(bytes) {
            return Outcome::Dropped(Malformed::Undecodable);
        }
        let Ok(request) = Message::decode(&mut Decoder::new(bytes)) else {
            return Outcome::Dropped(Malformed::Undecodable);
        };
        let options = request.opts();
        let client_id = match options.get(OptionCode::ClientId) {
            Some(DhcpOption::ClientId(id)) => Some(id.clone()),
            _ => None,
        };
        let names_other_server = match options.get(OptionCode::ServerId) {
            Some(DhcpOption::ServerId(id)) => id != &self.server_id,
            _ => false,
        };
        match request.msg_type() {
            MessageType::InformationRequest => {
                if names_other_server {
                    return Outcome::Ignored(Ignored::ForOtherServer);
                }
                let has_ia = [OptionCode::IANA, OptionCode::IATA, OptionCode::IAPD]
                    .into_iter()
                    .any(|code| options.get(code).is_some());
                if has_ia {
                    return Outcome::Dropped(Malformed::IaInInformationRequest);
                }
                self.encode(&request, MessageType::Reply, client_id, None)
            }
            MessageType::Solicit => {
                if options.get(OptionCode::ServerId).is_some() {
                    return Outcome::Dropped(Malformed::ServerIdInSolicit);
                }
                let Some(client_id) = client_id else {
                    return Outcome::Dropped(Malformed::MissingClientId);
                };
                let status = StatusCode {
                    status: Status::NoAddrsAvail,
                    msg: "addresses on this network come from SLAAC".to_string(),
                };
                self.encode(
                    &request,
                    MessageType::Advertise,
                    Some(client_id),
                    Some(status),
                )
            }
            MessageType::Request
            | MessageType::Renew
            | MessageType::Rebind
            | MessageType::Release
            | MessageType::Decline
            | MessageType::Confirm => {
                if names_other_server {
                    Outcome::Ignored(Ignored::ForOtherServer)
                } else {
                    Outcome::Ignored(Ignored::NeedsStatefulService)
                }
            }
            _ => Outcome::Ignored(Ignored::NotAClientMessage),
        }
    }

    fn encode(
        &self,
        request: &Message,
        message_type: MessageType,
        client_id: Option<Vec<u8>>,
        status: Option<StatusCode>,
    ) -> Outcome {
        let mut reply = Message::new_with_id(message_type, request.xid());
        let mut options = DhcpOptions::new();
        options.insert(DhcpOption::ServerId(self.server_id.clone()));
        if let Some(client_id) = client_id {
            options.insert(DhcpOption::ClientId(client_id));
        }
        if let Some(status) = status {
            options.insert(DhcpOption::StatusCode(status));
        }
        // Sent whether or not the Option Request names them (RFC 8415
        // §18.3.6 allows it): they are what this service is for, and some
        // clients (busybox, older dhcpcd) do not ask.
        if !self.dns_servers.is_empty() {
            options.insert(DhcpOption::DomainNameServers(self.dns_servers.clone()));
        }
        if !self.search_domains.is_empty() {
            options.insert(DhcpOption::DomainSearchList(self.search_domains.clone()));
        }
        reply.set_opts(options);
        match reply.to_vec() {
            Ok(bytes) => Outcome::Answer(Answer {
                message_type,
                bytes,
            }),
            Err(error) => {
                tracing::warn!(%error, "DHCPv6 reply not encoded");
                Outcome::Ignored(Ignored::ReplyNotEncoded)
            }
        }
    }
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
