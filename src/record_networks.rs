//! Which network's table a static record lives in.
//!
//! DNS answers a name from the table of the network whose zone holds it most
//! specifically (`raftmasq_dnsd::network_of_name`, the rule dnsd answers
//! with), so a record is committed to that network's table: `db.lab.lxd`
//! to `lab`'s when `lab`'s domain is `lab.lxd`, `www.lxd` to `default`'s.
//! There it is also checked against that network's lease names (one name,
//! one owner, per domain). An operator may name the network instead
//! (`dnsctl records add --network lab`): a relative name is then placed in
//! that network's domain, and a name another network's zone holds is
//! refused, since nobody would ever be answered from the table it went to.
//! Networks that share a domain share its zone: a record named for any of
//! them goes to the table DNS answers the zone from (the owner's).
//!
//! Names follow zone-file rules: a name that ends with a dot is absolute, any
//! other is placed in the domain unless it already ends with it (`www` →
//! `www.lxd`, `www.lxd` stays); a relative name is in the cluster domain, or
//! in the named network's. A target (CNAME, SRV, MX) is relative to the
//! domain of the network the record goes to, as in that zone's file. A name
//! outside every zone is nobody's; it goes where asked (`default` when not
//! asked), as before networks.
//!
//! Pure: the tables in, the network and the qualified record out.

use raftmasq_consensus::state::{
    DEFAULT_NETWORK, LeaseTable, OtherNetworks, RecordData, StaticRecord,
};

/// A record ready to commit: its network and its names made absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub network: String,
    pub record: StaticRecord,
}

/// Why a record cannot go where the operator asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementError {
    UnknownNetwork {
        network: String,
        known: String,
    },
    OtherNetworksName {
        name: String,
        network: String,
        network_domain: String,
        owner: String,
        owner_domain: String,
    },
}

impl std::fmt::Display for PlacementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlacementError::UnknownNetwork { network, known } => {
                write!(f, "no network {network:?} in the cluster (it has {known})")
            }
            PlacementError::OtherNetworksName {
                name,
                network,
                network_domain,
                owner,
                owner_domain,
            } => write!(
                f,
                "{name} is in network {owner}'s zone ({owner_domain}), not in network \
                 {network}'s ({network_domain}): DNS answers it from {owner}'s records; \
                 leave out the network, or name a record under {network_domain}"
            ),
        }
    }
}

impl std::error::Error for PlacementError {}

/// Places `record` (names as the operator wrote them) in `network` when
/// given, else in the network whose zone holds its name (see the module
/// docs).
pub fn place(
    default: &LeaseTable,
    others: &OtherNetworks,
    record: StaticRecord,
    network: Option<&str>,
) -> Result<Placed, PlacementError> {
    let domain_of = |table: &LeaseTable| {
        table
            .settings()
            .map(|s| s.domain.clone())
            .unwrap_or_default()
    };
    let Some(asked) = network else {
        let mut record = record;
        record.name = qualify(&record.name, &domain_of(default));
        let owner = raftmasq_dnsd::network_of_name(default, others, &record.name)
            .unwrap_or(DEFAULT_NETWORK);
        // Targets are relative to the zone the record is in, as in that
        // zone's file: `alias.lab CNAME db` is `db.lab.lxd` in lab.
        let zone = others
            .get(default, owner)
            .map(domain_of)
            .unwrap_or_default();
        qualify_targets(&mut record.data, &zone);
        return Ok(Placed {
            network: owner.to_string(),
            record,
        });
    };
    let Some(table) = others.get(default, asked) else {
        let known: Vec<&str> = others.all(default).map(|(name, _)| name).collect();
        return Err(PlacementError::UnknownNetwork {
            network: asked.to_string(),
            known: known.join(", "),
        });
    };
    let network_domain = domain_of(table);
    let record = qualify_record(record, &network_domain);
    match raftmasq_dnsd::network_of_name(default, others, &record.name) {
        // A network that shares the owner's domain: the domain's records
        // live in the owner's table, which DNS answers the zone from.
        Some(owner)
            if owner != asked
                && others
                    .get(default, owner)
                    .is_some_and(|t| domain_of(t).eq_ignore_ascii_case(&network_domain)) =>
        {
            Ok(Placed {
                network: owner.to_string(),
                record,
            })
        }
        Some(owner) if owner != asked => Err(PlacementError::OtherNetworksName {
            name: record.name,
            network: asked.to_string(),
            network_domain,
            owner: owner.to_string(),
            owner_domain: others
                .get(default, owner)
                .map(domain_of)
                .unwrap_or_default(),
        }),
        _ => Ok(Placed {
            network: asked.to_string(),
            record,
        }),
    }
}

/// Like [`place`], for a removal: the network named is taken even where the
/// name is not its own, since a record added before records were placed by
/// network sits in `default`'s table under another network's domain, and
/// removing it (`records list` shows it there) must work.
pub fn place_for_removal(
    default: &LeaseTable,
    others: &OtherNetworks,
    record: StaticRecord,
    network: Option<&str>,
) -> Result<Placed, PlacementError> {
    match place(default, others, record.clone(), network) {
        Err(PlacementError::OtherNetworksName {
            network,
            network_domain,
            ..
        }) => Ok(Placed {
            record: qualify_record(record, &network_domain),
            network,
        }),
        placed => placed,
    }
}

/// The record with its name and targets made absolute (see the module docs).
pub fn qualify_record(mut record: StaticRecord, domain: &str) -> StaticRecord {
    record.name = qualify(&record.name, domain);
    qualify_targets(&mut record.data, domain);
    record
}

/// The names inside `data` (CNAME, SRV and MX targets) made absolute.
fn qualify_targets(data: &mut RecordData, domain: &str) {
    match data {
        RecordData::Cname { target } | RecordData::Srv { target, .. } => {
            *target = qualify(target, domain);
        }
        RecordData::Mx { exchange, .. } => *exchange = qualify(exchange, domain),
        RecordData::A { .. } | RecordData::Aaaa { .. } | RecordData::Txt { .. } => {}
    }
}

/// `name` relative to `domain`, as in a zone file (see the module docs).
pub fn qualify(name: &str, domain: &str) -> String {
    if let Some(absolute) = name.strip_suffix('.') {
        return absolute.to_string();
    }
    let lower = name.to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    if domain.is_empty() || lower == domain || lower.ends_with(&format!(".{domain}")) {
        name.to_string()
    } else {
        format!("{name}.{domain}")
    }
}

#[cfg(test)]
mod tests;
