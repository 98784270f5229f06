//! Test support: an in-memory [`LeaseView`] with a small `apply`, a builder of
//! client packets, and the decode → decide → commit → finish loop the fuzz
//! target and the property tests drive. Compiled for tests and with the
//! `testing` feature only.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use raftmasq_state::{
    AddressRange, ClientId, ClusterSettings, Command, HostnamePolicy, Lease, LeaseRequest,
    LeaseState, MacAddr, Millis, Rejection, Reservation, Response,
};

use crate::context::{Arrival, BootFields, Context, ReplyOptions, Role, ServerConfig};
use crate::decide::{Decision, decide, finish};
use crate::decode::{MAGIC_COOKIE, MessageKind, decode};
use crate::offers::OfferBook;
use crate::options::max_reply_len;
use crate::reply::ReplyKind;
use crate::view::LeaseView;
use crate::wire;

/// Cluster settings for tests: 10.0.0.0/24, pool .10–.19, domain `lxd`, 1 h leases.
pub fn settings() -> ClusterSettings {
    ClusterSettings {
        subnet: "10.0.0.0/24".parse().expect("a valid subnet literal"),
        range: AddressRange {
            start: Ipv4Addr::new(10, 0, 0, 10),
            end: Ipv4Addr::new(10, 0, 0, 19),
        },
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
        role,
    }
}

/// An in-memory lease table that follows the `LeaseView` contract.
#[derive(Debug, Clone, Default)]
pub struct MemoryView {
    settings: Option<ClusterSettings>,
    leases: BTreeMap<ClientId, Lease>,
    by_address: BTreeMap<Ipv4Addr, ClientId>,
    reservations: BTreeMap<MacAddr, Reservation>,
    quarantine: BTreeMap<Ipv4Addr, Millis>,
}

impl MemoryView {
    pub fn new(settings: ClusterSettings) -> Self {
        MemoryView {
            settings: Some(settings),
            ..MemoryView::default()
        }
    }

    pub fn uninitialized() -> Self {
        MemoryView::default()
    }

    pub fn insert_lease(&mut self, lease: Lease) {
        self.remove_client(&lease.client_id);
        if let Some(previous) = self
            .by_address
            .insert(lease.address, lease.client_id.clone())
        {
            self.leases.remove(&previous);
        }
        self.leases.insert(lease.client_id.clone(), lease);
    }

    pub fn reserve(&mut self, reservation: Reservation) {
        self.reservations.insert(reservation.mac, reservation);
    }

    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.leases.values()
    }

    fn remove_client(&mut self, client: &ClientId) -> Option<Lease> {
        let lease = self.leases.remove(client)?;
        self.by_address.remove(&lease.address);
        Some(lease)
    }

    fn name_taken(&self, name: &str, client: &ClientId, now: Millis) -> bool {
        self.leases.values().any(|lease| {
            lease.client_id != *client
                && lease.expires_at > now
                && lease.granted_name.as_deref() == Some(name)
        })
    }

    fn grant_name(&self, wanted: Option<&str>, client: &ClientId, now: Millis) -> Option<String> {
        let base = wanted?.split('.').next()?.to_ascii_lowercase();
        if base.is_empty() {
            return None;
        }
        let policy = self.settings.as_ref()?.duplicate_hostnames;
        if !self.name_taken(&base, client, now) {
            return Some(base);
        }
        match policy {
            HostnamePolicy::Reject => None,
            HostnamePolicy::Suffix => (2..)
                .map(|n| format!("{base}-{n}"))
                .find(|name| !self.name_taken(name, client, now)),
        }
    }

    /// The lease-command subset of the state machine's contract, enough to run
    /// decide → commit → finish in tests.
    pub fn apply(&mut self, command: &Command) -> Response {
        let Some(settings) = self.settings.clone() else {
            return rejected(Rejection::NotInitialized);
        };
        match command {
            Command::Bind {
                request,
                now,
                lease_time_secs,
            } => self.bind(&settings, request, *now, *lease_time_secs),
            Command::Renew {
                client_id,
                address,
                now,
                lease_time_secs,
            } => {
                let secs = lease_time_secs.unwrap_or(settings.lease_time_secs);
                match self.leases.get_mut(client_id) {
                    Some(lease)
                        if lease.address == *address && lease.state == LeaseState::Bound =>
                    {
                        lease.granted_at = *now;
                        lease.expires_at = now + secs * 1000;
                        Response::Lease {
                            lease: lease.clone(),
                        }
                    }
                    _ => rejected(Rejection::NoSuchLease { address: *address }),
                }
            }
            Command::Release {
                client_id,
                mac,
                address,
                ..
            } => match self.by_address.get(address).cloned() {
                Some(holder)
                    if client_id.as_ref().is_none_or(|c| *c == holder)
                        && mac.is_none_or(|m| {
                            self.leases.get(&holder).is_some_and(|l| l.mac == m)
                        }) =>
                {
                    self.remove_client(&holder);
                    Response::Done
                }
                _ => rejected(Rejection::NoSuchLease { address: *address }),
            },
            Command::Decline {
                client_id,
                address,
                now,
            } => {
                if self.by_address.get(address) == Some(client_id) {
                    self.remove_client(client_id);
                }
                self.quarantine
                    .insert(*address, now + settings.decline_quarantine_secs * 1000);
                Response::Done
            }
            _ => Response::Done,
        }
    }

    fn bind(
        &mut self,
        settings: &ClusterSettings,
        request: &LeaseRequest,
        now: Millis,
        lease_time_secs: Option<u64>,
    ) -> Response {
        let address = match request.requested_address {
            Some(address) => {
                if !settings.subnet.contains(&address) {
                    return rejected(Rejection::OutsideSubnet { address });
                }
                if !self.is_available_to(&request.client_id, request.mac, address, now) {
                    return rejected(Rejection::AddressUnavailable { address });
                }
                address
            }
            None => match self.candidate_addresses(request, now).next() {
                Some(address) => address,
                None => return rejected(Rejection::PoolExhausted),
            },
        };
        let granted_name = self.grant_name(request.hostname.as_deref(), &request.client_id, now);
        let secs = lease_time_secs.unwrap_or(settings.lease_time_secs);
        let lease = Lease {
            address,
            client_id: request.client_id.clone(),
            mac: request.mac,
            requested_hostname: request.hostname.clone(),
            granted_name,
            state: LeaseState::Bound,
            granted_at: now,
            expires_at: now + secs * 1000,
            seen_by: request.seen_by,
        };
        self.insert_lease(lease.clone());
        Response::Lease { lease }
    }
}

fn rejected(reason: Rejection) -> Response {
    Response::Rejected { reason }
}

impl LeaseView for MemoryView {
    fn settings(&self) -> Option<&ClusterSettings> {
        self.settings.as_ref()
    }

    fn lease_by_client(&self, client: &ClientId) -> Option<&Lease> {
        self.leases.get(client)
    }

    fn lease_by_address(&self, address: Ipv4Addr) -> Option<&Lease> {
        self.leases.get(self.by_address.get(&address)?)
    }

    fn reservation_for_mac(&self, mac: MacAddr) -> Option<&Reservation> {
        self.reservations.get(&mac)
    }

    fn candidate_addresses<'a>(
        &'a self,
        request: &LeaseRequest,
        now: Millis,
    ) -> Box<dyn Iterator<Item = Ipv4Addr> + 'a> {
        self.candidate_addresses_from(request, now, Ipv4Addr::UNSPECIFIED)
    }

    fn candidate_addresses_from<'a>(
        &'a self,
        request: &LeaseRequest,
        now: Millis,
        from: Ipv4Addr,
    ) -> Box<dyn Iterator<Item = Ipv4Addr> + 'a> {
        let Some(settings) = self.settings.as_ref() else {
            return Box::new(std::iter::empty());
        };
        let client = request.client_id.clone();
        let mac = request.mac;
        let preferred: Vec<Ipv4Addr> = [
            self.reservation_for_mac(mac).map(|r| r.address),
            self.lease_by_client(&client).map(|l| l.address),
            request.requested_address,
        ]
        .into_iter()
        .flatten()
        .collect();
        let start = u32::from(settings.range.start).max(u32::from(from));
        let pool = (start..=u32::from(settings.range.end)).map(Ipv4Addr::from);
        Box::new(
            preferred
                .into_iter()
                .chain(pool)
                .filter(move |&address| self.is_available_to(&client, mac, address, now)),
        )
    }

    fn is_available_to(
        &self,
        client: &ClientId,
        mac: MacAddr,
        address: Ipv4Addr,
        now: Millis,
    ) -> bool {
        let Some(settings) = self.settings.as_ref() else {
            return false;
        };
        let reserved_for_us = self
            .reservation_for_mac(mac)
            .is_some_and(|r| r.address == address);
        let reserved_for_other = self
            .reservations
            .values()
            .any(|r| r.address == address && r.mac != mac);
        let leased_to_other = self
            .lease_by_address(address)
            .is_some_and(|l| l.client_id != *client && l.expires_at > now);
        let quarantined = self
            .quarantine
            .get(&address)
            .is_some_and(|&until| until > now);
        settings.subnet.contains(&address)
            && (settings.range.contains(address) || reserved_for_us)
            && !reserved_for_other
            && !leased_to_other
            && !quarantined
    }
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
/// arrivals, committing proposals in a fake table and finishing them. Panics
/// only if an invariant breaks (which is what a fuzzer looks for).
pub fn decode_and_decide(data: &[u8]) {
    let Ok(request) = decode(data) else {
        return;
    };
    let mut view = MemoryView::new(settings());
    view.insert_lease(Lease {
        address: Ipv4Addr::new(10, 0, 0, 12),
        client_id: request.client_id.clone(),
        mac: request.mac,
        requested_hostname: None,
        granted_name: Some("c1".into()),
        state: LeaseState::Bound,
        granted_at: 0,
        expires_at: 3_600_000,
        seen_by: Some(1),
    });
    let roles = [Role::LEADER, Role::FOLLOWER, Role::ISOLATED];
    for server in [server_config(), boot_server_config()] {
        let server = Arc::new(server);
        for arrival in [Arrival::Broadcast, Arrival::Unicast] {
            for role in roles {
                let context = Context {
                    server: Arc::clone(&server),
                    arrival,
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
