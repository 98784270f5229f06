//! One log line per committed lease event (bind, renew, release, decline):
//! the address, MAC, hostname asked for and DNS name granted, as dnsmasq's
//! `DHCPACK(br0) 10.0.0.5 02:42:.. c1` line gives them. Values a client chose
//! are escaped and cut, so a hostile hostname cannot forge or flood the log.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use raftmasq_state::{Command, MacAddr, Millis, Response};
use tracing::info;

/// The longest client-chosen value a log line carries, in characters.
pub const MAX_LOGGED_CHARS: usize = 64;

/// A committed change to one lease, as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseEvent<'a> {
    /// `bound`, `renewed`, `released` or `declined`.
    pub event: &'static str,
    pub address: Ipv4Addr,
    pub mac: Option<MacAddr>,
    pub hostname: Option<&'a str>,
    pub name: Option<&'a str>,
    pub expires_at: Option<Millis>,
}

/// The event a committed DHCP `command` made, from what the state machine
/// answered; `None` for commands that are not lease events or were rejected.
pub fn lease_event<'a>(command: &Command, response: &'a Response) -> Option<LeaseEvent<'a>> {
    let event = match command {
        Command::Bind { .. } => "bound",
        Command::Renew { .. } => "renewed",
        Command::Release { .. } => "released",
        Command::Decline { .. } => "declined",
        _ => return None,
    };
    match response {
        Response::Lease { lease } => Some(LeaseEvent {
            event,
            address: lease.address,
            mac: Some(lease.mac),
            hostname: lease.requested_hostname.as_deref(),
            name: lease.granted_name.as_deref(),
            expires_at: (event != "released").then_some(lease.expires_at),
        }),
        Response::Done => match command {
            Command::Release { address, mac, .. } => Some(LeaseEvent {
                event,
                address: *address,
                mac: *mac,
                hostname: None,
                name: None,
                expires_at: None,
            }),
            Command::Decline { address, .. } => Some(LeaseEvent {
                event,
                address: *address,
                mac: None,
                hostname: None,
                name: None,
                expires_at: None,
            }),
            _ => None,
        },
        _ => None,
    }
}

/// `text` safe for one log line: control characters escaped, at most
/// [`MAX_LOGGED_CHARS`] characters, an ellipsis where it was cut.
pub fn loggable(text: &str) -> Cow<'_, str> {
    let clean = text.chars().all(|c| !c.is_control());
    if clean && text.chars().count() <= MAX_LOGGED_CHARS {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(MAX_LOGGED_CHARS + 8);
    for (count, c) in text.chars().enumerate() {
        if count == MAX_LOGGED_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Logs `event` at info, with the lease's remaining seconds at `now`.
pub fn log_lease_event(event: &LeaseEvent<'_>, now: Millis) {
    let lease_secs = event
        .expires_at
        .map(|expires_at| expires_at.saturating_sub(now).div_ceil(1000));
    info!(
        event = event.event,
        ip = %event.address,
        client_mac = event.mac.map(|mac| mac.to_string()),
        hostname = event.hostname.map(loggable).as_deref(),
        name = event.name,
        lease_secs,
        "lease {}",
        event.event
    );
}

#[cfg(test)]
mod tests {
    use raftmasq_state::{ClientId, Lease, LeaseRequest, LeaseState};

    use super::*;

    fn lease() -> Lease {
        let mac = MacAddr([2, 0x42, 0, 0, 0, 1]);
        Lease {
            address: Ipv4Addr::new(10, 0, 0, 5),
            client_id: ClientId::from_mac(mac),
            mac,
            requested_hostname: Some("C1".into()),
            granted_name: Some("c1-2".into()),
            state: LeaseState::Bound,
            granted_at: 1_000,
            expires_at: 3_601_000,
            seen_by: Some(2),
        }
    }

    #[test]
    fn a_bind_logs_address_mac_hostname_and_granted_name() {
        let lease = lease();
        let command = Command::Bind {
            request: LeaseRequest {
                client_id: lease.client_id.clone(),
                mac: lease.mac,
                hostname: Some("C1".into()),
                requested_address: None,
                seen_by: Some(2),
            },
            now: 1_000,
            lease_time_secs: None,
        };
        let response = Response::Lease {
            lease: lease.clone(),
        };
        assert_eq!(
            lease_event(&command, &response),
            Some(LeaseEvent {
                event: "bound",
                address: lease.address,
                mac: Some(lease.mac),
                hostname: Some("C1"),
                name: Some("c1-2"),
                expires_at: Some(3_601_000),
            })
        );
    }

    #[test]
    fn a_release_logs_the_address_and_mac_and_other_commands_log_nothing() {
        let mac = MacAddr([2, 0x42, 0, 0, 0, 1]);
        let release = Command::Release {
            client_id: Some(ClientId::from_mac(mac)),
            mac: Some(mac),
            address: Ipv4Addr::new(10, 0, 0, 5),
            now: 5,
        };
        let event = lease_event(&release, &Response::Done).unwrap();
        assert_eq!(
            (event.event, event.address, event.mac, event.expires_at),
            ("released", Ipv4Addr::new(10, 0, 0, 5), Some(mac), None)
        );
        let rejected = Response::Rejected {
            reason: raftmasq_state::Rejection::NoSuchLease {
                address: Ipv4Addr::new(10, 0, 0, 5),
            },
        };
        assert_eq!(lease_event(&release, &rejected), None, "nothing happened");
        assert_eq!(
            lease_event(
                &Command::Expire { now: 5 },
                &Response::Expired { leases: 3 }
            ),
            None
        );
    }

    #[test]
    fn client_chosen_values_are_escaped_and_cut() {
        assert_eq!(loggable("c1"), "c1");
        assert!(matches!(loggable("c1"), Cow::Borrowed(_)));
        assert_eq!(loggable("evil\nERROR forged"), "evil\\nERROR forged");
        assert_eq!(loggable("\u{1b}[31mred"), "\\u{1b}[31mred");
        let long = "x".repeat(300);
        let cut = loggable(&long);
        assert_eq!(cut.chars().count(), MAX_LOGGED_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
