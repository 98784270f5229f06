//! An attacker on the underlay (issue 15): a namespace bridged to the hosts'
//! provider network captures the cluster port while the cluster serves
//! leases and takes writes, then tries the cluster port itself.
//!
//! - The capture holds no token, hostname, record, address or MAC in clear.
//! - With a certificate of its own CA (claiming a member's id), no handshake
//!   completes: it cannot read, write, vote or join.
//! - With a member's real certificate and key (a compromised host, and the
//!   cluster token too), it cannot speak for another node: vote, append,
//!   install a snapshot or join as another id is refused (403) and changes
//!   nothing.
//! - With a certificate the CA issued for an id that is no member, it cannot
//!   read or write.

use std::path::Path;
use std::time::Duration;

use raftmasq_consensus::network::pki;
use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::cluster::{ADMIN_TOKEN, TOKEN};
use raftmasq_tests::netns;
use raftmasq_tests::testbed_cluster::TestbedCluster;
use serde_json::{Value, json};

const TOOLS: &[&str] = &["ip", "bridge", "curl", "udhcpc", "tcpdump", "dig"];
const SECRET_HOST: &str = "secret-hostname-q7";
const SECRET_RECORD: &str = "intranet-secret-z9";
const SECRET_MAC: &str = "02:42:ac:10:5e:c7";
const ATTACKER: &str = "10.99.0.66";

/// `curl` from the attacker's namespace to a node's cluster port: the HTTP
/// status (`000` when no TLS session was made) and the body.
fn attack(
    cluster: &TestbedCluster,
    node: u8,
    path: &str,
    credentials: Option<(&Path, &Path)>,
    body: &Value,
) -> (String, String) {
    let url = format!("https://10.99.0.{node}:7380{path}");
    let mut args: Vec<String> = [
        "curl",
        "-s",
        "-k",
        "--max-time",
        "5",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
    ]
    .map(str::to_string)
    .to_vec();
    if let Some((cert, key)) = credentials {
        args.extend([
            "--cert".to_string(),
            cert.display().to_string(),
            "--key".to_string(),
            key.display().to_string(),
        ]);
    }
    args.extend([
        "-H".to_string(),
        format!("authorization: Bearer {TOKEN}"),
        "-H".to_string(),
        "content-type: application/json".to_string(),
        "-d".to_string(),
        body.to_string(),
        url,
    ]);
    let output = cluster
        .testbed
        .underlay()
        .output(&args)
        .expect("curl from the underlay");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
    let errors = String::from_utf8_lossy(&output.stderr);
    (
        code.trim().to_string(),
        format!("{body}{errors} ({})", output.status),
    )
}

fn vote_as(candidate: u64, term: u64) -> Value {
    json!({"vote": {"leader_id": {"term": term, "node_id": candidate}, "committed": false}, "last_log_id": null})
}

fn append_as(leader: u64, term: u64) -> Value {
    json!({"vote": {"leader_id": {"term": term, "node_id": leader}, "committed": true}, "prev_log_id": null, "entries": [], "leader_commit": null})
}

fn join_as(id: u64) -> Value {
    use raftmasq_consensus::state::{AddressRange, ClusterSettings, HostnamePolicy};
    let settings = ClusterSettings {
        subnet: "172.16.0.0/16".parse().expect("subnet"),
        ranges: vec![AddressRange {
            start: "172.16.0.10".parse().expect("start"),
            end: "172.16.0.250".parse().expect("end"),
        }],
        domain: "lxd".into(),
        lease_time_secs: 120,
        duplicate_hostnames: HostnamePolicy::Suffix,
        decline_quarantine_secs: 600,
        client_identity: Default::default(),
    };
    json!({"id": id, "member": {"cluster_addr": format!("{ATTACKER}:7380")}, "settings": settings})
}

fn term_of(cluster: &TestbedCluster, host: u8) -> u64 {
    cluster.status(host).expect("status")["term"]
        .as_u64()
        .expect("a term")
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn an_attacker_on_the_underlay_reads_nothing_and_cannot_act_as_a_node() {
    netns::require("attacker on the underlay", TOOLS);
    let cluster = TestbedCluster::start(crate::binary(), "at", 3, "");
    let underlay = cluster.testbed.underlay();
    let capture_file = cluster.dir.path().join("underlay.pcap");
    let capture_log = cluster.dir.path().join("tcpdump.log");
    let capture_path = capture_file.display().to_string();
    let mut capture = underlay
        .spawn(
            &[
                "tcpdump",
                "-i",
                "ubr0",
                "-U",
                "-n",
                "-s",
                "0",
                "-w",
                &capture_path,
                "tcp",
                "port",
                "7380",
            ],
            &capture_log,
        )
        .expect("tcpdump");
    // Let tcpdump open the interface before the traffic it must see.
    let listening = netns::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        std::fs::read_to_string(&capture_log).is_ok_and(|log| log.contains("listening on"))
    });
    assert!(
        listening,
        "tcpdump did not start: {:?}",
        std::fs::read_to_string(&capture_log)
    );
    let leader = cluster.wait_ready(Duration::from_secs(30));

    // Traffic worth stealing: a lease with a hostname, and a static record.
    let container = cluster
        .testbed
        .add_container(2, "v1", SECRET_MAC)
        .expect("container");
    let work = tempfile::TempDir::new().expect("client dir");
    let client = DhcpClient::start(
        ClientKind::Udhcpc,
        &container,
        work.path(),
        &ClientOptions::hostname(SECRET_HOST),
    )
    .expect("udhcpc");
    let lease = client
        .wait_lease(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", client.log(), cluster.logs()));
    let address = lease.address.expect("an address").to_string();
    let record =
        json!({"name": SECRET_RECORD, "ttl": null, "data": {"type": "A", "address": "10.1.2.3"}});
    let added = cluster.post(3, "/api/v1/records", &record);
    assert!(
        added
            .as_ref()
            .is_ok_and(|answer| answer.get("error").is_none()),
        "{added:?}"
    );
    for host in 1..=3u8 {
        let seen = netns::wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            cluster
                .testbed
                .host(host)
                .exec(&["dig", "+short", "@10.99.0.1", &format!("{SECRET_HOST}.lxd")])
                .is_ok_and(|a| a.trim() == address)
        });
        assert!(seen, "{SECRET_HOST}.lxd not on h{host}");
    }

    // The attacker joins the underlay and tries the cluster port.
    underlay
        .ip(["addr", "add", &format!("{ATTACKER}/24"), "dev", "ubr0"])
        .expect("attacker address");
    let term = term_of(&cluster, leader as u8);

    // 1. Its own CA, a certificate claiming node 3: no handshake completes.
    let own = cluster.dir.path().join("attacker-ca");
    let own_ca = pki::new_ca(1).expect("attacker CA");
    let forged = pki::write_node_files(&own, &own_ca, 3, 1).expect("forged node 3");
    for (path, body) in [
        ("/cluster/read", json!(null)),
        ("/cluster/write", json!({"Expire": {"now": 0}})),
        ("/raft/vote", vote_as(3, term + 50)),
        ("/cluster/join", join_as(3)),
    ] {
        for node in 1..=3u8 {
            let (code, body) = attack(
                &cluster,
                node,
                path,
                Some((&forged.cert_file, &forged.key_file)),
                &body,
            );
            assert_eq!(
                code, "000",
                "{path} on h{node} with a foreign certificate: {body}"
            );
        }
    }
    // And with no certificate at all.
    let (code, _) = attack(&cluster, 1, "/cluster/read", None, &json!(null));
    assert_eq!(code, "000", "no client certificate");

    // 2. Node 2's real certificate and key (and the token): not as node 3.
    let tls = cluster.dir.path().join("tls");
    let stolen = (tls.join("node-2.pem"), tls.join("node-2.key"));
    let stolen = (stolen.0.as_path(), stolen.1.as_path());
    for node in [1u8, 3] {
        for (path, body) in [
            ("/raft/vote", vote_as(3, term + 50)),
            ("/raft/append", append_as(3, term + 50)),
            ("/raft/vote", vote_as(9, term + 50)),
            ("/cluster/join", join_as(3)),
            ("/cluster/join", join_as(9)),
        ] {
            let (code, body) = attack(&cluster, node, path, Some(stolen), &body);
            assert_eq!(
                code, "403",
                "{path} on h{node} with node 2's certificate: {body}"
            );
            assert!(body.contains("certificate of node 2 cannot"), "{body}");
        }
    }

    // 3. A certificate the CA issued for id 9, which is no member.
    let ca = pki::Pem {
        cert: std::fs::read_to_string(tls.join("ca.pem")).expect("ca.pem"),
        key: std::fs::read_to_string(tls.join("ca.key")).expect("ca.key"),
    };
    let stranger_dir = cluster.dir.path().join("stranger");
    let stranger = pki::write_node_files(&stranger_dir, &ca, 9, 1).expect("node 9");
    for (path, body) in [
        ("/cluster/read", json!(null)),
        ("/cluster/write", json!({"Expire": {"now": 0}})),
        ("/cluster/clock", json!(null)),
    ] {
        let (code, body) = attack(
            &cluster,
            leader as u8,
            path,
            Some((&stranger.cert_file, &stranger.key_file)),
            &body,
        );
        assert_eq!(code, "403", "{path} as non-member node 9: {body}");
        assert!(body.contains("node 9 is not a member"), "{body}");
    }

    // Nothing moved: the same leader in the same term, three members.
    for host in 1..=3u8 {
        let status = cluster.status(host).expect("status");
        assert_eq!(status["leader"].as_u64(), Some(leader), "h{host}: {status}");
        assert_eq!(status["term"].as_u64(), Some(term), "h{host}: {status}");
    }
    let status = cluster.status(leader as u8).expect("status");
    assert_eq!(
        status["members"].as_array().map(Vec::len),
        Some(3),
        "{status}"
    );

    // What the capture shows: TLS records, none of the secrets.
    capture.signal("INT").expect("stop tcpdump");
    capture.wait_exit(Duration::from_secs(5));
    let captured = std::fs::read(&capture_file).expect("the capture");
    assert!(
        captured.len() > 20_000,
        "only {} bytes captured: the capture saw no cluster traffic",
        captured.len()
    );
    let mac_text = SECRET_MAC.replace(':', "");
    let mac_bytes: Vec<u8> = (0..6)
        .map(|i| u8::from_str_radix(&mac_text[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    for (what, needle) in [
        ("the cluster token", TOKEN.as_bytes().to_vec()),
        ("the admin token", ADMIN_TOKEN.as_bytes().to_vec()),
        ("the hostname", SECRET_HOST.as_bytes().to_vec()),
        ("the record", SECRET_RECORD.as_bytes().to_vec()),
        ("the leased address", address.as_bytes().to_vec()),
        ("the MAC, raw", mac_bytes),
        ("a JSON field", b"\"client_id\"".to_vec()),
        ("HTTP", b"HTTP/1.1".to_vec()),
    ] {
        assert!(
            !captured
                .windows(needle.len())
                .any(|window| window == needle.as_slice()),
            "{what} is readable on the underlay"
        );
    }
}
