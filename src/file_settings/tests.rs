use std::path::PathBuf;

use raftmasq_config::{Config, with_cluster_value};

use super::*;

const FILE: &str = r#"
[node]
id = 1
data_dir = "/var/lib/raftmasq"
cluster_addr = "10.99.0.1:7380"

[cluster]
token_file = "/etc/raftmasq/cluster.token"
peers = ["1=10.99.0.1:7380", "2=10.99.0.2:7380", "3=10.99.0.3:7380"]

[dhcp]
interface = "lxdbr0"
address = "172.16.0.1"
subnet = "172.16.0.0/16"
range = "172.16.0.10-172.16.255.254"
lease_time = "1h"

[dns]
upstream = ["9.9.9.9"]

[[dhcp.networks]]
name = "lab"
interface = "br-lab"
address = "10.1.0.1"
subnet = "10.1.0.0/24"
range = "10.1.0.10-10.1.0.200"

[[dhcp.networks]]
name = "far"
address = "10.99.0.1"
subnet = "10.2.0.0/24"
range = "10.2.0.10-10.2.0.200"
routers = ["10.2.0.1"]
"#;

fn file() -> FileSettings {
    let config = Config::from_toml(FILE, "/etc/raftmasq/raftmasq.toml").expect("config");
    FileSettings::from_config(PathBuf::from("/etc/raftmasq/raftmasq.toml"), &config)
}

fn set(settings: &ClusterSettings, key: &str, value: &str) -> ClusterSettings {
    with_cluster_value(settings, key, value).expect("value")
}

#[test]
fn every_network_of_the_file_has_its_settings_and_this_hosts_address() {
    let file = file();
    let names: Vec<&str> = file.networks.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["lab", "far"]);
    let lab = file.network("lab").expect("lab");
    assert_eq!(lab.index, 0);
    assert_eq!(lab.address, Some(Ipv4Addr::new(10, 1, 0, 1)));
    assert_eq!(
        raftmasq_consensus::state::ranges_text(&lab.settings.ranges),
        "10.1.0.10-10.1.0.200"
    );
    // Lease time etc. come from [dhcp].
    assert_eq!(lab.settings.lease_time_secs, 3600);
    let far = file.network("far").expect("far");
    assert_eq!(far.index, 1);
    assert_eq!(
        far.address, None,
        "a relay-only network's address is not on it"
    );
    assert_eq!(far.routers, [Ipv4Addr::new(10, 2, 0, 1)]);
    assert!(file.network("default").is_none());
}

#[test]
fn a_networks_own_keys_are_named_where_its_entry_writes_them() {
    let file = file();
    let far = file.network("far").expect("far").settings.clone();
    let cluster = set(
        &set(&far, "dhcp.range", "10.2.0.10-10.2.0.250"),
        "dhcp.lease_time",
        "2h",
    );
    let differences = file
        .differences_in("far", &cluster)
        .expect("far is in the file");
    let named: Vec<(String, Option<String>)> = differences
        .iter()
        .map(|d| (d.key.clone(), d.file_key.clone()))
        .collect();
    assert_eq!(
        named,
        [
            (
                "dhcp.ranges".to_string(),
                Some("dhcp.networks[1].ranges".to_string())
            ),
            ("dhcp.lease_time".to_string(), None),
        ]
    );
    assert_eq!(differences[0].cluster, "10.2.0.10-10.2.0.250");
    assert_eq!(differences[0].other, "10.2.0.10-10.2.0.200");
    assert_eq!(
        described_key("far", &differences[0]),
        "dhcp.networks[1].ranges (network far)"
    );
    assert!(
        described_key("far", &differences[1])
            .starts_with("dhcp.lease_time (network far, from [dhcp]")
    );
    // `default`'s keys are the file's as they are.
    let default = set(&file.settings, "dhcp.range", "172.16.0.10-172.16.0.250");
    let differences = file.differences(&default);
    assert_eq!(differences.len(), 1);
    assert_eq!(differences[0].file_key, None);
    assert_eq!(described_key("default", &differences[0]), "dhcp.ranges");
    assert!(file.differences_in("elsewhere", &default).is_none());
}

#[test]
fn file_keys_of_a_network() {
    assert_eq!(
        network_file_key(2, "dhcp.subnet").as_deref(),
        Some("dhcp.networks[2].subnet")
    );
    assert_eq!(
        network_file_key(0, "dhcp.ranges").as_deref(),
        Some("dhcp.networks[0].ranges")
    );
    assert_eq!(
        network_file_key(0, "dns.domain").as_deref(),
        Some("dhcp.networks[0].domain")
    );
    assert_eq!(
        network_file_key(1, "dhcp.lease_time").as_deref(),
        Some("dhcp.networks[1].lease_time")
    );
    assert_eq!(network_file_key(0, "dhcp.client_identity"), None);
}

/// An entry that writes its own lease time, quarantine or policy has them in
/// its settings, and a difference in them is named at the entry; one that
/// does not takes `[dhcp]`'s, named there.
#[test]
fn a_networks_own_lease_time_policy_and_quarantine_are_its_own_keys() {
    let text = FILE.replace(
        "subnet = \"10.1.0.0/24\"",
        "subnet = \"10.1.0.0/24\"\nlease_time = \"5m\"\nduplicate_hostnames = \"reject\"\ndecline_quarantine = \"1m\"",
    );
    let config = Config::from_toml(&text, "/etc/raftmasq/raftmasq.toml").expect("config");
    let file = FileSettings::from_config(PathBuf::from("/etc/raftmasq/raftmasq.toml"), &config);
    let lab = file.network("lab").expect("lab");
    assert_eq!(lab.settings.lease_time_secs, 300);
    assert_eq!(lab.settings.decline_quarantine_secs, 60);
    assert_eq!(
        lab.settings.duplicate_hostnames,
        raftmasq_consensus::state::HostnamePolicy::Reject
    );
    let far = file.network("far").expect("far");
    assert_eq!(far.settings.lease_time_secs, 3600, "[dhcp]'s");
    let cluster = set(&lab.settings, "dhcp.lease_time", "2h");
    let differences = file.differences_in("lab", &cluster).expect("lab");
    assert_eq!(
        differences[0].file_key.as_deref(),
        Some("dhcp.networks[0].lease_time")
    );
    let cluster = set(&far.settings, "dhcp.lease_time", "2h");
    let differences = file.differences_in("far", &cluster).expect("far");
    assert_eq!(differences[0].file_key, None);
    let bad = FILE.replace(
        "subnet = \"10.1.0.0/24\"",
        "subnet = \"10.1.0.0/24\"\nlease_time = \"10s\"",
    );
    let error = Config::from_toml(&bad, "x.toml").unwrap_err().to_string();
    assert!(error.contains("dhcp.networks[0].lease_time"), "{error}");
}

#[test]
fn drift_lists_each_network_that_differs_and_skips_those_one_side_lacks() {
    let file = file();
    let default = file.settings.clone();
    let lab = set(
        &file.network("lab").expect("lab").settings,
        "dhcp.lease_time",
        "3h",
    );
    let far = file.network("far").expect("far").settings.clone();
    let other = set(&far, "dhcp.duplicate_hostnames", "reject");
    let cluster = [
        ("default", &default),
        ("lab", &lab),
        ("far", &far),
        ("elsewhere", &other),
    ];
    let drift = file.drift(cluster);
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0].network, "lab");
    assert_eq!(drift[0].differences[0].key, "dhcp.lease_time");
    assert_eq!(drift[0].differences[0].cluster, "3h");
    assert_eq!(drift[0].differences[0].other, "1h");
    assert!(
        file.drift([("default", &default), ("far", &far)])
            .is_empty()
    );
}

#[test]
fn the_apply_command_names_the_network_and_file() {
    let path = std::path::Path::new("/etc/raftmasq/raftmasq.toml");
    assert_eq!(
        apply_command("default", path),
        "dnsctl settings apply --from /etc/raftmasq/raftmasq.toml"
    );
    assert_eq!(
        apply_command("lab", path),
        "dnsctl settings apply --network lab --from /etc/raftmasq/raftmasq.toml"
    );
}

#[test]
fn a_range_leaves_out_this_hosts_address_and_routers_on_the_network() {
    let file = file();
    let lab = file.taken_on("lab", 1);
    assert_eq!(
        lab,
        [
            (
                Ipv4Addr::new(10, 1, 0, 1),
                "node 1's address on network lab".to_string()
            ),
            (
                Ipv4Addr::new(10, 1, 0, 1),
                "node 1's dhcp.networks[0].routers[0]".to_string()
            ),
        ]
    );
    // Relay-only: `address` is toward the relays, not on the network.
    assert_eq!(
        file.taken_on("far", 1),
        [(
            Ipv4Addr::new(10, 2, 0, 1),
            "node 1's dhcp.networks[1].routers[0]".to_string()
        )]
    );
    assert!(file.taken_on("elsewhere", 1).is_empty());
}
