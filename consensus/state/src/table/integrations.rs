//! NameMac and ForgetMac: an integration (LXD) names a machine by its MAC,
//! and forgets it when the machine is deleted.

use std::net::Ipv4Addr;

use super::LeaseTable;
use crate::command::{Rejection, Response};
use crate::names::{is_variant_of, normalize_machine_name};
use crate::types::{LeaseState, MacAddr, Millis};

impl LeaseTable {
    /// The addresses of every lease (bound or offered) of `mac`. A walk of
    /// the leases: integrations name and forget machines rarely.
    fn leases_of_mac(&self, mac: MacAddr) -> Vec<Ipv4Addr> {
        self.leases
            .values()
            .filter(|lease| lease.mac == mac)
            .map(|lease| lease.address)
            .collect()
    }

    pub(super) fn name_mac(
        &mut self,
        mac: MacAddr,
        raw: &str,
        now: Millis,
    ) -> Result<Response, Rejection> {
        let limits = self.limits()?;
        let (now, _) = self.advance(now);
        let name = normalize_machine_name(raw).ok_or_else(|| Rejection::InvalidHostname {
            name: raw.to_string(),
        })?;
        self.mac_names.insert(mac, name);
        // Rename its bound leases that do not carry the name (or a suffixed
        // variant of it) yet: each is taken out, granted the name under the
        // policy, and put back with its times unchanged.
        for address in self.leases_of_mac(mac) {
            let Some(lease) = self.leases.get(&address) else {
                continue;
            };
            let desired = self.desired_name(mac, lease.requested_hostname.as_deref());
            let current = lease.granted_name.as_deref();
            let fits = match (current, desired.as_deref()) {
                (Some(current), Some(desired)) => is_variant_of(current, desired),
                (None, None) => true,
                // The zone keeps that name: granting it again would only
                // record the same conflict on every report of the instance.
                (None, Some(desired)) if self.is_zone_name(desired) => true,
                _ => false,
            };
            if lease.state != LeaseState::Bound || fits {
                continue;
            }
            let Some(mut lease) = self.remove_lease(address) else {
                continue;
            };
            lease.granted_name = self.grant_name(
                limits.policy,
                desired,
                (&lease.client_id.clone(), mac, address),
                now,
            );
            self.insert_lease(lease);
        }
        Ok(Response::Done)
    }

    pub(super) fn forget_mac(&mut self, mac: MacAddr, now: Millis) -> Response {
        self.advance(now);
        self.mac_names.remove(&mac);
        if self.reservations.contains_key(&mac) {
            // Present, so it cannot be rejected.
            let _ = self.unreserve(mac);
        }
        for address in self.leases_of_mac(mac) {
            if let Some(lease) = self.remove_lease(address) {
                if let Some(old) = self.previous.remove(&lease.client_id)
                    && self.previous_by_address.get(&old.address) == Some(&lease.client_id)
                {
                    self.previous_by_address.remove(&old.address);
                }
                self.forget_address(address);
            }
        }
        Response::Done
    }
}
