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

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};

use nix::libc;
use nix::sys::socket::{SockaddrLike, SockaddrStorage};
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
    /// Where each datagram came from, as the kernel wrote it.
    sources: Vec<libc::sockaddr_storage>,
    received: Vec<(usize, SocketAddr)>,
}

impl Inbox {
    pub fn new() -> Self {
        // SAFETY: sockaddr_storage is plain data; all-zero is valid.
        #[allow(unsafe_code)]
        let empty: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        Inbox {
            buffers: (0..BATCH).map(|_| vec![0; MAX_DATAGRAM]).collect(),
            sources: vec![empty; BATCH],
            received: Vec::with_capacity(BATCH),
        }
    }

    /// Waits for at least one datagram, up to the socket's read timeout, and
    /// takes every one waiting (up to [`BATCH`]). Empty after a timeout.
    pub fn receive(&mut self, socket: &UdpSocket) -> io::Result<()> {
        let Inbox {
            buffers,
            sources,
            received,
        } = self;
        received.clear();
        let lengths = match receive_batch(socket.as_raw_fd(), buffers, sources) {
            Ok(lengths) => lengths,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        for (len, source) in lengths.into_iter().zip(sources.iter()) {
            // A datagram without a usable source cannot be answered; an empty
            // one is dropped (and counted) by the general path.
            let from = socket_addr(source);
            received.push(from.map_or((0, UNKNOWN_SOURCE), |from| (len, from)));
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

/// An `mmsghdr` for one datagram: its address slot and its one iovec.
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

/// One `recvmmsg` into `buffers` that waits (up to the socket's timeout)
/// for the first datagram only, sources into `sources`;
/// returns the length of each datagram received.
#[allow(unsafe_code)]
fn receive_batch(
    fd: RawFd,
    buffers: &mut [Vec<u8>],
    sources: &mut [libc::sockaddr_storage],
) -> io::Result<Vec<usize>> {
    let mut iovecs: Vec<libc::iovec> = buffers
        .iter_mut()
        .map(|buffer| libc::iovec {
            iov_base: buffer.as_mut_ptr().cast(),
            iov_len: buffer.len(),
        })
        .collect();
    let mut headers: Vec<libc::mmsghdr> = iovecs
        .iter_mut()
        .zip(sources.iter_mut())
        .map(|(iovec, source)| {
            message_header(
                std::ptr::from_mut(source).cast(),
                SOCKADDR_STORAGE_LEN,
                iovec,
            )
        })
        .collect();
    let count = u32::try_from(headers.len()).unwrap_or(u32::MAX);
    // SAFETY: every header points at a source slot and an iovec over a buffer
    // that live, unaliased, until this function returns; the kernel writes
    // at most `iov_len` and `msg_namelen` bytes into them.
    let received = unsafe {
        libc::recvmmsg(
            fd,
            headers.as_mut_ptr(),
            count,
            libc::MSG_WAITFORONE,
            std::ptr::null_mut(),
        )
    };
    let received = usize::try_from(received).map_err(|_| io::Error::last_os_error())?;
    Ok(headers
        .iter()
        .take(received)
        .map(|header| header.msg_len as usize)
        .collect())
}

const SOCKADDR_STORAGE_LEN: libc::socklen_t =
    std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;

/// The sender's address, for IPv4 and IPv6 sockets.
fn socket_addr(address: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(address.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in for AF_INET.
            #[allow(unsafe_code)]
            let v4: &libc::sockaddr_in = unsafe { &*std::ptr::from_ref(address).cast() };
            Some(SocketAddr::from((
                std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 for AF_INET6.
            #[allow(unsafe_code)]
            let v6: &libc::sockaddr_in6 = unsafe { &*std::ptr::from_ref(address).cast() };
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                u32::from_be(v6.sin6_flowinfo),
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
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
