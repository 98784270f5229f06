//! Bytes to [`V6Request`]: dhcproto decodes the message; this picks out what
//! `decide` reads. Anything dhcproto refuses, and relayed messages (no relay
//! agent sits on the bridge), are dropped with a reason the caller counts.

use std::net::Ipv6Addr;

use dhcproto::Decodable;
use dhcproto::v6::{DhcpOption, Message, MessageType, OptionCode};
use raftmasq_state::MacAddr;
use raftmasq_state::v6::Duid;

/// Why a datagram was not taken as a client message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V6DropReason {
    /// dhcproto could not decode it.
    Malformed,
    /// A server-to-client or relay message type.
    NotFromClient,
}

impl V6DropReason {
    pub const ALL: [V6DropReason; 2] = [V6DropReason::Malformed, V6DropReason::NotFromClient];

    pub fn as_str(&self) -> &'static str {
        match self {
            // The stateless server's word for it: one label, one family.
            V6DropReason::Malformed => "undecodable",
            V6DropReason::NotFromClient => "not_from_client",
        }
    }
}

/// One IA_NA of a request: its IAID and the addresses the client names in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedIa {
    pub iaid: u32,
    pub addresses: Vec<Ipv6Addr>,
}

/// What `decide` reads from a client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V6Request {
    pub msg_type: MessageType,
    pub xid: [u8; 3],
    pub client_id: Option<Duid>,
    pub server_id: Option<Vec<u8>>,
    pub ia_nas: Vec<RequestedIa>,
    pub rapid_commit: bool,
    /// First label of the client FQDN option (39, RFC 4704), as sent.
    pub fqdn_label: Option<String>,
    /// The client link-layer address option (79, RFC 6939), Ethernet only.
    pub link_layer_mac: Option<MacAddr>,
}

impl V6Request {
    /// The client's MAC: from its DUID (LL or LLT) or option 79.
    pub fn mac(&self) -> Option<MacAddr> {
        self.client_id
            .as_ref()
            .and_then(Duid::mac)
            .or(self.link_layer_mac)
    }
}

pub fn parse(bytes: &[u8]) -> Result<V6Request, V6DropReason> {
    if !raftmasq_dhcp6::wire::dhcproto_can_decode(bytes) {
        return Err(V6DropReason::Malformed);
    }
    let message = Message::from_bytes(bytes).map_err(|_| V6DropReason::Malformed)?;
    let from_client = matches!(
        message.msg_type(),
        MessageType::Solicit
            | MessageType::Request
            | MessageType::Confirm
            | MessageType::Renew
            | MessageType::Rebind
            | MessageType::Release
            | MessageType::Decline
            | MessageType::InformationRequest
    );
    if !from_client {
        return Err(V6DropReason::NotFromClient);
    }
    let mut request = V6Request {
        msg_type: message.msg_type(),
        xid: message.xid(),
        client_id: None,
        server_id: None,
        ia_nas: Vec::new(),
        rapid_commit: false,
        fqdn_label: None,
        link_layer_mac: None,
    };
    for option in message.opts().iter() {
        match option {
            DhcpOption::ClientId(duid) => request.client_id = Some(Duid(duid.clone())),
            DhcpOption::ServerId(duid) => request.server_id = Some(duid.clone()),
            DhcpOption::IANA(ia) => request.ia_nas.push(RequestedIa {
                iaid: ia.id,
                addresses: ia
                    .opts
                    .iter()
                    .filter_map(|o| match o {
                        DhcpOption::IAAddr(a) => Some(a.addr),
                        _ => None,
                    })
                    .collect(),
            }),
            DhcpOption::RapidCommit => request.rapid_commit = true,
            DhcpOption::Unknown(unknown) if unknown.code() == OptionCode::ClientFqdn => {
                request.fqdn_label = fqdn_first_label(unknown.data());
            }
            DhcpOption::Unknown(unknown) if unknown.code() == OptionCode::ClientLinklayerAddr => {
                // Link-layer type (2 octets, 1 = Ethernet) and the address.
                if let [0, 1, a, b, c, d, e, f] = *unknown.data() {
                    request.link_layer_mac = Some(MacAddr([a, b, c, d, e, f]));
                }
            }
            _ => {}
        }
    }
    Ok(request)
}

/// RFC 4704 §4: a flags octet, then the name in DNS wire format (possibly
/// partial). dhcproto 0.15 has no type for option 39, so only the first
/// label is read here: it is all a lease name uses.
fn fqdn_first_label(data: &[u8]) -> Option<String> {
    let (&len, rest) = data.get(1..)?.split_first()?;
    let label = rest.get(..usize::from(len))?;
    (!label.is_empty())
        .then(|| String::from_utf8(label.to_vec()).ok())
        .flatten()
}
