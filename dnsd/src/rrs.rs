//! Building hickory records from the table's data.

use std::net::Ipv4Addr;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, Record};
use raftmasq_state::{RecordData, StaticRecord};

use crate::config::ZoneConfig;
use crate::zones::Zone;

/// TTL of SOA and NS records and of glue: they change only with the config.
pub(crate) const INFRA_TTL: u32 = 3600;
/// SOA timers (RFC 1912 §2.2 ranges). NOTIFY makes refresh a fallback only.
const REFRESH: i32 = 3600;
const RETRY: i32 = 600;
/// A secondary keeps serving for two weeks without reaching any host.
const EXPIRE: i32 = 1_209_600;
/// Longest character-string in a TXT record (RFC 1035 §3.3).
const TXT_CHUNK: usize = 255;

/// `name` (lowercase, no trailing dot) as an absolute DNS name.
pub(crate) fn absolute(name: &str) -> Option<Name> {
    if name == "." || name.is_empty() {
        return Some(Name::root());
    }
    Name::from_ascii(format!("{name}.")).ok()
}

/// The zone's SOA; the serial is the Raft applied index mod 2^32, which only
/// ever grows (RFC 1982 arithmetic tolerates the wrap).
pub(crate) fn soa(config: &ZoneConfig, zone: &Zone, serial: u64, ttl: u32) -> Record {
    let mname = config
        .nameservers
        .first()
        .map_or_else(|| config.origin.clone(), |ns| ns.name.clone());
    let soa = SOA::new(
        mname,
        config.hostmaster.clone(),
        serial as u32,
        REFRESH,
        RETRY,
        EXPIRE,
        config.negative_ttl,
    );
    Record::from_rdata(zone.name(), ttl, RData::SOA(soa))
}

/// The SOA for the authority section of a negative answer: its TTL is the
/// negative TTL, min(SOA TTL, MINIMUM) per RFC 2308 §3.
pub(crate) fn negative_soa(config: &ZoneConfig, zone: &Zone, serial: u64) -> Record {
    soa(config, zone, serial, INFRA_TTL.min(config.negative_ttl))
}

pub(crate) fn ns_records(config: &ZoneConfig, owner: &Name) -> impl Iterator<Item = Record> {
    config
        .nameservers
        .iter()
        .map(move |ns| Record::from_rdata(owner.clone(), INFRA_TTL, RData::NS(NS(ns.name.clone()))))
}

/// A records of the name servers whose names are inside `zone` (glue).
pub(crate) fn glue<'c>(
    config: &'c ZoneConfig,
    zone: &'c Zone,
) -> impl Iterator<Item = Record> + 'c {
    config
        .nameservers
        .iter()
        .filter(|ns| zone.relative(&ns.lower).is_some())
        .map(|ns| a(ns.name.clone(), INFRA_TTL, ns.address))
}

pub(crate) fn a(owner: Name, ttl: u32, address: Ipv4Addr) -> Record {
    Record::from_rdata(owner, ttl, RData::A(A(address)))
}

pub(crate) fn aaaa(owner: Name, ttl: u32, address: std::net::Ipv6Addr) -> Record {
    Record::from_rdata(owner, ttl, RData::AAAA(AAAA(address)))
}

pub(crate) fn ptr(owner: Name, ttl: u32, target: Name) -> Record {
    Record::from_rdata(owner, ttl, RData::PTR(PTR(target)))
}

/// A static record at `owner`; `None` if a stored name does not parse (the
/// state machine validates them, so this is defensive).
pub(crate) fn static_record(
    owner: Name,
    default_ttl: u32,
    record: &StaticRecord,
) -> Option<Record> {
    let ttl = record.ttl.unwrap_or(default_ttl);
    let data = match &record.data {
        RecordData::A { address } => RData::A(A(*address)),
        RecordData::Aaaa { address } => RData::AAAA(AAAA(*address)),
        RecordData::Cname { target } => RData::CNAME(CNAME(absolute(target)?)),
        RecordData::Txt { text } => {
            let bytes = text.as_bytes();
            let chunks: Vec<&[u8]> = if bytes.is_empty() {
                vec![bytes]
            } else {
                bytes.chunks(TXT_CHUNK).collect()
            };
            RData::TXT(TXT::from_bytes(chunks))
        }
        RecordData::Srv {
            priority,
            weight,
            port,
            target,
        } => RData::SRV(SRV::new(*priority, *weight, *port, absolute(target)?)),
        RecordData::Mx {
            preference,
            exchange,
        } => RData::MX(MX::new(*preference, absolute(exchange)?)),
    };
    Some(Record::from_rdata(owner, ttl, data))
}
