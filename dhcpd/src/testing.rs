//! Test support: lease tables built through the real `LeaseTable::apply`, a
//! builder of client packets, and the decode → decide → commit → finish loop
//! the fuzz target and the property tests drive. Compiled for tests and with the
//! `testing` feature only.

use std::net::Ipv4Addr;
use std::sync::Arc;

use raftmasq_state::{
    AddressRange, ClusterSettings, Command, HostnamePolicy, Lease, LeaseRequest, LeaseTable,
    MacAddr, Millis, Reservation, Response,
};

use crate::context::{Arrival, BootFields, Context, ReplyOptions, Role, ServerConfig};
use crate::decide::{Decision, decide, finish};
use crate::decode::{MAGIC_COOKIE, MessageKind, decode};
use crate::offers::OfferBook;
use crate::options::max_reply_len;
use crate::reply::ReplyKind;
use crate::wire;

/// Cluster settings for tests: 10.0.0.0/24, pool .10–.19, domain `lxd`, 1 h leases.
pub fn settings() -> ClusterSettings {
    ClusterSettings {
        subnet: "10.0.0.0/24".parse().expect("a valid subnet literal"),
        ranges: vec![AddressRange {
            start: Ipv4Addr::new(10, 0, 0, 10),
            end: Ipv4Addr::new(10, 0, 0, 19),
        }],
        domain: "lxd".into(),
        lease_time_secs: 3600,
        duplicate_hostnames: HostnamePolicy::Suffix,
        decline_quarantine_secs: 600,
        client_identity: Default::default(),
    }
}

/// Node 1 at 10.0.0.2 in a cluster of 10.0.0.2, .3 and .4.
pub fn server_config() -> ServerConfig {
    ServerConfig {
        node_id: 1,
        server_id: Ipv4Addr::new(10, 0, 0, 2),
        cluster_server_ids: vec![
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 3),
            Ipv4Addr::new(10, 0, 0, 4),
        ],
        options: ReplyOptions {
            routers: vec![Ipv4Addr::new(10, 0, 0, 1)],
            dns_servers: vec![
                Ipv4Addr::new(10, 0, 0, 2),
                Ipv4Addr::new(10, 0, 0, 3),
                Ipv4Addr::new(10, 0, 0, 4),
            ],
            lease_time_secs: None,
            offer_hold_ms: 30_000,
            operator: vec![(26, 1450u16.to_be_bytes().to_vec())],
            rapid_commit: true,
            boot: BootFields::default(),
        },
        members_complete: true,
        // The config's defaults.
        denied_hostnames: [
            "localhost",
            "localdomain",
            "ip6-localhost",
            "ip6-loopback",
            "wpad",
            "isatap",
        ]
        .map(String::from)
        .to_vec(),
        unknown_renewals_max_percent: 10,
    }
}

/// [`server_config`] with rapid commit off and boot fields set: a next
/// server, a `sname` that fits its field and a boot file that does not (so
/// option 67 stands in for `file`).
pub fn boot_server_config() -> ServerConfig {
    let mut config = server_config();
    config.options.rapid_commit = false;
    config.options.boot = BootFields {
        next_server: Some(Ipv4Addr::new(10, 0, 0, 5)),
        server_name: Some("tftp.lxd".into()),
        boot_file: Some(format!("boot/{}.efi", "x".repeat(150))),
    };
    config
}

pub fn context(arrival: Arrival, role: Role) -> Context {
    Context {
        server: Arc::new(server_config()),
        arrival,
        source: Ipv4Addr::UNSPECIFIED,
        role,
    }
}

/// A lease table initialised with [`settings`]: the real, pure state machine
/// (a fake would be one more thing to keep true to it).
pub fn table() -> LeaseTable {
    table_with(settings())
}

pub fn table_with(settings: ClusterSettings) -> LeaseTable {
    let mut table = LeaseTable::default();
    let response = table.apply(&Command::Initialize { settings });
    assert_eq!(response, Response::Done, "test settings are valid");
    table
}

/// Puts a bound lease for `request` (a strict `Bind` of its requested
/// address) into `table` through `apply`, timed so that it ends exactly at
/// `expires_at`: granted at the earliest moment at or after the table's
/// clock with the same millisecond phase. Panics if the table refuses it.
pub fn bind_until(table: &mut LeaseTable, request: LeaseRequest, expires_at: Millis) -> Lease {
    let last = table.last_now();
    assert!(
        expires_at > last,
        "a lease ending at {expires_at} cannot be bound after {last}"
    );
    let now = last + (expires_at - last) % 1000;
    let lease_time_secs = (expires_at - now) / 1000;
    match table.apply(&Command::Bind {
        request,
        now,
        lease_time_secs: Some(lease_time_secs),
    }) {
        Response::Lease { lease } => {
            assert_eq!(lease.expires_at, expires_at);
            lease
        }
        other => panic!("test lease refused: {other:?}"),
    }
}

/// Reserves `address` for `mac` through `apply`; panics if refused.
pub fn reserve(table: &mut LeaseTable, reservation: Reservation) {
    let response = table.apply(&Command::Reserve { reservation });
    assert_eq!(response, Response::Done, "test reservation refused");
}

/// Builds client packets byte by byte, malformed ones included.
#[derive(Debug, Clone)]
pub struct PacketBuilder {
    message_type: Option<u8>,
    mac: MacAddr,
    xid: u32,
    broadcast: bool,
    ciaddr: Ipv4Addr,
    giaddr: Ipv4Addr,
    options: Vec<u8>,
}

impl PacketBuilder {
    /// A message of DHCP type `message_type` (1 DISCOVER, 3 REQUEST, 4 DECLINE,
    /// 7 RELEASE, 8 INFORM) from `mac`.
    pub fn new(message_type: u8, mac: MacAddr) -> Self {
        PacketBuilder {
            message_type: Some(message_type),
            mac,
            xid: 0x1234_5678,
            broadcast: false,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            options: Vec::new(),
        }
    }

    pub fn message_type(mut self, message_type: Option<u8>) -> Self {
        self.message_type = message_type;
        self
    }

    pub fn xid(mut self, xid: u32) -> Self {
        self.xid = xid;
        self
    }

    pub fn broadcast(mut self) -> Self {
        self.broadcast = true;
        self
    }

    pub fn ciaddr(mut self, ciaddr: Ipv4Addr) -> Self {
        self.ciaddr = ciaddr;
        self
    }

    pub fn giaddr(mut self, giaddr: Ipv4Addr) -> Self {
        self.giaddr = giaddr;
        self
    }

    /// Appends an option as given (values over 255 bytes are split, RFC 3396).
    pub fn option(mut self, code: u8, data: &[u8]) -> Self {
        wire::write(&mut self.options, code, data);
        self
    }

    /// Appends raw bytes to the option area, e.g. a deliberately broken option.
    pub fn raw_options(mut self, bytes: &[u8]) -> Self {
        self.options.extend_from_slice(bytes);
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let mut bytes = vec![0u8; 236];
        bytes[0] = 1; // BOOTREQUEST
        bytes[1] = 1; // Ethernet
        bytes[2] = 6;
        bytes[4..8].copy_from_slice(&self.xid.to_be_bytes());
        if self.broadcast {
            bytes[10] = 0x80;
        }
        bytes[12..16].copy_from_slice(&self.ciaddr.octets());
        bytes[24..28].copy_from_slice(&self.giaddr.octets());
        bytes[28..34].copy_from_slice(&self.mac.0);
        bytes.extend_from_slice(&MAGIC_COOKIE);
        if let Some(message_type) = self.message_type {
            bytes.extend_from_slice(&[53, 1, message_type]);
        }
        bytes.extend_from_slice(&self.options);
        bytes.push(wire::END);
        bytes
    }
}

/// The options of a reply (or request) packet, for assertions.
pub fn packet_options(packet: &[u8]) -> Option<wire::RawOptions> {
    wire::scan(
        packet.get(240..)?,
        packet.get(108..236)?,
        packet.get(44..108)?,
    )
    .ok()
}

/// Everything one fuzz input drives: decode, then decide in several roles and
/// arrivals, committing proposals in a copy of the table and finishing them. Panics
/// only if an invariant breaks (which is what a fuzzer looks for).
pub fn decode_and_decide(data: &[u8]) {
    let Ok(request) = decode(data) else {
        return;
    };
    let mut view = table();
    // The client holds a lease, if the table takes one for it.
    let _ = view.apply(&Command::Bind {
        request: LeaseRequest {
            client_id: request.client_id.clone(),
            mac: request.mac,
            hostname: Some("c1".into()),
            requested_address: Some(Ipv4Addr::new(10, 0, 0, 12)),
            seen_by: Some(1),
        },
        now: 0,
        lease_time_secs: Some(3600),
    });
    let roles = [Role::LEADER, Role::FOLLOWER, Role::ISOLATED];
    for server in [server_config(), boot_server_config()] {
        let server = Arc::new(server);
        for arrival in [Arrival::Broadcast, Arrival::Unicast] {
            for role in roles {
                let context = Context {
                    server: Arc::clone(&server),
                    arrival,
                    source: Ipv4Addr::UNSPECIFIED,
                    role,
                };
                let mut offers = OfferBook::new();
                match decide(&view, &request, &context, &mut offers, 1_000) {
                    Decision::Ignore(_) => {}
                    Decision::Reply(reply) => {
                        assert!(
                            !matches!(reply.kind, ReplyKind::Ack | ReplyKind::RapidCommitAck),
                            "an ACK of a lease without a commit"
                        );
                        check_reply(&request, &reply);
                    }
                    Decision::Propose(proposal) => {
                        assert!(role.has_quorum, "no command without quorum");
                        let mut table = view.clone();
                        let response = table.apply(&proposal.command);
                        if let Some(reply) = proposal.pending.and_then(|p| finish(p, &response)) {
                            let rapid = request.kind == MessageKind::Discover
                                && request.rapid_commit
                                && server.options.rapid_commit;
                            assert_eq!(
                                reply.kind == ReplyKind::RapidCommitAck,
                                rapid,
                                "a rapid-commit ACK answers exactly a DISCOVER with option 80"
                            );
                            check_reply(&request, &reply);
                        }
                    }
                }
            }
        }
    }
}

fn check_reply(request: &crate::decode::ClientRequest, reply: &crate::reply::Reply) {
    assert!(
        reply.packet.len() <= max_reply_len(request),
        "reply above the client's maximum size"
    );
    assert_eq!(reply.xid, request.xid);
    let options = packet_options(&reply.packet);
    let message_type = options.as_ref().and_then(|o| o.get(53).map(<[u8]>::to_vec));
    assert_eq!(message_type, Some(vec![reply.kind.message_type()]));
    // RFC 4039 §4: option 80 (empty) in the rapid-commit ACK and nowhere else.
    let rapid_commit = options.as_ref().and_then(|o| o.get(80).map(<[u8]>::to_vec));
    if reply.kind == ReplyKind::RapidCommitAck {
        assert_eq!(
            rapid_commit,
            Some(Vec::new()),
            "rapid-commit ACK without option 80"
        );
    } else {
        assert_eq!(rapid_commit, None, "option 80 in a {:?}", reply.kind);
    }
}
