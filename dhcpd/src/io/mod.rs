//! The socket edge of the DHCP server: one UDP socket on the served bridge,
//! and the reply paths of RFC 2131 §4.1.
//!
//! `DhcpSocket::recv` yields each datagram with its source and whether it
//! arrived broadcast or unicast (who answers depends on it); `send` takes a
//! finished [`Reply`] and follows its [`Destination`]: UDP to the relay, to
//! `ciaddr`, or to 255.255.255.255, and for a client without an address a
//! hand-built packet to `yiaddr` in a frame to `chaddr` on a send-only
//! AF_PACKET socket (as dnsmasq and Kea do). Without CAP_NET_RAW, or when configured with
//! `unicast_replies = "broadcast"`, those replies are broadcast, which RFC
//! 2131 §4.1 allows and every client we test accepts.
//!
//! Interface facts (index, addresses) are read once, at bind time, in the
//! calling thread's network namespace; the MAC of outgoing frames is the
//! kernel's, at send time.

mod frame;
mod interface;
mod raw;
mod transport;
mod udp;

#[cfg(test)]
mod tests;

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use raftmasq_config::UnicastReplies;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tracing::warn;

pub use frame::{Endpoints, build as build_packet};
pub use interface::Interface;

use crate::context::Arrival;
use crate::destination::{CLIENT_PORT, Destination};
use crate::reply::Reply;

/// The path a reply took, for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SentVia {
    /// UDP to the relay agent (`giaddr`:67).
    Relay,
    /// UDP to `ciaddr`:68.
    Unicast,
    /// UDP to 255.255.255.255:68.
    Broadcast,
    /// A raw frame to `yiaddr`:68 at `chaddr`.
    Raw,
}

impl SentVia {
    pub fn label(&self) -> &'static str {
        match self {
            SentVia::Relay => "relay",
            SentVia::Unicast => "unicast",
            SentVia::Broadcast => "broadcast",
            SentVia::Raw => "raw",
        }
    }
}

/// How a reply will be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Udp(SocketAddrV4, SentVia),
    Raw { mac: [u8; 6], address: Ipv4Addr },
}

/// Where a reply to `destination` goes on this socket: the single decision of
/// the send path, after [`crate::destination::route`] has applied RFC 2131
/// §4.1. Relays listen on the server port: 67 normally, but a server moved to
/// another `server_port` (the unprivileged demo, tests) expects its relays
/// there. A reply for a client without an address goes as a raw frame only in
/// `UnicastReplies::Raw` mode with a raw socket open; otherwise it is
/// broadcast, which §4.1 allows.
pub fn plan(
    destination: Destination,
    server_port: u16,
    mode: UnicastReplies,
    raw_available: bool,
) -> Plan {
    let broadcast = Plan::Udp(
        SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT),
        SentVia::Broadcast,
    );
    match destination {
        Destination::Relay(relay) => {
            Plan::Udp(SocketAddrV4::new(*relay.ip(), server_port), SentVia::Relay)
        }
        Destination::Unicast(client) => Plan::Udp(client, SentVia::Unicast),
        Destination::Broadcast => broadcast,
        Destination::Hardware { mac, address } => match mode {
            UnicastReplies::Raw if raw_available => Plan::Raw {
                mac: mac.0,
                address,
            },
            _ => broadcast,
        },
    }
}

/// The DHCP server's socket on one interface.
pub struct DhcpSocket {
    udp: UdpSocket,
    interface: Interface,
    port: u16,
    mode: UnicastReplies,
    raw: Option<raw::RawSender>,
    /// The source address of raw frames; `None` until the interface has one.
    source: Option<Ipv4Addr>,
    /// A raw send failed: said once, then every such reply is broadcast quietly.
    raw_failure_reported: AtomicBool,
    /// One receive buffer of the largest datagram, reused: a fresh zeroed
    /// 64 KiB per packet cost a memset of 64 KiB per DHCP message.
    receive_buffer: Mutex<Vec<u8>>,
}

impl DhcpSocket {
    /// Binds `0.0.0.0:port` on `interface`, with raw unicast replies.
    /// Must run inside a tokio runtime.
    pub fn bind(interface: &str, port: u16) -> io::Result<DhcpSocket> {
        DhcpSocket::bind_with(interface, port, UnicastReplies::Raw)
    }

    /// Binds `0.0.0.0:port` on `interface`. With `UnicastReplies::Raw` it
    /// opens the raw socket too, and falls back to broadcast (one warning)
    /// if that is not permitted.
    pub fn bind_with(interface: &str, port: u16, mode: UnicastReplies) -> io::Result<DhcpSocket> {
        let interface = Interface::lookup(interface)?;
        let udp = UdpSocket::from_std(udp::open(&interface.name, port)?)?;
        let raw = match mode {
            UnicastReplies::Raw => match raw::RawSender::open(interface.index) {
                Ok(raw) => Some(raw),
                Err(error) => {
                    warn!(
                        %error,
                        interface = %interface.name,
                        "cannot open a raw socket (CAP_NET_RAW?): replies to clients without an address will be broadcast"
                    );
                    None
                }
            },
            UnicastReplies::Broadcast => None,
        };
        Ok(DhcpSocket {
            source: interface.primary_address(),
            udp,
            interface,
            port,
            mode,
            raw,
            raw_failure_reported: AtomicBool::new(false),
            receive_buffer: Mutex::new(vec![0; udp::MAX_DATAGRAM]),
        })
    }

    /// The interface as read at bind time.
    pub fn interface(&self) -> &Interface {
        &self.interface
    }

    /// Whether replies to clients without an address go out as raw frames.
    pub fn raw_unicast(&self) -> bool {
        self.raw.is_some()
    }

    /// Sets the source address of raw frames (the server identifier), when
    /// the interface has several.
    pub fn set_source_address(&mut self, address: Ipv4Addr) {
        self.source = Some(address);
    }

    /// The next datagram: its bytes, its source, and how it arrived.
    pub async fn recv(&self) -> io::Result<(Vec<u8>, SocketAddrV4, Arrival)> {
        let (bytes, source, destination) = self
            .udp
            .async_io(Interest::READABLE, || {
                // Held only inside this synchronous closure, never across an
                // await; there is one receiving task, so it is uncontended.
                let mut buffer = self
                    .receive_buffer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                udp::try_recv(&self.udp, &mut buffer).map(|(length, source, destination)| {
                    (buffer[..length].to_vec(), source, destination)
                })
            })
            .await?;
        Ok((
            bytes,
            source,
            udp::arrival(destination, &self.interface.addresses),
        ))
    }

    /// Sends `reply` along the path its destination calls for.
    pub async fn send(&self, reply: &Reply) -> io::Result<SentVia> {
        let plan = plan(reply.destination, self.port, self.mode, self.raw.is_some());
        match plan {
            Plan::Udp(target, via) => self.send_udp(&reply.packet, target, via).await,
            Plan::Raw { mac, address } => match self.send_raw(&reply.packet, mac, address).await {
                Ok(()) => Ok(SentVia::Raw),
                Err(error) => {
                    if !self.raw_failure_reported.swap(true, Ordering::Relaxed) {
                        warn!(%error, interface = %self.interface.name, "raw reply failed: broadcasting such replies instead");
                    }
                    let broadcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT);
                    self.send_udp(&reply.packet, broadcast, SentVia::Broadcast)
                        .await
                }
            },
        }
    }

    async fn send_udp(
        &self,
        packet: &[u8],
        target: SocketAddrV4,
        via: SentVia,
    ) -> io::Result<SentVia> {
        let sent = self.udp.send_to(packet, target).await?;
        if sent == packet.len() {
            Ok(via)
        } else {
            Err(io::Error::other(format!(
                "short send to {target}: {sent} of {} bytes",
                packet.len()
            )))
        }
    }

    async fn send_raw(&self, packet: &[u8], mac: [u8; 6], address: Ipv4Addr) -> io::Result<()> {
        let raw = self
            .raw
            .as_ref()
            .ok_or_else(|| io::Error::other("no raw socket"))?;
        let source = self.source.ok_or_else(|| {
            io::Error::other(format!("{} has no IPv4 address", self.interface.name))
        })?;
        let endpoints = Endpoints {
            source: SocketAddrV4::new(source, self.port),
            destination: SocketAddrV4::new(address, CLIENT_PORT),
        };
        raw.send(&frame::build(&endpoints, packet)?, mac).await
    }
}
