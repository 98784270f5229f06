//! Authoritative answers from the lease table: plain synchronous code over a
//! borrowed table and the caller's clock, like hickory's in-memory `inner.rs`.
//!
//! No lookup walks the leases: A goes through the table's name index, PTR
//! through its address-to-name index (both hash maps). Only the negative path
//! of the forward zone looks at the static records as a whole, to tell an
//! empty non-terminal (`_tcp.lxd` above `_sip._tcp.lxd`) from a missing name;
//! operators add a handful of those, not thousands.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use raftmasq_state::v6::V6Leases;
use raftmasq_state::{LeaseTable, Millis, RecordData};

use crate::config::ZoneConfig;
use crate::rrs;
use crate::slaac;
use crate::zones::{self, ReverseName, ReverseName6, Zone, ZoneKind};

/// Longest CNAME chain followed inside our zones (BIND follows 16; we hold few).
const MAX_CNAME_CHAIN: usize = 8;

/// The table as the DNS sees it at one instant.
pub(crate) struct View<'a> {
    pub table: &'a LeaseTable,
    pub serial: u64,
    pub config: &'a ZoneConfig,
    pub zones: Vec<Zone>,
    /// The DHCPv6 leases (names of stateful clients), when the source has them.
    pub v6: Option<&'a V6Leases>,
    /// The reader's clock: leases that ended by now are gone, whether or not
    /// an `Expire` command has been applied yet.
    pub now: Millis,
    /// The tables of the other networks in this view's domain (networks may
    /// share a domain; crate::networks). Their lease names are this forward
    /// zone's too: the state machine keeps each name in one table, so the
    /// one that holds it answers. Static records of the domain live in
    /// `table` (record placement picks the same table as `select`).
    pub siblings: Vec<&'a LeaseTable>,
}

impl<'a> View<'a> {
    pub fn new(table: &'a LeaseTable, serial: u64, config: &'a ZoneConfig, now: Millis) -> Self {
        let subnet = table.settings().map(|s| s.subnet);
        View {
            table,
            serial,
            config,
            zones: zones::zones(&config.domain, subnet, config.ipv6_prefix),
            v6: None,
            now,
            siblings: Vec::new(),
        }
    }

    pub fn with_siblings(mut self, siblings: Vec<&'a LeaseTable>) -> Self {
        self.siblings = siblings;
        self
    }

    /// The address of the live lease named `label` in this view's domain:
    /// in `table`, else in the sibling that holds it.
    fn lease_address_of(&self, label: &str) -> Option<std::net::Ipv4Addr> {
        std::iter::once(self.table)
            .chain(self.siblings.iter().copied())
            .find_map(|table| table.address_of_name_at(label, self.now))
    }

    pub fn with_v6(mut self, v6: Option<&'a V6Leases>) -> Self {
        self.v6 = v6;
        self
    }

    /// Until the replica holds the cluster's first entry we know neither the
    /// leases nor the subnet.
    pub fn loaded(&self) -> bool {
        self.table.is_initialized()
    }

    pub fn zone_named(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.apex == name)
    }
}

/// The outcome of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Outside our zones: forward or refuse.
    NotOurs,
    /// In our domain but the replica is still empty: SERVFAIL, never forward.
    NotLoaded,
    Answer(ZoneAnswer),
}

/// An authoritative answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZoneAnswer {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

/// Lowercase ASCII without the trailing dot: the table's form of names.
pub(crate) fn key(name: &Name) -> String {
    let mut text = name.to_lowercase().to_ascii();
    if text.ends_with('.') {
        text.pop();
    }
    text
}

/// Answers `qname`/`qtype` from our zones; owner names keep the question's case.
pub(crate) fn lookup(view: &View<'_>, qname: &Name, qtype: RecordType) -> Lookup {
    let mut lname = key(qname);
    if !view.loaded() {
        let ours = Zone::forward(&view.config.domain)
            .relative(&lname)
            .is_some();
        return if ours {
            Lookup::NotLoaded
        } else {
            Lookup::NotOurs
        };
    }
    let Some(_) = zones::find(&view.zones, &lname) else {
        return Lookup::NotOurs;
    };
    let mut owner = qname.clone();
    let mut answers = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    loop {
        // Past a CNAME whose target is not ours, the resolver takes over.
        let Some((zone, rel)) = zones::find(&view.zones, &lname) else {
            return zone_answer(ResponseCode::NoError, answers, Vec::new(), Vec::new());
        };
        let node = node(view, zone, rel, &lname, &owner);
        let cname = node.records.iter().find_map(|r| match &r.data {
            RData::CNAME(target) => Some(target.0.clone()),
            _ => None,
        });
        if let Some(target) = cname
            && !matches!(qtype, RecordType::CNAME | RecordType::ANY)
        {
            answers.extend(node.records);
            seen.push(lname);
            lname = key(&target);
            if seen.contains(&lname) || seen.len() >= MAX_CNAME_CHAIN {
                // A loop or an overlong chain: give what we have (as BIND does).
                return zone_answer(ResponseCode::NoError, answers, Vec::new(), Vec::new());
            }
            owner = target;
            continue;
        }
        let matching: Vec<Record> = node
            .records
            .into_iter()
            .filter(|r| qtype == RecordType::ANY || r.record_type() == qtype)
            .collect();
        if !matching.is_empty() {
            let additionals = if qtype == RecordType::NS && rel.is_empty() {
                rrs::glue(view.config, zone).collect()
            } else {
                Vec::new()
            };
            answers.extend(matching);
            return zone_answer(ResponseCode::NoError, answers, Vec::new(), additionals);
        }
        // RFC 2308: NODATA and NXDOMAIN both carry the zone's SOA; after a
        // CNAME the code is that of the last name (RFC 6604 §2).
        let rcode = if node.exists {
            ResponseCode::NoError
        } else {
            ResponseCode::NXDomain
        };
        let soa = rrs::negative_soa(view.config, zone, view.serial);
        return zone_answer(rcode, answers, vec![soa], Vec::new());
    }
}

fn zone_answer(
    rcode: ResponseCode,
    answers: Vec<Record>,
    authorities: Vec<Record>,
    additionals: Vec<Record>,
) -> Lookup {
    Lookup::Answer(ZoneAnswer {
        rcode,
        answers,
        authorities,
        additionals,
    })
}

/// Everything at one name, and whether the name exists at all.
struct Node {
    records: Vec<Record>,
    exists: bool,
}

fn node(view: &View<'_>, zone: &Zone, rel: &str, lname: &str, owner: &Name) -> Node {
    let config = view.config;
    let mut records = Vec::new();
    if rel.is_empty() {
        let mut soa = rrs::soa(config, zone, view.serial, rrs::INFRA_TTL);
        soa.name = owner.clone();
        records.push(soa);
        records.extend(rrs::ns_records(config, owner));
    }
    match zone.kind {
        ZoneKind::Forward => {
            forward_node(view, rel, lname, owner, &mut records);
            let exists = !records.is_empty()
                || is_empty_non_terminal(view, lname)
                || (!rel.is_empty()
                    && std::iter::once(view.table)
                        .chain(view.siblings.iter().copied())
                        .any(|table| table.has_machine_name_under(rel)));
            Node { records, exists }
        }
        ZoneKind::Reverse { net, subnet } => match zones::parse_reverse(net, rel) {
            ReverseName::Address(address) => {
                if subnet.contains(&address)
                    && let Some(label) = view.table.name_of_address_at(address, view.now)
                    && let Some(target) = rrs::absolute(&format!("{label}.{}", config.domain))
                {
                    records.push(rrs::ptr(owner.clone(), config.ttl, target));
                }
                let exists = !records.is_empty();
                Node { records, exists }
            }
            // Interior nodes over our subnet lead to PTRs: answer NODATA, not
            // NXDOMAIN, or a resolver minimising its queries (RFC 8020) would
            // conclude that nothing below exists.
            ReverseName::Network(covered) => {
                let exists = !records.is_empty() || zones::overlaps(covered, subnet);
                Node { records, exists }
            }
            ReverseName::Invalid => Node {
                records,
                exists: false,
            },
        },
        ZoneKind::Reverse6 { prefix } => match zones::parse_reverse6(prefix, rel) {
            ReverseName6::Address(address) => {
                let label = if view.config.ipv6_leases {
                    view.v6
                        .and_then(|v6| v6.name_of_address_at(address, view.now))
                } else {
                    name_of_slaac_address(view, prefix, address)
                };
                if let Some(label) = label
                    && let Some(target) = rrs::absolute(&format!("{label}.{}", config.domain))
                {
                    records.push(rrs::ptr(owner.clone(), config.ttl, target));
                }
                let exists = !records.is_empty();
                Node { records, exists }
            }
            // Every interior node of a /64 zone leads to addresses: NODATA.
            ReverseName6::Interior => Node {
                records,
                exists: true,
            },
            ReverseName6::Invalid => Node {
                records,
                exists: false,
            },
        },
    }
}

/// The lease name whose MAC forms `address` by EUI-64, if that lease is
/// bound and has not ended by the view's clock. Leases are walked (no index
/// by MAC), but only for an address whose interface identifier has EUI-64's
/// `ff:fe`, and only for PTR questions in the `ip6.arpa` zone. With several
/// live leases of one MAC (client-id identity) the lowest address's name wins.
fn name_of_slaac_address<'t>(
    view: &View<'t>,
    prefix: ipnet::Ipv6Net,
    address: std::net::Ipv6Addr,
) -> Option<&'t str> {
    let mac = slaac::mac_of(prefix, address)?;
    view.table
        .leases()
        .filter(|lease| lease.mac == mac)
        .find_map(|lease| view.table.name_of_address_at(lease.address, view.now))
}

/// The AAAA of the lease at `address`: its MAC's EUI-64 address in the
/// bridge's prefix, when IPv6 is on.
pub(crate) fn slaac_address_of_lease(
    view: &View<'_>,
    address: std::net::Ipv4Addr,
) -> Option<std::net::Ipv6Addr> {
    let prefix = view
        .config
        .ipv6_prefix
        .filter(|_| !view.config.ipv6_leases)?;
    let lease = view.table.lease_by_address(address)?;
    Some(slaac::address(prefix, lease.mac))
}

fn forward_node(view: &View<'_>, rel: &str, lname: &str, owner: &Name, records: &mut Vec<Record>) {
    let config = view.config;
    for ns in config.nameservers.iter().filter(|ns| ns.lower == lname) {
        records.push(rrs::a(owner.clone(), rrs::INFRA_TTL, ns.address));
    }
    let statics = view.table.records_named(lname);
    let has_cname = statics
        .iter()
        .any(|r| matches!(r.data, RecordData::Cname { .. }));
    // Lease names are a label under the domain, or two for an LXD instance
    // of another project (`c1.web`). A static CNAME owns its name outright
    // (RFC 1034 §3.6.2), so it hides a lease of the same name.
    if !has_cname
        && !rel.is_empty()
        && let Some(address) = view.lease_address_of(rel)
    {
        let duplicate = statics.iter().any(|r| r.data == RecordData::A { address });
        if !duplicate {
            records.push(rrs::a(owner.clone(), config.ttl, address));
        }
        if let Some(v6) = slaac_address_of_lease(view, address) {
            let duplicate = statics
                .iter()
                .any(|r| r.data == RecordData::Aaaa { address: v6 });
            if !duplicate {
                records.push(rrs::aaaa(owner.clone(), config.ttl, v6));
            }
        }
    }
    // A DHCPv6 lease's name (stateful mode): its leased address.
    if !has_cname
        && !rel.is_empty()
        && let Some(v6) = view.v6
        && let Some(address) = v6.address_of_name_at(rel, view.now)
        && !statics
            .iter()
            .any(|r| r.data == RecordData::Aaaa { address })
    {
        records.push(rrs::aaaa(owner.clone(), config.ttl, address));
    }
    records.extend(
        statics
            .iter()
            .filter_map(|r| rrs::static_record(owner.clone(), config.ttl, r)),
    );
}

/// A name with nothing of its own but with names below it exists (RFC 8020).
fn is_empty_non_terminal(view: &View<'_>, lname: &str) -> bool {
    let suffix = format!(".{lname}");
    view.table.records().any(|r| r.name.ends_with(&suffix))
        || view
            .config
            .nameservers
            .iter()
            .any(|ns| ns.lower.ends_with(&suffix))
}
