//! systemd-networkd as a DHCPv4 client in a container namespace, by the
//! measured recipe of `shared/reference/networkd-in-netns.md`.
//!
//! networkd is an ordinary process here: no systemd as PID 1, no udev. It
//! runs in a private mount and UTS namespace (`unshare -m -u`) with a tmpfs
//! over `/run`, its state directory bound over `/run/systemd`, only our
//! `.network` file in `/etc/systemd/network`, its own `/etc/machine-id` (an
//! empty one fails the link, a shared one gives every client one DUID), a
//! read-only `/sys` (read-write, it waits forever for udev) and its own
//! hostname. Nothing it writes reaches the machine's network config.
//!
//! **Its own D-Bus.** networkd renews on demand only when told over the bus
//! (`networkctl renew eth0`), so each client gets a private system bus, a
//! `dbus-daemon` started in the same mount namespace before networkd (the
//! tmpfs `/run` gives it its own `/run/dbus/system_bus_socket`; the machine's
//! bus socket is hidden from both). Its configuration ([`BUS_CONFIG`]) is not
//! the stock `system.conf`: that one can activate services through a setuid
//! helper, which networkd's `SetHostname` call set off. networkd connects to it at
//! start, [`renew`] runs `networkctl` inside networkd's mount and network
//! namespaces (`nsenter -t <networkd pid> -m -n`), and that bus sees nothing
//! else. The daemon runs with `--nosyslog` and writes to the client's log. It
//! outlives networkd (it is networkd's child, not the other way round), so its
//! pid goes to `dbus.pid` in the client's directory and [`stop_bus`] ends it by
//! that pid, after checking that the pid is still that client's `dbus-daemon`. Measured
//! here: `networkctl renew` returns in ~10 ms and the REQUEST (renewing) goes
//! out at once. A renewal forced this way is networkd's own RENEWING: unicast
//! to the server id, one request only; unanswered, the next step is its
//! REBINDING at T2.
//!
//! networkd runs no script, so a [`Watcher`] thread turns its debug log and
//! its lease file (`run/netif/leases/<ifindex>`) into the event lines the other
//! clients' scripts write, and the tests read them the same way. The file is
//! rewritten a moment after an ACK that changes it (a new lease, a rebind to
//! another server, another lifetime), and not at all after a renewal that
//! changes nothing: an event waits for a file younger than its ACK, and a
//! renewal's falls back to the file as it is after [`UNCHANGED_AFTER`]. (The
//! old file read at once gave a rebind ACKed by a new leader the dead
//! leader's server id.)

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::clients::ClientOptions;
use crate::netns::{CONTAINER_INTERFACE, Container, NsProcess, run};

/// Where Debian 12's `systemd` package installs it.
pub const NETWORKD: &str = "/lib/systemd/systemd-networkd";

/// The tools the networkd client needs besides [`NETWORKD`]: its private bus,
/// the command that talks to it, and the way into its namespaces.
pub const TOOLS: &[&str] = &[NETWORKD, "dbus-daemon", "networkctl", "nsenter", "unshare"];

/// The file in the client's directory that holds its bus daemon's pid.
const BUS_PID: &str = "dbus.pid";
/// The bus daemon's configuration file in the client's directory.
const BUS_CONF: &str = "dbus.conf";
/// A system bus (the socket `networkctl` and networkd look for) that can
/// start nothing: no service directories and no setuid launch helper, unlike
/// the stock `system.conf` (with which networkd's `SetHostname` call made the
/// helper try to activate hostnamed). Everyone may own a name, send to and
/// receive from anyone (a policy without the receive rule makes every reply
/// to `networkctl` "Transport endpoint is not connected"): only networkd and
/// `networkctl`, inside the client's own mount namespace, can reach it.
const BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#;
/// How long networkd's start waits for its bus socket (10 ms steps).
const BUS_WAIT_STEPS: u32 = 500;

const WATCH_POLL: Duration = Duration::from_millis(50);
/// networkd 252 does not rewrite its lease file after a renewal ACK that
/// changes nothing in it (measured: same server, same lifetime; a rebind to
/// another server, a lifetime that differs, or a new lease is written within
/// milliseconds). A renewal ACK whose file is not rewritten within this long
/// is the lease as the file already has it.
const UNCHANGED_AFTER: Duration = Duration::from_millis(1_000);

/// Starts networkd on the container's `eth0`; its files live in `dir`.
pub fn spawn(
    container: &Container,
    dir: &Path,
    options: &ClientOptions,
    log: &Path,
) -> io::Result<NsProcess> {
    let state = dir.join("run-systemd");
    let network = dir.join("network");
    fs::create_dir_all(&state)?;
    fs::create_dir_all(&network)?;
    fs::write(network.join("10-eth0.network"), network_file(options))?;
    let machine_id = dir.join("machine-id");
    let id = options
        .machine_id
        .clone()
        .unwrap_or_else(|| machine_id_for(&container.name));
    fs::write(&machine_id, format!("{id}\n"))?;
    let bus_pid = dir.join(BUS_PID);
    let _ = fs::remove_file(&bus_pid);
    let bus_conf = dir.join(BUS_CONF);
    fs::write(&bus_conf, BUS_CONFIG)?;
    // The private bus first, so that networkd finds its socket at start.
    let inner = format!(
        "set -e\n\
         mount -t tmpfs rmq-networkd /run\n\
         mkdir -p /run/systemd /run/dbus\n\
         mount --bind {state} /run/systemd\n\
         mount --bind {network} /etc/systemd/network\n\
         mount --bind {machine_id} /etc/machine-id\n\
         mount -o remount,bind,ro /sys\n\
         hostname {hostname}\n\
         dbus-daemon --config-file={bus_conf} --nofork --nopidfile --nosyslog &\n\
         echo $! > {bus_pid}\n\
         i=0\n\
         while [ ! -S /run/dbus/system_bus_socket ]; do\n\
             i=$((i + 1)); [ $i -le {BUS_WAIT_STEPS} ] || {{ echo 'no private bus' >&2; exit 1; }}\n\
             sleep 0.01\n\
         done\n\
         SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=debug exec {NETWORKD}\n",
        state = quote(&state)?,
        network = quote(&network)?,
        machine_id = quote(&machine_id)?,
        hostname = shell_quote(&options.hostname),
        bus_pid = quote(&bus_pid)?,
        bus_conf = quote(&bus_conf)?,
    );
    container.spawn(
        &[
            "unshare",
            "-m",
            "-u",
            "--propagation",
            "private",
            "sh",
            "-c",
            &inner,
        ],
        log,
    )
}

/// `networkctl renew eth0` in the mount and network namespaces of the
/// networkd whose process is `networkd`: it sends a RENEWING request now.
pub fn renew(networkd: &NsProcess) -> io::Result<()> {
    let pid = networkd
        .pid()
        .ok_or_else(|| io::Error::other("networkd is stopped"))?;
    run(std::process::Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-m", "-n", "networkctl", "renew"])
        .arg(CONTAINER_INTERFACE))
    .map(drop)
}

/// The lease files in the client's state directory with their times (Unix
/// ms) and contents, for failure messages.
pub fn lease_file_report(dir: &Path) -> String {
    let leases = dir.join("run-systemd/netif/leases");
    let mut report = format!("--- {} ---\n", leases.display());
    for entry in fs::read_dir(&leases).into_iter().flatten().flatten() {
        let path = entry.path();
        let modified = fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis());
        let text = fs::read_to_string(&path).unwrap_or_default();
        report.push_str(&format!(
            "{} modified at {modified}:\n{text}\n",
            path.display()
        ));
    }
    report
}

/// The pid of the private bus of the client in `dir`, if it runs.
pub fn bus_pid(dir: &Path) -> Option<u32> {
    let pid = fs::read_to_string(dir.join(BUS_PID))
        .ok()?
        .trim()
        .parse::<u32>()
        .ok()?;
    is_bus(pid, dir).then_some(pid)
}

/// Whether `pid` is the `dbus-daemon` of the client in `dir` (not a pid
/// reused since): its command line names that client's configuration file.
fn is_bus(pid: u32, dir: &Path) -> bool {
    let expected = format!(
        "dbus-daemon\0--config-file={}\0",
        dir.join(BUS_CONF).display()
    );
    fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|cmdline| cmdline.starts_with(expected.as_bytes()))
}

/// Stops the private bus of the client in `dir`, by the pid its start wrote,
/// if that pid is still a `dbus-daemon`; waits at most a second for it.
pub fn stop_bus(dir: &Path) {
    let path = dir.join(BUS_PID);
    let Some(pid) = fs::read_to_string(&path)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
    else {
        return;
    };
    let signal = |name: &str| {
        let _ = std::process::Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    };
    if is_bus(pid, dir) {
        signal("TERM");
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while is_bus(pid, dir) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if is_bus(pid, dir) {
            signal("KILL");
        }
    }
    let _ = fs::remove_file(path);
}

/// A `.network` as netplan renders it for an Ubuntu container.
fn network_file(options: &ClientOptions) -> String {
    let mut text = format!(
        "[Match]\nName={CONTAINER_INTERFACE}\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\n\
         IPv6AcceptRA=no\n\n[DHCP]\nRouteMetric=100\nUseMTU=true\n"
    );
    if let Some(iaid) = options.iaid {
        text.push_str(&format!("\n[DHCPv4]\nIAID={iaid}\n"));
    }
    text
}

/// A machine-id of 32 hex digits derived from `name` (FNV-1a, twice).
fn machine_id_for(name: &str) -> String {
    let hash = |seed: u64| {
        name.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    format!(
        "{:016x}{:016x}",
        hash(0xcbf2_9ce4_8422_2325),
        hash(0x8422_2325_cbf2_9ce4)
    )
}

/// Turns networkd's log and lease file into event lines in `dir/events`:
/// `REQUEST (requesting|init-reboot|renewing|rebinding)` followed by `ACK`
/// becomes BOUND, REBOOT, RENEW or REBIND with the lease's values; `NAK`,
/// `RELEASE` and `DISCOVER` are recorded as such.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub fn start(dir: &Path) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let mut state = WatchState::new(dir);
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            loop {
                let stopping = flag.load(Ordering::Relaxed);
                state.poll();
                if stopping {
                    return;
                }
                std::thread::sleep(WATCH_POLL);
            }
        });
        Watcher {
            stop,
            thread: Some(thread),
        }
    }

    /// One last pass over the log, then the thread ends.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panic in the watcher shows as missing events in the test.
            let _ = thread.join();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.finish();
    }
}

struct WatchState {
    log: PathBuf,
    leases: PathBuf,
    events: PathBuf,
    offset: u64,
    partial: String,
    /// The event the next ACK completes, from the last REQUEST's state.
    requested: Option<&'static str>,
    /// An ACK whose lease file has not been written yet, a time before
    /// which a lease file is an older one, and when the ACK was seen.
    pending_ack: Option<(&'static str, SystemTime, SystemTime)>,
    /// When the previous poll read the log: a line first seen now was
    /// written after it.
    last_read: SystemTime,
}

impl WatchState {
    fn new(dir: &Path) -> WatchState {
        WatchState {
            log: dir.join("log"),
            leases: dir.join("run-systemd/netif/leases"),
            events: dir.join("events"),
            offset: 0,
            partial: String::new(),
            requested: None,
            pending_ack: None,
            last_read: SystemTime::now(),
        }
    }

    fn poll(&mut self) {
        let read_at = SystemTime::now();
        let lines = self.new_lines();
        self.flush_pending();
        for line in lines {
            self.line(&line);
        }
        self.flush_pending();
        self.last_read = read_at;
    }

    fn flush_pending(&mut self) {
        let Some((event, since, seen)) = self.pending_ack else {
            return;
        };
        // A renewal that changed nothing leaves the file as it was.
        let unchanged = matches!(event, "RENEW" | "REBIND")
            && seen.elapsed().is_ok_and(|waited| waited >= UNCHANGED_AFTER);
        let lease = self.lease_written_since(since).or_else(|| {
            unchanged
                .then(|| self.lease_written_since(UNIX_EPOCH))
                .flatten()
        });
        if let Some(lease) = lease {
            self.pending_ack = None;
            self.write(event, &lease);
        }
    }

    fn line(&mut self, line: &str) {
        let Some(message) = line
            .split_once("DHCPv4 client: ")
            .map(|(_, message)| message.trim())
        else {
            return;
        };
        if let Some(state) = message.strip_prefix("REQUEST (") {
            self.requested = Some(match state.trim_end_matches(')') {
                "init-reboot" => "REBOOT",
                "renewing" => "RENEW",
                "rebinding" => "REBIND",
                _ => "BOUND",
            });
        } else if message == "ACK" {
            let event = self.requested.unwrap_or("BOUND");
            // networkd rewrites the lease file a moment after an ACK that
            // changes it; until then the file is the previous lease's, whose
            // server id and lifetime a rebind to another server changes.
            // The ACK was logged after the previous poll, so the new file is
            // no older than that (less the coarse clock's tick that file
            // times lag by).
            let since = self.last_read - Duration::from_millis(20);
            self.pending_ack = Some((event, since, SystemTime::now()));
        } else if message.starts_with("NAK") {
            self.write("NAK", &LeaseFile::default());
        } else if message == "RELEASE" {
            self.write("RELEASE", &LeaseFile::default());
        } else if message == "DISCOVER" {
            self.write("DISCOVER", &LeaseFile::default());
        }
    }

    fn new_lines(&mut self) -> Vec<String> {
        let Ok(mut file) = fs::File::open(&self.log) else {
            return Vec::new();
        };
        let mut text = String::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err()
            || file.read_to_string(&mut text).is_err()
        {
            return Vec::new();
        }
        self.offset += text.len() as u64;
        self.partial.push_str(&text);
        let Some(end) = self.partial.rfind('\n') else {
            return Vec::new();
        };
        let complete: String = self.partial.drain(..=end).collect();
        complete.lines().map(str::to_string).collect()
    }

    /// The lease file of the one DHCP interface, if written.
    fn lease_path(&self) -> Option<PathBuf> {
        fs::read_dir(&self.leases)
            .ok()?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.parse::<u32>().is_ok())
            })
    }

    /// The lease file, if it holds an address and was written at or after `since`.
    fn lease_written_since(&self, since: SystemTime) -> Option<LeaseFile> {
        let path = self.lease_path()?;
        let modified = fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        if modified < since {
            return None;
        }
        let lease = LeaseFile::parse(&fs::read_to_string(path).ok()?);
        lease.address.is_some().then_some(lease)
    }

    fn write(&self, event: &str, lease: &LeaseFile) {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let line = format!(
            "at={at} event={event} address={} server_id={} lease_time={} hostname={} domain={} dns={} routers={}\n",
            lease.address.as_deref().unwrap_or(""),
            lease.server.as_deref().unwrap_or(""),
            lease.lifetime.as_deref().unwrap_or(""),
            lease.hostname.as_deref().unwrap_or(""),
            lease.domain.as_deref().unwrap_or(""),
            lease.dns.replace(' ', ","),
            lease.router.replace(' ', ","),
        );
        let appended = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.events)
            .and_then(|mut file| io::Write::write_all(&mut file, line.as_bytes()));
        if let Err(error) = appended {
            eprintln!("networkd watcher: {}: {error}", self.events.display());
        }
    }
}

/// The fields of networkd's lease file the tests use.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LeaseFile {
    pub address: Option<String>,
    pub server: Option<String>,
    pub lifetime: Option<String>,
    pub hostname: Option<String>,
    pub domain: Option<String>,
    pub dns: String,
    pub router: String,
    pub client_id: Option<String>,
}

impl LeaseFile {
    pub fn parse(text: &str) -> LeaseFile {
        let mut lease = LeaseFile::default();
        for (key, value) in text.lines().filter_map(|line| line.split_once('=')) {
            let value = value.trim().to_string();
            match key.trim() {
                "ADDRESS" => lease.address = Some(value),
                "SERVER_ADDRESS" => lease.server = Some(value),
                "LIFETIME" => lease.lifetime = Some(value),
                "HOSTNAME" => lease.hostname = Some(value),
                "DOMAINNAME" => lease.domain = Some(value),
                "DNS" => lease.dns = value,
                "ROUTER" => lease.router = value,
                "CLIENTID" => lease.client_id = Some(value),
                _ => {}
            }
        }
        lease
    }
}

fn quote(path: &Path) -> io::Result<String> {
    path.to_str()
        .map(shell_quote)
        .ok_or_else(|| io::Error::other(format!("non-UTF-8 path {}", path.display())))
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::Event;

    #[test]
    fn lease_files_parse() {
        let text = "# This is private data. Do not parse.\nADDRESS=172.31.0.20\n\
                    NETMASK=255.255.255.0\nROUTER=172.31.0.1\nSERVER_ADDRESS=172.31.0.1\n\
                    T1=60\nT2=105\nLIFETIME=120\nHOSTNAME=probe1\nDNS=172.16.0.1 172.16.0.2\n\
                    CLIENTID=ff131ad6ab\n";
        let lease = LeaseFile::parse(text);
        assert_eq!(lease.address.as_deref(), Some("172.31.0.20"));
        assert_eq!(lease.server.as_deref(), Some("172.31.0.1"));
        assert_eq!(lease.lifetime.as_deref(), Some("120"));
        assert_eq!(lease.hostname.as_deref(), Some("probe1"));
        assert_eq!(lease.dns, "172.16.0.1 172.16.0.2");
        assert_eq!(lease.client_id.as_deref(), Some("ff131ad6ab"));
    }

    #[test]
    fn log_lines_become_events_once_the_lease_is_written() {
        let dir = tempfile::TempDir::new().unwrap();
        let leases = dir.path().join("run-systemd/netif/leases");
        fs::create_dir_all(&leases).unwrap();
        let mut state = WatchState::new(dir.path());
        let log = |text: &str| {
            let mut file = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.path().join("log"))
                .unwrap();
            io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        };
        log("eth0: DHCPv4 client: DISCOVER\neth0: DHCPv4 client: REQUEST (requesting)\n");
        log("eth0: DHCPv4 client: ACK\neth0: DHCPv4 client: lease exp");
        state.poll();
        // A lease file of an earlier lease is not this one.
        let stale = leases.join("7");
        fs::write(&stale, "ADDRESS=172.16.0.99\n").unwrap();
        let old = fs::File::options().write(true).open(&stale).unwrap();
        old.set_modified(UNIX_EPOCH + Duration::from_secs(1))
            .unwrap();
        state.poll();
        let events = crate::clients::read_events(&dir.path().join("events"));
        assert_eq!(
            events.len(),
            1,
            "no BOUND before the lease file: {events:?}"
        );
        std::thread::sleep(Duration::from_millis(30));
        fs::write(
            leases.join("7"),
            "ADDRESS=172.16.0.10\nSERVER_ADDRESS=172.16.0.2\nLIFETIME=120\n",
        )
        .unwrap();
        log("ires in 1min\neth0: DHCPv4 client: REQUEST (renewing)\neth0: DHCPv4 client: ACK\n");
        state.poll();
        // A renewal that changes nothing: no rewrite, the event comes once
        // the grace period is over, from the file as it is.
        std::thread::sleep(Duration::from_millis(30));
        state.poll();
        log("eth0: DHCPv4 client: REQUEST (renewing)\neth0: DHCPv4 client: ACK\n");
        state.poll();
        let events = crate::clients::read_events(&dir.path().join("events"));
        assert_eq!(events.len(), 3, "not before the grace period: {events:?}");
        std::thread::sleep(UNCHANGED_AFTER + Duration::from_millis(10));
        state.poll();
        let events = crate::clients::read_events(&dir.path().join("events"));
        assert_eq!(events.len(), 4, "{events:?}");
        assert_eq!(events[3].event, "RENEW");
        assert_eq!(events[3].server_id, Some("172.16.0.2".parse().unwrap()));
        // A rebind ACKed by another server: the file still names the old one
        // until networkd rewrites it, and the event waits for that.
        std::thread::sleep(Duration::from_millis(30));
        state.poll();
        log("eth0: DHCPv4 client: REQUEST (rebinding)\neth0: DHCPv4 client: ACK\n");
        state.poll();
        let events = crate::clients::read_events(&dir.path().join("events"));
        assert_eq!(events.len(), 4, "no REBIND from the old file: {events:?}");
        std::thread::sleep(Duration::from_millis(30));
        fs::write(
            leases.join("7"),
            "ADDRESS=172.16.0.10\nSERVER_ADDRESS=172.16.0.3\nLIFETIME=120\n",
        )
        .unwrap();
        state.poll();
        log("eth0: DHCPv4 client: RELEASE\n");
        state.poll();
        let events = crate::clients::read_events(&dir.path().join("events"));
        let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            kinds,
            ["DISCOVER", "BOUND", "RENEW", "RENEW", "REBIND", "RELEASE"]
        );
        assert!(events[1..5].iter().all(Event::is_bound));
        assert_eq!(events[1].address, Some("172.16.0.10".parse().unwrap()));
        assert_eq!(events[1].server_id, Some("172.16.0.2".parse().unwrap()));
        assert_eq!(events[2].lease_time, Some(120));
        assert_eq!(events[4].server_id, Some("172.16.0.3".parse().unwrap()));
    }
}
