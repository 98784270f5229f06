//! raftmasq's DNS server. Every host answers for the cluster domain and the
//! subnet's reverse zone from its own replica of the lease table, forwards
//! other names for allowed clients, and feeds secondaries by AXFR and NOTIFY.
//!
//! Shape (see `DESIGN.md`): `answer` turns request bytes into responses,
//! `lookup` answers from a borrowed table and the caller's clock, `transfer`
//! lists a zone for AXFR; `server`, `forward` and `notify` do the I/O.

mod answer;
mod cache;
mod config;
mod error;
mod fast;
mod forward;
mod lookup;
mod notify;
mod rrs;
mod server;
mod source;
mod stats;
mod transfer;
mod udp;
mod zones;

pub use config::{DEFAULT_UDP_PAYLOAD, DnsServerConfig};
pub use error::DnsError;
pub use server::{Clock, DnsServer};
pub use source::{MemoryZoneSource, ZoneSource};
pub use stats::register_metrics;
