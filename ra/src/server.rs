//! The loop: receive → decode → schedule, and send what the schedule says is
//! due. The decisions are `receive` (pure over the schedule and counters)
//! and `Schedule::due`; this file only waits and moves bytes.

use std::io;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::advert::Advertisement;
use crate::schedule::{Answer, Destination, Millis, Schedule, Timing};
use crate::socket::{self, IcmpSocket};
use crate::solicit::decode_solicitation;
use crate::stats::{Sent, Solicited, Stats};

/// Messages read per wakeup before the schedule gets a turn again.
const RECEIVE_BATCH: usize = 64;
/// Larger ICMPv6 messages are not solicitations worth reading whole.
const BUFFER: usize = 1_500;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("cannot open the ICMPv6 socket on {interface} (needs CAP_NET_RAW): {source}")]
    Socket {
        interface: String,
        source: io::Error,
    },
    #[error("cannot read {interface}'s MAC address: {source}")]
    Mac {
        interface: String,
        source: io::Error,
    },
}

/// Router advertisements on one interface.
pub struct RaServer {
    interface: String,
    advert: Advertisement,
    timing: Timing,
    stats: Arc<Stats>,
}

impl RaServer {
    /// `advert.source_mac` is replaced by the interface's own at start.
    pub fn new(
        interface: impl Into<String>,
        advert: Advertisement,
        max_interval: Duration,
    ) -> Self {
        RaServer {
            interface: interface.into(),
            advert,
            timing: Timing::from_max(max_interval),
            stats: Arc::new(Stats::default()),
        }
    }

    /// Opens the socket (so errors reach the caller at start), then serves
    /// until `cancel`; on cancel sends one final advertisement with router
    /// lifetime zero (RFC 4861 §6.2.5).
    pub fn start(
        mut self,
        cancel: CancellationToken,
    ) -> Result<tokio::task::JoinHandle<()>, ServerError> {
        let socket = IcmpSocket::open(&self.interface).map_err(|source| ServerError::Socket {
            interface: self.interface.clone(),
            source,
        })?;
        self.advert.source_mac =
            socket::interface_mac(&self.interface).map_err(|source| ServerError::Mac {
                interface: self.interface.clone(),
                source,
            })?;
        Ok(tokio::spawn(self.run(socket, cancel)))
    }

    async fn run(self, socket: IcmpSocket, cancel: CancellationToken) {
        let start = Instant::now();
        let now = || u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut random = Random::seeded();
        let mut schedule = Schedule::new(self.timing, now());
        let advert = self.advert.encode(false);
        let mut buffer = vec![0u8; BUFFER];
        tracing::info!(interface = %self.interface, prefix = %self.advert.prefix, "router advertisements on");
        loop {
            let sleep = schedule.next_wakeup().saturating_sub(now());
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(sleep)) => {
                    for destination in schedule.due(now(), random.next()) {
                        let (to, kind) = match destination {
                            Destination::AllNodes => (socket::ALL_NODES, Sent::Multicast),
                            Destination::Unicast(address) => (address, Sent::Unicast),
                        };
                        self.send(&socket, &advert, to, kind);
                    }
                }
                received = socket.receive_batch(&mut buffer, RECEIVE_BATCH, |bytes, source, hop_limit| {
                    receive(bytes, source, hop_limit, &mut schedule, now(), random.next(), &self.stats);
                }) => {
                    if let Err(error) = received {
                        tracing::warn!(%error, interface = %self.interface, "router advertisements: socket failed");
                        break;
                    }
                }
            }
        }
        self.send(
            &socket,
            &self.advert.encode(true),
            socket::ALL_NODES,
            Sent::Final,
        );
        tracing::info!(interface = %self.interface, "router advertisements off; sent router lifetime 0");
    }

    fn send(&self, socket: &IcmpSocket, bytes: &[u8], to: Ipv6Addr, kind: Sent) {
        match socket.send(bytes, to) {
            Ok(()) => self.stats.sent(kind),
            // The bridge may be down or without a link-local address yet;
            // the next interval tries again.
            Err(error) => tracing::debug!(%error, %to, "router advertisement not sent"),
        }
    }
}

/// One received ICMPv6 message: a valid solicitation is scheduled for an
/// answer, a malformed one dropped and counted, anything else ignored.
pub(crate) fn receive(
    bytes: &[u8],
    source: Ipv6Addr,
    hop_limit: Option<u8>,
    schedule: &mut Schedule,
    now: Millis,
    random: u32,
    stats: &Stats,
) {
    match decode_solicitation(bytes, source, hop_limit) {
        Ok(None) => {}
        Ok(Some(solicitation)) => {
            let outcome = match schedule.solicited(solicitation.source, now, random) {
                Answer::Scheduled(_) => Solicited::Scheduled,
                Answer::AlreadyDue => Solicited::AlreadyDue,
                Answer::QueueFull => Solicited::QueueFull,
            };
            stats.solicited(outcome);
        }
        Err(reason) => {
            tracing::debug!(%source, %reason, "router solicitation dropped");
            stats.drop(reason);
        }
    }
}

/// xorshift64*: the RFC's jitter needs no more (nothing here is secret).
struct Random(u64);

impl Random {
    fn seeded() -> Random {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Random((nanos ^ u64::from(std::process::id())) | 1)
    }

    fn next(&mut self) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solicit::Malformed;

    #[test]
    fn a_malformed_solicitation_is_dropped_counted_and_not_answered() {
        let stats = Stats::default();
        let mut schedule = Schedule::new(Timing::from_max(Duration::from_secs(600)), 0);
        schedule.due(0, 0);
        let wake = schedule.next_wakeup();
        let source: Ipv6Addr = "fe80::5".parse().unwrap();
        // An option of length zero, then a wrong hop limit.
        let zero_option = [133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        receive(
            &zero_option,
            source,
            Some(255),
            &mut schedule,
            10,
            0,
            &stats,
        );
        receive(
            &zero_option[..8],
            source,
            Some(64),
            &mut schedule,
            10,
            0,
            &stats,
        );
        assert_eq!(stats.dropped(Malformed::BadOption), 1);
        assert_eq!(stats.dropped(Malformed::HopLimit), 1);
        assert_eq!(stats.solicitations(Solicited::Scheduled), 0);
        assert_eq!(schedule.next_wakeup(), wake, "nothing scheduled");
        // A good one is scheduled.
        receive(
            &zero_option[..8],
            source,
            Some(255),
            &mut schedule,
            10,
            0,
            &stats,
        );
        assert_eq!(stats.solicitations(Solicited::Scheduled), 1);
        assert_eq!(schedule.next_wakeup(), 10);
    }

    #[test]
    fn the_jitter_source_spreads() {
        let mut random = Random(1);
        let draws: std::collections::BTreeSet<u32> =
            (0..100).map(|_| random.next() % 501).collect();
        assert!(draws.len() > 50);
    }
}
