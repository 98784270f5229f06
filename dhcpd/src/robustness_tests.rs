//! Hostile and mangled input through decode + decide: never a panic, and a
//! valid packet with one bad option is still answered with the other options.

use proptest::prelude::*;
use raftmasq_state::MacAddr;

use crate::context::{Arrival, Role};
use crate::decide::{Decision, decide};
use crate::decode::decode;
use crate::offers::OfferBook;
use crate::reply::ReplyKind;
use crate::testing::{PacketBuilder, context, decode_and_decide, packet_options, table};

/// A realistic DISCOVER, with the client id, name, list, size and relay info.
fn valid_discover() -> Vec<u8> {
    PacketBuilder::new(1, MacAddr([0, 0x16, 0x3e, 0xaa, 0xbb, 0xcc]))
        .option(61, &[1, 0, 0x16, 0x3e, 0xaa, 0xbb, 0xcc])
        .option(12, b"c1")
        .option(81, b"\x05\0\0\x02c1\x03lxd\x00")
        .option(55, &[1, 3, 6, 12, 15, 26, 42, 119])
        .option(57, &1500u16.to_be_bytes())
        .option(60, b"dhcpcd-10")
        .build()
}

/// Offsets of each option's length byte in `valid_discover()`'s option area.
fn length_offsets(packet: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 240;
    while at + 1 < packet.len() && packet[at] != 255 {
        offsets.push(at + 1);
        at += 2 + usize::from(packet[at + 1]);
    }
    offsets
}

/// One option with a bad value but a length that stays inside the packet.
fn bad_option() -> impl Strategy<Value = (u8, Vec<u8>)> {
    prop_oneof![
        (
            Just(50u8),
            prop::collection::vec(any::<u8>(), 0..8).prop_filter("not 4", |v| v.len() != 4)
        ),
        (
            Just(54u8),
            prop::collection::vec(any::<u8>(), 0..8).prop_filter("not 4", |v| v.len() != 4)
        ),
        (Just(57u8), prop::collection::vec(any::<u8>(), 0..1)),
        (Just(61u8), prop::collection::vec(any::<u8>(), 0..2)),
        (Just(12u8), Just(vec![0xff, 0xfe, 0xfd])),
        (Just(81u8), prop::collection::vec(any::<u8>(), 0..3)),
        (Just(81u8), Just(b"\x04\0\0\xc0\x0c".to_vec())),
        (Just(82u8), Just(vec![1, 9, 0])),
        (Just(52u8), Just(vec![7])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1600)) {
        decode_and_decide(&bytes);
    }

    #[test]
    fn random_options_after_a_valid_header_never_panic(
        options in prop::collection::vec(any::<u8>(), 0..600),
        message_type in 0u8..12,
    ) {
        let mut packet = PacketBuilder::new(message_type, MacAddr([2, 0, 0, 0, 0, 1]))
            .raw_options(&options)
            .build();
        packet.pop(); // let the random bytes end the packet, End or not
        decode_and_decide(&packet);
    }

    #[test]
    fn rapid_commit_anywhere_among_random_options_never_panics(
        options in prop::collection::vec(any::<u8>(), 0..300),
        at in any::<prop::sample::Index>(),
        data in prop::collection::vec(any::<u8>(), 0..3),
        message_type in 1u8..9,
    ) {
        // Option 80 spliced into random option bytes, so the fuzz entry point
        // sees it in every message type, well-formed or not.
        let cut = at.index(options.len() + 1);
        let mut area = options[..cut].to_vec();
        area.extend_from_slice(&[80, u8::try_from(data.len()).unwrap_or(0)]);
        area.extend_from_slice(&data);
        area.extend_from_slice(&options[cut..]);
        let packet = PacketBuilder::new(message_type, MacAddr([2, 0, 0, 0, 0, 3]))
            .raw_options(&area)
            .build();
        decode_and_decide(&packet);
    }

    #[test]
    fn a_rapid_commit_discover_is_always_a_bind_never_an_unconditional_ack(
        (code, value) in bad_option(),
    ) {
        let packet = PacketBuilder::new(1, MacAddr([2, 0, 0, 0, 0, 4]))
            .option(code, &value)
            .option(80, &[])
            .build();
        let request = decode(&packet).expect("a bad option is not a hard drop");
        prop_assert!(request.rapid_commit);
        let view = table();
        let decision = decide(&view, &request, &context(Arrival::Broadcast, Role::LEADER), &mut OfferBook::new(), 0);
        match decision {
            Decision::Propose(proposal) => {
                let pending = proposal.pending.expect("an ACK waits for the commit");
                prop_assert_eq!(pending.kind(), ReplyKind::RapidCommitAck);
            }
            // A bad option 57/61/82 may leave nothing that fits; never a reply.
            Decision::Ignore(_) => {}
            Decision::Reply(reply) => {
                return Err(TestCaseError::fail(format!("a reply without a commit: {:?}", reply.kind)));
            }
        }
    }

    #[test]
    fn truncations_never_panic(cut in 0usize..400) {
        let packet = valid_discover();
        decode_and_decide(&packet[..cut.min(packet.len())]);
    }

    #[test]
    fn bit_flips_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..8)) {
        let mut packet = valid_discover();
        for (index, bit) in flips {
            let at = index.index(packet.len());
            packet[at] ^= 1 << bit;
        }
        decode_and_decide(&packet);
    }

    #[test]
    fn bad_option_lengths_never_panic(which in any::<prop::sample::Index>(), length in any::<u8>()) {
        let mut packet = valid_discover();
        let offsets = length_offsets(&packet);
        let at = offsets[which.index(offsets.len())];
        packet[at] = length;
        decode_and_decide(&packet);
    }

    #[test]
    fn one_bad_option_still_gets_an_offer_with_the_other_options(
        (code, value) in bad_option(),
        position in 0usize..6,
    ) {
        let good: [(u8, &[u8]); 6] = [
            (61, &[1, 2, 3, 4, 5, 6, 7]),
            (12, b"c1"),
            (55, &[1, 3, 6, 12, 15, 26]),
            (60, b"udhcp 1.36.1"),
            (57, &1500u16.to_be_bytes()),
            (77, b"class"),
        ];
        let mut builder = PacketBuilder::new(1, MacAddr([2, 0, 0, 0, 0, 2]));
        for (index, (good_code, good_value)) in good.iter().enumerate() {
            if index == position {
                builder = builder.option(code, &value);
            }
            // The bad option replaces its good twin rather than being concatenated to it.
            if *good_code != code {
                builder = builder.option(*good_code, good_value);
            }
        }
        let request = decode(&builder.build()).expect("a bad option is not a hard drop");
        prop_assert!(request.malformed_options.contains(&code), "{:?}", request.malformed_options);
        let view = table();
        let decision = decide(&view, &request, &context(Arrival::Broadcast, Role::LEADER), &mut OfferBook::new(), 0);
        let Decision::Reply(reply) = decision else {
            return Err(TestCaseError::fail(format!("no reply: {decision:?}")));
        };
        prop_assert_eq!(reply.kind, ReplyKind::Offer);
        let options = packet_options(&reply.packet).expect("our reply parses");
        // What the list asked for (12 is not sent in an OFFER).
        for wanted in [1u8, 3, 6, 15, 26] {
            prop_assert!(options.get(wanted).is_some(), "option {} missing", wanted);
        }
        for required in [53u8, 54, 51, 58, 59] {
            prop_assert!(options.get(required).is_some(), "option {} missing", required);
        }
    }
}

/// The fuzz target's hand-made seeds (dhcpd/fuzz/seeds/) through the same
/// entry point, so each stays a valid starting point for what it names.
#[test]
fn fuzz_seeds_decode_as_named_and_never_panic() {
    let seeds: [(&str, &[u8]); 5] = [
        (
            "rapid_commit_discover",
            include_bytes!("../fuzz/seeds/decode_decide/rapid_commit_discover"),
        ),
        (
            "rapid_commit_relayed",
            include_bytes!("../fuzz/seeds/decode_decide/rapid_commit_relayed"),
        ),
        (
            "pxe_discover",
            include_bytes!("../fuzz/seeds/decode_decide/pxe_discover"),
        ),
        (
            "selecting_without_option_50",
            include_bytes!("../fuzz/seeds/decode_decide/selecting_without_option_50"),
        ),
        (
            "inform_without_ciaddr",
            include_bytes!("../fuzz/seeds/decode_decide/inform_without_ciaddr"),
        ),
    ];
    for (name, bytes) in seeds {
        decode_and_decide(bytes);
        let decoded = decode(bytes);
        match name {
            "inform_without_ciaddr" => assert_eq!(
                decoded,
                Err(crate::decode::DropReason::InformWithoutAddress),
                "{name}"
            ),
            "rapid_commit_discover" | "rapid_commit_relayed" => {
                assert!(decoded.expect(name).rapid_commit, "{name}");
            }
            "pxe_discover" => assert!(decoded.expect(name).is_pxe_client(), "{name}"),
            _ => assert!(decoded.is_ok(), "{name}"),
        }
    }
}
