//! A BIND secondary of a stateful-DHCPv6 cluster: AXFR of the cluster zone
//! carries the AAAA of a DHCPv6 lease's name, and AXFR of the bridge
//! prefix's ip6.arpa zone its PTR, so the secondary answers both.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use raftmasq_consensus::state::Command;
use raftmasq_consensus::state::MacAddr;
use raftmasq_consensus::state::v6::{Duid, V6Binding, V6LeaseRequest, V6Range, V6Want};
use raftmasq_tests::bind::{Named, Zone, underlay_machine};
use raftmasq_tests::dig::dig;
use raftmasq_tests::netns::{self, wait_until};
use raftmasq_tests::testbed_cluster::{TestbedCluster, TestbedOptions};
use raftmasq_tests::wall_ms;

const TOOLS: &[&str] = &["ip", "bridge", "curl", "dig", "named", "named-checkconf"];
/// Not the secondary of tests/e2e/dns.rs (10.99.0.253): its own address.
const SECONDARY: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 252);
/// The ip6.arpa zone of the testbed's prefix, fd42:1::/64.
const ZONE6: &str = "0.0.0.0.0.0.0.0.1.0.0.0.2.4.d.f.ip6.arpa";

fn ptr6(address: Ipv6Addr) -> String {
    let nibbles: String = format!("{:032x}", u128::from(address))
        .chars()
        .rev()
        .map(|c| format!("{c}."))
        .collect();
    format!("{nibbles}ip6.arpa")
}

#[test]
#[ignore = "needs root and the namespace test tools; scripts/test.sh runs it (cargo test -- --include-ignored)"]
fn bind_secondary_transfers_dhcpv6_names_in_both_zones() {
    netns::require("dns v6 secondary", TOOLS);
    let options = TestbedOptions {
        ipv6: true,
        ipv6_extra: "mode = \"stateful\"\nrange = \"fd42:1::1000-fd42:1::1fff\"\n".into(),
        dns_extra: format!("secondaries = [\"{SECONDARY}\"]"),
        ..TestbedOptions::default()
    };
    let cluster = TestbedCluster::start_with(crate::binary(), "dv", 3, &options);
    cluster.wait_ready(Duration::from_secs(30));

    // A DHCPv6 lease as the stateful server commits one (a client would
    // need the whole exchange; the zone only needs the committed lease).
    let mac = MacAddr([2, 0x42, 0xac, 0x13, 0, 1]);
    let bind = Command::BindV6 {
        request: V6LeaseRequest {
            binding: V6Binding {
                duid: Duid::link_layer(mac),
                iaid: 1,
            },
            mac: Some(mac),
            fqdn_label: Some("vsix".into()),
            reserved_name: None,
            want: V6Want::Dynamic { hint: None },
        },
        range: V6Range {
            start: "fd42:1::1000".parse().expect("address"),
            end: "fd42:1::1fff".parse().expect("address"),
        },
        now: wall_ms(),
        lease_time_secs: 3600,
    };
    let answer = cluster
        .post(
            1,
            "/api/v1/commands",
            &serde_json::to_value(&bind).expect("json"),
        )
        .unwrap_or_else(|e| panic!("BindV6: {e}\n{}", cluster.logs()));
    assert_eq!(answer["lease"]["name"], "vsix", "{answer}");
    let address: Ipv6Addr = answer["lease"]["address"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no v6 lease in {answer}"));

    let work = tempfile::TempDir::new().expect("work dir");
    let machine = underlay_machine(&cluster.testbed, "sx", SECONDARY).expect("secondary ns");
    let primaries: Vec<Ipv4Addr> = (1..=3).map(|h| Ipv4Addr::new(10, 99, 0, h)).collect();
    let zones = [
        Zone::Secondary {
            name: "lxd".into(),
            primaries: primaries.clone(),
        },
        Zone::Secondary {
            name: ZONE6.into(),
            primaries,
        },
    ];
    let secondary =
        Named::start(&machine, work.path(), SECONDARY, false, &zones).expect("secondary named");
    let transferred = wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        let log = secondary.log();
        ["lxd", ZONE6].iter().all(|zone| {
            log.lines().any(|line| {
                line.contains(&format!("transfer of '{zone}/IN' from"))
                    && line.contains("Transfer status: success")
            })
        })
    });
    assert!(
        transferred,
        "no transfer of both zones:\n{}\n{}",
        secondary.log(),
        cluster.logs()
    );
    let server = SECONDARY.to_string();
    let replies = dig(
        &machine,
        &server,
        &["+norec"],
        &[("vsix.lxd", "AAAA"), (&ptr6(address), "PTR")],
    )
    .expect("dig");
    assert_eq!(
        replies[0].data("AAAA"),
        [address.to_string()],
        "{replies:?}"
    );
    assert!(replies[0].has_flag("aa"), "the secondary is authoritative");
    assert_eq!(replies[1].data("PTR"), ["vsix.lxd."], "{replies:?}");
}
