//! Fault injection under load, in the manner of Jepsen: real DHCP and DNS
//! traffic from simulated clients on the netns testbed, faults injected into
//! the running cluster, and a checker that reads every reply the clients saw
//! and every lease the cluster holds afterwards.
//!
//! - [`history`]: what the clients saw, stamped with the wall clock;
//! - [`dhcp_load`], [`dns_load`]: the load generators; [`real_clients`]:
//!   dhclient and udhcpc events as records;
//! - [`inject`]: the faults, injected and healed on a [`crate::testbed_cluster::TestbedCluster`];
//! - [`checker`]: the invariants; [`measure`]: the per-fault numbers;
//! - [`campaign`]: runs a schedule of faults on one cluster.

pub mod campaign;
pub mod checker;
pub mod dhcp_load;
pub mod dns_load;
pub mod history;
pub mod inject;
pub mod measure;
pub mod real_clients;
