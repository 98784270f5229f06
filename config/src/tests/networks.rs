//! `[[dhcp.networks]]`: more networks beside `[dhcp]`'s, which is `default`.

use std::net::Ipv4Addr;

use super::{BASE, parse, rejects};

const LAB: &str = r#"
[[dhcp.networks]]
name = "lab"
interface = "br-lab"
address = "10.1.0.1"
subnet = "10.1.0.0/24"
range = "10.1.0.10-10.1.0.200"
"#;

/// `BASE` with `networks` appended (`[[dhcp.networks]]` tables may follow any table).
fn with_networks(networks: &str) -> String {
    format!("{BASE}{networks}")
}

#[test]
fn a_file_without_networks_is_one_network_named_default() {
    let config = parse(BASE).unwrap();
    assert!(config.dhcp.networks.is_empty());
    let all = config.network_settings();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0, "default");
    assert_eq!(all[0].1, config.cluster_settings());
}

#[test]
fn a_second_network_gets_its_own_subnet_range_and_domain() {
    let config = parse(&with_networks(LAB)).unwrap();
    let lab = &config.dhcp.networks[0];
    assert_eq!(lab.name, "lab");
    assert!(lab.enabled);
    assert_eq!(lab.interface.as_deref(), Some("br-lab"));
    assert!(!lab.is_relay_only());
    assert_eq!(
        lab.routers,
        [Ipv4Addr::new(10, 1, 0, 1)],
        "router defaults to address"
    );
    let all = config.network_settings();
    assert_eq!(all.len(), 2);
    let (name, settings) = &all[1];
    assert_eq!(name, "lab");
    assert_eq!(settings.subnet, "10.1.0.0/24".parse().unwrap());
    assert_eq!(settings.ranges[0].start, Ipv4Addr::new(10, 1, 0, 10));
    assert_eq!(settings.domain, format!("lab.{}", config.dns.domain));
    assert_eq!(settings.lease_time_secs, all[0].1.lease_time_secs);
}

#[test]
fn a_network_has_several_ranges_or_none() {
    let several = LAB.replace(
        "range = \"10.1.0.10-10.1.0.200\"",
        "ranges = [\"10.1.0.100-10.1.0.200\", \"10.1.0.10-10.1.0.20\"]",
    );
    let config = parse(&with_networks(&several)).unwrap();
    let lab = &config.dhcp.networks[0];
    assert_eq!(
        raftmasq_state::ranges_text(&lab.ranges),
        "10.1.0.10-10.1.0.20, 10.1.0.100-10.1.0.200"
    );
    assert_eq!(config.network_settings()[1].1.ranges, lab.ranges);
    let none = LAB.replace("range = \"10.1.0.10-10.1.0.200\"", "ranges = []");
    let config = parse(&with_networks(&none)).unwrap();
    assert!(config.dhcp.networks[0].ranges.is_empty());
    let overlapping = LAB.replace(
        "range = \"10.1.0.10-10.1.0.200\"",
        "ranges = [\"10.1.0.10-10.1.0.20\", \"10.1.0.15-10.1.0.30\"]",
    );
    rejects(
        &with_networks(&overlapping),
        "dhcp.networks[0].ranges",
        "overlap",
    );
    let on_address = LAB.replace(
        "range = \"10.1.0.10-10.1.0.200\"",
        "ranges = [\"10.1.0.10-10.1.0.20\", \"10.1.0.1-10.1.0.5\"]",
    );
    rejects(
        &with_networks(&on_address),
        "dhcp.networks[0].ranges[1]",
        "this host's address on the network",
    );
    let missing = LAB.replace("range = \"10.1.0.10-10.1.0.200\"\n", "");
    rejects(
        &with_networks(&missing),
        "dhcp.networks[0].range",
        "missing",
    );
}

#[test]
fn routers_and_domain_may_be_written() {
    let text = with_networks(&format!(
        "{LAB}routers = [\"10.1.0.254\", \"10.1.0.253\"]\ndomain = \"Lab.Example\"\nenabled = false\n"
    ));
    let config = parse(&text).unwrap();
    let lab = &config.dhcp.networks[0];
    assert_eq!(
        lab.routers,
        [Ipv4Addr::new(10, 1, 0, 254), Ipv4Addr::new(10, 1, 0, 253)]
    );
    assert_eq!(lab.domain.as_deref(), Some("lab.example"));
    assert!(!lab.enabled);
}

#[test]
fn overlapping_subnets_are_refused() {
    let overlapping = LAB.replace("10.1.0.", "172.16.9.");
    rejects(
        &with_networks(&overlapping),
        "dhcp.networks[0].subnet",
        "overlaps 172.16.0.0/16 of dhcp.subnet (network default)",
    );
    let twice = format!(
        "{LAB}{}",
        LAB.replace("\"lab\"", "\"lab2\"")
            .replace("br-lab", "br-lab2")
            .replace("10.1.0.0/24", "10.1.0.0/16")
            .replace("10.1.0.1\"", "10.1.1.1\"")
    );
    rejects(
        &with_networks(&twice),
        "dhcp.networks[1].subnet",
        "overlaps 10.1.0.0/24 of dhcp.networks[0].subnet",
    );
}

#[test]
fn a_range_or_address_outside_the_subnet_is_refused() {
    rejects(
        &with_networks(&LAB.replace("10.1.0.10-10.1.0.200", "10.1.0.10-10.1.1.5")),
        "dhcp.networks[0].range",
        "is not inside subnet 10.1.0.0/24",
    );
    rejects(
        &with_networks(&LAB.replace("10.1.0.10-10.1.0.200", "10.1.0.1-10.1.0.9")),
        "dhcp.networks[0].range",
        "contains 10.1.0.1, this host's address on the network",
    );
    rejects(
        &with_networks(&LAB.replace("address = \"10.1.0.1\"", "address = \"10.2.0.1\"")),
        "dhcp.networks[0].address",
        "outside this network's subnet",
    );
    rejects(
        &with_networks(&format!("{LAB}routers = [\"10.9.0.1\"]\n")),
        "dhcp.networks[0].routers[0]",
        "outside this network's subnet",
    );
}

#[test]
fn duplicate_names_interfaces_and_domains_are_refused() {
    let second = LAB
        .replace("10.1.0.", "10.2.0.")
        .replace("br-lab", "br-lab2");
    rejects(
        &with_networks(&format!("{LAB}{second}")),
        "dhcp.networks[1].name",
        "network `lab` is already defined by dhcp.networks[0]",
    );
    let same_bridge = LAB
        .replace("10.1.0.", "10.2.0.")
        .replace("\"lab\"", "\"lab2\"");
    rejects(
        &with_networks(&format!("{LAB}{same_bridge}")),
        "dhcp.networks[1].interface",
        "interface br-lab is already dhcp.networks[0].interface's",
    );
    rejects(
        &with_networks(&LAB.replace("br-lab", "lxdbr0")),
        "dhcp.networks[0].interface",
        "already dhcp.interface (network default)'s",
    );
}

#[test]
fn networks_may_share_a_domain_with_each_other_and_with_dns_domain() {
    let base = parse(BASE).unwrap();
    let second = LAB
        .replace("\"lab\"", "\"lab2\"")
        .replace("br-lab", "br-lab2")
        .replace("10.1.0.", "10.2.0.");
    // lab under the cluster's own domain, lab2 beside it under the same.
    let shared = format!("domain = \"{}\"\n", base.dns.domain.to_uppercase());
    let config = parse(&with_networks(&format!("{LAB}{shared}{second}{shared}"))).unwrap();
    let domains: Vec<String> = config
        .dhcp
        .networks
        .iter()
        .map(|n| n.domain_under(&config.dns.domain).to_ascii_lowercase())
        .collect();
    assert_eq!(domains, [base.dns.domain.clone(), base.dns.domain.clone()]);
}

#[test]
fn bad_names_and_default_are_refused() {
    rejects(
        &with_networks(&LAB.replace("\"lab\"", "\"default\"")),
        "dhcp.networks[0].name",
        "`default` is the network of [dhcp] itself",
    );
    rejects(
        &with_networks(&LAB.replace("\"lab\"", "\"Lab_1\"")),
        "dhcp.networks[0].name",
        "is not a network name",
    );
    rejects(
        &with_networks(&format!("{LAB}routers = []\n")),
        "dhcp.networks[0].routers",
        "the list is empty",
    );
}

/// A network behind a DHCP relay on another (routed) host: no interface;
/// `address` is this host's address the relays send to.
const RACK: &str = r#"
[[dhcp.networks]]
name = "rack4"
address = "10.99.0.1"
subnet = "172.31.0.0/24"
range = "172.31.0.10-172.31.0.200"
routers = ["172.31.0.1"]
"#;

#[test]
fn a_network_without_interface_is_relay_only() {
    let config = parse(&with_networks(RACK)).unwrap();
    let rack = &config.dhcp.networks[0];
    assert!(rack.is_relay_only());
    assert_eq!(rack.interface, None);
    assert_eq!(rack.address, Ipv4Addr::new(10, 99, 0, 1));
    assert_eq!(rack.routers, [Ipv4Addr::new(172, 31, 0, 1)]);
    let all = config.network_settings();
    assert_eq!(all[1].1.subnet, "172.31.0.0/24".parse().unwrap());
}

#[test]
fn a_relay_only_network_needs_routers_and_an_address_off_its_subnet() {
    rejects(
        &with_networks(&RACK.replace("routers = [\"172.31.0.1\"]\n", "")),
        "dhcp.networks[0].routers",
        "served through relays only",
    );
    rejects(
        &with_networks(&RACK.replace("10.99.0.1", "172.31.0.5")),
        "dhcp.networks[0].address",
        "inside this relay-only network's subnet",
    );
    rejects(
        &with_networks(&RACK.replace("routers = [\"172.31.0.1\"]", "routers = [\"10.5.0.1\"]")),
        "dhcp.networks[0].routers[0]",
        "outside this network's subnet",
    );
}

#[test]
fn a_network_has_options_of_its_own_over_the_default_networks() {
    let text = with_networks(&format!(
        "{LAB}\n[dhcp.networks.options]\nmtu = 9000\nclassless_static_routes = [\"0.0.0.0/0 via 10.1.0.1\"]\n\n[[dhcp.networks.option]]\ncode = 252\ntype = \"string\"\nvalue = \"http://wpad.lab/wpad.dat\"\n\n[dhcp.options]\nmtu = 1450\nntp_servers = [\"172.16.0.1\"]\nclassless_static_routes = [\"0.0.0.0/0 via 172.16.0.1\"]\n"
    ));
    let config = parse(&text).unwrap();
    let lab = &config.dhcp.networks[0];
    let own: Vec<u8> = lab.options.iter().map(|o| o.code()).collect();
    assert_eq!(own, [26, 121, 252]);
    let served = lab.options_over(&config.dhcp.options);
    let codes: Vec<u8> = served.iter().map(|o| o.code()).collect();
    // Its own MTU and routes win; NTP (42) is inherited; default's routes
    // (121, gateways on another subnet) never are.
    assert_eq!(codes, [26, 121, 252, 42]);
    let mtu = served.iter().find(|o| o.code() == 26).unwrap();
    assert_eq!(mtu.payload(), 9000u16.to_be_bytes().to_vec());

    // Without routes of its own, the network gets none of default's.
    let plain = parse(&with_networks(&format!(
        "{LAB}\n[dhcp.options]\nclassless_static_routes = [\"0.0.0.0/0 via 172.16.0.1\"]\n"
    )))
    .unwrap();
    let served = plain.dhcp.networks[0].options_over(&plain.dhcp.options);
    assert!(served.is_empty(), "{served:?}");
}

#[test]
fn a_networks_option_problems_name_its_key() {
    rejects(
        &with_networks(&format!("{LAB}\n[dhcp.networks.options]\nmtu = 12\n")),
        "dhcp.networks[0].options.mtu",
        "is not an MTU",
    );
    rejects(
        &with_networks(&format!(
            "{LAB}\n[[dhcp.networks.option]]\ncode = 3\ntype = \"address\"\nvalue = \"10.1.0.1\"\n"
        )),
        "dhcp.networks[0].option[0].code",
        "cannot be set here",
    );
    rejects(
        &with_networks(&format!(
            "{LAB}\n[dhcp.networks.options]\nboot_file = \"pxelinux.0\"\n"
        )),
        "dhcp.networks[0].options.boot_file",
        "set them in [dhcp.options]",
    );
    rejects(
        &with_networks(&format!(
            "{LAB}\n[dhcp.networks.options]\nclassless_static_routes = [\"0.0.0.0/0 via 172.16.0.1\"]\n"
        )),
        "dhcp.networks[0].options.classless_static_routes",
        "",
    );
}
