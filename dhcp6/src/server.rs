//! The DHCPv6 task: receive on the bridge, answer from the pure decision,
//! send back to the request's source (the client's link-local address and
//! port 546, RFC 8415 §18.3.10), count.

use std::net::SocketAddr;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::answer::{Outcome, StatelessService};
use crate::{socket, stats};

/// A DHCPv6 message is at most one UDP datagram; 1,500 fits the bridge,
/// a larger one is cut (and then fails to decode: dropped, counted).
const BUFFER: usize = 1_500;

pub struct Dhcp6Server {
    interface: String,
    port: u16,
    service: StatelessService,
}

impl Dhcp6Server {
    pub fn new(interface: String, port: u16, service: StatelessService) -> Dhcp6Server {
        Dhcp6Server {
            interface,
            port,
            service,
        }
    }

    /// Opens the socket (so errors, such as the port held by another
    /// DHCPv6 server, reach the caller at start), then serves until
    /// `cancel`.
    pub fn start(self, cancel: CancellationToken) -> std::io::Result<JoinHandle<()>> {
        let socket = socket::open(&self.interface, self.port)?;
        Ok(tokio::spawn(self.run(socket, cancel)))
    }

    async fn run(self, socket: tokio::net::UdpSocket, cancel: CancellationToken) {
        tracing::info!(interface = %self.interface, port = self.port, "stateless DHCPv6 on");
        let mut buffer = vec![0u8; BUFFER];
        loop {
            let received = tokio::select! {
                () = cancel.cancelled() => break,
                received = socket.recv_from(&mut buffer) => received,
            };
            let (len, source) = match received {
                Ok(received) => received,
                // One failed read (e.g. an ICMP error queued on the socket)
                // does not stop the server.
                Err(error) => {
                    tracing::debug!(%error, interface = %self.interface, "DHCPv6: receive failed");
                    continue;
                }
            };
            let bytes = buffer.get(..len).unwrap_or_default();
            let outcome = self.service.answer(bytes);
            stats::count(bytes, &outcome);
            match &outcome {
                Outcome::Answer(answer) => send(&socket, &answer.bytes, source).await,
                Outcome::Dropped(reason) => {
                    tracing::debug!(%source, %reason, "DHCPv6 request dropped");
                }
                Outcome::Ignored(reason) => {
                    tracing::trace!(%source, reason = reason.label(), "DHCPv6 message left unanswered");
                }
            }
        }
        tracing::info!(interface = %self.interface, "stateless DHCPv6 off");
    }
}

async fn send(socket: &tokio::net::UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(error) = socket.send_to(bytes, to).await {
        tracing::debug!(%error, %to, "DHCPv6 reply not sent");
    }
}
