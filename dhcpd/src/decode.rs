//! Bytes from UDP port 67 → the facts the decision needs.
//!
//! Hard faults (the packet is not a DHCP client message we could answer) drop
//! the packet with a [`DropReason`]. A malformed *option* is skipped and its
//! code recorded in [`ClientRequest::malformed_options`]: the rest are kept.

use std::net::Ipv4Addr;

use dhcproto::v4::borrowed;
use raftmasq_state::{ClientId, MacAddr};

use crate::wire;

/// Fixed BOOTP header (236 bytes) plus the magic cookie.
pub const MIN_REQUEST_LEN: usize = 240;
/// The largest request we accept: one untagged Ethernet frame (1500) minus the
/// IPv4 and UDP headers. A client without an address does not know the path
/// MTU and must not send more than 576 bytes (RFC 2131 §2); anything larger
/// than a full frame arrived fragmented, which no real client does.
pub const MAX_REQUEST_LEN: usize = 1472;
/// RFC 1497 magic cookie.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];

const BOOTREQUEST: u8 = 1;
const HTYPE_ETHERNET: u8 = 1;
const ETHERNET_HLEN: u8 = 6;

/// Option codes the decoder reads (RFC 2132 unless noted).
pub mod code {
    pub const HOSTNAME: u8 = 12;
    pub const REQUESTED_ADDRESS: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const VENDOR_CLASS: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    /// RFC 2132 §9.4: TFTP server name (stands in for `sname`).
    pub const TFTP_SERVER_NAME: u8 = 66;
    /// RFC 2132 §9.5: bootfile name (stands in for `file`).
    pub const BOOTFILE_NAME: u8 = 67;
    /// RFC 4039: rapid commit.
    pub const RAPID_COMMIT: u8 = 80;
    /// RFC 4702.
    pub const CLIENT_FQDN: u8 = 81;
    /// RFC 3046.
    pub const RELAY_AGENT_INFO: u8 = 82;
    /// RFC 3011: the subnet the client (or a relay) asks to be served from.
    pub const SUBNET_SELECTION: u8 = 118;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS_SERVERS: u8 = 6;
    pub const DOMAIN_NAME: u8 = 15;
}

/// Why a packet was dropped before any decision. Each variant is a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    #[error("shorter than the BOOTP header and magic cookie")]
    Truncated,
    #[error("larger than {MAX_REQUEST_LEN} bytes")]
    Oversized,
    #[error("not a BOOTREQUEST")]
    WrongOp,
    #[error("bad magic cookie")]
    BadMagicCookie,
    #[error("hardware address length above 16")]
    BadHardwareLength,
    #[error("Ethernet hardware type with a hardware address length other than 6")]
    EthernetLengthMismatch,
    #[error("hardware type other than Ethernet")]
    UnsupportedHardwareType,
    #[error("an option runs past the end of the packet")]
    OptionOverflow,
    #[error("no valid DHCP message type (option 53)")]
    MissingMessageType,
    #[error("DHCP message type {0} is not sent by clients")]
    NotClientMessage(u8),
    /// RFC 2131 Table 5: a DHCPINFORM MUST carry the client's address in
    /// `ciaddr`; without it and without a relay there is nowhere to answer.
    #[error("DHCPINFORM without ciaddr and not relayed")]
    InformWithoutAddress,
}

impl DropReason {
    /// Stable, low-cardinality label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::Oversized => "oversized",
            DropReason::WrongOp => "wrong_op",
            DropReason::BadMagicCookie => "bad_magic_cookie",
            DropReason::BadHardwareLength => "bad_hlen",
            DropReason::EthernetLengthMismatch => "ethernet_hlen_mismatch",
            DropReason::UnsupportedHardwareType => "unsupported_htype",
            DropReason::OptionOverflow => "option_overflow",
            DropReason::MissingMessageType => "missing_message_type",
            DropReason::NotClientMessage(_) => "not_client_message",
            DropReason::InformWithoutAddress => "inform_without_address",
        }
    }
}

/// The DHCP message types a client sends (RFC 2131 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    Discover,
    Request,
    Decline,
    Release,
    Inform,
}

impl MessageKind {
    fn from_code(code: u8) -> Result<Self, DropReason> {
        match code {
            1 => Ok(MessageKind::Discover),
            3 => Ok(MessageKind::Request),
            4 => Ok(MessageKind::Decline),
            7 => Ok(MessageKind::Release),
            8 => Ok(MessageKind::Inform),
            other => Err(DropReason::NotClientMessage(other)),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            MessageKind::Discover => "discover",
            MessageKind::Request => "request",
            MessageKind::Decline => "decline",
            MessageKind::Release => "release",
            MessageKind::Inform => "inform",
        }
    }
}

/// Option 81 as the client sent it (RFC 4702 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFqdn {
    /// The flags octet: `0 0 0 0 N E O S`.
    pub flags: u8,
    /// Labels of the name, possibly none (the client leaves the name to us).
    pub labels: Vec<String>,
    pub fully_qualified: bool,
}

impl ClientFqdn {
    pub const S: u8 = 0x01;
    pub const O: u8 = 0x02;
    pub const E: u8 = 0x04;
    pub const N: u8 = 0x08;

    /// The client asked the server to do the A record update.
    pub fn s(&self) -> bool {
        self.flags & Self::S != 0
    }

    /// The name was in canonical wire form rather than deprecated ASCII.
    pub fn e(&self) -> bool {
        self.flags & Self::E != 0
    }

    /// The client asked for no DNS update at all.
    pub fn n(&self) -> bool {
        self.flags & Self::N != 0
    }
}

/// A decoded client message: header fields and the options the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    pub kind: MessageKind,
    pub xid: u32,
    pub secs: u16,
    /// The BROADCAST bit of `flags` (RFC 2131 §2); the other bits are reserved.
    pub broadcast_flag: bool,
    pub hops: u8,
    pub ciaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub htype: u8,
    pub mac: MacAddr,
    /// Option 61 if sent and valid, else derived from the MAC.
    pub client_id: ClientId,
    /// Option 61 exactly as sent, echoed in replies (RFC 6842).
    pub client_id_option: Option<Vec<u8>>,
    pub requested_address: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    /// Option 12, without trailing NULs some clients append.
    pub hostname: Option<String>,
    pub fqdn: Option<ClientFqdn>,
    pub parameter_request_list: Option<Vec<u8>>,
    /// Option 57 if valid (at least 576, RFC 2132 §9.10).
    pub max_message_size: Option<u16>,
    /// Option 82, echoed unchanged in replies (RFC 3046 §2.2).
    pub relay_agent_info: Option<Vec<u8>>,
    /// Option 118 (RFC 3011): an address on the subnet to serve the client
    /// from, instead of giaddr or the arrival interface (`crate::relay`).
    pub subnet_selection: Option<Ipv4Addr>,
    /// Option 60: PXE clients say `PXEClient…` here (they get boot options unasked).
    pub vendor_class: Option<Vec<u8>>,
    /// Option 80 was present (RFC 4039): the client accepts an ACK to its DISCOVER.
    pub rapid_commit: bool,
    /// Codes of options that were present but malformed, and so ignored.
    pub malformed_options: Vec<u8>,
}

impl ClientRequest {
    /// The name the client asks for: the first label of option 81 when sent
    /// (RFC 4702 prefers it over option 12 when both are present), else option 12.
    pub fn requested_hostname(&self) -> Option<&str> {
        self.fqdn
            .as_ref()
            .and_then(|fqdn| fqdn.labels.first())
            .map(String::as_str)
            .or(self.hostname.as_deref())
    }

    /// Came through a relay agent (RFC 2131 §4.1 `giaddr`).
    pub fn is_relayed(&self) -> bool {
        !self.giaddr.is_unspecified()
    }

    /// A PXE boot ROM: option 60 starts with `PXEClient` (PXE 2.1 §2.2.3,
    /// RFC 4578; dnsmasq matches the same prefix).
    pub fn is_pxe_client(&self) -> bool {
        self.vendor_class
            .as_deref()
            .is_some_and(|class| class.starts_with(PXE_CLIENT))
    }
}

/// The vendor class prefix of PXE clients.
pub const PXE_CLIENT: &[u8] = b"PXEClient";

/// Decodes one UDP payload received on port 67. Never panics.
pub fn decode(bytes: &[u8]) -> Result<ClientRequest, DropReason> {
    if bytes.len() < MIN_REQUEST_LEN {
        return Err(DropReason::Truncated);
    }
    if bytes.len() > MAX_REQUEST_LEN {
        return Err(DropReason::Oversized);
    }
    let message = borrowed::Message::new(bytes).map_err(|_| DropReason::Truncated)?;
    // Header bytes are read by position; the length check above makes them present.
    if bytes[0] != BOOTREQUEST {
        return Err(DropReason::WrongOp);
    }
    if bytes[236..240] != MAGIC_COOKIE {
        return Err(DropReason::BadMagicCookie);
    }
    let (htype, hlen) = (bytes[1], bytes[2]);
    if hlen > 16 {
        return Err(DropReason::BadHardwareLength);
    }
    if htype != HTYPE_ETHERNET {
        // We serve one Ethernet bridge and answer by MAC (raw frames, reservations).
        return Err(DropReason::UnsupportedHardwareType);
    }
    if hlen != ETHERNET_HLEN {
        return Err(DropReason::EthernetLengthMismatch);
    }
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&bytes[28..34]);
    let mac = MacAddr(mac);

    let raw = wire::scan(&bytes[240..], &bytes[108..236], &bytes[44..108])
        .map_err(|_| DropReason::OptionOverflow)?;
    let kind = match raw.get(code::MESSAGE_TYPE) {
        Some(&[value]) => MessageKind::from_code(value)?,
        _ => return Err(DropReason::MissingMessageType),
    };

    let mut malformed = Vec::new();
    let mut request = ClientRequest {
        kind,
        xid: message.xid(),
        secs: message.secs(),
        broadcast_flag: message.flags().broadcast(),
        hops: message.hops(),
        ciaddr: message.ciaddr(),
        giaddr: message.giaddr(),
        htype,
        mac,
        client_id: ClientId::from_mac(mac),
        client_id_option: None,
        requested_address: None,
        server_id: None,
        hostname: None,
        fqdn: None,
        parameter_request_list: None,
        max_message_size: None,
        relay_agent_info: None,
        subnet_selection: None,
        vendor_class: None,
        rapid_commit: false,
        malformed_options: Vec::new(),
    };
    for (option, data) in raw.iter() {
        if !apply_option(&mut request, option, data) {
            malformed.push(option);
        }
    }
    request.malformed_options = malformed;
    // RFC 2131 §4.3.5 answers an INFORM at ciaddr, or through the relay; with
    // neither, Kea and dnsmasq drop it, and so do we.
    if kind == MessageKind::Inform && request.ciaddr.is_unspecified() && !request.is_relayed() {
        return Err(DropReason::InformWithoutAddress);
    }
    Ok(request)
}

/// Stores one option in `request`; false if its value is malformed.
fn apply_option(request: &mut ClientRequest, option: u8, data: &[u8]) -> bool {
    match option {
        code::CLIENT_ID => {
            // RFC 2132 §9.14: a type octet and at least one byte of identifier.
            if data.len() < 2 {
                return false;
            }
            request.client_id = ClientId(data.to_vec());
            request.client_id_option = Some(data.to_vec());
        }
        code::REQUESTED_ADDRESS => match address(data) {
            Some(ip) => request.requested_address = Some(ip),
            None => return false,
        },
        code::SERVER_ID => match address(data) {
            Some(ip) => request.server_id = Some(ip),
            None => return false,
        },
        code::HOSTNAME => match text(data) {
            Some(name) => request.hostname = Some(name),
            None => return false,
        },
        code::CLIENT_FQDN => match client_fqdn(data) {
            Some(fqdn) => request.fqdn = Some(fqdn),
            None => return false,
        },
        code::PARAMETER_REQUEST_LIST => {
            if data.is_empty() {
                return false;
            }
            request.parameter_request_list = Some(data.to_vec());
        }
        code::MAX_MESSAGE_SIZE => match <[u8; 2]>::try_from(data).map(u16::from_be_bytes) {
            Ok(size) if size >= 576 => request.max_message_size = Some(size),
            _ => return false,
        },
        code::RELAY_AGENT_INFO => {
            if !relay_info_is_well_formed(data) {
                return false;
            }
            request.relay_agent_info = Some(data.to_vec());
        }
        code::SUBNET_SELECTION => match address(data) {
            Some(ip) => request.subnet_selection = Some(ip),
            None => return false,
        },
        code::VENDOR_CLASS => {
            if data.is_empty() {
                return false;
            }
            request.vendor_class = Some(data.to_vec());
        }
        // RFC 4039 §4 gives it length 0; like dnsmasq we take its presence as
        // the request and ignore any data.
        code::RAPID_COMMIT => request.rapid_commit = true,
        code::MESSAGE_TYPE => {} // already read
        code::OVERLOAD if !matches!(data, [1..=3]) => return false,
        _ => {} // not needed to answer; kept out of the struct
    }
    true
}

fn address(data: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(data).ok().map(Ipv4Addr::from)
}

/// NVT ASCII text: some clients NUL-terminate it (RFC 2132 §2 says not to).
fn text(data: &[u8]) -> Option<String> {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let text = std::str::from_utf8(&data[..end]).ok()?;
    (!text.is_empty()).then(|| text.to_string())
}

/// RFC 4702 §2: flags, RCODE1, RCODE2, then the name in wire form (E=1) or in
/// the deprecated ASCII form (E=0), which some printers still send.
fn client_fqdn(data: &[u8]) -> Option<ClientFqdn> {
    let (&flags, rest) = data.split_first()?;
    let name = rest.get(2..)?;
    let (labels, fully_qualified) = if flags & ClientFqdn::E != 0 {
        let name = wire::decode_name(name)?;
        (name.labels, name.fully_qualified)
    } else {
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        let text = std::str::from_utf8(&name[..end]).ok()?;
        let fully_qualified = text.ends_with('.');
        let text = text.strip_suffix('.').unwrap_or(text);
        let labels: Vec<String> = if text.is_empty() {
            Vec::new()
        } else {
            text.split('.').map(str::to_string).collect()
        };
        if labels
            .iter()
            .any(|label| label.is_empty() || label.len() > 63)
        {
            return None;
        }
        (labels, fully_qualified)
    };
    Some(ClientFqdn {
        flags,
        labels,
        fully_qualified,
    })
}

/// RFC 3046 §2.0: a sequence of sub-options (code, length, value) filling the option.
fn relay_info_is_well_formed(data: &[u8]) -> bool {
    let mut at = 0;
    while at < data.len() {
        let Some(&len) = data.get(at + 1) else {
            return false;
        };
        at += 2 + usize::from(len);
    }
    !data.is_empty() && at == data.len()
}

#[cfg(test)]
mod tests;
