use std::str::FromStr;

use dhcproto::v6::{IANA, ORO};
use proptest::prelude::*;

use super::*;

const MAC: [u8; 6] = [0x02, 0x16, 0x3e, 0x00, 0xff, 0x01];

fn service() -> StatelessService {
    StatelessService::new(
        server_duid(MAC),
        vec!["fd42:1::1".parse().unwrap(), "fd42:1::2".parse().unwrap()],
        vec![Name::from_str("lxd.").unwrap()],
    )
}

fn request(message_type: MessageType, xid: [u8; 3], options: Vec<DhcpOption>) -> Vec<u8> {
    let mut message = Message::new_with_id(message_type, xid);
    for option in options {
        message.opts_mut().insert(option);
    }
    message.to_vec().unwrap()
}

fn answered(outcome: Outcome) -> Message {
    match outcome {
        Outcome::Answer(answer) => {
            let message = Message::decode(&mut Decoder::new(&answer.bytes)).unwrap();
            assert_eq!(message.msg_type(), answer.message_type);
            message
        }
        other => panic!("expected an answer, got {other:?}"),
    }
}

fn client_duid(n: u8) -> Vec<u8> {
    vec![0, 3, 0, 1, 0x02, 0, 0, 0, 0, n]
}

#[test]
fn the_server_duid_is_duid_ll_of_the_bridge_mac() {
    assert_eq!(
        server_duid(MAC),
        [0, 3, 0, 1, 0x02, 0x16, 0x3e, 0x00, 0xff, 0x01]
    );
}

#[test]
fn an_information_request_gets_dns_servers_and_the_search_domain() {
    let bytes = request(
        MessageType::InformationRequest,
        [1, 2, 3],
        vec![
            DhcpOption::ClientId(client_duid(7)),
            DhcpOption::ORO(ORO {
                opts: vec![OptionCode::DomainNameServers, OptionCode::DomainSearchList],
            }),
            DhcpOption::ElapsedTime(0),
        ],
    );
    let reply = answered(service().answer(&bytes));
    assert_eq!(reply.msg_type(), MessageType::Reply);
    assert_eq!(reply.xid(), [1, 2, 3]);
    let options = reply.opts();
    assert_eq!(
        options.get(OptionCode::ServerId),
        Some(&DhcpOption::ServerId(server_duid(MAC)))
    );
    assert_eq!(
        options.get(OptionCode::ClientId),
        Some(&DhcpOption::ClientId(client_duid(7)))
    );
    assert_eq!(
        options.get(OptionCode::DomainNameServers),
        Some(&DhcpOption::DomainNameServers(vec![
            "fd42:1::1".parse().unwrap(),
            "fd42:1::2".parse().unwrap()
        ]))
    );
    assert_eq!(
        options.get(OptionCode::DomainSearchList),
        Some(&DhcpOption::DomainSearchList(vec![
            Name::from_str("lxd.").unwrap()
        ]))
    );
    assert_eq!(options.get(OptionCode::StatusCode), None);
}

#[test]
fn an_anonymous_information_request_is_answered_without_a_client_id() {
    // RFC 8415 §18.2.6: the Client Identifier is optional here.
    let bytes = request(MessageType::InformationRequest, [9, 9, 9], vec![]);
    let reply = answered(service().answer(&bytes));
    assert_eq!(reply.opts().get(OptionCode::ClientId), None);
    assert!(reply.opts().get(OptionCode::DomainNameServers).is_some());
}

#[test]
fn an_information_request_for_another_server_or_with_an_ia_is_not_answered() {
    let other = request(
        MessageType::InformationRequest,
        [1, 1, 1],
        vec![DhcpOption::ServerId(server_duid([2, 0, 0, 0, 0, 9]))],
    );
    assert_eq!(
        service().answer(&other),
        Outcome::Ignored(Ignored::ForOtherServer)
    );
    let ours = request(
        MessageType::InformationRequest,
        [1, 1, 1],
        vec![DhcpOption::ServerId(server_duid(MAC))],
    );
    assert!(matches!(service().answer(&ours), Outcome::Answer(_)));
    let with_ia = request(
        MessageType::InformationRequest,
        [1, 1, 1],
        vec![DhcpOption::IANA(IANA {
            id: 1,
            t1: 0,
            t2: 0,
            opts: DhcpOptions::new(),
        })],
    );
    assert_eq!(
        service().answer(&with_ia),
        Outcome::Dropped(Malformed::IaInInformationRequest)
    );
}

#[test]
fn a_solicit_learns_that_addresses_come_from_slaac() {
    let bytes = request(
        MessageType::Solicit,
        [4, 5, 6],
        vec![
            DhcpOption::ClientId(client_duid(3)),
            DhcpOption::IANA(IANA {
                id: 1,
                t1: 0,
                t2: 0,
                opts: DhcpOptions::new(),
            }),
            DhcpOption::RapidCommit,
        ],
    );
    let advertise = answered(service().answer(&bytes));
    assert_eq!(advertise.msg_type(), MessageType::Advertise);
    assert_eq!(advertise.xid(), [4, 5, 6]);
    match advertise.opts().get(OptionCode::StatusCode) {
        Some(DhcpOption::StatusCode(code)) => assert_eq!(code.status, Status::NoAddrsAvail),
        other => panic!("no status: {other:?}"),
    }
    // No address is offered, and no rapid commit is claimed.
    assert_eq!(advertise.opts().get(OptionCode::IANA), None);
    assert_eq!(advertise.opts().get(OptionCode::RapidCommit), None);
}

#[test]
fn solicits_the_rfc_has_servers_discard_are_dropped() {
    let anonymous = request(MessageType::Solicit, [0, 0, 1], vec![]);
    assert_eq!(
        service().answer(&anonymous),
        Outcome::Dropped(Malformed::MissingClientId)
    );
    let with_server = request(
        MessageType::Solicit,
        [0, 0, 1],
        vec![
            DhcpOption::ClientId(client_duid(1)),
            DhcpOption::ServerId(server_duid(MAC)),
        ],
    );
    assert_eq!(
        service().answer(&with_server),
        Outcome::Dropped(Malformed::ServerIdInSolicit)
    );
}

#[test]
fn stateful_relayed_and_server_messages_are_left_alone() {
    let client = DhcpOption::ClientId(client_duid(1));
    for message_type in [
        MessageType::Request,
        MessageType::Renew,
        MessageType::Rebind,
        MessageType::Release,
        MessageType::Decline,
        MessageType::Confirm,
    ] {
        let bytes = request(message_type, [0, 0, 2], vec![client.clone()]);
        assert_eq!(
            service().answer(&bytes),
            Outcome::Ignored(Ignored::NeedsStatefulService),
            "{message_type:?}"
        );
    }
    let renew_elsewhere = request(
        MessageType::Renew,
        [0, 0, 2],
        vec![client.clone(), DhcpOption::ServerId(vec![0, 3, 0, 1, 9])],
    );
    assert_eq!(
        service().answer(&renew_elsewhere),
        Outcome::Ignored(Ignored::ForOtherServer)
    );
    for message_type in [MessageType::Advertise, MessageType::Reply] {
        let bytes = request(message_type, [0, 0, 3], vec![client.clone()]);
        assert_eq!(
            service().answer(&bytes),
            Outcome::Ignored(Ignored::NotAClientMessage)
        );
    }
    // A Relay-forward: hop count, link and peer address, then options.
    let mut relayed = vec![RELAY_FORW, 0];
    relayed.extend_from_slice(&[0; 32]);
    assert_eq!(
        service().answer(&relayed),
        Outcome::Ignored(Ignored::Relayed)
    );
}

#[test]
fn garbage_is_dropped_as_undecodable() {
    for bytes in [&[][..], &[11][..], &[11, 0, 0, 1, 0, 1, 0, 200, 1][..]] {
        assert_eq!(
            service().answer(bytes),
            Outcome::Dropped(Malformed::Undecodable),
            "{bytes:?}"
        );
    }
}

/// dhcproto 0.15 subtracts Status Code's fixed part from its length
/// unchecked: a declared length of 0 panicked the stateless server (debug
/// builds) before the wire check.
#[test]
fn an_option_shorter_than_its_fixed_part_is_dropped_not_a_panic() {
    // Information-request, xid, Status Code (13) of length 0.
    let bytes = [11, 0, 0, 1, 0, 13, 0, 0];
    assert_eq!(
        service().answer(&bytes),
        Outcome::Dropped(Malformed::Undecodable)
    );
}

#[test]
fn received_labels_cover_every_type_counted() {
    for bytes in [[1], [3], [4], [5], [6], [8], [9], [11], [12], [2], [200]] {
        assert!(RECEIVED_LABELS.contains(&received_label(&bytes)));
    }
    assert_eq!(received_label(&[]), "other");
}

proptest! {
    /// Whatever arrives on the bridge, the decision returns (no panic), and
    /// only Information-requests and Solicits are ever answered.
    #[test]
    fn any_bytes_get_an_outcome_and_only_the_two_client_questions_an_answer(
        bytes in proptest::collection::vec(any::<u8>(), 0..600)
    ) {
        if let Outcome::Answer(answer) = service().answer(&bytes) {
            prop_assert!(matches!(bytes.first(), Some(1) | Some(11)));
            prop_assert!(matches!(
                answer.message_type,
                MessageType::Reply | MessageType::Advertise
            ));
        }
    }

    /// A valid Information-request's reply has its transaction id, its
    /// client's identifier, and this server's identifier.
    #[test]
    fn replies_match_their_request(
        xid in any::<[u8; 3]>(),
        duid in proptest::collection::vec(any::<u8>(), 2..64),
        with_client_id in any::<bool>(),
    ) {
        let options = if with_client_id {
            vec![DhcpOption::ClientId(duid.clone())]
        } else {
            vec![]
        };
        let reply = answered(service().answer(&request(MessageType::InformationRequest, xid, options)));
        prop_assert_eq!(reply.xid(), xid);
        prop_assert_eq!(
            reply.opts().get(OptionCode::ServerId),
            Some(&DhcpOption::ServerId(server_duid(MAC)))
        );
        let expected = with_client_id.then_some(DhcpOption::ClientId(duid));
        prop_assert_eq!(reply.opts().get(OptionCode::ClientId), expected.as_ref());
    }
}
