//! Router advertisements on the bridge (RFC 4861 §6.2), so containers form
//! IPv6 addresses by SLAAC (RFC 4862) and learn DNS servers and the search
//! domain (RFC 8106).
//!
//! Shape (see `DESIGN.md`): `advert` builds the advertisement's bytes from
//! the configuration, `solicit` checks a router solicitation's bytes,
//! `schedule` decides when advertisements go out and to whom (time and
//! randomness are arguments); `socket` and `server` do the I/O.

// Tests unwrap freely: a panic there is a failed test, not a crash.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod advert;
pub mod schedule;
mod server;
mod socket;
pub mod solicit;
mod stats;

pub use advert::{Advertisement, PrefixFlags};
pub use schedule::{Destination, Schedule, Timing};
pub use server::{RaServer, ServerError};
pub use socket::interface_mac;
pub use solicit::{Malformed, Solicitation, decode_solicitation};
pub use stats::register_metrics;
