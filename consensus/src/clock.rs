//! The daemon's one wall clock, in Unix milliseconds.
//!
//! Every place that compares with lease times (the leader stamping commands,
//! expiry, degraded renewals, DNS answers, the admin API) reads
//! [`now_millis`], so the whole daemon agrees on one time.
//!
//! **Cluster time.** Each command carries the leader's time, and the lease
//! table never lets time run backwards. A leader whose clock ran ahead by
//! more than the time left on a lease would therefore end that lease early —
//! for every replica, for good — while its client still holds it, and the
//! address could be given to a second client (the fault suite found exactly
//! this: a leader 180 s ahead ended every lease not renewed in the last
//! 180 s). So [`now_millis`] is this host's clock *corrected by the median
//! of the voters' clock offsets*, measured once a second over the cluster
//! listener (`node::clock_sync`); a median under [`DEAD_BAND_MS`] is noise
//! and leaves the clock alone. With one wrong clock among three, the median
//! is a right one. A majority of wrong clocks wins: run NTP.
//!
//! **Test hook.** `RAFTMASQ_TEST_CLOCK_OFFSET_MS` (a signed number of
//! milliseconds) shifts this host's clock, read once at first use. It exists
//! for the fault-injection suite only (a time namespace shifts
//! CLOCK_MONOTONIC, not CLOCK_REALTIME); the daemon logs a warning at startup
//! when it is set.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use raftmasq_state::Millis;

/// The test-only clock offset variable. Never set it in production.
pub const TEST_OFFSET_VAR: &str = "RAFTMASQ_TEST_CLOCK_OFFSET_MS";

/// The correction to this host's clock, from the voters' median offset.
/// One per process: the daemon runs one node.
static CORRECTION_MS: AtomicI64 = AtomicI64::new(0);
/// Whether a correction has been measured (or there is no one to ask).
static SYNCED: AtomicBool = AtomicBool::new(false);

/// The offset from [`TEST_OFFSET_VAR`], 0 when unset or not a number.
pub fn test_offset_ms() -> i64 {
    static OFFSET: OnceLock<i64> = OnceLock::new();
    *OFFSET.get_or_init(|| {
        std::env::var(TEST_OFFSET_VAR)
            .ok()
            .and_then(|text| parse_offset(&text))
            .unwrap_or(0)
    })
}

fn parse_offset(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// Cluster time: this host's clock corrected toward the voters' median.
pub fn now_millis() -> Millis {
    shifted(local_millis(), CORRECTION_MS.load(Ordering::Relaxed))
}

/// This host's own clock (with the test offset), uncorrected: what it tells
/// peers that measure their offset from it.
pub fn local_millis() -> Millis {
    shifted(system_millis(), test_offset_ms())
}

/// The current correction, in milliseconds (for status and logs).
pub fn correction_ms() -> i64 {
    CORRECTION_MS.load(Ordering::Relaxed)
}

/// Whether [`now_millis`] has been corrected at least once.
pub fn is_synced() -> bool {
    SYNCED.load(Ordering::Relaxed)
}

/// Sets the correction (the median from [`median_offset`]).
pub fn set_correction(correction_ms: i64) {
    CORRECTION_MS.store(correction_ms, Ordering::Relaxed);
    SYNCED.store(true, Ordering::Relaxed);
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

fn system_millis() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
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
    fn offsets_parse_as_signed_milliseconds() {
        assert_eq!(parse_offset("-90000"), Some(-90_000));
        assert_eq!(parse_offset(" 150000\n"), Some(150_000));
        assert_eq!(parse_offset("2m"), None);
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
}
