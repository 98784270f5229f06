//! When this node last accepted a leader's AppendEntries (a heartbeat, or
//! entries) or snapshot.
//!
//! Why: a learner never stands for election, so when the voters fall silent
//! openraft keeps naming the last leader it followed, forever. Without this
//! a learner cut off from every voter would go on saying it follows a leader
//! and has a quorum. A follower needs none of this: it starts an election
//! when its leader falls silent, and stops naming it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Default)]
pub struct LeaderContact {
    last: Arc<Mutex<Option<Instant>>>,
}

impl LeaderContact {
    /// A leader's request was accepted just now.
    pub fn heard(&self) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    /// Whether a leader was heard within `window`.
    pub fn heard_within(&self, window: Duration) -> bool {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_until_heard_then_fresh_for_the_window() {
        let contact = LeaderContact::default();
        assert!(!contact.heard_within(Duration::from_secs(60)));
        contact.heard();
        assert!(contact.heard_within(Duration::from_secs(60)));
        assert!(!contact.heard_within(Duration::ZERO));
    }
}
