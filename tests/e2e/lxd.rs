//! Real LXD daemons, one per testbed host (issue 14): instances started with
//! `lxc launch` get their leases from raftmasq and resolve by name on every
//! host, in both deployment modes; with `[lxd]` on, each node follows its
//! host's LXD: instance names, static addresses, deletes, copies and LXD
//! restarts (`lxd_watch_*`).

use std::time::Duration;

use raftmasq_tests::dig::dig;
use raftmasq_tests::lxd::{self, BridgeMode, LxdHost};
use raftmasq_tests::netns;
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions, lease_for_mac};

/// A three-host cluster with an LXD daemon per host; the nodes start after
/// LXD has made (or attached to) each host's bridge.
fn lxd_cluster(tag: &str, mode: BridgeMode) -> (Vec<LxdHost>, TestbedCluster) {
    let mut cluster =
        TestbedCluster::prepare_with(crate::binary(), tag, 3, &TestbedOptions::default());
    let image = lxd::build_image(cluster.dir.path()).expect("busybox image");
    let hosts: Vec<LxdHost> = (1..=3)
        .map(|i| {
            LxdHost::start(cluster.testbed.host(i), cluster.dir.path(), &image, mode)
                .unwrap_or_else(|e| panic!("LXD on h{i}: {e}"))
        })
        .collect();
    for i in 1..=3 {
        cluster.start_node(i);
    }
    cluster.wait_ready(Duration::from_secs(30));
    (hosts, cluster)
}

fn launched_instances_get_leases_and_names(tag: &str, mode: BridgeMode) {
    netns::require(&format!("lxd {mode:?}"), lxd::TOOLS);
    let (hosts, cluster) = lxd_cluster(tag, mode);
    let mut bound = Vec::new();
    for lxd in &hosts {
        let name = format!("c{}", lxd.host);
        lxd.launch(&name, &[]).expect("lxc launch");
        let mac = lxd.mac(&name).expect("MAC");
        let address = lxd
            .dhcp(&name, Some(&name))
            .unwrap_or_else(|e| panic!("udhcpc in {name}: {e}\n{}", cluster.logs()));
        assert_eq!(
            lxd.addresses(&name).expect("addresses"),
            vec![address.clone()]
        );
        bound.push((name, mac, address));
    }
    let leases = cluster.wait_converged(Duration::from_secs(10));
    for (name, mac, address) in &bound {
        let lease = lease_for_mac(&leases, mac)
            .unwrap_or_else(|| panic!("no lease for {name} ({mac}): {leases:?}"));
        assert_eq!(lease["address"].as_str(), Some(address.as_str()), "{lease}");
        for host in cluster.testbed.hosts() {
            let replies = dig(
                &host.netns,
                &host.bridge_address(),
                &[],
                &[(&format!("{name}.lxd"), "A")],
            )
            .expect("dig");
            assert_eq!(
                replies[0].data("A"),
                vec![address.clone()],
                "{name}.lxd on h{}",
                host.index
            );
        }
    }
    // Containers on different hosts reach each other over the overlay.
    let (_, _, third) = &bound[2];
    hosts[0]
        .exec("c1", &["ping", "-c", "1", "-W", "2", third])
        .expect("c1 pings c3 across hosts");
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn lxd_unmanaged_bridge_instances_get_leases_and_names() {
    launched_instances_get_leases_and_names("lxb", BridgeMode::Unmanaged);
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn lxd_managed_bridge_instances_get_leases_and_names() {
    launched_instances_get_leases_and_names("lxa", BridgeMode::Managed);
}

/// A DNS server already on the bridge address (LXD's dnsmasq without
/// `raw.dnsmasq=port=0`): raftmasq does not start, and says who holds the
/// port and how to free it.
#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn lxd_port_53_clash_names_the_holder_and_the_fix() {
    netns::require("lxd port clash", &["ip", "dnsmasq"]);
    let mut cluster =
        TestbedCluster::prepare_with(crate::binary(), "lxp", 1, &TestbedOptions::default());
    let host = cluster.testbed.host(1);
    let log = cluster.dir.path().join("dnsmasq.log");
    // As LXD runs it with dns.mode=none: DNS on the bridge address, no DHCP.
    let mut dnsmasq = host
        .spawn(
            &[
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--bind-interfaces",
                "--listen-address=172.16.0.1",
                "--except-interface=lo",
                "--no-resolv",
                "--no-hosts",
                "--pid-file=",
            ],
            &log,
        )
        .expect("dnsmasq");
    let bound = netns::wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        host.exec(&["ss", "-lnu", "sport", "=", ":53"])
            .is_ok_and(|out| out.contains("172.16.0.1:53"))
    });
    assert!(bound, "dnsmasq did not bind: {}", dnsmasq.log_text());
    let pid = dnsmasq.pid().expect("dnsmasq pid");
    cluster.start_node(1);
    let exited = netns::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        !cluster.node_running(1)
    });
    let log = cluster.logs();
    assert!(exited, "raftmasq kept running with port 53 taken:\n{log}");
    assert!(
        log.contains(&format!(
            "172.16.0.1:53/udp is in use: held by dnsmasq (pid {pid})"
        )),
        "{log}"
    );
    assert!(
        log.contains("lxc network set lxdbr0 raw.dnsmasq port=0"),
        "{log}"
    );
    dnsmasq.kill();
}

/// Three hosts with LXD, each node following its own LXD (`[lxd]`) through a
/// symlink to the daemon's socket, which a test can take away to make
/// changes the node cannot see. Returns the hosts, the cluster and the links.
fn watched_cluster(
    tag: &str,
    mode: BridgeMode,
) -> (Vec<LxdHost>, TestbedCluster, Vec<std::path::PathBuf>) {
    let mut cluster =
        TestbedCluster::prepare_with(crate::binary(), tag, 3, &TestbedOptions::default());
    let image = lxd::build_image(cluster.dir.path()).expect("busybox image");
    let hosts: Vec<LxdHost> = (1..=3)
        .map(|i| {
            LxdHost::start(cluster.testbed.host(i), cluster.dir.path(), &image, mode)
                .unwrap_or_else(|e| panic!("LXD on h{i}: {e}"))
        })
        .collect();
    let mut links = Vec::new();
    for (i, host) in (1..=3).zip(&hosts) {
        let link = cluster.dir.path().join(format!("lxd-h{i}.socket"));
        std::os::unix::fs::symlink(host.socket(), &link).expect("socket link");
        let path = cluster.config_path(i);
        let mut text = std::fs::read_to_string(&path).expect("config");
        text.push_str(&format!(
            "\n[lxd]\nenabled = true\nsocket = \"{}\"\n",
            link.display()
        ));
        std::fs::write(&path, text).expect("config");
        links.push(link);
    }
    for i in 1..=3 {
        cluster.start_node(i);
    }
    cluster.wait_ready(Duration::from_secs(30));
    (hosts, cluster, links)
}

/// The answers to `name type` from every host's DNS server, in host order.
fn answers(cluster: &TestbedCluster, name: &str, rtype: &str) -> Vec<Vec<String>> {
    cluster
        .testbed
        .hosts()
        .iter()
        .map(|host| {
            dig(&host.netns, &host.bridge_address(), &[], &[(name, rtype)])
                .map(|replies| replies[0].data(rtype))
                .unwrap_or_else(|e| vec![format!("dig failed: {e}")])
        })
        .collect()
}

/// Waits (at most `timeout`) until every host answers `name type` with
/// exactly `expected`; panics with what they said and the logs.
fn wait_answer(
    cluster: &TestbedCluster,
    name: &str,
    rtype: &str,
    expected: &[String],
    timeout: Duration,
) {
    let mut last = Vec::new();
    let ok = netns::wait_until(timeout, Duration::from_millis(50), || {
        last = answers(cluster, name, rtype);
        last.iter().all(|a| a == expected)
    });
    assert!(
        ok,
        "{name} {rtype}: expected {expected:?} on every host, got {last:?}\n{}",
        cluster.logs()
    );
}

fn reverse(address: &str) -> String {
    let mut octets: Vec<&str> = address.split('.').collect();
    octets.reverse();
    format!("{}.in-addr.arpa", octets.join("."))
}

/// The reserved address of `mac` as `host`'s node sees it.
fn reservation(cluster: &TestbedCluster, host: u8, mac: &str) -> Option<String> {
    cluster
        .get(host, "/api/v1/reservations")?
        .as_array()?
        .iter()
        .find(|r| r["mac"].as_str() == Some(mac))
        .and_then(|r| r["address"].as_str().map(str::to_string))
}

fn follows_lxd(tag: &str, mode: BridgeMode) {
    netns::require(&format!("lxd watch {mode:?}"), lxd::TOOLS);
    let (hosts, cluster, links) = watched_cluster(tag, mode);
    let one = vec![];

    // A container that sends no hostname, one that sends another name, one
    // with a static address set in LXD: all named after the instance.
    hosts[0].launch("web1", &[]).expect("launch web1");
    let web1 = hosts[0].dhcp("web1", None).expect("udhcpc web1");
    hosts[1].launch("db2", &[]).expect("launch db2");
    let db2 = hosts[1].dhcp("db2", Some("other")).expect("udhcpc db2");
    // LXD 5.0 refuses a NIC ipv4.address in both modes here: on a managed
    // bridge with its DHCP off (unless security.ipv4_filtering, which cuts
    // DHCP to the other hosts) and on an unmanaged parent ("Cannot use
    // manually specified ipv4.address when using unmanaged parent bridge").
    // So the instance key.
    hosts[2]
        .launch("st3", &["-c", "user.raftmasq.ipv4=172.16.50.3"])
        .expect("launch st3");
    let st3_mac = hosts[2].mac("st3").expect("MAC");
    let reserved = netns::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        (1..=3).all(|h| reservation(&cluster, h, &st3_mac).as_deref() == Some("172.16.50.3"))
    });
    assert!(reserved, "no reservation for st3:\n{}", cluster.logs());
    let st3 = hosts[2].dhcp("st3", None).expect("udhcpc st3");
    assert_eq!(st3, "172.16.50.3", "st3 got another address than LXD's");
    for (name, address) in [("web1", &web1), ("db2", &db2), ("st3", &st3)] {
        let fqdn = format!("{name}.lxd");
        wait_answer(
            &cluster,
            &fqdn,
            "A",
            std::slice::from_ref(address),
            Duration::from_secs(10),
        );
        wait_answer(
            &cluster,
            &reverse(address),
            "PTR",
            &[format!("{fqdn}.")],
            Duration::from_secs(5),
        );
    }
    assert_eq!(answers(&cluster, "other.lxd", "A"), vec![one.clone(); 3]);

    // A copy gets its own MAC, so its own address and name.
    hosts[0].copy("web1", "web1c").expect("lxc copy");
    let copy = hosts[0].dhcp("web1c", None).expect("udhcpc web1c");
    assert_ne!(copy, web1, "the copy got the original's address");
    wait_answer(
        &cluster,
        "web1c.lxd",
        "A",
        std::slice::from_ref(&copy),
        Duration::from_secs(10),
    );
    wait_answer(
        &cluster,
        "web1.lxd",
        "A",
        std::slice::from_ref(&web1),
        Duration::from_secs(1),
    );

    // An instance of another project is NAME.PROJECT, as LXD names it; the
    // default project's web1 keeps its own name and address.
    hosts[2].create_project("shop").expect("lxc project create");
    hosts[2]
        .launch_in("shop", "web1")
        .expect("launch shop/web1");
    let shop_web1 = hosts[2]
        .dhcp_in(Some("shop"), "web1", Some("something-else"))
        .expect("udhcpc shop/web1");
    assert_ne!(shop_web1, web1, "two instances called web1 got one address");
    wait_answer(
        &cluster,
        "web1.shop.lxd",
        "A",
        std::slice::from_ref(&shop_web1),
        Duration::from_secs(10),
    );
    wait_answer(
        &cluster,
        &reverse(&shop_web1),
        "PTR",
        &["web1.shop.lxd.".to_string()],
        Duration::from_secs(5),
    );
    wait_answer(
        &cluster,
        "web1.lxd",
        "A",
        std::slice::from_ref(&web1),
        Duration::from_secs(1),
    );

    // Delete: the name and the address are free within a second everywhere.
    // Each host is watched by its own thread, so one host's probes (a dig
    // and an admin request, processes in a namespace) do not delay the
    // others'; a host counts as freed when a probe that saw it free ends.
    let db2_mac = hosts[1].mac("db2").expect("MAC");
    hosts[1].lxc(&["delete", "-f", "db2"]).expect("lxc delete");
    let deleted = std::time::Instant::now();
    let freed: Vec<Result<Duration, String>> = std::thread::scope(|scope| {
        let watchers: Vec<_> = cluster
            .testbed
            .hosts()
            .iter()
            .map(|host| {
                let (cluster, db2, db2_mac) = (&cluster, &db2, &db2_mac);
                scope.spawn(move || {
                    let mut last = String::new();
                    // Bounded: at most 3 s, and at most 300 probes.
                    for _ in 0..300 {
                        if deleted.elapsed() > Duration::from_secs(3) {
                            break;
                        }
                        let leases = cluster.leases(host.index, false);
                        let held = lease_for_mac(&leases, db2_mac).is_some()
                            || leases.iter().any(|l| l["address"].as_str() == Some(db2));
                        let names = dig(
                            &host.netns,
                            &host.bridge_address(),
                            &[],
                            &[("db2.lxd", "A")],
                        )
                        .map(|replies| replies[0].data("A"))
                        .unwrap_or_else(|e| vec![format!("dig failed: {e}")]);
                        if !held && names.is_empty() {
                            return Ok(deleted.elapsed());
                        }
                        last = format!("lease held {held}, names {names:?}");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(last)
                })
            })
            .collect();
        watchers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("probe panicked".into())))
            .collect()
    });
    eprintln!("db2 freed after lxc delete returned, by host: {freed:?}");
    for (i, outcome) in (1..=3).zip(&freed) {
        match outcome {
            Ok(after) => assert!(
                *after <= Duration::from_secs(1),
                "db2 freed on h{i} only {after:?} after lxc delete\n{}",
                cluster.logs()
            ),
            Err(last) => panic!(
                "db2 not freed on h{i} within 3 s: {last}\n{}",
                cluster.logs()
            ),
        }
    }

    // While the node cannot see LXD, web1c is deleted; then LXD is killed
    // (as a crash or a snap refresh would: instances keep running) and,
    // while it is down, web1 gets a static address in LXD's database (LXD
    // applies `database/patch.global.sql` when it starts). Both are picked
    // up once the node sees LXD again.
    std::fs::remove_file(&links[0]).expect("unlink");
    let web1_mac = hosts[0].mac("web1").expect("MAC");
    hosts[0]
        .lxc(&["delete", "-f", "web1c"])
        .expect("delete web1c");
    hosts[0].kill_daemon();
    std::fs::write(
        hosts[0].dir.join("database/patch.global.sql"),
        "INSERT INTO instances_config (instance_id, key, value) \
         SELECT id, 'user.raftmasq.ipv4', '172.16.50.1' FROM instances WHERE name = 'web1';\n",
    )
    .expect("patch.global.sql");
    hosts[0].start_daemon().expect("LXD back");
    assert_eq!(
        hosts[0]
            .lxc(&["config", "get", "web1", "user.raftmasq.ipv4"])
            .expect("lxc config get")
            .trim(),
        "172.16.50.1",
        "LXD did not apply the change made while it was down"
    );
    // Still the old state: nobody told the cluster. DNS and DHCP serve on.
    assert_eq!(reservation(&cluster, 1, &web1_mac), None);
    wait_answer(
        &cluster,
        "web1.lxd",
        "A",
        std::slice::from_ref(&web1),
        Duration::from_secs(1),
    );
    assert_eq!(hosts[2].dhcp("st3", None).expect("udhcpc st3 again"), st3);
    std::os::unix::fs::symlink(hosts[0].socket(), &links[0]).expect("link again");
    let caught_up = netns::wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
        (1..=3).all(|h| reservation(&cluster, h, &web1_mac).as_deref() == Some("172.16.50.1"))
    });
    assert!(
        caught_up,
        "web1's new static address not picked up after the LXD restart:\n{}",
        cluster.logs()
    );
    wait_answer(&cluster, "web1c.lxd", "A", &one, Duration::from_secs(5));
    let logs = cluster.logs();
    assert!(logs.contains("lxd: not following LXD"), "{logs}");
    assert!(logs.contains("lxd: following LXD"), "{logs}");
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn lxd_watch_managed_bridge_names_statics_deletes_copies_and_restarts() {
    follows_lxd("lxw", BridgeMode::Managed);
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn lxd_watch_unmanaged_bridge_names_statics_deletes_copies_and_restarts() {
    follows_lxd("lxu", BridgeMode::Unmanaged);
}
