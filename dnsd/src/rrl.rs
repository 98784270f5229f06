//! Response-rate limiting for UDP (`dns.rate_limit`, off by default), after
//! BIND's RRL: each client prefix (an IPv4 /24, an IPv6 /56 by default) has a
//! token bucket of `responses_per_second`, refilled continuously, holding at
//! most one second's worth. A datagram that finds the bucket empty is not
//! answered, except every `slip`-th of them, which gets an empty answer with
//! TC set: a real client behind a busy prefix retries over TCP (never
//! limited) and still gets its answer, while a forged source, the victim of
//! a reflection attack, receives at most a trickle of small datagrams.
//!
//! Pure: time comes in as milliseconds, so tests drive it. Memory is
//! bounded: at most `max_clients` buckets; when the table is full, idle ones
//! (refilled to the brim) are forgotten, and if none are, the newcomers
//! share one overflow bucket rather than growing the table.

use std::collections::HashMap;
use std::net::IpAddr;

/// The settings (`dns.rate_limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Answers per second per client prefix; also the burst allowed.
    pub responses_per_second: u32,
    /// Every this many limited datagrams, one gets a truncated answer;
    /// 0: never (all are dropped), 1: every one.
    pub slip: u32,
    /// Prefix lengths clients are grouped by.
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
    /// Buckets kept at most.
    pub max_clients: usize,
}

impl RateLimit {
    /// BIND's defaults for the grouping and slip.
    pub fn per_second(responses_per_second: u32) -> Self {
        RateLimit {
            responses_per_second,
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            max_clients: 65_536,
        }
    }
}

/// What to do with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Answer,
    Drop,
    /// Answer with an empty, truncated response.
    Slip,
}

/// Tokens are counted in thousandths, so a refill over a few milliseconds
/// is not lost to rounding.
const MILLI: u64 = 1_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    milli_tokens: u64,
    refilled_at: u64,
    limited: u32,
}

/// The table of buckets. Not thread-safe: the server keeps it behind a lock.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    settings: RateLimit,
    buckets: HashMap<Prefix, Bucket>,
    overflow: Option<Bucket>,
}

/// A client's address with the bits past the prefix cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Prefix(u128, bool);

impl RateLimiter {
    pub fn new(settings: RateLimit) -> Self {
        RateLimiter {
            settings,
            buckets: HashMap::new(),
            overflow: None,
        }
    }

    /// Takes one response's token for `client` at `now_ms`.
    pub fn check(&mut self, client: IpAddr, now_ms: u64) -> Verdict {
        let prefix = self.prefix(client);
        let capacity = u64::from(self.settings.responses_per_second) * MILLI;
        let full = Bucket {
            milli_tokens: capacity,
            refilled_at: now_ms,
            limited: 0,
        };
        if !self.buckets.contains_key(&prefix) && self.buckets.len() >= self.settings.max_clients {
            self.forget_idle(now_ms);
        }
        let settings = self.settings;
        let bucket =
            if self.buckets.len() < settings.max_clients || self.buckets.contains_key(&prefix) {
                self.buckets.entry(prefix).or_insert(full)
            } else {
                self.overflow.get_or_insert(full)
            };
        take(bucket, &settings, now_ms)
    }

    fn prefix(&self, client: IpAddr) -> Prefix {
        match client {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let keep = u32::from(self.settings.ipv4_prefix.min(32));
                let mask = u32::MAX.checked_shl(32 - keep).unwrap_or(0);
                Prefix(u128::from(bits & mask), false)
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let keep = u32::from(self.settings.ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - keep).unwrap_or(0);
                Prefix(bits & mask, true)
            }
        }
    }

    /// Drops the buckets that would be full by now: forgetting them loses
    /// nothing, a new bucket starts full.
    fn forget_idle(&mut self, now_ms: u64) {
        let settings = self.settings;
        let capacity = u64::from(settings.responses_per_second) * MILLI;
        self.buckets
            .retain(|_, bucket| refilled(bucket, &settings, now_ms) < capacity);
    }

    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

fn refilled(bucket: &Bucket, settings: &RateLimit, now_ms: u64) -> u64 {
    let capacity = u64::from(settings.responses_per_second) * MILLI;
    let elapsed = now_ms.saturating_sub(bucket.refilled_at);
    // responses_per_second tokens per 1000 ms, in thousandths: rate per ms.
    let gained = elapsed.saturating_mul(u64::from(settings.responses_per_second));
    bucket.milli_tokens.saturating_add(gained).min(capacity)
}

fn take(bucket: &mut Bucket, settings: &RateLimit, now_ms: u64) -> Verdict {
    bucket.milli_tokens = refilled(bucket, settings, now_ms);
    bucket.refilled_at = bucket.refilled_at.max(now_ms);
    if bucket.milli_tokens >= MILLI {
        bucket.milli_tokens -= MILLI;
        bucket.limited = 0;
        return Verdict::Answer;
    }
    bucket.limited = bucket.limited.saturating_add(1);
    if settings.slip > 0 && bucket.limited.is_multiple_of(settings.slip) {
        Verdict::Slip
    } else {
        Verdict::Drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn burst(limiter: &mut RateLimiter, client: IpAddr, count: usize, now: u64) -> Vec<Verdict> {
        (0..count).map(|_| limiter.check(client, now)).collect()
    }

    #[test]
    fn a_burst_past_the_rate_is_dropped_with_every_second_one_slipped() {
        let mut limiter = RateLimiter::new(RateLimit::per_second(5));
        let verdicts = burst(&mut limiter, ip("192.0.2.7"), 11, 1_000);
        use Verdict::*;
        assert_eq!(
            verdicts,
            [
                Answer, Answer, Answer, Answer, Answer, Drop, Slip, Drop, Slip, Drop, Slip
            ]
        );
    }

    #[test]
    fn the_same_prefix_shares_a_bucket_and_another_prefix_does_not() {
        let mut limiter = RateLimiter::new(RateLimit::per_second(2));
        assert_eq!(limiter.check(ip("192.0.2.1"), 0), Verdict::Answer);
        assert_eq!(limiter.check(ip("192.0.2.200"), 0), Verdict::Answer);
        assert_ne!(limiter.check(ip("192.0.2.9"), 0), Verdict::Answer);
        assert_eq!(limiter.check(ip("192.0.3.1"), 0), Verdict::Answer);
        // IPv6 by /56.
        let a = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x00ff, 0, 0, 0, 1));
        let b = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x0001, 9, 9, 9, 9));
        let c = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x0100, 0, 0, 0, 1));
        assert_eq!(limiter.check(a, 0), Verdict::Answer);
        assert_eq!(limiter.check(b, 0), Verdict::Answer);
        assert_ne!(limiter.check(a, 0), Verdict::Answer);
        assert_eq!(limiter.check(c, 0), Verdict::Answer);
    }

    #[test]
    fn tokens_come_back_with_time_up_to_one_seconds_worth() {
        let mut limiter = RateLimiter::new(RateLimit::per_second(10));
        let client = ip("198.51.100.1");
        assert!(
            burst(&mut limiter, client, 10, 0)
                .iter()
                .all(|v| *v == Verdict::Answer)
        );
        assert_ne!(limiter.check(client, 0), Verdict::Answer);
        // 100 ms at 10/s is one token.
        assert_eq!(limiter.check(client, 100), Verdict::Answer);
        assert_ne!(limiter.check(client, 100), Verdict::Answer);
        // A long pause refills to the burst, no more.
        let after = burst(&mut limiter, client, 11, 60_000);
        assert_eq!(after.iter().filter(|v| **v == Verdict::Answer).count(), 10);
        // A clock that steps back takes nothing and gives nothing.
        assert_ne!(limiter.check(client, 50_000), Verdict::Answer);
    }

    #[test]
    fn slip_zero_drops_all_and_slip_one_truncates_all() {
        let client = ip("203.0.113.5");
        for (slip, expected) in [(0, Verdict::Drop), (1, Verdict::Slip)] {
            let mut limiter = RateLimiter::new(RateLimit {
                slip,
                ..RateLimit::per_second(1)
            });
            assert_eq!(limiter.check(client, 0), Verdict::Answer);
            assert!(
                burst(&mut limiter, client, 5, 0)
                    .iter()
                    .all(|v| *v == expected)
            );
        }
    }

    #[test]
    fn the_table_stays_bounded_and_idle_clients_are_forgotten() {
        let settings = RateLimit {
            max_clients: 4,
            ..RateLimit::per_second(1)
        };
        let mut limiter = RateLimiter::new(settings);
        for n in 0..4u8 {
            assert_eq!(
                limiter.check(IpAddr::V4(Ipv4Addr::new(10, n, 0, 1)), 0),
                Verdict::Answer
            );
        }
        // Full of busy clients: a newcomer goes to the shared overflow bucket.
        let spray: Vec<Verdict> = (10..20u8)
            .map(|n| limiter.check(IpAddr::V4(Ipv4Addr::new(10, n, 0, 1)), 0))
            .collect();
        assert_eq!(limiter.tracked(), 4);
        assert_eq!(spray.iter().filter(|v| **v == Verdict::Answer).count(), 1);
        // A second later the old buckets are full again and are forgotten.
        assert_eq!(limiter.check(ip("10.50.0.1"), 2_000), Verdict::Answer);
        assert_eq!(limiter.tracked(), 1);
    }
}
