//! Hostnames of leases: which name a client may have under the cluster policy
//! (reservations first, then suffix or reject for a taken name), and the names
//! the zone keeps for itself, which no lease takes.

use std::net::Ipv4Addr;

use crate::settings::HostnamePolicy;

use super::LeaseTable;
use crate::names::{normalize_hostname, suffixed};
use crate::records::normalize_dns_name;
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
        if let Some(&owner) = self.reserved_names.get(name)
            && owner != mac
        {
            let address = self.reservations.get(&owner)?.address;
            return Some((ClientId::from_mac(owner), address));
        }
        self.v6_name_owner(name, mac)
            .or_else(|| self.domain_name_owner(name, mac))
    }

    /// The owner of `name` in another network of this domain (lent for this
    /// command, see `lent_domain`): its bound lease, its reservation, or the
    /// DHCPv6 lease of another machine the default network holds. Another
    /// network's lease or reservation owns the name whatever its MAC: two
    /// tables never hold one name, so DNS has one answer for it.
    pub(super) fn domain_name_owner(
        &self,
        name: &str,
        mac: MacAddr,
    ) -> Option<(ClientId, Ipv4Addr)> {
        self.lent_domain.iter().find_map(|other| {
            if let Some(&(address, _)) = other.by_name.get(name)
                && let Some(lease) = other.leases.get(&address)
            {
                return Some((lease.client_id.clone(), address));
            }
            if let Some(&owner) = other.reserved_names.get(name) {
                let address = other.reservations.get(&owner)?.address;
                return Some((ClientId::from_mac(owner), address));
            }
            other.v6_name_owner(name, mac)
        })
    }

    /// Whether another network of this domain (lent) holds `name` in any
    /// way: a lease, a reservation, or a DHCPv6 lease beside it.
    fn held_in_domain(&self, name: &str) -> bool {
        self.lent_domain
            .iter()
            .any(|other| other.names.contains(name) || other.lent_v6_names.contains_key(name))
    }

    /// How many names the other networks of this domain hold: a bound for
    /// the suffix walk.
    fn domain_name_count(&self) -> usize {
        self.lent_domain
            .iter()
            .map(|other| other.names.len() + other.lent_v6_names.len())
            .sum()
    }

    /// The owner of `name` among the DHCPv6 leases (lent for this command,
    /// see `lent_v6_names`), unless it is the same machine. A v6 owner has
    /// no IPv4 address: the conflict shows 0.0.0.0 and the owner's MAC, or
    /// no client when its DUID names no MAC.
    pub(super) fn v6_name_owner(&self, name: &str, mac: MacAddr) -> Option<(ClientId, Ipv4Addr)> {
        let holder = self.lent_v6_names.get(name)?;
        if holder.mac == Some(mac) {
            return None;
        }
        let owner = holder.mac.map_or(ClientId(Vec::new()), ClientId::from_mac);
        Some((owner, Ipv4Addr::UNSPECIFIED))
    }

    /// Whether `name` is free for the client with `mac` in both families:
    /// no other client's v4 lease or reservation, no other machine's v6
    /// lease, not the zone's.
    pub(crate) fn name_free_for(&self, name: &str, mac: Option<MacAddr>) -> bool {
        if self.is_zone_name(name) || self.held_in_domain(name) {
            return false;
        }
        if let Some(&(address, _)) = self.by_name.get(name)
            && let Some(lease) = self.leases.get(&address)
            && Some(lease.mac) != mac
        {
            return false;
        }
        self.reserved_names
            .get(name)
            .is_none_or(|&owner| Some(owner) == mac)
    }

    /// The first `desired-N` free in both families. The v4 index answers in
    /// one lookup per digit count; only when a v6 lease holds that name does
    /// it probe on, at most once per name held, so the walk is bounded.
    pub(crate) fn first_free_suffixed_both(
        &self,
        desired: &str,
        v6_holds: impl Fn(&str) -> bool,
        v6_count: usize,
    ) -> Option<String> {
        let first = self.names.first_free_suffixed(desired)?;
        if !v6_holds(&first) {
            return Some(first);
        }
        // Each name held in either family rules out at most one candidate.
        let bound = u32::try_from(self.names.len() + v6_count + 2).unwrap_or(u32::MAX);
        (2..=bound)
            .map(|n| suffixed(desired, n))
            .find(|name| !self.names.contains(name) && !v6_holds(name) && !self.is_zone_name(name))
    }

    /// Whether `label` under the cluster domain is the zone's own: the owner of
    /// a static record, or a name server's host name (`ns1`, `ns2`, ...: the
    /// daemon names each host's NS `ns<node id>`, and node ids are not in the
    /// state machine, so every `ns<digits>` is kept). A lease never takes such
    /// a name, whatever the policy: DNS would answer the lease's address
    /// beside the operator's records (dnsmasq likewise refuses a DHCP name
    /// that `/etc/hosts` has). A single label can never be the apex itself.
    pub(crate) fn is_zone_name(&self, label: &str) -> bool {
        let domain = self.settings.as_ref().map_or("", |s| s.domain.as_str());
        let owner = format!("{label}.{domain}");
        is_name_server_label(label)
            || !self.records.named(&owner).is_empty()
            || self
                .lent_domain
                .iter()
                .any(|other| !other.records.named(&owner).is_empty())
    }

    /// A static record was added under `record_name`: if that is a lease's
    /// name, the lease keeps its address but loses the name (the operator's
    /// record wins, as it does in DNS), and the conflict is recorded so the
    /// operator sees whose name went.
    pub(super) fn yield_name_to_record(&mut self, record_name: &str) {
        let Some(domain) = self
            .settings
            .as_ref()
            .map(|s| s.domain.to_ascii_lowercase())
        else {
            return;
        };
        let Ok(name) = normalize_dns_name(record_name) else {
            return;
        };
        let Some(label) = name.strip_suffix(&format!(".{domain}")) else {
            return;
        };
        let Some(&(address, _)) = self.by_name.get(label) else {
            return;
        };
        let Some(mut lease) = self.remove_lease(address) else {
            return;
        };
        if let Some(name) = lease.granted_name.take() {
            let claimant = (&lease.client_id, lease.mac, address);
            let conflict = zone_conflict(name, claimant, self.last_now);
            self.record_conflict(conflict);
        }
        self.insert_lease(lease);
    }

    /// Grants `desired` or, if someone else holds it, applies the policy and
    /// records the conflict. The claimant's own old lease is already gone. A
    /// name of the zone's own ([`Self::is_zone_name`]) is never granted: the
    /// conflict is recorded with no owner client (see [`zone_conflict`]).
    pub(super) fn grant_name(
        &mut self,
        policy: HostnamePolicy,
        desired: Option<String>,
        claimant: (&ClientId, MacAddr, Ipv4Addr),
        now: Millis,
    ) -> Option<String> {
        let desired = desired?;
        if self.is_zone_name(&desired) {
            self.record_conflict(zone_conflict(desired, claimant, now));
            return None;
        }
        let Some((owner, owner_address)) = self.name_owner(&desired, claimant.1) else {
            return Some(desired);
        };
        let instead = match policy {
            HostnamePolicy::Suffix => {
                // Taken elsewhere: by a v6 lease, or in another network
                // of the domain.
                let v6 = &self.lent_v6_names;
                let taken = |n: &str| v6.contains_key(n) || self.held_in_domain(n);
                let count = v6.len() + self.domain_name_count();
                self.first_free_suffixed_both(&desired, taken, count)
            }
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

/// `ns` and a decimal number: the name server host names the daemon publishes.
pub(crate) fn is_name_server_label(label: &str) -> bool {
    label
        .strip_prefix("ns")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A conflict with the zone itself (a static record or a name server): there
/// is no owner client, so `owner` is empty and `owner_address` 0.0.0.0, which
/// the admin API shows as "held by the zone" (a conflict's stored form is
/// part of the snapshot format, so it gains no field).
pub(super) fn zone_conflict(
    name: String,
    claimant: (&ClientId, MacAddr, Ipv4Addr),
    now: Millis,
) -> HostnameConflict {
    HostnameConflict {
        name,
        owner: ClientId(Vec::new()),
        owner_address: Ipv4Addr::UNSPECIFIED,
        claimant: claimant.0.clone(),
        claimant_mac: claimant.1,
        claimant_address: claimant.2,
        granted_instead: None,
        at: now,
    }
}
