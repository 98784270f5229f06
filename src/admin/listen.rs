//! Where admin requests come in, and who sent them: the TCP listener on
//! `node.admin_addr` (HTTPS off loopback) and the local unix socket for
//! `dnsctl` on the host, whose peer credentials decide who may use it.
//!
//! Both feed one axum server; each connection carries its [`Caller`], which
//! `access` turns into allowed or refused.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use nix::unistd::{Gid, Group, Uid};
use raftmasq_limits::{BoundedListener, ListenerLimits};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc};

/// How long a client may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes in progress at once; further connections wait.
const MAX_HANDSHAKES: usize = 64;

/// Who is on the other end of an admin connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// The local socket, past its peer-credential check.
    Socket { uid: u32 },
    /// TCP: `on_host` when the peer is this host (loopback, or the
    /// listener's own address).
    Network { peer: SocketAddr, on_host: bool },
}

impl Connected<IncomingStream<'_, AdminListener>> for Caller {
    fn connect_info(stream: IncomingStream<'_, AdminListener>) -> Self {
        stream.remote_addr().clone()
    }
}

pub(crate) trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

/// axum's [`Listener`] over every admin endpoint of this node.
pub(crate) struct AdminListener {
    ready: mpsc::Receiver<(Box<dyn Connection>, Caller)>,
    local: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    socket_path: Option<PathBuf>,
    limits: ListenerLimits,
}

impl Drop for AdminListener {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Listener for AdminListener {
    type Io = Box<dyn Connection>;
    type Addr = Caller;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Caller::Network {
            peer: self.local,
            on_host: true,
        })
    }
}

impl AdminListener {
    /// Accepts on `tcp` (through `tls` when given) and on `socket`. The TCP
    /// side holds `tcp`'s caps and idle timeout; the socket is open to
    /// trusted local users only, who are not the threat the caps are for.
    pub(crate) fn new(
        tcp: BoundedListener,
        tls: Option<tokio_rustls::TlsAcceptor>,
        socket: Option<LocalSocket>,
    ) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let limits = *tcp.limits();
        let (sender, ready) = mpsc::channel(64);
        let mut tasks = vec![tokio::spawn(accept_tcp(tcp, tls, sender.clone()))];
        let socket_path = socket.as_ref().map(|socket| socket.path.clone());
        if let Some(socket) = socket {
            tasks.push(tokio::spawn(accept_local(socket, sender)));
        }
        Ok(AdminListener {
            ready,
            local,
            tasks,
            socket_path,
            limits,
        })
    }

    /// The TCP side's limits, which the HTTP server applies to every
    /// connection (header and request timeouts).
    pub(crate) fn limits(&self) -> ListenerLimits {
        self.limits
    }
}

type Ready = mpsc::Sender<(Box<dyn Connection>, Caller)>;

async fn accept_tcp(
    mut listener: BoundedListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ready: Ready,
) {
    let local = listener.local_addr().ok();
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        // Over the caps, failing accepts and their log lines are the
        // bounded listener's business.
        let (stream, peer) = listener.accept().await;
        let caller = Caller::Network {
            peer,
            on_host: is_on_host(peer, local),
        };
        let Some(tls) = tls.clone() else {
            if ready.send((Box::new(stream), caller)).await.is_err() {
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
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send((Box::new(stream), caller)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "admin TLS handshake failed"),
                Err(_elapsed) => tracing::debug!(%peer, "admin TLS handshake timed out"),
            }
        });
    }
}

/// Loopback, or the address the listener itself is on (a tool on this host
/// dialling the host's own address).
fn is_on_host(peer: SocketAddr, local: Option<SocketAddr>) -> bool {
    peer.ip().is_loopback() || local.is_some_and(|local| local.ip() == peer.ip())
}

/// The admin unix socket: its listener and who may connect.
pub(crate) struct LocalSocket {
    listener: UnixListener,
    path: PathBuf,
    trusted: TrustedPeers,
}

/// Root, the service's own user, and members of the socket's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrustedPeers {
    pub own_uid: u32,
    pub group: Option<u32>,
}

impl TrustedPeers {
    /// `supplementary` is read only when the primary ids do not decide.
    pub(crate) fn admit(
        &self,
        uid: u32,
        gid: u32,
        supplementary: impl FnOnce() -> Vec<u32>,
    ) -> bool {
        if uid == 0 || uid == self.own_uid {
            return true;
        }
        match self.group {
            Some(group) => gid == group || supplementary().contains(&group),
            None => false,
        }
    }
}

impl LocalSocket {
    /// Binds `path` (replacing a stale socket), mode 660, group `group` when
    /// that group exists (else the service's own group).
    pub(crate) fn bind(path: &Path, group: &str) -> anyhow::Result<LocalSocket> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| {
                format!("cannot create {} for node.admin_socket", parent.display())
            })?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(metadata) if std::os::unix::fs::FileTypeExt::is_socket(&metadata.file_type()) => {
                std::fs::remove_file(path).with_context(|| {
                    format!("cannot remove the stale socket {}", path.display())
                })?;
            }
            Ok(_) => anyhow::bail!(
                "node.admin_socket {} exists and is not a socket; remove it or choose another path",
                path.display()
            ),
            Err(_) => {}
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot listen on node.admin_socket {}", path.display()))?;
        let group_id = Group::from_name(group)
            .ok()
            .flatten()
            .map(|found| found.gid);
        if let Some(gid) = group_id {
            nix::unistd::chown(path, None, Some(gid))
                .with_context(|| format!("cannot give {} to group {group}", path.display()))?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .with_context(|| format!("cannot set the mode of {}", path.display()))?;
        let trusted = TrustedPeers {
            own_uid: Uid::effective().as_raw(),
            group: Some(group_id.unwrap_or_else(Gid::effective).as_raw()),
        };
        tracing::info!(socket = %path.display(), group, "admin socket ready");
        Ok(LocalSocket {
            listener,
            path: path.to_path_buf(),
            trusted,
        })
    }
}

async fn accept_local(socket: LocalSocket, ready: Ready) {
    loop {
        let stream = match socket.listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "admin socket cannot accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match admitted(&stream, &socket.trusted) {
            Some(uid) => {
                if ready
                    .send((Box::new(stream), Caller::Socket { uid }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            None => drop(stream),
        }
    }
}

fn admitted(stream: &UnixStream, trusted: &TrustedPeers) -> Option<u32> {
    let credentials = match stream.peer_cred() {
        Ok(credentials) => credentials,
        Err(error) => {
            tracing::warn!(%error, "admin socket: no peer credentials; connection closed");
            return None;
        }
    };
    let (uid, gid, pid) = (credentials.uid(), credentials.gid(), credentials.pid());
    if trusted.admit(uid, gid, || {
        pid.map(supplementary_groups).unwrap_or_default()
    }) {
        return Some(uid);
    }
    tracing::warn!(
        uid,
        gid,
        pid,
        "admin socket: refused a process that is neither root, the service user nor in its group"
    );
    None
}

/// The supplementary groups of process `pid` (`Groups:` in its status).
fn supplementary_groups(pid: i32) -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .map(|groups| {
            groups
                .split_whitespace()
                .filter_map(|gid| gid.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_the_service_user_and_the_group_are_trusted() {
        let trusted = TrustedPeers {
            own_uid: 110,
            group: Some(120),
        };
        let none = Vec::new;
        assert!(trusted.admit(0, 0, none));
        assert!(trusted.admit(110, 999, none));
        assert!(trusted.admit(1000, 120, none));
        assert!(trusted.admit(1000, 1000, || vec![27, 120]));
        assert!(!trusted.admit(1000, 1000, || vec![27]));
        assert!(!trusted.admit(65534, 65534, none));
        let no_group = TrustedPeers {
            own_uid: 110,
            group: None,
        };
        assert!(!no_group.admit(1000, 120, || vec![120]));
    }

    #[test]
    fn the_host_is_loopback_or_the_listeners_own_address() {
        let local: SocketAddr = "10.99.0.1:7381".parse().unwrap();
        let peer = |text: &str| text.parse::<SocketAddr>().unwrap();
        assert!(is_on_host(peer("127.0.0.1:5000"), Some(local)));
        assert!(is_on_host(peer("[::1]:5000"), Some(local)));
        assert!(is_on_host(peer("10.99.0.1:5000"), Some(local)));
        assert!(!is_on_host(peer("10.99.0.2:5000"), Some(local)));
    }

    #[test]
    fn reads_the_supplementary_groups_of_this_process() {
        let groups = supplementary_groups(std::process::id() as i32);
        let expected = nix::unistd::getgroups()
            .unwrap()
            .into_iter()
            .map(Gid::as_raw)
            .collect::<Vec<_>>();
        assert_eq!(groups, expected);
    }
}
