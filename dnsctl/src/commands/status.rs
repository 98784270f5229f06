//! `dnsctl status`: the node's view of the cluster, its members and the pool.

use std::fmt::Write as _;

use super::{Outcome, Style, render};
use crate::api::StatusView;
use crate::client::Client;
use crate::error::Error;
use crate::output::{Cell, Tone, or_dash, table};

/// How the cluster looks from the asked node, as `dnsctl status`'s exit code
/// says it (for scripts and monitoring checks; 1 and 2 stay errors and usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// 0: quorum, a leader, every member reachable, the DNS server list complete.
    Healthy,
    /// 3: serving, but a member is unreachable or DHCP waits for a member's
    /// bridge address: one more failure may stop the cluster.
    Degraded,
    /// 4: no quorum or no leader: no lease can be granted or renewed.
    NoQuorum,
}

impl Health {
    pub fn exit_code(self) -> u8 {
        match self {
            Health::Healthy => 0,
            Health::Degraded => 3,
            Health::NoQuorum => 4,
        }
    }
}

/// The health `status` shows.
pub fn health(status: &StatusView) -> Health {
    if !status.has_quorum || status.leader.is_none() {
        Health::NoQuorum
    } else if status.members.iter().any(|member| !member.reachable)
        || !status.dns_servers_missing.is_empty()
    {
        Health::Degraded
    } else {
        Health::Healthy
    }
}

pub(super) fn status(client: &Client, consistent: bool, style: &Style) -> Result<Outcome, Error> {
    let status: StatusView = client.get("/status", &[("consistent", consistent.to_string())])?;
    Ok(Outcome {
        text: render(style, &status, status_text)?,
        exit_code: health(&status).exit_code(),
    })
}

pub fn status_text(status: &StatusView, colour: bool) -> String {
    let mut out = String::new();
    let quorum = if status.has_quorum { "yes" } else { "NO" };
    let _ = writeln!(
        out,
        "node {} ({}) · leader: {} · term {} · quorum: {quorum}",
        status.node_id,
        status.role,
        status
            .leader
            .map_or_else(|| "none".to_string(), |id| format!("node {id}")),
        status.term,
    );
    let _ = writeln!(
        out,
        "log: last {} · committed {} · applied {}",
        or_dash(status.last_log_index),
        or_dash(status.committed),
        or_dash(status.applied),
    );
    let pool = status.pool;
    if status.initialized {
        let _ = writeln!(
            out,
            "pool {}: {} in use ({} bound, {} offered) · {} free · {} reserved · {} quarantined · {} in range",
            or_dash(status.subnet.as_ref()),
            pool.in_use,
            pool.bound,
            pool.offered,
            pool.free,
            pool.reserved,
            pool.quarantined,
            pool.size,
        );
    } else {
        let _ = writeln!(
            out,
            "cluster settings not written yet (no leader has committed them)"
        );
    }
    let dns_servers = if status.dns_servers.is_empty() {
        "-".to_string()
    } else {
        status.dns_servers.join(", ")
    };
    if status.dns_servers_missing.is_empty() {
        let _ = writeln!(out, "dns servers in leases: {dns_servers}");
    } else {
        let missing: Vec<String> = status
            .dns_servers_missing
            .iter()
            .map(|id| format!("node {id}"))
            .collect();
        let _ = writeln!(
            out,
            "dns servers in leases: {dns_servers} · INCOMPLETE, DHCP waits for the bridge address of {}",
            missing.join(", ")
        );
    }
    if !status.settings_differ.is_empty() {
        let keys: Vec<String> = status
            .settings_differ
            .iter()
            .map(|d| format!("{} (cluster {}, file {})", d.key, d.cluster, d.other))
            .collect();
        let _ = writeln!(
            out,
            "settings: this node follows the cluster; its file differs in {} · dnsctl settings show",
            keys.join(", ")
        );
    }
    for network in &status.network_settings_differ {
        let keys: Vec<String> = network
            .differ
            .iter()
            .map(|d| {
                format!(
                    "{} (cluster {}, file {})",
                    d.file_key.as_deref().unwrap_or(&d.key),
                    d.cluster,
                    d.other
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "settings: network {0}: this node follows the cluster; its file differs in {1} · dnsctl settings show --network {0}",
            network.network,
            keys.join(", ")
        );
    }
    out.push('\n');
    let rows: Vec<Vec<Cell>> = status
        .members
        .iter()
        .map(|member| {
            let reachable = if member.reachable {
                Cell::new("yes", Tone::Good)
            } else {
                Cell::new("no", Tone::Bad)
            };
            let lag = match member.lag {
                Some(0) => Cell::new("0", Tone::Good),
                Some(lag) => Cell::new(lag.to_string(), Tone::Warn),
                None => Cell::from("-"),
            };
            vec![
                member.id.to_string().into(),
                member.role.clone().into(),
                member.cluster_addr.clone().into(),
                or_dash(member.admin_addr.as_ref()).into(),
                reachable,
                or_dash(member.term).into(),
                or_dash(member.applied).into(),
                lag,
                member.error.clone().unwrap_or_default().into(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "id",
            "role",
            "cluster addr",
            "admin addr",
            "reachable",
            "term",
            "applied",
            "lag",
            "problem",
        ],
        &rows,
        colour,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{MemberView, PoolView};

    fn member(id: u64, role: &str, reachable: bool, lag: Option<u64>) -> MemberView {
        MemberView {
            id,
            role: role.into(),
            cluster_addr: format!("10.99.0.{id}:7380"),
            admin_addr: None,
            reachable,
            error: (!reachable).then(|| "connection refused".to_string()),
            term: reachable.then_some(3),
            last_log_index: None,
            applied: reachable.then_some(12),
            lag,
        }
    }

    fn three_member_status() -> StatusView {
        StatusView {
            node_id: 1,
            role: "leader".into(),
            leader: Some(1),
            term: 3,
            last_log_index: Some(12),
            committed: Some(12),
            applied: Some(12),
            has_quorum: true,
            initialized: true,
            domain: Some("lxd".into()),
            subnet: Some("10.0.0.0/16".into()),
            pool: PoolView {
                size: 100,
                in_use: 3,
                bound: 2,
                offered: 1,
                free: 95,
                reserved: 2,
                quarantined: 0,
            },
            members: vec![
                member(1, "leader", true, None),
                member(2, "follower", true, Some(0)),
                member(3, "follower", false, None),
            ],
            dns_servers: vec!["10.0.0.2".into(), "10.0.0.3".into(), "10.0.0.4".into()],
            dns_servers_missing: Vec::new(),
            now: 0,
            clock_correction_ms: 0,
            clock_out_of_bound: Vec::new(),
            clock_this_host_out_of_bound: false,
            settings_differ: Vec::new(),
            network_settings_differ: Vec::new(),
        }
    }

    #[test]
    fn a_file_that_differs_is_named_with_both_values() {
        let mut status = three_member_status();
        status.settings_differ = vec![crate::api::SettingDifference {
            key: "dhcp.lease_time".into(),
            cluster: "2h".into(),
            other: "1h".into(),
            file_key: None,
        }];
        let text = status_text(&status, false);
        assert!(
            text.contains("its file differs in dhcp.lease_time (cluster 2h, file 1h)"),
            "{text}"
        );
    }

    #[test]
    fn a_network_whose_file_differs_is_named_with_its_file_key() {
        let mut status = three_member_status();
        status.network_settings_differ = vec![crate::api::NetworkSettingsDiffer {
            network: "lab".into(),
            differ: vec![crate::api::SettingDifference {
                key: "dhcp.range".into(),
                cluster: "10.1.0.10-10.1.0.250".into(),
                other: "10.1.0.10-10.1.0.200".into(),
                file_key: Some("dhcp.networks[0].range".into()),
            }],
        }];
        let text = status_text(&status, false);
        assert!(
            text.contains(
                "settings: network lab: this node follows the cluster; its file differs in dhcp.networks[0].range (cluster 10.1.0.10-10.1.0.250, file 10.1.0.10-10.1.0.200) · dnsctl settings show --network lab"
            ),
            "{text}"
        );
    }

    #[test]
    fn health_is_the_worst_of_quorum_leader_members_and_dns_servers() {
        let down = three_member_status();
        assert_eq!(health(&down), Health::Degraded, "node 3 unreachable");
        let mut all_up = down.clone();
        all_up.members[2] = member(3, "follower", true, Some(0));
        assert_eq!(health(&all_up), Health::Healthy);
        assert_eq!(Health::Healthy.exit_code(), 0);
        let waiting = StatusView {
            dns_servers_missing: vec![3],
            ..all_up.clone()
        };
        assert_eq!(health(&waiting), Health::Degraded);
        let no_quorum = StatusView {
            has_quorum: false,
            ..all_up.clone()
        };
        assert_eq!(health(&no_quorum), Health::NoQuorum);
        let no_leader = StatusView {
            leader: None,
            ..all_up
        };
        assert_eq!(health(&no_leader), Health::NoQuorum);
        assert_eq!(
            [Health::Degraded, Health::NoQuorum].map(Health::exit_code),
            [3, 4],
            "neither collides with 1 (error) or 2 (usage)"
        );
    }

    #[test]
    fn status_names_members_reachability_and_lag() {
        let status = three_member_status();
        let text = status_text(&status, false);
        assert!(
            text.contains("dns servers in leases: 10.0.0.2, 10.0.0.3, 10.0.0.4\n"),
            "{text}"
        );
        let waiting = StatusView {
            dns_servers: vec!["10.0.0.2".into()],
            dns_servers_missing: vec![2, 3],
            ..status.clone()
        };
        assert!(
            status_text(&waiting, false).contains(
                "dns servers in leases: 10.0.0.2 · INCOMPLETE, DHCP waits for the bridge address of node 2, node 3"
            ),
            "{}",
            status_text(&waiting, false)
        );
        assert!(
            text.contains("node 1 (leader) · leader: node 1 · term 3 · quorum: yes"),
            "{text}"
        );
        assert!(
            text.contains("3 in use (2 bound, 1 offered) · 95 free · 2 reserved"),
            "{text}"
        );
        let row3 = text
            .lines()
            .find(|l| l.starts_with("3 "))
            .expect("row of node 3");
        assert!(
            row3.contains(" no ") && row3.ends_with("connection refused"),
            "{row3}"
        );
        let row2 = text
            .lines()
            .find(|l| l.starts_with("2 "))
            .expect("row of node 2");
        assert!(row2.contains(" yes "), "{row2}");
    }
}
