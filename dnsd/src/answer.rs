//! From request bytes to response messages: header checks, EDNS (RFC 6891),
//! TSIG (RFC 8945, the decisions in `tsig`), opcodes, access control,
//! truncation and signing. Synchronous and socket-free; the server module
//! does the I/O and the forwarder the upstream round trips.

use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::tsig::TSIG;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable};
use ipnet::IpNet;

use crate::lookup::{self, Lookup, View};
use crate::transfer;
use crate::tsig::{self, Checked, Keyring, Refusal, ResponseTsig};

/// Largest DNS message (the TCP length prefix is 16 bits).
const MAX_TCP_MESSAGE: usize = u16::MAX as usize;
/// Budget for one AXFR message; RFC 5936 §2.2 lets us split the zone freely.
const AXFR_MESSAGE_BUDGET: usize = 16 * 1024;
/// Without EDNS a UDP response may be at most 512 bytes (RFC 1035 §4.2.1).
const PLAIN_UDP_LIMIT: u16 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// Who may do what, from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub allow_recursion: Vec<IpNet>,
    pub secondaries: Vec<IpAddr>,
    /// If set, AXFR/IXFR need a request signed with this key, and the
    /// address list is not consulted.
    pub transfer_key: Option<Name>,
    pub max_udp_payload: u16,
}

impl Policy {
    pub fn recursion_allowed(&self, client: IpAddr) -> bool {
        let client = canonical(client);
        self.allow_recursion.iter().any(|net| net.contains(&client))
    }

    pub fn is_secondary(&self, client: IpAddr) -> bool {
        let client = canonical(client);
        self.secondaries.iter().any(|s| canonical(*s) == client)
    }

    /// Whether `client`, whose request was signed with `key` (if any), may
    /// transfer a zone: with a transfer key, by the key alone (as BIND's
    /// `allow-transfer { key k; }`); without, by address.
    pub fn transfer_allowed(&self, client: IpAddr, key: Option<&Name>) -> bool {
        match &self.transfer_key {
            Some(required) => key == Some(required),
            None => self.is_secondary(client),
        }
    }
}

/// An IPv4 client on a dual-stack socket arrives as `::ffff:a.b.c.d`.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// What every response to one request shares.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub id: u16,
    pub op_code: OpCode,
    pub recursion_desired: bool,
    pub checking_disabled: bool,
    pub query: Option<Query>,
    /// Our OPT record, present iff the request had one (RFC 6891 §6.1.1).
    pub edns: Option<Edns>,
    pub dnssec_ok: bool,
    /// Largest response that may go back over UDP.
    pub udp_limit: u16,
    pub transport: Transport,
    /// The TSIG every response carries: `None` for an unsigned request.
    pub tsig: Option<ResponseTsig>,
}

impl Context {
    /// A response skeleton: header fields copied from the request, the question
    /// as the client wrote it, our OPT.
    pub fn response(&self, rcode: ResponseCode) -> Message {
        let mut message = Message::response(self.id, self.op_code);
        message.metadata.recursion_desired = self.recursion_desired;
        message.metadata.checking_disabled = self.checking_disabled;
        message.metadata.response_code = rcode;
        if let Some(query) = &self.query {
            message.add_query(query.clone());
        }
        message.edns = self.edns.clone();
        message
    }

    pub fn qtype(&self) -> Option<RecordType> {
        self.query.as_ref().map(Query::query_type)
    }

    /// The key a verified request was signed with.
    pub fn signed_by(&self) -> Option<&Name> {
        match &self.tsig {
            Some(ResponseTsig::Signed(signing)) => Some(signing.key()),
            _ => None,
        }
    }
}

/// A request that passed the header checks: one IN query with opcode QUERY.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub ctx: Context,
    pub query: Query,
}

#[derive(Debug)]
pub(crate) enum Parsed {
    Query(Request),
    /// An error answered without looking at the zones.
    Reply(Context, Message),
    /// A signed request whose TSIG did not hold: NOTAUTH, with the TSIG
    /// error in `ctx.tsig`; `key` is the key name the request gave.
    TsigRefused {
        ctx: Context,
        reply: Message,
        refusal: Refusal,
        key: Name,
    },
    /// Not worth an answer: too short to carry an ID, or itself a response
    /// (answering responses invites reflection loops).
    Drop,
}

/// What checking a request needs besides its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checks<'k> {
    pub transport: Transport,
    pub max_udp_payload: u16,
    pub keys: &'k Keyring,
    /// Unix seconds, for TSIG's time check and Time Signed.
    pub now_secs: u64,
}

/// Decodes and checks a request.
pub(crate) fn parse(bytes: &[u8], checks: &Checks<'_>) -> Parsed {
    let Checks {
        transport,
        max_udp_payload,
        ..
    } = *checks;
    let Ok(header) = Header::read(&mut BinDecoder::new(bytes)) else {
        return Parsed::Drop;
    };
    if header.message_type == MessageType::Response {
        return Parsed::Drop;
    }
    let mut ctx = Context {
        id: header.id,
        op_code: header.op_code,
        recursion_desired: header.recursion_desired,
        checking_disabled: header.checking_disabled,
        query: None,
        edns: None,
        dnssec_ok: false,
        udp_limit: PLAIN_UDP_LIMIT,
        transport,
        tsig: None,
    };
    let Ok(message) = Message::from_vec(bytes) else {
        // Includes a second OPT record (RFC 6891 §6.1.1) and malformed options.
        let reply = ctx.response(ResponseCode::FormErr);
        return Parsed::Reply(ctx, reply);
    };
    if message.queries.len() == 1 {
        ctx.query = message.queries.first().cloned();
    }
    if let Some(edns) = &message.edns {
        // Unknown options and flags are ignored and never echoed (§6.1.2, §6.1.4);
        // DO is copied back (RFC 3225 §3).
        let mut ours = Edns::new();
        ours.set_max_payload(max_udp_payload);
        ours.set_version(0);
        ours.set_dnssec_ok(edns.flags().dnssec_ok);
        ctx.dnssec_ok = edns.flags().dnssec_ok;
        ctx.udp_limit = edns
            .max_payload()
            .clamp(PLAIN_UDP_LIMIT, max_udp_payload.max(PLAIN_UDP_LIMIT));
        ctx.edns = Some(ours);
    }
    if let Some(signature) = &message.signature
        && let Some(refused) = check_tsig(&mut ctx, bytes, signature, checks)
    {
        return refused;
    }
    if message.edns.as_ref().is_some_and(|edns| edns.version() > 0) {
        // RFC 6891 §6.1.3: answer BADVERS with the highest version we do implement.
        let reply = ctx.response(ResponseCode::BADVERS);
        return Parsed::Reply(ctx, reply);
    }
    if message.op_code != OpCode::Query {
        // UPDATE, NOTIFY (we are the primary), STATUS, IQUERY and unassigned
        // codes. As BIND (`dns_message_reply`): every header flag but QR is
        // cleared (no RD, CD or AD echoed: they mean something only to a
        // query), and the question is echoed only for NOTIFY and UPDATE,
        // whose first section has a meaning we know (the zone).
        ctx.recursion_desired = false;
        ctx.checking_disabled = false;
        if !matches!(message.op_code, OpCode::Notify | OpCode::Update) {
            ctx.query = None;
        }
        let reply = ctx.response(ResponseCode::NotImp);
        return Parsed::Reply(ctx, reply);
    }
    let Some(query) = ctx.query.clone() else {
        // RFC 9619: QDCOUNT must be 1 for QUERY.
        let reply = ctx.response(ResponseCode::FormErr);
        return Parsed::Reply(ctx, reply);
    };
    if query.query_class() != DNSClass::IN {
        let reply = ctx.response(ResponseCode::Refused);
        return Parsed::Reply(ctx, reply);
    }
    Parsed::Query(Request { ctx, query })
}

/// Checks a request's TSIG: verified, `ctx` signs every answer (and `None`);
/// refused, the NOTAUTH answer to send instead.
fn check_tsig(
    ctx: &mut Context,
    bytes: &[u8],
    signature: &Record<TSIG>,
    checks: &Checks<'_>,
) -> Option<Parsed> {
    match tsig::check(bytes, signature, checks.keys, checks.now_secs) {
        Checked::Verified(signing) => {
            ctx.tsig = Some(ResponseTsig::Signed(signing));
            None
        }
        Checked::Refused(refusal, response_tsig) => {
            ctx.tsig = Some(response_tsig);
            let reply = ctx.response(ResponseCode::NotAuth);
            Some(Parsed::TsigRefused {
                ctx: ctx.clone(),
                reply,
                refusal,
                key: signature.name.clone(),
            })
        }
    }
}

#[derive(Debug)]
pub(crate) enum Outcome {
    /// Responses ready to encode (several only for AXFR).
    Messages(Vec<Message>),
    /// Ask an upstream resolver.
    Forward,
    /// A zone transfer this client may not have (by address, or for want
    /// of the transfer key): REFUSED, counted and logged by the caller.
    TransferRefused(Message),
}

/// Answers a parsed request from the zones, or decides to forward it.
pub(crate) fn respond(
    request: &Request,
    client: IpAddr,
    policy: &Policy,
    view: &View<'_>,
) -> Outcome {
    let ctx = &request.ctx;
    let qname = request.query.name();
    let qtype = request.query.query_type();
    let recursion = policy.recursion_allowed(client);
    let reply = |rcode| Outcome::Messages(vec![ctx.response(rcode)]);
    if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
        if !policy.transfer_allowed(client, ctx.signed_by()) {
            return Outcome::TransferRefused(ctx.response(ResponseCode::Refused));
        }
        let Some(zone) = view
            .zone_named(&lookup::key(qname))
            .filter(|_| view.loaded())
        else {
            // RFC 5936 §2.2.1: not authoritative for the zone asked for.
            return reply(ResponseCode::NotAuth);
        };
        return match (qtype, ctx.transport) {
            (RecordType::AXFR, Transport::Udp) => reply(ResponseCode::FormErr),
            // RFC 1995 §2: an IXFR over UDP that will not fit gets our SOA, and
            // the secondary comes back over TCP.
            (_, Transport::Udp) => {
                let mut message = ctx.response(ResponseCode::NoError);
                message.metadata.authoritative = true;
                message.add_answer(crate::rrs::soa(
                    view.config,
                    zone,
                    view.serial,
                    crate::rrs::INFRA_TTL,
                ));
                Outcome::Messages(vec![message])
            }
            // IXFR without a journal falls back to a full transfer (RFC 1995 §4).
            (_, Transport::Tcp) => {
                Outcome::Messages(transfer_messages(ctx, transfer::zone_records(view, zone)))
            }
        };
    }
    match lookup::lookup(view, qname, qtype) {
        Lookup::NotOurs if recursion => Outcome::Forward,
        Lookup::NotOurs => reply(ResponseCode::Refused),
        Lookup::NotLoaded => reply(ResponseCode::ServFail),
        Lookup::Answer(answer) => {
            let mut message = ctx.response(answer.rcode);
            message.metadata.authoritative = true;
            message.metadata.recursion_available = recursion;
            message.answers = answer.answers;
            message.authorities = answer.authorities;
            message.additionals = answer.additionals;
            Outcome::Messages(vec![message])
        }
    }
}

/// Splits a zone into AXFR messages; the question goes in the first only.
fn transfer_messages(ctx: &Context, records: Vec<Record>) -> Vec<Message> {
    let fresh = |first: bool| {
        let mut message = ctx.response(ResponseCode::NoError);
        message.metadata.authoritative = true;
        if !first {
            message.queries.clear();
        }
        message
    };
    let mut messages = Vec::new();
    let mut current = fresh(true);
    let mut size = 0;
    for record in records {
        let len = record.to_bytes().map_or(MAX_TCP_MESSAGE, |b| b.len());
        if !current.answers.is_empty() && size + len > AXFR_MESSAGE_BUDGET {
            messages.push(std::mem::replace(&mut current, fresh(false)));
            size = 0;
        }
        size += len;
        current.answers.push(record);
    }
    messages.push(current);
    messages
}

/// Encodes the responses to one request, each truncated for UDP if it must
/// be (RFC 2181 §9: TC set, and the answer dropped rather than half an RRset
/// sent; the client retries over TCP), and each with the request's TSIG:
/// signed ones chained message to message (RFC 8945 §5.3.1), and a
/// truncated one signed as truncated (§5.3).
pub(crate) fn encode_all(ctx: &Context, messages: &[Message]) -> Vec<Vec<u8>> {
    let mut seal = Seal::of(ctx);
    messages
        .iter()
        .map(|message| encode_sealed(ctx, message, &mut seal))
        .collect()
}

/// [`encode_all`] for one message.
pub(crate) fn encode(ctx: &Context, message: &Message) -> Vec<u8> {
    encode_sealed(ctx, message, &mut Seal::of(ctx))
}

fn encode_sealed(ctx: &Context, message: &Message, seal: &mut Seal<'_>) -> Vec<u8> {
    let limit = match ctx.transport {
        Transport::Udp => usize::from(ctx.udp_limit),
        Transport::Tcp => MAX_TCP_MESSAGE,
    };
    match seal.seal(message) {
        Some((bytes, mac)) if bytes.len() <= limit => {
            seal.advance(mac);
            bytes
        }
        Some(_) if ctx.transport == Transport::Udp => {
            let mut truncated = ctx.response(message.metadata.response_code);
            truncated.metadata = message.metadata;
            truncated.metadata.truncation = true;
            sealed_or_servfail(ctx, &truncated, seal)
        }
        _ => sealed_or_servfail(ctx, &ctx.response(ResponseCode::ServFail), seal),
    }
}

fn sealed_or_servfail(ctx: &Context, message: &Message, seal: &mut Seal<'_>) -> Vec<u8> {
    let sealed = seal.seal(message).or_else(|| {
        // Only a question we could not re-encode gets here: drop it too.
        let mut bare = ctx.response(ResponseCode::ServFail);
        bare.queries.clear();
        seal.seal(&bare)
    });
    match sealed {
        Some((bytes, mac)) => {
            seal.advance(mac);
            bytes
        }
        None => Vec::new(),
    }
}

/// How the responses to one request are closed: not at all, with a fixed
/// unsigned TSIG (BADKEY, BADSIG), or signed.
enum Seal<'c> {
    Plain,
    Unsigned(&'c Record<TSIG>),
    Signed(tsig::Chain<'c>),
}

impl<'c> Seal<'c> {
    fn of(ctx: &'c Context) -> Self {
        match &ctx.tsig {
            None => Seal::Plain,
            Some(ResponseTsig::Unsigned(record)) => Seal::Unsigned(record),
            Some(ResponseTsig::Signed(signing)) => Seal::Signed(signing.chain()),
        }
    }

    /// The wire form of `message` closed this way, and the MAC to chain
    /// from if it is sent.
    fn seal(&self, message: &Message) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
        match self {
            Seal::Plain => Some((message.to_vec().ok()?, None)),
            Seal::Unsigned(record) => Some((
                tsig::with_signature(message, Box::new((*record).clone()))?,
                None,
            )),
            Seal::Signed(chain) => {
                let unsigned = message.to_vec().ok()?;
                let (record, mac) = chain.sign(&unsigned)?;
                Some((tsig::with_signature(message, record)?, Some(mac)))
            }
        }
    }

    fn advance(&mut self, mac: Option<Vec<u8>>) {
        if let (Seal::Signed(chain), Some(mac)) = (self, mac) {
            chain.advance(mac);
        }
    }
}

/// An empty answer with TC set, for a datagram the rate limiter slips
/// (`None`: not a query worth one).
pub(crate) fn slipped(bytes: &[u8], max_udp_payload: u16) -> Option<Vec<u8>> {
    let keys = Keyring::default();
    let checks = Checks {
        transport: Transport::Udp,
        max_udp_payload,
        keys: &keys,
        now_secs: 0,
    };
    let Parsed::Query(request) = parse(bytes, &checks) else {
        return None;
    };
    let mut message = request.ctx.response(ResponseCode::NoError);
    message.metadata.truncation = true;
    message.to_vec().ok()
}

/// For metrics: the response code of an encoded response.
pub(crate) fn rcode_of(message: &Message) -> ResponseCode {
    message.metadata.response_code
}

/// Where a request came from, for access control.
pub(crate) fn client_ip(from: SocketAddr) -> IpAddr {
    canonical(from.ip())
}
