//! Real DHCP clients (ISC dhclient, busybox udhcpc, dhcpcd, systemd-networkd)
//! in container namespaces, each fenced off from the machine it runs on.
//!
//! `ip netns exec` isolates only the network, so every client gets its own
//! script, lease, pid and config files in the test's directory, and its
//! hostname explicitly: nothing it does may touch the machine's
//! `/etc/resolv.conf`, hostname or `/var/lib`. dhcpcd keeps its control
//! socket and DUID in fixed directories shared by every namespace, so it runs
//! in a private mount namespace with a tmpfs `/run` and its own `/var/lib/dhcpcd`.
//!
//! The script each client runs appends one line per event to `events` in the
//! client's directory and, inside the container's namespace only, puts the
//! address on the interface (dhcpcd does that itself). Tests read the events.
//!
//! systemd-networkd runs no script: see [`crate::networkd`], which runs it as
//! the recipe in `shared/reference/networkd-in-netns.md` says (with a private
//! `dbus-daemon` so that a test can make it renew) and writes the same event
//! lines from its log and lease file.

use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::{CONTAINER_INTERFACE, Container, NsProcess, run, wait_until};
use crate::networkd::{self, Watcher};

const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Dhclient,
    Udhcpc,
    Dhcpcd,
    /// systemd-networkd 252, the client of Ubuntu containers.
    Networkd,
}

impl ClientKind {
    /// The client matrix: every kind, each of whose renewal a test can force
    /// ([`DhcpClient::renew`]: a signal, `networkctl renew` on networkd's
    /// private bus, or a short T1 for dhclient).
    pub const ALL: [ClientKind; 4] = [
        ClientKind::Dhclient,
        ClientKind::Udhcpc,
        ClientKind::Dhcpcd,
        ClientKind::Networkd,
    ];

    /// The tools (on the PATH, or absolute paths) that starting this kind needs.
    pub fn tools(&self) -> &'static [&'static str] {
        match self {
            ClientKind::Dhclient => &["dhclient"],
            ClientKind::Udhcpc => &["udhcpc"],
            ClientKind::Dhcpcd => &["dhcpcd", "unshare"],
            ClientKind::Networkd => networkd::TOOLS,
        }
    }

    pub fn program(&self) -> &'static str {
        match self {
            ClientKind::Dhclient => "dhclient",
            ClientKind::Udhcpc => "udhcpc",
            ClientKind::Dhcpcd => "dhcpcd",
            ClientKind::Networkd => "networkd",
        }
    }

    /// The event names (upper case) that mean "holds this lease now".
    fn is_bound(event: &str) -> bool {
        matches!(event, "BOUND" | "RENEW" | "REBIND" | "REBOOT")
    }
}

/// One event the client script reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Upper case: BOUND, RENEW, REBIND, REBOOT, RELEASE, EXPIRE, DECONFIG, NAK...
    pub event: String,
    pub address: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    pub lease_time: Option<u32>,
    pub hostname: Option<String>,
    pub domain: Option<String>,
    pub dns: Vec<Ipv4Addr>,
    pub routers: Vec<Ipv4Addr>,
    /// When the script ran (Unix milliseconds, the machine's clock).
    pub at_ms: Option<u64>,
    /// udhcpc only: the boot header fields (`siaddr`, `sname`, `file`).
    pub next_server: Option<Ipv4Addr>,
    pub server_name: Option<String>,
    pub boot_file: Option<String>,
    /// udhcpc only: options 66 (TFTP server name) and 67 (bootfile name).
    pub tftp_server_name: Option<String>,
    pub bootfile_name: Option<String>,
}

impl Event {
    fn parse(line: &str) -> Option<Event> {
        let mut event = Event {
            event: String::new(),
            address: None,
            server_id: None,
            lease_time: None,
            hostname: None,
            domain: None,
            dns: Vec::new(),
            routers: Vec::new(),
            at_ms: None,
            next_server: None,
            server_name: None,
            boot_file: None,
            tftp_server_name: None,
            bootfile_name: None,
        };
        for field in line.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            if value.is_empty() {
                continue;
            }
            let list = || value.split(',').filter_map(|a| a.parse().ok()).collect();
            match key {
                "event" => event.event = value.to_ascii_uppercase(),
                "address" => event.address = value.parse().ok(),
                "server_id" => event.server_id = value.parse().ok(),
                "lease_time" => event.lease_time = value.parse().ok(),
                "hostname" => event.hostname = Some(value.to_string()),
                "domain" => event.domain = Some(value.to_string()),
                "dns" => event.dns = list(),
                "routers" => event.routers = list(),
                "at" => event.at_ms = value.parse().ok(),
                "next_server" => event.next_server = value.parse().ok(),
                "server_name" => event.server_name = Some(value.to_string()),
                "boot_file" => event.boot_file = Some(value.to_string()),
                "tftp_server_name" => event.tftp_server_name = Some(value.to_string()),
                "bootfile_name" => event.bootfile_name = Some(value.to_string()),
                _ => {}
            }
        }
        (!event.event.is_empty()).then_some(event)
    }

    pub fn is_bound(&self) -> bool {
        ClientKind::is_bound(&self.event) && self.address.is_some()
    }
}

/// A bound lease as the client saw it.
pub type Lease = Event;

/// How to start a client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Sent as option 12; always explicit (never the machine's hostname).
    pub hostname: String,
    /// dhclient only: override T1 (`supersede dhcp-renewal-time`) so that a
    /// test sees a renewal without waiting half a lease: dhclient has no
    /// command to renew on demand.
    pub dhclient_renewal_secs: Option<u32>,
    /// networkd only: the container's `/etc/machine-id` (32 hex digits), from
    /// which its DUID, so its option 61, derives. `None`: one derived from the
    /// container's name, so each container has its own.
    pub machine_id: Option<String>,
    /// networkd only: a fixed IAID in option 61, as a real container has
    /// (udev names the interface eth0 in every copy). `None`: networkd's own
    /// choice without udev, a hash of the MAC.
    pub iaid: Option<u32>,
    /// dhcpcd only: send option 80 (RFC 4039 rapid commit) in DISCOVERs.
    pub rapid_commit: bool,
    /// udhcpc only: extra options to list in option 55 (`-O`), by udhcpc's
    /// names (e.g. `tftp` for 66, `bootfile` for 67).
    pub request_options: Vec<String>,
    /// udhcpc only: option 60 (`-V`), e.g. `PXEClient:Arch:00000:UNDI:002001`.
    pub vendor_class: Option<String>,
}

impl ClientOptions {
    pub fn hostname(hostname: &str) -> ClientOptions {
        ClientOptions {
            hostname: hostname.to_string(),
            dhclient_renewal_secs: None,
            machine_id: None,
            iaid: None,
            rapid_commit: false,
            request_options: Vec::new(),
            vendor_class: None,
        }
    }
}

/// A DHCP client running in a container; killed on drop.
pub struct DhcpClient<'c> {
    pub kind: ClientKind,
    container: &'c Container,
    dir: PathBuf,
    process: Option<NsProcess>,
    /// networkd: turns its log and lease file into event lines.
    watcher: Option<Watcher>,
}

impl<'c> DhcpClient<'c> {
    /// Starts `kind` on the container's `eth0`, with its files under
    /// `dir/<kind>-<container>/`.
    pub fn start(
        kind: ClientKind,
        container: &'c Container,
        dir: &Path,
        options: &ClientOptions,
    ) -> io::Result<DhcpClient<'c>> {
        let dir = dir.join(format!("{}-{}", kind.program(), container.name));
        fs::create_dir_all(&dir)?;
        let script = dir.join("script");
        if kind != ClientKind::Networkd {
            fs::write(&script, script_text(kind, &dir))?;
            set_executable(&script)?;
        }
        let log = dir.join("log");
        let mut watcher = None;
        let process = match kind {
            ClientKind::Dhclient => {
                fs::write(dir.join("dhclient.conf"), dhclient_conf(options))?;
                let mut args = vec![
                    "dhclient".to_string(),
                    "-d".into(),
                    "-4".into(),
                    "-v".into(),
                ];
                args.extend(dhclient_files(&dir));
                args.push(CONTAINER_INTERFACE.into());
                container.spawn(&args, &log)?
            }
            ClientKind::Udhcpc => {
                let mut args: Vec<String> = [
                    "udhcpc",
                    "-f",
                    "-i",
                    CONTAINER_INTERFACE,
                    "-s",
                    &path_str(&script)?,
                    "-p",
                    &path_str(&dir.join("pid"))?,
                    "-x",
                    &format!("hostname:{}", options.hostname),
                    "-O",
                    "domain",
                    "-O",
                    "hostname",
                    // Retry every second, forever: the test bounds the wait.
                    "-t",
                    "3",
                    "-T",
                    "1",
                    "-A",
                    "1",
                ]
                .iter()
                .map(|arg| arg.to_string())
                .collect();
                for option in &options.request_options {
                    args.extend(["-O".to_string(), option.clone()]);
                }
                if let Some(class) = &options.vendor_class {
                    args.extend(["-V".to_string(), class.clone()]);
                }
                container.spawn(&args, &log)?
            }
            ClientKind::Dhcpcd => {
                let db = dir.join("db");
                fs::create_dir_all(&db)?;
                fs::write(dir.join("dhcpcd.conf"), dhcpcd_conf(options))?;
                // A private /run (control socket, pid file) and /var/lib/dhcpcd
                // (DUID, leases), visible to this client only.
                let inner = format!(
                    "mount -t tmpfs rmq-dhcpcd /run && mkdir -p /run/dhcpcd && \
                     mount --bind {db} /var/lib/dhcpcd && \
                     exec dhcpcd -B -4 -d -A -L -t 0 -f {conf} -c {script} -h {host} {iface}",
                    db = shell_quote(&path_str(&db)?),
                    conf = shell_quote(&path_str(&dir.join("dhcpcd.conf"))?),
                    script = shell_quote(&path_str(&script)?),
                    host = shell_quote(&options.hostname),
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
            ClientKind::Networkd => {
                let process = networkd::spawn(container, &dir, options, &log)?;
                watcher = Some(Watcher::start(&dir));
                process
            }
        };
        Ok(DhcpClient {
            kind,
            container,
            dir,
            process: Some(process),
            watcher,
        })
    }

    /// networkd: the pid of its private `dbus-daemon`, while it runs.
    pub fn bus_pid(&self) -> Option<u32> {
        (self.kind == ClientKind::Networkd)
            .then(|| networkd::bus_pid(&self.dir))
            .flatten()
    }

    /// The container the client runs in.
    pub fn container(&self) -> &'c Container {
        self.container
    }

    /// Every event so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        read_events(&self.events_path())
    }

    /// The file the client's script appends its events to.
    pub fn events_path(&self) -> PathBuf {
        self.dir.join("events")
    }

    /// The client's own log, for failure messages.
    pub fn log(&self) -> String {
        let mut log = fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        if self.kind == ClientKind::Networkd {
            log.push_str(&networkd::lease_file_report(&self.dir));
        }
        log
    }

    /// Waits at most `timeout` for a lease; returns the first one.
    pub fn wait_lease(&self, timeout: Duration) -> io::Result<Lease> {
        self.wait_event_after(0, timeout, Event::is_bound)
    }

    /// Asks the client to renew (udhcpc and dhcpcd: SIGUSR1; networkd:
    /// `networkctl renew eth0` on its private bus; dhclient: waits for the T1
    /// timer, see [`ClientOptions::dhclient_renewal_secs`]) and waits at most
    /// `timeout` for the renewed lease.
    ///
    /// What an unanswered renewal leads to differs: udhcpc broadcasts a
    /// REBINDING request 1 s later (`-T 1`), dhcpcd retries by unicast, and
    /// networkd (one renewal per window) waits for T2 to rebind.
    pub fn renew(&mut self, timeout: Duration) -> io::Result<Lease> {
        let seen = self.events().len();
        match self.kind {
            ClientKind::Udhcpc | ClientKind::Dhcpcd => self.process()?.signal("USR1")?,
            ClientKind::Networkd => networkd::renew(self.process()?)?,
            ClientKind::Dhclient => {}
        }
        self.wait_event_after(seen, timeout, |event| {
            event.is_bound() && matches!(event.event.as_str(), "RENEW" | "REBIND" | "BOUND")
        })
    }

    /// Releases the lease (a DHCPRELEASE goes to the server) and waits at most
    /// `timeout` for the client to report it; the client is stopped after.
    pub fn release(&mut self, timeout: Duration) -> io::Result<()> {
        let seen = self.events().len();
        match self.kind {
            ClientKind::Udhcpc => self.process()?.signal("USR2")?,
            // SIGALRM: "release and exit" in dhcpcd 9.
            ClientKind::Dhcpcd => self.process()?.signal("ALRM")?,
            // SIGTERM: networkd sends a RELEASE and removes the address.
            ClientKind::Networkd => self.process()?.signal("TERM")?,
            ClientKind::Dhclient => {
                // `dhclient -r` finds the running one by its pid file, stops
                // it, and sends the release itself.
                let mut args = vec![
                    "dhclient".to_string(),
                    "-r".into(),
                    "-4".into(),
                    "-v".into(),
                ];
                args.extend(dhclient_files(&self.dir));
                args.push(CONTAINER_INTERFACE.into());
                run(self.container.command(&args[0]).args(&args[1..]))?;
            }
        }
        let released = self.wait_event_after(seen, timeout, |event| {
            matches!(event.event.as_str(), "RELEASE" | "DECONFIG" | "STOP")
        });
        self.stop();
        released.map(drop)
    }

    /// Waits at most `timeout` for the first event after the first `seen`
    /// that `wanted` accepts.
    pub fn wait_event(
        &self,
        seen: usize,
        timeout: Duration,
        wanted: impl Fn(&Event) -> bool,
    ) -> io::Result<Event> {
        self.wait_event_after(seen, timeout, wanted)
    }

    /// Stops the client without releasing (SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
        // After the process: its last log lines become events first.
        if let Some(watcher) = self.watcher.take() {
            watcher.stop();
        }
        if self.kind == ClientKind::Networkd {
            networkd::stop_bus(&self.dir);
        }
    }

    fn process(&self) -> io::Result<&NsProcess> {
        self.process
            .as_ref()
            .ok_or_else(|| io::Error::other("the client is stopped"))
    }

    fn wait_event_after(
        &self,
        seen: usize,
        timeout: Duration,
        wanted: impl Fn(&Event) -> bool,
    ) -> io::Result<Event> {
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
}

/// The events a client script wrote to `path`, oldest first.
pub fn read_events(path: &Path) -> Vec<Event> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(Event::parse)
        .collect()
}

impl Drop for DhcpClient<'_> {
    fn drop(&mut self) {
        self.stop();
    }
}

fn dhclient_files(dir: &Path) -> Vec<String> {
    [
        ("-cf", "dhclient.conf"),
        ("-sf", "script"),
        ("-lf", "leases"),
        ("-pf", "pid"),
    ]
    .iter()
    .flat_map(|(flag, file)| [flag.to_string(), dir.join(file).display().to_string()])
    .collect()
}

fn dhclient_conf(options: &ClientOptions) -> String {
    let mut conf = format!(
        "send host-name \"{}\";\n\
         request subnet-mask, broadcast-address, routers, domain-name,\n\
         \tdomain-name-servers, host-name, domain-search, interface-mtu;\n\
         timeout 60;\nretry 1;\n",
        options.hostname
    );
    if let Some(secs) = options.dhclient_renewal_secs {
        conf.push_str(&format!("supersede dhcp-renewal-time {secs};\n"));
    }
    conf
}

fn dhcpcd_conf(options: &ClientOptions) -> String {
    let mut conf = format!(
        "# raftmasq test client: IPv4 only, no hooks but ours.\n\
         hostname {}\n\
         option domain_name_servers, domain_name, domain_search, host_name\n\
         option classless_static_routes, interface_mtu\n\
         require dhcp_server_identifier\n\
         noipv4ll\nnoipv6rs\nipv4only\n",
        options.hostname
    );
    if options.rapid_commit {
        // As in dhcpcd's stock dhcpcd.conf: DISCOVERs carry option 80.
        conf.push_str("option rapid_commit\n");
    }
    conf
}

/// The client script: records the event; for dhclient and udhcpc also
/// configures the address, in the container's namespace only.
fn script_text(kind: ClientKind, dir: &Path) -> String {
    let events = shell_quote(&dir.join("events").display().to_string());
    let fields = match kind {
        ClientKind::Udhcpc => {
            r#"event="$1"; address="$ip"; mask="$subnet"; server_id="$serverid"
lease_time="$lease"; host="$hostname"; dom="$domain"; dns_list="$dns"; router_list="$router"
boot="next_server=$siaddr server_name=$sname boot_file=$boot_file tftp_server_name=$tftp bootfile_name=$bootfile""#
        }
        // networkd runs no script (see `crate::networkd`); never called for it.
        ClientKind::Dhclient | ClientKind::Dhcpcd | ClientKind::Networkd => {
            r#"event="$reason"; address="$new_ip_address"; mask="$new_subnet_mask"
server_id="$new_dhcp_server_identifier"; lease_time="$new_dhcp_lease_time"
host="$new_host_name"; dom="$new_domain_name"; dns_list="$new_domain_name_servers"
router_list="$new_routers"; boot="""#
        }
    };
    let configure = match kind {
        // dhcpcd and networkd configure the interface themselves.
        ClientKind::Dhcpcd | ClientKind::Networkd => "",
        ClientKind::Dhclient | ClientKind::Udhcpc => {
            r#"iface="${interface:-eth0}"
case "$event" in
    PREINIT) ip link set "$iface" up ;;
    BOUND|RENEW|REBIND|REBOOT)
        if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$address" ]; then
            ip -4 addr flush dev "$iface"
        fi
        ip addr replace "$address/$mask" dev "$iface" ;;
    DECONFIG|EXPIRE|FAIL|RELEASE|STOP|NAK|LEASEFAIL) ip -4 addr flush dev "$iface" ;;
esac"#
        }
    };
    format!(
        r#"#!/bin/sh
# raftmasq test {program} script: records each event for the test; touches
# nothing outside this network namespace (no resolv.conf, no hostname).
{fields}
event=$(echo "$event" | tr a-z A-Z)
{configure}
commas() {{ echo "$1" | tr -s ' ' ',' | sed 's/^,//; s/,$//'; }}
echo "at=$(date +%s%3N) event=$event address=$address server_id=$server_id lease_time=$lease_time hostname=$host domain=$dom dns=$(commas "$dns_list") routers=$(commas "$router_list") $boot" >> {events}
exit 0
"#,
        program = kind.program(),
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
        let line = "at=1795708000123 event=bound address=172.16.100.12 server_id=172.16.0.1 \
                    lease_time=120 hostname=c1 domain=lxd dns=172.16.0.1,172.16.0.2 routers=";
        let event = Event::parse(line).unwrap();
        assert_eq!(event.at_ms, Some(1_795_708_000_123));
        assert_eq!(event.event, "BOUND");
        assert!(event.is_bound());
        assert_eq!(event.address, Some(Ipv4Addr::new(172, 16, 100, 12)));
        assert_eq!(event.server_id, Some(Ipv4Addr::new(172, 16, 0, 1)));
        assert_eq!(event.lease_time, Some(120));
        assert_eq!(event.hostname.as_deref(), Some("c1"));
        assert_eq!(event.domain.as_deref(), Some("lxd"));
        assert_eq!(
            event.dns,
            [Ipv4Addr::new(172, 16, 0, 1), Ipv4Addr::new(172, 16, 0, 2)]
        );
        assert!(event.routers.is_empty());

        let boot = Event::parse(
            "event=bound address=172.16.0.12 next_server=172.16.0.1 server_name=tftp.lxd \
             boot_file=pxelinux.0 tftp_server_name= bootfile_name=pxelinux.0",
        )
        .unwrap();
        assert_eq!(boot.next_server, Some(Ipv4Addr::new(172, 16, 0, 1)));
        assert_eq!(boot.server_name.as_deref(), Some("tftp.lxd"));
        assert_eq!(boot.boot_file.as_deref(), Some("pxelinux.0"));
        assert_eq!(boot.tftp_server_name, None, "empty means not sent");
        assert_eq!(boot.bootfile_name.as_deref(), Some("pxelinux.0"));

        let release = Event::parse("event=RELEASE address= server_id=").unwrap();
        assert!(!release.is_bound());
        assert_eq!(Event::parse("garbage"), None);
    }

    #[test]
    fn quoting_survives_apostrophes() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
