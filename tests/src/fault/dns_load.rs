//! A DNS query loop on every host: from the load container on a host's
//! bridge, ask that host's DNS server for the A record of a random client's
//! name, a few times a second, and record what came back.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::sched::{CloneFlags, setns};

use super::history::{DnsOutcome, DnsSample, Recorder, wall_ms};
use crate::dnsprobe::{NOERROR, NXDOMAIN, TYPE_A, Xorshift, query};
use crate::netns::Container;

/// How long a query waits: a resolver would retry after about this long.
const QUERY_WAIT: Duration = Duration::from_millis(400);
const EVERY: Duration = Duration::from_millis(100);

/// The running query loops; stopped on drop.
pub struct DnsLoad {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DnsLoad {
    /// Queries `names` (first labels in `domain`) at each container's host.
    pub fn start(
        containers: &[&Container],
        names: &[String],
        domain: &str,
        seed: u64,
        recorder: &Recorder,
    ) -> io::Result<DnsLoad> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for container in containers {
            // Two loops per host: a new socket (source port) per query, as
            // stub resolvers do, and one long-lived socket, as a forwarding
            // resolver keeps: SO_REUSEPORT sends one source port to one of
            // the server's sockets, so only the second can see a stalled one.
            for socket_use in [SocketUse::PerQuery, SocketUse::LongLived] {
                let netns = std::fs::File::open(container.netns.path())?;
                let host = container.host;
                let server = SocketAddr::from((Ipv4Addr::new(172, 16, 0, host), 53));
                let (names, domain, stop, recorder) = (
                    names.to_vec(),
                    domain.to_string(),
                    stop.clone(),
                    recorder.clone(),
                );
                let stream = u32::from(host) * 2 + u32::from(socket_use == SocketUse::LongLived);
                let rng = Xorshift::new(seed.rotate_left(stream) | 1);
                threads.push(thread::spawn(move || {
                    if let Err(error) = setns(&netns, CloneFlags::CLONE_NEWNET) {
                        eprintln!("dns load: setns: {error}");
                        return;
                    }
                    let lane = Lane {
                        host,
                        server,
                        names,
                        domain,
                        socket_use,
                    };
                    lane.run(rng, &stop, &recorder);
                }));
            }
        }
        Ok(DnsLoad { stop, threads })
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// How a query loop picks its source port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SocketUse {
    PerQuery,
    LongLived,
}

/// One query loop, inside its container's namespace.
struct Lane {
    host: u8,
    server: SocketAddr,
    names: Vec<String>,
    domain: String,
    socket_use: SocketUse,
}

impl Lane {
    fn run(&self, mut rng: Xorshift, stop: &AtomicBool, recorder: &Recorder) {
        let long_lived = match self.socket_use {
            SocketUse::LongLived => match UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) {
                Ok(socket) => Some(socket),
                Err(error) => {
                    eprintln!("dns load: no socket: {error}");
                    return;
                }
            },
            SocketUse::PerQuery => None,
        };
        let count = u64::try_from(self.names.len()).unwrap_or(1).max(1);
        while !stop.load(Ordering::SeqCst) {
            let hostname = &self.names[usize::try_from(rng.below(count)).unwrap_or(0)];
            let id = u16::try_from(rng.below(65_536)).unwrap_or(1);
            let at_ms = wall_ms();
            let name = format!("{hostname}.{}", self.domain);
            let outcome = match &long_lived {
                Some(socket) => ask(socket, self.server, id, &name),
                None => match UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) {
                    Ok(socket) => ask(&socket, self.server, id, &name),
                    Err(_) => DnsOutcome::Unanswered,
                },
            };
            recorder.dns(DnsSample {
                at_ms,
                host: self.host,
                hostname: hostname.clone(),
                outcome,
            });
            thread::sleep(EVERY);
        }
    }
}

impl Drop for DnsLoad {
    fn drop(&mut self) {
        self.halt();
    }
}

fn ask(socket: &UdpSocket, server: SocketAddr, id: u16, name: &str) -> DnsOutcome {
    if socket.send_to(&query(id, name, TYPE_A), server).is_err()
        || socket.set_read_timeout(Some(QUERY_WAIT)).is_err()
    {
        return DnsOutcome::Unanswered;
    }
    let mut buffer = [0u8; 1500];
    // Skip late answers to earlier queries (other ids) until the wait ends.
    for _ in 0..8 {
        let Ok(length) = socket.recv(&mut buffer) else {
            return DnsOutcome::Unanswered;
        };
        if let Some((reply_id, rcode, addresses)) = parse_a_answers(&buffer[..length])
            && reply_id == id
        {
            return if rcode == NOERROR || rcode == NXDOMAIN {
                DnsOutcome::Answered(addresses)
            } else {
                DnsOutcome::Failed(rcode)
            };
        }
    }
    DnsOutcome::Unanswered
}

/// (id, rcode, A records of the answer section) of a response.
pub fn parse_a_answers(bytes: &[u8]) -> Option<(u16, u8, Vec<Ipv4Addr>)> {
    let header = bytes.get(..12)?;
    let id = u16::from_be_bytes([header[0], header[1]]);
    if header[2] & 0x80 == 0 {
        return None;
    }
    let rcode = header[3] & 0x0f;
    let questions = u16::from_be_bytes([header[4], header[5]]);
    let answers = u16::from_be_bytes([header[6], header[7]]);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(bytes, at)? + 4;
    }
    let mut addresses = Vec::new();
    for _ in 0..answers {
        at = skip_name(bytes, at)?;
        let fixed = bytes.get(at..at + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let length = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let data = bytes.get(at + 10..at + 10 + length)?;
        if rtype == TYPE_A && length == 4 {
            addresses.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + length;
    }
    Some((id, rcode, addresses))
}

/// The offset just past the (possibly compressed) name at `at`.
fn skip_name(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let length = *bytes.get(at)?;
        match length {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_records_are_read_past_the_question_and_compressed_names() {
        let mut reply = query(0x1234, "f1c1.lxd", TYPE_A);
        reply[2] |= 0x80; // QR
        reply[7] = 2; // two answers
        for last in [10u8, 11] {
            reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 172, 16, 0, last]);
        }
        let (id, rcode, addresses) = parse_a_answers(&reply).expect("parsed");
        assert_eq!((id, rcode), (0x1234, NOERROR));
        assert_eq!(
            addresses,
            [Ipv4Addr::new(172, 16, 0, 10), Ipv4Addr::new(172, 16, 0, 11)]
        );
        assert_eq!(parse_a_answers(&reply[..reply.len() - 2]), None);
    }
}
