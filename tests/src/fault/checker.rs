//! The invariants, checked on what the clients saw and what the cluster holds.
//!
//! A client *holds* an address from the DHCPACK that gave it until the first
//! of: a NAK, its RELEASE, its own expiry, an ACK for another address, or the
//! end of the lease counted from when it sent the request. The checks:
//!
//! - **no duplicate**: no two clients hold one address at the same moment;
//! - **no lost lease**: at a check point, every lease a client holds is in the
//!   cluster's table, at that address, ending no earlier than the client was
//!   told (less `slack_ms` for clock rounding);
//! - **no stale name**: a DNS answer never points a client's name at an
//!   address another client has been holding for at least `lag_ms`. A name
//!   whose owner's ACK was lost still resolves to the address reserved for it
//!   — harmless, so not flagged;
//! - **minority rule**: an old leader cut off from the quorum grants no new
//!   address to requests sent after its election timeout.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::Value;

use super::history::{DhcpEvent, DhcpRecord, DnsOutcome, DnsSample};

/// An address one client held from `from_ms` to `to_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub mac: String,
    pub hostname: String,
    pub address: Ipv4Addr,
    pub from_ms: u64,
    pub to_ms: u64,
}

impl Holding {
    fn holds_at(&self, at_ms: u64) -> bool {
        self.from_ms <= at_ms && at_ms < self.to_ms
    }
}

/// The holdings every client's records imply, ordered by start.
pub fn holdings(dhcp: &[DhcpRecord]) -> Vec<Holding> {
    let mut records: Vec<&DhcpRecord> = dhcp.iter().collect();
    records.sort_by_key(|record| record.at_ms);
    let mut current: BTreeMap<&str, Holding> = BTreeMap::new();
    let mut done = Vec::new();
    for record in records {
        let at = record.at_ms;
        match &record.event {
            DhcpEvent::Ack {
                address,
                lease_secs,
                sent_at_ms,
                ..
            } => {
                let until = sent_at_ms.saturating_add(u64::from(*lease_secs) * 1000);
                match current.get_mut(record.mac.as_str()) {
                    Some(held) if held.address == *address && held.to_ms > at => {
                        held.to_ms = until;
                    }
                    _ => {
                        if let Some(mut old) = current.remove(record.mac.as_str()) {
                            old.to_ms = old.to_ms.min(at);
                            done.push(old);
                        }
                        current.insert(
                            &record.mac,
                            Holding {
                                mac: record.mac.clone(),
                                hostname: record.hostname.clone(),
                                address: *address,
                                from_ms: at,
                                to_ms: until,
                            },
                        );
                    }
                }
            }
            DhcpEvent::Nak { .. } | DhcpEvent::Release { .. } | DhcpEvent::Expire { .. } => {
                if let Some(mut old) = current.remove(record.mac.as_str()) {
                    old.to_ms = old.to_ms.min(at);
                    done.push(old);
                }
            }
            DhcpEvent::Timeout { .. } => {}
        }
    }
    done.extend(current.into_values());
    done.sort_by_key(|holding| (holding.from_ms, holding.mac.clone()));
    done
}

/// Two clients holding one address at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub address: Ipv4Addr,
    pub first: String,
    pub second: String,
    /// When the overlap began.
    pub at_ms: u64,
}

pub fn duplicates(holdings: &[Holding]) -> Vec<Duplicate> {
    let mut by_address: BTreeMap<Ipv4Addr, Vec<&Holding>> = BTreeMap::new();
    for holding in holdings {
        by_address.entry(holding.address).or_default().push(holding);
    }
    let mut found = Vec::new();
    for (address, list) in by_address {
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                if a.mac != b.mac && a.from_ms.max(b.from_ms) < a.to_ms.min(b.to_ms) {
                    found.push(Duplicate {
                        address,
                        first: a.mac.clone(),
                        second: b.mac.clone(),
                        at_ms: a.from_ms.max(b.from_ms),
                    });
                }
            }
        }
    }
    found
}

/// A lease in the cluster's table (from `/api/v1/leases`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterLease {
    pub mac: String,
    pub address: Ipv4Addr,
    pub expires_at_ms: u64,
}

impl ClusterLease {
    /// Parses an admin API lease; `None` if a field is missing.
    pub fn from_json(lease: &Value) -> Option<ClusterLease> {
        Some(ClusterLease {
            mac: lease["mac"].as_str()?.to_ascii_lowercase(),
            address: lease["address"].as_str()?.parse().ok()?,
            expires_at_ms: lease["expires_at"].as_u64()?,
        })
    }

    pub fn all(leases: &[Value]) -> Vec<ClusterLease> {
        leases.iter().filter_map(ClusterLease::from_json).collect()
    }
}

/// A lease a client holds that the cluster lost (or will end too early).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostLease {
    pub mac: String,
    pub address: Ipv4Addr,
    pub held_until_ms: u64,
    /// What the cluster holds for that client instead, if anything.
    pub cluster: Option<ClusterLease>,
}

/// Leases held at `at_ms` (and for more than `slack_ms` after) missing from
/// `cluster`, or ending there more than `slack_ms` before the client's end.
pub fn lost_leases(
    holdings: &[Holding],
    cluster: &[ClusterLease],
    at_ms: u64,
    slack_ms: u64,
) -> Vec<LostLease> {
    holdings
        .iter()
        .filter(|h| h.holds_at(at_ms) && h.to_ms > at_ms + slack_ms)
        .filter_map(|held| {
            let mine = cluster
                .iter()
                .find(|l| l.mac == held.mac.to_ascii_lowercase());
            let kept = mine.is_some_and(|lease| {
                lease.address == held.address && lease.expires_at_ms + slack_ms >= held.to_ms
            });
            (!kept).then(|| LostLease {
                mac: held.mac.clone(),
                address: held.address,
                held_until_ms: held.to_ms,
                cluster: mine.cloned(),
            })
        })
        .collect()
}

/// A DNS answer that pointed a name at another client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleName {
    pub host: u8,
    pub at_ms: u64,
    pub hostname: String,
    pub address: Ipv4Addr,
    /// The client that held the address.
    pub holder: String,
}

/// Answers from hosts `counted(host, at_ms)` says to check.
pub fn stale_names(
    holdings: &[Holding],
    dns: &[DnsSample],
    lag_ms: u64,
    counted: impl Fn(u8, u64) -> bool,
) -> Vec<StaleName> {
    let mut found = Vec::new();
    for sample in dns.iter().filter(|s| counted(s.host, s.at_ms)) {
        let DnsOutcome::Answered(addresses) = &sample.outcome else {
            continue;
        };
        for address in addresses {
            let other = holdings.iter().find(|h| {
                h.address == *address
                    && h.hostname != sample.hostname
                    && h.from_ms + lag_ms <= sample.at_ms
                    && sample.at_ms < h.to_ms
            });
            if let Some(holder) = other {
                found.push(StaleName {
                    host: sample.host,
                    at_ms: sample.at_ms,
                    hostname: sample.hostname.clone(),
                    address: *address,
                    holder: holder.mac.clone(),
                });
            }
        }
    }
    found
}

/// New-address ACKs from `server_id` to requests sent at or after `after_ms`
/// and before `until_ms`.
pub fn grants_by(
    dhcp: &[DhcpRecord],
    server_id: Ipv4Addr,
    after_ms: u64,
    until_ms: u64,
) -> Vec<DhcpRecord> {
    dhcp.iter()
        .filter(|record| {
            matches!(
                record.event,
                DhcpEvent::Ack { new: true, server_id: id, sent_at_ms, .. }
                    if id == server_id && sent_at_ms >= after_ms && sent_at_ms < until_ms
            )
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const S1: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 1);

    fn a(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(172, 16, 0, last)
    }

    fn record(at_ms: u64, mac: &str, event: DhcpEvent) -> DhcpRecord {
        DhcpRecord {
            at_ms,
            mac: mac.into(),
            hostname: format!("h{}", &mac[mac.len() - 2..]),
            host: 1,
            event,
        }
    }

    fn ack(at_ms: u64, mac: &str, address: Ipv4Addr, lease_secs: u32) -> DhcpRecord {
        record(
            at_ms,
            mac,
            DhcpEvent::Ack {
                address,
                server_id: S1,
                lease_secs,
                new: true,
                sent_at_ms: at_ms - 5,
            },
        )
    }

    #[test]
    fn an_address_given_to_a_second_client_while_the_first_holds_it_is_a_duplicate() {
        let history = [
            ack(1_000, "02:fa:01:00:00:01", a(10), 120),
            ack(5_000, "02:fa:01:00:00:02", a(10), 120),
        ];
        let found = duplicates(&holdings(&history));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].address, a(10));
        assert_eq!(found[0].at_ms, 5_000);
    }

    #[test]
    fn released_expired_and_naked_addresses_may_go_to_someone_else() {
        let one = "02:fa:01:00:00:01";
        let two = "02:fa:01:00:00:02";
        let three = "02:fa:01:00:00:03";
        let history = [
            ack(1_000, one, a(10), 120),
            record(2_000, one, DhcpEvent::Release { address: a(10) }),
            ack(3_000, two, a(10), 2),
            // two's lease ends at 2_995 + 2_000 without a renewal.
            ack(5_000, three, a(10), 120),
            record(6_000, three, DhcpEvent::Nak { server_id: None }),
            ack(7_000, one, a(10), 120),
        ];
        let held = holdings(&history);
        assert_eq!(held.len(), 4, "{held:?}");
        assert!(duplicates(&held).is_empty(), "{:?}", duplicates(&held));
    }

    #[test]
    fn a_renewal_extends_the_holding_and_a_move_ends_the_old_one() {
        let one = "02:fa:01:00:00:01";
        let history = [
            ack(1_000, one, a(10), 10),
            ack(9_000, one, a(10), 10),
            ack(12_000, one, a(11), 10),
        ];
        let held = holdings(&history);
        assert_eq!(held[0].to_ms, 12_000, "{held:?}");
        assert_eq!(held[1].address, a(11));
        assert_eq!(held[1].to_ms, 21_995);
    }

    #[test]
    fn a_held_lease_missing_or_shortened_in_the_cluster_is_lost() {
        let one = "02:fa:01:00:00:01";
        let two = "02:fa:01:00:00:02";
        let three = "02:fa:01:00:00:03";
        let held = holdings(&[
            ack(1_000, one, a(10), 120),
            ack(1_000, two, a(11), 120),
            ack(1_000, three, a(12), 120),
        ]);
        let cluster = [
            ClusterLease {
                mac: one.into(),
                address: a(10),
                expires_at_ms: 121_000,
            },
            // Ends 60 s before the client was told: an early expiry.
            ClusterLease {
                mac: two.into(),
                address: a(11),
                expires_at_ms: 60_995,
            },
        ];
        let lost = lost_leases(&held, &cluster, 50_000, 1_000);
        let macs: Vec<&str> = lost.iter().map(|l| l.mac.as_str()).collect();
        assert_eq!(macs, [two, three], "{lost:?}");
        // After every lease ended, nothing is held, so nothing can be lost.
        assert!(lost_leases(&held, &[], 130_000, 1_000).is_empty());
    }

    #[test]
    fn a_name_pointing_at_another_clients_address_is_stale() {
        let one = "02:fa:01:00:00:01";
        let two = "02:fa:01:00:00:02";
        let held = holdings(&[
            ack(1_000, one, a(10), 120),
            record(2_000, one, DhcpEvent::Release { address: a(10) }),
            ack(3_000, two, a(10), 120),
        ]);
        let sample = |at_ms, host| DnsSample {
            at_ms,
            host,
            hostname: "h01".into(),
            outcome: DnsOutcome::Answered(vec![a(10)]),
        };
        // Within the replication lag of the hand-over: tolerated.
        let dns = [sample(3_500, 1), sample(9_000, 2), sample(9_000, 3)];
        let stale = stale_names(&held, &dns, 2_000, |host, _| host != 3);
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert_eq!((stale[0].host, stale[0].address), (2, a(10)));
        assert_eq!(stale[0].holder, two);
    }

    #[test]
    fn grants_are_attributed_to_their_server_and_request_time() {
        let history = [
            ack(1_000, "02:fa:01:00:00:01", a(10), 120),
            ack(3_000, "02:fa:01:00:00:02", a(11), 120),
        ];
        assert_eq!(grants_by(&history, S1, 2_000, 10_000).len(), 1);
        assert!(grants_by(&history, a(2), 0, 10_000).is_empty());
    }
}
