//! A switch board for outgoing links: tests cut links between nodes to
//! simulate partitions; in production it is always empty.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

use crate::types::NodeId;

#[derive(Clone, Default, Debug)]
pub struct Links {
    cut: Arc<RwLock<HashSet<(NodeId, NodeId)>>>,
}

impl Links {
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cut
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&(from, to))
    }

    /// Cuts both directions between `a` and `b`.
    pub fn cut(&self, a: NodeId, b: NodeId) {
        let mut cut = self.cut.write().unwrap_or_else(PoisonError::into_inner);
        cut.insert((a, b));
        cut.insert((b, a));
    }

    /// Isolates `node` from every node in `others`.
    pub fn isolate(&self, node: NodeId, others: impl IntoIterator<Item = NodeId>) {
        for other in others {
            self.cut(node, other);
        }
    }

    pub fn heal(&self) {
        self.cut
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
