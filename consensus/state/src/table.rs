//! The lease table: the replicated state and `apply`, its only writer.
//!
//! Primary data (settings, leases, reservations, records, quarantines, conflicts,
//! previous-address memory) is what snapshots hold; everything else is an index
//! rebuilt from it (see `snapshot.rs`). Every request costs O(log n): the free
//! pool is an interval set and every lookup goes through a `BTreeMap`.
//!
//! Time: each command carries the leader's clock. Leaders' clocks may differ by
//! a little, so after a failover `now` can go backwards; the table clamps it to
//! the latest time it has seen (`effective now = max(now, last_now)`). Without
//! the clamp an expired lease could come back to life, or a lease granted under
//! the new leader could end before one granted earlier under the old one. With
//! it, time in the replicated state is monotonic and every replica computes the
//! same clamp from the same log.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::Ipv4Addr;

use compact_str::CompactString;
use ipnet::Ipv4Net;
use raftmasq_config::{ClusterSettings, HostnamePolicy};
use serde::{Deserialize, Serialize};

use crate::command::{Command, LeaseRequest, Rejection, Response};
use crate::names::{NameIndex, is_variant_of, lowercase_key, normalize_hostname};
use crate::pool::IntervalSet;
use crate::records::{RecordSet, normalize_dns_name};
use crate::types::{
    ClientId, HostnameConflict, Lease, LeaseState, MacAddr, Millis, NodeId, Reservation,
    StaticRecord,
};

/// How many hostname conflicts the table keeps (the most recent).
pub const MAX_CONFLICTS: usize = 1000;

/// The address a client held before its lease was released or expired, so a
/// returning client gets it back (as dnsmasq and Kea do). Each address
/// remembers only its last holder and each client only its last address, so
/// the memory never outgrows the subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousLease {
    pub address: Ipv4Addr,
    pub mac: MacAddr,
    pub requested_hostname: Option<String>,
}

/// Address counts for `dnsctl status` and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStats {
    /// Addresses in the dynamic range.
    pub size: u64,
    /// Bound leases (reserved addresses outside the range included).
    pub bound: u64,
    /// Offered leases.
    pub offered: u64,
    /// Reservations.
    pub reserved: u64,
    /// Quarantined (declined) addresses.
    pub quarantined: u64,
    /// Addresses in the range that any client could be given now.
    pub free: u64,
}

/// The replicated state machine. See the crate docs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "crate::snapshot::TableData")]
pub struct LeaseTable {
    // Primary data.
    pub(crate) settings: Option<ClusterSettings>,
    pub(crate) last_now: Millis,
    pub(crate) leases: BTreeMap<Ipv4Addr, Lease>,
    pub(crate) reservations: BTreeMap<MacAddr, Reservation>,
    pub(crate) records: RecordSet,
    /// Declined address -> end of its quarantine.
    pub(crate) quarantine: BTreeMap<Ipv4Addr, Millis>,
    pub(crate) conflicts: VecDeque<HostnameConflict>,
    pub(crate) previous: BTreeMap<ClientId, PreviousLease>,
    /// Names given to MACs by an integration (`NameMac`), e.g. LXD instances.
    pub(crate) mac_names: BTreeMap<MacAddr, String>,
    // Derived indexes.
    pub(crate) by_client: BTreeMap<ClientId, Ipv4Addr>,
    /// Name of a bound lease -> its address and expiry. A hash map because
    /// DNS looks a name up on every A query (and with the expiry here it
    /// need not walk `leases` too); nothing walks this index in order, so
    /// its order cannot make replicas differ.
    ///
    /// DNS reads these two on every query, so they are built for it: names of
    /// up to 24 bytes are stored in the entry itself (a `String` key cost a
    /// cache miss per probe at 10,000 names), and hashed with foldhash, whose
    /// per-process random seed is enough here: only granted leases add keys.
    pub(crate) by_name: HashMap<CompactString, (Ipv4Addr, Millis), NameHasher>,
    /// The reverse of `by_name`, for PTR queries: one hash probe instead of a
    /// walk down `leases` (at 65,000 leases its nodes miss the cache).
    pub(crate) name_by_address: HashMap<Ipv4Addr, (CompactString, Millis), NameHasher>,
    pub(crate) lease_expiry: BTreeSet<(Millis, Ipv4Addr)>,
    pub(crate) quarantine_expiry: BTreeSet<(Millis, Ipv4Addr)>,
    pub(crate) reserved_by_address: BTreeMap<Ipv4Addr, MacAddr>,
    pub(crate) reserved_names: BTreeMap<String, MacAddr>,
    pub(crate) previous_by_address: BTreeMap<Ipv4Addr, ClientId>,
    pub(crate) names: NameIndex,
    pub(crate) free: IntervalSet,
    pub(crate) bound_count: u64,
    pub(crate) offered_count: u64,
}

/// The hasher of the indexes DNS reads on every query (see `by_name`).
type NameHasher = foldhash::fast::RandomState;

/// The settings `apply` needs, copied out so handlers can borrow `self` mutably.
#[derive(Clone, Copy)]
struct Limits {
    subnet: Ipv4Net,
    policy: HostnamePolicy,
    lease_time_secs: u64,
    quarantine_secs: u64,
}

fn secs_to_ms(secs: u64) -> u64 {
    secs.saturating_mul(1000)
}

/// Checks the settings of an `Initialize`; the config crate validates the
/// file, this guards the log against a bad first entry.
pub(crate) fn validate_settings(settings: &ClusterSettings) -> Result<(), String> {
    let range = settings.range;
    if range.start > range.end {
        return Err(format!("range {range} ends before it starts"));
    }
    if !settings.subnet.contains(&range.start) || !settings.subnet.contains(&range.end) {
        return Err(format!(
            "range {range} is not inside subnet {}",
            settings.subnet
        ));
    }
    normalize_dns_name(&settings.domain).map_err(|e| format!("domain: {e}"))?;
    if settings.lease_time_secs == 0 {
        return Err("lease time must be at least one second".into());
    }
    Ok(())
}

impl LeaseTable {
    /// Applies one committed command. Deterministic: the same log gives the same
    /// table and the same responses on every replica.
    pub fn apply(&mut self, command: &Command) -> Response {
        let result = match command {
            Command::Initialize { settings } => self.initialize(settings),
            _ if self.settings.is_none() => Err(Rejection::NotInitialized),
            Command::Allocate {
                request,
                now,
                hold_ms,
            } => self.allocate(request, *now, *hold_ms),
            Command::Bind {
                request,
                now,
                lease_time_secs,
            } => self.bind(request, *now, *lease_time_secs),
            Command::Renew {
                client_id,
                address,
                now,
                lease_time_secs,
            } => self.renew(client_id, *address, *now, *lease_time_secs),
            Command::Release {
                client_id,
                mac,
                address,
                now,
            } => self.release(client_id.as_ref(), *mac, *address, *now),
            Command::Decline {
                client_id,
                address,
                now,
            } => self.decline(client_id, *address, *now),
            Command::Expire { now } => {
                let (_, leases) = self.advance(*now);
                Ok(Response::Expired { leases })
            }
            Command::Reserve { reservation } => self.reserve(reservation),
            Command::Unreserve { mac } => self.unreserve(*mac),
            Command::NameMac { mac, name, now } => self.name_mac(*mac, name, *now),
            Command::ForgetMac { mac, now } => Ok(self.forget_mac(*mac, *now)),
            Command::AddRecord { record } => {
                let domain = self.settings.as_ref().map_or("", |s| s.domain.as_str());
                self.records.add(record, domain).map(|()| Response::Done)
            }
            Command::RemoveRecord { record } => {
                self.records.remove(record).map(|()| Response::Done)
            }
        };
        result.unwrap_or_else(|reason| Response::Rejected { reason })
    }

    fn limits(&self) -> Result<Limits, Rejection> {
        let settings = self.settings.as_ref().ok_or(Rejection::NotInitialized)?;
        Ok(Limits {
            subnet: settings.subnet,
            policy: settings.duplicate_hostnames,
            lease_time_secs: settings.lease_time_secs,
            quarantine_secs: settings.decline_quarantine_secs,
        })
    }

    fn initialize(&mut self, settings: &ClusterSettings) -> Result<Response, Rejection> {
        if self.settings.is_some() {
            return Err(Rejection::AlreadyInitialized);
        }
        validate_settings(settings).map_err(Rejection::InvalidSettings)?;
        self.free
            .insert_range(settings.range.start.into(), settings.range.end.into());
        self.settings = Some(settings.clone());
        Ok(Response::Done)
    }

    // ----- time -----

    /// Clamps `now` (see the module docs) and drops everything due by then.
    /// Returns the effective time and the number of leases dropped.
    pub(crate) fn advance(&mut self, now: Millis) -> (Millis, usize) {
        let now = now.max(self.last_now);
        self.last_now = now;
        let expired = self.expire_due(now);
        (now, expired)
    }

    fn expire_due(&mut self, now: Millis) -> usize {
        let mut expired = 0;
        while let Some(&(at, address)) = self.lease_expiry.first()
            && at <= now
        {
            match self.remove_lease(address) {
                Some(lease) => {
                    if lease.state == LeaseState::Bound {
                        self.remember(&lease);
                    }
                    expired += 1;
                }
                None => {
                    self.lease_expiry.remove(&(at, address));
                }
            }
        }
        while let Some(&(at, address)) = self.quarantine_expiry.first()
            && at <= now
        {
            self.quarantine_expiry.remove(&(at, address));
            self.quarantine.remove(&address);
            self.refresh_pool(address);
        }
        expired
    }

    // ----- index maintenance: the only code that touches leases and the pool -----

    /// Makes `address`'s membership of the free pool match the rule: in the
    /// range, not leased, not reserved, not quarantined.
    fn refresh_pool(&mut self, address: Ipv4Addr) {
        let Some(settings) = &self.settings else {
            return;
        };
        let free = settings.range.contains(address)
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

    fn remove_lease(&mut self, address: Ipv4Addr) -> Option<Lease> {
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

    fn forget_address(&mut self, address: Ipv4Addr) {
        if let Some(client) = self.previous_by_address.remove(&address) {
            self.previous.remove(&client);
        }
    }

    fn record_conflict(&mut self, conflict: HostnameConflict) {
        if self.conflicts.len() == MAX_CONFLICTS {
            self.conflicts.pop_front();
        }
        self.conflicts.push_back(conflict);
    }

    // ----- names -----

    /// The label a client should get: its reservation's hostname if it has one
    /// (as dnsmasq's `dhcp-host=mac,ip,name`), else its own, normalised.
    fn desired_name(&self, mac: MacAddr, hostname: Option<&str>) -> Option<String> {
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
    fn grant_name(
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

    // ----- commands -----

    /// The address Allocate/Bind give when the client names none (or only hints).
    fn choose(&self, request: &LeaseRequest, now: Millis) -> Result<Ipv4Addr, Rejection> {
        let mut candidates = self.candidates(
            &request.client_id,
            request.mac,
            request.requested_address,
            now,
            0,
        );
        if let Some(address) = candidates.next() {
            return Ok(address);
        }
        match self.reservations.get(&request.mac) {
            Some(reservation) => Err(Rejection::AddressUnavailable {
                address: reservation.address,
            }),
            None => Err(Rejection::PoolExhausted),
        }
    }

    fn allocate(
        &mut self,
        request: &LeaseRequest,
        now: Millis,
        hold_ms: u64,
    ) -> Result<Response, Rejection> {
        let (now, _) = self.advance(now);
        let address = self.choose(request, now)?;
        let current = self.by_client.get(&request.client_id).copied();
        if current == Some(address)
            && let Some(lease) = self.leases.get(&address)
            && lease.state == LeaseState::Bound
        {
            // A bound client that DISCOVERs again is offered its lease as is.
            return Ok(Response::Lease {
                lease: lease.clone(),
            });
        }
        let old = current.and_then(|a| self.remove_lease(a));
        let mut expires_at = now.saturating_add(hold_ms.max(1));
        if let Some(old) = old.as_ref().filter(|l| l.address == address) {
            expires_at = expires_at.max(old.expires_at);
        }
        let lease = Lease {
            address,
            client_id: request.client_id.clone(),
            mac: request.mac,
            requested_hostname: request
                .hostname
                .clone()
                .or_else(|| old.as_ref().and_then(|l| l.requested_hostname.clone())),
            granted_name: None,
            state: LeaseState::Offered,
            granted_at: now,
            expires_at,
            seen_by: request.seen_by,
        };
        self.insert_lease(lease.clone());
        Ok(Response::Lease { lease })
    }

    fn bind(
        &mut self,
        request: &LeaseRequest,
        now: Millis,
        lease_time_secs: Option<u64>,
    ) -> Result<Response, Rejection> {
        let limits = self.limits()?;
        let (now, _) = self.advance(now);
        let address = match request.requested_address {
            Some(address) => {
                if !self.is_available_at(&request.client_id, request.mac, address, now) {
                    return Err(Rejection::AddressUnavailable { address });
                }
                address
            }
            None => self.choose(request, now)?,
        };
        let bind = BindArgs {
            client: &request.client_id,
            mac: request.mac,
            hostname: request.hostname.as_deref(),
            address,
            lease_time_secs,
            seen_by: request.seen_by,
        };
        Ok(self.bind_at(limits, bind, now))
    }

    /// Binds `address` (already checked available) to the client, moving it off
    /// any other lease it held and keeping its name if it still asks for it.
    fn bind_at(&mut self, limits: Limits, args: BindArgs<'_>, now: Millis) -> Response {
        let old = self
            .by_client
            .get(args.client)
            .copied()
            .and_then(|a| self.remove_lease(a));
        let requested_hostname = args
            .hostname
            .map(str::to_string)
            .or_else(|| old.as_ref().and_then(|l| l.requested_hostname.clone()));
        let desired = self.desired_name(args.mac, requested_hostname.as_deref());
        let kept = old
            .as_ref()
            .filter(|l| l.state == LeaseState::Bound)
            .and_then(|l| l.granted_name.clone())
            .filter(|name| desired.as_deref().is_some_and(|d| is_variant_of(name, d)));
        let granted_name = match kept {
            Some(name) => Some(name),
            None => self.grant_name(
                limits.policy,
                desired,
                (args.client, args.mac, args.address),
                now,
            ),
        };
        let secs = args
            .lease_time_secs
            .unwrap_or(limits.lease_time_secs)
            .max(1);
        let lease = Lease {
            address: args.address,
            client_id: args.client.clone(),
            mac: args.mac,
            requested_hostname,
            granted_name,
            state: LeaseState::Bound,
            granted_at: now,
            expires_at: now.saturating_add(secs_to_ms(secs)),
            seen_by: args.seen_by.or(old.and_then(|l| l.seen_by)),
        };
        self.insert_lease(lease.clone());
        Response::Lease { lease }
    }

    fn renew(
        &mut self,
        client: &ClientId,
        address: Ipv4Addr,
        now: Millis,
        lease_time_secs: Option<u64>,
    ) -> Result<Response, Rejection> {
        let limits = self.limits()?;
        let (now, _) = self.advance(now);
        let no_lease = Rejection::NoSuchLease { address };
        match self.by_client.get(client).copied() {
            Some(held) if held == address => {
                let Some(lease) = self.leases.get(&address) else {
                    return Err(no_lease);
                };
                let (mac, state, seen_by) = (lease.mac, lease.state, lease.seen_by);
                if !self.is_available_at(client, mac, address, now) {
                    // e.g. a reservation now points this MAC elsewhere: NAK so
                    // the client restarts and is given its reserved address.
                    return Err(Rejection::AddressUnavailable { address });
                }
                if state == LeaseState::Offered {
                    let args = BindArgs {
                        client,
                        mac,
                        hostname: None,
                        address,
                        lease_time_secs,
                        seen_by,
                    };
                    return Ok(self.bind_at(limits, args, now));
                }
                let mut lease = self.remove_lease(address).ok_or(no_lease)?;
                let secs = lease_time_secs.unwrap_or(limits.lease_time_secs).max(1);
                lease.granted_at = now;
                lease.expires_at = now.saturating_add(secs_to_ms(secs));
                self.insert_lease(lease.clone());
                Ok(Response::Lease { lease })
            }
            Some(_) => Err(no_lease),
            None => {
                // The lease lapsed (e.g. during a failover): rebind it if the
                // address is still free for this client rather than NAK.
                let Some(memory) = self.previous.get(client).filter(|p| p.address == address)
                else {
                    return Err(no_lease);
                };
                let (mac, hostname) = (memory.mac, memory.requested_hostname.clone());
                if !self.is_available_at(client, mac, address, now) {
                    return Err(no_lease);
                }
                let args = BindArgs {
                    client,
                    mac,
                    hostname: hostname.as_deref(),
                    address,
                    lease_time_secs,
                    seen_by: None,
                };
                Ok(self.bind_at(limits, args, now))
            }
        }
    }

    /// Frees `address` if its lease belongs to the client named: both its
    /// identity and its MAC, when given, must match (a forged DHCPRELEASE from
    /// another MAC that copies option 61 frees nothing).
    fn release(
        &mut self,
        client: Option<&ClientId>,
        mac: Option<MacAddr>,
        address: Ipv4Addr,
        now: Millis,
    ) -> Result<Response, Rejection> {
        self.advance(now);
        let held = self.leases.get(&address).is_some_and(|l| {
            client.is_none_or(|c| *c == l.client_id) && mac.is_none_or(|m| m == l.mac)
        });
        if !held {
            return Err(Rejection::NoSuchLease { address });
        }
        if let Some(lease) = self.remove_lease(address)
            && lease.state == LeaseState::Bound
        {
            self.remember(&lease);
        }
        Ok(Response::Done)
    }

    fn decline(
        &mut self,
        client: &ClientId,
        address: Ipv4Addr,
        now: Millis,
    ) -> Result<Response, Rejection> {
        let limits = self.limits()?;
        let (now, _) = self.advance(now);
        if self
            .leases
            .get(&address)
            .is_none_or(|l| l.client_id != *client)
        {
            return Err(Rejection::NoSuchLease { address });
        }
        self.remove_lease(address);
        // Nobody should be steered back to an address found in use.
        self.forget_address(address);
        let until = now.saturating_add(secs_to_ms(limits.quarantine_secs));
        if until > now {
            self.insert_quarantine(address, until);
        }
        Ok(Response::Done)
    }

    fn reserve(&mut self, reservation: &Reservation) -> Result<Response, Rejection> {
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

    /// The addresses of every lease (bound or offered) of `mac`. A walk of
    /// the leases: integrations name and forget machines rarely.
    fn leases_of_mac(&self, mac: MacAddr) -> Vec<Ipv4Addr> {
        self.leases
            .values()
            .filter(|lease| lease.mac == mac)
            .map(|lease| lease.address)
            .collect()
    }

    fn name_mac(&mut self, mac: MacAddr, raw: &str, now: Millis) -> Result<Response, Rejection> {
        let limits = self.limits()?;
        let (now, _) = self.advance(now);
        let name = normalize_hostname(raw)
            .filter(|n| n.len() == raw.len())
            .ok_or_else(|| Rejection::InvalidHostname {
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

    fn forget_mac(&mut self, mac: MacAddr, now: Millis) -> Response {
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

    fn unreserve(&mut self, mac: MacAddr) -> Result<Response, Rejection> {
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

    // ----- reads -----

    pub fn settings(&self) -> Option<&ClusterSettings> {
        self.settings.as_ref()
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
            size: self.settings.as_ref().map_or(0, |s| s.range.len()),
            bound: self.bound_count,
            offered: self.offered_count,
            reserved: self.reservations.len() as u64,
            quarantined: self.quarantine.len() as u64,
            free: self.free.len(),
        }
    }
}

/// What `bind_at` needs to know about the client and the lease.
struct BindArgs<'a> {
    client: &'a ClientId,
    mac: MacAddr,
    hostname: Option<&'a str>,
    address: Ipv4Addr,
    lease_time_secs: Option<u64>,
    seen_by: Option<NodeId>,
}
