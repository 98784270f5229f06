//! raftmasq's replicated cluster state: the openraft node, its sled storage and
//! the Raft RPC between nodes. The state machine itself lives in `raftmasq-state`.

pub mod backoff;
pub mod clock;
pub mod network;
pub mod node;
pub mod store;
pub mod types;

pub use clock::ClusterClock;
pub use network::{ClusterLink, ClusterTls, ClusterToken, Links, TlsError, TlsPaths};
pub use node::{
    Batching, ClusterNode, ClusterNodeConfig, Handover, QuorumStatus, ReadError, StartError,
    WriteError,
};
pub use raftmasq_state as state;
pub use types::{Member, MemberRole, NodeId};
