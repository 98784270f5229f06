//! What the clients saw: every DHCP reply (or its absence) and every DNS
//! answer, stamped with the test machine's wall clock in Unix milliseconds
//! (the clock the nodes use too, unless a test skews one of them).

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, PoisonError};

pub use crate::wall_ms;

/// One thing a simulated DHCP client saw or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpEvent {
    /// A DHCPACK for `address`. `new` is a SELECTING exchange (a fresh
    /// grant), otherwise a renewal or rebinding. The lease runs `lease_secs`
    /// from `sent_at_ms`, the first transmission of the request (RFC 2131
    /// §4.4.1: the client counts from when it asked).
    Ack {
        address: Ipv4Addr,
        server_id: Ipv4Addr,
        lease_secs: u32,
        new: bool,
        sent_at_ms: u64,
    },
    /// A DHCPNAK: the client drops whatever it held.
    Nak { server_id: Option<Ipv4Addr> },
    /// The client sent a DHCPRELEASE and stopped using the address.
    Release { address: Ipv4Addr },
    /// The client's lease ran out without a renewal.
    Expire { address: Ipv4Addr },
    /// An exchange got no answer at all (`what`: "discover", "request",
    /// "renew").
    Timeout { what: &'static str },
}

/// A [`DhcpEvent`] of one client at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpRecord {
    pub at_ms: u64,
    /// The client's MAC, `02:fa:..`, as the cluster's lease list shows it.
    pub mac: String,
    /// The hostname it asks for (its DNS name in the cluster domain).
    pub hostname: String,
    /// The test host whose bridge the client sits on.
    pub host: u8,
    pub event: DhcpEvent,
}

/// What one DNS query got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsOutcome {
    /// A response with these A records (empty: NXDOMAIN or no data).
    Answered(Vec<Ipv4Addr>),
    /// No response in time.
    Unanswered,
    /// A response with an error rcode (SERVFAIL, REFUSED, ...): not an answer.
    Failed(u8),
}

/// One query for a client's name at one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSample {
    pub at_ms: u64,
    /// The host whose DNS server was asked.
    pub host: u8,
    /// The first label (the client's hostname).
    pub hostname: String,
    pub outcome: DnsOutcome,
}

/// Everything recorded, shared by the load threads.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<History>>,
}

/// A copy of the records at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    pub dhcp: Vec<DhcpRecord>,
    pub dns: Vec<DnsSample>,
}

impl Recorder {
    pub fn dhcp(&self, record: DhcpRecord) {
        self.lock().dhcp.push(record);
    }

    pub fn dns(&self, sample: DnsSample) {
        self.lock().dns.push(sample);
    }

    pub fn snapshot(&self) -> History {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
