//! Leaves a member alone while it answers with errors. A member that fails
//! every request (HTTP 5xx, a refused token or certificate, an answer that
//! does not decode, a TLS handshake that fails) used to get every retry at
//! once: about 3,000 requests and 10,000 log lines a second from the leader
//! (issue 15). After a failure, requests to that member fail here without
//! being sent until a pause has passed; the pause doubles with each further
//! failure up to [`CAP`] and starts over at the first success. One request
//! probes when the pause is over; the others keep failing fast until it
//! answers. Timeouts do not count: each already costs its whole timeout.
//!
//! openraft backs off by itself only after `Unreachable` (500 ms, constant,
//! by default): a failed request here is `Unreachable` to it, and its own
//! pauses follow the same doubling (`PeerConnection::backoff`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use raftmasq_limits::ExponentialBackoff;

use crate::types::NodeId;

/// The first pause after a failure.
pub(crate) const BASE: Duration = Duration::from_millis(50);
/// The longest pause: a member that recovers is sent to within this.
pub(crate) const CAP: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Failing {
    backoff: ExponentialBackoff,
    retry_at: Instant,
}

/// Per member: failing since when, and when it may be asked again. Pure:
/// time is an argument.
#[derive(Debug, Default)]
pub(crate) struct PeerBackoff {
    failing: HashMap<NodeId, Failing>,
}

impl PeerBackoff {
    /// `Ok` if a request to `target` may be sent now; else how long until
    /// it may. A request let through after a pause is the probe: the next
    /// ones wait for its outcome (up to another pause).
    pub(crate) fn admit(&mut self, target: NodeId, now: Instant) -> Result<(), Duration> {
        let Some(failing) = self.failing.get_mut(&target) else {
            return Ok(());
        };
        if now < failing.retry_at {
            return Err(failing.retry_at - now);
        }
        let mut probe_pause = failing.backoff.clone();
        failing.retry_at = now + probe_pause.next_pause();
        Ok(())
    }

    /// A request to `target` failed: the pause before the next one.
    pub(crate) fn failed(&mut self, target: NodeId, now: Instant) -> Duration {
        let failing = self.failing.entry(target).or_insert_with(|| Failing {
            backoff: ExponentialBackoff::new(BASE, CAP),
            retry_at: now,
        });
        let pause = failing.backoff.next_pause();
        failing.retry_at = now + pause;
        pause
    }

    /// A request to `target` was answered: no pause any more.
    pub(crate) fn succeeded(&mut self, target: NodeId) {
        self.failing.remove(&target);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{BASE, CAP, PeerBackoff};

    #[test]
    fn a_failing_member_is_left_alone_for_a_doubling_pause() {
        let start = Instant::now();
        let mut backoff = PeerBackoff::default();
        assert_eq!(backoff.admit(2, start), Ok(()));
        assert_eq!(backoff.failed(2, start), BASE);
        assert_eq!(backoff.admit(2, start), Err(BASE));
        // Other members are not affected.
        assert_eq!(backoff.admit(3, start), Ok(()));
        let later = start + BASE;
        assert_eq!(backoff.admit(2, later), Ok(()));
        assert_eq!(backoff.failed(2, later), 2 * BASE);
    }

    #[test]
    fn one_probe_at_a_time_after_the_pause() {
        let start = Instant::now();
        let mut backoff = PeerBackoff::default();
        backoff.failed(2, start);
        let after = start + BASE;
        assert_eq!(backoff.admit(2, after), Ok(()), "the probe");
        assert!(backoff.admit(2, after).is_err(), "the rest wait for it");
    }

    #[test]
    fn the_pause_stops_growing_at_the_cap_and_a_success_ends_it() {
        let mut now = Instant::now();
        let mut backoff = PeerBackoff::default();
        let mut pause = Duration::ZERO;
        for _ in 0..20 {
            pause = backoff.failed(2, now);
            now += pause;
        }
        assert_eq!(pause, CAP);
        backoff.succeeded(2);
        assert_eq!(backoff.admit(2, now), Ok(()));
        assert_eq!(backoff.failed(2, now), BASE, "starts over");
    }

    #[test]
    fn requests_sent_in_a_minute_of_failures_are_few() {
        // A member failing every request, asked as often as callers like
        // (every millisecond): only the admitted ones reach it.
        let start = Instant::now();
        let mut backoff = PeerBackoff::default();
        let mut sent = 0;
        for millis in 0..60_000 {
            let now = start + Duration::from_millis(millis);
            if backoff.admit(2, now).is_ok() {
                sent += 1;
                backoff.failed(2, now);
            }
        }
        // 50 ms doubling to 2 s: about 5 to reach the cap, then one a second.
        assert!(sent <= 70, "{sent} requests in a minute");
    }
}
