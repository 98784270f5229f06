//! DNS NOTIFY (RFC 1996) to the secondaries whenever the table changes.
//!
//! Changes come as a `watch` channel, which keeps only the latest value, so a
//! burst of Raft applies between two sends collapses into one NOTIFY per zone
//! per interval: the secondary then transfers the newest serial once. Each
//! NOTIFY is resent with a doubling timeout until the secondary answers
//! (§3.6), and a newer one supersedes an older one still being retried.
//!
//! With `dns.transfer_key` each NOTIFY is TSIG-signed with it, and only an
//! answer whose TSIG verifies counts as acknowledged (a secondary that
//! refuses the key answers NOTAUTH: counted as `refused`, not retried).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType, TSigner};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::config::ZoneConfig;
use crate::lookup::View;
use crate::rrs;
use crate::server::Clock;
use crate::source::ZoneSource;

/// Sends per NOTIFY before giving up (BIND tries 5 times).
const ATTEMPTS: u32 = 5;

#[derive(Clone)]
pub(crate) struct NotifySettings {
    pub targets: Vec<SocketAddr>,
    pub interval: Duration,
    pub timeout: Duration,
    pub source: Option<IpAddr>,
    /// The transfer key, which signs every NOTIFY.
    pub key: Option<TSigner>,
    /// Time Signed comes from the server's clock (Unix ms).
    pub clock: Clock,
}

/// How one NOTIFY ended.
enum Delivery {
    Acknowledged,
    /// Answered with an error (e.g. NOTAUTH: the secondary does not know
    /// our key), or with a TSIG that does not verify.
    Refused(String),
    Unanswered,
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
    source.read_networks(&mut |table, _, others, serial| {
        // The clock does not matter for SOA records.
        let view = View::new(table, serial, config, 0);
        if view.loaded() {
            notices = view
                .zones
                .iter()
                .map(|zone| (zone.name(), rrs::soa(config, zone, serial, rrs::INFRA_TTL)))
                .collect();
            // Every network's zones change serial with the one log.
            notices.extend(
                crate::networks::other_zones(table, others, config)
                    .into_iter()
                    .map(|(zone, theirs)| {
                        (
                            zone.name(),
                            rrs::soa(&theirs, &zone, serial, rrs::INFRA_TTL),
                        )
                    }),
            );
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
    match try_send(target, message, &settings).await {
        Ok(Delivery::Acknowledged) => {
            debug!(%target, %zone, "notify acknowledged");
            crate::stats::notified("acknowledged");
        }
        Ok(Delivery::Refused(why)) => {
            warn!(%target, %zone, why, "notify refused");
            crate::stats::notified("refused");
        }
        Ok(Delivery::Unanswered) => {
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
    mut message: Message,
    settings: &NotifySettings,
) -> std::io::Result<Delivery> {
    let ip = settings.source.unwrap_or(if target.is_ipv4() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    });
    let socket = UdpSocket::bind((ip, 0)).await?;
    socket.connect(target).await?;
    let mut verifier = match &settings.key {
        Some(key) => message
            .finalize(key, (settings.clock)() / 1000)
            .map_err(std::io::Error::other)?,
        None => None,
    };
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
            let Some(answer) = buf.get(..n) else { continue };
            let Some(response) = Message::from_vec(answer).ok().filter(|r| {
                r.metadata.id == message.metadata.id
                    && r.metadata.message_type == MessageType::Response
                    && r.metadata.op_code == OpCode::Notify
            }) else {
                continue;
            };
            if response.metadata.response_code != ResponseCode::NoError {
                return Ok(Delivery::Refused(
                    response.metadata.response_code.to_string(),
                ));
            }
            if let Some(verifier) = verifier.as_mut()
                && let Err(error) = verifier.verify(answer)
            {
                return Ok(Delivery::Refused(format!("answer's TSIG: {error}")));
            }
            return Ok(Delivery::Acknowledged);
        }
        if tokio::time::Instant::now() < deadline {
            tokio::time::sleep_until(deadline).await;
        }
        timeout = timeout.saturating_mul(2);
    }
    Ok(Delivery::Unanswered)
}
