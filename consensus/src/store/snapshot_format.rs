//! The on-disk and on-the-wire form of snapshots: a versioned binary envelope.
//!
//! `MAGIC` and a one-byte version, then the value in postcard (a compact
//! serde format: integers as varints, no field names, byte strings as they
//! are). The sled slot holds `{meta, data}` in this form, and `data` — what
//! openraft ships to followers — is the replica in this form too, so each
//! level can be read on its own.
//!
//! Releases up to 0.1 wrote JSON at both levels, the inner replica as a JSON
//! array of numbers inside the outer JSON (see DESIGN.md for the sizes). Bytes
//! that do not start with `MAGIC` are read as that legacy JSON, so a data
//! directory or a snapshot from those releases still loads.
//!
//! postcard encodes struct fields by position and enum variants by index:
//! adding, removing or reordering a field or variant of anything in a
//! snapshot changes the format. Such a change bumps [`VERSION`] and keeps a
//! decoder for the old one. Rolling upgrade: a node of an older release
//! cannot read a binary snapshot, so upgrade followers before the leader (as
//! for batched entries, DESIGN.md).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Starts every binary snapshot. Never `{`, so legacy JSON is told apart.
pub const MAGIC: [u8; 4] = *b"RMQS";
/// The format after [`MAGIC`]: postcard of the current types. 1: the replica
/// of single-network releases (`{last_applied, membership, table}`); 2: the
/// replica gained trailing `networks` (the tables of the networks other
/// than `default`) and `v6`; 3: a table's settings hold a list of ranges
/// (`ranges`) where 1 and 2 held one (`range`), and the replica gained
/// trailing `network_addresses`. The sled slot's envelope
/// `{meta, data}` is alike in all.
pub const VERSION: u8 = 3;
/// Format 2 (see [`VERSION`]).
pub const VERSION_2: u8 = 2;
/// The oldest binary version this release still reads.
pub const OLDEST_VERSION: u8 = 1;

/// Why snapshot bytes could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    #[error(
        "snapshot format version {0} is newer than this raftmasq understands (at most {VERSION}): upgrade this node"
    )]
    UnknownVersion(u8),
    #[error("binary snapshot is damaged: {0}")]
    Binary(#[from] postcard::Error),
    #[error("snapshot is neither a raftmasq binary snapshot nor a legacy JSON one: {0}")]
    Legacy(#[from] serde_json::Error),
}

/// `value` in the current format.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, FormatError> {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(&MAGIC);
    bytes.push(VERSION);
    postcard::to_extend(value, bytes).map_err(FormatError::Binary)
}

/// Reads bytes in the current format, an older one of a type whose layout has
/// not changed since (the envelope), or the legacy JSON of older releases.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FormatError> {
    decode_versions::<T, T, T>(bytes)
}

/// Like [`decode`] for a type whose layout was `V1` in format 1 and `V2` in
/// format 2, converted on read.
pub fn decode_versions<T, V1, V2>(bytes: &[u8]) -> Result<T, FormatError>
where
    T: DeserializeOwned,
    V1: DeserializeOwned + Into<T>,
    V2: DeserializeOwned + Into<T>,
{
    match bytes.strip_prefix(&MAGIC) {
        Some([VERSION, body @ ..]) => whole(body),
        Some([VERSION_2, body @ ..]) => whole::<V2>(body).map(Into::into),
        Some([OLDEST_VERSION, body @ ..]) => whole::<V1>(body).map(Into::into),
        Some([version, ..]) => Err(FormatError::UnknownVersion(*version)),
        Some([]) => Err(FormatError::Binary(
            postcard::Error::DeserializeUnexpectedEnd,
        )),
        None => Ok(serde_json::from_slice(bytes)?),
    }
}

/// The value in `body`, which must hold nothing after it.
fn whole<T: DeserializeOwned>(body: &[u8]) -> Result<T, FormatError> {
    match postcard::take_from_bytes(body)? {
        (value, []) => Ok(value),
        // A value that ends early is a damaged or foreign snapshot.
        _ => Err(FormatError::Binary(postcard::Error::DeserializeBadEncoding)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn values_round_trip_behind_the_header() {
        let bytes = encode(&(7_u64, "web".to_string())).unwrap();
        assert_eq!(bytes[..5], [b'R', b'M', b'Q', b'S', VERSION]);
        assert_eq!(decode::<(u64, String)>(&bytes).unwrap(), (7, "web".into()));
    }

    #[test]
    fn bytes_without_the_header_are_read_as_legacy_json() {
        let value: (u64, String) = decode(br#"[7,"web"]"#).unwrap();
        assert_eq!(value, (7, "web".into()));
        assert!(matches!(
            decode::<(u64, String)>(b"\x00\x01garbage"),
            Err(FormatError::Legacy(_))
        ));
    }

    #[test]
    fn a_newer_version_or_a_damaged_body_is_refused_not_misread() {
        let mut bytes = encode(&(7_u64, "web".to_string())).unwrap();
        bytes[4] = VERSION + 1;
        assert!(matches!(
            decode::<(u64, String)>(&bytes),
            Err(FormatError::UnknownVersion(v)) if v == VERSION + 1
        ));
        let mut bytes = encode(&(7_u64, "web".to_string())).unwrap();
        bytes.push(0);
        assert!(matches!(
            decode::<(u64, String)>(&bytes),
            Err(FormatError::Binary(_))
        ));
        assert!(decode::<(u64, String)>(&MAGIC).is_err());
        assert!(decode::<(u64, String)>(&bytes[..7]).is_err());
    }

    /// A table with and without MAC names comes back whole from the binary
    /// form (JSON leaves empty names out; binary must not).
    #[test]
    fn lease_tables_round_trip_with_and_without_mac_names() {
        use std::net::Ipv4Addr;

        use raftmasq_state::{
            AddressRange, ClusterSettings, Command, HostnamePolicy, LeaseTable, MacAddr, Response,
        };

        let mut table = LeaseTable::default();
        let settings = ClusterSettings {
            subnet: "10.0.0.0/24".parse().unwrap(),
            ranges: vec![AddressRange {
                start: Ipv4Addr::new(10, 0, 0, 10),
                end: Ipv4Addr::new(10, 0, 0, 200),
            }],
            domain: "lxd".into(),
            lease_time_secs: 3600,
            duplicate_hostnames: HostnamePolicy::Suffix,
            decline_quarantine_secs: 600,
            client_identity: Default::default(),
        };
        assert_eq!(
            table.apply(&Command::Initialize { settings }),
            Response::Done
        );
        let without: LeaseTable = decode(&encode(&table).unwrap()).unwrap();
        assert_eq!(without, table);
        let named = MacAddr([2, 0, 0, 0, 0, 1]);
        assert_eq!(
            table.apply(&Command::NameMac {
                mac: named,
                name: "c1".into(),
                now: 1_000,
            }),
            Response::Done
        );
        let with: LeaseTable = decode(&encode(&table).unwrap()).unwrap();
        assert_eq!(with.name_of_mac(named), Some("c1"));
        assert_eq!(with, table);
    }

    /// A type whose format-1 layout was shorter is read from version-1
    /// bytes through its old layout; current bytes need the new one.
    #[test]
    fn version_1_bytes_are_read_through_the_old_layout() {
        #[derive(serde::Deserialize, Serialize, Debug, PartialEq)]
        struct Old {
            a: u64,
        }
        #[derive(serde::Deserialize, Serialize, Debug, PartialEq)]
        struct New {
            a: u64,
            more: Vec<String>,
        }
        impl From<Old> for New {
            fn from(old: Old) -> Self {
                New {
                    a: old.a,
                    more: Vec::new(),
                }
            }
        }
        let mut v1 = MAGIC.to_vec();
        v1.push(OLDEST_VERSION);
        v1.extend(postcard::to_stdvec(&Old { a: 7 }).unwrap());
        assert_eq!(
            decode_versions::<New, Old, New>(&v1).unwrap(),
            New { a: 7, more: vec![] }
        );
        let mut v2 = MAGIC.to_vec();
        v2.push(VERSION_2);
        v2.extend(postcard::to_stdvec(&Old { a: 8 }).unwrap());
        assert_eq!(
            decode_versions::<New, New, Old>(&v2).unwrap(),
            New { a: 8, more: vec![] }
        );
        // Read without the old layout, the short body is refused, not misread.
        assert!(decode::<New>(&v1).is_err());
        let new = New {
            a: 7,
            more: vec!["lab".into()],
        };
        assert_eq!(
            decode_versions::<New, Old, Old>(&encode(&new).unwrap()).unwrap(),
            new
        );
    }
}
