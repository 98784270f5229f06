//! What one Raft log entry carries: the commands a leader proposed together.
//!
//! The leader batches concurrent writes into one entry, so the per-entry costs
//! of Raft (encoding, replication RPC, fsync, apply) are paid once per batch
//! instead of once per DHCP exchange. Applying a batch is exactly applying its
//! commands one after another, each as if it were its own entry.
//!
//! Encoding: a batch is a JSON array of commands; a single command is the
//! command object itself, which is how every entry was written before
//! batching, so logs written by older versions still decode.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::command::{Command, Response};
use crate::table::LeaseTable;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Proposal {
    /// Commands applied in order, one response each. What leaders write now.
    Batch(Vec<Command>),
    /// One command: the only form in logs written before batching.
    Single(Command),
}

impl Proposal {
    /// The commands in the order they are applied.
    pub fn commands(&self) -> &[Command] {
        match self {
            Proposal::Batch(commands) => commands,
            Proposal::Single(command) => std::slice::from_ref(command),
        }
    }
}

impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proposal::Single(command) => command.fmt(f),
            Proposal::Batch(commands) => write!(f, "batch of {} commands", commands.len()),
        }
    }
}

impl LeaseTable {
    /// Applies the commands of one entry in order and returns one response per
    /// command. Identical to calling [`LeaseTable::apply`] on each: a rejected
    /// command changes nothing the next command sees beyond what it would have
    /// changed as its own entry.
    pub fn apply_all(&mut self, commands: &[Command]) -> Vec<Response> {
        commands.iter().map(|command| self.apply(command)).collect()
    }
}

/// Decodes by the shape of the value: an array is a batch, an object a single
/// command. Written by hand rather than `#[serde(untagged)]` so that the
/// commands decode straight from the input, without serde buffering every
/// entry a follower receives into an intermediate tree first.
impl<'de> Deserialize<'de> for Proposal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ProposalVisitor)
    }
}

struct ProposalVisitor;

impl<'de> Visitor<'de> for ProposalVisitor {
    type Value = Proposal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a command object or an array of commands")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Proposal, A::Error> {
        let mut commands = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(command) = seq.next_element()? {
            commands.push(command);
        }
        Ok(Proposal::Batch(commands))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Proposal, A::Error> {
        Command::deserialize(de::value::MapAccessDeserializer::new(map)).map(Proposal::Single)
    }
}
