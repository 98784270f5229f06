//! Issue 15's attack on a testbed node: 2,000 idle TCP connections to each of
//! its listeners (cluster, admin, DNS over TCP) from one client. DNS keeps
//! answering over UDP and TCP with forwarding, `dnsctl status` keeps
//! working, the daemon's open file handles stay bounded, and once the
//! connections close everything is as before.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use raftmasq_tests::bind::{Named, Zone, underlay_machine};
use raftmasq_tests::dig::{DigReply, dig};
use raftmasq_tests::netns::{self, Netns, wait_until};
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions};
use socket2::{Domain, Socket, Type};

const TOOLS: &[&str] = &["ip", "dig", "named", "named-checkconf"];
/// Connections the attacker opens to each listener.
const ATTACK: usize = 2_000;
/// What one client may hold on each listener (`limits.connections_per_client`).
const PER_CLIENT: usize = 32;
const NODE: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
/// The cluster's upstream (`TestbedCluster` points `dns.upstream` there).
const OFFICE: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 254);
const ATTACKER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 250);
/// A well-behaved client on the underlay, for dig.
const RESOLVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 249);
/// The attacker's source on the host's loopback (dnsctl uses 127.0.0.1).
const LOCAL_ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const UPSTREAM_NAME: &str = "www.corp.test";
const UPSTREAM_ADDRESS: &str = "10.99.0.80";

/// Opens up to `count` TCP connections from `source` to `target` inside the
/// network namespace at `netns` (from a thread that enters it: the sockets
/// stay in that namespace). Bounded: one second per connection, a minute in
/// all.
fn open_idle(netns: PathBuf, source: Ipv4Addr, target: SocketAddr, count: usize) -> Vec<TcpStream> {
    std::thread::spawn(move || {
        let namespace = File::open(&netns).expect("open the namespace");
        setns(&namespace, CloneFlags::CLONE_NEWNET).expect("enter the namespace");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut streams = Vec::with_capacity(count);
        for _ in 0..count {
            if Instant::now() > deadline {
                break;
            }
            let Ok(socket) = Socket::new(Domain::IPV4, Type::STREAM, None) else {
                break;
            };
            if socket.bind(&SocketAddr::from((source, 0)).into()).is_err() {
                break;
            }
            if socket
                .connect_timeout(&target.into(), Duration::from_secs(1))
                .is_ok()
            {
                streams.push(TcpStream::from(socket));
            }
        }
        streams
    })
    .join()
    .expect("connecting thread")
}

/// How many of `streams` the server still holds open (neither closed nor reset).
fn still_open(streams: &[TcpStream]) -> usize {
    streams
        .iter()
        .filter(|stream| {
            stream.set_nonblocking(true).expect("nonblocking");
            let mut byte = [0u8; 1];
            matches!(
                std::io::Read::read(&mut &**stream, &mut byte),
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock
            )
        })
        .count()
}

fn open_handles(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

/// The value of the series of `family` whose labels include
/// `listener="LISTENER"` and, if given, `reason="REASON"`; 0 if absent.
fn sample(metrics: &str, family: &str, listener: &str, reason: Option<&str>) -> f64 {
    let listener = format!("listener=\"{listener}\"");
    let reason = reason.map(|reason| format!("reason=\"{reason}\""));
    metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{family}{{")))
        .filter(|line| line.contains(&listener))
        .filter(|line| reason.as_ref().is_none_or(|reason| line.contains(reason)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn one(replies: Vec<DigReply>) -> DigReply {
    replies.into_iter().next().expect("one reply")
}

/// Forwarding and the cluster's own zone, over UDP and over TCP.
fn dns_answers(resolver: &Netns) -> Result<(), String> {
    for transport in [&[][..], &["+tcp"][..]] {
        let forwarded = dig(
            resolver,
            &NODE.to_string(),
            transport,
            &[(UPSTREAM_NAME, "A")],
        )
        .map(one)
        .map_err(|error| format!("{transport:?} forwarded: {error}"))?;
        if forwarded.data("A") != [UPSTREAM_ADDRESS] {
            return Err(format!("{transport:?} forwarded: {forwarded:?}"));
        }
        let own = dig(resolver, &NODE.to_string(), transport, &[("lxd", "SOA")])
            .map(one)
            .map_err(|error| format!("{transport:?} own zone: {error}"))?;
        if own.status != "NOERROR" || !own.has_flag("aa") {
            return Err(format!("{transport:?} own zone: {own:?}"));
        }
    }
    Ok(())
}

fn dnsctl_status(cluster: &TestbedCluster) -> Result<(), String> {
    let output = cluster
        .testbed
        .host(1)
        .command(crate::dnsctl::dnsctl_binary())
        .arg("--config")
        .arg(cluster.config_path(1))
        .args(["status", "--json"])
        .output()
        .map_err(|error| error.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "dnsctl status: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn idle_connections_to_every_listener_starve_nothing_and_hold_few_handles() {
    netns::require("listener limits", TOOLS);
    // The attacker's 6,000 sockets live in this process.
    raftmasq_limits::handles::raise_open_file_limit().expect("raise RLIMIT_NOFILE");
    let options = TestbedOptions {
        dns_extra: "allow_recursion = [\"10.99.0.0/24\"]".into(),
        ..TestbedOptions::default()
    };
    let cluster = TestbedCluster::start_with(crate::binary(), "lim", 1, &options);
    cluster.wait_ready(Duration::from_secs(30));
    let office = underlay_machine(&cluster.testbed, "office", OFFICE).expect("office machine");
    let _named = Named::start(
        &office,
        cluster.dir.path(),
        OFFICE,
        false,
        &[Zone::Primary {
            name: "corp.test".into(),
            records: vec![format!("www\tIN\tA\t{UPSTREAM_ADDRESS}")],
        }],
    )
    .expect("upstream named");
    let attacker = underlay_machine(&cluster.testbed, "atk", ATTACKER).expect("attacker");
    let resolver = underlay_machine(&cluster.testbed, "res", RESOLVER).expect("resolver");
    dns_answers(&resolver).unwrap_or_else(|error| panic!("before the attack: {error}"));
    dnsctl_status(&cluster).unwrap_or_else(|error| panic!("before the attack: {error}"));
    let pid = cluster.node_pid(1).expect("the node runs");
    let baseline = open_handles(pid);

    let host = cluster.testbed.host(1).netns.path();
    let targets = [
        (
            "cluster",
            attacker.path(),
            ATTACKER,
            SocketAddr::from((NODE, 7380)),
        ),
        (
            "dns-tcp",
            attacker.path(),
            ATTACKER,
            SocketAddr::from((NODE, 53)),
        ),
        (
            "admin",
            host,
            LOCAL_ATTACKER,
            SocketAddr::from((Ipv4Addr::LOCALHOST, 7381)),
        ),
    ];
    let mut held = Vec::new();
    for (listener, netns, source, target) in targets {
        let streams = open_idle(netns, source, target, ATTACK);
        assert!(
            streams.len() >= ATTACK / 2,
            "{listener}: only {} of {ATTACK} connections went through: over the cap they are accepted and closed",
            streams.len()
        );
        held.push((listener, streams));
    }
    // Give the listeners a moment to close what is over the caps.
    std::thread::sleep(Duration::from_millis(500));
    for (listener, streams) in &held {
        let open = still_open(streams);
        assert!(
            open <= PER_CLIENT,
            "{listener}: {open} of the attacker's connections are held (at most {PER_CLIENT} per client)"
        );
    }

    // Under attack: DNS (UDP, TCP, forwarding) and dnsctl still work.
    dns_answers(&resolver)
        .unwrap_or_else(|error| panic!("under attack: {error}\n{}", cluster.logs()));
    dnsctl_status(&cluster)
        .unwrap_or_else(|error| panic!("under attack: {error}\n{}", cluster.logs()));
    let during = open_handles(pid);
    assert!(
        during <= baseline + 3 * PER_CLIENT + 64,
        "the daemon holds {during} handles under attack ({baseline} before)"
    );
    // What the operator sees: the refusals counted per listener, and the
    // open connections within the caps.
    let metrics = cluster
        .get_text(1, "/metrics")
        .expect("a scrape under attack");
    for (listener, _) in &held {
        let refused = sample(
            &metrics,
            "raftmasq_connections_refused_total",
            listener,
            Some("client_full"),
        );
        assert!(
            refused >= (ATTACK / 2 - PER_CLIENT) as f64,
            "{listener}: {refused} refusals counted\n{metrics}"
        );
        let open = sample(&metrics, "raftmasq_connections_open", listener, None);
        assert!(
            open >= PER_CLIENT as f64 && open <= (PER_CLIENT + 8) as f64,
            "{listener}: {open} connections open\n{metrics}"
        );
    }
    let logs = cluster.logs();
    let refusals = logs.matches("over the listener's cap").count();
    assert!(
        refusals <= 12,
        "{refusals} log lines for refused connections"
    );

    // The attacker goes: the node is as before.
    drop(held);
    let recovered = wait_until(Duration::from_secs(15), Duration::from_millis(200), || {
        open_handles(pid) <= baseline + 8
    });
    assert!(
        recovered,
        "handles after the attack: {} ({baseline} before)",
        open_handles(pid)
    );
    dns_answers(&resolver).unwrap_or_else(|error| panic!("after the attack: {error}"));
    dnsctl_status(&cluster).unwrap_or_else(|error| panic!("after the attack: {error}"));
}
