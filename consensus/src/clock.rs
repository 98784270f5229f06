//! The daemon's one wall clock, in Unix milliseconds.
//!
//! Every place that compares with lease times (the leader stamping commands,
//! expiry, degraded renewals, DNS answers, the admin API) reads the time here,
//! so a test can skew one host's clock as a whole: the environment variable
//! `RAFTMASQ_TEST_CLOCK_OFFSET_MS` (a signed number of milliseconds) is added
//! to the system clock. It exists for the fault-injection suite only (a time
//! namespace shifts CLOCK_MONOTONIC, not CLOCK_REALTIME); the daemon logs a
//! warning at startup when it is set. It is read once, on first use.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use raftmasq_state::Millis;

/// The test-only clock offset variable. Never set it in production.
pub const TEST_OFFSET_VAR: &str = "RAFTMASQ_TEST_CLOCK_OFFSET_MS";

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

/// This host's time in milliseconds since the Unix epoch, shifted by the
/// test offset if one is set.
pub fn now_millis() -> Millis {
    shifted(system_millis(), test_offset_ms())
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
}
