//! End-to-end tests: real `raftmasq` processes (and, for DHCP/DNS, real clients
//! in network namespaces). One test binary, a module per area.

mod check;
mod crash;
mod cutover;
mod dashboard;
mod demo;
mod dhcp;
mod dhcp_edges;
mod dhcp_failover;
mod dns;
mod dns_servers;
mod dnsctl;
mod dnsctl_import;
mod export;
mod failover_bench;
mod faults;
mod lxd;
mod metrics;
mod migrate;
mod networkd;
mod package;
mod records_file;
mod service;
mod testbed;

use std::path::Path;

/// The daemon binary cargo built for this test run.
fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_raftmasq"))
}
