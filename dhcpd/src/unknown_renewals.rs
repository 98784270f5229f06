//! The budget of renewals for addresses the cluster has no lease for.
//!
//! A unicast RENEWING for an address without a lease is bound as asked (authoritative, like dnsmasq's
//! `--dhcp-authoritative`): a container moved over from dnsmasq, or one of a
//! restored cluster, keeps its address. Unbounded, that lets anyone on the
//! bridge take the pool: 191 forged renewals held a whole /24 for an hour.
//! So the cluster binds at most a share of the pool that way per lease time
//! (each node its part of it, [`per_node_limit`]); past it the request is NAKed, and an honest client starts over with a DISCOVER
//! (RFC 2131 §3.2/§4.3.2), which asks for its old address again and so usually
//! gets it back.
//!
//! A sliding window, not a fixed one: a burst at the end of one window and the
//! start of the next cannot take twice the share. Time is an argument.

use std::collections::VecDeque;

use raftmasq_state::Millis;

/// When this node bound unknown addresses, oldest first, within the window.
#[derive(Debug, Clone, Default)]
pub struct UnknownRenewals {
    granted_at: VecDeque<Millis>,
}

impl UnknownRenewals {
    /// Takes one from the budget of `limit` per `window_ms` ending at `now`,
    /// or says there is none left.
    pub fn try_take(&mut self, limit: u64, window_ms: u64, now: Millis) -> bool {
        // The window is (now - window_ms, now]: a bind leaves it window_ms later.
        while self
            .granted_at
            .front()
            .is_some_and(|&at| now.saturating_sub(at) >= window_ms)
        {
            self.granted_at.pop_front();
        }
        if (self.granted_at.len() as u64) >= limit {
            return false;
        }
        self.granted_at.push_back(now);
        true
    }

    /// How many of the budget are in use (for tests and metrics).
    pub fn in_window(&self) -> usize {
        self.granted_at.len()
    }
}

/// `percent` of a pool of `pool_size` addresses, rounded down: at 10 % a
/// /24's 245-address pool allows 24 per lease time.
pub fn limit(pool_size: u64, percent: u8) -> u64 {
    pool_size.saturating_mul(u64::from(percent.min(100))) / 100
}

/// This node's part of [`limit`] when the cluster has `nodes` nodes: each
/// decides the renewals that reach it, and an attacker can send to every
/// one, so the share is split evenly (rounded down) and the cluster as a
/// whole binds no more than `percent` of the pool this way. Each node keeps
/// at least one while `percent` is above 0, so a small pool still lets a
/// moved-over client keep its address (the bound is then one per node).
pub fn per_node_limit(pool_size: u64, percent: u8, nodes: usize) -> u64 {
    if percent == 0 {
        return 0;
    }
    let nodes = u64::try_from(nodes.max(1)).unwrap_or(u64::MAX);
    (limit(pool_size, percent) / nodes).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_a_share_of_the_pool_rounded_down() {
        assert_eq!(limit(245, 10), 24);
        assert_eq!(limit(65_525, 10), 6_552);
        assert_eq!(limit(9, 10), 0);
        assert_eq!(limit(245, 0), 0);
        assert_eq!(limit(245, 100), 245);
        assert_eq!(limit(245, 250), 245);
    }

    #[test]
    fn the_share_is_split_between_the_nodes() {
        assert_eq!(per_node_limit(245, 10, 1), 24);
        assert_eq!(per_node_limit(245, 10, 3), 8);
        assert_eq!(per_node_limit(245, 10, 0), 24);
        assert_eq!(per_node_limit(100, 10, 3) * 3, 9);
        // A small pool: one each, nothing at 0 %.
        assert_eq!(per_node_limit(10, 10, 3), 1);
        assert_eq!(per_node_limit(245, 0, 3), 0);
    }

    #[test]
    fn at_most_the_limit_is_taken_per_window() {
        let mut budget = UnknownRenewals::default();
        let taken = (0..200)
            .filter(|&i| budget.try_take(24, 3_600_000, i))
            .count();
        assert_eq!(taken, 24);
        assert!(!budget.try_take(24, 3_600_000, 3_599_999));
    }

    #[test]
    fn the_window_slides() {
        let mut budget = UnknownRenewals::default();
        assert!(budget.try_take(2, 1_000, 0));
        assert!(budget.try_take(2, 1_000, 600));
        assert!(!budget.try_take(2, 1_000, 999));
        // The first one leaves the window at 1,000; the second stays until 1,600.
        assert!(budget.try_take(2, 1_000, 1_000));
        assert!(!budget.try_take(2, 1_000, 1_599));
        assert!(budget.try_take(2, 1_000, 1_600));
        assert_eq!(budget.in_window(), 2);
    }

    proptest::proptest! {
        /// Against a brute-force oracle: a request is granted exactly when
        /// fewer than `limit` grants lie in the window ending at its time,
        /// so no window ever holds more than `limit`.
        #[test]
        fn grants_match_the_sliding_window_oracle(
            limit in 0u64..6,
            window_ms in 1u64..2_000,
            gaps in proptest::collection::vec(0u64..700, 1..80),
        ) {
            let mut budget = UnknownRenewals::default();
            let mut granted: Vec<Millis> = Vec::new();
            let mut now = 0;
            for gap in gaps {
                now += gap;
                let in_window = granted.iter().filter(|&&at| now - at < window_ms).count() as u64;
                let expected = in_window < limit;
                proptest::prop_assert_eq!(budget.try_take(limit, window_ms, now), expected);
                if expected {
                    granted.push(now);
                }
                proptest::prop_assert!(budget.in_window() as u64 <= limit);
            }
        }
    }

    #[test]
    fn a_zero_limit_takes_nothing() {
        let mut budget = UnknownRenewals::default();
        assert!(!budget.try_take(0, 1_000, 0));
    }
}
