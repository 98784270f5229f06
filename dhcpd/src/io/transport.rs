//! The bridge socket as the server's [`Transport`], and the kernel filter that
//! spares a follower every broadcast of the segment.

use std::future::Future;
use std::io;
use std::sync::Arc;

use tracing::{debug, warn};

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

/// Where the broadcast filter learns this node's role (the daemon follows the
/// Raft metrics).
pub trait RoleChanges: Send + 'static {
    /// Whether this node follows a known leader right now: the predicate
    /// behind the role `decide` reads (`has_quorum && !is_leader`, silent to
    /// broadcasts). Marks the current state seen.
    fn follows_a_leader(&mut self) -> bool;
    /// Waits until the role may have changed; `false` once it never will
    /// (Raft stopped).
    fn changed(&mut self) -> impl Future<Output = bool> + Send;
}

/// Only the leader answers broadcasts; a follower that knows its leader
/// ignores every one (`decide`: not_leader). So while this node follows, the
/// kernel drops datagrams sent to 255.255.255.255 before they reach the
/// socket: no wakeup, read or decode for each broadcast of every client on
/// the segment (docs/benchmarks.md measured this). The filter is on exactly
/// while [`RoleChanges::follows_a_leader`]; off when this node leads, is a
/// candidate, or knows no leader, i.e. whenever `decide` may answer a
/// broadcast (as leader, or in degraded mode). Runs until the role source
/// stops, then delivers everything again.
pub async fn drop_broadcasts_while_following(socket: Arc<DhcpSocket>, mut role: impl RoleChanges) {
    let mut ignoring = false;
    loop {
        let following = role.follows_a_leader();
        if following != ignoring {
            match socket.ignore_limited_broadcasts(following) {
                Ok(()) => {
                    ignoring = following;
                    debug!(ignoring, "dhcp broadcasts filtered in the kernel");
                }
                // Harmless: `decide` ignores what the filter would have dropped.
                Err(error) => warn!(%error, "cannot switch the dhcp broadcast filter"),
            }
        }
        if !role.changed().await {
            if ignoring && let Err(error) = socket.ignore_limited_broadcasts(false) {
                warn!(%error, "cannot remove the dhcp broadcast filter");
            }
            return;
        }
    }
}
