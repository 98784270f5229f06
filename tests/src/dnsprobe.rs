//! A tiny DNS client that runs inside a network namespace, for tests that
//! need precise timing (propagation of a change to every host) or bytes no
//! real client sends (malformed queries).
//!
//! `ip netns exec` costs a process per query, which blurs millisecond
//! measurements. Instead [`in_netns`] runs a closure on a fresh thread that
//! `setns(2)`s into the namespace first: sockets that thread opens live in
//! the namespace, and the rest of the test process is untouched. The wire
//! format here is the minimum a test needs (RFC 1035 §4.1): build one
//! question, read back the header.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};

pub const TYPE_A: u16 = 1;
pub const TYPE_NS: u16 = 2;
pub const TYPE_SOA: u16 = 6;
pub const TYPE_PTR: u16 = 12;
pub const TYPE_TXT: u16 = 16;

pub const NOERROR: u8 = 0;
pub const FORMERR: u8 = 1;
pub const SERVFAIL: u8 = 2;
pub const NXDOMAIN: u8 = 3;
pub const NOTIMP: u8 = 4;
pub const REFUSED: u8 = 5;

/// Runs `f` on a new thread whose network namespace is the one bound at
/// `netns` (e.g. `/run/netns/NAME`), and returns its result.
pub fn in_netns<T, F>(netns: &Path, f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let file = File::open(netns)?;
    thread::spawn(move || -> io::Result<T> {
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        Ok(f())
    })
    .join()
    .map_err(|_| io::Error::other("probe thread panicked"))?
}

/// Like [`in_netns`] but for a scoped thread, so `f` may borrow.
pub fn in_netns_scoped<'scope, T, F>(
    scope: &'scope thread::Scope<'scope, '_>,
    netns: &Path,
    f: F,
) -> io::Result<thread::ScopedJoinHandle<'scope, io::Result<T>>>
where
    T: Send + 'scope,
    F: FnOnce() -> T + Send + 'scope,
{
    let file = File::open(netns)?;
    Ok(scope.spawn(move || -> io::Result<T> {
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        Ok(f())
    }))
}

/// A query for `name` (dotted, with or without the final dot), class IN, RD
/// set, no EDNS.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32 + name.len());
    bytes.extend_from_slice(&id.to_be_bytes());
    bytes.extend_from_slice(&[0x01, 0x00]); // RD
    bytes.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD=1, AN=NS=AR=0
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        bytes.push(u8::try_from(label.len()).unwrap_or(63).min(63));
        bytes.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    bytes.push(0);
    bytes.extend_from_slice(&qtype.to_be_bytes());
    bytes.extend_from_slice(&1u16.to_be_bytes());
    bytes
}

/// The reverse name of an IPv4 address (`a.b.c.d` → `d.c.b.a.in-addr.arpa`).
pub fn reverse_name(address: std::net::Ipv4Addr) -> String {
    let [a, b, c, d] = address.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

/// What a test reads from a response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub id: u16,
    pub rcode: u8,
    pub authoritative: bool,
    pub truncated: bool,
    pub recursion_available: bool,
    pub answers: u16,
}

impl Reply {
    pub fn parse(bytes: &[u8]) -> Option<Reply> {
        let header = bytes.get(..12)?;
        let flags = u16::from_be_bytes([header[2], header[3]]);
        if flags & 0x8000 == 0 {
            return None; // not a response
        }
        Some(Reply {
            id: u16::from_be_bytes([header[0], header[1]]),
            rcode: (flags & 0x000f) as u8,
            authoritative: flags & 0x0400 != 0,
            truncated: flags & 0x0200 != 0,
            recursion_available: flags & 0x0080 != 0,
            answers: u16::from_be_bytes([header[6], header[7]]),
        })
    }
}

/// Sends `request` over UDP to `server` and waits at most `timeout` for a
/// datagram back. Call it inside [`in_netns`].
pub fn udp_exchange(server: SocketAddr, request: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let socket = UdpSocket::bind(if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })?;
    socket.set_read_timeout(Some(timeout))?;
    socket.send_to(request, server)?;
    let mut buf = vec![0u8; 65_535];
    let (n, _) = socket.recv_from(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Sends `request` without waiting for an answer (for garbage that should
/// get none).
pub fn udp_send(server: SocketAddr, request: &[u8]) -> io::Result<()> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.send_to(request, server).map(drop)
}

/// Writes `bytes` raw on a new TCP connection to `server` and reads whatever
/// comes back until the server closes or `timeout` passes.
pub fn tcp_raw(server: SocketAddr, bytes: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&server, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(bytes)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        // A timeout with the connection still open: return what we have.
        Err(error)
            if matches!(
                error.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(out)
        }
        Err(error) => Err(error),
    }
}

/// Asks `server` the question in `request` every `every` until `wanted`
/// holds for the reply or `timeout` passes; returns when it first held.
/// Unanswered probes (timeouts) count as "not yet".
pub fn poll_until(
    server: SocketAddr,
    request: &[u8],
    every: Duration,
    timeout: Duration,
    wanted: impl Fn(&Reply) -> bool,
) -> Option<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        let reply = udp_exchange(server, request, Duration::from_millis(250))
            .ok()
            .and_then(|bytes| Reply::parse(&bytes));
        let at = Instant::now();
        if reply.as_ref().is_some_and(&wanted) {
            return Some(at);
        }
        if at >= deadline {
            return None;
        }
        thread::sleep(every);
    }
}

/// A small deterministic generator (xorshift64*) for fuzz bytes: the same
/// seed gives the same packets, so a failure can be replayed.
pub struct Xorshift(u64);

impl Xorshift {
    pub fn new(seed: u64) -> Xorshift {
        Xorshift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next_u64() >> 56) as u8).collect()
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_have_one_question_in_wire_format() {
        let q = query(0x1234, "c1.lxd.", TYPE_A);
        assert_eq!(
            q,
            [
                0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 2, b'c', b'1', 3, b'l', b'x', b'd',
                0, 0, 1, 0, 1
            ]
        );
        assert_eq!(query(1, "lxd", TYPE_SOA), query(1, "lxd.", TYPE_SOA));
    }

    #[test]
    fn reply_headers_parse_and_queries_are_not_replies() {
        let mut bytes = query(7, "lxd", TYPE_A);
        assert_eq!(Reply::parse(&bytes), None);
        bytes[2] = 0x84; // QR, AA
        bytes[3] = 0x83; // RA, NXDOMAIN
        bytes[7] = 2;
        let reply = Reply::parse(&bytes).unwrap();
        assert_eq!(reply.id, 7);
        assert_eq!(reply.rcode, NXDOMAIN);
        assert!(reply.authoritative && reply.recursion_available && !reply.truncated);
        assert_eq!(reply.answers, 2);
        assert_eq!(Reply::parse(&bytes[..11]), None);
    }

    #[test]
    fn reverse_names_reverse_the_octets() {
        assert_eq!(
            reverse_name("172.16.0.42".parse().unwrap()),
            "42.0.16.172.in-addr.arpa"
        );
    }

    #[test]
    fn the_generator_is_deterministic() {
        let (mut a, mut b) = (Xorshift::new(9), Xorshift::new(9));
        assert_eq!(a.bytes(64), b.bytes(64));
        assert_ne!(a.next_u64(), Xorshift::new(10).next_u64());
    }
}
