//! The admin API's contract, shared by the daemon (which serves it) and
//! `dnsctl` (which calls it), so both sides of the wire use one definition and
//! the daemon does not depend on the CLI:
//!
//! - the JSON types of every request and response (crate root, from `json.rs`);
//! - [`import`]: reading dnsmasq's files and exports (in `dnsctl`) and planning
//!   the import against a copy of the lease table (in the daemon);
//! - [`rollback`]: writing a `raftmasq export` as dnsmasq's lease and host
//!   files (`dnsctl export-dnsmasq`), the way back to dnsmasq;
//! - [`records`]: static records as operators write them, for `dnsctl records
//!   add` and the daemon's records file;
//! - [`metrics`]: every metric at `/metrics`, its name, kind, unit and help.
//!
//! Pure: no sockets, no runtime. The `clap` feature (for `dnsctl` only) makes
//! [`records::RecordKind`] a command-line value.

// Tests unwrap freely: a panic there is a failed test, not a crash.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod import;
mod json;
pub mod leases6;
pub mod metrics;
pub mod records;
pub mod rollback;

pub use json::*;
