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
    assert_eq!(settings.pool_size(), 20);
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

/// `ChangeSettings` as this release writes it: logs keep it, so its form is
/// pinned like the others. Older logs hold no such entry and read as before.
#[test]
fn a_change_settings_entry_has_a_pinned_form() {
    let json = r#"{"op":"change_settings","settings":{"subnet":"10.0.0.0/27","range":{"start":"10.0.0.2","end":"10.0.0.25"},"domain":"lxd","lease_time_secs":120,"duplicate_hostnames":"reject","decline_quarantine_secs":30,"client_identity":"client-id"},"now":1700000000000}"#;
    let command: Command = serde_json::from_str(json).unwrap();
    let Command::ChangeSettings {
        settings,
        now,
        based_on: None,
    } = &command
    else {
        panic!("not a ChangeSettings: {command:?}");
    };
    assert_eq!(*now, 1_700_000_000_000);
    assert_eq!(settings.pool_size(), 24);
    assert_eq!(serde_json::to_string(&command).unwrap(), json);
}

/// The refusal of a shrink, as the admin API carries it to `dnsctl` (the
/// list of ranges since settings hold several).
#[test]
fn a_stranding_refusal_lists_the_leases_in_its_form() {
    let json = r#"{"result":"rejected","reason":{"reason":"range_strands_leases","detail":{"ranges":[{"start":"10.0.0.2","end":"10.0.0.4"}],"leases":[{"address":"10.0.0.5","mac":[0,22,62,0,0,3],"client_id":[1,0,22,62,0,0,3],"name":"c3","expires_at":60000}],"total":1}}}"#;
    let mac = raftmasq_state::MacAddr([0x00, 0x16, 0x3e, 0x00, 0x00, 0x03]);
    let response = raftmasq_state::Response::Rejected {
        reason: raftmasq_state::Rejection::RangeStrandsLeases {
            ranges: vec![raftmasq_state::AddressRange {
                start: "10.0.0.2".parse().unwrap(),
                end: "10.0.0.4".parse().unwrap(),
            }],
            leases: vec![raftmasq_state::StrandedLease {
                address: "10.0.0.5".parse().unwrap(),
                mac,
                client_id: raftmasq_state::ClientId::from_mac(mac),
                name: Some("c3".into()),
                expires_at: 60_000,
            }],
            total: 1,
        },
    };
    assert_eq!(serde_json::to_string(&response).unwrap(), json);
    let back: raftmasq_state::Response = serde_json::from_str(json).unwrap();
    assert_eq!(back, response);
}

/// Settings with several ranges, or none, carry `ranges` in the log; one
/// range keeps the `range` of older releases (the pinned forms above).
#[test]
fn settings_with_several_ranges_or_none_have_a_pinned_form() {
    let json = r#"{"subnet":"10.0.0.0/27","ranges":[{"start":"10.0.0.2","end":"10.0.0.9"},{"start":"10.0.0.20","end":"10.0.0.25"}],"domain":"lxd","lease_time_secs":120,"duplicate_hostnames":"reject","decline_quarantine_secs":30,"client_identity":"client-id"}"#;
    let settings: ClusterSettings = serde_json::from_str(json).unwrap();
    assert_eq!(settings.ranges.len(), 2);
    assert_eq!(settings.pool_size(), 14);
    assert_eq!(serde_json::to_string(&settings).unwrap(), json);
    let none = r#"{"subnet":"10.0.0.0/27","ranges":[],"domain":"lxd","lease_time_secs":120,"duplicate_hostnames":"reject","decline_quarantine_secs":30,"client_identity":"client-id"}"#;
    let settings: ClusterSettings = serde_json::from_str(none).unwrap();
    assert!(settings.ranges.is_empty());
    assert_eq!(serde_json::to_string(&settings).unwrap(), none);
}
