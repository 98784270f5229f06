//! What the decision reads from the replicated lease table.
//!
//! A trait rather than `LeaseTable` itself so that the decision core is tested
//! against a small fake and does not depend on the table's internals;
//! `LeaseTable` implements it with inherent methods of the same names.

use std::net::Ipv4Addr;

use raftmasq_state::{
    ClientId, ClusterSettings, Lease, LeaseRequest, MacAddr, Millis, Reservation,
};

pub trait LeaseView {
    /// `None` until the cluster has been initialised.
    fn settings(&self) -> Option<&ClusterSettings>;
    fn lease_by_client(&self, client: &ClientId) -> Option<&Lease>;
    fn lease_by_address(&self, address: Ipv4Addr) -> Option<&Lease>;
    fn reservation_for_mac(&self, mac: MacAddr) -> Option<&Reservation>;
    /// Addresses this client could be offered, best first (reservation, current
    /// lease, requested hint, previous address, then free ones ascending);
    /// each step O(log n).
    fn candidate_addresses<'a>(
        &'a self,
        request: &LeaseRequest,
        now: Millis,
    ) -> Box<dyn Iterator<Item = Ipv4Addr> + 'a>;
    /// As `candidate_addresses`, without the free addresses below `from`.
    fn candidate_addresses_from<'a>(
        &'a self,
        request: &LeaseRequest,
        now: Millis,
        from: Ipv4Addr,
    ) -> Box<dyn Iterator<Item = Ipv4Addr> + 'a>;
    /// Would a strict Bind of `address` for this client succeed at `now`?
    fn is_available_to(
        &self,
        client: &ClientId,
        mac: MacAddr,
        address: Ipv4Addr,
        now: Millis,
    ) -> bool;
}

/// The replicated table is the production view.
impl LeaseView for raftmasq_state::LeaseTable {
    fn settings(&self) -> Option<&ClusterSettings> {
        raftmasq_state::LeaseTable::settings(self)
    }

    fn lease_by_client(&self, client: &ClientId) -> Option<&Lease> {
        raftmasq_state::LeaseTable::lease_by_client(self, client)
    }

    fn lease_by_address(&self, address: Ipv4Addr) -> Option<&Lease> {
        raftmasq_state::LeaseTable::lease_by_address(self, address)
    }

    fn reservation_for_mac(&self, mac: MacAddr) -> Option<&Reservation> {
        raftmasq_state::LeaseTable::reservation_for_mac(self, mac)
    }

    fn candidate_addresses<'a>(
        &'a self,
        request: &LeaseRequest,
        now: Millis,
    ) -> Box<dyn Iterator<Item = Ipv4Addr> + 'a> {
        Box::new(raftmasq_state::LeaseTable::candidate_addresses(
            self, request, now,
        ))
    }

    fn candidate_addresses_from<'a>(
        &'a self,
        request: &LeaseRequest,
        now: Millis,
        from: Ipv4Addr,
    ) -> Box<dyn Iterator<Item = Ipv4Addr> + 'a> {
        Box::new(raftmasq_state::LeaseTable::candidate_addresses_from(
            self, request, now, from,
        ))
    }

    fn is_available_to(
        &self,
        client: &ClientId,
        mac: MacAddr,
        address: Ipv4Addr,
        now: Millis,
    ) -> bool {
        raftmasq_state::LeaseTable::is_available_to(self, client, mac, address, now)
    }
}
