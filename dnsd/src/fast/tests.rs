//! The fast path against the general path: every answer the fast path gives
//! must be the general path's answer, byte for byte.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use proptest::prelude::*;
use raftmasq_state::{
    AddressRange, ClientId, ClusterSettings, Command, HostnamePolicy, LeaseRequest, LeaseTable,
    MacAddr, RecordData, Response, StaticRecord,
};

use super::{FastContext, FastType, try_answer};
use crate::answer::{self as general, Checks, Outcome, Parsed, Policy, Transport};
use crate::config::{DnsServerConfig, ZoneConfig};
use crate::lookup::View;
use crate::tsig::Keyring;

const T0: u64 = 1_700_000_000_000;
const LEASE_SECS: u64 = 3600;
/// The lease of `short` (172.16.0.9) ends after this long.
const SHORT_SECS: u64 = 60;
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const STRANGER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9));

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(172, 16, 0, n)
}

fn request(n: u8, hostname: &str) -> LeaseRequest {
    let mac = MacAddr([0x00, 0x16, 0x3e, 0, 0, n]);
    LeaseRequest {
        client_id: ClientId::from_mac(mac),
        mac,
        hostname: Some(hostname.into()),
        requested_address: Some(ip(n)),
        seen_by: Some(1),
    }
}

/// Leases c1..c5 (.1-.5), web-1 (.6, without its name since the static A
/// added after it took it), ns1 (.7, refused its name: a name server's), offered (.8, only offered), short (.9, ends after a minute);
/// static records alias (CNAME to c1) and _sip._tcp (SRV).
fn table() -> LeaseTable {
    let mut table = LeaseTable::default();
    let settings = ClusterSettings {
        subnet: "172.16.0.0/16".parse().unwrap(),
        ranges: vec![AddressRange {
            start: ip(1),
            end: ip(250),
        }],
        domain: "lxd".into(),
        lease_time_secs: LEASE_SECS,
        duplicate_hostnames: HostnamePolicy::Suffix,
        decline_quarantine_secs: 60,
        client_identity: Default::default(),
    };
    assert_eq!(
        table.apply(&Command::Initialize { settings }),
        Response::Done
    );
    let names = ["c1", "c2", "c3", "c4", "c5", "web-1", "ns1"];
    for (n, name) in (1..).zip(names) {
        let bind = Command::Bind {
            request: request(n, name),
            now: T0,
            lease_time_secs: Some(LEASE_SECS),
        };
        assert!(matches!(table.apply(&bind), Response::Lease { .. }));
    }
    let offer = Command::Allocate {
        request: request(8, "offered"),
        now: T0,
        hold_ms: 60_000,
    };
    assert!(matches!(table.apply(&offer), Response::Lease { .. }));
    let short = Command::Bind {
        request: request(9, "short"),
        now: T0,
        lease_time_secs: Some(SHORT_SECS),
    };
    assert!(matches!(table.apply(&short), Response::Lease { .. }));
    let records = [
        ("web-1.lxd", RecordData::A { address: ip(200) }),
        (
            "alias.lxd",
            RecordData::Cname {
                target: "c1.lxd".into(),
            },
        ),
        (
            "_sip._tcp.lxd",
            RecordData::Srv {
                priority: 1,
                weight: 1,
                port: 5060,
                target: "c2.lxd".into(),
            },
        ),
    ];
    for (name, data) in records {
        let record = StaticRecord {
            name: name.into(),
            ttl: None,
            data,
        };
        assert_eq!(table.apply(&Command::AddRecord { record }), Response::Done);
    }
    table
}

fn zone_config() -> ZoneConfig {
    let mut config = DnsServerConfig::new("lxd");
    config.ttl = Duration::from_secs(30);
    config.nameservers = vec![
        ("ns1".into(), Ipv4Addr::new(10, 0, 0, 1)),
        ("ns2".into(), Ipv4Addr::new(10, 0, 0, 2)),
    ];
    config.ipv6_prefix = Some("fd42:1::/64".parse().unwrap());
    config.zone_config().unwrap()
}

fn policy(max_udp_payload: u16) -> Policy {
    Policy {
        allow_recursion: vec!["127.0.0.1/32".parse().unwrap()],
        secondaries: Vec::new(),
        transfer_key: None,
        max_udp_payload,
    }
}

/// The general path's UDP answer, as the server sends it (`None`: dropped or
/// forwarded).
fn general_answer(
    bytes: &[u8],
    client: IpAddr,
    table: &LeaseTable,
    config: &ZoneConfig,
    policy: &Policy,
    now: u64,
) -> Option<Vec<u8>> {
    let keys = Keyring::default();
    let checks = Checks {
        transport: Transport::Udp,
        max_udp_payload: policy.max_udp_payload,
        keys: &keys,
        now_secs: now / 1000,
    };
    match general::parse(bytes, &checks) {
        Parsed::Drop => None,
        Parsed::Reply(ctx, message)
        | Parsed::TsigRefused {
            ctx,
            reply: message,
            ..
        } => Some(general::encode(&ctx, &message)),
        Parsed::Query(request) => {
            let view = View::new(table, 7, config, now);
            match general::respond(&request, client, policy, &view) {
                Outcome::Forward => None,
                Outcome::TransferRefused(message) => Some(general::encode(&request.ctx, &message)),
                Outcome::Messages(messages) => {
                    Some(general::encode(&request.ctx, messages.first()?))
                }
            }
        }
    }
}

fn fast_answer(
    bytes: &[u8],
    client: IpAddr,
    table: &LeaseTable,
    config: &ZoneConfig,
    policy: &Policy,
    now: u64,
) -> Option<(FastType, Vec<u8>)> {
    let ctx = FastContext {
        config,
        policy,
        now,
    };
    // Something already in the buffer, as in a batch: it must stay.
    let mut out = b"earlier".to_vec();
    let qtype = try_answer(bytes, client, table, &ctx, &mut out)?;
    assert_eq!(&out[..7], b"earlier");
    Some((qtype, out.split_off(7)))
}

/// An OPT record: payload, extended rcode, version, flags, options.
#[derive(Debug, Clone)]
struct Opt {
    payload: u16,
    ext_rcode: u8,
    version: u8,
    flags: u16,
    options: Vec<u8>,
}

/// A request from its parts, in the wire format.
#[derive(Debug, Clone)]
struct Wire {
    id: u16,
    flags: [u8; 2],
    counts: [u16; 3],
    name: String,
    qtype: u16,
    qclass: u16,
    opt: Option<Opt>,
    trailing: Vec<u8>,
}

impl Wire {
    fn plain(name: &str, qtype: u16) -> Wire {
        Wire {
            id: 0x1234,
            flags: [0x01, 0x00],
            counts: [1, 0, 0],
            name: name.into(),
            qtype,
            qclass: 1,
            opt: None,
            trailing: Vec::new(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut bytes = self.id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.flags);
        let additional = self.counts[2] + u16::from(self.opt.is_some());
        for count in [self.counts[0], self.counts[1], 0, additional] {
            bytes.extend_from_slice(&count.to_be_bytes());
        }
        for label in self.name.split('.').filter(|l| !l.is_empty()) {
            bytes.push(label.len() as u8);
            bytes.extend_from_slice(label.as_bytes());
        }
        bytes.push(0);
        bytes.extend_from_slice(&self.qtype.to_be_bytes());
        bytes.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some(opt) = &self.opt {
            bytes.push(0);
            bytes.extend_from_slice(&41u16.to_be_bytes());
            bytes.extend_from_slice(&opt.payload.to_be_bytes());
            bytes.extend_from_slice(&[opt.ext_rcode, opt.version]);
            bytes.extend_from_slice(&opt.flags.to_be_bytes());
            bytes.extend_from_slice(&(opt.options.len() as u16).to_be_bytes());
            bytes.extend_from_slice(&opt.options);
        }
        bytes.extend_from_slice(&self.trailing);
        bytes
    }
}

const NAMES: &[&str] = &[
    "c1.lxd",
    "c2.lxd",
    "c5.lxd",
    "web-1.lxd",
    "ns1.lxd",
    "ns2.lxd",
    "offered.lxd",
    "short.lxd",
    "alias.lxd",
    "_sip._tcp.lxd",
    "_tcp.lxd",
    "nope.lxd",
    "lxd",
    "x.c1.lxd",
    "c1.example.com",
    "c1.lxd.arpa",
    "1.0.16.172.in-addr.arpa",
    "5.0.16.172.in-addr.arpa",
    "6.0.16.172.in-addr.arpa",
    "8.0.16.172.in-addr.arpa",
    "9.0.16.172.in-addr.arpa",
    "99.0.16.172.in-addr.arpa",
    "01.0.16.172.in-addr.arpa",
    "1.0.17.172.in-addr.arpa",
    "0.16.172.in-addr.arpa",
    "16.172.in-addr.arpa",
    "1.1.0.16.172.in-addr.arpa",
];

fn mixed_case(name: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<bool>(), name.len()).prop_map(move |upper| {
        name.chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

fn opt() -> impl Strategy<Value = Opt> {
    (
        prop_oneof![Just(512u16), Just(1232), Just(4096), any::<u16>()],
        prop_oneof![4 => Just(0u8), 1 => any::<u8>()],
        prop_oneof![4 => Just(0u8), 1 => Just(1)],
        prop_oneof![Just(0u16), Just(0x8000), any::<u16>()],
        prop_oneof![
            4 => Just(Vec::new()),
            // A client cookie (RFC 7873), as dig sends.
            1 => Just(vec![0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]),
            1 => prop::collection::vec(any::<u8>(), 1..6),
        ],
    )
        .prop_map(|(payload, ext_rcode, version, flags, options)| Opt {
            payload,
            ext_rcode,
            version,
            flags,
            options,
        })
}

fn wire() -> impl Strategy<Value = Wire> {
    (
        any::<u16>(),
        prop_oneof![
            3 => Just([0x01u8, 0x00]),
            1 => Just([0x00, 0x20]),
            1 => Just([0x01, 0x10]),
            1 => any::<[u8; 2]>(),
        ],
        prop_oneof![6 => Just([1u16, 0, 0]), 1 => Just([0, 0, 0]), 1 => Just([2, 0, 0]), 1 => Just([1, 1, 0]), 1 => Just([1, 0, 1])],
        prop::sample::select(NAMES).prop_flat_map(mixed_case),
        prop_oneof![4 => Just(1u16), 4 => Just(12), 3 => Just(28), 1 => Just(5), 1 => Just(255), 1 => Just(33)],
        prop_oneof![8 => Just(1u16), 1 => Just(3), 1 => Just(255)],
        prop::option::of(opt()),
        prop_oneof![8 => Just(Vec::new()), 1 => prop::collection::vec(any::<u8>(), 1..3)],
    )
        .prop_map(
            |(id, flags, counts, name, qtype, qclass, opt, trailing)| Wire {
                id,
                flags,
                counts,
                name,
                qtype,
                qclass,
                opt,
                trailing,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Whatever the fast path answers, the general path answers identically.
    #[test]
    fn fast_answers_are_the_general_answers(
        wire in wire(),
        local in any::<bool>(),
        payload in prop_oneof![Just(512u16), Just(1232), Just(4096)],
        late in any::<bool>(),
    ) {
        let table = table();
        let config = zone_config();
        let policy = policy(payload);
        let client = if local { LOCAL } else { STRANGER };
        let now = if late { T0 + SHORT_SECS * 1000 } else { T0 + 1 };
        let bytes = wire.bytes();
        if let Some((_, fast)) = fast_answer(&bytes, client, &table, &config, &policy, now) {
            let slow = general_answer(&bytes, client, &table, &config, &policy, now);
            prop_assert_eq!(Some(fast), slow);
        }
    }

    /// The fast path never panics, whatever the bytes.
    #[test]
    fn fast_path_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let table = table();
        let config = zone_config();
        let policy = policy(1232);
        let _ = fast_answer(&bytes, LOCAL, &table, &config, &policy, T0);
    }
}

/// The common questions do take the fast path (else the property above would
/// hold trivially), and give the general path's bytes.
#[test]
fn lease_questions_take_the_fast_path() {
    let table = table();
    let config = zone_config();
    let dnssec = Opt {
        payload: 1232,
        ext_rcode: 0,
        version: 0,
        flags: 0x8000,
        options: Vec::new(),
    };
    let cases = [
        (Wire::plain("c1.lxd", 1), FastType::A),
        (Wire::plain("C2.Lxd", 1), FastType::A),
        (
            Wire {
                flags: [0x00, 0x30],
                opt: Some(dnssec.clone()),
                ..Wire::plain("c5.lxd", 1)
            },
            FastType::A,
        ),
        (Wire::plain("short.lxd", 1), FastType::A),
        (Wire::plain("c1.lxd", 28), FastType::Aaaa),
        (Wire::plain("C2.Lxd", 28), FastType::Aaaa),
        (Wire::plain("1.0.16.172.in-addr.arpa", 12), FastType::Ptr),
        (Wire::plain("9.0.16.172.IN-ADDR.arpa", 12), FastType::Ptr),
        (
            Wire {
                opt: Some(dnssec),
                ..Wire::plain("5.0.16.172.in-addr.arpa", 12)
            },
            FastType::Ptr,
        ),
    ];
    for (client, payload) in [(LOCAL, 1232), (STRANGER, 512), (STRANGER, 4096)] {
        let policy = policy(payload);
        for (wire, qtype) in &cases {
            let bytes = wire.bytes();
            let fast = fast_answer(&bytes, client, &table, &config, &policy, T0 + 1);
            let slow = general_answer(&bytes, client, &table, &config, &policy, T0 + 1);
            assert!(fast.is_some(), "{wire:?} took the general path");
            assert_eq!(
                fast.map(|(q, bytes)| (q, Some(bytes))),
                Some((*qtype, slow))
            );
        }
    }
}

/// What is not one lease record goes to the general path.
#[test]
fn everything_else_takes_the_general_path() {
    let table = table();
    let config = zone_config();
    let policy = policy(1232);
    let cookie = Opt {
        payload: 1232,
        ext_rcode: 0,
        version: 0,
        flags: 0,
        options: vec![0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8],
    };
    let cases = [
        ("no such name", Wire::plain("nope.lxd", 1), T0),
        (
            "an expired lease",
            Wire::plain("short.lxd", 1),
            T0 + SHORT_SECS * 1000,
        ),
        (
            "an offered address",
            Wire::plain("8.0.16.172.in-addr.arpa", 12),
            T0,
        ),
        ("a static record too", Wire::plain("web-1.lxd", 1), T0),
        ("a name server's name", Wire::plain("ns1.lxd", 1), T0),
        ("a CNAME", Wire::plain("alias.lxd", 1), T0),
        ("another type", Wire::plain("c1.lxd", 16), T0),
        ("outside our zones", Wire::plain("c1.example.com", 1), T0),
        ("the apex", Wire::plain("lxd", 1), T0),
        (
            "an address outside the subnet",
            Wire::plain("1.0.17.172.in-addr.arpa", 12),
            T0,
        ),
        (
            "EDNS options",
            Wire {
                opt: Some(cookie),
                ..Wire::plain("c1.lxd", 1)
            },
            T0,
        ),
        (
            "an opcode",
            Wire {
                flags: [0x28, 0],
                ..Wire::plain("c1.lxd", 1)
            },
            T0,
        ),
        (
            "a response",
            Wire {
                flags: [0x80, 0],
                ..Wire::plain("c1.lxd", 1)
            },
            T0,
        ),
        (
            "trailing bytes",
            Wire {
                trailing: vec![0],
                ..Wire::plain("c1.lxd", 1)
            },
            T0,
        ),
    ];
    for (what, wire, now) in cases {
        let fast = fast_answer(&wire.bytes(), LOCAL, &table, &config, &policy, now);
        assert!(fast.is_none(), "{what}: took the fast path");
    }
}

/// Stateful DHCPv6 (`ipv6_leases`): a lease name's AAAA is its DHCPv6
/// address, not the EUI-64 one, and its `ip6.arpa` PTR names it; the fast
/// path, which has no v6 table, leaves AAAA to the general path.
#[test]
fn dhcpv6_lease_names_answer_aaaa_and_ptr_on_the_general_path() {
    use hickory_proto::op::Message;
    use hickory_proto::rr::RData;
    use raftmasq_state::v6::{
        Duid, V6Binding, V6LeaseRequest, V6Leases, V6Range, V6Want, apply_both,
    };

    let mut table = table();
    let mut v6 = V6Leases::default();
    let mac = MacAddr([0x00, 0x16, 0x3e, 0, 0, 1]);
    let leased: std::net::Ipv6Addr = "fd42:1::1000".parse().unwrap();
    let response = apply_both(
        &mut table,
        &mut v6,
        &Command::BindV6 {
            request: V6LeaseRequest {
                binding: V6Binding {
                    duid: Duid::link_layer(mac),
                    iaid: 1,
                },
                mac: Some(mac),
                fqdn_label: None,
                reserved_name: None,
                want: V6Want::Dynamic { hint: None },
            },
            range: V6Range {
                start: leased,
                end: "fd42:1::1fff".parse().unwrap(),
            },
            now: T0,
            lease_time_secs: LEASE_SECS,
        },
    );
    assert!(matches!(response, Response::LeaseV6 { .. }), "{response:?}");
    let mut config = zone_config();
    config.ipv6_leases = true;
    let policy = policy(1232);
    let answer = |wire: Wire| -> Vec<RData> {
        let bytes = wire.bytes();
        let keys = Keyring::default();
        let checks = Checks {
            transport: Transport::Udp,
            max_udp_payload: 1232,
            keys: &keys,
            now_secs: (T0 + 1) / 1000,
        };
        let Parsed::Query(request) = general::parse(&bytes, &checks) else {
            panic!("not a query")
        };
        let view = View::new(&table, 7, &config, T0 + 1).with_v6(Some(&v6));
        let Outcome::Messages(messages) = general::respond(&request, LOCAL, &policy, &view) else {
            panic!("no answer")
        };
        let message = Message::from_vec(&general::encode(&request.ctx, &messages[0])).unwrap();
        message.answers.iter().map(|r| r.data.clone()).collect()
    };
    let aaaa = answer(Wire::plain("c1.lxd", 28));
    assert_eq!(aaaa, vec![RData::AAAA(leased.into())]);
    let nibbles: Vec<String> = leased
        .octets()
        .iter()
        .rev()
        .flat_map(|b| [format!("{:x}", b & 0xf), format!("{:x}", b >> 4)])
        .collect();
    let reverse = format!("{}.ip6.arpa", nibbles.join("."));
    let ptr = answer(Wire::plain(&reverse, 12));
    assert_eq!(ptr.len(), 1);
    assert!(ptr[0].to_string().starts_with("c1.lxd"), "{ptr:?}");
    // The A stays on the fast path; the AAAA does not take it.
    let bytes = Wire::plain("c1.lxd", 28).bytes();
    assert!(fast_answer(&bytes, LOCAL, &table, &config, &policy, T0 + 1).is_none());
    let bytes = Wire::plain("c1.lxd", 1).bytes();
    assert!(fast_answer(&bytes, LOCAL, &table, &config, &policy, T0 + 1).is_some());
}
