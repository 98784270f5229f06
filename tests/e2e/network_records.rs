//! Static records per network on the two-bridge testbed (`lab` on
//! `lxdbr1`, domain `lab.lxd`, beside the default network's `lxd`): a
//! record `dnsctl records add` places under lab's domain is committed to
//! lab's table and answered by every host from lab's zone; one the operator
//! puts in a network whose domain does not hold its name is refused; the
//! listing carries each record's network. The `dns.records_file` places its
//! entries alike.

use std::fs;
use std::process::Output;
use std::time::Duration;

use raftmasq_tests::dig::dig;
use raftmasq_tests::netns::{self, wait_until};
use raftmasq_tests::second_bridge;
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions};
use serde_json::Value;

use crate::binary;
use crate::networks::{LAB, add_lab_network};

const TOOLS: &[&str] = &["ip", "bridge", "curl", "dig"];
const READY_WAIT: Duration = Duration::from_secs(30);
const ANSWER_WAIT: Duration = Duration::from_secs(10);

const RECORDS_FILE: &str = r#"
[[record]]
name = "files"
type = "A"
value = "172.20.0.7"
network = "lab"

[[record]]
name = "printer.lab"
type = "A"
value = "172.20.0.8"
"#;

/// `dnsctl --config HOST.toml ARGS` inside host `host`'s namespace.
fn dnsctl(cluster: &TestbedCluster, host: u8, args: &[&str]) -> Output {
    cluster
        .testbed
        .host(host)
        .command(crate::dnsctl::dnsctl_binary())
        .env("NO_COLOR", "1")
        .arg("--config")
        .arg(cluster.config_path(host))
        .args(args)
        .output()
        .expect("run dnsctl")
}

/// Runs dnsctl and returns its stdout; any failure fails the test.
#[track_caller]
fn dnsctl_ok(cluster: &TestbedCluster, host: u8, args: &[&str]) -> String {
    let output = dnsctl(cluster, host, args);
    assert!(
        output.status.success(),
        "dnsctl {args:?} on host {host}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether every host answers `name` `rtype` authoritatively with `want`
/// (`None`: NXDOMAIN), within [`ANSWER_WAIT`]; the last replies otherwise.
fn every_host_answers(
    cluster: &TestbedCluster,
    name: &str,
    rtype: &str,
    want: Option<&[&str]>,
) -> Result<(), String> {
    for host in 1..=3u8 {
        let server = format!("10.99.0.{host}");
        let mut last = String::new();
        let answered = wait_until(ANSWER_WAIT, Duration::from_millis(200), || {
            let Ok(replies) = dig(
                &cluster.testbed.host(host).netns,
                &server,
                &["+norec"],
                &[(name, rtype)],
            ) else {
                return false;
            };
            last = format!("{:?}", replies[0]);
            let reply = &replies[0];
            reply.has_flag("aa")
                && match want {
                    Some(want) => reply.status == "NOERROR" && reply.data(rtype) == want,
                    None => reply.status == "NXDOMAIN",
                }
        });
        if !answered {
            return Err(format!("host {host}: {name} {rtype}: {last}"));
        }
    }
    Ok(())
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn records_in_a_networks_domain_live_in_and_are_answered_from_its_zone() {
    netns::require(
        "records_in_a_networks_domain_live_in_and_are_answered_from_its_zone",
        TOOLS,
    );
    let mut cluster = TestbedCluster::prepare_with(binary(), "nr", 3, &TestbedOptions::default());
    second_bridge::add(&cluster.testbed, &LAB).expect("second bridge");
    add_lab_network(&cluster, 3);
    // Every host's dns.records_file: one entry naming its network, one
    // placed by its name. A first start adds them once lab is in the cluster.
    let records = tempfile::TempDir::new().expect("records dir");
    let records_file = records.path().join("records.toml");
    fs::write(&records_file, RECORDS_FILE).expect("records file");
    for host in 1..=3 {
        let path = cluster.config_path(host);
        let text = fs::read_to_string(&path).expect("config");
        let listen = format!("listen = [\"{}:53\"", LAB.address(host));
        assert!(
            text.contains(&listen),
            "add_lab_network's dns.listen changed"
        );
        let with_file = format!("records_file = \"{}\"\n{listen}", records_file.display());
        fs::write(&path, text.replacen(&listen, &with_file, 1)).expect("config");
    }
    for host in 1..=3 {
        cluster.start_node(host);
    }
    cluster.wait_ready(READY_WAIT);
    // The lab network is in the cluster once every host serves its zone.
    for host in 1..=3u8 {
        let served = wait_until(READY_WAIT, Duration::from_millis(200), || {
            dig(
                &cluster.testbed.host(host).netns,
                &format!("10.99.0.{host}"),
                &["+norec"],
                &[("lab.lxd", "SOA")],
            )
            .is_ok_and(|replies| !replies[0].data("SOA").is_empty())
        });
        assert!(
            served,
            "host {host} does not serve lab.lxd\n{}",
            cluster.logs()
        );
    }

    // A name under lab's domain goes to lab, from any host.
    let added = dnsctl_ok(
        &cluster,
        2,
        &["records", "add", "db.lab.lxd", "A", "172.20.0.5"],
    );
    assert!(added.contains("in network lab"), "{added}");
    // A relative name with --network is placed in that network's domain.
    let added = dnsctl_ok(
        &cluster,
        3,
        &[
            "records",
            "add",
            "api",
            "A",
            "172.20.0.6",
            "--network",
            "lab",
        ],
    );
    assert!(added.contains("api.lab.lxd"), "{added}");
    dnsctl_ok(&cluster, 1, &["records", "add", "alias.lab", "CNAME", "db"]);
    dnsctl_ok(&cluster, 1, &["records", "add", "www", "A", "172.16.0.7"]);

    // A name the network's domain does not hold is refused, with the reason.
    let refused = dnsctl(
        &cluster,
        1,
        &[
            "records",
            "add",
            "www2.lxd.",
            "A",
            "172.16.0.8",
            "--network",
            "lab",
        ],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && stderr.contains(
                "www2.lxd is in network default's zone (lxd), not in network lab's (lab.lxd)"
            ),
        "{stderr}"
    );
    let unknown = dnsctl(
        &cluster,
        1,
        &[
            "records",
            "add",
            "x",
            "A",
            "172.16.0.9",
            "--network",
            "nope",
        ],
    );
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        !unknown.status.success() && stderr.contains("no network \"nope\""),
        "{stderr}"
    );

    // Every host answers lab's records from lab's zone, the default
    // network's from its own, and neither from the other.
    for (name, rtype, want) in [
        ("db.lab.lxd", "A", Some(&["172.20.0.5"][..])),
        ("api.lab.lxd", "A", Some(&["172.20.0.6"][..])),
        ("www.lxd", "A", Some(&["172.16.0.7"][..])),
        ("db.lxd", "A", None),
        ("www.lab.lxd", "A", None),
        ("files.lab.lxd", "A", Some(&["172.20.0.7"][..])),
        ("printer.lab.lxd", "A", Some(&["172.20.0.8"][..])),
        ("files.lxd", "A", None),
    ] {
        every_host_answers(&cluster, name, rtype, want)
            .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
    }
    // The CNAME is lab's too, and its target resolves in lab's zone.
    let replies = dig(
        &cluster.testbed.host(3).netns,
        "10.99.0.3",
        &["+norec"],
        &[("alias.lab.lxd", "A")],
    )
    .expect("dig");
    assert_eq!(
        replies[0].data("CNAME"),
        ["db.lab.lxd."],
        "{:?}",
        replies[0]
    );
    assert_eq!(replies[0].data("A"), ["172.20.0.5"], "{:?}", replies[0]);

    // The listing carries each record's network, and filters by it.
    let listed: Vec<Value> = serde_json::from_str(&dnsctl_ok(
        &cluster,
        3,
        &["--json", "--consistent", "records", "list"],
    ))
    .expect("records JSON");
    let network_of = |name: &str| -> Vec<String> {
        listed
            .iter()
            .filter(|r| r["name"] == name)
            .map(|r| r["network"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    assert_eq!(network_of("db.lab.lxd"), ["lab"], "{listed:?}");
    assert_eq!(network_of("api.lab.lxd"), ["lab"], "{listed:?}");
    assert_eq!(network_of("alias.lab.lxd"), ["lab"], "{listed:?}");
    assert_eq!(network_of("www.lxd"), ["default"], "{listed:?}");
    assert_eq!(network_of("files.lab.lxd"), ["lab"], "{listed:?}");
    assert_eq!(network_of("printer.lab.lxd"), ["lab"], "{listed:?}");
    let lab_only: Vec<Value> = serde_json::from_str(&dnsctl_ok(
        &cluster,
        1,
        &["--json", "records", "list", "--network", "lab"],
    ))
    .expect("records JSON");
    assert_eq!(
        lab_only.len(),
        5,
        "3 from dnsctl, 2 from the file: {lab_only:?}"
    );
    assert!(
        lab_only.iter().all(|r| r["network"] == "lab"),
        "{lab_only:?}"
    );
    let api: Vec<Value> = serde_json::from_str(&dnsctl_ok(
        &cluster,
        1,
        &["--json", "records", "list", "api", "--network", "lab"],
    ))
    .expect("records JSON");
    assert_eq!(api.len(), 1, "a relative NAME is in lab.lxd: {api:?}");
    assert_eq!(api[0]["name"], "api.lab.lxd");
    let text = dnsctl_ok(&cluster, 2, &["records", "list"]);
    let header = text.lines().next().unwrap_or_default().to_ascii_lowercase();
    assert!(header.starts_with("network"), "{text}");
    assert!(
        text.lines()
            .any(|line| line.starts_with("lab") && line.contains("db.lab.lxd")),
        "{text}"
    );

    // The admin API itself: `network` in the request and in the listing.
    let raw = |name: &str| {
        serde_json::json!({
            "name": name, "ttl": null, "data": {"type": "TXT", "text": "raw"}, "network": "lab"
        })
    };
    let done = cluster
        .post(1, "/api/v1/records", &raw("raw"))
        .expect("POST /records");
    assert_eq!(
        done["message"], "added TXT raw.lab.lxd in network lab",
        "{done}"
    );
    let listed = cluster
        .get(
            2,
            "/api/v1/records?network=lab&name=raw.lab.lxd&consistent=true",
        )
        .expect("GET /records");
    assert_eq!(listed, serde_json::json!([raw("raw.lab.lxd")]), "{listed}");
    let refused = cluster
        .post(1, "/api/v1/records", &raw("raw.lxd."))
        .expect("POST /records");
    assert_eq!(refused["error"], "bad_request", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("not in network lab's (lab.lxd)")),
        "{refused}"
    );

    // Records a release before per-network records kept in `default`'s table
    // under lab's domain (written here as such an entry: an unwrapped
    // AddRecord): listed as default's, hidden by lab's zone, and removable
    // both by name and with the network the listing shows.
    for (name, address) in [
        ("old.lab.lxd", "172.20.0.9"),
        ("old2.lab.lxd", "172.20.0.10"),
    ] {
        let answer = cluster
            .post(
                2,
                "/api/v1/commands",
                &serde_json::json!({"op": "add_record", "record": {
                    "name": name, "ttl": null, "data": {"type": "A", "address": address}
                }}),
            )
            .expect("POST /commands");
        assert_eq!(answer["result"], "done", "{answer}");
    }
    let defaults: Vec<Value> = serde_json::from_str(&dnsctl_ok(
        &cluster,
        3,
        &[
            "--json",
            "--consistent",
            "records",
            "list",
            "--network",
            "default",
        ],
    ))
    .expect("records JSON");
    let names: Vec<&str> = defaults.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(
        names,
        ["old.lab.lxd", "old2.lab.lxd", "www.lxd"],
        "{defaults:?}"
    );
    every_host_answers(&cluster, "old.lab.lxd", "A", None).unwrap_or_else(|e| panic!("{e}"));
    let removed = dnsctl_ok(
        &cluster,
        1,
        &["records", "rm", "old.lab.lxd", "A", "172.20.0.9"],
    );
    assert_eq!(
        removed.trim(),
        "removed A old.lab.lxd",
        "from default's table"
    );
    let removed = dnsctl_ok(
        &cluster,
        1,
        &[
            "records",
            "rm",
            "old2.lab.lxd",
            "A",
            "172.20.0.10",
            "--network",
            "default",
        ],
    );
    assert_eq!(removed.trim(), "removed A old2.lab.lxd");
    let defaults: Vec<Value> = serde_json::from_str(&dnsctl_ok(
        &cluster,
        1,
        &[
            "--json",
            "--consistent",
            "records",
            "list",
            "--network",
            "default",
        ],
    ))
    .expect("records JSON");
    assert_eq!(defaults.len(), 1, "{defaults:?}");

    // Removing it from any host takes it out of lab's zone everywhere.
    let removed = dnsctl_ok(
        &cluster,
        1,
        &["records", "rm", "db.lab.lxd", "A", "172.20.0.5"],
    );
    assert!(removed.contains("in network lab"), "{removed}");
    dnsctl_ok(&cluster, 1, &["records", "rm", "alias.lab", "CNAME", "db"]);
    every_host_answers(&cluster, "db.lab.lxd", "A", None)
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()));
}
