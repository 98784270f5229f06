//! `V6Leases`: the DHCPv6 IA_NA leases, held beside the v4 `LeaseTable` and
//! written only by [`V6Leases::apply`]. Same shape as the v4 table: primary
//! data (leases, quarantines, the clamped clock) is what snapshots hold, the
//! indexes are rebuilt from it through the same insert functions, and time
//! rides in each command.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize, Serializer};

use super::types::{V6Binding, V6Lease, V6LeaseRequest, V6Range, V6Want};
use crate::command::{Command, Rejection, Response};
use crate::names::normalize_hostname;
use crate::settings::HostnamePolicy;
use crate::table::LeaseTable;
use crate::types::{MacAddr, Millis};

/// The DHCPv6 lease table. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "V6Data")]
pub struct V6Leases {
    // Primary data.
    pub(crate) last_now: Millis,
    leases: BTreeMap<Ipv6Addr, V6Lease>,
    /// Declined address -> end of its quarantine.
    quarantine: BTreeMap<Ipv6Addr, Millis>,
    // Derived indexes.
    by_binding: BTreeMap<V6Binding, Ipv6Addr>,
    pub(crate) by_name: V6NameIndex,
    expiry: BTreeSet<(Millis, Ipv6Addr)>,
    /// The leased addresses as runs of consecutive ones: first -> last.
    leased_runs: BTreeMap<u128, u128>,
}

/// The names v6 leases hold, each with its lease's address and MAC (the MAC
/// says whether a v4 claimant is the same machine).
pub type V6NameIndex = BTreeMap<String, V6NameHolder>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V6NameHolder {
    pub address: Ipv6Addr,
    pub mac: Option<MacAddr>,
}

/// Field order and names are the snapshot form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct V6Data {
    last_now: Millis,
    leases: Vec<V6Lease>,
    quarantine: Vec<(Ipv6Addr, Millis)>,
}

impl Serialize for V6Leases {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        V6Data {
            last_now: self.last_now,
            leases: self.leases.values().cloned().collect(),
            quarantine: self.quarantine.iter().map(|(&a, &t)| (a, t)).collect(),
        }
        .serialize(serializer)
    }
}

impl TryFrom<V6Data> for V6Leases {
    type Error = String;

    fn try_from(data: V6Data) -> Result<Self, String> {
        let mut table = V6Leases {
            last_now: data.last_now,
            ..V6Leases::default()
        };
        for (address, until) in data.quarantine {
            if table.quarantine.insert(address, until).is_some() {
                return Err(format!("{address} quarantined twice"));
            }
        }
        for lease in data.leases {
            if table.leases.contains_key(&lease.address)
                || table.quarantine.contains_key(&lease.address)
            {
                return Err(format!(
                    "{} leased twice or while quarantined",
                    lease.address
                ));
            }
            if table.by_binding.contains_key(&lease.binding) {
                return Err(format!("{} holds two leases", lease.binding.duid));
            }
            if lease
                .name
                .as_ref()
                .is_some_and(|n| table.by_name.contains_key(n))
            {
                return Err(format!("two v6 leases named as {}'s", lease.address));
            }
            table.insert(lease);
        }
        Ok(table)
    }
}

/// Applies one committed command to the tables it concerns: the v6 commands
/// to `v6` (reading `v4` for names), the others to `v4`, and the ones that
/// concern both (`Expire`, `ForgetMac`) to both. The store calls this for
/// every entry, so v4 and v6 apply in one log order.
pub fn apply_both(v4: &mut LeaseTable, v6: &mut V6Leases, command: &Command) -> Response {
    apply_with(v4, v6, command, |v4, command| v4.apply(command))
}

/// [`apply_both`] with the v4 side given: `apply_v4` applies a non-v6
/// command to the v4 state whose `default` table is `v4` (one table, or
/// every network of a cluster with several).
pub fn apply_with(
    v4: &mut LeaseTable,
    v6: &mut V6Leases,
    command: &Command,
    apply_v4: impl FnOnce(&mut LeaseTable, &Command) -> Response,
) -> Response {
    match command {
        Command::BindV6 { .. } | Command::ReleaseV6 { .. } | Command::DeclineV6 { .. } => {
            if !v4.is_initialized() {
                return Response::Rejected {
                    reason: Rejection::NotInitialized,
                };
            }
            v6.apply(command, v4)
        }
        Command::Expire { now } => {
            v6.advance(*now);
            apply_v4_beside(v4, v6, command, apply_v4)
        }
        Command::ForgetMac { mac, now } => {
            v6.advance(*now);
            v6.forget_mac(*mac);
            apply_v4_beside(v4, v6, command, apply_v4)
        }
        _ => apply_v4_beside(v4, v6, command, apply_v4),
    }
}

/// Applies a v4 command with the v6 names lent to the v4 table, so a v4
/// grant never takes a name a v6 lease of another machine holds. The lend
/// is a move both ways (O(1)); the v4 apply does not panic, and the names
/// are back before this returns.
fn apply_v4_beside(
    v4: &mut LeaseTable,
    v6: &mut V6Leases,
    command: &Command,
    apply_v4: impl FnOnce(&mut LeaseTable, &Command) -> Response,
) -> Response {
    v4.lent_v6_names = std::mem::take(&mut v6.by_name);
    let response = apply_v4(v4, command);
    v6.by_name = std::mem::take(&mut v4.lent_v6_names);
    response
}

/// [`apply_both`] over the commands of one entry.
pub fn apply_all_both(
    v4: &mut LeaseTable,
    v6: &mut V6Leases,
    commands: &[Command],
) -> Vec<Response> {
    commands
        .iter()
        .map(|command| apply_both(v4, v6, command))
        .collect()
}

impl V6Leases {
    /// Applies a v6 command; any other command is refused with
    /// [`Rejection::NotAV6Command`] (use [`apply_both`]).
    pub fn apply(&mut self, command: &Command, v4: &LeaseTable) -> Response {
        let result = match command {
            Command::BindV6 {
                request,
                range,
                now,
                lease_time_secs,
            } => self
                .bind(request, *range, *now, *lease_time_secs, v4)
                .map(|lease| Response::LeaseV6 { lease }),
            Command::ReleaseV6 {
                binding,
                address,
                now,
            } => self.release(binding, *address, *now),
            Command::DeclineV6 {
                binding,
                address,
                now,
                quarantine_secs,
            } => self.decline(binding, *address, *now, *quarantine_secs),
            _ => Err(Rejection::NotAV6Command),
        };
        result.unwrap_or_else(|reason| Response::Rejected { reason })
    }

    // ----- reads -----

    pub fn leases(&self) -> impl Iterator<Item = &V6Lease> {
        self.leases.values()
    }

    pub fn lease_by_address(&self, address: Ipv6Addr) -> Option<&V6Lease> {
        self.leases.get(&address)
    }

    pub fn lease_by_binding(&self, binding: &V6Binding) -> Option<&V6Lease> {
        self.by_binding
            .get(binding)
            .and_then(|address| self.leases.get(address))
    }

    /// The address named `label` (lowercase) whose lease has not ended by `now`.
    pub fn address_of_name_at(&self, label: &str, now: Millis) -> Option<Ipv6Addr> {
        let address = self.by_name.get(&label.to_ascii_lowercase())?.address;
        self.leases
            .get(&address)
            .filter(|lease| lease.expires_at > now)
            .map(|lease| lease.address)
    }

    /// The name of `address` if its lease has not ended by `now`.
    pub fn name_of_address_at(&self, address: Ipv6Addr, now: Millis) -> Option<&str> {
        self.leases
            .get(&address)
            .filter(|lease| lease.expires_at > now)
            .and_then(|lease| lease.name.as_deref())
    }

    /// The address a `BindV6` for a new binding would get now (for an
    /// ADVERTISE, which is not committed): the hint if free, else the
    /// lowest free address of `range`.
    pub fn candidate(&self, range: V6Range, hint: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
        self.choose(range, hint)
    }

    pub fn is_quarantined(&self, address: Ipv6Addr) -> bool {
        self.quarantine.contains_key(&address)
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    // ----- commands -----

    fn bind(
        &mut self,
        request: &V6LeaseRequest,
        range: V6Range,
        now: Millis,
        lease_time_secs: u64,
        v4: &LeaseTable,
    ) -> Result<V6Lease, Rejection> {
        let now = self.advance(now);
        let held = self.by_binding.get(&request.binding).copied();
        let address = match (held, request.want) {
            // A renewal, or a repeated REQUEST: the same address again.
            (Some(held), V6Want::Dynamic { .. }) => held,
            (Some(held), V6Want::Reserved(reserved)) if held == reserved => held,
            (held, V6Want::Reserved(reserved)) => {
                if self.quarantine.contains_key(&reserved)
                    || self
                        .leases
                        .get(&reserved)
                        .is_some_and(|l| l.binding != request.binding)
                {
                    return Err(Rejection::V6AddressUnavailable { address: reserved });
                }
                // The client moves onto its reservation.
                if let Some(held) = held {
                    self.remove(held);
                }
                reserved
            }
            (None, V6Want::Dynamic { hint }) => {
                self.choose(range, hint).ok_or(Rejection::PoolExhausted)?
            }
        };
        let previous_name = self.remove(address).and_then(|l| l.name);
        let name = self.grant_name(request, previous_name, v4);
        let lease = V6Lease {
            address,
            binding: request.binding.clone(),
            mac: request.mac,
            name,
            granted_at: now,
            expires_at: now.saturating_add(lease_time_secs.saturating_mul(1000)),
        };
        self.insert(lease.clone());
        Ok(lease)
    }

    fn release(
        &mut self,
        binding: &V6Binding,
        address: Ipv6Addr,
        now: Millis,
    ) -> Result<Response, Rejection> {
        self.advance(now);
        self.owned(binding, address)?;
        self.remove(address);
        Ok(Response::Done)
    }

    fn decline(
        &mut self,
        binding: &V6Binding,
        address: Ipv6Addr,
        now: Millis,
        quarantine_secs: u64,
    ) -> Result<Response, Rejection> {
        let now = self.advance(now);
        self.owned(binding, address)?;
        self.remove(address);
        let until = now.saturating_add(quarantine_secs.saturating_mul(1000));
        self.quarantine.insert(address, until);
        Ok(Response::Done)
    }

    fn owned(&self, binding: &V6Binding, address: Ipv6Addr) -> Result<(), Rejection> {
        match self.leases.get(&address) {
            Some(lease) if lease.binding == *binding => Ok(()),
            _ => Err(Rejection::V6NoSuchLease { address }),
        }
    }

    fn forget_mac(&mut self, mac: MacAddr) {
        let gone: Vec<Ipv6Addr> = self
            .leases
            .values()
            .filter(|lease| lease.mac == Some(mac))
            .map(|lease| lease.address)
            .collect();
        for address in gone {
            self.remove(address);
        }
    }

    // ----- time -----

    /// Clamps `now` to the latest time seen (as the v4 table does, so an
    /// ended lease cannot come back after a failover) and drops every lease
    /// and quarantine due by then. Returns the effective time.
    pub(crate) fn advance(&mut self, now: Millis) -> Millis {
        let now = now.max(self.last_now);
        self.last_now = now;
        while let Some(&(at, address)) = self.expiry.first()
            && at <= now
        {
            self.expiry.remove(&(at, address));
            self.remove(address);
        }
        self.quarantine.retain(|_, until| *until > now);
        now
    }

    // ----- allocation and names -----

    /// The hint if it is in the range and free, else the lowest free address
    /// of the range. O(log leases + quarantined addresses in the range): the
    /// runs of consecutive leased addresses (`leased_runs`) are stepped over
    /// whole, so a range filled from its start costs one lookup, not a walk
    /// over every lease (that walk made each ADVERTISE and each allocation
    /// linear in the number of leases: docs/benchmarks.md, "DHCPv6").
    fn choose(&self, range: V6Range, hint: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
        if let Some(hint) = hint
            && range.contains(hint)
            && self.is_free(hint)
        {
            return Some(hint);
        }
        let end = u128::from(range.end);
        let mut candidate = u128::from(range.start);
        // Each turn passes one quarantined address or returns.
        loop {
            if let Some(run_end) = self.leased_run_end(candidate) {
                candidate = run_end.checked_add(1)?;
            }
            if candidate > end {
                return None;
            }
            let address = Ipv6Addr::from(candidate);
            if !self.quarantine.contains_key(&address) {
                return Some(address);
            }
            candidate = candidate.checked_add(1)?;
        }
    }

    /// The last address of the run of leased addresses that holds `address`.
    fn leased_run_end(&self, address: u128) -> Option<u128> {
        self.leased_runs
            .range(..=address)
            .next_back()
            .map(|(_, &end)| end)
            .filter(|&end| end >= address)
    }

    fn is_free(&self, address: Ipv6Addr) -> bool {
        !self.leases.contains_key(&address) && !self.quarantine.contains_key(&address)
    }

    /// The name for a lease: the reservation's, else the machine's (LXD,
    /// `NameMac`), else the name of the same MAC's v4 lease, else the first
    /// label of the client's FQDN option. One name, one owner across v4 and
    /// v6: a name another machine holds in either table, or the zone's own,
    /// goes through the cluster's duplicate-hostname policy exactly as a v4
    /// claim does (`suffix`: the first `name-N` free in both families;
    /// `reject`: no name, the lease still gets its address). The same
    /// machine's v4 name is its own, so the two families keep one name.
    fn grant_name(
        &self,
        request: &V6LeaseRequest,
        previous: Option<String>,
        v4: &LeaseTable,
    ) -> Option<String> {
        let from_v4 = request.mac.and_then(|mac| {
            v4.name_of_mac(mac).map(str::to_string).or_else(|| {
                v4.leases()
                    .find(|lease| lease.mac == mac)
                    .and_then(|lease| lease.granted_name.clone())
            })
        });
        let desired = request
            .reserved_name
            .clone()
            .or(from_v4)
            .or_else(|| request.fqdn_label.as_deref().and_then(normalize_hostname))
            .or(previous)?;
        let held_by_other_v6 = |name: &str| {
            self.by_name
                .get(name)
                .and_then(|holder| self.leases.get(&holder.address))
                .is_some_and(|lease| lease.binding != request.binding)
        };
        if !held_by_other_v6(&desired) && v4.name_free_for(&desired, request.mac) {
            return Some(desired);
        }
        match v4.hostname_policy() {
            HostnamePolicy::Reject => None,
            HostnamePolicy::Suffix => {
                let suffixed = v4.first_free_suffixed_both(
                    &desired,
                    |name| self.by_name.contains_key(name),
                    self.by_name.len(),
                )?;
                // The v4 index only counts names; a v4 name of the same
                // machine is free for it, another's is not.
                v4.name_free_for(&suffixed, request.mac).then_some(suffixed)
            }
        }
    }

    // ----- index upkeep: every write goes through these two -----

    fn insert(&mut self, lease: V6Lease) {
        self.by_binding.insert(lease.binding.clone(), lease.address);
        if let Some(name) = &lease.name {
            self.by_name.insert(
                name.clone(),
                V6NameHolder {
                    address: lease.address,
                    mac: lease.mac,
                },
            );
        }
        self.expiry.insert((lease.expires_at, lease.address));
        self.mark_leased(u128::from(lease.address));
        self.leases.insert(lease.address, lease);
    }

    fn remove(&mut self, address: Ipv6Addr) -> Option<V6Lease> {
        let lease = self.leases.remove(&address)?;
        self.by_binding.remove(&lease.binding);
        if let Some(name) = &lease.name
            && self.by_name.get(name).map(|h| h.address) == Some(address)
        {
            self.by_name.remove(name);
        }
        self.expiry.remove(&(lease.expires_at, address));
        self.unmark_leased(u128::from(address));
        Some(lease)
    }

    /// Adds `address` to `leased_runs`, joining the runs either side.
    fn mark_leased(&mut self, address: u128) {
        if self.leased_run_end(address).is_some() {
            return;
        }
        let start = address
            .checked_sub(1)
            .and_then(|before| {
                self.leased_runs
                    .range(..=before)
                    .next_back()
                    .filter(|&(_, &end)| end == before)
                    .map(|(&start, _)| start)
            })
            .unwrap_or(address);
        let end = address
            .checked_add(1)
            .and_then(|after| self.leased_runs.remove(&after))
            .unwrap_or(address);
        self.leased_runs.insert(start, end);
    }

    /// Takes `address` out of `leased_runs`, splitting its run.
    fn unmark_leased(&mut self, address: u128) {
        let Some((&start, &end)) = self
            .leased_runs
            .range(..=address)
            .next_back()
            .filter(|&(_, &end)| end >= address)
        else {
            return;
        };
        self.leased_runs.remove(&start);
        if start < address {
            self.leased_runs.insert(start, address - 1);
        }
        if address < end {
            self.leased_runs.insert(address + 1, end);
        }
    }
}
