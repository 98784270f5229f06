//! The limits one listener enforces.

use std::time::Duration;

/// Connection caps and timeouts of one TCP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections open at once; further ones are accepted and closed at
    /// once, so they never hold a file handle.
    pub max_connections: usize,
    /// Connections open at once from one client address.
    pub max_per_client: usize,
    /// How long a client may take to send a request's head (HTTP) or a
    /// query's bytes after its length (DNS).
    pub header_timeout: Duration,
    /// How long a connection may stay without a byte moving either way.
    pub idle_timeout: Duration,
    /// How long one request may take from its head to the response's head.
    pub request_timeout: Duration,
}

impl ListenerLimits {
    /// The cluster listener: the peers (a few connections each) and joining
    /// nodes; per client, room for every kind of request a peer makes.
    pub const CLUSTER: ListenerLimits = ListenerLimits {
        max_connections: 256,
        max_per_client: 32,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(60),
    };

    /// The admin API: `dnsctl`, the dashboard and a metrics scraper.
    pub const ADMIN: ListenerLimits = ListenerLimits {
        max_connections: 64,
        max_per_client: 16,
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(60),
    };

    /// DNS over TCP: resolvers keep a few connections each (RFC 7766 §6.2.2).
    pub const DNS_TCP: ListenerLimits = ListenerLimits {
        max_connections: 256,
        max_per_client: 16,
        header_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
    };
}
