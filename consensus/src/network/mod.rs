//! Raft RPC between nodes: JSON over HTTP on each node's `cluster_addr`, over
//! TLS 1.3 with mutual authentication by the cluster CA (`tls`), every
//! request also carrying the shared cluster token. The server binds each
//! request to the node id of the client's certificate (`auth`).

mod auth;
mod client;
mod contact;
mod links;
mod listener;
mod peer_backoff;
pub mod pki;
mod server;
pub mod tls;

pub use auth::{ClusterToken, Refused, bearer, check_claim, require_token};
pub use client::{HttpNetwork, PeerClient, PeerError};
pub use contact::LeaderContact;
pub use links::Links;
pub use listener::{ClusterListener, PeerIdentity};
pub use server::raft_routes;
pub use tls::{ClusterTls, TlsError, TlsPaths};

/// How the cluster link is protected.
#[derive(Clone, Debug)]
pub enum ClusterLink {
    /// TLS 1.3, both ends authenticated by the cluster CA (the default).
    Tls(ClusterTls),
    /// HTTP in clear, the token alone: the explicit opt-out
    /// (`cluster.insecure_plaintext = true`). Anyone on the underlay reads
    /// the token, and with it can write to the cluster.
    Plaintext,
}

impl ClusterLink {
    pub fn tls(&self) -> Option<&ClusterTls> {
        match self {
            ClusterLink::Tls(tls) => Some(tls),
            ClusterLink::Plaintext => None,
        }
    }
}

/// URL paths of the cluster listener.
pub mod paths {
    pub const APPEND: &str = "/raft/append";
    pub const VOTE: &str = "/raft/vote";
    pub const SNAPSHOT: &str = "/raft/snapshot";
    pub const WRITE: &str = "/cluster/write";
    pub const JOIN: &str = "/cluster/join";
    pub const READ: &str = "/cluster/read";
    pub const CLOCK: &str = "/cluster/clock";
    /// A stopping leader asks a caught-up follower to take over.
    pub const ELECT: &str = "/cluster/elect";
}
