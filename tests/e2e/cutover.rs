//! Cut-over and rollback (issue 14), run from docs/quickstart-lxd.md: real
//! clients leased by a dnsmasq started with LXD's command line, with LXD's
//! per-instance host files, keep their addresses and names through the
//! switch to raftmasq and again through the rollback to dnsmasq started from
//! the exported files, with no NAK. The shell blocks the quickstart marks
//! `<!-- test: NAME -->` are what runs here, as written there.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use raftmasq_tests::clients::{ClientKind, ClientOptions, DhcpClient};
use raftmasq_tests::dig::dig;
use raftmasq_tests::dnsmasq::Dnsmasq;
use raftmasq_tests::lxd::{self, BridgeMode, LxdHost};
use raftmasq_tests::netns::{self, Container, Host};
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions, lease_for_mac};

const QUICKSTART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/quickstart-lxd.md");

/// The blocks these tests (and `lxd_ipv6`'s) run, in the order the
/// quickstart gives them.
const BLOCKS: &[&str] = &[
    "vars",
    "import-dry-run",
    "import",
    "lxd-stop",
    "serve",
    "rollback-export",
    "rollback-install",
    "lxd-restore",
    "lxd-stop-b",
    "lxd-restore-b",
    "ipv6-a",
];

/// The line the quickstart adds under `[dhcp]` and `[dns]` for the cut-over.
const CUT_OVER: &str = "enabled = false  # cut-over";

/// The quickstart's shell blocks marked `<!-- test: NAME -->`, by name.
fn marked_blocks(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut blocks = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .trim()
            .strip_prefix("<!-- test:")
            .and_then(|rest| rest.strip_suffix("-->"))
            .map(str::trim)
        else {
            continue;
        };
        if lines.next().map(str::trim) != Some("```sh") {
            return Err(format!(
                "<!-- test: {name} --> is not followed by a ```sh block"
            ));
        }
        let mut body = String::new();
        loop {
            match lines.next() {
                Some(line) if line.trim() == "```" => break,
                Some(line) => {
                    body.push_str(line);
                    body.push('\n');
                }
                None => return Err(format!("block {name} is not closed")),
            }
        }
        if blocks.insert(name.to_string(), body).is_some() {
            return Err(format!("block {name} is marked twice"));
        }
    }
    Ok(blocks)
}

pub(crate) fn quickstart_blocks() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(QUICKSTART).expect("docs/quickstart-lxd.md");
    let blocks = marked_blocks(&text).unwrap_or_else(|e| panic!("{QUICKSTART}: {e}"));
    for name in BLOCKS {
        assert!(
            blocks.contains_key(*name),
            "{QUICKSTART} has no block marked <!-- test: {name} -->"
        );
    }
    blocks
}

/// The quickstart's marked blocks are there and well formed, and its LXD
/// settings are the ones the real-LXD fixture (tests/src/lxd.rs) runs.
#[test]
fn the_quickstart_marks_what_the_tests_run() {
    let blocks = quickstart_blocks();
    assert!(blocks["import"].contains("dnsctl import-dnsmasq"));
    assert!(blocks["import"].contains("--lxd-hosts"));
    assert!(blocks["rollback-export"].contains("dnsctl export-dnsmasq"));
    assert!(blocks["serve"].contains(CUT_OVER.trim_start_matches("enabled = false")));
    let doc = std::fs::read_to_string(QUICKSTART).expect("quickstart");
    let fixture = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/src/lxd.rs"))
        .expect("tests/src/lxd.rs");
    for key in [
        "ipv4.dhcp=false",
        "dns.mode=none",
        "raw.dnsmasq=port=0",
        "ipv6.address=none",
        "bridge.external_interfaces=vx0",
        "nictype=bridged",
    ] {
        assert!(doc.contains(key), "the quickstart lacks {key}");
        assert!(
            fixture.contains(&format!("\"{key}\"")),
            "the LXD fixture does not run {key}, which the quickstart tells users to"
        );
    }
    assert!(doc.contains("client_identity = \"mac\""));
    // The parser refuses what it cannot run.
    assert!(marked_blocks("<!-- test: x -->\ntext\n").is_err());
    assert!(marked_blocks("<!-- test: x -->\n```sh\nls\n").is_err());
    assert!(
        marked_blocks("<!-- test: x -->\n```sh\nls\n```\n<!-- test: x -->\n```sh\n```\n").is_err()
    );
}

/// Runs the `vars` block then `name` with `sh -eu` in `host`'s namespace
/// (for at most two minutes),
/// with the test's directories for the quickstart's variables and the built
/// binaries first on PATH.
pub(crate) fn run_block(
    blocks: &BTreeMap<String, String>,
    name: &str,
    host: &Host,
    env: &[(&str, PathBuf)],
) -> Output {
    let script = format!("{}{}", blocks["vars"], blocks[name]);
    let bin = crate::binary().parent().expect("target dir");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Bounded: a block that hangs fails the test instead of stalling it.
    let mut command = host.command("timeout");
    command
        .args(["120", "sh", "-euc", &script])
        .env("PATH", path);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("sh");
    assert!(
        output.status.success(),
        "quickstart block {name} failed:\n{script}\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

struct Instance {
    name: &'static str,
    host: u8,
    mac: &'static str,
    kind: ClientKind,
    /// What the client sends as option 12.
    sends: &'static str,
    /// Its LXD host file line, if LXD wrote one.
    lxd_line: Option<&'static str>,
}

const INSTANCES: &[Instance] = &[
    // A static address set in LXD.
    Instance {
        name: "c1",
        host: 1,
        mac: "00:16:3e:0c:00:01",
        kind: ClientKind::Dhclient,
        sends: "c1",
        lxd_line: Some("00:16:3e:0c:00:01,172.16.0.77,c1"),
    },
    // LXD's name wins over the hostname the client sends.
    Instance {
        name: "c2",
        host: 2,
        mac: "00:16:3e:0c:00:02",
        kind: ClientKind::Udhcpc,
        sends: "ubuntu",
        lxd_line: Some("00:16:3e:0c:00:02,c2"),
    },
    Instance {
        name: "c3",
        host: 3,
        mac: "00:16:3e:0c:00:03",
        kind: ClientKind::Dhcpcd,
        sends: "c3",
        lxd_line: Some("00:16:3e:0c:00:03,c3"),
    },
    // systemd-networkd, Ubuntu's client: option 61 is a DUID, which LXD's
    // dnsmasq records; keyed by MAC in raftmasq, exported as `*`.
    Instance {
        name: "c6",
        host: 3,
        mac: "00:16:3e:0c:00:06",
        kind: ClientKind::Networkd,
        sends: "c6",
        lxd_line: Some("00:16:3e:0c:00:06,c6"),
    },
    // No host file (a client LXD does not manage): its own name.
    Instance {
        name: "web",
        host: 1,
        mac: "00:16:3e:0c:00:04",
        kind: ClientKind::Udhcpc,
        sends: "web",
        lxd_line: None,
    },
];

const RANGE: (Ipv4Addr, Ipv4Addr) = (
    Ipv4Addr::new(172, 16, 0, 10),
    Ipv4Addr::new(172, 16, 0, 250),
);

fn names_resolve(cluster: &TestbedCluster, server_hosts: &[u8], expected: &[(String, Ipv4Addr)]) {
    for host in server_hosts {
        let server = format!("172.16.0.{host}");
        for (name, address) in expected {
            let fqdn = format!("{name}.lxd");
            let ok = netns::wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
                dig(
                    &cluster.testbed.host(1).netns,
                    &server,
                    &[],
                    &[(&fqdn, "A")],
                )
                .is_ok_and(|replies| replies[0].data("A") == vec![address.to_string()])
            });
            assert!(
                ok,
                "{fqdn} is not {address} at {server}\n{}",
                cluster.logs()
            );
        }
    }
}

fn renew_all(
    clients: &mut [DhcpClient<'_>],
    before: &[Ipv4Addr],
    what: &str,
    logs: &dyn Fn() -> String,
) {
    for (client, address) in clients.iter_mut().zip(before) {
        let renewed = client.renew(Duration::from_secs(40)).unwrap_or_else(|e| {
            panic!(
                "{what}: {:?} renew: {e}\n{}\n{}",
                client.kind,
                client.log(),
                logs()
            )
        });
        assert_eq!(
            renewed.address,
            Some(*address),
            "{what}: {:?} kept its address",
            client.kind
        );
        assert!(
            !client.events().iter().any(|e| e.event == "NAK"),
            "{what}: {:?} was NAKed:\n{}",
            client.kind,
            client.log()
        );
    }
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn lxd_dnsmasq_clients_keep_addresses_and_names_through_cutover_and_rollback() {
    let mut tools = vec![
        "ip", "bridge", "curl", "dnsmasq", "dig", "sh", "sed", "cp", "timeout",
    ];
    for instance in INSTANCES {
        tools.extend(instance.kind.tools());
    }
    netns::require("cut-over and rollback", &tools);
    let blocks = quickstart_blocks();
    // The quickstart's configuration for the cut-over: keyed by MAC, DHCP
    // and DNS off while LXD's dnsmasq holds the ports.
    let options = TestbedOptions {
        dhcp_extra: format!("client_identity = \"mac\"\n{CUT_OVER}"),
        dns_extra: CUT_OVER.to_string(),
        ..TestbedOptions::default()
    };
    let mut cluster = TestbedCluster::prepare_with(crate::binary(), "cut", 3, &options);
    let dir = cluster.dir.path().to_path_buf();
    // LXD's networks/lxdbr0 on host 1, whose LXD served DHCP.
    let net = dir.join("lxd/networks/lxdbr0");
    let hosts_dir = net.join("dnsmasq.hosts");
    std::fs::create_dir_all(&hosts_dir).expect("hosts dir");
    for instance in INSTANCES {
        if let Some(line) = instance.lxd_line {
            std::fs::write(hosts_dir.join(instance.name), format!("{line}\n")).expect("host file");
        }
    }
    // An IPv6-only entry (nothing for DHCPv4): reported, not imported.
    std::fs::write(hosts_dir.join("v6only"), "00:16:3e:0c:00:09,[fd42::9]\n").expect("host file");
    let backup = dir.join("backup");
    let no_conf = PathBuf::from("/dev/null");
    let dnsmasq = Dnsmasq::start_like_lxd(cluster.testbed.host(1), &net, RANGE, "1h", &no_conf)
        .expect("dnsmasq");

    let containers: Vec<Container> = INSTANCES
        .iter()
        .map(|i| {
            cluster
                .testbed
                .add_container(i.host, i.name, i.mac)
                .expect("container")
        })
        .collect();
    let mut clients: Vec<DhcpClient<'_>> = INSTANCES
        .iter()
        .zip(&containers)
        .map(|(instance, container)| {
            let mut options = ClientOptions::hostname(instance.sends);
            options.dhclient_renewal_secs = Some(8);
            DhcpClient::start(instance.kind, container, &dir, &options).expect("client")
        })
        .collect();
    let mut before = Vec::new();
    for client in &clients {
        let lease = client
            .wait_lease(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{e}\n{}", dnsmasq.log()));
        assert_eq!(lease.server_id, Some(Ipv4Addr::new(172, 16, 0, 1)));
        before.push(lease.address.expect("address"));
    }
    assert_eq!(
        before[0],
        Ipv4Addr::new(172, 16, 0, 77),
        "LXD's static address"
    );
    let names: Vec<(String, Ipv4Addr)> = INSTANCES
        .iter()
        .zip(&before)
        .map(|(i, a)| (i.name.to_string(), *a))
        .collect();
    // dnsmasq names them as LXD's host files say (c2, not "ubuntu").
    names_resolve(&cluster, &[1], &names);

    // raftmasq on every host, DHCP and DNS off: the ports are dnsmasq's.
    for host in 1..=3 {
        cluster.start_node(host);
    }
    cluster.wait_ready(Duration::from_secs(30));
    let env = |cluster: &TestbedCluster, host: u8| {
        vec![
            ("LXD_NET", net.clone()),
            ("BACKUP", backup.clone()),
            ("RAFTMASQ_CONFIG", cluster.config_path(host)),
        ]
    };
    let h1 = env(&cluster, 1);

    // Step 1: the dry run lists every line it will not import.
    let dry = run_block(&blocks, "import-dry-run", cluster.testbed.host(1), &h1);
    let dry = String::from_utf8_lossy(&dry.stdout).into_owned();
    // One reservation (c1), three names (c2, c3, c6), five leases.
    assert!(dry.contains("dry run: 9 to add"), "{dry}");
    assert!(
        dry.contains("v6only:1") && dry.contains("1 unsupported"),
        "{dry}"
    );
    assert!(
        cluster.leases(2, true).is_empty(),
        "the dry run changed the cluster"
    );
    // Step 2: the import, while dnsmasq still answers.
    let import = run_block(&blocks, "import", cluster.testbed.host(1), &h1);
    let import = String::from_utf8_lossy(&import.stdout).into_owned();
    let leases = cluster.leases(3, true);
    assert_eq!(leases.len(), INSTANCES.len(), "{import}\n{leases:?}");
    for (instance, address) in INSTANCES.iter().zip(&before) {
        let lease = lease_for_mac(&leases, instance.mac)
            .unwrap_or_else(|| panic!("{} not imported: {import}", instance.name));
        assert_eq!(lease["address"], address.to_string());
        assert_eq!(lease["granted_name"], instance.name, "{lease}");
    }

    // Step 3: LXD's dnsmasq stops; step 4: raftmasq serves.
    drop(dnsmasq);
    for host in 1..=3 {
        let pairs = env(&cluster, host);
        run_block(&blocks, "serve", cluster.testbed.host(host), &pairs);
        let text = std::fs::read_to_string(cluster.config_path(host)).expect("config");
        assert!(!text.contains("cut-over"), "the serve block left {text}");
        cluster.kill_node(host);
        cluster.start_node(host);
    }
    cluster.wait_ready(Duration::from_secs(30));
    // Step 5: the import again: nothing new.
    let again = run_block(&blocks, "import", cluster.testbed.host(1), &h1);
    let again = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(
        again.contains("0 to add, 0 applied, 9 unchanged"),
        "{again}"
    );

    // Every host answers the names from the import before anyone renews.
    names_resolve(&cluster, &[1, 2, 3], &names);
    renew_all(&mut clients, &before, "after the cut-over", &|| {
        cluster.logs()
    });
    names_resolve(&cluster, &[1, 2, 3], &names);

    // A container launched under raftmasq: only the export knows it.
    let late = cluster
        .testbed
        .add_container(2, "c5", "00:16:3e:0c:00:05")
        .expect("container");
    let mut late_client = DhcpClient::start(
        ClientKind::Udhcpc,
        &late,
        &dir,
        &ClientOptions::hostname("c5"),
    )
    .expect("client");
    let late_address = late_client
        .wait_lease(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", cluster.logs()))
        .address
        .expect("address");
    let mut names = names;
    names.push(("c5".to_string(), late_address));
    let stale = std::fs::read_to_string(net.join("dnsmasq.leases")).expect("lease file");
    assert!(!stale.contains("00:16:3e:0c:00:05"), "{stale}");

    // Rollback: raftmasq stops; the export goes where LXD's dnsmasq reads it.
    for host in 1..=3 {
        cluster.kill_node(host);
    }
    run_block(&blocks, "rollback-export", cluster.testbed.host(1), &h1);
    run_block(&blocks, "rollback-install", cluster.testbed.host(1), &h1);
    let exported = std::fs::read_to_string(net.join("dnsmasq.leases")).expect("lease file");
    assert_eq!(exported.lines().count(), INSTANCES.len() + 1, "{exported}");
    let reservations = backup.join("reservations.conf");
    assert_eq!(
        std::fs::read_to_string(&reservations).expect("reservations"),
        "dhcp-host=00:16:3e:0c:00:01,172.16.0.77,c1\n"
    );
    // LXD starts its dnsmasq again with raw.dnsmasq = the reservations.
    let dnsmasq =
        Dnsmasq::start_like_lxd(cluster.testbed.host(1), &net, RANGE, "1h", &reservations)
            .expect("dnsmasq after the rollback");
    // dnsmasq answers every name from the exported file before anyone
    // renews, c5's too, which only the export has.
    names_resolve(&cluster, &[1], &names);
    // No raftmasq runs any more: every ACK is dnsmasq's.
    renew_all(&mut clients, &before, "after the rollback", &|| {
        dnsmasq.log()
    });
    renew_all(
        std::slice::from_mut(&mut late_client),
        &[late_address],
        "c5 after the rollback",
        &|| dnsmasq.log(),
    );
    assert!(!dnsmasq.log().contains("DHCPNAK"), "{}", dnsmasq.log());
    names_resolve(&cluster, &[1], &names);
    drop((clients, late_client));
    drop(dnsmasq);
}

/// LXD's lease file and host files, for failure messages.
fn lxd_files(net: &std::path::Path) -> String {
    let mut text = std::fs::read_to_string(net.join("dnsmasq.leases")).unwrap_or_default();
    if let Ok(entries) = std::fs::read_dir(net.join("dnsmasq.hosts")) {
        for entry in entries.flatten() {
            text.push_str(&format!(
                "{}: {}",
                entry.file_name().to_string_lossy(),
                std::fs::read_to_string(entry.path()).unwrap_or_default()
            ));
        }
    }
    text
}

/// The tools an LXD cut-over test needs, the quickstart's blocks, and a
/// three-host testbed (not started) keyed on MACs, as the LXD quickstart is.
fn lxd_cutover_testbed(what: &str, tag: &str) -> (BTreeMap<String, String>, TestbedCluster) {
    let mut tools = lxd::TOOLS.to_vec();
    tools.extend(["bridge", "curl", "dnsmasq", "sh", "sed", "cp", "timeout"]);
    netns::require(what, &tools);
    let options = TestbedOptions {
        dhcp_extra: format!("client_identity = \"mac\"\n{CUT_OVER}"),
        dns_extra: CUT_OVER.to_string(),
        ..TestbedOptions::default()
    };
    let cluster = TestbedCluster::prepare_with(crate::binary(), tag, 3, &options);
    (quickstart_blocks(), cluster)
}

/// Launches `c1` (with LXD's static address 172.16.0.77) and `c2` while
/// LXD's dnsmasq serves the bridge; returns each name with the address LXD
/// leased it.
fn launch_leased_by_lxd(lxd: &LxdHost) -> Vec<(&'static str, Ipv4Addr)> {
    lxd.launch("c1", &[]).expect("launch c1");
    lxd.lxc(&[
        "config",
        "device",
        "override",
        "c1",
        "eth0",
        "ipv4.address=172.16.0.77",
    ])
    .expect("static address");
    lxd.launch("c2", &[]).expect("launch c2");
    let mut leased = Vec::new();
    for name in ["c1", "c2"] {
        let (address, said) = lxd_dhcp(lxd, name, None);
        assert!(said.contains("obtained from 172.16.0.1"), "{said}");
        leased.push((name, address.parse::<Ipv4Addr>().expect(&said)));
    }
    assert_eq!(
        leased[0].1,
        Ipv4Addr::new(172, 16, 0, 77),
        "LXD's static address"
    );
    leased
}

/// The quickstart's `serve` block on `host`, then its node restarted on it.
fn restart_serving(
    blocks: &BTreeMap<String, String>,
    cluster: &mut TestbedCluster,
    host: u8,
    env: &[(&str, PathBuf)],
) {
    run_block(blocks, "serve", cluster.testbed.host(host), env);
    cluster.kill_node(host);
    cluster.start_node(host);
}

/// Every instance asks for its address again and gets it, with no NAK;
/// `context` (the cluster's logs, say) goes into a failure's message.
/// Returns what udhcpc said for each.
fn rebind_keeps_addresses(
    lxd: &LxdHost,
    before: &[(&str, Ipv4Addr)],
    phase: &str,
    context: impl Fn() -> String,
) -> Vec<String> {
    let mut said_all = Vec::new();
    for (name, address) in before {
        let (bound, said) = lxd_dhcp(lxd, name, Some(*address));
        assert_eq!(
            bound,
            address.to_string(),
            "{name} {phase}: {said}\n{}",
            context()
        );
        assert!(!said.contains("NAK"), "{name} {phase}: {said}");
        said_all.push(said);
    }
    said_all
}

/// One-shot udhcpc in an LXD instance (as the fixture's `dhcp`), asking for
/// `address` if given; returns the bound address and udhcpc's own words
/// ("lease of A obtained from S", "received DHCP NAK").
fn lxd_dhcp(lxd: &LxdHost, name: &str, address: Option<Ipv4Addr>) -> (String, String) {
    let mut script = String::from("udhcpc -n -q -t 10 -T 1 -i eth0 -s /etc/udhcpc/default.script");
    if let Some(address) = address {
        script.push_str(&format!(" -r {address}"));
    }
    script.push_str(" 2>&1; cat /run/udhcpc.ip");
    let output = lxd
        .exec(name, &["sh", "-c", &script])
        .unwrap_or_else(|e| panic!("udhcpc in {name}: {e}"));
    let bound = output.lines().last().unwrap_or_default().trim().to_string();
    (bound, output)
}

/// The same cut-over and rollback with a real LXD (Debian's 5.0) on host 1:
/// its own dnsmasq leases the instances, writes their host files (a static
/// address set with `ipv4.address`, every instance's name), and is switched
/// off and on again by the quickstart's own `lxc network set` lines.
#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn lxd_instances_keep_addresses_and_names_through_the_quickstarts_cutover_and_rollback() {
    let (blocks, mut cluster) = lxd_cutover_testbed("LXD cut-over and rollback", "lxcut");
    let dir = cluster.dir.path().to_path_buf();
    let image = lxd::build_image(&dir).expect("busybox image");
    let lxd = LxdHost::start(cluster.testbed.host(1), &dir, &image, BridgeMode::Managed)
        .unwrap_or_else(|e| panic!("LXD on h1: {e}"));
    // The live cloud before raftmasq: LXD's own DHCP and DNS on the bridge.
    lxd.lxc(&[
        "network",
        "set",
        "lxdbr0",
        "ipv4.dhcp=true",
        "dns.mode=managed",
        "raw.dnsmasq=",
        "ipv4.dhcp.ranges=172.16.0.10-172.16.0.250",
    ])
    .unwrap_or_else(|e| panic!("{e}\n{}", lxd.daemon_log()));
    let before = launch_leased_by_lxd(&lxd);
    let names: Vec<(String, Ipv4Addr)> = before.iter().map(|(n, a)| (n.to_string(), *a)).collect();
    names_resolve(&cluster, &[1], &names);

    for host in 1..=3 {
        cluster.start_node(host);
    }
    cluster.wait_ready(Duration::from_secs(30));
    let net = lxd.dir.join("networks/lxdbr0");
    let backup = dir.join("backup");
    let env = |cluster: &TestbedCluster, host: u8| {
        let mut env = vec![
            ("LXD_NET", net.clone()),
            ("BACKUP", backup.clone()),
            ("RAFTMASQ_CONFIG", cluster.config_path(host)),
        ];
        env.extend(lxd.client_env());
        env
    };
    let h1 = env(&cluster, 1);
    let import = run_block(&blocks, "import", cluster.testbed.host(1), &h1);
    let import = String::from_utf8_lossy(&import.stdout).into_owned();
    let leases = cluster.leases(2, true);
    for (name, address) in &before {
        let mac = lxd.mac(name).expect("mac");
        let lease = lease_for_mac(&leases, &mac).unwrap_or_else(|| {
            panic!(
                "{name} not imported:\n{import}\n{leases:?}\n{}",
                lxd_files(&net)
            )
        });
        assert_eq!(lease["address"], address.to_string(), "{import}");
        assert_eq!(lease["granted_name"], *name, "{import}");
    }

    // LXD's DHCP and DNS off (the quickstart's own line), raftmasq's on.
    run_block(&blocks, "lxd-stop", cluster.testbed.host(1), &h1);
    for host in 1..=3 {
        let host_env = env(&cluster, host);
        restart_serving(&blocks, &mut cluster, host, &host_env);
    }
    cluster.wait_ready(Duration::from_secs(30));
    let again = run_block(&blocks, "import", cluster.testbed.host(1), &h1);
    let again = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.contains("0 to add, 0 applied"), "{again}");
    names_resolve(&cluster, &[1, 2, 3], &names);
    rebind_keeps_addresses(&lxd, &before, "after the cut-over", || cluster.logs());
    names_resolve(&cluster, &[1, 2, 3], &names);

    // Rollback: raftmasq stops, its export goes where LXD's dnsmasq reads
    // it, and LXD's DHCP and DNS come back (the quickstart's own line).
    for host in 1..=3 {
        cluster.kill_node(host);
    }
    run_block(&blocks, "rollback-export", cluster.testbed.host(1), &h1);
    run_block(&blocks, "rollback-install", cluster.testbed.host(1), &h1);
    run_block(&blocks, "lxd-restore", cluster.testbed.host(1), &h1);
    names_resolve(&cluster, &[1], &names);
    for said in rebind_keeps_addresses(&lxd, &before, "after the rollback", String::new) {
        assert!(said.contains("obtained from 172.16.0.1"), "{said}");
    }
    drop(lxd);
}

/// Mode (b), as on an LXD cluster member: LXD's own bridge is local to the
/// host and its dnsmasq leases the instances; the quickstart's mode (b) lines
/// move the instances to the unmanaged bridge `br0` on the overlay, where
/// raftmasq serves them, and back. Addresses and names are kept both ways.
#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn lxd_mode_b_instances_keep_addresses_and_names_through_the_cutover_and_rollback() {
    let (blocks, mut cluster) = lxd_cutover_testbed("LXD mode (b) cut-over and rollback", "lxcb");
    let dir = cluster.dir.path().to_path_buf();
    // Host 1 serves DHCP on mode (b)'s bridge.
    let config = cluster.config_path(1);
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replace(
        "interface = \"lxdbr0\"",
        &format!("interface = \"{}\"", lxd::UNMANAGED_BRIDGE),
    );
    std::fs::write(&config, text).expect("config");
    let image = lxd::build_image(&dir).expect("busybox image");
    let lxd = LxdHost::start(
        cluster.testbed.host(1),
        &dir,
        &image,
        BridgeMode::ClusterMember,
    )
    .unwrap_or_else(|e| panic!("LXD on h1: {e}"));
    let before = launch_leased_by_lxd(&lxd);
    let names: Vec<(String, Ipv4Addr)> = before.iter().map(|(n, a)| (n.to_string(), *a)).collect();

    for host in 1..=3 {
        cluster.start_node(host);
    }
    cluster.wait_ready(Duration::from_secs(30));
    let net = lxd.dir.join("networks/lxdbr0");
    let backup = dir.join("backup");
    let env = |cluster: &TestbedCluster, host: u8| {
        let mut env = vec![
            ("LXD_NET", net.clone()),
            ("BACKUP", backup.clone()),
            ("RAFTMASQ_CONFIG", cluster.config_path(host)),
            ("N", PathBuf::from(host.to_string())),
        ];
        env.extend(lxd.client_env());
        env
    };
    let h1 = env(&cluster, 1);
    run_block(&blocks, "import", cluster.testbed.host(1), &h1);
    let leases = cluster.leases(2, true);
    for (name, address) in &before {
        let mac = lxd.mac(name).expect("mac");
        let lease = lease_for_mac(&leases, &mac)
            .unwrap_or_else(|| panic!("{name} not imported: {leases:?}\n{}", lxd_files(&net)));
        assert_eq!(lease["address"], address.to_string());
    }

    // Mode (b)'s step 3: the instances onto br0, the subnet to br0.
    run_block(&blocks, "lxd-stop-b", cluster.testbed.host(1), &h1);
    // The running instances moved: their host ends are br0's ports now.
    let ports = |cluster: &TestbedCluster, bridge: &str| {
        cluster
            .testbed
            .host(1)
            .exec(&["ip", "-br", "link", "show", "master", bridge])
            .unwrap_or_default()
            .lines()
            .count()
    };
    let links = cluster
        .testbed
        .host(1)
        .exec(&["ip", "-d", "-br", "link"])
        .unwrap_or_default();
    let c1 = lxd
        .lxc(&["config", "show", "c1", "--expanded"])
        .unwrap_or_default();
    assert_eq!(
        ports(&cluster, lxd::UNMANAGED_BRIDGE),
        3,
        "br0: the overlay and two instances\n{links}\n{c1}"
    );
    assert_eq!(
        ports(&cluster, "lxdbr0"),
        0,
        "instances left on LXD's bridge"
    );
    for host in 1..=3 {
        let host_env = env(&cluster, host);
        restart_serving(&blocks, &mut cluster, host, &host_env);
    }
    cluster.wait_ready(Duration::from_secs(30));
    rebind_keeps_addresses(&lxd, &before, "after the cut-over", || cluster.logs());
    names_resolve(&cluster, &[1, 2, 3], &names);

    // Rollback: raftmasq's export for LXD's dnsmasq, the instances back on
    // LXD's bridge.
    for host in 1..=3 {
        cluster.kill_node(host);
    }
    run_block(&blocks, "rollback-export", cluster.testbed.host(1), &h1);
    run_block(&blocks, "rollback-install", cluster.testbed.host(1), &h1);
    run_block(&blocks, "lxd-restore-b", cluster.testbed.host(1), &h1);
    assert_eq!(
        ports(&cluster, "lxdbr0"),
        2,
        "the instances are back on LXD's bridge"
    );
    for said in rebind_keeps_addresses(&lxd, &before, "after the rollback", String::new) {
        assert!(said.contains("obtained from 172.16.0.1"), "{said}");
    }
    names_resolve(&cluster, &[1], &names);
    drop(lxd);
}
