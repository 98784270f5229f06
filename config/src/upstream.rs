//! The upstream resolvers when `dns.upstream` is empty: the host's own.
//!
//! `/etc/resolv.conf` first, without loopback servers (on a host running
//! raftmasq they would point at ourselves). A stock Ubuntu host lists only
//! systemd-resolved's stub `127.0.0.53` there; the servers behind it are in
//! `/run/systemd/resolve/resolv.conf`, so that file is read next. Reading
//! is the daemon's job; choosing is here, where it is testable.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::net::resolv_conf_nameservers;

/// The host's resolver configuration.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";
/// systemd-resolved's list of the servers behind its stub.
pub const RESOLVED_CONF: &str = "/run/systemd/resolve/resolv.conf";

/// Which file the default upstream came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamSource {
    /// `dns.upstream` in the configuration.
    Configured,
    /// A resolv.conf(5) file.
    File(PathBuf),
    /// No file named a usable server: names outside the domain get SERVFAIL.
    Nothing,
}

impl fmt::Display for UpstreamSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamSource::Configured => f.write_str("dns.upstream"),
            UpstreamSource::File(path) => write!(f, "{}", path.display()),
            UpstreamSource::Nothing => f.write_str("nowhere"),
        }
    }
}

/// The servers names outside the domain are forwarded to, and where they
/// came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub servers: Vec<SocketAddr>,
    pub source: UpstreamSource,
}

impl Upstream {
    /// `configured` (`dns.upstream`) if set, else the first of `files` that
    /// names a non-loopback server; `read` returns a file's text, or `None`
    /// when it cannot be read.
    pub fn choose(
        configured: &[SocketAddr],
        files: &[&Path],
        mut read: impl FnMut(&Path) -> Option<String>,
    ) -> Upstream {
        if !configured.is_empty() {
            return Upstream {
                servers: configured.to_vec(),
                source: UpstreamSource::Configured,
            };
        }
        for file in files {
            let servers = read(file)
                .map(|text| resolv_conf_nameservers(&text))
                .unwrap_or_default();
            if !servers.is_empty() {
                return Upstream {
                    servers,
                    source: UpstreamSource::File(file.to_path_buf()),
                };
            }
        }
        Upstream {
            servers: Vec::new(),
            source: UpstreamSource::Nothing,
        }
    }

    /// [`Upstream::choose`] over this host's files.
    pub fn of_host(configured: &[SocketAddr]) -> Upstream {
        Upstream::choose(
            configured,
            &[Path::new(RESOLV_CONF), Path::new(RESOLVED_CONF)],
            |path| std::fs::read_to_string(path).ok(),
        )
    }

    /// What an operator must hear when there is no upstream at all.
    pub fn warning(&self) -> Option<String> {
        (self.source == UpstreamSource::Nothing).then(|| {
            format!(
                "dns.upstream is empty and neither {RESOLV_CONF} nor {RESOLVED_CONF} names a \
                 nameserver other than loopback: every name outside the cluster domain will get \
                 SERVFAIL; set dns.upstream = [\"IP\", ...] (your site's resolvers)"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const ETC: &str = "/etc/resolv.conf";
    const RESOLVED: &str = "/run/systemd/resolve/resolv.conf";

    fn choose(configured: &[&str], files: &[(&str, &str)]) -> Upstream {
        let configured: Vec<SocketAddr> = configured.iter().map(|s| s.parse().unwrap()).collect();
        let files: HashMap<&str, &str> = files.iter().copied().collect();
        Upstream::choose(
            &configured,
            &[Path::new(ETC), Path::new(RESOLVED)],
            |path| files.get(path.to_str()?).map(|text| text.to_string()),
        )
    }

    fn servers(upstream: &Upstream) -> Vec<String> {
        upstream.servers.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_configured_list_wins() {
        let upstream = choose(&["10.0.0.53:53"], &[(ETC, "nameserver 9.9.9.9\n")]);
        assert_eq!(servers(&upstream), ["10.0.0.53:53"]);
        assert_eq!(upstream.source, UpstreamSource::Configured);
        assert_eq!(upstream.warning(), None);
    }

    #[test]
    fn resolv_conf_with_a_remote_server_is_used() {
        let upstream = choose(
            &[],
            &[
                (ETC, "nameserver 9.9.9.9\n"),
                (RESOLVED, "nameserver 1.1.1.1\n"),
            ],
        );
        assert_eq!(servers(&upstream), ["9.9.9.9:53"]);
        assert_eq!(upstream.source, UpstreamSource::File(ETC.into()));
    }

    #[test]
    fn behind_the_systemd_resolved_stub_the_real_servers_are_read() {
        let stub = "# This is /run/systemd/resolve/stub-resolv.conf\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n";
        let uplink = "# This is /run/systemd/resolve/resolv.conf\nnameserver 10.20.0.1\nnameserver 10.20.0.2\nsearch office.example\n";
        let upstream = choose(&[], &[(ETC, stub), (RESOLVED, uplink)]);
        assert_eq!(servers(&upstream), ["10.20.0.1:53", "10.20.0.2:53"]);
        assert_eq!(upstream.source, UpstreamSource::File(RESOLVED.into()));
        assert_eq!(upstream.warning(), None);
    }

    #[test]
    fn only_loopback_everywhere_is_nothing_and_warned() {
        let upstream = choose(&[], &[(ETC, "nameserver 127.0.0.53\n")]);
        assert!(upstream.servers.is_empty());
        assert_eq!(upstream.source, UpstreamSource::Nothing);
        let warning = upstream.warning().expect("a warning");
        assert!(
            warning.contains("SERVFAIL") && warning.contains("dns.upstream"),
            "{warning}"
        );
        let missing = choose(&[], &[]);
        assert_eq!(missing.source, UpstreamSource::Nothing);
    }
}
