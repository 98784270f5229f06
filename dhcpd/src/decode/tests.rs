use super::*;
use crate::testing::PacketBuilder;

fn discover() -> PacketBuilder {
    PacketBuilder::new(1, MacAddr([0, 0x16, 0x3e, 1, 2, 3]))
}

#[test]
fn decodes_the_fields_the_decision_needs() {
    let bytes = discover()
        .xid(0xdead_beef)
        .broadcast()
        .giaddr(Ipv4Addr::new(10, 0, 0, 1))
        .option(50, &[10, 0, 0, 7])
        .option(54, &[10, 0, 0, 2])
        .option(12, b"c1\0")
        .option(55, &[1, 3, 6, 15])
        .option(57, &1500u16.to_be_bytes())
        .option(61, &[0xff, 1, 2, 3, 4])
        .option(82, &[1, 2, b'e', b'0'])
        .option(60, b"udhcp 1.36")
        .build();
    let request = decode(&bytes).unwrap();
    assert_eq!(request.kind, MessageKind::Discover);
    assert_eq!(request.xid, 0xdead_beef);
    assert!(request.broadcast_flag);
    assert_eq!(request.giaddr, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(request.mac, MacAddr([0, 0x16, 0x3e, 1, 2, 3]));
    assert_eq!(request.requested_address, Some(Ipv4Addr::new(10, 0, 0, 7)));
    assert_eq!(request.server_id, Some(Ipv4Addr::new(10, 0, 0, 2)));
    assert_eq!(request.hostname.as_deref(), Some("c1"));
    assert_eq!(request.parameter_request_list, Some(vec![1, 3, 6, 15]));
    assert_eq!(request.max_message_size, Some(1500));
    assert_eq!(request.client_id, ClientId(vec![0xff, 1, 2, 3, 4]));
    assert_eq!(request.client_id_option, Some(vec![0xff, 1, 2, 3, 4]));
    assert_eq!(request.relay_agent_info, Some(vec![1, 2, b'e', b'0']));
    assert_eq!(request.vendor_class.as_deref(), Some(&b"udhcp 1.36"[..]));
    assert!(request.malformed_options.is_empty());
}

#[test]
fn client_id_defaults_to_the_mac() {
    let request = decode(&discover().build()).unwrap();
    assert_eq!(request.client_id, ClientId::from_mac(request.mac));
    assert_eq!(request.client_id_option, None);
}

#[test]
fn one_malformed_option_does_not_drop_the_others() {
    let bytes = discover()
        .option(81, &[ClientFqdn::E, 0, 0, 0xc0, 0x0c]) // compression pointer
        .option(50, &[10, 0, 0]) // wrong length
        .option(12, &[0xff, 0xfe]) // not UTF-8
        .option(55, &[1, 3, 6])
        .option(61, &[1]) // too short
        .build();
    let request = decode(&bytes).unwrap();
    assert_eq!(request.parameter_request_list, Some(vec![1, 3, 6]));
    assert_eq!(request.fqdn, None);
    assert_eq!(request.requested_address, None);
    assert_eq!(request.hostname, None);
    assert_eq!(request.client_id, ClientId::from_mac(request.mac));
    let mut malformed = request.malformed_options.clone();
    malformed.sort_unstable();
    assert_eq!(malformed, vec![12, 50, 61, 81]);
}

#[test]
fn fqdn_in_wire_form() {
    let bytes = discover()
        .option(81, b"\x05\xff\xff\x02c1\x03lxd\x00")
        .build();
    let fqdn = decode(&bytes).unwrap().fqdn.unwrap();
    assert!(fqdn.s() && fqdn.e() && !fqdn.n());
    assert_eq!(fqdn.labels, ["c1", "lxd"]);
    assert!(fqdn.fully_qualified);
}

#[test]
fn fqdn_in_deprecated_ascii_form() {
    let bytes = discover().option(81, b"\x01\0\0printer7.lxd\0").build();
    let request = decode(&bytes).unwrap();
    let fqdn = request.fqdn.as_ref().unwrap();
    assert!(!fqdn.e());
    assert_eq!(fqdn.labels, ["printer7", "lxd"]);
    assert!(!fqdn.fully_qualified);
    assert_eq!(request.requested_hostname(), Some("printer7"));
}

#[test]
fn fqdn_may_leave_the_name_to_the_server() {
    let bytes = discover()
        .option(81, &[ClientFqdn::E, 0, 0])
        .option(12, b"fallback")
        .build();
    let request = decode(&bytes).unwrap();
    assert_eq!(request.fqdn.as_ref().unwrap().labels, Vec::<String>::new());
    assert_eq!(request.requested_hostname(), Some("fallback"));
}

#[test]
fn max_message_size_below_576_is_malformed_rfc2132_9_10() {
    let bytes = discover().option(57, &575u16.to_be_bytes()).build();
    let request = decode(&bytes).unwrap();
    assert_eq!(request.max_message_size, None);
    assert_eq!(request.malformed_options, vec![57]);
}

#[test]
fn malformed_relay_info_is_not_echoed() {
    let bytes = discover().option(82, &[1, 5, 0]).build();
    let request = decode(&bytes).unwrap();
    assert_eq!(request.relay_agent_info, None);
    assert_eq!(request.malformed_options, vec![82]);
}

#[test]
fn hard_drops() {
    let valid = discover().build();
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        (valid[..239].to_vec(), DropReason::Truncated),
        (vec![0; 2000], DropReason::Oversized),
        (patch(&valid, 0, 2), DropReason::WrongOp),
        (patch(&valid, 236, 0), DropReason::BadMagicCookie),
        (patch(&valid, 2, 17), DropReason::BadHardwareLength),
        (patch(&valid, 2, 8), DropReason::EthernetLengthMismatch),
        (patch(&valid, 1, 6), DropReason::UnsupportedHardwareType),
        (
            discover().message_type(None).option(12, b"c1").build(),
            DropReason::MissingMessageType,
        ),
        (
            discover().message_type(Some(2)).build(),
            DropReason::NotClientMessage(2),
        ),
        (
            discover().message_type(Some(5)).build(),
            DropReason::NotClientMessage(5),
        ),
    ];
    for (bytes, reason) in cases {
        assert_eq!(decode(&bytes), Err(reason), "{reason}");
    }
}

#[test]
fn inform_without_ciaddr_and_relay_is_dropped_rfc2131_table_5() {
    let inform = PacketBuilder::new(8, MacAddr([0, 0x16, 0x3e, 1, 2, 3]));
    assert_eq!(
        decode(&inform.build()),
        Err(DropReason::InformWithoutAddress)
    );
    assert_eq!(
        DropReason::InformWithoutAddress.label(),
        "inform_without_address"
    );
    let with_ciaddr = inform.clone().ciaddr(Ipv4Addr::new(10, 0, 0, 7));
    assert!(decode(&with_ciaddr.build()).is_ok());
    let relayed = inform.giaddr(Ipv4Addr::new(10, 0, 0, 1));
    assert!(
        decode(&relayed.build()).is_ok(),
        "the relay is where to answer"
    );
    // Other messages without ciaddr are normal.
    assert!(decode(&discover().build()).is_ok());
}

#[test]
fn rapid_commit_is_read_from_option_80_rfc4039() {
    assert!(!decode(&discover().build()).unwrap().rapid_commit);
    let request = decode(&discover().option(80, &[]).build()).unwrap();
    assert!(request.rapid_commit);
    assert!(request.malformed_options.is_empty());
    // Like dnsmasq, presence is what counts; stray data is not an error.
    let request = decode(&discover().option(80, &[1]).build()).unwrap();
    assert!(request.rapid_commit);
}

#[test]
fn option_overflow_is_a_hard_drop() {
    let mut bytes = discover().build();
    // Replace the End option with an option claiming more bytes than remain.
    let end = bytes.len() - 1;
    bytes[end] = 12;
    bytes.extend_from_slice(&[40, b'a']);
    assert_eq!(decode(&bytes), Err(DropReason::OptionOverflow));
}

#[test]
fn message_type_split_across_instances_is_invalid() {
    let bytes = discover().option(53, &[1]).build();
    assert_eq!(decode(&bytes), Err(DropReason::MissingMessageType));
}

fn patch(bytes: &[u8], at: usize, value: u8) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    bytes[at] = value;
    bytes
}
