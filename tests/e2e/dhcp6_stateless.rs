//! Stateless DHCPv6 end to end on the netns testbed (`[ipv6] mode =
//! "stateless"`, LXD's default for a managed bridge): the router
//! advertisements carry the O flag and keep SLAAC; a real ISC `dhclient -6
//! -S` gets the DNS servers and the search domain by Information-request on
//! every host; with a node killed (-9), the other hosts still answer.
//!
//! Debian's busybox has no `udhcpc6` applet (`busybox --list`), so dhclient
//! is the client here; dhcpcd asks by itself when it sees the O flag.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use raftmasq_tests::netns::{self, Container, NsProcess, wait_until};
use raftmasq_tests::testbed_cluster::{
    TestbedCluster, TestbedOptions, ipv6_address, slaac_address,
};

use crate::ipv6::{counter, enable_slaac, solicit_until_heard};

const TOOLS: &[&str] = &["ip", "bridge", "curl", "dhclient", "rdisc6", "sysctl"];
const ANSWER_WAIT: Duration = Duration::from_secs(20);
const SLAAC_WAIT: Duration = Duration::from_secs(30);

/// dhclient's files for one run, in a directory of its own: the script
/// records what dhclient hands it instead of configuring anything.
fn client_dir(work: &Path, name: &str) -> PathBuf {
    let dir = work.join(name);
    fs::create_dir_all(&dir).expect("client dir");
    let script = dir.join("script");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\nenv | grep -E '^(reason|new_dhcp6_)' | sort >> {events}\necho --- >> {events}\n",
            events = dir.join("events").display()
        ),
    )
    .expect("script");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::write(
        dir.join("dhclient.conf"),
        "request dhcp6.name-servers, dhcp6.domain-search;\n",
    )
    .expect("conf");
    dir
}

/// Runs `dhclient -6 -S` (Information-request only) in `container` and
/// returns what its script saw once the DNS servers arrived.
fn inform(container: &Container, work: &Path, name: &str) -> String {
    let dir = client_dir(work, name);
    let file = |f: &str| dir.join(f).display().to_string();
    let args = [
        "dhclient".to_string(),
        "-6".into(),
        "-S".into(),
        "-d".into(),
        "-v".into(),
        "-cf".into(),
        file("dhclient.conf"),
        "-sf".into(),
        file("script"),
        "-lf".into(),
        file("leases"),
        "-pf".into(),
        file("pid"),
        "eth0".into(),
    ];
    let mut client: NsProcess = container
        .spawn(&args, &dir.join("log"))
        .expect("dhclient -6");
    let events = dir.join("events");
    let answered = wait_until(ANSWER_WAIT, Duration::from_millis(100), || {
        fs::read_to_string(&events).is_ok_and(|text| text.contains("new_dhcp6_name_servers="))
    });
    client.kill();
    let seen = fs::read_to_string(&events).unwrap_or_default();
    assert!(
        answered,
        "{name}: no Information-request answered within {ANSWER_WAIT:?}\nscript saw:\n{seen}\nlog:\n{}",
        fs::read_to_string(dir.join("log")).unwrap_or_default()
    );
    seen
}

/// The value of `key=` in the script's environment dump.
fn value<'a>(events: &'a str, key: &str) -> &'a str {
    events
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_default()
        .trim_matches('\'')
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn stateless_clients_get_dns_by_information_request_from_every_host_and_after_a_death() {
    netns::require("stateless DHCPv6", TOOLS);
    let options = TestbedOptions {
        ipv6: true,
        ipv6_extra: "mode = \"stateless\"".into(),
        ..TestbedOptions::default()
    };
    let mut cluster = TestbedCluster::start_with(crate::binary(), "d6s", 3, &options);
    cluster.wait_ready(Duration::from_secs(30));
    let work = tempfile::TempDir::new().expect("client dir");
    let mac = "02:42:ac:10:06:01";
    let c1 = cluster
        .testbed
        .add_container(1, "info1", mac)
        .expect("container on host 1");
    let c3 = cluster
        .testbed
        .add_container(3, "info3", "02:42:ac:10:06:03")
        .expect("container on host 3");
    for container in [&c1, &c3] {
        enable_slaac(container);
    }

    // The advertisements say "other configuration by DHCPv6" and still let
    // clients form their own addresses.
    let heard = solicit_until_heard(&c1, &[1, 2, 3]);
    assert!(heard.contains("Stateful other conf. : Yes"), "{heard}");
    assert!(heard.contains("Stateful address conf. : No"), "{heard}");
    assert!(heard.contains("Autonomous address conf.: Yes"), "{heard}");
    let address = slaac_address(mac);
    let formed = wait_until(SLAAC_WAIT, Duration::from_millis(200), || {
        c1.exec(&["ip", "-6", "addr", "show", "dev", "eth0", "scope", "global"])
            .unwrap_or_default()
            .contains(&format!("{address}/64"))
    });
    assert!(formed, "no SLAAC address {address} in stateless mode");

    // Information-request from containers on two hosts.
    let hosts: Vec<String> = (1..=3u8).map(ipv6_address).collect();
    for (container, name) in [(&c1, "info1"), (&c3, "info3")] {
        let seen = inform(container, work.path(), name);
        let servers = value(&seen, "new_dhcp6_name_servers");
        assert!(
            hosts
                .iter()
                .any(|host| servers.split_whitespace().any(|s| s == host)),
            "{name}: name servers {servers:?} are not a host's address\n{seen}"
        );
        assert_eq!(value(&seen, "new_dhcp6_domain_search"), "lxd.", "{seen}");
        assert!(!value(&seen, "new_dhcp6_server_id").is_empty(), "{seen}");
        println!("{name}: {seen}");
    }
    let replies: u64 = (1..=3u8)
        .map(|host| counter(&cluster, host, "raftmasq_dhcp6_sent_total{type=\"reply\"} "))
        .sum();
    assert!(replies >= 2, "{replies} replies counted by the hosts");

    // Host 1's node dies (kill -9). Stateless DHCPv6 needs no leader and
    // no quorum: the other hosts answer, naming themselves.
    cluster.kill_node(1);
    let seen = inform(&c1, work.path(), "info1-after");
    let servers = value(&seen, "new_dhcp6_name_servers");
    assert!(
        !servers.split_whitespace().any(|s| s == ipv6_address(1)) && !servers.is_empty(),
        "after host 1 died: {servers:?}\n{seen}"
    );
}
