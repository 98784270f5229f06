//! Hostnames of leases: which name a client may have under the cluster policy
//! (reservations first, then suffix or reject for a taken name).

use std::net::Ipv4Addr;

use crate::settings::HostnamePolicy;

use super::LeaseTable;
use crate::names::normalize_hostname;
use crate::types::{ClientId, HostnameConflict, MacAddr, Millis};

impl LeaseTable {
    /// The label a client should get: its reservation's hostname if it has one
    /// (as dnsmasq's `dhcp-host=mac,ip,name`), else its own, normalised.
    pub(super) fn desired_name(&self, mac: MacAddr, hostname: Option<&str>) -> Option<String> {
        if let Some(name) = self.reservations.get(&mac).and_then(|r| r.hostname.clone()) {
            return Some(name);
        }
        if let Some(name) = self.mac_names.get(&mac) {
            return Some(name.clone());
        }
        hostname.and_then(normalize_hostname)
    }

    /// Who holds `name` if not the client with `mac`: a bound lease, or a
    /// reservation for another MAC.
    fn name_owner(&self, name: &str, mac: MacAddr) -> Option<(ClientId, Ipv4Addr)> {
        if let Some(&(address, _)) = self.by_name.get(name)
            && let Some(lease) = self.leases.get(&address)
        {
            return Some((lease.client_id.clone(), address));
        }
        let owner = *self.reserved_names.get(name)?;
        if owner == mac {
            return None;
        }
        let address = self.reservations.get(&owner)?.address;
        Some((ClientId::from_mac(owner), address))
    }

    /// Grants `desired` or, if someone else holds it, applies the policy and
    /// records the conflict. The claimant's own old lease is already gone.
    pub(super) fn grant_name(
        &mut self,
        policy: HostnamePolicy,
        desired: Option<String>,
        claimant: (&ClientId, MacAddr, Ipv4Addr),
        now: Millis,
    ) -> Option<String> {
        let desired = desired?;
        let Some((owner, owner_address)) = self.name_owner(&desired, claimant.1) else {
            return Some(desired);
        };
        let instead = match policy {
            HostnamePolicy::Suffix => self.names.first_free_suffixed(&desired),
            HostnamePolicy::Reject => None,
        };
        self.record_conflict(HostnameConflict {
            name: desired,
            owner,
            owner_address,
            claimant: claimant.0.clone(),
            claimant_mac: claimant.1,
            claimant_address: claimant.2,
            granted_instead: instead.clone(),
            at: now,
        });
        instead
    }
}
