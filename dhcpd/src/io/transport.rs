//! The bridge socket as the server's [`Transport`].

use std::io;

use tracing::debug;

use super::DhcpSocket;
use crate::reply::Reply;
use crate::server::{Received, Transport};

impl Transport for DhcpSocket {
    async fn recv(&self) -> io::Result<Received> {
        let (bytes, source, arrival) = DhcpSocket::recv(self).await?;
        Ok(Received {
            bytes,
            source,
            arrival,
        })
    }

    async fn send(&self, reply: &Reply) -> io::Result<()> {
        let via = DhcpSocket::send(self, reply).await?;
        debug!(client_mac = %reply.mac, via = via.label(), "dhcp reply path");
        Ok(())
    }
}
