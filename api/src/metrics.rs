//! Every metric the daemon exposes at `/metrics`: its name, kind, unit,
//! labels and help text, in one list ([`CATALOGUE`]).
//!
//! The code that counts uses the name constants below; the daemon describes
//! every entry at start-up (so each family gets its `# HELP` and `# TYPE`
//! lines); `docs/metrics.md`, the alert rules and the Grafana dashboard in
//! `packaging/` are checked against a real scrape by the e2e `metrics` test.
//!
//! Names follow Prometheus' conventions: a `raftmasq_` prefix, the base unit
//! in the name (`_seconds`, `_ratio`), `_total` on counters and on nothing
//! else. Labels have small fixed sets of values (a message type, a reason, a
//! node id); no client address or MAC is ever a label.

/// The Prometheus type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    /// The word in the `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// What a metric's value counts or measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A plain count (messages, entries, addresses, peers).
    Count,
    Seconds,
    /// A fraction from 0 to 1.
    Ratio,
    /// 0 or 1.
    Boolean,
}

/// One metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub unit: Unit,
    /// The label names every series of the family has.
    pub labels: &'static [&'static str],
    /// The `# HELP` text: one line, what the value is.
    pub help: &'static str,
}

// DHCP, counted by the server as messages arrive and replies leave.
pub const DHCP_RECEIVED: &str = "raftmasq_dhcp_received_total";
pub const DHCP_DROPPED: &str = "raftmasq_dhcp_dropped_total";
pub const DHCP_IGNORED: &str = "raftmasq_dhcp_ignored_total";
pub const DHCP_REPLIES: &str = "raftmasq_dhcp_replies_total";
pub const DHCP_EVENTS: &str = "raftmasq_dhcp_events_total";
pub const DHCP_COMMITTED: &str = "raftmasq_dhcp_committed_total";
pub const DHCP_RELAY_UNSERVED: &str = "raftmasq_dhcp_relay_unserved_total";
// IPv6 router advertisements (the `ra` crate).
pub const RA_SENT: &str = "raftmasq_ra_sent_total";
pub const RA_SOLICITATIONS: &str = "raftmasq_ra_solicitations_total";
pub const RA_DROPPED: &str = "raftmasq_ra_dropped_total";
// DHCPv6, one family for both modes: the stateless server (the `dhcp6`
// crate, every host) and the stateful one (`dhcpd::v6`, the leader).
pub const DHCP6_RECEIVED: &str = "raftmasq_dhcp6_received_total";
pub const DHCP6_SENT: &str = "raftmasq_dhcp6_sent_total";
pub const DHCP6_IGNORED: &str = "raftmasq_dhcp6_ignored_total";
pub const DHCP6_DROPPED: &str = "raftmasq_dhcp6_dropped_total";
pub const DHCP6_COMMIT_FAILED: &str = "raftmasq_dhcp6_commit_failed_total";
pub const DHCP6_LEASES: &str = "raftmasq_dhcp6_leases";
// DHCP pool, read from the replica at scrape time.
pub const DHCP_POOL_SIZE: &str = "raftmasq_dhcp_pool_size";
pub const DHCP_LEASES: &str = "raftmasq_dhcp_leases";
pub const DHCP_ADDRESSES: &str = "raftmasq_dhcp_addresses";
pub const DHCP_POOL_UTILISATION: &str = "raftmasq_dhcp_pool_utilisation_ratio";
// DNS, counted by the server.
pub const DNS_QUERIES: &str = "raftmasq_dns_queries_total";
pub const DNS_QUERY_DURATION: &str = "raftmasq_dns_query_duration_seconds";
pub const DNS_DROPPED: &str = "raftmasq_dns_dropped_total";
pub const DNS_FORWARD: &str = "raftmasq_dns_forward_total";
pub const DNS_NOTIFY: &str = "raftmasq_dns_notify_total";
pub const DNS_REFUSED: &str = "raftmasq_dns_refused_total";
pub const DNS_RATE_LIMITED: &str = "raftmasq_dns_rate_limited_total";
// TCP listeners (cluster, admin, dns-tcp), counted by the bounded listener.
pub const CONNECTIONS_OPEN: &str = "raftmasq_connections_open";
pub const CONNECTIONS_REFUSED: &str = "raftmasq_connections_refused_total";
// Raft, read from the node at scrape time.
pub const RAFT_TERM: &str = "raftmasq_raft_term";
pub const RAFT_IS_LEADER: &str = "raftmasq_raft_is_leader";
pub const RAFT_LEADER_ID: &str = "raftmasq_raft_leader_id";
pub const RAFT_HAS_QUORUM: &str = "raftmasq_raft_has_quorum";
pub const RAFT_LAST_LOG_INDEX: &str = "raftmasq_raft_last_log_index";
pub const RAFT_APPLIED_INDEX: &str = "raftmasq_raft_applied_index";
pub const RAFT_FOLLOWER_LAG: &str = "raftmasq_raft_follower_lag_entries";
// Cluster time, read at scrape time.
pub const CLOCK_CORRECTION: &str = "raftmasq_clock_correction_seconds";
pub const CLOCK_OUT_OF_BOUND_PEERS: &str = "raftmasq_clock_out_of_bound_peers";
pub const CLOCK_THIS_HOST_OUT_OF_BOUND: &str = "raftmasq_clock_this_host_out_of_bound";

/// Every metric the daemon exposes.
pub const CATALOGUE: &[Metric] = &[
    Metric {
        name: RA_SENT,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["destination"],
        help: "IPv6 router advertisements sent: to all nodes, unicast answers to solicitations, and the final one (router lifetime 0) at shutdown.",
    },
    Metric {
        name: RA_SOLICITATIONS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["outcome"],
        help: "Valid IPv6 router solicitations, by outcome: an answer scheduled, one already due, or the answer queue full.",
    },
    Metric {
        name: RA_DROPPED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["reason"],
        help: "IPv6 router solicitations dropped as malformed (RFC 4861 §6.1.1), by reason.",
    },
    Metric {
        name: DHCP6_RECEIVED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["type"],
        help: "DHCPv6 datagrams received on the bridge in either mode, by message type (the first byte, whether or not the rest decodes).",
    },
    Metric {
        name: DHCP6_SENT,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["type"],
        help: "DHCPv6 answers sent in either mode, by message type (advertise, reply).",
    },
    Metric {
        name: DHCP6_IGNORED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["reason"],
        help: "Valid DHCPv6 messages left unanswered, by reason (the stateless and the stateful server's reasons).",
    },
    Metric {
        name: DHCP6_DROPPED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["reason"],
        help: "DHCPv6 requests dropped as malformed or as RFC 8415 section 16 has servers discard them, by reason.",
    },
    Metric {
        name: DHCP6_COMMIT_FAILED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "DHCPv6 leases, releases or declines that could not be committed (no reply; the client retries).",
    },
    Metric {
        name: DHCP_RECEIVED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["type"],
        help: "DHCP messages received and decoded, by message type.",
    },
    Metric {
        name: DHCP_DROPPED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["reason"],
        help: "DHCP packets dropped undecoded (malformed or not a client message), by reason.",
    },
    Metric {
        name: DHCP_RELAY_UNSERVED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["reason"],
        help: "DHCP datagrams to the relay listener that no network serves, by reason: not relayed (and no ciaddr), the link they name is in no network's subnet, undecodable, or the network's queue was full.",
    },
    Metric {
        name: DHCP_IGNORED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["reason"],
        help: "Decoded DHCP messages left unanswered, by reason.",
    },
    Metric {
        name: DHCP_REPLIES,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["type"],
        help: "DHCP replies sent, by kind.",
    },
    Metric {
        name: DHCP_EVENTS,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["event"],
        help: "DHCP server events: skipped malformed options, failed commits and sends, requests held for the next leader, denied hostnames, refused renewals of unknown addresses.",
    },
    Metric {
        name: DHCP_COMMITTED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["command"],
        help: "DHCP commands committed with no reply waiting on them (RELEASE, DECLINE).",
    },
    Metric {
        name: DHCP_POOL_SIZE,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["network"],
        help: "Addresses in the DHCP pool, by network.",
    },
    Metric {
        name: DHCP_LEASES,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["network", "state"],
        help: "Leases in this node's replica, by network and state (bound, offered).",
    },
    Metric {
        name: DHCP_ADDRESSES,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["network", "state"],
        help: "Pool addresses not leased, by network and state (free, reserved, quarantined).",
    },
    Metric {
        name: DHCP_POOL_UTILISATION,
        kind: Kind::Gauge,
        unit: Unit::Ratio,
        labels: &["network"],
        help: "Fraction of each network's DHCP pool that is not free (0 to 1).",
    },
    Metric {
        name: DHCP6_LEASES,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &[],
        help: "DHCPv6 address leases (IA_NA, stateful mode) in this node's replica.",
    },
    Metric {
        name: DNS_QUERIES,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["qtype", "rcode"],
        help: "DNS queries answered, by query type and response code.",
    },
    Metric {
        name: DNS_QUERY_DURATION,
        kind: Kind::Histogram,
        unit: Unit::Seconds,
        labels: &[],
        help: "Time from receiving a DNS query to its answer being ready.",
    },
    Metric {
        name: DNS_DROPPED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &[],
        help: "DNS datagrams dropped unanswered (too short to answer, or a response).",
    },
    Metric {
        name: DNS_FORWARD,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["result"],
        help: "Queries for names outside the cluster's zones, by result (cache, upstream, failed).",
    },
    Metric {
        name: DNS_NOTIFY,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["result"],
        help: "DNS NOTIFY messages sent to secondaries, by result.",
    },
    Metric {
        name: DNS_REFUSED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["reason"],
        help: "Signed requests and zone transfers refused, by reason (badkey, badsig, badtime, transfer_key_missing, transfer_address).",
    },
    Metric {
        name: DNS_RATE_LIMITED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["action"],
        help: "UDP queries over dns.rate_limit, by action (dropped, or slipped: answered empty with TC set).",
    },
    Metric {
        name: CONNECTIONS_OPEN,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["listener"],
        help: "TCP connections open now on each listener (cluster, admin, dns-tcp), within the [limits] caps.",
    },
    Metric {
        name: CONNECTIONS_REFUSED,
        kind: Kind::Counter,
        unit: Unit::Count,
        labels: &["listener", "reason"],
        help: "TCP connections closed at once because a [limits] cap was reached, by listener and reason (full: the listener's cap; client_full: the cap per client address).",
    },
    Metric {
        name: RAFT_TERM,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &[],
        help: "This node's current Raft term; it grows by one or more at each election.",
    },
    Metric {
        name: RAFT_IS_LEADER,
        kind: Kind::Gauge,
        unit: Unit::Boolean,
        labels: &[],
        help: "1 if this node is the Raft leader, else 0.",
    },
    Metric {
        name: RAFT_LEADER_ID,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &[],
        help: "The node id of the leader this node knows, 0 if it knows none.",
    },
    Metric {
        name: RAFT_HAS_QUORUM,
        kind: Kind::Gauge,
        unit: Unit::Boolean,
        labels: &[],
        help: "1 if this node may act for the cluster (a leader acknowledged by a quorum, or a follower of a known leader), else 0.",
    },
    Metric {
        name: RAFT_LAST_LOG_INDEX,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &[],
        help: "Index of the last entry in this node's Raft log.",
    },
    Metric {
        name: RAFT_APPLIED_INDEX,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &[],
        help: "Index of the last Raft entry applied to this node's replica.",
    },
    Metric {
        name: RAFT_FOLLOWER_LAG,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &["follower"],
        help: "On the leader: log entries each follower (by node id) has yet to match.",
    },
    Metric {
        name: CLOCK_CORRECTION,
        kind: Kind::Gauge,
        unit: Unit::Seconds,
        labels: &[],
        help: "Correction added to this host's clock to give cluster time (the voters' median offset).",
    },
    Metric {
        name: CLOCK_OUT_OF_BOUND_PEERS,
        kind: Kind::Gauge,
        unit: Unit::Count,
        labels: &[],
        help: "Voters whose clocks are further than max_clock_offset from the median, left out of cluster time.",
    },
    Metric {
        name: CLOCK_THIS_HOST_OUT_OF_BOUND,
        kind: Kind::Gauge,
        unit: Unit::Boolean,
        labels: &[],
        help: "1 if this host's own clock is further than max_clock_offset from the voters' median, else 0.",
    },
];

/// The catalogue entry of a family, by name.
pub fn find(name: &str) -> Option<&'static Metric> {
    CATALOGUE.iter().find(|metric| metric.name == name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_are_unique_prefixed_and_follow_the_conventions() {
        let mut seen = BTreeSet::new();
        for metric in CATALOGUE {
            let name = metric.name;
            assert!(seen.insert(name), "{name} is listed twice");
            assert!(name.starts_with("raftmasq_"), "{name}: no raftmasq_ prefix");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}: not snake_case"
            );
            assert_eq!(
                metric.kind == Kind::Counter,
                name.ends_with("_total"),
                "{name}: counters, and only counters, end in _total"
            );
            match metric.unit {
                Unit::Seconds => assert!(name.ends_with("_seconds"), "{name}"),
                Unit::Ratio => assert!(name.ends_with("_ratio"), "{name}"),
                Unit::Count | Unit::Boolean => {}
            }
            for suffix in ["_bucket", "_sum", "_count", "_ms", "_milliseconds"] {
                assert!(
                    !name.ends_with(suffix),
                    "{name}: reserved or non-base suffix"
                );
            }
            assert!(
                !metric.help.is_empty() && !metric.help.contains('\n'),
                "{name}: help is one line"
            );
            for label in metric.labels {
                assert!(
                    !label.starts_with("__")
                        && !["le", "quantile", "mac", "ip", "client", "address"].contains(label),
                    "{name}: label {label} is reserved or unbounded"
                );
            }
        }
        assert_eq!(
            find(DNS_QUERIES).map(|m| m.labels),
            Some(&["qtype", "rcode"][..])
        );
    }
}
