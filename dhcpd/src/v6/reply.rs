//! Building DHCPv6 replies with dhcproto: the options every reply carries
//! and the IA_NA forms (an address, or a status).

use std::net::Ipv6Addr;

use dhcproto::Name;
use dhcproto::v6::{
    DhcpOption, DhcpOptions, IAAddr, IANA, Message, MessageType, Status, StatusCode,
};

use super::decide::V6ServerConfig;
use raftmasq_state::v6::Duid;

/// A reply to `xid` with the client's and our DUID (RFC 8415 §18.3).
pub(crate) fn base(
    kind: MessageType,
    xid: [u8; 3],
    client: &Duid,
    config: &V6ServerConfig,
) -> Message {
    let mut message = Message::new_with_id(kind, xid);
    let opts = message.opts_mut();
    opts.insert(DhcpOption::ClientId(client.0.clone()));
    opts.insert(DhcpOption::ServerId(config.server_duid.0.clone()));
    message
}

/// Options 23 and 24 (RFC 3646), in every ADVERTISE and REPLY.
pub(crate) fn add_dns(message: &mut Message, config: &V6ServerConfig) {
    let opts = message.opts_mut();
    if !config.dns_servers.is_empty() {
        opts.insert(DhcpOption::DomainNameServers(config.dns_servers.clone()));
    }
    let names: Vec<Name> = config
        .search_domains
        .iter()
        .filter_map(|d| Name::from_ascii(format!("{d}.")).ok())
        .collect();
    if !names.is_empty() {
        opts.insert(DhcpOption::DomainSearchList(names));
    }
}

/// An IA_NA holding `address` for `valid_secs`: T1 at 0.5 and T2 at 0.8 of
/// it (RFC 8415 §21.4 recommends these fractions of the preferred lifetime).
pub(crate) fn ia_with_address(iaid: u32, address: Ipv6Addr, valid_secs: u32) -> DhcpOption {
    let mut opts = DhcpOptions::new();
    opts.insert(DhcpOption::IAAddr(IAAddr {
        addr: address,
        preferred_life: valid_secs,
        valid_life: valid_secs,
        opts: DhcpOptions::new(),
    }));
    DhcpOption::IANA(IANA {
        id: iaid,
        t1: valid_secs / 2,
        t2: valid_secs / 5 * 4,
        opts,
    })
}

/// An IA_NA with no address and a status (NoAddrsAvail, NoBinding).
pub(crate) fn ia_with_status(iaid: u32, status: Status, msg: &str) -> DhcpOption {
    let mut opts = DhcpOptions::new();
    opts.insert(DhcpOption::StatusCode(StatusCode {
        status,
        msg: msg.into(),
    }));
    DhcpOption::IANA(IANA {
        id: iaid,
        t1: 0,
        t2: 0,
        opts,
    })
}

pub(crate) fn status(message: &mut Message, status: Status, msg: &str) {
    message
        .opts_mut()
        .insert(DhcpOption::StatusCode(StatusCode {
            status,
            msg: msg.into(),
        }));
}
