//! Checks on a DHCPv6 message's bytes before dhcproto decodes them: every
//! server of ours (stateless, stateful) asks them first, so a datagram the
//! decoder would mishandle is dropped as malformed, never a panic.

/// Whether dhcproto can decode `message` (a whole client message: type,
/// transaction id, options) without panicking; see
/// [`option_lengths_decodable`].
pub fn dhcproto_can_decode(message: &[u8]) -> bool {
    option_lengths_decodable(message.get(4..).unwrap_or_default(), 0)
}

/// Whether dhcproto 0.15 can decode `options` (a message's, or a container
/// option's) without panicking. It subtracts a fixed part from the length
/// of Status Code (2), Vendor Class and Vendor-specific Information (4)
/// and Authentication (11) unchecked, which overflows (a panic in debug
/// builds) when a packet declares less; the proptest of mangled SOLICITs
/// found it. Such an option is malformed (RFC 8415 §21), so the datagram
/// is dropped. Containers (IA_NA, IA_TA, IA_PD, IA Address, IA Prefix,
/// Relay Message) are walked into, at most 4 deep.
pub fn option_lengths_decodable(mut options: &[u8], depth: u8) -> bool {
    const STATUS_CODE: u16 = 13;
    const AUTH: u16 = 11;
    const VENDOR_CLASS: u16 = 16;
    const VENDOR_OPTS: u16 = 17;
    const RELAY_MSG: u16 = 9;
    // Container option code -> the fixed part before its options.
    const CONTAINERS: [(u16, usize); 5] = [(3, 12), (4, 4), (25, 12), (5, 24), (26, 25)];
    if depth > 4 {
        return false;
    }
    while let [c0, c1, l0, l1, rest @ ..] = options {
        let code = u16::from_be_bytes([*c0, *c1]);
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let Some(data) = rest.get(..len) else {
            // dhcproto refuses a truncated option itself.
            return true;
        };
        let minimum = match code {
            STATUS_CODE => 2,
            VENDOR_CLASS | VENDOR_OPTS => 4,
            AUTH => 11,
            _ => 0,
        };
        if len < minimum {
            return false;
        }
        if let Some(&(_, fixed)) = CONTAINERS.iter().find(|(c, _)| *c == code)
            && let Some(inner) = data.get(fixed..)
            && !option_lengths_decodable(inner, depth + 1)
        {
            return false;
        }
        if code == RELAY_MSG
            && !option_lengths_decodable(data.get(4..).unwrap_or_default(), depth + 1)
        {
            return false;
        }
        options = rest.get(len..).unwrap_or_default();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(options: &[u8]) -> Vec<u8> {
        let mut bytes = vec![11, 1, 2, 3]; // Information-request, xid
        bytes.extend_from_slice(options);
        bytes
    }

    #[test]
    fn options_shorter_than_their_fixed_part_are_refused_at_any_depth() {
        // Status Code (13) of length 0: dhcproto subtracts 2 unchecked.
        assert!(!dhcproto_can_decode(&message(&[0, 13, 0, 0])));
        assert!(dhcproto_can_decode(&message(&[0, 13, 0, 2, 0, 0])));
        // The same inside an IA_NA (3): IAID, T1, T2, then its options.
        let mut ia_na = vec![0, 3, 0, 16];
        ia_na.extend_from_slice(&[0; 12]);
        ia_na.extend_from_slice(&[0, 13, 0, 0]);
        assert!(!dhcproto_can_decode(&message(&ia_na)));
        // Authentication (11) needs 11 bytes, Vendor Class (16) 4.
        let mut auth = vec![0, 11, 0, 10];
        auth.extend_from_slice(&[0; 10]);
        assert!(!dhcproto_can_decode(&message(&auth)));
        assert!(!dhcproto_can_decode(&message(&[0, 16, 0, 3, 0, 0, 0])));
        // An ordinary message, and an empty one.
        assert!(dhcproto_can_decode(&message(&[0, 8, 0, 2, 0, 0])));
        assert!(dhcproto_can_decode(&message(&[])));
    }
}
