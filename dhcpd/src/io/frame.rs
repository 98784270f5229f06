//! IPv4/UDP packets for replies to clients that have no address yet
//! (RFC 2131 §4.1: unicast "to the client's hardware address and 'yiaddr'").
//! Pure: builds bytes, sends nothing. The packet socket (`raw`) puts the
//! Ethernet header in front, with the interface's MAC as it is at that
//! moment: a bridge's MAC can change while the daemon runs.

use std::io;
use std::net::SocketAddrV4;

use pnet_packet::MutablePacket;
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, MutableIpv4Packet};
use pnet_packet::udp::{self, MutableUdpPacket};

pub const IPV4_HEADER_LEN: usize = 20;
pub const UDP_HEADER_LEN: usize = 8;
const HEADERS_LEN: usize = IPV4_HEADER_LEN + UDP_HEADER_LEN;
/// TTL of our frames; replies never leave the segment, but 64 is what the
/// kernel would use and what clients expect to see.
const TTL: u8 = 64;

/// Who a packet is from and to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    pub source: SocketAddrV4,
    pub destination: SocketAddrV4,
}

/// An IPv4/UDP packet carrying `payload`, with both checksums filled in.
/// Fails only if the payload cannot fit one IPv4 packet.
pub fn build(endpoints: &Endpoints, payload: &[u8]) -> io::Result<Vec<u8>> {
    let ip_len = u16::try_from(IPV4_HEADER_LEN + UDP_HEADER_LEN + payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "payload too large for IPv4"))?;
    // Cannot overflow: ip_len fitted in u16.
    let udp_len = ip_len - IPV4_HEADER_LEN as u16;
    let mut packet = vec![0u8; HEADERS_LEN + payload.len()];

    let mut ip = MutableIpv4Packet::new(&mut packet).ok_or_else(too_short)?;
    ip.set_version(4);
    ip.set_header_length((IPV4_HEADER_LEN / 4) as u8);
    ip.set_total_length(ip_len);
    ip.set_ttl(TTL);
    ip.set_next_level_protocol(IpNextHeaderProtocols::Udp);
    ip.set_source(*endpoints.source.ip());
    ip.set_destination(*endpoints.destination.ip());

    {
        let mut datagram = MutableUdpPacket::new(ip.payload_mut()).ok_or_else(too_short)?;
        datagram.set_source(endpoints.source.port());
        datagram.set_destination(endpoints.destination.port());
        datagram.set_length(udp_len);
        datagram.set_payload(payload);
        let checksum = udp::ipv4_checksum(
            &datagram.to_immutable(),
            endpoints.source.ip(),
            endpoints.destination.ip(),
        );
        datagram.set_checksum(checksum);
    }
    let checksum = ipv4::checksum(&ip.to_immutable());
    ip.set_checksum(checksum);
    Ok(packet)
}

fn too_short() -> io::Error {
    io::Error::other("packet buffer shorter than its headers")
}
