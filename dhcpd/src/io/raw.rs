//! The only raw-socket code of raftmasq: a send-only AF_PACKET socket for
//! hand-built frames (see `frame`). Protocol 0 means the kernel queues no
//! received frame for it, so unlike a pnet datalink channel (ETH_P_ALL,
//! promiscuous by default) it never copies the bridge's traffic.

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
    /// Where frames go: the interface. The destination MAC is in the frame.
    link: LinkAddr,
}

impl RawSender {
    /// Opens the socket for interface `index`. Fails with `PermissionDenied`
    /// without CAP_NET_RAW. Must run inside a tokio runtime.
    pub fn open(index: u32) -> io::Result<RawSender> {
        let fd = socket(
            AddressFamily::Packet,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(io::Error::from)?;
        let link = link_addr(index)?;
        Ok(RawSender {
            fd: register(fd)?,
            link,
        })
    }

    /// Sends one complete Ethernet frame out of the interface.
    pub async fn send(&self, frame: &[u8]) -> io::Result<()> {
        let sent = self
            .fd
            .async_io(Interest::WRITABLE, |fd| {
                sendto(fd.as_raw_fd(), frame, &self.link, MsgFlags::empty())
                    .map_err(io::Error::from)
            })
            .await?;
        if sent == frame.len() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "short raw send: {sent} of {} bytes",
                frame.len()
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

/// A `sockaddr_ll` naming interface `index`. nix offers no safe constructor
/// for `LinkAddr`, only `from_raw` over a `sockaddr`.
#[allow(unsafe_code)]
fn link_addr(index: u32) -> io::Result<LinkAddr> {
    let ifindex = i32::try_from(index)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range"))?;
    let address = nix::libc::sockaddr_ll {
        sll_family: nix::libc::AF_PACKET as u16,
        sll_protocol: ETH_P_IP.to_be(),
        sll_ifindex: ifindex,
        sll_hatype: 0,
        sll_pkttype: 0,
        // The kernel ignores the address for SOCK_RAW: the frame carries it.
        sll_halen: 0,
        sll_addr: [0; 8],
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
