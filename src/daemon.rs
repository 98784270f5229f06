//! One host's node: Raft + storage + DHCP + DNS + admin API, until a signal
//! or a refusal.

use std::collections::BTreeMap;

use anyhow::Context;
use raftmasq_config::Config;
use raftmasq_consensus::{ClusterNode, ClusterToken, Links, Member, NodeConfig};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

pub async fn run(config: Config, token: ClusterToken) -> anyhow::Result<()> {
    let node_config = node_config(&config, token.clone());
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

    let admin = crate::admin::serve(
        node.clone(),
        admin_listener,
        token,
        config.node.admin_writes_need_token(),
    );
    let admin = tokio::spawn(admin);
    let shutdown = tokio_util::sync::CancellationToken::new();
    if config.dns.enabled {
        crate::dns::start(node.replica().clone(), &config, shutdown.clone()).await?;
    }
    if config.dhcp.enabled {
        crate::dhcp::start(node.clone(), &config)?;
    }

    let mut refused = node.refused();
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let outcome = tokio::select! {
        _ = terminate.recv() => { tracing::info!("SIGTERM: stopping"); Ok(()) }
        _ = tokio::signal::ctrl_c() => { tracing::info!("interrupted: stopping"); Ok(()) }
        reason = refused.wait_for(|r| r.is_some()) => {
            let reason = reason.ok().and_then(|r| r.clone()).unwrap_or_default();
            Err(anyhow::anyhow!("refused by the cluster: {reason}"))
        }
    };
    admin.abort();
    shutdown.cancel();
    node.shutdown().await;
    outcome
}

fn node_config(config: &Config, token: ClusterToken) -> NodeConfig {
    let member = Member {
        cluster_addr: config.node.cluster_addr.to_string(),
        admin_addr: Some(config.node.admin_addr.to_string()),
        bridge_address: Some(config.dhcp.address),
    };
    let mut node = NodeConfig::new(
        config.node.id,
        config.node.data_dir.clone(),
        member,
        token,
        config.cluster_settings(),
    );
    node.peers = config
        .cluster
        .peers
        .iter()
        .map(|peer| (peer.id, peer.addr.to_string()))
        .collect::<BTreeMap<_, _>>();
    node.election_timeout = config.cluster.election_timeout;
    node.heartbeat_interval = config.cluster.heartbeat_interval;
    node.snapshot_every = config.cluster.snapshot_every;
    node
}
