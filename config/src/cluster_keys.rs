//! The cluster-wide keys one at a time, as written in the file: shown by
//! `dnsctl settings show`, set by `dnsctl settings set KEY VALUE`, compared
//! with a node's own file. Values parse with the file's own parsers and
//! bounds, so a key set live is exactly a key the file would accept.

use std::net::Ipv4Addr;
use std::time::Duration;

use raftmasq_state::{AddressRange, ClientIdentity, ClusterSettings, HostnamePolicy};

use crate::{duration, net, validate};

/// Every cluster-wide key, in the order the file documents them.
pub const CLUSTER_KEYS: [&str; 7] = [
    "dhcp.subnet",
    "dhcp.ranges",
    "dhcp.lease_time",
    "dhcp.decline_quarantine",
    "dhcp.duplicate_hostnames",
    "dhcp.client_identity",
    "dns.domain",
];

/// `key`'s value in `settings` as the file would write it.
pub fn cluster_value(settings: &ClusterSettings, key: &str) -> Option<String> {
    let seconds = |secs: u64| humantime::format_duration(Duration::from_secs(secs)).to_string();
    Some(match key {
        "dhcp.subnet" => settings.subnet.to_string(),
        "dhcp.ranges" | "dhcp.range" => raftmasq_state::ranges_text(&settings.ranges),
        "dhcp.lease_time" => seconds(settings.lease_time_secs),
        "dhcp.decline_quarantine" => seconds(settings.decline_quarantine_secs),
        "dhcp.duplicate_hostnames" => match settings.duplicate_hostnames {
            HostnamePolicy::Suffix => "suffix".into(),
            HostnamePolicy::Reject => "reject".into(),
        },
        "dhcp.client_identity" => settings.client_identity.as_str().into(),
        "dns.domain" => settings.domain.clone(),
        _ => return None,
    })
}

/// `settings` with `key` set to `value`, parsed and bounded as in the file.
/// The error is the reason, naming the key.
pub fn with_cluster_value(
    settings: &ClusterSettings,
    key: &str,
    value: &str,
) -> Result<ClusterSettings, String> {
    let mut new = settings.clone();
    let at_key = |reason: String| format!("{key}: {reason}");
    match key {
        "dhcp.subnet" => new.subnet = net::subnet(value).map_err(at_key)?,
        // `dhcp.range` as the file's one-range key writes it.
        "dhcp.ranges" | "dhcp.range" => {
            new.ranges = crate::ranges::parse_list(value).map_err(at_key)?;
        }
        "dhcp.lease_time" => {
            new.lease_time_secs = duration::parse(value, validate::LEASE_TIME)
                .map_err(at_key)?
                .as_secs();
        }
        "dhcp.decline_quarantine" => {
            new.decline_quarantine_secs = duration::parse(value, validate::DECLINE_QUARANTINE)
                .map_err(at_key)?
                .as_secs();
        }
        "dhcp.duplicate_hostnames" => {
            new.duplicate_hostnames = match value.trim() {
                "suffix" => HostnamePolicy::Suffix,
                "reject" => HostnamePolicy::Reject,
                other => return Err(at_key(format!("`{other}` is not one of suffix, reject"))),
            }
        }
        "dhcp.client_identity" => {
            new.client_identity = match value.trim() {
                "client-id" => ClientIdentity::ClientId,
                "mac" => ClientIdentity::Mac,
                other => return Err(at_key(format!("`{other}` is not one of client-id, mac"))),
            }
        }
        "dns.domain" => {
            new.domain = raftmasq_state::normalize_dns_name(value).map_err(at_key)?;
        }
        other => {
            return Err(format!(
                "{other} is not a cluster-wide key: expected one of {}",
                CLUSTER_KEYS.join(", ")
            ));
        }
    }
    Ok(new)
}

/// The file's rules for the ranges, for ranges set live: inside the subnet,
/// and none of the addresses that are already someone's (`taken`: network and
/// broadcast are added here; the caller passes every host's bridge address
/// and router). One reason per problem.
pub fn range_problems(
    ranges: &[AddressRange],
    subnet: ipnet::Ipv4Net,
    taken: &[(Ipv4Addr, String)],
) -> Vec<String> {
    let mut all = validate::edge_addresses(subnet);
    all.extend(taken.iter().map(|(a, what)| (*a, what.clone())));
    ranges
        .iter()
        .flat_map(|range| validate::range_problems(*range, subnet, &all))
        .collect()
}

/// One key whose value differs: the cluster's and the file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDifference {
    pub key: &'static str,
    pub cluster: String,
    pub file: String,
}

/// The keys where `file` differs from `cluster`, with both values.
pub fn differences(cluster: &ClusterSettings, file: &ClusterSettings) -> Vec<KeyDifference> {
    cluster
        .differing_keys(file)
        .into_iter()
        .map(|key| KeyDifference {
            key,
            cluster: cluster_value(cluster, key).unwrap_or_default(),
            file: cluster_value(file, key).unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ClusterSettings {
        crate::Config::from_toml(include_str!("../../examples/lxd1.toml"), "lxd1.toml")
            .unwrap()
            .cluster_settings()
    }

    #[test]
    fn every_key_shows_a_value_that_sets_it_back() {
        let settings = settings();
        for key in CLUSTER_KEYS {
            let value = cluster_value(&settings, key).unwrap();
            assert_eq!(
                with_cluster_value(&settings, key, &value).unwrap(),
                settings,
                "{key}"
            );
        }
    }

    #[test]
    fn values_parse_as_in_the_file() {
        let settings = settings();
        let new = with_cluster_value(&settings, "dhcp.lease_time", "2h").unwrap();
        assert_eq!(new.lease_time_secs, 7200);
        assert_eq!(cluster_value(&new, "dhcp.lease_time").unwrap(), "2h");
        let error = with_cluster_value(&settings, "dhcp.lease_time", "10s").unwrap_err();
        assert!(error.starts_with("dhcp.lease_time: "), "{error}");
        assert!(with_cluster_value(&settings, "dhcp.range", "10.0.0.9-10.0.0.1").is_err());
        let two = with_cluster_value(
            &settings,
            "dhcp.ranges",
            "172.16.2.0-172.16.2.99, 172.16.1.0-172.16.1.99",
        )
        .unwrap();
        assert_eq!(
            cluster_value(&two, "dhcp.ranges").unwrap(),
            "172.16.1.0-172.16.1.99, 172.16.2.0-172.16.2.99"
        );
        let one = with_cluster_value(&two, "dhcp.range", "172.16.1.0-172.16.1.50").unwrap();
        assert_eq!(one.ranges.len(), 1);
        let none = with_cluster_value(&settings, "dhcp.ranges", "none").unwrap();
        assert!(none.ranges.is_empty());
        assert_eq!(cluster_value(&none, "dhcp.ranges").unwrap(), "none");
        assert_eq!(settings.differing_keys(&none), ["dhcp.ranges"]);
        let overlap = with_cluster_value(
            &settings,
            "dhcp.ranges",
            "172.16.1.0-172.16.1.99,172.16.1.50-172.16.1.60",
        )
        .unwrap_err();
        assert!(overlap.starts_with("dhcp.ranges: "), "{overlap}");
        let error = with_cluster_value(&settings, "dhcp.router", "10.0.0.1").unwrap_err();
        assert!(error.contains("not a cluster-wide key"), "{error}");
    }

    #[test]
    fn a_range_over_a_bridge_or_the_broadcast_address_is_refused() {
        let subnet: ipnet::Ipv4Net = "10.0.0.0/24".parse().unwrap();
        let range = net::range("10.0.0.1-10.0.0.255").unwrap();
        let taken = [(
            "10.0.0.1".parse().unwrap(),
            "node 1's bridge address".to_string(),
        )];
        let problems = range_problems(&[range], subnet, &taken);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("broadcast")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("node 1's bridge address"))
        );
        assert!(
            range_problems(
                &[net::range("10.0.0.10-10.0.0.20").unwrap()],
                subnet,
                &taken
            )
            .is_empty()
        );
    }
}
