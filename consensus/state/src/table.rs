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

use crate::settings::{ClusterSettings, HostnamePolicy};
use compact_str::CompactString;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::command::{Command, Rejection, Response};
use crate::names::NameIndex;
use crate::pool::IntervalSet;
use crate::records::{RecordSet, normalize_dns_name};
use crate::types::{ClientId, HostnameConflict, Lease, LeaseState, MacAddr, Millis, Reservation};

mod hostnames;
mod index;
mod integrations;
mod leases;
mod live_settings;
mod reads;
mod reservations;

pub use live_settings::fixed_key_reason;

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
    /// The names DHCPv6 leases hold, lent by [`crate::v6::apply_with`] for
    /// the one command it applies here and taken back after it, so a v4
    /// grant sees the v6 owners (one name, one owner across both families)
    /// without a second argument through every layer of `apply` and the
    /// networks' dispatch. Empty at rest, so it never reaches a snapshot or
    /// `==`.
    pub(crate) lent_v6_names: crate::v6::V6NameIndex,
    /// The tables of the other networks that share this table's domain,
    /// lent by [`crate::OtherNetworks::apply`] for the one command it
    /// applies here and taken back after it (moves, O(1) each), so a grant
    /// sees every holder of a name in its domain (names are unique per
    /// domain, not per table). Empty at rest, like `lent_v6_names`.
    pub(crate) lent_domain: Vec<LeaseTable>,
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
    if let Some(problem) = crate::settings::ranges_problem(&settings.ranges, settings.subnet) {
        return Err(problem);
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
        // A lone table is the default network; other networks are
        // dispatched by `OtherNetworks::apply` (crate::networks).
        if let Command::InNetwork { network, command } = command
            && network == crate::networks::DEFAULT_NETWORK
            && !matches!(**command, Command::InNetwork { .. })
        {
            return self.apply(command);
        }
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
                mac,
                address,
                now,
            } => self.decline(client_id, *mac, *address, *now),
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
                self.records.add(record, domain).map(|()| {
                    self.yield_name_to_record(&record.name);
                    // The record's name is the domain's: a lease of another
                    // network in it yields the name too.
                    for other in &mut self.lent_domain {
                        other.yield_name_to_record(&record.name);
                    }
                    Response::Done
                })
            }
            Command::RemoveRecord { record } => {
                self.records.remove(record).map(|()| Response::Done)
            }
            Command::ChangeSettings {
                settings,
                now,
                based_on,
            } => self.change_settings(settings, *now, based_on.as_ref()),
            Command::BindV6 { .. } | Command::ReleaseV6 { .. } | Command::DeclineV6 { .. } => {
                Err(Rejection::NotAV6Command)
            }
            Command::InNetwork { network, .. } => Err(Rejection::UnknownNetwork {
                network: network.clone(),
            }),
            Command::SetNetworkAddress { network, .. } => Err(Rejection::NetworkAddressRefused {
                network: network.clone(),
                reason: "members' addresses are kept beside the lease tables".into(),
            }),
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
        self.settings = Some(settings.clone());
        self.rebuild_pool();
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
}
