//! raftmasq's replicated cluster state: the openraft node, its sled storage and
//! the Raft RPC between nodes. The state machine itself lives in `raftmasq-state`.

pub use raftmasq_state as state;
