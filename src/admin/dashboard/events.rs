//! Recent cluster events for the dashboard: leader changes, hostname
//! conflicts and declined addresses, in a bounded log.
//!
//! Each watcher is pure: it is shown the current state and answers the events
//! since the last look. Conflicts and declines carry their own time (the
//! conflict's `at`, the decline's quarantine start), so a node that replays
//! its Raft log after a restart reports only those still inside the window,
//! at the time they happened.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use raftmasq_consensus::NodeId;
use raftmasq_consensus::state::{HostnameConflict, Millis};
use serde::Serialize;

use super::ring::Ring;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Event {
    /// Increases by one per event on this node, so a page can tell new ones.
    pub id: u64,
    pub at: Millis,
    /// `leader`, `conflict` or `decline`.
    pub kind: &'static str,
    pub message: String,
}

/// The newest events, oldest first.
#[derive(Debug)]
pub(crate) struct EventLog {
    events: Ring<Event>,
    next_id: u64,
}

impl EventLog {
    pub(crate) fn new(capacity: usize) -> EventLog {
        EventLog {
            events: Ring::new(capacity),
            next_id: 1,
        }
    }

    pub(crate) fn push(&mut self, at: Millis, kind: &'static str, message: String) {
        let id = self.next_id;
        self.next_id += 1;
        self.events.push(Event {
            id,
            at,
            kind,
            message,
        });
    }

    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.iter().cloned().collect()
    }
}

/// What a watcher answers: when and what.
pub(crate) type Found = (Millis, &'static str, String);

/// Leader changes, from successive looks at this node's Raft metrics.
#[derive(Debug, Default)]
pub(crate) struct LeaderWatch {
    /// `None` before the first look.
    last: Option<Option<NodeId>>,
}

impl LeaderWatch {
    pub(crate) fn observe(
        &mut self,
        leader: Option<NodeId>,
        term: u64,
        now: Millis,
    ) -> Option<Found> {
        let previous = self.last.replace(leader);
        if previous == Some(leader) {
            return None;
        }
        let message = match (previous.flatten(), leader) {
            (_, Some(leader)) => format!("node {leader} is the leader (term {term})"),
            (Some(old), None) => format!("leader {old} lost; electing a new one (term {term})"),
            // The first look, before any election: nothing happened yet.
            (None, None) => return None,
        };
        Some((now, "leader", message))
    }
}

/// New hostname conflicts in the replicated table.
#[derive(Debug)]
pub(crate) struct ConflictWatch {
    window_ms: Millis,
    seen: BTreeSet<(Millis, String, String)>,
}

impl ConflictWatch {
    pub(crate) fn new(window_ms: Millis) -> ConflictWatch {
        ConflictWatch {
            window_ms,
            seen: BTreeSet::new(),
        }
    }

    pub(crate) fn observe<'a>(
        &mut self,
        conflicts: impl IntoIterator<Item = &'a HostnameConflict>,
        now: Millis,
    ) -> Vec<Found> {
        let since = now.saturating_sub(self.window_ms);
        // Forget what fell out of the window, so `seen` stays small.
        self.seen = self.seen.split_off(&(since, String::new(), String::new()));
        let mut found = Vec::new();
        for conflict in conflicts {
            if conflict.at < since {
                continue;
            }
            let key = (
                conflict.at,
                conflict.name.clone(),
                conflict.claimant_mac.to_string(),
            );
            if !self.seen.insert(key) {
                continue;
            }
            let outcome = match &conflict.granted_instead {
                Some(instead) => format!("got {instead} instead"),
                None => "was refused the name".to_string(),
            };
            // An empty owner is the zone itself: a static record or a name
            // server holds the name (see `raftmasq_state`'s `zone_conflict`).
            let holder = if conflict.owner.0.is_empty() {
                "the zone (a static record or name server)".to_string()
            } else {
                format!("{} ({})", conflict.owner, conflict.owner_address)
            };
            found.push((
                conflict.at,
                "conflict",
                format!(
                    "hostname {} is held by {holder}; {} ({}) {outcome}",
                    conflict.name, conflict.claimant_mac, conflict.claimant_address,
                ),
            ));
        }
        found
    }
}

/// New quarantines (DHCPDECLINE) in the replicated table.
#[derive(Debug)]
pub(crate) struct DeclineWatch {
    window_ms: Millis,
    known: BTreeMap<Ipv4Addr, Millis>,
}

impl DeclineWatch {
    pub(crate) fn new(window_ms: Millis) -> DeclineWatch {
        DeclineWatch {
            window_ms,
            known: BTreeMap::new(),
        }
    }

    /// `quarantined` is (address, end of quarantine); `quarantine_ms` how long
    /// a quarantine lasts, so its start is the time of the decline.
    pub(crate) fn observe(
        &mut self,
        quarantined: impl IntoIterator<Item = (Ipv4Addr, Millis)>,
        quarantine_ms: Millis,
        now: Millis,
    ) -> Vec<Found> {
        let since = now.saturating_sub(self.window_ms);
        let current: BTreeMap<Ipv4Addr, Millis> = quarantined.into_iter().collect();
        let mut found = Vec::new();
        for (&address, &until) in &current {
            if self.known.get(&address) == Some(&until) {
                continue;
            }
            let declined_at = until.saturating_sub(quarantine_ms);
            if declined_at >= since {
                found.push((
                    declined_at,
                    "decline",
                    format!(
                        "{address} declined by its client (in use on the network): quarantined for {} s",
                        quarantine_ms / 1000
                    ),
                ));
            }
        }
        self.known = current;
        found
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use raftmasq_consensus::state::{ClientId, HostnameConflict, MacAddr};

    use super::{ConflictWatch, DeclineWatch, EventLog, LeaderWatch};

    #[test]
    fn the_log_numbers_events_and_keeps_the_newest() {
        let mut log = EventLog::new(2);
        for n in 0..3 {
            log.push(n, "leader", format!("event {n}"));
        }
        let events = log.events();
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].id, events[1].id), (2, 3));
        assert_eq!(events[1].message, "event 2");
    }

    #[test]
    fn leader_changes_are_reported_once_each() {
        let mut watch = LeaderWatch::default();
        assert_eq!(watch.observe(None, 0, 1), None, "no leader yet is no event");
        let elected = watch.observe(Some(2), 1, 2).expect("an election");
        assert_eq!(elected.2, "node 2 is the leader (term 1)");
        assert_eq!(watch.observe(Some(2), 1, 3), None);
        let lost = watch.observe(None, 2, 4).expect("a loss");
        assert!(lost.2.contains("leader 2 lost"), "{}", lost.2);
        let next = watch.observe(Some(3), 2, 5).expect("a new leader");
        assert_eq!(
            (next.0, next.2.as_str()),
            (5, "node 3 is the leader (term 2)")
        );
    }

    #[test]
    fn a_leader_seen_at_the_first_look_is_reported() {
        let mut watch = LeaderWatch::default();
        assert!(watch.observe(Some(1), 4, 10).is_some());
    }

    fn conflict(name: &str, claimant: u8, at: u64) -> HostnameConflict {
        let owner = MacAddr([2, 0, 0, 0, 0, 1]);
        let claimant_mac = MacAddr([2, 0, 0, 0, 0, claimant]);
        HostnameConflict {
            name: name.into(),
            owner: ClientId::from_mac(owner),
            owner_address: Ipv4Addr::new(10, 0, 0, 10),
            claimant: ClientId::from_mac(claimant_mac),
            claimant_mac,
            claimant_address: Ipv4Addr::new(10, 0, 0, 11),
            granted_instead: Some(format!("{name}-2")),
            at,
        }
    }

    #[test]
    fn a_conflict_with_the_zone_names_the_zone_as_holder() {
        let mut watch = ConflictWatch::new(600_000);
        let mut with_zone = conflict("www", 2, 1_000_000);
        with_zone.owner = ClientId(Vec::new());
        with_zone.owner_address = std::net::Ipv4Addr::UNSPECIFIED;
        with_zone.granted_instead = None;
        let found = watch.observe(&[with_zone], 1_000_500);
        assert!(
            found[0]
                .2
                .contains("held by the zone (a static record or name server);"),
            "{}",
            found[0].2
        );
    }

    #[test]
    fn new_conflicts_are_reported_once_at_their_own_time() {
        let mut watch = ConflictWatch::new(600_000);
        let first = [conflict("web", 2, 1_000_000)];
        let found = watch.observe(&first, 1_000_500);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 1_000_000);
        assert!(found[0].2.contains("web-2 instead"), "{}", found[0].2);
        assert!(watch.observe(&first, 1_001_000).is_empty());
        let both = [conflict("web", 2, 1_000_000), conflict("db", 3, 1_002_000)];
        let found = watch.observe(&both, 1_002_000);
        assert_eq!(found.len(), 1);
        assert!(found[0].2.starts_with("hostname db"), "{}", found[0].2);
    }

    #[test]
    fn conflicts_older_than_the_window_are_history_not_events() {
        let mut watch = ConflictWatch::new(600_000);
        let old = [conflict("web", 2, 1_000)];
        assert!(watch.observe(&old, 10_000_000).is_empty());
    }

    #[test]
    fn new_declines_are_reported_once_at_the_decline_time() {
        let mut watch = DeclineWatch::new(600_000);
        let address = Ipv4Addr::new(10, 0, 0, 50);
        let found = watch.observe([(address, 1_300_000)], 300_000, 1_000_100);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 1_000_000);
        assert!(
            found[0].2.starts_with("10.0.0.50 declined"),
            "{}",
            found[0].2
        );
        assert!(
            watch
                .observe([(address, 1_300_000)], 300_000, 1_000_200)
                .is_empty()
        );
        // The quarantine ended, then the address was declined again.
        assert!(watch.observe([], 300_000, 1_400_000).is_empty());
        let again = watch.observe([(address, 1_800_000)], 300_000, 1_500_000);
        assert_eq!(again.len(), 1);
    }

    #[test]
    fn declines_older_than_the_window_are_not_events() {
        let mut watch = DeclineWatch::new(600_000);
        let address = Ipv4Addr::new(10, 0, 0, 50);
        assert!(
            watch
                .observe([(address, 400_000)], 300_000, 5_000_000)
                .is_empty()
        );
    }
}
