//! The file-handle budget. The listeners' connection caps must leave room,
//! within the process's open-file limit, for everything else the daemon
//! holds: UDP DNS and DHCP sockets, forwarding sockets, the storage files,
//! the outgoing cluster connections and the admin requests of `dnsctl`.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Handles kept for everything but the listeners' connections: a few dozen
/// sockets and files in steady state, the DNS forwarder's in-flight queries
/// (at most 1,024, one socket each), sled's files, the outgoing cluster
/// connections, and headroom.
pub const RESERVED_HANDLES: u64 = 2048;

/// Whether connection caps adding up to `connections` leave
/// [`RESERVED_HANDLES`] free under an open-file limit of `limit`.
pub fn fits(connections: u64, limit: u64) -> bool {
    connections.saturating_add(RESERVED_HANDLES) <= limit
}

/// Raises the soft open-file limit to the hard one (systemd's `LimitNOFILE`
/// sets both; a shell's soft limit is often 1,024) and returns the soft
/// limit in force afterwards.
pub fn raise_open_file_limit() -> Result<u64, nix::Error> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
        return Ok(hard);
    }
    Ok(soft)
}

#[cfg(test)]
mod tests {
    use super::{RESERVED_HANDLES, fits};
    use crate::ListenerLimits;

    #[test]
    fn the_default_caps_fit_1024_handles_plus_the_reserve() {
        let caps = [
            ListenerLimits::CLUSTER,
            ListenerLimits::ADMIN,
            ListenerLimits::DNS_TCP,
        ]
        .iter()
        .map(|limits| limits.max_connections as u64)
        .sum::<u64>();
        assert!(fits(caps, 1024 + RESERVED_HANDLES));
        assert!(!fits(caps, 1024), "the reserve is counted");
    }
}
