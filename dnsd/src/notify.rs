//! DNS NOTIFY (RFC 1996) to the secondaries whenever the table changes.
//!
//! Changes come as a `watch` channel, which keeps only the latest value, so a
//! burst of Raft applies between two sends collapses into one NOTIFY per zone
//! per interval: the secondary then transfers the newest serial once. Each
//! NOTIFY is resent with a doubling timeout until the secondary answers
//! (§3.6), and a newer one supersedes an older one still being retried.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::config::ZoneConfig;
use crate::lookup::View;
use crate::rrs;
use crate::source::ZoneSource;

/// Sends per NOTIFY before giving up (BIND tries 5 times).
const ATTEMPTS: u32 = 5;

#[derive(Debug, Clone)]
pub(crate) struct NotifySettings {
    pub targets: Vec<SocketAddr>,
    pub interval: Duration,
    pub timeout: Duration,
    pub source: Option<IpAddr>,
}

/// The NOTIFY for one zone: opcode NOTIFY, AA, the zone's SOA as question
/// and, as a hint, the new SOA in the answer (§3.7).
pub(crate) fn notify_message(zone: Name, soa: Record) -> Message {
    let mut message = Message::query();
    message.metadata.op_code = OpCode::Notify;
    message.metadata.authoritative = true;
    message.add_query(Query::query(zone, RecordType::SOA));
    message.add_answer(soa);
    message
}

/// Runs until `shutdown`: one round of NOTIFYs at start (a restarted primary
/// may have missed changes), then one per change, at most one per interval.
pub(crate) async fn run(
    source: Arc<dyn ZoneSource>,
    config: Arc<ZoneConfig>,
    settings: NotifySettings,
    shutdown: CancellationToken,
) {
    if settings.targets.is_empty() {
        return;
    }
    let mut changes = source.changes();
    let mut pending: HashMap<(SocketAddr, Name), JoinHandle<()>> = HashMap::new();
    let mut last_sent: Option<Instant> = None;
    loop {
        if let Some(at) = last_sent {
            tokio::select! {
                () = tokio::time::sleep_until(at + settings.interval) => {}
                () = shutdown.cancelled() => break,
            }
        }
        // Everything up to now is covered by this round.
        changes.borrow_and_update();
        let notices = current_notices(source.as_ref(), &config);
        for (zone, soa) in notices {
            for &target in &settings.targets {
                let message = notify_message(zone.clone(), soa.clone());
                let task = tokio::spawn(send(target, message, settings.clone()));
                if let Some(older) = pending.insert((target, zone.clone()), task) {
                    older.abort();
                }
            }
        }
        pending.retain(|_, task| !task.is_finished());
        last_sent = Some(Instant::now());
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            () = shutdown.cancelled() => break,
        }
    }
    for task in pending.into_values() {
        task.abort();
    }
}

/// Each zone's apex and SOA as the table stands (none before the first entry).
fn current_notices(source: &dyn ZoneSource, config: &ZoneConfig) -> Vec<(Name, Record)> {
    let mut notices = Vec::new();
    source.read(&mut |table, serial| {
        // The clock does not matter for SOA records.
        let view = View::new(table, serial, config, 0);
        if view.loaded() {
            notices = view
                .zones
                .iter()
                .map(|zone| (zone.name(), rrs::soa(config, zone, serial, rrs::INFRA_TTL)))
                .collect();
        }
    });
    notices
}

async fn send(target: SocketAddr, message: Message, settings: NotifySettings) {
    let zone = message
        .queries
        .first()
        .map(|q| q.name().to_string())
        .unwrap_or_default();
    match try_send(target, &message, &settings).await {
        Ok(true) => {
            debug!(%target, %zone, "notify acknowledged");
            crate::stats::notified("acknowledged");
        }
        Ok(false) => {
            warn!(%target, %zone, attempts = ATTEMPTS, "notify not acknowledged");
            crate::stats::notified("unanswered");
        }
        Err(error) => {
            warn!(%target, %zone, %error, "notify failed");
            crate::stats::notified("error");
        }
    }
}

async fn try_send(
    target: SocketAddr,
    message: &Message,
    settings: &NotifySettings,
) -> std::io::Result<bool> {
    let ip = settings.source.unwrap_or(if target.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    });
    let socket = UdpSocket::bind((ip, 0)).await?;
    socket.connect(target).await?;
    let bytes = message.to_vec().map_err(std::io::Error::other)?;
    let mut buf = vec![0; 4096];
    let mut timeout = settings.timeout;
    for _ in 0..ATTEMPTS {
        socket.send(&bytes).await?;
        let deadline = Instant::now() + timeout;
        loop {
            let received = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await;
            let Ok(received) = received else { break };
            // An ICMP refusal surfaces as an error on a connected socket;
            // count it as no answer and try again.
            let Ok(n) = received else { break };
            let acknowledged = buf
                .get(..n)
                .and_then(|b| Message::from_vec(b).ok())
                .is_some_and(|r| {
                    r.metadata.id == message.metadata.id
                        && r.metadata.message_type == MessageType::Response
                        && r.metadata.op_code == OpCode::Notify
                });
            if acknowledged {
                return Ok(true);
            }
        }
        if tokio::time::Instant::now() < deadline {
            tokio::time::sleep_until(deadline).await;
        }
        timeout = timeout.saturating_mul(2);
    }
    Ok(false)
}
