//! The server's counters, typed: one atomic per outcome, indexed by the enum
//! that names it, so counting a packet takes no lock and allocates nothing.
//! Each count goes to the `metrics` facade too, under the Prometheus names of
//! `raftmasq_api::metrics` (`raftmasq_dhcp_received_total{type="discover"}`,
//! `raftmasq_dhcp_ignored_total{reason="not_leader"}`, ...).
//!
//! The index functions match exhaustively, so a new variant of a counted enum
//! does not compile until it has a counter.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use raftmasq_api::metrics::{
    DHCP_COMMITTED, DHCP_DROPPED, DHCP_EVENTS, DHCP_IGNORED, DHCP_RECEIVED, DHCP_REPLIES,
};

use crate::decide::IgnoreReason;
use crate::decode::{DropReason, MessageKind};
use crate::reply::ReplyKind;

/// Outcomes counted without a label of their own (`raftmasq_dhcp_events_total{event}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A packet was decoded with at least one malformed option skipped.
    MalformedOptions,
    /// A committed command's reply could not be built from its response.
    Unfinished,
    /// A proposed command was not committed (no reply was sent).
    CommitFailed,
    /// A reply could not be sent.
    SendFailed,
    /// A request only a leader may answer, kept for the next one
    /// (`server/held.rs`).
    HeldForLeader,
    /// A held request pushed out by newer ones before a leader took over.
    HeldPushedOut,
    /// A held request answered by this node after it took over.
    AnsweredAfterTakeover,
    /// A held request not answered after the takeover: the client's lease
    /// was committed after it was heard, so the old leader had answered it.
    HeldAlreadyAnswered,
    /// A client asked for a name on `dhcp.denied_hostnames`; it was decided
    /// without it.
    DeniedHostname,
    /// A renewal for an address without a lease was NAKed: this node's budget
    /// for them (`dhcp.unknown_renewals_max_percent`) was spent.
    UnknownRenewalRefused,
}

impl Event {
    const ALL: [Event; 10] = [
        Event::MalformedOptions,
        Event::Unfinished,
        Event::CommitFailed,
        Event::SendFailed,
        Event::HeldForLeader,
        Event::HeldPushedOut,
        Event::AnsweredAfterTakeover,
        Event::HeldAlreadyAnswered,
        Event::DeniedHostname,
        Event::UnknownRenewalRefused,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Event::MalformedOptions => "malformed_options",
            Event::Unfinished => "unfinished",
            Event::CommitFailed => "commit_failed",
            Event::SendFailed => "send_failed",
            Event::HeldForLeader => "held_for_leader",
            Event::HeldPushedOut => "held_pushed_out",
            Event::AnsweredAfterTakeover => "answered_after_takeover",
            Event::HeldAlreadyAnswered => "held_already_answered",
            Event::DeniedHostname => "denied_hostname",
            Event::UnknownRenewalRefused => "unknown_renewal_refused",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const MESSAGE_KINDS: [MessageKind; 5] = [
    MessageKind::Discover,
    MessageKind::Request,
    MessageKind::Decline,
    MessageKind::Release,
    MessageKind::Inform,
];

fn message_index(kind: MessageKind) -> usize {
    match kind {
        MessageKind::Discover => 0,
        MessageKind::Request => 1,
        MessageKind::Decline => 2,
        MessageKind::Release => 3,
        MessageKind::Inform => 4,
    }
}

const DROP_REASONS: [DropReason; 11] = [
    DropReason::Truncated,
    DropReason::Oversized,
    DropReason::WrongOp,
    DropReason::BadMagicCookie,
    DropReason::BadHardwareLength,
    DropReason::EthernetLengthMismatch,
    DropReason::UnsupportedHardwareType,
    DropReason::OptionOverflow,
    DropReason::MissingMessageType,
    DropReason::NotClientMessage(0),
    DropReason::InformWithoutAddress,
];

fn drop_index(reason: DropReason) -> usize {
    match reason {
        DropReason::Truncated => 0,
        DropReason::Oversized => 1,
        DropReason::WrongOp => 2,
        DropReason::BadMagicCookie => 3,
        DropReason::BadHardwareLength => 4,
        DropReason::EthernetLengthMismatch => 5,
        DropReason::UnsupportedHardwareType => 6,
        DropReason::OptionOverflow => 7,
        DropReason::MissingMessageType => 8,
        // One counter for every message type clients do not send.
        DropReason::NotClientMessage(_) => 9,
        DropReason::InformWithoutAddress => 10,
    }
}

const IGNORE_REASONS: [IgnoreReason; 26] = [
    IgnoreReason::NotInitialized,
    IgnoreReason::MembersIncomplete,
    IgnoreReason::ForeignRelay,
    IgnoreReason::NotLeader,
    IgnoreReason::OtherServerSelected,
    IgnoreReason::ForOtherServer,
    IgnoreReason::MissingRequestedAddress,
    IgnoreReason::RapidCommitUnanswered,
    IgnoreReason::UnclassifiableRequest,
    IgnoreReason::ReleaseWithoutAddress,
    IgnoreReason::ReleaseNotOwner,
    IgnoreReason::UnknownClient,
    IgnoreReason::UnknownLease,
    IgnoreReason::PoolExhausted,
    IgnoreReason::NoQuorumDiscover,
    IgnoreReason::NoQuorumBind,
    IgnoreReason::NoQuorumNoLease,
    IgnoreReason::NoQuorumRelease,
    IgnoreReason::NoQuorumDecline,
    IgnoreReason::NoQuorumInform,
    IgnoreReason::ReplyTooLarge,
    IgnoreReason::EncodeFailed,
    IgnoreReason::ReleaseWrongSource,
    IgnoreReason::DeclineNotOwner,
    IgnoreReason::Learner,
    IgnoreReason::NoDynamicRange,
];

fn ignore_index(reason: IgnoreReason) -> usize {
    match reason {
        IgnoreReason::NotInitialized => 0,
        IgnoreReason::MembersIncomplete => 1,
        IgnoreReason::ForeignRelay => 2,
        IgnoreReason::NotLeader => 3,
        IgnoreReason::OtherServerSelected => 4,
        IgnoreReason::ForOtherServer => 5,
        IgnoreReason::MissingRequestedAddress => 6,
        IgnoreReason::RapidCommitUnanswered => 7,
        IgnoreReason::UnclassifiableRequest => 8,
        IgnoreReason::ReleaseWithoutAddress => 9,
        IgnoreReason::ReleaseNotOwner => 10,
        IgnoreReason::UnknownClient => 11,
        IgnoreReason::UnknownLease => 12,
        IgnoreReason::PoolExhausted => 13,
        IgnoreReason::NoQuorumDiscover => 14,
        IgnoreReason::NoQuorumBind => 15,
        IgnoreReason::NoQuorumNoLease => 16,
        IgnoreReason::NoQuorumRelease => 17,
        IgnoreReason::NoQuorumDecline => 18,
        IgnoreReason::NoQuorumInform => 19,
        IgnoreReason::ReplyTooLarge => 20,
        IgnoreReason::EncodeFailed => 21,
        IgnoreReason::ReleaseWrongSource => 22,
        IgnoreReason::DeclineNotOwner => 23,
        IgnoreReason::Learner => 24,
        IgnoreReason::NoDynamicRange => 25,
    }
}

const REPLY_KINDS: [ReplyKind; 6] = [
    ReplyKind::Offer,
    ReplyKind::Ack,
    ReplyKind::RapidCommitAck,
    ReplyKind::DegradedAck,
    ReplyKind::InformAck,
    ReplyKind::Nak,
];

fn reply_index(kind: ReplyKind) -> usize {
    match kind {
        ReplyKind::Offer => 0,
        ReplyKind::Ack => 1,
        ReplyKind::RapidCommitAck => 2,
        ReplyKind::DegradedAck => 3,
        ReplyKind::InformAck => 4,
        ReplyKind::Nak => 5,
    }
}

/// Registers every series of the labelled DHCP counters at zero, so each
/// family is in `/metrics` (and its `rate()` defined) before the first packet
/// of its kind; alerts on drops then see 0, not nothing.
pub fn register_metrics() {
    for kind in MESSAGE_KINDS {
        metrics::counter!(DHCP_RECEIVED, "type" => kind.label()).increment(0);
    }
    for reason in DROP_REASONS {
        metrics::counter!(DHCP_DROPPED, "reason" => reason.label()).increment(0);
    }
    for reason in IGNORE_REASONS {
        metrics::counter!(DHCP_IGNORED, "reason" => reason.label()).increment(0);
    }
    for kind in REPLY_KINDS {
        metrics::counter!(DHCP_REPLIES, "type" => kind.label()).increment(0);
    }
    for event in Event::ALL {
        metrics::counter!(DHCP_EVENTS, "event" => event.label()).increment(0);
    }
    // The commands a client's message commits with no reply to send.
    for command in ["release", "decline"] {
        metrics::counter!(DHCP_COMMITTED, "command" => command).increment(0);
    }
}

/// Counters by outcome. `Default` is all zero.
#[derive(Default)]
pub struct ServerStats {
    received: [AtomicU64; MESSAGE_KINDS.len()],
    dropped: [AtomicU64; DROP_REASONS.len()],
    ignored: [AtomicU64; IGNORE_REASONS.len()],
    replies: [AtomicU64; REPLY_KINDS.len()],
    events: [AtomicU64; Event::ALL.len()],
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl ServerStats {
    pub(crate) fn count_received(&self, kind: MessageKind) {
        bump(&self.received[message_index(kind)]);
        metrics::counter!(DHCP_RECEIVED, "type" => kind.label()).increment(1);
    }

    pub(crate) fn count_dropped(&self, reason: DropReason) {
        bump(&self.dropped[drop_index(reason)]);
        metrics::counter!(DHCP_DROPPED, "reason" => reason.label()).increment(1);
    }

    pub(crate) fn count_ignored(&self, reason: IgnoreReason) {
        bump(&self.ignored[ignore_index(reason)]);
        metrics::counter!(DHCP_IGNORED, "reason" => reason.label()).increment(1);
    }

    pub(crate) fn count_reply(&self, kind: ReplyKind) {
        bump(&self.replies[reply_index(kind)]);
        metrics::counter!(DHCP_REPLIES, "type" => kind.label()).increment(1);
    }

    pub(crate) fn count_event(&self, event: Event) {
        self.count_events(event, 1);
    }

    pub(crate) fn count_events(&self, event: Event, count: u64) {
        self.events[event.index()].fetch_add(count, Ordering::Relaxed);
        metrics::counter!(DHCP_EVENTS, "event" => event.label()).increment(count);
    }

    /// A command committed without a reply waiting on it (RELEASE, DECLINE):
    /// exported only, by command (`raftmasq_dhcp_committed_total{command}`).
    pub(crate) fn count_committed(&self, command: &'static str) {
        metrics::counter!(DHCP_COMMITTED, "command" => command).increment(1);
    }

    pub fn received(&self, kind: MessageKind) -> u64 {
        read(&self.received[message_index(kind)])
    }

    pub fn dropped(&self, reason: DropReason) -> u64 {
        read(&self.dropped[drop_index(reason)])
    }

    pub fn ignored(&self, reason: IgnoreReason) -> u64 {
        read(&self.ignored[ignore_index(reason)])
    }

    pub fn replies(&self, kind: ReplyKind) -> u64 {
        read(&self.replies[reply_index(kind)])
    }

    pub fn events(&self, event: Event) -> u64 {
        read(&self.events[event.index()])
    }

    /// Every non-zero counter as `family.label = count`, for messages.
    fn nonzero(&self) -> Vec<(String, u64)> {
        let family = |name: &str, labels: Vec<&'static str>, counters: &[AtomicU64]| {
            labels
                .into_iter()
                .zip(counters)
                .map(|(label, counter)| (format!("{name}.{label}"), read(counter)))
                .filter(|(_, count)| *count > 0)
                .collect::<Vec<_>>()
        };
        let mut all = family(
            "received",
            MESSAGE_KINDS.iter().map(MessageKind::label).collect(),
            &self.received,
        );
        all.extend(family(
            "dropped",
            DROP_REASONS.iter().map(DropReason::label).collect(),
            &self.dropped,
        ));
        all.extend(family(
            "ignored",
            IGNORE_REASONS.iter().map(IgnoreReason::label).collect(),
            &self.ignored,
        ));
        all.extend(family(
            "reply",
            REPLY_KINDS.iter().map(ReplyKind::label).collect(),
            &self.replies,
        ));
        all.extend(family(
            "event",
            Event::ALL.iter().map(|event| event.label()).collect(),
            &self.events,
        ));
        all
    }
}

impl fmt::Debug for ServerStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.nonzero()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_variant_has_its_own_counter() {
        for (i, kind) in MESSAGE_KINDS.into_iter().enumerate() {
            assert_eq!(message_index(kind), i, "{kind:?}");
        }
        for (i, reason) in DROP_REASONS.into_iter().enumerate() {
            assert_eq!(drop_index(reason), i, "{reason:?}");
        }
        for (i, reason) in IGNORE_REASONS.into_iter().enumerate() {
            assert_eq!(ignore_index(reason), i, "{reason:?}");
        }
        for (i, kind) in REPLY_KINDS.into_iter().enumerate() {
            assert_eq!(reply_index(kind), i, "{kind:?}");
        }
        for (i, event) in Event::ALL.into_iter().enumerate() {
            assert_eq!(event.index(), i, "{event:?}");
        }
    }

    #[test]
    fn counts_are_kept_by_outcome() {
        let stats = ServerStats::default();
        stats.count_received(MessageKind::Discover);
        stats.count_dropped(DropReason::NotClientMessage(2));
        stats.count_dropped(DropReason::NotClientMessage(5));
        stats.count_ignored(IgnoreReason::NotLeader);
        stats.count_reply(ReplyKind::Offer);
        stats.count_event(Event::CommitFailed);
        assert_eq!(stats.received(MessageKind::Discover), 1);
        assert_eq!(stats.received(MessageKind::Request), 0);
        assert_eq!(stats.dropped(DropReason::NotClientMessage(9)), 2);
        assert_eq!(stats.ignored(IgnoreReason::NotLeader), 1);
        assert_eq!(stats.replies(ReplyKind::Offer), 1);
        assert_eq!(stats.events(Event::CommitFailed), 1);
        assert_eq!(
            format!("{stats:?}"),
            "{\"received.discover\": 1, \"dropped.not_client_message\": 2, \
             \"ignored.not_leader\": 1, \"reply.offer\": 1, \"event.commit_failed\": 1}"
        );
    }
}
