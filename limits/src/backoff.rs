//! Pauses that double after each failure up to a cap and start over after a
//! success: how long to leave a peer alone that answers with errors, and how
//! long an accept loop waits when the process is out of file handles.

use std::time::Duration;

/// `base`, 2·`base`, 4·`base`, … up to `cap`; [`ExponentialBackoff::reset`]
/// after a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExponentialBackoff {
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl ExponentialBackoff {
    pub const fn new(base: Duration, cap: Duration) -> ExponentialBackoff {
        ExponentialBackoff {
            base,
            cap,
            failures: 0,
        }
    }

    /// Counts a failure and returns the pause before the next attempt.
    pub fn next_pause(&mut self) -> Duration {
        // 2^20 · base is far past any cap we use; stop doubling there.
        let doublings = self.failures.min(20);
        self.failures = self.failures.saturating_add(1);
        self.base
            .saturating_mul(1 << doublings)
            .min(self.cap.max(self.base))
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// A success: the next failure pauses `base` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::ExponentialBackoff;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn pauses_double_up_to_the_cap() {
        let mut backoff = ExponentialBackoff::new(100 * MS, 1000 * MS);
        let pauses: Vec<_> = (0..6).map(|_| backoff.next_pause()).collect();
        assert_eq!(pauses, [100, 200, 400, 800, 1000, 1000].map(|ms| ms * MS));
        assert_eq!(backoff.failures(), 6);
    }

    #[test]
    fn a_success_starts_over() {
        let mut backoff = ExponentialBackoff::new(10 * MS, 1000 * MS);
        backoff.next_pause();
        backoff.next_pause();
        backoff.reset();
        assert_eq!(backoff.next_pause(), 10 * MS);
    }

    #[test]
    fn many_failures_neither_overflow_nor_pass_the_cap() {
        let mut backoff = ExponentialBackoff::new(Duration::from_secs(1), Duration::from_secs(5));
        for _ in 0..100 {
            assert!(backoff.next_pause() <= Duration::from_secs(5));
        }
    }
}
