//! Keeps the node's [`crate::clock::ClusterClock`] corrected: once a second,
//! ask every other voter for its clock over the cluster listener and take the
//! median offset (see the module docs of `clock` for why). A node that has
//! never measured (just started) measures before its first write as leader.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use raftmasq_state::Millis;

use super::ClusterNode;
use crate::clock;
use crate::network::paths;
use crate::types::NodeId;

const EVERY: Duration = Duration::from_secs(1);
/// A sample whose round trip took longer says little about the offset.
const MAX_ROUND_TRIP_MS: u64 = 500;
const ASK_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a voter's measured offset still counts after it stops answering.
const REMEMBER: Duration = Duration::from_secs(600);
/// A change of correction worth a log line.
const NOTABLE_MS: i64 = 1_000;

/// The last offset measured for each voter, kept by the node.
#[derive(Default)]
pub(super) struct PeerOffsets(Mutex<BTreeMap<NodeId, (i64, Instant)>>);

/// The answer to a peer asking for this host's clock.
pub(super) async fn answer(State(node): State<ClusterNode>) -> Json<Millis> {
    Json(node.clock().local_millis())
}

pub(super) async fn keep_in_sync(node: ClusterNode) {
    let mut ticker = tokio::time::interval(EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        sync_once(&node).await;
    }
}

/// One round: measures each other voter's offset, remembers it, and sets
/// the correction to the median over this host and every voter whose offset
/// was measured within [`REMEMBER`] — a voter that is down or cut off right
/// now still counts with its last offset (clocks drift by far less than a
/// second a minute), so losing one true peer does not hand the vote to a
/// skewed clock.
pub(super) async fn sync_once(node: &ClusterNode) {
    let voters: Vec<NodeId> = node
        .metrics()
        .membership_config
        .membership()
        .voter_ids()
        .filter(|id| *id != node.id())
        .collect();
    // Asked concurrently: a silent voter costs one timeout, not one each.
    let mut asks = tokio::task::JoinSet::new();
    for peer in voters.clone() {
        let node = node.clone();
        asks.spawn(async move { (peer, offset_of(&node, peer).await) });
    }
    let measured = asks.join_all().await;
    let offsets: Vec<(NodeId, i64)> = {
        let mut known = node
            .peer_offsets()
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (peer, offset) in measured {
            if let Some(offset) = offset {
                known.insert(peer, (offset, Instant::now()));
            }
        }
        known.retain(|peer, (_, at)| voters.contains(peer) && at.elapsed() < REMEMBER);
        known
            .iter()
            .map(|(peer, (offset, _))| (*peer, *offset))
            .collect()
    };
    if offsets.is_empty() && !voters.is_empty() {
        // Nothing to compare with yet: keep what we have (and, on a fresh
        // start, stay unsynced so the first write as leader asks again).
        return;
    }
    let before = node.clock().correction_ms();
    let bound = millis_i64(node.config().max_clock_offset);
    let verdict = clock::assess(&offsets, bound);
    report(node, &verdict.out_of_bound, bound, &offsets);
    node.clock().set_correction(verdict.correction_ms);
    if (verdict.correction_ms - before).abs() >= NOTABLE_MS {
        tracing::warn!(
            node_id = node.id(),
            correction_ms = verdict.correction_ms,
            ?offsets,
            "this host's clock differs from the cluster's: using the voters' median time"
        );
    }
}

/// Logs a change of who is out of bound (once per change, not every round)
/// and keeps the verdict on the clock for status and metrics.
fn report(
    node: &ClusterNode,
    verdict: &clock::OutOfBound,
    bound_ms: i64,
    offsets: &[(NodeId, i64)],
) {
    let previous = node.clock().out_of_bound();
    let same_peers = previous
        .peers
        .iter()
        .map(|(id, _)| id)
        .eq(verdict.peers.iter().map(|(id, _)| id));
    let changed = !same_peers
        || previous.this_host != verdict.this_host
        || previous.no_agreement != verdict.no_agreement;
    if changed {
        for (peer, offset_ms) in &verdict.peers {
            tracing::warn!(
                node_id = node.id(),
                peer,
                offset_ms,
                bound_ms,
                "a voter's clock is out of bound: not followed (check NTP on that host)"
            );
        }
        if verdict.this_host {
            tracing::error!(
                node_id = node.id(),
                bound_ms,
                ?offsets,
                "this host's clock is out of bound of a majority of voters that agree: following them; fix NTP on this host"
            );
        }
        if verdict.no_agreement {
            tracing::warn!(
                node_id = node.id(),
                bound_ms,
                ?offsets,
                "no majority of voters' clocks agrees within the bound: no correction (check NTP everywhere)"
            );
        }
        if verdict.is_empty() && !previous.is_empty() {
            tracing::info!(
                node_id = node.id(),
                "every voter's clock is within the bound again"
            );
        }
    }
    node.clock().set_out_of_bound(verdict.clone());
}

fn millis_i64(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `peer`'s clock minus ours, if it answered quickly enough to tell.
async fn offset_of(node: &ClusterNode, peer: NodeId) -> Option<i64> {
    let addr = node.member_addr(peer)?;
    let sent = node.clock().local_millis();
    let peer_ms: Millis = node
        .peers()
        .post(peer, &addr, paths::CLOCK, &(), ASK_TIMEOUT)
        .await
        .ok()?;
    let received = node.clock().local_millis();
    (received.saturating_sub(sent) <= MAX_ROUND_TRIP_MS)
        .then(|| clock::offset_from(sent, received, peer_ms))
}
