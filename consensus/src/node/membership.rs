//! Operator-driven membership changes (`dnsctl members add|promote|demote|remove`)
//! and the per-member health report behind `dnsctl status`.
//!
//! Like writes, a change reaches the leader from any node: it is forwarded
//! over the cluster listener. Only the leader may change the membership.
//! openraft refuses a change while the previous one (joint → uniform) is still
//! in flight, so every change on the leader (these and the joins of `api.rs`)
//! first takes its turn in the leader's change queue (`change_queue.rs`).
//! `InProgress` is still retried until the deadline: a change whose caller
//! gave up may still be committing, and a new leader's own membership entry
//! may not be committed yet.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::{ChangeMembers, ServerState};
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, timeout_at};

use super::write::{Transient, retry_transient};
use super::{ClusterNode, WriteError};
use crate::backoff::Backoff;
use crate::network::PeerError;
use crate::types::{Member, NodeId};

/// Cluster-listener path of forwarded membership changes.
pub const MEMBERS_PATH: &str = "/cluster/members";
/// Cluster-listener path of the health report (`dnsctl status` probes each member).
pub const REPORT_PATH: &str = "/cluster/report";

/// How long a membership change may take, retries of `InProgress` included.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// A learner is promoted only when its log is at most this many entries behind
/// the leader's: promoting a learner that is down or far behind would make the
/// new configuration wait on it.
pub const PROMOTE_MAX_LAG: u64 = 100;

/// A membership change an operator asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum MembershipChange {
    /// Add (or update) a learner; it replicates but does not vote.
    AddLearner { id: NodeId, member: Member },
    /// Make a caught-up learner a voter.
    Promote { id: NodeId },
    /// Make a voter a learner: it keeps replicating and serving reads.
    Demote { id: NodeId },
    /// Remove a voter or learner from the cluster.
    Remove { id: NodeId },
}

/// What a committed change did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum MembershipOutcome {
    LearnerAdded {
        id: NodeId,
    },
    Promoted {
        id: NodeId,
    },
    AlreadyVoter {
        id: NodeId,
    },
    /// `voters_left`: how many voters the cluster has now.
    Demoted {
        id: NodeId,
        was_leader: bool,
        voters_left: usize,
    },
    AlreadyLearner {
        id: NodeId,
    },
    Removed {
        id: NodeId,
        was_leader: bool,
    },
}

/// Below this many voters the cluster survives no voter failure (two
/// voters need both; one is a single point of failure): demoting below it
/// is allowed, and the answer says so.
pub const RECOMMENDED_MIN_VOTERS: usize = 3;

/// Why a membership change was not made. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum MembershipError {
    #[error("node {id} is not a member of the cluster")]
    UnknownMember { id: NodeId },
    #[error("node {id} is already a member at {registered}; remove it first or use another id")]
    AddressConflict { id: NodeId, registered: String },
    #[error("node {id} is not a learner: add it first (dnsctl members add {id} ADDR)")]
    NotALearner { id: NodeId },
    #[error(
        "learner {id} has not caught up ({matched} of {last} log entries replicated): is raftmasq running there? Promote it once `dnsctl status` shows it in sync"
    )]
    NotCaughtUp { id: NodeId, matched: u64, last: u64 },
    #[error(
        "node {id} is the last voter: removing it would leave no cluster; add and promote another member first"
    )]
    LastVoter { id: NodeId },
    #[error(
        "node {id} is the last voter: demoting it would leave no cluster; promote another member first"
    )]
    DemoteLastVoter { id: NodeId },
    #[error(
        "demoting node {id} would leave {live} of its {remaining} remaining voters reachable and caught up, fewer than the {needed} a quorum needs: bring the others back (`dnsctl status`) first"
    )]
    WouldLoseQuorum {
        id: NodeId,
        live: usize,
        remaining: usize,
        needed: usize,
    },
    #[error(
        "a previous membership change is still in progress after {timeout_ms} ms: check `dnsctl status` and retry"
    )]
    StillInProgress { timeout_ms: u64 },
    #[error(transparent)]
    Queue(#[from] super::QueueError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl Transient for MembershipError {
    fn is_transient(&self) -> bool {
        matches!(
            self,
            MembershipError::Write(
                WriteError::NoLeader { .. }
                    | WriteError::NotLeader { .. }
                    | WriteError::LeaderUnreachable { .. }
            )
        )
    }
}

/// One member's own view of Raft, as it reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberReport {
    pub id: NodeId,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub state: String,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    /// The highest index this member knows to be committed (the last applied
    /// one: openraft 0.9 applies every committed entry at once).
    pub committed: Option<u64>,
    pub last_applied: Option<u64>,
    /// On the leader: the last log index each other member has replicated.
    pub replication: Option<BTreeMap<NodeId, Option<u64>>>,
    /// Whether this member may act for the cluster (see `quorum_status`).
    pub has_quorum: bool,
}

pub fn state_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

pub(super) fn routes(node: ClusterNode) -> Router {
    Router::new()
        .route(MEMBERS_PATH, post(change))
        .route(REPORT_PATH, post(report))
        .with_state(node)
}

async fn change(
    State(node): State<ClusterNode>,
    Json(change): Json<MembershipChange>,
) -> Json<Result<MembershipOutcome, MembershipError>> {
    let deadline = Instant::now() + CHANGE_TIMEOUT;
    Json(node.change_as_leader(change, deadline).await)
}

async fn report(State(node): State<ClusterNode>, Json(()): Json<()>) -> Json<MemberReport> {
    Json(node.report())
}

type ChangeError = RaftError<NodeId, ClientWriteError<NodeId, Member>>;
type ChangeResponse = openraft::raft::ClientWriteResponse<crate::types::TypeConfig>;

impl ClusterNode {
    /// This node's own view of Raft.
    pub fn report(&self) -> MemberReport {
        let metrics = self.metrics();
        let applied = metrics.last_applied.map(|log_id| log_id.index);
        MemberReport {
            id: self.id(),
            state: state_name(metrics.state).to_string(),
            leader: self.known_leader(),
            term: metrics.current_term,
            last_log_index: metrics.last_log_index,
            committed: applied,
            last_applied: applied,
            replication: metrics.replication.as_ref().map(|replication| {
                replication
                    .iter()
                    .filter(|(id, _)| **id != self.id())
                    .map(|(id, matched)| (*id, matched.map(|log_id| log_id.index)))
                    .collect()
            }),
            has_quorum: self.quorum_status().has_quorum,
        }
    }

    /// Asks member `id` for its report over the cluster listener; this node
    /// answers for itself without a round trip.
    pub async fn probe(&self, id: NodeId, timeout: Duration) -> Result<MemberReport, PeerError> {
        if id == self.id() {
            return Ok(self.report());
        }
        let addr = self.member_addr(id).ok_or_else(|| PeerError::Unreachable {
            target: id,
            addr: "?".into(),
            reason: "not in the membership".into(),
        })?;
        self.peers()
            .post(id, &addr, REPORT_PATH, &(), timeout)
            .await
    }

    /// Applies `change` through the leader, wherever it is.
    pub async fn change_membership(
        &self,
        change: MembershipChange,
    ) -> Result<MembershipOutcome, MembershipError> {
        let deadline = Instant::now() + CHANGE_TIMEOUT;
        retry_transient(deadline, || self.change_once(&change, deadline)).await
    }

    /// One attempt: change here if this node leads, else at the leader.
    async fn change_once(
        &self,
        change: &MembershipChange,
        deadline: Instant,
    ) -> Result<MembershipOutcome, MembershipError> {
        self.at_leader(
            MEMBERS_PATH,
            change,
            deadline,
            || self.change_as_leader(change.clone(), deadline),
            |leader, error| {
                MembershipError::Write(WriteError::LeaderUnreachable {
                    leader,
                    reason: error.to_string(),
                })
            },
        )
        .await
    }

    async fn change_as_leader(
        &self,
        change: MembershipChange,
        deadline: Instant,
    ) -> Result<MembershipOutcome, MembershipError> {
        // Checks and change under one turn: the checks read the membership
        // the change then builds on.
        let _turn = self.change_queue().turn(deadline).await?;
        let mut backoff =
            Backoff::linear(Duration::from_millis(50), Duration::from_millis(500)).until(deadline);
        loop {
            match self.try_change(&change, deadline).await {
                Err(Retry::InProgress) => {
                    if !backoff.wait().await {
                        return Err(MembershipError::StillInProgress {
                            timeout_ms: millis(CHANGE_TIMEOUT),
                        });
                    }
                }
                Err(Retry::Fail(error)) => return Err(error),
                Ok(outcome) => return Ok(outcome),
            }
        }
    }

    /// One attempt; checks against this leader's current membership first so
    /// the refusal names the actual problem.
    async fn try_change(
        &self,
        change: &MembershipChange,
        deadline: Instant,
    ) -> Result<MembershipOutcome, Retry> {
        let metrics = self.metrics();
        if metrics.current_leader != Some(self.id()) {
            return Err(Retry::Fail(
                WriteError::NotLeader {
                    node: self.id(),
                    leader: metrics.current_leader,
                }
                .into(),
            ));
        }
        let membership = metrics.membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        match change {
            MembershipChange::AddLearner { id, member } => {
                if let Some(known) = membership.get_node(id)
                    && known.cluster_addr != member.cluster_addr
                {
                    return Err(Retry::Fail(MembershipError::AddressConflict {
                        id: *id,
                        registered: known.cluster_addr.clone(),
                    }));
                }
                // Not blocking: the new host may not run yet; it catches up
                // when it starts, and registers (and is promoted) by itself.
                self.commit(
                    deadline,
                    self.raft().add_learner(*id, member.clone(), false),
                )
                .await?;
                Ok(MembershipOutcome::LearnerAdded { id: *id })
            }
            MembershipChange::Promote { id } => {
                if voters.contains(id) {
                    return Ok(MembershipOutcome::AlreadyVoter { id: *id });
                }
                if membership.get_node(id).is_none() {
                    return Err(Retry::Fail(MembershipError::NotALearner { id: *id }));
                }
                let last = metrics.last_log_index.unwrap_or(0);
                let matched = metrics
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id).copied().flatten())
                    .map_or(0, |log_id| log_id.index);
                if last.saturating_sub(matched) > PROMOTE_MAX_LAG || matched == 0 {
                    return Err(Retry::Fail(MembershipError::NotCaughtUp {
                        id: *id,
                        matched,
                        last,
                    }));
                }
                let ids = BTreeSet::from([*id]);
                self.commit(
                    deadline,
                    self.raft()
                        .change_membership(ChangeMembers::AddVoterIds(ids), false),
                )
                .await?;
                Ok(MembershipOutcome::Promoted { id: *id })
            }
            MembershipChange::Demote { id } => {
                if membership.get_joint_config().len() > 1 {
                    // The checks below count voters: wait until the previous
                    // change has left joint consensus.
                    return Err(Retry::InProgress);
                }
                if membership.get_node(id).is_none() {
                    return Err(Retry::Fail(MembershipError::UnknownMember { id: *id }));
                }
                if !voters.contains(id) {
                    return Ok(MembershipOutcome::AlreadyLearner { id: *id });
                }
                let remaining: BTreeSet<NodeId> =
                    voters.iter().copied().filter(|v| v != id).collect();
                if remaining.is_empty() {
                    return Err(Retry::Fail(MembershipError::DemoteLastVoter { id: *id }));
                }
                if *id == self.id() {
                    // openraft lets a leader that is no longer a voter go on
                    // leading (its vote stays committed): a learner would
                    // lead. So the leader hands over first, and the new
                    // leader, which the caller's retry reaches, demotes it.
                    return Err(Retry::Fail(self.hand_over_to_be_demoted().await.into()));
                }
                // The change commits only with a quorum of the voters that
                // remain: refuse at once, with the reason, when too few of
                // them are up to date, rather than time out.
                let live = self.live_voters(&metrics, &remaining).await;
                let needed = remaining.len() / 2 + 1;
                if live < needed {
                    return Err(Retry::Fail(MembershipError::WouldLoseQuorum {
                        id: *id,
                        live,
                        remaining: remaining.len(),
                        needed,
                    }));
                }
                // `retain`: the demoted voter stays as a learner. A demoted
                // leader keeps leading until the change is committed, then
                // steps down; the remaining voters elect a leader.
                self.commit(
                    deadline,
                    self.raft().change_membership(
                        ChangeMembers::RemoveVoters(BTreeSet::from([*id])),
                        true,
                    ),
                )
                .await?;
                Ok(MembershipOutcome::Demoted {
                    id: *id,
                    was_leader: *id == self.id(),
                    voters_left: remaining.len(),
                })
            }
            MembershipChange::Remove { id } => {
                if membership.get_node(id).is_none() {
                    return Err(Retry::Fail(MembershipError::UnknownMember { id: *id }));
                }
                let ids = BTreeSet::from([*id]);
                if voters.contains(id) {
                    if voters.len() == 1 {
                        return Err(Retry::Fail(MembershipError::LastVoter { id: *id }));
                    }
                    // Removing the leader itself is safe in openraft: it keeps
                    // leading until the configuration without it is committed,
                    // then steps down and the remaining voters elect a leader.
                    self.commit(
                        deadline,
                        self.raft()
                            .change_membership(ChangeMembers::RemoveVoters(ids), false),
                    )
                    .await?;
                } else {
                    self.commit(
                        deadline,
                        self.raft()
                            .change_membership(ChangeMembers::RemoveNodes(ids), false),
                    )
                    .await?;
                }
                Ok(MembershipOutcome::Removed {
                    id: *id,
                    was_leader: *id == self.id(),
                })
            }
        }
    }

    /// Takes this leader's next turn for a membership change (`change_queue.rs`).
    pub(super) async fn membership_turn(
        &self,
        deadline: Instant,
    ) -> Result<super::change_queue::Turn, super::QueueError> {
        self.change_queue().turn(deadline).await
    }

    /// Commits one membership change (call with a turn held), retrying
    /// `InProgress` until `deadline`; any other failure is returned with
    /// its reason.
    pub(super) async fn commit_change<F>(
        &self,
        deadline: Instant,
        mut change: impl FnMut() -> F,
    ) -> Result<ChangeResponse, MembershipError>
    where
        F: Future<Output = Result<ChangeResponse, ChangeError>>,
    {
        let started = Instant::now();
        let mut backoff =
            Backoff::linear(Duration::from_millis(20), Duration::from_millis(200)).until(deadline);
        loop {
            match self.commit(deadline, change()).await {
                Ok(done) => return Ok(done),
                Err(Retry::Fail(error)) => return Err(error),
                Err(Retry::InProgress) => {
                    if !backoff.wait().await {
                        return Err(MembershipError::StillInProgress {
                            timeout_ms: millis(started.elapsed()),
                        });
                    }
                }
            }
        }
    }

    /// Waits (briefly) until this node's metrics show the membership
    /// committed at `log_id`: the next turn's checks read the metrics,
    /// which openraft updates a moment after it answered the change.
    async fn metrics_show(&self, log_id: &crate::types::LogId) {
        let shown = self
            .raft()
            .wait(Some(Duration::from_secs(1)))
            .metrics(
                |metrics| {
                    metrics
                        .membership_config
                        .log_id()
                        .is_some_and(|shown| shown >= *log_id)
                },
                "membership change shown in the metrics",
            )
            .await;
        if let Err(error) = shown {
            tracing::debug!(node_id = self.id(), %error, "membership change not yet in the metrics");
        }
    }

    async fn commit(
        &self,
        deadline: Instant,
        change: impl Future<Output = Result<ChangeResponse, ChangeError>>,
    ) -> Result<ChangeResponse, Retry> {
        match timeout_at(deadline, change).await {
            Err(_elapsed) => Err(Retry::Fail(
                WriteError::Timeout {
                    leader: self.id(),
                    timeout_ms: millis(CHANGE_TIMEOUT),
                }
                .into(),
            )),
            Ok(Ok(done)) => {
                self.metrics_show(&done.log_id).await;
                Ok(done)
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::InProgress(_),
            )))) => Err(Retry::InProgress),
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::LearnerNotFound(missing),
            )))) => Err(Retry::Fail(MembershipError::NotALearner {
                id: missing.node_id,
            })),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
                Err(Retry::Fail(
                    WriteError::NotLeader {
                        node: self.id(),
                        leader: forward.leader_id,
                    }
                    .into(),
                ))
            }
            Ok(Err(RaftError::APIError(other))) => Err(Retry::Fail(
                WriteError::Internal {
                    node: self.id(),
                    reason: other.to_string(),
                }
                .into(),
            )),
            Ok(Err(RaftError::Fatal(_))) => Err(Retry::Fail(
                WriteError::ShuttingDown { node: self.id() }.into(),
            )),
        }
    }
}

/// How long a leader that is to be demoted may take to hand over, at least
/// (three leases if that is longer).
const DEMOTE_HANDOVER: Duration = Duration::from_secs(3);

/// How long a voter may take to answer the liveness probe of a demotion.
const LIVENESS_PROBE: Duration = Duration::from_millis(700);

impl ClusterNode {
    /// Hands leadership to a caught-up voter before this node is demoted,
    /// then serves again as a follower. The answer is the error the
    /// demotion's caller retries with: `NotLeader` naming the new leader.
    async fn hand_over_to_be_demoted(&self) -> WriteError {
        // Unlike a stopping leader, this one keeps running: its heartbeats
        // would keep every follower's lease fresh, and with four voters or
        // more the candidate needs a follower's vote besides this one's
        // (consensus/DESIGN.md, "Planned stops"). Silent, the followers'
        // leases run out within one lease and the candidate wins.
        self.raft().runtime_config().heartbeat(false);
        let lease = super::election_timeout_max(self.config().election_timeout);
        let within = DEMOTE_HANDOVER.max(Duration::from_millis(lease.saturating_mul(3)));
        let handed = self.hand_over(within).await;
        self.raft().runtime_config().heartbeat(true);
        self.batcher().gate().open();
        tracing::info!(
            node_id = self.id(),
            ?handed,
            "handed leadership over to be demoted"
        );
        match handed {
            super::Handover::Done { to } => WriteError::NotLeader {
                node: self.id(),
                leader: Some(to),
            },
            super::Handover::NotLeader | super::Handover::TimedOut => WriteError::NoLeader {
                node: self.id(),
                last_leader: Some(self.id()),
            },
        }
    }

    /// How many of `voters` are up to date and answering: this leader, and
    /// those whose replicated log is within [`PROMOTE_MAX_LAG`] entries of
    /// its own and that answer a probe now (a voter killed a moment ago
    /// still looks caught up in the replication metrics).
    async fn live_voters(
        &self,
        metrics: &crate::types::RaftMetrics,
        voters: &BTreeSet<NodeId>,
    ) -> usize {
        let last = metrics.last_log_index.unwrap_or(0);
        let mut probes = tokio::task::JoinSet::new();
        let mut live = 0;
        for voter in voters {
            if *voter == self.id() {
                live += 1;
                continue;
            }
            let caught_up = metrics
                .replication
                .as_ref()
                .and_then(|r| r.get(voter).copied().flatten())
                .is_some_and(|matched| last.saturating_sub(matched.index) <= PROMOTE_MAX_LAG);
            if caught_up {
                let (node, voter) = (self.clone(), *voter);
                probes.spawn(async move { node.probe(voter, LIVENESS_PROBE).await.is_ok() });
            }
        }
        while let Some(answered) = probes.join_next().await {
            if matches!(answered, Ok(true)) {
                live += 1;
            }
        }
        live
    }
}

enum Retry {
    InProgress,
    Fail(MembershipError),
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_and_errors_round_trip_as_json() {
        let change = MembershipChange::AddLearner {
            id: 4,
            member: Member::new("10.99.0.4:7380"),
        };
        let text = serde_json::to_string(&change).expect("serialise");
        assert!(text.contains(r#""change":"add_learner""#), "{text}");
        assert_eq!(
            serde_json::from_str::<MembershipChange>(&text).expect("parse"),
            change
        );
        let error = MembershipError::Write(WriteError::NoLeader {
            node: 2,
            last_leader: Some(1),
        });
        let text = serde_json::to_string(&error).expect("serialise");
        assert_eq!(
            serde_json::from_str::<MembershipError>(&text).expect("parse"),
            error
        );
        assert!(error.is_transient());
        assert!(!MembershipError::LastVoter { id: 1 }.is_transient());
    }

    #[test]
    fn refusals_say_what_to_do() {
        let text = MembershipError::NotCaughtUp {
            id: 4,
            matched: 3,
            last: 900,
        }
        .to_string();
        assert!(text.contains("is raftmasq running there"), "{text}");
        assert!(
            MembershipError::LastVoter { id: 1 }
                .to_string()
                .contains("add and promote another member first")
        );
    }
}
