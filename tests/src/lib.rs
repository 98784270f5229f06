//! Shared fixtures for raftmasq's end-to-end tests: daemons as real processes,
//! generated configurations, and a small admin API client.
//!
//! Every process a test starts is owned by a guard that kills it (SIGKILL) on
//! drop, so no path — success, failure or panic — leaves one behind.

pub mod admin;
pub mod bind;
pub mod capture;
pub mod clients;
pub mod clients6;
pub mod cluster;
pub mod dig;
pub mod dnsmasq;
pub mod dnsprobe;
pub mod fault;
pub mod lxd;
pub mod netns;
pub mod networkd;
pub mod process;
pub mod routed_host;
pub mod second_bridge;
pub mod testbed_cluster;

pub use cluster::{LoopbackCluster, NodeFiles};
pub use process::Daemon;

/// Milliseconds since the Unix epoch on the test machine.
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A port that was free a moment ago on 127.0.0.1, for TCP and UDP.
///
/// Taken below the kernel's ephemeral range (32768-60999 by default): a port
/// the kernel hands out for port 0 is also what it picks for outgoing
/// connections, and the daemons of a test connect to each other while the
/// last of them are still binding their listeners (a DNS port of a node
/// starting last was taken by another node's connection, 1 run in 8 of
/// `learners`). Falls back to the kernel's choice.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    // Spread concurrent test processes over the range; step through it.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let seed = u16::try_from(std::process::id() % u32::from(SPAN)).unwrap_or(0);
    for _ in 0..200 {
        let step = NEXT.fetch_add(7, Ordering::Relaxed);
        let port = LOW + (seed.wrapping_add(step) % SPAN);
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}
