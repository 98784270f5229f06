//! One membership change at a time on the leader.
//!
//! openraft 0.9 refuses a membership change while the previous one is not
//! committed yet ("already undergoing a configuration change"). When many
//! nodes join at once (or an operator's `dnsctl members …` meets a join),
//! every change but one would fail and its caller would retry after a pause.
//! Instead, every change the leader makes takes a turn here: concurrent
//! requests queue, in arrival order, and each commits after the previous one.
//!
//! A turn covers one change and its commit only. Waiting for a voter-to-be
//! to catch up happens outside any turn (see `api.rs`), so a slow or absent
//! learner never holds up the others.
//!
//! The queue is bounded: at most `limit` requests hold or wait for a turn
//! (one more is refused at once with [`QueueError::Full`]), and none waits
//! longer than `max_wait` (then [`QueueError::WaitedTooLong`]).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, timeout_at};

/// How many membership changes may hold or wait for a turn on the leader.
/// A 50-member cluster's hosts all joining at once fit.
pub const CHANGE_QUEUE_LIMIT: usize = 128;
/// How long a change may wait for its turn (its caller's own deadline may
/// be shorter).
pub const CHANGE_QUEUE_MAX_WAIT: Duration = Duration::from_secs(30);

/// Why a change got no turn. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "queue", rename_all = "snake_case")]
pub enum QueueError {
    #[error(
        "the leader already has {limit} membership changes queued: retry in a few seconds (`dnsctl status` shows the members)"
    )]
    Full { limit: usize },
    #[error(
        "waited {waited_ms} ms for the previous membership changes on the leader to commit: check `dnsctl status` (has the leader lost its quorum?) and retry"
    )]
    WaitedTooLong { waited_ms: u64 },
}

/// The leader's queue of membership changes.
#[derive(Debug)]
pub struct ChangeQueue {
    turn: Arc<Mutex<()>>,
    places: Arc<Semaphore>,
    limit: usize,
    max_wait: Duration,
}

/// The right to make one membership change; the next one in the queue gets
/// its turn when this is dropped.
#[derive(Debug)]
pub struct Turn {
    _turn: OwnedMutexGuard<()>,
    _place: OwnedSemaphorePermit,
}

impl Default for ChangeQueue {
    fn default() -> Self {
        ChangeQueue::new(CHANGE_QUEUE_LIMIT, CHANGE_QUEUE_MAX_WAIT)
    }
}

impl ChangeQueue {
    pub fn new(limit: usize, max_wait: Duration) -> ChangeQueue {
        ChangeQueue {
            turn: Arc::new(Mutex::new(())),
            places: Arc::new(Semaphore::new(limit)),
            limit,
            max_wait,
        }
    }

    /// Waits (in arrival order: tokio's mutex is fair) for this change's
    /// turn, until `deadline` or the queue's own bound, whichever is first.
    pub async fn turn(&self, deadline: Instant) -> Result<Turn, QueueError> {
        let place = Arc::clone(&self.places)
            .try_acquire_owned()
            .map_err(|_| QueueError::Full { limit: self.limit })?;
        let started = Instant::now();
        let until = deadline.min(started + self.max_wait);
        match timeout_at(until, Arc::clone(&self.turn).lock_owned()).await {
            Ok(turn) => Ok(Turn {
                _turn: turn,
                _place: place,
            }),
            Err(_elapsed) => Err(QueueError::WaitedTooLong {
                waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[tokio::test]
    async fn turns_are_given_one_at_a_time_in_arrival_order() {
        let queue = Arc::new(ChangeQueue::new(8, Duration::from_secs(5)));
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let first = queue.turn(far()).await.expect("first turn");
        let mut waiting = Vec::new();
        for n in 0..4 {
            let (queue, order) = (Arc::clone(&queue), Arc::clone(&order));
            waiting.push(tokio::spawn(async move {
                let _turn = queue.turn(far()).await.expect("turn");
                order.lock().expect("order").push(n);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }));
            // Let each task reach the queue before the next one starts.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(order.lock().expect("order").is_empty(), "all wait");
        drop(first);
        for task in waiting {
            task.await.expect("task");
        }
        assert_eq!(*order.lock().expect("order"), vec![0, 1, 2, 3]);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_frees_places_as_turns_end() {
        let queue = Arc::new(ChangeQueue::new(2, Duration::from_secs(5)));
        let first = queue.turn(far()).await.expect("first turn");
        let second = {
            let queue = Arc::clone(&queue);
            tokio::spawn(async move { queue.turn(far()).await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        assert_eq!(
            queue.turn(far()).await.map(drop),
            Err(QueueError::Full { limit: 2 })
        );
        assert!(started.elapsed() < Duration::from_millis(100), "at once");
        drop(first);
        second.await.expect("task").expect("second turn");
        queue.turn(far()).await.expect("a place again");
    }

    #[tokio::test]
    async fn waiting_is_bounded_by_the_queue_and_by_the_caller() {
        let queue = ChangeQueue::new(8, Duration::from_millis(150));
        let _held = queue.turn(far()).await.expect("turn");
        let started = Instant::now();
        match queue.turn(far()).await {
            Err(QueueError::WaitedTooLong { waited_ms }) => {
                assert!((150..1_000).contains(&waited_ms), "{waited_ms}")
            }
            other => panic!("expected WaitedTooLong, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(150));
        let deadline = Instant::now() + Duration::from_millis(50);
        match queue.turn(deadline).await {
            Err(QueueError::WaitedTooLong { waited_ms }) => {
                assert!(waited_ms < 150, "the caller's deadline: {waited_ms}")
            }
            other => panic!("expected WaitedTooLong, got {other:?}"),
        }
        let text = QueueError::Full { limit: 128 }.to_string();
        assert!(text.contains("retry"), "{text}");
    }
}
