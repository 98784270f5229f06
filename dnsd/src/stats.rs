//! Query metrics through the `metrics` facade (exported by the daemon).
//!
//! Labels are bounded: query types outside a fixed list count as `other`, so a
//! flood of random types cannot grow the series without limit.

use std::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use metrics::{Counter, Histogram};
use raftmasq_api::metrics::{
    DNS_DROPPED, DNS_FORWARD, DNS_NOTIFY, DNS_QUERIES, DNS_QUERY_DURATION, DNS_RATE_LIMITED,
    DNS_REFUSED,
};

use crate::fast::FastType;

pub(crate) fn qtype_label(qtype: Option<RecordType>) -> &'static str {
    use RecordType::*;
    match qtype {
        None => "none",
        Some(A) => "A",
        Some(AAAA) => "AAAA",
        Some(PTR) => "PTR",
        Some(CNAME) => "CNAME",
        Some(TXT) => "TXT",
        Some(SRV) => "SRV",
        Some(MX) => "MX",
        Some(NS) => "NS",
        Some(SOA) => "SOA",
        Some(ANY) => "ANY",
        Some(AXFR) => "AXFR",
        Some(IXFR) => "IXFR",
        Some(HTTPS) => "HTTPS",
        Some(SVCB) => "SVCB",
        Some(DS) => "DS",
        Some(DNSKEY) => "DNSKEY",
        Some(_) => "other",
    }
}

pub(crate) fn rcode_label(rcode: ResponseCode) -> &'static str {
    match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::BADVERS => "BADVERS",
        _ => "other",
    }
}

/// Counts one answered query and its latency.
pub(crate) fn answered(qtype: Option<RecordType>, rcode: ResponseCode, started: Instant) {
    metrics::counter!(DNS_QUERIES, "qtype" => qtype_label(qtype), "rcode" => rcode_label(rcode))
        .increment(1);
    metrics::histogram!(DNS_QUERY_DURATION).record(started.elapsed().as_secs_f64());
}

/// Counts a datagram dropped unanswered (too short, or a response).
pub(crate) fn dropped() {
    metrics::counter!(DNS_DROPPED).increment(1);
}

/// The values of `raftmasq_dns_forward_total{result}`.
pub(crate) const FORWARD_RESULTS: [&str; 3] = ["cache", "upstream", "failed"];
/// The values of `raftmasq_dns_notify_total{result}`.
pub(crate) const NOTIFY_RESULTS: [&str; 4] = ["acknowledged", "refused", "unanswered", "error"];
/// The values of `raftmasq_dns_refused_total{reason}`.
pub(crate) const REFUSED_REASONS: [&str; 5] = [
    "badkey",
    "badsig",
    "badtime",
    "transfer_key_missing",
    "transfer_address",
];
/// The values of `raftmasq_dns_rate_limited_total{action}`.
pub(crate) const RATE_LIMIT_ACTIONS: [&str; 2] = ["dropped", "slipped"];

/// Counts a forwarded query by result (one of [`FORWARD_RESULTS`]).
pub(crate) fn forwarded(result: &'static str) {
    metrics::counter!(DNS_FORWARD, "result" => result).increment(1);
}

/// Counts a NOTIFY by result (one of [`NOTIFY_RESULTS`]).
pub(crate) fn notified(result: &'static str) {
    metrics::counter!(DNS_NOTIFY, "result" => result).increment(1);
}

/// Counts a refused signed request or transfer (one of [`REFUSED_REASONS`]).
pub(crate) fn tsig_refused(reason: &'static str) {
    metrics::counter!(DNS_REFUSED, "reason" => reason).increment(1);
}

/// Counts a datagram held back by the rate limiter (one of [`RATE_LIMIT_ACTIONS`]).
pub(crate) fn rate_limited(action: &'static str) {
    metrics::counter!(DNS_RATE_LIMITED, "action" => action).increment(1);
}

/// Registers the DNS families that have few series at zero (the query
/// counter's answered series come with the first answers), so each is in
/// `/metrics` before its first event.
pub fn register_metrics() {
    metrics::counter!(DNS_DROPPED).increment(0);
    for result in FORWARD_RESULTS {
        metrics::counter!(DNS_FORWARD, "result" => result).increment(0);
    }
    for result in NOTIFY_RESULTS {
        metrics::counter!(DNS_NOTIFY, "result" => result).increment(0);
    }
    for reason in REFUSED_REASONS {
        metrics::counter!(DNS_REFUSED, "reason" => reason).increment(0);
    }
    for action in RATE_LIMIT_ACTIONS {
        metrics::counter!(DNS_RATE_LIMITED, "action" => action).increment(0);
    }
    let noerror = rcode_label(ResponseCode::NoError);
    for qtype in [RecordType::A, RecordType::PTR] {
        metrics::counter!(DNS_QUERIES, "qtype" => qtype_label(Some(qtype)), "rcode" => noerror)
            .increment(0);
    }
}

/// The series the fast path counts into, registered once: looking a labelled
/// series up in the recorder on every query costs more than the answer.
pub(crate) struct FastStats {
    a: Counter,
    ptr: Counter,
    aaaa: Counter,
    duration: Histogram,
}

impl FastStats {
    /// Registers with the recorder installed now (the daemon installs it
    /// before it starts DNS).
    pub fn new() -> Self {
        let noerror = rcode_label(ResponseCode::NoError);
        FastStats {
            a: metrics::counter!(DNS_QUERIES, "qtype" => qtype_label(Some(RecordType::A)), "rcode" => noerror),
            ptr: metrics::counter!(DNS_QUERIES, "qtype" => qtype_label(Some(RecordType::PTR)), "rcode" => noerror),
            aaaa: metrics::counter!(DNS_QUERIES, "qtype" => qtype_label(Some(RecordType::AAAA)), "rcode" => noerror),
            duration: metrics::histogram!(DNS_QUERY_DURATION),
        }
    }

    /// Counts one fast answer (always NOERROR) and its latency.
    pub fn answered(&self, qtype: FastType, started: Instant) {
        match qtype {
            FastType::A => self.a.increment(1),
            FastType::Ptr => self.ptr.increment(1),
            FastType::Aaaa => self.aaaa.increment(1),
        }
        self.duration.record(started.elapsed().as_secs_f64());
    }
}
