//! The UDP socket: bound to one interface, broadcast-capable, and reporting
//! each datagram's destination address (IP_PKTINFO) so the server can tell a
//! broadcast, which every node on the segment saw, from a unicast to it.

use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, setsockopt, sockopt::Ipv4PacketInfo,
};
use socket2::{Domain, Protocol, SockFilter, SockRef, Socket, Type};

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

/// Classic BPF run on the socket's receive path: drop a datagram sent to the
/// limited broadcast 255.255.255.255, keep everything else. On a UDP socket
/// the program sees the datagram from its UDP header on; `SKF_NET_OFF`
/// reaches back to the IP header, whose destination is at byte 16.
fn limited_broadcast_filter() -> [SockFilter; 4] {
    const SKF_NET_OFF: u32 = 0xfff0_0000; // -0x100000 as the kernel reads it
    const LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20)
    const JEQ_K: u16 = 0x15; // BPF_JMP (5) | BPF_JEQ (0x10) | BPF_K (0)
    const RET_K: u16 = 0x06; // BPF_RET (6) | BPF_K (0)
    [
        SockFilter::new(LD_W_ABS, 0, 0, SKF_NET_OFF + 16),
        // Broadcast: fall through to "drop"; else jump over it to "keep".
        SockFilter::new(JEQ_K, 0, 1, u32::from(Ipv4Addr::BROADCAST)),
        SockFilter::new(RET_K, 0, 0, 0),
        SockFilter::new(RET_K, 0, 0, u32::MAX),
    ]
}

/// Makes the kernel drop (`true`) or deliver again (`false`) datagrams sent
/// to 255.255.255.255 before they reach this socket: a follower ignores them
/// anyway, and would otherwise be woken, read and decode every one.
pub fn ignore_limited_broadcasts(socket: &impl AsFd, ignore: bool) -> io::Result<()> {
    let socket = SockRef::from(socket);
    if ignore {
        return socket.attach_filter(&limited_broadcast_filter());
    }
    match socket.detach_filter() {
        // ENOENT: no filter was attached.
        Err(error) if error.raw_os_error() == Some(nix::libc::ENOENT) => Ok(()),
        other => other,
    }
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
