//! raftmasq's DNS server. Every host answers for the cluster domain and the
//! subnet's reverse zone from its own replica of the lease table, forwards
//! other names for allowed clients, and feeds secondaries by AXFR and NOTIFY.
//!
//! Shape (see `DESIGN.md`): `answer` turns request bytes into responses,
//! `lookup` answers from a borrowed table and the caller's clock, `transfer`
//! lists a zone for AXFR, `tsig` checks and signs TSIG, `rrl` limits UDP
//! answers per client prefix; `server`, `forward` and `notify` do the I/O.

mod answer;
mod cache;
mod config;
mod error;
mod fast;
mod forward;
mod lookup;
mod networks;
mod notify;
mod rrl;
mod rrs;
mod server;
mod slaac;
mod source;
mod stats;
mod transfer;
mod tsig;
mod udp;
mod zones;

pub use config::{DEFAULT_UDP_PAYLOAD, DnsServerConfig, TsigAlgorithmName, TsigKey};
pub use error::DnsError;
pub use networks::network_of_name;
pub use rrl::RateLimit;
pub use server::{Clock, DnsServer};
pub use source::{MemoryZoneSource, NetworksRead, ZoneSource};
pub use stats::register_metrics;
