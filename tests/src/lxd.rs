//! A real LXD daemon per testbed host (Debian's `lxd` package), following
//! `shared/reference/lxd-in-netns.md`.
//!
//! Each daemon runs inside its host's network namespace with its own `LXD_DIR`
//! (under the test's temporary directory) and its own `LXD_CONF` for the `lxc`
//! client (only the local remote: no banner, no internet remote). Its cgroup
//! hierarchies are mounted again inside the daemon's mount namespace, because
//! `ip netns exec` remounts `/sys` and drops them.
//!
//! Two ways to attach instances to the host's `lxdbr0` (the two deployment
//! modes of docs/quickstart-lxd.md):
//! - [`BridgeMode::Managed`]: the testbed's plain bridge is replaced by an LXD
//!   managed bridge of the same name and address, with LXD's DHCP and DNS off
//!   (`raw.dnsmasq=port=0`) and the overlay attached by LXD
//!   (`bridge.external_interfaces=vx0`);
//! - [`BridgeMode::Unmanaged`]: the testbed's bridge stays as it is, and the
//!   default profile's NIC is `nictype=bridged parent=lxdbr0`.
//!
//! Teardown removes exactly what was made: instances (`lxc delete -f`), the
//! daemon (`lxd shutdown`, then its saved pid), the cgroup directories liblxc
//! leaves for the instances this fixture launched, liblxc's lock directory for
//! this `LXD_DIR`, and the directory itself. Nothing is created in the
//! machine's own network namespace, and no system-wide LXD is touched.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::netns::{BRIDGE, BRIDGE_PREFIX_LEN, Host, run};

/// The static busybox `scripts/install-test-deps.sh` unpacks (the
/// busybox-static package cannot be installed next to udhcpc's busybox).
pub const BUSYBOX_STATIC: &str = "/usr/local/lib/raftmasq-tests/busybox";

/// What a test using this fixture needs (besides root).
pub const TOOLS: &[&str] = &["lxd", "lxc", "ip", "tar", "dig", BUSYBOX_STATIC];

/// The image alias every daemon imports.
pub const IMAGE: &str = "busybox";

/// How the host's instances reach the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeMode {
    /// (a) an LXD managed bridge per host, its DHCP and DNS off.
    Managed,
    /// (b) an unmanaged bridge; instances use `nictype=bridged parent=BR`.
    Unmanaged,
    /// Before mode (b)'s cut-over, as on an LXD cluster member: LXD's own
    /// managed bridge, local to the host (no overlay), with LXD's DHCP and
    /// DNS on; the testbed's bridge, joined to the overlay, is renamed
    /// [`UNMANAGED_BRIDGE`] and has no address yet.
    ClusterMember,
}

/// Mode (b)'s unmanaged bridge, as the quickstart names it.
pub const UNMANAGED_BRIDGE: &str = "br0";

const CGROUP_V1: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
];

/// The shell run inside the host namespace before `exec lxd`: mount the
/// machine's cgroup hierarchies again in this mount namespace.
fn daemon_script(log: &Path) -> String {
    let mut script = String::from("set -e; mount -t tmpfs cgroup /sys/fs/cgroup; ");
    for controller in CGROUP_V1 {
        script.push_str(&format!(
            "mkdir -p /sys/fs/cgroup/{controller}; mount -t cgroup -o {controller} cgroup /sys/fs/cgroup/{controller}; "
        ));
    }
    script.push_str(
        "mkdir -p /sys/fs/cgroup/systemd; mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd; \
         mkdir -p /sys/fs/cgroup/unified; mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified; ",
    );
    script.push_str(&format!(
        "exec lxd --group root --logfile {}",
        log.display()
    ));
    script
}

/// The `lxc` client's configuration: the local daemon only.
const CLIENT_CONFIG: &str = "default-remote: local\nremotes:\n  local:\n    addr: unix://\n    public: false\naliases: {}\n";

/// `lxd init --preseed`: a `dir` pool, a root disk in the default profile, no
/// network (`--auto` would make a NAT'd bridge with its own dnsmasq).
const PRESEED: &str = "storage_pools:\n- name: default\n  driver: dir\nprofiles:\n- name: default\n  devices:\n    root:\n      path: /\n      pool: default\n      type: disk\n";

/// One LXD daemon inside one testbed host.
pub struct LxdHost {
    pub host: u8,
    /// `LXD_DIR`: the daemon's state, its unix socket at `unix.socket`.
    pub dir: PathBuf,
    conf: PathBuf,
    netns: String,
    mode: BridgeMode,
    pid: Mutex<Option<u32>>,
    /// Instance names launched here (for cgroup cleanup after a crash).
    launched: Mutex<Vec<String>>,
}

impl LxdHost {
    /// Starts a daemon in `host`'s namespace with its state under `base`,
    /// initialises it, imports the image at `image` and attaches instances
    /// to the bridge by `mode`. On error, what was made is removed (drop).
    pub fn start(host: &Host, base: &Path, image: &Path, mode: BridgeMode) -> io::Result<LxdHost> {
        let dir = base.join(format!("lxd-h{}", host.index));
        let conf = base.join(format!("lxc-h{}", host.index));
        fs::create_dir_all(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o711))?;
        fs::create_dir_all(&conf)?;
        fs::write(conf.join("config.yml"), CLIENT_CONFIG)?;
        let lxd = LxdHost {
            host: host.index,
            dir,
            conf,
            netns: host.netns.name().to_string(),
            mode,
            pid: Mutex::new(None),
            launched: Mutex::new(Vec::new()),
        };
        lxd.start_daemon()?;
        lxd.lxd_stdin(&["init", "--preseed"], PRESEED)?;
        lxd.lxc(&[
            "image",
            "import",
            &image.display().to_string(),
            "--alias",
            IMAGE,
        ])?;
        match mode {
            BridgeMode::Managed => {
                // LXD makes the bridge itself: the testbed's plain one goes,
                // which frees vx0 for bridge.external_interfaces.
                host.netns.ip(["link", "del", BRIDGE])?;
                lxd.lxc(&[
                    "network",
                    "create",
                    BRIDGE,
                    &format!("ipv4.address={}/{BRIDGE_PREFIX_LEN}", host.bridge_address()),
                    "ipv4.nat=false",
                    "ipv6.address=none",
                    "ipv4.dhcp=false",
                    "dns.mode=none",
                    "ipv4.firewall=false",
                    "ipv4.routing=false",
                    "raw.dnsmasq=port=0",
                    "bridge.external_interfaces=vx0",
                    &format!("bridge.hwaddr={}", host.bridge_mac()),
                ])?;
                lxd.add_default_nic(&[&format!("network={BRIDGE}")])?;
            }
            BridgeMode::ClusterMember => {
                for args in [
                    vec!["link", "set", BRIDGE, "down"],
                    vec!["link", "set", BRIDGE, "name", UNMANAGED_BRIDGE],
                    vec!["addr", "flush", "dev", UNMANAGED_BRIDGE],
                    vec!["link", "set", UNMANAGED_BRIDGE, "up"],
                ] {
                    host.netns.ip(args)?;
                }
                lxd.lxc(&[
                    "network",
                    "create",
                    BRIDGE,
                    &format!("ipv4.address={}/{BRIDGE_PREFIX_LEN}", host.bridge_address()),
                    "ipv4.nat=false",
                    "ipv6.address=none",
                    "ipv4.dhcp=true",
                    "dns.mode=managed",
                    "ipv4.firewall=false",
                    "ipv4.routing=false",
                    "ipv4.dhcp.ranges=172.16.0.10-172.16.0.250",
                ])?;
                lxd.add_default_nic(&[&format!("network={BRIDGE}")])?;
            }
            BridgeMode::Unmanaged => {
                lxd.add_default_nic(&["nictype=bridged", &format!("parent={BRIDGE}")])?;
            }
        }
        Ok(lxd)
    }

    pub fn mode(&self) -> BridgeMode {
        self.mode
    }

    /// The environment under which `lxc` (e.g. in a script) talks to this
    /// daemon with this fixture's client configuration.
    pub fn client_env(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("LXD_DIR", self.dir.clone()),
            ("LXD_CONF", self.conf.clone()),
        ]
    }

    /// The daemon's unix socket (what raftmasq's `[lxd] socket` points at).
    pub fn socket(&self) -> PathBuf {
        self.dir.join("unix.socket")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("lxd.log")
    }

    /// Starts (or restarts) the daemon and waits until it is ready.
    pub fn start_daemon(&self) -> io::Result<()> {
        let child = Command::new("setsid")
            .args(["ip", "netns", "exec", &self.netns, "sh", "-c"])
            .arg(daemon_script(&self.log()))
            .env("LXD_DIR", &self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                fs::File::options()
                    .create(true)
                    .append(true)
                    .open(self.dir.join("daemon.stderr"))?,
            )
            .spawn()?;
        // setsid forks only when it is a process group leader, which a child
        // of ours is not: the pid is the daemon's (ip and sh exec).
        *self.pid.lock().unwrap_or_else(|p| p.into_inner()) = Some(child.id());
        // Reap it in the background whenever it exits.
        thread::spawn(move || {
            let mut child = child;
            let _ = child.wait();
        });
        run(Command::new("lxd")
            .args(["waitready", "--timeout", "60"])
            .env("LXD_DIR", &self.dir))
        .map_err(|e| io::Error::other(format!("{e}\n{}", self.daemon_log())))?;
        Ok(())
    }

    /// `lxd shutdown` (instances stop, the daemon exits), then its saved pid
    /// is killed if it is still there.
    pub fn stop_daemon(&self) {
        let _ = Command::new("timeout")
            .args(["30", "lxd", "shutdown", "--timeout", "20"])
            .env("LXD_DIR", &self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(pid) = self.pid.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let alive = || Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid);
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
            if alive() {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }

    /// Kills the daemon (SIGKILL by its pid): its instances keep running.
    pub fn kill_daemon(&self) {
        if let Some(pid) = self.pid.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }

    pub fn daemon_log(&self) -> String {
        let mut text = fs::read_to_string(self.log()).unwrap_or_default();
        text.push_str(&fs::read_to_string(self.dir.join("daemon.stderr")).unwrap_or_default());
        text
    }

    fn client(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("LXD_DIR", &self.dir)
            .env("LXD_CONF", &self.conf);
        command
    }

    /// Gives the default profile the NIC `eth0` with `settings` (how it
    /// reaches the bridge), so every instance launched gets it.
    fn add_default_nic(&self, settings: &[&str]) -> io::Result<String> {
        let mut args = vec!["profile", "device", "add", "default", "eth0", "nic"];
        args.extend_from_slice(settings);
        args.push("name=eth0");
        self.lxc(&args)
    }

    /// Runs `lxc args` against this daemon; stdout, or an error with stderr.
    pub fn lxc(&self, args: &[&str]) -> io::Result<String> {
        run(self.client("lxc").args(args))
    }

    fn lxd_stdin(&self, args: &[&str], input: &str) -> io::Result<()> {
        let mut child = self
            .client("lxd")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            io::Write::write_all(&mut stdin, input.as_bytes())?;
        }
        let output = child.wait_with_output()?;
        if output.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "lxd {args:?}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }

    /// `lxc launch busybox NAME [extra]`: created and started.
    pub fn launch(&self, name: &str, extra: &[&str]) -> io::Result<()> {
        self.remember(name);
        let mut args = vec!["launch", IMAGE, name];
        args.extend(extra);
        self.lxc(&args).map(drop)
    }

    /// A project sharing the default project's images and profiles (so its
    /// instances get the same NIC), as `lxc project create` makes it.
    pub fn create_project(&self, project: &str) -> io::Result<()> {
        self.lxc(&[
            "project",
            "create",
            project,
            "-c",
            "features.images=false",
            "-c",
            "features.profiles=false",
        ])
        .map(drop)
    }

    /// `lxc launch IMAGE NAME --project PROJECT`.
    pub fn launch_in(&self, project: &str, name: &str) -> io::Result<()> {
        self.remember(&format!("{project}/{name}"));
        self.lxc(&["launch", IMAGE, name, "--project", project])
            .map(drop)
    }

    /// `lxc copy FROM TO` and start it.
    pub fn copy(&self, from: &str, to: &str) -> io::Result<()> {
        self.remember(to);
        self.lxc(&["copy", from, to])?;
        self.lxc(&["start", to]).map(drop)
    }

    fn remember(&self, name: &str) {
        self.launched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.to_string());
    }

    /// `lxc exec NAME -- args`.
    pub fn exec(&self, name: &str, args: &[&str]) -> io::Result<String> {
        self.exec_in(None, name, args)
    }

    /// `lxc exec NAME [--project P] -- args`.
    pub fn exec_in(&self, project: Option<&str>, name: &str, args: &[&str]) -> io::Result<String> {
        let mut all = vec!["exec", name];
        if let Some(project) = project {
            all.extend(["--project", project]);
        }
        all.push("--");
        all.extend(args);
        self.lxc(&all)
    }

    /// The MAC LXD gave the instance's `eth0` (`volatile.eth0.hwaddr`).
    pub fn mac(&self, name: &str) -> io::Result<String> {
        Ok(self
            .lxc(&["config", "get", name, "volatile.eth0.hwaddr"])?
            .trim()
            .to_string())
    }

    /// Runs udhcpc inside the instance until it is bound (`-q`), sending
    /// `hostname` as option 12 if given; returns the bound IPv4 address.
    pub fn dhcp(&self, name: &str, hostname: Option<&str>) -> io::Result<String> {
        self.dhcp_in(None, name, hostname)
    }

    /// [`LxdHost::dhcp`] for an instance of `project`.
    pub fn dhcp_in(
        &self,
        project: Option<&str>,
        name: &str,
        hostname: Option<&str>,
    ) -> io::Result<String> {
        let option;
        let mut args = vec![
            "udhcpc",
            "-n",
            "-q",
            "-t",
            "10",
            "-T",
            "1",
            "-i",
            "eth0",
            "-s",
            "/etc/udhcpc/default.script",
        ];
        if let Some(hostname) = hostname {
            option = format!("hostname:{hostname}");
            args.extend(["-x", option.as_str()]);
        }
        self.exec_in(project, name, &args)?;
        let address = self.exec_in(project, name, &["cat", "/run/udhcpc.ip"])?;
        Ok(address.trim().to_string())
    }

    /// The IPv4 addresses on the instance's `eth0` (without prefix).
    pub fn addresses(&self, name: &str) -> io::Result<Vec<String>> {
        let text = self.exec(name, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"])?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                words.find(|w| *w == "inet")?;
                words
                    .next()
                    .and_then(|a| a.split('/').next())
                    .map(str::to_string)
            })
            .collect())
    }

    /// Removes the instances, the daemon and its traces; best effort, for
    /// `Drop` (where there is nobody to tell).
    fn teardown(&self) {
        let launched =
            std::mem::take(&mut *self.launched.lock().unwrap_or_else(|p| p.into_inner()));
        if self.pid.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
            for entry in &launched {
                let (project, name) = entry.split_once('/').unwrap_or(("default", entry));
                let _ = Command::new("timeout")
                    .args(["20", "lxc", "delete", "-f", name, "--project", project])
                    .env("LXD_DIR", &self.dir)
                    .env("LXD_CONF", &self.conf)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        self.stop_daemon();
        // liblxc names an instance of another project PROJECT_NAME.
        let liblxc_names: Vec<String> = launched
            .iter()
            .map(|entry| entry.replace('/', "_"))
            .collect();
        remove_cgroups(&liblxc_names);
        // liblxc's lock directory for this LXD_DIR: /run/lxc/lock/<LXD_DIR>.
        let lock_root = Path::new("/run/lxc/lock");
        remove_up_to(
            &lock_root.join(self.dir.strip_prefix("/").unwrap_or(&self.dir)),
            lock_root,
        );
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_dir_all(&self.conf);
    }
}

impl Drop for LxdHost {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn is_zombie(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit(')')
                .next()
                .map(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Removes the (empty) cgroup directories liblxc made for `names`
/// (`lxc.payload.NAME`, `lxc.monitor.NAME`, with liblxc's `-N` suffix when a
/// name was taken) and `lxc.pivot`, retrying while killed tasks are still
/// zombies. `rmdir` never removes a cgroup that still holds a task.
fn remove_cgroups(names: &[String]) {
    let mut hierarchies: Vec<PathBuf> = CGROUP_V1
        .iter()
        .chain(["systemd", "unified"].iter())
        .map(|c| Path::new("/sys/fs/cgroup").join(c))
        .collect();
    hierarchies.push(PathBuf::from("/sys/fs/cgroup"));
    let ours = |dir: &str| {
        dir == "lxc.pivot"
            || names.iter().any(|name| {
                ["lxc.payload.", "lxc.monitor."].iter().any(|kind| {
                    dir.strip_prefix(kind).is_some_and(|rest| {
                        rest == name
                            || rest
                                .strip_prefix(name.as_str())
                                .and_then(|s| s.strip_prefix('-'))
                                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                    })
                })
            })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut left = 0;
        for hierarchy in &hierarchies {
            let Ok(entries) = fs::read_dir(hierarchy) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if ours(&name) && remove_cgroup_tree(&entry.path()).is_err() {
                    left += 1;
                }
            }
        }
        if left == 0 || Instant::now() >= deadline {
            return;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Removes a cgroup directory and its (empty) children, deepest first: on
/// cgroup2 liblxc nests the container's own `.lxc` cgroup inside.
fn remove_cgroup_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&entry.path())?;
        }
    }
    fs::remove_dir(dir)
}

/// Removes `dir` and then its parents while they are empty, up to (not
/// including) `stop`.
fn remove_up_to(dir: &Path, stop: &Path) {
    let _ = fs::remove_dir_all(dir);
    let mut parent = dir.parent();
    while let Some(p) = parent {
        if p == stop || !p.starts_with(stop) || fs::remove_dir(p).is_err() {
            break;
        }
        parent = p.parent();
    }
}

/// The udhcpc script inside the image: configures `eth0` and writes the
/// bound address to `/run/udhcpc.ip`.
const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound|renew)
        ip -4 addr flush dev "$interface"
        ifconfig "$interface" "$ip" netmask "${subnet:-255.255.0.0}" up
        echo "$ip" > /run/udhcpc.ip
        ;;
esac
exit 0
"#;

/// Builds the busybox image (a "unified" tarball) under `dir`; returns its path.
pub fn build_image(dir: &Path) -> io::Result<PathBuf> {
    let root = dir.join("image");
    let rootfs = root.join("rootfs");
    for sub in [
        "bin",
        "etc/init.d",
        "etc/udhcpc",
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "root",
        "var",
    ] {
        fs::create_dir_all(rootfs.join(sub))?;
    }
    fs::create_dir_all(root.join("templates"))?;
    fs::copy(BUSYBOX_STATIC, rootfs.join("bin/busybox"))?;
    let applets = run(Command::new(BUSYBOX_STATIC).arg("--list"))?;
    for applet in applets
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        let link = rootfs.join("bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", link)?;
        }
    }
    for link in ["sbin", "usr/bin", "usr/sbin"] {
        if let Some(parent) = rootfs.join(link).parent() {
            fs::create_dir_all(parent)?;
        }
    }
    std::os::unix::fs::symlink("bin", rootfs.join("sbin"))?;
    std::os::unix::fs::symlink("../bin", rootfs.join("usr/bin"))?;
    std::os::unix::fs::symlink("../bin", rootfs.join("usr/sbin"))?;
    fs::write(
        rootfs.join("etc/inittab"),
        "::sysinit:/etc/init.d/rcS\n::respawn:/bin/sleep 2147483647\n",
    )?;
    let executable = |path: PathBuf, text: &str| -> io::Result<()> {
        fs::write(&path, text)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
    };
    executable(
        rootfs.join("etc/init.d/rcS"),
        "#!/bin/sh\nip link set lo up\nip link set eth0 up\n",
    )?;
    executable(rootfs.join("etc/udhcpc/default.script"), UDHCPC_SCRIPT)?;
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    fs::write(rootfs.join("etc/group"), "root:x:0:\n")?;
    fs::write(
        root.join("metadata.yaml"),
        "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  description: raftmasq test busybox\n  os: busybox\n  release: test\ntemplates: {}\n",
    )?;
    let tarball = dir.join("busybox.tar.gz");
    run(Command::new("tar")
        .arg("czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&root)
        .args(["metadata.yaml", "templates", "rootfs"]))?;
    Ok(tarball)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_script_mounts_every_hierarchy_then_execs_lxd() {
        let script = daemon_script(Path::new("/d/lxd.log"));
        for controller in CGROUP_V1 {
            assert!(script.contains(&format!(
                "-o {controller} cgroup /sys/fs/cgroup/{controller}"
            )));
        }
        assert!(script.contains("name=systemd"));
        assert!(script.contains("cgroup2"));
        assert!(script.ends_with("exec lxd --group root --logfile /d/lxd.log"));
    }
}
