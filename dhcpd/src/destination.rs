//! Where a reply goes: RFC 2131 §4.1, in one function.

use std::net::{Ipv4Addr, SocketAddrV4};

use raftmasq_state::MacAddr;

pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// To the relay agent's server port (`giaddr`:67).
    Relay(SocketAddrV4),
    /// An ordinary UDP unicast to a configured client (`ciaddr`:68).
    Unicast(SocketAddrV4),
    /// To 255.255.255.255:68 and the link-layer broadcast address.
    Broadcast,
    /// To `address`:68 at the hardware address `mac`: the client has no IP
    /// yet, so it needs a raw frame (or, as RFC 2131 §4.1 allows, a broadcast).
    Hardware { mac: MacAddr, address: Ipv4Addr },
}

/// The destination of a reply and whether its BROADCAST flag must be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub destination: Destination,
    /// Set the BROADCAST bit in the reply: a NAK through a relay must be
    /// broadcast by the relay onto the client's segment (RFC 2131 §4.3.2).
    pub broadcast_flag: bool,
}

/// What the route depends on, from the request and the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInput {
    pub giaddr: Ipv4Addr,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub broadcast_flag: bool,
    pub mac: MacAddr,
    pub is_nak: bool,
}

/// RFC 2131 §4.1: relay if `giaddr`; else a NAK is broadcast; else unicast to
/// `ciaddr`; else broadcast if the client asked; else unicast to `yiaddr` at
/// `chaddr`. A reply with neither `ciaddr` nor `yiaddr` (an INFORM from a
/// client that left `ciaddr` empty) has no unicast target and is broadcast.
pub fn route(input: RouteInput) -> Route {
    let broadcast_flag = input.broadcast_flag;
    if !input.giaddr.is_unspecified() {
        return Route {
            destination: Destination::Relay(SocketAddrV4::new(input.giaddr, SERVER_PORT)),
            broadcast_flag: broadcast_flag || input.is_nak,
        };
    }
    let destination = if input.is_nak {
        Destination::Broadcast
    } else if !input.ciaddr.is_unspecified() {
        Destination::Unicast(SocketAddrV4::new(input.ciaddr, CLIENT_PORT))
    } else if broadcast_flag || input.yiaddr.is_unspecified() {
        Destination::Broadcast
    } else {
        Destination::Hardware {
            mac: input.mac,
            address: input.yiaddr,
        }
    };
    Route {
        destination,
        broadcast_flag,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0, 0x16, 0x3e, 0, 0, 1]);
    const ZERO: Ipv4Addr = Ipv4Addr::UNSPECIFIED;
    const RELAY: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
    const OFFERED: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 60);

    #[test]
    fn rfc2131_section_4_1_table() {
        use Destination::*;
        // (giaddr, ciaddr, yiaddr, broadcast flag, nak) -> (destination, flag in reply)
        let table = [
            // Relayed: to the relay's server port, whatever else is set.
            (
                (RELAY, ZERO, OFFERED, false, false),
                (Relay(SocketAddrV4::new(RELAY, 67)), false),
            ),
            (
                (RELAY, CLIENT, CLIENT, false, false),
                (Relay(SocketAddrV4::new(RELAY, 67)), false),
            ),
            (
                (RELAY, ZERO, OFFERED, true, false),
                (Relay(SocketAddrV4::new(RELAY, 67)), true),
            ),
            // A NAK through a relay sets the broadcast bit (§4.3.2).
            (
                (RELAY, ZERO, ZERO, false, true),
                (Relay(SocketAddrV4::new(RELAY, 67)), true),
            ),
            // Not relayed: a NAK is always broadcast, even to a configured client.
            ((ZERO, CLIENT, ZERO, false, true), (Broadcast, false)),
            ((ZERO, ZERO, ZERO, false, true), (Broadcast, false)),
            // ciaddr set: unicast to it (RENEWING, INFORM), broadcast bit or not.
            (
                (ZERO, CLIENT, CLIENT, false, false),
                (Unicast(SocketAddrV4::new(CLIENT, 68)), false),
            ),
            (
                (ZERO, CLIENT, CLIENT, true, false),
                (Unicast(SocketAddrV4::new(CLIENT, 68)), true),
            ),
            // The client asked for broadcast.
            ((ZERO, ZERO, OFFERED, true, false), (Broadcast, true)),
            // Otherwise to yiaddr at chaddr.
            (
                (ZERO, ZERO, OFFERED, false, false),
                (
                    Hardware {
                        mac: MAC,
                        address: OFFERED,
                    },
                    false,
                ),
            ),
            // No address to unicast to at all.
            ((ZERO, ZERO, ZERO, false, false), (Broadcast, false)),
        ];
        for ((giaddr, ciaddr, yiaddr, broadcast_flag, is_nak), (destination, flag)) in table {
            let input = RouteInput {
                giaddr,
                ciaddr,
                yiaddr,
                broadcast_flag,
                mac: MAC,
                is_nak,
            };
            assert_eq!(
                route(input),
                Route {
                    destination,
                    broadcast_flag: flag
                },
                "{input:?}"
            );
        }
    }
}
