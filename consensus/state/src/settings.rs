//! The settings that every node of one cluster shares.
//!
//! They are replicated through Raft (the first log entry carries them, every
//! snapshot, and each `ChangeSettings` entry), so they live with the state
//! machine, which never reads a node's local file: the config crate maps the
//! file's values into them, and a node whose file disagrees follows the
//! cluster's and names the differing keys ([`ClusterSettings::differing_keys`]).
//! Field names and serde representations are the log and snapshot format
//! (`tests/serialized_forms.rs` pins them).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// What happens when a second client asks for a hostname that is already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HostnamePolicy {
    /// The newcomer is granted `name-2`, then `name-3`, ...
    #[default]
    Suffix,
    /// The newcomer gets its address but no name; the conflict is recorded.
    Reject,
}

/// What identifies a DHCP client, so what its lease is keyed on
/// (`dhcp.client_identity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ClientIdentity {
    /// Option 61 when the client sends one, else the hardware address
    /// (RFC 2131 §4.2). The default, and what logs written before the key
    /// existed mean.
    #[default]
    ClientId,
    /// The hardware address only; option 61 is ignored for identity (dnsmasq's
    /// `--dhcp-ignore-clid`). For copies of one container, which send the same
    /// option 61 (a DUID from the shared `/etc/machine-id`) from different MACs.
    Mac,
}

impl ClientIdentity {
    /// The value as written in the configuration file.
    pub fn as_str(&self) -> &'static str {
        match self {
            ClientIdentity::ClientId => "client-id",
            ClientIdentity::Mac => "mac",
        }
    }
}

/// An inclusive range of IPv4 addresses, `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressRange {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

impl AddressRange {
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        self.start <= address && address <= self.end
    }

    /// Number of addresses in the range.
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.end)) - u64::from(u32::from(self.start)) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl std::fmt::Display for AddressRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Settings every node of a cluster acts on alike (the replicated ones, not its file's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSettings {
    /// The shared L2 segment's subnet (`dhcp.subnet`).
    pub subnet: Ipv4Net,
    /// Dynamic pool (`dhcp.range`).
    pub range: AddressRange,
    /// DNS domain of the cluster zone, without trailing dot (`dns.domain`).
    pub domain: String,
    /// Lease duration in seconds (`dhcp.lease_time`).
    pub lease_time_secs: u64,
    /// Duplicate-hostname policy (`dhcp.duplicate_hostnames`).
    pub duplicate_hostnames: HostnamePolicy,
    /// How long a declined address stays out of the pool, seconds (`dhcp.decline_quarantine`).
    pub decline_quarantine_secs: u64,
    /// What a client's lease is keyed on (`dhcp.client_identity`). Absent from
    /// logs and snapshots written before the key existed: those mean `client-id`.
    #[serde(default)]
    pub client_identity: ClientIdentity,
}

impl ClusterSettings {
    /// The configuration keys (as written in the TOML file) whose values differ.
    pub fn differing_keys(&self, other: &ClusterSettings) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.subnet != other.subnet {
            keys.push("dhcp.subnet");
        }
        if self.range != other.range {
            keys.push("dhcp.range");
        }
        if !self.domain.eq_ignore_ascii_case(&other.domain) {
            keys.push("dns.domain");
        }
        if self.lease_time_secs != other.lease_time_secs {
            keys.push("dhcp.lease_time");
        }
        if self.duplicate_hostnames != other.duplicate_hostnames {
            keys.push("dhcp.duplicate_hostnames");
        }
        if self.decline_quarantine_secs != other.decline_quarantine_secs {
            keys.push("dhcp.decline_quarantine");
        }
        if self.client_identity != other.client_identity {
            keys.push("dhcp.client_identity");
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ClusterSettings {
        ClusterSettings {
            subnet: "172.16.0.0/16".parse().unwrap(),
            range: AddressRange {
                start: Ipv4Addr::new(172, 16, 0, 10),
                end: Ipv4Addr::new(172, 16, 255, 254),
            },
            domain: "lxd".into(),
            lease_time_secs: 3600,
            duplicate_hostnames: HostnamePolicy::Suffix,
            decline_quarantine_secs: 600,
            client_identity: ClientIdentity::ClientId,
        }
    }

    #[test]
    fn identical_settings_have_no_differences() {
        assert!(settings().differing_keys(&settings()).is_empty());
    }

    #[test]
    fn differences_are_named_by_config_key() {
        let mut other = settings();
        other.lease_time_secs = 60;
        other.duplicate_hostnames = HostnamePolicy::Reject;
        assert_eq!(
            settings().differing_keys(&other),
            vec!["dhcp.lease_time", "dhcp.duplicate_hostnames"]
        );
    }

    #[test]
    fn a_different_client_identity_is_named() {
        let mut other = settings();
        other.client_identity = ClientIdentity::Mac;
        assert_eq!(
            settings().differing_keys(&other),
            vec!["dhcp.client_identity"]
        );
    }

    #[test]
    fn settings_written_before_client_identity_existed_mean_client_id() {
        let mut json = serde_json::to_value(settings()).unwrap();
        json.as_object_mut().unwrap().remove("client_identity");
        let old: ClusterSettings = serde_json::from_value(json).unwrap();
        assert_eq!(old.client_identity, ClientIdentity::ClientId);
        assert_eq!(old, settings());
    }

    #[test]
    fn client_identity_is_written_as_in_the_file() {
        let mut mac = settings();
        mac.client_identity = ClientIdentity::Mac;
        let json = serde_json::to_value(&mac).unwrap();
        assert_eq!(json["client_identity"], "mac");
        assert_eq!(
            serde_json::to_value(ClientIdentity::ClientId).unwrap(),
            ClientIdentity::ClientId.as_str()
        );
    }

    #[test]
    fn range_length_counts_both_ends() {
        assert_eq!(settings().range.len(), 65_525);
    }
}
