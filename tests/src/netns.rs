//! A multi-host testbed made of Linux network namespaces.
//!
//! ```text
//!                    underlay namespace: bridge ubr0
//!              ┌──────────────┼───────────────┐
//!        h1 (10.99.0.1)   h2 (10.99.0.2)   h3 (10.99.0.3)      ← veth ul0 in each host
//!          vx0 ─ lxdbr0     vx0 ─ lxdbr0     vx0 ─ lxdbr0       ← 172.16.0.N/16
//!           │                 │                │
//!       containers        containers       containers           ← veth eth0, no address
//! ```
//!
//! The three `lxdbr0` bridges form one L2 segment: each enslaves a VXLAN
//! device (VNI 42, UDP 4789) whose flooding list is a static unicast FDB entry
//! per other host — no multicast, as in a cloud. Containers are namespaces
//! whose `eth0` hangs off one host's bridge, with a chosen MAC and no address.
//!
//! Safety: every link is created inside a namespace the testbed owns (veth
//! pairs are created with their peer already in the other namespace), so
//! nothing ever appears in the machine's own namespace. Namespaces carry the
//! test's prefix and are removed by exact name on drop, after the processes
//! inside them (listed by `ip netns pids`, i.e. only ours) are killed.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The UDP port of the VXLAN overlay (IANA).
pub const VXLAN_PORT: u16 = 4789;
/// The VXLAN network identifier of the shared segment.
pub const VNI: u32 = 42;
/// The bridge every host serves DHCP and DNS on.
pub const BRIDGE: &str = "lxdbr0";
/// A container's only interface.
pub const CONTAINER_INTERFACE: &str = "eth0";
/// A host's interface into the underlay.
pub const UNDERLAY_INTERFACE: &str = "ul0";

/// The nftables table that emulates loss where netem is missing.
const NFT_TABLE: &str = "rmq_netem";
/// The nftables table of a one-way partition.
const ONE_WAY_TABLE: &str = "rmq_oneway";

/// How long cleanup waits for killed processes to leave a namespace.
const KILL_WAIT: Duration = Duration::from_secs(3);

/// A name prefix unique to this process and `tag` (e.g. `rmq4242tb-`), so
/// tests running at the same time, or a stale run, never share a namespace.
pub fn test_prefix(tag: &str) -> String {
    format!("rmq{}{tag}-", std::process::id() % 10_000)
}

/// Fails the calling test, naming what is missing, unless it can run: root
/// (CAP_NET_ADMIN) and every tool in `tools` on the PATH (or, for an
/// absolute path, that file).
///
/// The tests that call this are `#[ignore]`d, so a plain `cargo test` lists
/// them as ignored instead of passing them unseen; `scripts/test.sh` (what CI
/// runs, as root) opts in with `--include-ignored`, and then a missing
/// prerequisite is a failure, never a silent pass.
pub fn require(test: &str, tools: &[&str]) {
    let mut missing: Vec<String> = tools
        .iter()
        .filter(|tool| !on_path(tool))
        .map(|tool| (*tool).to_string())
        .collect();
    if !is_root() {
        missing.push("root (CAP_NET_ADMIN)".into());
    }
    assert!(
        missing.is_empty(),
        "{test}: missing {}; run scripts/install-test-deps.sh and the tests as root",
        missing.join(", ")
    );
}

fn on_path(tool: &str) -> bool {
    // An absolute path (e.g. systemd-networkd, which is not on the PATH).
    if tool.starts_with('/') {
        return Path::new(tool).is_file();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|dir| dir.join(tool).is_file())
}

fn is_root() -> bool {
    // The effective uid, without libc: /proc/self/status "Uid: real effective ...".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|uids| uids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Runs a command to completion; an error carries the command line and stderr.
pub fn run(command: &mut Command) -> io::Result<String> {
    let output = command.stdin(Stdio::null()).output()?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

fn ip<I, S>(args: I) -> io::Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(Command::new("ip").args(args))
}

/// A named network namespace (`ip netns add`), deleted on drop together with
/// every process still inside it.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `name`. A namespace of exactly that name left by a killed
    /// earlier run (same pid modulo 10000) is removed first.
    pub fn create(name: &str) -> io::Result<Netns> {
        if exists(name) {
            remove(name);
        }
        ip(["netns", "add", name])?;
        let netns = Netns {
            name: name.to_string(),
        };
        netns.ip(["link", "set", "lo", "up"])?;
        Ok(netns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bind mount that `setns(2)` can open to enter the namespace.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// `program` run inside the namespace (`ip netns exec NAME program`), to
    /// add arguments and I/O to. `ip` execs the program, so the child's pid is
    /// the program's.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Runs `args` inside the namespace and returns its stdout; a non-zero
    /// exit is an error carrying stderr.
    pub fn exec<S: AsRef<OsStr>>(&self, args: &[S]) -> io::Result<String> {
        let (program, rest) = args
            .split_first()
            .ok_or_else(|| io::Error::other("exec: empty command"))?;
        run(self.command(program).args(rest))
    }

    /// Runs `args` inside the namespace and returns its output whatever the
    /// exit status (for commands expected to fail, like a ping that must not
    /// get through).
    pub fn output<S: AsRef<OsStr>>(&self, args: &[S]) -> io::Result<Output> {
        let (program, rest) = args
            .split_first()
            .ok_or_else(|| io::Error::other("output: empty command"))?;
        self.command(program)
            .args(rest)
            .stdin(Stdio::null())
            .output()
    }

    /// `ip -n NAME args`.
    pub fn ip<I, S>(&self, args: I) -> io::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Starts a long-running `args` inside the namespace with stdout and
    /// stderr appended to `log`; it is killed when the guard drops.
    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S], log: &Path) -> io::Result<NsProcess> {
        self.spawn_with_env(args, log, &[])
    }

    /// [`Netns::spawn`] with extra environment variables for the program.
    pub fn spawn_with_env<S: AsRef<OsStr>>(
        &self,
        args: &[S],
        log: &Path,
        env: &[(String, String)],
    ) -> io::Result<NsProcess> {
        let (program, rest) = args
            .split_first()
            .ok_or_else(|| io::Error::other("spawn: empty command"))?;
        let out = File::options().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        let child = self
            .command(program)
            .args(rest)
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()?;
        Ok(NsProcess {
            child: Some(child),
            log: log.to_path_buf(),
        })
    }

    /// The pids of the processes whose network namespace this is.
    pub fn pids(&self) -> Vec<u32> {
        pids(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        remove(&self.name);
    }
}

fn exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

fn pids(name: &str) -> Vec<u32> {
    ip(["netns", "pids", name])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

/// Kills what runs inside `name` (only processes of our own namespace), then
/// deletes it. Best effort: it runs in `Drop`, where there is no one to tell.
fn remove(name: &str) {
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        let inside = pids(name);
        if inside.is_empty() || Instant::now() >= deadline {
            break;
        }
        for pid in inside {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        thread::sleep(Duration::from_millis(50));
    }
    // Deleting the namespace destroys the veths inside it, and with them
    // their peers in the other namespaces.
    let _ = Command::new("ip")
        .args(["netns", "delete", name])
        .stderr(Stdio::null())
        .status();
}

/// A process started inside a namespace; SIGKILLed and reaped on drop.
#[derive(Debug)]
pub struct NsProcess {
    child: Option<Child>,
    pub log: PathBuf,
}

impl NsProcess {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends a signal by name ("TERM", "USR1", ...) without waiting.
    pub fn signal(&self, signal: &str) -> io::Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| io::Error::other("process already stopped"))?;
        run(Command::new("kill").args([format!("-{signal}"), pid.to_string()])).map(drop)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits at most `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NsProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One simulated host: a namespace with an underlay address and a bridge.
#[derive(Debug)]
pub struct Host {
    /// 1-based, as in `h1`.
    pub index: u8,
    pub netns: Netns,
}

impl Host {
    /// 10.99.0.N: where Raft and VXLAN traffic goes.
    pub fn underlay_address(&self) -> String {
        underlay_address(self.index)
    }

    /// The bridge's fixed MAC, `02:16:3e:00:ff:HH`.
    pub fn bridge_mac(&self) -> String {
        format!("02:16:3e:00:ff:{:02x}", self.index)
    }

    /// 172.16.0.N on `lxdbr0`: the DHCP server identifier and DNS server.
    pub fn bridge_address(&self) -> String {
        bridge_address(self.index)
    }

    pub fn exec<S: AsRef<OsStr>>(&self, args: &[S]) -> io::Result<String> {
        self.netns.exec(args)
    }

    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        self.netns.command(program)
    }

    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S], log: &Path) -> io::Result<NsProcess> {
        self.netns.spawn(args, log)
    }
}

fn underlay_address(index: u8) -> String {
    format!("10.99.0.{index}")
}

fn bridge_address(index: u8) -> String {
    format!("172.16.0.{index}")
}

/// The bridge subnet's prefix length.
pub const BRIDGE_PREFIX_LEN: u8 = 16;

/// A namespace standing in for a container on one host.
#[derive(Debug)]
pub struct Container {
    pub name: String,
    /// 1-based index of the host whose bridge it is attached to.
    pub host: u8,
    pub mac: String,
    /// The veth end on the host's bridge (for captures and link games).
    pub host_port: String,
    pub netns: Netns,
}

impl Container {
    pub fn exec<S: AsRef<OsStr>>(&self, args: &[S]) -> io::Result<String> {
        self.netns.exec(args)
    }

    pub fn output<S: AsRef<OsStr>>(&self, args: &[S]) -> io::Result<Output> {
        self.netns.output(args)
    }

    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        self.netns.command(program)
    }

    pub fn spawn<S: AsRef<OsStr>>(&self, args: &[S], log: &Path) -> io::Result<NsProcess> {
        self.netns.spawn(args, log)
    }

    /// The IPv4 addresses (with prefix) on `eth0`.
    pub fn addresses(&self) -> io::Result<Vec<String>> {
        let text = self
            .netns
            .ip(["-4", "-o", "addr", "show", "dev", CONTAINER_INTERFACE])?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                words.find(|word| *word == "inet")?;
                words.next().map(str::to_string)
            })
            .collect())
    }
}

/// The underlay, the hosts and the bookkeeping to remove every container.
pub struct Testbed {
    prefix: String,
    // Field order is drop order: hosts before the underlay, so no host veth
    // is left dangling while its namespace goes.
    hosts: Vec<Host>,
    underlay: Netns,
    /// Names of containers handed out, deleted on drop if still there.
    containers: Arc<Mutex<Vec<String>>>,
}

impl Testbed {
    /// Builds the underlay and `hosts` hosts (1..=9) named `{prefix}u` and
    /// `{prefix}h1..`. On error, whatever was built is removed again.
    pub fn new(prefix: &str, hosts: u8) -> io::Result<Testbed> {
        if !(1..=9).contains(&hosts) {
            return Err(io::Error::other("a testbed has 1 to 9 hosts"));
        }
        if prefix.is_empty() || prefix.len() > 24 || prefix.contains('/') {
            return Err(io::Error::other(format!("bad namespace prefix {prefix:?}")));
        }
        let underlay = Netns::create(&format!("{prefix}u"))?;
        underlay.ip(["link", "add", "ubr0", "type", "bridge"])?;
        underlay.ip(["link", "set", "ubr0", "up"])?;
        let mut built = Vec::new();
        for index in 1..=hosts {
            built.push(build_host(prefix, index, &underlay)?);
        }
        let testbed = Testbed {
            prefix: prefix.to_string(),
            hosts: built,
            underlay,
            containers: Arc::default(),
        };
        for host in &testbed.hosts {
            for other in &testbed.hosts {
                if other.index != host.index {
                    host.netns.exec(&[
                        "bridge",
                        "fdb",
                        "append",
                        "00:00:00:00:00:00",
                        "dev",
                        "vx0",
                        "dst",
                        &other.underlay_address(),
                    ])?;
                }
            }
        }
        Ok(testbed)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Host `index`, 1-based (`host(1)` is `h1`). Panics on a host the testbed
    /// does not have: that is a bug in the test.
    pub fn host(&self, index: u8) -> &Host {
        self.hosts
            .iter()
            .find(|host| host.index == index)
            .unwrap_or_else(|| panic!("the testbed has no host h{index}"))
    }

    pub fn underlay(&self) -> &Netns {
        &self.underlay
    }

    /// A container namespace `{prefix}{name}` whose `eth0` (MAC `mac`, up, no
    /// address) is a port of host `host`'s bridge. `name`: 1–10 of `[a-z0-9]`,
    /// unique in this testbed.
    pub fn add_container(&self, host: u8, name: &str, mac: &str) -> io::Result<Container> {
        self.add_container_on(host, BRIDGE, name, mac)
    }

    /// [`Testbed::add_container`] on another bridge of the host (one made by
    /// [`crate::second_bridge::add`]).
    pub fn add_container_on(
        &self,
        host: u8,
        bridge: &str,
        name: &str,
        mac: &str,
    ) -> io::Result<Container> {
        if name.is_empty()
            || name.len() > 10
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(io::Error::other(format!("bad container name {name:?}")));
        }
        let host_ns = &self.host(host).netns;
        let netns = Netns::create(&format!("{}{name}", self.prefix))?;
        self.containers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(netns.name().to_string());
        // "v-" + at most 10 characters: within IFNAMSIZ (15).
        let host_port = format!("v-{name}");
        host_ns.ip([
            "link",
            "add",
            &host_port,
            "type",
            "veth",
            "peer",
            "name",
            CONTAINER_INTERFACE,
            "netns",
            netns.name(),
        ])?;
        netns.ip(["link", "set", CONTAINER_INTERFACE, "address", mac])?;
        // No IPv6 autoconfiguration noise on the segment.
        netns.exec(&["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"])?;
        netns.ip(["link", "set", CONTAINER_INTERFACE, "up"])?;
        host_ns.ip(["link", "set", &host_port, "master", bridge])?;
        host_ns.ip(["link", "set", &host_port, "up"])?;
        Ok(Container {
            name: name.to_string(),
            host,
            mac: mac.to_string(),
            host_port,
            netns,
        })
    }

    /// Takes host `index` off the underlay (its `ul0` goes down): its VXLAN,
    /// and Raft traffic over 10.99.0.0/24, stop both ways.
    pub fn cut_underlay(&self, index: u8) -> io::Result<()> {
        self.host(index)
            .netns
            .ip(["link", "set", UNDERLAY_INTERFACE, "down"])
            .map(drop)
    }

    pub fn heal_underlay(&self, index: u8) -> io::Result<()> {
        self.host(index)
            .netns
            .ip(["link", "set", UNDERLAY_INTERFACE, "up"])
            .map(drop)
    }

    /// A one-way partition: everything host `index` sends into the underlay
    /// is dropped (nftables, postrouting on `ul0`); what it receives still
    /// arrives. Its Raft messages and its VXLAN frames stop; the others' reach it.
    pub fn drop_underlay_output(&self, index: u8) -> io::Result<()> {
        let script = format!(
            "table inet {ONE_WAY_TABLE} {{\n\
             \tchain out {{ type filter hook postrouting priority 300; \
             oifname \"{UNDERLAY_INTERFACE}\" drop; }}\n\
             }}\n"
        );
        nft_script(&self.host(index).netns, ONE_WAY_TABLE, &script)
    }

    /// Removes what [`Testbed::drop_underlay_output`] installed.
    pub fn clear_underlay_output(&self, index: u8) -> io::Result<()> {
        self.host(index)
            .netns
            .exec(&["nft", "delete", "table", "inet", ONE_WAY_TABLE])
            .map(drop)
    }

    /// Impairs both directions of host `index`'s underlay link with a netem
    /// discipline (e.g. `"loss 30%"`, `"delay 50ms 10ms"`). Kernels built
    /// without netem (some CI VMs) get packet loss from an nftables random
    /// drop instead; other impairments then fail with a clear error.
    pub fn netem(&self, index: u8, spec: &str) -> io::Result<()> {
        let words: Vec<&str> = spec.split_whitespace().collect();
        let mut attempt = Ok(());
        for (netns, device) in self.underlay_ends(index) {
            let mut args = vec!["qdisc", "replace", "dev", device.as_str(), "root", "netem"];
            args.extend(&words);
            attempt = run(Command::new("tc").args(["-n", netns.name()]).args(&args)).map(drop);
            if attempt.is_err() {
                break;
            }
        }
        match attempt {
            Ok(()) => Ok(()),
            Err(error) if error.to_string().contains("qdisc kind is unknown") => {
                let basis_points = parse_loss(&words).ok_or_else(|| {
                    io::Error::other(format!(
                        "this kernel has no netem; only \"loss N%\" can be emulated, not {spec:?}"
                    ))
                })?;
                self.nft_loss(index, basis_points)
            }
            Err(error) => Err(error),
        }
    }

    /// Removes what [`Testbed::netem`] installed on host `index`.
    pub fn clear_netem(&self, index: u8) -> io::Result<()> {
        let host = &self.host(index).netns;
        if on_path("nft")
            && host
                .exec(&["nft", "list", "tables"])
                .is_ok_and(|tables| tables.contains(NFT_TABLE))
        {
            host.exec(&["nft", "delete", "table", "inet", NFT_TABLE])?;
        }
        for (netns, device) in self.underlay_ends(index) {
            let qdiscs = run(Command::new("tc").args([
                "-n",
                netns.name(),
                "qdisc",
                "show",
                "dev",
                &device,
            ]))?;
            if qdiscs.contains("netem") {
                run(Command::new("tc").args([
                    "-n",
                    netns.name(),
                    "qdisc",
                    "del",
                    "dev",
                    &device,
                    "root",
                ]))?;
            }
        }
        Ok(())
    }

    /// Drops `basis_points`/10000 of the packets in and out of the host's
    /// underlay interface, chosen at random per packet.
    fn nft_loss(&self, index: u8, basis_points: u32) -> io::Result<()> {
        let host = &self.host(index).netns;
        // nft compares against 0..=9999: total loss is an unconditional drop.
        let chance = if basis_points >= 10_000 {
            String::new()
        } else {
            format!("numgen random mod 10000 < {basis_points} ")
        };
        let script = format!(
            "table inet {NFT_TABLE} {{\n\
             \tchain in {{ type filter hook prerouting priority -300; \
             iifname \"{UNDERLAY_INTERFACE}\" {chance}drop; }}\n\
             \tchain out {{ type filter hook postrouting priority 300; \
             oifname \"{UNDERLAY_INTERFACE}\" {chance}drop; }}\n\
             }}\n"
        );
        nft_script(host, NFT_TABLE, &script)
    }

    fn underlay_ends(&self, index: u8) -> [(&Netns, String); 2] {
        [
            (&self.host(index).netns, UNDERLAY_INTERFACE.to_string()),
            (&self.underlay, format!("h{index}")),
        ]
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let containers = std::mem::take(
            &mut *self
                .containers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for name in containers {
            if exists(&name) {
                remove(&name);
            }
        }
        // The hosts and the underlay drop after this, as fields.
    }
}

/// Replaces nftables table `table` in `netns` with `script`.
fn nft_script(netns: &Netns, table: &str, script: &str) -> io::Result<()> {
    let _ = netns.output(&["nft", "delete", "table", "inet", table]);
    let mut child = netns
        .command("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        io::Write::write_all(&mut stdin, script.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "nft table {table}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// One host: namespace, underlay veth, bridge and VXLAN.
fn build_host(prefix: &str, index: u8, underlay: &Netns) -> io::Result<Host> {
    let netns = Netns::create(&format!("{prefix}h{index}"))?;
    let host = Host { index, netns };
    let ns = &host.netns;
    let peer = format!("h{index}");
    // MTU 1550 on the underlay so the overlay carries full 1500-byte frames
    // (VXLAN adds 50 bytes), as clouds do with jumbo frames.
    ns.ip([
        "link",
        "add",
        UNDERLAY_INTERFACE,
        "mtu",
        "1550",
        "type",
        "veth",
        "peer",
        "name",
        &peer,
        "netns",
        underlay.name(),
    ])?;
    underlay.ip(["link", "set", &peer, "mtu", "1550"])?;
    underlay.ip(["link", "set", &peer, "master", "ubr0"])?;
    underlay.ip(["link", "set", &peer, "up"])?;
    ns.ip([
        "addr",
        "add",
        &format!("{}/24", host.underlay_address()),
        "dev",
        UNDERLAY_INTERFACE,
    ])?;
    ns.ip(["link", "set", UNDERLAY_INTERFACE, "up"])?;
    ns.ip(["link", "add", BRIDGE, "type", "bridge"])?;
    // A fixed MAC, as LXD gives its bridges (volatile.bridge.hwaddr): left
    // alone, Linux gives a bridge its lowest port MAC, so adding a container
    // can change it, and a neighbour still caching the old MAC is cut off
    // until its ARP entry is probed again — tens of seconds.
    ns.ip(["link", "set", BRIDGE, "address", &host.bridge_mac()])?;
    ns.ip([
        "addr",
        "add",
        &format!("{}/{BRIDGE_PREFIX_LEN}", host.bridge_address()),
        "dev",
        BRIDGE,
    ])?;
    ns.ip([
        "link",
        "add",
        "vx0",
        "mtu",
        "1500",
        "type",
        "vxlan",
        "id",
        &VNI.to_string(),
        "dstport",
        &VXLAN_PORT.to_string(),
        "local",
        &host.underlay_address(),
        "dev",
        UNDERLAY_INTERFACE,
        "nolearning",
    ])?;
    ns.ip(["link", "set", "vx0", "master", BRIDGE])?;
    ns.ip(["link", "set", "vx0", "up"])?;
    ns.ip(["link", "set", BRIDGE, "up"])?;
    Ok(host)
}

/// "loss 30%" → 3000 basis points; `None` for anything else.
fn parse_loss(words: &[&str]) -> Option<u32> {
    let [kind, amount] = words else {
        return None;
    };
    if *kind != "loss" {
        return None;
    }
    let percent: f64 = amount.strip_suffix('%')?.parse().ok()?;
    if !(0.0..=100.0).contains(&percent) {
        return None;
    }
    // Within 0..=10000 after the range check.
    Some((percent * 100.0).round() as u32)
}

/// Waits until `probe` returns true, polling every `every`, at most `timeout`.
pub fn wait_until(timeout: Duration, every: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if probe() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_specs_become_basis_points() {
        assert_eq!(parse_loss(&["loss", "30%"]), Some(3000));
        assert_eq!(parse_loss(&["loss", "0.5%"]), Some(50));
        assert_eq!(parse_loss(&["loss", "100%"]), Some(10_000));
        assert_eq!(parse_loss(&["loss", "101%"]), None);
        assert_eq!(parse_loss(&["loss", "30"]), None);
        assert_eq!(parse_loss(&["delay", "50ms"]), None);
        assert_eq!(parse_loss(&["loss", "30%", "25%"]), None);
    }

    #[test]
    fn prefixes_are_per_process_and_tag() {
        let prefix = test_prefix("tb");
        assert!(prefix.starts_with("rmq") && prefix.ends_with("tb-"));
        assert_ne!(prefix, test_prefix("ne"));
    }
}
