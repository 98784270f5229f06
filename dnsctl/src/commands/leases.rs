//! `dnsctl leases`: the lease table, filtered and sorted by the node.

use std::io::Write as _;
use std::time::Duration;

use raftmasq_state::Millis;

use super::watch::{lease_changes, watch};
use super::{Style, now_millis, render};
use crate::api::{LeaseView, V6LeaseView};
use crate::cli::LeaseArgs;
use crate::client::Client;
use crate::error::Error;
use crate::output::{Cell, Tone, or_dash, relative, table, terminal_safe};

pub(super) fn leases(
    client: &Client,
    args: &LeaseArgs,
    consistent: bool,
    style: &Style,
) -> Result<String, Error> {
    let query = lease_query(args, consistent);
    let leases: Vec<LeaseView> = client.get("/leases", &query)?;
    if args.watch {
        return watch_leases(client, args, &query, leases, style);
    }
    // The DHCPv6 leases, filtered and sorted by the node with the same
    // query, follow the v4 ones: a table after the v4 table, and in JSON
    // objects after the v4 objects in the one list (see `AnyLease`). A node
    // without DHCPv6 support answers 404: no v6 leases then.
    let v6: Vec<V6LeaseView> = client.get("/leases6", &query).unwrap_or_default();
    if style.json {
        let all = both_families(leases, v6);
        return render(style, &all, |_, _| String::new());
    }
    render(style, &leases, |leases, colour| {
        let now = now_millis();
        let mut text = leases_text(leases, now, colour);
        if !v6.is_empty() {
            text.push('\n');
            text.push_str(&v6_leases_text(&v6, now, colour));
        }
        text
    })
}

/// One element of `dnsctl leases --json`: a v4 lease as `/api/v1/leases`
/// has it (unchanged, so scripts reading v4 leases keep working), or a v6
/// lease as `/api/v1/leases6` has it with `"family": "ipv6"` added, which
/// tells the two apart (a v6 lease has `duid` and `iaid`, no `state`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum AnyLease {
    V6 {
        family: V6Family,
        #[serde(flatten)]
        lease: V6LeaseView,
    },
    V4(LeaseView),
}

/// The `family` tag of a v6 element: always `"ipv6"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum V6Family {
    Ipv6,
}

/// The v4 leases, then the v6 ones, as one JSON list.
pub fn both_families(v4: Vec<LeaseView>, v6: Vec<V6LeaseView>) -> Vec<AnyLease> {
    v4.into_iter()
        .map(AnyLease::V4)
        .chain(v6.into_iter().map(|lease| AnyLease::V6 {
            family: V6Family::Ipv6,
            lease,
        }))
        .collect()
}

/// Prints the table, then the changes until interrupted (or stdout closes).
fn watch_leases(
    client: &Client,
    args: &LeaseArgs,
    query: &[(&str, String)],
    first: Vec<LeaseView>,
    style: &Style,
) -> Result<String, Error> {
    let mut stdout = std::io::stdout().lock();
    // JSON: one stream of JSON lines, the leases there are as `added`.
    let table = if style.json {
        lease_changes(&[], &first)
            .iter()
            .map(|change| serde_json::to_string(change).map(|line| line + "\n"))
            .collect::<Result<String, _>>()
            .map_err(|error| Error::Decode {
                node: "-".into(),
                reason: error.to_string(),
            })?
    } else {
        leases_text(&first, now_millis(), style.colour)
    };
    let printed = stdout
        .write_all(terminal_safe(&table, style.colour).as_bytes())
        .and_then(|()| stdout.flush())
        .and_then(|()| {
            watch(
                || client.get::<Vec<LeaseView>>("/leases", query),
                first,
                Duration::from_secs_f64(args.interval),
                None,
                style.json,
                &mut stdout,
            )
        });
    match printed {
        // `dnsctl leases --watch | head`: the reader is done, so is the watch.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(String::new()),
        Err(error) => Err(Error::Runtime(error)),
        Ok(()) => Ok(String::new()),
    }
}

fn lease_query(args: &LeaseArgs, consistent: bool) -> Vec<(&'static str, String)> {
    let mut query = vec![
        ("consistent", consistent.to_string()),
        ("sort", args.sort.as_str().to_string()),
    ];
    if let Some(host) = args.host {
        query.push(("host", host.to_string()));
    }
    if let Some(mac) = args.mac {
        query.push(("mac", mac.to_string()));
    }
    if let Some(name) = &args.name {
        query.push(("name", name.clone()));
    }
    if let Some(state) = args.state {
        query.push(("state", state.as_str().to_string()));
    }
    if let Some(duid) = &args.duid {
        query.push(("duid", duid.clone()));
    }
    if let Some(network) = &args.network {
        query.push(("network", network.clone()));
    }
    query
}

/// The lease table; the NETWORK column leads when any lease listed is
/// outside the `default` network.
pub fn leases_text(leases: &[LeaseView], now: Millis, colour: bool) -> String {
    if leases.is_empty() {
        return "no leases\n".into();
    }
    let several_networks = leases
        .iter()
        .any(|lease| lease.network != raftmasq_state::DEFAULT_NETWORK);
    let rows: Vec<Vec<Cell>> = leases
        .iter()
        .map(|lease| {
            let tone = match lease.state.as_str() {
                "bound" => Tone::Good,
                "offered" => Tone::Warn,
                _ => Tone::Dim,
            };
            let mut row: Vec<Cell> = Vec::with_capacity(8);
            if several_networks {
                row.push(lease.network.clone().into());
            }
            row.extend([
                lease.address.to_string().into(),
                lease.mac.clone().into(),
                or_dash(lease.requested_hostname.as_ref()).into(),
                or_dash(lease.granted_name.as_ref()).into(),
                Cell::new(lease.state.clone(), tone),
                relative(i128::from(lease.expires_at) - i128::from(now)).into(),
                lease
                    .seen_by
                    .map_or_else(|| "-".to_string(), |id| format!("node {id}"))
                    .into(),
            ]);
            row
        })
        .collect();
    let columns = [
        "network", "address", "mac", "hostname", "dns name", "state", "expires", "seen by",
    ];
    // A cluster of one network shows the table it always did.
    let columns = if several_networks {
        &columns[..]
    } else {
        &columns[1..]
    };
    table(columns, &rows, colour)
}

/// The DHCPv6 leases: address, DUID, IAID, name, expiry.
pub fn v6_leases_text(leases: &[V6LeaseView], now: Millis, colour: bool) -> String {
    let rows: Vec<Vec<Cell>> = leases
        .iter()
        .map(|lease| {
            vec![
                lease.address.to_string().into(),
                lease.duid.clone().into(),
                lease.iaid.to_string().into(),
                or_dash(lease.name.as_ref()).into(),
                relative(i128::from(lease.expires_at) - i128::from(now)).into(),
            ]
        })
        .collect();
    table(
        &["ipv6 address", "duid", "iaid", "dns name", "expires"],
        &rows,
        colour,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn v6_leases_show_address_duid_iaid_name_and_expiry() {
        let lease = V6LeaseView {
            address: "fd42:1::1000".parse().unwrap(),
            duid: "00:03:00:01:00:16:3e:00:00:01".into(),
            iaid: 7,
            mac: Some("00:16:3e:00:00:01".into()),
            name: Some("c1".into()),
            expires_at: 61_000,
        };
        let text = v6_leases_text(&[lease], 1_000, false);
        for part in [
            "IPV6 ADDRESS",
            "fd42:1::1000",
            "00:03:00:01:00:16:3e:00:00:01",
            " 7 ",
            "c1",
            "1m",
        ] {
            assert!(text.contains(part), "{part:?} missing from\n{text}");
        }
    }

    #[test]
    fn json_lists_v4_leases_unchanged_then_v6_leases_tagged_ipv6() {
        let v4 = LeaseView {
            address: Ipv4Addr::new(10, 0, 0, 10),
            mac: "02:42:00:00:01:01".into(),
            client_id: "01:02:42:00:00:01:01".into(),
            requested_hostname: None,
            granted_name: Some("c1".into()),
            state: "bound".into(),
            granted_at: 0,
            expires_at: 5,
            seen_by: None,
            network: "default".into(),
        };
        let v6 = V6LeaseView {
            address: "fd42:1::1000".parse().unwrap(),
            duid: "00:03:00:01:00:16:3e:00:00:01".into(),
            iaid: 7,
            mac: Some("00:16:3e:00:00:01".into()),
            name: Some("c1".into()),
            expires_at: 61_000,
        };
        let all = both_families(vec![v4.clone()], vec![v6.clone()]);
        let json: serde_json::Value = serde_json::to_value(&all).unwrap();
        assert_eq!(json[0], serde_json::to_value(&v4).unwrap());
        assert_eq!(json[1]["family"], "ipv6");
        assert_eq!(json[1]["duid"], "00:03:00:01:00:16:3e:00:00:01");
        assert_eq!(json[1]["iaid"], 7);
        assert_eq!(json[1]["address"], "fd42:1::1000");
        assert_eq!(json[1]["name"], "c1");
        assert_eq!(json[1]["expires_at"], 61_000);
        let back: Vec<AnyLease> = serde_json::from_value(json).unwrap();
        assert_eq!(back, all);
    }

    #[test]
    fn the_lease_table_shows_every_column_in_human_units() {
        let now = 1_000_000_000;
        let leases = vec![LeaseView {
            address: Ipv4Addr::new(10, 0, 0, 10),
            mac: "02:42:00:00:01:01".into(),
            client_id: "01:02:42:00:00:01:01".into(),
            requested_hostname: Some("C1".into()),
            granted_name: Some("c1-2".into()),
            state: "bound".into(),
            granted_at: now,
            expires_at: now + 42 * 60_000,
            seen_by: Some(2),
            network: "default".into(),
        }];
        let text = leases_text(&leases, now, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "ADDRESS    MAC                HOSTNAME  DNS NAME  STATE  EXPIRES  SEEN BY",
                "10.0.0.10  02:42:00:00:01:01  C1        c1-2      bound  42m      node 2",
            ]
        );
        assert_eq!(leases_text(&[], now, false), "no leases\n");
    }

    #[test]
    fn several_networks_add_a_network_column() {
        let now = 1_000_000_000;
        let lease = |address: [u8; 4], network: &str| LeaseView {
            address: Ipv4Addr::from(address),
            mac: "02:42:00:00:01:01".into(),
            client_id: "01:02:42:00:00:01:01".into(),
            requested_hostname: Some("c1".into()),
            granted_name: Some("c1".into()),
            state: "bound".into(),
            granted_at: now,
            expires_at: now + 42 * 60_000,
            seen_by: Some(1),
            network: network.into(),
        };
        let leases = vec![
            lease([172, 16, 0, 10], "default"),
            lease([172, 20, 0, 100], "lab"),
        ];
        let text = leases_text(&leases, now, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "NETWORK  ADDRESS       MAC                HOSTNAME  DNS NAME  STATE  EXPIRES  SEEN BY",
                "default  172.16.0.10   02:42:00:00:01:01  c1        c1        bound  42m      node 1",
                "lab      172.20.0.100  02:42:00:00:01:01  c1        c1        bound  42m      node 1",
            ]
        );
    }
}
