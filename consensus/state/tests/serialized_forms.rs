//! The serialized forms that reach the Raft log and snapshots, pinned against
//! JSON written by the code before `ClusterSettings` (and the types in it)
//! moved from the config crate into this one (issue 18): old logs and
//! snapshots must load, and what we write must not change.

#![allow(clippy::unwrap_used)]

use raftmasq_state::{ClientIdentity, ClusterSettings, Command, HostnamePolicy, LeaseTable};

/// `Command::Initialize` as the first log entry of a cluster carried it.
const INITIALIZE: &str = include_str!("fixtures/initialize-command.json");
/// A table with settings, two leases, a reservation, a record and a conflict.
const TABLE: &str = include_str!("fixtures/table-snapshot.json");

#[test]
fn an_initialize_entry_written_before_the_move_loads_and_is_written_alike() {
    let command: Command = serde_json::from_str(INITIALIZE.trim()).unwrap();
    let Command::Initialize { settings } = &command else {
        panic!("not an Initialize: {command:?}");
    };
    assert_eq!(settings.client_identity, ClientIdentity::Mac);
    assert_eq!(settings.duplicate_hostnames, HostnamePolicy::Reject);
    assert_eq!(settings.range.len(), 20);
    assert_eq!(serde_json::to_string(&command).unwrap(), INITIALIZE.trim());
}

#[test]
fn a_snapshot_written_before_the_move_loads_and_is_written_alike() {
    let table: LeaseTable = serde_json::from_str(TABLE.trim()).unwrap();
    assert_eq!(table.leases().count(), 2);
    assert_eq!(
        table.address_of_name("c1"),
        Some("10.0.0.2".parse().unwrap())
    );
    assert_eq!(table.conflicts().count(), 1);
    assert_eq!(serde_json::to_string(&table).unwrap(), TABLE.trim());
}

#[test]
fn settings_written_before_client_identity_existed_still_load() {
    let json = r#"{"subnet":"10.0.0.0/27","range":{"start":"10.0.0.2","end":"10.0.0.21"},"domain":"lxd","lease_time_secs":60,"duplicate_hostnames":"suffix","decline_quarantine_secs":30}"#;
    let settings: ClusterSettings = serde_json::from_str(json).unwrap();
    assert_eq!(settings.client_identity, ClientIdentity::ClientId);
}
