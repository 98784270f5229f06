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

/// Codes the server decides itself; operator values for them are ignored.
/// The config crate refuses each of them (`raftmasq_config::options::reserved`,
/// checked by `protocol_owned_codes_are_refused_by_the_config`).
pub fn is_protocol_owned(option: u8) -> bool {
    matches!(
        option,
        wire::PAD | wire::END | code::HOSTNAME | 50
            ..=59
                | code::CLIENT_ID
                | code::RAPID_COMMIT
                | code::CLIENT_FQDN
                | code::RELAY_AGENT_INFO
    )
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
            // An operator value replaces a built-in one (or an earlier duplicate).
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
mod tests {
    use super::*;
    use crate::decode::decode;
    use crate::testing::PacketBuilder;
    use raftmasq_state::MacAddr;

    fn request(builder: PacketBuilder) -> ClientRequest {
        decode(&builder.build()).unwrap()
    }

    fn base() -> PacketBuilder {
        PacketBuilder::new(3, MacAddr([0, 0x16, 0x3e, 0, 0, 9]))
    }

    fn reply_options() -> ReplyOptions {
        ReplyOptions {
            routers: vec![Ipv4Addr::new(10, 0, 0, 1)],
            dns_servers: vec![Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)],
            operator: vec![
                (26, 1450u16.to_be_bytes().to_vec()),
                (42, vec![10, 0, 0, 4]),
            ],
            ..ReplyOptions::default()
        }
    }

    fn input<'a>(
        request: &'a ClientRequest,
        options: &'a ReplyOptions,
        kind: ReplyKind,
        naming: Naming<'a>,
    ) -> OptionsInput<'a> {
        OptionsInput {
            kind,
            request,
            server_id: Ipv4Addr::new(10, 0, 0, 2),
            subnet_mask: Ipv4Addr::new(255, 255, 255, 0),
            domain: "lxd",
            options,
            lease_secs: (kind != ReplyKind::Nak && kind != ReplyKind::InformAck).then_some(3600),
            naming,
            message: (kind == ReplyKind::Nak).then_some("no"),
        }
    }

    fn codes(fitted: &Fitted) -> Vec<u8> {
        fitted.options.iter().map(|(c, _)| *c).collect()
    }

    fn value(fitted: &Fitted, option: u8) -> Option<&[u8]> {
        fitted
            .options
            .iter()
            .find(|(c, _)| *c == option)
            .map(|(_, d)| d.as_slice())
    }

    #[test]
    fn without_a_parameter_list_every_configured_option_is_sent() {
        let request = request(base());
        let options = reply_options();
        let fitted = choose(
            &input(&request, &options, ReplyKind::Ack, Naming::Granted("c1")),
            548,
        )
        .unwrap();
        assert_eq!(
            codes(&fitted),
            vec![53, 1, 3, 6, 12, 15, 26, 42, 51, 54, 58, 59]
        );
        assert_eq!(value(&fitted, 51), Some(&3600u32.to_be_bytes()[..]));
        assert_eq!(value(&fitted, 58), Some(&1800u32.to_be_bytes()[..]));
        assert_eq!(value(&fitted, 59), Some(&3150u32.to_be_bytes()[..]));
        assert_eq!(value(&fitted, 12), Some(&b"c1"[..]));
    }

    #[test]
    fn parameter_request_list_limits_optional_options_rfc2131_4_3_1() {
        let request = request(base().option(55, &[3, 42]));
        let options = reply_options();
        let fitted = choose(
            &input(&request, &options, ReplyKind::Ack, Naming::Granted("c1")),
            548,
        )
        .unwrap();
        // 53, 54, 51, 58, 59 are always sent; of the optional ones only 3 and 42.
        assert_eq!(codes(&fitted), vec![53, 3, 42, 51, 54, 58, 59]);
        assert!(fitted.omitted.is_empty());
    }

    #[test]
    fn inform_ack_has_no_lease_times_rfc2131_4_3_5() {
        let request = request(
            PacketBuilder::new(8, MacAddr([0, 0x16, 0x3e, 0, 0, 9]))
                .ciaddr(Ipv4Addr::new(10, 0, 0, 9)),
        );
        let options = reply_options();
        let fitted = choose(
            &input(&request, &options, ReplyKind::InformAck, Naming::None),
            548,
        )
        .unwrap();
        for option in [51, 58, 59, 12, 81] {
            assert!(value(&fitted, option).is_none(), "option {option}");
        }
        assert!(value(&fitted, 6).is_some());
    }

    #[test]
    fn nak_carries_only_identification_rfc2131_table_3() {
        let request = request(base().option(61, &[0xff, 9, 9]).option(82, &[1, 1, 7]));
        let options = reply_options();
        let fitted = choose(
            &input(&request, &options, ReplyKind::Nak, Naming::None),
            548,
        )
        .unwrap();
        assert_eq!(codes(&fitted), vec![53, 54, 56, 61, 82]);
        assert_eq!(value(&fitted, 53), Some(&[6][..]));
    }

    #[test]
    fn client_id_and_relay_info_are_echoed_rfc6842_rfc3046() {
        let request = request(
            base()
                .option(55, &[1])
                .option(61, &[0xff, 1, 2])
                .option(82, &[2, 2, 0xaa, 0xbb]),
        );
        let options = reply_options();
        let fitted = choose(
            &input(&request, &options, ReplyKind::Offer, Naming::None),
            548,
        )
        .unwrap();
        assert_eq!(value(&fitted, 61), Some(&[0xff, 1, 2][..]));
        assert_eq!(value(&fitted, 82), Some(&[2, 2, 0xaa, 0xbb][..]));
        assert_eq!(
            codes(&fitted).last(),
            Some(&82),
            "option 82 is written last"
        );
    }

    #[test]
    fn operator_options_replace_built_ins_but_not_protocol_options() {
        let request = request(base());
        let options = ReplyOptions {
            operator: vec![
                (6, vec![1, 1, 1, 1]),
                (51, vec![0, 0, 0, 1]),
                (0, vec![]),
                (80, vec![]),
            ],
            ..reply_options()
        };
        let fitted = choose(
            &input(&request, &options, ReplyKind::Ack, Naming::Refused),
            548,
        )
        .unwrap();
        assert_eq!(value(&fitted, 6), Some(&[1, 1, 1, 1][..]));
        assert_eq!(value(&fitted, 51), Some(&3600u32.to_be_bytes()[..]));
        assert_eq!(
            value(&fitted, 80),
            None,
            "rapid commit is the server's (RFC 4039)"
        );
        assert_eq!(fitted.omitted, vec![51, 0, 80]);
    }

    #[test]
    fn zero_length_operator_options_are_sent() {
        let request = request(base());
        let options = ReplyOptions {
            operator: vec![(160, vec![])],
            ..reply_options()
        };
        let fitted = choose(
            &input(&request, &options, ReplyKind::Ack, Naming::Refused),
            548,
        )
        .unwrap();
        assert_eq!(value(&fitted, 160), Some(&[][..]));
    }

    #[test]
    fn protocol_owned_codes_are_refused_by_the_config() {
        // One rule, two places: what the server ignores, the config refuses.
        for code in 0..=255u8 {
            if is_protocol_owned(code) {
                assert!(
                    raftmasq_config::options::reserved(code).is_some(),
                    "option {code} is the server's but the config accepts it"
                );
            }
        }
    }

    #[test]
    fn only_the_rapid_commit_ack_carries_option_80_rfc4039_4() {
        let request = request(base().option(80, &[]));
        let options = reply_options();
        for kind in [ReplyKind::Offer, ReplyKind::Ack, ReplyKind::RapidCommitAck] {
            let fitted = choose(&input(&request, &options, kind, Naming::None), 548).unwrap();
            let expected = (kind == ReplyKind::RapidCommitAck).then_some(&[][..]);
            assert_eq!(value(&fitted, 80), expected, "{kind:?}");
        }
        // Required: it stays even when the client's list does not name it.
        let listed = self::request(base().option(80, &[]).option(55, &[1]));
        let fitted = choose(
            &input(&listed, &options, ReplyKind::RapidCommitAck, Naming::None),
            548,
        )
        .unwrap();
        assert_eq!(value(&fitted, 80), Some(&[][..]));
    }

    fn boot_options() -> ReplyOptions {
        ReplyOptions {
            boot: crate::context::BootFields {
                next_server: Some(Ipv4Addr::new(10, 0, 0, 5)),
                server_name: Some("tftp.lxd".into()),
                boot_file: Some("pxelinux.0".into()),
            },
            ..reply_options()
        }
    }

    #[test]
    fn boot_options_66_67_only_when_listed_rfc2132_9_4_9_5() {
        let options = boot_options();
        let unlisted = request(base());
        let fitted = choose(
            &input(&unlisted, &options, ReplyKind::Offer, Naming::None),
            548,
        )
        .unwrap();
        assert_eq!((value(&fitted, 66), value(&fitted, 67)), (None, None));

        let listed = request(base().option(55, &[1, 67, 66]));
        let fitted = choose(
            &input(&listed, &options, ReplyKind::Offer, Naming::None),
            548,
        )
        .unwrap();
        assert_eq!(value(&fitted, 66), Some(&b"tftp.lxd"[..]));
        assert_eq!(value(&fitted, 67), Some(&b"pxelinux.0"[..]));
    }

    #[test]
    fn pxe_clients_get_66_67_unlisted_and_naks_get_none() {
        let options = boot_options();
        let pxe = request(
            base()
                .option(55, &[1, 3])
                .option(60, b"PXEClient:Arch:00007:UNDI:003016"),
        );
        let fitted = choose(&input(&pxe, &options, ReplyKind::Ack, Naming::None), 548).unwrap();
        assert_eq!(value(&fitted, 66), Some(&b"tftp.lxd"[..]));
        assert_eq!(value(&fitted, 67), Some(&b"pxelinux.0"[..]));
        let fitted = choose(&input(&pxe, &options, ReplyKind::Nak, Naming::None), 548).unwrap();
        assert_eq!((value(&fitted, 66), value(&fitted, 67)), (None, None));
    }

    #[test]
    fn optional_options_that_do_not_fit_are_dropped_rfc2132_9_10() {
        let request = request(
            base()
                .option(55, &[43, 3, 6])
                .option(57, &576u16.to_be_bytes()),
        );
        let options = ReplyOptions {
            operator: vec![(43, vec![0; 300])],
            ..reply_options()
        };
        let fitted = choose(
            &input(&request, &options, ReplyKind::Ack, Naming::None),
            max_reply_len(&request),
        )
        .unwrap();
        // 43 is the client's first choice but too big; the later, smaller ones still fit.
        assert_eq!(fitted.omitted, vec![43]);
        assert!(value(&fitted, 3).is_some() && value(&fitted, 6).is_some());
        let size: usize = HEADER_LEN
            + 1
            + fitted
                .options
                .iter()
                .map(|(_, d)| wire::encoded_len(d.len()))
                .sum::<usize>();
        assert!(size <= 548);
    }

    #[test]
    fn larger_max_message_size_lets_more_through() {
        let request = request(base().option(57, &1500u16.to_be_bytes()));
        assert_eq!(max_reply_len(&request), 1472);
        let options = ReplyOptions {
            operator: vec![(43, vec![0; 600])],
            ..reply_options()
        };
        let fitted = choose(
            &input(&request, &options, ReplyKind::Ack, Naming::None),
            max_reply_len(&request),
        )
        .unwrap();
        assert_eq!(value(&fitted, 43).map(<[u8]>::len), Some(600));
    }

    #[test]
    fn required_options_that_cannot_fit_mean_no_reply() {
        let mut builder = base();
        for _ in 0..2 {
            builder = builder.option(61, &[0x55; 255]);
        }
        let request = request(builder);
        let options = reply_options();
        assert_eq!(
            choose(
                &input(&request, &options, ReplyKind::Ack, Naming::None),
                548
            ),
            Err(TooLarge)
        );
    }

    #[test]
    fn fqdn_granted_sets_s_and_override_rfc4702_4() {
        // Client: E=1, S=0 (it wants to do the A update itself); we do it anyway.
        let request = request(base().option(81, &[ClientFqdn::E, 0, 0, 2, b'c', b'1', 0]));
        let options = reply_options();
        let fitted = choose(
            &input(&request, &options, ReplyKind::Ack, Naming::Granted("c1-2")),
            548,
        )
        .unwrap();
        let answer = value(&fitted, 81).unwrap();
        assert_eq!(answer[0], ClientFqdn::E | ClientFqdn::S | ClientFqdn::O);
        assert_eq!(&answer[1..3], &[255, 255]);
        assert_eq!(&answer[3..], b"\x04c1-2\x03lxd\x00");
    }

    #[test]
    fn fqdn_answer_keeps_the_ascii_encoding_rfc4702_2_1() {
        let request = request(base().option(81, b"\x01\0\0c1"));
        let options = reply_options();
        let fitted = choose(
            &input(&request, &options, ReplyKind::Ack, Naming::Granted("c1")),
            548,
        )
        .unwrap();
        let answer = value(&fitted, 81).unwrap();
        assert_eq!(answer[0], ClientFqdn::S, "S as asked, so no O; E stays 0");
        assert_eq!(&answer[3..], b"c1.lxd");
    }

    #[test]
    fn fqdn_refused_sets_n_rfc4702_3_1() {
        let request =
            request(base().option(81, &[ClientFqdn::E | ClientFqdn::S, 0, 0, 2, b'c', b'1', 0]));
        let options = reply_options();
        let fitted = choose(
            &input(&request, &options, ReplyKind::Ack, Naming::Refused),
            548,
        )
        .unwrap();
        let answer = value(&fitted, 81).unwrap();
        assert_eq!(
            answer,
            &[ClientFqdn::E | ClientFqdn::N | ClientFqdn::O, 255, 255]
        );
        assert!(value(&fitted, 12).is_none());
    }

    #[test]
    fn an_unencodable_name_omits_only_option_81() {
        let request = request(base().option(81, &[ClientFqdn::E, 0, 0]));
        let options = reply_options();
        let long = "x".repeat(64);
        let fitted = choose(
            &input(&request, &options, ReplyKind::Ack, Naming::Granted(&long)),
            1472,
        )
        .unwrap();
        assert!(value(&fitted, 81).is_none());
        assert!(value(&fitted, 1).is_some());
        assert_eq!(fitted.omitted, vec![81]);
    }
}
