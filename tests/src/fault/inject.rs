//! The faults, each one injected into a running [`TestbedCluster`] and healed
//! again, so one testbed serves a whole schedule.

use std::time::Duration;

use super::history::wall_ms;
use crate::testbed_cluster::TestbedCluster;

/// How far ahead the skewed clocks run: more than a lease (2 minutes on the
/// testbed), so a leader that trusted its own clock would end every lease.
pub const CLOCK_SKEW_MS: i64 = 180_000;

const RECOVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9` of the leader; it restarts at heal.
    KillLeader,
    /// `kill -9` of a follower; it restarts at heal.
    KillFollower,
    /// The leader's host loses its underlay link (both directions).
    PartitionLeader,
    /// Everything the leader's host sends into the underlay is dropped; it
    /// still hears the others.
    OneWayLeader,
    /// `kill -9` of every node at once, then all restart: a power loss.
    RestartAll,
    /// SIGSTOP of the leader past the election timeout, then SIGCONT.
    PauseLeader,
    /// One node's clock runs ahead, and that node leads (leaders are
    /// killed until it wins an election).
    ClockAhead,
    /// The same with the clock behind.
    ClockBehind,
}

impl Fault {
    pub const ALL: [Fault; 8] = [
        Fault::KillLeader,
        Fault::KillFollower,
        Fault::PartitionLeader,
        Fault::OneWayLeader,
        Fault::RestartAll,
        Fault::PauseLeader,
        Fault::ClockAhead,
        Fault::ClockBehind,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Fault::KillLeader => "kill -9 leader",
            Fault::KillFollower => "kill -9 follower",
            Fault::PartitionLeader => "partition leader's host (underlay down)",
            Fault::OneWayLeader => "one-way partition (leader's outbound dropped)",
            Fault::RestartAll => "restart all hosts at once (power loss)",
            Fault::PauseLeader => "SIGSTOP leader past the election timeout",
            Fault::ClockAhead => "leader's clock 180 s ahead",
            Fault::ClockBehind => "leader's clock 180 s behind",
        }
    }

    /// The skew of a clock fault.
    pub fn clock_offset_ms(&self) -> Option<i64> {
        match self {
            Fault::ClockAhead => Some(CLOCK_SKEW_MS),
            Fault::ClockBehind => Some(-CLOCK_SKEW_MS),
            _ => None,
        }
    }

    /// Whether this is a clock fault (run last: see [`Fault::ALL`]).
    pub fn is_clock(&self) -> bool {
        self.clock_offset_ms().is_some()
    }

    /// Parses a [`Fault::key`].
    pub fn from_key(key: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|fault| fault.key() == key)
    }

    /// A short name for schedules and environment variables.
    pub fn key(&self) -> &'static str {
        match self {
            Fault::KillLeader => "kill-leader",
            Fault::KillFollower => "kill-follower",
            Fault::PartitionLeader => "partition",
            Fault::OneWayLeader => "one-way",
            Fault::RestartAll => "restart-all",
            Fault::PauseLeader => "pause",
            Fault::ClockAhead => "clock-ahead",
            Fault::ClockBehind => "clock-behind",
        }
    }
}

/// A fault in place: what it touched and who should still work.
#[derive(Debug, Clone)]
pub struct Injected {
    pub fault: Fault,
    /// When the fault began (wall clock, ms).
    pub injected_ms: u64,
    /// The leader when the fault began.
    pub leader: u8,
    /// The host the fault hit (for RestartAll: the leader).
    pub target: u8,
    /// Hosts that keep a quorum during the fault (empty: none does).
    pub quorum: Vec<u8>,
    /// Hosts whose DNS is expected to answer during the fault.
    pub surviving: Vec<u8>,
    /// An old leader cut off from the quorum, which must stop granting.
    pub deposed: Option<u8>,
}

/// Preparation that is not itself the fault: for a clock fault, a follower
/// restarts with its clock [`CLOCK_SKEW_MS`] ahead or behind.
pub fn prepare(cluster: &mut TestbedCluster, fault: Fault, leader: u8) {
    if let Some(offset_ms) = fault.clock_offset_ms() {
        let skewed = others(cluster, leader)[0];
        cluster.kill_node(skewed);
        cluster.start_node_with_clock_offset(skewed, offset_ms);
        cluster.wait_leader_among(&all(cluster), RECOVERY);
    }
}

/// The fault itself; [`prepare`] must have run. `injected_ms` in the answer
/// is when it was in place (the kill returned, the rule was loaded).
pub fn inject(cluster: &mut TestbedCluster, fault: Fault, leader: u8) -> Injected {
    let hosts = all(cluster);
    let rest = others(cluster, leader);
    let mut injected = Injected {
        fault,
        injected_ms: wall_ms(),
        leader,
        target: leader,
        quorum: rest.clone(),
        surviving: rest.clone(),
        deposed: None,
    };
    match fault {
        Fault::KillLeader => cluster.kill_node(leader),
        Fault::KillFollower => {
            let follower = rest[0];
            cluster.kill_node(follower);
            injected.target = follower;
            injected.quorum = hosts.iter().copied().filter(|h| *h != follower).collect();
            injected.surviving = injected.quorum.clone();
        }
        Fault::PartitionLeader => {
            cluster.testbed.cut_underlay(leader).expect("cut underlay");
            injected.deposed = Some(leader);
        }
        Fault::OneWayLeader => {
            cluster
                .testbed
                .drop_underlay_output(leader)
                .expect("one-way partition");
            injected.deposed = Some(leader);
        }
        Fault::RestartAll => {
            cluster.restart_all();
            injected.quorum = Vec::new();
            injected.surviving = hosts;
        }
        Fault::PauseLeader => {
            cluster.pause_node(leader);
            injected.deposed = Some(leader);
        }
        Fault::ClockAhead | Fault::ClockBehind => {
            let skewed = rest[0];
            elect(cluster, skewed, leader);
            injected.target = skewed;
            injected.quorum = hosts.clone();
            injected.surviving = hosts;
        }
    }
    // The fault is in place from here (for the clock: the skewed node leads).
    injected.injected_ms = wall_ms();
    injected
}

/// Kills leaders (restarting each with a true clock) until `wanted` leads;
/// elections are random (about two rounds on average), so at most 16.
fn elect(cluster: &mut TestbedCluster, wanted: u8, leader: u8) {
    let mut leader = leader;
    for _ in 0..16 {
        if leader == wanted {
            return;
        }
        cluster.kill_node(leader);
        let rest = others(cluster, leader);
        let next = cluster.wait_leader_among(&rest, RECOVERY);
        cluster.start_node(leader);
        cluster.wait_leader_among(&all(cluster), RECOVERY);
        leader = u8::try_from(next).unwrap_or(0);
    }
    panic!("node {wanted} did not become the leader in 16 elections");
}

/// Undoes the fault; the cluster may still be electing when this returns.
pub fn heal(cluster: &mut TestbedCluster, injected: &Injected) {
    let target = injected.target;
    match injected.fault {
        Fault::KillLeader | Fault::KillFollower => cluster.start_node(target),
        Fault::PartitionLeader => cluster.testbed.heal_underlay(target).expect("heal"),
        Fault::OneWayLeader => cluster
            .testbed
            .clear_underlay_output(target)
            .expect("clear one-way partition"),
        // The nodes restarted at injection; healing is their recovery.
        Fault::RestartAll => {}
        Fault::PauseLeader => cluster.resume_node(target),
        Fault::ClockAhead | Fault::ClockBehind => {
            cluster.kill_node(target);
            cluster.start_node(target);
        }
    }
}

fn all(cluster: &TestbedCluster) -> Vec<u8> {
    cluster.running().collect()
}

fn others(cluster: &TestbedCluster, leader: u8) -> Vec<u8> {
    all(cluster).into_iter().filter(|h| *h != leader).collect()
}
