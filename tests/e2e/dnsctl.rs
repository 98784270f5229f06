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
fn dnsctl(node: &NodeFiles, args: &[&str]) -> Run {
    let output = dnsctl_command(dnsctl_binary())
        .arg("--config")
        .arg(&node.config)
        .args(args)
        .output()
        .expect("run dnsctl");
    Run::from(output)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn start(cluster: &LoopbackCluster) -> Vec<Daemon> {
    cluster
        .nodes
        .iter()
        .map(|node| Daemon::start(crate::binary(), &node.config, &node.log))
        .collect()
}

fn logs(daemons: &[Daemon]) -> String {
    daemons
        .iter()
        .map(|d| format!("--- {}\n{}", d.log.display(), d.log_text()))
        .collect()
}

fn wait_leader(rt: &tokio::runtime::Runtime, cluster: &LoopbackCluster, daemons: &[Daemon]) -> u64 {
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.admin_addr.clone()).collect();
    rt.block_on(AdminClient::default().wait_ready(&addrs, Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(daemons)))
}

/// Polls `probe` every 100 ms for at most `timeout`.
fn eventually(timeout: Duration, mut probe: impl FnMut() -> bool) -> bool {
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

    // ---- status: every member reachable, one leader, followers caught up.
    assert!(
        eventually(Duration::from_secs(10), || {
            let status = dnsctl(node(follower), &["status", "--json"]).json();
            status["members"].as_array().is_some_and(|members| {
                members.len() == 3
                    && members.iter().all(|m| {
                        m["reachable"] == true
                            && (m["role"] == "leader" || m["lag"].as_u64() == Some(0))
                    })
            })
        }),
        "status never showed 3 reachable, caught-up members:\n{}",
        dnsctl(node(follower), &["status", "--json"]).ok()
    );
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
        serde_json::json!([{"mac": "02:42:00:00:09:01", "address": "10.0.5.1", "hostname": "printer"}])
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
    let status = dnsctl(node(leader), &["status", "--json"]).json();
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
        dnsctl(node(follower), &["status", "--json"]).json()["members"]
            .as_array()
            .is_some_and(|members| {
                members
                    .iter()
                    .any(|m| m["id"] == down && m["reachable"] == false)
            })
    }));
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
        dnsctl(lone, &["status", "--json"]).json()["has_quorum"] == false
    }));
    assert!(dnsctl(lone, &["status"]).ok().contains("quorum: NO"));
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
        let status = dnsctl(via, &["status", "--json"]).json();
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
        dnsctl(via, &["status"]).ok(),
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
/// admin listener is on 192.0.2.1 (so `admin_writes_need_token()` holds for
/// real, with no test-only switch). `dnsctl` runs in the same namespace.
#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn writes_off_loopback_need_the_cluster_token() {
    use raftmasq_tests::netns::{self, Netns, test_prefix};
    netns::require("writes_off_loopback_need_the_cluster_token", &["ip"]);
    let cluster = LoopbackCluster::new(1, "");
    let files = &cluster.nodes[0];
    let admin_addr = "192.0.2.1:7381";
    let text = std::fs::read_to_string(&files.config).expect("config");
    let text = text.replace(
        &format!("admin_addr = \"{}\"", files.admin_addr),
        &format!("admin_addr = \"{admin_addr}\""),
    );
    assert!(text.contains(admin_addr));
    std::fs::write(&files.config, text).expect("rewrite config");
    let wrong_token = cluster.path().join("wrong.token");
    std::fs::write(&wrong_token, "not-the-cluster-token\n").expect("wrong token");

    let ns = Netns::create(&format!("{}dnsctl", test_prefix("tk"))).expect("netns");
    ns.ip(["addr", "add", "192.0.2.1/32", "dev", "lo"])
        .expect("address");
    let daemon_binary = crate::binary().to_string_lossy().into_owned();
    let config = files.config.to_string_lossy().into_owned();
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

    // Reads need no token.
    run(&["--node", admin_addr, "--config", "/nonexistent", "leases"]).ok();
    // No token at all.
    let mut args = vec!["--node", admin_addr, "--config", "/nonexistent"];
    args.extend_from_slice(&reserve);
    let err = run(&args).fails(1, "writes over the network need the cluster token");
    assert!(err.contains("dnsctl sent no token"), "{err}");
    // A wrong token.
    let wrong = wrong_token.to_string_lossy().into_owned();
    let mut args = vec!["--node", admin_addr, "--token-file", &wrong];
    args.extend_from_slice(&reserve);
    run(&args).fails(1, "the token dnsctl sent was refused");
    assert_eq!(
        run(&["--config", &config, "reservations", "list", "--json"]).json(),
        serde_json::json!([]),
        "a refused write changed nothing"
    );
    // The token from the daemon's own configuration, found by default.
    let mut args = vec!["--config", config.as_str()];
    args.extend_from_slice(&reserve);
    run(&args).ok();
    assert_eq!(
        run(&["--config", &config, "reservations", "list", "--json"]).json()[0]["address"],
        "10.0.7.1"
    );
    // The last voter cannot be removed.
    run(&["--config", &config, "members", "remove", "1"]).fails(1, "is the last voter");
}
