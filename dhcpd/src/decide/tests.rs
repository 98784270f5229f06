//! One test per RFC 2131 clause (and per rule of issue 3) the decision implements.

use std::net::{Ipv4Addr, SocketAddrV4};

use raftmasq_state::{
    ClientId, ClientIdentity, Command, Lease, LeaseRequest, LeaseState, LeaseTable, MacAddr,
    Millis, Rejection, Reservation, Response,
};

use super::*;
use crate::context::{Arrival, Role};
use crate::decode::decode;
use crate::destination::Destination;
use crate::testing::{
    PacketBuilder, bind_until, context, packet_options, reserve, server_config, settings, table,
    table_with,
};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const OTHER_NODE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
const FOREIGN_SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 250);
const NOW: Millis = 1_000_000;

fn mac(n: u8) -> MacAddr {
    MacAddr([0, 0x16, 0x3e, 0, 0, n])
}

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n)
}

fn discover(n: u8) -> PacketBuilder {
    PacketBuilder::new(1, mac(n))
}

fn request(n: u8) -> PacketBuilder {
    PacketBuilder::new(3, mac(n))
}

fn selecting(n: u8, server: Ipv4Addr, address: Ipv4Addr) -> PacketBuilder {
    request(n)
        .option(54, &server.octets())
        .option(50, &address.octets())
        .option(12, b"web")
}

fn init_reboot(n: u8, address: Ipv4Addr) -> PacketBuilder {
    request(n).option(50, &address.octets())
}

fn bound(n: u8, address: Ipv4Addr, expires_at: Millis) -> Lease {
    Lease {
        address,
        client_id: ClientId::from_mac(mac(n)),
        mac: mac(n),
        requested_hostname: Some(format!("c{n}")),
        granted_name: Some(format!("c{n}")),
        state: LeaseState::Bound,
        granted_at: 0,
        expires_at,
        seen_by: Some(1),
    }
}

/// A node with a lease table, an offer book and a role.
struct Node {
    table: LeaseTable,
    offers: OfferBook,
    role: Role,
}

impl Node {
    fn leader() -> Self {
        Node {
            table: table(),
            offers: OfferBook::new(),
            role: Role::LEADER,
        }
    }

    fn with_role(role: Role) -> Self {
        Node {
            role,
            ..Node::leader()
        }
    }

    /// Puts `lease` in the table the way leases get there: a strict `Bind` of
    /// its address for its client, applied so that it ends at its expiry.
    fn hold(&mut self, lease: Lease) {
        let request = LeaseRequest {
            client_id: lease.client_id,
            mac: lease.mac,
            hostname: lease.requested_hostname,
            requested_address: Some(lease.address),
            seen_by: lease.seen_by,
        };
        let held = bind_until(&mut self.table, request, lease.expires_at);
        assert_eq!(held.address, lease.address);
    }

    fn decide_at(&mut self, packet: &PacketBuilder, arrival: Arrival, now: Millis) -> Decision {
        let request = decode(&packet.build()).unwrap();
        decide(
            &self.table,
            &request,
            &context(arrival, self.role),
            &mut self.offers,
            now,
        )
    }

    fn broadcast(&mut self, packet: &PacketBuilder) -> Decision {
        self.decide_at(packet, Arrival::Broadcast, NOW)
    }

    fn unicast(&mut self, packet: &PacketBuilder) -> Decision {
        self.decide_at(packet, Arrival::Unicast, NOW)
    }

    /// A unicast datagram from the IP address `source`.
    fn unicast_from(&mut self, packet: &PacketBuilder, source: Ipv4Addr) -> Decision {
        let request = decode(&packet.build()).unwrap();
        let mut context = context(Arrival::Unicast, self.role);
        context.source = source;
        decide(&self.table, &request, &context, &mut self.offers, NOW)
    }

    /// Commits the proposal in the table and finishes its reply.
    fn commit(&mut self, decision: Decision) -> Option<Reply> {
        let proposal = expect_proposal(decision);
        let response = self.table.apply(&proposal.command);
        finish(proposal.pending.expect("a pending reply"), &response)
    }
}

#[track_caller]
fn expect_reply(decision: Decision) -> Reply {
    match decision {
        Decision::Reply(reply) => reply,
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[track_caller]
fn expect_proposal(decision: Decision) -> DhcpProposal {
    match decision {
        Decision::Propose(proposal) => proposal,
        other => panic!("expected a proposal, got {other:?}"),
    }
}

#[track_caller]
fn expect_ignore(decision: Decision, reason: IgnoreReason) {
    assert_eq!(decision, Decision::Ignore(reason));
}

fn option(reply: &Reply, code: u8) -> Option<Vec<u8>> {
    packet_options(&reply.packet).and_then(|options| options.get(code).map(<[u8]>::to_vec))
}

fn u32_option(reply: &Reply, code: u8) -> Option<u32> {
    option(reply, code).and_then(|bytes| Some(u32::from_be_bytes(bytes.try_into().ok()?)))
}

fn ciaddr(reply: &Reply) -> Ipv4Addr {
    Ipv4Addr::new(
        reply.packet[12],
        reply.packet[13],
        reply.packet[14],
        reply.packet[15],
    )
}

// ---- DISCOVER (RFC 2131 §4.3.1) ----

#[test]
fn discover_is_offered_the_first_candidate_without_a_raft_write_4_3_1() {
    let mut node = Node::leader();
    let reply = expect_reply(node.broadcast(&discover(1)));
    assert_eq!(reply.kind, ReplyKind::Offer);
    assert_eq!(reply.yiaddr, ip(10));
    assert_eq!(option(&reply, 53), Some(vec![2]));
    assert_eq!(option(&reply, 54), Some(SERVER.octets().to_vec()));
    assert_eq!(u32_option(&reply, 51), Some(3600));
    assert_eq!(u32_option(&reply, 58), Some(1800));
    assert_eq!(u32_option(&reply, 59), Some(3150));
    assert_eq!(option(&reply, 1), Some(vec![255, 255, 255, 0]));
    assert_eq!(option(&reply, 15), Some(b"lxd".to_vec()));
    assert_eq!(
        ciaddr(&reply),
        Ipv4Addr::UNSPECIFIED,
        "Table 3: ciaddr 0 in OFFER"
    );
    // No broadcast bit, no relay: to yiaddr at chaddr (§4.1).
    assert_eq!(
        reply.destination,
        Destination::Hardware {
            mac: mac(1),
            address: ip(10)
        }
    );
    assert_eq!(
        node.offers.offer_for(&ClientId::from_mac(mac(1)), NOW),
        Some(ip(10))
    );
}

#[test]
fn discover_honours_a_requested_address_hint_4_3_1() {
    let mut node = Node::leader();
    let reply = expect_reply(node.broadcast(&discover(1).option(50, &ip(15).octets())));
    assert_eq!(reply.yiaddr, ip(15));
}

#[test]
fn rediscover_by_the_same_client_gets_the_same_offer() {
    let mut node = Node::leader();
    let first = expect_reply(node.broadcast(&discover(1)));
    // Another client's offer in between must not disturb it.
    let _ = expect_reply(node.broadcast(&discover(2)));
    let again = expect_reply(node.decide_at(&discover(1).xid(99), Arrival::Broadcast, NOW + 5_000));
    assert_eq!(again.yiaddr, first.yiaddr);
    assert_eq!(again.xid, 99);
}

#[test]
fn addresses_offered_to_other_clients_are_skipped() {
    let mut node = Node::leader();
    let addresses: Vec<Ipv4Addr> = (1..=3)
        .map(|n| expect_reply(node.broadcast(&discover(n))).yiaddr)
        .collect();
    assert_eq!(addresses, vec![ip(10), ip(11), ip(12)]);
}

#[test]
fn discover_flood_holds_the_pool_only_until_the_offer_hold_ends() {
    let mut node = Node::leader();
    let hold = context(Arrival::Broadcast, Role::LEADER)
        .server
        .options
        .offer_hold_ms;
    // The pool has 10 addresses; 50 random MACs DISCOVER at once.
    let offered = (1..=50u8)
        .filter(|&n| matches!(node.broadcast(&discover(n)), Decision::Reply(_)))
        .count();
    assert_eq!(offered, 10);
    expect_ignore(node.broadcast(&discover(100)), IgnoreReason::PoolExhausted);
    assert!(node.table.leases().next().is_none(), "offers write nothing");
    // Just before the holds lapse the pool is still held, just after it is free.
    expect_ignore(
        node.decide_at(&discover(101), Arrival::Broadcast, NOW + hold - 1),
        IgnoreReason::PoolExhausted,
    );
    let reply = expect_reply(node.decide_at(&discover(102), Arrival::Broadcast, NOW + hold));
    assert_eq!(reply.yiaddr, ip(10));
}

#[test]
fn addresses_held_by_earlier_offers_are_not_walked_again_on_every_discover() {
    // A flood of DISCOVERs whose offers are never taken holds the bottom of
    // the pool until the hold lapses. Each later DISCOVER must not walk every
    // held address again (that made a flood cost O(n) per packet, and a
    // benchmark collapse once a few exchanges were lost).
    let table = table();
    let pulled = || super::CANDIDATES_PULLED.with(std::cell::Cell::get);
    let mut offers = OfferBook::new();
    let context = context(Arrival::Broadcast, Role::LEADER);
    let mut offer = |n: u8| {
        let request = decode(&discover(n).build()).unwrap();
        let before = pulled();
        let reply = expect_reply(decide(&table, &request, &context, &mut offers, NOW));
        (reply.yiaddr, pulled() - before)
    };
    let flood: Vec<(Ipv4Addr, usize)> = (1..=8).map(&mut offer).collect();
    let addresses: Vec<Ipv4Addr> = flood.iter().map(|(address, _)| *address).collect();
    assert_eq!(addresses, (10..=17).map(ip).collect::<Vec<_>>());
    for (address, work) in flood.into_iter().chain([offer(9)]) {
        assert_eq!(work, 1, "{address}: candidates pulled");
    }
}

#[test]
fn a_reservation_is_offered_to_its_mac() {
    let mut node = Node::leader();
    reserve(
        &mut node.table,
        Reservation {
            mac: mac(7),
            address: ip(42),
            hostname: None,
        },
    );
    assert_eq!(expect_reply(node.broadcast(&discover(7))).yiaddr, ip(42));
    // Nobody else gets it.
    assert_eq!(
        expect_reply(node.broadcast(&discover(8).option(50, &ip(42).octets()))).yiaddr,
        ip(10)
    );
}

#[test]
fn offer_to_a_broadcast_flag_client_is_broadcast_4_1() {
    let mut node = Node::leader();
    let reply = expect_reply(node.broadcast(&discover(1).broadcast()));
    assert_eq!(reply.destination, Destination::Broadcast);
    assert_eq!(reply.packet[10] & 0x80, 0x80);
}

#[test]
fn relayed_discover_is_answered_to_the_relay_with_option_82_echoed_rfc3046() {
    let mut node = Node::leader();
    let packet = discover(1)
        .giaddr(ip(254))
        .option(82, &[1, 3, b'e', b't', b'h']);
    let reply = expect_reply(node.unicast(&packet));
    assert_eq!(
        reply.destination,
        Destination::Relay(SocketAddrV4::new(ip(254), 67))
    );
    assert_eq!(option(&reply, 82), Some(vec![1, 3, b'e', b't', b'h']));
    assert_eq!(&reply.packet[24..28], &ip(254).octets(), "giaddr copied");
}

#[test]
fn relay_from_a_network_we_do_not_serve_is_ignored() {
    let mut node = Node::leader();
    let packet = discover(1).giaddr(Ipv4Addr::new(192, 168, 9, 1));
    expect_ignore(node.unicast(&packet), IgnoreReason::ForeignRelay);
}

#[test]
fn nothing_is_answered_before_the_cluster_is_initialised() {
    let mut node = Node::leader();
    node.table = LeaseTable::default();
    expect_ignore(node.broadcast(&discover(1)), IgnoreReason::NotInitialized);
}

#[test]
fn nothing_is_answered_while_a_members_dns_address_is_unknown() {
    let mut node = Node::leader();
    let mut server = server_config();
    server.members_complete = false;
    let incomplete = Context {
        server: Arc::new(server),
        arrival: Arrival::Broadcast,
        source: Ipv4Addr::UNSPECIFIED,
        role: Role::LEADER,
    };
    let bound_lease = bound(1, ip(15), NOW + 600_000);
    node.hold(bound_lease);
    for packet in [
        discover(1),
        init_reboot(1, ip(15)),
        request(1).ciaddr(ip(15)),
    ] {
        let request = decode(&packet.build()).unwrap();
        let decision = decide(&node.table, &request, &incomplete, &mut node.offers, NOW);
        expect_ignore(decision, IgnoreReason::MembersIncomplete);
    }
    // The same requests are answered once the list is complete.
    expect_reply(node.broadcast(&discover(1)));
}

// ---- REQUEST, SELECTING (RFC 2131 §4.3.2) ----

#[test]
fn selecting_another_servers_offer_is_dropped_and_frees_ours_4_3_2() {
    let mut node = Node::leader();
    let offer = expect_reply(node.broadcast(&discover(1)));
    expect_ignore(
        node.broadcast(&selecting(1, FOREIGN_SERVER, Ipv4Addr::new(192, 168, 1, 5))),
        IgnoreReason::OtherServerSelected,
    );
    // Our offer is withdrawn: the next client may have the address at once.
    assert_eq!(
        expect_reply(node.broadcast(&discover(2))).yiaddr,
        offer.yiaddr
    );
}

#[test]
fn selecting_our_offer_binds_exactly_the_requested_address_then_acks_4_3_2() {
    let mut node = Node::leader();
    let offer = expect_reply(node.broadcast(&discover(1)));
    let decision = node.broadcast(&selecting(1, SERVER, offer.yiaddr));
    let proposal = expect_proposal(decision.clone());
    match &proposal.command {
        Command::Bind {
            request,
            now,
            lease_time_secs,
        } => {
            assert_eq!(request.requested_address, Some(offer.yiaddr));
            assert_eq!(request.client_id, ClientId::from_mac(mac(1)));
            assert_eq!(request.hostname.as_deref(), Some("web"));
            assert_eq!(request.seen_by, Some(1));
            assert_eq!(*now, NOW);
            assert_eq!(*lease_time_secs, None);
        }
        other => panic!("expected Bind, got {other:?}"),
    }
    let ack = node.commit(decision).expect("an ACK");
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!(ack.yiaddr, offer.yiaddr);
    assert_eq!(u32_option(&ack, 51), Some(3600));
    assert_eq!(option(&ack, 12), Some(b"web".to_vec()), "granted name");
}

#[test]
fn selecting_names_another_cluster_node_after_failover_and_is_still_ours() {
    let mut node = Node::leader();
    let decision = node.broadcast(&selecting(1, OTHER_NODE, ip(13)));
    let ack = node.commit(decision).expect("an ACK");
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!(
        option(&ack, 54),
        Some(SERVER.octets().to_vec()),
        "we answer as ourselves"
    );
}

#[test]
fn selecting_a_taken_address_is_naked_after_the_rejected_bind() {
    let mut node = Node::leader();
    node.hold(bound(9, ip(13), NOW + 60_000));
    let decision = node.broadcast(&selecting(1, SERVER, ip(13)));
    let nak = node.commit(decision).expect("a NAK");
    assert_eq!(nak.kind, ReplyKind::Nak);
    assert_eq!(nak.nak_reason, Some(NakReason::Rejected));
    assert_eq!(nak.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(
        nak.destination,
        Destination::Broadcast,
        "§4.1: NAKs are broadcast"
    );
    assert_eq!(option(&nak, 53), Some(vec![6]));
    assert!(option(&nak, 51).is_none());
    let text = String::from_utf8(option(&nak, 56).unwrap()).unwrap();
    assert!(text.contains("not available"), "{text}");
}

#[test]
fn selecting_without_a_requested_address_and_no_pending_offer_is_silent() {
    let mut node = Node::leader();
    expect_ignore(
        node.broadcast(&request(1).option(54, &SERVER.octets())),
        IgnoreReason::MissingRequestedAddress,
    );
}

#[test]
fn selecting_without_a_requested_address_binds_the_pending_offer_like_kea_4_3_2() {
    let mut node = Node::leader();
    let offer = expect_reply(node.broadcast(&discover(1)));
    let decision = node.broadcast(&request(1).option(54, &SERVER.octets()));
    match &expect_proposal(decision.clone()).command {
        Command::Bind { request, .. } => {
            assert_eq!(request.requested_address, Some(offer.yiaddr));
        }
        other => panic!("expected Bind, got {other:?}"),
    }
    let ack = node.commit(decision).expect("an ACK");
    assert_eq!((ack.kind, ack.yiaddr), (ReplyKind::Ack, offer.yiaddr));

    // Another client's offer is not this client's.
    expect_ignore(
        node.broadcast(&request(2).option(54, &SERVER.octets())),
        IgnoreReason::MissingRequestedAddress,
    );
    // Nor is an offer whose hold has ended.
    let mut node = Node::leader();
    expect_reply(node.broadcast(&discover(3)));
    let later = NOW + 30_001;
    expect_ignore(
        node.decide_at(
            &request(3).option(54, &SERVER.octets()),
            Arrival::Broadcast,
            later,
        ),
        IgnoreReason::MissingRequestedAddress,
    );
}

#[test]
fn selecting_without_a_requested_address_for_another_server_is_still_dropped() {
    let mut node = Node::leader();
    expect_reply(node.broadcast(&discover(1)));
    expect_ignore(
        node.broadcast(&request(1).option(54, &FOREIGN_SERVER.octets())),
        IgnoreReason::OtherServerSelected,
    );
}

#[test]
fn a_request_matching_no_state_is_ignored() {
    let mut node = Node::leader();
    expect_ignore(
        node.broadcast(&request(1)),
        IgnoreReason::UnclassifiableRequest,
    );
}

// ---- REQUEST, INIT-REBOOT (RFC 2131 §4.3.2) ----

#[test]
fn init_reboot_on_the_wrong_network_is_naked_4_3_2() {
    let mut node = Node::leader();
    let nak = expect_reply(node.broadcast(&init_reboot(1, Ipv4Addr::new(192, 168, 1, 5))));
    assert_eq!(nak.kind, ReplyKind::Nak);
    assert_eq!(nak.nak_reason, Some(NakReason::WrongSubnet));
}

#[test]
fn init_reboot_from_an_unknown_client_is_silent_4_3_2() {
    let mut node = Node::leader();
    expect_ignore(
        node.broadcast(&init_reboot(1, ip(12))),
        IgnoreReason::UnknownClient,
    );
}

#[test]
fn init_reboot_with_a_wrong_notion_of_its_address_is_naked_4_3_2() {
    let mut node = Node::leader();
    node.hold(bound(1, ip(12), NOW + 60_000));
    let nak = expect_reply(node.broadcast(&init_reboot(1, ip(14))));
    assert_eq!(nak.nak_reason, Some(NakReason::WrongAddress));
}

#[test]
fn init_reboot_for_an_address_no_longer_available_is_naked_4_3_2() {
    let mut node = Node::leader();
    // The client's MAC has a reservation, so that is its recorded address, but
    // the address is leased to another client identity (option 61) from the
    // same MAC, e.g. the container's previous OS: not available to this one.
    reserve(
        &mut node.table,
        Reservation {
            mac: mac(1),
            address: ip(12),
            hostname: None,
        },
    );
    let mut lease = bound(1, ip(12), NOW + 60_000);
    lease.client_id = ClientId(vec![0xff, 0, 0, 0, 1]);
    node.hold(lease);
    let nak = expect_reply(node.broadcast(&init_reboot(1, ip(12))));
    assert_eq!(nak.nak_reason, Some(NakReason::Unavailable));
}

#[test]
fn init_reboot_with_a_correct_address_is_rebound_and_acked_4_3_2() {
    let mut node = Node::leader();
    node.hold(bound(1, ip(12), NOW + 60_000));
    let decision = node.broadcast(&init_reboot(1, ip(12)));
    let ack = node.commit(decision).expect("an ACK");
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!(ack.yiaddr, ip(12));
    assert_eq!(
        u32_option(&ack, 51),
        Some(3600),
        "the full lease time after commit"
    );
}

#[test]
fn init_reboot_of_a_reserved_client_without_a_lease_is_bound() {
    let mut node = Node::leader();
    reserve(
        &mut node.table,
        Reservation {
            mac: mac(3),
            address: ip(40),
            hostname: None,
        },
    );
    let decision = node.broadcast(&init_reboot(3, ip(40)));
    assert_eq!(node.commit(decision).expect("an ACK").yiaddr, ip(40));
}

// ---- REQUEST, RENEWING and REBINDING (RFC 2131 §4.3.2) ----

#[test]
fn renewing_proposes_renew_and_acks_to_ciaddr_4_3_2() {
    let mut node = Node::leader();
    node.hold(bound(1, ip(12), NOW + 60_000));
    let decision = node.unicast(&request(1).ciaddr(ip(12)));
    match &expect_proposal(decision.clone()).command {
        Command::Renew {
            client_id,
            address,
            now,
            ..
        } => {
            assert_eq!(*client_id, ClientId::from_mac(mac(1)));
            assert_eq!((*address, *now), (ip(12), NOW));
        }
        other => panic!("expected Renew, got {other:?}"),
    }
    let ack = node.commit(decision).expect("an ACK");
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!(
        ack.destination,
        Destination::Unicast(SocketAddrV4::new(ip(12), 68))
    );
    assert_eq!(ciaddr(&ack), ip(12), "Table 3: ciaddr echoed in ACK");
    assert_eq!(option(&ack, 12), Some(b"c1".to_vec()));
}

#[test]
fn renewing_is_handled_by_the_follower_it_was_sent_to() {
    let mut node = Node::with_role(Role::FOLLOWER);
    node.hold(bound(1, ip(12), NOW + 60_000));
    expect_proposal(node.unicast(&request(1).ciaddr(ip(12))));
}

#[test]
fn renewing_an_address_held_by_another_client_is_naked() {
    let mut node = Node::leader();
    node.hold(bound(2, ip(12), NOW + 60_000));
    let nak = expect_reply(node.unicast(&request(1).ciaddr(ip(12))));
    assert_eq!(nak.nak_reason, Some(NakReason::HeldByOther));
    assert_eq!(nak.destination, Destination::Broadcast);
    assert_eq!(ciaddr(&nak), Ipv4Addr::UNSPECIFIED);
}

#[test]
fn renewing_a_lease_we_do_not_know_binds_that_address_when_it_is_free() {
    // A client that leased from dnsmasq (or before a restore) renews with us.
    let mut node = Node::leader();
    let decision = node.unicast(&request(1).ciaddr(ip(12)));
    match &expect_proposal(decision.clone()).command {
        Command::Bind { request, .. } => assert_eq!(
            request.requested_address,
            Some(ip(12)),
            "exactly that address"
        ),
        other => panic!("expected a strict Bind, got {other:?}"),
    }
    let ack = node.commit(decision).expect("an ACK");
    assert_eq!((ack.kind, ack.yiaddr), (ReplyKind::Ack, ip(12)));
}

#[test]
fn renewing_an_unknown_lease_on_an_address_reserved_for_another_is_naked() {
    let mut node = Node::leader();
    reserve(
        &mut node.table,
        Reservation {
            mac: mac(2),
            address: ip(12),
            hostname: None,
        },
    );
    // NAKed at once: the log is spared the write the state machine would
    // refuse, and the budget for unknown renewals is not spent on it.
    let nak = expect_reply(node.unicast(&request(1).ciaddr(ip(12))));
    assert_eq!(nak.nak_reason, Some(NakReason::Unavailable));
    assert_eq!(node.offers.unknown_renewals.in_window(), 0);
}

#[test]
fn renewing_from_another_subnet_is_naked() {
    let mut node = Node::leader();
    let nak = expect_reply(node.unicast(&request(1).ciaddr(Ipv4Addr::new(192, 168, 0, 9))));
    assert_eq!(nak.nak_reason, Some(NakReason::WrongSubnet));
}

#[test]
fn renewing_with_a_foreign_server_id_is_ignored() {
    let mut node = Node::leader();
    let packet = request(1)
        .ciaddr(ip(12))
        .option(54, &FOREIGN_SERVER.octets());
    expect_ignore(node.unicast(&packet), IgnoreReason::ForOtherServer);
}

#[test]
fn rebinding_for_a_lease_we_do_not_know_is_silent_4_3_2() {
    let mut node = Node::leader();
    expect_ignore(
        node.broadcast(&request(1).ciaddr(ip(12))),
        IgnoreReason::UnknownLease,
    );
}

#[test]
fn rebinding_a_known_lease_is_renewed_by_the_leader() {
    let mut node = Node::leader();
    node.hold(bound(1, ip(12), NOW + 60_000));
    let decision = node.broadcast(&request(1).ciaddr(ip(12)));
    let ack = node.commit(decision).expect("an ACK");
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!(
        ack.destination,
        Destination::Unicast(SocketAddrV4::new(ip(12), 68))
    );
}

#[test]
fn a_rebind_from_0_0_0_0_after_a_failover_is_acked_by_the_new_leader_at_ciaddr() {
    // networkd rebinds with a raw broadcast from IP 0.0.0.0, ciaddr set, no
    // 50/54, naming a server that is gone. The new leader knows the lease from
    // the log and ACKs it to ciaddr (RFC 2131 §4.1), where the client still
    // holds its address.
    let mut node = Node::leader();
    let mut lease = bound(1, ip(12), NOW + 10_000);
    lease.seen_by = Some(9);
    node.hold(lease);
    let rebind = request(1).ciaddr(ip(12)).option(12, b"c1");
    let decision = node.broadcast(&rebind);
    let ack = node.commit(decision).expect("an ACK");
    assert_eq!((ack.kind, ack.yiaddr), (ReplyKind::Ack, ip(12)));
    assert_eq!(option(&ack, 54), Some(SERVER.octets().to_vec()));
    assert_eq!(u32_option(&ack, 51), Some(3600), "a full lease again");
    assert_eq!(
        ack.destination,
        Destination::Unicast(SocketAddrV4::new(ip(12), 68))
    );
}

#[test]
fn a_renew_after_a_failover_is_acked_by_whichever_node_receives_it() {
    // The old leader's host still runs a node (restarted, now a follower) or
    // the client renews to the new leader after rebinding: either way the
    // unicast RENEWING naming a cluster server id is extended, never NAKed.
    for role in [Role::LEADER, Role::FOLLOWER] {
        let mut node = Node::with_role(role);
        node.hold(bound(1, ip(12), NOW + 10_000));
        let renew = request(1).ciaddr(ip(12)).option(54, &OTHER_NODE.octets());
        let decision = node.unicast(&renew);
        match &expect_proposal(decision.clone()).command {
            Command::Renew { address, .. } => assert_eq!(*address, ip(12)),
            other => panic!("expected a Renew, got {other:?}"),
        }
        let ack = node.commit(decision).expect("an ACK");
        assert_eq!((ack.kind, ack.yiaddr), (ReplyKind::Ack, ip(12)), "{role:?}");
    }
}

#[test]
fn rebinding_an_address_held_by_another_client_is_naked() {
    let mut node = Node::leader();
    node.hold(bound(2, ip(12), NOW + 60_000));
    let nak = expect_reply(node.broadcast(&request(1).ciaddr(ip(12))));
    assert_eq!(nak.nak_reason, Some(NakReason::HeldByOther));
}

// ---- Who answers (issue 3, item 2) ----

#[test]
fn followers_stay_silent_on_broadcasts() {
    let mut node = Node::with_role(Role::FOLLOWER);
    node.hold(bound(1, ip(12), NOW + 60_000));
    let broadcasts = [
        discover(1),
        selecting(1, SERVER, ip(12)),
        init_reboot(1, ip(12)),
        request(1).ciaddr(ip(12)), // REBINDING
        PacketBuilder::new(4, mac(1)).option(50, &ip(12).octets()), // DECLINE
        PacketBuilder::new(8, mac(1)).ciaddr(ip(12)), // INFORM
    ];
    for packet in &broadcasts {
        expect_ignore(node.broadcast(packet), IgnoreReason::NotLeader);
    }
}

#[test]
fn followers_stay_silent_on_relayed_messages() {
    let mut node = Node::with_role(Role::FOLLOWER);
    node.hold(bound(1, ip(12), NOW + 60_000));
    expect_ignore(
        node.unicast(&discover(1).giaddr(ip(254))),
        IgnoreReason::NotLeader,
    );
    expect_ignore(
        node.unicast(&request(1).ciaddr(ip(12)).giaddr(ip(254))),
        IgnoreReason::NotLeader,
    );
}

#[test]
fn a_unicast_discover_still_goes_to_the_leader_only() {
    let mut node = Node::with_role(Role::FOLLOWER);
    expect_ignore(node.unicast(&discover(1)), IgnoreReason::NotLeader);
}

#[test]
fn followers_answer_unicast_inform_and_release() {
    let mut node = Node::with_role(Role::FOLLOWER);
    node.hold(bound(1, ip(12), NOW + 60_000));
    let inform = expect_reply(node.unicast(&PacketBuilder::new(8, mac(1)).ciaddr(ip(12))));
    assert_eq!(inform.kind, ReplyKind::InformAck);
    let release = PacketBuilder::new(7, mac(1))
        .ciaddr(ip(12))
        .option(54, &SERVER.octets());
    expect_proposal(node.unicast(&release));
}

// ---- Learners (issue 17): never a DHCP server ----

/// A learner answers nothing, with or without quorum: not the leader's
/// broadcasts, not the unicast renewals a follower forwards, and not the
/// degraded-mode ACK a voter gives a valid lease without quorum. So its
/// bridge address never becomes a client's server identifier.
#[test]
fn a_learner_is_silent_to_every_message_with_or_without_quorum() {
    let isolated_learner = Role {
        has_quorum: false,
        ..Role::LEARNER
    };
    for role in [Role::LEARNER, isolated_learner] {
        let mut node = Node::with_role(role);
        node.hold(bound(1, ip(12), NOW + 1_000_000));
        let packets = [
            discover(2),
            selecting(2, SERVER, ip(14)),
            init_reboot(1, ip(12)),
            request(1).ciaddr(ip(12)),
            PacketBuilder::new(4, mac(1)).option(50, &ip(12).octets()),
            PacketBuilder::new(7, mac(1)).ciaddr(ip(12)),
            PacketBuilder::new(8, mac(1)).ciaddr(ip(12)),
        ];
        for packet in &packets {
            for arrival in [Arrival::Unicast, Arrival::Broadcast] {
                expect_ignore(node.decide_at(packet, arrival, NOW), IgnoreReason::Learner);
            }
        }
        assert!(
            !IgnoreReason::Learner.awaits_a_leader(),
            "a learner keeps nothing for later: it never leads"
        );
    }
}

// ---- Without quorum (issue 3, item 3) ----

#[test]
fn without_quorum_a_valid_lease_is_acked_with_its_remaining_time_only() {
    let mut node = Node::with_role(Role::ISOLATED);
    node.hold(bound(1, ip(12), NOW + 1_000_000));
    for arrival in [Arrival::Unicast, Arrival::Broadcast] {
        let reply = expect_reply(node.decide_at(&request(1).ciaddr(ip(12)), arrival, NOW));
        assert_eq!(reply.kind, ReplyKind::DegradedAck);
        assert_eq!(reply.yiaddr, ip(12));
        assert_eq!(u32_option(&reply, 51), Some(1000));
        assert_eq!(u32_option(&reply, 58), Some(500));
        assert_eq!(u32_option(&reply, 59), Some(875));
        assert_eq!(option(&reply, 12), Some(b"c1".to_vec()));
    }
    assert_eq!(
        node.table
            .lease_by_client(&ClientId::from_mac(mac(1)))
            .unwrap()
            .expires_at,
        NOW + 1_000_000
    );
}

#[test]
fn without_quorum_an_expired_or_foreign_lease_gets_silence() {
    let mut node = Node::with_role(Role::ISOLATED);
    node.hold(bound(1, ip(12), NOW));
    node.hold(bound(2, ip(13), NOW + 1_000_000));
    expect_ignore(
        node.unicast(&request(1).ciaddr(ip(12))),
        IgnoreReason::NoQuorumNoLease,
    );
    expect_ignore(
        node.unicast(&request(1).ciaddr(ip(13))),
        IgnoreReason::NoQuorumNoLease,
    );
    expect_ignore(
        node.unicast(&request(3).ciaddr(ip(14))),
        IgnoreReason::NoQuorumNoLease,
    );
}

#[test]
fn without_quorum_less_than_a_second_left_is_not_worth_an_ack() {
    let mut node = Node::with_role(Role::ISOLATED);
    node.hold(bound(1, ip(12), NOW + 999));
    expect_ignore(
        node.unicast(&request(1).ciaddr(ip(12))),
        IgnoreReason::NoQuorumNoLease,
    );
    node.hold(bound(1, ip(12), NOW + 1_999));
    let reply = expect_reply(node.unicast(&request(1).ciaddr(ip(12))));
    assert_eq!(u32_option(&reply, 51), Some(1), "rounded down, never up");
}

#[test]
fn without_quorum_no_new_address_is_granted_and_nothing_is_written() {
    let mut node = Node::with_role(Role::ISOLATED);
    node.hold(bound(1, ip(12), NOW + 1_000_000));
    let cases = [
        (discover(2), IgnoreReason::NoQuorumDiscover),
        (selecting(2, SERVER, ip(14)), IgnoreReason::NoQuorumBind),
        (init_reboot(1, ip(12)), IgnoreReason::NoQuorumBind),
        (
            PacketBuilder::new(4, mac(1)).option(50, &ip(12).octets()),
            IgnoreReason::NoQuorumDecline,
        ),
        (
            PacketBuilder::new(7, mac(1)).ciaddr(ip(12)),
            IgnoreReason::NoQuorumRelease,
        ),
        (
            PacketBuilder::new(8, mac(1)).ciaddr(ip(12)),
            IgnoreReason::NoQuorumInform,
        ),
    ];
    for (packet, reason) in &cases {
        expect_ignore(node.broadcast(packet), *reason);
    }
    // A leader that lost its quorum is just as degraded.
    node.role = Role {
        is_leader: true,
        has_quorum: false,
        is_voter: true,
    };
    expect_ignore(node.broadcast(&discover(2)), IgnoreReason::NoQuorumDiscover);
}

// ---- RELEASE, DECLINE, INFORM (RFC 2131 §4.3.3–4.3.5) ----

#[test]
fn release_proposes_release_and_sends_nothing_4_3_4() {
    let mut node = Node::leader();
    node.hold(bound(1, ip(12), NOW + 60_000));
    let packet = PacketBuilder::new(7, mac(1))
        .ciaddr(ip(12))
        .option(54, &SERVER.octets());
    let proposal = expect_proposal(node.unicast(&packet));
    assert_eq!(
        proposal.command,
        Command::Release {
            client_id: Some(ClientId::from_mac(mac(1))),
            mac: Some(mac(1)),
            address: ip(12),
            now: NOW
        }
    );
    assert!(proposal.pending.is_none());
}

#[test]
fn release_without_a_server_id_from_the_owner_frees_the_lease() {
    // networkd's RELEASE: options 53 and 61 only, unicast from the address.
    let mut node = Node::leader();
    node.hold(bound(1, ip(12), NOW + 60_000));
    let packet = PacketBuilder::new(7, mac(1)).ciaddr(ip(12));
    let proposal = expect_proposal(node.unicast(&packet));
    assert_eq!(
        proposal.command,
        Command::Release {
            client_id: Some(ClientId::from_mac(mac(1))),
            mac: Some(mac(1)),
            address: ip(12),
            now: NOW
        }
    );
    assert_eq!(node.table.apply(&proposal.command), Response::Done);
    assert!(node.table.lease_by_address(ip(12)).is_none());
}

#[test]
fn release_from_anyone_but_the_owner_is_ignored() {
    let mut node = Node::leader();
    let duid = [0xff, 0, 0, 0, 1, 0, 2, 0, 0, 0xab, 0x11, 0xcd];
    let mut lease = bound(1, ip(12), NOW + 60_000);
    lease.client_id = ClientId(duid.to_vec());
    node.hold(lease);
    let cases = [
        // Option 61 copied by another MAC: a clone of the container, or a forgery.
        PacketBuilder::new(7, mac(2))
            .ciaddr(ip(12))
            .option(61, &duid),
        // The owner's MAC with another identity.
        PacketBuilder::new(7, mac(1)).ciaddr(ip(12)),
        // The owner, but for an address it does not hold.
        PacketBuilder::new(7, mac(1))
            .ciaddr(ip(13))
            .option(61, &duid),
    ];
    for packet in &cases {
        expect_ignore(node.unicast(packet), IgnoreReason::ReleaseNotOwner);
    }
    assert!(node.table.lease_by_address(ip(12)).is_some());
    let owner = PacketBuilder::new(7, mac(1))
        .ciaddr(ip(12))
        .option(61, &duid);
    let proposal = expect_proposal(node.unicast(&owner));
    assert_eq!(node.table.apply(&proposal.command), Response::Done);
}

#[test]
fn release_to_another_server_or_without_ciaddr_is_ignored() {
    let mut node = Node::leader();
    let foreign = PacketBuilder::new(7, mac(1))
        .ciaddr(ip(12))
        .option(54, &FOREIGN_SERVER.octets());
    expect_ignore(node.unicast(&foreign), IgnoreReason::ForOtherServer);
    expect_ignore(
        node.unicast(&PacketBuilder::new(7, mac(1))),
        IgnoreReason::ReleaseWithoutAddress,
    );
}

#[test]
fn decline_proposes_decline_and_sends_nothing_4_3_3() {
    let mut node = Node::leader();
    node.hold(bound(1, ip(10), NOW + 60_000));
    let _ = expect_reply(node.broadcast(&discover(1)));
    let packet = PacketBuilder::new(4, mac(1))
        .option(50, &ip(10).octets())
        .option(54, &SERVER.octets());
    let proposal = expect_proposal(node.broadcast(&packet));
    assert_eq!(
        proposal.command,
        Command::Decline {
            client_id: ClientId::from_mac(mac(1)),
            mac: Some(mac(1)),
            address: ip(10),
            now: NOW
        }
    );
    assert!(proposal.pending.is_none());
    assert_eq!(
        node.offers.offer_for(&ClientId::from_mac(mac(1)), NOW),
        None
    );
}

#[test]
fn decline_without_an_address_is_ignored() {
    let mut node = Node::leader();
    expect_ignore(
        node.broadcast(&PacketBuilder::new(4, mac(1))),
        IgnoreReason::MissingRequestedAddress,
    );
}

#[test]
fn inform_is_acked_with_options_but_no_lease_to_ciaddr_4_3_5() {
    let mut node = Node::leader();
    let reply = expect_reply(node.unicast(&PacketBuilder::new(8, mac(1)).ciaddr(ip(77))));
    assert_eq!(reply.kind, ReplyKind::InformAck);
    assert_eq!(option(&reply, 53), Some(vec![5]));
    assert_eq!(reply.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(
        &reply.packet[16..20],
        &[0, 0, 0, 0],
        "yiaddr zero on the wire"
    );
    assert_eq!(ciaddr(&reply), ip(77));
    assert_eq!(
        reply.destination,
        Destination::Unicast(SocketAddrV4::new(ip(77), 68))
    );
    for code in [51, 58, 59] {
        assert!(option(&reply, code).is_none(), "option {code}");
    }
    assert_eq!(option(&reply, 6).map(|v| v.len()), Some(12));
    assert_eq!(option(&reply, 26), Some(1450u16.to_be_bytes().to_vec()));
}

// ---- finish: an ACK only from a committed lease ----

fn pending_for(node: &mut Node, packet: PacketBuilder) -> PendingReply {
    expect_proposal(node.broadcast(&packet))
        .pending
        .expect("a pending reply")
}

#[test]
fn finish_acks_only_a_committed_lease_for_the_same_client_and_address() {
    let mut node = Node::leader();
    let pending = pending_for(&mut node, selecting(1, SERVER, ip(13)));
    assert_eq!(pending.address(), ip(13));
    let mut lease = bound(1, ip(13), NOW + 600_000);
    lease.granted_at = NOW;
    lease.granted_name = Some("web-2".into());
    let ack = finish(
        pending.clone(),
        &Response::Lease {
            lease: lease.clone(),
        },
    )
    .unwrap();
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!(
        u32_option(&ack, 51),
        Some(600),
        "lease time from the committed lease"
    );
    assert_eq!(
        option(&ack, 12),
        Some(b"web-2".to_vec()),
        "the granted, suffixed name"
    );

    lease.address = ip(14);
    let nak = finish(
        pending.clone(),
        &Response::Lease {
            lease: lease.clone(),
        },
    )
    .unwrap();
    assert_eq!(nak.nak_reason, Some(NakReason::LeaseMismatch));

    lease.address = ip(13);
    lease.client_id = ClientId::from_mac(mac(2));
    let nak = finish(pending.clone(), &Response::Lease { lease }).unwrap();
    assert_eq!(nak.kind, ReplyKind::Nak);

    assert_eq!(finish(pending.clone(), &Response::Done), None);
    let rejected = Response::Rejected {
        reason: Rejection::PoolExhausted,
    };
    assert_eq!(
        finish(pending, &rejected).unwrap().nak_reason,
        Some(NakReason::Rejected)
    );
}

#[test]
fn finish_answers_the_fqdn_with_the_granted_name_rfc4702() {
    let mut node = Node::leader();
    let packet = selecting(1, SERVER, ip(13)).option(81, b"\x05\0\0\x03web\x00");
    let pending = pending_for(&mut node, packet);
    let mut lease = bound(1, ip(13), NOW + 600_000);
    lease.granted_name = Some("web-2".into());
    let ack = finish(pending, &Response::Lease { lease }).unwrap();
    let fqdn = option(&ack, 81).unwrap();
    assert_eq!(fqdn[0], 0x05, "E and S, no override");
    assert_eq!(&fqdn[3..], b"\x05web-2\x03lxd\x00");
}

#[test]
fn a_relayed_nak_goes_to_the_relay_with_the_broadcast_bit_4_3_2() {
    let mut node = Node::leader();
    let packet = init_reboot(1, Ipv4Addr::new(192, 168, 1, 5)).giaddr(ip(254));
    let nak = expect_reply(node.unicast(&packet));
    assert_eq!(
        nak.destination,
        Destination::Relay(SocketAddrV4::new(ip(254), 67))
    );
    assert_eq!(nak.packet[10] & 0x80, 0x80);
}

#[test]
fn client_identifier_is_the_lease_key_and_is_echoed_rfc6842() {
    let mut node = Node::leader();
    let packet = discover(1).option(61, &[0xff, 0, 0, 0, 1, 0, 1]);
    let offer = expect_reply(node.broadcast(&packet));
    assert_eq!(option(&offer, 61), Some(vec![0xff, 0, 0, 0, 1, 0, 1]));
    assert_eq!(
        node.offers
            .offer_for(&ClientId(vec![0xff, 0, 0, 0, 1, 0, 1]), NOW),
        Some(offer.yiaddr)
    );
}

#[test]
fn request_state_detection_table() {
    use RequestState::*;
    let cases = [
        (
            selecting(1, SERVER, ip(12)),
            Arrival::Broadcast,
            Some(Selecting),
        ),
        (init_reboot(1, ip(12)), Arrival::Broadcast, Some(InitReboot)),
        (request(1).ciaddr(ip(12)), Arrival::Unicast, Some(Renewing)),
        (
            request(1).ciaddr(ip(12)),
            Arrival::Broadcast,
            Some(Rebinding),
        ),
        (
            request(1).ciaddr(ip(12)).giaddr(ip(254)),
            Arrival::Unicast,
            Some(Rebinding),
        ),
        (request(1), Arrival::Broadcast, None),
    ];
    for (packet, arrival, state) in cases {
        let request = decode(&packet.build()).unwrap();
        assert_eq!(request_state(&request, arrival), state, "{request:?}");
    }
}

#[test]
fn ack_lease_time_comes_from_the_leaders_timestamps_not_this_hosts_clock() {
    // The leader re-stamps `now`; its clock runs 5 s ahead of this host's.
    let mut node = Node::leader();
    let pending = pending_for(&mut node, selecting(1, SERVER, ip(13)));
    let mut lease = bound(1, ip(13), NOW + 5_000 + 600_000);
    lease.granted_at = NOW + 5_000;
    let ack = finish(pending, &Response::Lease { lease }).unwrap();
    assert_eq!(u32_option(&ack, 51), Some(600));
}

// ---- dhcp.client_identity ----

/// Two copies of one container: the same option 61 (a DUID from the shared
/// machine-id), different MACs.
const CLONE_DUID: [u8; 12] = [0xff, 0, 0, 0, 1, 0, 2, 0, 0, 0xab, 0x11, 0xcd];

fn node_with_identity(identity: ClientIdentity) -> Node {
    let mut settings = settings();
    settings.client_identity = identity;
    Node {
        table: table_with(settings),
        ..Node::leader()
    }
}

/// DISCOVER, then SELECTING for the offer; the committed ACK.
fn lease_for(node: &mut Node, n: u8, duid: &[u8]) -> Reply {
    let offer = expect_reply(node.broadcast(&discover(n).option(61, duid)));
    let selecting = selecting(n, SERVER, offer.yiaddr).option(61, duid);
    let decision = node.broadcast(&selecting);
    node.commit(decision).expect("an ACK")
}

#[test]
fn under_mac_identity_clones_with_one_client_id_get_two_addresses() {
    let mut node = node_with_identity(ClientIdentity::Mac);
    let first = lease_for(&mut node, 1, &CLONE_DUID);
    let second = lease_for(&mut node, 2, &CLONE_DUID);
    assert_eq!((first.kind, second.kind), (ReplyKind::Ack, ReplyKind::Ack));
    assert_ne!(first.yiaddr, second.yiaddr);
    // The lease key is the MAC; option 61 is still echoed as sent (RFC 6842).
    let lease = node.table.lease_by_address(first.yiaddr).unwrap();
    assert_eq!(lease.client_id, ClientId::from_mac(mac(1)));
    assert_eq!(option(&first, 61), Some(CLONE_DUID.to_vec()));
}

#[test]
fn under_client_id_identity_clones_with_one_client_id_share_one_lease() {
    // The documented behaviour of "client-id" (RFC 2131 §4.2, and dnsmasq and
    // Kea by default): one identifier is one client, whatever its MAC. The
    // second copy is given the first one's address, and the lease moves to it.
    let mut node = node_with_identity(ClientIdentity::ClientId);
    let first = lease_for(&mut node, 1, &CLONE_DUID);
    let second = lease_for(&mut node, 2, &CLONE_DUID);
    assert_eq!(first.yiaddr, second.yiaddr);
    let lease = node.table.lease_by_address(first.yiaddr).unwrap();
    assert_eq!(lease.client_id, ClientId(CLONE_DUID.to_vec()));
    assert_eq!(lease.mac, mac(2));
}

#[test]
fn under_mac_identity_renew_and_release_follow_the_mac_not_option_61() {
    let mut node = node_with_identity(ClientIdentity::Mac);
    let ack = lease_for(&mut node, 1, &CLONE_DUID);
    // The client changes its option 61 (networkd's ClientIdentifier= edited):
    // still the same client under "mac".
    let renew = request(1)
        .ciaddr(ack.yiaddr)
        .option(61, &[0x01, 9, 9, 9, 9, 9, 9]);
    let decision = node.unicast(&renew);
    assert_eq!(node.commit(decision).map(|r| r.kind), Some(ReplyKind::Ack));
    // The clone cannot release it: another MAC.
    let forged = PacketBuilder::new(7, mac(2))
        .ciaddr(ack.yiaddr)
        .option(61, &CLONE_DUID);
    expect_ignore(node.unicast(&forged), IgnoreReason::ReleaseNotOwner);
    let release = PacketBuilder::new(7, mac(1))
        .ciaddr(ack.yiaddr)
        .option(61, &CLONE_DUID);
    let proposal = expect_proposal(node.unicast(&release));
    assert_eq!(node.table.apply(&proposal.command), Response::Done);
}

// ---- Rapid commit (RFC 4039) ----

fn rapid_discover(n: u8) -> PacketBuilder {
    discover(n).option(80, &[]).option(12, b"web")
}

#[test]
fn rapid_commit_discover_proposes_a_bind_and_acks_with_option_80_after_commit_rfc4039_4() {
    let mut node = Node::leader();
    let decision = node.broadcast(&rapid_discover(1));
    let proposal = expect_proposal(decision.clone());
    let address = match &proposal.command {
        Command::Bind { request, .. } => request.requested_address.expect("a strict bind"),
        other => panic!("expected Bind, got {other:?}"),
    };
    assert_eq!(address, ip(10), "the address an OFFER would carry");
    assert_eq!(
        proposal.pending.as_ref().map(PendingReply::kind),
        Some(ReplyKind::RapidCommitAck)
    );
    let ack = node.commit(decision).expect("an ACK");
    assert_eq!(ack.kind, ReplyKind::RapidCommitAck);
    assert_eq!(option(&ack, 53), Some(vec![5]), "a DHCPACK");
    assert_eq!(
        option(&ack, 80),
        Some(vec![]),
        "RFC 4039 §4: option 80 in the ACK"
    );
    assert_eq!(ack.yiaddr, address);
    assert_eq!(u32_option(&ack, 51), Some(3600));
    assert_eq!(option(&ack, 12), Some(b"web".to_vec()), "granted name");
    assert_eq!(ciaddr(&ack), Ipv4Addr::UNSPECIFIED);
    assert_eq!(
        node.table
            .lease_by_client(&ClientId::from_mac(mac(1)))
            .map(|l| l.address),
        Some(address)
    );
}

#[test]
fn rapid_commit_holds_the_address_until_the_commit_lands() {
    let mut node = Node::leader();
    let first = expect_proposal(node.broadcast(&rapid_discover(1)));
    // Decided before the first Bind is applied: another address.
    let second = expect_reply(node.broadcast(&discover(2)));
    let Command::Bind { request, .. } = &first.command else {
        panic!("expected Bind");
    };
    assert_ne!(request.requested_address, Some(second.yiaddr));
}

#[test]
fn rapid_commit_switched_off_answers_with_an_offer_without_option_80() {
    let mut node = Node::leader();
    let mut server = crate::testing::server_config();
    server.options.rapid_commit = false;
    let request = decode(&rapid_discover(1).build()).unwrap();
    let context = Context {
        server: Arc::new(server),
        arrival: Arrival::Broadcast,
        source: Ipv4Addr::UNSPECIFIED,
        role: Role::LEADER,
    };
    let offer = expect_reply(decide(
        &node.table,
        &request,
        &context,
        &mut node.offers,
        NOW,
    ));
    assert_eq!(offer.kind, ReplyKind::Offer);
    assert_eq!(option(&offer, 80), None, "RFC 4039 §4: not in an OFFER");
}

#[test]
fn rapid_commit_is_for_the_leader_only_and_needs_quorum() {
    let mut follower = Node::with_role(Role::FOLLOWER);
    expect_ignore(
        follower.broadcast(&rapid_discover(1)),
        IgnoreReason::NotLeader,
    );
    expect_ignore(
        follower.unicast(&rapid_discover(1)),
        IgnoreReason::NotLeader,
    );
    let mut isolated = Node::with_role(Role::ISOLATED);
    expect_ignore(
        isolated.broadcast(&rapid_discover(1)),
        IgnoreReason::NoQuorumDiscover,
    );
}

#[test]
fn rapid_commit_option_in_a_request_changes_nothing_rfc4039_3() {
    let mut node = Node::leader();
    let offer = expect_reply(node.broadcast(&discover(1)));
    let decision = node.broadcast(&selecting(1, SERVER, offer.yiaddr).option(80, &[]));
    let ack = node.commit(decision).expect("an ACK");
    assert_eq!(ack.kind, ReplyKind::Ack);
    assert_eq!(option(&ack, 80), None);
}

#[test]
fn a_refused_rapid_commit_bind_gets_no_nak_rfc2131_4_3_1() {
    let mut node = Node::leader();
    let decision = node.broadcast(&rapid_discover(1));
    let proposal = expect_proposal(decision);
    // Meanwhile another client took the address.
    let taken = proposal
        .pending
        .as_ref()
        .map(PendingReply::address)
        .unwrap();
    node.hold(bound(9, taken, NOW + 60_000));
    let response = node.table.apply(&proposal.command);
    assert!(
        matches!(response, Response::Rejected { .. }),
        "{response:?}"
    );
    assert_eq!(finish(proposal.pending.unwrap(), &response), None);
}

#[test]
fn a_relayed_rapid_commit_ack_goes_to_the_relay() {
    let mut node = Node::leader();
    let decision = node.broadcast(&rapid_discover(1).giaddr(ip(1)));
    let ack = node.commit(decision).expect("an ACK");
    assert_eq!(ack.kind, ReplyKind::RapidCommitAck);
    assert_eq!(
        ack.destination,
        Destination::Relay(SocketAddrV4::new(ip(1), 67))
    );
}

// ---- Boot fields (RFC 2131 §2 and Table 3, RFC 2132 §9.4/§9.5) ----

fn boot_context() -> Context {
    let mut server = crate::testing::server_config();
    server.options.boot = crate::context::BootFields {
        next_server: Some(ip(5)),
        server_name: Some("tftp.lxd".into()),
        boot_file: Some("pxelinux.0".into()),
    };
    Context {
        server: Arc::new(server),
        arrival: Arrival::Broadcast,
        source: Ipv4Addr::UNSPECIFIED,
        role: Role::LEADER,
    }
}

fn siaddr(reply: &Reply) -> Ipv4Addr {
    Ipv4Addr::new(
        reply.packet[20],
        reply.packet[21],
        reply.packet[22],
        reply.packet[23],
    )
}

fn field(reply: &Reply, at: usize, len: usize) -> String {
    let bytes = &reply.packet[at..at + len];
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(len);
    String::from_utf8(bytes[..end].to_vec()).unwrap()
}

#[test]
fn offers_and_acks_carry_siaddr_sname_and_file_table_3() {
    let mut node = Node::leader();
    let context = boot_context();
    let request = decode(&discover(1).option(55, &[1, 3, 66, 67]).build()).unwrap();
    let offer = expect_reply(decide(
        &node.table,
        &request,
        &context,
        &mut node.offers,
        NOW,
    ));
    assert_eq!(siaddr(&offer), ip(5));
    assert_eq!(field(&offer, 44, 64), "tftp.lxd");
    assert_eq!(field(&offer, 108, 128), "pxelinux.0");
    assert_eq!(option(&offer, 66), Some(b"tftp.lxd".to_vec()), "asked for");
    assert_eq!(
        option(&offer, 67),
        Some(b"pxelinux.0".to_vec()),
        "asked for"
    );

    let unasked = decode(&discover(2).option(55, &[1, 3]).build()).unwrap();
    let offer = expect_reply(decide(
        &node.table,
        &unasked,
        &context,
        &mut node.offers,
        NOW,
    ));
    assert_eq!(field(&offer, 108, 128), "pxelinux.0", "the field always");
    assert_eq!((option(&offer, 66), option(&offer, 67)), (None, None));

    let pxe = decode(
        &discover(3)
            .option(55, &[1, 3])
            .option(60, b"PXEClient:Arch:00000:UNDI:002001")
            .build(),
    )
    .unwrap();
    let offer = expect_reply(decide(&node.table, &pxe, &context, &mut node.offers, NOW));
    assert_eq!(
        option(&offer, 66),
        Some(b"tftp.lxd".to_vec()),
        "PXE: unasked"
    );
    assert_eq!(
        option(&offer, 67),
        Some(b"pxelinux.0".to_vec()),
        "PXE: unasked"
    );
}

#[test]
fn naks_carry_no_boot_fields_table_3() {
    let mut node = Node::leader();
    let context = boot_context();
    let request = decode(&init_reboot(1, Ipv4Addr::new(192, 168, 0, 9)).build()).unwrap();
    let nak = expect_reply(decide(
        &node.table,
        &request,
        &context,
        &mut node.offers,
        NOW,
    ));
    assert_eq!(nak.kind, ReplyKind::Nak);
    assert_eq!(siaddr(&nak), Ipv4Addr::UNSPECIFIED);
    assert_eq!(field(&nak, 44, 64), "");
    assert_eq!(field(&nak, 108, 128), "");
}

/// Puts a lease for client `n` at `address` into `table`, granted at `at`.
fn bind_at(table: &mut LeaseTable, n: u8, address: Ipv4Addr, at: Millis) {
    let response = table.apply(&Command::Bind {
        request: LeaseRequest {
            client_id: ClientId::from_mac(mac(n)),
            mac: mac(n),
            hostname: None,
            requested_address: Some(address),
            seen_by: Some(1),
        },
        now: at,
        lease_time_secs: Some(3600),
    });
    assert!(matches!(response, Response::Lease { .. }), "{response:?}");
}

#[test]
fn a_held_request_was_answered_if_its_clients_lease_is_as_new_as_it() {
    let mut table = table();
    bind_at(&mut table, 1, ip(14), NOW);
    let held_discover = decode(&discover(1).build()).unwrap();
    let held_selecting = decode(&selecting(1, SERVER, ip(14)).build()).unwrap();
    for held in [&held_discover, &held_selecting] {
        // The leader stamped the bind a little before this follower heard the
        // broadcast that asked for it.
        assert!(answered_since(&table, held, NOW + 200), "{:?}", held.kind);
        assert!(answered_since(&table, held, NOW - 5_000), "{:?}", held.kind);
        // A lease older than the slack answered an earlier request.
        assert!(
            !answered_since(&table, held, NOW + ANSWER_SLACK_MS + 1),
            "{:?}",
            held.kind
        );
    }
    // A client nobody has bound was answered by nobody.
    let stranger = decode(&discover(2).build()).unwrap();
    assert!(!answered_since(&table, &stranger, 0));
}

#[test]
fn a_held_release_counts_as_answered_only_by_a_lease_taken_after_it() {
    let mut table = table();
    bind_at(&mut table, 3, ip(15), NOW);
    let release = decode(&PacketBuilder::new(7, mac(3)).ciaddr(ip(15)).build()).unwrap();
    // Heard after the lease it releases was granted: not answered, so the
    // new leader must commit it.
    assert!(!answered_since(&table, &release, NOW + 200));
    // The client released, then took a lease again: that RELEASE is history,
    // and replaying it would free the new lease.
    assert!(answered_since(&table, &release, NOW - 200));
}

#[test]
fn release_unicast_from_another_address_is_ignored_4_4_6() {
    let mut node = Node::leader();
    node.hold(bound(1, ip(12), NOW + 60_000));
    // The owner's identity and MAC, copied, but sent from another container's address.
    let forged = PacketBuilder::new(7, mac(1)).ciaddr(ip(12));
    expect_ignore(
        node.unicast_from(&forged, ip(13)),
        IgnoreReason::ReleaseWrongSource,
    );
    assert!(IgnoreReason::ReleaseWrongSource.is_foreign_lease_change());
    assert!(node.table.lease_by_address(ip(12)).is_some());
    // From the lease's own address, from 0.0.0.0, or through a relay: released.
    expect_proposal(node.unicast_from(&forged, ip(12)));
    expect_proposal(node.unicast_from(&forged, Ipv4Addr::UNSPECIFIED));
    let relayed = PacketBuilder::new(7, mac(1)).ciaddr(ip(12)).giaddr(ip(1));
    expect_proposal(node.unicast_from(&relayed, ip(1)));
}

#[test]
fn decline_from_anyone_but_the_owner_is_ignored() {
    let mut node = Node::leader();
    let duid = [0xff, 0, 0, 0, 1, 0, 2, 0, 0, 0xab, 0x11, 0xcd];
    let mut lease = bound(1, ip(12), NOW + 60_000);
    lease.client_id = ClientId(duid.to_vec());
    node.hold(lease);
    let decline = |n: u8, address: Ipv4Addr| {
        PacketBuilder::new(4, mac(n))
            .option(50, &address.octets())
            .option(54, &SERVER.octets())
    };
    let cases = [
        // Option 61 copied by another MAC.
        decline(2, ip(12)).option(61, &duid),
        // The owner's MAC with another identity.
        decline(1, ip(12)),
        // The owner, for an address it does not hold.
        decline(1, ip(13)).option(61, &duid),
    ];
    for packet in &cases {
        expect_ignore(node.broadcast(packet), IgnoreReason::DeclineNotOwner);
    }
    assert!(node.table.lease_by_address(ip(12)).is_some());
    let proposal = expect_proposal(node.broadcast(&decline(1, ip(12)).option(61, &duid)));
    assert_eq!(node.table.apply(&proposal.command), Response::Done);
    assert!(node.table.lease_by_address(ip(12)).is_none());
}

#[test]
fn under_mac_identity_a_decline_still_needs_the_owners_mac() {
    let mut settings = settings();
    settings.client_identity = ClientIdentity::Mac;
    let mut node = Node {
        table: table_with(settings),
        ..Node::leader()
    };
    node.hold(bound(1, ip(12), NOW + 60_000));
    // LXD copies share option 61; under `mac` it plays no part, so a copy's
    // DECLINE (its own MAC) names another client.
    let clone = PacketBuilder::new(4, mac(2))
        .option(50, &ip(12).octets())
        .option(61, &[1, 2, 3]);
    expect_ignore(node.broadcast(&clone), IgnoreReason::DeclineNotOwner);
    let owner = PacketBuilder::new(4, mac(1))
        .option(50, &ip(12).octets())
        .option(61, &[1, 2, 3]);
    expect_proposal(node.broadcast(&owner));
}

#[test]
fn a_denied_hostname_is_left_out_of_the_bind_but_the_lease_is_granted() {
    let mut node = Node::leader();
    for (n, name) in [
        (1u8, &b"localhost"[..]),
        (2, b"WPAD"),
        (3, b"isatap.example.org"),
    ] {
        let packet = request(n)
            .option(54, &SERVER.octets())
            .option(50, &ip(10 + n).octets())
            .option(12, name);
        let proposal = expect_proposal(node.broadcast(&packet));
        let Command::Bind { request, .. } = &proposal.command else {
            panic!("expected a bind, got {:?}", proposal.command);
        };
        assert_eq!(request.hostname, None, "{}", String::from_utf8_lossy(name));
        let reply = node.commit(Decision::Propose(proposal)).unwrap();
        assert_eq!(reply.kind, ReplyKind::Ack);
    }
    // Option 81's first label is checked as well.
    let fqdn = selecting(4, SERVER, ip(15)).option(81, b"\x05\0\0\x04wpad\x03lxd\x00");
    let Command::Bind { request, .. } = expect_proposal(node.broadcast(&fqdn)).command else {
        panic!("expected a bind");
    };
    assert_eq!(request.hostname, None);
    // Any other name goes through as sent.
    let web = selecting(5, SERVER, ip(16));
    let Command::Bind { request, .. } = expect_proposal(node.broadcast(&web)).command else {
        panic!("expected a bind");
    };
    assert_eq!(request.hostname.as_deref(), Some("web"));
}

#[test]
fn an_empty_deny_list_denies_nothing() {
    let mut server = server_config();
    server.denied_hostnames = Vec::new();
    assert!(!server.denies_hostname("localhost"));
    assert!(server_config().denies_hostname("LocalHost.lxd"));
    assert!(!server_config().denies_hostname("localhost2"));
}

/// A unicast RENEWING for `address` from client `n`, which the table does not know.
fn unknown_renewal(n: u8, address: Ipv4Addr) -> PacketBuilder {
    request(n).ciaddr(address)
}

#[test]
fn renewals_for_unknown_addresses_take_at_most_their_share_of_the_pool() {
    let mut settings = settings();
    // 10.0.0.10-10.0.0.109: 100 addresses, so 10 % is 10; split between
    // the three nodes of `server_config`, 3 for this one.
    settings.ranges[0].end = ip(109);
    let mut node = Node {
        table: table_with(settings),
        ..Node::leader()
    };
    let (mut bound, mut refused) = (0, 0);
    for n in 0..100u8 {
        let decision = node.unicast(&unknown_renewal(n, ip(10 + n)));
        match decision {
            Decision::Propose(_) => {
                assert!(
                    node.commit(decision)
                        .is_some_and(|r| r.kind == ReplyKind::Ack)
                );
                bound += 1;
            }
            Decision::Reply(reply) => {
                assert_eq!(reply.nak_reason, Some(NakReason::UnknownRenewalLimit));
                refused += 1;
            }
            Decision::Ignore(reason) => panic!("ignored: {reason:?}"),
        }
    }
    assert_eq!((bound, refused), (3, 97));
    assert_eq!(node.table.pool_stats().bound, 3);
    // Known leases renew as ever.
    let renewal = unknown_renewal(0, ip(10));
    assert!(matches!(node.unicast(&renewal), Decision::Propose(_)));
    // A lease time later the budget is whole again.
    let later = NOW + 3_600_000;
    let decision = node.decide_at(&unknown_renewal(200, ip(100)), Arrival::Unicast, later);
    assert!(matches!(decision, Decision::Propose(_)));
}

#[test]
fn a_zero_share_naks_every_unknown_renewal() {
    let mut node = Node::leader();
    let request = decode(&unknown_renewal(2, ip(14)).build()).unwrap();
    let mut context = context(Arrival::Unicast, Role::LEADER);
    let mut server = server_config();
    server.unknown_renewals_max_percent = 0;
    context.server = Arc::new(server);
    let reply = expect_reply(decide(
        &node.table,
        &request,
        &context,
        &mut node.offers,
        NOW,
    ));
    assert_eq!(reply.nak_reason, Some(NakReason::UnknownRenewalLimit));
}

// ---- Relays: RFC 3527 link selection, RFC 3011 subnet selection, RFC 5107 override ----

/// Option 82 with a circuit id, then a sub-option `code` holding `address`.
fn agent_info(code: u8, address: Ipv4Addr) -> Vec<u8> {
    let mut info = vec![1, 3, b'e', b't', b'h', code, 4];
    info.extend_from_slice(&address.octets());
    info
}

#[test]
fn link_selection_names_the_network_when_giaddr_is_elsewhere_rfc3527() {
    let mut node = Node::leader();
    let relay = Ipv4Addr::new(192, 168, 9, 1);
    let packet = discover(1)
        .giaddr(relay)
        .option(82, &agent_info(relay::sub_option::LINK_SELECTION, ip(1)));
    let reply = expect_reply(node.unicast(&packet));
    // Served from 10.0.0.0/24, still answered to giaddr (RFC 3527 §4).
    assert_eq!(
        reply.destination,
        Destination::Relay(SocketAddrV4::new(relay, 67))
    );
    assert_eq!(option(&reply, 82), Some(agent_info(5, ip(1))), "echoed");
    let foreign = discover(2).giaddr(ip(254)).option(
        82,
        &agent_info(
            relay::sub_option::LINK_SELECTION,
            Ipv4Addr::new(192, 168, 9, 1),
        ),
    );
    expect_ignore(node.unicast(&foreign), IgnoreReason::ForeignRelay);
}

#[test]
fn subnet_selection_option_118_names_the_network_rfc3011() {
    let mut node = Node::leader();
    let packet = discover(1)
        .giaddr(Ipv4Addr::new(192, 168, 9, 1))
        .option(118, &ip(1).octets());
    expect_reply(node.unicast(&packet));
    let foreign = discover(2)
        .giaddr(ip(254))
        .option(118, &Ipv4Addr::new(192, 168, 9, 0).octets());
    expect_ignore(node.unicast(&foreign), IgnoreReason::ForeignRelay);
}

#[test]
fn server_id_override_is_the_server_id_of_the_reply_and_is_ours_rfc5107() {
    let mut node = Node::leader();
    let relay_address = ip(254);
    let info = agent_info(relay::sub_option::SERVER_ID_OVERRIDE, relay_address);
    let offer = expect_reply(node.unicast(&discover(1).giaddr(relay_address).option(82, &info)));
    assert_eq!(option(&offer, 54), Some(relay_address.octets().to_vec()));
    // The client selects the override address: ours, so it is bound and the
    // ACK names the override again.
    let offered = Ipv4Addr::new(
        offer.packet[16],
        offer.packet[17],
        offer.packet[18],
        offer.packet[19],
    );
    let select = selecting(1, relay_address, offered)
        .giaddr(relay_address)
        .option(82, &info);
    let decision = node.unicast(&select);
    let ack = node.commit(decision).expect("an ACK");
    assert_eq!(option(&ack, 53), Some(vec![5]));
    assert_eq!(option(&ack, 54), Some(relay_address.octets().to_vec()));
    // Without the override, a REQUEST naming that address is another server's.
    let other = selecting(2, relay_address, ip(13)).giaddr(relay_address);
    expect_ignore(node.unicast(&other), IgnoreReason::OtherServerSelected);
}

#[test]
fn option_82_from_a_client_is_not_a_relay_rfc3046() {
    // giaddr zero: a client's own option 82 selects nothing and overrides nothing.
    let mut node = Node::leader();
    let info = agent_info(relay::sub_option::SERVER_ID_OVERRIDE, ip(254));
    let offer = expect_reply(node.broadcast(&discover(1).option(82, &info)));
    assert_eq!(option(&offer, 54), Some(SERVER.octets().to_vec()));
}
