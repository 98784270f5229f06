//! A pool of simulated DHCP clients speaking real DHCPv4 on the testbed's
//! segment, recording every answer they get (or do not get).
//!
//! Each load container (one per host, on that host's bridge) runs one thread
//! that `setns(2)`s into it and plays `clients` clients, each with its own MAC
//! and hostname, one exchange at a time, in random order (seeded):
//!
//! - unbound: DISCOVER → OFFER → REQUEST (SELECTING) → ACK / NAK;
//! - bound: mostly a renewal — REQUEST with `ciaddr`, unicast to the server
//!   that acknowledged it (RENEWING), then broadcast (REBINDING) if that
//!   server is silent; sometimes a RELEASE;
//! - a lease whose end passes without a renewal expires.
//!
//! One client in three is *patient*: it renews only at T1 (half the lease)
//! and never releases, as dhclient and udhcpc do; the others renew every few
//! seconds so that a fault meets many renewals.
//!
//! Every request sets the BROADCAST flag so replies to clients without an
//! address reach the shared socket; a bound client's address is added to the
//! container's `eth0` (as /32) so unicast replies to `ciaddr` arrive too.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use nix::sched::{CloneFlags, setns};

use super::history::{DhcpEvent, DhcpRecord, Recorder, wall_ms};
use crate::dnsprobe::Xorshift;
use crate::netns::{CONTAINER_INTERFACE, Container};

const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;
/// One try per step, then the next step (or the next client).
const OFFER_WAIT: Duration = Duration::from_millis(400);
const ACK_WAIT: Duration = Duration::from_millis(700);
/// Renewing (unicast) then rebinding (broadcast), each this long.
const RENEW_WAIT: Duration = Duration::from_millis(500);
/// Pause between two exchanges of one worker: about 40 exchanges/s per host.
const STEP: Duration = Duration::from_millis(15);
/// Per hundred actions of a bound client: releases (the rest renew).
const RELEASE_PERCENT: u64 = 8;

/// The load container's own address: inside the subnet, outside the range.
pub fn container_address(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(172, 16, 255, host)
}

/// The MAC of client `k` on host `host`.
pub fn client_mac(host: u8, k: u8) -> [u8; 6] {
    [0x02, 0xfa, host, 0, 0, k]
}

pub fn client_hostname(host: u8, k: u8) -> String {
    format!("f{host}c{k}")
}

fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

struct Worker {
    paused: Arc<AtomicBool>,
    idle: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The running pool; [`DhcpLoad::stop`] (or drop) ends it.
pub struct DhcpLoad {
    stop: Arc<AtomicBool>,
    workers: Vec<Worker>,
}

impl DhcpLoad {
    /// Starts `clients` clients in each container, from `seed`.
    pub fn start(
        containers: &[&Container],
        clients: u8,
        seed: u64,
        recorder: &Recorder,
    ) -> io::Result<DhcpLoad> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for container in containers {
            container.netns.ip([
                "addr",
                "add",
                &format!("{}/16", container_address(container.host)),
                "dev",
                CONTAINER_INTERFACE,
            ])?;
            let netns = std::fs::File::open(container.netns.path())?;
            let paused = Arc::new(AtomicBool::new(false));
            let idle = Arc::new(AtomicBool::new(false));
            let mut pool = Pool {
                host: container.host,
                netns_name: container.netns.name().to_string(),
                clients: (1..=clients)
                    .map(|k| SimClient {
                        patient: k % 3 == 0,
                        mac: client_mac(container.host, k),
                        hostname: client_hostname(container.host, k),
                        bound: None,
                    })
                    .collect(),
                rng: Xorshift::new(seed ^ (u64::from(container.host) << 32) | 1),
                recorder: recorder.clone(),
            };
            let (stop, paused_flag, idle_flag) = (stop.clone(), paused.clone(), idle.clone());
            let thread = thread::spawn(move || {
                if let Err(error) = setns(&netns, CloneFlags::CLONE_NEWNET) {
                    eprintln!("dhcp load: setns: {error}");
                    return;
                }
                match bind_client_socket() {
                    Ok(socket) => pool.run(&socket, &stop, &paused_flag, &idle_flag),
                    Err(error) => eprintln!("dhcp load: port {CLIENT_PORT}: {error}"),
                }
            });
            workers.push(Worker {
                paused,
                idle,
                thread,
            });
        }
        Ok(DhcpLoad { stop, workers })
    }

    /// Stops every client after its current exchange and waits (at most
    /// `timeout`) until all are idle: the history then stays still while the
    /// test reads the cluster's leases.
    pub fn pause(&self, timeout: Duration) -> bool {
        for worker in &self.workers {
            worker.paused.store(true, Ordering::SeqCst);
        }
        crate::netns::wait_until(timeout, Duration::from_millis(10), || {
            self.workers
                .iter()
                .all(|w| w.idle.load(Ordering::SeqCst) || w.thread.is_finished())
        })
    }

    pub fn resume(&self) {
        for worker in &self.workers {
            worker.idle.store(false, Ordering::SeqCst);
            worker.paused.store(false, Ordering::SeqCst);
        }
    }

    /// Whether every worker is still running (a dead one is a test failure).
    pub fn all_running(&self) -> bool {
        self.workers.iter().all(|w| !w.thread.is_finished())
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for worker in self.workers.drain(..) {
            let _ = worker.thread.join();
        }
    }
}

impl Drop for DhcpLoad {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Port 68 on `eth0`: bound to the device, as real clients' raw sockets
/// are, so a broadcast to 255.255.255.255 leaves by it with no route.
fn bind_client_socket() -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_broadcast(true)?;
    socket.bind_device(Some(CONTAINER_INTERFACE.as_bytes()))?;
    socket.bind(&std::net::SocketAddr::from((Ipv4Addr::UNSPECIFIED, CLIENT_PORT)).into())?;
    Ok(socket.into())
}

#[derive(Debug, Clone, Copy)]
struct Bound {
    address: Ipv4Addr,
    server_id: Ipv4Addr,
    /// T1: when a patient client renews.
    renew_at_ms: u64,
    until_ms: u64,
}

struct SimClient {
    /// Renews at T1 only and never releases.
    patient: bool,
    mac: [u8; 6],
    hostname: String,
    bound: Option<Bound>,
}

struct Pool {
    host: u8,
    netns_name: String,
    clients: Vec<SimClient>,
    rng: Xorshift,
    recorder: Recorder,
}

/// A reply matched to its request.
struct Answer {
    message: Message,
    sent_at_ms: u64,
}

impl Pool {
    fn run(
        &mut self,
        socket: &UdpSocket,
        stop: &AtomicBool,
        paused: &AtomicBool,
        idle: &AtomicBool,
    ) {
        while !stop.load(Ordering::SeqCst) {
            if paused.load(Ordering::SeqCst) {
                idle.store(true, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(10));
                continue;
            }
            self.expire_due();
            let count = u64::try_from(self.clients.len()).unwrap_or(1).max(1);
            let k = usize::try_from(self.rng.below(count)).unwrap_or(0);
            let patient = self.clients[k].patient;
            match self.clients[k].bound {
                None => self.acquire(socket, k),
                Some(bound) if patient && wall_ms() < bound.renew_at_ms => {}
                Some(bound) if patient => self.renew(socket, k, bound),
                Some(bound) if self.rng.below(100) < RELEASE_PERCENT => {
                    self.release(socket, k, bound)
                }
                Some(bound) => self.renew(socket, k, bound),
            }
            thread::sleep(STEP);
        }
        // Leave no address behind in the container.
        for k in 0..self.clients.len() {
            if let Some(bound) = self.clients[k].bound.take() {
                self.address(bound.address, "del");
            }
        }
    }

    fn record(&self, k: usize, event: DhcpEvent) {
        let client = &self.clients[k];
        self.recorder.dhcp(DhcpRecord {
            at_ms: wall_ms(),
            mac: mac_text(&client.mac),
            hostname: client.hostname.clone(),
            host: self.host,
            event,
        });
    }

    fn expire_due(&mut self) {
        let now = wall_ms();
        for k in 0..self.clients.len() {
            if let Some(bound) = self.clients[k].bound
                && bound.until_ms <= now
            {
                self.drop_lease(
                    k,
                    DhcpEvent::Expire {
                        address: bound.address,
                    },
                );
            }
        }
    }

    fn drop_lease(&mut self, k: usize, event: DhcpEvent) {
        self.record(k, event);
        if let Some(bound) = self.clients[k].bound.take() {
            self.address(bound.address, "del");
        }
    }

    /// `ip addr add|del ADDRESS/32` on the container's `eth0`; a failure
    /// (e.g. two clients given one address) only costs unicast replies.
    fn address(&self, address: Ipv4Addr, verb: &str) {
        let _ = Command::new("ip")
            .args(["-n", &self.netns_name, "addr", verb])
            .arg(format!("{address}/32"))
            .args(["dev", CONTAINER_INTERFACE])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    fn acquire(&mut self, socket: &UdpSocket, k: usize) {
        let xid = self.xid();
        let discover = self.message(k, xid, MessageType::Discover, Ipv4Addr::UNSPECIFIED);
        let Some(offer) = exchange(socket, &discover, broadcast(), OFFER_WAIT, |t| {
            t == MessageType::Offer
        }) else {
            self.record(k, DhcpEvent::Timeout { what: "discover" });
            return;
        };
        let Some(server_id) = server_id(&offer.message) else {
            return;
        };
        let mut request = self.message(k, xid, MessageType::Request, Ipv4Addr::UNSPECIFIED);
        request
            .opts_mut()
            .insert(DhcpOption::RequestedIpAddress(offer.message.yiaddr()));
        request
            .opts_mut()
            .insert(DhcpOption::ServerIdentifier(server_id));
        match exchange(socket, &request, broadcast(), ACK_WAIT, is_ack_or_nak) {
            None => self.record(k, DhcpEvent::Timeout { what: "request" }),
            Some(answer) => self.answered(k, &answer, true),
        }
    }

    fn renew(&mut self, socket: &UdpSocket, k: usize, bound: Bound) {
        let xid = self.xid();
        let request = self.message(k, xid, MessageType::Request, bound.address);
        let unicast = SocketAddrV4::new(bound.server_id, SERVER_PORT);
        let answer = exchange(socket, &request, unicast, RENEW_WAIT, is_ack_or_nak)
            .or_else(|| exchange(socket, &request, broadcast(), RENEW_WAIT, is_ack_or_nak));
        match answer {
            None => self.record(k, DhcpEvent::Timeout { what: "renew" }),
            Some(answer) => self.answered(k, &answer, false),
        }
    }

    fn release(&mut self, socket: &UdpSocket, k: usize, bound: Bound) {
        let xid = self.xid();
        let mut release = self.message(k, xid, MessageType::Release, bound.address);
        release
            .opts_mut()
            .insert(DhcpOption::ServerIdentifier(bound.server_id));
        // No answer comes to a RELEASE; a lost one leaves the lease to expire.
        let _ = send(
            socket,
            &release,
            SocketAddrV4::new(bound.server_id, SERVER_PORT),
        );
        self.drop_lease(
            k,
            DhcpEvent::Release {
                address: bound.address,
            },
        );
    }

    fn answered(&mut self, k: usize, answer: &Answer, new: bool) {
        let message = &answer.message;
        let server = server_id(message);
        if message.opts().msg_type() == Some(MessageType::Nak) {
            self.drop_lease(k, DhcpEvent::Nak { server_id: server });
            return;
        }
        let (Some(server_id), Some(lease_secs)) = (server, lease_time(message)) else {
            return;
        };
        let address = message.yiaddr();
        let previous = self.clients[k].bound;
        self.record(
            k,
            DhcpEvent::Ack {
                address,
                server_id,
                lease_secs,
                new,
                sent_at_ms: answer.sent_at_ms,
            },
        );
        if let Some(old) = previous
            && old.address != address
        {
            self.address(old.address, "del");
        }
        if previous.is_none_or(|old| old.address != address) {
            self.address(address, "add");
        }
        self.clients[k].bound = Some(Bound {
            address,
            server_id,
            renew_at_ms: answer.sent_at_ms + u64::from(lease_secs) * 500,
            until_ms: answer.sent_at_ms + u64::from(lease_secs) * 1000,
        });
    }

    fn xid(&mut self) -> u32 {
        u32::try_from(self.rng.next_u64() >> 32).unwrap_or(1)
    }

    fn message(&self, k: usize, xid: u32, kind: MessageType, ciaddr: Ipv4Addr) -> Message {
        let client = &self.clients[k];
        let mut message = Message::default();
        message
            .set_opcode(Opcode::BootRequest)
            .set_xid(xid)
            .set_flags(Flags::default().set_broadcast())
            .set_ciaddr(ciaddr)
            .set_chaddr(&client.mac);
        let options = message.opts_mut();
        options.insert(DhcpOption::MessageType(kind));
        if kind != MessageType::Release {
            options.insert(DhcpOption::Hostname(client.hostname.clone()));
            options.insert(DhcpOption::ParameterRequestList(vec![
                OptionCode::SubnetMask,
                OptionCode::DomainNameServer,
                OptionCode::DomainName,
            ]));
        }
        message
    }
}

fn broadcast() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT)
}

fn is_ack_or_nak(kind: MessageType) -> bool {
    matches!(kind, MessageType::Ack | MessageType::Nak)
}

fn server_id(message: &Message) -> Option<Ipv4Addr> {
    match message.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(id)) => Some(*id),
        _ => None,
    }
}

fn lease_time(message: &Message) -> Option<u32> {
    match message.opts().get(OptionCode::AddressLeaseTime) {
        Some(DhcpOption::AddressLeaseTime(secs)) => Some(*secs),
        _ => None,
    }
}

fn send(socket: &UdpSocket, message: &Message, to: SocketAddrV4) -> io::Result<()> {
    let mut bytes = Vec::new();
    message
        .encode(&mut Encoder::new(&mut bytes))
        .map_err(io::Error::other)?;
    socket.send_to(&bytes, to).map(drop)
}

/// Sends `request` once and waits at most `wait` for a reply with its xid and
/// MAC whose type `wanted` accepts; other datagrams are skipped.
fn exchange(
    socket: &UdpSocket,
    request: &Message,
    to: SocketAddrV4,
    wait: Duration,
    wanted: impl Fn(MessageType) -> bool,
) -> Option<Answer> {
    let sent_at_ms = wall_ms();
    send(socket, request, to).ok()?;
    let deadline = Instant::now() + wait;
    let mut buffer = vec![0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        socket.set_read_timeout(Some(left)).ok()?;
        let Ok((length, _)) = socket.recv_from(&mut buffer) else {
            continue;
        };
        let Ok(reply) = Message::decode(&mut Decoder::new(&buffer[..length])) else {
            continue;
        };
        if reply.opcode() == Opcode::BootReply
            && reply.xid() == request.xid()
            && reply.chaddr().get(..6) == request.chaddr().get(..6)
            && reply.opts().msg_type().is_some_and(&wanted)
        {
            return Some(Answer {
                message: reply,
                sent_at_ms,
            });
        }
    }
}
