//! DHCP and DNS message rates over the last minutes, from the process's
//! counters: every few seconds the recorder reads their running totals
//! (summed over labels as they are counted, `observability::totals`) and
//! keeps the per-second difference between consecutive samples in a ring.

use raftmasq_consensus::state::Millis;
use serde::Serialize;

use super::ring::Ring;

/// The cumulative counters one sample reads: the running totals the
/// metrics recorder keeps as it counts.
pub(crate) use crate::admin::observability::Totals as Counters;

/// Messages per second between two samples, ending at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct RateSample {
    pub at: Millis,
    pub dhcp_received: f64,
    pub dhcp_replies: f64,
    pub dns_queries: f64,
}

/// The rolling rate history.
#[derive(Debug)]
pub(crate) struct RateHistory {
    last: Option<(Millis, Counters)>,
    samples: Ring<RateSample>,
}

impl RateHistory {
    pub(crate) fn new(capacity: usize) -> RateHistory {
        RateHistory {
            last: None,
            samples: Ring::new(capacity),
        }
    }

    /// Records the counters read at `at`. The first reading only sets the
    /// baseline; a clock that did not advance is ignored; a counter that went
    /// down (a restarted exporter) counts as zero for that interval.
    pub(crate) fn record(&mut self, at: Millis, counters: Counters) {
        if let Some((last_at, last)) = self.last {
            if at <= last_at {
                return;
            }
            let secs = (at - last_at) as f64 / 1000.0;
            let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / secs;
            self.samples.push(RateSample {
                at,
                dhcp_received: rate(counters.dhcp_received, last.dhcp_received),
                dhcp_replies: rate(counters.dhcp_replies, last.dhcp_replies),
                dns_queries: rate(counters.dns_queries, last.dns_queries),
            });
        }
        self.last = Some((at, counters));
    }

    /// Oldest first.
    pub(crate) fn samples(&self) -> Vec<RateSample> {
        self.samples.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{Counters, RateHistory};

    fn counters(dhcp: u64, dns: u64) -> Counters {
        Counters {
            dhcp_received: dhcp,
            dhcp_replies: dhcp / 2,
            dns_queries: dns,
        }
    }

    #[test]
    fn rates_are_per_second_between_consecutive_samples() {
        let mut history = RateHistory::new(10);
        history.record(10_000, counters(100, 0));
        assert!(
            history.samples().is_empty(),
            "the first reading is the baseline"
        );
        history.record(15_000, counters(150, 500));
        history.record(17_000, counters(150, 520));
        let samples = history.samples();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].at, 15_000);
        assert!((samples[0].dhcp_received - 10.0).abs() < 1e-9);
        assert!((samples[0].dhcp_replies - 5.0).abs() < 1e-9);
        assert!((samples[0].dns_queries - 100.0).abs() < 1e-9);
        assert!((samples[1].dhcp_received - 0.0).abs() < 1e-9);
        assert!((samples[1].dns_queries - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_clock_that_does_not_advance_or_a_counter_reset_yield_no_nonsense() {
        let mut history = RateHistory::new(10);
        history.record(10_000, counters(100, 100));
        history.record(10_000, counters(200, 200));
        assert!(history.samples().is_empty());
        history.record(11_000, counters(10, 100));
        let samples = history.samples();
        assert_eq!(samples.len(), 1);
        assert!(samples[0].dhcp_received.abs() < 1e-9);
    }

    #[test]
    fn keeps_only_the_window() {
        let mut history = RateHistory::new(3);
        for step in 0..10u64 {
            history.record(step * 5_000, counters(step, step));
        }
        let at: Vec<u64> = history.samples().iter().map(|s| s.at).collect();
        assert_eq!(at, [35_000, 40_000, 45_000]);
    }
}
