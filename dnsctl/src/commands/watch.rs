//! `dnsctl leases --watch`: the lease table, then one line per change as the
//! node's replica sees it, until interrupted.
//!
//! The admin API has no event stream, so the watch polls `/leases` (a read of
//! the local replica: cheap, and it works without quorum) and prints the
//! difference between consecutive answers. A change shorter than the interval
//! (a lease granted and released between two polls) is not shown.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::time::Duration;

use raftmasq_state::Millis;
use serde::Serialize;

use super::now_millis;
use crate::api::LeaseView;
use crate::output::{or_dash, relative, terminal_safe};

/// What happened to the lease on one address between two polls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum LeaseChange {
    /// A lease on an address that had none.
    Added { lease: LeaseView },
    /// The same client's lease with a new expiry, state or name.
    Changed { before: LeaseView, lease: LeaseView },
    /// Another client now holds the address.
    Replaced { before: LeaseView, lease: LeaseView },
    /// The lease is gone (released, forgotten, or dropped after it ended).
    Removed { lease: LeaseView },
}

/// The changes from `before` to `after`, in address order.
pub fn lease_changes(before: &[LeaseView], after: &[LeaseView]) -> Vec<LeaseChange> {
    let before: BTreeMap<Ipv4Addr, &LeaseView> = before.iter().map(|l| (l.address, l)).collect();
    let after: BTreeMap<Ipv4Addr, &LeaseView> = after.iter().map(|l| (l.address, l)).collect();
    let mut addresses: Vec<Ipv4Addr> = before.keys().chain(after.keys()).copied().collect();
    addresses.sort_unstable();
    addresses.dedup();
    addresses
        .into_iter()
        .filter_map(
            |address| match (before.get(&address), after.get(&address)) {
                (None, Some(now)) => Some(LeaseChange::Added {
                    lease: (*now).clone(),
                }),
                (Some(was), None) => Some(LeaseChange::Removed {
                    lease: (*was).clone(),
                }),
                (Some(was), Some(now)) if was == now => None,
                (Some(was), Some(now)) if was.client_id == now.client_id && was.mac == now.mac => {
                    Some(LeaseChange::Changed {
                        before: (*was).clone(),
                        lease: (*now).clone(),
                    })
                }
                (Some(was), Some(now)) => Some(LeaseChange::Replaced {
                    before: (*was).clone(),
                    lease: (*now).clone(),
                }),
                (None, None) => None,
            },
        )
        .collect()
}

/// One human line for a change: `+ 10.0.0.5 02:42:..:01 c1 bound, ends in 1h`.
pub fn change_line(change: &LeaseChange, now: Millis) -> String {
    let describe = |lease: &LeaseView| {
        let left = i128::from(lease.expires_at) - i128::from(now);
        let when = if left > 0 {
            format!("ends in {}", relative(left))
        } else {
            relative(left)
        };
        format!(
            "{} {} {} {}, {when}",
            lease.address,
            lease.mac,
            or_dash(lease.granted_name.as_ref()),
            lease.state,
        )
    };
    match change {
        LeaseChange::Added { lease } => format!("+ {}", describe(lease)),
        LeaseChange::Changed { before, lease } => {
            let mut what = Vec::new();
            if before.state != lease.state {
                what.push(format!("{} -> {}", before.state, lease.state));
            }
            if before.granted_name != lease.granted_name {
                what.push(format!(
                    "name {} -> {}",
                    or_dash(before.granted_name.as_ref()),
                    or_dash(lease.granted_name.as_ref())
                ));
            }
            if before.expires_at != lease.expires_at && before.state == lease.state {
                what.push("renewed".to_string());
            }
            let what = if what.is_empty() {
                "updated".to_string()
            } else {
                what.join(", ")
            };
            format!("~ {} ({what})", describe(lease))
        }
        LeaseChange::Replaced { before, lease } => {
            format!("~ {} (was {})", describe(lease), before.mac)
        }
        LeaseChange::Removed { lease } => format!(
            "- {} {} {}",
            lease.address,
            lease.mac,
            or_dash(lease.granted_name.as_ref())
        ),
    }
}

/// Polls with `fetch` every `interval` and writes the changes to `out`, for
/// at most `polls` polls (`None`: until interrupted or `out` is closed). A
/// failed poll is reported once per outage on stderr; the watch goes on.
pub fn watch<E: std::fmt::Display>(
    mut fetch: impl FnMut() -> Result<Vec<LeaseView>, E>,
    first: Vec<LeaseView>,
    interval: Duration,
    polls: Option<u64>,
    json: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let mut last = first;
    let mut failing = false;
    let mut done = 0u64;
    while polls.is_none_or(|polls| done < polls) {
        std::thread::sleep(interval);
        done += 1;
        let current = match fetch() {
            Ok(current) => current,
            Err(error) => {
                if !failing {
                    let error = terminal_safe(&error.to_string(), false).into_owned();
                    eprintln!("dnsctl: {error} (still watching)");
                    failing = true;
                }
                continue;
            }
        };
        if failing {
            eprintln!("dnsctl: the node answers again");
            failing = false;
        }
        let now = now_millis();
        for change in lease_changes(&last, &current) {
            if json {
                let line = serde_json::to_string(&change).map_err(std::io::Error::other)?;
                writeln!(out, "{}", terminal_safe(&line, false))?;
            } else {
                let line = change_line(&change, now);
                writeln!(out, "{}", terminal_safe(&line, false))?;
            }
        }
        out.flush()?;
        last = current;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(last: u8, mac: &str, name: &str, expires_at: Millis) -> LeaseView {
        LeaseView {
            address: Ipv4Addr::new(10, 0, 0, last),
            mac: mac.into(),
            client_id: format!("01:{mac}"),
            requested_hostname: Some(name.into()),
            granted_name: Some(name.into()),
            state: "bound".into(),
            granted_at: 0,
            expires_at,
            seen_by: Some(1),
            network: "default".into(),
        }
    }

    #[test]
    fn changes_name_added_renewed_replaced_and_removed_leases_in_address_order() {
        let a = lease(10, "02:00:00:00:00:0a", "a", 1_000);
        let b = lease(11, "02:00:00:00:00:0b", "b", 1_000);
        let c = lease(12, "02:00:00:00:00:0c", "c", 1_000);
        let before = vec![c.clone(), a.clone(), b.clone()];
        let renewed_a = LeaseView {
            expires_at: 5_000,
            ..a.clone()
        };
        let other_on_b = lease(11, "02:00:00:00:00:ff", "x", 9_000);
        let d = lease(13, "02:00:00:00:00:0d", "d", 9_000);
        let after = vec![d.clone(), other_on_b.clone(), renewed_a.clone()];
        assert_eq!(
            lease_changes(&before, &after),
            vec![
                LeaseChange::Changed {
                    before: a,
                    lease: renewed_a
                },
                LeaseChange::Replaced {
                    before: b,
                    lease: other_on_b
                },
                LeaseChange::Removed { lease: c },
                LeaseChange::Added { lease: d },
            ]
        );
        assert!(lease_changes(&after, &after).is_empty());
    }

    #[test]
    fn lines_say_what_changed() {
        let a = lease(10, "02:00:00:00:00:0a", "a", 3_600_000);
        let renamed = LeaseView {
            granted_name: Some("a-2".into()),
            expires_at: 7_200_000,
            ..a.clone()
        };
        let ended = LeaseView {
            state: "expired".into(),
            ..a.clone()
        };
        let lines: Vec<String> = [
            LeaseChange::Added { lease: a.clone() },
            LeaseChange::Changed {
                before: a.clone(),
                lease: renamed,
            },
            LeaseChange::Changed {
                before: a.clone(),
                lease: ended,
            },
            LeaseChange::Removed { lease: a },
        ]
        .iter()
        .map(|change| change_line(change, 0))
        .collect();
        assert_eq!(
            lines,
            [
                "+ 10.0.0.10 02:00:00:00:00:0a a bound, ends in 1h",
                "~ 10.0.0.10 02:00:00:00:00:0a a-2 bound, ends in 2h (name a -> a-2, renewed)",
                "~ 10.0.0.10 02:00:00:00:00:0a a expired, ends in 1h (bound -> expired)",
                "- 10.0.0.10 02:00:00:00:00:0a a",
            ]
        );
    }

    #[test]
    fn the_watch_prints_each_change_once_and_survives_a_failed_poll() {
        let a = lease(10, "02:00:00:00:00:0a", "a", 1_000);
        let b = lease(11, "02:00:00:00:00:0b", "b", 1_000);
        let mut answers = vec![
            Ok(vec![a.clone(), b.clone()]),
            Err("node unreachable"),
            Ok(vec![a.clone(), b.clone()]),
            Ok(vec![b]),
        ]
        .into_iter();
        let mut out = Vec::new();
        watch(
            || answers.next().unwrap_or(Ok(Vec::new())),
            vec![a],
            Duration::ZERO,
            Some(4),
            true,
            &mut out,
        )
        .unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let events: Vec<(&str, &str)> = lines
            .iter()
            .map(|l| {
                (
                    l["event"].as_str().unwrap(),
                    l["lease"]["address"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            events,
            [("added", "10.0.0.11"), ("removed", "10.0.0.10")],
            "one line per change; the failed poll changes nothing"
        );
    }
}
