//! The UDP socket: bound to one interface, broadcast-capable, and reporting
//! each datagram's destination address (IP_PKTINFO) so the server can tell a
//! broadcast, which every node on the segment saw, from a unicast to it.

use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, setsockopt, sockopt::Ipv4PacketInfo,
};
use socket2::{Domain, Protocol, Socket, Type};

use crate::context::Arrival;

/// The largest UDP payload: a datagram is never cut short, so the decoder
/// sees oversized packets whole and can drop and count them.
pub const MAX_DATAGRAM: usize = 65_535;

/// A non-blocking UDP socket on `0.0.0.0:port`, bound to `interface`.
pub fn open(interface: &str, port: u16) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Several nodes' sockets never share a namespace, but a restarted daemon
    // must rebind at once, and a second socket on another interface may use
    // the same port.
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    // SO_BINDTODEVICE: receive only what arrives on the bridge, and send
    // 255.255.255.255 out of it.
    socket.bind_device(Some(interface.as_bytes()))?;
    setsockopt(&socket, Ipv4PacketInfo, &true).map_err(io::Error::from)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    Ok(socket.into())
}

/// One datagram read without blocking: `WouldBlock` when there is none.
pub fn try_recv(
    socket: &impl AsFd,
    buffer: &mut [u8],
) -> io::Result<(usize, SocketAddrV4, Option<Ipv4Addr>)> {
    let mut iov = [IoSliceMut::new(buffer)];
    let mut control = nix::cmsg_space!(nix::libc::in_pktinfo);
    let message = recvmsg::<SockaddrIn>(
        socket.as_fd().as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?;
    let mut destination = None;
    for cmsg in message.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::Ipv4PacketInfo(info) = cmsg {
            destination = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
        }
    }
    let source = message
        .address
        .map(SocketAddrV4::from)
        .ok_or_else(|| io::Error::other("datagram without a source address"))?;
    Ok((message.bytes, source, destination))
}

/// How a datagram addressed to `destination` reached us, given the
/// interface's `(address, netmask)` pairs: the limited broadcast, a multicast
/// group or a subnet's directed broadcast is a broadcast; a local address is
/// a unicast. Without IP_PKTINFO we cannot tell, and call it a broadcast: the
/// leader still answers it, and a follower does not answer twice.
pub fn arrival(destination: Option<Ipv4Addr>, addresses: &[(Ipv4Addr, Ipv4Addr)]) -> Arrival {
    let Some(destination) = destination else {
        return Arrival::Broadcast;
    };
    let directed = |&(address, netmask): &(Ipv4Addr, Ipv4Addr)| {
        netmask != Ipv4Addr::BROADCAST
            && u32::from(destination) == u32::from(address) | !u32::from(netmask)
    };
    if destination.is_broadcast() || destination.is_multicast() || addresses.iter().any(directed) {
        Arrival::Broadcast
    } else {
        Arrival::Unicast
    }
}
