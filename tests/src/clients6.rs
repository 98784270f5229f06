//! Real DHCPv6 clients in a testbed container: ISC `dhclient -6` and
//! `dhcpcd` (dual stack: its DHCPv4 lease carries the hostname, its DHCPv6
//! lease the address). Like [`crate::clients`], every file a client keeps
//! (lease, DUID, pid, control socket) is under the test's directory; dhcpcd
//! runs in a private mount namespace with a tmpfs `/run` and its own
//! `/var/lib/dhcpcd`. A script appends one line per event, which tests read.
//!
//! Debian's busybox has no `udhcpc6` applet (`busybox --list | grep udhcpc6`
//! prints nothing), so busybox is not one of the v6 clients.
//!
//! [`V6Trace`] runs `tcpdump` on a container's `eth0` for DHCPv6 (UDP 546
//! and 547) and keeps its decoded text, so a test can assert that no REPLY
//! carried a NoBinding status.

use std::fs;
use std::io;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::{CONTAINER_INTERFACE, Container, NsProcess, wait_until};

const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client6Kind {
    /// ISC dhclient 4.4 in `-6` mode, in the foreground, DUID-LL from the MAC.
    Dhclient,
    /// dhcpcd 9, IPv4 and IPv6 (IA_NA), router solicitations off: the DHCPv6
    /// exchange is started by the `ia_na` line, not by an RA's M flag.
    Dhcpcd,
}

impl Client6Kind {
    pub fn tools(&self) -> &'static [&'static str] {
        match self {
            Client6Kind::Dhclient => &["dhclient"],
            Client6Kind::Dhcpcd => &["dhcpcd", "unshare"],
        }
    }

    fn program(&self) -> &'static str {
        match self {
            Client6Kind::Dhclient => "dhclient6",
            Client6Kind::Dhcpcd => "dhcpcd6",
        }
    }
}

/// One line of a client script: what happened and the IA_NA address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event6 {
    pub at_ms: Option<u64>,
    /// The script's reason, e.g. `BOUND6`, `RENEW6`, `REBIND6`, `REBOOT6`.
    pub event: String,
    pub address: Option<Ipv6Addr>,
    /// The server identifier (DUID) of the REPLY, as the client prints it.
    pub server_id: Option<String>,
}

impl Event6 {
    fn parse(line: &str) -> Option<Event6> {
        let mut event = Event6 {
            at_ms: None,
            event: String::new(),
            address: None,
            server_id: None,
        };
        for pair in line.split_whitespace() {
            let (key, value) = pair.split_once('=')?;
            match key {
                "at" => event.at_ms = value.parse().ok(),
                "event" => event.event = value.to_string(),
                "address" => event.address = value.parse().ok(),
                "server_id" if !value.is_empty() => event.server_id = Some(value.to_string()),
                _ => {}
            }
        }
        (!event.event.is_empty()).then_some(event)
    }

    /// A REPLY gave the client an address.
    pub fn is_bound(&self) -> bool {
        self.address.is_some()
            && matches!(
                self.event.as_str(),
                "BOUND6" | "RENEW6" | "REBIND6" | "REBOOT6"
            )
    }
}

/// A DHCPv6 client running in a container; killed on drop.
pub struct Dhcp6Client<'c> {
    pub kind: Client6Kind,
    container: &'c Container,
    dir: PathBuf,
    process: Option<NsProcess>,
}

impl<'c> Dhcp6Client<'c> {
    /// Starts `kind` on the container's `eth0` (which must have its
    /// link-local address), files under `dir/<kind>-<container>/`.
    /// `hostname` is dhcpcd's DHCPv4 host name (dhclient sends none).
    pub fn start(
        kind: Client6Kind,
        container: &'c Container,
        dir: &Path,
        hostname: &str,
    ) -> io::Result<Dhcp6Client<'c>> {
        let dir = dir.join(format!("{}-{}", kind.program(), container.name));
        fs::create_dir_all(&dir)?;
        let script = dir.join("script");
        fs::write(&script, script_text(&dir))?;
        set_executable(&script)?;
        let log = dir.join("log");
        let process = match kind {
            Client6Kind::Dhclient => {
                fs::write(dir.join("dhclient6.conf"), "")?;
                let args: Vec<String> = ["dhclient", "-6", "-d", "-v", "-D", "LL", "-cf"]
                    .iter()
                    .map(|s| s.to_string())
                    .chain([
                        path_str(&dir.join("dhclient6.conf"))?,
                        "-sf".into(),
                        path_str(&script)?,
                        "-lf".into(),
                        path_str(&dir.join("leases"))?,
                        "-pf".into(),
                        path_str(&dir.join("pid"))?,
                        CONTAINER_INTERFACE.into(),
                    ])
                    .collect();
                container.spawn(&args, &log)?
            }
            Client6Kind::Dhcpcd => {
                let db = dir.join("db");
                fs::create_dir_all(&db)?;
                fs::write(dir.join("dhcpcd.conf"), dhcpcd_conf(hostname))?;
                let inner = format!(
                    "mount -t tmpfs rmq-dhcpcd6 /run && mkdir -p /run/dhcpcd && \
                     mount --bind {db} /var/lib/dhcpcd && \
                     exec dhcpcd -B -d -A -L -t 0 -f {conf} -c {script} {iface}",
                    db = shell_quote(&path_str(&db)?),
                    conf = shell_quote(&path_str(&dir.join("dhcpcd.conf"))?),
                    script = shell_quote(&path_str(&script)?),
                    iface = CONTAINER_INTERFACE,
                );
                container.spawn(
                    &[
                        "unshare",
                        "-m",
                        "--propagation",
                        "private",
                        "sh",
                        "-c",
                        &inner,
                    ],
                    &log,
                )?
            }
        };
        Ok(Dhcp6Client {
            kind,
            container,
            dir,
            process: Some(process),
        })
    }

    pub fn container(&self) -> &'c Container {
        self.container
    }

    /// Every event so far, oldest first.
    pub fn events(&self) -> Vec<Event6> {
        fs::read_to_string(self.dir.join("events"))
            .unwrap_or_default()
            .lines()
            .filter_map(Event6::parse)
            .collect()
    }

    /// The client's own log, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Waits at most `timeout` for the first event after the first `seen`
    /// that `wanted` accepts.
    pub fn wait_event(
        &self,
        seen: usize,
        timeout: Duration,
        wanted: impl Fn(&Event6) -> bool,
    ) -> io::Result<Event6> {
        let mut found = None;
        wait_until(timeout, POLL, || {
            found = self.events().into_iter().skip(seen).find(&wanted);
            found.is_some()
        });
        found.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} in {}: no such event within {timeout:?}; events {:?}\n--- log ---\n{}",
                    self.kind.program(),
                    self.container.name,
                    self.events(),
                    self.log()
                ),
            )
        })
    }

    /// Waits at most `timeout` for the first lease.
    pub fn wait_lease(&self, timeout: Duration) -> io::Result<Event6> {
        self.wait_event(0, timeout, Event6::is_bound)
    }

    /// Stops the client without releasing (SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }
}

impl Drop for Dhcp6Client<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// tcpdump's decoded DHCPv6 traffic on a container's `eth0`; killed on drop.
pub struct V6Trace {
    process: NsProcess,
    log: PathBuf,
}

impl V6Trace {
    /// Starts the trace and waits until tcpdump listens.
    pub fn start(container: &Container, dir: &Path) -> io::Result<V6Trace> {
        let log = dir.join(format!("{}.dhcp6.txt", container.name));
        let process = container.spawn(
            &[
                "tcpdump",
                "-i",
                CONTAINER_INTERFACE,
                "-n",
                "-l",
                "-vv",
                "--immediate-mode",
                "udp port 546 or udp port 547",
            ],
            &log,
        )?;
        let listening = wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            fs::read_to_string(&log).is_ok_and(|text| text.contains("listening on"))
        });
        if !listening {
            return Err(io::Error::other(format!(
                "tcpdump did not start: {}",
                fs::read_to_string(&log).unwrap_or_default()
            )));
        }
        Ok(V6Trace { process, log })
    }

    /// Everything decoded so far.
    pub fn text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for V6Trace {
    fn drop(&mut self) {
        self.process.kill();
    }
}

/// dhcpcd: IPv4 (for the host name) and one IA_NA; no router solicitation,
/// no SLAAC of its own, no hooks but ours.
fn dhcpcd_conf(hostname: &str) -> String {
    format!(
        "# raftmasq test client: DHCPv4 + DHCPv6 IA_NA, no hooks but ours.\n\
         hostname {hostname}\n\
         option domain_name_servers, domain_name, domain_search, host_name\n\
         option dhcp6_name_servers, dhcp6_domain_search\n\
         require dhcp_server_identifier\n\
         noipv4ll\n\
         noipv6rs\n\
         ipv6ra_noautoconf\n\
         duid ll\n\
         interface {CONTAINER_INTERFACE}\n\
         ia_na 1\n"
    )
}

/// Records each event; configures nothing (dhcpcd does that itself, and
/// dhclient's addresses are not needed on the interface by these tests).
fn script_text(dir: &Path) -> String {
    let events = shell_quote(&dir.join("events").display().to_string());
    format!(
        r#"#!/bin/sh
# raftmasq test DHCPv6 client script: records each event for the test.
address="${{new_ip6_address:-$new_dhcp6_ia_na1_ia_addr1}}"
server_id="${{new_dhcp6_server_id}}"
echo "at=$(date +%s%3N) event=$reason address=$address server_id=$server_id" >> {events}
exit 0
"#
    )
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn path_str(path: &Path) -> io::Result<String> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| io::Error::other(format!("non-UTF-8 path {}", path.display())))
}

fn set_executable(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_lines_parse_into_events() {
        let event = Event6::parse(
            "at=1795708000123 event=REBIND6 address=fd42:1::1003 server_id=0:3:0:1:2:16:3e:0:ff:2",
        )
        .unwrap();
        assert_eq!(event.at_ms, Some(1_795_708_000_123));
        assert_eq!(event.event, "REBIND6");
        assert_eq!(event.address, Some("fd42:1::1003".parse().unwrap()));
        assert_eq!(event.server_id.as_deref(), Some("0:3:0:1:2:16:3e:0:ff:2"));
        assert!(event.is_bound());
        let preinit = Event6::parse("at=1 event=PREINIT6 address= server_id=").unwrap();
        assert!(!preinit.is_bound());
        assert_eq!(preinit.server_id, None);
        assert_eq!(Event6::parse("garbage"), None);
    }
}
