//! Outgoing cluster requests: Raft RPCs and forwarded client requests.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use raftmasq_limits::{ExponentialBackoff, SharedLogLimiter};

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::peer_backoff::{self, PeerBackoff};
use super::{ClusterLink, ClusterToken, Links, paths};
use crate::types::{Member, NodeId, TypeConfig};

/// Why a request to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("node {target} ({addr}) unreachable: {reason}")]
    Unreachable {
        target: NodeId,
        addr: String,
        reason: String,
    },
    #[error("node {target} ({addr}) did not answer within {timeout:?}")]
    Timeout {
        target: NodeId,
        addr: String,
        timeout: Duration,
    },
    #[error(
        "node {target} ({addr}) refused our cluster token: check that token_file holds the same secret on every host"
    )]
    Unauthorized { target: NodeId, addr: String },
    #[error("node {target} ({addr}) refused this node: {reason}")]
    Forbidden {
        target: NodeId,
        addr: String,
        reason: String,
    },
    #[error("node {target} ({addr}) answered HTTP {status}: {body}")]
    Status {
        target: NodeId,
        addr: String,
        status: u16,
        body: String,
    },
    #[error("node {target} ({addr}) sent an unreadable answer: {reason}")]
    Decode {
        target: NodeId,
        addr: String,
        reason: String,
    },
    #[error("node {target} ({addr}) failed recently: not asked again for {retry_in:?}")]
    BackingOff {
        target: NodeId,
        addr: String,
        retry_in: Duration,
    },
}

impl PeerError {
    /// Whether the member failed the request in a way the next request
    /// would fail too (rather than being slow, refusing this one request,
    /// or not being asked at all): these start or extend its backoff. A 403
    /// is about what one request claims, and other 4xx about the request.
    fn is_member_failure(&self) -> bool {
        match self {
            PeerError::Unreachable { .. }
            | PeerError::Unauthorized { .. }
            | PeerError::Decode { .. } => true,
            PeerError::Status { status, .. } => *status >= 500 || *status == 429,
            PeerError::Forbidden { .. }
            | PeerError::Timeout { .. }
            | PeerError::BackingOff { .. } => false,
        }
    }

    /// The kind, as the key of the rate-limited warning.
    fn kind(&self) -> &'static str {
        match self {
            PeerError::Unreachable { .. } => "unreachable",
            PeerError::Timeout { .. } => "timeout",
            PeerError::Unauthorized { .. } => "unauthorized",
            PeerError::Forbidden { .. } => "forbidden",
            PeerError::Status { .. } => "status",
            PeerError::Decode { .. } => "decode",
            PeerError::BackingOff { .. } => "backing off",
        }
    }
}

/// One warning per member and kind of failure per interval.
static MEMBER_FAILURES: LazyLock<SharedLogLimiter<(NodeId, &'static str)>> =
    LazyLock::new(|| SharedLogLimiter::new(Duration::from_secs(10)));

/// HTTP client for one node's outgoing cluster traffic; cheap to clone.
///
/// Over TLS there is one HTTP client per target node, each accepting only
/// that node's certificate; they are rebuilt after the TLS files are
/// reloaded, so new connections present the new certificate.
#[derive(Clone, Debug)]
pub struct PeerClient {
    link: ClusterLink,
    /// The plaintext client (unused over TLS).
    plain: reqwest::Client,
    by_target: Arc<Mutex<HashMap<NodeId, (u64, reqwest::Client)>>>,
    token: ClusterToken,
    links: Links,
    from: NodeId,
    /// Members that failed lately, left alone for a while (`peer_backoff`).
    backoff: Arc<Mutex<PeerBackoff>>,
}

/// HTTP/2 carries every request to a peer on one connection. When the
/// underlay drops packets (a cut, then a heal) that connection is dead but
/// not closed, and every request on it times out until TCP gives up, minutes
/// later: pings close it within about a second and a half, so the next
/// request opens a new one. An idle HTTP/1.1 connection (the plaintext
/// link) is given up well before the peer's listener closes it (its header
/// timeout, 10 s by default), so no request is sent on a closing one.
fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Some(Duration::from_millis(500)))
        .http2_keep_alive_timeout(Duration::from_secs(1))
        .http2_keep_alive_while_idle(true)
}

impl PeerClient {
    pub fn new(from: NodeId, token: ClusterToken, links: Links, link: ClusterLink) -> Self {
        super::tls::install_default_provider();
        let plain = builder().build().unwrap_or_else(|_| reqwest::Client::new());
        PeerClient {
            link,
            plain,
            by_target: Arc::default(),
            token,
            links,
            from,
            backoff: Arc::default(),
        }
    }

    /// The HTTP client and URL scheme for `target`.
    fn client_for(&self, target: NodeId) -> Result<(reqwest::Client, &'static str), String> {
        let Some(tls) = self.link.tls() else {
            return Ok((self.plain.clone(), "http"));
        };
        let generation = tls.generation();
        let mut clients = self
            .by_target
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((built, client)) = clients.get(&target)
            && *built == generation
        {
            return Ok((client.clone(), "https"));
        }
        let config = tls
            .client_config(target)
            .map_err(|error| error.to_string())?;
        let client = builder()
            .tls_backend_preconfigured(config)
            .build()
            .map_err(|error| error_chain(&error))?;
        clients.insert(target, (generation, client.clone()));
        Ok((client, "https"))
    }

    /// POSTs `body` as JSON to `http://{addr}{path}` and decodes the JSON
    /// answer; fails at once, sending nothing, while `target` is in its
    /// backoff after failures (`peer_backoff`).
    pub async fn post<Req, Resp>(
        &self,
        target: NodeId,
        addr: &str,
        path: &str,
        body: &Req,
        timeout: Duration,
    ) -> Result<Resp, PeerError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        if self.links.is_cut(self.from, target) {
            return Err(PeerError::Unreachable {
                target,
                addr: addr.to_string(),
                reason: "link cut".into(),
            });
        }
        let admitted = self.backoff().admit(target, Instant::now());
        if let Err(retry_in) = admitted {
            return Err(PeerError::BackingOff {
                target,
                addr: addr.to_string(),
                retry_in,
            });
        }
        let result = self.send(target, addr, path, body, timeout).await;
        match &result {
            Ok(_) => self.backoff().succeeded(target),
            Err(error) if error.is_member_failure() => {
                let pause = self.backoff().failed(target, Instant::now());
                if let Some(suppressed) = MEMBER_FAILURES.check(&(target, error.kind())) {
                    tracing::warn!(
                        node_id = self.from,
                        target,
                        %path,
                        %error,
                        pause_ms = pause.as_millis() as u64,
                        suppressed,
                        "cluster member failed a request: leaving it alone for a while"
                    );
                }
            }
            Err(_) => {}
        }
        result
    }

    fn backoff(&self) -> std::sync::MutexGuard<'_, PeerBackoff> {
        self.backoff.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn send<Req, Resp>(
        &self,
        target: NodeId,
        addr: &str,
        path: &str,
        body: &Req,
        timeout: Duration,
    ) -> Result<Resp, PeerError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let addr_owned = || addr.to_string();
        let transport_error = |error: reqwest::Error| {
            if error.is_timeout() {
                PeerError::Timeout {
                    target,
                    addr: addr_owned(),
                    timeout,
                }
            } else {
                PeerError::Unreachable {
                    target,
                    addr: addr_owned(),
                    reason: error_chain(&error),
                }
            }
        };
        let (http, scheme) = self
            .client_for(target)
            .map_err(|reason| PeerError::Unreachable {
                target,
                addr: addr_owned(),
                reason,
            })?;
        let response = http
            .post(format!("{scheme}://{addr}{path}"))
            .header(reqwest::header::AUTHORIZATION, super::bearer(&self.token))
            .json(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(PeerError::Unauthorized {
                target,
                addr: addr_owned(),
            });
        }
        if status == reqwest::StatusCode::FORBIDDEN {
            let reason = response.text().await.unwrap_or_default();
            return Err(PeerError::Forbidden {
                target,
                addr: addr_owned(),
                reason: reason.trim().to_string(),
            });
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(PeerError::Status {
                target,
                addr: addr_owned(),
                status: status.as_u16(),
                body,
            });
        }
        let bytes = response.bytes().await.map_err(transport_error)?;
        serde_json::from_slice(&bytes).map_err(|error| PeerError::Decode {
            target,
            addr: addr_owned(),
            reason: error.to_string(),
        })
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// openraft's network factory over [`PeerClient`].
#[derive(Clone)]
pub struct HttpNetwork {
    client: PeerClient,
}

impl HttpNetwork {
    pub fn new(client: PeerClient) -> Self {
        HttpNetwork { client }
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> Self::Network {
        PeerConnection {
            client: self.client.clone(),
            target,
            addr: node.cluster_addr.clone(),
        }
    }
}

pub struct PeerConnection {
    client: PeerClient,
    target: NodeId,
    addr: String,
}

impl PeerConnection {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        request: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, Member, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let result: Result<Resp, RaftError<NodeId, E>> = self
            .client
            .post(self.target, &self.addr, path, request, option.hard_ttl())
            .await
            .map_err(|error| {
                if error.is_member_failure() || matches!(error, PeerError::BackingOff { .. }) {
                    // openraft pauses only after Unreachable; anything else
                    // it retries at once.
                    RPCError::Unreachable(Unreachable::new(&error))
                } else {
                    RPCError::Network(NetworkError::new(&error))
                }
            })?;
        result.map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        self.call(paths::APPEND, &request, &option).await
    }

    async fn install_snapshot(
        &mut self,
        request: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Member, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call(paths::SNAPSHOT, &request, &option).await
    }

    async fn vote(
        &mut self,
        request: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Member, RaftError<NodeId>>> {
        self.call(paths::VOTE, &request, &option).await
    }

    /// openraft's pauses after `Unreachable`: the same doubling as
    /// `peer_backoff`, so replication waits instead of failing fast there.
    fn backoff(&self) -> openraft::network::Backoff {
        let mut pauses = ExponentialBackoff::new(peer_backoff::BASE, peer_backoff::CAP);
        openraft::network::Backoff::new(std::iter::repeat_with(move || pauses.next_pause()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::PeerError;

    fn status(status: u16) -> PeerError {
        PeerError::Status {
            target: 2,
            addr: "10.99.0.2:7380".into(),
            status,
            body: String::new(),
        }
    }

    #[test]
    fn only_failures_the_next_request_would_meet_start_a_backoff() {
        let addr = || "10.99.0.2:7380".to_string();
        assert!(status(500).is_member_failure());
        assert!(status(503).is_member_failure());
        assert!(status(429).is_member_failure());
        assert!(!status(404).is_member_failure(), "about the request");
        let unreachable = PeerError::Unreachable {
            target: 2,
            addr: addr(),
            reason: "tls handshake: invalid peer certificate".into(),
        };
        assert!(unreachable.is_member_failure());
        assert!(
            PeerError::Unauthorized {
                target: 2,
                addr: addr()
            }
            .is_member_failure()
        );
        let forbidden = PeerError::Forbidden {
            target: 2,
            addr: addr(),
            reason: "a claim for another node".into(),
        };
        assert!(
            !forbidden.is_member_failure(),
            "about what one request claims"
        );
        let timeout = PeerError::Timeout {
            target: 2,
            addr: addr(),
            timeout: Duration::from_secs(1),
        };
        assert!(!timeout.is_member_failure(), "already paid its timeout");
    }
}
