//! `GET /status`: who is who in the cluster and how healthy it is. Every
//! member is probed over the cluster listener with a short timeout, so a
//! member that is down shows as unreachable instead of stalling the answer.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use raftmasq_api::{MemberView, NetworkSettingsDiffer, PoolView, StatusView};
use raftmasq_consensus::node::MemberReport;
use raftmasq_consensus::state::{DEFAULT_NETWORK, PoolStats};
use raftmasq_consensus::store::Replica;
use raftmasq_consensus::{Member, NodeId};
use serde::Deserialize;

use super::{Admin, Failure};
use crate::file_settings::FileSettings;

/// Long enough for a loaded host on an overlay, short enough for a prompt.
const PROBE_TIMEOUT: Duration = Duration::from_millis(700);

pub(super) fn routes() -> Router<Admin> {
    Router::new().route("/status", get(status))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ReadOptions {
    #[serde(default)]
    pub consistent: bool,
}

async fn status(
    State(admin): State<Admin>,
    Query(options): Query<ReadOptions>,
) -> Result<Json<StatusView>, Failure> {
    let (initialized, domain, subnet, stats, settings_differ, network_settings_differ) = admin
        .read(options.consistent, |replica| {
            let table = &replica.table;
            let settings = table.settings();
            (
                table.is_initialized(),
                settings.map(|s| s.domain.clone()),
                settings.map(|s| s.subnet.to_string()),
                table.pool_stats(),
                settings
                    .map(|s| admin.file_settings.differences(s))
                    .unwrap_or_default(),
                network_drift(&admin.file_settings, replica),
            )
        })
        .await?;
    let own = admin.node.report();
    let metrics = admin.node.metrics();
    let membership = metrics.membership_config.membership().clone();
    let voters: Vec<NodeId> = membership.voter_ids().collect();
    let members: Vec<(NodeId, Member)> = membership
        .nodes()
        .map(|(id, member)| (*id, member.clone()))
        .collect();

    let mut probes = tokio::task::JoinSet::new();
    for (id, _) in &members {
        let (node, id) = (admin.node.clone(), *id);
        probes.spawn(async move {
            let answer = node
                .probe(id, PROBE_TIMEOUT)
                .await
                .map_err(|error| error.to_string());
            (id, answer)
        });
    }
    let mut reports: BTreeMap<NodeId, Result<MemberReport, String>> = BTreeMap::new();
    while let Some(joined) = probes.join_next().await {
        if let Ok((id, answer)) = joined {
            reports.insert(id, answer);
        }
    }
    // Replication progress is known to the leader only; ask its report.
    let replication = own
        .leader
        .and_then(|leader| reports.get(&leader))
        .and_then(|report| report.as_ref().ok())
        .map(|report| {
            (
                report.last_log_index.unwrap_or(0),
                report.replication.clone().unwrap_or_default(),
            )
        });

    let members = members
        .into_iter()
        .map(|(id, member)| {
            let report = reports.get(&id);
            let ok = report.and_then(|r| r.as_ref().ok());
            let role = if Some(id) == own.leader {
                "leader"
            } else if voters.contains(&id) {
                "follower"
            } else {
                "learner"
            };
            let lag = replication.as_ref().and_then(|(last, matched)| {
                matched
                    .get(&id)
                    .map(|index| last.saturating_sub(index.unwrap_or(0)))
            });
            MemberView {
                id,
                role: role.to_string(),
                cluster_addr: member.cluster_addr,
                admin_addr: member.admin_addr,
                reachable: ok.is_some(),
                error: match report {
                    Some(Err(error)) => Some(error.clone()),
                    None => Some("no answer".into()),
                    Some(Ok(_)) => None,
                },
                term: ok.map(|r| r.term),
                last_log_index: ok.and_then(|r| r.last_log_index),
                applied: ok.and_then(|r| r.last_applied),
                lag,
            }
        })
        .collect();
    let dns_servers = admin.dns_servers.list(&admin.node);

    Ok(Json(StatusView {
        node_id: own.id,
        role: own.state.clone(),
        leader: own.leader,
        term: own.term,
        last_log_index: own.last_log_index,
        committed: own.committed,
        applied: own.last_applied,
        has_quorum: own.has_quorum,
        initialized,
        domain,
        subnet,
        pool: pool_view(stats),
        members,
        dns_servers: dns_servers
            .servers
            .iter()
            .map(ToString::to_string)
            .collect(),
        dns_servers_missing: dns_servers
            .bridges
            .missing
            .iter()
            .map(|(id, _)| *id)
            .collect(),
        now: admin.now(),
        clock_correction_ms: admin.node.clock().correction_ms(),
        clock_out_of_bound: admin.node.clock().out_of_bound().peers,
        clock_this_host_out_of_bound: admin.node.clock().out_of_bound().this_host,
        settings_differ,
        network_settings_differ,
    }))
}

/// Where the file differs for the networks beside `default`.
fn network_drift(file: &FileSettings, replica: &Replica) -> Vec<NetworkSettingsDiffer> {
    let others = replica
        .networks
        .all(&replica.table)
        .filter(|(network, _)| *network != DEFAULT_NETWORK)
        .filter_map(|(network, table)| Some((network, table.settings()?)));
    file.drift(others)
        .into_iter()
        .map(|drift| NetworkSettingsDiffer {
            network: drift.network,
            differ: drift.differences,
        })
        .collect()
}

fn pool_view(stats: PoolStats) -> PoolView {
    PoolView {
        size: stats.size,
        in_use: stats.bound + stats.offered,
        bound: stats.bound,
        offered: stats.offered,
        free: stats.free,
        reserved: stats.reserved,
        quarantined: stats.quarantined,
    }
}
