//! The replicated state machine of raftmasq: leases, reservations, hostnames and
//! static DNS records. Pure and deterministic: no I/O, no clock, no randomness;
//! time rides in each command, stamped by the leader.

pub mod command;
pub mod types;

pub use command::{Command, LeaseRequest, Rejection, Response};
pub use raftmasq_config::{AddressRange, ClusterSettings, HostnamePolicy};
pub use types::*;
