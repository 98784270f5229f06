//! Where the server reads the zone from: the node's replica of the lease table.
//!
//! The daemon keeps the table behind a lock that its Raft state machine updates
//! on every apply; DNS only ever borrows it for the few microseconds a lookup
//! takes, so a query never waits on Raft or the network.

use std::sync::{PoisonError, RwLock};

use raftmasq_state::v6::V6Leases;
use raftmasq_state::{Command, LeaseTable, OtherNetworks, Response};
use tokio::sync::watch;

/// What [`ZoneSource::read_networks`] runs: the default network's table,
/// the DHCPv6 leases (if any), the other networks' tables, the serial.
pub type NetworksRead<'r> = dyn FnMut(&LeaseTable, Option<&V6Leases>, &OtherNetworks, u64) + 'r;

/// Read access to the replicated table.
pub trait ZoneSource: Send + Sync + 'static {
    /// Runs `read` on the current table; `serial` is the Raft applied index
    /// (the zones' SOA serial, mod 2^32). `read` must not block.
    fn read(&self, read: &mut dyn FnMut(&LeaseTable, u64));

    /// [`ZoneSource::read`] with the DHCPv6 lease table beside the v4 one,
    /// for sources that have it (the daemon's replica); others have none.
    fn read_with_v6(&self, read: &mut dyn FnMut(&LeaseTable, Option<&V6Leases>, u64)) {
        self.read(&mut |table, serial| read(table, None, serial));
    }

    /// [`ZoneSource::read_with_v6`] with the tables of the networks other
    /// than `default` (each its own domain and reverse zone), for sources
    /// that have them; others serve the default network alone.
    fn read_networks(&self, read: &mut NetworksRead<'_>) {
        let none = OtherNetworks::default();
        self.read_with_v6(&mut |table, v6, serial| read(table, v6, &none, serial));
    }

    /// Changes whenever the table changes (drives NOTIFY).
    fn changes(&self) -> watch::Receiver<u64>;
}

/// A table in memory with its own applied index, for tests and tools: every
/// [`MemoryZoneSource::apply`] is one "log entry". It holds a DHCPv6 table
/// and the other networks' tables beside the v4 one, and applies as the
/// replica does ([`OtherNetworks::apply_with_v6`], so
/// `Command::InNetwork` builds the other networks' tables).
#[derive(Debug)]
pub struct MemoryZoneSource {
    state: RwLock<(LeaseTable, u64, OtherNetworks)>,
    v6: RwLock<V6Leases>,
    changed: watch::Sender<u64>,
}

impl MemoryZoneSource {
    pub fn new(table: LeaseTable, index: u64) -> Self {
        MemoryZoneSource {
            state: RwLock::new((table, index, OtherNetworks::default())),
            v6: RwLock::new(V6Leases::default()),
            changed: watch::Sender::new(index),
        }
    }

    /// Applies one command as the next log entry and announces the new index.
    pub fn apply(&self, command: &Command) -> Response {
        let (response, index) = {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            let mut v6 = self.v6.write().unwrap_or_else(PoisonError::into_inner);
            let (table, _, others) = &mut *state;
            let response = others.apply_with_v6(table, &mut v6, command);
            state.1 += 1;
            (response, state.1)
        };
        self.changed.send_replace(index);
        response
    }

    /// The current applied index.
    pub fn index(&self) -> u64 {
        self.state.read().unwrap_or_else(PoisonError::into_inner).1
    }
}

impl Default for MemoryZoneSource {
    fn default() -> Self {
        MemoryZoneSource::new(LeaseTable::default(), 0)
    }
}

impl ZoneSource for MemoryZoneSource {
    fn read(&self, read: &mut dyn FnMut(&LeaseTable, u64)) {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        read(&state.0, state.1);
    }

    fn read_with_v6(&self, read: &mut dyn FnMut(&LeaseTable, Option<&V6Leases>, u64)) {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let v6 = self.v6.read().unwrap_or_else(PoisonError::into_inner);
        read(&state.0, Some(&v6), state.1);
    }

    fn read_networks(&self, read: &mut NetworksRead<'_>) {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let v6 = self.v6.read().unwrap_or_else(PoisonError::into_inner);
        read(&state.0, Some(&v6), &state.2, state.1);
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
