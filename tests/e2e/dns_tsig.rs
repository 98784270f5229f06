//! DNS security end to end: BIND 9 secondaries transferring with a TSIG
//! key (and refused without it, or with a wrong secret), signed NOTIFY,
//! `dig -y` with a key the server does not know, NOTIMP for an unassigned
//! opcode with the query flags cleared, and UDP response-rate limiting.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use raftmasq_tests::bind::{Named, TsigKey, Zone, underlay_machine};
use raftmasq_tests::dig::dig;
use raftmasq_tests::dnsprobe::{self, TYPE_A};
use raftmasq_tests::netns::{self, wait_until};
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions};
use serde_json::json;

use crate::dns::{bind_command, commit, now_ms};

const TOOLS: &[&str] = &["ip", "bridge", "curl", "dig", "named", "named-checkconf"];
const READY_WAIT: Duration = Duration::from_secs(30);
const KEY: &str = "office-xfr";
/// 32 bytes, base64, as `tsig-keygen` writes them.
const SECRET: &str = "cmFmdG1hc3EtZTJlLW9mZmljZS14ZnItc2VjcmV0ISE=";
const WRONG_SECRET: &str = "cmFmdG1hc3EtZTJlLXdyb25nLXNlY3JldC1oZXJlISE=";
const UNKNOWN_SECRET: &str = "cmFmdG1hc3EtZTJlLXVua25vd24ta2V5LXNlY3JldCE=";
/// The secondary that has the key (the one NOTIFY goes to), one without a
/// key, one with the right name and a wrong secret.
const KEYED: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 253);
const KEYLESS: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 252);
const FORGED: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 251);
const PRIMARY: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

/// Writes the secret file the daemon reads (mode 600) into `dir`.
fn secret_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join(format!("{KEY}.key"));
    std::fs::write(&path, format!("{SECRET}\n")).expect("secret");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

fn key(secret: &str) -> TsigKey {
    TsigKey {
        name: KEY.into(),
        algorithm: "hmac-sha256".into(),
        secret: secret.into(),
    }
}

/// The log lines about transfers and refreshes of `zone` from the primary.
fn transfer_lines(log: &str, zone: &str) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains(&format!("{zone}/IN")) && line.contains(&PRIMARY.to_string()))
        .map(str::to_string)
        .collect()
}

fn transferred(log: &str, zone: &str) -> bool {
    transfer_lines(log, zone)
        .iter()
        .any(|line| line.contains("Transfer status: success"))
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn bind_secondaries_transfer_only_with_the_tsig_key_and_notify_is_signed() {
    netns::require("dns tsig transfer", TOOLS);
    let keys = tempfile::TempDir::new().expect("key dir");
    let secret = secret_file(keys.path());
    let options = TestbedOptions {
        dns_extra: format!(
            "secondaries = [\"{KEYED}\"]\ntransfer_key = \"{KEY}\"\n\
             tsig_keys = [{{ name = \"{KEY}\", algorithm = \"hmac-sha256\", secret_file = \"{}\" }}]",
            secret.display()
        ),
        ..TestbedOptions::default()
    };
    let cluster = TestbedCluster::start_with(crate::binary(), "dt", 1, &options);
    cluster.wait_ready(READY_WAIT);
    commit(
        &cluster,
        &[1],
        &bind_command("early", [0x02, 0x42, 0xac, 0x14, 0, 1], now_ms(), None),
    );
    // Enough records for an AXFR of several messages (16 KiB each), so
    // BIND checks the chained MACs of RFC 8945 §5.3.1, not just one.
    let text = "t".repeat(200);
    for n in 0..100 {
        let record = json!({"op": "add_record", "record": {
            "name": format!("t{n}.lxd"), "ttl": null, "data": {"type": "TXT", "text": text}}});
        commit(&cluster, &[1], &record);
    }
    let work = tempfile::TempDir::new().expect("work dir");
    let machine = |suffix: &str, address: Ipv4Addr, zone: Zone| {
        let netns = underlay_machine(&cluster.testbed, suffix, address).expect("machine");
        let named =
            Named::start(&netns, work.path(), address, false, &[zone]).expect("secondary named");
        (netns, named)
    };
    let (keyed_ns, keyed) = machine(
        "tsk",
        KEYED,
        Zone::SignedSecondary {
            name: "lxd".into(),
            primaries: vec![PRIMARY],
            key: key(SECRET),
        },
    );
    let (_keyless_ns, keyless) = machine(
        "tsn",
        KEYLESS,
        Zone::Secondary {
            name: "lxd".into(),
            primaries: vec![PRIMARY],
        },
    );
    let (_forged_ns, forged) = machine(
        "tsf",
        FORGED,
        Zone::SignedSecondary {
            name: "lxd".into(),
            primaries: vec![PRIMARY],
            key: key(WRONG_SECRET),
        },
    );

    // The keyed secondary transfers; the others try, and fail.
    let settled = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        transferred(&keyed.log(), "lxd")
            && !transfer_lines(&keyless.log(), "lxd").is_empty()
            && !transfer_lines(&forged.log(), "lxd").is_empty()
    });
    let messages = keyed
        .log()
        .lines()
        .find_map(|line| {
            let after = line.split("Transfer completed: ").nth(1)?;
            after.split(' ').next()?.parse::<u32>().ok()
        })
        .unwrap_or(0);
    assert!(
        settled && messages >= 2,
        "{messages} messages; keyed:\n{}\nkeyless:\n{}\nforged:\n{}",
        keyed.log(),
        keyless.log(),
        forged.log()
    );
    // Give the failing ones a moment more: a retry must fail as well.
    std::thread::sleep(Duration::from_secs(2));
    for (who, named) in [
        ("without a key", &keyless),
        ("with a wrong secret", &forged),
    ] {
        let log = named.log();
        assert!(
            !transferred(&log, "lxd"),
            "the secondary {who} must not get the zone:\n{log}"
        );
    }
    let answer = dig(
        &keyed_ns,
        &KEYED.to_string(),
        &["+norec"],
        &[("early.lxd", "A")],
    )
    .expect("dig");
    assert_eq!(answer[0].status, "NOERROR", "{answer:?}");
    assert!(answer[0].has_flag("aa"));
    for (who, address) in [("keyless", KEYLESS), ("forged", FORGED)] {
        let reply = dig(
            &keyed_ns,
            &address.to_string(),
            &["+norec"],
            &[("lxd", "SOA")],
        )
        .expect("dig");
        assert_eq!(
            reply[0].status, "SERVFAIL",
            "{who} serves no zone: {reply:?}"
        );
    }

    // A change: the NOTIFY, signed with the key, is accepted (the zone
    // accepts NOTIFY only signed with it) and the new name transferred.
    commit(
        &cluster,
        &[1],
        &bind_command("late", [0x02, 0x42, 0xac, 0x14, 0, 2], now_ms(), None),
    );
    let followed = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        dig(
            &keyed_ns,
            &KEYED.to_string(),
            &["+norec"],
            &[("late.lxd", "A")],
        )
        .is_ok_and(|r| r[0].status == "NOERROR" && r[0].answers.len() == 1)
    });
    let log = keyed.log();
    assert!(followed, "the keyed secondary followed the change:\n{log}");
    assert!(
        log.contains("received notify for zone 'lxd'"),
        "a signed NOTIFY was accepted:\n{log}"
    );
    assert!(
        !log.contains("refused notify"),
        "no NOTIFY was refused:\n{log}"
    );

    // dig, as an operator would check it: with the key, the whole zone;
    // without, or with a wrong secret, nothing.
    let axfr = |extra: &[&str]| {
        let mut args = vec!["dig", "@10.99.0.1", "lxd", "AXFR", "+tries=1", "+time=3"];
        args.extend_from_slice(extra);
        let out = keyed_ns.output(&args).expect("dig axfr");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let good = format!("hmac-sha256:{KEY}:{SECRET}");
    let signed = axfr(&["-y", &good]);
    assert!(
        signed.matches("\tSOA\t").count() == 2 && !signed.contains("Transfer failed"),
        "{signed}"
    );
    let unsigned = axfr(&[]);
    assert!(
        unsigned.contains("Transfer failed") && !unsigned.contains("\tSOA\t"),
        "{unsigned}"
    );
    let wrong = format!("hmac-sha256:{KEY}:{WRONG_SECRET}");
    let forged_axfr = axfr(&["-y", &wrong]);
    assert!(!forged_axfr.contains("\tSOA\t"), "{forged_axfr}");
}

/// One host with one lease name; no keys configured.
fn single_host(tag: &str, dns_extra: &str) -> TestbedCluster {
    let options = TestbedOptions {
        dns_extra: dns_extra.into(),
        ..TestbedOptions::default()
    };
    let cluster = TestbedCluster::start_with(crate::binary(), tag, 1, &options);
    cluster.wait_ready(READY_WAIT);
    commit(
        &cluster,
        &[1],
        &bind_command("probe", [0x02, 0x42, 0xac, 0x15, 0, 1], now_ms(), None),
    );
    cluster
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn unknown_keys_get_badkey_and_unassigned_opcodes_notimp_without_query_flags() {
    netns::require("dns tsig badkey", TOOLS);
    let cluster = single_host("dk", "");
    let ns = &cluster.testbed.host(1).netns;

    // RFC 8945 §5.2.1: NOTAUTH, and an unsigned TSIG with error BADKEY.
    let stranger = format!("hmac-sha256:stranger-key:{UNKNOWN_SECRET}");
    let out = ns
        .output(&[
            "dig",
            "-y",
            &stranger,
            "@10.99.0.1",
            "probe.lxd",
            "A",
            "+tries=1",
            "+time=2",
        ])
        .expect("dig");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("status: NOTAUTH"), "{text}");
    assert!(text.contains("BADKEY"), "the TSIG says BADKEY:\n{text}");
    assert!(!text.contains("ANSWER SECTION"), "{text}");

    // Opcode 3 (unassigned) with RD, CD and AD: NOTIMP, the ID and opcode
    // echoed, every flag but QR clear, no question (as BIND).
    let server = SocketAddr::from((PRIMARY, 53));
    for op in [3u8, 15] {
        let mut request = Message::query();
        request.metadata.id = 0x0300 | u16::from(op);
        request.metadata.op_code = OpCode::Unknown(op);
        request.metadata.recursion_desired = true;
        request.metadata.checking_disabled = true;
        request.metadata.authentic_data = true;
        request.add_query(Query::query(
            Name::from_ascii("probe.lxd.").expect("name"),
            RecordType::A,
        ));
        let bytes = request.to_vec().expect("encode");
        let reply = dnsprobe::in_netns(&ns.path(), move || {
            dnsprobe::udp_exchange(server, &bytes, Duration::from_secs(2))
        })
        .expect("setns")
        .expect("an answer");
        let reply = Message::from_vec(&reply).expect("a response");
        let flags = reply.metadata;
        assert_eq!(flags.response_code, ResponseCode::NotImp, "opcode {op}");
        assert_eq!(flags.id, 0x0300 | u16::from(op));
        assert_eq!(flags.op_code, OpCode::Unknown(op));
        assert!(
            !flags.recursion_desired && !flags.checking_disabled && !flags.authentic_data,
            "opcode {op}: {flags:?}"
        );
        assert!(reply.queries.is_empty(), "opcode {op}: {reply:?}");
    }
}

/// Sends `count` copies of `request` from `from` to `server` as fast as it
/// can, then counts the full and the truncated answers that come back
/// within half a second of the last.
fn burst(from: Ipv4Addr, server: SocketAddr, request: &[u8], count: usize) -> (usize, usize) {
    let socket = UdpSocket::bind((from, 0)).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    for _ in 0..count {
        socket.send_to(request, server).expect("send");
    }
    let (mut full, mut truncated) = (0, 0);
    let mut buf = [0u8; 2048];
    // Bounded: at most one answer per query sent.
    for _ in 0..count {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            break;
        };
        match dnsprobe::Reply::parse(&buf[..n]) {
            Some(reply) if reply.truncated => {
                assert_eq!(reply.answers, 0);
                truncated += 1;
            }
            Some(reply) => {
                assert_eq!(reply.answers, 1);
                full += 1;
            }
            None => {}
        }
    }
    (full, truncated)
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn rate_limiting_holds_back_a_burst_from_one_prefix_and_not_another() {
    netns::require("dns rate limit", TOOLS);
    let cluster = single_host("dr", "rate_limit = { responses_per_second = 10 }");
    let ns = &cluster.testbed.host(1).netns;
    let server = SocketAddr::from((PRIMARY, 53));
    let request = dnsprobe::query(0x1111, "probe.lxd", TYPE_A);
    let (limited, other) = dnsprobe::in_netns(&ns.path(), move || {
        // From 10.99.0.1 (the underlay /24), then from 172.16.0.1 (another /24).
        let limited = burst(PRIMARY, server, &request, 100);
        let other = burst(Ipv4Addr::new(172, 16, 0, 1), server, &request, 5);
        (limited, other)
    })
    .expect("setns");
    let (full, truncated) = limited;
    eprintln!("dns rate limit: 100 queries from one /24: {full} answered, {truncated} truncated");
    // 10 per second with a burst of 10; the burst takes well under a second.
    assert!((10..=20).contains(&full), "{limited:?}");
    assert!(
        truncated >= 30,
        "every second one over the rate slips: {limited:?}"
    );
    assert!(full + truncated < 100, "the rest are dropped: {limited:?}");
    assert_eq!(other, (5, 0), "another prefix is not limited");
    let log = cluster.logs();
    assert!(!log.contains("panicked"), "{log}");
}
