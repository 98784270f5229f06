//! Shared fixtures for raftmasq's end-to-end tests: daemons as real processes,
//! generated configurations, and a small admin API client.
//!
//! Every process a test starts is owned by a guard that kills it (SIGKILL) on
//! drop, so no path — success, failure or panic — leaves one behind.

pub mod admin;
pub mod bind;
pub mod capture;
pub mod clients;
pub mod cluster;
pub mod dig;
pub mod dnsmasq;
pub mod dnsprobe;
pub mod fault;
pub mod lxd;
pub mod netns;
pub mod networkd;
pub mod process;
pub mod testbed_cluster;

pub use cluster::{LoopbackCluster, NodeFiles};
pub use process::Daemon;

/// Milliseconds since the Unix epoch on the test machine.
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}
