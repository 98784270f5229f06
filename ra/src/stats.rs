//! The RA server's counters: atomics indexed by outcome (for tests and
//! logs), each also counted through the `metrics` facade under the names of
//! `raftmasq_api::metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use raftmasq_api::metrics::{RA_DROPPED, RA_SENT, RA_SOLICITATIONS};

use crate::solicit::Malformed;

/// Where a sent advertisement went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Multicast,
    Unicast,
    /// Router lifetime zero, as this host stops (RFC 4861 §6.2.5).
    Final,
}

impl Sent {
    const ALL: [Sent; 3] = [Sent::Multicast, Sent::Unicast, Sent::Final];
    fn label(self) -> &'static str {
        match self {
            Sent::Multicast => "multicast",
            Sent::Unicast => "unicast",
            Sent::Final => "final",
        }
    }
}

/// What became of a valid solicitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solicited {
    Scheduled,
    AlreadyDue,
    QueueFull,
}

impl Solicited {
    const ALL: [Solicited; 3] = [
        Solicited::Scheduled,
        Solicited::AlreadyDue,
        Solicited::QueueFull,
    ];
    fn label(self) -> &'static str {
        match self {
            Solicited::Scheduled => "scheduled",
            Solicited::AlreadyDue => "already_due",
            Solicited::QueueFull => "queue_full",
        }
    }
}

/// Counters since start. `Default` is all zero.
#[derive(Debug, Default)]
pub struct Stats {
    dropped: [AtomicU64; Malformed::ALL.len()],
    solicited: [AtomicU64; Solicited::ALL.len()],
    sent: [AtomicU64; Sent::ALL.len()],
}

impl Stats {
    pub fn drop(&self, reason: Malformed) {
        self.dropped[drop_index(reason)].fetch_add(1, Ordering::Relaxed);
        metrics::counter!(RA_DROPPED, "reason" => reason.label()).increment(1);
    }

    pub fn solicited(&self, outcome: Solicited) {
        self.solicited[outcome as usize].fetch_add(1, Ordering::Relaxed);
        metrics::counter!(RA_SOLICITATIONS, "outcome" => outcome.label()).increment(1);
    }

    pub fn sent(&self, kind: Sent) {
        self.sent[kind as usize].fetch_add(1, Ordering::Relaxed);
        metrics::counter!(RA_SENT, "destination" => kind.label()).increment(1);
    }

    #[cfg(test)]
    pub fn dropped(&self, reason: Malformed) -> u64 {
        self.dropped[drop_index(reason)].load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub fn solicitations(&self, outcome: Solicited) -> u64 {
        self.solicited[outcome as usize].load(Ordering::Relaxed)
    }
}

fn drop_index(reason: Malformed) -> usize {
    match reason {
        Malformed::HopLimit => 0,
        Malformed::Code => 1,
        Malformed::Short => 2,
        Malformed::BadOption => 3,
        Malformed::LinkLayerFromUnspecified => 4,
        Malformed::Source => 5,
    }
}

/// Registers every series at zero, so each family is in `/metrics` before
/// the first packet of its kind.
pub fn register_metrics() {
    for reason in Malformed::ALL {
        metrics::counter!(RA_DROPPED, "reason" => reason.label()).increment(0);
    }
    for outcome in Solicited::ALL {
        metrics::counter!(RA_SOLICITATIONS, "outcome" => outcome.label()).increment(0);
    }
    for kind in Sent::ALL {
        metrics::counter!(RA_SENT, "destination" => kind.label()).increment(0);
    }
}
