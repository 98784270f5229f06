//! One log line per key per interval: a peer that fails thousands of times a
//! second, or a client that repeats a refused request, gives one line each
//! interval saying how many like it were left out.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Keys remembered at most: an attacker who varies the key (a new MAC per
/// packet) must not grow the map without bound. When it is full of keys
/// logged within the interval, a new key is suppressed.
const DEFAULT_MAX_KEYS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Entry {
    logged_at: Instant,
    suppressed: u64,
}

/// Decides, per key, whether a line may be logged now. Pure: time is an
/// argument.
#[derive(Debug)]
pub struct LogLimiter<K> {
    interval: Duration,
    max_keys: usize,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> LogLimiter<K> {
    pub fn new(interval: Duration) -> LogLimiter<K> {
        LogLimiter::with_max_keys(interval, DEFAULT_MAX_KEYS)
    }

    pub fn with_max_keys(interval: Duration, max_keys: usize) -> LogLimiter<K> {
        LogLimiter {
            interval,
            max_keys,
            entries: HashMap::new(),
        }
    }

    /// `Some(n)`: log this one now, and say that `n` lines for this key were
    /// left out since the last one. `None`: leave it out (it is counted).
    pub fn check(&mut self, key: &K, now: Instant) -> Option<u64> {
        if let Some(entry) = self.entries.get_mut(key) {
            if now.saturating_duration_since(entry.logged_at) < self.interval {
                entry.suppressed = entry.suppressed.saturating_add(1);
                return None;
            }
            let suppressed = entry.suppressed;
            *entry = Entry {
                logged_at: now,
                suppressed: 0,
            };
            return Some(suppressed);
        }
        if self.entries.len() >= self.max_keys {
            // Keys whose interval has passed would be logged anyway; their
            // counts of left-out lines are dropped with them.
            let interval = self.interval;
            self.entries
                .retain(|_, entry| now.saturating_duration_since(entry.logged_at) < interval);
            if self.entries.len() >= self.max_keys {
                return None;
            }
        }
        self.entries.insert(
            key.clone(),
            Entry {
                logged_at: now,
                suppressed: 0,
            },
        );
        Some(0)
    }
}

/// A [`LogLimiter`] behind a lock, reading the clock: for `static`s at the
/// log sites.
#[derive(Debug)]
pub struct SharedLogLimiter<K>(Mutex<LogLimiter<K>>);

impl<K: Hash + Eq + Clone> SharedLogLimiter<K> {
    pub fn new(interval: Duration) -> SharedLogLimiter<K> {
        SharedLogLimiter(Mutex::new(LogLimiter::new(interval)))
    }

    /// [`LogLimiter::check`] at the current time.
    pub fn check(&self, key: &K) -> Option<u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(key, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::LogLimiter;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn one_line_per_key_per_interval_with_the_count_left_out() {
        let start = Instant::now();
        let mut limiter = LogLimiter::new(10 * SECOND);
        assert_eq!(limiter.check(&"peer 2", start), Some(0));
        // 1,000 more within the interval: none logged.
        for millis in 1..=1000 {
            let now = start + Duration::from_millis(millis);
            assert_eq!(limiter.check(&"peer 2", now), None);
        }
        // The interval over: one line, saying 1,000 were left out.
        assert_eq!(limiter.check(&"peer 2", start + 10 * SECOND), Some(1000));
        assert_eq!(limiter.check(&"peer 2", start + 11 * SECOND), None);
        assert_eq!(limiter.check(&"peer 2", start + 20 * SECOND), Some(1));
    }

    #[test]
    fn keys_are_limited_separately() {
        let now = Instant::now();
        let mut limiter = LogLimiter::new(10 * SECOND);
        assert_eq!(limiter.check(&1, now), Some(0));
        assert_eq!(limiter.check(&2, now), Some(0));
        assert_eq!(limiter.check(&1, now), None);
    }

    #[test]
    fn the_map_of_keys_stays_bounded() {
        let start = Instant::now();
        let mut limiter = LogLimiter::with_max_keys(10 * SECOND, 3);
        for key in 0..3 {
            assert_eq!(limiter.check(&key, start), Some(0));
        }
        // Full of keys logged just now: a new key is left out, not added.
        assert_eq!(limiter.check(&99, start + SECOND), None);
        assert_eq!(limiter.entries.len(), 3);
        // Once their interval has passed they make room.
        assert_eq!(limiter.check(&99, start + 10 * SECOND), Some(0));
        assert_eq!(limiter.entries.len(), 1);
    }
}
