//! raftmasq daemons on the netns testbed: one node per host namespace, DHCP on
//! each host's `lxdbr0`, DNS on the bridge and underlay addresses, Raft over
//! the underlay. The admin API listens on each host's own loopback and is
//! queried from inside that namespace with curl.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::cluster::{ADMIN_TOKEN, TOKEN, admin_access, tls_section, write_tls};
use crate::netns::{NsProcess, Testbed, test_prefix};

/// The DHCP pool of every testbed cluster.
pub const RANGE_START: &str = "172.16.0.10";
pub const RANGE_END: &str = "172.16.0.250";

/// Extra configuration lines for every node of a [`TestbedCluster`].
#[derive(Debug, Clone, Default)]
pub struct TestbedOptions {
    /// Appended to `[dhcp]`, e.g. `duplicate_hostnames = "reject"`.
    pub dhcp_extra: String,
    /// Appended to `[dns]` (which sets `domain`, `listen` and `upstream`),
    /// e.g. `secondaries = ["10.99.0.253"]`.
    pub dns_extra: String,
    /// `cluster.peers` entries without `bridge=`, as files written before it
    /// existed: members' bridge addresses are then known only once they register.
    pub peers_without_bridge: bool,
    /// Hosts `1..=members` form the cluster; a host above it lists them plus
    /// itself, as a host that joins later does. `None`: every host.
    pub members: Option<u8>,
    /// The daemon's default `election_timeout` and `heartbeat_interval`
    /// instead of the testbed's shorter ones (the failover benchmark).
    pub default_timings: bool,
    /// IPv6 on the bridge: each host's `lxdbr0` gets [`ipv6_address`] (and
    /// ignores other hosts' advertisements, as a router does), and `[ipv6]`
    /// turns on router advertisements every 4 s for [`IPV6_PREFIX`]; DNS
    /// listens on the IPv6 address too.
    pub ipv6: bool,
    /// Appended to `[ipv6]` when [`TestbedOptions::ipv6`] is on, e.g.
    /// `mode = "stateful"` and a `range`.
    pub ipv6_extra: String,
}

/// The bridge's IPv6 prefix when [`TestbedOptions::ipv6`] is on.
pub const IPV6_PREFIX: &str = "fd42:1::/64";

/// Host `host`'s IPv6 address on the bridge: `fd42:1::N`.
pub fn ipv6_address(host: u8) -> String {
    format!("fd42:1::{host}")
}

/// The SLAAC address in [`IPV6_PREFIX`] of `mac` (`aa:bb:cc:dd:ee:ff`): its
/// modified EUI-64 interface identifier (RFC 4291 app. A).
pub fn slaac_address(mac: &str) -> String {
    let octets: Vec<u8> = mac
        .split(':')
        .map(|o| u8::from_str_radix(o, 16).expect("MAC octet"))
        .collect();
    assert_eq!(octets.len(), 6, "MAC {mac}");
    let word = |a: u8, b: u8| u16::from_be_bytes([a, b]);
    std::net::Ipv6Addr::new(
        0xfd42,
        1,
        0,
        0,
        word(octets[0] ^ 0x02, octets[1]),
        word(octets[2], 0xff),
        word(0xfe, octets[3]),
        word(octets[4], octets[5]),
    )
    .to_string()
}

/// Host `host`'s bridge link-local address (its MAC is 02:16:3e:00:ff:0N, on
/// the testbed's bridges and on LXD's, which the fixture gives that MAC).
pub fn bridge_link_local(host: u8) -> String {
    format!("fe80::16:3eff:fe00:ff{host:02x}")
}

pub struct TestbedCluster {
    // Processes first: they are killed before their namespaces go.
    nodes: Vec<Option<NsProcess>>,
    pub testbed: Testbed,
    pub dir: TempDir,
    binary: PathBuf,
}

impl TestbedCluster {
    /// Builds a testbed of `hosts` hosts and starts a node on each. `dhcp_extra`
    /// is appended to every `[dhcp]` section (e.g. `duplicate_hostnames = "reject"`).
    pub fn start(binary: &Path, tag: &str, hosts: u8, dhcp_extra: &str) -> TestbedCluster {
        let options = TestbedOptions {
            dhcp_extra: dhcp_extra.to_string(),
            ..TestbedOptions::default()
        };
        TestbedCluster::start_with(binary, tag, hosts, &options)
    }

    /// [`TestbedCluster::start`] with extra keys for `[dhcp]` and `[dns]`.
    pub fn start_with(
        binary: &Path,
        tag: &str,
        hosts: u8,
        options: &TestbedOptions,
    ) -> TestbedCluster {
        let mut cluster = TestbedCluster::prepare_with(binary, tag, hosts, options);
        for i in 1..=hosts {
            cluster.start_node(i);
        }
        cluster
    }

    /// The testbed and the nodes' files, with no node started yet (e.g. to run
    /// dnsmasq on the bridge first); start them with [`TestbedCluster::start_node`].
    pub fn prepare_with(
        binary: &Path,
        tag: &str,
        hosts: u8,
        options: &TestbedOptions,
    ) -> TestbedCluster {
        let TestbedOptions {
            dhcp_extra,
            dns_extra,
            peers_without_bridge,
            members,
            default_timings,
            ipv6,
            ipv6_extra,
        } = options;
        let timings = if *default_timings {
            ""
        } else {
            "election_timeout = \"500ms\"\nheartbeat_interval = \"150ms\""
        };
        let testbed = Testbed::new(&test_prefix(tag), hosts).expect("testbed");
        if *ipv6 {
            for i in 1..=hosts {
                let ns = &testbed.host(i).netns;
                // A router ignores the others' advertisements (LXD's bridges
                // forward, which has the same effect).
                ns.exec(&["sysctl", "-q", "-w", "net.ipv6.conf.lxdbr0.accept_ra=0"])
                    .expect("accept_ra");
                // With duplicate address detection, as LXD adds it: the
                // daemon starts while the address is still tentative.
                ns.ip([
                    "-6",
                    "addr",
                    "add",
                    &format!("{}/64", ipv6_address(i)),
                    "dev",
                    "lxdbr0",
                ])
                .expect("bridge IPv6 address");
            }
        }
        let dir = TempDir::new().expect("temp dir");
        let token = dir.path().join("cluster.token");
        fs::write(&token, format!("{TOKEN}\n")).expect("token");
        fs::set_permissions(&token, fs::Permissions::from_mode(0o600)).expect("chmod");
        let peer = |i: u8| {
            if *peers_without_bridge {
                format!("\"{i}=10.99.0.{i}:7380\"")
            } else {
                format!("\"{i}=10.99.0.{i}:7380 bridge=172.16.0.{i}\"")
            }
        };
        let members = members.unwrap_or(hosts);
        let tls_dir = dir.path().join("tls");
        write_tls(&tls_dir, 1..=u64::from(hosts));
        for i in 1..=hosts {
            let mut peers: Vec<String> = (1..=members).map(peer).collect();
            if i > members {
                peers.push(peer(i));
            }
            let text = format!(
                r#"[node]
id = {i}
data_dir = "{data}"
cluster_addr = "10.99.0.{i}:7380"
admin_addr = "127.0.0.1:7381"
{admin_access}

[cluster]
token_file = "{token}"
peers = [{peers}]
{timings}
{tls}

[dhcp]
interface = "lxdbr0"
address = "172.16.0.{i}"
subnet = "172.16.0.0/16"
range = "{RANGE_START}-{RANGE_END}"
lease_time = "2m"
{dhcp_extra}

[dns]
domain = "lxd"
listen = ["172.16.0.{i}:53", "10.99.0.{i}:53"{listen6}]
upstream = ["10.99.0.254:53"]
{dns_extra}
{ipv6_section}
"#,
                listen6 = if *ipv6 {
                    format!(", \"[{}]:53\"", ipv6_address(i))
                } else {
                    String::new()
                },
                ipv6_section = if *ipv6 {
                    format!(
                        "[ipv6]\nenabled = true\nprefix = \"{IPV6_PREFIX}\"\naddress = \"{}\"\ninterval = \"4s\"\nmtu = 1450\n{ipv6_extra}\n",
                        ipv6_address(i)
                    )
                } else {
                    String::new()
                },
                data = dir.path().join(format!("node{i}")).display(),
                token = token.display(),
                tls = tls_section(&tls_dir, u64::from(i)),
                admin_access = admin_access(dir.path(), u64::from(i)),
                peers = peers.join(", "),
            );
            fs::write(dir.path().join(format!("node{i}.toml")), text).expect("config");
        }
        TestbedCluster {
            nodes: (0..hosts).map(|_| None).collect(),
            testbed,
            dir,
            binary: binary.to_path_buf(),
        }
    }

    /// The process id of the node on `host`, if it runs.
    pub fn node_pid(&self, host: u8) -> Option<u32> {
        self.nodes[usize::from(host - 1)].as_ref()?.pid()
    }

    pub fn config_path(&self, host: u8) -> PathBuf {
        self.dir.path().join(format!("node{host}.toml"))
    }

    pub fn log_path(&self, host: u8) -> PathBuf {
        self.dir.path().join(format!("node{host}.log"))
    }

    /// Starts (or restarts) the node on `host`.
    pub fn start_node(&mut self, host: u8) {
        self.start_node_with_env(host, &[]);
    }

    /// Starts (or restarts) the node on `host` with its clock shifted by
    /// `offset_ms` (`RAFTMASQ_TEST_CLOCK_OFFSET_MS`, which only the debug
    /// daemon the tests build honours).
    pub fn start_node_with_clock_offset(&mut self, host: u8, offset_ms: i64) {
        let env = [(
            "RAFTMASQ_TEST_CLOCK_OFFSET_MS".to_string(),
            offset_ms.to_string(),
        )];
        self.start_node_with_env(host, &env);
    }

    fn start_node_with_env(&mut self, host: u8, env: &[(String, String)]) {
        let config = self.config_path(host);
        let args = [
            self.binary.display().to_string(),
            "--config".into(),
            config.display().to_string(),
        ];
        let process = self
            .testbed
            .host(host)
            .netns
            .spawn_with_env(&args, &self.log_path(host), env)
            .expect("spawn raftmasq");
        self.nodes[usize::from(host - 1)] = Some(process);
    }

    /// `kill -9` of every node, their data directories removed, and all
    /// started again: a brand-new cluster on the same testbed.
    pub fn restart_fresh(&mut self) {
        let hosts: Vec<u8> = self.running().collect();
        for host in &hosts {
            self.kill_node(*host);
        }
        for host in &hosts {
            let data = self.dir.path().join(format!("node{host}"));
            if let Err(error) = fs::remove_dir_all(&data)
                && error.kind() != std::io::ErrorKind::NotFound
            {
                panic!("cannot remove {}: {error}", data.display());
            }
        }
        for host in hosts {
            self.start_node(host);
        }
    }

    /// Whether `host`'s node answers `/readyz` with 200 (ready by its own word).
    pub fn reports_ready(&self, host: u8) -> bool {
        self.get_text(host, "/readyz").is_some()
    }

    /// Waits until every running node reports ready on `/readyz`, and nothing
    /// else: no log or status is consulted, as an operator's probe would not.
    pub fn wait_reported_ready(&self, timeout: Duration) {
        let ready = crate::netns::wait_until(timeout, Duration::from_millis(20), || {
            self.running().all(|host| self.reports_ready(host))
        });
        assert!(
            ready,
            "not every node reported ready within {timeout:?}\n{}",
            self.logs()
        );
    }

    /// `kill -9` of every node at once, then all start again: a power loss.
    pub fn restart_all(&mut self) {
        let hosts: Vec<u8> = self.running().collect();
        for host in &hosts {
            self.kill_node(*host);
        }
        for host in hosts {
            self.start_node(host);
        }
    }

    /// SIGSTOP to the node on `host`: it stops mid-flight, sockets open.
    pub fn pause_node(&self, host: u8) {
        self.signal_node(host, "STOP");
    }

    /// SIGCONT to a node stopped by [`TestbedCluster::pause_node`].
    pub fn resume_node(&self, host: u8) {
        self.signal_node(host, "CONT");
    }

    fn signal_node(&self, host: u8, signal: &str) {
        let process = self.nodes[usize::from(host - 1)]
            .as_ref()
            .unwrap_or_else(|| panic!("node {host} is not running"));
        process
            .signal(signal)
            .unwrap_or_else(|e| panic!("SIG{signal} to node {host}: {e}"));
    }

    /// The leader as `host`'s node reports it, if it knows one.
    pub fn leader_seen_by(&self, host: u8) -> Option<u8> {
        self.status(host)
            .and_then(|s| s["leader"].as_u64())
            .and_then(|id| u8::try_from(id).ok())
    }

    /// `kill -9` of the node on `host`.
    pub fn kill_node(&mut self, host: u8) {
        if let Some(mut process) = self.nodes[usize::from(host - 1)].take() {
            process.kill();
        }
    }

    /// SIGTERM to the node on `host`: a planned stop, as `systemctl stop`
    /// does. Wait for the exit with [`TestbedCluster::wait_node_exit`].
    pub fn terminate_node(&self, host: u8) {
        self.signal_node(host, "TERM");
    }

    /// Waits at most `timeout` for the node on `host` to exit by itself;
    /// whether it did. Either way the node counts as stopped afterwards
    /// (killed if it was still running).
    pub fn wait_node_exit(&mut self, host: u8, timeout: Duration) -> bool {
        let Some(mut process) = self.nodes[usize::from(host - 1)].take() else {
            return true;
        };
        let exited = process.wait_exit(timeout).is_some();
        process.kill();
        exited
    }

    /// Whether the node on `host` was started, not killed, and has not exited.
    pub fn node_running(&mut self, host: u8) -> bool {
        self.nodes
            .get_mut(usize::from(host.saturating_sub(1)))
            .and_then(Option::as_mut)
            .is_some_and(NsProcess::is_running)
    }

    /// GET an admin API path on `host`'s node, from inside its namespace.
    pub fn get(&self, host: u8, path: &str) -> Option<Value> {
        serde_json::from_str(&self.get_text(host, path)?).ok()
    }

    /// The body of an admin path that is not JSON (`/metrics`).
    pub fn get_text(&self, host: u8, path: &str) -> Option<String> {
        let url = format!("http://127.0.0.1:7381{path}");
        self.testbed
            .host(host)
            .exec(&["curl", "-sf", "--max-time", "3", "-H", &bearer(), &url])
            .ok()
    }

    /// POST a JSON body to an admin API path on `host`'s node.
    pub fn post(&self, host: u8, path: &str, body: &Value) -> Result<Value, String> {
        let url = format!("http://127.0.0.1:7381{path}");
        let body = body.to_string();
        let output = self
            .testbed
            .host(host)
            .netns
            .output(&[
                "curl",
                "-s",
                "--max-time",
                "5",
                "-H",
                "content-type: application/json",
                "-H",
                &bearer(),
                "-d",
                &body,
                &url,
            ])
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        serde_json::from_str(&text).map_err(|_| format!("not JSON from {url}: {text}"))
    }

    pub fn status(&self, host: u8) -> Option<Value> {
        self.get(host, "/api/v1/status")
    }

    /// Waits until the running nodes agree on a leader and the cluster
    /// settings are replicated; returns the leader's id.
    pub fn wait_ready(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut last = Vec::new();
        while Instant::now() < deadline {
            let statuses: Vec<Value> = self
                .running()
                .filter_map(|host| self.status(host))
                .collect();
            let leaders: Vec<Option<u64>> = statuses.iter().map(|s| s["leader"].as_u64()).collect();
            let ready = statuses
                .iter()
                .all(|s| s["initialized"].as_bool() == Some(true));
            // Nodes other than the initialiser announce their bridge addresses
            // (DHCP server ids, DNS servers handed out) by registering.
            let registered = self.running().filter(|host| *host != 1).all(|host| {
                fs::read_to_string(self.log_path(host))
                    .is_ok_and(|log| log.contains("registered with the cluster"))
            });
            if ready
                && registered
                && statuses.len() == self.running().count()
                && let Some(Some(leader)) = leaders.first()
                && leaders.iter().all(|l| *l == Some(*leader))
            {
                return *leader;
            }
            last = statuses;
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "cluster not ready within {timeout:?}: {last:?}\n{}",
            self.logs()
        );
    }

    /// Hosts whose node runs.
    pub fn running(&self) -> impl Iterator<Item = u8> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.is_some())
            .map(|(i, _)| u8::try_from(i + 1).unwrap_or(0))
    }

    /// Leases from `host`'s replica (consistent: through the leader).
    pub fn leases(&self, host: u8, consistent: bool) -> Vec<Value> {
        self.get(host, &format!("/api/v1/leases?consistent={consistent}"))
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// Whether the node on `host` was started and not killed since.
    pub fn is_running(&self, host: u8) -> bool {
        self.running().any(|running| running == host)
    }

    /// Waits until every host in `hosts` reports the same leader, itself one
    /// of `hosts` (e.g. the majority side of a partition); returns its id.
    pub fn wait_leader_among(&self, hosts: &[u8], timeout: Duration) -> u64 {
        let mut last = Vec::new();
        let agreed = crate::netns::wait_until(timeout, Duration::from_millis(100), || {
            last = hosts
                .iter()
                .map(|host| self.status(*host).and_then(|s| s["leader"].as_u64()))
                .collect();
            last.iter().all(|leader| *leader == last[0])
                && last[0].is_some_and(|id| hosts.iter().any(|host| u64::from(*host) == id))
        });
        match (agreed, last.first()) {
            (true, Some(Some(leader))) => *leader,
            _ => panic!(
                "hosts {hosts:?} agreed on no leader among them within {timeout:?}: {last:?}\n{}",
                self.logs()
            ),
        }
    }

    /// Waits until the local replicas of all running nodes hold the same
    /// leases, equal to a consistent read through the leader; returns them.
    pub fn wait_converged(&self, timeout: Duration) -> Vec<Value> {
        let hosts: Vec<u8> = self.running().collect();
        let mut last: Vec<(u8, Option<Value>)> = Vec::new();
        let converged = crate::netns::wait_until(timeout, Duration::from_millis(200), || {
            let consistent = self.get(hosts[0], "/api/v1/leases?consistent=true");
            last = vec![(0, consistent)];
            last.extend(
                hosts
                    .iter()
                    .map(|host| (*host, self.get(*host, "/api/v1/leases?consistent=false"))),
            );
            last[0].1.is_some() && last.iter().all(|(_, leases)| *leases == last[0].1)
        });
        match (converged, last.first()) {
            (true, Some((_, Some(Value::Array(leases))))) => leases.clone(),
            _ => panic!(
                "replicas did not converge within {timeout:?} (host 0: consistent read): {last:?}\n{}",
                self.logs()
            ),
        }
    }

    pub fn logs(&self) -> String {
        (1..=u8::try_from(self.nodes.len()).unwrap_or(0))
            .map(|i| {
                format!(
                    "--- node {i}\n{}",
                    fs::read_to_string(self.log_path(i)).unwrap_or_default()
                )
            })
            .collect()
    }
}

/// The lease of the client with MAC `mac` ("02:42:..") in an admin API lease
/// list (the MAC as text, or as an array of octets).
pub fn lease_for_mac<'a>(leases: &'a [Value], mac: &str) -> Option<&'a Value> {
    leases.iter().find(|lease| match &lease["mac"] {
        Value::String(text) => text.eq_ignore_ascii_case(mac),
        Value::Array(octets) => {
            let text: Vec<String> = octets
                .iter()
                .map(|o| format!("{:02x}", o.as_u64().unwrap_or(0)))
                .collect();
            text.join(":") == mac
        }
        _ => false,
    })
}

/// The admin credential as a curl header.
pub fn bearer() -> String {
    format!("authorization: Bearer {ADMIN_TOKEN}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slaac_addresses_flip_the_universal_bit_and_insert_fffe() {
        // The quickstart's example: 00:16:3e:12:34:56.
        assert_eq!(
            slaac_address("00:16:3e:12:34:56"),
            "fd42:1::216:3eff:fe12:3456"
        );
        assert_eq!(
            slaac_address("02:42:ac:10:01:01"),
            "fd42:1::42:acff:fe10:101"
        );
        assert_eq!(bridge_link_local(3), "fe80::16:3eff:fe00:ff03");
    }
}
