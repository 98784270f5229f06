//! raftmasq's LXD integration: follows the local LXD (or Incus) daemon and
//! turns what it says about the instance NICs on the served bridge into
//! cluster commands:
//! - the instance name names the NIC's MAC (`Command::NameMac`), which wins
//!   over the hostname the client sends;
//! - a static address set in LXD (the NIC's `ipv4.address`, or
//!   `user.raftmasq.ipv4[.DEVICE]`) becomes a reservation, taken back when the
//!   key or the instance goes;
//! - a deleted instance (or a NIC that left the bridge) is forgotten
//!   (`Command::ForgetMac`): its lease and name go at once.
//!
//! The shape (see DESIGN.md): [`nics::desired`], [`plan::plan`] and
//! [`events::classify`] are pure; [`client`] is the socket edge; [`run`]
//! ties them together under a cancellation token and never stops DHCP or
//! DNS: every failure is logged and retried with a bounded backoff.

// Tests unwrap freely: a panic there is a failed test, not a crash.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
pub mod client;
pub mod events;
pub mod memory;
pub mod nics;
pub mod plan;
mod watch;

use std::path::PathBuf;

pub use watch::{Cluster, Settings, run};

/// Why talking to LXD failed. Each is logged and the watcher retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "no LXD socket found (tried {}): is LXD installed? set [lxd] socket",
        display_paths(tried)
    )]
    NoSocket { tried: Vec<PathBuf> },
    #[error("cannot connect to LXD at {}: {source}", socket.display())]
    Connect {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("LXD request {path} failed: {reason}")]
    Http { path: String, reason: String },
    #[error("LXD did not answer {path} in time")]
    Timeout { path: String },
    #[error("LXD refused {path} ({status}): {message}")]
    Lxd {
        path: String,
        status: u16,
        message: String,
    },
    #[error("LXD's answer to {path} is not what LXD sends: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("LXD event stream: {0}")]
    WebSocket(String),
    #[error("LXD closed the event stream")]
    StreamClosed,
}

impl Error {
    fn http(path: &str, error: impl std::fmt::Display) -> Error {
        Error::Http {
            path: path.to_string(),
            reason: error.to_string(),
        }
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
