//! The ICMPv6 socket edge: a raw socket bound to the bridge, sending with
//! hop limit 255 (receivers drop neighbour discovery with any other, RFC
//! 4861 §6.1.2), in the all-routers group to hear solicitations, and
//! reporting each packet's hop limit. The kernel computes the ICMPv6
//! checksum on send and checks it on receive.

use std::io::{self, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg, setsockopt, sockopt::Ipv6RecvHopLimit,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

pub(crate) const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
pub(crate) const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
const ND_HOP_LIMIT: u32 = 255;

pub(crate) struct IcmpSocket {
    fd: AsyncFd<Socket>,
    ifindex: u32,
}

impl IcmpSocket {
    /// Needs CAP_NET_RAW; must run inside a tokio runtime.
    pub(crate) fn open(interface: &str) -> io::Result<IcmpSocket> {
        let ifindex = nix::net::if_::if_nametoindex(interface).map_err(|errno| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("interface {interface}: {errno}"),
            )
        })?;
        let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
        socket.bind_device(Some(interface.as_bytes()))?;
        socket.set_multicast_hops_v6(ND_HOP_LIMIT)?;
        socket.set_unicast_hops_v6(ND_HOP_LIMIT)?;
        socket.set_multicast_if_v6(ifindex)?;
        // Our own advertisements are not solicitations; no need to hear them.
        socket.set_multicast_loop_v6(false)?;
        socket.join_multicast_v6(&ALL_ROUTERS, ifindex)?;
        setsockopt(&socket, Ipv6RecvHopLimit, &true).map_err(io::Error::from)?;
        socket.set_nonblocking(true)?;
        Ok(IcmpSocket {
            fd: register(socket)?,
            ifindex,
        })
    }

    /// Waits until messages arrive, then hands at most `batch` of them to
    /// `each` (bytes, source, hop limit). Readiness is cleared only once the
    /// socket is drained, so messages left after a full batch wake the next
    /// call at once.
    pub(crate) async fn receive_batch(
        &self,
        buffer: &mut [u8],
        batch: usize,
        mut each: impl FnMut(&[u8], Ipv6Addr, Option<u8>),
    ) -> io::Result<()> {
        let mut guard = self.fd.readable().await?;
        for _ in 0..batch {
            match self.try_recv(buffer) {
                Ok((len, source, hop_limit)) => {
                    each(buffer.get(..len).unwrap_or_default(), source, hop_limit)
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    return Ok(());
                }
                // One bad read (e.g. a truncated control message) does not
                // stop the server; the next message is read normally.
                Err(error) => {
                    tracing::debug!(%error, "router advertisements: receive failed");
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// One message without blocking (`WouldBlock` when none): its length,
    /// source and the hop limit it arrived with.
    fn try_recv(&self, buffer: &mut [u8]) -> io::Result<(usize, Ipv6Addr, Option<u8>)> {
        let mut iov = [IoSliceMut::new(buffer)];
        let mut control = nix::cmsg_space!(nix::libc::c_int);
        let message = recvmsg::<SockaddrIn6>(
            self.fd.get_ref().as_raw_fd(),
            &mut iov,
            Some(&mut control),
            MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io::Error::from)?;
        let mut hop_limit = None;
        for cmsg in message.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::Ipv6HopLimit(limit) = cmsg {
                hop_limit = u8::try_from(limit).ok();
            }
        }
        let source = message
            .address
            .map(|a| a.ip())
            .ok_or_else(|| io::Error::other("packet without a source address"))?;
        Ok((message.bytes, source, hop_limit))
    }

    pub(crate) fn send(&self, bytes: &[u8], destination: Ipv6Addr) -> io::Result<()> {
        // Link-scoped destinations need the interface as their scope.
        let scope = if is_link_scoped(destination) {
            self.ifindex
        } else {
            0
        };
        let address = SocketAddrV6::new(destination, 0, 0, scope);
        let sent = self.fd.get_ref().send_to(bytes, &address.into())?;
        if sent == bytes.len() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "short send: {sent} of {} bytes",
                bytes.len()
            )))
        }
    }
}

/// Hands the socket to tokio's reactor, for readability.
#[allow(unsafe_code)]
fn register(socket: Socket) -> io::Result<AsyncFd<Socket>> {
    // SAFETY: the `AsyncFd` owns the `Socket`, which stays open and whose
    // `as_raw_fd` returns the same descriptor until the `AsyncFd` drops; we
    // never take it out (`into_inner`) or swap it (`get_mut`).
    unsafe { AsyncFd::register_with_interest(socket, tokio::io::Interest::READABLE) }
        .map_err(|error| error.into_parts().1)
}

fn is_link_scoped(address: Ipv6Addr) -> bool {
    let first = address.segments()[0];
    (first & 0xffc0) == 0xfe80 || (first & 0xff0f) == 0xff02
}

/// The interface's MAC, for the source link-layer address option.
/// The MAC of `interface`, as sysfs reports it.
pub fn interface_mac(interface: &str) -> io::Result<[u8; 6]> {
    let path = format!("/sys/class/net/{interface}/address");
    let text = std::fs::read_to_string(&path)?;
    parse_mac(text.trim())
        .ok_or_else(|| io::Error::other(format!("{path}: {:?} is not a MAC address", text.trim())))
}

fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        *byte = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_as_sysfs_writes_them() {
        assert_eq!(parse_mac("02:00:0a:ff:00:01"), Some([2, 0, 10, 255, 0, 1]));
        assert_eq!(parse_mac("02:00:0a:ff:00"), None);
        assert_eq!(parse_mac("02:00:0a:ff:00:01:02"), None);
        assert!(is_link_scoped(ALL_NODES));
        assert!(is_link_scoped("fe80::1".parse().unwrap()));
        assert!(!is_link_scoped("fd42::1".parse().unwrap()));
    }
}
