//! The cluster listener's edge: accepts TCP connections within the
//! listener's caps (`raftmasq_limits::BoundedListener`), completes the TLS
//! handshake (with a deadline, many at once, off the accept loop) and hands
//! axum each connection together with the node its certificate names.
//!
//! With the plaintext opt-out the connections are handed over as they are,
//! naming no node.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use raftmasq_limits::{BoundedListener, SharedLogLimiter};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, mpsc};

use super::tls::{ClusterTls, node_id_of};
use crate::types::NodeId;

/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait to be read.
const MAX_HANDSHAKES: usize = 128;

/// Who is on the other end of an inbound cluster connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerIdentity {
    pub addr: SocketAddr,
    /// The node id the client certificate names (`None`: plaintext link).
    pub node: Option<NodeId>,
}

impl Connected<IncomingStream<'_, ClusterListener>> for PeerIdentity {
    fn connect_info(stream: IncomingStream<'_, ClusterListener>) -> Self {
        *stream.remote_addr()
    }
}

/// A connection after its handshake.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

/// axum's [`Listener`] over the cluster port.
pub struct ClusterListener {
    ready: mpsc::Receiver<(Box<dyn Connection>, PeerIdentity)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for ClusterListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl ClusterListener {
    /// Starts accepting on `listener`; `tls: None` is the plaintext opt-out.
    pub fn new(
        listener: BoundedListener,
        tls: Option<ClusterTls>,
        node_id: NodeId,
    ) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (sender, ready) = mpsc::channel(64);
        let accepting = tokio::spawn(accept(listener, tls, sender, node_id));
        Ok(ClusterListener {
            ready,
            local,
            accepting,
        })
    }
}

impl Listener for ClusterListener {
    type Io = Box<dyn Connection>;
    type Addr = PeerIdentity;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept task ended (its listener failed for good): serve
            // what is open and take nothing new.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(PeerIdentity {
            addr: self.local,
            node: None,
        })
    }
}

type Ready = mpsc::Sender<(Box<dyn Connection>, PeerIdentity)>;

/// Failed handshakes, logged once per client address per interval: a
/// scanner or a misconfigured host retries without end.
static HANDSHAKE_FAILURES: LazyLock<SharedLogLimiter<IpAddr>> =
    LazyLock::new(|| SharedLogLimiter::new(Duration::from_secs(10)));

async fn accept(
    mut listener: BoundedListener,
    tls: Option<ClusterTls>,
    ready: Ready,
    node_id: NodeId,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        // Over the caps, or out of handles: the listener closes, pauses and
        // logs by itself.
        let (stream, addr) = listener.accept().await;
        let _ = stream.get_ref().set_nodelay(true);
        let Some(tls) = tls.clone() else {
            let peer = PeerIdentity { addr, node: None };
            if ready.send((Box::new(stream), peer)).await.is_err() {
                return;
            }
            continue;
        };
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let acceptor = tls.acceptor();
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                .await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => {
                    if let Some(suppressed) = HANDSHAKE_FAILURES.check(&addr.ip()) {
                        tracing::warn!(node_id, peer = %addr, %error, suppressed, "cluster TLS handshake refused");
                    }
                    return;
                }
                Err(_elapsed) => {
                    if let Some(suppressed) = HANDSHAKE_FAILURES.check(&addr.ip()) {
                        tracing::warn!(node_id, peer = %addr, suppressed, "cluster TLS handshake timed out");
                    }
                    return;
                }
            };
            let identity = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(node_id_of);
            match identity {
                Some(Ok(node)) => {
                    let peer = PeerIdentity {
                        addr,
                        node: Some(node),
                    };
                    let _ = ready.send((Box::new(stream), peer)).await;
                }
                Some(Err(error)) => {
                    tracing::warn!(node_id, peer = %addr, %error, "cluster client certificate names no node: connection closed");
                }
                None => {
                    tracing::warn!(node_id, peer = %addr, "cluster client sent no certificate: connection closed");
                }
            }
        });
    }
}
