//! The fast path for the queries a cloud's DNS mostly gets: a plain A (or,
//! with IPv6 on, AAAA) query for a lease name, or a PTR query for a leased
//! IPv4 address, over UDP.
//!
//! It reads the request bytes in place and writes the answer straight into a
//! reusable buffer: no hickory message, no `Name`, no allocation. It takes only
//! requests in one strict shape (one question, uncompressed letter/digit/
//! hyphen labels, at most an OPT without options) and answers only when the
//! answer is one lease record; for anything else it returns `None` and the
//! caller takes the general path (`answer.rs`), which stays the reference:
//! the tests check that every answer given here is byte for byte the one the
//! general path gives.

use std::net::{IpAddr, Ipv4Addr};

use raftmasq_state::{LeaseTable, Millis};

use crate::answer::Policy;
use crate::config::ZoneConfig;
use crate::zones::parse_octet;

const HEADER_LEN: usize = 12;
const TYPE_A: u16 = 1;
const TYPE_PTR: u16 = 12;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
/// Longest name on the wire (RFC 1035 §2.3.4), and so the longest dotted form.
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;
/// The request header bits that make it something other than a plain query:
/// QR (a response), the opcode, AA and TC.
const NOT_PLAIN_QUERY: u8 = 0x80 | 0x78 | 0x04 | 0x02;
const RD: u8 = 0x01;
const CD: u8 = 0x10;
/// Response flag bytes: QR and AA; RA in the second byte.
const QR_AA: u8 = 0x80 | 0x04;
const RA: u8 = 0x80;
/// A pointer to the question's name, which starts right after the header.
const QNAME_POINTER: [u8; 2] = [0xC0, 0x0C];
/// The DO bit in the OPT record's flags (RFC 3225).
const DNSSEC_OK: u16 = 0x8000;
/// hickory never advertises less than the plain UDP limit in its OPT.
const MIN_OPT_PAYLOAD: u16 = 512;

/// What the fast path needs besides the table.
pub(crate) struct FastContext<'a> {
    pub config: &'a ZoneConfig,
    pub policy: &'a Policy,
    pub now: Millis,
}

/// The query type a fast answer can be for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FastType {
    A,
    Ptr,
    /// A lease name's EUI-64 address (`slaac`).
    Aaaa,
}

/// A request in the one shape the fast path takes.
struct Question<'r> {
    id: [u8; 2],
    recursion_desired: bool,
    checking_disabled: bool,
    /// The question section as the client wrote it (name, type, class).
    section: &'r [u8],
    /// The name's labels, lowercase and dotted, without the trailing dot.
    lower: NameBuf,
    qtype: FastType,
    /// `Some(dnssec_ok)` if the request carried an OPT record.
    edns: Option<bool>,
}

/// A lowercase dotted name on the stack.
struct NameBuf {
    bytes: [u8; MAX_NAME],
    len: usize,
}

impl NameBuf {
    fn as_str(&self) -> &str {
        // Only ASCII letters, digits, '-', '_' and '.' are ever pushed.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// Appends the answer to `request` from `client` to `out` and returns its
/// query type, or returns `None` if the general path must answer (then `out`
/// may hold a partial answer past its old length: the caller truncates).
pub(crate) fn try_answer(
    request: &[u8],
    client: IpAddr,
    table: &LeaseTable,
    ctx: &FastContext<'_>,
    out: &mut Vec<u8>,
) -> Option<FastType> {
    let question = parse(request)?;
    let subnet = table.settings()?.subnet;
    let domain = ctx.config.domain.as_str();
    // A domain under .arpa would share names with the reverse zone; leave
    // that odd case to the general path's zone selection.
    if domain.is_empty() || domain.ends_with("arpa") {
        return None;
    }
    let name = question.lower.as_str();
    write_header(out, &question, ctx.policy.recursion_allowed(client));
    out.extend_from_slice(question.section);
    out.extend_from_slice(&QNAME_POINTER);
    match question.qtype {
        FastType::A => {
            let address = lease_address(name, domain, table, ctx)?;
            write_record_head(out, TYPE_A, ctx.config.ttl, 4);
            out.extend_from_slice(&address.octets());
        }
        FastType::Aaaa => {
            // DHCPv6 lease names are the general path's (it has the v6 table).
            if ctx.config.ipv6_leases {
                return None;
            }
            let prefix = ctx.config.ipv6_prefix?;
            let address = lease_address(name, domain, table, ctx)?;
            let mac = table.lease_by_address(address)?.mac;
            write_record_head(out, TYPE_AAAA, ctx.config.ttl, 16);
            out.extend_from_slice(&crate::slaac::address(prefix, mac).octets());
        }
        FastType::Ptr => {
            let address = reverse_address(name)?;
            if !subnet.contains(&address) {
                return None;
            }
            let label = table.name_of_address_at(address, ctx.now)?;
            let target_len = label.len() + 1 + domain.len() + 2;
            if target_len > MAX_NAME {
                return None;
            }
            write_record_head(out, TYPE_PTR, ctx.config.ttl, target_len as u16);
            write_name(out, label)?;
            write_name(out, domain)?;
            out.push(0);
        }
    }
    if let Some(dnssec_ok) = question.edns {
        write_opt(out, ctx.policy.max_udp_payload, dnssec_ok);
    }
    Some(question.qtype)
}

fn parse(request: &[u8]) -> Option<Question<'_>> {
    let header = request.get(..HEADER_LEN)?;
    let count = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    if header[2] & NOT_PLAIN_QUERY != 0
        || count(4) != 1
        || count(6) != 0
        || count(8) != 0
        || count(10) > 1
    {
        return None;
    }
    let mut lower = NameBuf {
        bytes: [0; MAX_NAME],
        len: 0,
    };
    let mut at = HEADER_LEN;
    loop {
        let len = usize::from(*request.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        // A compression pointer or an over-long label: not our shape.
        if len > MAX_LABEL || at + len > request.len() || lower.len + len + 1 > MAX_NAME {
            return None;
        }
        if lower.len > 0 {
            lower.bytes[lower.len] = b'.';
            lower.len += 1;
        }
        for &byte in &request[at..at + len] {
            if !plain_byte(byte) {
                return None;
            }
            lower.bytes[lower.len] = byte.to_ascii_lowercase();
            lower.len += 1;
        }
        at += len;
    }
    if lower.len == 0 {
        return None;
    }
    let qtype = u16_at(request, at)?;
    if u16_at(request, at + 2)? != CLASS_IN {
        return None;
    }
    let section = &request[HEADER_LEN..at + 4];
    at += 4;
    let qtype = match qtype {
        TYPE_A => FastType::A,
        TYPE_PTR => FastType::Ptr,
        TYPE_AAAA => FastType::Aaaa,
        _ => return None,
    };
    let edns = if count(10) == 1 {
        // An OPT at the root, version 0, no options: `[0, type, payload,
        // ext-rcode, version, flags, rdlength]`. Options need the general
        // path, which checks them.
        let opt = request.get(at..at + 11)?;
        at += 11;
        if opt[0] != 0 || u16_at(opt, 1)? != TYPE_OPT || opt[6] != 0 || u16_at(opt, 9)? != 0 {
            return None;
        }
        Some(u16_at(opt, 7)? & DNSSEC_OK != 0)
    } else {
        None
    };
    if at != request.len() {
        return None;
    }
    Some(Question {
        id: [header[0], header[1]],
        recursion_desired: header[2] & RD != 0,
        checking_disabled: header[3] & CD != 0,
        section,
        lower,
        qtype,
        edns,
    })
}

/// A byte hickory writes as itself in a name's text form.
fn plain_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([pair[0], pair[1]]))
}

fn write_header(out: &mut Vec<u8>, question: &Question<'_>, recursion_available: bool) {
    out.extend_from_slice(&question.id);
    out.push(QR_AA | if question.recursion_desired { RD } else { 0 });
    out.push(
        if recursion_available { RA } else { 0 } | if question.checking_disabled { CD } else { 0 },
    );
    let additional = u16::from(question.edns.is_some());
    for count in [1u16, 1, 0, additional] {
        out.extend_from_slice(&count.to_be_bytes());
    }
}

/// Type, class IN, TTL and RDLENGTH of the answer record.
fn write_record_head(out: &mut Vec<u8>, rtype: u16, ttl: u32, rdlength: u16) {
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
    out.extend_from_slice(&rdlength.to_be_bytes());
}

/// Writes the labels of dotted `name` uncompressed, without the root label;
/// `None` for a name the general path would have to parse (escapes, odd bytes).
fn write_name(out: &mut Vec<u8>, name: &str) -> Option<()> {
    for label in name.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL || !label.bytes().all(plain_byte) {
            return None;
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    Some(())
}

fn write_opt(out: &mut Vec<u8>, max_payload: u16, dnssec_ok: bool) {
    out.push(0);
    out.extend_from_slice(&TYPE_OPT.to_be_bytes());
    out.extend_from_slice(&max_payload.max(MIN_OPT_PAYLOAD).to_be_bytes());
    // Extended rcode 0, version 0.
    out.extend_from_slice(&[0, 0]);
    let flags = if dnssec_ok { DNSSEC_OK } else { 0 };
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
}

/// The address of the live lease named `name` when that lease is all the
/// name holds (no NS, no static record of that name).
fn lease_address(
    name: &str,
    domain: &str,
    table: &LeaseTable,
    ctx: &FastContext<'_>,
) -> Option<Ipv4Addr> {
    let label = name.strip_suffix(domain)?.strip_suffix('.')?;
    if label.is_empty()
        || label.contains('.')
        || ctx.config.nameservers.iter().any(|ns| ns.lower == name)
        || !table.records_named(name).is_empty()
    {
        return None;
    }
    table.address_of_name_at(label, ctx.now)
}

/// `d.c.b.a.in-addr.arpa` (four canonical decimal octets) as `a.b.c.d`.
fn reverse_address(name: &str) -> Option<Ipv4Addr> {
    let octets = name.strip_suffix(".in-addr.arpa")?;
    let mut parsed = [0u8; 4];
    // A byte split: `str::split` searched with a memchr call per label,
    // 4 % of the socket thread at capacity.
    let mut labels = octets.as_bytes().split(|&b| b == b'.');
    for slot in parsed.iter_mut().rev() {
        // Canonical octets only, exactly as the general path accepts them.
        *slot = parse_octet(std::str::from_utf8(labels.next()?).ok()?)?;
    }
    if labels.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(parsed))
}

#[cfg(test)]
mod tests;
