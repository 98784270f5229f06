//! Reserve and Unreserve: a fixed address (and optionally a name) for a MAC.

use super::LeaseTable;
use crate::command::{Rejection, Response};
use crate::names::normalize_hostname;
use crate::types::{MacAddr, Reservation};

impl LeaseTable {
    pub(super) fn reserve(&mut self, reservation: &Reservation) -> Result<Response, Rejection> {
        let limits = self.limits()?;
        // Leases that ended by the last command's time are stale, not conflicts.
        self.expire_due(self.last_now);
        let (mac, address) = (reservation.mac, reservation.address);
        if !limits.subnet.contains(&address) {
            return Err(Rejection::OutsideSubnet { address });
        }
        if let Some(existing) = self.reservations.get(&mac) {
            return Err(Rejection::DuplicateReservation {
                mac,
                address: existing.address,
            });
        }
        if let Some(&other) = self.reserved_by_address.get(&address) {
            return Err(Rejection::AddressReserved {
                address,
                mac: other,
            });
        }
        if let Some(lease) = self.leases.get(&address)
            && lease.mac != mac
        {
            return Err(Rejection::AddressLeased {
                address,
                client: lease.client_id.clone(),
            });
        }
        let hostname = match &reservation.hostname {
            None => None,
            Some(raw) => {
                let name = normalize_hostname(raw)
                    .filter(|n| n.len() == raw.len())
                    .ok_or_else(|| Rejection::InvalidHostname { name: raw.clone() })?;
                if let Some(&other) = self.reserved_names.get(&name) {
                    return Err(Rejection::HostnameReserved { name, mac: other });
                }
                if let Some(holder) = self
                    .by_name
                    .get(name.as_str())
                    .and_then(|(a, _)| self.leases.get(a))
                    && holder.mac != mac
                {
                    return Err(Rejection::HostnameInUse {
                        name,
                        client: holder.client_id.clone(),
                    });
                }
                // One name, one owner across both families: another
                // machine's DHCPv6 lease holds it.
                if let Some((client, _)) = self.v6_name_owner(&name, mac) {
                    return Err(Rejection::HostnameInUse { name, client });
                }
                // Names are unique per domain: another network of this
                // domain holds it (reserved there, or leased).
                if let Some(other) = self
                    .lent_domain
                    .iter()
                    .find_map(|other| other.reserved_names.get(&name))
                {
                    return Err(Rejection::HostnameReserved { name, mac: *other });
                }
                if let Some((client, _)) = self.domain_name_owner(&name, mac) {
                    return Err(Rejection::HostnameInUse { name, client });
                }
                Some(name)
            }
        };
        self.insert_reservation(Reservation {
            mac,
            address,
            hostname,
        });
        Ok(Response::Done)
    }

    pub(super) fn unreserve(&mut self, mac: MacAddr) -> Result<Response, Rejection> {
        let reservation = self
            .reservations
            .remove(&mac)
            .ok_or(Rejection::NoSuchReservation { mac })?;
        self.reserved_by_address.remove(&reservation.address);
        if let Some(name) = &reservation.hostname {
            self.reserved_names.remove(name);
            self.names.remove(name);
        }
        self.refresh_pool(reservation.address);
        Ok(Response::Done)
    }
}
