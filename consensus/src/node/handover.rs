//! A planned stop of the leader (SIGTERM) hands leadership to a caught-up
//! voter before the process exits, so the cluster does not wait out a dead
//! leader's lease plus an election timeout.
//!
//! openraft 0.9 has no leader transfer. What it does have: a node votes for
//! a candidate whose log is at least as long as its own unless its *own*
//! committed vote was refreshed within the leader lease
//! (`election_timeout_max`). Followers refresh it on every AppendEntries, so
//! they refuse; the leader refreshes it only when it is elected. So a leader
//! that has led for longer than the lease grants the vote of a follower that
//! has all of its log, and that one vote plus the candidate's own is a
//! majority of three. The steps, each bounded by the caller's deadline:
//!
//! 1. `stepping_down` (the batcher's gate closes): this node stops acting
//!    as leader for DHCP and for writes ([`super::ClusterNode::quorum_status`]
//!    says it follows; a write gets `NotLeader`, which writers retry and then
//!    forward to the next leader), and it waits until the last entry it
//!    proposed has been answered: its log no longer grows.
//! 2. It waits until a voter has acknowledged its whole log (replication
//!    metrics), and asks that voter over the cluster link
//!    ([`paths::ELECT`], accepted only from the leader the voter follows, in
//!    its term) to start an election at once (`trigger().elect()`).
//! 3. The candidate asks for votes; this node grants (its lease has passed),
//!    steps down, and the new leader's first AppendEntries names it. If no
//!    new leader shows within [`ASK_AGAIN`], it asks again, the next
//!    caught-up voter first (one may be down).
//!
//! A leader elected less than a lease ago would refuse the vote, so it
//! waits until its election is one lease old before it asks (it notes when
//! it became leader, [`track_leadership`]). Should it refuse anyway, the
//! candidate's higher term reaches it in its next heartbeat's answer and it
//! steps down, and the candidate wins its next election.
//! The caller shuts down at the deadline whatever happened: then the cluster
//! elects as after a crash.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::routing::post;
use axum::{Json, Router};
use openraft::ServerState;
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, timeout_at};

use super::ClusterNode;
use crate::network::{PeerIdentity, Refused, check_claim, paths};
use crate::types::{NodeId, RaftMetrics};

/// How long to wait for a new leader after asking before asking again.
const ASK_AGAIN: Duration = Duration::from_millis(250);
/// After a voter refused or could not be reached: a pause before the next
/// ask, so that voters that fail at once are not asked in a tight loop.
const ASK_NEXT: Duration = Duration::from_millis(25);
/// How often to look whether the last proposed entry has been answered.
const SETTLE_POLL: Duration = Duration::from_millis(5);
/// Beyond the leader lease, before a leader elected recently asks.
const LEASE_MARGIN: Duration = Duration::from_millis(20);

/// When this node last became leader, and in which term.
#[derive(Debug, Default)]
pub(super) struct LeaderSince(std::sync::Mutex<Option<(u64, Instant)>>);

impl LeaderSince {
    fn elected_at(&self, term: u64) -> Option<Instant> {
        let since = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        since.filter(|(t, _)| *t == term).map(|(_, at)| at)
    }
}

/// Notes when this node becomes leader (a little after openraft does, so
/// the lease counted from it ends no earlier than openraft's).
pub(super) async fn track_leadership(node: ClusterNode) {
    let mut watch = node.raft().metrics();
    loop {
        let (state, term) = {
            let metrics = watch.borrow_and_update();
            (metrics.state, metrics.vote.leader_id().term)
        };
        if state == ServerState::Leader {
            let mut since = node
                .inner
                .leader_since
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if since.map(|(t, _)| t) != Some(term) {
                *since = Some((term, Instant::now()));
            }
        }
        if watch.changed().await.is_err() {
            return;
        }
    }
}

/// What [`ClusterNode::hand_over`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// This node did not lead: nothing to hand over.
    NotLeader,
    /// Node `to` leads now.
    Done { to: NodeId },
    /// No other node led by the deadline (no voter caught up or reachable).
    TimedOut,
}

/// The request of a stopping leader to one of its followers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ElectRequest {
    /// The stopping leader (the certificate's node).
    pub leader: NodeId,
    /// Its term: a request from an older term is stale.
    pub term: u64,
}

/// Members only (see `members_only`), and only the leader this node follows.
pub(super) fn routes(node: ClusterNode) -> Router {
    Router::new()
        .route(paths::ELECT, post(elect))
        .with_state(node)
}

async fn elect(
    State(node): State<ClusterNode>,
    ConnectInfo(peer): ConnectInfo<PeerIdentity>,
    Json(request): Json<ElectRequest>,
) -> Result<Json<Result<(), String>>, Refused> {
    check_claim(&peer, Some(request.leader), "hand leadership over")?;
    let metrics = node.metrics();
    let term = metrics.vote.leader_id().term;
    if metrics.state != ServerState::Follower
        || metrics.current_leader != Some(request.leader)
        || term != request.term
    {
        let refusal = format!(
            "node {} does not follow node {} in term {} (it is {:?} in term {term}, leader {:?})",
            node.id(),
            request.leader,
            request.term,
            metrics.state,
            metrics.current_leader
        );
        tracing::warn!(node_id = node.id(), %refusal, "handover refused");
        return Ok(Json(Err(refusal)));
    }
    tracing::info!(
        node_id = node.id(),
        from = request.leader,
        term,
        "the leader is stopping and hands over: starting an election"
    );
    Ok(Json(
        node.raft()
            .trigger()
            .elect()
            .await
            .map_err(|e| e.to_string()),
    ))
}

impl ClusterNode {
    /// A planned stop: if this node leads, stop serving as leader and hand
    /// leadership to a caught-up voter; returns once another node leads or
    /// at `within`. Call it before [`ClusterNode::shutdown`]; the node does
    /// not lead again.
    pub async fn hand_over(&self, within: Duration) -> Handover {
        let started = Instant::now();
        let deadline = started + within;
        let mut watch = self.raft().metrics();
        if watch.borrow().state != ServerState::Leader {
            return Handover::NotLeader;
        }
        self.batcher().gate().close();
        tracing::info!(node_id = self.id(), "stopping: handing leadership over");
        let mut asked: BTreeMap<NodeId, u32> = BTreeMap::new();
        // A leader refuses votes for one lease after its election.
        let term = watch.borrow().vote.leader_id().term;
        let lease =
            Duration::from_millis(super::election_timeout_max(self.config().election_timeout));
        let mut next_ask = match self.inner.leader_since.elected_at(term) {
            Some(at) if at + lease + LEASE_MARGIN < deadline => {
                (at + lease + LEASE_MARGIN).max(started)
            }
            _ => started,
        };
        loop {
            let metrics = watch.borrow_and_update().clone();
            if let Some(leader) = metrics.current_leader.filter(|id| *id != self.id()) {
                tracing::info!(
                    node_id = self.id(),
                    to = leader,
                    took_ms = started.elapsed().as_millis(),
                    "leadership handed over"
                );
                return Handover::Done { to: leader };
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!(
                    node_id = self.id(),
                    within_ms = within.as_millis(),
                    "no other node leads yet: stopping anyway (the cluster elects as after a crash)"
                );
                return Handover::TimedOut;
            }
            // The last entry proposed before the gate closed must be in the
            // log (and acknowledged) before a voter counts as caught up.
            let settled = self.batcher().gate().in_flight() == 0;
            if now >= next_ask
                && settled
                && metrics.state == ServerState::Leader
                && let Some(target) = caught_up_voter(&metrics, self.id(), &asked)
            {
                let times = asked.entry(target).or_default();
                *times += 1;
                let first = *times == 1;
                // Refused or unreachable (down, cut off): the next one soon.
                next_ask = if self.ask_to_elect(target, &metrics, deadline, first).await {
                    now + ASK_AGAIN
                } else {
                    Instant::now() + ASK_NEXT
                };
                continue;
            }
            let wake = if now < next_ask {
                next_ask.min(deadline)
            } else if !settled {
                // No metrics change says when the answer has gone out.
                (now + SETTLE_POLL).min(deadline)
            } else {
                deadline
            };
            if let Ok(Err(_)) = timeout_at(wake, watch.changed()).await {
                return Handover::TimedOut;
            }
        }
    }

    /// Whether `target` started an election. A failure is a warning the
    /// `first` time only.
    async fn ask_to_elect(
        &self,
        target: NodeId,
        metrics: &RaftMetrics,
        deadline: Instant,
        first: bool,
    ) -> bool {
        let Some(addr) = self.member_addr(target) else {
            return false;
        };
        let request = ElectRequest {
            leader: self.id(),
            term: metrics.vote.leader_id().term,
        };
        let timeout = deadline
            .saturating_duration_since(Instant::now())
            .min(ASK_AGAIN);
        let answer: Result<Result<(), String>, _> = self
            .peers()
            .post(target, &addr, paths::ELECT, &request, timeout)
            .await;
        match answer {
            Ok(Ok(())) => {
                tracing::info!(
                    node_id = self.id(),
                    target,
                    "asked a caught-up voter to take over"
                );
                true
            }
            Ok(Err(refusal)) if first => {
                tracing::warn!(node_id = self.id(), target, %refusal, "handover refused");
                false
            }
            Err(error) if first => {
                tracing::warn!(node_id = self.id(), target, %error, "cannot ask a voter to take over");
                false
            }
            Ok(Err(refusal)) => {
                tracing::debug!(node_id = self.id(), target, %refusal, "handover refused again");
                false
            }
            Err(error) => {
                tracing::debug!(node_id = self.id(), target, %error, "still cannot ask a voter to take over");
                false
            }
        }
    }

    /// Whether this node is handing leadership over: it no longer acts as
    /// the leader (DHCP, writes).
    pub fn stepping_down(&self) -> bool {
        self.batcher().gate().is_closed()
    }
}

/// The voter other than `me` that has acknowledged the leader's whole log
/// and was asked least often (ties: the lowest id), if any.
fn caught_up_voter(
    metrics: &RaftMetrics,
    me: NodeId,
    asked: &BTreeMap<NodeId, u32>,
) -> Option<NodeId> {
    let replication = metrics.replication.as_ref()?;
    let last = metrics.last_log_index;
    metrics
        .membership_config
        .membership()
        .voter_ids()
        .filter(|id| *id != me)
        .filter(|id| {
            replication
                .get(id)
                .and_then(|matched| matched.as_ref())
                .map(|log_id| log_id.index)
                >= last
        })
        .min_by_key(|id| (asked.get(id).copied().unwrap_or(0), *id))
}
