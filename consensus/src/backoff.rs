//! One pause rule for every loop that retries until the cluster is ready:
//! a write or read-index while leadership moves, a membership change while
//! another is in flight, a join while the cluster forms, the demo waiting for
//! its leader. Each loop states its step, cap, tries and deadline here instead
//! of computing its own pause.

use std::time::Duration;

use tokio::time::{Instant, sleep};

/// The pauses between the attempts of a retry loop: `step` after the first
/// failure, growing by `step` after each further one up to `max`; no more
/// pauses once `tries` attempts have been made or when the next pause would
/// reach the deadline.
#[derive(Debug, Clone)]
pub struct Backoff {
    step: Duration,
    max: Duration,
    deadline: Option<Instant>,
    tries: Option<u32>,
    failures: u32,
}

impl Backoff {
    /// Pauses of `step`, 2·`step`, … up to `max`.
    pub fn linear(step: Duration, max: Duration) -> Backoff {
        Backoff {
            step,
            max: max.max(step),
            deadline: None,
            tries: None,
            failures: 0,
        }
    }

    /// The same pause after every failure.
    pub fn fixed(pause: Duration) -> Backoff {
        Backoff::linear(pause, pause)
    }

    /// No pause that would end at or after `deadline`.
    pub fn until(mut self, deadline: Instant) -> Backoff {
        self.deadline = Some(deadline);
        self
    }

    /// At most `tries` attempts in all.
    pub fn at_most(mut self, tries: u32) -> Backoff {
        self.tries = Some(tries);
        self
    }

    /// Failed attempts so far (calls to [`Backoff::next_pause`]).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Counts a failed attempt and returns the pause before the next one, or
    /// `None` when there is to be no next one (tries or time used up).
    pub fn next_pause(&mut self, now: Instant) -> Option<Duration> {
        self.failures = self.failures.saturating_add(1);
        if self.tries.is_some_and(|tries| self.failures >= tries) {
            return None;
        }
        let pause = self.step.saturating_mul(self.failures).min(self.max);
        match self.deadline {
            Some(deadline) if now + pause >= deadline => None,
            _ => Some(pause),
        }
    }

    /// Counts a failed attempt and sleeps until the next one is due; `false`
    /// at once, without sleeping, when there is to be no next one.
    pub async fn wait(&mut self) -> bool {
        match self.next_pause(Instant::now()) {
            Some(pause) => {
                sleep(pause).await;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::Backoff;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn linear_pauses_grow_by_the_step_up_to_the_cap() {
        let now = Instant::now();
        let mut backoff = Backoff::linear(20 * MS, 60 * MS);
        let pauses: Vec<_> = (0..5).map(|_| backoff.next_pause(now)).collect();
        assert_eq!(
            pauses,
            [20, 40, 60, 60, 60].map(|ms| Some(ms * MS)).to_vec()
        );
        assert_eq!(backoff.failures(), 5);
    }

    #[test]
    fn fixed_pauses_do_not_grow() {
        let now = Instant::now();
        let mut backoff = Backoff::fixed(500 * MS);
        assert_eq!(backoff.next_pause(now), Some(500 * MS));
        assert_eq!(backoff.next_pause(now), Some(500 * MS));
    }

    #[test]
    fn no_pause_reaches_the_deadline() {
        let now = Instant::now();
        let mut backoff = Backoff::linear(20 * MS, 200 * MS).until(now + 50 * MS);
        assert_eq!(backoff.next_pause(now), Some(20 * MS));
        assert_eq!(backoff.next_pause(now), Some(40 * MS));
        // 60 ms would end after the deadline: give up instead of overshooting.
        assert_eq!(backoff.next_pause(now), None);
        // Nor one that would end exactly at it.
        let mut exact = Backoff::fixed(50 * MS).until(now + 50 * MS);
        assert_eq!(exact.next_pause(now), None);
    }

    #[test]
    fn at_most_counts_every_attempt() {
        let now = Instant::now();
        let mut backoff = Backoff::fixed(MS).at_most(3);
        // Attempts 1 and 2 fail and are retried; attempt 3 is the last.
        assert_eq!(backoff.next_pause(now), Some(MS));
        assert_eq!(backoff.next_pause(now), Some(MS));
        assert_eq!(backoff.next_pause(now), None);
    }

    #[tokio::test]
    async fn wait_sleeps_the_pause_and_refuses_past_the_deadline() {
        let start = Instant::now();
        let mut backoff = Backoff::fixed(10 * MS).until(start + 15 * MS);
        assert!(backoff.wait().await);
        assert!(start.elapsed() >= 10 * MS);
        let before = Instant::now();
        assert!(!backoff.wait().await);
        assert!(before.elapsed() < 10 * MS, "refusing does not sleep");
    }
}
