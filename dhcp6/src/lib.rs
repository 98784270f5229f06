//! Stateless DHCPv6 on the bridge (RFC 8415; the stateful server is
//! `raftmasq_dhcpd::v6`). The stateless service
//! (§6.1, §18.3.6): clients that formed their addresses by SLAAC ask for the
//! DNS servers and the search domain with an Information-request, and every
//! host answers from its configuration. No state, so no Raft: like router
//! advertisements, every host answers, and a client keeps working while any
//! host lives.
//!
//! Shape (see `DESIGN.md`): `answer` decides the reply from the request's
//! bytes (pure); `socket` and `server` do the I/O; `stats` counts.

// Tests unwrap freely: a panic there is a failed test, not a crash.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod answer;
mod server;
mod socket;
mod stats;
pub mod wire;

pub use answer::{Answer, Ignored, Malformed, Outcome, StatelessService, server_duid};
pub use dhcproto::v6::SERVER_PORT;
pub use server::Dhcp6Server;
pub use stats::{count_outcome, count_received, register_metrics};
