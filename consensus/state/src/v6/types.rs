//! Values of the DHCPv6 lease table: who holds an address (DUID + IAID) and
//! the lease itself.

use std::fmt;
use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

use crate::types::{MacAddr, Millis};

/// A DHCP Unique Identifier (RFC 8415 §11), as the client sent it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Duid(pub Vec<u8>);

impl Duid {
    /// The link-layer address inside a DUID-LLT (type 1) or DUID-LL (type 3)
    /// over Ethernet (hardware type 1), if this DUID is one.
    pub fn mac(&self) -> Option<MacAddr> {
        match *self.0.as_slice() {
            // DUID-LLT: type 1, hardware type 1 (Ethernet), 4 bytes of time.
            [0, 1, 0, 1, _, _, _, _, a, b, c, d, e, f] => Some(MacAddr([a, b, c, d, e, f])),
            // DUID-LL: type 3, hardware type 1.
            [0, 3, 0, 1, a, b, c, d, e, f] => Some(MacAddr([a, b, c, d, e, f])),
            _ => None,
        }
    }

    /// DUID-LL (RFC 8415 §11.4) for an Ethernet MAC: the server's own DUID.
    pub fn link_layer(mac: MacAddr) -> Duid {
        let mut bytes = vec![0, 3, 0, 1];
        bytes.extend_from_slice(&mac.0);
        Duid(bytes)
    }
}

impl fmt::Display for Duid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Duid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An identity association: RFC 8415 §12 keys a client's addresses on its
/// DUID and the IAID of each IA_NA.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct V6Binding {
    pub duid: Duid,
    pub iaid: u32,
}

/// One IA_NA address lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V6Lease {
    pub address: Ipv6Addr,
    pub binding: V6Binding,
    /// From the DUID (LL/LLT) or the client link-layer option (RFC 6939).
    pub mac: Option<MacAddr>,
    /// The DNS label granted (AAAA + ip6.arpa PTR), one owner across v4 and v6.
    pub name: Option<String>,
    pub granted_at: Millis,
    pub expires_at: Millis,
}

/// The dynamic range a `BindV6` may choose from, inclusive. It rides in the
/// command (stamped from the leader's `ipv6.range`) so `apply` stays a pure
/// function of the log without a new cluster setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct V6Range {
    pub start: Ipv6Addr,
    pub end: Ipv6Addr,
}

impl V6Range {
    pub fn contains(&self, address: Ipv6Addr) -> bool {
        self.start <= address && address <= self.end
    }
}

impl fmt::Display for V6Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Which address a `BindV6` wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum V6Want {
    /// The client's reservation: exactly this address or a rejection.
    Reserved(Ipv6Addr),
    /// Any free address of the range; the hint (the client's IA_ADDR, or the
    /// address it held before) is taken when free and in the range.
    Dynamic { hint: Option<Ipv6Addr> },
}

/// Who asks for an IA_NA address, as seen in a DHCPv6 REQUEST (or a rapid
/// commit SOLICIT, RENEW or REBIND).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V6LeaseRequest {
    pub binding: V6Binding,
    pub mac: Option<MacAddr>,
    /// The first label of the client FQDN option (39), as sent.
    pub fqdn_label: Option<String>,
    /// A reservation's name, which wins over every other.
    pub reserved_name: Option<String>,
    pub want: V6Want,
}
