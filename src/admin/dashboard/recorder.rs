//! The background task that fills the dashboard's history: it samples the
//! DHCP/DNS counters every few seconds and watches Raft and the replicated
//! table for events. It lives as long as the admin listener.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use raftmasq_consensus::ClusterNode;
use raftmasq_consensus::state::Millis;

use super::events::{ConflictWatch, DeclineWatch, EventLog, Found, LeaderWatch};
use super::rates::{Counters, RateHistory};

/// How often the counters are sampled.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How far back the charts and the event log reach.
pub(crate) const WINDOW: Duration = Duration::from_secs(600);
/// At most this many events are kept (a burst of conflicts cannot grow memory).
const MAX_EVENTS: usize = 200;
/// The table is scanned at most this often under a stream of commits.
const TABLE_SCAN_PAUSE: Duration = Duration::from_millis(250);

/// What the dashboard's history endpoint serves.
#[derive(Debug)]
pub(crate) struct History {
    pub rates: RateHistory,
    pub events: EventLog,
}

impl History {
    pub(crate) fn new() -> History {
        let samples = (WINDOW.as_secs() / SAMPLE_EVERY.as_secs()) as usize;
        History {
            rates: RateHistory::new(samples),
            events: EventLog::new(MAX_EVENTS),
        }
    }
}

pub(crate) type SharedHistory = Arc<Mutex<History>>;

pub(crate) fn lock(history: &SharedHistory) -> std::sync::MutexGuard<'_, History> {
    history.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs until the task is dropped; `counters` reads the process's counters.
pub(crate) async fn run(
    node: ClusterNode,
    history: SharedHistory,
    counters: impl Fn() -> Option<Counters>,
) {
    let window_ms = Millis::try_from(WINDOW.as_millis()).unwrap_or(Millis::MAX);
    let mut watches = Watches {
        leader: LeaderWatch::default(),
        conflicts: ConflictWatch::new(window_ms),
        declines: DeclineWatch::new(window_ms),
    };
    let mut metrics = node.raft().metrics();
    let mut applied = node.replica().subscribe();
    let (mut metrics_open, mut applied_open) = (true, true);
    let mut ticker = tokio::time::interval(SAMPLE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Some(counters) = counters() {
                    lock(&history).rates.record(node.clock().now_millis(), counters);
                }
                watches.leader(&node, &history);
                watches.table(&node, &history);
            }
            changed = metrics.changed(), if metrics_open => match changed {
                Ok(()) => watches.leader(&node, &history),
                Err(_) => metrics_open = false,
            },
            changed = applied.changed(), if applied_open => match changed {
                Ok(()) => {
                    watches.table(&node, &history);
                    tokio::time::sleep(TABLE_SCAN_PAUSE).await;
                }
                Err(_) => applied_open = false,
            },
        }
    }
}

struct Watches {
    leader: LeaderWatch,
    conflicts: ConflictWatch,
    declines: DeclineWatch,
}

impl Watches {
    fn leader(&mut self, node: &ClusterNode, history: &SharedHistory) {
        let metrics = node.metrics();
        let found = self.leader.observe(
            metrics.current_leader,
            metrics.current_term,
            node.clock().now_millis(),
        );
        if let Some((at, kind, message)) = found {
            tracing::debug!(%message, "dashboard event");
            lock(history).events.push(at, kind, message);
        }
    }

    fn table(&mut self, node: &ClusterNode, history: &SharedHistory) {
        let now = node.clock().now_millis();
        let mut found: Vec<Found> = {
            let replica = node.replica().read();
            let table = &replica.table;
            let quarantine_ms = table
                .settings()
                .map_or(0, |s| s.decline_quarantine_secs.saturating_mul(1000));
            let mut found = self.conflicts.observe(table.conflicts(), now);
            found.extend(
                self.declines
                    .observe(table.quarantined(), quarantine_ms, now),
            );
            found
        };
        if found.is_empty() {
            return;
        }
        found.sort_by_key(|(at, _, _)| *at);
        let mut history = lock(history);
        for (at, kind, message) in found {
            history.events.push(at, kind, message);
        }
    }
}
