//! Index maintenance: the only code that touches leases, reservations,
//! quarantines and the free pool, keeping every derived index in step with
//! the primary data (snapshot loading goes through the same functions).

use std::net::Ipv4Addr;

use super::{LeaseTable, MAX_CONFLICTS, PreviousLease};
use crate::types::{HostnameConflict, Lease, LeaseState, Millis, Reservation};

impl LeaseTable {
    /// Makes `address`'s membership of the free pool match the rule: in the
    /// range, not leased, not reserved, not quarantined.
    pub(super) fn refresh_pool(&mut self, address: Ipv4Addr) {
        let Some(settings) = &self.settings else {
            return;
        };
        let free = settings.in_pool(address)
            && !self.leases.contains_key(&address)
            && !self.reserved_by_address.contains_key(&address)
            && !self.quarantine.contains_key(&address);
        if free {
            self.free.insert(address.into());
        } else {
            self.free.remove(address.into());
        }
    }

    pub(crate) fn insert_lease(&mut self, lease: Lease) {
        let address = lease.address;
        debug_assert!(!self.leases.contains_key(&address));
        debug_assert!(!self.by_client.contains_key(&lease.client_id));
        self.by_client.insert(lease.client_id.clone(), address);
        self.lease_expiry.insert((lease.expires_at, address));
        match lease.state {
            LeaseState::Bound => {
                self.bound_count += 1;
                if let Some(name) = &lease.granted_name {
                    self.by_name
                        .insert(name.as_str().into(), (address, lease.expires_at));
                    self.name_by_address
                        .insert(address, (name.as_str().into(), lease.expires_at));
                    self.names.add(name);
                }
            }
            LeaseState::Offered => self.offered_count += 1,
        }
        self.leases.insert(address, lease);
        self.refresh_pool(address);
    }

    pub(super) fn remove_lease(&mut self, address: Ipv4Addr) -> Option<Lease> {
        let lease = self.leases.remove(&address)?;
        self.by_client.remove(&lease.client_id);
        self.lease_expiry.remove(&(lease.expires_at, address));
        match lease.state {
            LeaseState::Bound => {
                self.bound_count -= 1;
                if let Some(name) = &lease.granted_name {
                    self.by_name.remove(name.as_str());
                    self.name_by_address.remove(&address);
                    self.names.remove(name);
                }
            }
            LeaseState::Offered => self.offered_count -= 1,
        }
        self.refresh_pool(address);
        Some(lease)
    }

    pub(crate) fn insert_reservation(&mut self, reservation: Reservation) {
        let address = reservation.address;
        self.reserved_by_address.insert(address, reservation.mac);
        if let Some(name) = &reservation.hostname {
            self.reserved_names.insert(name.clone(), reservation.mac);
            self.names.add(name);
        }
        self.reservations.insert(reservation.mac, reservation);
        self.refresh_pool(address);
    }

    pub(crate) fn insert_quarantine(&mut self, address: Ipv4Addr, until: Millis) {
        self.quarantine.insert(address, until);
        self.quarantine_expiry.insert((until, address));
        self.refresh_pool(address);
    }

    pub(crate) fn remember(&mut self, lease: &Lease) {
        let memory = PreviousLease {
            address: lease.address,
            mac: lease.mac,
            requested_hostname: lease.requested_hostname.clone(),
        };
        let client = &lease.client_id;
        if let Some(old) = self.previous.insert(client.clone(), memory)
            && self.previous_by_address.get(&old.address) == Some(client)
        {
            self.previous_by_address.remove(&old.address);
        }
        if let Some(other) = self
            .previous_by_address
            .insert(lease.address, client.clone())
            && other != *client
        {
            self.previous.remove(&other);
        }
    }

    pub(super) fn forget_address(&mut self, address: Ipv4Addr) {
        if let Some(client) = self.previous_by_address.remove(&address) {
            self.previous.remove(&client);
        }
    }

    pub(super) fn record_conflict(&mut self, conflict: HostnameConflict) {
        if self.conflicts.len() == MAX_CONFLICTS {
            self.conflicts.pop_front();
        }
        self.conflicts.push_back(conflict);
    }
}
