//! Per-fault measurements and the table they are printed in.

use super::history::{DhcpEvent, DhcpRecord, DnsOutcome, DnsSample};

/// One fault as injected: when, until when, and which hosts were expected to
/// keep serving DNS meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultWindow {
    pub name: String,
    pub injected_ms: u64,
    pub healed_ms: u64,
    pub surviving: Vec<u8>,
}

/// What one fault did to the clients.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultReport {
    pub name: String,
    /// From the fault to the next ACK of a new address to a request sent
    /// after it; `None` if none came before the end of the run.
    pub dhcp_downtime_ms: Option<u64>,
    /// DNS queries answered on the surviving hosts during the fault, %.
    pub dns_answered_pct: f64,
    pub dns_queries: usize,
    /// Renewals answered with an ACK during the fault, % of those tried.
    pub renewals_acked_pct: f64,
    pub renewals: usize,
    /// Renewals and fresh requests that got no answer during the fault.
    pub dhcp_timeouts: usize,
    pub naks: usize,
    pub leases_lost: usize,
    pub duplicates: usize,
}

/// Fault to first new-address ACK for a request sent at or after it.
pub fn dhcp_downtime(dhcp: &[DhcpRecord], injected_ms: u64) -> Option<u64> {
    dhcp.iter()
        .filter_map(|record| match record.event {
            DhcpEvent::Ack {
                new: true,
                sent_at_ms,
                ..
            } if sent_at_ms >= injected_ms => Some(record.at_ms - injected_ms),
            _ => None,
        })
        .min()
}

/// The queries to the surviving hosts within the window.
fn dns_asked<'a>(dns: &'a [DnsSample], window: &FaultWindow) -> Vec<&'a DnsSample> {
    dns.iter()
        .filter(|s| {
            window.surviving.contains(&s.host)
                && (window.injected_ms..window.healed_ms).contains(&s.at_ms)
        })
        .collect()
}

/// How many queries to the surviving hosts got each error rcode (the rest
/// of the unanswered ones timed out).
pub fn dns_failed_rcodes(
    dns: &[DnsSample],
    window: &FaultWindow,
) -> std::collections::BTreeMap<u8, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for sample in dns_asked(dns, window) {
        if let DnsOutcome::Failed(rcode) = sample.outcome {
            *counts.entry(rcode).or_insert(0) += 1;
        }
    }
    counts
}

/// (answered, asked) on the surviving hosts within the window.
pub fn dns_answered(dns: &[DnsSample], window: &FaultWindow) -> (usize, usize) {
    let asked = dns_asked(dns, window);
    let answered = asked
        .iter()
        .filter(|s| matches!(s.outcome, DnsOutcome::Answered(_)))
        .count();
    (answered, asked.len())
}

/// Counts of timeouts and NAKs within the window.
pub fn dhcp_failures(dhcp: &[DhcpRecord], window: &FaultWindow) -> (usize, usize) {
    let within = dhcp
        .iter()
        .filter(|r| (window.injected_ms..window.healed_ms).contains(&r.at_ms));
    within.fold((0, 0), |(timeouts, naks), record| match record.event {
        DhcpEvent::Timeout { .. } => (timeouts + 1, naks),
        DhcpEvent::Nak { .. } => (timeouts, naks + 1),
        _ => (timeouts, naks),
    })
}

/// (ACKed, tried) renewals within the window: a renewal ends in an ACK, a
/// NAK or a timeout.
pub fn renewals(dhcp: &[DhcpRecord], window: &FaultWindow) -> (usize, usize) {
    let within = dhcp
        .iter()
        .filter(|r| (window.injected_ms..window.healed_ms).contains(&r.at_ms));
    within.fold((0, 0), |(acked, tried), record| match record.event {
        DhcpEvent::Ack { new: false, .. } => (acked + 1, tried + 1),
        DhcpEvent::Timeout { what: "renew" } => (acked, tried + 1),
        _ => (acked, tried),
    })
}

pub fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        // Counts far below 2^52: exact as f64.
        100.0 * part as f64 / whole as f64
    }
}

/// The per-fault table, in Markdown.
pub fn table(reports: &[FaultReport]) -> String {
    let mut text = String::from(
        "| fault | DHCP downtime | renewals ACKed | DNS answered (surviving hosts) | DHCP timeouts / NAKs | leases lost | duplicate addresses |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let downtime = r.dhcp_downtime_ms.map_or_else(
            || "none in run".to_string(),
            |ms| format!("{:.1} s", ms as f64 / 1000.0),
        );
        text.push_str(&format!(
            "| {} | {} | {:.1} % of {} | {:.1} % of {} | {} / {} | {} | {} |\n",
            r.name,
            downtime,
            r.renewals_acked_pct,
            r.renewals,
            r.dns_answered_pct,
            r.dns_queries,
            r.dhcp_timeouts,
            r.naks,
            r.leases_lost,
            r.duplicates
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ack(at_ms: u64, sent_at_ms: u64, new: bool) -> DhcpRecord {
        DhcpRecord {
            at_ms,
            mac: "02:fa:01:00:00:01".into(),
            hostname: "f1c1".into(),
            host: 1,
            event: DhcpEvent::Ack {
                address: Ipv4Addr::new(172, 16, 0, 10),
                server_id: Ipv4Addr::new(172, 16, 0, 1),
                lease_secs: 120,
                new,
                sent_at_ms,
            },
        }
    }

    #[test]
    fn downtime_runs_to_the_first_fresh_grant_asked_for_after_the_fault() {
        let history = [
            ack(10_100, 9_900, true),
            ack(10_500, 10_400, false),
            ack(12_000, 11_000, true),
        ];
        assert_eq!(dhcp_downtime(&history, 10_000), Some(2_000));
        assert_eq!(dhcp_downtime(&history, 20_000), None);
    }

    #[test]
    fn dns_counts_only_surviving_hosts_inside_the_window() {
        let sample = |at_ms, host, answered| DnsSample {
            at_ms,
            host,
            hostname: "f1c1".into(),
            outcome: if answered {
                DnsOutcome::Answered(vec![])
            } else {
                DnsOutcome::Unanswered
            },
        };
        let window = FaultWindow {
            name: "x".into(),
            injected_ms: 100,
            healed_ms: 200,
            surviving: vec![1, 2],
        };
        let dns = [
            sample(150, 1, true),
            sample(150, 2, false),
            sample(150, 3, false),
            sample(250, 1, false),
        ];
        assert_eq!(dns_answered(&dns, &window), (1, 2));
        assert!((percent(1, 2) - 50.0).abs() < f64::EPSILON);
    }

    #[test]
    fn error_rcodes_are_not_answers_and_are_counted_apart_from_timeouts() {
        let sample = |host, outcome| DnsSample {
            at_ms: 150,
            host,
            hostname: "f1c1".into(),
            outcome,
        };
        let window = FaultWindow {
            name: "x".into(),
            injected_ms: 100,
            healed_ms: 200,
            surviving: vec![1],
        };
        let dns = [
            sample(1, DnsOutcome::Failed(2)),
            sample(1, DnsOutcome::Failed(2)),
            sample(1, DnsOutcome::Unanswered),
            sample(1, DnsOutcome::Answered(vec![])),
            sample(2, DnsOutcome::Failed(5)),
        ];
        assert_eq!(dns_answered(&dns, &window), (1, 4));
        assert_eq!(
            dns_failed_rcodes(&dns, &window),
            std::collections::BTreeMap::from([(2, 2)])
        );
    }
}
