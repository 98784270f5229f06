//! The address a SLAAC client forms from its MAC (modified EUI-64, RFC 4291
//! §2.5.1 and appendix A): the prefix's 64 bits, then the MAC with
//! `ff:fe` in its middle and the universal/local bit flipped. LXD's own
//! lease listing names instances' IPv6 addresses the same way.
//!
//! A client using temporary (RFC 8981) or stable-privacy (RFC 7217)
//! addresses has another address: DNS names the EUI-64 one regardless.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use raftmasq_state::MacAddr;

/// `mac`'s EUI-64 address in `prefix` (a /64).
pub(crate) fn address(prefix: Ipv6Net, mac: MacAddr) -> Ipv6Addr {
    let [a, b, c, d, e, f] = mac.0;
    let mut octets = prefix.network().octets();
    octets[8..].copy_from_slice(&[a ^ 0x02, b, c, 0xff, 0xfe, d, e, f]);
    Ipv6Addr::from(octets)
}

/// The MAC an EUI-64 address in `prefix` was formed from; `None` for an
/// address outside the prefix or whose interface identifier is not EUI-64.
pub(crate) fn mac_of(prefix: Ipv6Net, address: Ipv6Addr) -> Option<MacAddr> {
    if !prefix.contains(&address) {
        return None;
    }
    let octets = address.octets();
    let [a, b, c, ff, fe, d, e, f] = octets[8..] else {
        return None;
    };
    (ff == 0xff && fe == 0xfe).then_some(MacAddr([a ^ 0x02, b, c, d, e, f]))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn prefix() -> Ipv6Net {
        "fd42:1::/64".parse().unwrap()
    }

    #[test]
    fn the_rfc_4291_example_flips_the_universal_bit() {
        let mac = MacAddr([0x00, 0x16, 0x3e, 0x12, 0x34, 0x56]);
        assert_eq!(
            address(prefix(), mac),
            "fd42:1::216:3eff:fe12:3456".parse::<Ipv6Addr>().unwrap()
        );
        let local = MacAddr([0x02, 0, 0, 0, 0, 1]);
        assert_eq!(
            address(prefix(), local),
            "fd42:1::ff:fe00:1".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(mac_of(prefix(), "fd42:1::1".parse().unwrap()), None);
        assert_eq!(mac_of(prefix(), "fd43::ff:fe00:1".parse().unwrap()), None);
    }

    proptest! {
        #[test]
        fn mac_and_address_round_trip(mac in any::<[u8; 6]>()) {
            let mac = MacAddr(mac);
            prop_assert_eq!(mac_of(prefix(), address(prefix(), mac)), Some(mac));
        }
    }
}
