//! The only raw-socket code of raftmasq: a send-only AF_PACKET socket for
//! hand-built IPv4/UDP packets (see `frame`). Protocol 0 means the kernel
//! queues no received frame for it, so unlike a pnet datalink channel
//! (ETH_P_ALL, promiscuous by default) it never copies the bridge's traffic.
//!
//! The socket is a `SOCK_DGRAM` ("cooked") one: we name the destination MAC
//! and the kernel writes the Ethernet header, with the interface's MAC as it
//! is when the frame leaves. A bridge without a fixed MAC takes its lowest
//! port's, so it can change whenever a container starts; a MAC read once at
//! startup would then go out stale.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    AddressFamily, LinkAddr, MsgFlags, SockFlag, SockType, SockaddrLike, sendto, socket,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// ETH_P_IP, for the `sockaddr_ll` of outgoing IPv4 frames.
const ETH_P_IP: u16 = 0x0800;

pub struct RawSender {
    fd: AsyncFd<OwnedFd>,
    /// The interface frames leave by.
    ifindex: i32,
}

impl RawSender {
    /// Opens the socket for interface `index`. Fails with `PermissionDenied`
    /// without CAP_NET_RAW. Must run inside a tokio runtime.
    pub fn open(index: u32) -> io::Result<RawSender> {
        let fd = socket(
            AddressFamily::Packet,
            SockType::Datagram,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(io::Error::from)?;
        let ifindex = i32::try_from(index).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range")
        })?;
        Ok(RawSender {
            fd: register(fd)?,
            ifindex,
        })
    }

    /// Sends one IPv4 packet out of the interface, in a frame to `mac`.
    pub async fn send(&self, packet: &[u8], mac: [u8; 6]) -> io::Result<()> {
        let link = link_addr(self.ifindex, mac)?;
        let sent = self
            .fd
            .async_io(Interest::WRITABLE, |fd| {
                sendto(fd.as_raw_fd(), packet, &link, MsgFlags::empty()).map_err(io::Error::from)
            })
            .await?;
        if sent == packet.len() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "short raw send: {sent} of {} bytes",
                packet.len()
            )))
        }
    }
}

/// Hands the socket to tokio's reactor, for writability.
#[allow(unsafe_code)]
fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the `AsyncFd` owns the `OwnedFd`, which stays open and whose
    // `as_raw_fd` returns the same descriptor until the `AsyncFd` drops; we
    // never take it out (`into_inner`) or swap it (`get_mut`).
    unsafe { AsyncFd::register_with_interest(fd, Interest::WRITABLE) }
        .map_err(|error| error.into_parts().1)
}

/// A `sockaddr_ll` for an IPv4 frame to `mac` out of interface `ifindex`.
/// nix offers no safe constructor for `LinkAddr`, only `from_raw` over a
/// `sockaddr`.
#[allow(unsafe_code)]
fn link_addr(ifindex: i32, mac: [u8; 6]) -> io::Result<LinkAddr> {
    let mut sll_addr = [0u8; 8];
    sll_addr[..6].copy_from_slice(&mac);
    let address = nix::libc::sockaddr_ll {
        sll_family: nix::libc::AF_PACKET as u16,
        sll_protocol: ETH_P_IP.to_be(),
        sll_ifindex: ifindex,
        sll_hatype: 0,
        sll_pkttype: 0,
        // The destination of the Ethernet header the kernel writes.
        sll_halen: 6,
        sll_addr,
    };
    let length = std::mem::size_of::<nix::libc::sockaddr_ll>() as nix::libc::socklen_t;
    // SAFETY: `address` is a live, fully initialised `sockaddr_ll` on our
    // stack and `length` is its exact size; `from_raw` checks the family and
    // length and copies the bytes before we return.
    unsafe {
        LinkAddr::from_raw(
            (&raw const address).cast::<nix::libc::sockaddr>(),
            Some(length),
        )
    }
    .ok_or_else(|| io::Error::other("sockaddr_ll rejected"))
}
