//! Network selection and option 82 reading for relayed requests.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::decode::decode;
use crate::testing::{PacketBuilder, server_config};
use raftmasq_state::MacAddr;

const MAC: MacAddr = MacAddr([0, 0x16, 0x3e, 0, 0, 1]);

fn subnets() -> Vec<Ipv4Net> {
    ["172.16.0.0/16", "172.31.0.0/24", "10.8.0.0/22"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect()
}

fn request(packet: PacketBuilder) -> ClientRequest {
    decode(&packet.build()).unwrap()
}

fn with_sub(code: u8, address: Ipv4Addr) -> Vec<u8> {
    let mut info = vec![1, 2, b'x', b'y', code, 4];
    info.extend_from_slice(&address.octets());
    info
}

#[test]
fn giaddr_selects_the_network_that_contains_it() {
    let relayed = request(PacketBuilder::new(1, MAC).giaddr(Ipv4Addr::new(172, 31, 0, 1)));
    assert_eq!(select_network(&relayed, &subnets()), Ok(1));
    let elsewhere = request(PacketBuilder::new(1, MAC).giaddr(Ipv4Addr::new(192, 168, 1, 1)));
    assert_eq!(
        select_network(&elsewhere, &subnets()),
        Err(Unserved::NoNetwork)
    );
}

#[test]
fn link_selection_wins_over_subnet_selection_and_giaddr() {
    let packet = PacketBuilder::new(1, MAC)
        .giaddr(Ipv4Addr::new(172, 16, 0, 9))
        .option(118, &Ipv4Addr::new(10, 8, 1, 0).octets())
        .option(
            82,
            &with_sub(sub_option::LINK_SELECTION, Ipv4Addr::new(172, 31, 0, 0)),
        );
    assert_eq!(select_network(&request(packet), &subnets()), Ok(1));
    let packet = PacketBuilder::new(1, MAC)
        .giaddr(Ipv4Addr::new(172, 16, 0, 9))
        .option(118, &Ipv4Addr::new(10, 8, 1, 0).octets());
    assert_eq!(select_network(&request(packet), &subnets()), Ok(2));
}

#[test]
fn a_unicast_renewal_is_placed_by_ciaddr_and_anything_else_unrelayed_is_dropped() {
    let renew = request(PacketBuilder::new(3, MAC).ciaddr(Ipv4Addr::new(172, 31, 0, 50)));
    assert_eq!(select_network(&renew, &subnets()), Ok(1));
    let discover = request(PacketBuilder::new(1, MAC));
    assert_eq!(
        select_network(&discover, &subnets()),
        Err(Unserved::NotRelayed)
    );
    // A client's own option 82 names no link (RFC 3046 §2.1).
    let forged = request(PacketBuilder::new(1, MAC).option(
        82,
        &with_sub(sub_option::LINK_SELECTION, Ipv4Addr::new(172, 31, 0, 0)),
    ));
    assert_eq!(
        select_network(&forged, &subnets()),
        Err(Unserved::NotRelayed)
    );
}

#[test]
fn sub_options_of_the_wrong_length_are_ignored() {
    assert_eq!(
        relay_agent_facts(&[5, 3, 1, 2, 3, 11, 4, 10, 0, 0, 1]),
        RelayAgentFacts {
            link_selection: None,
            server_id_override: Some(Ipv4Addr::new(10, 0, 0, 1)),
        }
    );
    assert_eq!(relay_agent_facts(&[5, 4, 1, 2]), RelayAgentFacts::default());
}

#[test]
fn the_override_replaces_the_server_id_and_joins_ours() {
    let server = Arc::new(server_config());
    let override_address = Ipv4Addr::new(172, 31, 0, 1);
    let relayed = request(PacketBuilder::new(1, MAC).giaddr(override_address).option(
        82,
        &with_sub(sub_option::SERVER_ID_OVERRIDE, override_address),
    ));
    let seen = server_for(&relayed, &server);
    assert_eq!(seen.server_id, override_address);
    assert!(seen.is_ours(override_address));
    assert!(seen.is_ours(server.server_id), "still ours too");
    let plain = request(PacketBuilder::new(1, MAC).giaddr(override_address));
    assert!(matches!(server_for(&plain, &server), Cow::Borrowed(_)));
}

proptest! {
    /// The chosen network holds the link address, and no network is chosen
    /// exactly when none holds it.
    #[test]
    fn the_chosen_subnet_holds_the_link(
        giaddr in any::<u32>().prop_filter("relayed", |a| *a != 0),
        link in proptest::option::of(any::<u32>()),
    ) {
        let mut packet = PacketBuilder::new(1, MAC).giaddr(Ipv4Addr::from(giaddr));
        if let Some(link) = link {
            packet = packet.option(82, &with_sub(sub_option::LINK_SELECTION, Ipv4Addr::from(link)));
        }
        let expected_link = Ipv4Addr::from(link.unwrap_or(giaddr));
        let subnets = subnets();
        match select_network(&request(packet), &subnets) {
            Ok(index) => prop_assert!(subnets[index].contains(&expected_link)),
            Err(reason) => {
                prop_assert_eq!(reason, Unserved::NoNetwork);
                prop_assert!(subnets.iter().all(|s| !s.contains(&expected_link)));
            }
        }
    }

    /// Any option 82 value: reading it never panics, and a well-formed
    /// sub-option 11 of length 4 is found.
    #[test]
    fn any_agent_information_is_read_without_panic(
        prefix in proptest::collection::vec((1u8..=10, proptest::collection::vec(any::<u8>(), 0..6)), 0..4),
        address in any::<u32>(),
        junk in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let _ = relay_agent_facts(&junk);
        let mut info = Vec::new();
        for (code, value) in &prefix {
            info.push(*code);
            info.push(value.len() as u8);
            info.extend_from_slice(value);
        }
        info.extend_from_slice(&[11, 4]);
        info.extend_from_slice(&Ipv4Addr::from(address).octets());
        prop_assert_eq!(relay_agent_facts(&info).server_id_override, Some(Ipv4Addr::from(address)));
    }
}
