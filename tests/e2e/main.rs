//! End-to-end tests: real `raftmasq` processes (and, for DHCP/DNS, real clients
//! in network namespaces). One test binary, a module per area.

mod attacker;
mod cert_rotation;
mod check;
mod crash;
mod cutover;
mod dashboard;
mod demo;
mod dhcp;
mod dhcp6;
mod dhcp6_dhcpcd;
mod dhcp6_failover;
mod dhcp6_stateless;
mod dhcp_edges;
mod dhcp_failover;
mod dhcp_security;
mod dns;
mod dns_servers;
mod dns_tsig;
mod dns_v6_transfer;
mod dnsctl;
mod dnsctl_import;
mod export;
mod failover_bench;
mod faults;
mod ipv6;
mod learners;
mod limits;
mod live_settings;
mod lxd;
mod lxd_ipv6;
mod metrics;
mod migrate;
mod network_records;
mod network_settings;
mod networkd;
mod networks;
mod package;
mod records_file;
mod relay;
mod service;
mod shared_domain;
mod testbed;

use std::path::Path;

/// The daemon binary cargo built for this test run.
fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_raftmasq"))
}
