//! Voters and learners: which role a member has, and telling the operator
//! when this node's file (`node.role`) and the cluster disagree.
//!
//! The file's role only decides how a node first joins. Afterwards the
//! cluster's membership rules (`dnsctl members promote|demote`): a restart
//! never promotes or demotes a member, so an operator's change sticks. When
//! the two differ this node says so in its log, once per change.

use crate::types::{MemberRole, NodeId, RaftMetrics};

use super::ClusterNode;

/// `id`'s role in `metrics`' membership; `None`: not a member.
pub(super) fn role_of(metrics: &RaftMetrics, id: NodeId) -> Option<MemberRole> {
    let membership = metrics.membership_config.membership();
    if membership.voter_ids().any(|voter| voter == id) {
        Some(MemberRole::Voter)
    } else if membership.get_node(&id).is_some() {
        Some(MemberRole::Learner)
    } else {
        None
    }
}

/// Logs every change of this node's role, with a notice when it differs
/// from the file's.
pub(super) async fn report_role_changes(node: ClusterNode) {
    let mut metrics = node.raft().metrics();
    let mut reported: Option<MemberRole> = None;
    loop {
        let (role, leads) = {
            let current = metrics.borrow_and_update();
            (
                role_of(&current, node.id()),
                current.state == openraft::ServerState::Leader,
            )
        };
        if leads && role == Some(MemberRole::Learner) {
            // `dnsctl members demote` hands over first; this would take a
            // change made some other way (an older node leading).
            tracing::warn!(
                node_id = node.id(),
                "this node leads but is not a voter: demote it through `dnsctl members demote`, which hands leadership over first"
            );
        }
        if let Some(role) = role
            && reported != Some(role)
        {
            let configured = node.config().role;
            if role == configured {
                tracing::info!(node_id = node.id(), %role, "this node is a {role} of the cluster");
            } else {
                tracing::info!(
                    node_id = node.id(),
                    %role,
                    node_role = %configured,
                    "notice: this node is a {role} of the cluster although node.role says {configured}: \
                     the file's role only decides the first join, the cluster's membership rules since \
                     (`dnsctl members promote|demote {}` changes it)",
                    node.id()
                );
            }
            reported = Some(role);
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
