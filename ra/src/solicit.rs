//! Router solicitations (RFC 4861 §4.1), checked by §6.1.1's rules. A bad
//! one is dropped with its reason (a metric label), never answered and never
//! a panic.
//!
//! The raw ICMPv6 socket hands us every ICMPv6 message on the bridge
//! (neighbour discovery, echo, other routers' advertisements): those are
//! not ours and are not counted as malformed.

use std::net::Ipv6Addr;

const TYPE_ROUTER_SOLICITATION: u8 = 133;
const OPTION_SOURCE_LINK_LAYER: u8 = 1;
/// A solicitation from off the link arrives with a lower hop limit (§6.1.1).
pub const REQUIRED_HOP_LIMIT: u8 = 255;
const HEADER_LEN: usize = 8;

/// A valid router solicitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solicitation {
    /// `None`: the unspecified address (a client without an address yet),
    /// which is answered by multicast (§6.2.6).
    pub source: Option<Ipv6Addr>,
    /// The source link-layer address option, if sent.
    pub source_mac: Option<[u8; 6]>,
}

/// Why a solicitation was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    #[error("hop limit is not 255 (sent from off the link, or unknown)")]
    HopLimit,
    #[error("ICMP code is not 0")]
    Code,
    #[error("shorter than the 8-byte solicitation")]
    Short,
    #[error("an option has length zero or runs past the end")]
    BadOption,
    #[error("source link-layer option from the unspecified address")]
    LinkLayerFromUnspecified,
    #[error("source is not a link-local or unspecified unicast address")]
    Source,
}

impl Malformed {
    /// The `reason` label of the drop metric.
    pub fn label(&self) -> &'static str {
        match self {
            Malformed::HopLimit => "hop_limit",
            Malformed::Code => "code",
            Malformed::Short => "short",
            Malformed::BadOption => "bad_option",
            Malformed::LinkLayerFromUnspecified => "link_layer_from_unspecified",
            Malformed::Source => "source",
        }
    }

    pub const ALL: [Malformed; 6] = [
        Malformed::HopLimit,
        Malformed::Code,
        Malformed::Short,
        Malformed::BadOption,
        Malformed::LinkLayerFromUnspecified,
        Malformed::Source,
    ];
}

/// `Ok(None)`: some other ICMPv6 message. `hop_limit`: from the packet's
/// IPv6 header (IPV6_RECVHOPLIMIT); `None` when the kernel did not say.
pub fn decode_solicitation(
    bytes: &[u8],
    source: Ipv6Addr,
    hop_limit: Option<u8>,
) -> Result<Option<Solicitation>, Malformed> {
    if bytes.first() != Some(&TYPE_ROUTER_SOLICITATION) {
        return Ok(None);
    }
    if hop_limit != Some(REQUIRED_HOP_LIMIT) {
        return Err(Malformed::HopLimit);
    }
    if bytes.len() < HEADER_LEN {
        return Err(Malformed::Short);
    }
    if bytes[1] != 0 {
        return Err(Malformed::Code);
    }
    // Solicitations come from a link-local address or, before the client
    // has one, from the unspecified address (RFC 4861 §4.1, RFC 4862 §5.5.1;
    // a few stacks use a global one, which §6.1.1 does not forbid).
    if source.is_multicast() || source.is_loopback() {
        return Err(Malformed::Source);
    }
    let unspecified = source.is_unspecified();
    let mut source_mac = None;
    let mut options = &bytes[HEADER_LEN..];
    while !options.is_empty() {
        let [kind, units, ..] = *options else {
            return Err(Malformed::BadOption);
        };
        let len = usize::from(units) * 8;
        if len == 0 || len > options.len() {
            return Err(Malformed::BadOption);
        }
        if kind == OPTION_SOURCE_LINK_LAYER {
            if unspecified {
                return Err(Malformed::LinkLayerFromUnspecified);
            }
            // Ethernet: 6 bytes of address after the type and length (RFC 2464 §6).
            if let Some(mac) = options.get(2..8).and_then(|m| <[u8; 6]>::try_from(m).ok()) {
                source_mac = Some(mac);
            }
        }
        options = &options[len..];
    }
    Ok(Some(Solicitation {
        source: (!unspecified).then_some(source),
        source_mac,
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn link_local() -> Ipv6Addr {
        "fe80::1".parse().unwrap()
    }

    fn with_mac() -> Vec<u8> {
        vec![133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 9]
    }

    #[test]
    fn a_solicitation_with_its_link_layer_address_is_taken() {
        let rs = decode_solicitation(&with_mac(), link_local(), Some(255))
            .unwrap()
            .unwrap();
        assert_eq!(rs.source, Some(link_local()));
        assert_eq!(rs.source_mac, Some([2, 0, 0, 0, 0, 9]));
    }

    #[test]
    fn a_solicitation_from_the_unspecified_address_is_answered_by_multicast() {
        let rs = decode_solicitation(&with_mac()[..8], Ipv6Addr::UNSPECIFIED, Some(255))
            .unwrap()
            .unwrap();
        assert_eq!(rs.source, None);
    }

    #[test]
    fn other_icmpv6_messages_are_not_ours() {
        for kind in [128, 134, 135, 136] {
            let mut bytes = with_mac();
            bytes[0] = kind;
            assert_eq!(decode_solicitation(&bytes, link_local(), Some(1)), Ok(None));
        }
    }

    #[test]
    fn each_rule_of_rfc_4861_6_1_1_drops_with_its_reason() {
        let ll = link_local();
        let cases: [(Vec<u8>, Ipv6Addr, Option<u8>, Malformed); 8] = [
            (with_mac(), ll, Some(64), Malformed::HopLimit),
            (with_mac(), ll, None, Malformed::HopLimit),
            (vec![133, 0, 0, 0], ll, Some(255), Malformed::Short),
            (
                [&[133, 1], &with_mac()[2..]].concat(),
                ll,
                Some(255),
                Malformed::Code,
            ),
            (
                [&with_mac()[..8], &[1, 0, 0, 0, 0, 0, 0, 0][..]].concat(),
                ll,
                Some(255),
                Malformed::BadOption,
            ),
            (
                [&with_mac()[..8], &[1, 2, 0, 0, 0, 0, 0, 0][..]].concat(),
                ll,
                Some(255),
                Malformed::BadOption,
            ),
            (
                with_mac(),
                Ipv6Addr::UNSPECIFIED,
                Some(255),
                Malformed::LinkLayerFromUnspecified,
            ),
            (
                with_mac(),
                "ff02::1".parse().unwrap(),
                Some(255),
                Malformed::Source,
            ),
        ];
        for (bytes, source, hop_limit, reason) in cases {
            assert_eq!(
                decode_solicitation(&bytes, source, hop_limit),
                Err(reason),
                "{bytes:?} from {source}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// Any bytes from any source: an answer, never a panic; and a
        /// solicitation taken has options that tile its length exactly.
        #[test]
        fn random_bytes_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..300),
            source in any::<u128>(),
            hop_limit in any::<Option<u8>>(),
            solicitation in any::<bool>(),
        ) {
            let mut bytes = bytes;
            if solicitation && !bytes.is_empty() {
                bytes[0] = 133;
            }
            let source = Ipv6Addr::from(source);
            if let Ok(Some(rs)) = decode_solicitation(&bytes, source, hop_limit) {
                prop_assert_eq!(hop_limit, Some(255));
                prop_assert!(bytes.len() >= 8 && (bytes.len() - 8) % 8 == 0);
                prop_assert_eq!(rs.source.is_none(), source.is_unspecified());
            }
        }

        /// Well-formed solicitations with random options are all taken.
        #[test]
        fn well_formed_solicitations_are_taken(
            options in prop::collection::vec((2u8..=255, 1u8..4), 0..6),
        ) {
            let mut bytes = vec![133, 0, 0, 0, 0, 0, 0, 0];
            for (kind, units) in options {
                bytes.push(kind);
                bytes.push(units);
                bytes.resize(bytes.len() + usize::from(units) * 8 - 2, 0xab);
            }
            prop_assert!(decode_solicitation(&bytes, link_local(), Some(255)).unwrap().is_some());
        }
    }
}
