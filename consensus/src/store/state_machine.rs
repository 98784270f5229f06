//! The state machine store: the lease table in memory, persisted as snapshots.
//!
//! Applying an entry changes only memory; durability comes from the Raft log
//! (fsynced before any acknowledgement) plus the latest snapshot, which is
//! written to sled before openraft may purge the log entries it covers. On
//! start the table is loaded from the snapshot and openraft re-applies the
//! committed entries after it (`read_committed`). See consensus/DESIGN.md.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, RaftSnapshotBuilder, StorageIOError};
use raftmasq_state::v6::V6Leases;
use raftmasq_state::{
    Command, LeaseTable, NetworkAddresses, OneRangeTable, OtherNetworks, Response,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::snapshot_format;
use crate::types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};

const CURRENT_SNAPSHOT: &[u8] = b"current";

/// This node's copy of the replicated state. Field order is the snapshot
/// format ([`snapshot_format`]); fields are added at the end with a version
/// bump (format 2 added `networks` and `v6`; format 3 changed the settings'
/// one range into a list; format 1 is read as [`ReplicaV1`], 2 as
/// [`ReplicaV2`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Replica {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    /// The `default` network's table: the one table of single-network releases.
    pub table: LeaseTable,
    /// The tables of the other networks (raftmasq_state::networks). Since
    /// snapshot format 2; absent from JSON snapshots of older releases.
    #[serde(default)]
    pub networks: OtherNetworks,
    /// The DHCPv6 leases, beside the v4 tables (raftmasq_state::v6). Since
    /// snapshot format 2.
    #[serde(default)]
    pub v6: V6Leases,
    /// Members' addresses on the networks beside `default`
    /// (raftmasq_state::network_addresses). Since snapshot format 3.
    #[serde(default)]
    pub network_addresses: NetworkAddresses,
}

impl Replica {
    /// The table of `network`, if the cluster has it.
    pub fn network(&self, network: &str) -> Option<&LeaseTable> {
        self.networks.get(&self.table, network)
    }

    /// Applies the commands of one committed entry: v6 commands to the v6
    /// table, the others to the network they name (expiry and forgetting a
    /// MAC reach the v6 table too).
    pub fn apply_commands(&mut self, commands: &[Command]) -> Vec<Response> {
        let Replica {
            table,
            networks,
            v6,
            network_addresses,
            ..
        } = self;
        commands
            .iter()
            .map(|command| match command {
                Command::SetNetworkAddress {
                    network,
                    node,
                    address,
                } => network_addresses.set((table, networks), network, *node, *address),
                _ => networks.apply_with_v6(table, v6, command),
            })
            .collect()
    }

    /// Every network and its table, `default` first.
    pub fn all_networks(&self) -> impl Iterator<Item = (&str, &LeaseTable)> {
        self.networks.all(&self.table)
    }
}

/// The replica as snapshot format 1 had it (one network, one range), read
/// from data directories and followers of single-network releases.
#[derive(Deserialize)]
struct ReplicaV1 {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    table: OneRangeTable,
}

impl From<ReplicaV1> for Replica {
    fn from(old: ReplicaV1) -> Self {
        Replica {
            last_applied: old.last_applied,
            membership: old.membership,
            table: old.table.0,
            networks: OtherNetworks::default(),
            v6: V6Leases::default(),
            network_addresses: NetworkAddresses::default(),
        }
    }
}

/// The replica as snapshot format 2 had it (networks and v6, one range per
/// network's settings).
#[derive(Deserialize)]
struct ReplicaV2 {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    table: OneRangeTable,
    networks: BTreeMap<String, OneRangeTable>,
    v6: V6Leases,
}

impl From<ReplicaV2> for Replica {
    fn from(old: ReplicaV2) -> Self {
        Replica {
            last_applied: old.last_applied,
            membership: old.membership,
            table: old.table.0,
            networks: OtherNetworks::from_tables(
                old.networks
                    .into_iter()
                    .map(|(name, table)| (name, table.0))
                    .collect(),
            ),
            v6: old.v6,
            network_addresses: NetworkAddresses::default(),
        }
    }
}

/// Shared read access to the local replica, for DNS, DHCP and the admin API.
#[derive(Clone)]
pub struct ReplicaHandle {
    replica: Arc<RwLock<Replica>>,
    applied: watch::Receiver<Option<LogId>>,
}

impl ReplicaHandle {
    /// Reads the local replica (possibly behind the leader: a local read).
    pub fn read(&self) -> RwLockReadGuard<'_, Replica> {
        self.replica.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver that changes whenever entries are applied or a snapshot installed.
    pub fn subscribe(&self) -> watch::Receiver<Option<LogId>> {
        self.applied.clone()
    }

    pub fn last_applied(&self) -> Option<LogId> {
        *self.applied.borrow()
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

/// Where the current snapshot lives on disk.
#[derive(Clone)]
struct SnapshotSlot {
    db: sled::Db,
    tree: sled::Tree,
}

impl SnapshotSlot {
    fn read(&self) -> Result<Option<StoredSnapshot>, StorageError> {
        let Some(bytes) = self
            .tree
            .get(CURRENT_SNAPSHOT)
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?
        else {
            return Ok(None);
        };
        snapshot_format::decode(&bytes)
            .map(Some)
            .map_err(|e| StorageIOError::read_snapshot(None, &e).into())
    }

    /// Writes and fsyncs: openraft purges the log behind a snapshot once this returns.
    async fn write(&self, snapshot: &StoredSnapshot) -> Result<(), StorageError> {
        let signature = Some(snapshot.meta.signature());
        let bytes = snapshot_format::encode(snapshot)
            .map_err(|e| StorageIOError::write_snapshot(signature.clone(), &e))?;
        let stored_len = bytes.len();
        self.tree
            .insert(CURRENT_SNAPSHOT, bytes)
            .map_err(|e| StorageIOError::write_snapshot(signature.clone(), &e))?;
        self.db
            .flush_async()
            .await
            .map_err(|e| StorageIOError::write_snapshot(signature, &e))?;
        // Its size is what a lagging follower is sent and what a restart
        // decodes: operators size disks and links by it (docs/benchmarks.md).
        tracing::info!(
            bytes = stored_len,
            last_log_index = snapshot.meta.last_log_id.map(|id| id.index),
            "snapshot stored"
        );
        Ok(())
    }
}

pub struct StateMachineStore {
    replica: Arc<RwLock<Replica>>,
    applied_tx: watch::Sender<Option<LogId>>,
    slot: SnapshotSlot,
}

impl StateMachineStore {
    pub(super) fn new(db: &sled::Db) -> Result<Self, StorageError> {
        let tree = db
            .open_tree("snapshots")
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        let store = StateMachineStore {
            replica: Arc::default(),
            applied_tx: watch::Sender::new(None),
            slot: SnapshotSlot {
                db: db.clone(),
                tree,
            },
        };
        if let Some(snapshot) = store.slot.read()? {
            let replica = decode_replica(&snapshot.data, &snapshot.meta)?;
            store.replace(replica);
            drop(snapshot);
            super::release_free_memory();
        }
        Ok(store)
    }

    pub fn handle(&self) -> ReplicaHandle {
        ReplicaHandle {
            replica: self.replica.clone(),
            applied: self.applied_tx.subscribe(),
        }
    }

    fn replace(&self, replica: Replica) {
        let applied = replica.last_applied;
        *self.replica.write().unwrap_or_else(PoisonError::into_inner) = replica;
        self.applied_tx.send_replace(applied);
    }
}

fn decode_replica(data: &[u8], meta: &SnapshotMeta) -> Result<Replica, StorageError> {
    snapshot_format::decode_versions::<Replica, ReplicaV1, ReplicaV2>(data)
        .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e).into())
}

/// Builds snapshots by encoding the replica under its read lock. An earlier
/// version cloned the replica first so the encoding ran outside the lock, but
/// the clone took about as long as the encoding and held a second copy of the
/// whole table in memory (docs/benchmarks.md, "Memory"); readers (DNS, DHCP)
/// share the read lock either way, only `apply` waits.
pub struct SnapshotBuilder {
    replica: Arc<RwLock<Replica>>,
    slot: SnapshotSlot,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (data, last_applied, last_membership) = {
            let replica = self.replica.read().unwrap_or_else(PoisonError::into_inner);
            let data = snapshot_format::encode(&*replica)
                .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
            (data, replica.last_applied, replica.membership.clone())
        };
        let snapshot_id = match last_applied {
            Some(log_id) => format!("{}-{}-{}", log_id.leader_id, log_id.index, data.len()),
            None => format!("empty-{}", data.len()),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership,
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        self.slot.write(&stored).await?;
        super::release_free_memory();
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let replica = self.replica.read().unwrap_or_else(PoisonError::into_inner);
        Ok((replica.last_applied, replica.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Vec<Response>>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut responses = Vec::new();
        let last_applied = {
            let mut replica = self.replica.write().unwrap_or_else(PoisonError::into_inner);
            for entry in entries {
                replica.last_applied = Some(entry.log_id);
                let response = match entry.payload {
                    EntryPayload::Blank => Vec::new(),
                    EntryPayload::Normal(proposal) => replica.apply_commands(proposal.commands()),
                    EntryPayload::Membership(membership) => {
                        replica.membership = StoredMembership::new(Some(entry.log_id), membership);
                        Vec::new()
                    }
                };
                responses.push(response);
            }
            replica.last_applied
        };
        self.applied_tx.send_replace(last_applied);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            replica: self.replica.clone(),
            slot: self.slot.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let mut replica = decode_replica(&data, meta)?;
        // The snapshot's metadata is authoritative for what it covers.
        replica.last_applied = meta.last_log_id;
        replica.membership = meta.last_membership.clone();
        self.slot
            .write(&StoredSnapshot {
                meta: meta.clone(),
                data,
            })
            .await?;
        self.replace(replica);
        super::release_free_memory();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.slot.read()?.map(|stored| Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use raftmasq_state::{Command, Proposal};

    /// Two entries as the version before batching stored them in the sled log
    /// (`serde_json` of `openraft::Entry` whose payload was one `Command`).
    const OLD_FORMAT_ENTRIES: [&str; 2] = [
        r#"{"log_id":{"leader_id":{"term":1,"node_id":1},"index":1},"payload":{"Normal":{"op":"initialize","settings":{"subnet":"10.0.0.0/24","range":{"start":"10.0.0.10","end":"10.0.0.20"},"domain":"lxd","lease_time_secs":3600,"duplicate_hostnames":"suffix","decline_quarantine_secs":600}}}}"#,
        r#"{"log_id":{"leader_id":{"term":1,"node_id":1},"index":2},"payload":{"Normal":{"op":"bind","request":{"client_id":[1,2,0,0,0,0,7],"mac":[2,0,0,0,0,7],"hostname":"c7","requested_address":null,"seen_by":1},"now":1000,"lease_time_secs":null}}}"#,
    ];

    #[tokio::test]
    async fn a_log_written_before_batching_still_applies() {
        let dir = tempfile::tempdir().unwrap();
        let (_log, mut state_machine) = crate::store::open(dir.path(), 1).unwrap();
        let entries: Vec<Entry> = OLD_FORMAT_ENTRIES
            .iter()
            .map(|text| serde_json::from_str(text).unwrap())
            .collect();
        assert!(matches!(
            &entries[1].payload,
            EntryPayload::Normal(Proposal::Single(Command::Bind { .. }))
        ));
        let responses = state_machine.apply(entries).await.unwrap();
        assert_eq!(responses.len(), 2, "one response list per entry");
        assert_eq!(responses[0], vec![Response::Done]);
        let [Response::Lease { lease }] = responses[1].as_slice() else {
            panic!("expected one lease, got {:?}", responses[1]);
        };
        assert_eq!(lease.address, std::net::Ipv4Addr::new(10, 0, 0, 10));
        assert_eq!(lease.granted_name.as_deref(), Some("c7"));
        let replica = state_machine.handle().read().clone();
        assert_eq!(replica.last_applied.map(|id| id.index), Some(2));
    }

    #[tokio::test]
    async fn a_batch_entry_answers_one_response_per_command_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (_log, mut state_machine) = crate::store::open(dir.path(), 1).unwrap();
        let init: Entry = serde_json::from_str(OLD_FORMAT_ENTRIES[0]).unwrap();
        let EntryPayload::Normal(Proposal::Single(initialize)) = init.payload.clone() else {
            panic!("fixture is an initialize");
        };
        let EntryPayload::Normal(Proposal::Single(bind)) =
            serde_json::from_str::<Entry>(OLD_FORMAT_ENTRIES[1])
                .unwrap()
                .payload
        else {
            panic!("fixture is a bind");
        };
        let mut batch = init.clone();
        batch.log_id.index = 2;
        // The second Initialize is refused; the commands around it are not affected.
        batch.payload = EntryPayload::Normal(Proposal::Batch(vec![bind.clone(), initialize, bind]));
        let responses = state_machine.apply(vec![init, batch]).await.unwrap();
        let [first, Response::Rejected { .. }, again] = responses[1].as_slice() else {
            panic!("expected lease, rejection, lease: {:?}", responses[1]);
        };
        assert!(matches!(first, Response::Lease { .. }));
        assert_eq!(first, again, "a repeated Bind returns the same lease");
    }

    /// The sled snapshot slot of release 0.1 (JSON, the replica inside as a
    /// JSON array of numbers): see tests/fixtures/release-0.1/README.md.
    const RELEASE_0_1_SLOT: &[u8] =
        include_bytes!("../../tests/fixtures/release-0.1/snapshot.json");

    fn release_0_1_replica() -> (StoredSnapshot, Replica) {
        let stored: StoredSnapshot = snapshot_format::decode(RELEASE_0_1_SLOT).unwrap();
        let replica = decode_replica(&stored.data, &stored.meta).unwrap();
        (stored, replica)
    }

    #[test]
    fn a_release_0_1_snapshot_still_loads() {
        let (stored, replica) = release_0_1_replica();
        assert_eq!(stored.meta.last_log_id.map(|id| id.index), Some(12));
        assert_eq!(replica.last_applied, stored.meta.last_log_id);
        let table = serde_json::to_value(&replica.table).unwrap();
        let names: Vec<&str> = table["leases"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|lease| lease["granted_name"].as_str())
            .collect();
        assert_eq!(names, ["web", "db", "web-2"]);
        assert_eq!(table["records"].as_array().unwrap().len(), 2);
        assert_eq!(table["reservations"].as_array().unwrap().len(), 1);
        assert_eq!(table["quarantine"].as_array().unwrap().len(), 1);
    }

    /// The old snapshot, written again in the current format, reads back as
    /// the same replica.
    #[test]
    fn the_binary_format_keeps_every_part_of_the_replica() {
        let (stored, replica) = release_0_1_replica();
        let data = snapshot_format::encode(&replica).unwrap();
        let again = snapshot_format::encode(&StoredSnapshot {
            meta: stored.meta.clone(),
            data,
        })
        .unwrap();
        let stored_again: StoredSnapshot = snapshot_format::decode(&again).unwrap();
        assert_eq!(stored_again.meta, stored.meta);
        let replica_again = decode_replica(&stored_again.data, &stored_again.meta).unwrap();
        assert_eq!(replica_again.table, replica.table);
        assert_eq!(replica_again.last_applied, replica.last_applied);
        assert_eq!(replica_again.membership, replica.membership);
    }

    /// A snapshot keeps its v6 leases. (Snapshots of formats 1 and 2, with
    /// no v6 table or one range per network, are loaded from data written by
    /// those releases in tests/networks.rs and tests/ranges.rs: bytes made
    /// by relabelling the current encoding would not be what they wrote.)
    #[test]
    fn a_snapshot_keeps_its_v6_leases() {
        let (stored, mut replica) = release_0_1_replica();
        let mac = raftmasq_state::MacAddr([0x02, 0, 0, 0, 0, 1]);
        let request = raftmasq_state::v6::V6LeaseRequest {
            binding: raftmasq_state::v6::V6Binding {
                duid: raftmasq_state::v6::Duid::link_layer(mac),
                iaid: 7,
            },
            mac: Some(mac),
            fqdn_label: Some("six".into()),
            reserved_name: None,
            want: raftmasq_state::v6::V6Want::Dynamic { hint: None },
        };
        let range = raftmasq_state::v6::V6Range {
            start: "fd42:1::1000".parse().unwrap(),
            end: "fd42:1::1fff".parse().unwrap(),
        };
        let now = replica.table.last_now();
        let response = replica.apply_commands(&[Command::BindV6 {
            request,
            range,
            now,
            lease_time_secs: 3600,
        }]);
        assert!(
            matches!(response[0], Response::LeaseV6 { .. }),
            "{response:?}"
        );
        let new = snapshot_format::encode(&replica).unwrap();
        let loaded = decode_replica(&new, &stored.meta).unwrap();
        assert_eq!(loaded.v6, replica.v6);
        assert_eq!(loaded.v6.len(), 1);
        // Damaged bytes are still refused, not read as an old snapshot.
        assert!(decode_replica(&new[..new.len() - 3], &stored.meta).is_err());
    }

    /// The sizes consensus/DESIGN.md quotes: the sled slot of the release 0.1
    /// fixture, and of a table of 10,000 bound leases, old format against new.
    #[test]
    fn binary_snapshots_are_a_fraction_of_the_legacy_size() {
        let (stored, replica) = release_0_1_replica();
        let mut big = replica.clone();
        let now = big.table.last_now();
        for n in 0..10_000_u32 {
            let [_, b, c, d] = n.to_be_bytes();
            let mac = raftmasq_state::MacAddr([0x02, 0x10, 0, b, c, d]);
            big.table.apply(&Command::Bind {
                request: raftmasq_state::LeaseRequest {
                    client_id: raftmasq_state::ClientId::from_mac(mac),
                    mac,
                    hostname: Some(format!("container-{n}")),
                    requested_address: None,
                    seen_by: Some(1),
                },
                now,
                lease_time_secs: None,
            });
        }
        for (what, replica) in [("release 0.1 fixture", &replica), ("10,000 leases", &big)] {
            let legacy = serde_json::to_vec(&StoredSnapshot {
                meta: stored.meta.clone(),
                data: serde_json::to_vec(replica).unwrap(),
            })
            .unwrap()
            .len();
            let binary = snapshot_format::encode(&StoredSnapshot {
                meta: stored.meta.clone(),
                data: snapshot_format::encode(replica).unwrap(),
            })
            .unwrap()
            .len();
            println!("{what}: legacy {legacy} bytes, binary {binary} bytes");
            assert!(binary * 4 < legacy, "{what}: {binary} vs {legacy}");
        }
    }
}
