//! The server's decision for one client message (RFC 2131 §4.3), pure: the
//! lease table, the request, the context, the offer book and the time in; a
//! reply, a command to commit, or a counted reason for silence out.
//!
//! Over 600 lines on purpose: it is RFC 2131 §4.3's table read top to bottom
//! (classify the message, then one `Decider` step per message kind, then
//! `finish` for the committed answer), and each rule sits beside the reason
//! it counts when it stays silent; its tests are in `decide/tests.rs`.

use std::borrow::Cow;
use std::net::Ipv4Addr;
use std::sync::Arc;

use raftmasq_state::{
    ClientId, ClientIdentity, ClusterSettings, Command, LeaseRequest, LeaseState, LeaseTable,
    Millis, Response,
};
use tracing::{info, warn};

use crate::context::{Arrival, Context, ServerConfig};
use crate::decode::{ClientRequest, MessageKind};
use crate::offers::OfferBook;
use crate::options::Naming;
use crate::relay;
use crate::reply::{self, BuildError, NakReason, Network, Reply, ReplyKind, ReplySpec};
use crate::unknown_renewals;

/// The client state a DHCPREQUEST is sent from (RFC 2131 §4.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestState {
    /// Answering our OFFER: server id set, ciaddr zero.
    Selecting,
    /// Rebooted with a remembered address: option 50 set, no server id, ciaddr zero.
    InitReboot,
    /// T1 passed: ciaddr set, unicast to the server that granted the lease.
    Renewing,
    /// T2 passed: ciaddr set, broadcast (or relayed) to any server.
    Rebinding,
}

impl RequestState {
    pub fn label(&self) -> &'static str {
        match self {
            RequestState::Selecting => "selecting",
            RequestState::InitReboot => "init_reboot",
            RequestState::Renewing => "renewing",
            RequestState::Rebinding => "rebinding",
        }
    }
}

/// Why no reply and no command. Each variant is a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// This node is a learner: it never answers DHCP, in any mode, so a
    /// learner's bridge address is never a client's server identifier (its
    /// containers are served by the leader over the shared segment).
    Learner,
    /// The cluster has no settings yet.
    NotInitialized,
    /// Some member's bridge address is not known yet, so the DNS server list
    /// would leave out a host (`ServerConfig::members_complete`).
    MembersIncomplete,
    /// Relayed (or asking by option 118) for a link outside this network's
    /// subnet: the link selection, subnet selection or giaddr names another.
    ForeignRelay,
    /// A broadcast or relayed message, and this node is not the leader.
    NotLeader,
    /// SELECTING for another server's offer: the client chose someone else.
    OtherServerSelected,
    /// A RENEWING/REBINDING/RELEASE/DECLINE naming a server that is not ours.
    ForOtherServer,
    /// DECLINE without option 50, or SELECTING without option 50 from a
    /// client that has no pending offer here.
    MissingRequestedAddress,
    /// A rapid-commit Bind was refused, committed another address, or its ACK
    /// could not be built: RFC 2131 allows no NAK to a DISCOVER, so the client
    /// is left to retransmit. Counted by the server loop after `finish`.
    RapidCommitUnanswered,
    /// A REQUEST matching no client state (no server id, option 50 or ciaddr).
    UnclassifiableRequest,
    /// RELEASE without ciaddr.
    ReleaseWithoutAddress,
    /// RELEASE of a lease this client does not hold: another identity or
    /// another MAC holds it, or nobody does.
    ReleaseNotOwner,
    /// RELEASE unicast from an IP address that is not the lease's (RFC 2131
    /// §4.4.6: the client releases from the address it gives back).
    ReleaseWrongSource,
    /// DECLINE of a lease this client does not hold: another identity or
    /// another MAC holds it, or nobody does.
    DeclineNotOwner,
    /// INIT-REBOOT from a client we have no record of: another server's client
    /// (RFC 2131 §4.3.2: MUST remain silent).
    UnknownClient,
    /// REBINDING for a lease we know nothing of: another server may own it.
    UnknownLease,
    /// No address left to offer.
    PoolExhausted,
    /// A DISCOVER from a client without a reservation on a network that has
    /// no dynamic range (reservations and INFORM only): silence, as dnsmasq
    /// gives ("no address range available"), and not an exhausted pool.
    NoDynamicRange,
    /// No quorum: DISCOVER cannot be given a new address.
    NoQuorumDiscover,
    /// No quorum: SELECTING or INIT-REBOOT would need a new Bind.
    NoQuorumBind,
    /// No quorum: RENEWING/REBINDING without a bound, unexpired lease here.
    NoQuorumNoLease,
    /// No quorum: the RELEASE cannot be committed.
    NoQuorumRelease,
    /// No quorum: the DECLINE cannot be committed.
    NoQuorumDecline,
    /// No quorum: INFORM is not answered in degraded mode.
    NoQuorumInform,
    /// The options the protocol requires do not fit the client's maximum size.
    ReplyTooLarge,
    /// dhcproto refused to encode the reply.
    EncodeFailed,
}

impl IgnoreReason {
    /// Ignored because the message would have changed another client's lease:
    /// a forgery, or a clone of a container. Logged as well as counted.
    pub fn is_foreign_lease_change(&self) -> bool {
        matches!(
            self,
            IgnoreReason::ReleaseNotOwner
                | IgnoreReason::ReleaseWrongSource
                | IgnoreReason::DeclineNotOwner
        )
    }

    /// Ignored because only a leader with a quorum may answer it, which
    /// this node is not right now: the next leader should (`server/held.rs`).
    pub fn awaits_a_leader(&self) -> bool {
        matches!(
            self,
            IgnoreReason::NotLeader
                | IgnoreReason::NoQuorumDiscover
                | IgnoreReason::NoQuorumBind
                | IgnoreReason::NoQuorumNoLease
                | IgnoreReason::NoQuorumRelease
                | IgnoreReason::NoQuorumDecline
                | IgnoreReason::NoQuorumInform
        )
    }

    pub fn label(&self) -> &'static str {
        match self {
            IgnoreReason::Learner => "learner",
            IgnoreReason::NotInitialized => "not_initialized",
            IgnoreReason::MembersIncomplete => "members_incomplete",
            IgnoreReason::ForeignRelay => "foreign_relay",
            IgnoreReason::NotLeader => "not_leader",
            IgnoreReason::OtherServerSelected => "other_server_selected",
            IgnoreReason::ForOtherServer => "for_other_server",
            IgnoreReason::MissingRequestedAddress => "missing_requested_address",
            IgnoreReason::RapidCommitUnanswered => "rapid_commit_unanswered",
            IgnoreReason::UnclassifiableRequest => "unclassifiable_request",
            IgnoreReason::ReleaseWithoutAddress => "release_without_address",
            IgnoreReason::ReleaseNotOwner => "release_not_owner",
            IgnoreReason::ReleaseWrongSource => "release_wrong_source",
            IgnoreReason::DeclineNotOwner => "decline_not_owner",
            IgnoreReason::UnknownClient => "unknown_client",
            IgnoreReason::UnknownLease => "unknown_lease",
            IgnoreReason::PoolExhausted => "pool_exhausted",
            IgnoreReason::NoDynamicRange => "no_dynamic_range",
            IgnoreReason::NoQuorumDiscover => "no_quorum_discover",
            IgnoreReason::NoQuorumBind => "no_quorum_bind",
            IgnoreReason::NoQuorumNoLease => "no_quorum_no_lease",
            IgnoreReason::NoQuorumRelease => "no_quorum_release",
            IgnoreReason::NoQuorumDecline => "no_quorum_decline",
            IgnoreReason::NoQuorumInform => "no_quorum_inform",
            IgnoreReason::ReplyTooLarge => "reply_too_large",
            IgnoreReason::EncodeFailed => "encode_failed",
        }
    }
}

impl From<BuildError> for IgnoreReason {
    fn from(error: BuildError) -> Self {
        match error {
            BuildError::TooLarge => IgnoreReason::ReplyTooLarge,
            BuildError::Encode => IgnoreReason::EncodeFailed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Ignore(IgnoreReason),
    /// Send now; nothing to commit.
    Reply(Reply),
    /// Commit `command` through Raft; then, if there is a pending reply, turn
    /// the committed response into an ACK or NAK with [`finish`]. If the
    /// command cannot be committed, stay silent: the client retries.
    Propose(DhcpProposal),
}

/// A command for the caller to commit and the reply waiting on it (one
/// command: the leader's batcher puts it into a `raftmasq_state::Proposal`,
/// the Raft entry, with others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpProposal {
    pub command: Command,
    pub pending: Option<PendingReply>,
}

/// An ACK or NAK waiting for its command's committed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReply {
    // Boxed: a decision is moved around whole, and most are not proposals.
    request: Box<ClientRequest>,
    server: Arc<ServerConfig>,
    network: Network,
    /// The address the ACK must carry.
    address: Ipv4Addr,
    /// [`ReplyKind::Ack`], or [`ReplyKind::RapidCommitAck`] for a DISCOVER.
    kind: ReplyKind,
    now: Millis,
}

impl PendingReply {
    pub fn request(&self) -> &ClientRequest {
        &self.request
    }

    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The kind of ACK a committed lease turns into.
    pub fn kind(&self) -> ReplyKind {
        self.kind
    }
}

#[cfg(test)]
thread_local! {
    /// Candidate addresses `address_to_offer` pulled from the table on this
    /// thread: the tests measure the next-fit scan's work per DISCOVER with it.
    pub(crate) static CANDIDATES_PULLED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Counts one candidate pulled from the table, in tests; nothing otherwise.
#[inline]
fn count_candidate_pulled(_: &Ipv4Addr) {
    #[cfg(test)]
    CANDIDATES_PULLED.with(|pulled| pulled.set(pulled.get() + 1));
}

/// Decides what to do with one decoded client message.
pub fn decide(
    table: &LeaseTable,
    request: &ClientRequest,
    context: &Context,
    offers: &mut OfferBook,
    now: Millis,
) -> Decision {
    offers.purge_expired(now);
    match decide_inner(table, request, context, offers, now) {
        Ok(decision) => decision,
        Err(reason) => Decision::Ignore(reason),
    }
}

/// What the message asks for, once classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Discover,
    Request(RequestState, Ipv4Addr),
    /// SELECTING for our offer, but without option 50 (RFC 2131 §4.3.2 says
    /// MUST; some relays and clients omit it).
    SelectingWithoutAddress,
    Decline(Ipv4Addr),
    Release(Ipv4Addr),
    Inform,
}

/// Did the message reach every node (broadcast, or relayed from a broadcast)?
fn is_broadcast(request: &ClientRequest, arrival: Arrival) -> bool {
    arrival == Arrival::Broadcast || request.is_relayed()
}

/// RFC 2131 §4.3.2's state detection, from server id, option 50, ciaddr and arrival.
pub fn request_state(request: &ClientRequest, arrival: Arrival) -> Option<RequestState> {
    let has_ciaddr = !request.ciaddr.is_unspecified();
    match (request.server_id, request.requested_address, has_ciaddr) {
        (Some(_), _, false) => Some(RequestState::Selecting),
        (None, Some(_), false) => Some(RequestState::InitReboot),
        (_, _, true) if is_broadcast(request, arrival) => Some(RequestState::Rebinding),
        (_, _, true) => Some(RequestState::Renewing),
        (None, None, false) => None,
    }
}

fn classify(request: &ClientRequest, context: &Context) -> Result<Step, IgnoreReason> {
    let server = &context.server;
    let for_us = request.server_id.is_none_or(|id| server.is_ours(id));
    match request.kind {
        MessageKind::Discover => Ok(Step::Discover),
        MessageKind::Inform => Ok(Step::Inform),
        MessageKind::Release => {
            if !for_us {
                return Err(IgnoreReason::ForOtherServer);
            }
            if request.ciaddr.is_unspecified() {
                return Err(IgnoreReason::ReleaseWithoutAddress);
            }
            Ok(Step::Release(request.ciaddr))
        }
        MessageKind::Decline => {
            if !for_us {
                return Err(IgnoreReason::ForOtherServer);
            }
            let address = request
                .requested_address
                .ok_or(IgnoreReason::MissingRequestedAddress)?;
            Ok(Step::Decline(address))
        }
        MessageKind::Request => {
            let state = request_state(request, context.arrival)
                .ok_or(IgnoreReason::UnclassifiableRequest)?;
            match state {
                RequestState::Selecting => {
                    if !for_us {
                        return Err(IgnoreReason::OtherServerSelected);
                    }
                    Ok(request
                        .requested_address
                        .map_or(Step::SelectingWithoutAddress, |address| {
                            Step::Request(state, address)
                        }))
                }
                RequestState::InitReboot => {
                    let address = request
                        .requested_address
                        .ok_or(IgnoreReason::MissingRequestedAddress)?;
                    Ok(Step::Request(state, address))
                }
                RequestState::Renewing | RequestState::Rebinding => {
                    // RFC 2131 says no server id here; some clients send one anyway.
                    if !for_us {
                        return Err(IgnoreReason::ForOtherServer);
                    }
                    Ok(Step::Request(state, request.ciaddr))
                }
            }
        }
    }
}

/// Messages only the leader answers: everything every node sees (broadcast or
/// relayed) and everything that hands out an address (it needs the leader's
/// offer book).
fn leader_only(step: Step, request: &ClientRequest, arrival: Arrival) -> bool {
    is_broadcast(request, arrival)
        || matches!(
            step,
            Step::Discover
                | Step::SelectingWithoutAddress
                | Step::Request(RequestState::Selecting | RequestState::InitReboot, _)
        )
}

fn decide_inner(
    table: &LeaseTable,
    request: &ClientRequest,
    context: &Context,
    offers: &mut OfferBook,
    now: Millis,
) -> Result<Decision, IgnoreReason> {
    if !context.role.is_voter {
        return Err(IgnoreReason::Learner);
    }
    let settings = table.settings().ok_or(IgnoreReason::NotInitialized)?;
    if !context.server.members_complete {
        return Err(IgnoreReason::MembersIncomplete);
    }
    let identified = identified(request, settings.client_identity);
    let request = &*identified;
    // RFC 3527 / RFC 3011 / giaddr: the link the client is on must be this
    // network's (the relay listener chose the network by the same address).
    if let Some(link) = relay::link_address(request)
        && !settings.subnet.contains(&link)
    {
        return Err(IgnoreReason::ForeignRelay);
    }
    // RFC 5107: a relay's server identifier override is ours for this request.
    let overridden;
    let context = match relay::server_for(request, &context.server) {
        Cow::Borrowed(_) => context,
        Cow::Owned(server) => {
            overridden = Context {
                server,
                ..context.clone()
            };
            &overridden
        }
    };
    let step = match classify(request, context) {
        Ok(step) => step,
        Err(IgnoreReason::OtherServerSelected) => {
            // RFC 2131 §4.3.2: the client took another server's offer; ours is free again.
            offers.withdraw(&request.client_id);
            return Err(IgnoreReason::OtherServerSelected);
        }
        Err(reason) => return Err(reason),
    };
    let decider = Decider {
        table,
        request,
        server: &context.server,
        settings,
        network: Network::from_settings(settings),
        now,
    };
    if !context.role.has_quorum {
        return decider.degraded(step);
    }
    if leader_only(step, request, context.arrival) && !context.role.is_leader {
        return Err(IgnoreReason::NotLeader);
    }
    let rapid_commit = request.rapid_commit && context.server.options.rapid_commit;
    match step {
        Step::Discover if rapid_commit => decider.rapid_commit(offers),
        Step::Discover => decider.discover(offers),
        Step::Request(RequestState::Selecting, address) => Ok(decider.bind(address)),
        Step::SelectingWithoutAddress => decider.selecting_pending_offer(offers),
        Step::Request(RequestState::InitReboot, address) => decider.init_reboot(address),
        Step::Request(state, address) => decider.renew(state, address, offers),
        Step::Decline(address) => {
            // RFC 2131 §4.3.3: option 50 names the address found in use, and
            // only the client it was leased to may give it up; its identity
            // AND MAC must match, as for a RELEASE (client ids are visible in
            // every broadcast on the bridge). The state machine checks the
            // same on the committed state.
            if !owns(table, request, address) {
                return Err(IgnoreReason::DeclineNotOwner);
            }
            offers.withdraw(&request.client_id);
            Ok(Decision::Propose(DhcpProposal {
                command: Command::Decline {
                    client_id: request.client_id.clone(),
                    mac: Some(request.mac),
                    address,
                    now,
                },
                pending: None,
            }))
        }
        Step::Release(address) => {
            // RFC 2131 §4.3.4 identifies the lease by client identifier and
            // ciaddr. Option 54 is not required (networkd omits it): the
            // owner's identity AND MAC must match instead, so that a copied
            // option 61 from another MAC frees nothing. The state machine
            // checks the same on the committed state; this check only spares
            // the log a write that would be refused.
            if !owns(table, request, address) {
                return Err(IgnoreReason::ReleaseNotOwner);
            }
            // §4.4.6: the client unicasts its RELEASE from the address it
            // gives back. One that comes from another address on the bridge
            // (not 0.0.0.0, not a relay) is someone else's, whatever chaddr says.
            let from_another_address = !context.source.is_unspecified()
                && !request.is_relayed()
                && context.source != address;
            if from_another_address {
                return Err(IgnoreReason::ReleaseWrongSource);
            }
            offers.withdraw(&request.client_id);
            Ok(Decision::Propose(DhcpProposal {
                command: Command::Release {
                    client_id: Some(request.client_id.clone()),
                    mac: Some(request.mac),
                    address,
                    now,
                },
                pending: None,
            }))
        }
        Step::Inform => decider.inform(),
    }
}

/// Whether the lease on `address` is the requesting client's: its identity
/// and its MAC. Under `dhcp.client_identity = "mac"` the identity is the MAC,
/// so both say the same; under `client-id` a copied option 61 is not enough.
fn owns(table: &LeaseTable, request: &ClientRequest, address: Ipv4Addr) -> bool {
    table
        .lease_by_address(address)
        .is_some_and(|lease| lease.client_id == request.client_id && lease.mac == request.mac)
}

/// How much earlier than a follower heard a broadcast the leader may have
/// stamped the lease that answered it: both hear it at once, but the leader
/// reads its clock first thing and the follower's loop may run later, on a
/// clock a few milliseconds off.
pub const ANSWER_SLACK_MS: Millis = 1_000;

/// Whether the client's lease was committed (granted or renewed) after
/// `heard_at`: a request heard then, held by a follower, was answered by the
/// leader of the time, and answering it again would extend a lease nobody
/// asked to extend, or undo what the client did since (a RELEASE replayed
/// after it took a new lease). `server/held.rs`.
///
/// A DISCOVER or REQUEST answered by a bind is stamped at about the moment
/// it was heard, so a lease up to [`ANSWER_SLACK_MS`] older counts; skipping
/// one wrongly costs the client one retransmission. A RELEASE or DECLINE
/// comes before any lease that follows it, by a whole exchange, so only a
/// later lease counts.
pub fn answered_since(table: &LeaseTable, request: &ClientRequest, heard_at: Millis) -> bool {
    let Some(settings) = table.settings() else {
        return false;
    };
    let since = match request.kind {
        MessageKind::Discover | MessageKind::Request => heard_at.saturating_sub(ANSWER_SLACK_MS),
        MessageKind::Decline | MessageKind::Release | MessageKind::Inform => heard_at,
    };
    let request = identified(request, settings.client_identity);
    table
        .lease_by_client(&request.client_id)
        .is_some_and(|lease| lease.granted_at >= since)
}

/// The request as the cluster identifies its client: unchanged under
/// `client-id`; under `mac` the lease key is the hardware address and option 61
/// is ignored for identity (dnsmasq's `--dhcp-ignore-clid`). Option 61 is still
/// echoed in the reply as sent (RFC 6842).
fn identified(request: &ClientRequest, identity: ClientIdentity) -> Cow<'_, ClientRequest> {
    match identity {
        ClientIdentity::ClientId => Cow::Borrowed(request),
        ClientIdentity::Mac => {
            let mut by_mac = request.clone();
            by_mac.client_id = ClientId::keyed(identity, Some(&request.client_id), request.mac);
            Cow::Owned(by_mac)
        }
    }
}

/// The inputs of one decision, so that each handler stays short.
struct Decider<'a> {
    table: &'a LeaseTable,
    request: &'a ClientRequest,
    server: &'a Arc<ServerConfig>,
    settings: &'a ClusterSettings,
    network: Network,
    now: Millis,
}

impl Decider<'_> {
    /// What the state machine is asked to bind. A hostname on the deny list
    /// (`dhcp.denied_hostnames`) is left out here, on the node that decides,
    /// so the command in the log carries no such name and every replica
    /// applies the same thing; names the zone itself holds (static records,
    /// name servers) the state machine refuses, since only it knows them as
    /// of the moment the command applies.
    fn lease_request(&self, address: Option<Ipv4Addr>) -> LeaseRequest {
        let hostname = self
            .request
            .requested_hostname()
            .filter(|name| !self.server.denies_hostname(name));
        LeaseRequest {
            client_id: self.request.client_id.clone(),
            mac: self.request.mac,
            hostname: hostname.map(str::to_string),
            requested_address: address,
            seen_by: Some(self.server.node_id),
        }
    }

    fn lease_time_secs(&self) -> u64 {
        self.server
            .options
            .lease_time_secs
            .unwrap_or(self.settings.lease_time_secs)
    }

    fn reply(&self, spec: ReplySpec<'_>) -> Result<Decision, IgnoreReason> {
        let reply = reply::build(self.request, self.server, &self.network, spec)?;
        Ok(Decision::Reply(reply))
    }

    fn nak(&self, reason: NakReason) -> Result<Decision, IgnoreReason> {
        self.reply(nak_spec(reason, None))
    }

    /// RFC 2131 §4.3.1: DISCOVER → OFFER, held in the offer book, not replicated.
    fn discover(&self, offers: &mut OfferBook) -> Result<Decision, IgnoreReason> {
        let (address, advance) = self.address_to_offer(offers)?;
        let lease_secs = secs_u32(self.lease_time_secs());
        let decision = self.reply(ReplySpec {
            kind: ReplyKind::Offer,
            nak_reason: None,
            yiaddr: address,
            lease_secs: Some(lease_secs),
            naming: Naming::None,
            message: None,
        })?;
        self.hold(offers, address, advance);
        Ok(decision)
    }

    /// RFC 4039: a DISCOVER with option 80 → `Bind` of the address an OFFER
    /// would carry → an ACK with option 80, built by [`finish`] from the
    /// committed lease only. The address is held in the offer book until then,
    /// so no DISCOVER decided before the commit is offered it too.
    fn rapid_commit(&self, offers: &mut OfferBook) -> Result<Decision, IgnoreReason> {
        let (address, advance) = self.address_to_offer(offers)?;
        self.hold(offers, address, advance);
        Ok(self.bind_answering(address, ReplyKind::RapidCommitAck))
    }

    /// A SELECTING REQUEST for our offer that omits option 50: like Kea, bind
    /// the address this client was offered, if its offer is still held;
    /// otherwise there is nothing to go on, so stay silent.
    fn selecting_pending_offer(&self, offers: &OfferBook) -> Result<Decision, IgnoreReason> {
        let address = offers
            .offer_for(&self.request.client_id, self.now)
            .ok_or(IgnoreReason::MissingRequestedAddress)?;
        info!(
            client_mac = %self.request.mac,
            xid = self.request.xid,
            ip = %address,
            "lenient: REQUEST for our offer without option 50 (RFC 2131 4.3.2 MUST); binding the pending offer"
        );
        Ok(self.bind(address))
    }

    /// The address to offer `self.request`'s client, and whether the next-fit
    /// scan moves past it.
    fn address_to_offer(&self, offers: &OfferBook) -> Result<(Ipv4Addr, bool), IgnoreReason> {
        let (client, mac, now) = (&self.request.client_id, self.request.mac, self.now);
        let available = |address: Ipv4Addr| self.table.is_available_to(client, mac, address, now);
        let lease_request = self.lease_request(self.request.requested_address);
        let offerable =
            |address: Ipv4Addr| !offers.held_for_other(address, client, now) && available(address);
        // The same client re-DISCOVERing is offered the same address. Others
        // are offered next-fit: the free scan starts where the last one ended,
        // so the addresses held by recent offers (a DISCOVER flood holds
        // thousands) are not walked again on every DISCOVER; past the end of
        // the range it wraps around.
        let start = offers.scan_start();
        match offers.offer_for(client, now).filter(|&a| available(a)) {
            Some(address) => Ok((address, false)),
            None => match self
                .table
                .candidate_addresses_from(&lease_request, now, start)
                .inspect(count_candidate_pulled)
                .find(|&a| offerable(a))
            {
                // A preferred address (current lease, hint, previous) may lie below.
                Some(address) => Ok((address, address >= start)),
                None => {
                    let wrapped = self
                        .table
                        .candidate_addresses(&lease_request, now)
                        .inspect(count_candidate_pulled)
                        .find(|&a| offerable(a));
                    let none_left = if self.settings.ranges.is_empty() {
                        IgnoreReason::NoDynamicRange
                    } else {
                        IgnoreReason::PoolExhausted
                    };
                    Ok((wrapped.ok_or(none_left)?, true))
                }
            },
        }
    }

    /// Holds `address` for the client for `offer_hold_ms`.
    fn hold(&self, offers: &mut OfferBook, address: Ipv4Addr, advance: bool) {
        let hold = self.server.options.offer_hold_ms;
        offers.hold(
            self.request.client_id.clone(),
            address,
            self.now.saturating_add(hold),
        );
        if advance {
            offers.scan_past(address);
        }
    }

    /// SELECTING (our offer taken) and INIT-REBOOT (checked): bind exactly `address`.
    fn bind(&self, address: Ipv4Addr) -> Decision {
        self.bind_answering(address, ReplyKind::Ack)
    }

    /// A strict `Bind` of `address`, answered by an ACK of `kind` once committed.
    fn bind_answering(&self, address: Ipv4Addr, kind: ReplyKind) -> Decision {
        Decision::Propose(DhcpProposal {
            command: Command::Bind {
                request: self.lease_request(Some(address)),
                now: self.now,
                lease_time_secs: self.server.options.lease_time_secs,
            },
            pending: Some(self.pending(address, kind)),
        })
    }

    /// RFC 2131 §4.3.2 INIT-REBOOT: wrong network → NAK; no record of the
    /// client → silent; the client's notion of its address wrong → NAK.
    fn init_reboot(&self, address: Ipv4Addr) -> Result<Decision, IgnoreReason> {
        if !self.settings.subnet.contains(&address) {
            return self.nak(NakReason::WrongSubnet);
        }
        let (client, mac) = (&self.request.client_id, self.request.mac);
        let recorded = self
            .table
            .reservation_for_mac(mac)
            .map(|reservation| reservation.address)
            .or_else(|| {
                self.table
                    .lease_by_client(client)
                    .map(|lease| lease.address)
            })
            .ok_or(IgnoreReason::UnknownClient)?;
        if recorded != address {
            return self.nak(NakReason::WrongAddress);
        }
        if !self.table.is_available_to(client, mac, address, self.now) {
            return self.nak(NakReason::Unavailable);
        }
        Ok(self.bind(address))
    }

    /// RFC 2131 §4.3.2 RENEWING and REBINDING: extend the lease on `ciaddr`.
    fn renew(
        &self,
        state: RequestState,
        address: Ipv4Addr,
        offers: &mut OfferBook,
    ) -> Result<Decision, IgnoreReason> {
        if !self.settings.subnet.contains(&address) {
            return self.nak(NakReason::WrongSubnet);
        }
        let client = &self.request.client_id;
        let holder = self.table.lease_by_address(address);
        if holder.is_some_and(|lease| lease.client_id != *client && lease.expires_at > self.now) {
            return self.nak(NakReason::HeldByOther);
        }
        if holder.is_none() && self.table.lease_by_client(client).is_none() {
            if state == RequestState::Rebinding {
                // Broadcast, so maybe another server's client: stay silent.
                return Err(IgnoreReason::UnknownLease);
            }
            // Unicast to us for a lease we have no record of: a client moved
            // over from dnsmasq, or a restored cluster. Be authoritative like
            // dnsmasq's --dhcp-authoritative (which LXD sets): bind exactly
            // that address if it is free for this client, NAK otherwise, so a
            // running container keeps its address instead of starting over.
            return self.bind_unknown(address, offers);
        }
        Ok(Decision::Propose(DhcpProposal {
            command: Command::Renew {
                client_id: client.clone(),
                address,
                now: self.now,
                lease_time_secs: self.server.options.lease_time_secs,
            },
            pending: Some(self.pending(address, ReplyKind::Ack)),
        }))
    }

    /// The authoritative bind of a renewal for an address nobody holds, within
    /// this node's part of the budget (`unknown_renewals`): past it, or for an address not
    /// free for this client, a NAK sends the client back to DISCOVER.
    fn bind_unknown(
        &self,
        address: Ipv4Addr,
        offers: &mut OfferBook,
    ) -> Result<Decision, IgnoreReason> {
        let (client, mac) = (&self.request.client_id, self.request.mac);
        if !self.table.is_available_to(client, mac, address, self.now) {
            return self.nak(NakReason::Unavailable);
        }
        let pool = self.settings.pool_size();
        let nodes = self.server.cluster_server_ids.len();
        let percent = self.server.unknown_renewals_max_percent;
        let limit = unknown_renewals::per_node_limit(pool, percent, nodes);
        let window_ms = self.lease_time_secs().saturating_mul(1000);
        if !offers.unknown_renewals.try_take(limit, window_ms, self.now) {
            return self.nak(NakReason::UnknownRenewalLimit);
        }
        Ok(self.bind(address))
    }

    /// RFC 2131 §4.3.5: configuration only; no lease time, yiaddr zero, to ciaddr.
    fn inform(&self) -> Result<Decision, IgnoreReason> {
        self.reply(ReplySpec {
            kind: ReplyKind::InformAck,
            nak_reason: None,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            lease_secs: None,
            naming: Naming::None,
            message: None,
        })
    }

    /// Without quorum nothing is granted or written. A lease this replica shows
    /// bound to the client and unexpired is confirmed for its remaining time
    /// only, so running containers keep their addresses through a partition.
    fn degraded(&self, step: Step) -> Result<Decision, IgnoreReason> {
        let address = match step {
            Step::Request(RequestState::Renewing | RequestState::Rebinding, address) => address,
            Step::Request(..) | Step::SelectingWithoutAddress => {
                return Err(IgnoreReason::NoQuorumBind);
            }
            Step::Discover => return Err(IgnoreReason::NoQuorumDiscover),
            Step::Decline(_) => return Err(IgnoreReason::NoQuorumDecline),
            Step::Release(_) => return Err(IgnoreReason::NoQuorumRelease),
            Step::Inform => return Err(IgnoreReason::NoQuorumInform),
        };
        let lease = self
            .table
            .lease_by_client(&self.request.client_id)
            .filter(|lease| {
                lease.address == address
                    && lease.state == LeaseState::Bound
                    && lease.expires_at > self.now
            })
            .ok_or(IgnoreReason::NoQuorumNoLease)?;
        let remaining = (lease.expires_at - self.now) / 1000;
        if remaining == 0 {
            return Err(IgnoreReason::NoQuorumNoLease);
        }
        self.reply(ReplySpec {
            kind: ReplyKind::DegradedAck,
            nak_reason: None,
            yiaddr: address,
            lease_secs: Some(secs_u32(remaining)),
            naming: naming(lease.granted_name.as_deref()),
            message: None,
        })
    }

    fn pending(&self, address: Ipv4Addr, kind: ReplyKind) -> PendingReply {
        PendingReply {
            request: Box::new(self.request.clone()),
            server: Arc::clone(self.server),
            network: self.network.clone(),
            address,
            kind,
            now: self.now,
        }
    }
}

/// Turns the committed response to a Bind or Renew into its ACK or NAK. An
/// ACK is only ever built here, from a committed `Response::Lease`.
pub fn finish(pending: PendingReply, response: &Response) -> Option<Reply> {
    let request = &pending.request;
    let spec = match response {
        Response::Lease { lease } => {
            // The duration the leader granted, from its own timestamps: the
            // leader re-stamps `now`, and this host's clock may differ from it.
            let remaining = lease.expires_at.saturating_sub(lease.granted_at) / 1000;
            let matches = lease.client_id == request.client_id
                && lease.address == pending.address
                && lease.state == LeaseState::Bound
                && remaining > 0;
            if matches {
                ReplySpec {
                    kind: pending.kind,
                    nak_reason: None,
                    yiaddr: lease.address,
                    lease_secs: Some(secs_u32(remaining)),
                    naming: naming(lease.granted_name.as_deref()),
                    message: None,
                }
            } else {
                warn!(
                    client_mac = %request.mac,
                    xid = request.xid,
                    ip = %pending.address,
                    committed = %lease.address,
                    "committed lease does not match the request"
                );
                if pending.kind == ReplyKind::RapidCommitAck {
                    return None;
                }
                nak_spec(NakReason::LeaseMismatch, None)
            }
        }
        Response::Rejected { reason } if pending.kind == ReplyKind::RapidCommitAck => {
            // RFC 2131 §4.3.2 NAKs only a REQUEST; the client retransmits its
            // DISCOVER and the next decision picks another address.
            info!(client_mac = %request.mac, xid = request.xid, ip = %pending.address, %reason, "rapid commit bind refused; no reply");
            return None;
        }
        Response::Rejected { reason } => {
            let text = reason.to_string();
            return build_nak(&pending, NakReason::Rejected, &text);
        }
        other => {
            warn!(client_mac = %request.mac, xid = request.xid, ?other, "unexpected response to a lease command");
            return None;
        }
    };
    reply::build(request, &pending.server, &pending.network, spec).ok()
}

fn build_nak(pending: &PendingReply, reason: NakReason, text: &str) -> Option<Reply> {
    let spec = nak_spec(reason, Some(text));
    reply::build(&pending.request, &pending.server, &pending.network, spec).ok()
}

fn nak_spec(reason: NakReason, message: Option<&str>) -> ReplySpec<'_> {
    ReplySpec {
        kind: ReplyKind::Nak,
        nak_reason: Some(reason),
        yiaddr: Ipv4Addr::UNSPECIFIED,
        lease_secs: None,
        naming: Naming::None,
        message: Some(message.unwrap_or_else(|| reason.label())),
    }
}

fn naming(granted: Option<&str>) -> Naming<'_> {
    granted.map_or(Naming::Refused, Naming::Granted)
}

/// Option 51 is 32 bits; all ones means infinite (RFC 2132 §9.2).
fn secs_u32(secs: u64) -> u32 {
    u32::try_from(secs).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
