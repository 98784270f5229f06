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

/// Most dynamic ranges one network's settings may hold. Far more than any
/// bridge needs; it bounds the work of checking a pool address (a binary
/// search) and of a settings change (a walk of every range).
pub const MAX_RANGES: usize = 64;

/// Settings every node of a cluster acts on alike (the replicated ones, not its file's).
///
/// Serialized by hand ([`form`]): the Raft log's JSON keeps the form of
/// releases with one range (`"range": {..}`) while there is exactly one, so a
/// node of such a release still reads it, and writes `"ranges": [..]`
/// otherwise; the binary snapshot (format 3 on) always carries the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// The network's subnet (`dhcp.subnet`).
    pub subnet: Ipv4Net,
    /// Dynamic pools (`dhcp.range`, or `dhcp.ranges`), ascending and
    /// disjoint. Empty: no dynamic pool; the network serves reservations and
    /// INFORM only.
    pub ranges: Vec<AddressRange>,
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
    pub client_identity: ClientIdentity,
}

/// Ranges as the file and `dnsctl` write them: `a-b, c-d`, or `none`.
pub fn ranges_text(ranges: &[AddressRange]) -> String {
    if ranges.is_empty() {
        return "none".into();
    }
    ranges
        .iter()
        .map(AddressRange::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why `ranges` cannot be one network's pools in `subnet`: each inside it,
/// start before end, ascending and disjoint, at most [`MAX_RANGES`].
pub fn ranges_problem(ranges: &[AddressRange], subnet: Ipv4Net) -> Option<String> {
    if ranges.len() > MAX_RANGES {
        return Some(format!(
            "{} ranges; at most {MAX_RANGES} per network",
            ranges.len()
        ));
    }
    for range in ranges {
        if range.start > range.end {
            return Some(format!("range {range} ends before it starts"));
        }
        if !subnet.contains(&range.start) || !subnet.contains(&range.end) {
            return Some(format!("range {range} is not inside subnet {subnet}"));
        }
    }
    for pair in ranges.windows(2) {
        if pair[1].start <= pair[0].end {
            return Some(format!(
                "ranges {} and {} overlap or are out of order (ascending, disjoint)",
                pair[0], pair[1]
            ));
        }
    }
    None
}

impl ClusterSettings {
    /// Whether `address` lies in one of the dynamic ranges. O(log ranges).
    pub fn in_pool(&self, address: Ipv4Addr) -> bool {
        let after = self.ranges.partition_point(|range| range.end < address);
        self.ranges
            .get(after)
            .is_some_and(|range| range.contains(address))
    }

    /// Addresses in all dynamic ranges together.
    pub fn pool_size(&self) -> u64 {
        self.ranges.iter().map(AddressRange::len).sum()
    }

    /// The configuration keys (as written in the TOML file) whose values differ.
    pub fn differing_keys(&self, other: &ClusterSettings) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.subnet != other.subnet {
            keys.push("dhcp.subnet");
        }
        if self.ranges != other.ranges {
            keys.push("dhcp.ranges");
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

/// The serialized forms of [`ClusterSettings`].
mod form {
    use super::*;
    use serde::de::Error as _;
    use serde::{Deserializer, Serializer};

    /// The JSON of releases with one range, and snapshot formats 1 and 2.
    #[derive(Serialize)]
    struct OneRangeRef<'a> {
        subnet: &'a Ipv4Net,
        range: &'a AddressRange,
        domain: &'a str,
        lease_time_secs: u64,
        duplicate_hostnames: HostnamePolicy,
        decline_quarantine_secs: u64,
        client_identity: ClientIdentity,
    }

    /// The JSON with several ranges or none, and the binary form since
    /// snapshot format 3. Field order is the binary format.
    #[derive(Serialize)]
    struct RangesRef<'a> {
        subnet: &'a Ipv4Net,
        ranges: &'a [AddressRange],
        domain: &'a str,
        lease_time_secs: u64,
        duplicate_hostnames: HostnamePolicy,
        decline_quarantine_secs: u64,
        client_identity: ClientIdentity,
    }

    #[derive(Deserialize)]
    struct Ranges {
        subnet: Ipv4Net,
        ranges: Vec<AddressRange>,
        domain: String,
        lease_time_secs: u64,
        duplicate_hostnames: HostnamePolicy,
        decline_quarantine_secs: u64,
        client_identity: ClientIdentity,
    }

    /// What JSON may hold: either form, and logs from before
    /// `client_identity`.
    #[derive(Deserialize)]
    struct Json {
        subnet: Ipv4Net,
        #[serde(default)]
        range: Option<AddressRange>,
        #[serde(default)]
        ranges: Option<Vec<AddressRange>>,
        domain: String,
        lease_time_secs: u64,
        duplicate_hostnames: HostnamePolicy,
        decline_quarantine_secs: u64,
        #[serde(default)]
        client_identity: ClientIdentity,
    }

    impl Serialize for ClusterSettings {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            match self.ranges.as_slice() {
                [range] if serializer.is_human_readable() => OneRangeRef {
                    subnet: &self.subnet,
                    range,
                    domain: &self.domain,
                    lease_time_secs: self.lease_time_secs,
                    duplicate_hostnames: self.duplicate_hostnames,
                    decline_quarantine_secs: self.decline_quarantine_secs,
                    client_identity: self.client_identity,
                }
                .serialize(serializer),
                ranges => RangesRef {
                    subnet: &self.subnet,
                    ranges,
                    domain: &self.domain,
                    lease_time_secs: self.lease_time_secs,
                    duplicate_hostnames: self.duplicate_hostnames,
                    decline_quarantine_secs: self.decline_quarantine_secs,
                    client_identity: self.client_identity,
                }
                .serialize(serializer),
            }
        }
    }

    impl<'de> Deserialize<'de> for ClusterSettings {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            if !deserializer.is_human_readable() {
                let Ranges {
                    subnet,
                    ranges,
                    domain,
                    lease_time_secs,
                    duplicate_hostnames,
                    decline_quarantine_secs,
                    client_identity,
                } = Ranges::deserialize(deserializer)?;
                return Ok(ClusterSettings {
                    subnet,
                    ranges,
                    domain,
                    lease_time_secs,
                    duplicate_hostnames,
                    decline_quarantine_secs,
                    client_identity,
                });
            }
            let json = Json::deserialize(deserializer)?;
            let ranges = match (json.range, json.ranges) {
                (Some(range), None) => vec![range],
                (None, Some(ranges)) => ranges,
                (Some(_), Some(_)) => {
                    return Err(D::Error::custom("settings hold both `range` and `ranges`"));
                }
                (None, None) => return Err(D::Error::missing_field("ranges")),
            };
            Ok(ClusterSettings {
                subnet: json.subnet,
                ranges,
                domain: json.domain,
                lease_time_secs: json.lease_time_secs,
                duplicate_hostnames: json.duplicate_hostnames,
                decline_quarantine_secs: json.decline_quarantine_secs,
                client_identity: json.client_identity,
            })
        }
    }
}

/// [`ClusterSettings`] as snapshot formats 1 and 2 wrote them (one range),
/// read from old data directories and followers of older releases.
#[derive(Debug, Clone, Deserialize)]
pub struct OneRangeSettings {
    subnet: Ipv4Net,
    range: AddressRange,
    domain: String,
    lease_time_secs: u64,
    duplicate_hostnames: HostnamePolicy,
    decline_quarantine_secs: u64,
    client_identity: ClientIdentity,
}

impl From<OneRangeSettings> for ClusterSettings {
    fn from(old: OneRangeSettings) -> Self {
        ClusterSettings {
            subnet: old.subnet,
            ranges: vec![old.range],
            domain: old.domain,
            lease_time_secs: old.lease_time_secs,
            duplicate_hostnames: old.duplicate_hostnames,
            decline_quarantine_secs: old.decline_quarantine_secs,
            client_identity: old.client_identity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ClusterSettings {
        ClusterSettings {
            subnet: "172.16.0.0/16".parse().unwrap(),
            ranges: vec![AddressRange {
                start: Ipv4Addr::new(172, 16, 0, 10),
                end: Ipv4Addr::new(172, 16, 255, 254),
            }],
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
        assert_eq!(settings().ranges[0].len(), 65_525);
        assert_eq!(settings().pool_size(), 65_525);
    }

    fn range(text: &str) -> AddressRange {
        let (start, end) = text.split_once('-').unwrap();
        AddressRange {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
        }
    }

    #[test]
    fn an_address_is_in_the_pool_when_one_range_holds_it() {
        let mut two = settings();
        two.ranges = vec![
            range("172.16.0.10-172.16.0.20"),
            range("172.16.1.0-172.16.1.9"),
        ];
        for (address, inside) in [
            ("172.16.0.9", false),
            ("172.16.0.10", true),
            ("172.16.0.20", true),
            ("172.16.0.21", false),
            ("172.16.0.255", false),
            ("172.16.1.0", true),
            ("172.16.1.9", true),
            ("172.16.1.10", false),
        ] {
            assert_eq!(two.in_pool(address.parse().unwrap()), inside, "{address}");
        }
        assert_eq!(two.pool_size(), 21);
        let mut none = settings();
        none.ranges.clear();
        assert!(!none.in_pool("172.16.0.10".parse().unwrap()));
        assert_eq!(none.pool_size(), 0);
        assert_eq!(ranges_text(&none.ranges), "none");
        assert_eq!(
            ranges_text(&two.ranges),
            "172.16.0.10-172.16.0.20, 172.16.1.0-172.16.1.9"
        );
    }

    #[test]
    fn overlapping_unordered_or_outside_ranges_are_named() {
        let subnet: Ipv4Net = "172.16.0.0/16".parse().unwrap();
        let ok = [
            range("172.16.0.10-172.16.0.20"),
            range("172.16.0.21-172.16.0.30"),
        ];
        assert_eq!(ranges_problem(&ok, subnet), None);
        assert_eq!(ranges_problem(&[], subnet), None);
        let overlap = [
            range("172.16.0.10-172.16.0.20"),
            range("172.16.0.20-172.16.0.30"),
        ];
        assert!(
            ranges_problem(&overlap, subnet)
                .unwrap()
                .contains("overlap")
        );
        let reversed = [ok[1], ok[0]];
        assert!(
            ranges_problem(&reversed, subnet)
                .unwrap()
                .contains("out of order")
        );
        let outside = [range("172.17.0.1-172.17.0.2")];
        assert!(
            ranges_problem(&outside, subnet)
                .unwrap()
                .contains("not inside")
        );
        let backwards = [range("172.16.0.9-172.16.0.1")];
        assert!(
            ranges_problem(&backwards, subnet)
                .unwrap()
                .contains("ends before")
        );
        let many: Vec<AddressRange> = (0..=MAX_RANGES as u8)
            .map(|n| range(&format!("172.16.{n}.1-172.16.{n}.2")))
            .collect();
        assert!(ranges_problem(&many, subnet).unwrap().contains("at most"));
    }

    #[test]
    fn one_range_is_written_as_before_several_and_none_as_a_list() {
        let json = serde_json::to_value(settings()).unwrap();
        assert_eq!(json["range"]["start"], "172.16.0.10");
        assert!(json.get("ranges").is_none());
        let mut two = settings();
        two.ranges = vec![
            range("172.16.0.10-172.16.0.20"),
            range("172.16.1.0-172.16.1.9"),
        ];
        let mut none = settings();
        none.ranges.clear();
        for value in [two, none] {
            let json = serde_json::to_value(&value).unwrap();
            assert!(json.get("range").is_none());
            assert_eq!(json["ranges"].as_array().unwrap().len(), value.ranges.len());
            assert_eq!(
                serde_json::from_value::<ClusterSettings>(json).unwrap(),
                value
            );
            let binary = postcard::to_stdvec(&value).unwrap();
            assert_eq!(
                postcard::from_bytes::<ClusterSettings>(&binary).unwrap(),
                value
            );
        }
        let binary = postcard::to_stdvec(&settings()).unwrap();
        assert_eq!(
            postcard::from_bytes::<ClusterSettings>(&binary).unwrap(),
            settings()
        );
    }

    #[test]
    fn json_with_both_forms_or_neither_is_refused() {
        let mut json = serde_json::to_value(settings()).unwrap();
        json["ranges"] = serde_json::json!([]);
        assert!(serde_json::from_value::<ClusterSettings>(json.clone()).is_err());
        json.as_object_mut().unwrap().remove("range");
        json.as_object_mut().unwrap().remove("ranges");
        let error = serde_json::from_value::<ClusterSettings>(json).unwrap_err();
        assert!(error.to_string().contains("ranges"), "{error}");
    }
}
