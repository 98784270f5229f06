//! The leader's write batcher: concurrent writes share one Raft entry.
//!
//! Every Raft entry costs the same whatever it carries: encoding, an
//! AppendEntries round trip to each follower, an fsync on a majority, apply.
//! Under load the DHCP server commits many Binds at once, so the batcher puts
//! the commands that are waiting into one entry. It keeps at most
//! `max_in_flight` entries uncommitted: while they are, new writes queue, and
//! the next entry takes all of them (up to `max_commands`). Batches therefore
//! grow with the load by themselves, and a lone write goes out at once; no
//! timer ever holds a write back.
//!
//! Entries are handed to openraft in the order they are formed
//! (`client_write_ff` only queues the entry in the Raft core), so the log holds
//! the commands in the order the callers queued them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use openraft::error::ClientWriteError;
use raftmasq_state::{Command, Proposal, Response};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::WriteError;
use crate::types::{Member, NodeId, Raft};

/// How the leader groups writes into entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// The most commands one entry carries.
    pub max_commands: usize,
    /// The most entries proposed but not yet answered.
    pub max_in_flight: usize,
}

impl Default for Batching {
    /// 256 Binds are ~80 KB of JSON, well under one AppendEntries body. One
    /// entry in flight gave the most commits/s at every load measured (1 to
    /// 128 writers, docs/benchmarks.md): entries cost so much more than
    /// commands that waiting for the one in flight and then sending all that
    /// queued meanwhile beats overlapping smaller entries.
    fn default() -> Self {
        Batching {
            max_commands: 256,
            max_in_flight: 1,
        }
    }
}

/// Writes waiting for a batch beyond this make their callers wait to queue
/// (they are still bounded by their own deadlines).
const QUEUE_CAPACITY: usize = 8_192;

type Reply = oneshot::Sender<Result<Response, WriteError>>;

struct Pending {
    command: Command,
    reply: Reply,
}

/// The handle callers use; the batching task runs until every handle is gone
/// or the node shuts down.
pub(super) struct Batcher {
    queue: mpsc::Sender<Pending>,
    node: NodeId,
    gate: Arc<Gate>,
}

/// Lets a leader that hands over (`handover.rs`) stop proposing entries and
/// know when the last one proposed has been answered, so that its log no
/// longer grows when it asks a caught-up voter to take over.
#[derive(Debug, Default)]
pub(super) struct Gate {
    closed: AtomicBool,
    in_flight: AtomicUsize,
}

impl Gate {
    /// From now on every batch is answered `NotLeader` (writers retry and
    /// reach the next leader); entries already proposed still finish.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Proposes again: a leader that handed over to be demoted
    /// (`membership.rs`) keeps running, and may lead again once promoted.
    pub(super) fn open(&self) {
        self.closed.store(false, Ordering::SeqCst);
    }

    /// Entries proposed and not yet answered.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Counts an entry about to be proposed, unless the gate is closed.
    /// Counted first, checked second (and `close` sets before it reads the
    /// count): either the entry sees the gate closed, or `in_flight` sees
    /// the entry.
    fn enter(&self) -> bool {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if self.is_closed() {
            self.leave();
            return false;
        }
        true
    }

    fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Batcher {
    /// The handle and the task to spawn.
    pub(super) fn new(
        raft: Raft,
        node: NodeId,
        batching: Batching,
        write_timeout: Duration,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (queue, pending) = mpsc::channel(QUEUE_CAPACITY);
        let gate = Arc::new(Gate::default());
        let task = run(raft, node, batching, write_timeout, pending, gate.clone());
        (Batcher { queue, node, gate }, task)
    }

    pub(super) fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Proposes `command` in the next batch and waits for its own response.
    /// Never returns another command's response.
    pub(super) async fn submit(&self, command: Command) -> Result<Response, WriteError> {
        let (reply, answer) = oneshot::channel();
        let shutting_down = WriteError::ShuttingDown { node: self.node };
        if self.queue.send(Pending { command, reply }).await.is_err() {
            return Err(shutting_down);
        }
        // A dropped reply means the batching task stopped (node shutdown).
        answer.await.unwrap_or(Err(shutting_down))
    }
}

async fn run(
    raft: Raft,
    node: NodeId,
    batching: Batching,
    write_timeout: Duration,
    mut pending: mpsc::Receiver<Pending>,
    gate: Arc<Gate>,
) {
    let max_commands = batching.max_commands.max(1);
    let in_flight = Arc::new(Semaphore::new(batching.max_in_flight.max(1)));
    let mut batch = Vec::with_capacity(max_commands);
    loop {
        // Wait for a free slot first: while every slot is taken, writes pile
        // up in the queue and the next batch takes them all.
        let Ok(slot) = in_flight.clone().acquire_owned().await else {
            return;
        };
        if pending.recv_many(&mut batch, max_commands).await == 0 {
            return;
        }
        let (commands, replies): (Vec<Command>, Vec<Reply>) = batch
            .drain(..)
            .map(|Pending { command, reply }| (command, reply))
            .unzip();
        let size = commands.len();
        if !gate.enter() {
            let handing_over = WriteError::NotLeader { node, leader: None };
            answer_all(replies, &Err(handing_over));
            continue;
        }
        tracing::trace!(node_id = node, commands = size, "proposing a batch");
        match raft.client_write_ff(Proposal::Batch(commands)).await {
            Err(_fatal) => {
                gate.leave();
                answer_all(replies, &Err(WriteError::ShuttingDown { node }));
            }
            Ok(committed) => {
                let gate = gate.clone();
                tokio::spawn(async move {
                    let outcome = tokio::time::timeout(write_timeout, committed).await;
                    let outcome = match outcome {
                        Err(_elapsed) => Err(WriteError::Timeout {
                            leader: node,
                            timeout_ms: u64::try_from(write_timeout.as_millis())
                                .unwrap_or(u64::MAX),
                        }),
                        // The Raft core dropped the entry's responder: it stopped.
                        Ok(Err(_closed)) => Err(WriteError::ShuttingDown { node }),
                        Ok(Ok(Err(error))) => Err(rejected_entry(node, error)),
                        Ok(Ok(Ok(written))) => Ok(written.data),
                    };
                    gate.leave();
                    distribute(node, replies, outcome);
                    drop(slot);
                });
            }
        }
    }
}

/// Hands each caller the response at its own position in the entry, or every
/// caller the same error: an entry is committed as a whole or not at all.
fn distribute(node: NodeId, replies: Vec<Reply>, outcome: Result<Vec<Response>, WriteError>) {
    match outcome {
        Ok(responses) if responses.len() == replies.len() => {
            for (reply, response) in replies.into_iter().zip(responses) {
                // The caller may have given up (its deadline passed): fine.
                let _ = reply.send(Ok(response));
            }
        }
        Ok(responses) => {
            // Cannot happen with this state machine; never guess who gets what.
            tracing::error!(
                node_id = node,
                commands = replies.len(),
                responses = responses.len(),
                "batch answered with the wrong number of responses"
            );
            let error = WriteError::Internal {
                node,
                reason: format!(
                    "entry of {} commands answered {} responses",
                    replies.len(),
                    responses.len()
                ),
            };
            answer_all(replies, &Err(error));
        }
        Err(error) => answer_all(replies, &Err(error)),
    }
}

fn answer_all(replies: Vec<Reply>, outcome: &Result<Response, WriteError>) {
    for reply in replies {
        let _ = reply.send(outcome.clone());
    }
}

fn rejected_entry(node: NodeId, error: ClientWriteError<NodeId, Member>) -> WriteError {
    match error {
        ClientWriteError::ForwardToLeader(forward) => WriteError::NotLeader {
            node,
            leader: forward.leader_id,
        },
        other => WriteError::Internal {
            node,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftmasq_state::Rejection;

    fn replies(
        n: usize,
    ) -> (
        Vec<Reply>,
        Vec<oneshot::Receiver<Result<Response, WriteError>>>,
    ) {
        (0..n).map(|_| oneshot::channel()).unzip()
    }

    #[test]
    fn each_caller_gets_the_response_at_its_position() {
        let (senders, mut receivers) = replies(3);
        let responses = vec![
            Response::Done,
            Response::Rejected {
                reason: Rejection::NoSuchRecord,
            },
            Response::Expired { leases: 2 },
        ];
        distribute(1, senders, Ok(responses.clone()));
        for (receiver, expected) in receivers.iter_mut().zip(responses) {
            assert_eq!(receiver.try_recv().ok(), Some(Ok(expected)));
        }
    }

    #[test]
    fn a_response_count_that_does_not_match_fails_every_caller() {
        let (senders, mut receivers) = replies(3);
        distribute(1, senders, Ok(vec![Response::Done, Response::Done]));
        for receiver in &mut receivers {
            assert!(matches!(
                receiver.try_recv(),
                Ok(Err(WriteError::Internal { node: 1, .. }))
            ));
        }
    }

    #[test]
    fn an_uncommitted_entry_fails_every_caller_with_the_same_error() {
        let (senders, mut receivers) = replies(2);
        let error = WriteError::NotLeader {
            node: 1,
            leader: Some(2),
        };
        distribute(1, senders, Err(error.clone()));
        for receiver in &mut receivers {
            assert_eq!(receiver.try_recv().ok(), Some(Err(error.clone())));
        }
    }
}
