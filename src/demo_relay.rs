//! The demo's simulated clients: real DHCP messages (DISCOVER → OFFER →
//! REQUEST → ACK) sent the way a relay agent would, so the demo needs no root
//! and no bridge. Every node receives each relayed request; only the leader
//! answers, to the relay's address on the server port.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use anyhow::{Context, bail};
use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use tokio::net::UdpSocket;

/// The relay agent's address (`giaddr`): inside the demo subnet, and local
/// like every 127.0.0.0/8 address.
pub const RELAY: Ipv4Addr = Ipv4Addr::new(127, 77, 0, 254);

/// A relay agent with one socket per node port (replies come to the port the
/// answering node serves on).
pub struct Relay {
    sockets: Vec<UdpSocket>,
    /// Where each node's DHCP server listens.
    servers: Vec<SocketAddrV4>,
}

impl Relay {
    pub async fn bind(servers: Vec<SocketAddrV4>) -> anyhow::Result<Relay> {
        let mut sockets = Vec::new();
        for server in &servers {
            let local = SocketAddrV4::new(RELAY, server.port());
            sockets.push(
                bind(local).with_context(|| format!("cannot bind the demo relay on {local}"))?,
            );
        }
        Ok(Relay { sockets, servers })
    }

    /// Runs one client's DORA exchange; returns the acknowledged address.
    pub async fn lease(&self, mac: [u8; 6], hostname: &str, xid: u32) -> anyhow::Result<Ipv4Addr> {
        let discover = message(mac, hostname, xid, MessageType::Discover, &[]);
        let offer = self
            .exchange(&discover, MessageType::Offer)
            .await
            .context("no DHCPOFFER")?;
        let server_id = match offer.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(id)) => *id,
            _ => bail!("the offer has no server identifier"),
        };
        let extra = [
            DhcpOption::RequestedIpAddress(offer.yiaddr()),
            DhcpOption::ServerIdentifier(server_id),
        ];
        let request = message(mac, hostname, xid, MessageType::Request, &extra);
        let ack = self
            .exchange(&request, MessageType::Ack)
            .await
            .context("no DHCPACK")?;
        Ok(ack.yiaddr())
    }

    /// Sends `message` to every node, retrying like a client would, and waits
    /// for a reply of type `want` with the same xid.
    async fn exchange(&self, message: &Message, want: MessageType) -> anyhow::Result<Message> {
        let mut bytes = Vec::new();
        message.encode(&mut Encoder::new(&mut bytes))?;
        for _attempt in 0..5 {
            for (socket, server) in self.sockets.iter().zip(&self.servers) {
                socket.send_to(&bytes, server).await?;
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while let Ok(Some(reply)) = tokio::time::timeout_at(deadline, self.receive())
                .await
                .map(Result::ok)
            {
                if reply.xid() == message.xid() && reply.opts().msg_type() == Some(want) {
                    return Ok(reply);
                }
            }
        }
        bail!("no {want:?} for xid {:#x} after 5 tries", message.xid())
    }

    /// The next reply on any of the relay's sockets.
    async fn receive(&self) -> anyhow::Result<Message> {
        let receives = self.sockets.iter().map(|socket| {
            Box::pin(async move {
                let mut buffer = vec![0u8; 1500];
                let length = socket.recv(&mut buffer).await?;
                buffer.truncate(length);
                Ok::<_, std::io::Error>(buffer)
            })
        });
        let (bytes, _, _) = futures::future::select_all(receives).await;
        let bytes = bytes?;
        Message::decode(&mut Decoder::new(&bytes)).context("undecodable reply")
    }
}

/// The node serving on this port holds 0.0.0.0:port; the relay's more
/// specific address may share it (SO_REUSEADDR) and gets the replies.
fn bind(local: SocketAddrV4) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&local.into())?;
    UdpSocket::from_std(socket.into())
}

fn message(
    mac: [u8; 6],
    hostname: &str,
    xid: u32,
    kind: MessageType,
    extra: &[DhcpOption],
) -> Message {
    let mut message = Message::default();
    message
        .set_opcode(Opcode::BootRequest)
        .set_xid(xid)
        .set_hops(1)
        .set_giaddr(RELAY)
        .set_chaddr(&mac);
    let options = message.opts_mut();
    options.insert(DhcpOption::MessageType(kind));
    options.insert(DhcpOption::Hostname(hostname.to_string()));
    options.insert(DhcpOption::ParameterRequestList(vec![
        OptionCode::SubnetMask,
        OptionCode::Router,
        OptionCode::DomainNameServer,
        OptionCode::DomainName,
    ]));
    for option in extra {
        options.insert(option.clone());
    }
    message
}
