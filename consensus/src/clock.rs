//! The node's one wall clock, in Unix milliseconds: [`ClusterClock`].
//!
//! The node owns it (`ClusterNodeConfig::clock`, `ClusterNode::clock`) and hands it
//! to everything that compares with lease times — the leader stamping
//! commands, expiry, DHCP decisions and degraded renewals, DNS answers, the
//! admin API and dashboard — so the whole daemon agrees on one time.
//!
//! **Cluster time.** Each command carries the leader's time, and the lease
//! table never lets time run backwards. A leader whose clock ran ahead by
//! more than the time left on a lease would therefore end that lease early —
//! for every replica, for good — while its client still holds it, and the
//! address could be given to a second client (the fault suite found exactly
//! this: a leader 180 s ahead ended every lease not renewed in the last
//! 180 s). So [`ClusterClock::now_millis`] is this host's clock *corrected by
//! the median of the voters' clock offsets*, measured once a second over the
//! cluster listener (`node::clock_sync`); a median under [`DEAD_BAND_MS`] is
//! noise and leaves the clock alone. With one wrong clock among three, the
//! median is a right one. A majority of wrong clocks wins: run NTP.
//!
//! **Bound.** A voter is followed only while its clock is within
//! `max_offset` ([`DEFAULT_MAX_OFFSET_MS`], `cluster.max_clock_offset`) of
//! the median: one further off is *out of bound* — reported (a warning, the
//! node's status and metrics) and left out. The correction is made only
//! when a strict majority of the clocks (this host's included) agree within
//! the bound; then it is the median of those clocks, so a minority can never
//! move this host, and clocks that scatter move it not at all ([`assess`]).
//! This host itself may be the one out of bound (its clock 180 s off two
//! agreeing peers): it follows them and says so at error level.
//!
//! **Test hook.** [`ClusterClock::with_test_offset`] shifts this host's clock
//! (a time namespace shifts CLOCK_MONOTONIC, not CLOCK_REALTIME). It exists
//! only in builds with debug assertions — every test build, and the debug
//! daemon the end-to-end fault suite starts — so no release build can run
//! with a shifted clock.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use raftmasq_state::Millis;

/// Cluster time for one node. Cheap to clone; clones share one correction.
#[derive(Debug, Clone, Default)]
pub struct ClusterClock {
    inner: Arc<ClockState>,
}

#[derive(Debug, Default)]
struct ClockState {
    /// The correction to this host's clock, from the voters' median offset.
    correction_ms: AtomicI64,
    /// Whether a correction has been measured (or there is no one to ask).
    synced: AtomicBool,
    /// The last round's verdict on who is out of bound.
    verdict: Mutex<OutOfBound>,
    /// How far this host's clock is shifted, for tests only.
    #[cfg(debug_assertions)]
    test_offset_ms: i64,
}

impl ClusterClock {
    /// A clock that reads this host's clock until the voters correct it.
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock whose host clock runs `offset_ms` ahead (behind, if negative)
    /// of the real one, as a skewed host's would. Tests only: absent from
    /// release builds.
    #[cfg(debug_assertions)]
    pub fn with_test_offset(offset_ms: i64) -> Self {
        ClusterClock {
            inner: Arc::new(ClockState {
                test_offset_ms: offset_ms,
                ..ClockState::default()
            }),
        }
    }

    /// The test offset this clock was made with (0 in release builds).
    pub fn test_offset_ms(&self) -> i64 {
        #[cfg(debug_assertions)]
        {
            self.inner.test_offset_ms
        }
        #[cfg(not(debug_assertions))]
        {
            0
        }
    }

    /// Cluster time: this host's clock corrected toward the voters' median.
    pub fn now_millis(&self) -> Millis {
        shifted(self.local_millis(), self.correction_ms())
    }

    /// This host's own clock (with the test offset), uncorrected: what it
    /// tells peers that measure their offset from it.
    pub fn local_millis(&self) -> Millis {
        shifted(system_millis(), self.test_offset_ms())
    }

    /// The current correction, in milliseconds (for status and logs).
    pub fn correction_ms(&self) -> i64 {
        self.inner.correction_ms.load(Ordering::Relaxed)
    }

    /// Whether [`Self::now_millis`] has been corrected at least once.
    pub fn is_synced(&self) -> bool {
        self.inner.synced.load(Ordering::Relaxed)
    }

    /// Who was out of bound in the last round (for status and metrics).
    pub fn out_of_bound(&self) -> OutOfBound {
        self.inner
            .verdict
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_out_of_bound(&self, verdict: OutOfBound) {
        *self
            .inner
            .verdict
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = verdict;
    }

    /// Sets the correction (the median from [`correction_for`] or [`assess`]).
    pub(crate) fn set_correction(&self, correction_ms: i64) {
        self.inner
            .correction_ms
            .store(correction_ms, Ordering::Relaxed);
        self.inner.synced.store(true, Ordering::Relaxed);
    }
}

/// This host's clock, uncorrected: for work done without a running node
/// (an offline export), where there is no cluster to agree with.
pub fn system_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// A peer's clock minus ours, from one exchange: the peer read its clock
/// (`peer_ms`) about halfway between our `sent_ms` and `received_ms`.
pub fn offset_from(sent_ms: Millis, received_ms: Millis, peer_ms: Millis) -> i64 {
    let midpoint = sent_ms / 2 + received_ms / 2 + (sent_ms % 2 + received_ms % 2) / 2;
    i64::try_from(i128::from(peer_ms) - i128::from(midpoint)).unwrap_or(0)
}

/// Offsets below this are measurement noise (half a round trip of at most
/// 500 ms), not skew: the correction stays 0, so hosts whose clocks agree
/// keep exactly their own time.
pub const DEAD_BAND_MS: i64 = 500;

/// The correction for these peer offsets: their median with this host's
/// ([`median_offset`]), or 0 within [`DEAD_BAND_MS`].
pub fn correction_for(peer_offsets: &[i64]) -> i64 {
    let median = median_offset(peer_offsets);
    if median.abs() < DEAD_BAND_MS {
        0
    } else {
        median
    }
}

/// The median of this host's offset (0) and the peers' offsets. With an even
/// count, the one nearer to 0: never correct further than a majority agrees.
pub fn median_offset(peer_offsets: &[i64]) -> i64 {
    let mut all: Vec<i64> = peer_offsets.to_vec();
    all.push(0);
    all.sort_unstable();
    let middle = all.len() / 2;
    if all.len() % 2 == 1 {
        all[middle]
    } else {
        let (low, high) = (all[middle - 1], all[middle]);
        if low.unsigned_abs() <= high.unsigned_abs() {
            low
        } else {
            high
        }
    }
}

/// How far (ms) a voter's clock may be from the median and still be followed,
/// unless the configuration says otherwise (`cluster.max_clock_offset`).
pub const DEFAULT_MAX_OFFSET_MS: i64 = 5_000;

/// Clocks that were not followed in one round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutOfBound {
    /// Voters whose offset from this host (ms) was out of bound.
    pub peers: Vec<(u64, i64)>,
    /// Whether this host's own clock was the one out of bound: a majority of
    /// voters agrees on a time further than the bound from it.
    pub this_host: bool,
    /// No majority of clocks agreed within the bound: no correction at all.
    pub no_agreement: bool,
}

impl OutOfBound {
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty() && !self.this_host && !self.no_agreement
    }
}

/// One round's result: the correction to use and who was not followed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assessment {
    pub correction_ms: i64,
    pub out_of_bound: OutOfBound,
}

/// Bounded correction from the peers' offsets `(id, ms)` (this host is 0).
///
/// The clocks within `max_offset_ms` of the median of all of them agree; if
/// they are a strict majority, the correction is their median (0 within
/// [`DEAD_BAND_MS`]), and every clock outside is out of bound. Without such a
/// majority nobody is followed: the correction is 0.
pub fn assess(peer_offsets: &[(u64, i64)], max_offset_ms: i64) -> Assessment {
    let bound = max_offset_ms.max(0);
    let offsets: Vec<i64> = peer_offsets.iter().map(|(_, offset)| *offset).collect();
    let median = median_offset(&offsets);
    let near = |offset: i64| (offset - median).abs() <= bound;
    let agreeing: Vec<i64> = offsets.iter().copied().filter(|o| near(*o)).collect();
    let total = offsets.len() + 1;
    let agree_count = agreeing.len() + usize::from(near(0));
    let outside: Vec<(u64, i64)> = peer_offsets
        .iter()
        .copied()
        .filter(|(_, offset)| !near(*offset))
        .collect();
    if agree_count * 2 <= total {
        // Nobody is followed: report every voter out of bound of this host.
        let far: Vec<(u64, i64)> = peer_offsets
            .iter()
            .copied()
            .filter(|(_, offset)| offset.abs() > bound)
            .collect();
        return Assessment {
            correction_ms: 0,
            out_of_bound: OutOfBound {
                peers: far,
                this_host: false,
                no_agreement: true,
            },
        };
    }
    let correction_ms = if near(0) {
        correction_for(&agreeing)
    } else {
        // This host is the odd one out: the agreeing peers' own median.
        let mut sorted = agreeing;
        sorted.sort_unstable();
        sorted[sorted.len() / 2]
    };
    Assessment {
        correction_ms,
        out_of_bound: OutOfBound {
            peers: outside,
            this_host: !near(0),
            no_agreement: false,
        },
    }
}

fn shifted(millis: Millis, offset: i64) -> Millis {
    if offset >= 0 {
        millis.saturating_add(offset.unsigned_abs())
    } else {
        millis.saturating_sub(offset.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_shift_both_ways_and_saturate() {
        assert_eq!(shifted(10_000, 2_500), 12_500);
        assert_eq!(shifted(10_000, -2_500), 7_500);
        assert_eq!(shifted(1_000, -2_500), 0);
        assert_eq!(shifted(u64::MAX - 1, 5), u64::MAX);
    }

    #[test]
    fn a_clock_reads_its_own_offset_and_correction_and_clones_share_them() {
        let clock = ClusterClock::with_test_offset(180_000);
        let local = clock.local_millis();
        let system = system_millis();
        assert!(
            local.abs_diff(system + 180_000) < 1_000,
            "{local} vs {system}"
        );
        assert!(!clock.is_synced());
        let shared = clock.clone();
        shared.set_correction(-180_000);
        assert!(clock.is_synced());
        assert_eq!(clock.correction_ms(), -180_000);
        assert!(clock.now_millis().abs_diff(system_millis()) < 1_000);
        // Two nodes in one process keep separate clocks.
        assert_eq!(ClusterClock::new().correction_ms(), 0);
    }

    #[test]
    fn a_peer_offset_is_measured_against_the_middle_of_the_round_trip() {
        assert_eq!(offset_from(1_000, 1_010, 1_005), 0);
        assert_eq!(offset_from(1_000, 1_010, 181_005), 180_000);
        assert_eq!(offset_from(1_000, 1_010, 0), -1_005);
    }

    /// The regression of the fault suite's clock fault: a leader 180 s ahead
    /// of two true peers corrects itself back to their time; a true leader
    /// with one skewed peer stays put.
    #[test]
    fn agreeing_clocks_are_left_alone() {
        assert_eq!(correction_for(&[-1, 3]), 0);
        assert_eq!(correction_for(&[-499, -480]), 0);
        assert_eq!(correction_for(&[-180_000, -179_990]), -179_990);
    }

    #[test]
    fn one_skewed_clock_among_three_is_outvoted() {
        assert_eq!(median_offset(&[-180_000, -180_003]), -180_000);
        assert_eq!(median_offset(&[180_000, 2]), 2);
        assert_eq!(median_offset(&[-180_000, 1]), 0);
        // Alone, or with one peer: never further than a majority agrees.
        assert_eq!(median_offset(&[]), 0);
        assert_eq!(median_offset(&[-180_000]), 0);
        // Five voters, two skewed.
        assert_eq!(median_offset(&[3, -1, 90_000, 90_000]), 3);
    }

    #[test]
    fn a_peer_out_of_bound_is_reported_and_not_followed() {
        // Two peers: one true, one a year ahead. The year is not followed.
        let year = 365 * 24 * 3_600_000;
        let verdict = assess(&[(2, 40), (3, year)], DEFAULT_MAX_OFFSET_MS);
        assert_eq!(verdict.correction_ms, 0);
        assert_eq!(verdict.out_of_bound.peers, vec![(3, year)]);
        assert!(!verdict.out_of_bound.this_host);
        // A lone peer (a two-node cluster) far off: no majority, no move.
        let verdict = assess(&[(2, 60_000)], DEFAULT_MAX_OFFSET_MS);
        assert_eq!(verdict.correction_ms, 0);
        assert!(verdict.out_of_bound.no_agreement);
        assert_eq!(verdict.out_of_bound.peers, vec![(2, 60_000)]);
    }

    #[test]
    fn scattered_clocks_move_nothing() {
        // The median is +180 s, but only one clock is near it: before the
        // bound this host followed it.
        let verdict = assess(&[(2, 180_000), (3, 360_000)], DEFAULT_MAX_OFFSET_MS);
        assert_eq!(verdict.correction_ms, 0);
        assert!(verdict.out_of_bound.no_agreement);
        assert_eq!(verdict.out_of_bound.peers.len(), 2);
    }

    #[test]
    fn within_the_bound_the_correction_is_the_agreeing_median() {
        let verdict = assess(&[(2, 2_000), (3, 2_400)], DEFAULT_MAX_OFFSET_MS);
        assert_eq!(verdict.correction_ms, 2_000);
        assert!(verdict.out_of_bound.is_empty());
        // Never further than the bound on a minority's word.
        for peers in [[(2, 4_000), (3, 90_000)], [(2, -4_900), (3, -9_000_000)]] {
            let verdict = assess(&peers, DEFAULT_MAX_OFFSET_MS);
            assert!(verdict.correction_ms.abs() <= DEFAULT_MAX_OFFSET_MS);
            assert_eq!(verdict.out_of_bound.peers.len(), 1);
        }
    }

    #[test]
    fn this_host_out_of_bound_follows_the_agreeing_majority_and_says_so() {
        // The fault suite's case: this host 180 s ahead of two true peers.
        let verdict = assess(&[(1, -180_000), (2, -179_990)], DEFAULT_MAX_OFFSET_MS);
        assert_eq!(verdict.correction_ms, -179_990);
        assert!(verdict.out_of_bound.this_host);
        assert!(verdict.out_of_bound.peers.is_empty());
        // A tighter bound still lets the majority agree when they do.
        let verdict = assess(&[(1, -180_000), (2, -180_003)], 10);
        assert_eq!(verdict.correction_ms, -180_000);
        assert!(verdict.out_of_bound.this_host);
    }
}
