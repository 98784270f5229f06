//! The one way a request that only the leader may serve (a write, a
//! read-index, a membership change) gets there: run it here if this node
//! leads, else post it to the leader's cluster listener, whose handler runs
//! the same leader-side code. openraft never forwards by itself.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::ClusterNode;
use super::write::WriteError;
use crate::network::PeerError;
use crate::types::NodeId;

impl ClusterNode {
    /// One attempt of a leader-only request: `here()` if this node leads,
    /// else `request` posted to the leader at `path`, answered with the
    /// leader's own `Result`. `unreachable` turns a failed post into the
    /// caller's error. No leader known: [`WriteError::NoLeader`]. Callers
    /// retry transient failures (`write::retry_transient`).
    pub(super) async fn at_leader<Req, T, E, Fut>(
        &self,
        path: &str,
        request: &Req,
        deadline: Instant,
        here: impl FnOnce() -> Fut,
        unreachable: impl FnOnce(NodeId, PeerError) -> E,
    ) -> Result<T, E>
    where
        Req: Serialize + ?Sized,
        T: DeserializeOwned,
        E: From<WriteError> + DeserializeOwned,
        Fut: Future<Output = Result<T, E>>,
    {
        let leader = match self.raft().current_leader().await {
            Some(leader) if leader == self.id() => return here().await,
            Some(leader) => leader,
            None => {
                return Err(WriteError::NoLeader {
                    node: self.id(),
                    last_leader: None,
                }
                .into());
            }
        };
        let addr = self.member_addr(leader).ok_or(WriteError::NoLeader {
            node: self.id(),
            last_leader: Some(leader),
        })?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        self.peers()
            .post(leader, &addr, path, request, remaining)
            .await
            .map_err(|error| unreachable(leader, error))?
    }
}
