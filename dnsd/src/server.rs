//! The I/O edge: UDP and TCP on sockets the caller bound, until cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use raftmasq_state::Millis;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::answer::{self, Outcome, Parsed, Policy, Request, Transport};
use crate::config::{DnsServerConfig, ZoneConfig};
use crate::error::DnsError;
use crate::fast::{self, FastContext};
use crate::forward::Forwarder;
use crate::lookup::View;
use crate::notify::{self, NotifySettings};
use crate::source::ZoneSource;
use crate::stats;
use crate::udp::{self, Inbox, Outbox};

/// Concurrent TCP connections per listener; more are closed at once.
const MAX_TCP_CONNECTIONS: usize = 256;
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
        let policy = Policy {
            allow_recursion: config.allow_recursion.clone(),
            secondaries: config.secondaries.iter().map(SocketAddr::ip).collect(),
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
            clock,
            notify: NotifySettings {
                targets: config.secondaries.clone(),
                interval: config.notify_interval,
                timeout: config.notify_timeout,
                source: config.notify_source,
            },
            tcp_idle_timeout: config.tcp_idle_timeout,
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
        for listener in tcp {
            tasks.spawn(serve_tcp(self.shared.clone(), listener, shutdown.clone()));
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
    /// `general`. The read lock is held for the batch (at most
    /// [`udp::BATCH`] lookups of about a microsecond each), not per query.
    fn answer_fast(
        &self,
        inbox: &Inbox,
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
        let request = match answer::parse(bytes, transport, self.policy.max_udp_payload) {
            Parsed::Drop => {
                stats::dropped();
                return Step::Done(Vec::new());
            }
            Parsed::Reply(ctx, message) => {
                stats::answered(ctx.qtype(), answer::rcode_of(&message), started);
                return Step::Done(vec![answer::encode(&ctx, &message)]);
            }
            Parsed::Query(request) => request,
        };
        let now = (self.clock)();
        let client = answer::client_ip(from);
        let mut outcome = None;
        self.source.read(&mut |table, serial| {
            let view = View::new(table, serial, &self.zone, now);
            outcome = Some(answer::respond(&request, client, &self.policy, &view));
        });
        let ctx = &request.ctx;
        let messages = match outcome {
            Some(Outcome::Forward) => return Step::Forward(Box::new(request), started),
            Some(Outcome::Messages(messages)) => messages,
            None => vec![ctx.response(ResponseCode::ServFail)],
        };
        let rcode = messages
            .first()
            .map_or(ResponseCode::ServFail, answer::rcode_of);
        stats::answered(ctx.qtype(), rcode, started);
        Step::Done(messages.iter().map(|m| answer::encode(ctx, m)).collect())
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
    let stats = stats::FastStats::new();
    while !shutdown.is_cancelled() {
        if let Err(error) = inbox.receive(socket) {
            debug!(%error, "udp receive failed");
            // Never spin on a socket that keeps failing.
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        shared.answer_fast(&inbox, &mut outbox, &mut general, &stats);
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

async fn serve_tcp(
    shared: Arc<Shared>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), DnsError> {
    let connections = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    let mut tasks = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    warn!(%error, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            debug!(%peer, "too many tcp connections, closing");
            continue;
        };
        let shared = shared.clone();
        tasks.spawn(async move {
            serve_connection(&shared, stream, peer).await;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    tasks.shutdown().await;
    Ok(())
}

/// Answers length-prefixed queries in order (RFC 7766 §8) until the client
/// closes or stays idle too long.
async fn serve_connection(shared: &Shared, mut stream: TcpStream, peer: SocketAddr) {
    let idle = shared.tcp_idle_timeout;
    loop {
        let Ok(Ok(len)) = tokio::time::timeout(idle, stream.read_u16()).await else {
            return;
        };
        let mut request = vec![0; usize::from(len)];
        let Ok(Ok(_)) = tokio::time::timeout(idle, stream.read_exact(&mut request)).await else {
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
