//! ISC BIND 9 (`named`) as the reference DNS peer: an office resolver that
//! forwards the cluster's zones to the hosts, or a secondary that transfers
//! them. Each instance runs in a namespace the test made, in the foreground
//! (`-g`, log to stderr), with every file it writes — pid, lock, session key,
//! managed keys, transferred zones — in its own directory, and no control
//! channel. Nothing it does reaches the machine: `ip netns exec` isolates the
//! network, and the config points only at the test's addresses (root hints
//! name a server on the namespace's own loopback, where nothing listens, so
//! a name outside the configured zones fails instead of leaving).

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::{Netns, NsProcess, Testbed, wait_until};

/// A running `named`; killed on drop.
pub struct Named {
    process: NsProcess,
    pub dir: PathBuf,
    pub address: Ipv4Addr,
}

/// A zone an instance serves: its own data, a forward or a transfer.
#[derive(Debug, Clone)]
pub enum Zone {
    /// Authoritative, from `records` (zone-file lines after the SOA/NS).
    Primary { name: String, records: Vec<String> },
    /// `forward only` to `forwarders` (port 53).
    Forward {
        name: String,
        forwarders: Vec<Ipv4Addr>,
    },
    /// Transferred by AXFR (never IXFR) from `primaries`; NOTIFY accepted
    /// from them.
    Secondary {
        name: String,
        primaries: Vec<Ipv4Addr>,
    },
    /// As `Secondary`, but every SOA query and transfer to the primaries is
    /// TSIG-signed with `key`, and only NOTIFY signed with it is accepted.
    SignedSecondary {
        name: String,
        primaries: Vec<Ipv4Addr>,
        key: TsigKey,
    },
}

/// A TSIG key as named.conf writes it (`key "name" { algorithm; secret; }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsigKey {
    pub name: String,
    /// `hmac-sha256`, `hmac-sha512`.
    pub algorithm: String,
    /// Base64.
    pub secret: String,
}

impl Named {
    /// Writes a config for `named` listening on `address`:53 only, serving
    /// `zones`, recursive for anyone iff `recursion`; starts it inside `netns`
    /// with its files under `dir/named-<address>/` and waits until it runs.
    pub fn start(
        netns: &Netns,
        dir: &Path,
        address: Ipv4Addr,
        recursion: bool,
        zones: &[Zone],
    ) -> io::Result<Named> {
        let dir = dir.join(format!("named-{address}"));
        fs::create_dir_all(&dir)?;
        let conf = dir.join("named.conf");
        fs::write(&conf, config(&dir, address, recursion, zones)?)?;
        fs::write(
            dir.join("root.hints"),
            ".\t3600000\tIN\tNS\tnowhere.invalid.\nnowhere.invalid.\t3600000\tIN\tA\t127.0.0.1\n",
        )?;
        for zone in zones {
            if let Zone::Primary { name, records } = zone {
                fs::write(
                    dir.join(format!("{name}.db")),
                    zone_file(name, address, records),
                )?;
            }
        }
        let check = netns.output(&["named-checkconf", &path_text(&conf)?])?;
        if !check.status.success() {
            return Err(io::Error::other(format!(
                "named-checkconf rejected {}: {}{}",
                conf.display(),
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            )));
        }
        let log = dir.join("named.log");
        let process = netns.spawn(
            &["named", "-g", "-4", "-n", "1", "-c", &path_text(&conf)?],
            &log,
        )?;
        let mut named = Named {
            process,
            dir,
            address,
        };
        // named logs a line that is exactly "running" once it serves (the
        // start-up banner has "running on" and "running as" too); a primary
        // zone that failed to load is only a log line, so wait for each.
        let started = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            let log = named.log();
            log.lines().any(|line| line.ends_with(" running"))
                && zones.iter().all(|zone| match zone {
                    Zone::Primary { name, .. } => {
                        log.contains(&format!("zone {name}/IN: loaded serial"))
                    }
                    _ => true,
                })
        });
        if !started || !named.process.is_running() {
            return Err(io::Error::other(format!(
                "named did not start:\n{}",
                named.log()
            )));
        }
        Ok(named)
    }

    pub fn log(&self) -> String {
        self.process.log_text()
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }
}

fn path_text(path: &Path) -> io::Result<String> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| io::Error::other(format!("non-UTF-8 path {}", path.display())))
}

fn list(addresses: &[Ipv4Addr]) -> String {
    addresses.iter().map(|a| format!("{a}; ")).collect()
}

fn config(dir: &Path, address: Ipv4Addr, recursion: bool, zones: &[Zone]) -> io::Result<String> {
    let d = path_text(dir)?;
    let (yes_no, allow_recursion) = if recursion {
        ("yes", "\n    allow-recursion { any; };")
    } else {
        ("no", "")
    };
    let mut text = format!(
        r#"// Written by raftmasq's tests; see tests/src/bind.rs.
options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    lock-file "{d}/named.lock";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    dump-file "{d}/cache.dump";
    statistics-file "{d}/named.stats";
    listen-on port 53 {{ {address}; }};
    listen-on-v6 {{ none; }};
    query-source address {address};
    transfer-source {address};
    notify-source {address};
    notify no;
    recursion {yes_no};
    allow-query {{ any; }};{allow_recursion}
    allow-transfer {{ none; }};
    dnssec-validation no;
    empty-zones-enable no;
    minimal-responses no;
}};
controls {{ }};
zone "." {{ type hint; file "{d}/root.hints"; }};
"#
    );
    let mut keys: Vec<&TsigKey> = Vec::new();
    for zone in zones {
        if let Zone::SignedSecondary { key, .. } = zone
            && !keys.contains(&key)
        {
            keys.push(key);
        }
    }
    for key in keys {
        let _ = writeln!(
            text,
            r#"key "{}" {{ algorithm {}; secret "{}"; }};"#,
            key.name, key.algorithm, key.secret
        );
    }
    for zone in zones {
        match zone {
            Zone::Primary { name, .. } => {
                let _ = writeln!(
                    text,
                    r#"zone "{name}" {{ type primary; file "{d}/{name}.db"; }};"#
                );
            }
            Zone::Forward { name, forwarders } => {
                let _ = writeln!(
                    text,
                    r#"zone "{name}" {{ type forward; forward only; forwarders {{ {}}}; }};"#,
                    list(forwarders)
                );
            }
            Zone::Secondary { name, primaries } => {
                let _ = writeln!(
                    text,
                    r#"zone "{name}" {{ type secondary; file "{d}/{name}.sec"; primaries {{ {list} }}; allow-notify {{ {list} }}; request-ixfr no; }};"#,
                    list = list(primaries)
                );
            }
            Zone::SignedSecondary {
                name,
                primaries,
                key,
            } => {
                let signed: String = primaries
                    .iter()
                    .map(|a| format!("{a} key \"{}\"; ", key.name))
                    .collect();
                let _ = writeln!(
                    text,
                    r#"zone "{name}" {{ type secondary; file "{d}/{name}.sec"; primaries {{ {signed}}}; allow-notify {{ key "{key}"; }}; request-ixfr no; }};"#,
                    key = key.name
                );
            }
        }
    }
    Ok(text)
}

/// A zone whose NS is this server (named refuses a zone whose in-zone NS
/// has no address).
fn zone_file(name: &str, address: Ipv4Addr, records: &[String]) -> String {
    let mut text = format!(
        "$ORIGIN {name}.\n$TTL 300\n\
         @\tIN\tSOA\tns.{name}. hostmaster.{name}. 1 3600 600 86400 300\n\
         @\tIN\tNS\tns.{name}.\n\
         ns\tIN\tA\t{address}\n"
    );
    for record in records {
        text.push_str(record);
        text.push('\n');
    }
    text
}

/// A namespace on the underlay bridge with `address`/24 — an office machine
/// next to the hosts. Named `{testbed prefix}{suffix}`; `suffix`: 1–8 of
/// `[a-z0-9]`, unique in the testbed.
pub fn underlay_machine(testbed: &Testbed, suffix: &str, address: Ipv4Addr) -> io::Result<Netns> {
    if suffix.is_empty()
        || suffix.len() > 8
        || !suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(io::Error::other(format!("bad machine name {suffix:?}")));
    }
    let netns = Netns::create(&format!("{}{suffix}", testbed.prefix()))?;
    let underlay = testbed.underlay();
    // "o-" + at most 8: within IFNAMSIZ. Created in the underlay with its peer
    // already in the new namespace: nothing appears in the machine's own.
    let port = format!("o-{suffix}");
    underlay.ip([
        "link",
        "add",
        &port,
        "type",
        "veth",
        "peer",
        "name",
        "ul0",
        "netns",
        netns.name(),
    ])?;
    underlay.ip(["link", "set", &port, "master", "ubr0"])?;
    underlay.ip(["link", "set", &port, "up"])?;
    netns.ip(["addr", "add", &format!("{address}/24"), "dev", "ul0"])?;
    netns.ip(["link", "set", "ul0", "up"])?;
    Ok(netns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_confine_named_to_its_directory_and_address() {
        let zones = [
            Zone::Forward {
                name: "lxd".into(),
                forwarders: vec![Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 2)],
            },
            Zone::Secondary {
                name: "16.172.in-addr.arpa".into(),
                primaries: vec![Ipv4Addr::new(10, 99, 0, 1)],
            },
        ];
        let text = config(
            Path::new("/tmp/x"),
            Ipv4Addr::new(10, 99, 0, 254),
            true,
            &zones,
        )
        .unwrap();
        assert!(text.contains(r#"pid-file "/tmp/x/named.pid";"#));
        assert!(text.contains(r#"lock-file "/tmp/x/named.lock";"#));
        assert!(text.contains("listen-on port 53 { 10.99.0.254; };"));
        assert!(text.contains("controls { };"));
        assert!(text.contains("forwarders { 10.99.0.1; 10.99.0.2; }"));
        assert!(text.contains("request-ixfr no;"));
        assert!(!text.contains("/etc/"), "{text}");
    }

    #[test]
    fn signed_secondaries_name_their_key_for_every_primary() {
        let key = TsigKey {
            name: "office-xfr".into(),
            algorithm: "hmac-sha256".into(),
            secret: "c2VjcmV0".into(),
        };
        let zones = [Zone::SignedSecondary {
            name: "lxd".into(),
            primaries: vec![Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 2)],
            key,
        }];
        let text = config(
            Path::new("/tmp/x"),
            Ipv4Addr::new(10, 99, 0, 253),
            false,
            &zones,
        )
        .unwrap();
        assert!(
            text.contains(r#"key "office-xfr" { algorithm hmac-sha256; secret "c2VjcmV0"; };"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"primaries { 10.99.0.1 key "office-xfr"; 10.99.0.2 key "office-xfr"; };"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"allow-notify { key "office-xfr"; };"#),
            "{text}"
        );
    }
}
