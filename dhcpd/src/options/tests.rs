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
        PacketBuilder::new(8, MacAddr([0, 0x16, 0x3e, 0, 0, 9])).ciaddr(Ipv4Addr::new(10, 0, 0, 9)),
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
fn subnet_selection_is_echoed_unasked_rfc3011_3() {
    let request = request(base().option(55, &[1]).option(118, &[10, 0, 0, 0]));
    let options = reply_options();
    let fitted = choose(
        &input(&request, &options, ReplyKind::Offer, Naming::None),
        548,
    )
    .unwrap();
    assert_eq!(value(&fitted, 118), Some(&[10, 0, 0, 0][..]));
}

#[test]
fn operator_values_for_the_servers_own_codes_are_left_out() {
    // One table (raftmasq_config::options::reserved): what the config
    // refuses, the server leaves out, including 1/3/6/15 (set through
    // dhcp.subnet, dhcp.router, dhcp.dns_servers, dns.domain) and 56/57.
    let request = request(base());
    let options = ReplyOptions {
        operator: vec![
            (6, vec![1, 1, 1, 1]),
            (51, vec![0, 0, 0, 1]),
            (0, vec![]),
            (80, vec![]),
            (56, b"hello".to_vec()),
            (57, vec![5, 220]),
            (26, vec![5, 220]),
        ],
        ..reply_options()
    };
    let fitted = choose(
        &input(&request, &options, ReplyKind::Ack, Naming::Refused),
        548,
    )
    .unwrap();
    assert_eq!(value(&fitted, 6), Some(&[10, 0, 0, 2, 10, 0, 0, 3][..]));
    assert_eq!(value(&fitted, 51), Some(&3600u32.to_be_bytes()[..]));
    assert_eq!(
        value(&fitted, 80),
        None,
        "rapid commit is the server's (RFC 4039)"
    );
    assert_eq!(value(&fitted, 56), None);
    assert_eq!(value(&fitted, 57), None);
    assert_eq!(
        value(&fitted, 26),
        Some(&[5, 220][..]),
        "a later duplicate wins"
    );
    assert_eq!(fitted.omitted, vec![6, 51, 0, 80, 56, 57]);
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
