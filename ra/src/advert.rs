//! The router advertisement's bytes (RFC 4861 §4.2) with the options a SLAAC
//! client needs: source link-layer address, MTU, prefix information (§4.6),
//! RDNSS and DNSSL (RFC 8106 §5).
//!
//! The ICMPv6 checksum is left zero: the kernel fills it for raw ICMPv6
//! sockets (RFC 3542 §3.1), which also know the source address it covers.

use std::net::Ipv6Addr;
use std::time::Duration;

const TYPE_ROUTER_ADVERTISEMENT: u8 = 134;
const OPTION_SOURCE_LINK_LAYER: u8 = 1;
const OPTION_PREFIX_INFORMATION: u8 = 3;
const OPTION_MTU: u8 = 5;
const OPTION_RDNSS: u8 = 25;
const OPTION_DNSSL: u8 = 31;
/// What clients set as their hop limit unless told otherwise: Linux's and
/// radvd's default.
const CUR_HOP_LIMIT: u8 = 64;
/// Prefix information flags (§4.6.2).
const FLAG_ON_LINK: u8 = 0x80;
const FLAG_AUTONOMOUS: u8 = 0x40;
/// Seconds a prefix stays valid and preferred without a new advertisement:
/// a day and four hours (radvd's defaults are 30 days and 7 days; shorter,
/// so a prefix the cluster stops advertising leaves clients within a day).
pub const VALID_LIFETIME: Duration = Duration::from_secs(86_400);
pub const PREFERRED_LIFETIME: Duration = Duration::from_secs(14_400);

/// How clients may use the advertised prefix. SLAAC sets both; DHCPv6's
/// stateful mode will clear `autonomous`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixFlags {
    pub on_link: bool,
    pub autonomous: bool,
}

/// Everything one advertisement says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    /// The bridge's MAC (source link-layer address option).
    pub source_mac: [u8; 6],
    /// A /64 (the config crate checks it).
    pub prefix: Ipv6Addr,
    pub prefix_len: u8,
    pub flags: PrefixFlags,
    /// AdvDefaultLifetime; zero: not a default router.
    pub router_lifetime: Duration,
    /// `None`: no MTU option.
    pub mtu: Option<u32>,
    /// RDNSS addresses; none: no RDNSS option.
    pub dns_servers: Vec<Ipv6Addr>,
    /// DNSSL domains (the cluster domain), lowercase without trailing dot;
    /// a name that cannot be encoded is left out.
    pub search_domains: Vec<String>,
    /// Lifetime of the RDNSS and DNSSL entries (RFC 8106 §5.1: at least
    /// MaxRtrAdvInterval; we send three intervals).
    pub dns_lifetime: Duration,
    /// M and O flags: both false for SLAAC; DHCPv6 will set them.
    pub managed: bool,
    pub other_config: bool,
}

impl Advertisement {
    /// The ICMPv6 message, checksum zero. `final_advertisement`: router
    /// lifetime zero, sent when this host stops advertising (§6.2.5) so
    /// clients drop it as a default router at once.
    pub fn encode(&self, final_advertisement: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        let router_lifetime = if final_advertisement {
            0
        } else {
            secs_u16(self.router_lifetime)
        };
        let mut flags = 0u8;
        if self.managed {
            flags |= 0x80;
        }
        if self.other_config {
            flags |= 0x40;
        }
        out.extend_from_slice(&[TYPE_ROUTER_ADVERTISEMENT, 0, 0, 0, CUR_HOP_LIMIT, flags]);
        out.extend_from_slice(&router_lifetime.to_be_bytes());
        // Reachable time and retrans timer: 0, unspecified (§4.2).
        out.extend_from_slice(&[0; 8]);

        out.extend_from_slice(&[OPTION_SOURCE_LINK_LAYER, 1]);
        out.extend_from_slice(&self.source_mac);

        if let Some(mtu) = self.mtu {
            out.extend_from_slice(&[OPTION_MTU, 1, 0, 0]);
            out.extend_from_slice(&mtu.to_be_bytes());
        }

        let mut prefix_flags = 0u8;
        if self.flags.on_link {
            prefix_flags |= FLAG_ON_LINK;
        }
        if self.flags.autonomous {
            prefix_flags |= FLAG_AUTONOMOUS;
        }
        out.extend_from_slice(&[OPTION_PREFIX_INFORMATION, 4, self.prefix_len, prefix_flags]);
        out.extend_from_slice(&secs_u32(VALID_LIFETIME).to_be_bytes());
        out.extend_from_slice(&secs_u32(PREFERRED_LIFETIME).to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.prefix.octets());

        let dns_lifetime = secs_u32(self.dns_lifetime).to_be_bytes();
        // An RDNSS option holds at most 127 addresses (its length is a byte
        // of 8-octet units); more would be a configuration nobody writes.
        let servers = &self.dns_servers[..self.dns_servers.len().min(127)];
        if !servers.is_empty() {
            out.extend_from_slice(&[OPTION_RDNSS, (1 + 2 * servers.len()) as u8, 0, 0]);
            out.extend_from_slice(&dns_lifetime);
            for server in servers {
                out.extend_from_slice(&server.octets());
            }
        }

        let names: Vec<u8> = self
            .search_domains
            .iter()
            .filter_map(|domain| wire_name(domain))
            .flatten()
            .collect();
        if !names.is_empty() {
            // Padded with zeros to a multiple of 8 octets (RFC 8106 §5.2).
            let body = 8 + names.len();
            let padded = body.div_ceil(8) * 8;
            if let Ok(units) = u8::try_from(padded / 8) {
                out.extend_from_slice(&[OPTION_DNSSL, units, 0, 0]);
                out.extend_from_slice(&dns_lifetime);
                out.extend_from_slice(&names);
                out.resize(out.len() + padded - body, 0);
            }
        }
        out
    }
}

/// `domain` in DNS wire form without compression (RFC 1035 §3.1), as DNSSL
/// wants it; `None` for a label over 63 bytes or a name over 255.
fn wire_name(domain: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(domain.len() + 2);
    for label in domain.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    (out.len() <= 255).then_some(out)
}

fn secs_u16(duration: Duration) -> u16 {
    u16::try_from(duration.as_secs()).unwrap_or(u16::MAX)
}

fn secs_u32(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Advertisement {
        Advertisement {
            source_mac: [0x02, 0, 0, 0, 0, 1],
            prefix: "fd42:1::".parse().unwrap(),
            prefix_len: 64,
            flags: PrefixFlags {
                on_link: true,
                autonomous: true,
            },
            router_lifetime: Duration::from_secs(1800),
            mtu: Some(1450),
            dns_servers: vec!["fd42:1::1".parse().unwrap()],
            search_domains: vec!["lxd".into()],
            dns_lifetime: Duration::from_secs(1800),
            managed: false,
            other_config: false,
        }
    }

    #[test]
    fn the_advertisement_carries_every_option_in_its_place() {
        let bytes = sample().encode(false);
        // Header: type, code, checksum, hop limit, flags, router lifetime.
        assert_eq!(bytes[..8], [134, 0, 0, 0, 64, 0, 0x07, 0x08]);
        let options = &bytes[16..];
        assert_eq!(options[..8], [1, 1, 2, 0, 0, 0, 0, 1], "source link-layer");
        assert_eq!(options[8..16], [5, 1, 0, 0, 0, 0, 0x05, 0xaa], "MTU 1450");
        let prefix = &options[16..48];
        assert_eq!(prefix[..4], [3, 4, 64, 0xc0], "prefix /64, L and A");
        assert_eq!(prefix[4..8], 86_400u32.to_be_bytes());
        assert_eq!(prefix[8..12], 14_400u32.to_be_bytes());
        assert_eq!(
            prefix[16..],
            "fd42:1::".parse::<Ipv6Addr>().unwrap().octets()
        );
        let rdnss = &options[48..72];
        assert_eq!(rdnss[..4], [25, 3, 0, 0]);
        assert_eq!(rdnss[4..8], 1800u32.to_be_bytes());
        assert_eq!(
            rdnss[8..],
            "fd42:1::1".parse::<Ipv6Addr>().unwrap().octets()
        );
        let dnssl = &options[72..];
        assert_eq!(dnssl.len(), 16, "8 bytes of head, 5 of name, 3 of padding");
        assert_eq!(dnssl[..4], [31, 2, 0, 0]);
        assert_eq!(dnssl[8..], [3, b'l', b'x', b'd', 0, 0, 0, 0]);
        assert_eq!(bytes.len() % 8, 0);
    }

    #[test]
    fn a_final_advertisement_has_router_lifetime_zero() {
        let bytes = sample().encode(true);
        assert_eq!(bytes[6..8], [0, 0]);
    }

    #[test]
    fn optional_options_are_left_out_when_unset() {
        let mut advert = sample();
        advert.mtu = None;
        advert.dns_servers.clear();
        advert.search_domains = vec!["a".repeat(64)];
        assert_eq!(advert.encode(false).len(), 16 + 8 + 32);
    }
}
