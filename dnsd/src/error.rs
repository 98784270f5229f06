use std::io;

/// Errors of the DNS server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    #[error("invalid dns configuration: {0}")]
    Config(String),
    #[error("dns listener {addr}: {source}")]
    Listener {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error("no listeners: give the server at least one UDP socket or TCP listener")]
    NoListeners,
}
