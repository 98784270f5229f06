//! Raft RPC between nodes: JSON over HTTP on each node's `cluster_addr`,
//! authenticated with the shared cluster token.

mod auth;
mod client;
mod links;
mod server;

pub use auth::{ClusterToken, bearer, require_token};
pub use client::{HttpNetwork, PeerClient, PeerError};
pub use links::Links;
pub use server::raft_routes;

/// URL paths of the cluster listener.
pub mod paths {
    pub const APPEND: &str = "/raft/append";
    pub const VOTE: &str = "/raft/vote";
    pub const SNAPSHOT: &str = "/raft/snapshot";
    pub const WRITE: &str = "/cluster/write";
    pub const JOIN: &str = "/cluster/join";
    pub const READ: &str = "/cluster/read";
    pub const CLOCK: &str = "/cluster/clock";
}
