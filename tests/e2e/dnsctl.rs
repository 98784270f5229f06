//! `dnsctl` against real daemons: every subcommand on a 3-node loopback
//! cluster, the error paths (node down, no quorum, bad input), and the token
//! path on an admin listener that is really off loopback (in a namespace).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use raftmasq_consensus::state::{ClientId, Command as StateCommand, LeaseRequest, MacAddr};
use raftmasq_tests::admin::AdminClient;
use raftmasq_tests::cluster::NodeFiles;
use raftmasq_tests::{Daemon, LoopbackCluster};
use serde_json::Value;

/// The `dnsctl` binary beside the daemon in target/<profile>/. It belongs to
/// another package (`raftmasq-dnsctl`, so that the daemon does not link the
/// CLI), and cargo gives a test only its own package's binaries:
/// `cargo test --workspace` builds it (its package has an integration test);
/// with `-p raftmasq` alone, build it first with `cargo build -p raftmasq-dnsctl`.
pub fn dnsctl_binary() -> &'static Path {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let path = crate::binary().with_file_name("dnsctl");
        assert!(
            path.is_file(),
            "{} is missing: build it with `cargo build -p raftmasq-dnsctl` \
             (`cargo test --workspace` does)",
            path.display()
        );
        path
    })
}

/// `dnsctl` with a clean environment: only the arguments decide.
pub fn dnsctl_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .env_remove("DNSCTL_NODE")
        .env_remove("DNSCTL_TOKEN_FILE")
        .env_remove("RAFTMASQ_CONFIG")
        .env("NO_COLOR", "1");
    command
}

/// The result of one `dnsctl` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "dnsctl failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    #[track_caller]
    pub fn json(self) -> Value {
        let text = self.ok();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// The JSON of `status --json`, whatever health its exit code reports
    /// (0 healthy, 3 degraded, 4 no quorum), for probes that wait for a state.
    #[track_caller]
    pub fn status_json(self) -> Value {
        assert!(
            matches!(self.code, 0 | 3 | 4),
            "dnsctl status failed:\nstdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// Asserts the exit code and returns stdout.
    #[track_caller]
    pub fn exits(self, code: i32) -> String {
        assert_eq!(
            self.code, code,
            "expected exit {code}:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Asserts the exit code and that stderr says `needle`.
    #[track_caller]
    pub fn fails(self, code: i32, needle: &str) -> String {
        assert_eq!(
            self.code, code,
            "expected exit {code}:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {}",
            self.stderr
        );
        self.stderr
    }
}

/// Runs `dnsctl --config NODE.toml ARGS`.
pub(crate) fn dnsctl(node: &NodeFiles, args: &[&str]) -> Run {
    let output = dnsctl_command(dnsctl_binary())
        .arg("--config")
        .arg(&node.config)
        .args(args)
        .output()
        .expect("run dnsctl");
    Run::from(output)
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

pub(crate) fn start(cluster: &LoopbackCluster) -> Vec<Daemon> {
    cluster
        .nodes
        .iter()
        .map(|node| Daemon::start(crate::binary(), &node.config, &node.log))
        .collect()
}

pub(crate) fn logs(daemons: &[Daemon]) -> String {
    daemons
        .iter()
        .map(|d| format!("--- {}\n{}", d.log.display(), d.log_text()))
        .collect()
}

pub(crate) fn wait_leader(
    rt: &tokio::runtime::Runtime,
    cluster: &LoopbackCluster,
    daemons: &[Daemon],
) -> u64 {
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.admin_addr.clone()).collect();
    rt.block_on(AdminClient::default().wait_ready(&addrs, Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(daemons)))
}

/// Polls `probe` every 100 ms for at most `timeout`.
pub(crate) fn eventually(timeout: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if probe() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn bind(mac: [u8; 6], hostname: &str, seen_by: u64) -> Value {
    bind_at(mac, hostname, seen_by, 0)
}

/// A `Bind` command for the admin API's `/commands`, stamped `now`.
pub(crate) fn bind_at(mac: [u8; 6], hostname: &str, seen_by: u64, now: u64) -> Value {
    let mac = MacAddr(mac);
    serde_json::to_value(StateCommand::Bind {
        request: LeaseRequest {
            client_id: ClientId::from_mac(mac),
            mac,
            hostname: Some(hostname.into()),
            requested_address: None,
            seen_by: Some(seen_by),
        },
        now,
        lease_time_secs: None,
    })
    .expect("command")
}

#[test]
fn dnsctl_drives_every_subcommand_against_a_three_node_cluster() {
    let rt = runtime();
    let cluster = LoopbackCluster::new(3, "");
    let mut daemons = start(&cluster);
    let leader = wait_leader(&rt, &cluster, &daemons);
    let node = |id: u64| &cluster.nodes[usize::try_from(id - 1).expect("id")];
    let follower = if leader == 1 { 2 } else { 1 };
    let other = 6 - leader - follower;

    // ---- status: every member reachable, one leader, followers caught up,
    // every member's address known (exit 0 once all of that holds).
    assert!(
        eventually(Duration::from_secs(10), || {
            let run = dnsctl(node(follower), &["status", "--json"]);
            let healthy = run.code == 0;
            let status = run.status_json();
            healthy
                && status["members"].as_array().is_some_and(|members| {
                    members.len() == 3
                        && members.iter().all(|m| {
                            m["reachable"] == true
                                && (m["role"] == "leader" || m["lag"].as_u64() == Some(0))
                        })
                })
        }),
        "status never showed 3 reachable, caught-up members:\n{}",
        dnsctl(node(follower), &["status", "--json"]).stdout
    );
    // Exit 0: quorum, a leader, every member reachable.
    let status = dnsctl(node(follower), &["status", "--json"]).json();
    assert_eq!(status["node_id"], follower);
    assert_eq!(status["role"], "follower");
    assert_eq!(status["leader"], leader);
    assert_eq!(status["has_quorum"], true);
    assert_eq!(status["pool"]["size"], 65_525);
    let roles: Vec<&str> = status["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles.iter().filter(|r| **r == "leader").count(), 1);
    assert_eq!(roles.iter().filter(|r| **r == "follower").count(), 2);
    let text = dnsctl(node(follower), &["status"]).ok();
    assert!(text.contains("quorum: yes"), "{text}");
    assert!(text.contains("REACHABLE"), "{text}");

    // ---- leases: seed three (two ask for the same name), then list.
    let admin = AdminClient::default();
    for command in [
        bind([2, 0, 0, 0, 0, 1], "web", 1),
        bind([2, 0, 0, 0, 0, 2], "db", 2),
        bind([2, 0, 0, 0, 0, 3], "web", 3),
    ] {
        rt.block_on(admin.command(&node(leader).admin_addr, &command))
            .expect("bind");
    }
    // Local reads on a follower see the writes once applied.
    assert!(eventually(Duration::from_secs(5), || {
        dnsctl(node(other), &["leases", "--json"])
            .json()
            .as_array()
            .is_some_and(|l| l.len() == 3)
    }));
    let text = dnsctl(node(other), &["leases"]).ok();
    let header = text.lines().next().expect("header");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        [
            "ADDRESS", "MAC", "HOSTNAME", "DNS", "NAME", "STATE", "EXPIRES", "SEEN", "BY"
        ]
    );
    let db_row = text
        .lines()
        .find(|l| l.contains("02:00:00:00:00:02"))
        .expect("db row");
    let cells: Vec<&str> = db_row.split_whitespace().collect();
    assert_eq!(&cells[2..5], ["db", "db", "bound"], "{db_row}");
    assert!(
        ["1h", "59m"].contains(&cells[5]),
        "relative expiry of a 1h lease: {db_row}"
    );
    assert_eq!(&cells[6..], ["node", "2"], "{db_row}");
    assert!(
        text.contains(" web-2 "),
        "the second web is suffixed: {text}"
    );

    let leases = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["leases", "--json"];
        all.extend_from_slice(args);
        dnsctl(node(other), &all)
            .json()
            .as_array()
            .expect("list")
            .iter()
            .map(|l| l["mac"].as_str().expect("mac").to_string())
            .collect()
    };
    assert_eq!(leases(&["--host", "2"]), ["02:00:00:00:00:02"]);
    assert_eq!(
        leases(&["--mac", "02-00-00-00-00-03"]),
        ["02:00:00:00:00:03"]
    );
    assert_eq!(
        leases(&["--name", "WEB", "--sort", "name"]),
        ["02:00:00:00:00:01", "02:00:00:00:00:03"]
    );
    assert_eq!(leases(&["--state", "offered"]), Vec::<String>::new());
    assert_eq!(
        leases(&["--sort", "host", "--consistent"]),
        [
            "02:00:00:00:00:01",
            "02:00:00:00:00:02",
            "02:00:00:00:00:03"
        ]
    );
    let one = &dnsctl(node(other), &["leases", "--json", "--host", "2"]).json()[0];
    for key in [
        "address",
        "mac",
        "client_id",
        "requested_hostname",
        "granted_name",
        "state",
        "granted_at",
        "expires_at",
        "seen_by",
    ] {
        assert!(one.get(key).is_some(), "--json lacks {key}: {one}");
    }
    dnsctl(node(other), &["leases", "--sort", "colour"]).fails(2, "invalid value 'colour'");
    dnsctl(node(other), &["leases", "--mac", "02:00"]).fails(2, "invalid MAC address");

    // ---- conflicts: both owners of "web".
    let conflicts = dnsctl(node(other), &["conflicts", "--json"]).json();
    assert_eq!(conflicts[0]["name"], "web");
    assert_eq!(conflicts[0]["claimant_mac"], "02:00:00:00:00:03");
    assert_eq!(conflicts[0]["granted_instead"], "web-2");
    assert!(
        dnsctl(node(other), &["conflicts"])
            .ok()
            .contains("suffixed: web-2")
    );

    // ---- reservations, written through a follower (forwarded to the leader).
    let f = node(follower);
    let out = dnsctl(
        f,
        &[
            "reservations",
            "add",
            "02:42:00:00:09:01",
            "10.0.5.1",
            "printer",
        ],
    )
    .ok();
    assert!(
        out.contains("reserved 10.0.5.1 for 02:42:00:00:09:01 as printer"),
        "{out}"
    );
    dnsctl(f, &["reservations", "add", "02:42:00:00:09:01", "10.0.5.2"])
        .fails(1, "already has a reservation (10.0.5.1); remove it first with `dnsctl reservations rm 02:42:00:00:09:01`");
    dnsctl(f, &["reservations", "add", "02:42:00:00:09:zz", "10.0.5.2"])
        .fails(2, "invalid MAC address");
    dnsctl(
        f,
        &["reservations", "add", "02:42:00:00:09:02", "192.168.7.7"],
    )
    .fails(1, "outside the cluster's subnet 10.0.0.0/16");
    dnsctl(f, &["reservations", "add", "02:42:00:00:09:03", "10.0.5.1"])
        .fails(1, "already reserved for 02:42:00:00:09:01");
    let list = dnsctl(
        node(other),
        &["reservations", "list", "--json", "--consistent"],
    )
    .json();
    assert_eq!(
        list,
        serde_json::json!([{"mac": "02:42:00:00:09:01", "address": "10.0.5.1", "hostname": "printer", "network": "default"}])
    );
    assert!(
        dnsctl(node(other), &["reservations", "list"])
            .ok()
            .contains("printer")
    );
    dnsctl(f, &["reservations", "rm", "02:42:00:00:09:01"]).ok();
    dnsctl(f, &["reservations", "rm", "02:42:00:00:09:01"]).fails(1, "no reservation for MAC");
    assert_eq!(
        dnsctl(
            node(other),
            &["reservations", "list", "--json", "--consistent"]
        )
        .json(),
        serde_json::json!([])
    );

    // ---- records of every type; names relative to the domain.
    for args in [
        &["www", "A", "10.0.0.5", "--ttl", "60"][..],
        &["www", "AAAA", "fd00::5"],
        &["alias", "CNAME", "www"],
        &["lxd.", "TXT", "v=spf1 -all"],
        &["_sip._tcp", "SRV", "10", "5", "5060", "sip"],
        &["lxd", "MX", "10", "mail"],
    ] {
        let mut all = vec!["records", "add"];
        all.extend_from_slice(args);
        dnsctl(f, &all).ok();
    }
    let records = dnsctl(node(other), &["records", "list", "--json", "--consistent"]).json();
    let names: Vec<(String, String)> = records
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name").to_string(),
                r["data"]["type"].as_str().expect("type").to_string(),
            )
        })
        .collect();
    for expected in [
        ("www.lxd", "A"),
        ("www.lxd", "AAAA"),
        ("alias.lxd", "CNAME"),
        ("lxd", "TXT"),
        ("_sip._tcp.lxd", "SRV"),
        ("lxd", "MX"),
    ] {
        assert!(
            names.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} missing from {names:?}"
        );
    }
    let cname = records
        .as_array()
        .expect("records")
        .iter()
        .find(|r| r["data"]["type"] == "CNAME")
        .expect("cname");
    assert_eq!(cname["data"]["target"], "www.lxd");
    let text = dnsctl(node(other), &["records", "list", "www"]).ok();
    assert!(
        text.contains("10.0.0.5") && text.contains("fd00::5") && !text.contains("CNAME"),
        "{text}"
    );
    dnsctl(f, &["records", "add", "www", "A", "10.0.0.256"]).fails(2, "not an IPv4 address");
    dnsctl(f, &["records", "add", "www", "SRV", "1", "2"]).fails(2, "SRV record takes");
    dnsctl(f, &["records", "add", "www", "CNAME", "other"]).fails(1, "cannot coexist");
    dnsctl(f, &["records", "add", "bad..name", "A", "10.0.0.7"]).fails(1, "invalid label");
    dnsctl(f, &["records", "rm", "www", "A", "10.0.0.5", "--ttl", "60"]).ok();
    dnsctl(f, &["records", "rm", "www", "A", "10.0.0.5", "--ttl", "60"])
        .fails(1, "no A record www.lxd");
    let text = dnsctl(node(other), &["records", "list", "www", "--consistent"]).ok();
    assert!(!text.contains("10.0.0.5"), "{text}");

    // ---- release.
    let db = &dnsctl(node(other), &["leases", "--json", "--host", "2"]).json()[0];
    let address = db["address"].as_str().expect("address").to_string();
    let out = dnsctl(f, &["release", &address]).ok();
    assert!(
        out.contains(&format!("released {address} (was 02:00:00:00:00:02 db)")),
        "{out}"
    );
    assert_eq!(
        leases(&["--host", "2", "--consistent"]),
        Vec::<String>::new()
    );
    dnsctl(f, &["release", &address]).fails(1, &format!("no lease on {address}"));
    dnsctl(f, &["release", "10.0.0"]).fails(2, "invalid value");

    // ---- members: a learner that never starts cannot be promoted.
    let spare = format!("127.0.0.1:{}", raftmasq_tests::free_port());
    let out = dnsctl(f, &["members", "add", "4", &spare]).ok();
    assert!(out.contains("node 4 added as a learner"), "{out}");
    // Exit 3: a member (the learner that never starts) is unreachable.
    let status = dnsctl(node(leader), &["status", "--json"]).exits(3);
    let status: Value = serde_json::from_str(&status).expect("status JSON");
    let four = status["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["id"] == 4)
        .cloned()
        .expect("node 4 listed");
    assert_eq!(four["role"], "learner");
    assert_eq!(four["reachable"], false);
    assert!(
        four["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{four}"
    );
    dnsctl(f, &["members", "promote", "4"]).fails(1, "has not caught up");
    dnsctl(f, &["members", "add", "4", "127.0.0.1:1"]).fails(1, "already a member at");
    dnsctl(f, &["members", "add", "5", "nowhere"]).fails(1, "is not IP:PORT");
    let out = dnsctl(f, &["members", "promote", &other.to_string()]).ok();
    assert!(out.contains("already a voter"), "{out}");
    dnsctl(f, &["members", "remove", "4"]).ok();
    dnsctl(f, &["members", "remove", "4"]).fails(1, "node 4 is not a member");

    // ---- completions and man page need no node.
    let script = dnsctl(f, &["completions", "bash"]).ok();
    assert!(script.contains("import-dnsmasq"));
    assert!(dnsctl(f, &["man"]).ok().contains(".TH dnsctl"));
    dnsctl(f, &["frobnicate"]).fails(2, "unrecognized subcommand");

    // ---- one node down: it is unreachable, the others carry on.
    let down = other;
    daemons[usize::try_from(down - 1).expect("id")].kill_hard();
    dnsctl(node(down), &["leases"]).fails(
        1,
        &format!(
            "node {} unreachable — is raftmasq running there?",
            node(down).admin_addr
        ),
    );
    assert!(eventually(Duration::from_secs(5), || {
        dnsctl(node(follower), &["status", "--json"]).status_json()["members"]
            .as_array()
            .is_some_and(|members| {
                members
                    .iter()
                    .any(|m| m["id"] == down && m["reachable"] == false)
            })
    }));
    let degraded = dnsctl(node(follower), &["status"]).exits(3);
    assert!(degraded.contains("quorum: yes"), "{degraded}");
    dnsctl(f, &["reservations", "add", "02:42:00:00:09:04", "10.0.5.4"]).ok();

    // ---- no quorum: only one node left. Local reads still work; writes and
    // consistent reads fail with a reason.
    daemons[usize::try_from(leader - 1).expect("id")].kill_hard();
    let lone = node(follower);
    let local = dnsctl(lone, &["reservations", "list", "--json"]).json();
    assert_eq!(
        local[0]["mac"], "02:42:00:00:09:04",
        "local read without quorum"
    );
    let err = dnsctl(
        lone,
        &["reservations", "add", "02:42:00:00:09:05", "10.0.5.5"],
    )
    .fails(1, "need a majority of the members up");
    assert!(err.contains("quorum") || err.contains("leader"), "{err}");
    dnsctl(lone, &["leases", "--consistent"]).fails(1, "need a majority of the members up");
    assert!(eventually(Duration::from_secs(5), || {
        dnsctl(lone, &["status", "--json"]).status_json()["has_quorum"] == false
    }));
    // Exit 4: no quorum.
    assert!(dnsctl(lone, &["status"]).exits(4).contains("quorum: NO"));
    drop(daemons);
}

#[test]
fn removing_the_leader_hands_over_to_the_remaining_voters() {
    let rt = runtime();
    let cluster = LoopbackCluster::new(3, "");
    let daemons = start(&cluster);
    let leader = wait_leader(&rt, &cluster, &daemons);
    let stay = if leader == 1 { 2 } else { 1 };
    let via = &cluster.nodes[usize::try_from(stay - 1).expect("id")];
    let out = dnsctl(via, &["members", "remove", &leader.to_string()]).ok();
    assert!(out.contains("it was the leader"), "{out}");
    let handed_over = eventually(Duration::from_secs(15), || {
        let status = dnsctl(via, &["status", "--json"]).status_json();
        let members = status["members"].as_array().cloned().unwrap_or_default();
        status["leader"].as_u64().is_some_and(|l| l != leader)
            && members.len() == 2
            && members
                .iter()
                .all(|m| m["id"] != leader && m["reachable"] == true)
    });
    assert!(
        handed_over,
        "no new leader among the remaining voters:\n{}\n{}",
        dnsctl(via, &["status"]).stdout,
        logs(&daemons)
    );
    // The smaller cluster still takes writes.
    dnsctl(
        via,
        &["reservations", "add", "02:42:00:00:0a:01", "10.0.6.1"],
    )
    .ok();
}

/// The admin API off loopback: a one-node cluster in its own namespace whose
/// admin listener is on 192.0.2.1, so it must speak HTTPS, and every write
/// (and every read from another address) needs the admin credential, never
/// the cluster token. `dnsctl` and curl run in the same namespace; curl bound
/// to 192.0.2.2 is a client on another host.
#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn off_loopback_the_admin_api_is_https_and_needs_the_admin_token() {
    use raftmasq_tests::netns::{self, Netns, test_prefix};
    netns::require(
        "off_loopback_the_admin_api_is_https_and_needs_the_admin_token",
        &["ip", "curl"],
    );
    let cluster = LoopbackCluster::new(1, "");
    let files = &cluster.nodes[0];
    let tls_dir = cluster.path().join("tls");
    let admin_addr = "192.0.2.1:7381";
    let text = std::fs::read_to_string(&files.config).expect("config");
    let text = text.replace(
        &format!("admin_addr = \"{}\"", files.admin_addr),
        &format!("admin_addr = \"{admin_addr}\""),
    );
    assert!(text.contains(admin_addr));
    let text = format!(
        "{text}\n[node.admin_tls]\ncert_file = \"{dir}/admin.pem\"\nkey_file = \"{dir}/admin.key\"\n",
        dir = tls_dir.display()
    );
    std::fs::write(&files.config, text).expect("rewrite config");
    let config = files.config.to_string_lossy().into_owned();
    let daemon_binary = crate::binary().to_string_lossy().into_owned();

    // Without its certificate the node would serve the credential in clear:
    // `raftmasq check` says so and how to fix it.
    let check = std::process::Command::new(&daemon_binary)
        .args(["check", "--config", &config])
        .output()
        .expect("raftmasq check");
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(
        !check.status.success(),
        "check passed without the admin certificate"
    );
    assert!(
        said.contains("node.admin_tls.cert_file") && said.contains("issue-admin"),
        "{said}"
    );
    let issued = std::process::Command::new(&daemon_binary)
        .args([
            "cert",
            "issue-admin",
            "--ip",
            "192.0.2.1",
            "--name",
            "dns1.example",
            "--ca-dir",
        ])
        .arg(&tls_dir)
        .output()
        .expect("raftmasq cert issue-admin");
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );

    let wrong_token = cluster.path().join("cluster-as-admin.token");
    std::fs::copy(cluster.path().join("cluster.token"), &wrong_token).expect("copy token");
    let admin_token = cluster
        .path()
        .join("admin.token")
        .to_string_lossy()
        .into_owned();
    let ca = tls_dir.join("ca.pem").to_string_lossy().into_owned();

    let ns = Netns::create(&format!("{}dnsctl", test_prefix("tk"))).expect("netns");
    for address in ["192.0.2.1/32", "192.0.2.2/32"] {
        ns.ip(["addr", "add", address, "dev", "lo"])
            .expect("address");
    }
    let _daemon = ns
        .spawn(&[daemon_binary.as_str(), "--config", &config], &files.log)
        .expect("daemon");
    let run = |args: &[&str]| -> Run {
        let output = dnsctl_command(Path::new("ip"))
            .args(["netns", "exec", ns.name()])
            .arg(dnsctl_binary())
            .args(args)
            .output()
            .expect("run dnsctl in the namespace");
        Run::from(output)
    };
    let log = || std::fs::read_to_string(&files.log).unwrap_or_default();
    // By default dnsctl uses the node's admin socket (root: no token).
    assert!(
        eventually(Duration::from_secs(20), || {
            let status = run(&["--config", &config, "status", "--json"]);
            status.code == 0
                && serde_json::from_str::<Value>(&status.stdout)
                    .is_ok_and(|s| s["initialized"] == true && s["has_quorum"] == true)
        }),
        "the node in the namespace never became ready:\n{}",
        log()
    );
    let reserve = ["reservations", "add", "02:42:00:00:0b:01", "10.0.7.1"];
    let https = "https://192.0.2.1:7381";
    let remote = [
        "--ca-file",
        ca.as_str(),
        "--node",
        https,
        "--config",
        "/nonexistent",
    ];

    // Plain HTTP gets nothing.
    let curl = |args: &[&str]| -> (String, String) {
        let output = std::process::Command::new("ip")
            .args(["netns", "exec", ns.name(), "curl", "-s", "--max-time", "5"])
            .args(args)
            .args(["-o", "/dev/null", "-w", "%{http_code}"])
            .output()
            .expect("curl");
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, _) = curl(&["http://192.0.2.1:7381/api/v1/status"]);
    assert!(code == "000" || code == "400", "plain HTTP answered {code}");
    // Reads on the host pass; from another address they need the token.
    run(&[&remote[..], &["leases"]].concat()).ok();
    let bearer = format!(
        "authorization: Bearer {}",
        raftmasq_tests::cluster::ADMIN_TOKEN
    );
    let leases = "https://192.0.2.1:7381/api/v1/leases";
    let from_elsewhere = ["--cacert", ca.as_str(), "--interface", "192.0.2.2"];
    assert_eq!(curl(&[&from_elsewhere[..], &[leases]].concat()).0, "401");
    assert_eq!(
        curl(&[&from_elsewhere[..], &["-H", &bearer, leases]].concat()).0,
        "200"
    );
    assert_eq!(
        curl(
            &[
                &from_elsewhere[..],
                &["-H", &bearer, "-H", "Host: rebound.example", leases]
            ]
            .concat()
        )
        .0,
        "403"
    );
    assert_eq!(
        curl(
            &[
                &from_elsewhere[..],
                &["-H", "Host: dns1.example:7381", "-H", &bearer, leases]
            ]
            .concat()
        )
        .0,
        "403",
        "dns1.example is not in node.admin_hostnames"
    );
    assert_eq!(
        curl(&["--cacert", &ca, "https://192.0.2.1:7381/healthz"]).0,
        "200"
    );

    // Writes: no token, the cluster token, then the admin token.
    let err = run(&[&remote[..], &reserve[..]].concat()).fails(1, "writes need the admin token");
    assert!(err.contains("dnsctl sent no admin token"), "{err}");
    let wrong = wrong_token.to_string_lossy().into_owned();
    run(&[&remote[..], &["--token-file", &wrong], &reserve[..]].concat())
        .fails(1, "the token dnsctl sent was refused");
    assert_eq!(
        run(&["--config", &config, "reservations", "list", "--json"]).json(),
        serde_json::json!([]),
        "a refused write changed nothing"
    );
    run(&[&remote[..], &["--token-file", &admin_token], &reserve[..]].concat()).ok();
    assert_eq!(
        run(&["--config", &config, "reservations", "list", "--json"]).json()[0]["address"],
        "10.0.7.1"
    );
    // Without --ca-file the node's certificate is not trusted.
    run(&["--node", https, "--config", "/nonexistent", "leases"]).fails(1, "unreachable");
    // The last voter cannot be removed.
    run(&["--config", &config, "members", "remove", "1"]).fails(1, "is the last voter");
}

/// On loopback too, a local user who holds no credential cannot write: the
/// TCP listener wants the admin token, and the admin socket admits only root,
/// the service user and its group, checked on the connecting process's
/// credentials (here even with the socket's file mode wide open).
#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn a_local_user_without_the_credential_cannot_write() {
    raftmasq_tests::netns::require(
        "a_local_user_without_the_credential_cannot_write",
        &["setpriv"],
    );
    let rt = runtime();
    let cluster = LoopbackCluster::new(1, "");
    let daemons = start(&cluster);
    wait_leader(&rt, &cluster, &daemons);
    let node = &cluster.nodes[0];
    let socket = cluster.path().join("admin1.sock");
    assert!(socket.exists(), "no admin socket at {}", socket.display());
    // Let `nobody` reach the socket file at all, so only the peer check stands.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(cluster.path(), std::fs::Permissions::from_mode(0o711))
        .expect("chmod dir");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777))
        .expect("chmod socket");
    let socket = socket.to_string_lossy().into_owned();
    let as_nobody = |args: &[&str]| -> Run {
        let output = dnsctl_command(Path::new("setpriv"))
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(dnsctl_binary())
            .args(["--config", "/nonexistent"])
            .args(args)
            .output()
            .expect("run dnsctl as nobody");
        Run::from(output)
    };
    let reserve = ["reservations", "add", "02:42:00:00:0c:01", "10.0.8.1"];
    let err = as_nobody(&[&["--node", node.admin_addr.as_str()], &reserve[..]].concat())
        .fails(1, "writes need the admin token");
    assert!(err.contains("dnsctl sent no admin token"), "{err}");
    let refused = as_nobody(&[&["--node", socket.as_str()], &reserve[..]].concat());
    assert_ne!(
        refused.code, 0,
        "nobody wrote over the socket: {}",
        refused.stdout
    );
    let log = std::fs::read_to_string(&node.log).unwrap_or_default();
    assert!(log.contains("admin socket: refused"), "{log}");
    // Reads on loopback stay open to local users.
    as_nobody(&["--node", node.admin_addr.as_str(), "leases"]).ok();
    // Root over the socket: no token needed.
    dnsctl(node, &reserve).ok();
    let listed = dnsctl(node, &["reservations", "list", "--json"]).json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
}

/// `leases --watch --json`: the leases there are, then one line per change,
/// as they happen on the node's replica; it keeps going until stopped.
#[test]
fn leases_watch_prints_each_change_as_it_happens() {
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;

    let rt = runtime();
    let cluster = LoopbackCluster::new(1, "");
    let daemons = start(&cluster);
    wait_leader(&rt, &cluster, &daemons);
    let node = &cluster.nodes[0];
    let admin = AdminClient::default();
    rt.block_on(admin.command(&node.admin_addr, &bind([2, 0, 0, 0, 7, 1], "before", 1)))
        .expect("bind");

    let mut watch = dnsctl_command(dnsctl_binary())
        .arg("--config")
        .arg(&node.config)
        .args(["leases", "--watch", "--interval", "0.2", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start dnsctl leases --watch");
    let stdout = watch.stdout.take().expect("stdout");
    let (lines, received) = mpsc::channel::<Value>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(100)
        {
            let value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if lines.send(value).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| {
        received
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no line for {what}"))
    };

    let first = next("the lease there was");
    assert_eq!(first["event"], "added");
    assert_eq!(first["lease"]["granted_name"], "before");

    rt.block_on(admin.command(&node.admin_addr, &bind([2, 0, 0, 0, 7, 2], "later", 1)))
        .expect("bind");
    let added = next("the new lease");
    assert_eq!(added["event"], "added", "{added}");
    assert_eq!(added["lease"]["granted_name"], "later");
    let address = added["lease"]["address"]
        .as_str()
        .expect("address")
        .to_string();

    dnsctl(node, &["release", &address]).ok();
    let removed = next("the release");
    assert_eq!(removed["event"], "removed", "{removed}");
    assert_eq!(removed["lease"]["address"], address.as_str());

    assert!(
        watch.try_wait().expect("poll dnsctl").is_none(),
        "the watch goes on until stopped"
    );
    watch.kill().expect("stop the watch");
    watch.wait().expect("reap the watch");
    drop(received);
    reader.join().expect("reader");
    drop(daemons);
}
