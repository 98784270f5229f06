//! Which options a reply carries, and how they fit the client's size limit.
//!
//! Every option is built on its own: a value that cannot be encoded (a label
//! over 63 bytes, say) omits that option and nothing else. Options the client
//! did not ask for in its parameter request list (55) are left out unless the
//! protocol requires them; optional ones that do not fit its maximum message
//! size (57) are dropped, least wanted first.

use std::net::Ipv4Addr;

use crate::boot::{self, BootNeed};
use crate::context::ReplyOptions;
use crate::decode::{ClientFqdn, ClientRequest, code};
use crate::reply::ReplyKind;
use crate::wire;

/// Size of the fixed BOOTP header plus the magic cookie.
pub const HEADER_LEN: usize = 240;
/// Without option 57 a client accepts a 576-byte IP datagram (RFC 2131 §2),
/// i.e. 548 bytes of DHCP message after the IP and UDP headers.
const DEFAULT_MAX_DATAGRAM: usize = 576;
/// IPv4 (20) and UDP (8) headers. We read option 57 as the IP datagram size
/// (as ISC dhcpd does), the stricter of the two readings in use.
const IP_UDP_HEADERS: usize = 28;
/// We never send more than fits one Ethernet frame: raw replies are not fragmented.
const MAX_DATAGRAM: usize = 1500;

/// Whether the server sets `option` itself (or only clients send it): the
/// one table of such codes is `raftmasq_config::options::reserved`, which the
/// config also refuses them by, so an operator value for one never reaches
/// here from a config file; any that does (a hand-built `ReplyOptions`) is
/// left out and listed in `Fitted::omitted`.
fn is_protocol_owned(option: u8) -> bool {
    raftmasq_config::options::reserved(option).is_some()
}

/// The largest DHCP message (UDP payload) this client accepts.
pub fn max_reply_len(request: &ClientRequest) -> usize {
    let datagram = request
        .max_message_size
        .map_or(DEFAULT_MAX_DATAGRAM, usize::from)
        .clamp(DEFAULT_MAX_DATAGRAM, MAX_DATAGRAM);
    datagram - IP_UDP_HEADERS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    /// Always sent; if these do not fit, there is no reply.
    Required,
    /// Sent if in the parameter request list, or if the client sent no list.
    Requested,
    /// Sent only if in the parameter request list (boot options whose value
    /// the header already carries).
    Listed,
    /// Sent if it fits, list or not (the NAK's explanatory message).
    BestEffort,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    code: u8,
    data: Vec<u8>,
    need: Need,
}

/// What the reply says about the client's name (options 12 and 81).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming<'a> {
    /// Not a reply that carries a name (OFFER, INFORM's ACK, NAK).
    None,
    /// The label the cluster granted to this lease.
    Granted(&'a str),
    /// The lease has no name (none asked for, or refused by policy).
    Refused,
}

/// Inputs to the option plan of one reply.
#[derive(Debug, Clone, Copy)]
pub struct OptionsInput<'a> {
    pub kind: ReplyKind,
    pub request: &'a ClientRequest,
    pub server_id: Ipv4Addr,
    pub subnet_mask: Ipv4Addr,
    pub domain: &'a str,
    pub options: &'a ReplyOptions,
    /// Lease time in seconds, for OFFER and ACK of a lease.
    pub lease_secs: Option<u32>,
    pub naming: Naming<'a>,
    /// Option 56 text (NAK only).
    pub message: Option<&'a str>,
}

/// The options chosen for a reply, in the order they are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fitted {
    pub options: Vec<(u8, Vec<u8>)>,
    /// Codes that were wanted but left out (did not fit, or could not be encoded).
    pub omitted: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

/// Plans, filters and fits the options of one reply into `max_len` bytes of
/// DHCP message (header included).
pub fn choose(input: &OptionsInput<'_>, max_len: usize) -> Result<Fitted, TooLarge> {
    let mut omitted = Vec::new();
    let planned = plan(input, &mut omitted);
    // Header, options, End.
    let budget = max_len.checked_sub(HEADER_LEN + 1).ok_or(TooLarge)?;
    let mut fitted = fit(
        planned,
        input.request.parameter_request_list.as_deref(),
        budget,
    )?;
    omitted.append(&mut fitted.omitted);
    fitted.omitted = omitted;
    Ok(fitted)
}

fn plan(input: &OptionsInput<'_>, omitted: &mut Vec<u8>) -> Vec<Planned> {
    let mut plan = Vec::new();
    let mut add = |code: u8, data: Vec<u8>, need: Need| plan.push(Planned { code, data, need });
    add(
        code::MESSAGE_TYPE,
        vec![input.kind.message_type()],
        Need::Required,
    );
    add(
        code::SERVER_ID,
        input.server_id.octets().to_vec(),
        Need::Required,
    );
    let request = input.request;

    if let Some(lease) = input.lease_secs {
        // RFC 2131 §4.4.5 defaults: T1 = 0.5, T2 = 0.875 of the lease; an
        // infinite lease (all ones) has infinite T1 and T2.
        let (t1, t2) = if lease == u32::MAX {
            (lease, lease)
        } else {
            (lease / 2, scale(lease, 7, 8))
        };
        add(
            code::LEASE_TIME,
            lease.to_be_bytes().to_vec(),
            Need::Required,
        );
        add(
            code::RENEWAL_TIME,
            t1.to_be_bytes().to_vec(),
            Need::Required,
        );
        add(
            code::REBINDING_TIME,
            t2.to_be_bytes().to_vec(),
            Need::Required,
        );
    }

    if input.kind != ReplyKind::Nak {
        let mut configured: Vec<(u8, Vec<u8>)> = Vec::new();
        configured.push((code::SUBNET_MASK, input.subnet_mask.octets().to_vec()));
        if !input.options.routers.is_empty() {
            configured.push((code::ROUTER, addresses(&input.options.routers)));
        }
        if !input.options.dns_servers.is_empty() {
            configured.push((code::DNS_SERVERS, addresses(&input.options.dns_servers)));
        }
        if !input.domain.is_empty() {
            configured.push((code::DOMAIN_NAME, input.domain.as_bytes().to_vec()));
        }
        for (option, data) in &input.options.operator {
            if is_protocol_owned(*option) {
                omitted.push(*option);
                continue;
            }
            if matches!(*option, code::TFTP_SERVER_NAME | code::BOOTFILE_NAME) {
                continue; // planned with the boot fields below
            }
            // A later duplicate replaces an earlier one (the config refuses
            // duplicates; a hand-built `ReplyOptions` may have them).
            configured.retain(|(existing, _)| existing != option);
            configured.push((*option, data.clone()));
        }
        for (option, data) in configured {
            add(option, data, Need::Requested);
        }
        for option in boot::options(request, input.options) {
            let need = match option.need {
                BootNeed::Listed => Need::Listed,
                BootNeed::Unasked => Need::BestEffort,
            };
            add(option.code, option.data, need);
        }
    }
    if input.kind == ReplyKind::RapidCommitAck {
        // RFC 4039 §4: the ACK to a DISCOVER says so with an empty option 80.
        add(code::RAPID_COMMIT, Vec::new(), Need::Required);
    }

    match input.naming {
        Naming::None => {}
        Naming::Granted(label) => {
            add(code::HOSTNAME, label.as_bytes().to_vec(), Need::Requested);
            if let Some(fqdn) = &request.fqdn {
                match fqdn_answer(fqdn, Some(label), input.domain) {
                    Some(data) => add(code::CLIENT_FQDN, data, Need::Required),
                    None => omitted.push(code::CLIENT_FQDN),
                }
            }
        }
        Naming::Refused => {
            if let Some(fqdn) = &request.fqdn {
                match fqdn_answer(fqdn, None, input.domain) {
                    Some(data) => add(code::CLIENT_FQDN, data, Need::Required),
                    None => omitted.push(code::CLIENT_FQDN),
                }
            }
        }
    }

    if let Some(message) = input.message {
        add(
            code::MESSAGE,
            truncate(message, 255).as_bytes().to_vec(),
            Need::BestEffort,
        );
    }
    if let Some(client_id) = &request.client_id_option {
        // RFC 6842: echo the client identifier in OFFER, ACK and NAK.
        add(code::CLIENT_ID, client_id.clone(), Need::Required);
    }
    if let Some(link) = request.subnet_selection {
        // RFC 3011 §3: a server that honours option 118 returns it as sent,
        // asked for or not.
        add(
            code::SUBNET_SELECTION,
            link.octets().to_vec(),
            Need::Required,
        );
    }
    if let Some(info) = &request.relay_agent_info {
        // RFC 3046 §2.2: echo the relay agent information, unchanged, last.
        add(code::RELAY_AGENT_INFO, info.clone(), Need::Required);
    }
    plan
}

/// RFC 4702 §4: the server does the A (and PTR) updates itself, so S=1 and O
/// says whether that overrode the client's S; with no name to publish, N=1 and
/// S=0. E repeats the client's encoding; RCODE1/2 are 255 (§3.1).
fn fqdn_answer(client: &ClientFqdn, label: Option<&str>, domain: &str) -> Option<Vec<u8>> {
    let server_s = label.is_some();
    let mut flags = client.flags & ClientFqdn::E;
    if server_s {
        flags |= ClientFqdn::S;
    } else {
        flags |= ClientFqdn::N;
    }
    if server_s != client.s() {
        flags |= ClientFqdn::O;
    }
    let mut data = vec![flags, 255, 255];
    if let Some(label) = label {
        let labels = std::iter::once(label).chain(domain.split('.').filter(|l| !l.is_empty()));
        if client.e() {
            data.extend(wire::encode_name(labels)?);
        } else {
            let text: Vec<&str> = labels.collect();
            data.extend_from_slice(text.join(".").as_bytes());
        }
    }
    Some(data)
}

fn fit(planned: Vec<Planned>, prl: Option<&[u8]>, budget: usize) -> Result<Fitted, TooLarge> {
    let wanted = |p: &Planned| match (p.need, prl) {
        (Need::Requested | Need::Listed, Some(list)) => list.contains(&p.code),
        (Need::Listed, None) => false,
        _ => true,
    };
    let (required, mut optional): (Vec<Planned>, Vec<Planned>) = planned
        .into_iter()
        .filter(wanted)
        .partition(|p| p.need == Need::Required);
    let mut used: usize = required
        .iter()
        .map(|p| wire::encoded_len(p.data.len()))
        .sum();
    if used > budget {
        return Err(TooLarge);
    }
    // Optional options in the client's order of preference, then best-effort ones.
    let rank = |p: &Planned| {
        let position = prl
            .and_then(|list| list.iter().position(|&c| c == p.code))
            .unwrap_or(usize::MAX);
        // Listed and requested options compete by the client's preference alone.
        let need = if p.need == Need::Listed {
            Need::Requested
        } else {
            p.need
        };
        (need, position)
    };
    optional.sort_by_key(rank);
    let mut chosen = required;
    let mut omitted = Vec::new();
    for option in optional {
        let size = wire::encoded_len(option.data.len());
        if used + size <= budget {
            used += size;
            chosen.push(option);
        } else {
            omitted.push(option.code);
        }
    }
    // 53 first (some clients look there), 82 last (RFC 3046 §2.1), else ascending.
    chosen.sort_by_key(|p| match p.code {
        code::MESSAGE_TYPE => (0, 0),
        code::RELAY_AGENT_INFO => (2, 0),
        other => (1, other),
    });
    Ok(Fitted {
        options: chosen.into_iter().map(|p| (p.code, p.data)).collect(),
        omitted,
    })
}

fn addresses(list: &[Ipv4Addr]) -> Vec<u8> {
    list.iter().flat_map(|ip| ip.octets()).collect()
}

fn scale(value: u32, numerator: u64, denominator: u64) -> u32 {
    u32::try_from(u64::from(value) * numerator / denominator).unwrap_or(u32::MAX)
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests;
