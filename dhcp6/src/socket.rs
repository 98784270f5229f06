//! The UDP edge: port 547 on the bridge only, in the
//! All_DHCP_Relay_Agents_and_Servers group (ff02::1:2, RFC 8415 §7.1).

use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

pub(crate) const ALL_DHCP_AGENTS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// Binds `[::]:port` to `interface` and joins the servers' group there.
/// Several hosts' sockets never meet: each binds its own bridge.
pub(crate) fn open(interface: &str, port: u16) -> io::Result<UdpSocket> {
    let ifindex = nix::net::if_::if_nametoindex(interface).map_err(|errno| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("interface {interface}: {errno}"),
        )
    })?;
    let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_only_v6(true)?;
    socket.bind_device(Some(interface.as_bytes()))?;
    socket.set_multicast_if_v6(ifindex)?;
    socket.join_multicast_v6(&ALL_DHCP_AGENTS, ifindex)?;
    socket.set_nonblocking(true)?;
    let address = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0));
    socket.bind(&address.into())?;
    UdpSocket::from_std(socket.into())
}
