//! DHCPv6 state (RFC 8415 IA_NA leases), kept in its own table beside the
//! v4 [`LeaseTable`](crate::LeaseTable) so that v4 changes (several networks)
//! and v6 ones touch different code. Only names cross over: one name, one
//! owner across v4 and v6 (see [`V6Leases`]'s `grant_name`).

mod table;
mod types;

#[cfg(test)]
mod tests;

pub use table::{V6Leases, V6NameHolder, V6NameIndex, apply_all_both, apply_both, apply_with};
pub use types::{Duid, V6Binding, V6Lease, V6LeaseRequest, V6Range, V6Want};
