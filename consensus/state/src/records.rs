//! Static DNS records added by operators, with the validation that keeps the
//! zone legal: valid names, no CNAME beside other data (RFC 1034 §3.6.2), one
//! TTL per RRset (RFC 2181 §5.2).
//!
//! Adding a record that already exists with the same TTL is idempotent (`Done`),
//! so `dnsctl records add` can be retried after a timeout without an error; the
//! same record with a different TTL is rejected (remove it first).

use std::collections::BTreeMap;

use crate::command::Rejection;
use crate::names::lowercase_key;
use crate::types::{RecordData, StaticRecord};

/// Longest DNS name in text form, without the trailing dot (RFC 1035 §2.3.4).
const MAX_NAME_LEN: usize = 253;
/// Largest TTL a resolver must honour (RFC 2181 §8).
const MAX_TTL: u32 = i32::MAX as u32;
/// Longest TXT text accepted; the DNS server splits it into 255-byte strings.
const MAX_TXT_LEN: usize = 4096;

/// Lowercases a DNS name and drops a trailing dot; rejects anything that is not
/// a sequence of 1–63 character labels of letters, digits, `-` and `_` (the
/// underscore for SRV owners like `_sip._tcp`).
pub fn normalize_dns_name(raw: &str) -> Result<String, String> {
    let name = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "name {raw:?} is longer than {MAX_NAME_LEN} characters"
        ));
    }
    for label in name.split('.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !valid {
            return Err(format!("name {raw:?} has an invalid label {label:?}"));
        }
    }
    Ok(name)
}

/// The record with its names normalised, or why it is invalid.
fn normalize(record: &StaticRecord) -> Result<StaticRecord, Rejection> {
    let invalid = Rejection::InvalidRecord;
    let name = normalize_dns_name(&record.name).map_err(invalid)?;
    if record.ttl.is_some_and(|ttl| ttl > MAX_TTL) {
        return Err(invalid(format!("ttl must be at most {MAX_TTL}")));
    }
    let target = |raw: &str| normalize_dns_name(raw).map_err(Rejection::InvalidRecord);
    let data = match &record.data {
        RecordData::A { .. } | RecordData::Aaaa { .. } => record.data.clone(),
        RecordData::Cname { target: raw } => {
            let target = target(raw)?;
            if target == name {
                return Err(invalid(format!("CNAME {name} points at itself")));
            }
            RecordData::Cname { target }
        }
        RecordData::Txt { text } => {
            if text.len() > MAX_TXT_LEN {
                return Err(invalid(format!(
                    "TXT text is longer than {MAX_TXT_LEN} bytes"
                )));
            }
            record.data.clone()
        }
        RecordData::Srv {
            priority,
            weight,
            port,
            target: raw,
        } => RecordData::Srv {
            priority: *priority,
            weight: *weight,
            port: *port,
            // RFC 2782: a target of "." means the service is not offered here.
            target: if raw == "." { ".".into() } else { target(raw)? },
        },
        RecordData::Mx {
            preference,
            exchange,
        } => RecordData::Mx {
            preference: *preference,
            exchange: target(exchange)?,
        },
    };
    Ok(StaticRecord {
        name,
        ttl: record.ttl,
        data,
    })
}

/// Records by owner name; each name holds a handful, kept sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RecordSet {
    by_name: BTreeMap<String, Vec<StaticRecord>>,
}

impl RecordSet {
    /// Adds a validated record. `domain` is the cluster zone: a CNAME at its apex
    /// would hide the zone's SOA and NS.
    pub(crate) fn add(&mut self, record: &StaticRecord, domain: &str) -> Result<(), Rejection> {
        let record = normalize(record)?;
        let invalid = Rejection::InvalidRecord;
        let is_cname = matches!(record.data, RecordData::Cname { .. });
        if is_cname && record.name.eq_ignore_ascii_case(domain) {
            return Err(invalid(format!(
                "a CNAME cannot be placed at the zone apex {domain}"
            )));
        }
        let existing = self.by_name.entry(record.name.clone()).or_default();
        if let Some(same) = existing.iter().find(|r| r.data == record.data) {
            if same.ttl == record.ttl {
                return Ok(());
            }
            return Err(invalid(format!(
                "{} {} already exists with another ttl; remove it first",
                record.data.type_name(),
                record.name
            )));
        }
        if let Some(other) = existing.first() {
            let other_is_cname = matches!(other.data, RecordData::Cname { .. });
            if is_cname || other_is_cname {
                return Err(invalid(format!(
                    "{} already has {} data; a CNAME cannot coexist with other records",
                    record.name,
                    other.data.type_name()
                )));
            }
        }
        if let Some(rrset) = existing
            .iter()
            .find(|r| r.data.type_name() == record.data.type_name() && r.ttl != record.ttl)
        {
            return Err(invalid(format!(
                "{} {} records must share one ttl ({:?})",
                record.name,
                record.data.type_name(),
                rrset.ttl
            )));
        }
        let at = existing.partition_point(|r| r < &record);
        existing.insert(at, record);
        Ok(())
    }

    /// Removes the record equal to `record` (after normalisation).
    pub(crate) fn remove(&mut self, record: &StaticRecord) -> Result<(), Rejection> {
        let record = normalize(record).map_err(|_| Rejection::NoSuchRecord)?;
        let Some(existing) = self.by_name.get_mut(&record.name) else {
            return Err(Rejection::NoSuchRecord);
        };
        let Some(at) = existing.iter().position(|r| r == &record) else {
            return Err(Rejection::NoSuchRecord);
        };
        existing.remove(at);
        if existing.is_empty() {
            self.by_name.remove(&record.name);
        }
        Ok(())
    }

    pub(crate) fn named(&self, name: &str) -> &[StaticRecord] {
        let name = name.strip_suffix('.').unwrap_or(name);
        self.by_name
            .get(lowercase_key(name).as_ref())
            .map_or(&[], Vec::as_slice)
    }

    /// All records, by name then data.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &StaticRecord> {
        self.by_name.values().flatten()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_name.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn a(name: &str, last: u8, ttl: Option<u32>) -> StaticRecord {
        StaticRecord {
            name: name.into(),
            ttl,
            data: RecordData::A {
                address: Ipv4Addr::new(192, 0, 2, last),
            },
        }
    }

    fn cname(name: &str, target: &str) -> StaticRecord {
        StaticRecord {
            name: name.into(),
            ttl: None,
            data: RecordData::Cname {
                target: target.into(),
            },
        }
    }

    fn invalid(result: Result<(), Rejection>) -> bool {
        matches!(result, Err(Rejection::InvalidRecord(_)))
    }

    #[test]
    fn names_are_normalised_and_validated() {
        assert_eq!(normalize_dns_name("WWW.Lxd.").as_deref(), Ok("www.lxd"));
        assert_eq!(
            normalize_dns_name("_sip._tcp.lxd").as_deref(),
            Ok("_sip._tcp.lxd")
        );
        assert!(normalize_dns_name("a..b").is_err());
        assert!(normalize_dns_name("-a.lxd").is_err());
        assert!(normalize_dns_name("a b.lxd").is_err());
        assert!(normalize_dns_name(".").is_err());
        assert!(normalize_dns_name(&format!("{}.lxd", "a".repeat(64))).is_err());
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(normalize_dns_name(&long).is_err());
    }

    #[test]
    fn duplicates_are_idempotent_but_a_new_ttl_is_rejected() {
        let mut set = RecordSet::default();
        assert_eq!(set.add(&a("WWW.lxd.", 1, Some(60)), "lxd"), Ok(()));
        assert_eq!(set.add(&a("www.lxd", 1, Some(60)), "lxd"), Ok(()));
        assert_eq!(set.len(), 1);
        assert!(invalid(set.add(&a("www.lxd", 1, Some(30)), "lxd")));
        // another A at the same name must share the RRset's ttl
        assert!(invalid(set.add(&a("www.lxd", 2, None), "lxd")));
        assert_eq!(set.add(&a("www.lxd", 2, Some(60)), "lxd"), Ok(()));
        assert_eq!(set.named("www.LXD.").len(), 2);
    }

    #[test]
    fn cname_cannot_coexist_with_other_data() {
        let mut set = RecordSet::default();
        set.add(&a("www.lxd", 1, None), "lxd").unwrap();
        assert!(invalid(set.add(&cname("www.lxd", "web.lxd"), "lxd")));
        set.add(&cname("alias.lxd", "www.lxd"), "lxd").unwrap();
        assert!(invalid(set.add(&a("alias.lxd", 1, None), "lxd")));
        assert!(invalid(set.add(&cname("alias.lxd", "other.lxd"), "lxd")));
        assert!(invalid(set.add(&cname("lxd", "elsewhere.example"), "lxd")));
        assert!(invalid(set.add(&cname("loop.lxd", "LOOP.lxd."), "lxd")));
    }

    #[test]
    fn targets_are_validated() {
        let mut set = RecordSet::default();
        let mx = StaticRecord {
            name: "lxd".into(),
            ttl: None,
            data: RecordData::Mx {
                preference: 10,
                exchange: "mail server".into(),
            },
        };
        assert!(invalid(set.add(&mx, "lxd")));
        let srv = StaticRecord {
            name: "_ldap._tcp.lxd".into(),
            ttl: None,
            data: RecordData::Srv {
                priority: 0,
                weight: 0,
                port: 0,
                target: ".".into(),
            },
        };
        assert_eq!(set.add(&srv, "lxd"), Ok(()));
        assert!(invalid(set.add(&a("www.lxd", 1, Some(u32::MAX)), "lxd")));
    }

    #[test]
    fn remove_needs_an_exact_match() {
        let mut set = RecordSet::default();
        set.add(&a("www.lxd", 1, Some(60)), "lxd").unwrap();
        assert_eq!(
            set.remove(&a("www.lxd", 1, None)),
            Err(Rejection::NoSuchRecord)
        );
        assert_eq!(
            set.remove(&a("www.lxd", 2, Some(60))),
            Err(Rejection::NoSuchRecord)
        );
        assert_eq!(
            set.remove(&a("nope.lxd", 1, Some(60))),
            Err(Rejection::NoSuchRecord)
        );
        assert_eq!(set.remove(&a("WWW.lxd.", 1, Some(60))), Ok(()));
        assert_eq!(set.len(), 0);
        assert_eq!(set.iter().count(), 0);
    }
}
