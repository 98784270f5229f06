//! The replicated state machine of raftmasq: leases, reservations, hostnames and
//! static DNS records. Pure and deterministic: no I/O, no clock, no randomness;
//! time rides in each command, stamped by the leader.
//!
//! [`LeaseTable::apply`] is the only writer; the openraft state machine locks the
//! table, applies the commands of each committed entry (a [`Proposal`]: one
//! command, or a batch of them) and persists snapshots (the table
//! implements `Serialize`/`Deserialize`, holding only primary data). The read
//! API serves DNS (`address_of_name`, `records_named`), the DHCP server
//! (`candidate_addresses`, `is_available_to`, `lease_by_client`) and `dnsctl`.
//! See `DESIGN.md` for why it is shaped this way.

mod candidates;
pub mod command;
mod names;
pub mod network_addresses;
pub mod networks;
mod pool;
pub mod proposal;
mod records;
pub mod settings;
mod snapshot;
mod table;
pub mod types;
pub mod v6;

#[cfg(test)]
mod tests;

pub use command::{Command, LeaseRequest, MAX_LISTED_STRANDED, Rejection, Response, StrandedLease};
pub use names::{
    MAX_LABEL_LEN, is_valid_host_name, is_valid_label, normalize_hostname, normalize_machine_name,
};
pub use network_addresses::NetworkAddresses;
pub use networks::{DEFAULT_NETWORK, OtherNetworks, is_valid_network_name};
pub use proposal::Proposal;
pub use records::normalize_dns_name;
pub use settings::{
    AddressRange, ClientIdentity, ClusterSettings, HostnamePolicy, MAX_RANGES, OneRangeSettings,
    ranges_problem, ranges_text,
};
pub use snapshot::{OneRangeTable, SnapshotError};
pub use table::{LeaseTable, MAX_CONFLICTS, PoolStats, PreviousLease, fixed_key_reason};
pub use types::*;
