//! The DHCP server loop: receive → decode → decide → commit → send.
//!
//! Generic over where the lease table lives ([`Cluster`]) and how packets move
//! ([`Transport`]), so the loop is tested with an in-memory table and channels,
//! and runs in the daemon over the Raft node and the bridge's sockets.

use std::future::Future;
use std::io;
use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use raftmasq_limits::SharedLogLimiter;
use raftmasq_state::{Command, LeaseTable, MacAddr, Millis, Response};
use tracing::{debug, info, warn};

use crate::context::{Arrival, Context, Role, ServerConfig};
use crate::decide::{Decision, IgnoreReason, answered_since, decide, finish};
use crate::decode::{ClientRequest, MessageKind, decode};
use crate::offers::OfferBook;
use crate::reply::{NakReason, Reply, ReplyKind};

mod held;
mod lease_log;
mod stats;

use held::{HeldRequest, HeldRequests};

pub use lease_log::{LeaseEvent, MAX_LOGGED_CHARS, lease_event, log_lease_event, loggable};
pub use stats::{Event, ServerStats, register_metrics};

/// What the server needs from the cluster.
pub trait Cluster: Send + Sync + 'static {
    /// Runs `read` on this node's replica of the lease table.
    fn read<R>(&self, read: impl FnOnce(&LeaseTable) -> R) -> R;
    /// Leader or not, quorum or not, right now.
    fn role(&self) -> Role;
    /// This node's server identity and reply options (they follow membership).
    fn server_config(&self) -> Arc<ServerConfig>;
    /// Why a command was not committed (the consensus crate's `WriteError` in
    /// the daemon), logged as it is.
    type CommitError: std::error::Error + Send + 'static;
    /// Commits `command` through the leader; `Err` says why it was not committed.
    fn commit(
        &self,
        command: Command,
    ) -> impl Future<Output = Result<Response, Self::CommitError>> + Send;
    /// Milliseconds since the Unix epoch.
    fn now(&self) -> Millis;
}

/// A datagram as received on the bridge.
#[derive(Debug, Clone)]
pub struct Received {
    pub bytes: Vec<u8>,
    pub source: SocketAddrV4,
    pub arrival: Arrival,
}

pub trait Transport: Send + Sync + 'static {
    fn recv(&self) -> impl Future<Output = io::Result<Received>> + Send;
    fn send(&self, reply: &Reply) -> impl Future<Output = io::Result<()>> + Send;
}

/// One warning of a kind per 10 s: a flood costs six lines a minute, and
/// the counters say how many there were.
const WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// How often the server looks whether this node has taken over. Whether it
/// may serve also depends on how long ago a quorum acknowledged it, which no
/// event announces, so the role is polled; a poll is two atomic reads.
const TAKEOVER_POLL: Duration = Duration::from_millis(20);

/// How often expired offers are dropped between requests (`decide` drops
/// them on every request too).
const OFFER_PURGE: Duration = Duration::from_secs(1);

/// Whether a request is heard now or answered from the held ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    Now,
    /// Held since `heard_at` (cluster time), before this node took over.
    BeforeTakeover {
        heard_at: Millis,
    },
}

pub struct DhcpServer<C, T> {
    cluster: Arc<C>,
    transport: Arc<T>,
    offers: Mutex<OfferBook>,
    held: Mutex<HeldRequests>,
    stats: Arc<ServerStats>,
    malformed_log: SharedLogLimiter<()>,
    /// Forged or cloned RELEASE/DECLINE (`IgnoreReason::is_foreign_lease_change`).
    foreign_change_log: SharedLogLimiter<()>,
    /// Renewals of unknown addresses NAKed past the budget.
    unknown_renewal_log: SharedLogLimiter<()>,
    /// Denied hostnames asked for.
    denied_name_log: SharedLogLimiter<()>,
    /// Requests that could not be committed, per client MAC: a client
    /// retransmits every few seconds while the cluster cannot commit.
    not_committed_log: SharedLogLimiter<MacAddr>,
}

/// Stops the takeover watch when the server loop ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<C: Cluster, T: Transport> DhcpServer<C, T> {
    pub fn new(cluster: Arc<C>, transport: Arc<T>) -> Arc<Self> {
        Arc::new(DhcpServer {
            cluster,
            transport,
            offers: Mutex::new(OfferBook::default()),
            held: Mutex::new(HeldRequests::default()),
            stats: Arc::default(),
            malformed_log: SharedLogLimiter::new(WARNING_INTERVAL),
            foreign_change_log: SharedLogLimiter::new(WARNING_INTERVAL),
            unknown_renewal_log: SharedLogLimiter::new(WARNING_INTERVAL),
            denied_name_log: SharedLogLimiter::new(WARNING_INTERVAL),
            not_committed_log: SharedLogLimiter::new(WARNING_INTERVAL),
        })
    }

    pub fn stats(&self) -> Arc<ServerStats> {
        self.stats.clone()
    }

    /// Serves until the transport fails for good. Each request that needs a
    /// commit continues in its own task, so one slow commit never holds up
    /// other clients (and Raft can batch their entries).
    pub async fn run(self: Arc<Self>) -> io::Result<()> {
        let _watch = AbortOnDrop(tokio::spawn(self.clone().answer_held_on_takeover()));
        loop {
            let received = match self.transport.recv().await {
                Ok(received) => received,
                Err(error) if is_transient(&error) => {
                    warn!(%error, "dhcp receive failed; continuing");
                    continue;
                }
                Err(error) => return Err(error),
            };
            self.clone().handle(received).await;
        }
    }

    /// Handles one datagram; commits and the replies that wait for them are
    /// spawned.
    pub async fn handle(self: Arc<Self>, received: Received) {
        self.handle_heard(received, Heard::Now).await;
    }

    /// Answers, the moment this node may serve, what it held while it could
    /// not (see `server/held.rs`), and drops expired offers even when no
    /// request comes to do it. Runs until the server loop ends.
    async fn answer_held_on_takeover(self: Arc<Self>) {
        let mut serving = false;
        let mut poll = tokio::time::interval(TAKEOVER_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut purge = tokio::time::interval(OFFER_PURGE);
        purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = poll.tick() => {
                    let role = self.cluster.role();
                    let serves = role.is_leader && role.has_quorum;
                    if serves && !serving {
                        self.clone().answer_held().await;
                    }
                    serving = serves;
                }
                _ = purge.tick() => {
                    let now = self.cluster.now();
                    self.offers
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .purge_expired(now);
                }
            }
        }
    }

    /// Answers every fresh held request, oldest first, as this node would
    /// answer it now.
    async fn answer_held(self: Arc<Self>) {
        let requests = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take_fresh(Instant::now());
        if requests.is_empty() {
            return;
        }
        info!(
            requests = requests.len(),
            "dhcp: answering the requests heard while no leader answered"
        );
        for request in requests {
            let heard = Heard::BeforeTakeover {
                heard_at: request.heard_at,
            };
            self.clone().handle_heard(request.received, heard).await;
        }
    }

    fn hold(&self, received: Received) {
        let request = HeldRequest {
            received,
            heard_at: self.cluster.now(),
        };
        let pushed_out = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hold(Instant::now(), request);
        self.stats.count_event(Event::HeldForLeader);
        if pushed_out > 0 {
            self.stats
                .count_events(Event::HeldPushedOut, pushed_out as u64);
        }
    }

    async fn handle_heard(self: Arc<Self>, received: Received, heard: Heard) {
        let role = self.cluster.role();
        // A follower of a leader stays silent to every broadcast (`decide`:
        // not_leader), so it keeps them as they are, undecoded: the leader
        // may be dead already, and then the next one answers them. A learner
        // never leads: it keeps nothing (`decide`: learner).
        if heard == Heard::Now
            && received.arrival == Arrival::Broadcast
            && role.has_quorum
            && !role.is_leader
            && role.is_voter
        {
            self.hold(received);
            return;
        }
        let request = match decode(&received.bytes) {
            Ok(request) => {
                self.stats.count_received(request.kind);
                request
            }
            Err(reason) => {
                self.stats.count_dropped(reason);
                if self.malformed_log.check(&()).is_some() {
                    warn!(source = %received.source, %reason, "malformed dhcp packet dropped (further drops logged at most every 10 s)");
                }
                return;
            }
        };
        if !request.malformed_options.is_empty() {
            self.stats.count_event(Event::MalformedOptions);
        }
        let context = Context {
            server: self.cluster.server_config(),
            arrival: received.arrival,
            source: *received.source.ip(),
            role,
        };
        let now = self.cluster.now();
        let decision = self.cluster.read(|table| {
            if let Heard::BeforeTakeover { heard_at } = heard
                && answered_since(table, &request, heard_at)
            {
                return None;
            }
            let mut offers = self.offers.lock().unwrap_or_else(PoisonError::into_inner);
            Some(decide(table, &request, &context, &mut offers, now))
        });
        let Some(decision) = decision else {
            self.stats.count_event(Event::HeldAlreadyAnswered);
            debug!(client_mac = %request.mac, xid = request.xid, "held dhcp request already answered by the old leader");
            return;
        };
        if matches!(heard, Heard::BeforeTakeover { .. }) {
            self.stats.count_event(Event::AnsweredAfterTakeover);
        }
        self.note_denied_hostname(&request, &decision);
        match decision {
            Decision::Ignore(reason) => {
                self.stats.count_ignored(reason);
                if reason.is_foreign_lease_change() && self.foreign_change_log.check(&()).is_some()
                {
                    let ip = match request.kind {
                        MessageKind::Decline => request.requested_address,
                        _ => Some(request.ciaddr),
                    };
                    warn!(
                        client_mac = %request.mac,
                        ip = ?ip,
                        source = %received.source,
                        reason = reason.label(),
                        "dhcp message for a lease its sender does not hold ignored (further ones logged at most every 10 s)"
                    );
                }
                debug!(client_mac = %request.mac, xid = request.xid, reason = reason.label(), "dhcp request ignored");
                if heard == Heard::Now && reason.awaits_a_leader() {
                    self.hold(received);
                }
            }
            Decision::Reply(reply) => self.send(&reply).await,
            Decision::Propose(proposal) => {
                let server = self.clone();
                tokio::spawn(async move {
                    let kind = proposal.command.kind();
                    let command = proposal.command.clone();
                    match server.cluster.commit(proposal.command).await {
                        Ok(response) => {
                            if let (Command::Bind { request, .. }, Response::Lease { .. }) =
                                (&command, &response)
                            {
                                // The offer is taken: the table holds the address now,
                                // and a mass start would otherwise keep thousands of
                                // offers in memory until they expire.
                                server
                                    .offers
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .withdraw(&request.client_id);
                            }
                            if let Some(event) = lease_event(&command, &response) {
                                log_lease_event(&event, server.cluster.now());
                            }
                            if let Some(pending) = proposal.pending {
                                let kind = pending.kind();
                                match finish(pending, &response) {
                                    Some(reply) => server.send(&reply).await,
                                    None if kind == ReplyKind::RapidCommitAck => server
                                        .stats
                                        .count_ignored(IgnoreReason::RapidCommitUnanswered),
                                    None => server.stats.count_event(Event::Unfinished),
                                }
                            } else {
                                server.stats.count_committed(kind);
                            }
                        }
                        Err(error) => {
                            // Silence: the client retransmits, and a NAK would be wrong
                            // when the lease may well be valid.
                            server.stats.count_event(Event::CommitFailed);
                            if let Some(suppressed) = server.not_committed_log.check(&request.mac) {
                                warn!(client_mac = %request.mac, xid = request.xid, command = kind, %error, suppressed, "not committed; no reply sent");
                            }
                        }
                    }
                });
            }
        }
    }

    /// Counts, and logs now and then, a client whose hostname was left out
    /// of its lease request for being on `dhcp.denied_hostnames`.
    fn note_denied_hostname(&self, request: &ClientRequest, decision: &Decision) {
        let Decision::Propose(proposal) = decision else {
            return;
        };
        let Command::Bind { request: asked, .. } = &proposal.command else {
            return;
        };
        let Some(name) = request.requested_hostname() else {
            return;
        };
        if asked.hostname.is_some() {
            return;
        }
        self.stats.count_event(Event::DeniedHostname);
        if self.denied_name_log.check(&()).is_some() {
            info!(client_mac = %request.mac, xid = request.xid, hostname = %loggable(name), "denied hostname not granted (dhcp.denied_hostnames; further ones logged at most every 10 s)");
        }
    }

    async fn send(&self, reply: &Reply) {
        self.stats.count_reply(reply.kind);
        if reply.nak_reason == Some(NakReason::UnknownRenewalLimit) {
            self.stats.count_event(Event::UnknownRenewalRefused);
            if self.unknown_renewal_log.check(&()).is_some() {
                warn!(client_mac = %reply.mac, xid = reply.xid, "renewal of an address without a lease NAKed: this node's part of the budget for them is spent (dhcp.unknown_renewals_max_percent; further ones logged at most every 10 s)");
            }
        }
        match self.transport.send(reply).await {
            // NAKs and ACKs without quorum change no lease, so no lease line
            // tells of them; offers and ACKs are at debug beside their lease line.
            Ok(()) if matches!(reply.kind, ReplyKind::Nak | ReplyKind::DegradedAck) => {
                info!(client_mac = %reply.mac, xid = reply.xid, ip = %reply.yiaddr, kind = reply.kind.label(), "dhcp reply sent")
            }
            Ok(()) => {
                debug!(client_mac = %reply.mac, xid = reply.xid, ip = %reply.yiaddr, kind = reply.kind.label(), "dhcp reply sent")
            }
            Err(error) => {
                self.stats.count_event(Event::SendFailed);
                warn!(client_mac = %reply.mac, xid = reply.xid, %error, "dhcp reply not sent");
            }
        }
    }
}

fn is_transient(error: &io::Error) -> bool {
    !matches!(
        error.kind(),
        io::ErrorKind::NotConnected | io::ErrorKind::BrokenPipe | io::ErrorKind::Unsupported
    )
}

#[cfg(test)]
mod tests;
