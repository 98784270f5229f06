//! Snapshot form of the table: only the primary data. Indexes, the free pool
//! and counters are rebuilt on load through the same code `apply` uses, and the
//! load is checked, since a snapshot comes from disk or from another node.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use crate::settings::{ClusterSettings, OneRangeSettings};
use serde::{Deserialize, Serialize, Serializer};

use crate::table::{LeaseTable, MAX_CONFLICTS, PreviousLease, validate_settings};
use crate::types::{ClientId, HostnameConflict, Lease, MacAddr, Millis, Reservation, StaticRecord};

/// Why a snapshot could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    #[error("snapshot holds data but no cluster settings")]
    DataWithoutSettings,
    #[error("snapshot has invalid cluster settings: {0}")]
    Settings(String),
    #[error("snapshot is inconsistent: {0}")]
    Inconsistent(String),
}

/// Field order and names are the snapshot format.
#[derive(Serialize)]
struct TableDataRef<'a> {
    settings: Option<&'a ClusterSettings>,
    last_now: Millis,
    leases: Vec<&'a Lease>,
    reservations: Vec<&'a Reservation>,
    records: Vec<&'a StaticRecord>,
    quarantine: Vec<(Ipv4Addr, Millis)>,
    conflicts: &'a VecDeque<HostnameConflict>,
    previous: Vec<(&'a ClientId, &'a PreviousLease)>,
    /// Left out of JSON while empty, so a table that never named a MAC is
    /// written as before `NameMac`; always present in the binary format,
    /// which has no optional fields (a skipped field would end the snapshot
    /// early for its reader).
    #[serde(skip_serializing_if = "Option::is_none")]
    mac_names: Option<Vec<(&'a MacAddr, &'a String)>>,
}

/// What a snapshot holds of one table; `S` is the settings' layout
/// ([`OneRangeSettings`] in formats 1 and 2).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TableData<S = ClusterSettings> {
    settings: Option<S>,
    last_now: Millis,
    leases: Vec<Lease>,
    reservations: Vec<Reservation>,
    records: Vec<StaticRecord>,
    quarantine: Vec<(Ipv4Addr, Millis)>,
    conflicts: Vec<HostnameConflict>,
    previous: Vec<(ClientId, PreviousLease)>,
    /// Absent from JSON snapshots written before `NameMac` or without names.
    #[serde(default)]
    mac_names: Option<Vec<(MacAddr, String)>>,
}

impl Serialize for LeaseTable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let omit_mac_names = serializer.is_human_readable() && self.mac_names.is_empty();
        TableDataRef {
            settings: self.settings.as_ref(),
            last_now: self.last_now,
            leases: self.leases.values().collect(),
            reservations: self.reservations.values().collect(),
            records: self.records.iter().collect(),
            quarantine: self.quarantine.iter().map(|(&a, &t)| (a, t)).collect(),
            conflicts: &self.conflicts,
            previous: self.previous.iter().collect(),
            mac_names: (!omit_mac_names).then(|| self.mac_names.iter().collect()),
        }
        .serialize(serializer)
    }
}

/// A table as binary snapshot formats 1 and 2 wrote it (settings with one
/// range), for the store's readers of those formats.
#[derive(Debug, Deserialize)]
#[serde(try_from = "TableData<OneRangeSettings>")]
pub struct OneRangeTable(pub LeaseTable);

impl TryFrom<TableData<OneRangeSettings>> for OneRangeTable {
    type Error = SnapshotError;

    fn try_from(data: TableData<OneRangeSettings>) -> Result<Self, SnapshotError> {
        LeaseTable::try_from(data).map(OneRangeTable)
    }
}

impl<S: Into<ClusterSettings>> TryFrom<TableData<S>> for LeaseTable {
    type Error = SnapshotError;

    fn try_from(data: TableData<S>) -> Result<Self, SnapshotError> {
        let inconsistent = |what: String| Err(SnapshotError::Inconsistent(what));
        let mut table = LeaseTable {
            last_now: data.last_now,
            ..LeaseTable::default()
        };
        let Some(settings) = data.settings else {
            let empty = data.leases.is_empty()
                && data.reservations.is_empty()
                && data.records.is_empty()
                && data.quarantine.is_empty()
                && data.conflicts.is_empty()
                && data.previous.is_empty()
                && data.mac_names.as_ref().is_none_or(Vec::is_empty);
            return if empty {
                Ok(table)
            } else {
                Err(SnapshotError::DataWithoutSettings)
            };
        };
        let settings: ClusterSettings = settings.into();
        validate_settings(&settings).map_err(SnapshotError::Settings)?;
        for range in &settings.ranges {
            table
                .free
                .insert_range(range.start.into(), range.end.into());
        }
        let subnet = settings.subnet;
        let domain = settings.domain.clone();
        table.settings = Some(settings);

        for reservation in data.reservations {
            if !subnet.contains(&reservation.address) {
                return inconsistent(format!(
                    "reservation {} outside the subnet",
                    reservation.address
                ));
            }
            let duplicate = table.reservations.contains_key(&reservation.mac)
                || table.reserved_by_address.contains_key(&reservation.address)
                || reservation
                    .hostname
                    .as_ref()
                    .is_some_and(|n| table.reserved_names.contains_key(n));
            if duplicate {
                return inconsistent(format!("reservation for {} duplicated", reservation.mac));
            }
            table.insert_reservation(reservation);
        }
        for (address, until) in data.quarantine {
            if table.quarantine.contains_key(&address) {
                return inconsistent(format!("{address} quarantined twice"));
            }
            table.insert_quarantine(address, until);
        }
        for lease in data.leases {
            let address = lease.address;
            if table.leases.contains_key(&address) || table.quarantine.contains_key(&address) {
                return inconsistent(format!("{address} leased twice or while quarantined"));
            }
            if table.by_client.contains_key(&lease.client_id) {
                return inconsistent(format!("client {} holds two leases", lease.client_id));
            }
            if table
                .reserved_by_address
                .get(&address)
                .is_some_and(|&mac| mac != lease.mac)
            {
                return inconsistent(format!("{address} leased against its reservation"));
            }
            if lease
                .granted_name
                .as_ref()
                .is_some_and(|n| table.by_name.contains_key(n.as_str()))
            {
                return inconsistent(format!("two leases named as {address}'s"));
            }
            table.insert_lease(lease);
        }
        for record in &data.records {
            table
                .records
                .add(record, &domain)
                .map_err(|e| SnapshotError::Inconsistent(format!("record {}: {e}", record.name)))?;
        }
        for (client, memory) in data.previous {
            if table.previous_by_address.contains_key(&memory.address) {
                return inconsistent(format!("{} remembered twice", memory.address));
            }
            table
                .previous_by_address
                .insert(memory.address, client.clone());
            if table.previous.insert(client, memory).is_some() {
                return inconsistent("a client remembered twice".into());
            }
        }
        for (mac, name) in data.mac_names.unwrap_or_default() {
            if table.mac_names.insert(mac, name).is_some() {
                return inconsistent(format!("{mac} named twice"));
            }
        }
        let skip = data.conflicts.len().saturating_sub(MAX_CONFLICTS);
        table.conflicts = data.conflicts.into_iter().skip(skip).collect();
        Ok(table)
    }
}
