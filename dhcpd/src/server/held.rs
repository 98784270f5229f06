//! Requests only a leader could answer, heard while no leader answered them.
//!
//! Every host sees the segment's broadcasts. When the leader dies, the
//! clients' DISCOVERs and REBINDs of the next second or so reach only
//! followers, which must stay silent. A client that gets no answer waits for
//! its own retransmission timer: about 4 s for dhcpcd and systemd-networkd
//! (RFC 2131 §4.1), longer after that. So each follower keeps what it heard
//! for a few seconds, and the node that takes over answers it at once, as if
//! it had just arrived, unless the client's lease was committed after the
//! request was heard: then the old leader answered it (see
//! `decide::answered_since`). Other replies to a client that has moved on are
//! harmless: it matches replies by `xid` and its state and drops the rest.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use raftmasq_state::Millis;

use super::Received;

/// A request as it was heard.
#[derive(Debug, Clone)]
pub struct HeldRequest {
    pub received: Received,
    /// The cluster time it was heard at.
    pub heard_at: Millis,
}

/// A client retransmits within about 4 s (RFC 2131 §4.1: 4 s ± 1 for the
/// first retry), and then the retransmission is held too: older requests
/// are stale.
pub const HOLD_FOR: Duration = Duration::from_secs(4);

/// Bounds the memory a broadcast storm can take (~600 bytes each).
pub const HOLD_AT_MOST: usize = 1024;

#[derive(Debug)]
pub struct HeldRequests {
    queue: VecDeque<(Instant, HeldRequest)>,
    keep_for: Duration,
    capacity: usize,
}

impl Default for HeldRequests {
    fn default() -> Self {
        HeldRequests::new(HOLD_FOR, HOLD_AT_MOST)
    }
}

impl HeldRequests {
    pub fn new(keep_for: Duration, capacity: usize) -> Self {
        HeldRequests {
            queue: VecDeque::new(),
            keep_for,
            capacity,
        }
    }

    /// Keeps `request`, heard at `now`; returns how many older requests
    /// were pushed out to make room (expired ones are not counted).
    pub fn hold(&mut self, now: Instant, request: HeldRequest) -> usize {
        self.forget_expired(now);
        let mut pushed_out = 0;
        while self.queue.len() >= self.capacity.max(1) {
            self.queue.pop_front();
            pushed_out += 1;
        }
        self.queue.push_back((now, request));
        pushed_out
    }

    /// Every request still fresh at `now`, oldest first; the rest are
    /// forgotten.
    pub fn take_fresh(&mut self, now: Instant) -> Vec<HeldRequest> {
        self.forget_expired(now);
        self.queue.drain(..).map(|(_, request)| request).collect()
    }

    fn forget_expired(&mut self, now: Instant) {
        while self
            .queue
            .front()
            .is_some_and(|(heard, _)| now.saturating_duration_since(*heard) > self.keep_for)
        {
            self.queue.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::*;
    use crate::context::Arrival;

    fn request(tag: u8) -> HeldRequest {
        HeldRequest {
            received: Received {
                bytes: vec![tag],
                source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
                arrival: Arrival::Broadcast,
            },
            heard_at: u64::from(tag),
        }
    }

    fn tags(requests: &[HeldRequest]) -> Vec<u8> {
        requests.iter().map(|r| r.received.bytes[0]).collect()
    }

    #[test]
    fn fresh_requests_come_back_oldest_first_and_only_once() {
        let start = Instant::now();
        let mut held = HeldRequests::new(Duration::from_secs(4), 8);
        for tag in 1..=3 {
            held.hold(
                start + Duration::from_millis(u64::from(tag) * 100),
                request(tag),
            );
        }
        let fresh = held.take_fresh(start + Duration::from_secs(1));
        assert_eq!(tags(&fresh), [1, 2, 3]);
        assert!(held.take_fresh(start + Duration::from_secs(1)).is_empty());
    }

    #[test]
    fn requests_older_than_the_hold_time_are_forgotten() {
        let start = Instant::now();
        let mut held = HeldRequests::new(Duration::from_secs(4), 8);
        held.hold(start, request(1));
        held.hold(start + Duration::from_secs(3), request(2));
        // At 4.5 s the first is 4.5 s old, the second 1.5 s.
        let fresh = held.take_fresh(start + Duration::from_millis(4_500));
        assert_eq!(tags(&fresh), [2]);
    }

    #[test]
    fn a_full_queue_pushes_out_the_oldest_and_says_how_many() {
        let start = Instant::now();
        let mut held = HeldRequests::new(Duration::from_secs(4), 2);
        assert_eq!(held.hold(start, request(1)), 0);
        assert_eq!(held.hold(start, request(2)), 0);
        assert_eq!(held.hold(start, request(3)), 1);
        assert_eq!(tags(&held.take_fresh(start)), [2, 3]);
    }

    #[test]
    fn expired_requests_make_room_without_counting_as_pushed_out() {
        let start = Instant::now();
        let mut held = HeldRequests::new(Duration::from_secs(1), 2);
        held.hold(start, request(1));
        held.hold(start, request(2));
        assert_eq!(held.hold(start + Duration::from_secs(2), request(3)), 0);
        assert_eq!(tags(&held.take_fresh(start + Duration::from_secs(2))), [3]);
    }
}
