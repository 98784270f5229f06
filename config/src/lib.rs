//! raftmasq configuration: one TOML file per host, parsed strictly and validated
//! with errors that name the file, the key and the reason.

pub mod cluster;

pub use cluster::{AddressRange, ClusterSettings, HostnamePolicy};
