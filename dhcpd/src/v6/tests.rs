//! DHCPv6 decide/finish, message by message, a random-exchange proptest
//! (no address twice, reservations honoured) and the robustness check that
//! arbitrary bytes never panic the parse path and are counted as dropped.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use dhcproto::Encodable;
use dhcproto::v6::{
    DhcpOption, DhcpOptions, IAAddr, IANA, Message, MessageType, OptionCode, Status,
};
use proptest::prelude::*;
use raftmasq_state::v6::{Duid, V6Leases, V6Range, apply_both};
use raftmasq_state::{ClusterSettings, Command, LeaseTable, MacAddr, Response};

use super::*;
use crate::context::Role;

const START: Ipv6Addr = Ipv6Addr::new(0xfd42, 1, 0, 0, 0, 0, 0, 0x1000);
const END: Ipv6Addr = Ipv6Addr::new(0xfd42, 1, 0, 0, 0, 0, 0, 0x1003);
const RESERVED: Ipv6Addr = Ipv6Addr::new(0xfd42, 1, 0, 0, 0, 0, 0, 0x50);

fn mac(n: u8) -> MacAddr {
    MacAddr([0, 0x16, 0x3e, 0, 0, n])
}

fn config() -> V6ServerConfig {
    V6ServerConfig {
        server_duid: Duid::link_layer(MacAddr([2, 0, 0, 0, 0, 1])),
        peer_duids: vec![Duid::link_layer(MacAddr([2, 0, 0, 0, 0, 2]))],
        prefix: "fd42:1::/64".parse().unwrap(),
        range: V6Range {
            start: START,
            end: END,
        },
        lease_time_secs: 3600,
        decline_quarantine_secs: 600,
        dns_servers: vec!["fd42:1::1".parse().unwrap()],
        search_domains: vec!["lxd".into()],
        reservations: vec![V6ServerReservation {
            by: V6ReservedBy::Mac(mac(9)),
            address: RESERVED,
            hostname: Some("db".into()),
        }],
        rapid_commit: true,
    }
}

struct Node {
    v4: LeaseTable,
    v6: V6Leases,
    config: V6ServerConfig,
}

impl Node {
    fn new() -> Node {
        let mut v4 = LeaseTable::default();
        let settings = ClusterSettings {
            subnet: "10.0.0.0/24".parse().unwrap(),
            ranges: vec![raftmasq_state::AddressRange {
                start: "10.0.0.10".parse().unwrap(),
                end: "10.0.0.20".parse().unwrap(),
            }],
            domain: "lxd".into(),
            lease_time_secs: 3600,
            duplicate_hostnames: Default::default(),
            decline_quarantine_secs: 600,
            client_identity: Default::default(),
        };
        assert_eq!(v4.apply(&Command::Initialize { settings }), Response::Done);
        Node {
            v4,
            v6: V6Leases::default(),
            config: config(),
        }
    }

    /// decode → decide → (commit → finish): what the server loop does.
    fn exchange(&mut self, bytes: &[u8], role: Role, now: u64) -> Option<Message> {
        let request = parse(bytes).ok()?;
        match decide(&self.v6, true, &request, &self.config, role, now) {
            V6Decision::Ignore(_) | V6Decision::Information => None,
            V6Decision::Reply(message) => Some(message),
            V6Decision::Propose(proposal) => {
                let response = apply_both(&mut self.v4, &mut self.v6, &proposal.command);
                Some(finish(&proposal.pending, &response, &self.config, now))
            }
        }
    }
}

fn client_message(
    kind: MessageType,
    n: u8,
    server: Option<&Duid>,
    addresses: &[Ipv6Addr],
    extra: Vec<DhcpOption>,
) -> Vec<u8> {
    let mut message = Message::new_with_id(kind, [n, 2, 3]);
    let opts = message.opts_mut();
    opts.insert(DhcpOption::ClientId(Duid::link_layer(mac(n)).0));
    if let Some(server) = server {
        opts.insert(DhcpOption::ServerId(server.0.clone()));
    }
    let mut ia_opts = DhcpOptions::new();
    for &addr in addresses {
        ia_opts.insert(DhcpOption::IAAddr(IAAddr {
            addr,
            preferred_life: 0,
            valid_life: 0,
            opts: DhcpOptions::new(),
        }));
    }
    opts.insert(DhcpOption::IANA(IANA {
        id: 1,
        t1: 0,
        t2: 0,
        opts: ia_opts,
    }));
    for option in extra {
        opts.insert(option);
    }
    message.to_vec().unwrap()
}

fn leased_address(message: &Message) -> Option<Ipv6Addr> {
    message.opts().iter().find_map(|o| match o {
        DhcpOption::IANA(ia) => ia.opts.iter().find_map(|o| match o {
            DhcpOption::IAAddr(a) => Some(a.addr),
            _ => None,
        }),
        _ => None,
    })
}

fn ia_status(message: &Message) -> Option<Status> {
    message.opts().iter().find_map(|o| match o {
        DhcpOption::IANA(ia) => ia.opts.iter().find_map(|o| match o {
            DhcpOption::StatusCode(s) => Some(s.status),
            _ => None,
        }),
        _ => None,
    })
}

fn fqdn(label: &str) -> DhcpOption {
    let mut data = vec![0, label.len() as u8];
    data.extend_from_slice(label.as_bytes());
    data.push(0);
    DhcpOption::Unknown(dhcproto::v6::UnknownOption::new(
        OptionCode::ClientFqdn,
        data,
    ))
}

#[test]
fn solicit_advertise_request_reply_commits_before_replying() {
    let mut node = Node::new();
    let ours = node.config.server_duid.clone();
    let advertise = node
        .exchange(
            &client_message(MessageType::Solicit, 1, None, &[], vec![]),
            Role::LEADER,
            1_000,
        )
        .unwrap();
    assert_eq!(advertise.msg_type(), MessageType::Advertise);
    let offered = leased_address(&advertise).unwrap();
    assert_eq!(offered, START);
    assert!(node.v6.is_empty(), "an ADVERTISE commits nothing");
    assert!(
        advertise
            .opts()
            .iter()
            .any(|o| *o == DhcpOption::Preference(255))
    );
    let reply = node
        .exchange(
            &client_message(
                MessageType::Request,
                1,
                Some(&ours),
                &[offered],
                vec![fqdn("c1")],
            ),
            Role::LEADER,
            2_000,
        )
        .unwrap();
    assert_eq!(reply.msg_type(), MessageType::Reply);
    assert_eq!(leased_address(&reply), Some(offered));
    let lease = node.v6.lease_by_address(offered).unwrap();
    assert_eq!(lease.name.as_deref(), Some("c1"));
    assert!(
        reply
            .opts()
            .iter()
            .any(|o| matches!(o, DhcpOption::DomainNameServers(_)))
    );
}

#[test]
fn rapid_commit_solicit_gets_a_committed_reply() {
    let mut node = Node::new();
    let reply = node
        .exchange(
            &client_message(
                MessageType::Solicit,
                1,
                None,
                &[],
                vec![DhcpOption::RapidCommit],
            ),
            Role::LEADER,
            1_000,
        )
        .unwrap();
    assert_eq!(reply.msg_type(), MessageType::Reply);
    assert!(reply.opts().iter().any(|o| *o == DhcpOption::RapidCommit));
    assert_eq!(node.v6.len(), 1);
}

#[test]
fn followers_are_silent_and_without_quorum_only_held_bindings_are_answered() {
    let mut node = Node::new();
    let solicit = client_message(
        MessageType::Solicit,
        1,
        None,
        &[],
        vec![DhcpOption::RapidCommit],
    );
    assert!(node.exchange(&solicit, Role::FOLLOWER, 1_000).is_none());
    let address = leased_address(&node.exchange(&solicit, Role::LEADER, 1_000).unwrap()).unwrap();
    // Degraded: the held binding is renewed from the replica, nothing committed.
    let renew = client_message(MessageType::Rebind, 1, None, &[address], vec![]);
    let reply = node.exchange(&renew, Role::ISOLATED, 601_000).unwrap();
    assert_eq!(leased_address(&reply), Some(address));
    let valid = reply.opts().iter().find_map(|o| match o {
        DhcpOption::IANA(ia) => Some(ia.t1),
        _ => None,
    });
    assert_eq!(valid, Some(1500), "T1 is half of the 3000 s left");
    // A new client gets nothing.
    assert!(
        node.exchange(
            &client_message(
                MessageType::Solicit,
                2,
                None,
                &[],
                vec![DhcpOption::RapidCommit]
            ),
            Role::ISOLATED,
            601_000
        )
        .is_none()
    );
}

/// The edge skips decoding when `ignore_unread` says so: that must be
/// exactly the silence `decide` would have chosen for any message, and
/// `None` must leave every message to `decide`.
#[test]
fn ignore_unread_is_the_silence_decide_keeps_whatever_the_message() {
    let node = Node::new();
    let server = node.config.server_duid.clone();
    let mut info = Message::new_with_id(MessageType::InformationRequest, [1, 1, 1]);
    info.opts_mut()
        .insert(DhcpOption::ClientId(Duid::link_layer(mac(1)).0));
    let messages = [
        client_message(MessageType::Solicit, 1, None, &[], vec![]),
        client_message(
            MessageType::Solicit,
            2,
            None,
            &[],
            vec![DhcpOption::RapidCommit],
        ),
        client_message(MessageType::Request, 3, Some(&server), &[START], vec![]),
        client_message(MessageType::Rebind, 4, None, &[START], vec![]),
        client_message(MessageType::Release, 5, Some(&server), &[START], vec![]),
        info.to_vec().unwrap(),
    ];
    let unread_silences = [
        V6IgnoreReason::Learner,
        V6IgnoreReason::NotInitialized,
        V6IgnoreReason::NotLeader,
    ];
    let mut skipped = 0;
    for bits in 0..16u8 {
        let role = Role {
            is_leader: bits & 1 != 0,
            has_quorum: bits & 2 != 0,
            is_voter: bits & 4 != 0,
        };
        let initialized = bits & 8 != 0;
        let unread = ignore_unread(role, initialized);
        for bytes in &messages {
            let request = parse(bytes).unwrap();
            let decision = decide(&node.v6, initialized, &request, &node.config, role, 1_000);
            match unread {
                Some(reason) => assert_eq!(decision, V6Decision::Ignore(reason), "{role:?}"),
                None => assert!(
                    !matches!(decision, V6Decision::Ignore(r) if unread_silences.contains(&r)),
                    "{role:?} initialized={initialized}: {decision:?}"
                ),
            }
        }
        skipped += usize::from(unread.is_some());
    }
    // Learners (8 of 16), uninitialised voters (4 more), initialised
    // followers with quorum (1 more: leader=false, quorum=true).
    assert_eq!(skipped, 13);
    assert_eq!(
        ignore_unread(Role::FOLLOWER, true),
        Some(V6IgnoreReason::NotLeader)
    );
    assert_eq!(ignore_unread(Role::LEADER, true), None);
    assert_eq!(
        ignore_unread(Role::ISOLATED, true),
        None,
        "degraded voters still answer"
    );
}

#[test]
fn renew_naming_another_server_is_ignored_a_peer_is_accepted_and_unknown_out_of_range_is_no_binding()
 {
    let mut node = Node::new();
    let stranger = Duid::link_layer(mac(200));
    let peer = node.config.peer_duids[0].clone();
    let renew =
        |server: &Duid, addr| client_message(MessageType::Renew, 1, Some(server), &[addr], vec![]);
    assert!(
        node.exchange(&renew(&stranger, START), Role::LEADER, 1_000)
            .is_none()
    );
    // After a failover: the old leader's DUID, an address in the range the
    // new leader's replica does not hold: bound again, not NoBinding.
    let reply = node
        .exchange(&renew(&peer, START), Role::LEADER, 1_000)
        .unwrap();
    assert_eq!(leased_address(&reply), Some(START));
    let outside: Ipv6Addr = "fd42:1::9999".parse().unwrap();
    let reply = node
        .exchange(
            &client_message(MessageType::Renew, 2, Some(&peer), &[outside], vec![]),
            Role::LEADER,
            1_000,
        )
        .unwrap();
    assert_eq!(ia_status(&reply), Some(Status::NoBinding));
}

#[test]
fn a_mac_reservation_is_honoured_with_its_name() {
    let mut node = Node::new();
    let reply = node
        .exchange(
            &client_message(
                MessageType::Solicit,
                9,
                None,
                &[],
                vec![DhcpOption::RapidCommit, fqdn("other")],
            ),
            Role::LEADER,
            1_000,
        )
        .unwrap();
    assert_eq!(leased_address(&reply), Some(RESERVED));
    assert_eq!(
        node.v6.lease_by_address(RESERVED).unwrap().name.as_deref(),
        Some("db")
    );
}

#[test]
fn release_and_decline_reply_success_and_free_or_quarantine() {
    let mut node = Node::new();
    let ours = node.config.server_duid.clone();
    let address = leased_address(
        &node
            .exchange(
                &client_message(
                    MessageType::Solicit,
                    1,
                    None,
                    &[],
                    vec![DhcpOption::RapidCommit],
                ),
                Role::LEADER,
                1_000,
            )
            .unwrap(),
    )
    .unwrap();
    let reply = node
        .exchange(
            &client_message(MessageType::Decline, 1, Some(&ours), &[address], vec![]),
            Role::LEADER,
            2_000,
        )
        .unwrap();
    assert_eq!(reply.msg_type(), MessageType::Reply);
    assert!(node.v6.is_quarantined(address));
    let next = leased_address(
        &node
            .exchange(
                &client_message(
                    MessageType::Solicit,
                    1,
                    None,
                    &[],
                    vec![DhcpOption::RapidCommit],
                ),
                Role::LEADER,
                3_000,
            )
            .unwrap(),
    )
    .unwrap();
    assert_ne!(next, address);
    node.exchange(
        &client_message(MessageType::Release, 1, Some(&ours), &[next], vec![]),
        Role::LEADER,
        4_000,
    )
    .unwrap();
    assert!(node.v6.is_empty());
}

/// INFORMATION-REQUEST: this server decides whether to answer (the leader,
/// or any voter without a quorum; not for another server) and leaves the
/// bytes to the stateless encoder the daemon shares between the modes.
#[test]
fn information_requests_go_to_the_shared_encoder_and_confirm_is_answered() {
    let node = Node::new();
    let mut info = Message::new_with_id(MessageType::InformationRequest, [1, 1, 1]);
    info.opts_mut()
        .insert(DhcpOption::ClientId(Duid::link_layer(mac(1)).0));
    let request = parse(&info.to_vec().unwrap()).unwrap();
    let decide_as = |role| decide(&node.v6, true, &request, &node.config, role, 1_000);
    assert_eq!(decide_as(Role::LEADER), V6Decision::Information);
    assert_eq!(
        decide_as(Role {
            is_leader: false,
            has_quorum: true,
            is_voter: true
        }),
        V6Decision::Ignore(V6IgnoreReason::NotLeader)
    );
    assert_eq!(
        decide_as(Role {
            is_leader: false,
            has_quorum: false,
            is_voter: true
        }),
        V6Decision::Information,
        "degraded: every voter answers"
    );
    info.opts_mut()
        .insert(DhcpOption::ServerId(Duid::link_layer(mac(7)).0));
    let other = parse(&info.to_vec().unwrap()).unwrap();
    assert_eq!(
        decide(&node.v6, true, &other, &node.config, Role::LEADER, 1_000),
        V6Decision::Ignore(V6IgnoreReason::ForOtherServer)
    );
    let mut node = node;
    let off_link = client_message(
        MessageType::Confirm,
        1,
        None,
        &["fd99::1".parse().unwrap()],
        vec![],
    );
    let reply = node.exchange(&off_link, Role::LEADER, 1_000).unwrap();
    assert!(
        reply
            .opts()
            .iter()
            .any(|o| matches!(o, DhcpOption::StatusCode(s) if s.status == Status::NotOnLink))
    );
}

#[test]
fn a_server_id_in_a_solicit_or_none_in_a_request_is_dropped() {
    let mut node = Node::new();
    let ours = node.config.server_duid.clone();
    assert!(
        node.exchange(
            &client_message(MessageType::Solicit, 1, Some(&ours), &[], vec![]),
            Role::LEADER,
            1
        )
        .is_none()
    );
    assert!(
        node.exchange(
            &client_message(MessageType::Request, 1, None, &[START], vec![]),
            Role::LEADER,
            1
        )
        .is_none()
    );
}

#[derive(Debug, Clone)]
enum Step {
    Rapid(u8),
    Renew(u8, u8),
    Release(u8, u8),
}

proptest! {
    /// Random clients soliciting, renewing random addresses and releasing:
    /// no address is in two replies held at once, every address is in the
    /// range or the reservation, and the reserved client gets its address.
    #[test]
    fn exchanges_never_hand_out_an_address_twice(steps in proptest::collection::vec(prop_oneof![
        (0u8..12).prop_map(Step::Rapid),
        (0u8..12, 0u8..6).prop_map(|(c, a)| Step::Renew(c, a)),
        (0u8..12, 0u8..6).prop_map(|(c, a)| Step::Release(c, a)),
    ], 0..60)) {
        let mut node = Node::new();
        let ours = node.config.server_duid.clone();
        let mut now = 1_000;
        for step in steps {
            now += 1_000;
            let offset = |a: u8| Ipv6Addr::from(u128::from(START) + u128::from(a));
            let bytes = match step {
                Step::Rapid(c) => client_message(MessageType::Solicit, c, None, &[], vec![DhcpOption::RapidCommit]),
                Step::Renew(c, a) => client_message(MessageType::Renew, c, Some(&ours), &[offset(a)], vec![]),
                Step::Release(c, a) => client_message(MessageType::Release, c, Some(&ours), &[offset(a)], vec![]),
            };
            let client = match step { Step::Rapid(c) | Step::Renew(c, _) | Step::Release(c, _) => c };
            if let Some(reply) = node.exchange(&bytes, Role::LEADER, now)
                && let Some(address) = leased_address(&reply)
            {
                let lease = node.v6.lease_by_address(address);
                prop_assert!(lease.is_some_and(|l| l.binding.duid == Duid::link_layer(mac(client))), "reply names an address the client does not hold");
                if client == 9 {
                    prop_assert_eq!(address, RESERVED);
                } else {
                    prop_assert!(START <= address && address <= END);
                }
            }
        }
        let mut seen = BTreeSet::new();
        for lease in node.v6.leases() {
            prop_assert!(seen.insert(lease.address));
        }
    }

    /// Arbitrary bytes through parse + decide: never a panic; whatever
    /// parse refuses has a drop reason (the counted label).
    #[test]
    fn arbitrary_bytes_never_panic_and_refusals_are_labelled(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let node = Node::new();
        match parse(&bytes) {
            Ok(request) => {
                let _ = decide(&node.v6, true, &request, &node.config, Role::LEADER, 1_000);
            }
            Err(reason) => prop_assert!(!reason.as_str().is_empty()),
        }
    }

    /// A valid SOLICIT with any one byte changed: never a panic.
    #[test]
    fn mangled_solicits_never_panic(at in 0usize..200, value in any::<u8>()) {
        let mut bytes = client_message(MessageType::Solicit, 1, None, &[START], vec![fqdn("c1"), DhcpOption::RapidCommit]);
        let at = at % bytes.len();
        bytes[at] = value;
        let mut node = Node::new();
        let _ = node.exchange(&bytes, Role::LEADER, 1_000);
    }
}

/// Options shorter than their fixed part (Status Code 2, Vendor Class 4,
/// Authentication 11), at the top or inside an IA_NA, are malformed: dropped,
/// where dhcproto's decoder would overflow (a panic in debug builds).
#[test]
fn options_shorter_than_their_fixed_part_are_dropped_not_a_panic() {
    let header = [1u8, 0, 0, 1]; // SOLICIT, xid 1
    let client = [0u8, 1, 0, 4, 0, 3, 0, 1];
    let with = |extra: &[u8]| [&header[..], &client[..], extra].concat();
    for short in [
        &[0u8, 13, 0, 1, 0][..],       // Status Code, 1 octet
        &[0u8, 16, 0, 2, 0, 0][..],    // Vendor Class, 2 octets
        &[0u8, 11, 0, 3, 0, 0, 0][..], // Authentication, 3 octets
    ] {
        assert_eq!(
            parse(&with(short)),
            Err(V6DropReason::Malformed),
            "{short:?}"
        );
        // The same inside an IA_NA (12 octets of IAID, T1, T2 first).
        let mut ia = vec![0u8, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        ia.extend_from_slice(short);
        let len = u16::try_from(ia.len() - 4).unwrap().to_be_bytes();
        ia[2..4].copy_from_slice(&len);
        assert_eq!(
            parse(&with(&ia)),
            Err(V6DropReason::Malformed),
            "in IA_NA: {short:?}"
        );
    }
    // A well-formed Status Code still parses.
    assert!(parse(&with(&[0, 13, 0, 2, 0, 0])).is_ok());
}
