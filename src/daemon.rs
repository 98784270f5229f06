//! One host's node: Raft + storage + DHCP + DNS + admin API, until a signal
//! or a refusal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use raftmasq_config::{Config, NodeRole};
use raftmasq_consensus::{
    ClusterClock, ClusterLink, ClusterNode, ClusterNodeConfig, ClusterTls, ClusterToken, Links,
    Member, MemberRole, TlsPaths,
};
use sd_notify::NotifyState;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use crate::logging::LogLevel;

/// How long a stopping leader waits for another node to lead (`ClusterNode::hand_over`).
const HANDOVER_WITHIN: Duration = Duration::from_millis(800);

pub async fn run(
    path: PathBuf,
    config: Config,
    token: ClusterToken,
    log_level: LogLevel,
) -> anyhow::Result<()> {
    crate::admin::observability::install_recorder();
    crate::limits::check_handle_budget(&config.limits);
    let node_config = node_config(&config, token.clone(), cluster_link(&config)?);
    let listener = TcpListener::bind(config.node.cluster_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on node.cluster_addr {}",
                config.node.cluster_addr
            )
        })?;
    let admin_listener = TcpListener::bind(config.node.admin_addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on node.admin_addr {}",
                config.node.admin_addr
            )
        })?;
    let node = ClusterNode::start(node_config, listener, Links::default()).await?;
    tracing::info!(node_id = node.id(), cluster_addr = %config.node.cluster_addr, admin_addr = %config.node.admin_addr, "raftmasq node started");

    let admin_listener = raftmasq_limits::BoundedListener::new(
        admin_listener,
        "admin",
        crate::limits::admin(&config.limits),
    );
    let admin = crate::admin::serve(
        node.clone(),
        crate::admin::setup::listener(&config, admin_listener)?,
        crate::admin::setup::policy(&config),
        crate::dhcp::DnsServerSource::from_config(&config),
        crate::admin::settings::FileSettings::from_config(path.clone(), &config),
    );
    let admin = tokio::spawn(admin);
    let served = follow_cluster_domain(&node, config.clone());
    tokio::spawn(crate::settings_drift::report(
        node.clone(),
        crate::admin::settings::FileSettings::from_config(path.clone(), &config),
        config.dns.enabled.then(|| served.dns.domain.clone()),
    ));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let dns = if config.dns.enabled {
        Some(
            crate::dns::start(
                node.replica().clone(),
                node.clock().clone(),
                &served,
                shutdown.clone(),
            )
            .await?,
        )
    } else {
        None
    };
    tokio::spawn(crate::network_addresses::keep_registered(
        node.clone(),
        crate::network_addresses::own_addresses(&config),
    ));
    if config.dhcp.enabled {
        crate::dhcp::start(node.clone(), &config)?;
        crate::dhcp6_stateful::start(node.clone(), &config, shutdown.clone())?;
    }
    let router_advertisements = crate::ra::start(&served, shutdown.clone())?;
    crate::dhcp6::start(&served, shutdown.clone())?;
    load_records_file(&node, &served);
    crate::lxd::start(&node, &config, shutdown.clone());
    notify_systemd(&[NotifyState::Ready, NotifyState::Status("serving")]);
    if let Some(interval) = sd_notify::watchdog_enabled() {
        tokio::spawn(watchdog(node.clone(), interval));
    }

    let mut refused = node.refused();
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let mut running = config;
    let (outcome, planned) = loop {
        tokio::select! {
            _ = terminate.recv() => { tracing::info!("SIGTERM: stopping"); break (Ok(()), true) }
            _ = tokio::signal::ctrl_c() => { tracing::info!("interrupted: stopping"); break (Ok(()), true) }
            _ = hangup.recv() => {
                notify_systemd(&[NotifyState::Reloading]);
                running = reload(&path, running, &log_level, dns.as_ref());
                // Renewed or rotated certificates (the file watch would
                // notice them within seconds; SIGHUP makes it now).
                let _ = node.reload_tls();
                load_records_file(&node, &running);
                notify_systemd(&[NotifyState::Ready, NotifyState::Status("serving")]);
            }
            reason = refused.wait_for(|r| r.is_some()) => {
                let reason = reason.ok().and_then(|r| r.clone()).unwrap_or_default();
                break (Err(anyhow::anyhow!("refused by the cluster: {reason}")), false);
            }
        }
    };
    notify_systemd(&[NotifyState::Stopping]);
    if planned {
        // A leader hands over first (stops answering DHCP, a caught-up voter
        // takes over), so the segment is not left without a DHCP server for
        // a lease and an election timeout. Bounded: the stop takes at most
        // about a second whatever the cluster does.
        let outcome = node.hand_over(HANDOVER_WITHIN).await;
        tracing::debug!(?outcome, "handover");
    }
    admin.abort();
    shutdown.cancel();
    if let Some(task) = router_advertisements {
        // Its last advertisement (router lifetime 0) tells clients to stop
        // routing through this host at once.
        let _ = tokio::time::timeout(Duration::from_millis(200), task).await;
    }
    node.shutdown().await;
    outcome
}

/// DNS serves the cluster's domain, not the file's, when the replica knows
/// it at start (a restarted node; a new node learns it after DNS started and
/// serves its file's domain until its next start, which the settings report
/// names). The other cluster-wide keys are read from the replica on every
/// request.
fn follow_cluster_domain(node: &ClusterNode, mut config: Config) -> Config {
    let cluster = node
        .replica()
        .read()
        .table
        .settings()
        .map(|s| s.domain.clone());
    if let Some(domain) = cluster
        && !domain.eq_ignore_ascii_case(&config.dns.domain)
    {
        tracing::warn!(file = %config.dns.domain, cluster = %domain, "dns serves the cluster's domain, not this file's");
        config.dns.domain = domain;
    }
    config
}

/// How long the records file waits for the configured networks.
const NETWORKS_WAIT: Duration = Duration::from_secs(30);

/// Adds `dns.records_file`'s records to the cluster once it has settings (at
/// start it may still be forming); in the background, so serving never waits.
fn load_records_file(node: &ClusterNode, config: &Config) {
    let Some(path) = config.dns.records_file.clone() else {
        return;
    };
    let networks: Vec<String> = config
        .dhcp
        .networks
        .iter()
        .map(|n| n.name.clone())
        .collect();
    let node = node.clone();
    tokio::spawn(async move {
        let mut applied = node.replica().subscribe();
        while !node.replica().read().table.is_initialized() {
            if applied.changed().await.is_err() {
                return;
            }
        }
        // Records are placed by the networks' domains: wait a while for the
        // configured networks to be in the cluster (a first start adds them
        // just after the settings); one the cluster refused never comes.
        let all_networks = |node: &ClusterNode| {
            let replica = node.replica().read();
            networks.iter().all(|name| replica.network(name).is_some())
        };
        let _ = tokio::time::timeout(NETWORKS_WAIT, async {
            while !all_networks(&node) {
                if applied.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        match crate::records_file::apply(&node, &path).await {
            Ok(count) => {
                tracing::info!(file = %path.display(), count, "static records from dns.records_file added")
            }
            Err(error) => tracing::error!("{error:#}"),
        }
    });
}

fn notify_systemd(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::debug!(%error, "sd_notify failed");
    }
}

/// Pets systemd's watchdog only while Raft runs, so a wedged core gets the
/// process restarted.
async fn watchdog(node: ClusterNode, interval: Duration) {
    let mut ticker = tokio::time::interval(interval / 2);
    loop {
        ticker.tick().await;
        if node.metrics().running_state.is_ok() {
            notify_systemd(&[NotifyState::Watchdog]);
        } else {
            tracing::error!("raft core stopped; no longer petting the systemd watchdog");
            return;
        }
    }
}

/// SIGHUP: re-reads the file, applies what can change at run time and names
/// what needs a restart. A file that no longer parses changes nothing.
fn reload(
    path: &Path,
    running: Config,
    log_level: &LogLevel,
    dns: Option<&raftmasq_dnsd::DnsServer>,
) -> Config {
    let fresh = match Config::read(path) {
        Ok(fresh) => fresh,
        Err(error) => {
            tracing::error!(%error, "SIGHUP: configuration not reloaded");
            return running;
        }
    };
    let changes = changed_sections(&running, &fresh);
    if changes.is_empty() {
        tracing::info!("SIGHUP: configuration unchanged");
        return running;
    }
    let mut applied = Vec::new();
    let mut need_restart = Vec::new();
    for key in changes {
        match key {
            "log.level" => match log_level.set(&fresh.log.level) {
                Ok(()) => applied.push(key),
                Err(error) => tracing::error!(%error, "SIGHUP: log level not changed"),
            },
            "dns.upstream" => match dns {
                Some(server) => {
                    server.set_upstream(crate::dns::upstream(&fresh));
                    applied.push(key);
                }
                None => need_restart.push(key),
            },
            other => need_restart.push(other),
        }
    }
    if !applied.is_empty() {
        tracing::info!(?applied, "SIGHUP: applied");
    }
    if !need_restart.is_empty() {
        tracing::warn!(
            ?need_restart,
            "SIGHUP: these changes take effect only after a restart (systemctl restart raftmasq)"
        );
    }
    // Keep running with what is actually in effect, so a later SIGHUP still
    // reports the keys that wait for a restart.
    let mut effective = running;
    effective.log.level = fresh.log.level;
    if applied.contains(&"dns.upstream") {
        effective.dns.upstream = fresh.dns.upstream;
    }
    effective
}

/// The configuration keys (or sections) whose values differ.
fn changed_sections(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.log.level != new.log.level {
        keys.push("log.level");
    }
    if old.log.format != new.log.format {
        keys.push("log.format");
    }
    if old.node != new.node {
        keys.push("[node]");
    }
    if old.cluster != new.cluster {
        keys.push("[cluster]");
    }
    if old.dhcp != new.dhcp {
        keys.push("[dhcp]");
    }
    if old.dns.upstream != new.dns.upstream {
        keys.push("dns.upstream");
    }
    if old.lxd != new.lxd {
        keys.push("[lxd]");
    }
    let mut old_dns = old.dns.clone();
    old_dns.upstream.clone_from(&new.dns.upstream);
    if old_dns != new.dns {
        keys.push("[dns]");
    }
    keys
}

/// The cluster link the file asks for: TLS with its files (read and checked
/// now, so a bad file stops the start with its name), or the opt-out.
pub fn cluster_link(config: &Config) -> anyhow::Result<ClusterLink> {
    if config.cluster.insecure_plaintext {
        return Ok(ClusterLink::Plaintext);
    }
    let files = &config.cluster.tls;
    let paths = TlsPaths {
        ca_file: files.ca_file.clone(),
        cert_file: files.cert_file.clone(),
        key_file: files.key_file.clone(),
        crl_file: files.crl_file.clone(),
    };
    let tls = ClusterTls::load(config.node.id, paths).with_context(|| {
        format!(
            "{}: [cluster.tls]: the cluster link needs this node's certificate (make them with `raftmasq cert init-ca` and `raftmasq cert issue --node-id {}`; see docs/security.md)",
            config.source.display(),
            config.node.id
        )
    })?;
    Ok(ClusterLink::Tls(tls))
}

fn node_config(config: &Config, token: ClusterToken, link: ClusterLink) -> ClusterNodeConfig {
    let member = Member {
        cluster_addr: config.node.cluster_addr.to_string(),
        admin_addr: Some(config.node.admin_addr.to_string()),
        bridge_address: Some(config.dhcp.address),
    };
    let mut node = ClusterNodeConfig::new(
        config.node.id,
        config.node.data_dir.clone(),
        member,
        token,
        link,
        config.cluster_settings(),
    );
    // `default` is `settings`; the rest are seeded by the leader.
    node.networks = config.network_settings().into_iter().skip(1).collect();
    node.peers = config
        .cluster
        .peers
        .iter()
        .map(|peer| (peer.id, peer.addr.to_string()))
        .collect::<BTreeMap<_, _>>();
    node.learners = config
        .cluster
        .peers
        .iter()
        .filter(|peer| peer.role == NodeRole::Learner)
        .map(|peer| peer.id)
        .collect();
    node.role = match config.node.role {
        NodeRole::Voter => MemberRole::Voter,
        NodeRole::Learner => MemberRole::Learner,
    };
    node.peer_bridges.extend(
        config
            .cluster
            .peers
            .iter()
            .filter_map(|peer| Some((peer.id, peer.bridge_address?))),
    );
    node.election_timeout = config.cluster.election_timeout;
    node.heartbeat_interval = config.cluster.heartbeat_interval;
    node.snapshot_every = config.cluster.snapshot_every;
    node.storage_cache_bytes = config.node.storage_cache_bytes;
    node.max_clock_offset = config.cluster.max_clock_offset;
    node.clock = test_clock();
    node.listener_limits = crate::limits::cluster(&config.limits);
    node
}

/// Shifts this host's clock by `RAFTMASQ_TEST_CLOCK_OFFSET_MS` (signed
/// milliseconds) for the fault suite's clock-skew fault, which runs the debug
/// daemon in network namespaces (a time namespace cannot shift
/// CLOCK_REALTIME). Release builds have no such hook and only say they
/// ignore the variable.
const TEST_CLOCK_OFFSET_VAR: &str = "RAFTMASQ_TEST_CLOCK_OFFSET_MS";

#[cfg(debug_assertions)]
fn test_clock() -> ClusterClock {
    let Ok(text) = std::env::var(TEST_CLOCK_OFFSET_VAR) else {
        return ClusterClock::new();
    };
    match text.trim().parse::<i64>() {
        Ok(offset_ms) => {
            tracing::warn!(
                offset_ms,
                variable = TEST_CLOCK_OFFSET_VAR,
                "TEST ONLY: this node's clock is shifted; never set this variable in production"
            );
            ClusterClock::with_test_offset(offset_ms)
        }
        Err(error) => {
            tracing::warn!(%error, variable = TEST_CLOCK_OFFSET_VAR, "not a number of milliseconds: ignored");
            ClusterClock::new()
        }
    }
}

#[cfg(not(debug_assertions))]
fn test_clock() -> ClusterClock {
    if std::env::var_os(TEST_CLOCK_OFFSET_VAR).is_some() {
        tracing::warn!(
            variable = TEST_CLOCK_OFFSET_VAR,
            "ignored: release builds have no test clock offset"
        );
    }
    ClusterClock::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_lxd_section_is_reported_for_a_restart() {
        let old = Config::from_toml(include_str!("../examples/lxd1.toml"), "lxd1.toml").unwrap();
        let mut new = old.clone();
        assert!(changed_sections(&old, &new).is_empty());
        new.lxd.enabled = true;
        assert_eq!(changed_sections(&old, &new), vec!["[lxd]"]);
    }
}
