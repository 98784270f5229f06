//! `ChangeSettings`: the cluster-wide settings of a running cluster.
//!
//! What may change, and why the rest may not:
//! - the ranges grow, move, shrink, are added or removed (down to none), but
//!   never leave a live lease outside every range (the lease's holder would keep an address the pool no longer owns,
//!   and a later range could hand it out twice); a reserved address may lie
//!   outside the range, so a lease on its own reservation never blocks;
//! - the lease time applies to the next grant or renewal; leases already
//!   granted keep their expiry (`bind_at` and `renew` never shorten one);
//! - the hostname policy applies to the next name granted, the quarantine to
//!   the next decline;
//! - the subnet, the domain and the client identity are fixed: see
//!   [`fixed_key_reason`];
//! - a change made from settings another change has replaced since is
//!   refused (`based_on`), so one key set through one node and another
//!   through a second node at once cannot undo each other.

use super::{LeaseTable, validate_settings};
use crate::command::{MAX_LISTED_STRANDED, Rejection, Response, StrandedLease};
use crate::pool::IntervalSet;
use crate::settings::ClusterSettings;
use crate::types::{LeaseState, Millis};

/// Why a key cannot change while the cluster runs, if it cannot.
pub fn fixed_key_reason(key: &str) -> Option<&'static str> {
    match key {
        "dhcp.subnet" => Some(
            "every host's bridge address and router, every reservation and every address \
             clients hold are numbered in it; renumbering is a new cluster",
        ),
        "dns.domain" => Some(
            "clients keep it as their search domain until they renew, the office DNS forwards \
             it, and static records are written under it; a new domain is a new cluster",
        ),
        "dhcp.client_identity" => {
            Some("leases are keyed on it: clients' renewals would no longer find their leases")
        }
        _ => None,
    }
}

/// Checks `new` against `old` as a live change: fixed keys unchanged (said
/// first, as the more useful answer), valid on its own, every range inside the
/// subnet and off its network and broadcast addresses.
pub(crate) fn check_change(old: &ClusterSettings, new: &ClusterSettings) -> Result<(), Rejection> {
    for key in old.differing_keys(new) {
        if let Some(reason) = fixed_key_reason(key) {
            return Err(Rejection::SettingFixed {
                key: key.to_string(),
                reason: reason.to_string(),
            });
        }
    }
    validate_settings(new).map_err(Rejection::InvalidSettings)?;
    let subnet = new.subnet;
    if subnet.prefix_len() < 31 {
        for (address, what) in [
            (subnet.network(), "the network address"),
            (subnet.broadcast(), "the broadcast address"),
        ] {
            if let Some(range) = new.ranges.iter().find(|r| r.contains(address)) {
                return Err(Rejection::InvalidSettings(format!(
                    "range {range} contains {address}, {what}"
                )));
            }
        }
    }
    Ok(())
}

impl LeaseTable {
    pub(super) fn change_settings(
        &mut self,
        new: &ClusterSettings,
        now: Millis,
        based_on: Option<&ClusterSettings>,
    ) -> Result<Response, Rejection> {
        let old = self.settings.clone().ok_or(Rejection::NotInitialized)?;
        // Leases due by now are gone first, so they block nothing.
        self.advance(now);
        if based_on.is_some_and(|base| *base != old) {
            return Err(Rejection::SettingsChangedMeanwhile);
        }
        check_change(&old, new)?;
        // The domain compares without case (as DNS does): the one written
        // first stays, so a change of case alone changes nothing.
        let mut new = new.clone();
        new.domain.clone_from(&old.domain);
        let new = &new;
        let stranded = self.stranded_by(new);
        if !stranded.is_empty() {
            let total = stranded.len();
            return Err(Rejection::RangeStrandsLeases {
                ranges: new.ranges.clone(),
                leases: stranded.into_iter().take(MAX_LISTED_STRANDED).collect(),
                total,
            });
        }
        self.settings = Some(new.clone());
        if old.ranges != new.ranges {
            self.rebuild_pool();
        }
        Ok(Response::Done)
    }

    /// Live leases (bound or offered) outside every range of `new` that are
    /// not on their own reservation, by address. A walk of the leases:
    /// settings change seldom, and only an operator asks.
    fn stranded_by(&self, new: &ClusterSettings) -> Vec<StrandedLease> {
        self.leases
            .values()
            .filter(|lease| !new.in_pool(lease.address))
            .filter(|lease| self.reserved_by_address.get(&lease.address) != Some(&lease.mac))
            .map(|lease| StrandedLease {
                address: lease.address,
                mac: lease.mac,
                client_id: lease.client_id.clone(),
                name: lease
                    .granted_name
                    .clone()
                    .filter(|_| lease.state == LeaseState::Bound),
                expires_at: lease.expires_at,
            })
            .collect()
    }

    /// The free pool from the rule (in a range, not leased, reserved or
    /// quarantined), built as runs: O(n log n) in the table's entries, not in
    /// the ranges' size, so a /8 costs what its leases cost.
    pub(super) fn rebuild_pool(&mut self) {
        let Some(settings) = &self.settings else {
            return;
        };
        let mut free = IntervalSet::default();
        for range in &settings.ranges {
            free.insert_range(range.start.into(), range.end.into());
        }
        let taken = self
            .leases
            .keys()
            .chain(self.reserved_by_address.keys())
            .chain(self.quarantine.keys());
        for &address in taken {
            if settings.in_pool(address) {
                free.remove(address.into());
            }
        }
        self.free = free;
    }
}

#[cfg(test)]
mod tests;
