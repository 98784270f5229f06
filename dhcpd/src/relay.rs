//! Relayed requests, pure: which link a request comes from, so which network
//! serves it, and which server identifier it is for.
//!
//! - RFC 3527 §3 (link selection, option 82 sub-option 5) names the client's
//!   link when giaddr cannot (the relay's address on it is not routable).
//! - RFC 3011 §3 (option 118, subnet selection) does the same from a client
//!   or a relay that has no option 82.
//! - Otherwise giaddr (RFC 2131 §4.3.1) is an address on the client's link.
//! - RFC 5107 §4 (server identifier override, sub-option 11): the relay
//!   wants replies to name *its* address as option 54, so that the client's
//!   renewals come back through it; a REQUEST naming that address is ours.
//!
//! Option 82 itself is echoed back unchanged by `options::choose` (RFC 3046
//! §2.2), and replies go to giaddr:67 by `destination::route`.

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;

use crate::context::ServerConfig;
use crate::decode::ClientRequest;

/// Option 82 sub-option codes this module reads.
pub mod sub_option {
    /// RFC 3527: link selection.
    pub const LINK_SELECTION: u8 = 5;
    /// RFC 5107: server identifier override.
    pub const SERVER_ID_OVERRIDE: u8 = 11;
}

/// What option 82 says about the link and the server, where it says it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayAgentFacts {
    pub link_selection: Option<Ipv4Addr>,
    pub server_id_override: Option<Ipv4Addr>,
}

/// Reads sub-options 5 and 11 from option 82's value. A sub-option of the
/// wrong length is ignored (the request is served as if it were absent); a
/// value cut short ends the walk. The first of each code counts.
pub fn relay_agent_facts(info: &[u8]) -> RelayAgentFacts {
    let mut facts = RelayAgentFacts::default();
    let mut rest = info;
    while let [code, len, tail @ ..] = rest {
        let len = usize::from(*len);
        let Some(value) = tail.get(..len) else {
            break;
        };
        let address = <[u8; 4]>::try_from(value).ok().map(Ipv4Addr::from);
        match *code {
            sub_option::LINK_SELECTION if facts.link_selection.is_none() => {
                facts.link_selection = address;
            }
            sub_option::SERVER_ID_OVERRIDE if facts.server_id_override.is_none() => {
                facts.server_id_override = address;
            }
            _ => {}
        }
        rest = &tail[len..];
    }
    facts
}

fn facts(request: &ClientRequest) -> RelayAgentFacts {
    // Option 82 only means something from a relay (RFC 3046 §2.1: a server
    // ignores it from a client, giaddr zero).
    match &request.relay_agent_info {
        Some(info) if request.is_relayed() => relay_agent_facts(info),
        _ => RelayAgentFacts::default(),
    }
}

/// The address naming the client's link, if the request names one: link
/// selection, else subnet selection, else giaddr. `None` for a request from
/// a client on one of our own links (served by the interface it came in on).
pub fn link_address(request: &ClientRequest) -> Option<Ipv4Addr> {
    facts(request)
        .link_selection
        .or(request.subnet_selection)
        .or_else(|| request.is_relayed().then_some(request.giaddr))
}

/// Why a request that came in on the relay listener has no network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unserved {
    /// Neither relayed nor from an address of a relayed network: a broadcast
    /// or a stray unicast on the underlay, which no network of ours is on.
    NotRelayed,
    /// The link it names is in no configured network's subnet.
    NoNetwork,
}

impl Unserved {
    /// The metric label (`raftmasq_dhcp_relay_dropped_total{reason}`).
    pub fn label(&self) -> &'static str {
        match self {
            Unserved::NotRelayed => "not_relayed",
            Unserved::NoNetwork => "no_network",
        }
    }
}

/// Which of `subnets` serves a request that reached the relay listener (a
/// unicast to this host, not a bridge): the one holding [`link_address`]; a
/// request without one is a client's unicast RENEW sent straight to the
/// server identifier, and its ciaddr says where it is. Subnets never overlap
/// (config and state machine refuse it), so at most one holds the address.
pub fn select_network(request: &ClientRequest, subnets: &[Ipv4Net]) -> Result<usize, Unserved> {
    let address = match link_address(request) {
        Some(address) => address,
        None if !request.ciaddr.is_unspecified() => request.ciaddr,
        None => return Err(Unserved::NotRelayed),
    };
    subnets
        .iter()
        .position(|subnet| subnet.contains(&address))
        .ok_or(Unserved::NoNetwork)
}

/// The server as a relayed request sees it: with RFC 5107's override, the
/// override address is the server identifier of the reply and counts as
/// ours in the request; otherwise unchanged.
pub fn server_for<'a>(
    request: &ClientRequest,
    server: &'a Arc<ServerConfig>,
) -> Cow<'a, Arc<ServerConfig>> {
    let Some(address) = facts(request).server_id_override else {
        return Cow::Borrowed(server);
    };
    if address.is_unspecified() || address == server.server_id {
        return Cow::Borrowed(server);
    }
    let mut overridden = ServerConfig::clone(server);
    overridden.server_id = address;
    overridden.cluster_server_ids.push(address);
    Cow::Owned(Arc::new(overridden))
}

#[cfg(test)]
mod tests;
