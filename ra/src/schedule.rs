//! When advertisements go out, and to whom (RFC 4861 §6.2.4, §6.2.6).
//!
//! Pure: the caller passes its monotonic clock (milliseconds) and a random
//! number for each decision that the RFC wants randomised, so tests drive
//! time and chance.
//!
//! - Unsolicited advertisements go to all nodes every uniformly random
//!   interval in [MinRtrAdvInterval, MaxRtrAdvInterval]; the first
//!   MAX_INITIAL_RTR_ADVERTISEMENTS at most MAX_INITIAL_RTR_ADVERT_INTERVAL
//!   apart, so clients that start with us hear a router quickly.
//! - A solicitation is answered after a random delay of up to
//!   MAX_RA_DELAY_TIME: to its source by unicast, or to all nodes when the
//!   source is unspecified. Advertisements to all nodes are never closer
//!   than MIN_DELAY_BETWEEN_RAS; a multicast answer replaces the next
//!   unsolicited one if that was due later.
//! - Unicast answers wait in a bounded queue, one per source: a flood of
//!   solicitations costs at most that many packets per delay.

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::Duration;

/// Milliseconds of the caller's monotonic clock.
pub type Millis = u64;

/// RFC 4861 §10 constants.
pub const MAX_INITIAL_RTR_ADVERT_INTERVAL: Millis = 16_000;
pub const MAX_INITIAL_RTR_ADVERTISEMENTS: u8 = 3;
pub const MIN_DELAY_BETWEEN_RAS: Millis = 3_000;
pub const MAX_RA_DELAY_TIME: Millis = 500;
/// Unicast answers waiting at once; more solicitations in the same half
/// second are dropped (counted) — their senders retry (RFC 4861 §6.3.7).
pub const MAX_PENDING_UNICAST: usize = 64;

/// MaxRtrAdvInterval and MinRtrAdvInterval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub max_interval: Millis,
    pub min_interval: Millis,
}

impl Timing {
    /// MinRtrAdvInterval as §6.2.1 defaults it: 0.33 × Max, or 0.75 × Max
    /// when Max is under 9 s.
    pub fn from_max(max: Duration) -> Timing {
        let max_interval = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
        let min_interval = if max_interval >= 9_000 {
            max_interval * 33 / 100
        } else {
            max_interval * 3 / 4
        };
        Timing {
            max_interval,
            min_interval,
        }
    }

    /// A uniformly random interval in [min, max] from `random`.
    fn interval(&self, random: u32) -> Millis {
        let span = self.max_interval.saturating_sub(self.min_interval);
        self.min_interval + (u64::from(random) % (span + 1))
    }
}

/// Where one advertisement goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// ff02::1.
    AllNodes,
    Unicast(Ipv6Addr),
}

/// What became of a solicitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// An answer is due at this time.
    Scheduled(Millis),
    /// An answer to this source (or to all nodes) was already due soon enough.
    AlreadyDue,
    /// The unicast queue is full.
    QueueFull,
}

/// The sending schedule of one interface.
#[derive(Debug, Clone)]
pub struct Schedule {
    timing: Timing,
    /// Unsolicited advertisements still to send at the initial pace.
    initial_left: u8,
    next_multicast: Millis,
    last_multicast: Option<Millis>,
    unicast: VecDeque<(Millis, Ipv6Addr)>,
}

impl Schedule {
    /// The first advertisement goes out at `now`.
    pub fn new(timing: Timing, now: Millis) -> Schedule {
        Schedule {
            timing,
            initial_left: MAX_INITIAL_RTR_ADVERTISEMENTS,
            next_multicast: now,
            last_multicast: None,
            unicast: VecDeque::new(),
        }
    }

    /// When the caller should next call [`Schedule::due`].
    pub fn next_wakeup(&self) -> Millis {
        let unicast = self.unicast.iter().map(|(at, _)| *at).min();
        unicast.map_or(self.next_multicast, |u| u.min(self.next_multicast))
    }

    /// A valid solicitation from `source` (`None`: unspecified) at `now`;
    /// `random` draws the delay.
    pub fn solicited(&mut self, source: Option<Ipv6Addr>, now: Millis, random: u32) -> Answer {
        let at = now + u64::from(random) % (MAX_RA_DELAY_TIME + 1);
        match source {
            None => {
                let earliest = self
                    .last_multicast
                    .map_or(at, |last| at.max(last + MIN_DELAY_BETWEEN_RAS));
                if earliest < self.next_multicast {
                    self.next_multicast = earliest;
                    Answer::Scheduled(earliest)
                } else {
                    Answer::AlreadyDue
                }
            }
            Some(address) => {
                if self.unicast.iter().any(|(_, a)| *a == address) {
                    return Answer::AlreadyDue;
                }
                if self.unicast.len() >= MAX_PENDING_UNICAST {
                    return Answer::QueueFull;
                }
                self.unicast.push_back((at, address));
                Answer::Scheduled(at)
            }
        }
    }

    /// The advertisements due by `now`, in order; reschedules the next
    /// unsolicited one with `random`.
    pub fn due(&mut self, now: Millis, random: u32) -> Vec<Destination> {
        let mut out = Vec::new();
        if self.next_multicast <= now {
            out.push(Destination::AllNodes);
            self.last_multicast = Some(now);
            let mut interval = self.timing.interval(random);
            if self.initial_left > 0 {
                self.initial_left -= 1;
                interval = interval.min(MAX_INITIAL_RTR_ADVERT_INTERVAL);
            }
            self.next_multicast = now + interval;
        }
        // Unicast answers due by now; one just covered by the multicast is
        // dropped (the multicast reached its source too).
        let multicast_sent = !out.is_empty();
        self.unicast.retain(|(at, address)| {
            if *at > now {
                return true;
            }
            if !multicast_sent {
                out.push(Destination::Unicast(*address));
            }
            false
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn timing() -> Timing {
        Timing::from_max(Duration::from_secs(600))
    }

    fn address(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n)
    }

    #[test]
    fn min_interval_follows_rfc_4861_defaults() {
        assert_eq!(timing().min_interval, 198_000);
        assert_eq!(Timing::from_max(Duration::from_secs(4)).min_interval, 3_000);
    }

    #[test]
    fn the_first_advertisements_come_at_the_initial_pace_then_the_interval() {
        let mut schedule = Schedule::new(timing(), 0);
        let mut now = 0;
        let mut gaps = Vec::new();
        for _ in 0..5 {
            now = schedule.next_wakeup();
            assert_eq!(schedule.due(now, u32::MAX), vec![Destination::AllNodes]);
            gaps.push(schedule.next_wakeup() - now);
        }
        assert_eq!(gaps[..3], [16_000; 3]);
        assert!(
            gaps[3..].iter().all(|g| (198_000..=600_000).contains(g)),
            "{gaps:?}"
        );
        assert!(now > 0);
    }

    #[test]
    fn a_solicitation_from_an_address_is_answered_by_unicast_within_half_a_second() {
        let mut schedule = Schedule::new(timing(), 0);
        schedule.due(0, 0);
        assert_eq!(
            schedule.solicited(Some(address(1)), 1_000, 300),
            Answer::Scheduled(1_300)
        );
        assert_eq!(
            schedule.solicited(Some(address(1)), 1_100, 0),
            Answer::AlreadyDue
        );
        assert_eq!(schedule.next_wakeup(), 1_300);
        assert!(schedule.due(1_299, 0).is_empty());
        assert_eq!(
            schedule.due(1_300, 0),
            vec![Destination::Unicast(address(1))]
        );
    }

    #[test]
    fn multicast_answers_keep_min_delay_between_ras() {
        let mut schedule = Schedule::new(timing(), 0);
        schedule.due(0, 0);
        // Last multicast at 0: the answer waits until 3 s.
        assert_eq!(schedule.solicited(None, 100, 0), Answer::Scheduled(3_000));
        assert_eq!(schedule.solicited(None, 200, 0), Answer::AlreadyDue);
        assert_eq!(schedule.due(3_000, 0), vec![Destination::AllNodes]);
        // Later, the delay alone applies.
        assert_eq!(
            schedule.solicited(None, 10_000, 250),
            Answer::Scheduled(10_250)
        );
    }

    #[test]
    fn the_unicast_queue_is_bounded() {
        let mut schedule = Schedule::new(timing(), 0);
        schedule.due(0, 0);
        for n in 0..MAX_PENDING_UNICAST {
            let answer = schedule.solicited(Some(address(n as u16)), 10, 0);
            assert_eq!(answer, Answer::Scheduled(10));
        }
        assert_eq!(
            schedule.solicited(Some(address(999)), 10, 0),
            Answer::QueueFull
        );
        assert_eq!(schedule.due(10, 0).len(), MAX_PENDING_UNICAST);
    }

    proptest! {
        /// Whatever arrives when, multicast advertisements are never closer
        /// than MIN_DELAY_BETWEEN_RAS, and every wakeup is in the future of
        /// the last send or due now.
        #[test]
        fn multicasts_keep_their_distance(
            events in prop::collection::vec((0u64..5_000, any::<bool>(), any::<u32>()), 1..200),
        ) {
            let mut schedule = Schedule::new(Timing::from_max(Duration::from_secs(4)), 0);
            let mut now = 0;
            let mut last_multicast: Option<Millis> = None;
            for (step, unspecified, random) in events {
                let wake = schedule.next_wakeup();
                now = (now + step).min(wake.max(now));
                for destination in schedule.due(now, random) {
                    if destination == Destination::AllNodes {
                        if let Some(last) = last_multicast {
                            prop_assert!(now - last >= MIN_DELAY_BETWEEN_RAS);
                        }
                        last_multicast = Some(now);
                    }
                }
                let source = (!unspecified).then(|| address((random % 7) as u16));
                schedule.solicited(source, now, random);
            }
        }
    }
}
