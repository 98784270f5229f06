//! The I/O edge: UDP and TCP on sockets the caller bound, until cancelled.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Name;
use raftmasq_limits::{Admitted, BoundedListener, ListenerLimits, SharedLogLimiter};
use raftmasq_state::Millis;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::answer::{self, Checks, Outcome, Parsed, Policy, Request, Transport};
use crate::config::{DnsServerConfig, ZoneConfig};
use crate::error::DnsError;
use crate::fast::{self, FastContext};
use crate::forward::Forwarder;
use crate::lookup::View;
use crate::notify::{self, NotifySettings};
use crate::rrl::{RateLimiter, Verdict};
use crate::source::ZoneSource;
use crate::stats;
use crate::tsig::Keyring;
use crate::udp::{self, Inbox, Outbox};

/// How long a client may take to send a query's bytes once its length has
/// arrived.
const TCP_MESSAGE_TIMEOUT: Duration = Duration::from_secs(5);
/// Concurrent forwarded UDP queries; beyond this, queries are dropped and
/// the clients retry.
const MAX_FORWARDS: usize = 1024;

/// The clock lookups compare lease expiry with, in Unix milliseconds. The
/// daemon passes its node's cluster time, so DNS ends a lease when DHCP and
/// Raft do; there is deliberately no default.
pub type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// The DNS server of one host. See the crate docs.
#[derive(Clone)]
pub struct DnsServer {
    shared: Arc<Shared>,
}

struct Shared {
    source: Arc<dyn ZoneSource>,
    zone: Arc<ZoneConfig>,
    policy: Policy,
    forwarder: Forwarder,
    clock: Clock,
    notify: NotifySettings,
    tcp_idle_timeout: Duration,
    keys: Keyring,
    /// `dns.rate_limit`; `None` when off, so the UDP loop pays one branch.
    rate_limiter: Option<Mutex<RateLimiter>>,
    /// At most one warning per interval for refused TSIG and transfers.
    refusal_warnings: SharedLogLimiter<()>,
    tcp_limits: ListenerLimits,
}

/// A request handled as far as it can be without waiting.
enum Step {
    Done(Vec<Vec<u8>>),
    Forward(Box<Request>, Instant),
}

impl DnsServer {
    /// A server that reads time from `clock` (the daemon's cluster time;
    /// tests pass a fixed one).
    pub fn new(
        config: &DnsServerConfig,
        source: Arc<dyn ZoneSource>,
        clock: Clock,
    ) -> Result<Self, DnsError> {
        let zone = config.zone_config()?;
        let keys = Keyring::new(&config.tsig_keys)?;
        let transfer_key = match &config.transfer_key {
            Some(name) => Some(
                keys.get(name)
                    .ok_or_else(|| {
                        DnsError::Config(format!("transfer_key {name} is not one of the tsig keys"))
                    })?
                    .clone(),
            ),
            None => None,
        };
        let policy = Policy {
            allow_recursion: config.allow_recursion.clone(),
            secondaries: config.secondaries.iter().map(SocketAddr::ip).collect(),
            transfer_key: transfer_key.as_ref().map(|k| k.signer_name().clone()),
            max_udp_payload: config.max_udp_payload,
        };
        let shared = Shared {
            source,
            zone: Arc::new(zone),
            policy,
            forwarder: Forwarder::new(
                config.upstream.clone(),
                config.upstream_timeout,
                config.cache_size,
            ),
            notify: NotifySettings {
                targets: config.secondaries.clone(),
                interval: config.notify_interval,
                timeout: config.notify_timeout,
                source: config.notify_source,
                key: transfer_key,
                clock: clock.clone(),
            },
            clock,
            tcp_idle_timeout: config.tcp_idle_timeout,
            keys,
            rate_limiter: config.rate_limit.map(|r| Mutex::new(RateLimiter::new(r))),
            refusal_warnings: SharedLogLimiter::new(REFUSAL_WARNING_INTERVAL),
            tcp_limits: ListenerLimits {
                max_connections: config.tcp_max_connections,
                max_per_client: config.tcp_max_per_client,
                header_timeout: TCP_MESSAGE_TIMEOUT,
                idle_timeout: config.tcp_idle_timeout,
                request_timeout: config.tcp_idle_timeout,
            },
        };
        Ok(DnsServer {
            shared: Arc::new(shared),
        })
    }

    /// Replaces the upstream resolvers of a running server (SIGHUP); the
    /// forwarding cache starts empty.
    pub fn set_upstream(&self, upstream: Vec<SocketAddr>) {
        self.shared.forwarder.set_upstream(upstream);
    }

    /// The responses to one request received from `from` (several for AXFR,
    /// none for a datagram not worth answering). The server loops call this;
    /// it is public for tests and fuzzing.
    pub async fn respond(&self, request: &[u8], from: SocketAddr, tcp: bool) -> Vec<Vec<u8>> {
        let transport = if tcp { Transport::Tcp } else { Transport::Udp };
        self.shared.respond(request, from, transport).await
    }

    /// Serves DNS on every socket and listener, and sends NOTIFYs, until
    /// `shutdown` is cancelled. Returns early only if a listener fails.
    pub async fn run(
        self,
        udp: Vec<UdpSocket>,
        tcp: Vec<TcpListener>,
        shutdown: CancellationToken,
    ) -> Result<(), DnsError> {
        if udp.is_empty() && tcp.is_empty() {
            return Err(DnsError::NoListeners);
        }
        // Cancelled on every way out, so the UDP threads always stop.
        let shutdown = shutdown.child_token();
        let mut tasks = JoinSet::new();
        let forwards = Arc::new(Semaphore::new(MAX_FORWARDS));
        for socket in udp {
            let shared = self.shared.clone();
            let addr = socket
                .local_addr()
                .map_or_else(|_| "udp".to_string(), |a| a.to_string());
            let socket = socket
                .into_std()
                .and_then(for_udp_thread)
                .map_err(|source| DnsError::Listener { addr, source })?;
            tasks.spawn(serve_udp(
                shared,
                Arc::new(socket),
                forwards.clone(),
                shutdown.clone(),
            ));
        }
        // One set of caps for every TCP listener: they share the handle budget.
        let mut tcp = tcp.into_iter();
        if let Some(listener) = tcp.next() {
            let first = BoundedListener::new(listener, "dns-tcp", self.shared.tcp_limits);
            for listener in tcp {
                let bounded = first.sharing_caps(listener);
                tasks.spawn(serve_tcp(self.shared.clone(), bounded, shutdown.clone()));
            }
            tasks.spawn(serve_tcp(self.shared.clone(), first, shutdown.clone()));
        }
        let shared = &self.shared;
        let notifier = notify::run(
            shared.source.clone(),
            shared.zone.clone(),
            shared.notify.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            notifier.await;
            Ok(())
        });
        let result = loop {
            tokio::select! {
                () = shutdown.cancelled() => break Ok(()),
                joined = tasks.join_next() => match joined {
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(error))) => break Err(error),
                    Some(Err(error)) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Some(Err(_)) => {}
                    None => break Ok(()),
                },
            }
        };
        // Let every task see the token and end (the UDP threads within
        // UDP_STOP_POLL, closing their sockets) before aborting stragglers.
        shutdown.cancel();
        let drained = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(UDP_STOP_POLL * 5, drained)
            .await
            .is_err()
        {
            tasks.shutdown().await;
        }
        result
    }
}

impl Shared {
    /// Answers what the fast path can of one batch, all under one read of
    /// the table, into `outbox`; lists the indices of the other datagrams in
    /// `general`, but for those the rate limiter held back (`verdicts`,
    /// empty when it is off). The read lock is held for the batch (at most
    /// [`udp::BATCH`] lookups of about a microsecond each), not per query.
    fn answer_fast(
        &self,
        inbox: &Inbox,
        verdicts: &[Verdict],
        outbox: &mut Outbox,
        general: &mut Vec<usize>,
        stats: &stats::FastStats,
    ) {
        general.clear();
        let ctx = FastContext {
            config: &self.zone,
            policy: &self.policy,
            now: (self.clock)(),
        };
        self.source.read(&mut |table, _serial| {
            for (index, (bytes, from)) in inbox.datagrams().enumerate() {
                // Held back by the rate limiter: dealt with after the read.
                if verdicts.get(index).is_some_and(|v| *v != Verdict::Answer) {
                    continue;
                }
                let started = Instant::now();
                let start = outbox.bytes.len();
                let client = answer::client_ip(from);
                match fast::try_answer(bytes, client, table, &ctx, &mut outbox.bytes) {
                    Some(qtype) => {
                        outbox.queue_written(start, from);
                        stats.answered(qtype, started);
                    }
                    None => {
                        outbox.bytes.truncate(start);
                        general.push(index);
                    }
                }
            }
        });
    }

    async fn respond(&self, bytes: &[u8], from: SocketAddr, transport: Transport) -> Vec<Vec<u8>> {
        match self.step(bytes, from, transport) {
            Step::Done(responses) => responses,
            Step::Forward(request, started) => vec![self.forward(*request, started).await],
        }
    }

    /// Everything but the upstream round trip; synchronous and quick.
    fn step(&self, bytes: &[u8], from: SocketAddr, transport: Transport) -> Step {
        let started = Instant::now();
        let now = (self.clock)();
        let checks = Checks {
            transport,
            max_udp_payload: self.policy.max_udp_payload,
            keys: &self.keys,
            now_secs: now / 1000,
        };
        let request = match answer::parse(bytes, &checks) {
            Parsed::Drop => {
                stats::dropped();
                return Step::Done(Vec::new());
            }
            Parsed::Reply(ctx, message) => {
                stats::answered(ctx.qtype(), answer::rcode_of(&message), started);
                return Step::Done(vec![answer::encode(&ctx, &message)]);
            }
            Parsed::TsigRefused {
                ctx,
                reply,
                refusal,
                key,
            } => {
                stats::tsig_refused(refusal.label());
                self.warn_refused(from, refusal.label(), &key);
                stats::answered(ctx.qtype(), answer::rcode_of(&reply), started);
                return Step::Done(vec![answer::encode(&ctx, &reply)]);
            }
            Parsed::Query(request) => request,
        };
        let client = answer::client_ip(from);
        let mut outcome = None;
        let lname = crate::lookup::key(request.query.name());
        self.source.read_networks(&mut |table, v6, others, serial| {
            // Another network's domain or reverse zone: its own table answers.
            let theirs = crate::networks::select(table, others, &self.zone, &lname);
            let view = match &theirs {
                Some((theirs, config)) => View::new(theirs, serial, config, now).with_siblings(
                    crate::networks::siblings(table, others, theirs, &config.domain),
                ),
                None => View::new(table, serial, &self.zone, now)
                    .with_v6(v6)
                    .with_siblings(crate::networks::siblings(
                        table,
                        others,
                        table,
                        &self.zone.domain,
                    )),
            };
            outcome = Some(answer::respond(&request, client, &self.policy, &view));
        });
        let ctx = &request.ctx;
        let messages = match outcome {
            Some(Outcome::Forward) => return Step::Forward(Box::new(request), started),
            Some(Outcome::Messages(messages)) => messages,
            Some(Outcome::TransferRefused(message)) => {
                let reason = if self.policy.transfer_key.is_some() {
                    "transfer_key_missing"
                } else {
                    "transfer_address"
                };
                stats::tsig_refused(reason);
                let key = ctx.signed_by().cloned().unwrap_or_else(Name::root);
                self.warn_refused(from, reason, &key);
                vec![message]
            }
            None => vec![ctx.response(ResponseCode::ServFail)],
        };
        let rcode = messages
            .first()
            .map_or(ResponseCode::ServFail, answer::rcode_of);
        stats::answered(ctx.qtype(), rcode, started);
        Step::Done(answer::encode_all(ctx, &messages))
    }

    /// Logs a refused signed request or transfer, at most once per
    /// [`REFUSAL_WARNING_INTERVAL`] (a client retrying, or a flood of forged
    /// signatures, must not fill the log); the metric counts every one.
    fn warn_refused(&self, from: SocketAddr, reason: &str, key: &Name) {
        if let Some(suppressed) = self.refusal_warnings.check(&()) {
            warn!(client = %from, reason, key = %key, suppressed, "dns request refused");
        } else {
            debug!(client = %from, reason, key = %key, "dns request refused");
        }
    }

    /// The rate limiter's verdict on each datagram of a batch, into
    /// `verdicts` (left empty when rate limiting is off).
    fn rate_limit(&self, inbox: &Inbox, verdicts: &mut Vec<Verdict>) {
        verdicts.clear();
        let Some(limiter) = &self.rate_limiter else {
            return;
        };
        let now = (self.clock)();
        let mut limiter = limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        verdicts.extend(
            inbox
                .datagrams()
                .map(|(_, from)| limiter.check(answer::client_ip(from), now)),
        );
    }

    async fn forward(&self, request: Request, started: Instant) -> Vec<u8> {
        let ctx = &request.ctx;
        let answer = self
            .forwarder
            .resolve(&request.query, ctx.dnssec_ok, ctx.checking_disabled)
            .await;
        let mut message = match answer {
            Some(answer) => {
                let mut message = ctx.response(answer.rcode);
                message.answers = answer.answers;
                message.authorities = answer.authorities;
                message.additionals = answer.additionals;
                message
            }
            None => ctx.response(ResponseCode::ServFail),
        };
        message.metadata.recursion_available = true;
        stats::answered(ctx.qtype(), answer::rcode_of(&message), started);
        answer::encode(ctx, &message)
    }
}

/// At most one warning about refused requests per this interval.
const REFUSAL_WARNING_INTERVAL: Duration = Duration::from_secs(10);

/// A datagram the rate limiter held back: nothing, or an empty truncated
/// answer (the client retries over TCP); counted either way.
fn limited(
    verdict: Verdict,
    bytes: &[u8],
    from: SocketAddr,
    max_udp_payload: u16,
    outbox: &mut Outbox,
) {
    match verdict {
        Verdict::Slip => match answer::slipped(bytes, max_udp_payload) {
            Some(truncated) => {
                outbox.queue(&truncated, from);
                stats::rate_limited("slipped");
            }
            None => stats::rate_limited("dropped"),
        },
        Verdict::Drop | Verdict::Answer => stats::rate_limited("dropped"),
    }
}

/// How long a UDP thread blocks in `recvmmsg` before it looks at the
/// shutdown token: the most a shutdown waits for it.
const UDP_STOP_POLL: Duration = Duration::from_millis(200);

/// Makes a socket blocking, with [`UDP_STOP_POLL`] as its receive timeout,
/// for its own thread (see `udp`).
fn for_udp_thread(socket: std::net::UdpSocket) -> std::io::Result<std::net::UdpSocket> {
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(UDP_STOP_POLL))?;
    Ok(socket)
}

/// Serves one UDP socket from a thread of its own until `shutdown`, and waits
/// for that thread to let go of the socket.
async fn serve_udp(
    shared: Arc<Shared>,
    socket: Arc<std::net::UdpSocket>,
    forwards: Arc<Semaphore>,
    shutdown: CancellationToken,
) -> Result<(), DnsError> {
    let addr = socket
        .local_addr()
        .map_or_else(|_| "udp".to_string(), |a| a.to_string());
    let (ended, thread_ended) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Handle::current();
    let stop = shutdown.clone();
    std::thread::Builder::new()
        .name("dns-udp".into())
        .spawn(move || {
            answer_udp(&shared, &socket, &forwards, &stop, &runtime);
            let _ = ended.send(());
        })
        .map_err(|source| DnsError::Listener {
            addr: addr.clone(),
            source,
        })?;
    // The thread ends by itself only if it panicked (the sender is dropped).
    thread_ended.await.map_err(|_| DnsError::Listener {
        addr,
        source: std::io::Error::other("the UDP thread panicked"),
    })
}

/// The loop of one UDP socket's thread: receive a batch, answer what the fast
/// path can, the rest by the general path (forwarding on the runtime), send.
fn answer_udp(
    shared: &Arc<Shared>,
    socket: &Arc<std::net::UdpSocket>,
    forwards: &Arc<Semaphore>,
    shutdown: &CancellationToken,
    runtime: &tokio::runtime::Handle,
) {
    let mut inbox = Inbox::new();
    let mut outbox = Outbox::new();
    let mut general = Vec::with_capacity(udp::BATCH);
    let mut verdicts = Vec::with_capacity(udp::BATCH);
    let stats = stats::FastStats::new();
    while !shutdown.is_cancelled() {
        if let Err(error) = inbox.receive(socket) {
            debug!(%error, "udp receive failed");
            // Never spin on a socket that keeps failing.
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        shared.rate_limit(&inbox, &mut verdicts);
        shared.answer_fast(&inbox, &verdicts, &mut outbox, &mut general, &stats);
        for (index, verdict) in verdicts.iter().enumerate() {
            if let Some((bytes, from)) = inbox
                .datagram(index)
                .filter(|_| *verdict != Verdict::Answer)
            {
                limited(
                    *verdict,
                    bytes,
                    from,
                    shared.policy.max_udp_payload,
                    &mut outbox,
                );
            }
        }
        for (bytes, from) in general.drain(..).filter_map(|i| inbox.datagram(i)) {
            match shared.step(bytes, from, Transport::Udp) {
                Step::Done(responses) => {
                    for response in responses.iter().filter(|r| !r.is_empty()) {
                        outbox.queue(response, from);
                    }
                }
                Step::Forward(request, started) => {
                    let Ok(permit) = forwards.clone().try_acquire_owned() else {
                        stats::dropped();
                        continue;
                    };
                    let (shared, socket) = (shared.clone(), socket.clone());
                    runtime.spawn(async move {
                        let response = shared.forward(*request, started).await;
                        drop(permit);
                        udp::send_one(&socket, &response, from);
                    });
                }
            }
        }
        outbox.send(socket);
    }
}

/// Accepts within the listener's caps (over them, or out of handles, the
/// listener closes, pauses and logs by itself) until cancelled.
async fn serve_tcp(
    shared: Arc<Shared>,
    mut listener: BoundedListener,
    shutdown: CancellationToken,
) -> Result<(), DnsError> {
    let mut tasks = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let shared = shared.clone();
        tasks.spawn(async move {
            serve_connection(&shared, stream, peer).await;
        });
        while tasks.try_join_next().is_some() {}
    }
    tasks.shutdown().await;
    Ok(())
}

/// Answers length-prefixed queries in order (RFC 7766 §8) until the client
/// closes or stays idle too long. One query is answered at a time: a client
/// pipelining more has them wait in its own socket buffer, so a connection
/// never holds more than one query's work (and one forwarding socket).
async fn serve_connection(shared: &Shared, mut stream: Admitted<TcpStream>, peer: SocketAddr) {
    let idle = shared.tcp_idle_timeout;
    loop {
        let Ok(Ok(len)) = tokio::time::timeout(idle, stream.read_u16()).await else {
            return;
        };
        let mut request = vec![0; usize::from(len)];
        let read = stream.read_exact(&mut request);
        let Ok(Ok(_)) = tokio::time::timeout(TCP_MESSAGE_TIMEOUT, read).await else {
            return;
        };
        let responses = shared.respond(&request, peer, Transport::Tcp).await;
        for response in responses.iter().filter(|r| !r.is_empty()) {
            let Ok(len) = u16::try_from(response.len()) else {
                return;
            };
            let mut framed = Vec::with_capacity(response.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(response);
            if stream.write_all(&framed).await.is_err() {
                return;
            }
        }
    }
}
