//! DHCPv6 (`[ipv6] mode = "stateful"`) end to end on the netns testbed: a
//! container's ISC `dhclient -6` (its own lease, pid and script files, a
//! DUID-LL from its MAC) gets an address from the range, and every host
//! answers its AAAA and ip6.arpa PTR under the name of the same MAC's v4
//! lease. Debian's busybox has no `udhcpc6` applet (`busybox --list | grep
//! udhcpc6` prints nothing), so busybox is not one of the v6 clients.
//!
//! dhcpcd is `dhcp6_dhcpcd.rs`; the failover (kill -9 the leader, a new
//! client within the v4 bound, renewals without NoBinding) is
//! `dhcp6_failover.rs`.

use std::net::Ipv6Addr;
use std::time::Duration;

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::dig::dig_short;
use raftmasq_tests::netns::{self, Container, wait_until};
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions};

const TOOLS: &[&str] = &[
    "ip", "bridge", "curl", "udhcpc", "dig", "dhclient", "sysctl",
];
const LEASE_WAIT: Duration = Duration::from_secs(20);

/// `ipv6.range` of [`stateful_options`], as numbers.
const RANGE: (u128, u128) = (
    0xfd42_0001_0000_0000_0000_0000_0000_1000,
    0xfd42_0001_0000_0000_0000_0000_0000_1fff,
);

/// The testbed with `[ipv6] mode = "stateful"`, its range and `lease_time`.
pub(crate) fn stateful_options(lease_time: &str) -> TestbedOptions {
    TestbedOptions {
        ipv6: true,
        ipv6_extra: format!(
            "mode = \"stateful\"\nrange = \"fd42:1::1000-fd42:1::1fff\"\nlease_time = \"{lease_time}\"\n"
        ),
        ..TestbedOptions::default()
    }
}

/// IPv6 on in a testbed container (it starts with it off), without SLAAC:
/// the address comes from DHCPv6. Returns once the link-local address is
/// usable (the clients bind to it).
pub(crate) fn enable_ipv6(container: &Container) {
    for setting in [
        "net.ipv6.conf.eth0.addr_gen_mode=0",
        "net.ipv6.conf.eth0.accept_ra=0",
        "net.ipv6.conf.eth0.accept_dad=0",
        "net.ipv6.conf.all.disable_ipv6=0",
        "net.ipv6.conf.lo.disable_ipv6=0",
        "net.ipv6.conf.eth0.disable_ipv6=0",
    ] {
        container
            .exec(&["sysctl", "-q", "-w", setting])
            .unwrap_or_else(|e| panic!("sysctl {setting}: {e}"));
    }
    let link_local = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        container
            .exec(&["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link"])
            .is_ok_and(|out| out.contains("fe80::") && !out.contains("tentative"))
    });
    assert!(
        link_local,
        "no link-local address on eth0 of {}",
        container.name
    );
}

pub(crate) fn in_range(address: Ipv6Addr) -> bool {
    (RANGE.0..=RANGE.1).contains(&u128::from(address))
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn dhclient6_gets_a_stateful_lease_named_in_dns_on_every_host() {
    netns::require("dhcpv6", TOOLS);
    let cluster = TestbedCluster::start_with(crate::binary(), "d6", 3, &stateful_options("1h"));
    cluster.wait_ready(Duration::from_secs(30));
    let work = tempfile::TempDir::new().expect("client dir");
    let c1 = cluster
        .testbed
        .add_container(2, "d6web", "02:42:ac:10:02:02")
        .expect("container on host 2");
    let v4 = DhcpClient::start(
        ClientKind::Udhcpc,
        &c1,
        work.path(),
        &ClientOptions::hostname("d6web"),
    )
    .expect("udhcpc");
    v4.wait_lease(LEASE_WAIT)
        .unwrap_or_else(|e| panic!("v4: {e}\n{}\n{}", v4.log(), cluster.logs()));
    enable_ipv6(&c1);
    let lease_file = work.path().join("dhclient6.leases");
    let pid_file = work.path().join("dhclient6.pid");
    let output = c1.exec(&[
        "timeout",
        "20",
        "dhclient",
        "-6",
        "-1",
        "-v",
        "-D",
        "LL",
        "-lf",
        lease_file.to_str().expect("path"),
        "-pf",
        pid_file.to_str().expect("path"),
        "-sf",
        "/bin/true",
        "eth0",
    ]);
    let leases = std::fs::read_to_string(&lease_file).unwrap_or_default();
    let address = leases
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("iaaddr ")
                .map(|rest| rest.trim_end_matches(" {").to_string())
        })
        .unwrap_or_else(|| {
            panic!(
                "no iaaddr in the lease file: {output:?}\n{leases}\n{}",
                cluster.logs()
            )
        });
    let parsed: std::net::Ipv6Addr = address.parse().expect("an IPv6 address");
    assert!(in_range(parsed), "{parsed} outside the range");
    for host in 1..=3 {
        // Over IPv4: `-sf /bin/true` leaves the leased address off eth0, so
        // the container has no global IPv6 source to ask from.
        let server = format!("172.16.0.{host}");
        let found = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
            dig_short(&c1.netns, &server, &["AAAA", "d6web.lxd"]).trim() == address
        });
        assert!(
            found,
            "host {host} has no AAAA {address} for d6web.lxd\n{}",
            cluster.logs()
        );
        let ptr = dig_short(&c1.netns, &server, &["-x", &address]);
        assert_eq!(ptr.trim(), "d6web.lxd.", "host {host} PTR");
    }
    check_dnsctl_lists_the_v6_lease(&cluster, &address);
    if let Ok(pid) = std::fs::read_to_string(&pid_file) {
        let _ = c1.exec(&["kill", pid.trim()]);
    }
}

/// `dnsctl leases --json` lists the v6 lease after the v4 one, tagged
/// `"family": "ipv6"` with its DUID (a DUID-LL of the MAC, `-D LL`), IAID,
/// address, name and expiry; `--mac` selects both families, `--duid` the v6
/// lease only, and the text table shows it too.
fn check_dnsctl_lists_the_v6_lease(cluster: &TestbedCluster, address: &str) {
    let run = |args: &[&str]| {
        let output = cluster
            .testbed
            .host(1)
            .command(crate::dnsctl::dnsctl_binary())
            .arg("--config")
            .arg(cluster.config_path(1))
            .args(args)
            .output()
            .expect("run dnsctl");
        assert!(
            output.status.success(),
            "dnsctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let json = |args: &[&str]| -> Vec<serde_json::Value> {
        serde_json::from_str(&run(args)).expect("dnsctl JSON")
    };
    let mac = "02:42:ac:10:02:02";
    let both = json(&["--json", "--consistent", "leases", "--mac", mac]);
    assert_eq!(both.len(), 2, "one v4 and one v6 lease: {both:?}");
    assert_eq!(both[0]["state"], "bound", "v4 first: {both:?}");
    let v6 = &both[1];
    assert_eq!(v6["family"], "ipv6");
    assert_eq!(v6["address"], address);
    assert_eq!(v6["name"], "d6web");
    assert_eq!(v6["mac"], mac);
    let duid = v6["duid"].as_str().expect("a DUID");
    assert_eq!(duid, "00:03:00:01:02:42:ac:10:02:02", "DUID-LL of the MAC");
    assert!(v6["iaid"].is_u64() && v6["expires_at"].is_u64(), "{v6}");
    let by_duid = json(&["--json", "--consistent", "leases", "--duid", duid]);
    assert_eq!(by_duid.len(), 1, "{by_duid:?}");
    assert_eq!(by_duid[0]["address"], address);
    let none = json(&["--json", "leases", "--name", "no-such-name"]);
    assert!(none.is_empty(), "{none:?}");
    let text = run(&["leases", "--name", "d6web"]);
    assert!(text.contains(address) && text.contains(duid), "{text}");
}
