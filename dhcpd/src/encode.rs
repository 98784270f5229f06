//! A reply's bytes: the BOOTP header through dhcproto, then our options.
//!
//! Options are written by [`crate::wire::write`] rather than dhcproto's
//! `DhcpOptions` so that their order and size are exactly what
//! [`crate::options`] fitted (see `wire.rs` for dhcproto's pitfalls).

use std::net::Ipv4Addr;

use dhcproto::v4::{EncodeError, Flags, HType, Message, Opcode};
use dhcproto::{Encodable, Encoder};
use raftmasq_state::MacAddr;

use crate::boot::{FILE_LEN, HeaderFields, SNAME_LEN};
use crate::wire;

/// BOOTP's minimum message size (RFC 951, RFC 1542 §2.1); some relays and old
/// clients drop shorter ones, so short replies are padded with zeros.
const MIN_REPLY_LEN: usize = 300;
/// Offsets of the `sname` and `file` header fields (RFC 2131 §2).
const SNAME_AT: usize = 44;
const FILE_AT: usize = 108;

/// Header fields of a reply (RFC 2131 Table 3); the rest are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader<'a> {
    pub xid: u32,
    pub broadcast_flag: bool,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub htype: u8,
    pub mac: MacAddr,
    /// `siaddr`, `sname`, `file`; values too long for their field are left out.
    pub boot: HeaderFields<'a>,
}

/// Encodes a BOOTREPLY with the given options, in order, then End and padding.
pub fn encode(header: &ReplyHeader<'_>, options: &[(u8, Vec<u8>)]) -> Result<Vec<u8>, EncodeError> {
    let mut message = Message::new_with_id(
        header.xid,
        header.ciaddr,
        header.yiaddr,
        Ipv4Addr::UNSPECIFIED,
        header.giaddr,
        &header.mac.0,
    );
    let flags = if header.broadcast_flag {
        Flags::default().set_broadcast()
    } else {
        Flags::default()
    };
    message
        .set_siaddr(header.boot.siaddr.unwrap_or(Ipv4Addr::UNSPECIFIED))
        .set_opcode(Opcode::BootReply)
        .set_htype(HType::from(header.htype))
        .set_flags(flags);
    let mut out = Vec::with_capacity(MIN_REPLY_LEN);
    // With no options dhcproto writes the header and the cookie only.
    message.encode(&mut Encoder::new(&mut out))?;
    // Written into the zeroed fields ourselves: dhcproto's setters panic on
    // a value too long, and `boot::header_fields` already left those out.
    write_field(&mut out, SNAME_AT, SNAME_LEN, header.boot.sname);
    write_field(&mut out, FILE_AT, FILE_LEN, header.boot.file);
    for (code, data) in options {
        wire::write(&mut out, *code, data);
    }
    out.push(wire::END);
    if out.len() < MIN_REPLY_LEN {
        out.resize(MIN_REPLY_LEN, wire::PAD);
    }
    Ok(out)
}

/// Copies `value` into a NUL-terminated field of `len` bytes at `at`, if it fits.
fn write_field(out: &mut [u8], at: usize, len: usize, value: Option<&str>) {
    let Some(value) = value.filter(|v| v.len() < len) else {
        return;
    };
    if let Some(field) = out.get_mut(at..at + value.len()) {
        field.copy_from_slice(value.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::{Decodable, Decoder};

    #[test]
    fn header_round_trips_through_dhcproto() {
        let header = ReplyHeader {
            xid: 0x0102_0304,
            broadcast_flag: true,
            ciaddr: Ipv4Addr::new(10, 0, 0, 5),
            yiaddr: Ipv4Addr::new(10, 0, 0, 6),
            giaddr: Ipv4Addr::new(10, 0, 0, 7),
            htype: 1,
            mac: MacAddr([0, 0x16, 0x3e, 1, 2, 3]),
            boot: HeaderFields::default(),
        };
        let bytes = encode(&header, &[(53, vec![2]), (54, vec![10, 0, 0, 1])]).unwrap();
        assert_eq!(bytes.len(), MIN_REPLY_LEN);
        let message = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(message.opcode(), Opcode::BootReply);
        assert_eq!(message.xid(), 0x0102_0304);
        assert!(message.flags().broadcast());
        assert_eq!(message.ciaddr(), header.ciaddr);
        assert_eq!(message.yiaddr(), header.yiaddr);
        assert_eq!(message.siaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(message.giaddr(), header.giaddr);
        assert_eq!(message.chaddr(), &header.mac.0);
        assert_eq!(message.hops(), 0);
        assert_eq!(
            message.opts().msg_type(),
            Some(dhcproto::v4::MessageType::Offer)
        );
        // Option 53 is the first option.
        assert_eq!(&bytes[240..243], &[53, 1, 2]);
    }

    #[test]
    fn boot_fields_land_in_siaddr_sname_and_file_rfc2131_2() {
        let header = ReplyHeader {
            xid: 1,
            broadcast_flag: false,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::new(10, 0, 0, 6),
            giaddr: Ipv4Addr::UNSPECIFIED,
            htype: 1,
            mac: MacAddr([0, 0x16, 0x3e, 1, 2, 3]),
            boot: HeaderFields {
                siaddr: Some(Ipv4Addr::new(10, 0, 0, 5)),
                sname: Some("tftp.lxd"),
                file: Some("pxelinux.0"),
            },
        };
        let bytes = encode(&header, &[(53, vec![2])]).unwrap();
        let message = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(message.siaddr(), Ipv4Addr::new(10, 0, 0, 5));
        assert_eq!(&bytes[SNAME_AT..SNAME_AT + 9], b"tftp.lxd\0");
        assert_eq!(&bytes[FILE_AT..FILE_AT + 11], b"pxelinux.0\0");
        assert!(
            bytes[FILE_AT + 11..FILE_AT + FILE_LEN]
                .iter()
                .all(|&b| b == 0)
        );

        // A value that would leave no room for the NUL is not written at all.
        let long = "f".repeat(FILE_LEN);
        let header = ReplyHeader {
            boot: HeaderFields {
                file: Some(&long),
                ..header.boot
            },
            ..header
        };
        let bytes = encode(&header, &[(53, vec![2])]).unwrap();
        assert!(bytes[FILE_AT..FILE_AT + FILE_LEN].iter().all(|&b| b == 0));
    }
}
