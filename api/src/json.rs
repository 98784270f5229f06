//! The admin API's JSON, shared by the daemon (which serves it) and `dnsctl`
//! (which reads it). Field names here are the stable `--json` output
//! documented in `docs/dnsctl.md`: add fields, never rename or remove them.
//!
//! MAC addresses and client ids travel as text (`02:42:00:00:01:01`), times
//! as milliseconds since the Unix epoch, so any JSON tool can read them.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::str::FromStr;

use raftmasq_state::{ClientId, HostnameConflict, Lease, MacAddr, Millis, NodeId};
use serde::{Deserialize, Serialize};

/// Every path starts with this; a breaking change gets `/api/v2`.
pub const PREFIX: &str = "/api/v1";

/// The body of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// A stable, machine-readable kind: `bad_request`, `unauthorized`,
    /// `forbidden` (a browser write from another origin),
    /// `not_found`, `conflict`, `unavailable`, `internal`.
    pub error: String,
    /// What went wrong and what to do about it.
    pub message: String,
}

/// One lease as `dnsctl leases` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseView {
    pub address: Ipv4Addr,
    pub mac: String,
    pub client_id: String,
    /// The hostname the client asked for, as sent.
    pub requested_hostname: Option<String>,
    /// The DNS label granted (possibly suffixed, e.g. `c1-2`), without the domain.
    pub granted_name: Option<String>,
    /// `offered`, `bound`, or `expired` (ended, not yet dropped by the leader).
    pub state: String,
    pub granted_at: Millis,
    pub expires_at: Millis,
    /// The node whose bridge saw the client.
    pub seen_by: Option<NodeId>,
    /// The network the lease is in (`default` is `[dhcp]`'s); absent from
    /// servers older than several networks, which serve `default` only.
    #[serde(default = "default_network")]
    pub network: String,
}

fn default_network() -> String {
    raftmasq_state::DEFAULT_NETWORK.to_string()
}

impl LeaseView {
    /// `now` decides whether a lease that ended is shown as `expired`.
    pub fn new(lease: &Lease, now: Millis) -> LeaseView {
        let state = if lease.expires_at <= now {
            "expired".to_string()
        } else {
            lease.state.to_string()
        };
        LeaseView {
            address: lease.address,
            mac: lease.mac.to_string(),
            client_id: lease.client_id.to_string(),
            requested_hostname: lease.requested_hostname.clone(),
            granted_name: lease.granted_name.clone(),
            state,
            granted_at: lease.granted_at,
            expires_at: lease.expires_at,
            seen_by: lease.seen_by,
            network: default_network(),
        }
    }

    /// The same lease, listed as `network`'s.
    pub fn in_network(mut self, network: &str) -> LeaseView {
        self.network = network.to_string();
        self
    }
}

/// Filters and order of `GET /api/v1/leases` (and `dnsctl leases`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseQuery {
    /// Only leases whose client was seen by this node.
    pub host: Option<NodeId>,
    pub mac: Option<String>,
    /// Substring of the hostname asked for or the name granted (any case).
    pub name: Option<String>,
    pub state: Option<String>,
    /// Only leases of this network (`default` is `[dhcp]`'s).
    pub network: Option<String>,
    pub sort: Option<String>,
    #[serde(default)]
    pub consistent: bool,
    /// Only this DHCPv6 DUID (hex, any separator): the v6 leases of it, and
    /// v4 leases whose client id carries it (RFC 4361). See `leases6.rs`.
    #[serde(default)]
    pub duid: Option<String>,
}

/// Columns `--sort` accepts.
pub const SORT_KEYS: &[&str] = &[
    "address", "mac", "hostname", "name", "state", "expires", "host", "network",
];
/// States `--state` accepts.
pub const STATES: &[&str] = &["offered", "bound", "expired"];

impl LeaseQuery {
    /// Applies the filters and the order; an error names the bad parameter.
    pub fn select(&self, mut leases: Vec<LeaseView>) -> Result<Vec<LeaseView>, String> {
        let mac = match &self.mac {
            Some(text) => Some(
                MacAddr::from_str(text)
                    .map_err(|error| error.to_string())?
                    .to_string(),
            ),
            None => None,
        };
        if let Some(state) = &self.state
            && !STATES.contains(&state.as_str())
        {
            return Err(format!(
                "unknown state {state:?}: expected one of {}",
                STATES.join(", ")
            ));
        }
        let name = self.name.as_ref().map(|n| n.to_ascii_lowercase());
        let duid = self
            .duid
            .as_deref()
            .map(crate::leases6::normalize_duid)
            .transpose()?;
        leases.retain(|lease| {
            self.host.is_none_or(|host| lease.seen_by == Some(host))
                && duid.as_deref().is_none_or(|duid| {
                    crate::leases6::duid_of_client_id(&lease.client_id) == Some(duid)
                })
                && self
                    .network
                    .as_ref()
                    .is_none_or(|network| lease.network == *network)
                && mac.as_ref().is_none_or(|mac| lease.mac == *mac)
                && self
                    .state
                    .as_ref()
                    .is_none_or(|state| lease.state == *state)
                && name.as_ref().is_none_or(|name| {
                    [&lease.requested_hostname, &lease.granted_name]
                        .iter()
                        .any(|field| {
                            field
                                .as_ref()
                                .is_some_and(|value| value.to_ascii_lowercase().contains(name))
                        })
                })
        });
        let key = self.sort.as_deref().unwrap_or("address");
        let compare: fn(&LeaseView, &LeaseView) -> Ordering = match key {
            "address" => |a, b| a.address.cmp(&b.address),
            "mac" => |a, b| a.mac.cmp(&b.mac),
            "hostname" => |a, b| a.requested_hostname.cmp(&b.requested_hostname),
            "name" => |a, b| a.granted_name.cmp(&b.granted_name),
            "state" => |a, b| a.state.cmp(&b.state),
            "expires" => |a, b| a.expires_at.cmp(&b.expires_at),
            "host" => |a, b| a.seen_by.cmp(&b.seen_by),
            "network" => |a, b| a.network.cmp(&b.network),
            other => {
                return Err(format!(
                    "unknown sort key {other:?}: expected one of {}",
                    SORT_KEYS.join(", ")
                ));
            }
        };
        // Stable, with the address as the tie-breaker, so output is repeatable.
        leases.sort_by(|a, b| compare(a, b).then(a.address.cmp(&b.address)));
        Ok(leases)
    }
}

/// `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    /// The node that answered.
    pub node_id: NodeId,
    /// Its role: `leader`, `follower`, `candidate`, `learner`.
    pub role: String,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub committed: Option<u64>,
    pub applied: Option<u64>,
    /// Whether the answering node may act for the cluster right now.
    pub has_quorum: bool,
    /// Whether the cluster settings have been written (the cluster is usable).
    pub initialized: bool,
    pub domain: Option<String>,
    pub subnet: Option<String>,
    pub pool: PoolView,
    pub members: Vec<MemberView>,
    /// The DNS servers (option 6) the answering node's leases carry.
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// Members whose bridge address is not known yet: until it is, the list
    /// leaves out their hosts and DHCP waits.
    #[serde(default)]
    pub dns_servers_missing: Vec<NodeId>,
    /// The answering node's clock, for relative times.
    pub now: Millis,
    /// The correction of the answering node's clock toward the voters' median (ms).
    #[serde(default)]
    pub clock_correction_ms: i64,
    /// Voters whose clock was out of bound (`cluster.max_clock_offset`) in
    /// the last measurement, and not followed: node id and offset in ms.
    #[serde(default)]
    pub clock_out_of_bound: Vec<(NodeId, i64)>,
    /// Whether the answering node's own clock is the one out of bound.
    #[serde(default)]
    pub clock_this_host_out_of_bound: bool,
    /// Cluster-wide keys where the answering node's file differs from the
    /// cluster (the node follows the cluster): `dnsctl settings show`.
    #[serde(default)]
    pub settings_differ: Vec<SettingDifference>,
    /// The same for each network beside `default` where the file differs:
    /// `dnsctl settings show --network NAME`.
    #[serde(default)]
    pub network_settings_differ: Vec<NetworkSettingsDiffer>,
}

/// One network's keys where the answering node's file differs from the
/// cluster's values of that network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSettingsDiffer {
    pub network: String,
    pub differ: Vec<SettingDifference>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolView {
    /// Addresses in the dynamic range.
    pub size: u64,
    /// Bound plus offered leases.
    pub in_use: u64,
    pub bound: u64,
    pub offered: u64,
    /// Addresses any client could be given now.
    pub free: u64,
    pub reserved: u64,
    pub quarantined: u64,
}

/// One member as the answering node sees it (and as it reports itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub id: NodeId,
    /// `leader`, `follower` or `learner`, from the membership and the current leader.
    pub role: String,
    pub cluster_addr: String,
    pub admin_addr: Option<String>,
    /// Whether the member answered a probe within a short timeout.
    pub reachable: bool,
    /// Why not, when it did not.
    pub error: Option<String>,
    /// The member's own term and indexes, from its answer.
    pub term: Option<u64>,
    pub last_log_index: Option<u64>,
    pub applied: Option<u64>,
    /// Entries the leader has that this member has not replicated yet
    /// (`None` for the leader itself, or when the leader did not answer).
    pub lag: Option<u64>,
}

/// `GET /api/v1/members`'s bodies for writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberAdd {
    pub id: NodeId,
    pub cluster_addr: String,
    pub admin_addr: Option<String>,
}

/// `GET /api/v1/members`: the membership as the answering node knows it,
/// without probing anyone (`/status` probes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersView {
    /// The node that answered.
    pub node_id: NodeId,
    /// The leader it knows of (`None`: none it has heard from lately).
    pub leader: Option<NodeId>,
    pub members: Vec<MemberRoleView>,
}

/// One member and its role in the membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRoleView {
    pub id: NodeId,
    /// `voter` or `learner`.
    pub role: String,
    /// Whether it is the leader the answering node knows of.
    pub leader: bool,
    pub cluster_addr: String,
    pub admin_addr: Option<String>,
    /// Its bridge address (`dhcp.address`), as it registered it.
    pub bridge_address: Option<Ipv4Addr>,
}

/// The answer to every membership write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChanged {
    /// `learner_added`, `promoted`, `already_voter`, `demoted`,
    /// `already_learner`, `removed`.
    pub outcome: String,
    pub id: NodeId,
    pub message: String,
}

/// A reservation in and out of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationView {
    pub mac: String,
    pub address: Ipv4Addr,
    pub hostname: Option<String>,
    /// The network holding it, in listings (`default` is `[dhcp]`'s); a
    /// new reservation goes to the network whose subnet holds `address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// One hostname conflict: who holds the name, who asked for it later, and
/// what the latter got instead (under the `suffix` policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictView {
    pub name: String,
    pub owner: String,
    pub owner_address: Ipv4Addr,
    pub claimant: String,
    pub claimant_mac: String,
    pub claimant_address: Ipv4Addr,
    pub granted_instead: Option<String>,
    pub at: Millis,
    /// The name is the zone's own (a static record or a name server's host
    /// name), not a client's: `owner` is empty and `owner_address` 0.0.0.0.
    #[serde(default)]
    pub held_by_zone: bool,
}

impl From<&HostnameConflict> for ConflictView {
    fn from(conflict: &HostnameConflict) -> Self {
        ConflictView {
            name: conflict.name.clone(),
            owner: conflict.owner.to_string(),
            owner_address: conflict.owner_address,
            claimant: conflict.claimant.to_string(),
            claimant_mac: conflict.claimant_mac.to_string(),
            claimant_address: conflict.claimant_address,
            granted_instead: conflict.granted_instead.clone(),
            at: conflict.at,
            held_by_zone: conflict.owner.0.is_empty(),
        }
    }
}

/// The answer to a successful write that has nothing else to say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub message: String,
}

/// One cluster-wide key and its value as the file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingValue {
    pub key: String,
    pub value: String,
    /// Why it cannot change while the cluster runs; `None`: it can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
}

/// A key whose value differs: the cluster's and the other one (the
/// answering node's file, or the value before a change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingDifference {
    pub key: String,
    /// The cluster's value (before a change: the old one).
    pub cluster: String,
    /// The file's value (after a change: the new one).
    pub other: String,
    /// Where the file writes the key when that is not `key`: a network's
    /// own keys sit in its `[[dhcp.networks]]` entry
    /// (`dhcp.networks[1].range`); the keys it inherits from `[dhcp]` are
    /// `key` itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_key: Option<String>,
}

/// `GET /api/v1/settings`: the cluster-wide settings, and where the answering
/// node's file differs from them (the node follows the cluster).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsView {
    pub node_id: NodeId,
    /// Empty until the cluster has its settings.
    pub cluster: Vec<SettingValue>,
    /// The answering node's configuration file.
    pub file: String,
    pub file_differs: Vec<SettingDifference>,
    /// The network these settings are of (`?network=`, `default` when not
    /// asked); absent from servers older than per-network settings, which
    /// answer `default`'s whatever was asked.
    #[serde(default = "default_network")]
    pub network: String,
    /// Every network the cluster holds, `default` first.
    #[serde(default)]
    pub networks: Vec<String>,
}

/// `POST /api/v1/settings`: keys to set, as the file writes them
/// (`dhcp.range = "10.0.0.10-10.0.0.200"`, `dhcp.lease_time = "2h"`).
/// Keys not named keep the cluster's value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SettingsChange {
    pub values: BTreeMap<String, String>,
    /// The network to change (absent: `default`, as before networks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// The answer to a [`SettingsChange`]: what changed (`cluster`: old value,
/// `other`: new one); empty when every value was the cluster's already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsChanged {
    pub changed: Vec<SettingDifference>,
    pub message: String,
    /// The network changed; absent from older servers (`default`).
    #[serde(default = "default_network")]
    pub network: String,
}

/// Parses a client id as `dnsctl` and the API print it (hex octets, `:`-separated).
pub fn parse_client_id(text: &str) -> Result<ClientId, String> {
    let bytes: Result<Vec<u8>, _> = text
        .split(':')
        .map(|octet| {
            if octet.is_empty() || octet.len() > 2 {
                Err(())
            } else {
                u8::from_str_radix(octet, 16).map_err(|_| ())
            }
        })
        .collect();
    match bytes {
        Ok(bytes) if !bytes.is_empty() => Ok(ClientId(bytes)),
        _ => Err(format!(
            "invalid client id {text:?}: expected hex octets like 01:02:42:00:00:01:01"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftmasq_state::LeaseState;

    fn lease(address: [u8; 4], mac: u8, name: &str, expires_at: Millis, seen_by: u64) -> LeaseView {
        let mac = MacAddr([2, 0, 0, 0, 0, mac]);
        LeaseView::new(
            &Lease {
                address: Ipv4Addr::from(address),
                client_id: ClientId::from_mac(mac),
                mac,
                requested_hostname: Some(name.to_uppercase()),
                granted_name: Some(name.to_string()),
                state: LeaseState::Bound,
                granted_at: 0,
                expires_at,
                seen_by: Some(seen_by),
            },
            1_000,
        )
    }

    fn sample() -> Vec<LeaseView> {
        vec![
            lease([10, 0, 0, 30], 3, "web", 9_000, 2),
            lease([10, 0, 0, 10], 1, "db", 5_000, 1),
            lease([10, 0, 0, 20], 2, "web-2", 500, 1),
        ]
    }

    fn addresses(leases: &[LeaseView]) -> Vec<String> {
        leases.iter().map(|l| l.address.to_string()).collect()
    }

    #[test]
    fn a_lease_past_its_end_shows_as_expired() {
        let leases = sample();
        assert_eq!(leases[0].state, "bound");
        assert_eq!(leases[2].state, "expired");
        assert_eq!(leases[0].mac, "02:00:00:00:00:03");
        assert_eq!(leases[0].client_id, "01:02:00:00:00:00:03");
    }

    #[test]
    fn leases_carry_their_network_and_filter_and_sort_by_it() {
        let mut leases = sample();
        leases[0] = leases[0].clone().in_network("lab");
        assert_eq!(leases[1].network, "default");
        let json = serde_json::to_value(&leases[0]).expect("json");
        assert_eq!(json["network"], "lab");
        // A server older than several networks sends no field: `default`.
        let mut old = serde_json::to_value(&leases[1]).expect("json");
        old.as_object_mut().expect("object").remove("network");
        let old: LeaseView = serde_json::from_value(old).expect("old lease");
        assert_eq!(old.network, "default");
        let query = LeaseQuery {
            network: Some("lab".into()),
            ..Default::default()
        };
        assert_eq!(
            addresses(&query.select(leases.clone()).expect("ok")),
            ["10.0.0.30"]
        );
        let query = LeaseQuery {
            sort: Some("network".into()),
            ..Default::default()
        };
        assert_eq!(
            addresses(&query.select(leases).expect("ok")),
            ["10.0.0.10", "10.0.0.20", "10.0.0.30"]
        );
    }

    #[test]
    fn filters_combine_and_match_names_in_any_case() {
        let query = LeaseQuery {
            host: Some(1),
            ..Default::default()
        };
        assert_eq!(
            addresses(&query.select(sample()).expect("ok")),
            ["10.0.0.10", "10.0.0.20"]
        );
        let query = LeaseQuery {
            name: Some("WEB".into()),
            state: Some("bound".into()),
            ..Default::default()
        };
        assert_eq!(
            addresses(&query.select(sample()).expect("ok")),
            ["10.0.0.30"]
        );
        let query = LeaseQuery {
            mac: Some("02-00-00-00-00-01".into()),
            ..Default::default()
        };
        assert_eq!(
            addresses(&query.select(sample()).expect("ok")),
            ["10.0.0.10"]
        );
    }

    #[test]
    fn sorts_by_the_key_asked_for_with_the_address_breaking_ties() {
        let by = |key: &str| LeaseQuery {
            sort: Some(key.into()),
            ..Default::default()
        };
        assert_eq!(
            addresses(&by("address").select(sample()).expect("ok")),
            ["10.0.0.10", "10.0.0.20", "10.0.0.30"]
        );
        assert_eq!(
            addresses(&by("expires").select(sample()).expect("ok")),
            ["10.0.0.20", "10.0.0.10", "10.0.0.30"]
        );
        assert_eq!(
            addresses(&by("host").select(sample()).expect("ok")),
            ["10.0.0.10", "10.0.0.20", "10.0.0.30"]
        );
        assert_eq!(
            addresses(&by("name").select(sample()).expect("ok")),
            ["10.0.0.10", "10.0.0.30", "10.0.0.20"]
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        let bad_sort = LeaseQuery {
            sort: Some("colour".into()),
            ..Default::default()
        };
        assert!(
            bad_sort
                .select(sample())
                .expect_err("bad sort")
                .contains("expected one of address")
        );
        let bad_mac = LeaseQuery {
            mac: Some("02:00".into()),
            ..Default::default()
        };
        assert!(
            bad_mac
                .select(sample())
                .expect_err("bad mac")
                .contains("invalid MAC")
        );
        let bad_state = LeaseQuery {
            state: Some("gone".into()),
            ..Default::default()
        };
        assert!(bad_state.select(sample()).is_err());
    }

    #[test]
    fn client_ids_parse_back() {
        let id = ClientId(vec![1, 2, 0x42, 0, 0, 1, 1]);
        assert_eq!(parse_client_id(&id.to_string()), Ok(id));
        assert!(parse_client_id("01:zz").is_err());
        assert!(parse_client_id("").is_err());
        assert!(parse_client_id("123").is_err());
    }

    /// Refusals travel between nodes (a forwarded write) and to `dnsctl`: every
    /// kind must survive JSON, including those that carry only a string.
    #[test]
    fn every_kind_of_refusal_survives_json() {
        use raftmasq_state::{Rejection, Response};
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let address = Ipv4Addr::new(10, 0, 0, 1);
        let client = ClientId::from_mac(mac);
        for reason in [
            Rejection::NotInitialized,
            Rejection::InvalidRecord("a CNAME cannot coexist".into()),
            Rejection::InvalidSettings("bad".into()),
            Rejection::OutsideSubnet { address },
            Rejection::AddressLeased { address, client },
            Rejection::DuplicateReservation { mac, address },
        ] {
            let response = Response::Rejected { reason };
            let text = serde_json::to_string(&response).expect("serialise");
            let back: Response = serde_json::from_str(&text).expect("parse");
            assert_eq!(back, response, "{text}");
        }
    }
}

/// One DHCPv6 lease as `GET /api/v1/leases6` and `dnsctl leases` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V6LeaseView {
    pub address: std::net::Ipv6Addr,
    /// The client's DUID, hex octets separated by `:`.
    pub duid: String,
    pub iaid: u32,
    pub mac: Option<String>,
    pub name: Option<String>,
    pub expires_at: Millis,
}

impl V6LeaseView {
    pub fn new(lease: &raftmasq_state::v6::V6Lease) -> Self {
        V6LeaseView {
            address: lease.address,
            duid: lease.binding.duid.to_string(),
            iaid: lease.binding.iaid,
            mac: lease.mac.map(|m| m.to_string()),
            name: lease.name.clone(),
            expires_at: lease.expires_at,
        }
    }
}
