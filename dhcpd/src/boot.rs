//! Network boot: where the boot server's name and the boot file go in a reply.
//!
//! RFC 2131 §2 gives them fixed header fields (`siaddr`, `sname`, `file`);
//! RFC 2132 §9.4/§9.5 gives them options 66 and 67 for when those fields are
//! taken by option overload or too small. We never overload (the encoder
//! writes options in the options area only), so a value that fits its field
//! (NUL included) is always written there; the option is sent as well when the
//! client lists it in option 55, when the value does not fit its field, and to
//! PXE clients, which dnsmasq and PXE ROMs expect to get them unasked.

use std::net::Ipv4Addr;

use crate::context::{BootFields, ReplyOptions};
use crate::decode::{ClientRequest, code};
use crate::reply::ReplyKind;

/// Size of the `sname` header field, its terminating NUL included.
pub const SNAME_LEN: usize = 64;
/// Size of the `file` header field, its terminating NUL included.
pub const FILE_LEN: usize = 128;

/// The boot values of one reply's header (RFC 2131 Table 3: OFFER and ACK
/// carry them; a NAK carries none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderFields<'a> {
    pub siaddr: Option<Ipv4Addr>,
    pub sname: Option<&'a str>,
    pub file: Option<&'a str>,
}

/// Whether `value` fits a NUL-terminated header field of `field_len` bytes.
pub fn fits(value: &str, field_len: usize) -> bool {
    value.len() < field_len
}

/// The header fields of a reply of `kind`.
pub fn header_fields(boot: &BootFields, kind: ReplyKind) -> HeaderFields<'_> {
    if kind == ReplyKind::Nak {
        return HeaderFields::default();
    }
    HeaderFields {
        siaddr: boot.next_server,
        sname: boot
            .server_name
            .as_deref()
            .filter(|name| fits(name, SNAME_LEN)),
        file: boot
            .boot_file
            .as_deref()
            .filter(|file| fits(file, FILE_LEN)),
    }
}

/// Who gets a boot option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootNeed {
    /// Only a client that lists it in option 55 (the header field has it).
    Listed,
    /// Sent whether listed or not, if it fits: a PXE client, or a value its
    /// header field cannot hold.
    Unasked,
}

/// One boot option to plan: code, value, and who gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootOption {
    pub code: u8,
    pub data: Vec<u8>,
    pub need: BootNeed,
}

/// Options 66 and 67 for `request`: the operator's own values if set, else
/// the `sname` and `file` values (as dnsmasq derives them from `dhcp-boot`).
/// Sent without a NUL, as RFC 2132 §2 asks and Kea does.
pub fn options(request: &ClientRequest, reply: &ReplyOptions) -> Vec<BootOption> {
    let pxe = request.is_pxe_client();
    let operator = |wanted: u8| {
        reply
            .operator
            .iter()
            .find(|(option, _)| *option == wanted)
            .map(|(_, data)| data.clone())
    };
    let mut out = Vec::new();
    let derived = [
        (
            code::TFTP_SERVER_NAME,
            reply.boot.server_name.as_deref(),
            SNAME_LEN,
        ),
        (
            code::BOOTFILE_NAME,
            reply.boot.boot_file.as_deref(),
            FILE_LEN,
        ),
    ];
    for (option, field_value, field_len) in derived {
        let (data, field_too_small) = match (operator(option), field_value) {
            (Some(data), _) => (data, false),
            (None, Some(value)) => (value.as_bytes().to_vec(), !fits(value, field_len)),
            (None, None) => continue,
        };
        let need = if pxe || field_too_small {
            BootNeed::Unasked
        } else {
            BootNeed::Listed
        };
        out.push(BootOption {
            code: option,
            data,
            need,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;
    use crate::testing::PacketBuilder;
    use raftmasq_state::MacAddr;

    fn boot(server_name: &str, boot_file: &str) -> ReplyOptions {
        ReplyOptions {
            boot: BootFields {
                next_server: Some(Ipv4Addr::new(10, 0, 0, 5)),
                server_name: Some(server_name.into()),
                boot_file: Some(boot_file.into()),
            },
            ..ReplyOptions::default()
        }
    }

    fn request(builder: PacketBuilder) -> ClientRequest {
        decode(&builder.build()).unwrap()
    }

    fn discover() -> PacketBuilder {
        PacketBuilder::new(1, MacAddr([0, 0x16, 0x3e, 0, 0, 1]))
    }

    #[test]
    fn values_that_fit_go_in_the_fields_rfc2131_table_3() {
        let options = boot("tftp.lxd", "pxelinux.0");
        let fields = header_fields(&options.boot, ReplyKind::Offer);
        assert_eq!(fields.siaddr, Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(fields.sname, Some("tftp.lxd"));
        assert_eq!(fields.file, Some("pxelinux.0"));
        assert_eq!(
            header_fields(&options.boot, ReplyKind::Nak),
            HeaderFields::default()
        );
    }

    #[test]
    fn a_field_holds_its_length_minus_the_nul_rfc2131_2() {
        let sname = "s".repeat(63);
        let file = "f".repeat(127);
        let options = boot(&sname, &file);
        let fields = header_fields(&options.boot, ReplyKind::Ack);
        assert_eq!(fields.sname, Some(sname.as_str()));
        assert_eq!(fields.file, Some(file.as_str()));

        let options = boot(&"s".repeat(64), &"f".repeat(128));
        let fields = header_fields(&options.boot, ReplyKind::Ack);
        assert_eq!((fields.sname, fields.file), (None, None));
    }

    #[test]
    fn boot_options_go_to_clients_that_list_them_rfc2132_9_4_9_5() {
        let planned = options(&request(discover()), &boot("tftp.lxd", "pxelinux.0"));
        assert_eq!(
            planned,
            vec![
                BootOption {
                    code: 66,
                    data: b"tftp.lxd".to_vec(),
                    need: BootNeed::Listed
                },
                BootOption {
                    code: 67,
                    data: b"pxelinux.0".to_vec(),
                    need: BootNeed::Listed
                },
            ]
        );
    }

    #[test]
    fn a_value_too_long_for_its_field_is_sent_as_the_option_unasked() {
        let long = "f".repeat(200);
        let planned = options(&request(discover()), &boot("tftp.lxd", &long));
        assert_eq!(planned[0].need, BootNeed::Listed);
        assert_eq!(planned[1].need, BootNeed::Unasked);
        assert_eq!(planned[1].data, long.as_bytes());
    }

    #[test]
    fn pxe_clients_get_the_boot_options_unasked() {
        let pxe = request(discover().option(60, b"PXEClient:Arch:00000:UNDI:002001"));
        assert!(pxe.is_pxe_client());
        let planned = options(&pxe, &boot("tftp.lxd", "pxelinux.0"));
        assert!(planned.iter().all(|o| o.need == BootNeed::Unasked));
        let not_pxe = request(discover().option(60, b"pxeclient"));
        assert!(!not_pxe.is_pxe_client(), "the prefix is case-sensitive");
    }

    #[test]
    fn the_operators_own_66_and_67_replace_the_derived_values() {
        let mut reply = boot("tftp.lxd", "pxelinux.0");
        reply.operator = vec![(66, b"10.0.0.9".to_vec())];
        let planned = options(&request(discover()), &reply);
        assert_eq!(planned[0].data, b"10.0.0.9");
        assert_eq!(planned[1].data, b"pxelinux.0");

        let only_operator = ReplyOptions {
            operator: vec![(67, b"ipxe.efi".to_vec())],
            ..ReplyOptions::default()
        };
        let planned = options(&request(discover()), &only_operator);
        assert_eq!(planned.len(), 1);
        assert_eq!((planned[0].code, planned[0].need), (67, BootNeed::Listed));
    }
}
