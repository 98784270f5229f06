//! Learners with real daemons (issue 17): three voters and a learner on
//! loopback. The learner answers DNS from its replica and shows as a
//! learner; with the voters' quorum lost it still does not vote or lead and
//! says so; once they are back it follows again; promote and demote work
//! through `dnsctl`.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use raftmasq_tests::admin::AdminClient;
use raftmasq_tests::cluster::NodeFiles;
use raftmasq_tests::dnsprobe::{self, Reply, TYPE_A};
use raftmasq_tests::{Daemon, LoopbackCluster};
use serde_json::Value;

use crate::dnsctl::{Run, bind_at, dnsctl_binary, dnsctl_command, eventually};

const LEARNER: u64 = 4;

fn dnsctl(node: &NodeFiles, args: &[&str]) -> Run {
    let output = dnsctl_command(dnsctl_binary())
        .arg("--config")
        .arg(&node.config)
        .args(args)
        .output()
        .expect("run dnsctl");
    Run::from(output)
}

/// The A record `server` gives for `name`, if it answers with exactly one.
fn resolve(server: &str, name: &str) -> Option<Ipv4Addr> {
    let server: SocketAddr = server.parse().ok()?;
    let reply = dnsprobe::udp_exchange(
        server,
        &dnsprobe::query(7, name, TYPE_A),
        Duration::from_secs(1),
    )
    .ok()?;
    let header = Reply::parse(&reply)?;
    if header.rcode != dnsprobe::NOERROR || header.answers != 1 || !header.authoritative {
        return None;
    }
    // One answer and nothing after it: its RDATA, the address, ends the message.
    let octets: [u8; 4] = reply.get(reply.len().checked_sub(4)?..)?.try_into().ok()?;
    Some(Ipv4Addr::from(octets))
}

/// `members --json` through `node`: id → role.
fn roles(node: &NodeFiles) -> Vec<(u64, String)> {
    let view = dnsctl(node, &["members", "--json"]).json();
    view["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["id"].as_u64().expect("id"),
                m["role"].as_str().expect("role").to_string(),
            )
        })
        .collect()
}

fn status(node: &NodeFiles) -> Value {
    dnsctl(node, &["status", "--json"]).status_json()
}

fn logs(daemons: &[Option<Daemon>]) -> String {
    daemons
        .iter()
        .flatten()
        .map(|d| format!("--- {}\n{}", d.log.display(), d.log_text()))
        .collect()
}

#[test]
fn a_learner_answers_dns_never_leads_and_can_be_promoted_and_demoted() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cluster = LoopbackCluster::with_roles(4, &[LEARNER], true, "upstream = [\"127.0.0.1:9\"]");
    let node = |id: u64| &cluster.nodes[usize::try_from(id - 1).expect("id")];
    let mut daemons: Vec<Option<Daemon>> = cluster
        .nodes
        .iter()
        .map(|n| Some(Daemon::start(crate::binary(), &n.config, &n.log)))
        .collect();
    let admin = AdminClient::default();
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.admin_addr.clone()).collect();
    let leader = rt
        .block_on(admin.wait_ready(&addrs, Duration::from_secs(30)))
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&daemons)));
    assert_ne!(leader, LEARNER);

    // The learner joined by itself, as a learner.
    let expected = vec![
        (1, "voter".to_string()),
        (2, "voter".to_string()),
        (3, "voter".to_string()),
        (LEARNER, "learner".to_string()),
    ];
    assert!(
        eventually(Duration::from_secs(15), || roles(node(LEARNER)) == expected),
        "roles: {:?}\n{}",
        roles(node(LEARNER)),
        logs(&daemons)
    );
    let text = dnsctl(node(LEARNER), &["members"]).ok();
    assert!(text.contains("3 voters, 1 learner"), "{text}");
    let own = status(node(LEARNER));
    assert_eq!(own["role"], "learner", "{own}");
    let member_roles: Vec<&str> = own["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["role"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(member_roles.iter().filter(|r| **r == "learner").count(), 1);

    // A write through the learner reaches the leader; the learner answers
    // DNS for the name from its own replica.
    let lease = rt
        .block_on(admin.command(
            &node(LEARNER).admin_addr,
            &bind_at([2, 0, 0, 0, 0, 1], "web1", LEARNER, 0),
        ))
        .unwrap_or_else(|e| panic!("bind through the learner: {e}\n{}", logs(&daemons)));
    let address: Ipv4Addr = lease["lease"]["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {lease}"));
    let learner_dns = node(LEARNER).dns_addr.clone().expect("dns on");
    assert!(
        eventually(Duration::from_secs(10), || resolve(
            &learner_dns,
            "web1.lxd"
        ) == Some(address)),
        "the learner does not answer web1.lxd with {address}\n{}",
        logs(&daemons)
    );

    // Kill two voters, the leader among them: no quorum. The learner does
    // not vote or lead, says there is no leader and no quorum, and still
    // answers DNS from its replica.
    let survivor = (1..=3).find(|id| *id != leader).expect("a follower");
    let killed: Vec<u64> = (1..=3).filter(|id| *id != survivor).collect();
    for id in &killed {
        if let Some(mut daemon) = daemons[usize::try_from(id - 1).expect("id")].take() {
            daemon.kill_hard();
        }
    }
    assert!(
        eventually(Duration::from_secs(10), || {
            let own = status(node(LEARNER));
            own["has_quorum"] == false && own["leader"].is_null()
        }),
        "the learner still claims a leader: {}",
        status(node(LEARNER))
    );
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let own = status(node(LEARNER));
        assert_eq!(own["role"], "learner", "{own}");
        assert_eq!(own["has_quorum"], false, "{own}");
        let survivor_status = status(node(survivor));
        assert_ne!(survivor_status["role"], "leader", "{survivor_status}");
        std::thread::sleep(Duration::from_millis(200));
    }
    dnsctl(node(LEARNER), &["status"]).exits(4);
    assert_eq!(resolve(&learner_dns, "web1.lxd"), Some(address));

    // The voters come back: a voter leads, the learner follows it.
    for id in &killed {
        let files = node(*id);
        daemons[usize::try_from(id - 1).expect("id")] =
            Some(Daemon::start(crate::binary(), &files.config, &files.log));
    }
    assert!(
        eventually(Duration::from_secs(20), || {
            let own = status(node(LEARNER));
            own["has_quorum"] == true && own["leader"].as_u64().is_some_and(|l| l <= 3)
        }),
        "no recovery: {}\n{}",
        status(node(LEARNER)),
        logs(&daemons)
    );

    // Promote the learner: it is a voter. Demote the three others: it is
    // the only voter, and leads.
    let out = dnsctl(node(LEARNER), &["members", "promote", "4"]).ok();
    assert!(out.contains("node 4 is now a voter"), "{out}");
    assert!(eventually(Duration::from_secs(10), || roles(node(1))
        .iter()
        .all(|(_, role)| role == "voter")));
    let leader = status(node(LEARNER))["leader"].as_u64().expect("a leader");
    let mut order: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    order.push(leader);
    for id in order {
        let out = dnsctl(node(LEARNER), &["members", "demote", &id.to_string()]).ok();
        assert!(out.contains("is now a learner"), "{out}");
    }
    assert!(
        eventually(Duration::from_secs(15), || {
            let own = status(node(LEARNER));
            own["role"] == "leader" && own["has_quorum"] == true
        }),
        "node 4 does not lead: {}\n{}",
        status(node(LEARNER)),
        logs(&daemons)
    );
    let only_four = vec![
        (1, "learner".to_string()),
        (2, "learner".to_string()),
        (3, "learner".to_string()),
        (LEARNER, "voter".to_string()),
    ];
    assert!(
        eventually(Duration::from_secs(10), || roles(node(LEARNER))
            == only_four),
        "roles: {:?}\n{}",
        roles(node(LEARNER)),
        logs(&daemons)
    );
    let refused = dnsctl(node(LEARNER), &["members", "demote", "4"]);
    if refused.code != 1 {
        panic!(
            "demoting the last voter: exit {}: {}{}\nroles: {:?}\n{}",
            refused.code,
            refused.stdout,
            refused.stderr,
            roles(node(LEARNER)),
            logs(&daemons)
        );
    }
    refused.fails(1, "is the last voter");

    // Back to three voters, and node 4 a learner again.
    for id in 1..=3 {
        dnsctl(node(LEARNER), &["members", "promote", &id.to_string()]).ok();
    }
    let out = dnsctl(node(1), &["members", "demote", "4"]).ok();
    assert!(out.contains("the cluster has 3 voters"), "{out}");
    assert!(
        eventually(Duration::from_secs(15), || roles(node(1)) == expected
            && status(node(LEARNER))["role"] == "learner"
            && status(node(1))["leader"].as_u64().is_some_and(|l| l <= 3)),
        "roles: {:?}\nstatus of 4: {}\nstatus of 1: {}\n{}",
        roles(node(1)),
        status(node(LEARNER)),
        status(node(1)),
        logs(&daemons)
    );
    assert_eq!(resolve(&learner_dns, "web1.lxd"), Some(address));
}
