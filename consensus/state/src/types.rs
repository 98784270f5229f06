//! Values stored in the replicated state: leases, reservations, static records.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::settings::ClientIdentity;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, as stamped by the leader into a command.
pub type Millis = u64;

/// Raft node id.
pub type NodeId = u64;

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six hex octets like 00:16:3e:12:34:56")]
pub struct InvalidMac(pub String);

impl FromStr for MacAddr {
    type Err = InvalidMac;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidMac(text.to_string());
        let mut octets = [0u8; 6];
        let mut parts = text.split([':', '-']);
        for octet in &mut octets {
            let part = parts.next().ok_or_else(invalid)?;
            if part.is_empty() || part.len() > 2 {
                return Err(invalid());
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| invalid())?;
        }
        if parts.next().is_some() {
            return Err(invalid());
        }
        Ok(MacAddr(octets))
    }
}

/// How a DHCP client identifies itself: option 61 if sent, else its hardware
/// address (prefixed with the ARP hardware type 1, as RFC 2132 §9.14 suggests).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ClientId(pub Vec<u8>);

impl ClientId {
    pub fn from_mac(mac: MacAddr) -> Self {
        let mut bytes = Vec::with_capacity(7);
        bytes.push(1);
        bytes.extend_from_slice(&mac.0);
        ClientId(bytes)
    }

    /// The key a lease of this client has in the table under `identity`
    /// (`dhcp.client_identity`): option 61 (`sent`) if any, else the MAC, under
    /// `client-id`; always the MAC under `mac`. DHCP (`dhcpd::decide`) and the
    /// importers key with this one function, so that an imported lease is the
    /// one the client's next renewal finds.
    pub fn keyed(identity: ClientIdentity, sent: Option<&ClientId>, mac: MacAddr) -> ClientId {
        match (identity, sent) {
            (ClientIdentity::ClientId, Some(sent)) => sent.clone(),
            (ClientIdentity::ClientId, None) | (ClientIdentity::Mac, _) => ClientId::from_mac(mac),
        }
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({self})")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseState {
    /// Held for a client between DHCPOFFER and DHCPREQUEST; owns no DNS name.
    /// Only the retired `Command::Allocate` creates it, so only a table
    /// replayed from an old log can hold one.
    Offered,
    /// Acknowledged (DHCPACK); owns its granted DNS name until it expires or is released.
    Bound,
}

impl fmt::Display for LeaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LeaseState::Offered => "offered",
            LeaseState::Bound => "bound",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub client_id: ClientId,
    pub mac: MacAddr,
    /// The hostname the client asked for (option 12 / 81), as sent.
    pub requested_hostname: Option<String>,
    /// The DNS label granted under the cluster policy (lowercase, no domain);
    /// `None` when the client asked for no valid name or the policy rejected it.
    pub granted_name: Option<String>,
    pub state: LeaseState,
    /// When this lease was first granted or last renewed.
    pub granted_at: Millis,
    pub expires_at: Millis,
    /// The node whose bridge saw the client's request.
    pub seen_by: Option<NodeId>,
}

/// A fixed address (and optionally a name) for one MAC address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub mac: MacAddr,
    pub address: Ipv4Addr,
    pub hostname: Option<String>,
}

/// Static DNS data an operator adds with `dnsctl records add`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
pub enum RecordData {
    A {
        address: Ipv4Addr,
    },
    Aaaa {
        address: Ipv6Addr,
    },
    Cname {
        target: String,
    },
    Txt {
        text: String,
    },
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Mx {
        preference: u16,
        exchange: String,
    },
}

impl RecordData {
    pub fn type_name(&self) -> &'static str {
        match self {
            RecordData::A { .. } => "A",
            RecordData::Aaaa { .. } => "AAAA",
            RecordData::Cname { .. } => "CNAME",
            RecordData::Txt { .. } => "TXT",
            RecordData::Srv { .. } => "SRV",
            RecordData::Mx { .. } => "MX",
        }
    }
}

/// A static record. `name` is a fully qualified name, lowercase, without the
/// trailing dot (e.g. `www.lxd`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StaticRecord {
    pub name: String,
    pub ttl: Option<u32>,
    #[serde(with = "record_data_form")]
    pub data: RecordData,
}

/// `RecordData` is internally tagged (`{"type": "A", "address": ...}`) in
/// human-readable formats: the admin API's and the Raft log's JSON. Compact
/// binary formats (the snapshot's postcard) cannot read internally tagged
/// enums, since that needs a self-describing format, so there it is tagged
/// by variant index.
mod record_data_form {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::RecordData;

    /// The binary form; append new variants at the end (the index is the tag).
    #[derive(Serialize, Deserialize)]
    #[serde(remote = "RecordData")]
    enum ByIndex {
        A {
            address: Ipv4Addr,
        },
        Aaaa {
            address: Ipv6Addr,
        },
        Cname {
            target: String,
        },
        Txt {
            text: String,
        },
        Srv {
            priority: u16,
            weight: u16,
            port: u16,
            target: String,
        },
        Mx {
            preference: u16,
            exchange: String,
        },
    }

    pub fn serialize<S: Serializer>(data: &RecordData, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            data.serialize(serializer)
        } else {
            ByIndex::serialize(data, serializer)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<RecordData, D::Error> {
        if deserializer.is_human_readable() {
            RecordData::deserialize(deserializer)
        } else {
            ByIndex::deserialize(deserializer)
        }
    }
}

/// Two clients asked for one hostname; what the cluster policy did about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostnameConflict {
    /// The contested name.
    pub name: String,
    /// The client that holds the name.
    pub owner: ClientId,
    pub owner_address: Ipv4Addr,
    /// The client that asked for it later.
    pub claimant: ClientId,
    pub claimant_mac: MacAddr,
    pub claimant_address: Ipv4Addr,
    /// What the claimant got instead: `Some("c1-2")` under `suffix`, `None` under `reject`.
    pub granted_instead: Option<String>,
    pub at: Millis,
}
