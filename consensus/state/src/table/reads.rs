//! Read-only queries over the table, for DHCP, DNS and the admin API.

use std::net::Ipv4Addr;

use crate::settings::ClusterSettings;

use super::{LeaseTable, PoolStats, PreviousLease};
use crate::names::lowercase_key;
use crate::types::{ClientId, HostnameConflict, Lease, MacAddr, Millis, Reservation, StaticRecord};

impl LeaseTable {
    pub fn settings(&self) -> Option<&ClusterSettings> {
        self.settings.as_ref()
    }

    /// The cluster's duplicate-hostname policy (`suffix` before `Initialize`).
    pub fn hostname_policy(&self) -> crate::settings::HostnamePolicy {
        self.settings
            .as_ref()
            .map_or(crate::settings::HostnamePolicy::Suffix, |s| {
                s.duplicate_hostnames
            })
    }

    pub fn is_initialized(&self) -> bool {
        self.settings.is_some()
    }

    /// When the earliest lease or quarantine ends, if any: the leader proposes
    /// an `Expire` then, so names and addresses are freed on every replica.
    pub fn next_expiry(&self) -> Option<Millis> {
        let lease = self.lease_expiry.first().map(|(at, _)| *at);
        let quarantine = self.quarantine_expiry.first().map(|(at, _)| *at);
        match (lease, quarantine) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The latest (clamped) time the table has seen.
    pub fn last_now(&self) -> Millis {
        self.last_now
    }

    pub fn lease_by_address(&self, address: Ipv4Addr) -> Option<&Lease> {
        self.leases.get(&address)
    }

    pub fn lease_by_client(&self, client: &ClientId) -> Option<&Lease> {
        self.by_client.get(client).and_then(|a| self.leases.get(a))
    }

    /// All leases, ordered by address. Includes leases that ended after the last
    /// command was applied; compare `expires_at` with the reader's clock if that
    /// matters.
    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.leases.values()
    }

    /// The address of the bound lease holding DNS label `label` (case-insensitive).
    pub fn address_of_name(&self, label: &str) -> Option<Ipv4Addr> {
        self.named_lease(label).map(|(address, _)| address)
    }

    /// Address and expiry of the bound lease named `label` (case-insensitive).
    fn named_lease(&self, label: &str) -> Option<(Ipv4Addr, Millis)> {
        self.by_name.get(lowercase_key(label).as_ref()).copied()
    }

    /// Like `address_of_name`, but ignores a lease that ended by `now` and has
    /// not been dropped yet (no command carrying a later time applied since).
    pub fn address_of_name_at(&self, label: &str, now: Millis) -> Option<Ipv4Addr> {
        let (address, expires_at) = self.named_lease(label)?;
        (expires_at > now).then_some(address)
    }

    /// The name of the lease bound to `address` that has not ended by `now`.
    pub fn name_of_address_at(&self, address: Ipv4Addr, now: Millis) -> Option<&str> {
        let (name, expires_at) = self.name_by_address.get(&address)?;
        (*expires_at > now).then_some(name.as_str())
    }

    /// The name an integration gave `mac` (`NameMac`).
    pub fn name_of_mac(&self, mac: MacAddr) -> Option<&str> {
        self.mac_names.get(&mac).map(String::as_str)
    }

    /// Whether a machine is named below `parent` (`c1.web` below `web`): then
    /// `parent` is an empty non-terminal of the zone, not a name that does
    /// not exist (RFC 8020). A walk of the integration's names, done only
    /// for a name that has nothing of its own.
    pub fn has_machine_name_under(&self, parent: &str) -> bool {
        self.mac_names.values().any(|name| {
            name.strip_suffix(parent)
                .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
        })
    }

    pub fn reservation_for_mac(&self, mac: MacAddr) -> Option<&Reservation> {
        self.reservations.get(&mac)
    }

    pub fn reservation_for_address(&self, address: Ipv4Addr) -> Option<&Reservation> {
        self.reserved_by_address
            .get(&address)
            .and_then(|mac| self.reservations.get(mac))
    }

    /// All reservations, ordered by MAC.
    pub fn reservations(&self) -> impl Iterator<Item = &Reservation> {
        self.reservations.values()
    }

    /// Declined addresses and the end of their quarantine, ordered by address.
    pub fn quarantined(&self) -> impl Iterator<Item = (Ipv4Addr, Millis)> + '_ {
        self.quarantine.iter().map(|(&a, &until)| (a, until))
    }

    /// All static records, ordered by name.
    pub fn records(&self) -> impl Iterator<Item = &StaticRecord> {
        self.records.iter()
    }

    /// Static records owned by `name` (case-insensitive, trailing dot optional).
    pub fn records_named(&self, name: &str) -> &[StaticRecord] {
        self.records.named(name)
    }

    /// The most recent hostname conflicts (at most `MAX_CONFLICTS`), oldest first.
    pub fn conflicts(&self) -> impl Iterator<Item = &HostnameConflict> {
        self.conflicts.iter()
    }

    /// The address the client held before, if remembered.
    pub fn previous_lease(&self, client: &ClientId) -> Option<&PreviousLease> {
        self.previous.get(client)
    }

    pub fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.settings.as_ref().map_or(0, |s| s.pool_size()),
            bound: self.bound_count,
            offered: self.offered_count,
            reserved: self.reservations.len() as u64,
            quarantined: self.quarantine.len() as u64,
            free: self.free.len(),
        }
    }
}
