//! Batched UDP: up to [`BATCH`] datagrams per `recvmmsg` and per `sendmmsg`.
//!
//! Under load most of a query's cost is the kernel's, and a good part of it is
//! the system call and the wake-up around each datagram. When several queries
//! wait in the socket, one call takes them all and one call sends all their
//! answers; when one waits, this costs what `recvfrom`/`sendto` cost.
//!
//! Each socket is served by its own thread blocked in `recvmmsg` (the socket
//! is blocking, with a receive timeout so the thread sees a shutdown): the
//! kernel wakes that thread directly, with no epoll round trip and no
//! hand-over between the reactor and a worker thread.
//!
//! Receiving goes through nix's safe `recvmmsg` wrapper. Sending stays on
//! `libc::sendmmsg`, in the two `unsafe` blocks left here (issue 18 item 7):
//! nix 0.32's `sendmmsg` reports how many datagrams the kernel took only
//! through its result iterator, and that iterator reads (`assume_init`) the
//! address slots of its `MultiHeaders`, which only `recvmmsg` writes: counting
//! the datagrams sent would read uninitialised memory, and a batch needs that
//! count to resume after a partial send. The benchmark of this change is in
//! docs/benchmarks.md ("nix's recvmmsg").

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};

use nix::libc;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrLike, SockaddrStorage, recvmmsg};
use tracing::debug;

/// Datagrams per system call. dnsperf keeps 100 queries in flight; larger
/// batches only add latency to the first answer of a batch.
pub(crate) const BATCH: usize = 32;
/// EDNS lets a client send up to 64 KiB. The buffers are zeroed lazily by the
/// allocator (calloc), so only the pages a datagram touches are resident.
const MAX_DATAGRAM: usize = u16::MAX as usize;

/// Datagrams received by one [`Inbox::receive`].
pub(crate) struct Inbox {
    buffers: Vec<Vec<u8>>,
    /// The `mmsghdr`s and the address slots the kernel writes each sender
    /// into, allocated once. One inbox serves one socket, so one address
    /// family: nix leaves each header's address length as the last receive
    /// set it, which fits every later sender of that family.
    headers: MultiHeaders<SockaddrStorage>,
    received: Vec<(usize, SocketAddr)>,
}

impl Inbox {
    pub fn new() -> Self {
        Inbox {
            buffers: (0..BATCH).map(|_| vec![0; MAX_DATAGRAM]).collect(),
            headers: MultiHeaders::preallocate(BATCH, None),
            received: Vec::with_capacity(BATCH),
        }
    }

    /// Waits for at least one datagram, up to the socket's read timeout, and
    /// takes every one waiting (up to [`BATCH`]). Empty after a timeout.
    pub fn receive(&mut self, socket: &UdpSocket) -> io::Result<()> {
        let Inbox {
            buffers,
            headers,
            received,
        } = self;
        received.clear();
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = buffers
            .iter_mut()
            .map(|buffer| [IoSliceMut::new(buffer)])
            .collect();
        // MSG_WAITFORONE: block (up to the socket's timeout) for the first
        // datagram only, then take whatever else is already waiting.
        let messages = match recvmmsg(
            socket.as_raw_fd(),
            headers,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        ) {
            Ok(messages) => messages,
            Err(errno) => {
                let error = io::Error::from(errno);
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) {
                    return Ok(());
                }
                return Err(error);
            }
        };
        for message in messages {
            // A datagram without a usable source cannot be answered; an empty
            // one is dropped (and counted) by the general path.
            let from = message.address.as_ref().and_then(socket_addr);
            received.push(from.map_or((0, UNKNOWN_SOURCE), |from| (message.bytes, from)));
        }
        Ok(())
    }

    /// The datagrams of the last receive: bytes and sender.
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        (0..self.received.len()).filter_map(|index| self.datagram(index))
    }

    /// Datagram `index` of the last receive.
    pub fn datagram(&self, index: usize) -> Option<(&[u8], SocketAddr)> {
        let &(len, from) = self.received.get(index)?;
        let buffer = self.buffers.get(index)?;
        Some((&buffer[..len.min(buffer.len())], from))
    }
}

const UNKNOWN_SOURCE: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));

/// An `mmsghdr` for one datagram to send: its destination and its one iovec.
#[allow(unsafe_code)]
fn message_header(
    name: *mut libc::c_void,
    name_len: libc::socklen_t,
    iovec: &mut libc::iovec,
) -> libc::mmsghdr {
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_name = name;
    header.msg_namelen = name_len;
    header.msg_iov = iovec;
    header.msg_iovlen = 1;
    libc::mmsghdr {
        msg_hdr: header,
        msg_len: 0,
    }
}

/// The sender's address, for IPv4 and IPv6 sockets.
fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

/// Answers waiting to be sent: one buffer, a range and a destination each.
pub(crate) struct Outbox {
    pub bytes: Vec<u8>,
    queued: Vec<(Range<usize>, SockaddrStorage)>,
}

impl Outbox {
    pub fn new() -> Self {
        Outbox {
            bytes: Vec::with_capacity(BATCH * 512),
            queued: Vec::with_capacity(BATCH),
        }
    }

    /// Queues `bytes[start..]`, written by the caller, for `to`.
    pub fn queue_written(&mut self, start: usize, to: SocketAddr) {
        if start < self.bytes.len() {
            self.queued
                .push((start..self.bytes.len(), SockaddrStorage::from(to)));
        }
    }

    /// Copies `answer` in and queues it for `to`.
    pub fn queue(&mut self, answer: &[u8], to: SocketAddr) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(answer);
        self.queue_written(start, to);
    }

    /// Sends everything queued and empties the box. A datagram the kernel
    /// refuses (unreachable, too big) is logged and skipped; the client
    /// retries as it would after a loss. A full send buffer is waited out
    /// [`SEND_RETRIES`] times, then the rest is dropped and counted. Blocks
    /// the calling thread for those waits: call it from the socket's thread.
    pub fn send(&mut self, socket: &UdpSocket) {
        let Outbox { bytes, queued } = self;
        let mut next = 0;
        let mut retries = 0;
        while next < queued.len() {
            let pending = &queued[next..queued.len().min(next + BATCH)];
            match send_batch(socket.as_raw_fd(), bytes, pending) {
                Ok(count) if count > 0 => next += count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    retries += 1;
                    if retries > SEND_RETRIES {
                        for _ in next..queued.len() {
                            crate::stats::dropped();
                        }
                        debug!(dropped = queued.len() - next, "udp send buffer full");
                        break;
                    }
                    std::thread::sleep(SEND_BUFFER_WAIT);
                }
                result => {
                    if let Err(error) = result {
                        let to = pending.first().map(|(_, to)| to.to_string());
                        debug!(%error, ?to, "udp send failed");
                    }
                    next += 1;
                }
            }
        }
        bytes.clear();
        queued.clear();
    }
}

/// How often a send waits for room in a full send buffer, and how long.
/// Sends do not wait on writability through a poller: that costs a wake-up
/// for every datagram the kernel frees, i.e. one per answer, which under
/// load costs more than the answers themselves.
const SEND_RETRIES: u32 = 3;
const SEND_BUFFER_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// One `sendmmsg` of `pending` (ranges of `bytes` and their destinations);
/// returns how many datagrams the kernel took, from the first.
///
/// Written against libc rather than nix: nix's `sendmmsg` result iterator
/// reads address slots that only `recvmmsg` initialises.
#[allow(unsafe_code)]
fn send_batch(
    fd: RawFd,
    bytes: &[u8],
    pending: &[(Range<usize>, SockaddrStorage)],
) -> io::Result<usize> {
    let mut iovecs: Vec<libc::iovec> = pending
        .iter()
        .map(|(range, _)| {
            let datagram = &bytes[range.clone()];
            libc::iovec {
                iov_base: datagram.as_ptr().cast_mut().cast(),
                iov_len: datagram.len(),
            }
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = pending
        .iter()
        .zip(iovecs.iter_mut())
        .map(|((_, to), iovec)| message_header(to.as_ptr().cast_mut().cast(), to.len(), iovec))
        .collect();
    let count = u32::try_from(headers.len()).unwrap_or(u32::MAX);
    // SAFETY: every header points at an address and an iovec that live until
    // this function returns, and the iovecs at ranges of `bytes`, which
    // outlives the call; the kernel only reads them.
    let sent = unsafe { libc::sendmmsg(fd, headers.as_mut_ptr(), count, libc::MSG_DONTWAIT) };
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

/// Sends one datagram outside a batch (forwarded answers), from any task:
/// it never waits, so an answer that meets a full send buffer is dropped and
/// counted; the client retries as after a loss.
pub(crate) fn send_one(socket: &UdpSocket, answer: &[u8], to: SocketAddr) {
    let pending = [(0..answer.len(), SockaddrStorage::from(to))];
    match send_batch(socket.as_raw_fd(), answer, &pending) {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
            crate::stats::dropped();
            debug!(%to, "udp send buffer full");
        }
        Err(error) => debug!(%error, %to, "udp send failed"),
    }
}

#[cfg(test)]
mod tests {
    use std::net::{SocketAddr, UdpSocket};
    use std::time::Duration;

    use super::{Inbox, Outbox};

    fn bound(address: &str) -> Option<UdpSocket> {
        let socket = UdpSocket::bind(address).ok()?;
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .ok()?;
        Some(socket)
    }

    /// Sends `count` datagrams from a fresh socket to `server`, receives them
    /// in one batch and answers each through the outbox.
    fn round_trip(server: &UdpSocket, client: &UdpSocket, count: u8) {
        let to = server.local_addr().unwrap();
        for n in 0..count {
            client.send_to(&[n; 3], to).unwrap();
        }
        let mut inbox = Inbox::new();
        let mut got: Vec<(Vec<u8>, SocketAddr)> = Vec::new();
        while got.len() < usize::from(count) {
            inbox.receive(server).unwrap();
            assert!(inbox.datagrams().next().is_some(), "timed out");
            got.extend(
                inbox
                    .datagrams()
                    .map(|(bytes, from)| (bytes.to_vec(), from)),
            );
        }
        let client_addr = client.local_addr().unwrap();
        for (n, (bytes, from)) in got.iter().enumerate() {
            assert_eq!(bytes, &vec![n as u8; 3]);
            assert_eq!(*from, client_addr);
        }
        let mut outbox = Outbox::new();
        for (bytes, from) in &got {
            outbox.queue(bytes, *from);
        }
        outbox.send(server);
        let mut buffer = [0u8; 16];
        for n in 0..count {
            let (len, from) = client.recv_from(&mut buffer).unwrap();
            assert_eq!(&buffer[..len], &[n; 3]);
            assert_eq!(from, to);
        }
    }

    #[test]
    fn a_batch_is_received_with_its_senders_and_answered_ipv4() {
        let server = bound("127.0.0.1:0").unwrap();
        let client = bound("127.0.0.1:0").unwrap();
        round_trip(&server, &client, 5);
        // The reused headers serve the next batch too.
        round_trip(&server, &client, 3);
    }

    #[test]
    fn a_batch_is_received_with_its_senders_and_answered_ipv6() {
        // Needs IPv6 on loopback, as the daemon's `[::]` listeners do.
        let server = bound("[::1]:0").expect("IPv6 loopback");
        let client = bound("[::1]:0").expect("IPv6 loopback");
        round_trip(&server, &client, 4);
    }

    #[test]
    fn a_receive_with_nothing_waiting_is_empty_after_the_timeout() {
        let server = bound("127.0.0.1:0").unwrap();
        let mut inbox = Inbox::new();
        inbox.receive(&server).unwrap();
        assert_eq!(inbox.datagrams().count(), 0);
    }
}
