//! The DHCPv6 server's counters, through the `metrics` facade under the
//! names of `raftmasq_api::metrics`.

use dhcproto::v6::MessageType;
use raftmasq_api::metrics::{DHCP6_DROPPED, DHCP6_IGNORED, DHCP6_RECEIVED, DHCP6_SENT};

use crate::answer::{Ignored, Malformed, Outcome, RECEIVED_LABELS, received_label};

const SENT_LABELS: [&str; 2] = ["advertise", "reply"];

/// Counts one datagram and what became of it.
pub(crate) fn count(bytes: &[u8], outcome: &Outcome) {
    count_received(bytes);
    count_outcome(outcome);
}

/// Counts one datagram received, by its type byte. The stateful server
/// (`src/dhcp6_stateful.rs`) counts its datagrams here too: one family for
/// both modes.
pub fn count_received(bytes: &[u8]) {
    metrics::counter!(DHCP6_RECEIVED, "type" => received_label(bytes)).increment(1);
}

/// Counts what became of a datagram [`StatelessService::answer`] decided
/// (the stateful server's Information-requests included).
///
/// [`StatelessService::answer`]: crate::StatelessService::answer
pub fn count_outcome(outcome: &Outcome) {
    match outcome {
        Outcome::Answer(answer) => {
            let label = match answer.message_type {
                MessageType::Advertise => "advertise",
                _ => "reply",
            };
            metrics::counter!(DHCP6_SENT, "type" => label).increment(1);
        }
        Outcome::Ignored(reason) => {
            metrics::counter!(DHCP6_IGNORED, "reason" => reason.label()).increment(1);
        }
        Outcome::Dropped(reason) => {
            metrics::counter!(DHCP6_DROPPED, "reason" => reason.label()).increment(1);
        }
    }
}

/// Registers every series at zero, so each family is in `/metrics` before
/// the first packet of its kind.
pub fn register_metrics() {
    for label in RECEIVED_LABELS {
        metrics::counter!(DHCP6_RECEIVED, "type" => label).increment(0);
    }
    for label in SENT_LABELS {
        metrics::counter!(DHCP6_SENT, "type" => label).increment(0);
    }
    for reason in Ignored::ALL {
        metrics::counter!(DHCP6_IGNORED, "reason" => reason.label()).increment(0);
    }
    for reason in Malformed::ALL {
        metrics::counter!(DHCP6_DROPPED, "reason" => reason.label()).increment(0);
    }
}
